/* mcp_http.c - the MCP Streamable HTTP transport over a curl multi handle.
 *
 * Each HTTP exchange is a `stream`: a POST carrying one message, the GET
 * stream for server-initiated messages, or a GET that resumes a POST
 * stream with Last-Event-ID. All of them live on one multi handle that
 * send(), recv() and negotiated() drive on the caller's thread. */
#include "tools/mcp_http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/sse.h"

/* How long negotiated() waits for the headers of the GET stream. A server
 * that sends them later still gets its stream, read in the background. */
#define MVM_MCP_HTTP_GET_OPEN_WAIT_MS 1000

enum stream_kind {
  STREAM_POST,   /* carries one client message */
  STREAM_GET,    /* the GET stream for server-initiated messages */
  STREAM_RESUME, /* a GET resuming a POST stream that ended early */
};

enum body_kind {
  BODY_NONE,  /* 202 or a body that is ignored */
  BODY_JSON,  /* application/json */
  BODY_SSE,   /* text/event-stream */
  BODY_ERROR, /* an error status: keep an excerpt */
};

typedef struct queued_msg {
  struct queued_msg *next;
  char *text;
  size_t len;
} queued_msg;

typedef struct http_stream {
  struct http_stream *next;
  struct mcp_http *owner;
  enum stream_kind kind;
  CURL *curl; /* NULL while waiting to reconnect */
  struct curl_slist *headers;
  char *payload;      /* POST body */
  size_t payload_len;
  bool in_send;       /* send() or negotiated() is waiting on it */
  bool sent_session;  /* the request carried a session id */
  char errbuf[CURL_ERROR_SIZE];
  json_t *request_id; /* id of the request whose response is awaited */
  bool response_seen;

  /* The current HTTP exchange. */
  long status;
  bool headers_done;
  bool finished;
  CURLcode result;
  enum body_kind body;
  char content_type[128];
  char session_id[MVM_MCP_HTTP_MAX_SESSION_ID + 2];
  mvm_buf data; /* JSON body or error excerpt */
  mvm_sse_parser sse;
  bool sse_ready;
  int fail_code; /* a limit or protocol error found in the body */
  mvm_error fail;

  /* Resumption state, kept across reconnects. */
  char *last_event_id;
  long retry_ms;
  unsigned attempts;  /* reconnects since the last new event or id */
  long long due_ms;   /* when to reconnect; 0: not waiting */
} http_stream;

typedef struct mcp_http {
  mvm_mcp_transport base;
  char *server;
  char *url;
  char **headers; /* copies of cfg->headers, NULL-terminated */
  char where[64];
  int connect_timeout_ms;
  int response_timeout_ms;
  int close_timeout_ms;
  size_t max_message_bytes;
  size_t max_queue;
  unsigned max_reconnects;
  int default_retry_ms;
  int max_retry_ms;
  bool no_get_stream;
  bool (*cancelled)(void *ctx);
  void *cancelled_ctx;
  bool interrupted; /* the last wait_stream stopped on cancelled() */

  CURLM *multi;
  http_stream *streams;
  char *session_id;
  char *revision;

  queued_msg *head;
  queued_msg *tail;
  size_t queued;

  int pending_code; /* an error for the next recv() */
  mvm_error pending;

  mvm_mcp_http_stats stats;
} mcp_http;

static const mvm_mcp_transport_ops http_ops;

static long long now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps the first error for the next recv(); later ones are only logged. */
static void set_pending(mcp_http *h, const mvm_error *e)
{
  if (h->pending_code != MVM_OK && strcmp(h->pending.msg, e->msg) == 0)
    return;
  mvm_log(MVM_LOG_WARN, h->where, "%s", e->msg);
  if (h->pending_code != MVM_OK)
    return;
  h->pending_code = e->code;
  h->pending = *e;
}

/* Queues one message, taking over `text`. */
static int queue_push(mcp_http *h, char *text, size_t len)
{
  queued_msg *m;
  mvm_error e;

  if (h->queued >= h->max_queue) {
    free(text);
    mvm_error_set(&e, MVM_ELIMIT, h->where,
                  "server '%s' sent more than %zu messages that were not "
                  "read yet (max_queue); the message was dropped",
                  h->server, h->max_queue);
    set_pending(h, &e);
    return MVM_ELIMIT;
  }
  m = malloc(sizeof *m);
  if (m == NULL) {
    free(text);
    return MVM_ENOMEM;
  }
  m->next = NULL;
  m->text = text;
  m->len = len;
  if (h->tail != NULL)
    h->tail->next = m;
  else
    h->head = m;
  h->tail = m;
  h->queued++;
  h->stats.messages++;
  return MVM_OK;
}

static queued_msg *queue_pop(mcp_http *h)
{
  queued_msg *m = h->head;

  if (m == NULL)
    return NULL;
  h->head = m->next;
  if (h->head == NULL)
    h->tail = NULL;
  h->queued--;
  return m;
}

/* Rejects header lines that could smuggle another header or carry no
 * name, so a configuration mistake cannot split a request. */
static bool header_line_valid(const char *line)
{
  const char *colon = strchr(line, ':');
  const char *p;

  if (colon == NULL || colon == line)
    return false;
  for (p = line; p < colon; p++)
    if (!isgraph((unsigned char)*p))
      return false;
  for (p = line; *p != '\0'; p++)
    if (*p == '\r' || *p == '\n')
      return false;
  return true;
}

static bool url_valid(const char *url)
{
  return strncasecmp(url, "http://", 7) == 0 ||
         strncasecmp(url, "https://", 8) == 0;
}

static bool session_id_valid(const char *id)
{
  size_t n = strlen(id);

  if (n == 0 || n > MVM_MCP_HTTP_MAX_SESSION_ID)
    return false;
  for (; *id != '\0'; id++)
    if (*id < 0x21 || *id > 0x7e)
      return false;
  return true;
}

/* ------------------------------------------------------- body handling */

static int fail_stream(http_stream *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records why a stream stopped; the first failure wins. */
static int fail_stream(http_stream *s, int code, const char *fmt, ...)
{
  va_list ap;

  if (s->fail_code != MVM_OK)
    return s->fail_code;
  s->fail_code = code;
  s->fail.code = code;
  snprintf(s->fail.where, sizeof s->fail.where, "%s", s->owner->where);
  va_start(ap, fmt);
  vsnprintf(s->fail.msg, sizeof s->fail.msg, fmt, ap);
  va_end(ap);
  return code;
}

/* Marks the awaited response as seen when `msg` is a response (no
 * method) whose id equals the request's. */
static void note_response(http_stream *s, const json_t *msg)
{
  const json_t *id = json_object_get(msg, "id");

  if (s->request_id == NULL || !json_is_object(msg) || id == NULL)
    return;
  if (json_object_get(msg, "method") != NULL)
    return;
  if (json_equal(id, s->request_id))
    s->response_seen = true;
}

static int queue_copy(mcp_http *h, const char *text, size_t len)
{
  char *copy = malloc(len + 1);

  if (copy == NULL)
    return MVM_ENOMEM;
  memcpy(copy, text, len);
  copy[len] = '\0';
  return queue_push(h, copy, len);
}

/* Queues the message or messages in one JSON text. A batch (an array,
 * which servers on revision 2025-03-26 may send) is split into its
 * elements. Text that is not JSON is queued as is, so the client counts
 * and logs it as an invalid message. */
static int take_messages(http_stream *s, const char *text, size_t len)
{
  mcp_http *h = s->owner;
  json_error_t jerr;
  json_t *root = json_loadb(text, len, 0, &jerr);
  size_t i;
  int rc = MVM_OK;

  if (!json_is_array(root)) {
    note_response(s, root);
    json_decref(root);
    return queue_copy(h, text, len);
  }
  for (i = 0; i < json_array_size(root) && rc == MVM_OK; i++) {
    json_t *item = json_array_get(root, i);
    char *item_text = json_dumps(item, JSON_COMPACT);

    note_response(s, item);
    if (item_text == NULL)
      rc = MVM_ENOMEM;
    else
      rc = queue_push(h, item_text, strlen(item_text));
  }
  json_decref(root);
  return rc;
}

/* True when data contains only whitespace, as a priming event's does. */
static bool blank(const char *data, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++)
    if (!isspace((unsigned char)data[i]))
      return false;
  return true;
}

static int on_sse_event(void *ctx, const mvm_sse_event *event)
{
  http_stream *s = ctx;
  int rc;

  /* A priming event (an id, empty data) only sets the resume point. */
  if (blank(event->data, event->data_len))
    return MVM_OK;
  s->attempts = 0;
  if (strcmp(event->type, "message") != 0) {
    mvm_log(MVM_LOG_DEBUG, s->owner->where,
            "ignored an SSE event of type '%.64s' from server '%s'",
            event->type, s->owner->server);
    return MVM_OK;
  }
  rc = take_messages(s, event->data, event->data_len);
  if (rc == MVM_ENOMEM)
    return fail_stream(s, rc, "out of memory reading server '%s'",
                       s->owner->server);
  if (rc == MVM_ELIMIT)
    return fail_stream(s, rc, "%s", s->owner->pending.msg);
  return rc;
}

/* Copies the parser's last event id and retry time into the stream. The
 * parser sets them when it reads the field, so a priming event (an id
 * with empty data) counts too.
 * NOTE: a stream cut after an event's id line but before its blank line
 * resumes after that event, which was never dispatched, so the server's
 * replay skips it. */
static void track_resume_point(http_stream *s)
{
  const char *id = s->sse.id.data;

  if (s->sse.retry_ms >= 0)
    s->retry_ms = s->sse.retry_ms;
  if (id == NULL || id[0] == '\0')
    return;
  if (s->last_event_id != NULL && strcmp(s->last_event_id, id) == 0)
    return;
  free(s->last_event_id);
  s->last_event_id = strdup(id);
  /* A new id counts as progress, because a polling server ends the
   * stream after each one. */
  s->attempts = 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  http_stream *s = userdata;
  size_t n = size * nmemb;
  mvm_error e = {0};
  int rc;

  switch (s->body) {
  case BODY_SSE:
    rc = mvm_sse_feed(&s->sse, ptr, n, &e);
    track_resume_point(s);
    if (rc == MVM_ELIMIT)
      fail_stream(s, rc,
                  "server '%s' sent an SSE event over %zu bytes "
                  "(max_message_bytes); the stream was dropped",
                  s->owner->server, s->owner->max_message_bytes);
    else if (rc != MVM_OK)
      fail_stream(s, rc, "server '%s' sent an unreadable SSE stream: %s",
                  s->owner->server, e.msg);
    return rc == MVM_OK ? n : 0;
  case BODY_JSON:
    if (mvm_buf_append(&s->data, ptr, n) == MVM_OK)
      return n;
    fail_stream(s, MVM_ELIMIT,
                "server '%s' sent a JSON body over %zu bytes "
                "(max_message_bytes); the body was dropped",
                s->owner->server, s->owner->max_message_bytes);
    return 0;
  case BODY_ERROR:
    if (s->data.len < MVM_MCP_HTTP_ERROR_EXCERPT) {
      size_t room = MVM_MCP_HTTP_ERROR_EXCERPT - s->data.len;

      mvm_buf_append(&s->data, ptr, n < room ? n : room);
    }
    return n;
  case BODY_NONE:
    return n;
  }
  return n;
}

/* ----------------------------------------------------- header handling */

/* Copies the value of "Name: value" when the name matches, trimmed. */
static bool header_value(const char *line, size_t len, const char *name,
                         char *out, size_t size)
{
  size_t nlen = strlen(name);
  size_t start;
  size_t end = len;

  if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
    return false;
  start = nlen + 1;
  while (start < end && (line[start] == ' ' || line[start] == '\t'))
    start++;
  while (end > start && isspace((unsigned char)line[end - 1]))
    end--;
  if (end - start >= size)
    end = start + size - 1;
  memcpy(out, line + start, end - start);
  out[end - start] = '\0';
  return true;
}

/* Chooses how to read the body once the final headers arrived. Returns
 * false to abort the transfer on a content type MCP does not use. */
static bool choose_body(http_stream *s)
{
  mcp_http *h = s->owner;

  if (s->status < 200 || s->status > 299) {
    s->body = BODY_ERROR;
    return true;
  }
  if (strncasecmp(s->content_type, "text/event-stream", 17) == 0) {
    s->body = BODY_SSE;
    mvm_sse_init(&s->sse, h->max_message_bytes, on_sse_event, s);
    s->sse_ready = true;
    return true;
  }
  if (strncasecmp(s->content_type, "application/json", 16) == 0) {
    s->body = BODY_JSON;
    return true;
  }
  s->body = BODY_NONE;
  if (s->status == 202 || s->content_type[0] == '\0')
    return true;
  fail_stream(s, MVM_EPROTOCOL,
              "server '%s' answered with Content-Type '%s'; MCP expects "
              "application/json or text/event-stream",
              h->server, s->content_type);
  return false;
}

static size_t on_header(char *line, size_t size, size_t nitems,
                        void *userdata)
{
  http_stream *s = userdata;
  size_t n = size * nitems;

  if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
    /* A new response: after 1xx only the final headers count. */
    s->headers_done = false;
    s->content_type[0] = '\0';
    s->session_id[0] = '\0';
    return n;
  }
  if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) {
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status < 200)
      return n;
    s->headers_done = true;
    return choose_body(s) ? n : 0;
  }
  if (header_value(line, n, "content-type", s->content_type,
                   sizeof s->content_type))
    return n;
  header_value(line, n, "mcp-session-id", s->session_id,
               sizeof s->session_id);
  return n;
}

/* ---------------------------------------------------- starting streams */

static struct curl_slist *add_header(struct curl_slist *list, bool *ok,
                                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct curl_slist *add_header(struct curl_slist *list, bool *ok,
                                     const char *fmt, ...)
{
  char line[1024];
  struct curl_slist *next;
  va_list ap;
  int n;

  if (!*ok)
    return list;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof line) {
    *ok = false;
    return list;
  }
  next = curl_slist_append(list, line);
  if (next == NULL)
    *ok = false;
  return next != NULL ? next : list;
}

static struct curl_slist *build_headers(http_stream *s)
{
  mcp_http *h = s->owner;
  struct curl_slist *list = NULL;
  bool ok = true;
  size_t i;

  if (s->kind == STREAM_POST) {
    list = add_header(list, &ok, "Content-Type: application/json");
    list = add_header(list, &ok,
                      "Accept: application/json, text/event-stream");
  } else {
    list = add_header(list, &ok, "Accept: text/event-stream");
  }
  if (h->session_id != NULL)
    list = add_header(list, &ok, "Mcp-Session-Id: %s", h->session_id);
  if (h->revision != NULL)
    list = add_header(list, &ok, "MCP-Protocol-Version: %s", h->revision);
  if (s->kind != STREAM_POST && s->last_event_id != NULL)
    list = add_header(list, &ok, "Last-Event-ID: %s", s->last_event_id);
  /* curl would wait for 100-continue before sending a large body. */
  list = add_header(list, &ok, "Expect:");
  for (i = 0; h->headers[i] != NULL; i++)
    list = add_header(list, &ok, "%s", h->headers[i]);
  if (!ok) {
    curl_slist_free_all(list);
    return NULL;
  }
  return list;
}

/* Loopback names never go through a proxy, whatever NO_PROXY contains,
 * so tests and local servers stay on this machine. */
static void set_no_proxy(CURL *curl)
{
  const char *env = getenv("NO_PROXY");
  char list[1024];

  if (env == NULL)
    env = getenv("no_proxy");
  snprintf(list, sizeof list, "localhost,127.0.0.1,::1%s%s",
           env && env[0] ? "," : "", env ? env : "");
  curl_easy_setopt(curl, CURLOPT_NOPROXY, list);
}

/* Clears what one exchange left behind; resumption state stays. */
static void end_exchange(http_stream *s)
{
  if (s->curl != NULL) {
    curl_multi_remove_handle(s->owner->multi, s->curl);
    curl_easy_cleanup(s->curl);
    s->curl = NULL;
  }
  curl_slist_free_all(s->headers);
  s->headers = NULL;
  if (s->sse_ready) {
    mvm_sse_free(&s->sse);
    s->sse_ready = false;
  }
  mvm_buf_free(&s->data);
  mvm_buf_init(&s->data, s->owner->max_message_bytes);
  s->status = 0;
  s->headers_done = false;
  s->finished = false;
  s->result = CURLE_OK;
  s->body = BODY_NONE;
  s->content_type[0] = '\0';
  s->session_id[0] = '\0';
}

/* Starts the stream's HTTP exchange on the multi handle. */
static int start_exchange(http_stream *s, mvm_error *err)
{
  mcp_http *h = s->owner;
  CURL *curl = curl_easy_init();

  if (curl == NULL)
    return mvm_error_set(err, MVM_ENOMEM, h->where,
                         "cannot create a curl handle for server '%s'",
                         h->server);
  s->curl = curl;
  s->headers = build_headers(s);
  if (s->headers == NULL) {
    end_exchange(s);
    return mvm_error_set(err, MVM_ENOMEM, h->where,
                         "cannot build the request headers for server '%s'",
                         h->server);
  }
  curl_easy_setopt(curl, CURLOPT_URL, h->url);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)h->connect_timeout_ms);
  set_no_proxy(curl);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, s->headers);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, s);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(curl, CURLOPT_PRIVATE, s);
  s->errbuf[0] = '\0';
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, s->errbuf);
  s->sent_session = h->session_id != NULL;
  if (s->kind == STREAM_POST) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, s->payload);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)s->payload_len);
    h->stats.posts++;
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    h->stats.gets++;
    if (s->last_event_id != NULL)
      h->stats.reconnects++;
  }
  if (curl_multi_add_handle(h->multi, curl) != CURLM_OK) {
    end_exchange(s);
    return mvm_error_set(err, MVM_EIO, h->where,
                         "cannot start a request to server '%s'", h->server);
  }
  return MVM_OK;
}

static http_stream *stream_new(mcp_http *h, enum stream_kind kind)
{
  http_stream *s = calloc(1, sizeof *s);

  if (s == NULL)
    return NULL;
  s->owner = h;
  s->kind = kind;
  s->retry_ms = -1;
  mvm_buf_init(&s->data, h->max_message_bytes);
  s->next = h->streams;
  h->streams = s;
  return s;
}

static void stream_free(http_stream *s)
{
  mcp_http *h = s->owner;
  http_stream **pp;

  for (pp = &h->streams; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  }
  end_exchange(s);
  mvm_buf_free(&s->data);
  json_decref(s->request_id);
  free(s->payload);
  free(s->last_event_id);
  free(s);
}

/* ------------------------------------------------ finishing and resuming */

static const char *stream_name(const http_stream *s)
{
  switch (s->kind) {
  case STREAM_POST:
    return "POST stream";
  case STREAM_GET:
    return "GET stream";
  case STREAM_RESUME:
    return "resumed stream";
  }
  return "stream";
}

/* Names the awaited request in messages: "request 7" or "request \"a\"". */
static void describe_request(const http_stream *s, char *buf, size_t size)
{
  char *id = NULL;

  if (s->request_id != NULL)
    id = json_dumps(s->request_id, JSON_COMPACT | JSON_ENCODE_ANY);
  snprintf(buf, size, "request %.64s", id != NULL ? id : "?");
  free(id);
}

static void stream_failed(http_stream *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports a stream that cannot go on through the next recv() and frees
 * it. The GET stream only logs, because no request waits on it. */
static void stream_failed(http_stream *s, int code, const char *fmt, ...)
{
  mcp_http *h = s->owner;
  mvm_error e;
  va_list ap;

  e.code = code;
  snprintf(e.where, sizeof e.where, "%s", h->where);
  va_start(ap, fmt);
  vsnprintf(e.msg, sizeof e.msg, fmt, ap);
  va_end(ap);
  if (s->kind == STREAM_GET) {
    mvm_log(MVM_LOG_WARN, h->where, "%s", e.msg);
    h->stats.get_stream = false;
  } else {
    set_pending(h, &e);
  }
  stream_free(s);
}

static int retry_delay_ms(const http_stream *s)
{
  const mcp_http *h = s->owner;

  if (s->retry_ms < 0)
    return h->default_retry_ms;
  if (s->retry_ms > h->max_retry_ms)
    return h->max_retry_ms;
  return (int)s->retry_ms;
}

/* Schedules a GET with Last-Event-ID after the stream's retry time, or
 * reports why the stream cannot be resumed. */
static void schedule_resume(http_stream *s, const char *reason)
{
  mcp_http *h = s->owner;
  char what[96];
  int delay;

  describe_request(s, what, sizeof what);
  if (s->kind != STREAM_GET && s->last_event_id == NULL) {
    stream_failed(s, MVM_EIO,
                  "the %s of server '%s' %s before the response to %s and "
                  "gave no event id to resume from",
                  stream_name(s), h->server, reason, what);
    return;
  }
  if (s->attempts >= h->max_reconnects) {
    stream_failed(s, MVM_EIO,
                  "the %s of server '%s' %s; gave up after %u reconnects "
                  "without a new event id (max_reconnects)",
                  stream_name(s), h->server, reason, s->attempts);
    return;
  }
  end_exchange(s);
  if (s->kind == STREAM_POST)
    s->kind = STREAM_RESUME;
  s->attempts++;
  delay = retry_delay_ms(s);
  s->due_ms = now_ms() + delay;
  mvm_log(MVM_LOG_INFO, h->where,
          "the %s of server '%s' %s; reconnecting in %d ms (attempt %u of "
          "%u, Last-Event-ID %s)",
          stream_name(s), h->server, reason, delay, s->attempts,
          h->max_reconnects, s->last_event_id != NULL ? "set" : "none");
}

/* Reports an error status on a stream that no send() waits for. */
static void settle_error_status(http_stream *s)
{
  mcp_http *h = s->owner;

  if (s->kind == STREAM_GET && s->status == 405) {
    mvm_log(MVM_LOG_DEBUG, h->where,
            "server '%s' offers no GET stream (HTTP 405)", h->server);
    h->stats.get_stream = false;
    stream_free(s);
    return;
  }
  stream_failed(s, MVM_EIO, "server '%s' rejected the GET that opens the "
                "%s with HTTP %ld: %.*s",
                h->server, stream_name(s), s->status,
                (int)s->data.len, s->data.data != NULL ? s->data.data : "");
}

/* Handles a stream whose HTTP exchange ended, unless send() waits on it. */
static void settle_stream(http_stream *s)
{
  mcp_http *h = s->owner;
  mvm_error e = {0};
  char reason[CURL_ERROR_SIZE + 32];
  int rc;

  if (s->fail_code != MVM_OK) {
    stream_failed(s, s->fail_code, "%s", s->fail.msg);
    return;
  }
  if (!s->headers_done) {
    snprintf(reason, sizeof reason, "could not connect: %s",
             s->errbuf[0] ? s->errbuf : curl_easy_strerror(s->result));
    schedule_resume(s, reason);
    return;
  }
  switch (s->body) {
  case BODY_ERROR:
    settle_error_status(s);
    return;
  case BODY_JSON:
    if (s->result != CURLE_OK) {
      stream_failed(s, MVM_EIO, "the connection to server '%s' broke "
                    "while reading a JSON body: %s",
                    h->server, curl_easy_strerror(s->result));
      return;
    }
    rc = take_messages(s, s->data.data, s->data.len);
    if (rc == MVM_ENOMEM) {
      mvm_error_set(&e, rc, h->where, "out of memory reading server '%s'",
                    h->server);
      set_pending(h, &e);
    }
    stream_free(s);
    return;
  case BODY_SSE:
    mvm_sse_finish(&s->sse, &e);
    if (s->kind != STREAM_GET && (s->request_id == NULL || s->response_seen)) {
      stream_free(s);
      return;
    }
    snprintf(reason, sizeof reason, "%s",
             s->result == CURLE_OK ? "ended" : curl_easy_strerror(s->result));
    schedule_resume(s, reason);
    return;
  case BODY_NONE:
    stream_free(s);
    return;
  }
}

/* Marks the streams whose transfers curl completed. */
static void collect_done(mcp_http *h)
{
  CURLMsg *msg;
  int left;

  while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
    http_stream *s = NULL;

    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
    if (s == NULL)
      continue;
    s->finished = true;
    s->result = msg->data.result;
  }
}

/* Settles finished streams and closes resumed streams whose response has
 * arrived; servers may keep those open. */
static void settle_all(mcp_http *h)
{
  http_stream *s = h->streams;

  while (s != NULL) {
    http_stream *next = s->next;

    if (s->in_send || s->curl == NULL) {
      s = next;
      continue;
    }
    if (s->finished)
      settle_stream(s);
    else if (s->kind == STREAM_RESUME && s->response_seen)
      stream_free(s);
    else if (s->fail_code != MVM_OK)
      settle_stream(s);
    s = next;
  }
}

/* Starts the reconnects that are due. */
static void start_due(mcp_http *h)
{
  long long now = now_ms();
  http_stream *s = h->streams;

  while (s != NULL) {
    http_stream *next = s->next;
    mvm_error e = {0};

    if (s->curl == NULL && s->due_ms != 0 && now >= s->due_ms) {
      s->due_ms = 0;
      if (start_exchange(s, &e) != MVM_OK)
        stream_failed(s, e.code, "%s", e.msg);
    }
    s = next;
  }
}

/* Milliseconds until the next reconnect is due, or -1 when none waits. */
static long long next_due_in(const mcp_http *h)
{
  long long best = -1;
  long long now = now_ms();
  const http_stream *s;

  for (s = h->streams; s != NULL; s = s->next) {
    long long in;

    if (s->curl != NULL || s->due_ms == 0)
      continue;
    in = s->due_ms > now ? s->due_ms - now : 0;
    if (best < 0 || in < best)
      best = in;
  }
  return best;
}

/* Runs every transfer as far as it goes without blocking. */
static void step(mcp_http *h)
{
  int running = 0;

  start_due(h);
  curl_multi_perform(h->multi, &running);
  collect_done(h);
  settle_all(h);
}

/* Blocks until a transfer has activity, a reconnect is due, or wait_ms
 * passed. */
static void wait_activity(mcp_http *h, long long wait_ms)
{
  long long due = next_due_in(h);

  if (due >= 0 && due < wait_ms)
    wait_ms = due;
  if (wait_ms <= 0)
    return;
  curl_multi_poll(h->multi, NULL, 0, (int)wait_ms, NULL);
}

/* ------------------------------------------------------------ the ops */

/* Interval at which a wait polls the host's cancelled() callback. */
#define CANCEL_POLL_MS 100

/* Drives the transfers until the stream's final headers arrived (or, with
 * whole_body, until its transfer ended) or deadline passed. Returns false
 * on the timeout, or when cancelled() returned true (h->interrupted). */
static bool wait_stream(mcp_http *h, http_stream *s, bool whole_body,
                        long long deadline)
{
  h->interrupted = false;
  for (;;) {
    long long left;

    step(h);
    if (s->finished || (s->headers_done && !whole_body) ||
        s->fail_code != MVM_OK)
      return true;
    if (h->cancelled != NULL && h->cancelled(h->cancelled_ctx)) {
      h->interrupted = true;
      return false;
    }
    left = deadline - now_ms();
    if (left <= 0)
      return false;
    if (h->cancelled != NULL && left > CANCEL_POLL_MS)
      left = CANCEL_POLL_MS;
    wait_activity(h, left);
  }
}

/* Fills the request id and "initialize" flag of a message to send, and
 * *cancelled with the requestId of a notifications/cancelled (a new
 * reference, or NULL). Returns MVM_EINVAL when the text is not one JSON
 * object. */
static int inspect_message(mcp_http *h, http_stream *s, const char *msg,
                           size_t len, bool *initialize, json_t **cancelled,
                           mvm_error *err)
{
  json_error_t jerr;
  json_t *root = json_loadb(msg, len, 0, &jerr);
  const json_t *method;
  const json_t *id;

  if (!json_is_object(root)) {
    json_decref(root);
    return mvm_error_set(err, MVM_EINVAL, h->where,
                         "a message to server '%s' must be one JSON "
                         "object; batches are never sent",
                         h->server);
  }
  method = json_object_get(root, "method");
  id = json_object_get(root, "id");
  *initialize = json_is_string(method) &&
                strcmp(json_string_value(method), "initialize") == 0;
  if (json_is_string(method) && id != NULL)
    s->request_id = json_incref((json_t *)id);
  if (json_is_string(method) && id == NULL &&
      strcmp(json_string_value(method), "notifications/cancelled") == 0)
    *cancelled = json_incref(json_object_get(json_object_get(root, "params"),
                                             "requestId"));
  json_decref(root);
  return MVM_OK;
}

/* Closes the stream of a cancelled request, or drops its pending
 * reconnect. The server learns of the cancellation from the notification,
 * not from the closed connection. */
static void drop_cancelled(mcp_http *h, const json_t *request_id)
{
  http_stream *s = h->streams;

  while (s != NULL) {
    http_stream *next = s->next;

    if (!s->in_send && s->kind != STREAM_GET && s->request_id != NULL &&
        json_equal(s->request_id, request_id)) {
      mvm_log(MVM_LOG_DEBUG, h->where,
              "closed the %s of a request to server '%s' that the client "
              "cancelled",
              stream_name(s), h->server);
      h->stats.cancelled++;
      stream_free(s);
    }
    s = next;
  }
}

/* Drops the session: the GET stream and anything waiting to reconnect
 * belong to it. */
static void forget_session(mcp_http *h)
{
  http_stream *s = h->streams;

  while (s != NULL) {
    http_stream *next = s->next;

    if (!s->in_send && s->kind != STREAM_POST)
      stream_free(s);
    s = next;
  }
  free(h->session_id);
  h->session_id = NULL;
  free(h->revision);
  h->revision = NULL;
  h->stats.get_stream = false;
}

static int take_session_id(mcp_http *h, http_stream *s, mvm_error *err)
{
  char *copy;

  if (s->session_id[0] == '\0')
    return MVM_OK;
  if (!session_id_valid(s->session_id))
    return mvm_error_set(err, MVM_EPROTOCOL, h->where,
                         "server '%s' sent an invalid Mcp-Session-Id: it "
                         "must be 1 to %d visible ASCII characters",
                         h->server, MVM_MCP_HTTP_MAX_SESSION_ID);
  copy = strdup(s->session_id);
  if (copy == NULL)
    return mvm_error_set(err, MVM_ENOMEM, h->where, "out of memory");
  free(h->session_id);
  h->session_id = copy;
  mvm_log(MVM_LOG_DEBUG, h->where, "server '%s' started a session",
          h->server);
  return MVM_OK;
}

/* Turns the final status of a POST into the result of send(). */
static int check_post_status(mcp_http *h, http_stream *s, bool initialize,
                             mvm_error *err)
{
  const char *hint = "";

  if (s->status == 404 && s->sent_session) {
    forget_session(h);
    return mvm_error_set(err, MVM_ESTATE, h->where,
                         "server '%s' no longer knows the session (HTTP "
                         "404); initialize again",
                         h->server);
  }
  if (s->status < 200 || s->status > 299) {
    if (s->status == 401 || s->status == 403)
      hint = "; check the credentials in the server's headers";
    else if (s->status == 400)
      hint = "; the server rejected the request or its session headers";
    return mvm_error_set(err, MVM_EPROTOCOL, h->where,
                         "server '%s' answered POST with HTTP %ld%s: %.*s",
                         h->server, s->status, hint, (int)s->data.len,
                         s->data.data != NULL ? s->data.data : "");
  }
  /* A failure in the body (a limit) is reported by recv(), like one that
   * comes later; only a rejected content type ends send() here. */
  if (s->fail_code != MVM_OK && s->body == BODY_NONE) {
    *err = s->fail;
    return s->fail_code;
  }
  if (s->request_id != NULL && s->body == BODY_NONE)
    return mvm_error_set(err, MVM_EPROTOCOL, h->where,
                         "server '%s' answered a request with HTTP %ld "
                         "and no JSON or SSE body",
                         h->server, s->status);
  if (initialize)
    return take_session_id(h, s, err);
  return MVM_OK;
}

static int http_send(mvm_mcp_transport *t, const char *msg, size_t len,
                     mvm_error *err)
{
  mcp_http *h = (mcp_http *)t;
  http_stream *s;
  bool initialize = false;
  json_t *cancelled = NULL;
  long long deadline;
  bool arrived;
  int rc;

  if (len > h->max_message_bytes)
    return mvm_error_set(err, MVM_ELIMIT, h->where,
                         "a message of %zu bytes to server '%s' is over "
                         "max_message_bytes (%zu)",
                         len, h->server, h->max_message_bytes);
  s = stream_new(h, STREAM_POST);
  if (s == NULL)
    return mvm_error_set(err, MVM_ENOMEM, h->where, "out of memory");
  s->in_send = true;
  rc = inspect_message(h, s, msg, len, &initialize, &cancelled, err);
  if (rc)
    goto out;
  s->payload = malloc(len + 1);
  if (s->payload == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, h->where, "out of memory");
    goto out;
  }
  memcpy(s->payload, msg, len);
  s->payload[len] = '\0';
  s->payload_len = len;
  if (initialize && h->session_id != NULL)
    forget_session(h);
  rc = start_exchange(s, err);
  if (rc)
    goto out;

  deadline = now_ms() + h->response_timeout_ms;
  arrived = wait_stream(h, s, false, deadline);
  if (!arrived && h->interrupted) {
    rc = mvm_error_set(err, MVM_ECANCELLED, h->where,
                       "interrupted while waiting for the reply headers of "
                       "server '%s'",
                       h->server);
    goto out;
  }
  if (!arrived) {
    rc = mvm_error_set(err, MVM_ETIMEOUT, h->where,
                       "server '%s' sent no response headers within %d ms "
                       "(response_timeout_ms)",
                       h->server, h->response_timeout_ms);
    goto out;
  }
  if (!s->headers_done && s->fail_code == MVM_OK) {
    rc = mvm_error_set(err, MVM_EIO, h->where,
                       "cannot reach server '%s' at its URL: %s", h->server,
                       s->errbuf[0] ? s->errbuf
                                    : curl_easy_strerror(s->result));
    goto out;
  }
  if (s->body == BODY_ERROR)
    wait_stream(h, s, true, deadline);
  rc = check_post_status(h, s, initialize, err);
  if (rc)
    goto out;
  s->in_send = false;
  s = NULL;
  step(h);

out:
  if (s != NULL)
    stream_free(s);
  /* The client has abandoned the request, even when this POST failed. */
  if (cancelled != NULL)
    drop_cancelled(h, cancelled);
  json_decref(cancelled);
  return rc;
}

static int http_recv(mvm_mcp_transport *t, int timeout_ms, char **msg,
                     size_t *len, mvm_error *err)
{
  mcp_http *h = (mcp_http *)t;
  long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

  for (;;) {
    queued_msg *m;
    long long left;

    step(h);
    m = queue_pop(h);
    if (m != NULL) {
      *msg = m->text;
      *len = m->len;
      free(m);
      return MVM_OK;
    }
    if (h->pending_code != MVM_OK) {
      int code = h->pending_code;

      if (err != NULL)
        *err = h->pending;
      h->pending_code = MVM_OK;
      return code;
    }
    left = deadline < 0 ? 1000 : deadline - now_ms();
    if (left <= 0)
      return mvm_error_set(err, MVM_ETIMEOUT, h->where,
                           "no message from server '%s' within %d ms",
                           h->server, timeout_ms);
    wait_activity(h, left);
  }
}

/* Opens the GET stream and waits briefly for its headers, so a server that
 * has none (405) is known at once. The stream goes on in the background
 * after the wait. */
static int open_get_stream(mcp_http *h, mvm_error *err)
{
  http_stream *s = stream_new(h, STREAM_GET);
  long long deadline;
  int rc;

  if (s == NULL)
    return mvm_error_set(err, MVM_ENOMEM, h->where, "out of memory");
  rc = start_exchange(s, err);
  if (rc) {
    stream_free(s);
    return rc;
  }
  h->stats.get_stream = true;
  s->in_send = true;
  deadline = now_ms() + MVM_MCP_HTTP_GET_OPEN_WAIT_MS;
  wait_stream(h, s, false, deadline);
  /* An error status is settled once its short body is read. */
  if (s->body == BODY_ERROR)
    wait_stream(h, s, true, deadline);
  s->in_send = false;
  step(h);
  return MVM_OK;
}

static int http_negotiated(mvm_mcp_transport *t, const char *revision,
                           mvm_error *err)
{
  mcp_http *h = (mcp_http *)t;
  char *copy = strdup(revision);
  const http_stream *s;

  if (copy == NULL)
    return mvm_error_set(err, MVM_ENOMEM, h->where, "out of memory");
  free(h->revision);
  h->revision = copy;
  if (h->no_get_stream)
    return MVM_OK;
  for (s = h->streams; s != NULL; s = s->next)
    if (s->kind == STREAM_GET)
      return MVM_OK;
  return open_get_stream(h, err);
}

/* Ends the session with DELETE. 405 means the server does not let clients
 * end sessions, which is fine. */
static void delete_session(mcp_http *h)
{
  http_stream *s = stream_new(h, STREAM_GET);
  struct curl_slist *list = NULL;
  long status = 0;
  CURLcode rc;

  if (s == NULL)
    return;
  s->curl = curl_easy_init();
  list = build_headers(s);
  if (s->curl == NULL || list == NULL) {
    curl_slist_free_all(list);
    stream_free(s);
    return;
  }
  s->headers = list;
  curl_easy_setopt(s->curl, CURLOPT_URL, h->url);
  curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, "DELETE");
  curl_easy_setopt(s->curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)h->close_timeout_ms);
  curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)h->close_timeout_ms);
  set_no_proxy(s->curl);
  curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->headers);
  h->stats.deletes++;
  rc = curl_easy_perform(s->curl);
  curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK)
    mvm_log(MVM_LOG_DEBUG, h->where,
            "DELETE of the session on server '%s' failed: %s", h->server,
            curl_easy_strerror(rc));
  else if (status != 405 && (status < 200 || status > 299))
    mvm_log(MVM_LOG_DEBUG, h->where,
            "server '%s' answered DELETE of the session with HTTP %ld",
            h->server, status);
  /* The handle was never added to the multi handle, so removing it there
   * in stream_free is a harmless no-op. */
  stream_free(s);
}

static void http_close(mvm_mcp_transport *t)
{
  mcp_http *h = (mcp_http *)t;
  queued_msg *m;
  size_t i;

  if (h == NULL)
    return;
  while (h->streams != NULL)
    stream_free(h->streams);
  if (h->session_id != NULL && h->multi != NULL)
    delete_session(h);
  while ((m = queue_pop(h)) != NULL) {
    free(m->text);
    free(m);
  }
  if (h->multi != NULL)
    curl_multi_cleanup(h->multi);
  if (h->headers != NULL) {
    for (i = 0; h->headers[i] != NULL; i++)
      free(h->headers[i]);
    free(h->headers);
  }
  free(h->session_id);
  free(h->revision);
  free(h->server);
  free(h->url);
  free(h);
}

static const mvm_mcp_transport_ops http_ops = {
    .kind = "http",
    .send = http_send,
    .recv = http_recv,
    .negotiated = http_negotiated,
    .close = http_close,
};

static int copy_headers(mcp_http *h, const char *const *headers,
                        mvm_error *err)
{
  size_t n = 0;
  size_t i;

  while (headers != NULL && headers[n] != NULL)
    n++;
  h->headers = calloc(n + 1, sizeof *h->headers);
  if (h->headers == NULL)
    return mvm_error_set(err, MVM_ENOMEM, h->where, "out of memory");
  for (i = 0; i < n; i++) {
    if (!header_line_valid(headers[i]))
      return mvm_error_set(err, MVM_EINVAL, h->where,
                           "header %zu for server '%s' is not one "
                           "\"Name: value\" line; fix the server's headers "
                           "in the configuration",
                           i + 1, h->server);
    h->headers[i] = strdup(headers[i]);
    if (h->headers[i] == NULL)
      return mvm_error_set(err, MVM_ENOMEM, h->where, "out of memory");
  }
  return MVM_OK;
}

static int pick(int value, int fallback)
{
  return value > 0 ? value : fallback;
}

static void apply_limits(mcp_http *h, const mvm_mcp_http_config *cfg)
{
  h->connect_timeout_ms = pick(cfg->connect_timeout_ms,
                               MVM_MCP_HTTP_DEFAULT_CONNECT_TIMEOUT_MS);
  h->response_timeout_ms = pick(cfg->response_timeout_ms,
                                MVM_MCP_HTTP_DEFAULT_RESPONSE_TIMEOUT_MS);
  h->cancelled = cfg->cancelled;
  h->cancelled_ctx = cfg->cancelled_ctx;
  h->close_timeout_ms =
      pick(cfg->close_timeout_ms, MVM_MCP_HTTP_DEFAULT_CLOSE_TIMEOUT_MS);
  h->max_message_bytes = cfg->max_message_bytes > 0
                             ? cfg->max_message_bytes
                             : MVM_MCP_HTTP_DEFAULT_MAX_MESSAGE;
  h->max_queue =
      cfg->max_queue > 0 ? cfg->max_queue : MVM_MCP_HTTP_DEFAULT_MAX_QUEUE;
  h->max_reconnects = cfg->max_reconnects > 0
                          ? cfg->max_reconnects
                          : MVM_MCP_HTTP_DEFAULT_MAX_RECONNECTS;
  h->default_retry_ms =
      pick(cfg->default_retry_ms, MVM_MCP_HTTP_DEFAULT_RETRY_MS);
  h->max_retry_ms = pick(cfg->max_retry_ms, MVM_MCP_HTTP_DEFAULT_MAX_RETRY_MS);
  h->no_get_stream = cfg->no_get_stream;
}

int mvm_mcp_http_open(const mvm_mcp_http_config *cfg,
                      mvm_mcp_transport **out, mvm_error *err)
{
  mcp_http *h = NULL;
  int rc;

  *out = NULL;
  if (cfg == NULL || cfg->server == NULL || cfg->server[0] == '\0')
    return mvm_error_set(err, MVM_EINVAL, "mcp:http",
                         "an HTTP MCP server needs a name");
  if (cfg->url == NULL || !url_valid(cfg->url))
    return mvm_error_set(err, MVM_EINVAL, "mcp:http",
                         "server '%s' needs a URL starting with http:// or "
                         "https://",
                         cfg->server);
  h = calloc(1, sizeof *h);
  if (h == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "mcp:http", "out of memory");
  h->base.ops = &http_ops;
  snprintf(h->where, sizeof h->where, "mcp:%s", cfg->server);
  apply_limits(h, cfg);
  h->server = strdup(cfg->server);
  h->url = strdup(cfg->url);
  h->multi = curl_multi_init();
  if (h->server == NULL || h->url == NULL || h->multi == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, h->where, "out of memory");
    goto out;
  }
  h->base.server = h->server;
  rc = copy_headers(h, cfg->headers, err);
  if (rc)
    goto out;
  *out = &h->base;
  return MVM_OK;

out:
  http_close(&h->base);
  return rc;
}

int mvm_mcp_http_stats_get(const mvm_mcp_transport *t,
                           mvm_mcp_http_stats *out)
{
  const mcp_http *h = (const mcp_http *)t;
  const http_stream *s;

  if (t == NULL || t->ops != &http_ops)
    return MVM_EINVAL;
  *out = h->stats;
  out->streams = 0;
  for (s = h->streams; s != NULL; s = s->next)
    if (s->kind != STREAM_GET && s->request_id != NULL && !s->response_seen)
      out->streams++;
  return MVM_OK;
}

const char *mvm_mcp_http_session(const mvm_mcp_transport *t)
{
  if (t == NULL || t->ops != &http_ops)
    return NULL;
  return ((const mcp_http *)t)->session_id;
}
