/* vmfake.h - small adapters for VM tests: a scripted model, a recording
 * toolbox, a configurable monitor, a scripted user and an in-memory
 * store. They use only the adapter tables in mvm.h.
 *
 * Each fake owns the JSON it records and releases it in its *_free. */
#ifndef MVM_TEST_VMFAKE_H
#define MVM_TEST_VMFAKE_H

#include <stdbool.h>

#include "mvm.h"

/* A model that returns scripted replies in order and records each
 * request. Running out of replies is MVM_EMODEL. */
typedef struct vmfake_model {
  json_t *replies;  /* array of reply objects */
  size_t next;
  json_t *requests; /* every request received */
  json_t *identity; /* what identity() returns */
  int fail_status;  /* non-zero: call() fails with it */
} vmfake_model;

/* Parses `replies_json` (an array) and sets up the model; aborts the test
 * on invalid JSON. */
void vmfake_model_init(vmfake_model *m, const char *replies_json);
mvm_model vmfake_model_adapter(vmfake_model *m);
void vmfake_model_free(vmfake_model *m);

/* A toolbox with tools "echo" (returns its "text" argument) and "add"
 * (returns {"sum"}), recording every call as {"name", "args"}. */
typedef struct vmfake_tools {
  const char *server;
  json_t *calls;
  size_t list_calls;
  int fail_status; /* non-zero: call() fails with it */
} vmfake_tools;

void vmfake_tools_init(vmfake_tools *t, const char *server);
mvm_toolbox vmfake_tools_adapter(vmfake_tools *t);
void vmfake_tools_free(vmfake_tools *t);

/* A monitor that gives each effect kind a fixed verdict (allow by
 * default), records every check as {"effect", "target", "args",
 * "args_label", "context_label", "detail", "narg_labels"} and every record()
 * as {"effect", "target", "outcome"}. */
typedef struct vmfake_monitor {
  mvm_verdict verdict[MVM_EFFECT_COUNT];
  const char *deny_target; /* when set, only this target gets the verdict */
  int check_status;        /* non-zero: check() fails with it */
  const char *result_source; /* result_label(): this source, or trusted
                                when "" */
  bool with_result_label;
  json_t *checks;
  json_t *records;
} vmfake_monitor;

void vmfake_monitor_init(vmfake_monitor *m);
mvm_monitor vmfake_monitor_adapter(vmfake_monitor *m);
void vmfake_monitor_free(vmfake_monitor *m);

/* A user who answers `answer` to questions and `confirm` (1 yes, 0 no,
 * -1 not present) to confirmations, recording prompts and shown texts. */
typedef struct vmfake_user {
  const char *answer;
  int confirm;
  json_t *prompts;
  json_t *shown;
} vmfake_user;

void vmfake_user_init(vmfake_user *u, const char *answer, int confirm);
mvm_user vmfake_user_adapter(vmfake_user *u);
void vmfake_user_free(vmfake_user *u);

/* A memory store: key -> {"value", "label"} in a JSON object. */
typedef struct vmfake_memory {
  json_t *store;
  size_t puts;
} vmfake_memory;

void vmfake_memory_init(vmfake_memory *m);
mvm_memory vmfake_memory_adapter(vmfake_memory *m);
void vmfake_memory_free(vmfake_memory *m);

/* Returns a label with one integrity source (a new reference). */
mvm_label *vmfake_source_label(const char *source);

#endif
