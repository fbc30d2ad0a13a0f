/* mcp_client.c - the MCP client: lifecycle, requests in flight, the
 * server's requests and notifications, and the tools it offers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "base/log.h"
#include "tools/jsonrpc.h"
#include "tools/mcp_client.h"
#include "value/schema.h"

/* A request sent and not yet handed to its waiter. */
struct pending {
  long long id;
  char method[64];
  const mvm_model_stream *progress; /* borrowed; may be NULL */
  long long started_ms;
  long long activity_ms; /* the last progress, or started_ms */
  bool done;
  json_t *response; /* the whole response message, when done */
  int fail_status;  /* non-zero: done without a response */
  char fail_msg[256];
};

/* Compiled schemas of one listed tool, built on its first call. */
struct tool_schemas {
  bool compiled;
  mvm_schema *input; /* NULL: none, or it did not compile */
  mvm_schema *output;
};

struct mvm_mcp_client {
  mvm_mcp_transport *t;
  char *server;
  char where[MVM_ERROR_WHERE_MAX];
  mvm_mcp_client_opts opts;
  char revision[32];
  json_t *server_info;
  bool has_tools;
  bool initialized;
  bool reinitializing;
  bool in_callback; /* a host callback for a server request is running */
  long long next_id;
  struct pending *pending;
  size_t npending;
  size_t cap;

  json_t *tools; /* array of Tool objects, NULL before the first list */
  struct tool_schemas *schemas; /* one per element of tools */
  bool tools_stale;
  json_t *changes; /* gathered changes for take_changes, or NULL */
  mvm_mcp_client_stats stats;
};

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tools_free(mvm_mcp_client *c);
static int pump(mvm_mcp_client *c, int timeout_ms, mvm_error *err);

static const char *const supported_revisions[] = {MVM_MCP_REVISIONS};
#define NREVISIONS (sizeof supported_revisions / sizeof *supported_revisions)

/* How often a wait with a cancelled() callback polls it. */
#define CANCEL_POLL_MS 100

void mvm_mcp_client_opts_init(mvm_mcp_client_opts *opts)
{
  memset(opts, 0, sizeof *opts);
}

static void resolve_defaults(mvm_mcp_client_opts *o)
{
  if (o->revision == NULL)
    o->revision = MVM_MCP_LATEST_REVISION;
  if (o->init_timeout_ms <= 0)
    o->init_timeout_ms = MVM_MCP_DEFAULT_INIT_TIMEOUT_MS;
  if (o->request_timeout_ms <= 0)
    o->request_timeout_ms = MVM_MCP_DEFAULT_REQUEST_TIMEOUT_MS;
  if (o->max_timeout_ms <= 0)
    o->max_timeout_ms = MVM_MCP_DEFAULT_MAX_TIMEOUT_MS;
  if (o->max_message_bytes == 0)
    o->max_message_bytes = MVM_MCP_DEFAULT_MAX_MESSAGE;
  if (o->max_pages == 0)
    o->max_pages = MVM_MCP_DEFAULT_MAX_PAGES;
  if (o->max_tools == 0)
    o->max_tools = MVM_MCP_DEFAULT_MAX_TOOLS;
  if (o->max_content_items == 0)
    o->max_content_items = MVM_MCP_DEFAULT_MAX_CONTENT;
}

/* ------------------------------------------------------------ pending */

static struct pending *find_pending(mvm_mcp_client *c, long long id)
{
  for (size_t i = 0; i < c->npending; i++) {
    if (c->pending[i].id == id)
      return &c->pending[i];
  }
  return NULL;
}

static void remove_pending(mvm_mcp_client *c, long long id)
{
  for (size_t i = 0; i < c->npending; i++) {
    if (c->pending[i].id != id)
      continue;
    json_decref(c->pending[i].response);
    c->pending[i] = c->pending[c->npending - 1];
    c->npending--;
    return;
  }
}

static int add_pending(mvm_mcp_client *c, long long id, const char *method,
                       const mvm_model_stream *progress)
{
  struct pending *p;

  if (c->npending == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 8;
    p = realloc(c->pending, cap * sizeof *p);
    if (p == NULL)
      return MVM_ENOMEM;
    c->pending = p;
    c->cap = cap;
  }
  p = &c->pending[c->npending++];
  memset(p, 0, sizeof *p);
  p->id = id;
  snprintf(p->method, sizeof p->method, "%s", method);
  p->progress = progress;
  p->started_ms = now_ms();
  p->activity_ms = p->started_ms;
  return MVM_OK;
}

/* --------------------------------------------------------------- send */

static int send_text(mvm_mcp_client *c, const char *text, size_t len,
                     mvm_error *err)
{
  return c->t->ops->send(c->t, text, len, err);
}

static int send_notification(mvm_mcp_client *c, const char *method,
                             const json_t *params, mvm_error *err)
{
  size_t len = 0;
  char *text = mvm_jsonrpc_notification(method, params, &len);
  int rc;

  if (text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
  rc = send_text(c, text, len, err);
  free(text);
  return rc;
}

/* Sends the response to a server's request: a result (stolen) or an
 * error. A failed send is only logged, because the caller is waiting for
 * something else and the transport reports its state on the next
 * receive. */
static void send_response(mvm_mcp_client *c, const json_t *id, json_t *result,
                          long long code, const char *message)
{
  mvm_error err = {0};
  size_t len = 0;
  char *text;

  if (result != NULL)
    text = mvm_jsonrpc_result(id, result, &len);
  else
    text = mvm_jsonrpc_error(id, code, message, NULL, &len);
  json_decref(result);
  if (text == NULL || send_text(c, text, len, &err) != MVM_OK)
    mvm_log(MVM_LOG_WARN, c->where,
            "failed to send a response to server '%s': %s", c->server,
            text == NULL ? "out of memory" : err.msg);
  free(text);
}

static int reinitialize(mvm_mcp_client *c, long long resent_id,
                        mvm_error *err);

/* Sends request id. When an HTTP server no longer has the session (the
 * transport returns MVM_ESTATE), initializes again once and resends it, so
 * the request stays pending and gets its response in the new session. */
static int send_request_text(mvm_mcp_client *c, long long id,
                             const char *method, const char *text, size_t len,
                             mvm_error *err)
{
  int rc = send_text(c, text, len, err);

  if (rc != MVM_ESTATE || !c->initialized || c->reinitializing ||
      strcmp(method, "initialize") == 0)
    return rc;
  mvm_log(MVM_LOG_WARN, c->where,
          "server '%s' no longer knows the session; initializing again",
          c->server);
  rc = reinitialize(c, id, err);
  if (rc == MVM_OK)
    rc = send_text(c, text, len, err);
  return rc;
}

/* Adds "_meta": {"progressToken": id} to a copy of params. */
static json_t *params_with_token(const json_t *params, long long id)
{
  json_t *copy = params != NULL ? json_deep_copy(params) : json_object();
  json_t *meta;

  if (copy == NULL)
    return NULL;
  meta = json_object_get(copy, "_meta");
  if (!json_is_object(meta)) {
    meta = json_object();
    if (meta == NULL || json_object_set_new(copy, "_meta", meta) != 0) {
      json_decref(copy);
      return NULL;
    }
  }
  if (json_object_set_new(meta, "progressToken", json_integer(id)) != 0) {
    json_decref(copy);
    return NULL;
  }
  return copy;
}

static int start_request(mvm_mcp_client *c, const char *method,
                         const json_t *params, bool token,
                         const mvm_model_stream *progress, long long *id,
                         mvm_error *err)
{
  long long rid = c->next_id++;
  json_t *sent = NULL;
  char *text = NULL;
  size_t len = 0;
  int rc;

  if (token) {
    sent = params_with_token(params, rid);
    if (sent == NULL)
      return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
    params = sent;
  }
  text = mvm_jsonrpc_request(rid, method, params, &len);
  json_decref(sent);
  if (text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
  if (len > c->opts.max_message_bytes) {
    free(text);
    return mvm_error_set(err, MVM_ELIMIT, c->where,
                         "the '%s' request to server '%s' is %zu bytes, over "
                         "the maximum message size of %zu bytes",
                         method, c->server, len, c->opts.max_message_bytes);
  }

  rc = add_pending(c, rid, method, progress);
  if (rc) {
    free(text);
    return mvm_error_set(err, rc, c->where, "out of memory");
  }
  rc = send_request_text(c, rid, method, text, len, err);
  free(text);
  if (rc) {
    remove_pending(c, rid);
    return rc;
  }
  c->stats.requests_sent++;
  *id = rid;
  return MVM_OK;
}

int mvm_mcp_client_start(mvm_mcp_client *client, const char *method,
                         const json_t *params, const mvm_model_stream *progress,
                         long long *id, mvm_error *err)
{
  if (client->in_callback)
    return mvm_error_set(err, MVM_ESTATE, client->where,
                         "a server request callback cannot send requests");
  return start_request(client, method, params, progress != NULL, progress, id,
                       err);
}

void mvm_mcp_client_abandon(mvm_mcp_client *client, long long id,
                            const char *reason)
{
  struct pending *p = find_pending(client, id);
  bool is_init;
  json_t *params;
  mvm_error err = {0};

  if (p == NULL)
    return;
  is_init = strcmp(p->method, "initialize") == 0;
  remove_pending(client, id);
  /* MCP forbids cancelling initialize. */
  if (is_init)
    return;
  params =
      json_pack("{s:I, s:s}", "requestId", (json_int_t)id, "reason", reason);
  if (params != NULL && send_notification(client, "notifications/cancelled",
                                          params, &err) == MVM_OK)
    client->stats.cancels_sent++;
  json_decref(params);
}

/* ------------------------------------------------------ server requests */

static json_t *roots_result(mvm_mcp_client *c)
{
  json_t *roots = json_array();

  for (size_t i = 0; roots != NULL && i < c->opts.nroots; i++) {
    const mvm_mcp_root *r = &c->opts.roots[i];
    json_t *root = json_pack("{s:s}", "uri", r->uri);
    if (root != NULL && r->name != NULL)
      json_object_set_new(root, "name", json_string(r->name));
    if (root == NULL || json_array_append_new(roots, root) != 0) {
      json_decref(roots);
      return NULL;
    }
  }
  return roots != NULL ? json_pack("{s:o}", "roots", roots) : NULL;
}

/* Runs a host callback for a server request and responds with its
 * result. */
static void respond_with_callback(mvm_mcp_client *c, const json_t *id,
                                  mvm_mcp_request_fn fn, void *ctx,
                                  const json_t *params, long long fail_code)
{
  mvm_error err = {0};
  json_t *result = NULL;
  int rc;

  c->in_callback = true;
  rc = fn(ctx, c->server, params, &result, &err);
  c->in_callback = false;
  if (rc == MVM_OK && !json_is_object(result)) {
    json_decref(result);
    result = NULL;
    rc = mvm_error_set(&err, MVM_EINVAL, c->where,
                       "the host's handler returned no result object");
  }
  if (rc) {
    send_response(c, id, NULL, fail_code,
                  err.msg[0] != '\0' ? err.msg : mvm_status_text(rc));
    return;
  }
  send_response(c, id, result, 0, NULL);
}

static void handle_request(mvm_mcp_client *c, const mvm_jsonrpc_msg *msg)
{
  const char *m = msg->method;
  char text[160];

  c->stats.server_requests++;
  mvm_trace(MVM_TRACE_MCP, "%s: server request %s", c->server, m);

  if (strcmp(m, "ping") == 0) {
    send_response(c, msg->id, json_object(), 0, NULL);
  } else if (strcmp(m, "roots/list") == 0 && c->opts.nroots > 0) {
    json_t *result = roots_result(c);
    if (result != NULL)
      send_response(c, msg->id, result, 0, NULL);
    else
      send_response(c, msg->id, NULL, MVM_JSONRPC_INTERNAL_ERROR,
                    "out of memory");
  } else if (strcmp(m, "elicitation/create") == 0 && c->opts.elicit) {
    respond_with_callback(c, msg->id, c->opts.elicit, c->opts.elicit_ctx,
                          msg->params, MVM_JSONRPC_INTERNAL_ERROR);
  } else if (strcmp(m, "elicitation/create") == 0) {
    /* No user is reachable: decline, as the specification allows. */
    send_response(c, msg->id, json_pack("{s:s}", "action", "decline"), 0, NULL);
  } else if (strcmp(m, "sampling/createMessage") == 0 && c->opts.sample) {
    respond_with_callback(c, msg->id, c->opts.sample, c->opts.sample_ctx,
                          msg->params, MVM_MCP_SAMPLING_REJECTED);
  } else if (strcmp(m, "sampling/createMessage") == 0) {
    mvm_log(MVM_LOG_WARN, c->where,
            "rejected a sampling request from server '%s': no model is "
            "configured for sampling requests from servers",
            c->server);
    send_response(c, msg->id, NULL, MVM_MCP_SAMPLING_REJECTED,
                  "mvm rejected the sampling request: no model is "
                  "configured for sampling requests from servers");
  } else {
    snprintf(text, sizeof text, "method not found: %.100s", m);
    send_response(c, msg->id, NULL, MVM_JSONRPC_METHOD_NOT_FOUND, text);
  }
}

/* ------------------------------------------------------ notifications */

static void format_progress(const json_t *params, char *buf, size_t size)
{
  const json_t *progress = json_object_get(params, "progress");
  const json_t *total = json_object_get(params, "total");
  const char *message = json_string_value(json_object_get(params, "message"));
  int n;

  if (json_is_number(total))
    n = snprintf(buf, size, "%g/%g", json_number_value(progress),
                 json_number_value(total));
  else
    n = snprintf(buf, size, "%g", json_number_value(progress));
  if (message != NULL && n >= 0 && (size_t)n < size)
    snprintf(buf + n, size - (size_t)n, ": %s", message);
}

static void handle_progress(mvm_mcp_client *c, const json_t *params)
{
  const json_t *token = json_object_get(params, "progressToken");
  struct pending *p = NULL;
  char line[512];

  if (json_is_integer(token))
    p = find_pending(c, json_integer_value(token));
  if (p == NULL || !json_is_number(json_object_get(params, "progress"))) {
    mvm_trace(MVM_TRACE_MCP, "%s: progress for no request in flight",
              c->server);
    return;
  }
  c->stats.progress++;
  p->activity_ms = now_ms();
  if (p->progress == NULL || p->progress->on_text == NULL)
    return;
  format_progress(params, line, sizeof line);
  p->progress->on_text(p->progress->ctx, line, strlen(line));
}

static int log_level_of(const char *level)
{
  if (level == NULL)
    return MVM_LOG_INFO;
  if (strcmp(level, "debug") == 0)
    return MVM_LOG_DEBUG;
  if (strcmp(level, "info") == 0 || strcmp(level, "notice") == 0)
    return MVM_LOG_INFO;
  if (strcmp(level, "warning") == 0)
    return MVM_LOG_WARN;
  return MVM_LOG_ERROR;
}

static void handle_log_message(mvm_mcp_client *c, const json_t *params)
{
  const char *level = json_string_value(json_object_get(params, "level"));
  const char *logger = json_string_value(json_object_get(params, "logger"));
  const json_t *data = json_object_get(params, "data");
  char *text = NULL;

  if (json_is_string(data))
    text = strdup(json_string_value(data));
  else if (data != NULL)
    text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
  mvm_log(log_level_of(level), c->where, "server log%s%s%s: %.400s",
          logger ? " (" : "", logger ? logger : "", logger ? ")" : "",
          text != NULL ? text : "");
  free(text);
}

static void handle_notification(mvm_mcp_client *c, const mvm_jsonrpc_msg *msg)
{
  const char *m = msg->method;

  c->stats.notifications++;
  if (strcmp(m, "notifications/progress") == 0) {
    handle_progress(c, msg->params);
  } else if (strcmp(m, "notifications/tools/list_changed") == 0) {
    c->stats.list_changed++;
    c->tools_stale = true;
    mvm_trace(MVM_TRACE_MCP, "%s: tool list changed", c->server);
  } else if (strcmp(m, "notifications/message") == 0) {
    handle_log_message(c, msg->params);
  } else {
    /* notifications/cancelled needs nothing, because the client responds
     * to the server's requests before it reads the next message. */
    mvm_trace(MVM_TRACE_MCP, "%s: notification %s", c->server, m);
  }
}

/* ------------------------------------------------------------ responses */

static void handle_response(mvm_mcp_client *c, mvm_jsonrpc_msg *msg)
{
  struct pending *p = NULL;
  char idtext[64];
  const char *why;

  mvm_jsonrpc_id_format(msg->id, idtext, sizeof idtext);
  if (json_is_integer(msg->id))
    p = find_pending(c, json_integer_value(msg->id));
  if (p != NULL && !p->done) {
    p->done = true;
    p->response = msg->root;
    msg->root = NULL;
    return;
  }

  c->stats.responses_dropped++;
  if (json_is_null(msg->id))
    why = "a null id";
  else if (p != NULL ||
           (json_is_integer(msg->id) && json_integer_value(msg->id) > 0 &&
            json_integer_value(msg->id) < c->next_id))
    why = "the id of a request that already has its response or was "
          "abandoned";
  else
    why = "an id mvm never sent";
  mvm_log(MVM_LOG_WARN, c->where,
          "dropped a response from server '%s' with %s (id %s)%s%s", c->server,
          why, idtext, msg->kind == MVM_JSONRPC_ERROR ? ": " : "",
          msg->kind == MVM_JSONRPC_ERROR ? msg->error_message : "");
}

/* Receives one message within timeout_ms and handles it. Returns
 * MVM_ETIMEOUT when none came; transport errors pass through. */
static int pump(mvm_mcp_client *c, int timeout_ms, mvm_error *err)
{
  mvm_jsonrpc_msg msg = {0};
  mvm_error perr = {0};
  char *text = NULL;
  size_t len = 0;
  int rc;

  rc = c->t->ops->recv(c->t, timeout_ms, &text, &len, err);
  if (rc)
    return rc;

  rc = mvm_jsonrpc_parse(text, len, c->opts.max_message_bytes, &msg, &perr);
  if (rc) {
    c->stats.invalid_messages++;
    mvm_log(MVM_LOG_WARN, c->where,
            "dropped an invalid message from server '%s': %s", c->server,
            perr.msg);
    free(text);
    return MVM_OK;
  }
  free(text);

  switch (msg.kind) {
  case MVM_JSONRPC_REQUEST:
    handle_request(c, &msg);
    break;
  case MVM_JSONRPC_NOTIFICATION:
    handle_notification(c, &msg);
    break;
  case MVM_JSONRPC_RESULT:
  case MVM_JSONRPC_ERROR:
    handle_response(c, &msg);
    break;
  }
  mvm_jsonrpc_msg_clear(&msg);
  return MVM_OK;
}

/* ------------------------------------------------------------------ wait */

/* Takes the finished response of p and removes it. */
static int finish_pending(mvm_mcp_client *c, struct pending *p, json_t **result,
                          long long *rpc_code, mvm_error *err)
{
  long long id = p->id;
  int rc;

  if (p->fail_status) {
    rc = mvm_error_set(err, p->fail_status, c->where, "%s", p->fail_msg);
    remove_pending(c, id);
    return rc;
  }

  /* The response passed mvm_jsonrpc_parse, so its members are valid. */
  const json_t *error = json_object_get(p->response, "error");
  if (error != NULL) {
    long long code = json_integer_value(json_object_get(error, "code"));
    if (rpc_code != NULL)
      *rpc_code = code;
    rc = mvm_error_set(err, MVM_EPROTOCOL, c->where,
                       "server '%s' responded to '%s' with error %lld: %s",
                       c->server, p->method, code,
                       json_string_value(json_object_get(error, "message")));
  } else {
    *result = json_incref(json_object_get(p->response, "result"));
    rc = MVM_OK;
  }
  remove_pending(c, id);
  return rc;
}

static bool can_cancel(const mvm_mcp_client *c, const struct pending *p)
{
  return c->opts.cancelled != NULL ||
         (p->progress != NULL && p->progress->cancelled != NULL);
}

static bool host_cancelled(const mvm_mcp_client *c, const struct pending *p)
{
  if (c->opts.cancelled != NULL && c->opts.cancelled(c->opts.cancelled_ctx))
    return true;
  return p->progress != NULL && p->progress->cancelled != NULL &&
         p->progress->cancelled(p->progress->ctx);
}

/* Abandons request id after the host cancelled it. For initialize no
 * notifications/cancelled goes out, because MCP forbids cancelling it. */
static int fail_cancelled(mvm_mcp_client *c, long long id, const char *method,
                          mvm_error *err)
{
  mvm_mcp_client_abandon(c, id, "cancelled by the host");
  if (strcmp(method, "initialize") == 0)
    return mvm_error_set(err, MVM_ECANCELLED, c->where,
                         "mvm stopped waiting for server '%s' to respond to "
                         "'initialize', because the host cancelled the wait",
                         c->server);
  return mvm_error_set(err, MVM_ECANCELLED, c->where,
                       "the '%s' request to server '%s' was cancelled",
                       method, c->server);
}

/* Abandons request id after a timeout: max_timeout_ms when hard is set,
 * else the soft timeout of soft_ms. */
static int fail_timed_out(mvm_mcp_client *c, long long id, const char *method,
                          bool hard, int soft_ms, mvm_error *err)
{
  mvm_mcp_client_abandon(c, id,
                         hard ? "maximum time exceeded" : "request timed out");
  if (strcmp(method, "initialize") == 0)
    return mvm_error_set(
        err, MVM_ETIMEOUT, c->where,
        "server '%s' did not respond to 'initialize' within %d ms, so mvm "
        "gave up waiting; check the server's command or URL in the "
        "configuration, and run with --trace=mcp to see what it sends",
        c->server, hard ? c->opts.max_timeout_ms : soft_ms);
  if (hard)
    return mvm_error_set(err, MVM_ETIMEOUT, c->where,
                         "the '%s' request to server '%s' did not finish "
                         "within the maximum of %d ms; it was cancelled",
                         method, c->server, c->opts.max_timeout_ms);
  return mvm_error_set(err, MVM_ETIMEOUT, c->where,
                       "server '%s' sent no response or progress for "
                       "'%s' within %d ms; the request was cancelled",
                       c->server, method, soft_ms);
}

int mvm_mcp_client_wait(mvm_mcp_client *client, long long id, int timeout_ms,
                        json_t **result, long long *rpc_code, mvm_error *err)
{
  mvm_mcp_client *c = client;
  int soft = timeout_ms > 0 ? timeout_ms : c->opts.request_timeout_ms;
  long long wait_start = now_ms();
  char method[64];
  int rc;

  if (rpc_code != NULL)
    *rpc_code = 0;
  if (c->in_callback)
    return mvm_error_set(err, MVM_ESTATE, c->where,
                         "a server request callback cannot wait for "
                         "responses");

  for (;;) {
    struct pending *p = find_pending(c, id);
    long long now = now_ms();
    long long activity;
    long long soft_end;
    long long hard_end;
    long long end;

    if (p == NULL)
      return mvm_error_set(err, MVM_ESTATE, c->where,
                           "no request %lld is in flight to server '%s'", id,
                           c->server);
    if (p->done)
      return finish_pending(c, p, result, rpc_code, err);
    snprintf(method, sizeof method, "%s", p->method);

    if (host_cancelled(c, p))
      return fail_cancelled(c, id, method, err);

    activity = p->activity_ms > wait_start ? p->activity_ms : wait_start;
    soft_end = activity + soft;
    hard_end = p->started_ms + c->opts.max_timeout_ms;
    end = soft_end < hard_end ? soft_end : hard_end;
    if (now >= end)
      return fail_timed_out(c, id, method, hard_end <= soft_end, soft, err);

    long long slice = end - now;
    if (can_cancel(c, p) && slice > CANCEL_POLL_MS)
      slice = CANCEL_POLL_MS;
    rc = pump(c, (int)slice, err);
    if (rc == MVM_ETIMEOUT)
      continue;
    if (rc == MVM_ELIMIT) {
      /* NOTE: the transport cannot tell which request an over-long
       * message belonged to, so the one being waited for is taken as the
       * likely one. */
      mvm_mcp_client_abandon(c, id, "response over the size limit");
      return rc;
    }
    if (rc) {
      remove_pending(c, id);
      return rc;
    }
  }
}

int mvm_mcp_client_request(mvm_mcp_client *client, const char *method,
                           const json_t *params, int timeout_ms,
                           json_t **result, mvm_error *err)
{
  long long id;
  int rc = mvm_mcp_client_start(client, method, params, NULL, &id, err);

  if (rc)
    return rc;
  return mvm_mcp_client_wait(client, id, timeout_ms, result, NULL, err);
}

int mvm_mcp_client_ping(mvm_mcp_client *client, int timeout_ms, mvm_error *err)
{
  json_t *result = NULL;
  int rc =
      mvm_mcp_client_request(client, "ping", NULL, timeout_ms, &result, err);

  if (rc == MVM_OK && !json_is_object(result))
    rc =
        mvm_error_set(err, MVM_EPROTOCOL, client->where,
                      "server '%s' responded to ping with a result that is not "
                      "an object",
                      client->server);
  json_decref(result);
  return rc;
}

int mvm_mcp_client_poll(mvm_mcp_client *client, int timeout_ms, mvm_error *err)
{
  long long end = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

  if (client->in_callback)
    return mvm_error_set(err, MVM_ESTATE, client->where,
                         "a server request callback cannot poll");
  for (;;) {
    long long left = end - now_ms();
    int rc = pump(client, left > 0 ? (int)left : 0, err);

    if (rc == MVM_ETIMEOUT)
      return MVM_OK;
    if (rc)
      return rc;
  }
}

/* ------------------------------------------------------------ lifecycle */

static json_t *client_capabilities(const mvm_mcp_client *c)
{
  json_t *caps = json_object();

  if (caps == NULL)
    return NULL;
  if (c->opts.nroots > 0)
    json_object_set_new(caps, "roots", json_pack("{s:b}", "listChanged", 1));
  /* An empty elicitation object means form mode in 2025-11-25 and
   * elicitation support in 2025-06-18. */
  if (c->opts.elicit != NULL)
    json_object_set_new(caps, "elicitation", json_object());
  if (c->opts.sample != NULL)
    json_object_set_new(caps, "sampling", json_object());
  return caps;
}

static int check_revision(mvm_mcp_client *c, const char *revision,
                          mvm_error *err)
{
  char list[128] = "";

  for (size_t i = 0; i < NREVISIONS; i++) {
    if (strcmp(revision, supported_revisions[i]) == 0)
      return MVM_OK;
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
             i ? ", " : "", supported_revisions[i]);
  }
  return mvm_error_set(err, MVM_EPROTOCOL, c->where,
                       "server '%s' responded with MCP revision '%.40s', "
                       "which mvm does not support; supported: %s",
                       c->server, revision, list);
}

static int accept_init_result(mvm_mcp_client *c, json_t *result, mvm_error *err)
{
  const json_t *version = json_object_get(result, "protocolVersion");
  const json_t *caps = json_object_get(result, "capabilities");
  const json_t *info = json_object_get(result, "serverInfo");
  int rc;

  if (!json_is_object(result) || !json_is_string(version))
    return mvm_error_set(err, MVM_EPROTOCOL, c->where,
                         "server '%s' responded to initialize without a "
                         "protocolVersion",
                         c->server);
  rc = check_revision(c, json_string_value(version), err);
  if (rc)
    return rc;
  if (!json_is_object(caps))
    return mvm_error_set(err, MVM_EPROTOCOL, c->where,
                         "server '%s' responded to initialize without a "
                         "capabilities object",
                         c->server);
  if (!json_is_object(info) || !json_is_string(json_object_get(info, "name")))
    mvm_log(MVM_LOG_WARN, c->where,
            "server '%s' sent no serverInfo.name in its initialize result",
            c->server);

  snprintf(c->revision, sizeof c->revision, "%s", json_string_value(version));
  c->has_tools = json_is_object(json_object_get(caps, "tools"));
  json_decref(c->server_info);
  c->server_info = json_incref(result);
  return MVM_OK;
}

/* Runs the initialize exchange and sends notifications/initialized. The
 * stateless revision planned after 2025-11-25 replaces this exchange with
 * server/discover; a client for it would branch here. */
static int initialize(mvm_mcp_client *c, mvm_error *err)
{
  json_t *caps = client_capabilities(c);
  json_t *params = NULL;
  json_t *result = NULL;
  long long id;
  int rc;

  if (caps == NULL)
    return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
  params = json_pack("{s:s, s:o, s:{s:s, s:s}}", "protocolVersion",
                     c->opts.revision, "capabilities", caps, "clientInfo",
                     "name", "mvm", "version", MVM_VERSION);
  if (params == NULL)
    return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");

  rc = start_request(c, "initialize", params, false, NULL, &id, err);
  json_decref(params);
  if (rc)
    return rc;
  rc = mvm_mcp_client_wait(c, id, c->opts.init_timeout_ms, &result, NULL, err);
  if (rc)
    return rc;

  rc = accept_init_result(c, result, err);
  json_decref(result);
  if (rc)
    return rc;
  if (c->t->ops->negotiated != NULL) {
    rc = c->t->ops->negotiated(c->t, c->revision, err);
    if (rc)
      return rc;
  }
  rc = send_notification(c, "notifications/initialized", NULL, err);
  if (rc)
    return rc;
  c->initialized = true;
  mvm_log(MVM_LOG_INFO, c->where, "server '%s' initialized, revision %s",
          c->server, c->revision);
  return MVM_OK;
}

static int reinitialize(mvm_mcp_client *c, long long resent_id,
                        mvm_error *err)
{
  int rc;

  /* Requests of the lost session never get a response, except the one
   * that met the 404: the caller sends it again in the new session. */
  for (size_t i = 0; i < c->npending; i++) {
    struct pending *p = &c->pending[i];
    if (p->done || p->id == resent_id)
      continue;
    p->done = true;
    p->fail_status = MVM_ESTATE;
    snprintf(p->fail_msg, sizeof p->fail_msg,
             "server '%s' lost the session while '%s' was in flight", c->server,
             p->method);
  }
  c->reinitializing = true;
  c->initialized = false;
  c->tools_stale = true;
  rc = initialize(c, err);
  c->reinitializing = false;
  return rc;
}

int mvm_mcp_client_open(mvm_mcp_transport *transport,
                        const mvm_mcp_client_opts *opts, mvm_mcp_client **out,
                        mvm_error *err)
{
  mvm_mcp_client *c;
  const char *name = transport->server != NULL ? transport->server : "mcp";
  int rc;

  c = calloc(1, sizeof *c);
  if (c == NULL) {
    transport->ops->close(transport);
    return mvm_error_set(err, MVM_ENOMEM, "mcp", "out of memory");
  }
  c->t = transport;
  c->server = strdup(name);
  if (c->server == NULL) {
    mvm_mcp_client_close(c);
    return mvm_error_set(err, MVM_ENOMEM, "mcp", "out of memory");
  }
  snprintf(c->where, sizeof c->where, "mcp:%s", c->server);
  if (opts != NULL)
    c->opts = *opts;
  resolve_defaults(&c->opts);
  c->next_id = 1;

  rc = initialize(c, err);
  if (rc) {
    mvm_mcp_client_close(c);
    return rc;
  }
  *out = c;
  return MVM_OK;
}

void mvm_mcp_client_close(mvm_mcp_client *client)
{
  if (client == NULL)
    return;
  for (size_t i = 0; i < client->npending; i++)
    json_decref(client->pending[i].response);
  free(client->pending);
  if (client->t != NULL)
    client->t->ops->close(client->t);
  tools_free(client);
  json_decref(client->server_info);
  free(client->server);
  free(client);
}

const char *mvm_mcp_client_server(const mvm_mcp_client *client)
{
  return client->server;
}

const char *mvm_mcp_client_revision(const mvm_mcp_client *client)
{
  return client->revision;
}

const json_t *mvm_mcp_client_server_info(const mvm_mcp_client *client)
{
  return client->server_info;
}

const char *mvm_mcp_client_transport_kind(const mvm_mcp_client *client)
{
  return client->t->ops->kind;
}

void mvm_mcp_client_stats_get(const mvm_mcp_client *client,
                              mvm_mcp_client_stats *out)
{
  *out = client->stats;
}

/* ---------------------------------------------------------------- tools */

static void tools_free(mvm_mcp_client *c)
{
  size_t n = json_array_size(c->tools);

  for (size_t i = 0; c->schemas != NULL && i < n; i++) {
    mvm_schema_free(c->schemas[i].input);
    mvm_schema_free(c->schemas[i].output);
  }
  free(c->schemas);
  c->schemas = NULL;
  json_decref(c->tools);
  c->tools = NULL;
  json_decref(c->changes);
  c->changes = NULL;
}

/* The canonical text of what a change report compares, or NULL on no
 * memory. */
static char *tool_fingerprint(const json_t *tool)
{
  static const char *const keys[] = {"title", "description", "inputSchema",
                                     "outputSchema", "annotations"};
  json_t *parts = json_object();
  char *text = NULL;

  if (parts == NULL)
    return NULL;
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    json_t *v = json_object_get(tool, keys[i]);
    if (v != NULL && json_object_set(parts, keys[i], v) != 0)
      goto out;
  }
  text = mvm_json_dump_canonical(parts);
out:
  json_decref(parts);
  return text;
}

static const json_t *tool_named(const json_t *tools, const char *name,
                                size_t *index)
{
  size_t i;
  json_t *tool;

  json_array_foreach(tools, i, tool)
  {
    const char *n = json_string_value(json_object_get(tool, "name"));
    if (n != NULL && strcmp(n, name) == 0) {
      if (index != NULL)
        *index = i;
      return tool;
    }
  }
  return NULL;
}

/* Appends name to the array under key unless it is there already. */
static int note_change(json_t *changes, const char *key, const char *name)
{
  json_t *list = json_object_get(changes, key);
  size_t i;
  json_t *v;

  json_array_foreach(list, i, v)
  {
    if (strcmp(json_string_value(v), name) == 0)
      return MVM_OK;
  }
  return json_array_append_new(list, json_string(name)) ? MVM_ENOMEM : MVM_OK;
}

static int diff_changed(const json_t *old, const json_t *tool, json_t *changes,
                        const char *name)
{
  char *a = tool_fingerprint(old);
  char *b = tool_fingerprint(tool);
  int rc = MVM_OK;

  if (a == NULL || b == NULL)
    rc = MVM_ENOMEM;
  else if (strcmp(a, b) != 0)
    rc = note_change(changes, "changed", name);
  free(a);
  free(b);
  return rc;
}

/* Compares two tool lists; *out is NULL when nothing changed. */
static int diff_tools(const json_t *before, const json_t *after, json_t **out)
{
  json_t *changes =
      json_pack("{s:[], s:[], s:[]}", "added", "removed", "changed");
  size_t i;
  json_t *tool;
  int rc = MVM_OK;

  if (changes == NULL)
    return MVM_ENOMEM;
  json_array_foreach(after, i, tool)
  {
    const char *name = json_string_value(json_object_get(tool, "name"));
    const json_t *old = tool_named(before, name, NULL);
    rc = old == NULL ? note_change(changes, "added", name)
                     : diff_changed(old, tool, changes, name);
    if (rc)
      goto out;
  }
  json_array_foreach(before, i, tool)
  {
    const char *name = json_string_value(json_object_get(tool, "name"));
    if (tool_named(after, name, NULL) == NULL) {
      rc = note_change(changes, "removed", name);
      if (rc)
        goto out;
    }
  }
  if (json_array_size(json_object_get(changes, "added")) +
          json_array_size(json_object_get(changes, "removed")) +
          json_array_size(json_object_get(changes, "changed")) ==
      0) {
    json_decref(changes);
    changes = NULL;
  }
  *out = changes;
  changes = NULL;
out:
  json_decref(changes);
  return rc;
}

static int merge_changes(mvm_mcp_client *c, const json_t *changes)
{
  static const char *const keys[] = {"added", "removed", "changed"};

  if (c->changes == NULL) {
    c->changes = json_deep_copy(changes);
    return c->changes != NULL ? MVM_OK : MVM_ENOMEM;
  }
  for (size_t k = 0; k < 3; k++) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(changes, keys[k]), i, v)
    {
      int rc = note_change(c->changes, keys[k], json_string_value(v));
      if (rc)
        return rc;
    }
  }
  return MVM_OK;
}

/* Entries a listing skipped, reported once when it ends. */
struct skipped {
  size_t invalid;
  size_t duplicates;
  char first_duplicate[64];
};

/* Adds the tools of one tools/list page to `tools`, skipping entries
 * without a name or inputSchema and repeated names. */
static int add_page(mvm_mcp_client *c, const json_t *page, json_t *tools,
                    struct skipped *skipped, mvm_error *err)
{
  size_t i;
  json_t *tool;

  json_array_foreach(page, i, tool)
  {
    const char *name = json_string_value(json_object_get(tool, "name"));

    if (!json_is_object(tool) || name == NULL || name[0] == '\0' ||
        !json_is_object(json_object_get(tool, "inputSchema"))) {
      skipped->invalid++;
      continue;
    }
    if (tool_named(tools, name, NULL) != NULL) {
      if (skipped->duplicates++ == 0)
        snprintf(skipped->first_duplicate, sizeof skipped->first_duplicate,
                 "%s", name);
      continue;
    }
    if (json_array_size(tools) >= c->opts.max_tools)
      return mvm_error_set(err, MVM_ELIMIT, c->where,
                           "server '%s' lists more than %u tools, the "
                           "maximum number of tools",
                           c->server, c->opts.max_tools);
    if (json_array_append(tools, tool) != 0)
      return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
  }
  return MVM_OK;
}

static void report_skipped(const mvm_mcp_client *c,
                           const struct skipped *skipped)
{
  if (skipped->invalid > 0)
    mvm_log(MVM_LOG_WARN, c->where,
            "server '%s' listed %zu entries without a tool name or an "
            "inputSchema object; skipped them",
            c->server, skipped->invalid);
  if (skipped->duplicates > 0)
    mvm_log(MVM_LOG_WARN, c->where,
            "server '%s' repeated tool names in tools/list %zu times "
            "(first: '%s'); kept the first tool of each name",
            c->server, skipped->duplicates, skipped->first_duplicate);
}

/* Reads the next cursor of a page. *cursor NULL ends the listing. */
static int next_cursor(mvm_mcp_client *c, const json_t *result, json_t *seen,
                       const char **cursor, mvm_error *err)
{
  const json_t *next = json_object_get(result, "nextCursor");

  *cursor = NULL;
  if (next == NULL || json_is_null(next))
    return MVM_OK;
  if (!json_is_string(next))
    return mvm_error_set(err, MVM_EPROTOCOL, c->where,
                         "server '%s' sent a tools/list nextCursor that is "
                         "not a string",
                         c->server);
  if (json_object_get(seen, json_string_value(next)) != NULL) {
    mvm_log(MVM_LOG_WARN, c->where,
            "server '%s' repeated the tools/list cursor '%.60s'; stopped "
            "listing with the tools read so far",
            c->server, json_string_value(next));
    return MVM_OK;
  }
  if (json_object_set_new(seen, json_string_value(next), json_true()) != 0)
    return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
  *cursor = json_string_value(next);
  return MVM_OK;
}

static int list_all_tools(mvm_mcp_client *c, json_t **out, mvm_error *err)
{
  json_t *tools = json_array();
  json_t *seen = json_object(); /* cursors already sent */
  json_t *result = NULL;
  json_t *params = NULL;
  const char *cursor = NULL;
  struct skipped skipped = {0};
  int rc = MVM_OK;

  if (tools == NULL || seen == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
    goto out;
  }
  for (unsigned page = 0;; page++) {
    if (page == c->opts.max_pages) {
      rc = mvm_error_set(err, MVM_ELIMIT, c->where,
                         "server '%s' sent more than %u pages of tools, the "
                         "maximum number of pages",
                         c->server, c->opts.max_pages);
      goto out;
    }
    json_decref(params);
    params = cursor != NULL ? json_pack("{s:s}", "cursor", cursor) : NULL;
    json_decref(result);
    result = NULL;
    rc = mvm_mcp_client_request(c, "tools/list", params, 0, &result, err);
    if (rc)
      goto out;
    if (!json_is_array(json_object_get(result, "tools"))) {
      rc = mvm_error_set(err, MVM_EPROTOCOL, c->where,
                         "server '%s' responded to tools/list without a tools "
                         "array",
                         c->server);
      goto out;
    }
    rc = add_page(c, json_object_get(result, "tools"), tools, &skipped, err);
    if (rc == MVM_OK)
      rc = next_cursor(c, result, seen, &cursor, err);
    if (rc || cursor == NULL)
      goto out;
  }
out:
  report_skipped(c, &skipped);
  if (rc == MVM_OK) {
    *out = tools;
    tools = NULL;
    c->stats.tool_lists++;
  }
  json_decref(params);
  json_decref(result);
  json_decref(seen);
  json_decref(tools);
  return rc;
}

/* Replaces the tool list and reports what changed. */
static int install_tools(mvm_mcp_client *c, json_t *tools, mvm_error *err)
{
  struct tool_schemas *schemas = NULL;
  json_t *changes = NULL;
  int rc;

  if (json_array_size(tools) > 0) {
    schemas = calloc(json_array_size(tools), sizeof *schemas);
    if (schemas == NULL) {
      json_decref(tools);
      return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
    }
  }
  if (c->tools != NULL) {
    rc = diff_tools(c->tools, tools, &changes);
    if (rc == MVM_OK && changes != NULL)
      rc = merge_changes(c, changes);
    if (rc) {
      free(schemas);
      json_decref(tools);
      json_decref(changes);
      return mvm_error_set(err, rc, c->where, "out of memory");
    }
  }

  json_t *kept = c->changes;
  c->changes = NULL;
  tools_free(c);
  c->changes = kept;
  c->tools = tools;
  c->schemas = schemas;

  if (changes != NULL) {
    char *text = json_dumps(changes, JSON_COMPACT);
    mvm_log(MVM_LOG_INFO, c->where, "tools of server '%s' changed: %s",
            c->server, text != NULL ? text : "");
    free(text);
    if (c->opts.tools_changed != NULL)
      c->opts.tools_changed(c->opts.tools_changed_ctx, c->server, changes);
  }
  json_decref(changes);
  return MVM_OK;
}

/* Lists the tools when they were never listed or after
 * notifications/tools/list_changed. */
static int refresh_tools(mvm_mcp_client *c, mvm_error *err)
{
  json_t *tools = NULL;
  int rc;

  if (c->tools != NULL && !c->tools_stale)
    return MVM_OK;
  if (!c->has_tools) {
    tools = json_array();
    if (tools == NULL)
      return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
    c->tools_stale = false;
    return install_tools(c, tools, err);
  }
  /* Cleared first: a list_changed that arrives while listing marks the
   * new list stale again. */
  c->tools_stale = false;
  rc = list_all_tools(c, &tools, err);
  if (rc) {
    c->tools_stale = true;
    return rc;
  }
  return install_tools(c, tools, err);
}

int mvm_mcp_client_list_tools(mvm_mcp_client *client, json_t **tools,
                              mvm_error *err)
{
  json_t *copy;
  int rc;

  if (client->in_callback)
    return mvm_error_set(err, MVM_ESTATE, client->where,
                         "a server request callback cannot list tools");
  rc = refresh_tools(client, err);
  if (rc)
    return rc;
  copy = json_deep_copy(client->tools);
  if (copy == NULL)
    return mvm_error_set(err, MVM_ENOMEM, client->where, "out of memory");
  *tools = copy;
  return MVM_OK;
}

int mvm_mcp_client_take_changes(mvm_mcp_client *client, json_t **changes,
                                mvm_error *err)
{
  int rc;

  if (client->in_callback)
    return mvm_error_set(err, MVM_ESTATE, client->where,
                         "a server request callback cannot list tools");
  if (client->tools != NULL) {
    rc = refresh_tools(client, err);
    if (rc)
      return rc;
  }
  *changes = client->changes;
  client->changes = NULL;
  return MVM_OK;
}

static int unknown_tool(mvm_mcp_client *c, const char *name, mvm_error *err)
{
  char names[200] = "";
  size_t i;
  json_t *tool;

  json_array_foreach(c->tools, i, tool)
  {
    const char *n = json_string_value(json_object_get(tool, "name"));
    size_t used = strlen(names);
    if (used + strlen(n) + 6 >= sizeof names) {
      snprintf(names + used, sizeof names - used, ", ...");
      break;
    }
    snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", n);
  }
  return mvm_error_set(err, MVM_ENOTFOUND, c->where,
                       "server '%s' has no tool '%.100s'; its tools: %s",
                       c->server, name, names[0] ? names : "none");
}

/* Compiles a tool's schemas on its first call. A schema mvm cannot
 * compile is logged and not enforced; the server still checks it. */
static void compile_schemas(mvm_mcp_client *c, size_t index)
{
  struct tool_schemas *s = &c->schemas[index];
  const json_t *tool = json_array_get(c->tools, index);
  const char *name = json_string_value(json_object_get(tool, "name"));
  const char *keys[2] = {"inputSchema", "outputSchema"};
  mvm_schema **slots[2] = {&s->input, &s->output};

  s->compiled = true;
  for (int k = 0; k < 2; k++) {
    const json_t *schema = json_object_get(tool, keys[k]);
    mvm_error err = {0};

    if (schema == NULL)
      continue;
    if (mvm_schema_compile(schema, slots[k], &err) != MVM_OK) {
      *slots[k] = NULL;
      mvm_log(MVM_LOG_WARN, c->where,
              "the %s of tool '%s' on server '%s' is not checked: %s", keys[k],
              name, c->server, err.msg);
    }
  }
}

static int check_schema(mvm_mcp_client *c, const mvm_schema *schema,
                        const json_t *value, const char *what, const char *tool,
                        mvm_error *err)
{
  mvm_error verr = {0};
  int rc;

  if (schema == NULL)
    return MVM_OK;
  rc = mvm_schema_validate(schema, value, &verr);
  if (rc == MVM_OK)
    return MVM_OK;
  return mvm_error_set(err, rc, c->where,
                       "%s of tool '%s' on server '%s' "
                       "do not match its schema: %s",
                       what, tool, c->server, verr.msg);
}

static const char *content_problem(const json_t *item, const char **type)
{
  const json_t *res;

  *type = json_string_value(json_object_get(item, "type"));
  if (!json_is_object(item) || *type == NULL)
    return "is not an object with a \"type\"";
  if (strcmp(*type, "text") == 0)
    return json_is_string(json_object_get(item, "text"))
               ? NULL
               : "lacks a \"text\" string";
  if (strcmp(*type, "image") == 0 || strcmp(*type, "audio") == 0) {
    if (!json_is_string(json_object_get(item, "data")))
      return "lacks a base64 \"data\" string";
    return json_is_string(json_object_get(item, "mimeType"))
               ? NULL
               : "lacks a \"mimeType\" string";
  }
  if (strcmp(*type, "resource_link") == 0) {
    if (!json_is_string(json_object_get(item, "uri")))
      return "lacks a \"uri\" string";
    return json_is_string(json_object_get(item, "name"))
               ? NULL
               : "lacks a \"name\" string";
  }
  if (strcmp(*type, "resource") == 0) {
    res = json_object_get(item, "resource");
    if (!json_is_string(json_object_get(res, "uri")))
      return "lacks a \"resource\" object with a \"uri\"";
    if (!json_is_string(json_object_get(res, "text")) &&
        !json_is_string(json_object_get(res, "blob")))
      return "has a resource with neither \"text\" nor \"blob\"";
    return NULL;
  }
  return NULL;
}

/* Checks a CallToolResult and sets "isError" when it is absent. */
static int check_call_result(mvm_mcp_client *c, const char *tool,
                             json_t *result, mvm_error *err)
{
  const json_t *content = json_object_get(result, "content");
  const json_t *structured = json_object_get(result, "structuredContent");
  const json_t *is_error = json_object_get(result, "isError");
  size_t i;
  json_t *item;

  if (!json_is_object(result) || !json_is_array(content))
    return mvm_error_set(err, MVM_EPROTOCOL, c->where,
                         "tool '%s' on server '%s' returned no content "
                         "array",
                         c->server, tool);
  if (json_array_size(content) > c->opts.max_content_items)
    return mvm_error_set(err, MVM_ELIMIT, c->where,
                         "tool '%s' on server '%s' returned %zu content "
                         "items, over the maximum of %u content items",
                         tool, c->server, json_array_size(content),
                         c->opts.max_content_items);
  json_array_foreach(content, i, item)
  {
    const char *type = NULL;
    const char *problem = content_problem(item, &type);
    if (problem != NULL)
      return mvm_error_set(err, MVM_EPROTOCOL, c->where,
                           "tool '%s' on server '%s': content item %zu "
                           "(%.20s) %s",
                           tool, c->server, i, type ? type : "?", problem);
  }
  if (structured != NULL && !json_is_object(structured))
    return mvm_error_set(err, MVM_EPROTOCOL, c->where,
                         "tool '%s' on server '%s' returned "
                         "structuredContent that is not an object",
                         tool, c->server);
  if (is_error != NULL && !json_is_boolean(is_error))
    return mvm_error_set(err, MVM_EPROTOCOL, c->where,
                         "tool '%s' on server '%s' returned an isError that "
                         "is not a boolean",
                         tool, c->server);
  if (is_error == NULL &&
      json_object_set_new(result, "isError", json_false()) != 0)
    return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
  return MVM_OK;
}

/* Checks structuredContent against the tool's outputSchema. A tool that
 * declares an outputSchema must return structuredContent unless it
 * failed. */
static int check_output(mvm_mcp_client *c, size_t index, const char *tool,
                        const json_t *result, mvm_error *err)
{
  const json_t *def = json_array_get(c->tools, index);
  const json_t *structured = json_object_get(result, "structuredContent");

  if (json_is_true(json_object_get(result, "isError")) ||
      json_object_get(def, "outputSchema") == NULL)
    return MVM_OK;
  if (structured == NULL)
    return mvm_error_set(err, MVM_ESCHEMA, c->where,
                         "tool '%s' on server '%s' declares an outputSchema "
                         "but returned no structuredContent",
                         tool, c->server);
  return check_schema(c, c->schemas[index].output, structured,
                      "the structuredContent", tool, err);
}

int mvm_mcp_client_call_tool(mvm_mcp_client *client, const char *name,
                             const json_t *args, const mvm_tool_call_opts *opts,
                             json_t **result, mvm_error *err)
{
  mvm_mcp_client *c = client;
  json_t *empty = NULL;
  json_t *params = NULL;
  json_t *res = NULL;
  size_t index = 0;
  long long id;
  long long code = 0;
  int timeout_ms = 0;
  int rc;

  if (c->in_callback)
    return mvm_error_set(err, MVM_ESTATE, c->where,
                         "a server request callback cannot call tools");
  if (args != NULL && !json_is_object(args))
    return mvm_error_set(err, MVM_EINVAL, c->where,
                         "arguments of tool '%s' must be a JSON object", name);
  rc = refresh_tools(c, err);
  if (rc)
    return rc;
  if (tool_named(c->tools, name, &index) == NULL)
    return unknown_tool(c, name, err);
  if (!c->schemas[index].compiled)
    compile_schemas(c, index);

  if (args == NULL) {
    empty = json_object();
    if (empty == NULL)
      return mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
    args = empty;
  }
  rc = check_schema(c, c->schemas[index].input, args, "the arguments", name,
                    err);
  if (rc)
    goto out;

  params = json_pack("{s:s, s:O}", "name", name, "arguments", (json_t *)args);
  if (params == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, c->where, "out of memory");
    goto out;
  }
  if (opts != NULL && opts->timeout_s > 0)
    timeout_ms = opts->timeout_s * 1000 > 2e9 ? 2000000000
                                              : (int)(opts->timeout_s * 1000);
  rc = start_request(c, "tools/call", params, true,
                     opts != NULL ? opts->progress : NULL, &id, err);
  if (rc)
    goto out;
  rc = mvm_mcp_client_wait(c, id, timeout_ms, &res, &code, err);
  if (rc == MVM_EPROTOCOL && code != 0) {
    char msg[MVM_ERROR_MSG_MAX] = "";
    if (err != NULL)
      snprintf(msg, sizeof msg, "%s", err->msg);
    rc = mvm_error_set(err, MVM_ETOOL, c->where, "tool '%s': %s", name, msg);
  }
  if (rc)
    goto out;

  rc = check_call_result(c, name, res, err);
  if (rc == MVM_OK)
    rc = check_output(c, index, name, res, err);
  if (rc == MVM_OK) {
    *result = res;
    res = NULL;
  }
out:
  json_decref(res);
  json_decref(params);
  json_decref(empty);
  return rc;
}
