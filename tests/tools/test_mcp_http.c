/* test_mcp_http.c - the Streamable HTTP transport against a scripted
 * server on 127.0.0.1 (tests/support/mock_mcp_http): JSON and SSE replies,
 * 202 for notifications, session and protocol headers, session expiry,
 * the GET stream, resumption with Last-Event-ID, limits and DELETE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>

#include "mock_mcp_http.h"
#include "mvm.h"
#include "tools/mcp_http.h"

#define SSE "text/event-stream"
#define JSON "application/json"

#define INIT_REQUEST                                                          \
  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}"
#define INIT_RESULT                                                           \
  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":"           \
  "\"2025-11-25\",\"capabilities\":{},\"serverInfo\":{\"name\":\"m\","       \
  "\"version\":\"1\"}}}"
#define INITIALIZED                                                           \
  "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"
#define PING_REQUEST "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"
#define PING_RESULT "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}"

typedef struct fixture {
  mvm_mock_mcp *mock;
  mvm_mcp_http_config cfg;
  mvm_mcp_transport *t;
} fixture;

static int setup(void **state)
{
  fixture *f = calloc(1, sizeof *f);

  assert_non_null(f);
  f->mock = mvm_mock_mcp_start();
  assert_non_null(f->mock);
  f->cfg.server = "mock";
  f->cfg.url = mvm_mock_mcp_url(f->mock);
  f->cfg.response_timeout_ms = 5000;
  f->cfg.default_retry_ms = 50;
  f->cfg.no_get_stream = true;
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  fixture *f = *state;

  if (f->t != NULL)
    f->t->ops->close(f->t);
  mvm_mock_mcp_stop(f->mock);
  free(f);
  return 0;
}

static void open_transport(fixture *f)
{
  mvm_error err = {0};

  assert_int_equal(mvm_mcp_http_open(&f->cfg, &f->t, &err), MVM_OK);
}

static void push(fixture *f, const char *method, int status,
                 const char *type, const char *headers, const char *body)
{
  mvm_mock_mcp_reply r = {status, type, headers, body, 0, 0};

  assert_int_equal(mvm_mock_mcp_push(f->mock, method, &r), 0);
}

static int send_text(fixture *f, const char *text, mvm_error *err)
{
  return f->t->ops->send(f->t, text, strlen(text), err);
}

/* Receives one message and returns it parsed. */
static json_t *recv_json(fixture *f, int timeout_ms)
{
  mvm_error err = {0};
  json_error_t jerr;
  char *text = NULL;
  size_t len = 0;
  json_t *msg;
  int rc = f->t->ops->recv(f->t, timeout_ms, &text, &len, &err);

  if (rc != MVM_OK)
    fail_msg("recv failed with %s: %s", mvm_status_name(rc), err.msg);
  msg = json_loadb(text, len, 0, &jerr);
  free(text);
  assert_non_null(msg);
  return msg;
}

static const char *method_of(const json_t *msg)
{
  return json_string_value(json_object_get(msg, "method"));
}

static long long id_of(const json_t *msg)
{
  return json_integer_value(json_object_get(msg, "id"));
}

/* Opens a session "s-1" with an initialize exchange. */
static void initialize(fixture *f)
{
  mvm_error err = {0};
  json_t *msg;

  push(f, "POST", 200, JSON, "Mcp-Session-Id: s-1", INIT_RESULT);
  assert_int_equal(send_text(f, INIT_REQUEST, &err), MVM_OK);
  msg = recv_json(f, 5000);
  assert_int_equal(id_of(msg), 1);
  json_decref(msg);
}

static mvm_mock_mcp_request *request(fixture *f, const char *method,
                                     size_t n)
{
  long i = mvm_mock_mcp_find(f->mock, method, n);
  mvm_mock_mcp_request *req;

  if (i < 0)
    fail_msg("no %s request number %zu", method, n);
  req = mvm_mock_mcp_request_at(f->mock, (size_t)i);
  assert_non_null(req);
  return req;
}

static void json_reply_queued(void **state)
{
  fixture *f = *state;
  mvm_mock_mcp_request *req;
  mvm_mcp_http_stats stats;

  open_transport(f);
  initialize(f);

  req = request(f, "POST", 0);
  assert_string_equal(mvm_mock_mcp_header(req, "content-type"), JSON);
  assert_string_equal(mvm_mock_mcp_header(req, "accept"),
                      "application/json, text/event-stream");
  assert_null(mvm_mock_mcp_header(req, "mcp-session-id"));
  assert_null(mvm_mock_mcp_header(req, "mcp-protocol-version"));
  assert_string_equal(req->body, INIT_REQUEST);
  mvm_mock_mcp_request_free(req);

  assert_string_equal(mvm_mcp_http_session(f->t), "s-1");
  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.posts, 1);
  assert_int_equal(stats.messages, 1);
}

static void notification_gets_202(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  char *text = NULL;
  size_t len = 0;

  open_transport(f);
  push(f, "POST", 202, NULL, NULL, NULL);
  assert_int_equal(send_text(f, INITIALIZED, &err), MVM_OK);
  assert_int_equal(f->t->ops->recv(f->t, 100, &text, &len, &err),
                   MVM_ETIMEOUT);
  assert_null(text);
}

static void request_answered_202_rejected(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};

  open_transport(f);
  push(f, "POST", 202, NULL, NULL, NULL);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_EPROTOCOL);
  assert_non_null(strstr(err.msg, "HTTP 202"));
}

static void session_and_version_echoed(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mock_mcp_request *req;
  json_t *msg;

  open_transport(f);
  initialize(f);
  assert_int_equal(f->t->ops->negotiated(f->t, "2025-11-25", &err), MVM_OK);
  push(f, "POST", 202, NULL, NULL, NULL);
  assert_int_equal(send_text(f, INITIALIZED, &err), MVM_OK);
  push(f, "POST", 200, JSON, NULL, PING_RESULT);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  msg = recv_json(f, 5000);
  assert_int_equal(id_of(msg), 2);
  json_decref(msg);

  req = request(f, "POST", 1);
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-session-id"), "s-1");
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-protocol-version"),
                      "2025-11-25");
  mvm_mock_mcp_request_free(req);
  req = request(f, "POST", 2);
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-session-id"), "s-1");
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-protocol-version"),
                      "2025-11-25");
  mvm_mock_mcp_request_free(req);
}

static void custom_headers_sent(void **state)
{
  fixture *f = *state;
  const char *headers[] = {"Authorization: Bearer t0k", "X-Trace: 7", NULL};
  mvm_mock_mcp_request *req;

  f->cfg.headers = headers;
  open_transport(f);
  initialize(f);
  req = request(f, "POST", 0);
  assert_string_equal(mvm_mock_mcp_header(req, "authorization"),
                      "Bearer t0k");
  assert_string_equal(mvm_mock_mcp_header(req, "x-trace"), "7");
  mvm_mock_mcp_request_free(req);
}

static void sse_reply_interleaved(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mcp_http_stats stats;
  json_t *msg;
  const char *body =
      ": a comment\n\n"
      "id: e-0\nretry: 100\ndata:\n\n"
      "id: e-1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":0,"
      "\"method\":\"elicitation/create\",\"params\":{}}\n\n"
      "id: e-2\ndata: {\"jsonrpc\":\"2.0\",\"method\":"
      "\"notifications/message\",\n"
      "data: \"params\":{\"level\":\"info\",\"data\":\"x\"}}\n\n"
      "id: e-3\ndata: " PING_RESULT "\n\n";

  open_transport(f);
  push(f, "POST", 200, SSE, NULL, body);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);

  msg = recv_json(f, 5000);
  assert_string_equal(method_of(msg), "elicitation/create");
  json_decref(msg);
  msg = recv_json(f, 5000);
  assert_string_equal(method_of(msg), "notifications/message");
  json_decref(msg);
  msg = recv_json(f, 5000);
  assert_null(method_of(msg));
  assert_int_equal(id_of(msg), 2);
  json_decref(msg);

  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.messages, 3);
  assert_int_equal(stats.gets, 0);
}

static void json_batch_split(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  json_t *msg;

  open_transport(f);
  push(f, "POST", 200, JSON, NULL,
       "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
       "\"params\":{}}," PING_RESULT "]");
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  msg = recv_json(f, 5000);
  assert_string_equal(method_of(msg), "notifications/progress");
  json_decref(msg);
  msg = recv_json(f, 5000);
  assert_int_equal(id_of(msg), 2);
  json_decref(msg);
}

static void session_expiry_404(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mock_mcp_request *req;

  open_transport(f);
  initialize(f);
  assert_int_equal(f->t->ops->negotiated(f->t, "2025-11-25", &err), MVM_OK);
  push(f, "POST", 404, NULL, NULL, "no such session");
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_ESTATE);
  assert_non_null(strstr(err.msg, "404"));
  assert_null(mvm_mcp_http_session(f->t));

  /* The next initialize starts a new session without the old headers. */
  push(f, "POST", 200, JSON, "Mcp-Session-Id: s-2", INIT_RESULT);
  assert_int_equal(send_text(f, INIT_REQUEST, &err), MVM_OK);
  json_decref(recv_json(f, 5000));
  req = request(f, "POST", 2);
  assert_null(mvm_mock_mcp_header(req, "mcp-session-id"));
  assert_null(mvm_mock_mcp_header(req, "mcp-protocol-version"));
  mvm_mock_mcp_request_free(req);
  assert_string_equal(mvm_mcp_http_session(f->t), "s-2");
}

static void not_found_without_session(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};

  open_transport(f);
  push(f, "POST", 404, "text/plain", NULL, "Cannot POST /mcp");
  assert_int_equal(send_text(f, INIT_REQUEST, &err), MVM_EPROTOCOL);
  assert_non_null(strstr(err.msg, "HTTP 404"));
  assert_non_null(strstr(err.msg, "Cannot POST /mcp"));
}

static void error_status_excerpt(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};

  open_transport(f);
  push(f, "POST", 400, "text/plain", NULL, "Bad Request: missing header");
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_EPROTOCOL);
  assert_non_null(strstr(err.msg, "HTTP 400"));
  assert_non_null(strstr(err.msg, "Bad Request: missing header"));

  push(f, "POST", 405, NULL, NULL, "Method Not Allowed");
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_EPROTOCOL);
  assert_non_null(strstr(err.msg, "HTTP 405"));
}

static void wrong_content_type(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};

  open_transport(f);
  push(f, "POST", 200, "text/html", NULL, "<html></html>");
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_EPROTOCOL);
  assert_non_null(strstr(err.msg, "text/html"));
}

static void invalid_session_id(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};

  open_transport(f);
  push(f, "POST", 200, JSON, "Mcp-Session-Id: bad id", INIT_RESULT);
  assert_int_equal(send_text(f, INIT_REQUEST, &err), MVM_EPROTOCOL);
  assert_non_null(strstr(err.msg, "Mcp-Session-Id"));
}

static void get_stream_405(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mcp_http_stats stats;
  mvm_mock_mcp_request *req;

  f->cfg.no_get_stream = false;
  open_transport(f);
  initialize(f);
  /* No GET reply is queued, so the mock returns 405. */
  assert_int_equal(f->t->ops->negotiated(f->t, "2025-06-18", &err), MVM_OK);
  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.gets, 1);
  assert_false(stats.get_stream);

  req = request(f, "GET", 0);
  assert_string_equal(mvm_mock_mcp_header(req, "accept"), SSE);
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-session-id"), "s-1");
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-protocol-version"),
                      "2025-06-18");
  assert_null(mvm_mock_mcp_header(req, "last-event-id"));
  mvm_mock_mcp_request_free(req);
}

static void get_stream_delivers(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mcp_http_stats stats;
  mvm_mock_mcp_reply get = {
      200, SSE, NULL,
      "id: g-1\ndata: {\"jsonrpc\":\"2.0\",\"method\":"
      "\"notifications/tools/list_changed\"}\n\n",
      10000, 0};
  json_t *msg;

  f->cfg.no_get_stream = false;
  open_transport(f);
  initialize(f);
  assert_int_equal(mvm_mock_mcp_push(f->mock, "GET", &get), 0);
  assert_int_equal(f->t->ops->negotiated(f->t, "2025-11-25", &err), MVM_OK);

  msg = recv_json(f, 5000);
  assert_string_equal(method_of(msg), "notifications/tools/list_changed");
  json_decref(msg);
  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_true(stats.get_stream);
  assert_int_equal(stats.gets, 1);
}

static void get_stream_reconnects(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mock_mcp_reply first = {200, SSE, NULL, "id: g-7\nretry: 30\ndata:\n\n",
                              0, 0};
  mvm_mock_mcp_reply second = {
      200, SSE, NULL,
      "id: g-8\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}"
      "\n\n",
      10000, 0};
  mvm_mock_mcp_request *req;
  json_t *msg;

  f->cfg.no_get_stream = false;
  open_transport(f);
  initialize(f);
  assert_int_equal(mvm_mock_mcp_push(f->mock, "GET", &first), 0);
  assert_int_equal(mvm_mock_mcp_push(f->mock, "GET", &second), 0);
  assert_int_equal(f->t->ops->negotiated(f->t, "2025-11-25", &err), MVM_OK);

  msg = recv_json(f, 5000);
  assert_string_equal(method_of(msg), "notifications/x");
  json_decref(msg);
  req = request(f, "GET", 1);
  assert_string_equal(mvm_mock_mcp_header(req, "last-event-id"), "g-7");
  mvm_mock_mcp_request_free(req);
}

/* A POST stream that ends after its priming event is resumed with GET and
 * Last-Event-ID, no sooner than the stream's retry time. */
static void resume_after_graceful_end(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mcp_http_stats stats;
  mvm_mock_mcp_request *post;
  mvm_mock_mcp_request *get;
  mvm_mock_mcp_reply resumed = {200, SSE, NULL,
                                "id: ev-2\ndata: " PING_RESULT "\n\n", 10000,
                                0};
  json_t *msg;

  open_transport(f);
  initialize(f);
  push(f, "POST", 200, SSE, NULL, "id: ev-1\nretry: 300\ndata:\n\n");
  assert_int_equal(mvm_mock_mcp_push(f->mock, "GET", &resumed), 0);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);

  msg = recv_json(f, 5000);
  assert_int_equal(id_of(msg), 2);
  json_decref(msg);

  post = request(f, "POST", 1);
  get = request(f, "GET", 0);
  assert_string_equal(mvm_mock_mcp_header(get, "last-event-id"), "ev-1");
  assert_string_equal(mvm_mock_mcp_header(get, "mcp-session-id"), "s-1");
  assert_true(get->at_ms - post->at_ms >= 300);
  mvm_mock_mcp_request_free(post);
  mvm_mock_mcp_request_free(get);

  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.reconnects, 1);
}

/* A stream cut without its final chunk is resumed the same way, from the
 * last event id seen, and messages before the cut are kept. */
static void resume_after_cut(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mock_mcp_reply cut = {
      200, SSE, NULL,
      "id: c-1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/a\"}"
      "\n\n",
      0, 1};
  mvm_mock_mcp_reply resumed = {200, SSE, NULL,
                                "id: c-2\ndata: " PING_RESULT "\n\n", 0, 0};
  mvm_mock_mcp_request *get;
  json_t *msg;

  open_transport(f);
  assert_int_equal(mvm_mock_mcp_push(f->mock, "POST", &cut), 0);
  assert_int_equal(mvm_mock_mcp_push(f->mock, "GET", &resumed), 0);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);

  msg = recv_json(f, 5000);
  assert_string_equal(method_of(msg), "notifications/a");
  json_decref(msg);
  msg = recv_json(f, 5000);
  assert_int_equal(id_of(msg), 2);
  json_decref(msg);
  get = request(f, "GET", 0);
  assert_string_equal(mvm_mock_mcp_header(get, "last-event-id"), "c-1");
  mvm_mock_mcp_request_free(get);
}

static void resume_gives_up(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mcp_http_stats stats;
  char *text = NULL;
  size_t len = 0;
  int i;

  f->cfg.max_reconnects = 2;
  open_transport(f);
  push(f, "POST", 200, SSE, NULL, "id: r-1\ndata:\n\n");
  for (i = 0; i < 2; i++)
    push(f, "GET", 200, SSE, NULL, ": nothing here\n\n");
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  assert_int_equal(f->t->ops->recv(f->t, 5000, &text, &len, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "max_reconnects"));
  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.reconnects, 2);
}

static void resume_needs_event_id(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  char *text = NULL;
  size_t len = 0;

  open_transport(f);
  push(f, "POST", 200, SSE, NULL, ": no id\n\n");
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  assert_int_equal(f->t->ops->recv(f->t, 5000, &text, &len, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "request 2"));
  assert_non_null(strstr(err.msg, "no event id"));
}

static void resume_rejected(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  char *text = NULL;
  size_t len = 0;

  open_transport(f);
  push(f, "POST", 200, SSE, NULL, "id: x-1\ndata:\n\n");
  push(f, "GET", 400, "text/plain", NULL, "unknown event id");
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  assert_int_equal(f->t->ops->recv(f->t, 5000, &text, &len, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "HTTP 400"));
  assert_non_null(strstr(err.msg, "unknown event id"));
}

/* A server that polls (revision 2025-11-25) ends the stream after each
 * priming event while it works. Every reconnect that brings a new event
 * id is progress, so the transport follows more closures than
 * max_reconnects allows in a row without one. */
static void resume_follows_polling(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mcp_http_stats stats;
  mvm_mock_mcp_request *get;
  char body[64];
  json_t *msg;
  int i;

  f->cfg.max_reconnects = 2;
  open_transport(f);
  push(f, "POST", 200, SSE, NULL, "id: p-0\nretry: 20\ndata:\n\n");
  for (i = 1; i <= 4; i++) {
    snprintf(body, sizeof body, "id: p-%d\nretry: 20\ndata:\n\n", i);
    push(f, "GET", 200, SSE, NULL, body);
  }
  push(f, "GET", 200, SSE, NULL, "id: p-5\ndata: " PING_RESULT "\n\n");
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);

  msg = recv_json(f, 5000);
  assert_int_equal(id_of(msg), 2);
  json_decref(msg);
  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.reconnects, 5);
  get = request(f, "GET", 4);
  assert_string_equal(mvm_mock_mcp_header(get, "last-event-id"), "p-4");
  mvm_mock_mcp_request_free(get);
}

#define CANCEL_2                                                              \
  "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","          \
  "\"params\":{\"requestId\":2,\"reason\":\"timed out\"}}"

/* Cancelling a request closes its open stream, because nothing the server
 * sends for it afterwards matters to the client. */
static void cancel_closes_stream(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mcp_http_stats stats;
  mvm_mock_mcp_reply held = {
      200, SSE, NULL,
      "id: h-1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/a\"}"
      "\n\n",
      10000, 0};
  json_t *msg;

  open_transport(f);
  assert_int_equal(mvm_mock_mcp_push(f->mock, "POST", &held), 0);
  push(f, "POST", 202, NULL, NULL, NULL);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  msg = recv_json(f, 5000);
  assert_string_equal(method_of(msg), "notifications/a");
  json_decref(msg);

  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.streams, 1);
  assert_int_equal(send_text(f, CANCEL_2, &err), MVM_OK);
  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.streams, 0);
  assert_int_equal(stats.cancelled, 1);
}

/* A cancelled request whose stream waits to reconnect is not resumed. */
static void cancel_stops_resume(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  mvm_mcp_http_stats stats;
  char *text = NULL;
  size_t len = 0;

  open_transport(f);
  push(f, "POST", 200, SSE, NULL, "id: w-1\nretry: 200\ndata:\n\n");
  push(f, "POST", 202, NULL, NULL, NULL);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  /* The stream ends after its priming event; a reconnect is now due in
   * 200 ms. */
  assert_int_equal(f->t->ops->recv(f->t, 50, &text, &len, &err),
                   MVM_ETIMEOUT);
  assert_int_equal(send_text(f, CANCEL_2, &err), MVM_OK);
  assert_int_equal(f->t->ops->recv(f->t, 400, &text, &len, &err),
                   MVM_ETIMEOUT);

  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.gets, 0);
  assert_int_equal(stats.streams, 0);
  assert_int_equal(stats.cancelled, 1);
  assert_int_equal(mvm_mock_mcp_find(f->mock, "GET", 0), -1);
}

static char *big_text(size_t n, const char *prefix, const char *suffix)
{
  char *s = malloc(n + strlen(prefix) + strlen(suffix) + 1);

  assert_non_null(s);
  strcpy(s, prefix);
  memset(s + strlen(prefix), 'a', n);
  strcpy(s + strlen(prefix) + n, suffix);
  return s;
}

static void oversize_event(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  char *body = big_text(2000, "id: o-1\ndata: \"", "\"\n\n");
  char *text = NULL;
  size_t len = 0;

  f->cfg.max_message_bytes = 1024;
  open_transport(f);
  push(f, "POST", 200, SSE, NULL, body);
  free(body);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  assert_int_equal(f->t->ops->recv(f->t, 5000, &text, &len, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "SSE event"));
  assert_non_null(strstr(err.msg, "max_message_bytes"));
}

static void oversize_json_body(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  char *body = big_text(2000, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"",
                        "\"}");
  char *text = NULL;
  size_t len = 0;

  f->cfg.max_message_bytes = 1024;
  open_transport(f);
  push(f, "POST", 200, JSON, NULL, body);
  free(body);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  assert_int_equal(f->t->ops->recv(f->t, 5000, &text, &len, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "JSON body"));
}

static void oversize_message_sent(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  char *msg = big_text(2000, "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"p\":\"",
                       "\"}");

  f->cfg.max_message_bytes = 1024;
  open_transport(f);
  assert_int_equal(send_text(f, msg, &err), MVM_ELIMIT);
  free(msg);
  assert_int_equal(mvm_mock_mcp_count(f->mock), 0);
}

static void queue_limit(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  char *text = NULL;
  size_t len = 0;
  const char *note =
      "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/n\"}\n\n";
  char body[512];

  snprintf(body, sizeof body, "%s%s%sdata: %s\n\n", note, note, note,
           PING_RESULT);
  f->cfg.max_queue = 2;
  open_transport(f);
  push(f, "POST", 200, SSE, NULL, body);
  assert_int_equal(send_text(f, PING_REQUEST, &err), MVM_OK);
  json_decref(recv_json(f, 5000));
  json_decref(recv_json(f, 5000));
  assert_int_equal(f->t->ops->recv(f->t, 5000, &text, &len, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "max_queue"));
}

static void batch_never_sent(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};

  open_transport(f);
  assert_int_equal(send_text(f, "[" PING_REQUEST "]", &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "batches"));
  assert_int_equal(mvm_mock_mcp_count(f->mock), 0);
}

static void delete_on_close(void **state)
{
  fixture *f = *state;
  mvm_mock_mcp_request *req;
  mvm_mcp_http_stats stats;

  open_transport(f);
  initialize(f);
  assert_int_equal(mvm_mcp_http_stats_get(f->t, &stats), MVM_OK);
  assert_int_equal(stats.deletes, 0);
  f->t->ops->close(f->t);
  f->t = NULL;
  req = request(f, "DELETE", 0);
  assert_string_equal(mvm_mock_mcp_header(req, "mcp-session-id"), "s-1");
  mvm_mock_mcp_request_free(req);
}

static void no_delete_without_session(void **state)
{
  fixture *f = *state;

  open_transport(f);
  push(f, "POST", 200, JSON, NULL, INIT_RESULT);
  {
    mvm_error err = {0};

    assert_int_equal(send_text(f, INIT_REQUEST, &err), MVM_OK);
    json_decref(recv_json(f, 5000));
  }
  f->t->ops->close(f->t);
  f->t = NULL;
  assert_int_equal(mvm_mock_mcp_find(f->mock, "DELETE", 0), -1);
}

static void server_unreachable(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  char url[64];

  /* The port of a stopped mock has no listener. */
  snprintf(url, sizeof url, "%s", mvm_mock_mcp_url(f->mock));
  mvm_mock_mcp_stop(f->mock);
  f->mock = mvm_mock_mcp_start();
  assert_non_null(f->mock);
  f->cfg.url = url;
  open_transport(f);
  assert_int_equal(send_text(f, INIT_REQUEST, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "cannot reach server 'mock'"));
}

static bool cancel_on_third_poll(void *ctx)
{
  int *polls = ctx;
  return ++*polls >= 3;
}

/* A server that accepts the connection and never answers: the wait for
 * the reply's headers stops once cancelled() returns true, long before
 * the 30 s response timeout. */
static void silent_server_cancelled(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  struct sockaddr_in addr = {0};
  socklen_t len = sizeof addr;
  char url[64];
  int polls = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  assert_true(fd >= 0);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  /* The kernel completes the handshake for the backlog, and nothing ever
   * reads the request. */
  assert_int_equal(listen(fd, 4), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp", ntohs(addr.sin_port));
  f->cfg.url = url;
  f->cfg.cancelled = cancel_on_third_poll;
  f->cfg.cancelled_ctx = &polls;
  open_transport(f);
  assert_int_equal(send_text(f, INIT_REQUEST, &err), MVM_ECANCELLED);
  assert_non_null(strstr(err.msg, "interrupted while waiting"));
  assert_int_equal(polls, 3);
  f->t->ops->close(f->t);
  f->t = NULL;
  close(fd);
}

static void open_rejects_bad_config(void **state)
{
  fixture *f = *state;
  mvm_error err = {0};
  const char *split[] = {"X-A: 1\r\nX-B: 2", NULL};
  const char *noname[] = {": value", NULL};

  f->cfg.url = "file:///etc/passwd";
  assert_int_equal(mvm_mcp_http_open(&f->cfg, &f->t, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "http://"));
  assert_null(f->t);

  f->cfg.url = mvm_mock_mcp_url(f->mock);
  f->cfg.headers = split;
  assert_int_equal(mvm_mcp_http_open(&f->cfg, &f->t, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "header 1"));
  f->cfg.headers = noname;
  assert_int_equal(mvm_mcp_http_open(&f->cfg, &f->t, &err), MVM_EINVAL);

  f->cfg.headers = NULL;
  f->cfg.server = NULL;
  assert_int_equal(mvm_mcp_http_open(&f->cfg, &f->t, &err), MVM_EINVAL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(json_reply_queued),
      T(notification_gets_202),
      T(request_answered_202_rejected),
      T(session_and_version_echoed),
      T(custom_headers_sent),
      T(sse_reply_interleaved),
      T(json_batch_split),
      T(session_expiry_404),
      T(not_found_without_session),
      T(error_status_excerpt),
      T(wrong_content_type),
      T(invalid_session_id),
      T(get_stream_405),
      T(get_stream_delivers),
      T(get_stream_reconnects),
      T(resume_after_graceful_end),
      T(resume_after_cut),
      T(resume_gives_up),
      T(resume_needs_event_id),
      T(resume_rejected),
      T(resume_follows_polling),
      T(cancel_closes_stream),
      T(cancel_stops_resume),
      T(oversize_event),
      T(oversize_json_body),
      T(oversize_message_sent),
      T(queue_limit),
      T(batch_never_sent),
      T(delete_on_close),
      T(no_delete_without_session),
      T(server_unreachable),
      T(silent_server_cancelled),
      T(open_rejects_bad_config),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
