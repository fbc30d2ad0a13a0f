/* monitor_internal.h - the state of one run's monitor, shared by
 * monitor.c (the mvm_monitor_ops), decide.c (decisions) and explain.c. */
#ifndef MVM_MONITOR_MONITOR_INTERNAL_H
#define MVM_MONITOR_MONITOR_INTERNAL_H

#include "monitor/policy_internal.h"

/* The properties of one tool, merged from every declaration whose pattern
 * matches it, and the budgets that count its calls. Merging never
 * weakens: consequential wins over readonly, sink readers unite, trusted
 * arguments unite, ask on an untrusted context only if no declaration
 * sets deny. */
typedef struct pol_tool_info {
  bool consequential;
  unsigned consequential_line; /* 0: the default (not declared readonly) */
  const char **trusted_args;   /* borrowed from the declarations */
  size_t ntrusted_args;
  unsigned trusted_line;
  mvm_verdict untrusted_verdict;
  unsigned untrusted_line;
  pol_sink_kind sink;
  mvm_label *sink_label;       /* owned; the static readers */
  const char **sink_args;      /* borrowed */
  size_t nsink_args;
  unsigned sink_line;          /* 0: the default (everyone) */
  size_t *decls;               /* matching declarations, in file order */
  size_t ndecls;
  size_t *budgets;             /* matching per-pattern call budgets */
  size_t nbudgets;
} pol_tool_info;

/* A bound on the tool info cache; past it, infos are built per call. */
#define POL_TOOL_CACHE_MAX 4096

typedef struct pol_monitor {
  mvm_policy *policy;
  mvm_policy_monitor_config cfg;
  char *lock_path;     /* owned copy, or NULL: pins in memory only */
  double start;
  pol_matcher matcher;

  pol_map tool_cache;  /* target -> index into infos */
  pol_tool_info *infos;
  size_t ninfos;

  mvm_policy_counters counters;
  uint64_t *budget_calls; /* per policy budget: calls counted */

  json_t *models;      /* program model name -> identity */
  json_t *lock;        /* the lock document */
  json_t *run_tools;   /* "server.tool" -> true, loaded in this run */

  json_t *trace;       /* explain: an array of notes, or NULL */
} pol_monitor;

double pol_now(const pol_monitor *m);

/* Returns the merged properties of a tool (cached). Fails with
 * MVM_ENOMEM. *out is borrowed from the monitor, or, past the cache
 * bound, owned by `scratch`, which the caller frees with
 * pol_tool_info_clear. */
int pol_tool_info_get(pol_monitor *m, const char *target,
                      pol_tool_info *scratch, const pol_tool_info **out);
void pol_tool_info_clear(pol_tool_info *info);

/* Decides one effect (decide.c). */
int pol_decide(pol_monitor *m, const mvm_effect *e, mvm_decision *d,
               mvm_error *err);

/* Computes the label of a tool result (decide.c). */
int pol_result_label(pol_monitor *m, const mvm_effect *call,
                     const json_t *result, mvm_label **out, mvm_error *err);

/* Collects the result values that `secret` lines cover (decide.c). */
int pol_result_secrets(pol_monitor *m, const mvm_effect *call,
                       const json_t *result, json_t **out, mvm_error *err);

/* Returns a new reference to the readers a provider may see. */
mvm_label *pol_provider_sink(const mvm_policy *p, const char *provider,
                             unsigned *line);

/* The identity of the model a call or query goes to: the effect's own, or
 * the one recorded when the program loaded it. Borrowed; NULL if
 * unknown. */
const json_t *pol_model_identity(const pol_monitor *m, const mvm_effect *e);

/* Adds a note to the explain trace when one is being kept. */
void pol_note(pol_monitor *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns the state behind a monitor from mvm_policy_monitor_new, or NULL
 * for a monitor of another kind. */
pol_monitor *pol_monitor_of(const mvm_monitor *monitor);

/* An effect read from its JSON form (see mvm_policy_explain), with the
 * labels it owns. Its strings and JSON are borrowed from the object it was
 * read from. */
typedef struct pol_json_effect {
  mvm_effect e;
  mvm_label *args_label;
  mvm_label *context_label;
  mvm_arg_label *arg_labels;
  mvm_label **arg_label_refs;
  size_t narg;
} pol_json_effect;

/* Reads effect number `index` of an explain input. Fails with MVM_EINVAL
 * naming the index and the field, or MVM_ENOMEM; clear je either way. */
int pol_json_effect_parse(const json_t *obj, size_t index,
                          pol_json_effect *je, mvm_error *err);
void pol_json_effect_clear(pol_json_effect *je);

/* Writes the lock file when the monitor may; logs a failure. */
void pol_save_lock(pol_monitor *m);

#endif
