/* test_jsonrpc.c - JSON-RPC classification, message building and the
 * line splitter of the stdio transport. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mvm.h"
#include "tools/jsonrpc.h"

static int parse(const char *text, mvm_jsonrpc_msg *msg, mvm_error *err)
{
  return mvm_jsonrpc_parse(text, strlen(text), 0, msg, err);
}

static void classifies_valid_messages(void **state)
{
  mvm_jsonrpc_msg msg = {0};
  mvm_error err = {0};

  assert_int_equal(
      parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}", &msg, &err),
      MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_REQUEST);
  assert_string_equal(msg.method, "ping");
  assert_true(mvm_jsonrpc_id_is(msg.id, 7));
  assert_null(msg.params);
  mvm_jsonrpc_msg_clear(&msg);

  assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"method\":"
                         "\"roots/list\",\"params\":{}}",
                         &msg, &err),
                   MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_REQUEST);
  assert_string_equal(json_string_value(msg.id), "s-1");
  assert_true(json_is_object(msg.params));
  mvm_jsonrpc_msg_clear(&msg);

  assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"method\":"
                         "\"notifications/progress\",\"params\":"
                         "{\"progress\":1}}",
                         &msg, &err),
                   MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_NOTIFICATION);
  assert_null(msg.id);
  mvm_jsonrpc_msg_clear(&msg);

  assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":"
                         "{\"tools\":[]}}",
                         &msg, &err),
                   MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_RESULT);
  assert_true(json_is_object(msg.result));
  mvm_jsonrpc_msg_clear(&msg);

  assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
                         "{\"code\":-32700,\"message\":\"Parse error\","
                         "\"data\":[1]}}",
                         &msg, &err),
                   MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_ERROR);
  assert_true(json_is_null(msg.id));
  assert_int_equal(msg.error_code, -32700);
  assert_string_equal(msg.error_message, "Parse error");
  assert_true(json_is_array(msg.error_data));
  mvm_jsonrpc_msg_clear(&msg);

  /* A result of null is a valid response. */
  assert_int_equal(
      parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}", &msg, &err),
      MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_RESULT);
  assert_true(json_is_null(msg.result));
  mvm_jsonrpc_msg_clear(&msg);
}

static void rejects_invalid_messages(void **state)
{
  struct {
    const char *text;
    int status;
    const char *message;
  } cases[] = {
      {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", MVM_EPROTOCOL,
       "batch"},
      {"42", MVM_EPROTOCOL, "not a JSON object"},
      {"{\"id\":1,\"method\":\"ping\"}", MVM_EPROTOCOL, "\"jsonrpc\""},
      {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", MVM_EPROTOCOL,
       "\"jsonrpc\""},
      {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", MVM_EPROTOCOL,
       "request id is null"},
      {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", MVM_EPROTOCOL,
       "real number"},
      {"{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}", MVM_EPROTOCOL,
       "object"},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MVM_EPROTOCOL,
       "\"method\" must be a string"},
      {"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":3}", MVM_EPROTOCOL,
       "\"params\""},
      {"{\"jsonrpc\":\"2.0\",\"id\":1}", MVM_EPROTOCOL,
       "neither \"result\" nor \"error\""},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}",
       MVM_EPROTOCOL, "both"},
      {"{\"jsonrpc\":\"2.0\",\"result\":1}", MVM_EPROTOCOL,
       "neither \"method\" nor \"id\""},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\","
       "\"message\":\"m\"}}",
       MVM_EPROTOCOL, "error.code"},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}", MVM_EPROTOCOL,
       "error.message"},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"bad\"}", MVM_EPROTOCOL,
       "\"error\" must be an object"},
      {"{\"jsonrpc\":", MVM_EPARSE, "not valid JSON"},
      {"", MVM_EPARSE, "not valid JSON"},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mvm_jsonrpc_msg msg = {0};
    mvm_error err = {0};
    int rc = parse(cases[i].text, &msg, &err);
    if (rc != cases[i].status || strstr(err.msg, cases[i].message) == NULL)
      fail_msg("case %zu (%s): status %d, message '%s'", i, cases[i].text, rc,
               err.msg);
    assert_null(msg.root);
  }
}

static void enforces_size_and_depth(void **state)
{
  mvm_jsonrpc_msg msg = {0};
  mvm_error err = {0};
  const char *text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
  char deep[400];
  size_t n = 0;

  assert_int_equal(mvm_jsonrpc_parse(text, strlen(text), 10, &msg, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "over the limit of 10 bytes"));

  n += (size_t)sprintf(deep, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":");
  for (int i = 0; i < MVM_JSONRPC_MAX_DEPTH + 1; i++)
    deep[n++] = '[';
  for (int i = 0; i < MVM_JSONRPC_MAX_DEPTH + 1; i++)
    deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = '\0';
  assert_int_equal(mvm_jsonrpc_parse(deep, n, 0, &msg, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "nests deeper"));
}

static void builds_messages(void **state)
{
  json_t *params = json_pack("{s:s}", "text", "line\nbreak");
  json_t *id = json_string("srv-1");
  mvm_jsonrpc_msg msg = {0};
  mvm_error err = {0};
  size_t len = 0;
  char *text;

  text = mvm_jsonrpc_request(5, "tools/call", params, &len);
  assert_non_null(text);
  assert_int_equal(len, strlen(text));
  assert_null(strchr(text, '\n'));
  assert_int_equal(parse(text, &msg, &err), MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_REQUEST);
  assert_true(mvm_jsonrpc_id_is(msg.id, 5));
  assert_string_equal(json_string_value(json_object_get(msg.params, "text")),
                      "line\nbreak");
  mvm_jsonrpc_msg_clear(&msg);
  free(text);

  text = mvm_jsonrpc_notification("notifications/initialized", NULL, &len);
  assert_int_equal(parse(text, &msg, &err), MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_NOTIFICATION);
  assert_null(json_object_get(msg.root, "params"));
  mvm_jsonrpc_msg_clear(&msg);
  free(text);

  text = mvm_jsonrpc_result(id, params, NULL);
  assert_int_equal(parse(text, &msg, &err), MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_RESULT);
  assert_string_equal(json_string_value(msg.id), "srv-1");
  mvm_jsonrpc_msg_clear(&msg);
  free(text);

  text = mvm_jsonrpc_error(id, -32601, "method not found: x", NULL, NULL);
  assert_int_equal(parse(text, &msg, &err), MVM_OK);
  assert_int_equal(msg.kind, MVM_JSONRPC_ERROR);
  assert_int_equal(msg.error_code, -32601);
  assert_null(msg.error_data);
  mvm_jsonrpc_msg_clear(&msg);
  free(text);

  text = mvm_jsonrpc_error(NULL, -32700, "Parse error", params, NULL);
  assert_int_equal(parse(text, &msg, &err), MVM_OK);
  assert_true(json_is_null(msg.id));
  assert_true(json_is_object(msg.error_data));
  mvm_jsonrpc_msg_clear(&msg);
  free(text);

  json_decref(id);
  json_decref(params);
}

static void formats_ids(void **state)
{
  char buf[32];
  json_t *i = json_integer(42);
  json_t *s = json_string("a");

  assert_string_equal(mvm_jsonrpc_id_format(i, buf, sizeof buf), "42");
  assert_string_equal(mvm_jsonrpc_id_format(s, buf, sizeof buf), "\"a\"");
  assert_string_equal(mvm_jsonrpc_id_format(json_null(), buf, sizeof buf),
                      "null");
  assert_false(mvm_jsonrpc_id_is(s, 0));
  json_decref(i);
  json_decref(s);
}

/* Takes the next event and, for a line, compares it with `expected`. */
static void expect_event(mvm_jsonrpc_lines *lines, mvm_lines_event event,
                         const char *expected)
{
  mvm_lines_event ev;
  char *line = NULL;
  size_t len = 0;

  assert_int_equal(mvm_jsonrpc_lines_next(lines, &ev, &line, &len), MVM_OK);
  assert_int_equal(ev, event);
  if (event == MVM_LINES_LINE) {
    assert_string_equal(line, expected);
    assert_int_equal(len, strlen(expected));
  }
  free(line);
}

static void splits_lines_across_pushes(void **state)
{
  mvm_jsonrpc_lines lines;

  mvm_jsonrpc_lines_init(&lines, 16);
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, "ab", 2), MVM_OK);
  expect_event(&lines, MVM_LINES_NONE, NULL);
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, "c\r\nde\n\nf", 8), MVM_OK);
  expect_event(&lines, MVM_LINES_LINE, "abc");
  expect_event(&lines, MVM_LINES_LINE, "de");
  expect_event(&lines, MVM_LINES_LINE, "");
  expect_event(&lines, MVM_LINES_NONE, NULL);

  char *last = NULL;
  size_t len = 0;
  assert_int_equal(mvm_jsonrpc_lines_finish(&lines, &last, &len), MVM_OK);
  assert_string_equal(last, "f");
  free(last);
  assert_int_equal(mvm_jsonrpc_lines_finish(&lines, &last, &len), MVM_OK);
  assert_null(last);
  mvm_jsonrpc_lines_free(&lines);
}

static void drops_overlong_lines_and_recovers(void **state)
{
  mvm_jsonrpc_lines lines;
  char big[100];

  memset(big, 'x', sizeof big);
  mvm_jsonrpc_lines_init(&lines, 8);

  /* Exactly the limit passes, with and without '\r'. */
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, "12345678\n", 9), MVM_OK);
  expect_event(&lines, MVM_LINES_LINE, "12345678");
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, "12345678\r\n", 10), MVM_OK);
  expect_event(&lines, MVM_LINES_LINE, "12345678");

  /* One byte over, complete in one push. */
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, "123456789\nok\n", 13),
                   MVM_OK);
  expect_event(&lines, MVM_LINES_OVERLONG, NULL);
  expect_event(&lines, MVM_LINES_LINE, "ok");

  /* A long line spread over pushes is reported once and its tail is
   * dropped, whatever its length. */
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, big, sizeof big), MVM_OK);
  expect_event(&lines, MVM_LINES_OVERLONG, NULL);
  expect_event(&lines, MVM_LINES_NONE, NULL);
  assert_true(lines.buf.len <= 9);
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, big, sizeof big), MVM_OK);
  expect_event(&lines, MVM_LINES_NONE, NULL);
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, "tail\nnext\n", 10), MVM_OK);
  expect_event(&lines, MVM_LINES_LINE, "next");
  expect_event(&lines, MVM_LINES_NONE, NULL);

  /* An unfinished over-long line is not handed back at the end. */
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, big, sizeof big), MVM_OK);
  expect_event(&lines, MVM_LINES_OVERLONG, NULL);
  char *last = NULL;
  size_t len = 0;
  assert_int_equal(mvm_jsonrpc_lines_finish(&lines, &last, &len), MVM_OK);
  assert_null(last);
  mvm_jsonrpc_lines_free(&lines);
}

static void reports_overlong_size(void **state)
{
  mvm_jsonrpc_lines lines;
  mvm_lines_event ev;
  char *line = NULL;
  size_t len = 0;

  mvm_jsonrpc_lines_init(&lines, 4);
  assert_int_equal(mvm_jsonrpc_lines_push(&lines, "abcdefgh\n", 9), MVM_OK);
  assert_int_equal(mvm_jsonrpc_lines_next(&lines, &ev, &line, &len), MVM_OK);
  assert_int_equal(ev, MVM_LINES_OVERLONG);
  assert_int_equal(len, 8);
  assert_null(line);
  mvm_jsonrpc_lines_free(&lines);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(classifies_valid_messages),
      cmocka_unit_test(rejects_invalid_messages),
      cmocka_unit_test(enforces_size_and_depth),
      cmocka_unit_test(builds_messages),
      cmocka_unit_test(formats_ids),
      cmocka_unit_test(splits_lines_across_pushes),
      cmocka_unit_test(drops_overlong_lines_and_recovers),
      cmocka_unit_test(reports_overlong_size),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
