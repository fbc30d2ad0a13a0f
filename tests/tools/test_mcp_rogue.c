/* test_mcp_rogue.c - the MCP client and stdio transport against servers
 * that misbehave on purpose (tests/fixtures/mcp/rogue_server.mjs): noise on
 * stdout, an over-long line, a crash mid-call, a server that never responds,
 * endless progress, a repeated cursor, too many pages, responses to
 * notifications, responses out of order and with unknown ids, unsupported
 * revisions, requests from the server, list changes, a stderr flood and a
 * server that ignores shutdown. The fixture runs under the `node` found in
 * PATH. Small `sh` servers that never respond to initialize or tools/list
 * check the startup timeout and a host that cancels those waits. */
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
#include <time.h>
#include <unistd.h>

#include "mvm.h"
#include "support.h"
#include "tools/jsonrpc.h"
#include "tools/mcp_client.h"
#include "tools/mcp_stdio.h"

#define SERVER "rogue"

/* One started server: the client and the transport it owns. */
struct rogue {
  mvm_mcp_client *client;
  mvm_mcp_transport *transport;
  pid_t pid;
};

/* Log lines captured from the library. */
static struct {
  unsigned stderr_lines;
  unsigned warnings;
  char last_warning[512];
} logs;

static void capture_log(void *ctx, int level, const char *where,
                        const char *line)
{
  if (strcmp(where, "mcp:" SERVER) == 0 &&
      strncmp(line, "stderr: flood line", 18) == 0)
    logs.stderr_lines++;
  if (level >= MVM_LOG_WARN) {
    logs.warnings++;
    snprintf(logs.last_warning, sizeof logs.last_warning, "%s", line);
  }
}

static int setup(void **state)
{
  memset(&logs, 0, sizeof logs);
  mvm_log_set_sink(capture_log, NULL);
  mvm_log_set_level(MVM_LOG_DEBUG);
  return 0;
}

static int teardown(void **state)
{
  mvm_log_set_sink(NULL, NULL);
  return 0;
}

/* Starts the rogue server in `mode` and opens a client over it. Returns
 * the status of mvm_mcp_client_open. */
static int rogue_open_with(struct rogue *r, const char *mode, const char *arg,
                           const mvm_mcp_client_opts *copts,
                           const mvm_mcp_stdio_opts *base, mvm_error *err)
{
  const char *argv[] = {"node", mvm_test_path(
                            "tests/fixtures/mcp/rogue_server.mjs"),
                        mode, arg, NULL};
  mvm_mcp_stdio_opts sopts = {0};
  int rc;

  if (base != NULL)
    sopts = *base;
  sopts.server = SERVER;
  sopts.argv = argv;
  memset(r, 0, sizeof *r);
  rc = mvm_mcp_stdio_open(&sopts, &r->transport, err);
  if (rc)
    return rc;
  r->pid = mvm_mcp_stdio_pid(r->transport);
  assert_true(r->pid > 0);
  rc = mvm_mcp_client_open(r->transport, copts, &r->client, err);
  if (rc)
    r->transport = NULL;
  return rc;
}

static void rogue_open(struct rogue *r, const char *mode, const char *arg,
                       const mvm_mcp_client_opts *copts)
{
  mvm_error err = {0};
  int rc = rogue_open_with(r, mode, arg, copts, NULL, &err);

  if (rc)
    fail_msg("starting the rogue server in mode %s failed: %s", mode,
             err.msg);
}

/* True when the process is gone and reaped (by the transport, not us). */
static bool reaped(pid_t pid)
{
  errno = 0;
  return waitpid(pid, NULL, WNOHANG) == -1 && errno == ECHILD &&
         kill(pid, 0) == -1;
}

static void rogue_close(struct rogue *r)
{
  mvm_mcp_client_close(r->client);
  r->client = NULL;
  assert_true(reaped(r->pid));
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Calls poke with {"n": n} and returns the text of its first content. */
static int call_poke(struct rogue *r, int n, const mvm_tool_call_opts *opts,
                     char *text, size_t size, mvm_error *err)
{
  json_t *args = json_pack("{s:i}", "n", n);
  json_t *result = NULL;
  int rc = mvm_mcp_client_call_tool(r->client, "poke", args, opts, &result,
                                    err);

  json_decref(args);
  if (rc == MVM_OK) {
    const json_t *first = json_array_get(json_object_get(result, "content"),
                                         0);
    snprintf(text, size, "%s",
             json_string_value(json_object_get(first, "text")));
  }
  json_decref(result);
  return rc;
}

static void test_noise_lines_skipped(void **state)
{
  struct rogue r;
  mvm_error err = {0};
  char text[64];
  json_t *tools = NULL;

  rogue_open(&r, "noise", NULL, NULL);
  assert_int_equal(mvm_mcp_client_list_tools(r.client, &tools, &err),
                   MVM_OK);
  assert_int_equal(json_array_size(tools), 1);
  json_decref(tools);
  assert_int_equal(call_poke(&r, 7, NULL, text, sizeof text, &err), MVM_OK);
  assert_string_equal(text, "{\"n\":7}");
  rogue_close(&r);
}

static void test_overlong_line_recovers(void **state)
{
  struct rogue r;
  mvm_mcp_stdio_opts sopts = {.max_message_bytes = 4096};
  mvm_error err = {0};
  char text[64];

  assert_int_equal(rogue_open_with(&r, "overlong", "10000", NULL, &sopts,
                                   &err),
                   MVM_OK);
  assert_int_equal(call_poke(&r, 1, NULL, text, sizeof text, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "4096"));
  assert_non_null(strstr(err.msg, SERVER));

  /* The transport dropped the line and reads the next message. */
  assert_int_equal(call_poke(&r, 2, NULL, text, sizeof text, &err), MVM_OK);
  assert_string_equal(text, "{\"n\":2}");
  rogue_close(&r);
}

static void test_crash_mid_call(void **state)
{
  struct rogue r;
  mvm_error err = {0};
  char text[64];

  rogue_open(&r, "die", NULL, NULL);
  assert_int_equal(call_poke(&r, 1, NULL, text, sizeof text, &err),
                   MVM_EIO);
  assert_non_null(strstr(err.msg, SERVER));
  assert_non_null(strstr(err.msg, "exited with status 3"));
  /* Later calls fail the same way; close reaps the child. */
  assert_int_equal(call_poke(&r, 2, NULL, text, sizeof text, &err),
                   MVM_EIO);
  rogue_close(&r);
}

static void test_timeout_sends_cancel(void **state)
{
  struct rogue r;
  mvm_tool_call_opts opts = {.timeout_s = 0.3};
  mvm_mcp_client_stats stats;
  mvm_error err = {0};
  char path[] = "/tmp/mvm-rogue-cancel-XXXXXX";
  char line[512] = "";
  char text[64];
  int fd = mkstemp(path);

  assert_true(fd >= 0);
  close(fd);
  rogue_open(&r, "hang", path, NULL);
  assert_int_equal(call_poke(&r, 1, &opts, text, sizeof text, &err),
                   MVM_ETIMEOUT);
  assert_non_null(strstr(err.msg, "cancelled"));
  mvm_mcp_client_stats_get(r.client, &stats);
  assert_int_equal(stats.cancels_sent, 1);

  /* The server records the notification; a ping orders it after it. */
  assert_int_equal(mvm_mcp_client_ping(r.client, 5000, &err), MVM_OK);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_non_null(fgets(line, sizeof line, f));
  fclose(f);
  unlink(path);

  json_t *params = json_loads(line, 0, NULL);
  assert_non_null(params);
  assert_true(json_is_integer(json_object_get(params, "requestId")));
  assert_true(json_is_string(json_object_get(params, "reason")));
  json_decref(params);
  rogue_close(&r);
}

struct progress_count {
  unsigned lines;
  char last[128];
};

static void count_progress(void *ctx, const char *text, size_t len)
{
  struct progress_count *pc = ctx;
  pc->lines++;
  snprintf(pc->last, sizeof pc->last, "%.*s", (int)len, text);
}

static void test_progress_hard_maximum(void **state)
{
  struct rogue r;
  struct progress_count pc = {0};
  mvm_model_stream stream = {.on_text = count_progress, .ctx = &pc};
  mvm_tool_call_opts opts = {.timeout_s = 0.3, .progress = &stream};
  mvm_mcp_client_opts copts;
  mvm_error err = {0};
  char text[64];

  mvm_mcp_client_opts_init(&copts);
  copts.max_timeout_ms = 1200;
  rogue_open(&r, "progress", NULL, &copts);
  /* Progress every 50 ms keeps restarting the 300 ms timeout, so only the
   * maximum ends the call. */
  assert_int_equal(call_poke(&r, 1, &opts, text, sizeof text, &err),
                   MVM_ETIMEOUT);
  assert_non_null(strstr(err.msg, "maximum"));
  assert_true(pc.lines >= 2);
  assert_non_null(strstr(pc.last, ": step "));
  rogue_close(&r);
}

static bool cancel_now(void *ctx)
{
  struct progress_count *pc = ctx;
  return pc->lines >= 3;
}

static void test_host_cancel(void **state)
{
  struct rogue r;
  struct progress_count pc = {0};
  mvm_model_stream stream = {.on_text = count_progress,
                             .cancelled = cancel_now,
                             .ctx = &pc};
  mvm_tool_call_opts opts = {.progress = &stream};
  mvm_mcp_client_stats stats;
  mvm_error err = {0};
  char text[64];

  rogue_open(&r, "progress", NULL, NULL);
  assert_int_equal(call_poke(&r, 1, &opts, text, sizeof text, &err),
                   MVM_ECANCELLED);
  mvm_mcp_client_stats_get(r.client, &stats);
  assert_int_equal(stats.cancels_sent, 1);
  rogue_close(&r);
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A cancelled() callback that turns true at a set time (never while
 * at_ms is 0) and counts how often it was polled. */
struct cancel_clock {
  long long at_ms;
  unsigned polls;
};

static bool cancel_at(void *ctx)
{
  struct cancel_clock *clock = ctx;
  clock->polls++;
  return clock->at_ms > 0 && now_ms() >= clock->at_ms;
}

/* Starts `sh -c script` as server SERVER and opens a client over it. */
static int sh_open(const char *script, const mvm_mcp_client_opts *copts,
                   mvm_mcp_client **client, mvm_error *err)
{
  const char *argv[] = {"sh", "-c", script, NULL};
  mvm_mcp_stdio_opts sopts = {
      .server = SERVER, .argv = argv, .close_grace_ms = 200};
  mvm_mcp_transport *t = NULL;
  int rc = mvm_mcp_stdio_open(&sopts, &t, err);

  if (rc)
    return rc;
  return mvm_mcp_client_open(t, copts, client, err);
}

/* Returns the contents of a file the test server wrote, malloc'd. */
static char *read_text(const char *path)
{
  FILE *f = fopen(path, "r");
  char *text = calloc(1, 65536);

  assert_non_null(f);
  assert_non_null(text);
  assert_true(fread(text, 1, 65535, f) < 65535);
  fclose(f);
  return text;
}

/* Creates an empty temporary file for a server to record its input in.
 * The servers record with `exec cat 3>&1 > FILE`, where fd 3 keeps their
 * stdout pipe open, so the client does not see them exit. */
static void make_record(char *path)
{
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
}

static void test_init_wait_cancelled(void **state)
{
  char path[] = "/tmp/mvm-rogue-init-XXXXXX";
  char script[128];
  struct cancel_clock clock = {0};
  mvm_mcp_client_opts copts;
  mvm_mcp_client *client = NULL;
  mvm_error err = {0};

  make_record(path);
  snprintf(script, sizeof script, "exec cat 3>&1 > %s", path);
  mvm_mcp_client_opts_init(&copts);
  copts.init_timeout_ms = 20000;
  copts.cancelled = cancel_at;
  copts.cancelled_ctx = &clock;

  /* The server reads initialize and never responds. */
  long long start = now_ms();
  clock.at_ms = start + 300;
  int rc = sh_open(script, &copts, &client, &err);
  long long elapsed = now_ms() - start;
  if (rc != MVM_ECANCELLED)
    fail_msg("status %s (expected MVM_ECANCELLED): %s", mvm_status_name(rc),
             err.msg);
  assert_null(client);
  assert_true(elapsed >= 300);
  assert_true(elapsed < 5000);
  assert_true(clock.polls >= 2);
  assert_non_null(strstr(err.msg, "mvm stopped waiting for server 'rogue' "
                                  "to respond to 'initialize'"));

  /* MCP forbids cancelling initialize, so no notification went out. */
  char *text = read_text(path);
  unlink(path);
  assert_non_null(strstr(text, "\"method\":\"initialize\""));
  assert_null(strstr(text, "notifications/cancelled"));
  free(text);
}

static void test_init_timeout_gives_up(void **state)
{
  char path[] = "/tmp/mvm-rogue-init-XXXXXX";
  char script[128];
  mvm_mcp_client_opts copts;
  mvm_mcp_client *client = NULL;
  mvm_error err = {0};

  make_record(path);
  snprintf(script, sizeof script, "exec cat 3>&1 > %s", path);
  mvm_mcp_client_opts_init(&copts);
  copts.init_timeout_ms = 300;
  int rc = sh_open(script, &copts, &client, &err);
  if (rc != MVM_ETIMEOUT)
    fail_msg("status %s (expected MVM_ETIMEOUT): %s", mvm_status_name(rc),
             err.msg);
  assert_null(client);
  assert_non_null(strstr(err.msg, "server 'rogue' did not respond to "
                                  "'initialize' within 300 ms, so mvm gave "
                                  "up waiting"));
  assert_non_null(strstr(err.msg, "--trace=mcp"));
  assert_null(strstr(err.msg, "cancelled"));

  char *text = read_text(path);
  unlink(path);
  assert_null(strstr(text, "notifications/cancelled"));
  free(text);
}

static void test_tools_list_wait_cancelled(void **state)
{
  char path[] = "/tmp/mvm-rogue-list-XXXXXX";
  char script[512];
  struct cancel_clock clock = {0};
  mvm_mcp_client_opts copts;
  mvm_mcp_client *client = NULL;
  mvm_mcp_client_stats stats;
  json_t *tools = NULL;
  mvm_error err = {0};

  /* Responds to initialize (the client's first request has id 1), then
   * records everything else and never responds. */
  make_record(path);
  snprintf(script, sizeof script,
           "read -r line; printf '%%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":1,"
           "\"result\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":"
           "{\"tools\":{}},\"serverInfo\":{\"name\":\"sh\",\"version\":"
           "\"1\"}}}'; exec cat 3>&1 > %s",
           path);
  mvm_mcp_client_opts_init(&copts);
  copts.cancelled = cancel_at;
  copts.cancelled_ctx = &clock;
  int rc = sh_open(script, &copts, &client, &err);
  if (rc != MVM_OK)
    fail_msg("starting the server failed: %s", err.msg);

  long long start = now_ms();
  clock.at_ms = start + 300;
  assert_int_equal(mvm_mcp_client_list_tools(client, &tools, &err),
                   MVM_ECANCELLED);
  long long elapsed = now_ms() - start;
  assert_null(tools);
  assert_true(elapsed >= 300);
  assert_true(elapsed < 5000);
  assert_non_null(strstr(err.msg, "the 'tools/list' request to server "
                                  "'rogue' was cancelled"));
  mvm_mcp_client_stats_get(client, &stats);
  assert_int_equal(stats.cancels_sent, 1);
  mvm_mcp_client_close(client);

  /* Unlike initialize, tools/list may be cancelled. */
  char *text = read_text(path);
  unlink(path);
  assert_non_null(strstr(text, "\"method\":\"tools/list\""));
  assert_non_null(strstr(text, "notifications/cancelled"));
  free(text);
}

static void test_repeated_cursor_stops(void **state)
{
  struct rogue r;
  mvm_error err = {0};
  json_t *tools = NULL;

  rogue_open(&r, "cursor", NULL, NULL);
  assert_int_equal(mvm_mcp_client_list_tools(r.client, &tools, &err),
                   MVM_OK);
  assert_int_equal(json_array_size(tools), 1);
  assert_true(logs.warnings >= 1);
  json_decref(tools);
  rogue_close(&r);
}

static void test_pages_deduplicated(void **state)
{
  struct rogue r;
  mvm_error err = {0};
  json_t *tools = NULL;

  rogue_open(&r, "pages", "3", NULL);
  assert_int_equal(mvm_mcp_client_list_tools(r.client, &tools, &err),
                   MVM_OK);
  /* Three pages of poke, pNa and pNb: poke is kept once. */
  assert_int_equal(json_array_size(tools), 7);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(tools, 0), "name")),
                      "poke");
  assert_true(logs.warnings >= 1);
  json_decref(tools);
  rogue_close(&r);
}

static void test_page_limit(void **state)
{
  struct rogue r;
  mvm_mcp_client_opts copts;
  mvm_error err = {0};
  json_t *tools = NULL;

  mvm_mcp_client_opts_init(&copts);
  copts.max_pages = 5;
  rogue_open(&r, "pages", "1000", &copts);
  assert_int_equal(mvm_mcp_client_list_tools(r.client, &tools, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "pages"));
  assert_non_null(strstr(err.msg, "5"));
  assert_null(tools);
  rogue_close(&r);
}

static void test_tool_limit(void **state)
{
  struct rogue r;
  mvm_mcp_client_opts copts;
  mvm_error err = {0};
  json_t *tools = NULL;

  mvm_mcp_client_opts_init(&copts);
  copts.max_tools = 4;
  rogue_open(&r, "pages", "3", &copts);
  assert_int_equal(mvm_mcp_client_list_tools(r.client, &tools, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "tools"));
  assert_non_null(strstr(err.msg, "4"));
  assert_null(tools);
  rogue_close(&r);
}

static void test_answered_notification_dropped(void **state)
{
  struct rogue r;
  mvm_mcp_client_stats stats;
  mvm_error err = {0};
  char text[64];

  rogue_open(&r, "answer_notes", NULL, NULL);
  assert_int_equal(call_poke(&r, 5, NULL, text, sizeof text, &err), MVM_OK);
  assert_string_equal(text, "{\"n\":5}");
  mvm_mcp_client_stats_get(r.client, &stats);
  /* One response with id null, one with an id never sent. */
  assert_int_equal(stats.responses_dropped, 2);
  rogue_close(&r);
}

static void test_out_of_order_responses(void **state)
{
  struct rogue r;
  mvm_mcp_client_stats stats;
  mvm_error err = {0};
  long long first = 0;
  long long second = 0;
  json_t *args1 = json_pack("{s:s, s:{s:i}}", "name", "poke", "arguments",
                            "n", 1);
  json_t *args2 = json_pack("{s:s, s:{s:i}}", "name", "poke", "arguments",
                            "n", 2);
  json_t *result = NULL;

  rogue_open(&r, "shuffle", NULL, NULL);
  assert_int_equal(mvm_mcp_client_start(r.client, "tools/call", args1, NULL,
                                        &first, &err),
                   MVM_OK);
  assert_int_equal(mvm_mcp_client_start(r.client, "tools/call", args2, NULL,
                                        &second, &err),
                   MVM_OK);
  assert_true(first != second);

  /* The server responds to the second request first. */
  assert_int_equal(mvm_mcp_client_wait(r.client, first, 5000, &result, NULL,
                                       &err),
                   MVM_OK);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(result, "content"),
                                         0),
                          "text")),
                      "{\"n\":1}");
  json_decref(result);
  result = NULL;
  assert_int_equal(mvm_mcp_client_wait(r.client, second, 5000, &result,
                                       NULL, &err),
                   MVM_OK);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(result, "content"),
                                         0),
                          "text")),
                      "{\"n\":2}");
  json_decref(result);

  /* Two unknown ids, two null ids and two repeated responses. */
  assert_int_equal(mvm_mcp_client_ping(r.client, 5000, &err), MVM_OK);
  mvm_mcp_client_stats_get(r.client, &stats);
  assert_int_equal(stats.responses_dropped, 6);
  json_decref(args1);
  json_decref(args2);
  rogue_close(&r);
}

static void test_old_revision_accepted(void **state)
{
  struct rogue r;

  rogue_open(&r, "revision", "2025-03-26", NULL);
  assert_string_equal(mvm_mcp_client_revision(r.client), "2025-03-26");
  rogue_close(&r);

  rogue_open(&r, "revision", "2025-06-18", NULL);
  assert_string_equal(mvm_mcp_client_revision(r.client), "2025-06-18");
  rogue_close(&r);
}

static void test_unknown_revision_rejected(void **state)
{
  struct rogue r;
  mvm_error err = {0};

  assert_int_equal(rogue_open_with(&r, "revision", "2024-11-05", NULL, NULL,
                                   &err),
                   MVM_EPROTOCOL);
  assert_non_null(strstr(err.msg, "2024-11-05"));
  assert_non_null(strstr(err.msg, MVM_MCP_LATEST_REVISION));
  assert_non_null(strstr(err.msg, "2025-06-18"));
  assert_true(reaped(r.pid));
}

static void test_initialize_error(void **state)
{
  struct rogue r;
  mvm_error err = {0};

  assert_int_equal(rogue_open_with(&r, "init_error", NULL, NULL, NULL, &err),
                   MVM_EPROTOCOL);
  assert_non_null(strstr(err.msg, "refuses to start"));
  assert_true(reaped(r.pid));
}

static const json_t *reply_of(const json_t *result, const char *what)
{
  return json_object_get(json_object_get(json_object_get(
                                             result, "structuredContent"),
                                         "replies"),
                         what);
}

static void test_server_requests_defaults(void **state)
{
  struct rogue r;
  mvm_mcp_root roots[] = {{"file:///tmp/mvm-root", "scratch"}};
  mvm_mcp_client_opts copts;
  mvm_error err = {0};
  json_t *args = json_object();
  json_t *result = NULL;

  mvm_mcp_client_opts_init(&copts);
  copts.roots = roots;
  copts.nroots = 1;
  rogue_open(&r, "server_calls", NULL, &copts);
  assert_int_equal(mvm_mcp_client_call_tool(r.client, "poke", args, NULL,
                                            &result, &err),
                   MVM_OK);

  assert_true(json_is_object(reply_of(result, "ping")));
  assert_int_equal(json_object_size(reply_of(result, "ping")), 0);
  const json_t *root0 = json_array_get(json_object_get(reply_of(result,
                                                                "roots"),
                                                       "roots"),
                                       0);
  assert_string_equal(json_string_value(json_object_get(root0, "uri")),
                      "file:///tmp/mvm-root");
  assert_string_equal(json_string_value(json_object_get(root0, "name")),
                      "scratch");
  /* With no user callback, elicitation is declined. */
  assert_string_equal(json_string_value(json_object_get(
                          reply_of(result, "elicitation"), "action")),
                      "decline");
  /* With no sampling callback, sampling is rejected with an error. */
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(reply_of(result, "sampling"),
                                       "error"),
                       "code")),
                   MVM_MCP_SAMPLING_REJECTED);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(reply_of(result, "unknown"), "error"),
                       "code")),
                   MVM_JSONRPC_METHOD_NOT_FOUND);
  json_decref(result);
  json_decref(args);
  rogue_close(&r);
}

static int elicit_accept(void *ctx, const char *server, const json_t *params,
                         json_t **result, mvm_error *err)
{
  unsigned *calls = ctx;
  (*calls)++;
  assert_string_equal(server, SERVER);
  assert_string_equal(json_string_value(json_object_get(params, "message")),
                      "name?");
  *result = json_pack("{s:s, s:{s:s}}", "action", "accept", "content",
                      "name", "Ada");
  return MVM_OK;
}

static int sample_refuse(void *ctx, const char *server, const json_t *params,
                         json_t **result, mvm_error *err)
{
  unsigned *calls = ctx;
  (*calls)++;
  return mvm_error_set(err, MVM_EDENIED, "test", "policy denies sampling");
}

static void test_server_requests_callbacks(void **state)
{
  struct rogue r;
  mvm_mcp_client_opts copts;
  mvm_error err = {0};
  unsigned elicits = 0;
  unsigned samples = 0;
  json_t *result = NULL;

  mvm_mcp_client_opts_init(&copts);
  copts.elicit = elicit_accept;
  copts.elicit_ctx = &elicits;
  copts.sample = sample_refuse;
  copts.sample_ctx = &samples;
  rogue_open(&r, "server_calls", NULL, &copts);
  assert_int_equal(mvm_mcp_client_call_tool(r.client, "poke", NULL, NULL,
                                            &result, &err),
                   MVM_OK);
  assert_int_equal(elicits, 1);
  assert_int_equal(samples, 1);
  const json_t *elicitation = reply_of(result, "elicitation");
  assert_string_equal(json_string_value(json_object_get(elicitation,
                                                        "action")),
                      "accept");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(elicitation, "content"), "name")),
                      "Ada");
  const json_t *sampling = json_object_get(reply_of(result, "sampling"),
                                           "error");
  assert_non_null(strstr(json_string_value(json_object_get(sampling,
                                                           "message")),
                         "policy denies sampling"));
  /* Without configured roots, roots/list is an unknown method. */
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(reply_of(result, "roots"), "error"),
                       "code")),
                   MVM_JSONRPC_METHOD_NOT_FOUND);
  json_decref(result);
  rogue_close(&r);
}

struct changes_seen {
  unsigned calls;
  json_t *last;
};

static void on_tools_changed(void *ctx, const char *server,
                             const json_t *changes)
{
  struct changes_seen *seen = ctx;
  seen->calls++;
  json_decref(seen->last);
  seen->last = json_deep_copy(changes);
}

static bool array_has(const json_t *array, const char *name)
{
  size_t i;
  const json_t *v;

  json_array_foreach(array, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
      return true;
  }
  return false;
}

static void test_list_changed_relists(void **state)
{
  struct rogue r;
  struct changes_seen seen = {0};
  mvm_mcp_client_opts copts;
  mvm_mcp_client_stats stats;
  mvm_error err = {0};
  json_t *tools = NULL;
  json_t *changes = NULL;
  json_t *result = NULL;

  mvm_mcp_client_opts_init(&copts);
  copts.tools_changed = on_tools_changed;
  copts.tools_changed_ctx = &seen;
  rogue_open(&r, "list_changed", NULL, &copts);
  assert_int_equal(mvm_mcp_client_list_tools(r.client, &tools, &err),
                   MVM_OK);
  assert_int_equal(json_array_size(tools), 2);
  json_decref(tools);

  assert_int_equal(mvm_mcp_client_call_tool(r.client, "grow", NULL, NULL,
                                            &result, &err),
                   MVM_OK);
  json_decref(result);
  assert_int_equal(mvm_mcp_client_take_changes(r.client, &changes, &err),
                   MVM_OK);
  assert_non_null(changes);
  assert_true(array_has(json_object_get(changes, "added"), "extra1"));
  assert_int_equal(json_array_size(json_object_get(changes, "removed")), 0);
  json_decref(changes);
  assert_int_equal(seen.calls, 1);
  assert_true(array_has(json_object_get(seen.last, "added"), "extra1"));

  /* Nothing changed since. */
  changes = NULL;
  assert_int_equal(mvm_mcp_client_take_changes(r.client, &changes, &err),
                   MVM_OK);
  assert_null(changes);

  /* The new tool can be called; the list is read again first. */
  assert_int_equal(mvm_mcp_client_call_tool(r.client, "grow", NULL, NULL,
                                            &result, &err),
                   MVM_OK);
  json_decref(result);
  result = NULL;
  assert_int_equal(mvm_mcp_client_call_tool(r.client, "extra2", NULL, NULL,
                                            &result, &err),
                   MVM_OK);
  json_decref(result);
  mvm_mcp_client_stats_get(r.client, &stats);
  assert_int_equal(stats.list_changed, 2);
  assert_int_equal(stats.tool_lists, 3);
  json_decref(seen.last);
  rogue_close(&r);
}

static void test_unknown_tool(void **state)
{
  struct rogue r;
  mvm_error err = {0};
  json_t *result = NULL;

  rogue_open(&r, "ok", NULL, NULL);
  assert_int_equal(mvm_mcp_client_call_tool(r.client, "nope", NULL, NULL,
                                            &result, &err),
                   MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, "nope"));
  assert_null(result);
  rogue_close(&r);
}

static void test_every_content_type_kept(void **state)
{
  static const char *const types[] = {"text", "image", "audio",
                                      "resource_link", "resource"};
  struct rogue r;
  mvm_error err = {0};
  json_t *result = NULL;

  rogue_open(&r, "ok", NULL, NULL);
  assert_int_equal(mvm_mcp_client_call_tool(r.client, "content", NULL, NULL,
                                            &result, &err),
                   MVM_OK);
  const json_t *content = json_object_get(result, "content");
  assert_int_equal(json_array_size(content), 5);
  for (size_t i = 0; i < 5; i++) {
    const json_t *item = json_array_get(content, i);
    assert_string_equal(json_string_value(json_object_get(item, "type")),
                        types[i]);
  }
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(content, 2), "mimeType")),
                      "audio/wav");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(json_array_get(content, 4),
                                          "resource"),
                          "text")),
                      "inside");
  assert_false(json_is_true(json_object_get(result, "isError")));
  json_decref(result);
  rogue_close(&r);
}

static void test_content_item_limit(void **state)
{
  struct rogue r;
  mvm_mcp_client_opts copts;
  mvm_error err = {0};
  json_t *args = json_pack("{s:i}", "count", 5);
  json_t *result = NULL;

  mvm_mcp_client_opts_init(&copts);
  copts.max_content_items = 5;
  rogue_open(&r, "ok", NULL, &copts);
  assert_int_equal(mvm_mcp_client_call_tool(r.client, "many", args, NULL,
                                            &result, &err),
                   MVM_OK);
  assert_int_equal(json_array_size(json_object_get(result, "content")), 5);
  json_decref(result);
  result = NULL;

  json_object_set_new(args, "count", json_integer(6));
  assert_int_equal(mvm_mcp_client_call_tool(r.client, "many", args, NULL,
                                            &result, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "5"));
  assert_null(result);
  json_decref(args);
  rogue_close(&r);
}

static void test_stderr_rate_limited(void **state)
{
  struct rogue r;
  mvm_error err = {0};
  char text[64];

  rogue_open(&r, "stderr_flood", "2000", NULL);
  assert_int_equal(call_poke(&r, 1, NULL, text, sizeof text, &err), MVM_OK);
  rogue_close(&r);
  assert_true(logs.stderr_lines >= 1);
  assert_true(logs.stderr_lines < 2000);
}

static void test_shutdown_escalates(void **state)
{
  struct rogue r;
  mvm_mcp_stdio_opts sopts = {.close_grace_ms = 200, .term_grace_ms = 200};
  mvm_error err = {0};

  /* The server ignores the end of stdin and SIGTERM: only SIGKILL stops
   * it, and close must still reap it. */
  assert_int_equal(rogue_open_with(&r, "ignore_stdin_eof", NULL, NULL,
                                   &sopts, &err),
                   MVM_OK);
  rogue_close(&r);
}

static void test_missing_command(void **state)
{
  const char *argv[] = {"mvm-no-such-mcp-server", NULL};
  mvm_mcp_stdio_opts sopts = {.server = SERVER, .argv = argv};
  mvm_mcp_transport *t = NULL;
  mvm_error err = {0};

  assert_int_equal(mvm_mcp_stdio_open(&sopts, &t, &err), MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, "mvm-no-such-mcp-server"));
  assert_null(t);
}

static void test_sigpipe_harmless(void **state)
{
  struct rogue r;
  mvm_error err = {0};
  char text[64];

  /* Sending to a server that died must fail, not kill the test. */
  rogue_open(&r, "die", NULL, NULL);
  assert_int_equal(call_poke(&r, 1, NULL, text, sizeof text, &err),
                   MVM_EIO);
  sleep_ms(50);
  assert_int_equal(mvm_mcp_client_ping(r.client, 1000, &err), MVM_EIO);
  rogue_close(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_noise_lines_skipped, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_overlong_line_recovers, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_crash_mid_call, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeout_sends_cancel, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_progress_hard_maximum, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_host_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_init_wait_cancelled, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_init_timeout_gives_up, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tools_list_wait_cancelled, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_repeated_cursor_stops, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pages_deduplicated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_page_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tool_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_answered_notification_dropped,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_of_order_responses, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_old_revision_accepted, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unknown_revision_rejected, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_initialize_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_server_requests_defaults, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_server_requests_callbacks, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_list_changed_relists, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unknown_tool, setup, teardown),
      cmocka_unit_test_setup_teardown(test_every_content_type_kept, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_content_item_limit, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_stderr_rate_limited, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_escalates, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_missing_command, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sigpipe_harmless, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
