/* test_parse.c - the reply parsers and stream assemblers fed directly,
 * for edge cases the wire fixtures do not reach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "models/anthropic.h"
#include "models/openai.h"
#include "mvm.h"

#define CHUNK(delta, finish)                                                  \
  "data: {\"choices\":[{\"index\":0,\"delta\":" delta                        \
  ",\"finish_reason\":" finish "}]}\n\n"

static int feed_openai(const char *text, size_t max_calls, json_t **reply,
                       mvm_error *err)
{
  mvm_openai_stream s;
  mvm_openai_stream_init(&s, 4096, 65536, max_calls, NULL, "test", 7);
  int rc = mvm_openai_stream_feed(&s, text, strlen(text), err);
  if (rc == MVM_OK)
    rc = mvm_openai_stream_finish(&s, reply, err);
  mvm_openai_stream_free(&s);
  return rc;
}

static int feed_anthropic(const char *text, json_t **reply, mvm_error *err)
{
  mvm_anthropic_stream s;
  mvm_anthropic_stream_init(&s, 4096, 65536, 8, NULL, "test", 7);
  int rc = mvm_anthropic_stream_feed(&s, text, strlen(text), err);
  if (rc == MVM_OK)
    rc = mvm_anthropic_stream_finish(&s, reply, err);
  mvm_anthropic_stream_free(&s);
  return rc;
}

static void anthropic_tool_use_without_input(void **state)
{
  const char *body = "{\"content\": [{\"type\": \"tool_use\", \"id\": "
                     "\"toolu_1\", \"name\": \"list\"}], \"stop_reason\": "
                     "\"tool_use\"}";
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(mvm_anthropic_parse_reply(body, strlen(body), "test", 1,
                                             8, &reply, &err),
                   MVM_OK);
  json_t *call = json_array_get(json_object_get(reply, "tool_calls"), 0);
  assert_true(json_is_object(json_object_get(call, "arguments")));
  assert_int_equal(json_object_size(json_object_get(call, "arguments")), 0);
  assert_true(json_is_false(
      json_object_get(json_object_get(reply, "usage"), "reported")));
  json_decref(reply);
}

static void anthropic_delta_for_text_block(void **state)
{
  const char *stream =
      "data: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
      "{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n";
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(feed_anthropic(stream, &reply, &err), MVM_EPARSE);
  assert_non_null(strstr(err.msg, "did not start as a tool_use"));
  assert_null(reply);
}

static void anthropic_missing_stop_is_cut(void **state)
{
  const char *stream =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
      "{\"model\":\"m\"}}\n\n"
      "data: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"Hi\"}}\n\n";
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(feed_anthropic(stream, &reply, &err), MVM_EMODEL);
  assert_non_null(strstr(err.msg, "ended before message_stop"));
}

static void openai_finish_without_done(void **state)
{
  const char *stream = CHUNK("{\"content\":\"Hi\"}", "null")
      CHUNK("{}", "\"stop\"");
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(feed_openai(stream, 8, &reply, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(reply, "text")),
                      "Hi");
  assert_string_equal(
      json_string_value(json_object_get(reply, "stop_reason")), "end");
  json_decref(reply);
}

static void openai_no_finish_is_cut(void **state)
{
  const char *stream = CHUNK("{\"content\":\"Hi\"}", "null");
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(feed_openai(stream, 8, &reply, &err), MVM_EMODEL);
  assert_non_null(strstr(err.msg, "no finish_reason and no [DONE]"));
}

static void openai_sparse_indexes_kept_in_order(void **state)
{
  const char *stream =
      CHUNK("{\"tool_calls\":[{\"index\":1000000000000,\"id\":\"b\","
            "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}",
            "null")
      CHUNK("{\"tool_calls\":[{\"index\":3,\"id\":\"a\","
            "\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"x\\\":1}\"}}]}",
            "null") "data: [DONE]\n\n";
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(feed_openai(stream, 8, &reply, &err), MVM_OK);
  json_t *calls = json_object_get(reply, "tool_calls");
  assert_int_equal(json_array_size(calls), 2);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(calls, 0), "id")),
      "b");
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(calls, 1), "id")),
      "a");
  json_decref(reply);
}

static void openai_streamed_calls_over_limit(void **state)
{
  const char *stream =
      CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\"}},"
            "{\"index\":1,\"function\":{\"name\":\"f\"}},"
            "{\"index\":2,\"function\":{\"name\":\"f\"}}]}",
            "null");
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(feed_openai(stream, 2, &reply, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "more than 2 tool calls"));
}

static void openai_call_without_name(void **state)
{
  const char *stream =
      CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
            "\"{}\"}}]}",
            "\"tool_calls\"");
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(feed_openai(stream, 8, &reply, &err), MVM_EMODEL);
  assert_non_null(strstr(err.msg, "tool call 0 without a name"));
}

static void openai_event_not_json(void **state)
{
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(feed_openai("data: {\"choices\": [\n\n", 8, &reply, &err),
                   MVM_EPARSE);
  assert_string_equal(err.where, "test");
  assert_non_null(strstr(err.msg, "a stream event is not valid JSON"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(anthropic_tool_use_without_input),
      cmocka_unit_test(anthropic_delta_for_text_block),
      cmocka_unit_test(anthropic_missing_stop_is_cut),
      cmocka_unit_test(openai_finish_without_done),
      cmocka_unit_test(openai_no_finish_is_cut),
      cmocka_unit_test(openai_sparse_indexes_kept_in_order),
      cmocka_unit_test(openai_streamed_calls_over_limit),
      cmocka_unit_test(openai_call_without_name),
      cmocka_unit_test(openai_event_not_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
