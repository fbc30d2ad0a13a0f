/* agent.h - one run of a program under a policy: the job `mvm run` does.
 *
 * mvm_agent_run resolves the settings, prepares the embedded demo when a
 * default needs it, assembles and verifies the program (the standard agent
 * program unless a file is given), opens the model, the MCP servers and
 * the built-in tools, loads the policy, opens the audit log, runs the
 * program, and writes the run manifest. Every decision and outcome is in
 * the audit log when it returns, whatever the status; every child process
 * it started has been stopped. It never prints: notices and events go to
 * the hooks. */
#ifndef MVM_RUNTIME_AGENT_H
#define MVM_RUNTIME_AGENT_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "mvm.h"
#include "runtime/settings.h"

#define MVM_AGENT_MAX_MODEL_BINDS 16

typedef struct mvm_agent_options {
  mvm_settings_flags flags;
  const char *program_path; /* NULL: the embedded standard agent */
  const json_t *input;      /* the task or program input; borrowed */
  /* "NAME=SPEC" bindings for programs that declare several models. */
  const char *model_binds[MVM_AGENT_MAX_MODEL_BINDS];
  size_t nmodel_binds;
  const char *record_path; /* write the model's replies here (replay) */
  uint64_t max_steps;      /* 0: the VM's default */
} mvm_agent_options;

typedef struct mvm_agent_hooks {
  mvm_event_fn on_event; /* every VM event; may be NULL */
  void *event_ctx;
  /* One line of information: which defaults apply, what was opened. */
  void (*notice)(void *ctx, const char *line);
  void *notice_ctx;
  const mvm_user *user; /* NULL: no user is present */
  /* Set by a signal handler to stop the run: model calls are cancelled
   * and no further tool call starts. May be NULL. */
  volatile sig_atomic_t *interrupted;
} mvm_agent_hooks;

typedef struct mvm_agent_result {
  int status;       /* MVM_OK or the status the run ended with */
  mvm_error error;  /* the message when status is not MVM_OK */
  json_t *answer;   /* the halt value, a new reference, or NULL */
  mvm_label *answer_label; /* its label, a reference */
  json_t *decisions; /* every monitor decision, a new reference */
  char *diagnostics; /* assembler and verifier messages, or NULL */
  bool permissive;  /* ran with the monitor off */
  char run_id[32];
  char manifest_path[PATH_MAX];
  char audit_path[PATH_MAX];
  char audit_head[65]; /* hex hash of the last audit record, or "" */
  uint64_t denied;     /* effects the monitor denied */
  bool bad_input;      /* the input does not match the program's .input */
} mvm_agent_result;

/* Runs as described at the top of this file. Returns result->status. The
 * caller releases the result with mvm_agent_result_free. */
int mvm_agent_run(const mvm_agent_options *opts, const mvm_agent_hooks *hooks,
                  mvm_agent_result *result);

void mvm_agent_result_free(mvm_agent_result *result);

#endif
