/* mcp_client.h - the MCP client core, over any mvm_mcp_transport.
 *
 * One client talks to one server. mvm_mcp_client_open sends initialize,
 * checks the protocol revision the server responds with, then sends
 * notifications/initialized. The client is single-threaded: it reads from
 * the transport only inside its own calls, and while it waits for a
 * response it also responds to the server's requests (ping, roots/list,
 * elicitation/create, sampling/createMessage) and handles its
 * notifications (progress, tools/list_changed, log messages).
 *
 * Protocol revisions: it requests MVM_MCP_LATEST_REVISION and accepts a
 * server that responds with any revision in MVM_MCP_REVISIONS.
 *
 * Ownership: the client owns its transport from mvm_mcp_client_open on
 * (also when open fails) and closes it in mvm_mcp_client_close. JSON it
 * returns through out parameters is a new reference the caller releases
 * with json_decref. Callbacks borrow what they are given for the duration
 * of the call.
 */
#ifndef MVM_TOOLS_MCP_CLIENT_H
#define MVM_TOOLS_MCP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm.h"
#include "tools/mcp_transport.h"

/* Revisions mvm speaks, newest first. A server that responds with another
 * revision is rejected with MVM_EPROTOCOL. */
#define MVM_MCP_LATEST_REVISION "2025-11-25"
#define MVM_MCP_REVISIONS "2025-11-25", "2025-06-18", "2025-03-26"

#define MVM_MCP_DEFAULT_INIT_TIMEOUT_MS 30000
#define MVM_MCP_DEFAULT_REQUEST_TIMEOUT_MS 60000
#define MVM_MCP_DEFAULT_MAX_TIMEOUT_MS 600000
#define MVM_MCP_DEFAULT_MAX_MESSAGE (8u * 1024 * 1024)
#define MVM_MCP_DEFAULT_MAX_PAGES 100
#define MVM_MCP_DEFAULT_MAX_TOOLS 1000
#define MVM_MCP_DEFAULT_MAX_CONTENT 1000

/* JSON-RPC error code mvm returns when it rejects a sampling request. */
#define MVM_MCP_SAMPLING_REJECTED (-1)

typedef struct mvm_mcp_client mvm_mcp_client;

/* A filesystem root offered to the server through roots/list. */
typedef struct mvm_mcp_root {
  const char *uri;  /* a file:// URI */
  const char *name; /* may be NULL */
} mvm_mcp_root;

/* A host handler for a server's request for the user (elicitation/create)
 * or for a model (sampling/createMessage). `params` are the request's
 * params. On MVM_OK, *result is a new reference to the JSON-RPC result:
 * {"action": "accept"|"decline"|"cancel", "content": {...}} for
 * elicitation, a CreateMessageResult for sampling. A non-zero status makes
 * the client respond with a JSON-RPC error carrying err's message (code
 * -32603, or MVM_MCP_SAMPLING_REJECTED for sampling). */
typedef int (*mvm_mcp_request_fn)(void *ctx, const char *server,
                                  const json_t *params, json_t **result,
                                  mvm_error *err);

/* Reports that the server's tool list changed, after the client listed
 * the tools again: {"added": [names], "removed": [names], "changed":
 * [names]}, where a changed tool has a different title, description,
 * inputSchema, outputSchema or annotations. */
typedef void (*mvm_mcp_tools_changed_fn)(void *ctx, const char *server,
                                         const json_t *changes);

typedef struct mvm_mcp_client_opts {
  const char *revision;      /* revision to request; NULL: the latest */
  const mvm_mcp_root *roots; /* declares the roots capability when set */
  size_t nroots;
  /* Declares the elicitation capability (form mode) when set. With no
   * callback the client declines every elicitation request. */
  mvm_mcp_request_fn elicit;
  void *elicit_ctx;
  /* Declares the sampling capability when set. With no callback the
   * client rejects every sampling request. */
  mvm_mcp_request_fn sample;
  void *sample_ctx;
  mvm_mcp_tools_changed_fn tools_changed; /* may be NULL */
  void *tools_changed_ctx;
  /* Polled every 100 ms by every wait of the client, initialize and
   * tools/list included; returning true stops the wait with
   * MVM_ECANCELLED. A host sets it to stop on an interrupt (Ctrl-C). May
   * be NULL. */
  bool (*cancelled)(void *ctx);
  void *cancelled_ctx;

  int init_timeout_ms;    /* wait for the initialize response */
  int request_timeout_ms; /* per request; progress restarts it */
  int max_timeout_ms;     /* per request, whatever progress arrives */
  size_t max_message_bytes;
  unsigned max_pages;         /* tools/list pages */
  unsigned max_tools;         /* tools after de-duplication */
  unsigned max_content_items; /* content items in one tool result */
} mvm_mcp_client_opts;

/* Counters for tests and diagnostics. */
typedef struct mvm_mcp_client_stats {
  uint64_t requests_sent;
  uint64_t responses_dropped; /* null id, unknown id, or a repeat */
  uint64_t invalid_messages;  /* not JSON or not JSON-RPC */
  uint64_t server_requests;   /* requests from the server handled */
  uint64_t notifications;     /* notifications from the server */
  uint64_t progress;          /* progress notifications for our requests */
  uint64_t cancels_sent;      /* notifications/cancelled sent */
  uint64_t list_changed;      /* notifications/tools/list_changed */
  uint64_t tool_lists;        /* complete tools/list runs */
} mvm_mcp_client_stats;

/* Fills opts with zeros, which select every default. */
void mvm_mcp_client_opts_init(mvm_mcp_client_opts *opts);

/* Initializes a session over `transport` (which the client takes over,
 * and closes when this fails). opts may be NULL; roots and callbacks in
 * it must outlive the client. Fails with MVM_EPROTOCOL when the server
 * responds to initialize with an error, an invalid result or an
 * unsupported revision (the message names it and the supported ones),
 * MVM_ETIMEOUT when it does not respond within init_timeout_ms,
 * MVM_ECANCELLED when opts->cancelled returns true first, and MVM_EIO
 * when it exits. No notifications/cancelled is sent for initialize.
 * Release the client with mvm_mcp_client_close. */
int mvm_mcp_client_open(mvm_mcp_transport *transport,
                        const mvm_mcp_client_opts *opts, mvm_mcp_client **out,
                        mvm_error *err);

/* Closes the transport (for stdio: stops the server) and frees the
 * client. NULL is allowed. */
void mvm_mcp_client_close(mvm_mcp_client *client);

/* The server name the transport was opened with (borrowed). */
const char *mvm_mcp_client_server(const mvm_mcp_client *client);

/* The negotiated protocol revision (borrowed). */
const char *mvm_mcp_client_revision(const mvm_mcp_client *client);

/* The server's initialize result: protocolVersion, capabilities,
 * serverInfo and instructions (borrowed, valid until close). */
const json_t *mvm_mcp_client_server_info(const mvm_mcp_client *client);

/* The transport's kind, "stdio" or "http". */
const char *mvm_mcp_client_transport_kind(const mvm_mcp_client *client);

void mvm_mcp_client_stats_get(const mvm_mcp_client *client,
                              mvm_mcp_client_stats *out);

/* Returns the server's tools as a new JSON array of Tool objects. Lists
 * them first on first use and after notifications/tools/list_changed,
 * paging through tools/list. A repeated cursor ends the listing with a
 * warning, and a duplicate name keeps the first tool with a warning.
 * Fails with MVM_ELIMIT past max_pages pages or max_tools tools (each
 * message names its limit), MVM_EPROTOCOL for an invalid result, or a
 * transport error. A server without the tools capability has no tools. */
int mvm_mcp_client_list_tools(mvm_mcp_client *client, json_t **tools,
                              mvm_error *err);

/* Calls a tool and returns its CallToolResult in *result, with
 * "isError" always present. A tool that ran and failed is MVM_OK with
 * "isError": true. Lists the tools again first when they changed.
 * `args` (borrowed, may be NULL for {}) must be an object. opts may be
 * NULL; opts->progress gets one line per progress notification ("3/5:
 * message"), and its cancelled() callback, polled while waiting, stops
 * the call with MVM_ECANCELLED. opts->timeout_s sets the per-request
 * timeout, which progress restarts; max_timeout_ms always applies. On a
 * timeout or cancellation the client sends notifications/cancelled.
 *
 * Fails with MVM_ENOTFOUND for an unknown tool, and with MVM_ESCHEMA when
 * the arguments or the structuredContent do not match the tool's schemas.
 * Fails with MVM_ETOOL when the server responds with a JSON-RPC error,
 * MVM_EPROTOCOL for an invalid result, MVM_ELIMIT past max_content_items,
 * MVM_ETIMEOUT, or a transport error. */
int mvm_mcp_client_call_tool(mvm_mcp_client *client, const char *name,
                             const json_t *args, const mvm_tool_call_opts *opts,
                             json_t **result, mvm_error *err);

/* Sends ping and waits up to timeout_ms (0: the request timeout) for the
 * empty result. */
int mvm_mcp_client_ping(mvm_mcp_client *client, int timeout_ms, mvm_error *err);

/* Handles what the server sends for up to timeout_ms (0: only what has
 * arrived), responding to its requests, for a host that is idle between
 * calls. Fails only when the transport fails. */
int mvm_mcp_client_poll(mvm_mcp_client *client, int timeout_ms, mvm_error *err);

/* Returns the tool changes gathered since the last call, merged into one
 * {"added", "removed", "changed"} object (a new reference), or NULL when
 * nothing changed. Listing again when a change is pending happens here
 * too, so the monitor can check pinned tools before a call. */
int mvm_mcp_client_take_changes(mvm_mcp_client *client, json_t **changes,
                                mvm_error *err);

/*
 * Requests in flight. mvm_mcp_client_start sends a request and returns
 * its id. mvm_mcp_client_wait waits for the response to one id and keeps
 * responses to other ids for their own wait, so responses may arrive in
 * any order. Every started request must be waited for or abandoned.
 */

/* Sends `method` with `params` (borrowed, may be NULL). progress (may be
 * NULL) must stay valid until the wait returns; when set, the request
 * carries a progressToken. */
int mvm_mcp_client_start(mvm_mcp_client *client, const char *method,
                         const json_t *params, const mvm_model_stream *progress,
                         long long *id, mvm_error *err);

/* Waits for the response to `id`. timeout_ms (0: the request timeout) is
 * restarted by progress; max_timeout_ms is not. The cancelled() callbacks
 * of the client's opts and of the request's progress stream are polled
 * while it waits, and either one returning true ends the wait with
 * MVM_ECANCELLED. On MVM_OK *result is a
 * new reference to the result. A JSON-RPC error response is MVM_EPROTOCOL
 * with the server's code and message in err, and its code in *rpc_code
 * (may be NULL; 0 otherwise). On a timeout, a cancellation by the host or
 * an over-long response the request is abandoned as by
 * mvm_mcp_client_abandon. On a transport failure it is forgotten. */
int mvm_mcp_client_wait(mvm_mcp_client *client, long long id, int timeout_ms,
                        json_t **result, long long *rpc_code, mvm_error *err);

/* Starts and waits for one request. */
int mvm_mcp_client_request(mvm_mcp_client *client, const char *method,
                           const json_t *params, int timeout_ms,
                           json_t **result, mvm_error *err);

/* Forgets a started request and sends notifications/cancelled with
 * `reason` (never for initialize). Its late response is dropped. */
void mvm_mcp_client_abandon(mvm_mcp_client *client, long long id,
                            const char *reason);

/* Returns "sha256:<64 hex digits>" over the canonical JSON (sorted keys,
 * compact) of the tool's description and inputSchema, into buf (at least
 * 72 bytes). A tool without a description or schema hashes with null in
 * their place. */
int mvm_mcp_tool_hash(const json_t *tool, char *buf, size_t size);

/* Makes the client a toolbox: list and call go to the client, close
 * closes it. The toolbox takes over the client; its server name is the
 * client's. kind is "mcp-stdio" or "mcp-http" by transport. */
int mvm_mcp_toolbox_new(mvm_mcp_client *client, mvm_toolbox *out,
                        mvm_error *err);

/* Returns the client behind an MCP toolbox, or NULL for other toolboxes.
 * The toolbox keeps owning it. */
mvm_mcp_client *mvm_mcp_toolbox_client(const mvm_toolbox *box);

#endif
