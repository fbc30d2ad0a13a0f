/* connect.h - how a run opens its policy and its MCP servers. */
#ifndef MVM_RUNTIME_CONNECT_H
#define MVM_RUNTIME_CONNECT_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"
#include "runtime/agent.h"

/* A loaded policy and the monitor that enforces it. */
typedef struct mvm_agent_policy {
  bool permissive;     /* the monitor is off: everything is allowed */
  mvm_monitor monitor; /* valid until mvm_agent_policy_close */
  void *state;         /* owned by connect.c */
} mvm_agent_policy;

/* Loads the policy at `path`, or the permissive one when path is
 * MVM_POLICY_PERMISSIVE. Fails with MVM_ECONFIG (parse errors name
 * file:line:col) or MVM_ENOTFOUND. */
int mvm_agent_policy_open(const char *path, mvm_agent_policy *out,
                          mvm_error *err);
void mvm_agent_policy_close(mvm_agent_policy *policy);

/* Starts every server in an mcpServers file and returns its toolboxes in
 * boxes[0..*n). On failure every server already started is stopped and
 * *n is 0. Fails with MVM_ECONFIG for an invalid file, MVM_ETOOL when a
 * server does not start or respond to initialize (naming it), and
 * MVM_ECANCELLED when hooks->interrupted is set while servers start. */
int mvm_agent_open_servers(const char *mcp_config,
                           const mvm_agent_hooks *hooks, mvm_toolbox *boxes,
                           size_t max, size_t *n, mvm_error *err);

#endif
