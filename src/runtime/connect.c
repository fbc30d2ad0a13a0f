/* connect.c - opening a run's policy and MCP servers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/connect.h"
#include "runtime/settings.h"

/* The permissive monitor allows every effect and labels nothing beyond
 * the VM's defaults. Runs with it are marked unsafe in the manifest. */
static int permissive_check(void *self, const mvm_effect *effect,
                            mvm_decision *out, mvm_error *err)
{
  out->verdict = MVM_VERDICT_ALLOW;
  snprintf(out->rule, sizeof out->rule, "permissive");
  snprintf(out->reason, sizeof out->reason,
           "the monitor is off (--policy permissive): allowed unchecked");
  return MVM_OK;
}

static const mvm_monitor_ops permissive_ops = {
    .check = permissive_check,
};

int mvm_agent_policy_open(const char *path, mvm_agent_policy *out,
                          mvm_error *err)
{
  memset(out, 0, sizeof *out);
  if (strcmp(path, MVM_POLICY_PERMISSIVE) == 0) {
    out->permissive = true;
    out->monitor.ops = &permissive_ops;
    out->monitor.self = NULL;
    return MVM_OK;
  }
  return mvm_error_set(err, MVM_EUNSUPPORTED, "policy",
                       "policy files are not supported yet: %s", path);
}

void mvm_agent_policy_close(mvm_agent_policy *policy)
{
  memset(policy, 0, sizeof *policy);
}

int mvm_agent_open_servers(const char *mcp_config,
                           const mvm_agent_hooks *hooks, mvm_toolbox *boxes,
                           size_t max, size_t *n, mvm_error *err)
{
  *n = 0;
  return mvm_error_set(err, MVM_EUNSUPPORTED, "mcp",
                       "MCP servers are not supported yet: %s", mcp_config);
}
