/* test_replay.c - the replay model and the recorder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/json.h"
#include "mvm.h"
#include "models/replay.h"
#include "support.h"

#define FIXTURE(name) mvm_test_path("tests/fixtures/models/replay/" name)

struct collect {
  mvm_buf text;
  int fragments;
  int cancel_after; /* cancel once this many fragments arrived; -1 never */
};

static void on_text(void *ctx, const char *text, size_t len)
{
  struct collect *c = ctx;
  assert_int_equal(mvm_buf_append(&c->text, text, len), MVM_OK);
  c->fragments++;
}

static bool cancelled(void *ctx)
{
  struct collect *c = ctx;
  return c->cancel_after >= 0 && c->fragments >= c->cancel_after;
}

static json_t *request(void)
{
  json_t *req = json_pack("{s[{ssss}]}", "messages", "role", "user",
                          "content", "hello");
  assert_non_null(req);
  return req;
}

static mvm_model open_fixture(const char *path)
{
  mvm_model m = {0};
  mvm_error err;
  int rc = mvm_replay_open(path, &m, &err);
  if (rc)
    fail_msg("%s", err.msg);
  return m;
}

static void replay_plays_in_order(void **state)
{
  mvm_model m = open_fixture(FIXTURE("basic.json"));
  json_t *req = request();
  json_t *reply = NULL;
  mvm_error err;
  struct collect c = {.cancel_after = -1};
  mvm_model_stream stream = {on_text, cancelled, &c};

  mvm_buf_init(&c.text, 0);
  assert_string_equal(m.ops->kind, "replay");

  assert_int_equal(m.ops->call(m.self, req, &stream, &reply, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(reply, "text")),
                      "Let me look that up.");
  assert_string_equal(c.text.data, "Let me look that up.");
  assert_true(c.fragments > 1);
  json_t *calls = json_object_get(reply, "tool_calls");
  assert_int_equal(json_array_size(calls), 1);
  json_t *call = json_array_get(calls, 0);
  assert_string_equal(json_string_value(json_object_get(call, "id")),
                      "call_1");
  assert_string_equal(json_string_value(json_object_get(call, "name")),
                      "search");
  json_t *want_args = json_pack("{ss}", "q", "weather");
  assert_true(json_equal(json_object_get(call, "arguments"), want_args));
  json_decref(want_args);
  assert_string_equal(
      json_string_value(json_object_get(reply, "stop_reason")),
      "tool_calls");
  assert_string_equal(json_string_value(json_object_get(reply, "model")),
                      "recorded-model-1-2025");
  json_t *usage = json_object_get(reply, "usage");
  assert_int_equal(json_integer_value(json_object_get(usage, "input_tokens")),
                   12);
  assert_int_equal(
      json_integer_value(json_object_get(usage, "output_tokens")), 7);
  assert_true(json_is_null(json_object_get(reply, "cost_usd")));
  json_decref(reply);

  mvm_buf_reset(&c.text);
  c.fragments = 0;
  assert_int_equal(m.ops->call(m.self, req, &stream, &reply, &err), MVM_OK);
  assert_string_equal(c.text.data, "It is sunny in Zürich — 21 °C.");
  assert_true(c.fragments > 1);
  assert_int_equal(json_array_size(json_object_get(reply, "tool_calls")), 0);
  assert_string_equal(
      json_string_value(json_object_get(reply, "stop_reason")), "end");
  assert_string_equal(json_string_value(json_object_get(reply, "model")),
                      "recorded-model-1");
  assert_true(json_number_value(json_object_get(reply, "cost_usd")) ==
              0.00025);
  json_decref(reply);

  json_decref(req);
  mvm_buf_free(&c.text);
  m.ops->close(m.self);
}

static void on_text_utf8(void *ctx, const char *text, size_t len)
{
  json_t *s = json_stringn(text, len);

  /* jansson rejects a string that is not valid UTF-8, so a fragment cut
   * inside a multi-byte character fails here. */
  assert_non_null(s);
  json_decref(s);
  on_text(ctx, text, len);
}

static void replay_fragments_keep_utf8(void **state)
{
  mvm_model m = open_fixture(FIXTURE("basic.json"));
  json_t *req = request();
  json_t *reply = NULL;
  mvm_error err;
  struct collect c = {.cancel_after = -1};
  mvm_model_stream stream = {on_text_utf8, NULL, &c};

  mvm_buf_init(&c.text, 0);
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err), MVM_OK);
  json_decref(reply);
  assert_int_equal(m.ops->call(m.self, req, &stream, &reply, &err), MVM_OK);
  json_decref(reply);
  assert_int_equal(c.fragments, 4);
  assert_string_equal(c.text.data, "It is sunny in Zürich — 21 °C.");
  json_decref(req);
  mvm_buf_free(&c.text);
  m.ops->close(m.self);
}

static void replay_identity_names_file(void **state)
{
  const char *path = FIXTURE("basic.json");
  mvm_model m = open_fixture(path);
  json_t *id = NULL;
  mvm_error err;

  assert_int_equal(m.ops->identity(m.self, &id, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(id, "provider")),
                      "replay");
  assert_string_equal(json_string_value(json_object_get(id, "model")),
                      "recorded-model-1");
  assert_string_equal(json_string_value(json_object_get(id, "endpoint")),
                      path);
  json_decref(id);
  m.ops->close(m.self);
}

static void replay_exhausted_is_model_error(void **state)
{
  const char *path = FIXTURE("basic.json");
  mvm_model m = open_fixture(path);
  json_t *req = request();
  json_t *reply = NULL;
  mvm_error err;
  char want[600];

  for (int i = 0; i < 2; i++) {
    assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err), MVM_OK);
    json_decref(reply);
  }
  reply = NULL;
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err), MVM_EMODEL);
  assert_null(reply);
  snprintf(want, sizeof want, "replay file '%s' has no reply left (played 2)",
           path);
  assert_string_equal(err.msg, want);
  json_decref(req);
  m.ops->close(m.self);
}

static void replay_invalid_arguments_typed(void **state)
{
  mvm_model m = open_fixture(FIXTURE("bad_arguments.json"));
  json_t *req = request();
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err), MVM_OK);
  json_t *calls = json_object_get(reply, "tool_calls");
  assert_int_equal(json_array_size(calls), 4);

  json_t *a = json_array_get(calls, 0);
  assert_true(json_is_null(json_object_get(a, "arguments")));
  assert_string_equal(json_string_value(json_object_get(a, "arguments_raw")),
                      "{\"path\": \"a.txt\", ");
  assert_non_null(strstr(
      json_string_value(json_object_get(a, "arguments_error")), "not valid"));

  json_t *b = json_array_get(calls, 1);
  assert_true(json_is_null(json_object_get(b, "arguments")));
  assert_string_equal(json_string_value(json_object_get(b, "arguments_error")),
                      "tool-call arguments are an array, not an object");
  assert_string_equal(json_string_value(json_object_get(b, "arguments_raw")),
                      "[1, 2]");

  json_t *c = json_array_get(calls, 2);
  assert_true(json_is_object(json_object_get(c, "arguments")));
  assert_int_equal(json_object_size(json_object_get(c, "arguments")), 0);
  assert_null(json_object_get(c, "arguments_error"));

  json_t *d = json_array_get(calls, 3);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(d, "arguments"), "n")),
      3);
  assert_null(json_object_get(d, "arguments_raw"));

  assert_true(json_is_object(json_object_get(reply, "usage")));
  assert_true(json_is_false(
      json_object_get(json_object_get(reply, "usage"), "reported")));
  json_decref(reply);
  json_decref(req);
  m.ops->close(m.self);
}

static void expect_open_error(const char *path, int code, const char *part1,
                              const char *part2)
{
  mvm_model m = {0};
  mvm_error err;

  assert_int_equal(mvm_replay_open(path, &m, &err), code);
  assert_null(m.ops);
  assert_string_equal(err.where, "replay");
  if (strstr(err.msg, part1) == NULL)
    fail_msg("'%s' not in '%s'", part1, err.msg);
  if (part2 != NULL && strstr(err.msg, part2) == NULL)
    fail_msg("'%s' not in '%s'", part2, err.msg);
}

static void replay_rejects_bad_files(void **state)
{
  expect_open_error(FIXTURE("bad_tool_name.json"), MVM_EPARSE, "reply 1",
                    "tool_calls[0].name must be a non-empty string");
  expect_open_error(FIXTURE("bad_format.json"), MVM_EPARSE,
                    "field 'format' must be \"mvm-replay/1\"", NULL);
  expect_open_error(FIXTURE("bad_stop_reason.json"), MVM_EPARSE, "reply 2",
                    "'stop_reason' must be one of end, tool_calls");
  expect_open_error(FIXTURE("bad_usage.json"), MVM_EPARSE, "reply 0",
                    "usage.input_tokens must be an integer >= 0");
  expect_open_error(FIXTURE("no_such_file.json"), MVM_ENOTFOUND,
                    "no_such_file.json", NULL);
}

static void replay_rejects_bad_request(void **state)
{
  mvm_model m = open_fixture(FIXTURE("basic.json"));
  json_t *req = json_object();
  json_t *reply = NULL;
  mvm_error err;

  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "'messages' array"));
  json_decref(req);
  m.ops->close(m.self);
}

static void replay_cancel_stops_stream(void **state)
{
  mvm_model m = open_fixture(FIXTURE("basic.json"));
  json_t *req = request();
  json_t *reply = NULL;
  mvm_error err;
  struct collect c = {.cancel_after = 1};
  mvm_model_stream stream = {on_text, cancelled, &c};

  mvm_buf_init(&c.text, 0);
  assert_int_equal(m.ops->call(m.self, req, &stream, &reply, &err),
                   MVM_ECANCELLED);
  assert_null(reply);
  assert_int_equal(c.fragments, 1);

  /* The cancelled reply is consumed: the next call plays reply 1. */
  c.cancel_after = -1;
  assert_int_equal(m.ops->call(m.self, req, &stream, &reply, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(reply, "model")),
                      "recorded-model-1");
  json_decref(reply);
  json_decref(req);
  mvm_buf_free(&c.text);
  m.ops->close(m.self);
}

static char *temp_dir(void)
{
  char *dir = strdup("/tmp/mvm-test-replay-XXXXXX");
  assert_non_null(dir);
  assert_non_null(mkdtemp(dir));
  return dir;
}

static void record_round_trip(void **state)
{
  char *dir = temp_dir();
  char path[512];
  mvm_model inner = open_fixture(FIXTURE("basic.json"));
  mvm_model rec = {0};
  json_t *req = request();
  json_t *got[2] = {NULL, NULL};
  json_t *doc = NULL;
  mvm_error err;
  struct stat st;

  snprintf(path, sizeof path, "%s/run.json", dir);
  assert_int_equal(mvm_replay_record(inner, path, &rec, &err), MVM_OK);

  /* The file exists, with no replies, before any call. */
  assert_int_equal(mvm_json_load_file(path, NULL, &doc, &err), MVM_OK);
  assert_int_equal(json_array_size(json_object_get(doc, "replies")), 0);
  assert_string_equal(json_string_value(json_object_get(doc, "model")),
                      "recorded-model-1");
  json_decref(doc);

  json_t *id = NULL;
  assert_int_equal(rec.ops->identity(rec.self, &id, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(id, "provider")),
                      "replay");
  json_decref(id);

  for (int i = 0; i < 2; i++)
    assert_int_equal(rec.ops->call(rec.self, req, NULL, &got[i], &err),
                     MVM_OK);
  rec.ops->close(rec.self);

  /* No temporary file is left next to the recording. */
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  assert_int_not_equal(stat(tmp, &st), 0);

  mvm_model again = open_fixture(path);
  for (int i = 0; i < 2; i++) {
    json_t *reply = NULL;
    assert_int_equal(again.ops->call(again.self, req, NULL, &reply, &err),
                     MVM_OK);
    assert_true(json_equal(reply, got[i]));
    json_decref(reply);
    json_decref(got[i]);
  }
  again.ops->close(again.self);

  json_decref(req);
  unlink(path);
  rmdir(dir);
  free(dir);
}

static void record_failed_call_not_saved(void **state)
{
  char *dir = temp_dir();
  char path[512];
  mvm_model inner = open_fixture(FIXTURE("basic.json"));
  mvm_model rec = {0};
  json_t *req = request();
  json_t *reply = NULL;
  json_t *doc = NULL;
  mvm_error err;

  snprintf(path, sizeof path, "%s/run.json", dir);
  assert_int_equal(mvm_replay_record(inner, path, &rec, &err), MVM_OK);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(rec.ops->call(rec.self, req, NULL, &reply, &err),
                     MVM_OK);
    json_decref(reply);
  }
  assert_int_equal(rec.ops->call(rec.self, req, NULL, &reply, &err),
                   MVM_EMODEL);
  rec.ops->close(rec.self);

  assert_int_equal(mvm_json_load_file(path, NULL, &doc, &err), MVM_OK);
  assert_int_equal(json_array_size(json_object_get(doc, "replies")), 2);
  json_decref(doc);
  json_decref(req);
  unlink(path);
  rmdir(dir);
  free(dir);
}

static void record_unwritable_path_fails(void **state)
{
  mvm_model inner = open_fixture(FIXTURE("basic.json"));
  mvm_model rec = {0};
  mvm_error err;

  assert_int_equal(mvm_replay_record(inner, "/nonexistent-dir/x/run.json",
                                     &rec, &err),
                   MVM_EIO);
  assert_null(rec.ops);
  assert_non_null(strstr(err.msg, "/nonexistent-dir/x/run.json"));
  /* The inner model is still the caller's. */
  inner.ops->close(inner.self);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(replay_plays_in_order),
      cmocka_unit_test(replay_fragments_keep_utf8),
      cmocka_unit_test(replay_identity_names_file),
      cmocka_unit_test(replay_exhausted_is_model_error),
      cmocka_unit_test(replay_invalid_arguments_typed),
      cmocka_unit_test(replay_rejects_bad_files),
      cmocka_unit_test(replay_rejects_bad_request),
      cmocka_unit_test(replay_cancel_stops_stream),
      cmocka_unit_test(record_round_trip),
      cmocka_unit_test(record_failed_call_not_saved),
      cmocka_unit_test(record_unwritable_path_fails),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
