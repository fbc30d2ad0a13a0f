/* connect.c - opening a run's policy and MCP servers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/policy.h"
#include "runtime/connect.h"
#include "runtime/settings.h"
#include "runtime/wrap.h"
#include "tools/mcp_config.h"

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

  mvm_policy *policy = NULL;
  int rc = mvm_policy_load_file(path, &policy, err);
  /* A policy that does not parse is a configuration error (exit 4). */
  if (rc == MVM_EPARSE || rc == MVM_ELIMIT)
    err->code = rc = MVM_ECONFIG;
  if (rc)
    return rc;

  rc = mvm_policy_monitor_new(policy, NULL, &out->monitor, err);
  if (rc) {
    mvm_policy_free(policy);
    return rc;
  }
  out->state = policy;
  return MVM_OK;
}

void mvm_agent_policy_close(mvm_agent_policy *policy)
{
  if (policy->state != NULL) {
    mvm_policy_monitor_free(&policy->monitor);
    mvm_policy_free(policy->state);
  }
  memset(policy, 0, sizeof *policy);
}

int mvm_agent_open_servers(const char *mcp_config,
                           const mvm_agent_hooks *hooks, mvm_toolbox *boxes,
                           size_t max, size_t *n, mvm_error *err)
{
  volatile sig_atomic_t *interrupted =
      hooks != NULL ? hooks->interrupted : NULL;
  mvm_mcp_config *config = NULL;
  mvm_mcp_client_opts opts;
  int rc;

  *n = 0;
  rc = mvm_mcp_config_load(mcp_config, &config, err);
  if (rc)
    return rc == MVM_ENOMEM || rc == MVM_ENOTFOUND || rc == MVM_EIO
               ? rc
               : (err->code = MVM_ECONFIG);
  if (config->count > max) {
    mvm_mcp_config_free(config);
    return mvm_error_set(err, MVM_ELIMIT, "mcp",
                         "%s configures %zu servers; at most %zu are "
                         "supported",
                         mcp_config, config->count, max);
  }

  mvm_mcp_client_opts_init(&opts);
  /* An interrupt ends the wait for initialize and tools/list at once. */
  opts.cancelled = mvm_wrap_flag_set;
  opts.cancelled_ctx = (void *)interrupted;
  for (size_t i = 0; i < config->count; i++) {
    const char *name = config->servers[i].name;

    if (mvm_wrap_flag_set((void *)interrupted)) {
      rc = mvm_error_set(err, MVM_ECANCELLED, "run",
                         "interrupted before MCP server '%s' was started; "
                         "the audit log is complete up to this point",
                         name);
      break;
    }
    rc = mvm_mcp_config_open(&config->servers[i], &opts, &boxes[i], err);
    if (rc && mvm_wrap_flag_set((void *)interrupted)) {
      /* A cancelled wait adds nothing to the message, but another
       * failure is kept in it. */
      char cause[MVM_ERROR_MSG_MAX + 32] = "";
      if (rc != MVM_ECANCELLED)
        snprintf(cause, sizeof cause, " (it had failed: %s)", err->msg);
      rc = mvm_error_set(err, MVM_ECANCELLED, "run",
                         "interrupted while starting MCP server '%s', which "
                         "was stopped%s; the audit log is complete up to "
                         "this point",
                         name, cause);
      break;
    }
    if (rc) {
      /* A server that does not start is a tool error (exit 8). */
      if (rc != MVM_ENOMEM && rc != MVM_ECONFIG)
        err->code = rc = MVM_ETOOL;
      break;
    }
    (*n)++;
  }
  if (rc) {
    for (size_t i = *n; i > 0; i--)
      boxes[i - 1].ops->close(boxes[i - 1].self);
    *n = 0;
  }
  mvm_mcp_config_free(config);
  return rc;
}
