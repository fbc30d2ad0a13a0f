/* policy.h - the reference monitor: policy files, the evaluator that
 * decides every effect, result labels, budgets and pinned identities.
 *
 * The language is described in docs/policy.md. A policy is parsed once into
 * an immutable mvm_policy, which any number of monitors may share. A monitor
 * contains the state of one run (budgets, loaded models, pins) and is not
 * thread-safe, so each run needs its own.
 *
 * Ownership: mvm_policy_parse, mvm_policy_load_file and
 * mvm_policy_permissive return a policy the caller frees with
 * mvm_policy_free, after every monitor built on it is freed. A monitor
 * borrows its policy and is freed with mvm_policy_monitor_free.
 */
#ifndef MVM_MONITOR_POLICY_H
#define MVM_MONITOR_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm.h"

/* Hard limits on policy text; crossing one is a parse error that names
 * the limit. */
#define MVM_POLICY_MAX_BYTES (1024u * 1024)
#define MVM_POLICY_MAX_LINE 4096
#define MVM_POLICY_MAX_TOKENS 256    /* tokens on one line; bounds lists */
#define MVM_POLICY_MAX_STATEMENTS 20000 /* rules, declarations, budgets */
#define MVM_POLICY_MAX_BLOCK_LINES 512  /* lines inside one block */

typedef struct mvm_policy mvm_policy;

/* Parses policy text[0..len). `name` names the text in parse errors
 * ("name:line:col: message") and, cut to its last path component, in the
 * rule locations of decisions ("email.policy:14"). Fails with MVM_EPARSE
 * (invalid text) or MVM_ELIMIT (a limit above), with err->msg naming the
 * position and the offending text, or MVM_ENOMEM. */
int mvm_policy_parse(const char *text, size_t len, const char *name,
                     mvm_policy **out, mvm_error *err);

/* Reads and parses the policy file at `path` (at most
 * MVM_POLICY_MAX_BYTES). The policy remembers the path, so its default
 * lock file is PATH.lock. Fails like mvm_policy_parse, or with
 * MVM_ENOTFOUND / MVM_EIO when the file cannot be read. */
int mvm_policy_load_file(const char *path, mvm_policy **out, mvm_error *err);

/* Returns the built-in permissive policy: every effect is allowed, no
 * result is labelled (trusted and public), nothing is pinned. It disables
 * every protection this module gives, so runs under it must be marked
 * unsafe. Fails with MVM_ENOMEM. */
int mvm_policy_permissive(mvm_policy **out, mvm_error *err);

void mvm_policy_free(mvm_policy *policy);

/* True for the policy from mvm_policy_permissive. */
bool mvm_policy_is_permissive(const mvm_policy *policy);

/* Returns the lock file a monitor uses by default: the policy file's path
 * with ".lock" appended, or NULL for a policy parsed from text or the
 * permissive one. Borrowed from the policy. */
const char *mvm_policy_lock_path(const mvm_policy *policy);

/* Returns, in *out, a new JSON object describing the policy for
 * `mvm policy check`: {"name", "pin", "rules": n, "tools": n, "budgets":
 * [...], "sinks": {...}, "warnings": [{"line", "message"}]}. Warnings name
 * rules that can never decide anything (an allow shadowed by an
 * unconditional deny of the same pattern) and settings that weaken the
 * policy. Fails with MVM_ENOMEM. */
int mvm_policy_summary(const mvm_policy *policy, json_t **out,
                       mvm_error *err);

/* ------------------------------------------------------------- monitors */

/* Seconds on a monotonic clock; ctx is the config's clock_ctx. */
typedef double (*mvm_policy_clock)(void *ctx);

typedef struct mvm_policy_monitor_config {
  /* The lock file holding pinned tool and model identities. NULL: the
   * policy's default (mvm_policy_lock_path), which for a policy without a
   * file means pins live in memory for this run only. */
  const char *lock_path;
  bool lock_read_only; /* never write the lock file (explain, dry runs) */
  bool no_user;        /* nobody can confirm: an ask becomes a deny */
  mvm_policy_clock clock; /* NULL: CLOCK_MONOTONIC */
  void *clock_ctx;
  /* The clock value when the run started, for the time budget; a negative
   * value means "when the monitor is created". */
  double start_time;
} mvm_policy_monitor_config;

/* Fills cfg with the defaults: the policy's lock file, writable, a user
 * may be present, the monotonic clock, the run starting now. */
void mvm_policy_monitor_config_init(mvm_policy_monitor_config *cfg);

/* Creates a monitor for one run of `policy` (borrowed; it must outlive the
 * monitor). cfg may be NULL for the defaults and is copied; lock_path is
 * copied too. Reads the lock file when there is one; a missing lock file
 * is an empty one. Fails with MVM_ECONFIG when the lock file is not a
 * valid lock, MVM_EIO when it cannot be read, MVM_ENOMEM. */
int mvm_policy_monitor_new(mvm_policy *policy,
                           const mvm_policy_monitor_config *cfg,
                           mvm_monitor *out, mvm_error *err);

/* Frees a monitor from mvm_policy_monitor_new and clears *monitor. A
 * monitor of another kind, or a cleared one, is left alone. */
void mvm_policy_monitor_free(mvm_monitor *monitor);

/* What a run has used so far, as record() counted it. */
typedef struct mvm_policy_counters {
  uint64_t tool_calls;
  uint64_t model_calls;    /* model.call and model.query */
  uint64_t input_tokens;
  uint64_t output_tokens;
  double cost_usd;         /* the sum of the replies' "cost_usd" */
  uint64_t calls_without_cost; /* model replies with no "cost_usd" */
  double elapsed_s;        /* clock time since the run started */
  uint64_t allowed;        /* check() verdicts */
  uint64_t denied;
  uint64_t asked;
} mvm_policy_counters;

/* Fills *out with the counters of a monitor from mvm_policy_monitor_new.
 * Fails with MVM_EINVAL for a monitor of another kind. */
int mvm_policy_monitor_counters(const mvm_monitor *monitor,
                                mvm_policy_counters *out);

/* Collects, in *out (a new array of strings), the values of a tool call's
 * result that the policy marks secret. With `result secret` these are the
 * text of every text item, every embedded text resource and the
 * structured content. With `field NAME secret` it is that field of the
 * structured content. A value that is not a string is given as its
 * compact JSON text. The
 * host registers them with the audit log's redactor before it records the
 * result. Fails with MVM_EINVAL for a monitor of another kind. */
int mvm_policy_monitor_result_secrets(const mvm_monitor *monitor,
                                      const mvm_effect *call,
                                      const json_t *result, json_t **out,
                                      mvm_error *err);

/* ------------------------------------------------------------- explain */

/*
 * Decides effects written as JSON, for `mvm policy explain` and tests:
 *   {"effect": "tool.call", "target": "mail.send", "args": {...},
 *    "args_label": LABEL, "arg_labels": {"to": LABEL, ...},
 *    "context_label": LABEL, "identity": {...}, "detail": {...},
 *    "outcome": {...}}
 * where LABEL is the mvm_label_to_json form and every field but "effect"
 * is optional. `effects` is one such object or an array of them, decided
 * in order by one monitor. An allowed effect is recorded with its
 * "outcome", so budgets and loaded models carry over, and a tool.call's
 * result label is computed from its outcome. *out is a new array with one
 * {"effect", "target", "verdict", "rule", "reason", "trace": [...],
 * "result_label"?} per effect; "trace" lists every rule that was
 * considered and why it did or did not apply. cfg may be NULL; the lock
 * file is never written. Fails with MVM_EINVAL (naming the field and the
 * index) for malformed effects, or the monitor's errors.
 */
int mvm_policy_explain(mvm_policy *policy, const json_t *effects,
                       const mvm_policy_monitor_config *cfg, json_t **out,
                       mvm_error *err);

/* Returns "allow", "deny" or "ask". */
const char *mvm_policy_verdict_name(mvm_verdict verdict);

#endif
