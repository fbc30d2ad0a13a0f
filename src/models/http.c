/* http.c - libcurl POST with timeouts, cancellation, size caps and
 * retries. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/log.h"
#include "models/http.h"

/* Slice of a backoff sleep between two checks for cancellation. */
#define SLEEP_SLICE_S 0.05

struct mvm_http_client {
  CURL *curl;
  mvm_http_options opts;
  char where[64];
  uint64_t rng;
  char curl_error[CURL_ERROR_SIZE];
};

/* State of one attempt, shared by the curl callbacks. */
struct attempt {
  mvm_http_client *client;
  const mvm_http_request *req;
  mvm_http_response *resp;
  bool status_known;
  bool success;     /* the status is 2xx */
  size_t total;     /* body bytes received */
  int callback_rc;  /* non-zero: on_body stopped the transfer */
  bool over_limit;  /* the body passed max_response_bytes */
  bool cancelled;
  bool idle;              /* a stream stayed silent for idle_timeout_s */
  double last_activity_s; /* monotonic time of the last bytes received */
};

static double monotonic_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t next_random(mvm_http_client *client)
{
  /* xorshift64*: jitter needs spread, not unpredictability. */
  uint64_t x = client->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  client->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static double random_unit(mvm_http_client *client)
{
  return (double)(next_random(client) >> 11) / (double)(1ULL << 53);
}

int mvm_http_client_new(const mvm_http_options *opts, mvm_http_client **out,
                        mvm_error *err)
{
  const char *where = opts->where ? opts->where : "http";

  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return mvm_error_set(err, MVM_EIO, where, "libcurl failed to start: %s",
                         curl_easy_strerror(curl_init_rc));

  mvm_http_client *client = calloc(1, sizeof *client);
  if (client == NULL)
    return mvm_error_set(err, MVM_ENOMEM, where, "out of memory");
  client->curl = curl_easy_init();
  if (client->curl == NULL) {
    free(client);
    return mvm_error_set(err, MVM_EIO, where,
                         "libcurl failed to create a handle");
  }
  client->opts = *opts;
  if (client->opts.max_attempts < 1)
    client->opts.max_attempts = 1;
  snprintf(client->where, sizeof client->where, "%s", where);
  client->opts.where = client->where;

  if (getrandom(&client->rng, sizeof client->rng, GRND_NONBLOCK) !=
      (ssize_t)sizeof client->rng)
    client->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  if (client->rng == 0)
    client->rng = 0x9E3779B97F4A7C15ULL;

  *out = client;
  return MVM_OK;
}

void mvm_http_client_free(mvm_http_client *client)
{
  if (client == NULL)
    return;
  curl_easy_cleanup(client->curl);
  free(client);
}

void mvm_http_response_init(mvm_http_response *resp)
{
  memset(resp, 0, sizeof *resp);
  mvm_buf_init(&resp->body, 0);
  resp->retry_after_s = -1;
}

void mvm_http_response_free(mvm_http_response *resp)
{
  mvm_buf_free(&resp->body);
}

bool mvm_http_status_retryable(long status)
{
  return status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

bool mvm_http_parse_retry_after(const char *value, time_t now,
                                double *seconds)
{
  size_t len = strlen(value);
  size_t i = 0;

  while (len > 0 && isspace((unsigned char)value[len - 1]))
    len--;
  while (i < len && isspace((unsigned char)value[i]))
    i++;
  if (i == len)
    return false;

  size_t digits = i;
  while (digits < len && isdigit((unsigned char)value[digits]))
    digits++;
  if (digits == len) {
    double s = 0;
    for (size_t k = i; k < len && s < 1e9; k++)
      s = s * 10 + (value[k] - '0');
    *seconds = s;
    return true;
  }

  char date[128];
  if (len - i >= sizeof date)
    return false;
  memcpy(date, value + i, len - i);
  date[len - i] = '\0';
  time_t when = curl_getdate(date, NULL);
  if (when == -1)
    return false;
  *seconds = when > now ? difftime(when, now) : 0;
  return true;
}

double mvm_http_backoff(double base_s, double max_s, int retry, double unit)
{
  double ceiling = base_s * ldexp(1.0, retry > 1 ? retry - 1 : 0);
  if (ceiling > max_s || !isfinite(ceiling))
    ceiling = max_s;
  return ceiling * unit;
}

static bool is_cancelled(const mvm_model_stream *stream)
{
  return stream != NULL && stream->cancelled != NULL &&
         stream->cancelled(stream->ctx);
}

static void note_status(struct attempt *a)
{
  long status = 0;
  if (a->status_known)
    return;
  curl_easy_getinfo(a->client->curl, CURLINFO_RESPONSE_CODE, &status);
  a->resp->status = status;
  a->success = status >= 200 && status < 300;
  a->status_known = true;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct attempt *a = userdata;
  size_t len = size * nmemb;
  mvm_buf *body = &a->resp->body;

  note_status(a);
  a->total += len;
  a->last_activity_s = monotonic_s();
  if (is_cancelled(a->req->stream)) {
    a->cancelled = true;
    return 0;
  }

  if (a->success) {
    if (a->total > a->client->opts.max_response_bytes) {
      a->over_limit = true;
      return 0;
    }
    if (a->req->on_body != NULL) {
      int rc = a->req->on_body(a->req->ctx, ptr, len);
      if (rc) {
        a->callback_rc = rc;
        return 0;
      }
      return len;
    }
    if (mvm_buf_append(body, ptr, len) != MVM_OK) {
      a->callback_rc = MVM_ENOMEM;
      return 0;
    }
    return len;
  }

  /* Keep the start of an error body; the rest is read and dropped. */
  if (body->len < MVM_HTTP_ERROR_BODY_MAX) {
    size_t room = MVM_HTTP_ERROR_BODY_MAX - body->len;
    if (mvm_buf_append(body, ptr, len < room ? len : room) != MVM_OK) {
      a->callback_rc = MVM_ENOMEM;
      return 0;
    }
  }
  return len;
}

/* Copies a header value without surrounding blanks into out. */
static void header_value(const char *start, size_t len, char *out,
                         size_t size)
{
  while (len > 0 && isspace((unsigned char)*start)) {
    start++;
    len--;
  }
  while (len > 0 && isspace((unsigned char)start[len - 1]))
    len--;
  if (len >= size)
    len = size - 1;
  memcpy(out, start, len);
  out[len] = '\0';
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
  struct attempt *a = userdata;
  size_t len = size * nitems;
  char value[128];

  a->last_activity_s = monotonic_s();
  /* A new status line starts a new response (after a 100 Continue). */
  if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
    a->resp->retry_after_s = -1;
    a->resp->request_id[0] = '\0';
    return len;
  }

  const char *colon = memchr(ptr, ':', len);
  if (colon == NULL)
    return len;
  size_t nlen = (size_t)(colon - ptr);
  header_value(colon + 1, len - nlen - 1, value, sizeof value);

  if (nlen == 11 && strncasecmp(ptr, "retry-after", 11) == 0) {
    double s;
    if (mvm_http_parse_retry_after(value, time(NULL), &s))
      a->resp->retry_after_s = s;
  } else if ((nlen == 12 && strncasecmp(ptr, "x-request-id", 12) == 0) ||
             (nlen == 10 && strncasecmp(ptr, "request-id", 10) == 0)) {
    snprintf(a->resp->request_id, sizeof a->resp->request_id, "%s", value);
  }
  return len;
}


static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
  struct attempt *a = userdata;
  double idle_limit = a->client->opts.idle_timeout_s;

  if (is_cancelled(a->req->stream)) {
    a->cancelled = true;
    return 1;
  }
  if (a->req->on_body != NULL && idle_limit > 0 &&
      monotonic_s() - a->last_activity_s > idle_limit) {
    a->idle = true;
    return 1;
  }
  return 0;
}

/* Sleeps for `seconds`, waking every slice to check for cancellation.
 * Returns true when cancelled. */
static bool sleep_cancellable(double seconds, const mvm_model_stream *stream)
{
  while (seconds > 0) {
    if (is_cancelled(stream))
      return true;
    double slice = seconds < SLEEP_SLICE_S ? seconds : SLEEP_SLICE_S;
    struct timespec ts = {(time_t)slice,
                          (long)((slice - (double)(time_t)slice) * 1e9)};
    nanosleep(&ts, NULL);
    seconds -= slice;
  }
  return is_cancelled(stream);
}

static struct curl_slist *build_headers(const mvm_http_request *req)
{
  struct curl_slist *list = NULL;

  for (size_t i = 0; i < req->nheaders; i++) {
    struct curl_slist *next = curl_slist_append(list, req->headers[i]);
    if (next == NULL)
      goto fail;
    list = next;
  }

  /* No "Expect: 100-continue" round trip before the body. */
  struct curl_slist *next = curl_slist_append(list, "Expect:");
  if (next == NULL)
    goto fail;
  return next;

fail:
  curl_slist_free_all(list);
  return NULL;
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

static void set_options(mvm_http_client *client, const mvm_http_request *req,
                        struct curl_slist *headers, struct attempt *a)
{
  CURL *curl = client->curl;
  const mvm_http_options *o = &client->opts;

  curl_easy_setopt(curl, CURLOPT_URL, req->url);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   (curl_off_t)req->body_len);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)(o->connect_timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(o->timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, a);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, client->curl_error);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  set_no_proxy(curl);
}

enum outcome {
  OUTCOME_DONE,  /* return rc to the caller */
  OUTCOME_RETRY, /* retry if attempts are left */
};

/* Classifies a finished attempt: fills rc and a reason for the retry log. */
static enum outcome classify(struct attempt *a, CURLcode code, int *rc,
                             char *reason, size_t size, mvm_error *err)
{
  mvm_http_client *client = a->client;
  const mvm_http_request *req = a->req;
  const char *where = client->where;
  bool delivered = req->delivered != NULL && req->delivered(req->ctx);

  *rc = MVM_OK;
  if (a->idle) {
    *rc = mvm_error_set(err, MVM_ETIMEOUT, where,
                        "the stream from %s sent nothing for %.1f s after "
                        "%zu bytes; raise idle_timeout_s",
                        req->url, client->opts.idle_timeout_s, a->total);
    if (delivered)
      return OUTCOME_DONE;
    snprintf(reason, size, "the stream sent nothing for %.1f s",
             client->opts.idle_timeout_s);
    return OUTCOME_RETRY;
  }
  if (a->cancelled || code == CURLE_ABORTED_BY_CALLBACK) {
    *rc = mvm_error_set(err, MVM_ECANCELLED, where,
                        "the model call was cancelled");
    return OUTCOME_DONE;
  }
  if (a->callback_rc) {
    *rc = a->callback_rc;
    if (*rc == MVM_ENOMEM)
      mvm_error_set(err, *rc, where, "out of memory reading the response");
    return OUTCOME_DONE;
  }
  if (a->over_limit) {
    *rc = mvm_error_set(err, MVM_ELIMIT, where,
                        "the model response is over the limit of %zu bytes; "
                        "raise limits.max_response_bytes",
                        client->opts.max_response_bytes);
    return OUTCOME_DONE;
  }

  if (code == CURLE_OK) {
    if (mvm_http_status_retryable(a->resp->status) && !delivered) {
      snprintf(reason, size, "HTTP %ld", a->resp->status);
      return OUTCOME_RETRY;
    }
    return OUTCOME_DONE;
  }

  const char *detail = client->curl_error[0] ? client->curl_error
                                             : curl_easy_strerror(code);
  if (code == CURLE_OPERATION_TIMEDOUT) {
    *rc = mvm_error_set(err, MVM_ETIMEOUT, where,
                        "the request to %s timed out: %s; raise timeout_s "
                        "or connect_timeout_s",
                        req->url, detail);
  } else if (delivered) {
    *rc = mvm_error_set(err, MVM_EMODEL, where,
                        "the response from %s broke off after %zu bytes: %s",
                        req->url, a->total, detail);
    return OUTCOME_DONE;
  } else {
    *rc = mvm_error_set(err, MVM_EMODEL, where,
                        "the request to %s failed: %s; check the base URL "
                        "and that the server is running",
                        req->url, detail);
  }
  if (delivered)
    return OUTCOME_DONE;
  snprintf(reason, size, "%s", detail);
  return OUTCOME_RETRY;
}

/* Returns the wait before the next attempt, or -1 when Retry-After
 * requests a longer wait than retry_max_s. */
static double retry_delay(mvm_http_client *client, int retry,
                          const mvm_http_response *resp, bool *from_header)
{
  *from_header = false;
  if (resp->retry_after_s >= 0 && mvm_http_status_retryable(resp->status)) {
    if (resp->retry_after_s > client->opts.retry_max_s)
      return -1;
    *from_header = true;
    return resp->retry_after_s;
  }
  return mvm_http_backoff(client->opts.retry_base_s, client->opts.retry_max_s,
                          retry, random_unit(client));
}

static int run_attempt(mvm_http_client *client, const mvm_http_request *req,
                       struct curl_slist *headers, mvm_http_response *resp,
                       char *reason, size_t size, bool *retry,
                       mvm_error *err)
{
  struct attempt a = {.client = client, .req = req, .resp = resp};
  int rc;

  a.last_activity_s = monotonic_s();
  mvm_buf_reset(&resp->body);
  resp->status = 0;
  resp->retry_after_s = -1;
  resp->request_id[0] = '\0';
  client->curl_error[0] = '\0';
  if (req->on_attempt != NULL)
    req->on_attempt(req->ctx);

  set_options(client, req, headers, &a);
  mvm_trace(MVM_TRACE_HTTP, "%s: POST %s (%zu bytes), attempt %d",
            client->where, req->url, req->body_len, resp->attempts + 1);
  CURLcode code = curl_easy_perform(client->curl);
  resp->attempts++;
  if (code == CURLE_OK)
    note_status(&a);
  mvm_trace(MVM_TRACE_HTTP, "%s: HTTP %ld, %zu bytes, curl: %s",
            client->where, resp->status, a.total, curl_easy_strerror(code));

  *retry = classify(&a, code, &rc, reason, size, err) == OUTCOME_RETRY;
  return rc;
}

int mvm_http_post(mvm_http_client *client, const mvm_http_request *req,
                  mvm_http_response *resp, mvm_error *err)
{
  const int max = client->opts.max_attempts;
  struct curl_slist *headers = build_headers(req);
  int rc = MVM_OK;

  if (headers == NULL)
    return mvm_error_set(err, MVM_ENOMEM, client->where, "out of memory");

  resp->attempts = 0;
  for (;;) {
    char reason[CURL_ERROR_SIZE + 32] = "";
    bool retry = false;
    bool from_header = false;

    rc = run_attempt(client, req, headers, resp, reason, sizeof reason,
                     &retry, err);
    if (!retry || resp->attempts >= max)
      break;

    double delay = retry_delay(client, resp->attempts, resp, &from_header);
    if (delay < 0) {
      mvm_log(MVM_LOG_WARN, client->where,
              "attempt %d of %d failed (%s) and Retry-After asks for %.0f s, "
              "over the %.0f s maximum wait; not retrying",
              resp->attempts, max, reason, resp->retry_after_s,
              client->opts.retry_max_s);
      break;
    }
    mvm_log(MVM_LOG_WARN, client->where,
            "attempt %d of %d failed (%s); retrying in %.2f s%s",
            resp->attempts, max, reason, delay,
            from_header ? " as Retry-After requests" : "");
    if (sleep_cancellable(delay, req->stream)) {
      rc = mvm_error_set(err, MVM_ECANCELLED, client->where,
                         "the model call was cancelled");
      break;
    }
  }

  curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(headers);
  return rc;
}
