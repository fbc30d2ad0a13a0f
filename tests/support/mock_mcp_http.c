/* mock_mcp_http.c - a scripted MCP Streamable HTTP server on libmicrohttpd,
 * with one reply queue per HTTP method. */
#include "mock_mcp_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <microhttpd.h>

#define MOCK_METHODS 3

typedef struct reply_copy {
  int status;
  char *content_type;
  char *headers;
  char *body;
  size_t len;
  int hold_ms;
  int cut;
} reply_copy;

typedef struct reply_queue {
  reply_copy *items;
  size_t count;
  size_t next;
} reply_queue;

struct mvm_mock_mcp {
  struct MHD_Daemon *daemon;
  pthread_mutex_t lock;
  pthread_cond_t wake; /* signalled when the mock stops */
  bool stopping;
  char url[64];
  reply_queue queues[MOCK_METHODS];
  mvm_mock_mcp_request *requests;
  size_t nrequests;
};

/* A reply being sent by the content reader. */
typedef struct sending {
  mvm_mock_mcp *mock;
  reply_copy r;
} sending;

typedef struct incoming {
  char *body;
  size_t len;
} incoming;

static const char *const method_names[MOCK_METHODS] = {"POST", "GET",
                                                       "DELETE"};

static int method_index(const char *method)
{
  int i;

  for (i = 0; i < MOCK_METHODS; i++)
    if (strcmp(method, method_names[i]) == 0)
      return i;
  return -1;
}

static long long mono_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s)
{
  return s != NULL ? strdup(s) : NULL;
}

static void free_reply(reply_copy *r)
{
  free(r->content_type);
  free(r->headers);
  free(r->body);
  memset(r, 0, sizeof *r);
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
  json_t *headers = cls;
  char name[128];
  size_t i;

  (void)kind;
  for (i = 0; key[i] != '\0' && i + 1 < sizeof name; i++)
    name[i] = (char)tolower((unsigned char)key[i]);
  name[i] = '\0';
  json_object_set_new(headers, name, json_string(value ? value : ""));
  return MHD_YES;
}

static void record_request(mvm_mock_mcp *mock, struct MHD_Connection *conn,
                           const char *method, incoming *in)
{
  mvm_mock_mcp_request req;
  mvm_mock_mcp_request *list;

  memset(&req, 0, sizeof req);
  snprintf(req.method, sizeof req.method, "%s", method);
  req.headers = json_object();
  MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header,
                            req.headers);
  req.body = in->body != NULL ? in->body : strdup("");
  in->body = NULL;
  req.at_ms = mono_ms();

  pthread_mutex_lock(&mock->lock);
  list = realloc(mock->requests, (mock->nrequests + 1) * sizeof *list);
  if (list != NULL) {
    mock->requests = list;
    list[mock->nrequests++] = req;
  } else {
    json_decref(req.headers);
    free(req.body);
  }
  pthread_mutex_unlock(&mock->lock);
}

/* Takes the next reply for the method, or builds the default one. */
static void next_reply(mvm_mock_mcp *mock, const char *method,
                       reply_copy *out)
{
  int m = method_index(method);
  reply_queue *q = m >= 0 ? &mock->queues[m] : NULL;

  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&mock->lock);
  if (q != NULL && q->next < q->count) {
    *out = q->items[q->next];
    memset(&q->items[q->next], 0, sizeof q->items[q->next]);
    q->next++;
    pthread_mutex_unlock(&mock->lock);
    return;
  }
  pthread_mutex_unlock(&mock->lock);
  if (m == 0) {
    out->status = 500;
    out->body = strdup("the mock MCP server has no POST reply queued");
  } else if (m == 2) {
    out->status = 200;
  } else {
    out->status = 405;
  }
  out->len = out->body != NULL ? strlen(out->body) : 0;
}

/* Waits up to ms milliseconds or until the mock stops. */
static void hold(mvm_mock_mcp *mock, int ms)
{
  struct timespec until;

  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&mock->lock);
  while (!mock->stopping) {
    if (pthread_cond_timedwait(&mock->wake, &mock->lock, &until) != 0)
      break;
  }
  pthread_mutex_unlock(&mock->lock);
}

static ssize_t send_body(void *cls, uint64_t pos, char *buf, size_t max)
{
  sending *s = cls;
  size_t n;

  if (pos >= s->r.len) {
    if (s->r.hold_ms > 0) {
      hold(s->mock, s->r.hold_ms);
      s->r.hold_ms = 0;
    }
    return s->r.cut ? MHD_CONTENT_READER_END_WITH_ERROR
                    : MHD_CONTENT_READER_END_OF_STREAM;
  }
  n = s->r.len - (size_t)pos;
  if (n > max)
    n = max;
  memcpy(buf, s->r.body + pos, n);
  return (ssize_t)n;
}

static void free_sending(void *cls)
{
  sending *s = cls;

  free_reply(&s->r);
  free(s);
}

static void add_headers(struct MHD_Response *resp, const char *lines)
{
  const char *p = lines;

  while (p != NULL && *p != '\0') {
    size_t len = strcspn(p, "\n");
    char line[1024];
    char *colon;
    char *value;

    if (len < sizeof line) {
      memcpy(line, p, len);
      line[len] = '\0';
      colon = strchr(line, ':');
      if (colon != NULL) {
        *colon = '\0';
        value = colon + 1;
        while (*value == ' ')
          value++;
        MHD_add_response_header(resp, line, value);
      }
    }
    p += len;
    if (*p == '\n')
      p++;
  }
}

static struct MHD_Response *make_response(mvm_mock_mcp *mock, reply_copy *r)
{
  struct MHD_Response *resp;
  sending *s = calloc(1, sizeof *s);

  if (s == NULL)
    return NULL;
  s->mock = mock;
  s->r = *r;
  memset(r, 0, sizeof *r);
  resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
                                           send_body, s, free_sending);
  if (resp == NULL) {
    free_sending(s);
    return NULL;
  }
  if (s->r.content_type != NULL)
    MHD_add_response_header(resp, "Content-Type", s->r.content_type);
  add_headers(resp, s->r.headers);
  return resp;
}

/* Replaces each "{{id}}" in the reply body with the JSON id of the
 * request, so a scripted reply matches whatever id the client chose. */
static void fill_id(reply_copy *r, const char *request_body)
{
  json_t *req = json_loads(request_body, 0, NULL);
  json_t *id = json_object_get(req, "id");
  char *id_text = id != NULL ? json_dumps(id, JSON_ENCODE_ANY) : NULL;
  size_t id_len = id_text != NULL ? strlen(id_text) : 0;
  char *out;
  char *at;
  size_t n = 0;
  const char *p;

  json_decref(req);
  if (id_text == NULL || r->body == NULL || strstr(r->body, "{{id}}") == NULL) {
    free(id_text);
    return;
  }
  out = malloc(r->len * (id_len + 1) + 1);
  if (out == NULL) {
    free(id_text);
    return;
  }
  for (p = r->body; (at = strstr(p, "{{id}}")) != NULL; p = at + 6) {
    memcpy(out + n, p, (size_t)(at - p));
    n += (size_t)(at - p);
    memcpy(out + n, id_text, id_len);
    n += id_len;
  }
  strcpy(out + n, p);
  free(r->body);
  free(id_text);
  r->body = out;
  r->len = strlen(out);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
  mvm_mock_mcp *mock = cls;
  incoming *in = *con_cls;
  struct MHD_Response *resp;
  enum MHD_Result ret = MHD_NO;
  reply_copy r;
  int status;

  (void)url;
  (void)version;
  if (in == NULL) {
    in = calloc(1, sizeof *in);
    if (in == NULL)
      return MHD_NO;
    *con_cls = in;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    char *body = realloc(in->body, in->len + *upload_data_size + 1);

    if (body == NULL)
      return MHD_NO;
    memcpy(body + in->len, upload_data, *upload_data_size);
    in->len += *upload_data_size;
    body[in->len] = '\0';
    in->body = body;
    *upload_data_size = 0;
    return MHD_YES;
  }

  record_request(mock, conn, method, in);
  next_reply(mock, method, &r);
  pthread_mutex_lock(&mock->lock);
  fill_id(&r, mock->requests[mock->nrequests - 1].body);
  pthread_mutex_unlock(&mock->lock);
  status = r.status;
  resp = make_response(mock, &r);
  if (resp != NULL) {
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
  }
  free_reply(&r);
  return ret;
}

static void request_done(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
  incoming *in = *con_cls;

  (void)cls;
  (void)conn;
  (void)toe;
  if (in == NULL)
    return;
  free(in->body);
  free(in);
  *con_cls = NULL;
}

mvm_mock_mcp *mvm_mock_mcp_start(void)
{
  mvm_mock_mcp *mock = calloc(1, sizeof *mock);
  const union MHD_DaemonInfo *info;
  struct sockaddr_in addr;

  if (mock == NULL)
    return NULL;
  pthread_mutex_init(&mock->lock, NULL);
  pthread_cond_init(&mock->wake, NULL);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  mock->daemon = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
      NULL, NULL, answer, mock, MHD_OPTION_SOCK_ADDR, &addr,
      MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
      MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
  if (mock->daemon == NULL) {
    pthread_cond_destroy(&mock->wake);
    pthread_mutex_destroy(&mock->lock);
    free(mock);
    return NULL;
  }
  info = MHD_get_daemon_info(mock->daemon, MHD_DAEMON_INFO_BIND_PORT);
  snprintf(mock->url, sizeof mock->url, "http://127.0.0.1:%u/mcp",
           info != NULL ? (unsigned)info->port : 0u);
  return mock;
}

void mvm_mock_mcp_stop(mvm_mock_mcp *mock)
{
  size_t i;
  int m;

  if (mock == NULL)
    return;
  pthread_mutex_lock(&mock->lock);
  mock->stopping = true;
  pthread_cond_broadcast(&mock->wake);
  pthread_mutex_unlock(&mock->lock);
  MHD_stop_daemon(mock->daemon);
  for (m = 0; m < MOCK_METHODS; m++) {
    reply_queue *q = &mock->queues[m];

    for (i = 0; i < q->count; i++)
      free_reply(&q->items[i]);
    free(q->items);
  }
  for (i = 0; i < mock->nrequests; i++) {
    json_decref(mock->requests[i].headers);
    free(mock->requests[i].body);
  }
  free(mock->requests);
  pthread_cond_destroy(&mock->wake);
  pthread_mutex_destroy(&mock->lock);
  free(mock);
}

const char *mvm_mock_mcp_url(const mvm_mock_mcp *mock)
{
  return mock->url;
}

int mvm_mock_mcp_push(mvm_mock_mcp *mock, const char *method,
                      const mvm_mock_mcp_reply *reply)
{
  int m = method_index(method);
  reply_queue *q;
  reply_copy *items;
  reply_copy r;

  if (m < 0)
    return -1;
  memset(&r, 0, sizeof r);
  r.status = reply->status;
  r.content_type = dup_or_null(reply->content_type);
  r.headers = dup_or_null(reply->headers);
  r.body = strdup(reply->body != NULL ? reply->body : "");
  r.len = r.body != NULL ? strlen(r.body) : 0;
  r.hold_ms = reply->hold_ms;
  r.cut = reply->cut;
  if (r.body == NULL) {
    free_reply(&r);
    return -1;
  }
  pthread_mutex_lock(&mock->lock);
  q = &mock->queues[m];
  items = realloc(q->items, (q->count + 1) * sizeof *items);
  if (items == NULL) {
    pthread_mutex_unlock(&mock->lock);
    free_reply(&r);
    return -1;
  }
  q->items = items;
  q->items[q->count++] = r;
  pthread_mutex_unlock(&mock->lock);
  return 0;
}

size_t mvm_mock_mcp_count(mvm_mock_mcp *mock)
{
  size_t n;

  pthread_mutex_lock(&mock->lock);
  n = mock->nrequests;
  pthread_mutex_unlock(&mock->lock);
  return n;
}

mvm_mock_mcp_request *mvm_mock_mcp_request_at(mvm_mock_mcp *mock, size_t i)
{
  mvm_mock_mcp_request *copy = NULL;

  pthread_mutex_lock(&mock->lock);
  if (i < mock->nrequests) {
    copy = calloc(1, sizeof *copy);
    if (copy != NULL) {
      *copy = mock->requests[i];
      copy->headers = json_deep_copy(mock->requests[i].headers);
      copy->body = strdup(mock->requests[i].body);
    }
  }
  pthread_mutex_unlock(&mock->lock);
  return copy;
}

long mvm_mock_mcp_find(mvm_mock_mcp *mock, const char *method, size_t n)
{
  long found = -1;
  size_t i;

  pthread_mutex_lock(&mock->lock);
  for (i = 0; i < mock->nrequests; i++) {
    if (strcmp(mock->requests[i].method, method) != 0)
      continue;
    if (n == 0) {
      found = (long)i;
      break;
    }
    n--;
  }
  pthread_mutex_unlock(&mock->lock);
  return found;
}

void mvm_mock_mcp_request_free(mvm_mock_mcp_request *req)
{
  if (req == NULL)
    return;
  json_decref(req->headers);
  free(req->body);
  free(req);
}

const char *mvm_mock_mcp_header(const mvm_mock_mcp_request *req,
                                const char *name)
{
  return json_string_value(json_object_get(req->headers, name));
}

size_t mvm_mock_mcp_pending(mvm_mock_mcp *mock, const char *method)
{
  int m = method_index(method);
  size_t n = 0;

  if (m < 0)
    return 0;
  pthread_mutex_lock(&mock->lock);
  n = mock->queues[m].count - mock->queues[m].next;
  pthread_mutex_unlock(&mock->lock);
  return n;
}
