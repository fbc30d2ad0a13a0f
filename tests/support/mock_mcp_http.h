/* mock_mcp_http.h - a scripted MCP Streamable HTTP server for tests.
 *
 * The server listens on 127.0.0.1 on a port the kernel picks. Replies are
 * queued per HTTP method (POST, GET, DELETE) and sent in the order requests
 * with that method arrive, so a background GET stream cannot take a reply
 * meant for a POST. With a method's queue empty the server replies to POST
 * with 500 and a body saying so, GET with 405 and DELETE with 200.
 * Every request is recorded with its headers, body and arrival time. Each
 * connection has its own thread, so a reply can stay open while others
 * are served. */
#ifndef MVM_MOCK_MCP_HTTP_H
#define MVM_MOCK_MCP_HTTP_H

#include <stddef.h>

#include <jansson.h>

typedef struct mvm_mock_mcp mvm_mock_mcp;

typedef struct mvm_mock_mcp_reply {
  int status;
  const char *content_type; /* NULL: no Content-Type header */
  const char *headers;      /* extra "Name: value" lines joined by '\n' */
  const char *body;         /* NULL: empty; each "{{id}}" becomes the
                               JSON id of the request answered */
  /* >0: after the body, keep the response open this many milliseconds
   * (or until mvm_mock_mcp_stop) before ending it. */
  int hold_ms;
  /* Nonzero: end the response by closing the connection without the
   * final chunk, as a server that crashed would. */
  int cut;
} mvm_mock_mcp_reply;

typedef struct mvm_mock_mcp_request {
  char method[16];
  json_t *headers; /* lower-case name -> value */
  char *body;      /* NUL-terminated */
  long long at_ms; /* CLOCK_MONOTONIC arrival time in milliseconds */
} mvm_mock_mcp_request;

/* Starts a server. Returns NULL when it cannot listen. */
mvm_mock_mcp *mvm_mock_mcp_start(void);

/* Ends held responses, stops the server and frees everything. */
void mvm_mock_mcp_stop(mvm_mock_mcp *mock);

/* Returns "http://127.0.0.1:PORT/mcp", valid until stop. */
const char *mvm_mock_mcp_url(const mvm_mock_mcp *mock);

/* Queues a reply for requests with `method`; every field is copied.
 * Returns 0 on success. */
int mvm_mock_mcp_push(mvm_mock_mcp *mock, const char *method,
                      const mvm_mock_mcp_reply *reply);

/* Number of requests received so far. */
size_t mvm_mock_mcp_count(mvm_mock_mcp *mock);

/* Returns a copy of request i (0-based); free it with
 * mvm_mock_mcp_request_free. NULL when there is no such request. */
mvm_mock_mcp_request *mvm_mock_mcp_request_at(mvm_mock_mcp *mock, size_t i);

/* Returns the index of the n-th (0-based) request with `method`, or -1. */
long mvm_mock_mcp_find(mvm_mock_mcp *mock, const char *method, size_t n);

void mvm_mock_mcp_request_free(mvm_mock_mcp_request *req);

/* Returns a request header (name in lower case), or NULL. */
const char *mvm_mock_mcp_header(const mvm_mock_mcp_request *req,
                                const char *name);

/* Number of replies still queued for `method`. */
size_t mvm_mock_mcp_pending(mvm_mock_mcp *mock, const char *method);

#endif
