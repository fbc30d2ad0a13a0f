/* mock_provider.h - a local HTTP server for tests that plays queued
 * responses byte for byte and records every request it receives.
 *
 * The server listens on 127.0.0.1 on a port the kernel picks, so tests
 * never reach another host. It sends the queued responses in the order
 * requests arrive. With the queue empty it sends HTTP 599 and a JSON
 * error body that states the queue is empty. Each connection gets its own thread, so a response may
 * stall or be cut off without blocking others. */
#ifndef MVM_MOCK_PROVIDER_H
#define MVM_MOCK_PROVIDER_H

#include <stddef.h>

#include <jansson.h>

typedef struct mvm_mock_provider mvm_mock_provider;

typedef struct mvm_mock_response {
  int status;
  const char *content_type; /* NULL: application/json */
  const char *headers;      /* extra "Name: value" lines joined by '\n' */
  const char *body;         /* NULL: empty */
  size_t body_len;          /* 0: strlen(body) */
  size_t chunk_bytes;       /* >0: send the body in chunks of this size */
  int chunk_delay_ms;       /* pause before each chunk after the first */
  size_t cut_after;         /* >0: close the connection after this many
                               body bytes, without ending the response */
  int delay_ms;             /* pause before the status line */
} mvm_mock_response;

/* One request as received. */
typedef struct mvm_mock_request {
  char method[16];
  char path[512];
  json_t *headers; /* lower-case name -> value */
  char *body;      /* NUL-terminated */
  size_t body_len;
} mvm_mock_request;

/* Starts a server. Returns NULL when it cannot listen. */
mvm_mock_provider *mvm_mock_start(void);

/* Stops the server and frees everything, including recorded requests. */
void mvm_mock_stop(mvm_mock_provider *mock);

/* Returns "http://127.0.0.1:PORT", valid until mvm_mock_stop. */
const char *mvm_mock_url(const mvm_mock_provider *mock);

/* Queues a response; the mock copies every field. Returns 0 on success. */
int mvm_mock_push(mvm_mock_provider *mock, const mvm_mock_response *resp);

/* Queues a response whose body is the content of a file. */
int mvm_mock_push_file(mvm_mock_provider *mock, int status,
                       const char *content_type, const char *path,
                       const mvm_mock_response *options);

/* Number of requests received so far. */
size_t mvm_mock_request_count(mvm_mock_provider *mock);

/* Returns request i (0-based), valid until mvm_mock_reset or stop. */
const mvm_mock_request *mvm_mock_request_at(mvm_mock_provider *mock,
                                            size_t i);

/* Number of queued responses not yet sent. */
size_t mvm_mock_pending(mvm_mock_provider *mock);

/* Drops queued responses and recorded requests. */
void mvm_mock_reset(mvm_mock_provider *mock);

#endif
