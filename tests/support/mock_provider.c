/* mock_provider.c - the libmicrohttpd server behind mock_provider.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "mock_provider.h"

struct queued {
  mvm_mock_response r; /* strings below are owned copies */
  char *content_type;
  char *headers;
  char *body;
};

struct mvm_mock_provider {
  struct MHD_Daemon *daemon;
  char url[64];
  pthread_mutex_t lock;
  struct queued *queue;
  size_t queued;
  size_t next;
  mvm_mock_request *requests;
  size_t nrequests;
};

/* Per-connection state while a request body arrives. */
struct incoming {
  char *body;
  size_t len;
};

/* A body being sent in chunks. */
struct sending {
  char *body;
  size_t len;
  size_t chunk;
  int delay_ms;
  size_t cut;
};

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (ms > 0 && nanosleep(&ts, &ts) != 0)
    ;
}

static char *dup_bytes(const char *s, size_t len)
{
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return NULL;
  if (len > 0)
    memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
  json_t *headers = cls;
  char name[128];
  size_t i;

  for (i = 0; key[i] != '\0' && i + 1 < sizeof name; i++)
    name[i] = (char)tolower((unsigned char)key[i]);
  name[i] = '\0';
  json_object_set_new(headers, name, json_string(value ? value : ""));
  return MHD_YES;
}

static void record_request(mvm_mock_provider *mock,
                           struct MHD_Connection *conn, const char *method,
                           const char *url, struct incoming *in)
{
  mvm_mock_request req;

  memset(&req, 0, sizeof req);
  snprintf(req.method, sizeof req.method, "%s", method);
  snprintf(req.path, sizeof req.path, "%s", url);
  req.headers = json_object();
  MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header,
                            req.headers);
  req.body = in->body ? in->body : dup_bytes("", 0);
  req.body_len = in->len;
  in->body = NULL;

  pthread_mutex_lock(&mock->lock);
  mvm_mock_request *list =
      realloc(mock->requests, (mock->nrequests + 1) * sizeof *list);
  if (list != NULL) {
    mock->requests = list;
    list[mock->nrequests++] = req;
  } else {
    json_decref(req.headers);
    free(req.body);
  }
  pthread_mutex_unlock(&mock->lock);
}

/* Takes the next queued response; false when the queue is empty. */
static bool next_response(mvm_mock_provider *mock, struct queued *out)
{
  bool found = false;

  pthread_mutex_lock(&mock->lock);
  if (mock->next < mock->queued) {
    *out = mock->queue[mock->next];
    memset(&mock->queue[mock->next], 0, sizeof mock->queue[mock->next]);
    mock->next++;
    found = true;
  }
  pthread_mutex_unlock(&mock->lock);
  return found;
}

static ssize_t send_chunk(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct sending *s = cls;
  size_t limit = s->cut > 0 && s->cut < s->len ? s->cut : s->len;

  if (pos >= limit)
    return s->cut > 0 ? MHD_CONTENT_READER_END_WITH_ERROR
                      : MHD_CONTENT_READER_END_OF_STREAM;
  if (pos > 0 && s->delay_ms > 0)
    sleep_ms(s->delay_ms);

  size_t n = limit - (size_t)pos;
  if (s->chunk > 0 && n > s->chunk)
    n = s->chunk;
  if (n > max)
    n = max;
  memcpy(buf, s->body + pos, n);
  return (ssize_t)n;
}

static void free_sending(void *cls)
{
  struct sending *s = cls;
  free(s->body);
  free(s);
}

static void add_headers(struct MHD_Response *resp, const char *lines)
{
  char line[1024];
  const char *p = lines;

  while (p != NULL && *p != '\0') {
    size_t len = strcspn(p, "\n");
    if (len < sizeof line) {
      memcpy(line, p, len);
      line[len] = '\0';
      char *colon = strchr(line, ':');
      if (colon != NULL) {
        *colon = '\0';
        char *value = colon + 1;
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

static struct MHD_Response *make_response(struct queued *q)
{
  struct MHD_Response *resp;
  size_t len = q->r.body_len;

  if (q->r.chunk_bytes == 0 && q->r.cut_after == 0) {
    resp = MHD_create_response_from_buffer(len, q->body ? q->body : "",
                                           MHD_RESPMEM_MUST_COPY);
  } else {
    struct sending *s = calloc(1, sizeof *s);
    if (s == NULL)
      return NULL;
    s->body = q->body;
    q->body = NULL;
    s->len = len;
    s->chunk = q->r.chunk_bytes;
    s->delay_ms = q->r.chunk_delay_ms;
    s->cut = q->r.cut_after;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
                                             send_chunk, s, free_sending);
    if (resp == NULL)
      free_sending(s);
  }
  if (resp == NULL)
    return NULL;
  MHD_add_response_header(resp, "Content-Type",
                          q->content_type ? q->content_type
                                          : "application/json");
  add_headers(resp, q->headers);
  return resp;
}

static void free_queued(struct queued *q)
{
  free(q->content_type);
  free(q->headers);
  free(q->body);
  memset(q, 0, sizeof *q);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
  mvm_mock_provider *mock = cls;
  struct incoming *in = *con_cls;
  struct queued q;

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

  record_request(mock, conn, method, url, in);
  if (!next_response(mock, &q)) {
    static const char empty[] =
        "{\"error\": {\"message\": \"the mock provider has no response "
        "queued\", \"type\": \"mock_error\"}}";
    memset(&q, 0, sizeof q);
    q.r.status = 599;
    q.body = dup_bytes(empty, sizeof empty - 1);
    q.r.body_len = sizeof empty - 1;
  }
  if (q.r.delay_ms > 0)
    sleep_ms(q.r.delay_ms);

  struct MHD_Response *resp = make_response(&q);
  enum MHD_Result ret = MHD_NO;
  if (resp != NULL) {
    ret = MHD_queue_response(conn, (unsigned)q.r.status, resp);
    MHD_destroy_response(resp);
  }
  free_queued(&q);
  return ret;
}

static void request_done(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
  struct incoming *in = *con_cls;
  if (in == NULL)
    return;
  free(in->body);
  free(in);
  *con_cls = NULL;
}

mvm_mock_provider *mvm_mock_start(void)
{
  mvm_mock_provider *mock = calloc(1, sizeof *mock);
  struct sockaddr_in addr;

  if (mock == NULL)
    return NULL;
  pthread_mutex_init(&mock->lock, NULL);

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
    pthread_mutex_destroy(&mock->lock);
    free(mock);
    return NULL;
  }

  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(mock->daemon, MHD_DAEMON_INFO_BIND_PORT);
  snprintf(mock->url, sizeof mock->url, "http://127.0.0.1:%u",
           info ? (unsigned)info->port : 0u);
  return mock;
}

static void clear_locked(mvm_mock_provider *mock)
{
  for (size_t i = mock->next; i < mock->queued; i++)
    free_queued(&mock->queue[i]);
  free(mock->queue);
  mock->queue = NULL;
  mock->queued = 0;
  mock->next = 0;

  for (size_t i = 0; i < mock->nrequests; i++) {
    json_decref(mock->requests[i].headers);
    free(mock->requests[i].body);
  }
  free(mock->requests);
  mock->requests = NULL;
  mock->nrequests = 0;
}

void mvm_mock_stop(mvm_mock_provider *mock)
{
  if (mock == NULL)
    return;
  MHD_stop_daemon(mock->daemon);
  clear_locked(mock);
  pthread_mutex_destroy(&mock->lock);
  free(mock);
}

const char *mvm_mock_url(const mvm_mock_provider *mock)
{
  return mock->url;
}

int mvm_mock_push(mvm_mock_provider *mock, const mvm_mock_response *resp)
{
  struct queued q;
  size_t len = resp->body_len;

  if (resp->body != NULL && len == 0)
    len = strlen(resp->body);
  memset(&q, 0, sizeof q);
  q.r = *resp;
  q.r.body_len = len;
  q.content_type = resp->content_type ? strdup(resp->content_type) : NULL;
  q.headers = resp->headers ? strdup(resp->headers) : NULL;
  q.body = dup_bytes(resp->body ? resp->body : "", len);
  if (q.body == NULL) {
    free_queued(&q);
    return -1;
  }

  pthread_mutex_lock(&mock->lock);
  struct queued *list = realloc(mock->queue, (mock->queued + 1) * sizeof *list);
  if (list == NULL) {
    pthread_mutex_unlock(&mock->lock);
    free_queued(&q);
    return -1;
  }
  mock->queue = list;
  list[mock->queued++] = q;
  pthread_mutex_unlock(&mock->lock);
  return 0;
}

int mvm_mock_push_file(mvm_mock_provider *mock, int status,
                       const char *content_type, const char *path,
                       const mvm_mock_response *options)
{
  FILE *f = fopen(path, "rb");
  char *data = NULL;
  size_t len = 0;
  char chunk[8192];
  size_t n;

  if (f == NULL)
    return -1;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    char *grown = realloc(data, len + n + 1);
    if (grown == NULL) {
      free(data);
      fclose(f);
      return -1;
    }
    data = grown;
    memcpy(data + len, chunk, n);
    len += n;
  }
  fclose(f);

  mvm_mock_response r;
  memset(&r, 0, sizeof r);
  if (options != NULL)
    r = *options;
  r.status = status;
  r.content_type = content_type;
  r.body = data ? data : "";
  r.body_len = len;
  int rc = mvm_mock_push(mock, &r);
  free(data);
  return rc;
}

size_t mvm_mock_request_count(mvm_mock_provider *mock)
{
  pthread_mutex_lock(&mock->lock);
  size_t n = mock->nrequests;
  pthread_mutex_unlock(&mock->lock);
  return n;
}

const mvm_mock_request *mvm_mock_request_at(mvm_mock_provider *mock,
                                            size_t i)
{
  const mvm_mock_request *req = NULL;
  pthread_mutex_lock(&mock->lock);
  if (i < mock->nrequests)
    req = &mock->requests[i];
  pthread_mutex_unlock(&mock->lock);
  return req;
}

size_t mvm_mock_pending(mvm_mock_provider *mock)
{
  pthread_mutex_lock(&mock->lock);
  size_t n = mock->queued - mock->next;
  pthread_mutex_unlock(&mock->lock);
  return n;
}

void mvm_mock_reset(mvm_mock_provider *mock)
{
  pthread_mutex_lock(&mock->lock);
  clear_locked(mock);
  pthread_mutex_unlock(&mock->lock);
}
