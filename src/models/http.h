/* http.h - HTTP POST for the model adapters over libcurl: one reused
 * connection per client, timeouts, cancellation, a cap on the response
 * size, and retries with exponential backoff and full jitter.
 *
 * A client is owned by one adapter and used by one thread at a time. It
 * follows no redirects (a redirect could carry the API key to another
 * host), speaks only http and https, and never logs header values. */
#ifndef MVM_MODELS_HTTP_H
#define MVM_MODELS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/buf.h"
#include "mvm.h"

/* Bytes of a non-2xx body kept for the error message. */
#define MVM_HTTP_ERROR_BODY_MAX (64u * 1024)

typedef struct mvm_http_client mvm_http_client;

typedef struct mvm_http_options {
  const char *where;        /* names the adapter in logs ("model:openai") */
  double connect_timeout_s; /* per connection attempt */
  double timeout_s;         /* per attempt, whole transfer */
  /* Streamed requests (on_body set): the longest wait for the next bytes,
   * counted from the start of the attempt and then from the last bytes
   * received. 0: no limit. libcurl checks it about once a second, so a
   * limit under a second acts at about one second. */
  double idle_timeout_s;
  int max_attempts;         /* >= 1 */
  double retry_base_s;      /* backoff ceiling of the first retry */
  double retry_max_s;       /* max wait; a longer Retry-After ends retries */
  size_t max_response_bytes;
} mvm_http_options;

typedef struct mvm_http_request {
  const char *url;
  const char *const *headers; /* "Name: value" lines; values may be keys */
  size_t nheaders;
  const char *body;
  size_t body_len;
  /* Streamed requests: receives the body of a 2xx response as it arrives.
   * A non-zero return aborts the transfer and is returned by
   * mvm_http_post; the callback fills its own error record. NULL: the
   * body is collected into the response. */
  int (*on_body)(void *ctx, const char *bytes, size_t len);
  /* Called before each attempt so the receiver can reset its state. */
  void (*on_attempt)(void *ctx);
  /* Returns true once the receiver has passed data on to its caller,
   * after which a failed attempt is not retried. */
  bool (*delivered)(void *ctx);
  void *ctx;
  const mvm_model_stream *stream; /* cancellation; may be NULL */
} mvm_http_request;

typedef struct mvm_http_response {
  long status;           /* HTTP status of the last attempt */
  mvm_buf body;          /* collected body, or the body of an error */
  char request_id[128];  /* x-request-id or request-id header, or "" */
  double retry_after_s;  /* Retry-After of the last attempt, or -1 */
  int attempts;          /* attempts made */
} mvm_http_response;

/* Creates a client. Fails with MVM_ENOMEM or MVM_EIO (curl failed to
 * initialise). */
int mvm_http_client_new(const mvm_http_options *opts, mvm_http_client **out,
                        mvm_error *err);
void mvm_http_client_free(mvm_http_client *client);

/* Prepares resp for mvm_http_post; release it with
 * mvm_http_response_free. */
void mvm_http_response_init(mvm_http_response *resp);
void mvm_http_response_free(mvm_http_response *resp);

/* POSTs the request, retrying on HTTP 429, 500, 502, 503, 504 and on
 * connection failures and timeouts while nothing has been delivered,
 * up to max_attempts. Each retry is logged. Returns MVM_OK when a response
 * arrived, whatever its status, because the caller parses error bodies:
 * check resp->status for 2xx. Fails with MVM_ECANCELLED when
 * stream->cancelled returned true, MVM_ETIMEOUT when the last attempt
 * timed out or a stream stayed silent for idle_timeout_s, MVM_ELIMIT when the body is over max_response_bytes,
 * MVM_EMODEL when the server could not be reached, or the on_body
 * callback's status. */
int mvm_http_post(mvm_http_client *client, const mvm_http_request *req,
                  mvm_http_response *resp, mvm_error *err);

/* Parses a Retry-After value: delay seconds or an HTTP date, relative to
 * `now`. Returns false when the value is neither; a date in the past gives
 * 0. */
bool mvm_http_parse_retry_after(const char *value, time_t now,
                                double *seconds);

/* Returns the backoff before retry number `retry` (1 for the first) with
 * full jitter: uniform in [0, min(max_s, base_s * 2^(retry-1))]. `unit`
 * is a random number in [0, 1). */
double mvm_http_backoff(double base_s, double max_s, int retry, double unit);

/* Returns true for a status worth retrying: 429, 500, 502, 503, 504. */
bool mvm_http_status_retryable(long status);

#endif
