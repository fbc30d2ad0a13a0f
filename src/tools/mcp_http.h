/* mcp_http.h - the MCP Streamable HTTP transport (protocol revisions
 * 2025-03-26 to 2025-11-25), over libcurl.
 *
 * Every message the client sends is one HTTP POST to the endpoint with
 * "Accept: application/json, text/event-stream". A notification or a
 * response gets 202 Accepted. A request gets either one JSON body or an
 * SSE stream that may carry server requests and notifications before the
 * response. Every message found is queued, and recv() returns them in
 * arrival order. send() returns once the response headers arrived, so the
 * body of an SSE stream is read later, inside recv() and send(), while the
 * client responds to the server's requests with further POSTs.
 *
 * The session id from the initialize response ("Mcp-Session-Id") is sent
 * on every later request, and "MCP-Protocol-Version" once negotiated() was
 * called. HTTP 404 on a request that carried a session id makes send()
 * return MVM_ESTATE and forget the session, so the client can initialize
 * again.
 *
 * After negotiated() the transport opens a GET stream for messages the
 * server sends on its own. 405 means the server offers none; any other
 * failure is logged and the transport goes on without one.
 *
 * Resumption: the transport tracks the last SSE event id of each stream.
 * When a POST stream ends before the response to its request arrived, it
 * waits the stream's "retry" time (default_retry_ms when the server gave
 * none, capped at max_retry_ms) and reconnects with GET and
 * "Last-Event-ID", at most max_reconnects times in a row without a new
 * event id. A server may end a stream at will once it sent an event id
 * (SSE polling in revision 2025-11-25), so any new id, a priming event's
 * included, restarts the count. The GET stream reconnects the same way.
 * A stream that cannot be resumed (no event id, retries exhausted, a
 * reconnect rejected with an HTTP error) makes recv() fail once with
 * MVM_EIO, naming the request.
 *
 * When the client sends notifications/cancelled for a request, the
 * transport closes that request's stream after the POST, or drops its
 * pending reconnect, so an abandoned request does not keep polling.
 *
 * Everything runs on the caller's thread through one curl multi handle,
 * so streams make progress only inside send(), recv() and negotiated().
 *
 * Limits: a JSON body or an SSE event over max_message_bytes and a queue
 * over max_queue messages are MVM_ELIMIT errors that name the limit,
 * returned by the next recv(). The stream concerned is dropped. The
 * transport never sends JSON-RPC batches and rejects a message that is
 * not one JSON object.
 *
 * close() sends DELETE with the session id (405 is fine), stops every
 * stream and frees the transport.
 */
#ifndef MVM_TOOLS_MCP_HTTP_H
#define MVM_TOOLS_MCP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"
#include "tools/mcp_transport.h"

#define MVM_MCP_HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define MVM_MCP_HTTP_DEFAULT_RESPONSE_TIMEOUT_MS 30000
#define MVM_MCP_HTTP_DEFAULT_CLOSE_TIMEOUT_MS 2000
#define MVM_MCP_HTTP_DEFAULT_MAX_MESSAGE (8u * 1024 * 1024)
#define MVM_MCP_HTTP_DEFAULT_MAX_QUEUE 1024
#define MVM_MCP_HTTP_DEFAULT_MAX_RECONNECTS 3
#define MVM_MCP_HTTP_DEFAULT_RETRY_MS 1000
#define MVM_MCP_HTTP_DEFAULT_MAX_RETRY_MS 30000
/* A session id is 1 to this many visible ASCII characters (0x21-0x7E). */
#define MVM_MCP_HTTP_MAX_SESSION_ID 256
/* Bytes of an error body quoted in an error message. */
#define MVM_MCP_HTTP_ERROR_EXCERPT 200

typedef struct mvm_mcp_http_config {
  const char *server; /* name in logs and errors; required */
  const char *url;    /* http:// or https:// endpoint; required */
  /* Extra request headers, "Name: value", NULL-terminated; may be NULL.
   * Bearer tokens arrive here from the configuration layer. Values are
   * never logged. */
  const char *const *headers;
  int connect_timeout_ms;  /* 0: MVM_MCP_HTTP_DEFAULT_CONNECT_TIMEOUT_MS */
  int response_timeout_ms; /* wait for the headers of a reply; 0: default */
  int close_timeout_ms;    /* the DELETE at close; 0: default */
  size_t max_message_bytes; /* JSON body, one SSE event; 0: default */
  size_t max_queue;         /* messages received, not yet read; 0: default */
  unsigned max_reconnects;  /* in a row per stream; 0: default */
  int default_retry_ms;     /* reconnect delay without "retry"; 0: default */
  int max_retry_ms;         /* cap on the server's "retry"; 0: default */
  bool no_get_stream;       /* never open the GET stream */
  /* Polled about every 100 ms while send() or close() waits for a reply's
   * headers. Once it returns true, send() fails with MVM_ECANCELLED and
   * close() stops waiting for the DELETE. May be NULL. */
  bool (*cancelled)(void *ctx);
  void *cancelled_ctx;
} mvm_mcp_http_config;

/* Counters for tests and diagnostics. */
typedef struct mvm_mcp_http_stats {
  unsigned long posts;       /* POST requests sent */
  unsigned long gets;        /* GET requests sent, reconnects included */
  unsigned long reconnects;  /* GETs with Last-Event-ID */
  unsigned long messages;    /* messages queued */
  unsigned long deletes;     /* DELETE requests sent */
  unsigned long cancelled;   /* streams closed because their request was
                                cancelled */
  size_t streams;            /* streams of requests awaiting a response,
                                open or waiting to reconnect */
  bool get_stream;           /* a GET stream is open or will reconnect */
} mvm_mcp_http_stats;

/* Prepares the transport for cfg->url; nothing is sent before the first
 * send(). Everything in cfg is copied. The caller closes *out with
 * (*out)->ops->close(*out), or hands it to mvm_mcp_client_open. Fails with
 * MVM_EINVAL for a missing server name or URL, a URL that is not http://
 * or https://, or a header line that is not "Name: value" on one line;
 * MVM_ENOMEM when allocation fails. */
int mvm_mcp_http_open(const mvm_mcp_http_config *cfg,
                      mvm_mcp_transport **out, mvm_error *err);

/* Copies the transport's counters into *out. Returns MVM_EINVAL when t is
 * not an HTTP transport. */
int mvm_mcp_http_stats_get(const mvm_mcp_transport *t,
                           mvm_mcp_http_stats *out);

/* Returns the current session id (borrowed, valid until the next call on
 * t), or NULL when there is none or t is not an HTTP transport. */
const char *mvm_mcp_http_session(const mvm_mcp_transport *t);

#endif
