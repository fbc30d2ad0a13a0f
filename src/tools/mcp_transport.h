/* mcp_transport.h - the message transport under the MCP client.
 *
 * A transport moves whole JSON-RPC messages (one JSON object per message,
 * never a batch) between the client and one server. The stdio transport
 * writes a line per message to the child's stdin and reads lines from its
 * stdout; the Streamable HTTP transport POSTs each message and queues the
 * messages found in the reply (JSON or an SSE stream) and on the GET stream,
 * so the client sees the same send/receive pair for both. */
#ifndef MVM_TOOLS_MCP_TRANSPORT_H
#define MVM_TOOLS_MCP_TRANSPORT_H

#include <stddef.h>

#include "mvm.h"

typedef struct mvm_mcp_transport mvm_mcp_transport;

typedef struct mvm_mcp_transport_ops {
  const char *kind; /* "stdio" or "http" */
  /* Sends one message (a compact JSON text without a newline). Returns
   * MVM_ESTATE when an HTTP server no longer knows the session (404), so
   * the client can initialize again once. */
  int (*send)(mvm_mcp_transport *t, const char *msg, size_t len,
              mvm_error *err);
  /* Waits up to timeout_ms (-1: forever) for the next message. Returns
   * MVM_ETIMEOUT when none arrived, MVM_EIO when the peer is gone. *msg is
   * malloc'd, owned by the caller, NUL-terminated. */
  int (*recv)(mvm_mcp_transport *t, int timeout_ms, char **msg, size_t *len,
              mvm_error *err);
  /* Called once the initialize response is accepted, with the negotiated
   * protocol revision (HTTP sends it as MCP-Protocol-Version). May be NULL. */
  int (*negotiated)(mvm_mcp_transport *t, const char *revision,
                    mvm_error *err);
  /* Shuts the connection down in order and frees the transport. */
  void (*close)(mvm_mcp_transport *t);
} mvm_mcp_transport_ops;

struct mvm_mcp_transport {
  const mvm_mcp_transport_ops *ops;
  const char *server; /* server name for logs; owned by the transport */
};

#endif
