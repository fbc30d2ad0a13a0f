/* test_mcp_client.c - the MCP client against tests/fixtures/mcp/
 * misbehave.js, a server that misbehaves on request. Covers version
 * negotiation, pagination and its limits, tool results and their checks,
 * timeouts with notifications/cancelled, progress, cancellation by the
 * host, crashes, over-long messages, stray and out-of-order responses,
 * requests from the server, and tool list changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "mcp_support.h"
#include "mvm.h"
#include "tools/mcp_client.h"
#include "tools/mcp_stdio.h"

static int setup(void **state)
{
  if (mcp_test_node() == NULL)
    return -1;
  return 0;
}

static int teardown_test(void **state)
{
  mcp_test_log_stop();
  return 0;
}

static mvm_mcp_client *open_fixture(const char *mode,
                                    const mvm_mcp_client_opts *opts)
{
  mvm_mcp_client *c = NULL;
  mvm_error err = {0};

  if (mcp_test_open_fixture(mode, opts, &c, &err) != MVM_OK)
    fail_msg("cannot open the fixture in mode %s: %s", mode, err.msg);
  return c;
}

/* Calls a tool and fails the test on any status but `expected`. */
static json_t *call(mvm_mcp_client *c, const char *tool, const char *args,
                    const mvm_tool_call_opts *opts, int expected,
                    mvm_error *err)
{
  json_t *jargs = NULL;
  json_t *result = NULL;
  int rc;

  if (args != NULL) {
    jargs = json_loads(args, 0, NULL);
    assert_non_null(jargs);
  }
  rc = mvm_mcp_client_call_tool(c, tool, jargs, opts, &result, err);
  json_decref(jargs);
  if (rc != expected)
    fail_msg("tool %s: status %s, expected %s: %s", tool, mvm_status_name(rc),
             mvm_status_name(expected), err->msg);
  return result;
}

static const char *first_text(const json_t *result)
{
  return json_string_value(json_object_get(
      json_array_get(json_object_get(result, "content"), 0), "text"));
}

/* The messages the fixture received, from its "received" tool. */
static json_t *received(mvm_mcp_client *c)
{
  mvm_error err = {0};
  json_t *r = call(c, "received", "{}", NULL, MVM_OK, &err);
  json_t *messages = json_incref(
      json_object_get(json_object_get(r, "structuredContent"), "messages"));

  json_decref(r);
  assert_true(json_is_array(messages));
  return messages;
}

static const json_t *find_method(const json_t *messages, const char *method,
                                 size_t nth)
{
  size_t i;
  json_t *m;

  json_array_foreach(messages, i, m)
  {
    const char *name = json_string_value(json_object_get(m, "method"));
    if (name != NULL && strcmp(name, method) == 0 && nth-- == 0)
      return m;
  }
  return NULL;
}

static void initializes_with_latest_revision(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  const json_t *info = mvm_mcp_client_server_info(c);
  json_t *messages;
  const json_t *init;
  const json_t *caps;

  assert_string_equal(mvm_mcp_client_revision(c), MVM_MCP_LATEST_REVISION);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(info, "serverInfo"), "name")),
                      "misbehave");
  assert_string_equal(mvm_mcp_client_server(c), "fixture");

  messages = received(c);
  init = json_array_get(messages, 0);
  assert_string_equal(json_string_value(json_object_get(init, "method")),
                      "initialize");
  assert_string_equal(
      json_string_value(json_object_get(
          json_object_get(json_object_get(init, "params"), "clientInfo"),
          "name")),
      "mvm");
  /* With no roots and no callbacks, mvm declares no capability. */
  caps = json_object_get(json_object_get(init, "params"), "capabilities");
  assert_int_equal(json_object_size(caps), 0);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(messages, 1), "method")),
      "notifications/initialized");
  assert_null(json_object_get(json_array_get(messages, 1), "id"));
  json_decref(messages);
  mvm_mcp_client_close(c);
}

static void declares_only_configured_capabilities(void **state)
{
  mvm_mcp_root roots[] = {{"file:///tmp", "tmp"}};
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  json_t *messages;
  const json_t *caps;

  mvm_mcp_client_opts_init(&opts);
  opts.roots = roots;
  opts.nroots = 1;
  c = open_fixture("normal", &opts);
  messages = received(c);
  caps = json_object_get(json_object_get(json_array_get(messages, 0), "params"),
                         "capabilities");
  assert_true(json_is_true(
      json_object_get(json_object_get(caps, "roots"), "listChanged")));
  assert_null(json_object_get(caps, "sampling"));
  assert_null(json_object_get(caps, "elicitation"));
  json_decref(messages);
  mvm_mcp_client_close(c);
}

static void rejects_unsupported_revision(void **state)
{
  mvm_mcp_client *c = NULL;
  mvm_error err = {0};

  assert_int_equal(mcp_test_open_fixture("bad-version", NULL, &c, &err),
                   MVM_EPROTOCOL);
  assert_null(c);
  assert_non_null(strstr(err.msg, "'2024-11-05'"));
  assert_non_null(strstr(err.msg, "2025-11-25, 2025-06-18, 2025-03-26"));
}

static void accepts_older_revision(void **state)
{
  mvm_mcp_client *c = open_fixture("old-version", NULL);

  assert_string_equal(mvm_mcp_client_revision(c), "2025-03-26");
  mvm_mcp_client_close(c);
}

static void initialize_times_out(void **state)
{
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c = NULL;
  mvm_error err = {0};

  mvm_mcp_client_opts_init(&opts);
  opts.init_timeout_ms = 300;
  assert_int_equal(mcp_test_open_fixture("no-init-answer", &opts, &c, &err),
                   MVM_ETIMEOUT);
  assert_non_null(strstr(err.msg, "'initialize'"));
}

static void server_that_exits_at_start(void **state)
{
  mvm_mcp_client *c = NULL;
  mvm_error err = {0};

  assert_int_equal(mcp_test_open_fixture("exit-on-start", NULL, &c, &err),
                   MVM_EIO);
  assert_non_null(strstr(err.msg, "exited with status 5"));
  assert_non_null(strstr(err.msg, "missing configuration"));
}

static void lists_tools(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  mvm_mcp_client_stats stats;
  json_t *tools = NULL;
  json_t *again = NULL;
  mvm_error err = {0};

  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_OK);
  assert_int_equal(json_array_size(tools), 20);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(tools, 0), "name")),
      "echo");
  /* A second listing comes from the cache. */
  assert_int_equal(mvm_mcp_client_list_tools(c, &again, &err), MVM_OK);
  assert_true(json_equal(tools, again));
  mvm_mcp_client_stats_get(c, &stats);
  assert_int_equal(stats.tool_lists, 1);
  json_decref(tools);
  json_decref(again);
  mvm_mcp_client_close(c);
}

static void follows_pages_and_drops_duplicates(void **state)
{
  mvm_mcp_client *c;
  json_t *tools = NULL;
  json_t *messages;
  mvm_error err = {0};
  size_t echoes = 0;
  size_t i;
  json_t *tool;

  mcp_test_log_start(MVM_LOG_WARN);
  c = open_fixture("paged", NULL);
  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_OK);
  assert_int_equal(json_array_size(tools), 20);
  json_array_foreach(tools, i, tool)
  {
    if (strcmp(json_string_value(json_object_get(tool, "name")), "echo") == 0)
      echoes++;
  }
  assert_int_equal(echoes, 1);
  assert_int_equal(mcp_test_log_count("repeated tool names in tools/list 1 "
                                      "times (first: 'echo')"),
                   1);

  messages = received(c);
  const json_t *second = find_method(messages, "tools/list", 1);
  const json_t *third = find_method(messages, "tools/list", 2);
  assert_non_null(second);
  assert_non_null(third);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(second, "params"), "cursor")),
                      "p1");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(third, "params"), "cursor")),
                      "p2");
  assert_null(
      json_object_get(find_method(messages, "tools/list", 0), "params"));
  json_decref(messages);
  json_decref(tools);
  mvm_mcp_client_close(c);
}

static void stops_on_repeated_cursor(void **state)
{
  mvm_mcp_client *c;
  json_t *tools = NULL;
  mvm_mcp_client_stats stats;
  mvm_error err = {0};

  mcp_test_log_start(MVM_LOG_WARN);
  c = open_fixture("cursor-repeat", NULL);
  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_OK);
  assert_int_equal(json_array_size(tools), 20);
  assert_int_equal(mcp_test_log_count("repeated the tools/list cursor "
                                      "'again'"),
                   1);
  mvm_mcp_client_stats_get(c, &stats);
  /* initialize, the first page, and the page with the repeated cursor */
  assert_int_equal(stats.requests_sent, 3);
  json_decref(tools);
  mvm_mcp_client_close(c);
}

static void page_limit_is_an_error(void **state)
{
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  json_t *tools = NULL;
  mvm_error err = {0};

  mvm_mcp_client_opts_init(&opts);
  opts.max_pages = 5;
  c = open_fixture("cursor-forever", &opts);
  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_ELIMIT);
  assert_null(tools);
  assert_non_null(strstr(err.msg, "more than 5 pages"));
  assert_non_null(strstr(err.msg, "maximum number of pages"));
  mvm_mcp_client_close(c);
}

static void tool_limit_is_an_error(void **state)
{
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  json_t *tools = NULL;
  mvm_error err = {0};

  mvm_mcp_client_opts_init(&opts);
  opts.max_tools = 10;
  c = open_fixture("many-tools", &opts);
  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "more than 10 tools"));
  assert_non_null(strstr(err.msg, "maximum number of tools"));
  mvm_mcp_client_close(c);
}

static void calls_tools(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  mvm_error err = {0};
  json_t *r;

  r = call(c, "echo", "{\"text\": \"hello\"}", NULL, MVM_OK, &err);
  assert_string_equal(first_text(r), "hello");
  assert_true(json_is_false(json_object_get(r, "isError")));
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(r, "structuredContent"), "text")),
                      "hello");
  json_decref(r);

  r = call(c, "fail", "{}", NULL, MVM_OK, &err);
  assert_true(json_is_true(json_object_get(r, "isError")));
  assert_string_equal(first_text(r), "it failed");
  json_decref(r);

  /* No arguments means an empty object. */
  r = call(c, "fail", NULL, NULL, MVM_OK, &err);
  json_decref(r);
  mvm_mcp_client_close(c);
}

static void keeps_every_content_type(void **state)
{
  static const char *const types[] = {
      "text", "image", "audio", "resource_link", "resource", "future-type"};
  mvm_mcp_client *c = open_fixture("normal", NULL);
  mvm_error err = {0};
  const json_t *content;
  json_t *r;

  r = call(c, "all-content", "{}", NULL, MVM_OK, &err);
  content = json_object_get(r, "content");
  assert_int_equal(json_array_size(content), 6);
  for (size_t i = 0; i < 6; i++)
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(content, i), "type")),
        types[i]);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(content, 2), "mimeType")),
                      "audio/wav");
  assert_string_equal(
      json_string_value(json_object_get(
          json_object_get(json_array_get(content, 4), "resource"), "blob")),
      "AAEC");
  json_decref(r);
  mvm_mcp_client_close(c);
}

static void call_errors(void **state)
{
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  mvm_error err = {0};
  json_t *messages;
  json_t *bad;
  json_t *r = NULL;

  mvm_mcp_client_opts_init(&opts);
  opts.max_content_items = 5;
  c = open_fixture("normal", &opts);

  call(c, "rpc-error", "{}", NULL, MVM_ETOOL, &err);
  assert_non_null(strstr(err.msg, "-32602"));
  assert_non_null(strstr(err.msg, "no such thing"));

  call(c, "no-such-tool", "{}", NULL, MVM_ENOTFOUND, &err);
  assert_non_null(strstr(err.msg, "no tool 'no-such-tool'"));
  assert_non_null(strstr(err.msg, "echo, hang"));

  call(c, "bad-content", "{}", NULL, MVM_EPROTOCOL, &err);
  assert_non_null(strstr(err.msg, "content item 0 (image)"));
  assert_non_null(strstr(err.msg, "mimeType"));

  r = call(c, "many-content", "{\"count\": 5}", NULL, MVM_OK, &err);
  json_decref(r);
  call(c, "many-content", "{\"count\": 6}", NULL, MVM_ELIMIT, &err);
  assert_non_null(strstr(err.msg, "maximum of 5 content items"));

  /* Arguments are checked against inputSchema before anything is
   * sent. */
  call(c, "echo", "{\"text\": 5}", NULL, MVM_ESCHEMA, &err);
  assert_non_null(strstr(err.msg, "the arguments of tool 'echo'"));
  call(c, "echo", "{}", NULL, MVM_ESCHEMA, &err);
  messages = received(c);
  assert_int_equal(json_array_size(messages), 8);
  json_decref(messages);

  bad = json_array();
  assert_int_equal(mvm_mcp_client_call_tool(c, "echo", bad, NULL, &r, &err),
                   MVM_EINVAL);
  json_decref(bad);
  mvm_mcp_client_close(c);
}

static void checks_structured_content(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  mvm_error err = {0};
  json_t *r;

  r = call(c, "structured", "{\"value\": 7}", NULL, MVM_OK, &err);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(r, "structuredContent"), "n")),
                   7);
  json_decref(r);

  call(c, "structured", "{\"value\": \"seven\"}", NULL, MVM_ESCHEMA, &err);
  assert_non_null(strstr(err.msg, "structuredContent of tool "
                                  "'structured'"));
  mvm_mcp_client_close(c);
}

static void timeout_sends_cancelled(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  mvm_tool_call_opts opts = {.timeout_s = 0.3};
  mvm_mcp_client_stats stats;
  mvm_error err = {0};
  json_t *messages;
  const json_t *hang;
  const json_t *cancel;
  json_t *r;

  call(c, "hang", "{}", &opts, MVM_ETIMEOUT, &err);
  assert_non_null(strstr(err.msg, "within 300 ms"));
  assert_non_null(strstr(err.msg, "cancelled"));
  mvm_mcp_client_stats_get(c, &stats);
  assert_int_equal(stats.cancels_sent, 1);

  messages = received(c);
  hang = find_method(messages, "tools/call", 0);
  cancel = find_method(messages, "notifications/cancelled", 0);
  assert_non_null(cancel);
  assert_true(json_equal(
      json_object_get(json_object_get(cancel, "params"), "requestId"),
      json_object_get(hang, "id")));
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(cancel, "params"), "reason")),
                      "request timed out");
  /* Every tools/call carries a progress token. */
  assert_true(json_is_integer(
      json_object_get(json_object_get(json_object_get(hang, "params"), "_meta"),
                      "progressToken")));
  json_decref(messages);

  /* The client still works. */
  r = call(c, "echo", "{\"text\": \"still here\"}", NULL, MVM_OK, &err);
  assert_string_equal(first_text(r), "still here");
  json_decref(r);
  mvm_mcp_client_close(c);
}

struct progress_log {
  char lines[16][64];
  size_t n;
  size_t cancel_after; /* 0: never */
};

static void on_progress(void *ctx, const char *text, size_t len)
{
  struct progress_log *log = ctx;
  if (log->n < 16)
    snprintf(log->lines[log->n], sizeof log->lines[0], "%.*s", (int)len, text);
  log->n++;
}

static bool cancel_check(void *ctx)
{
  struct progress_log *log = ctx;
  return log->cancel_after > 0 && log->n >= log->cancel_after;
}

static void progress_restarts_timeout(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  struct progress_log log = {0};
  mvm_model_stream stream = {.on_text = on_progress, .ctx = &log};
  mvm_tool_call_opts opts = {.timeout_s = 1.0, .progress = &stream};
  mvm_error err = {0};
  json_t *r;

  /* Eight steps 250 ms apart take 2 s, twice the timeout. */
  r = call(c, "progress-slow", "{\"steps\": 8, \"gap_ms\": 250}", &opts, MVM_OK,
           &err);
  assert_string_equal(first_text(r), "done");
  assert_int_equal(log.n, 8);
  assert_string_equal(log.lines[0], "1/8: step 1");
  assert_string_equal(log.lines[7], "8/8: step 8");
  json_decref(r);
  mvm_mcp_client_close(c);
}

static void maximum_timeout_ignores_progress(void **state)
{
  mvm_mcp_client_opts copts;
  mvm_mcp_client *c;
  struct progress_log log = {0};
  mvm_model_stream stream = {.on_text = on_progress, .ctx = &log};
  mvm_tool_call_opts opts = {.timeout_s = 5, .progress = &stream};
  mvm_error err = {0};
  json_t *messages;

  mvm_mcp_client_opts_init(&copts);
  copts.max_timeout_ms = 700;
  c = open_fixture("normal", &copts);
  call(c, "progress-forever", "{}", &opts, MVM_ETIMEOUT, &err);
  assert_non_null(strstr(err.msg, "maximum of 700 ms"));
  assert_true(log.n >= 2);
  messages = received(c);
  const json_t *cancel = find_method(messages, "notifications/cancelled", 0);
  assert_non_null(cancel);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(cancel, "params"), "reason")),
                      "maximum time exceeded");
  json_decref(messages);
  mvm_mcp_client_close(c);
}

static void host_cancels_call(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  struct progress_log log = {.cancel_after = 2};
  mvm_model_stream stream = {
      .on_text = on_progress, .cancelled = cancel_check, .ctx = &log};
  mvm_tool_call_opts opts = {.progress = &stream};
  mvm_error err = {0};
  json_t *messages;

  call(c, "progress-forever", "{}", &opts, MVM_ECANCELLED, &err);
  assert_non_null(strstr(err.msg, "was cancelled"));
  messages = received(c);
  const json_t *cancel = find_method(messages, "notifications/cancelled", 0);
  assert_non_null(cancel);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(cancel, "params"), "reason")),
                      "cancelled by the host");
  json_decref(messages);
  mvm_mcp_client_close(c);
}

static void server_dies_mid_call(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  mvm_error err = {0};
  json_t *tools = NULL;

  call(c, "die", "{}", NULL, MVM_EIO, &err);
  assert_non_null(strstr(err.msg, "exited with status 3"));
  assert_non_null(strstr(err.msg, "dying on purpose"));
  call(c, "echo", "{\"text\": \"x\"}", NULL, MVM_EIO, &err);
  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_OK);
  json_decref(tools);
  mvm_mcp_client_close(c);
}

static void overlong_response_fails_call(void **state)
{
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  mvm_error err = {0};
  json_t *r;

  mvm_mcp_client_opts_init(&opts);
  opts.max_message_bytes = 4096;
  const char *argv[] = {mcp_test_fixture(), "normal", NULL};
  mvm_mcp_stdio_opts stdio = {.max_message_bytes = 4096};
  assert_int_equal(mcp_test_open("fixture", argv, &opts, &stdio, &c, &err),
                   MVM_OK);

  call(c, "big", "{\"bytes\": 10000}", NULL, MVM_ELIMIT, &err);
  assert_non_null(strstr(err.msg, "over 4096 bytes"));
  r = call(c, "big", "{\"bytes\": 1000}", NULL, MVM_OK, &err);
  assert_int_equal(strlen(first_text(r)), 1000);
  json_decref(r);
  mvm_mcp_client_close(c);
}

static void skips_stdout_noise(void **state)
{
  mvm_mcp_client *c;
  mvm_error err = {0};
  json_t *r;

  mcp_test_log_start(MVM_LOG_WARN);
  c = open_fixture("normal", NULL);
  r = call(c, "noise", "{}", NULL, MVM_OK, &err);
  assert_string_equal(first_text(r), "after noise");
  assert_int_equal(mcp_test_log_count("non-JSON line"), 2);
  json_decref(r);
  mvm_mcp_client_close(c);
}

static void drops_stray_responses(void **state)
{
  mvm_mcp_client *c;
  mvm_mcp_client_stats stats;
  mvm_error err = {0};
  json_t *r;

  mcp_test_log_start(MVM_LOG_WARN);
  c = open_fixture("normal", NULL);
  r = call(c, "unknown-ids", "{}", NULL, MVM_OK, &err);
  assert_string_equal(first_text(r), "real answer");
  json_decref(r);
  /* The duplicate response arrives after the call returned. */
  r = call(c, "echo", "{\"text\": \"next\"}", NULL, MVM_OK, &err);
  assert_string_equal(first_text(r), "next");
  json_decref(r);

  mvm_mcp_client_stats_get(c, &stats);
  assert_int_equal(stats.responses_dropped, 4);
  assert_int_equal(mcp_test_log_count("an id mvm never sent (id 9999)"), 1);
  assert_int_equal(
      mcp_test_log_count("an id mvm never sent (id \"no-such-id\")"), 1);
  assert_int_equal(mcp_test_log_count("a null id (id null): Parse error"), 1);
  assert_int_equal(
      mcp_test_log_count("already has its response or was abandoned"), 1);
  mvm_mcp_client_close(c);
}

static void drops_answers_to_notifications(void **state)
{
  mvm_mcp_client *c;
  mvm_mcp_client_stats stats;
  mvm_error err = {0};

  mcp_test_log_start(MVM_LOG_WARN);
  c = open_fixture("answer-notification", NULL);
  assert_int_equal(mvm_mcp_client_ping(c, 0, &err), MVM_OK);
  mvm_mcp_client_stats_get(c, &stats);
  assert_int_equal(stats.responses_dropped, 2);
  assert_int_equal(mcp_test_log_count("a null id"), 1);
  assert_int_equal(mcp_test_log_count("or was abandoned (id 1)"), 1);
  mvm_mcp_client_close(c);
}

static void takes_responses_in_any_order(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  json_t *slow_args = json_pack("{s:s, s:{s:i}}", "name", "delayed",
                                "arguments", "delay_ms", 300);
  json_t *fast_args = json_pack("{s:s, s:{s:i}}", "name", "delayed",
                                "arguments", "delay_ms", 0);
  json_t *slow = NULL;
  json_t *fast = NULL;
  long long slow_id;
  long long fast_id;
  mvm_error err = {0};

  assert_int_equal(
      mvm_mcp_client_start(c, "tools/call", slow_args, NULL, &slow_id, &err),
      MVM_OK);
  assert_int_equal(
      mvm_mcp_client_start(c, "tools/call", fast_args, NULL, &fast_id, &err),
      MVM_OK);
  /* The fast response arrives first and is kept while the client waits
   * for the slow one. */
  assert_int_equal(mvm_mcp_client_wait(c, slow_id, 5000, &slow, NULL, &err),
                   MVM_OK);
  assert_string_equal(first_text(slow), "delayed 300");
  assert_int_equal(mvm_mcp_client_wait(c, fast_id, 1, &fast, NULL, &err),
                   MVM_OK);
  assert_string_equal(first_text(fast), "delayed 0");
  assert_int_equal(mvm_mcp_client_wait(c, fast_id, 1, &fast, NULL, &err),
                   MVM_ESTATE);

  json_decref(slow);
  json_decref(fast);
  json_decref(slow_args);
  json_decref(fast_args);
  mvm_mcp_client_close(c);
}

/* Asks the fixture to send `method` to the client and returns the
 * client's whole response message. */
static json_t *server_asks(mvm_mcp_client *c, const char *method)
{
  char args[128];
  mvm_error err = {0};
  json_t *r;
  json_t *response;

  snprintf(args, sizeof args, "{\"method\": \"%s\"}", method);
  r = call(c, "ask", args, NULL, MVM_OK, &err);
  response = json_incref(
      json_object_get(json_object_get(r, "structuredContent"), "response"));
  json_decref(r);
  assert_non_null(response);
  return response;
}

static long long error_code(const json_t *response)
{
  return json_integer_value(
      json_object_get(json_object_get(response, "error"), "code"));
}

static void answers_server_requests_by_default(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  mvm_mcp_client_stats stats;
  json_t *r;

  r = server_asks(c, "ping");
  assert_true(json_is_object(json_object_get(r, "result")));
  assert_string_equal(json_string_value(json_object_get(r, "id")), "srv-1");
  json_decref(r);

  r = server_asks(c, "roots/list");
  assert_int_equal(error_code(r), -32601);
  json_decref(r);

  r = server_asks(c, "elicitation/create");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(r, "result"), "action")),
                      "decline");
  json_decref(r);

  r = server_asks(c, "sampling/createMessage");
  assert_int_equal(error_code(r), MVM_MCP_SAMPLING_REJECTED);
  assert_non_null(strstr(json_string_value(json_object_get(
                             json_object_get(r, "error"), "message")),
                         "rejected"));
  json_decref(r);

  r = server_asks(c, "tasks/list");
  assert_int_equal(error_code(r), -32601);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(r, "error"), "message")),
                      "method not found: tasks/list");
  json_decref(r);

  mvm_mcp_client_stats_get(c, &stats);
  assert_int_equal(stats.server_requests, 5);
  mvm_mcp_client_close(c);
}

struct host {
  int elicits;
  int samples;
  char server[32];
};

static int elicit(void *ctx, const char *server, const json_t *params,
                  json_t **result, mvm_error *err)
{
  struct host *h = ctx;
  h->elicits++;
  snprintf(h->server, sizeof h->server, "%s", server);
  *result =
      json_pack("{s:s, s:{s:s}}", "action", "accept", "content", "name", "Ada");
  return MVM_OK;
}

static int sample(void *ctx, const char *server, const json_t *params,
                  json_t **result, mvm_error *err)
{
  struct host *h = ctx;
  h->samples++;
  return mvm_error_set(err, MVM_EDENIED, "test", "sampling denied by policy");
}

static void routes_server_requests_to_host(void **state)
{
  mvm_mcp_root roots[] = {{"file:///srv/data", "data"}, {"file:///tmp", NULL}};
  struct host host = {0};
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  json_t *r;
  const json_t *list;

  mvm_mcp_client_opts_init(&opts);
  opts.roots = roots;
  opts.nroots = 2;
  opts.elicit = elicit;
  opts.elicit_ctx = &host;
  opts.sample = sample;
  opts.sample_ctx = &host;
  c = open_fixture("normal", &opts);

  r = server_asks(c, "roots/list");
  list = json_object_get(json_object_get(r, "result"), "roots");
  assert_int_equal(json_array_size(list), 2);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(list, 0), "uri")),
      "file:///srv/data");
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(list, 0), "name")),
      "data");
  assert_null(json_object_get(json_array_get(list, 1), "name"));
  json_decref(r);

  r = server_asks(c, "elicitation/create");
  assert_string_equal(
      json_string_value(json_object_get(
          json_object_get(json_object_get(r, "result"), "content"), "name")),
      "Ada");
  assert_int_equal(host.elicits, 1);
  assert_string_equal(host.server, "fixture");
  json_decref(r);

  r = server_asks(c, "sampling/createMessage");
  assert_int_equal(error_code(r), MVM_MCP_SAMPLING_REJECTED);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(r, "error"), "message")),
                      "sampling denied by policy");
  assert_int_equal(host.samples, 1);
  json_decref(r);
  mvm_mcp_client_close(c);
}

struct changes_seen {
  int calls;
  json_t *last;
};

static void on_changed(void *ctx, const char *server, const json_t *changes)
{
  struct changes_seen *seen = ctx;
  seen->calls++;
  json_decref(seen->last);
  seen->last = json_deep_copy(changes);
}

static bool names_equal(const json_t *changes, const char *key,
                        const char *expected)
{
  char *text = json_dumps(json_object_get(changes, key), JSON_COMPACT);
  bool equal = text != NULL && strcmp(text, expected) == 0;
  if (!equal)
    fprintf(stderr, "%s is %s, expected %s\n", key, text, expected);
  free(text);
  return equal;
}

static void relists_after_list_changed(void **state)
{
  struct changes_seen seen = {0};
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  mvm_mcp_client_stats stats;
  mvm_error err = {0};
  json_t *tools = NULL;
  json_t *changes = NULL;
  json_t *r;

  mvm_mcp_client_opts_init(&opts);
  opts.tools_changed = on_changed;
  opts.tools_changed_ctx = &seen;
  c = open_fixture("normal", &opts);
  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_OK);
  assert_int_equal(json_array_size(tools), 20);
  json_decref(tools);

  r = call(c, "add-tool", "{}", NULL, MVM_OK, &err);
  json_decref(r);
  mvm_mcp_client_stats_get(c, &stats);
  assert_int_equal(stats.list_changed, 1);
  assert_int_equal(stats.tool_lists, 1);

  /* The next use lists again and reports the new tool. */
  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_OK);
  mvm_mcp_client_stats_get(c, &stats);
  assert_int_equal(stats.tool_lists, 2);
  assert_int_equal(json_array_size(tools), 21);
  json_decref(tools);
  assert_int_equal(seen.calls, 1);
  assert_true(names_equal(seen.last, "added", "[\"extra\"]"));
  assert_true(names_equal(seen.last, "changed", "[]"));

  r = call(c, "change-tool", "{}", NULL, MVM_OK, &err);
  json_decref(r);
  assert_int_equal(mvm_mcp_client_take_changes(c, &changes, &err), MVM_OK);
  assert_non_null(changes);
  assert_true(names_equal(changes, "added", "[\"extra\"]"));
  assert_true(names_equal(changes, "changed", "[\"echo\"]"));
  assert_true(names_equal(changes, "removed", "[]"));
  json_decref(changes);
  assert_int_equal(seen.calls, 2);
  assert_true(names_equal(seen.last, "changed", "[\"echo\"]"));

  assert_int_equal(mvm_mcp_client_take_changes(c, &changes, &err), MVM_OK);
  assert_null(changes);
  json_decref(seen.last);
  mvm_mcp_client_close(c);
}

static void stderr_flood_is_rate_limited(void **state)
{
  mvm_mcp_client *c;
  mvm_error err = {0};

  mcp_test_log_start(MVM_LOG_INFO);
  c = open_fixture("stderr-flood", NULL);
  /* The 500 lines are in the pipe before the initialize response, and
   * the transport drains stderr whenever it polls, so they have been
   * read once the ping's response is in. */
  assert_int_equal(mvm_mcp_client_ping(c, 0, &err), MVM_OK);
  assert_int_equal(mcp_test_log_count("mcp:fixture: stderr: flood line 0"), 1);
  assert_true(mcp_test_log_count("stderr: flood line") <=
              MVM_MCP_STDIO_DEFAULT_STDERR_LINES_PER_S);
  mvm_mcp_client_close(c);
}

static void answers_ping(void **state)
{
  mvm_mcp_client *c = open_fixture("normal", NULL);
  mvm_error err = {0};

  assert_int_equal(mvm_mcp_client_ping(c, 2000, &err), MVM_OK);
  assert_int_equal(mvm_mcp_client_poll(c, 50, &err), MVM_OK);
  mvm_mcp_client_close(c);
}

static void close_stops_server(void **state)
{
  mvm_mcp_client_opts opts;
  const char *argv[] = {mcp_test_fixture(), "ignore-sigterm", NULL};
  mvm_mcp_stdio_opts stdio = {.close_grace_ms = 200, .term_grace_ms = 200};
  mvm_mcp_client *c = NULL;
  mvm_error err = {0};
  mvm_toolbox box;

  mvm_mcp_client_opts_init(&opts);
  assert_int_equal(mcp_test_open("stubborn", argv, &opts, &stdio, &c, &err),
                   MVM_OK);
  assert_int_equal(mvm_mcp_toolbox_new(c, &box, &err), MVM_OK);
  assert_string_equal(box.ops->kind, "mcp-stdio");
  assert_string_equal(box.server, "stubborn");
  assert_ptr_equal(mvm_mcp_toolbox_client(&box), c);
  box.ops->close(box.self);
  /* Every child of the test process has been reaped. */
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

static void hashes_tool_identity(void **state)
{
  json_t *a = json_pack("{s:s, s:s, s:{s:s}}", "name", "t", "description", "d",
                        "inputSchema", "type", "object");
  json_t *b = json_pack("{s:s, s:s, s:{s:s}}", "name", "other", "description",
                        "d", "inputSchema", "type", "object");
  char ha[80];
  char hb[80];
  char small[10];

  assert_int_equal(mvm_mcp_tool_hash(a, ha, sizeof ha), MVM_OK);
  assert_int_equal(strlen(ha), 71);
  assert_memory_equal(ha, "sha256:", 7);
  /* The name is not part of the hash; description and schema are. */
  assert_int_equal(mvm_mcp_tool_hash(b, hb, sizeof hb), MVM_OK);
  assert_string_equal(ha, hb);
  json_object_set_new(b, "description", json_string("d2"));
  assert_int_equal(mvm_mcp_tool_hash(b, hb, sizeof hb), MVM_OK);
  assert_string_not_equal(ha, hb);
  assert_int_equal(mvm_mcp_tool_hash(a, small, sizeof small), MVM_EINVAL);
  json_decref(a);
  json_decref(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(initializes_with_latest_revision,
                                teardown_test),
      cmocka_unit_test_teardown(declares_only_configured_capabilities,
                                teardown_test),
      cmocka_unit_test_teardown(rejects_unsupported_revision, teardown_test),
      cmocka_unit_test_teardown(accepts_older_revision, teardown_test),
      cmocka_unit_test_teardown(initialize_times_out, teardown_test),
      cmocka_unit_test_teardown(server_that_exits_at_start, teardown_test),
      cmocka_unit_test_teardown(lists_tools, teardown_test),
      cmocka_unit_test_teardown(follows_pages_and_drops_duplicates,
                                teardown_test),
      cmocka_unit_test_teardown(stops_on_repeated_cursor, teardown_test),
      cmocka_unit_test_teardown(page_limit_is_an_error, teardown_test),
      cmocka_unit_test_teardown(tool_limit_is_an_error, teardown_test),
      cmocka_unit_test_teardown(calls_tools, teardown_test),
      cmocka_unit_test_teardown(keeps_every_content_type, teardown_test),
      cmocka_unit_test_teardown(call_errors, teardown_test),
      cmocka_unit_test_teardown(checks_structured_content, teardown_test),
      cmocka_unit_test_teardown(timeout_sends_cancelled, teardown_test),
      cmocka_unit_test_teardown(progress_restarts_timeout, teardown_test),
      cmocka_unit_test_teardown(maximum_timeout_ignores_progress,
                                teardown_test),
      cmocka_unit_test_teardown(host_cancels_call, teardown_test),
      cmocka_unit_test_teardown(server_dies_mid_call, teardown_test),
      cmocka_unit_test_teardown(overlong_response_fails_call, teardown_test),
      cmocka_unit_test_teardown(skips_stdout_noise, teardown_test),
      cmocka_unit_test_teardown(drops_stray_responses, teardown_test),
      cmocka_unit_test_teardown(drops_answers_to_notifications, teardown_test),
      cmocka_unit_test_teardown(takes_responses_in_any_order, teardown_test),
      cmocka_unit_test_teardown(answers_server_requests_by_default,
                                teardown_test),
      cmocka_unit_test_teardown(routes_server_requests_to_host, teardown_test),
      cmocka_unit_test_teardown(relists_after_list_changed, teardown_test),
      cmocka_unit_test_teardown(stderr_flood_is_rate_limited, teardown_test),
      cmocka_unit_test_teardown(answers_ping, teardown_test),
      cmocka_unit_test_teardown(close_stops_server, teardown_test),
      cmocka_unit_test(hashes_tool_identity),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
