/* vm_internal.h - the interpreter's state and the helpers its instruction
 * handlers share (src/vm/vm.c and src/vm/exec_*.c).
 *
 * Handlers run only on verified programs: operand kinds and static types
 * are asserted, not checked again. What the verifier cannot know (a JSON
 * value's runtime shape, an adapter's reply, the monitor's decision) is
 * checked here and ends in a failure branch or a run error. */
#ifndef MVM_VM_INTERNAL_H
#define MVM_VM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mvm.h"
#include "value/value.h"
#include "vm/program.h"

/* A declared model and the adapter bound to it. */
typedef struct mvm_model_slot {
  const char *name; /* borrowed from the program */
  mvm_model model;
  bool bound;
  bool loaded;
} mvm_model_slot;

/* A bound toolbox and its tool list, fetched once per run. */
typedef struct mvm_toolbox_slot {
  mvm_toolbox box;
  char *server;
  json_t *list;
} mvm_toolbox_slot;

struct mvm_vm {
  const mvm_program *prog;
  mvm_model_slot *models;
  mvm_toolbox_slot *boxes;
  size_t nboxes;

  mvm_monitor monitor;
  bool has_monitor;
  mvm_user user;
  bool has_user;
  mvm_memory memory;
  bool has_memory;
  mvm_vm_limits limits;
  mvm_event_fn on_event;
  void *event_ctx;

  /* state of the current run */
  mvm_value *regs;
  mvm_label *pc_label; /* joined by every branch on data; never lowered */
  uint32_t *stack;     /* return addresses */
  unsigned stack_cap;
  unsigned depth;
  size_t pc;
  size_t next; /* the instruction after this one; handlers change it */
  uint64_t steps;
  bool halted;
  mvm_value result;
  mvm_error *err;

  json_t *effects; /* what the default monitor allowed */
  json_t *memory_store; /* the default memory: key -> {"value", "label"} */
};

typedef int (*mvm_exec_fn)(mvm_vm *vm, const mvm_insn *in);

/* One handler per opcode, named after the stem in opcodes.h. */
#define MVM_X_DECL(id, stem, mn, group, effect, checked, ops, summary)        \
  int mvm_exec_##stem(mvm_vm *vm, const mvm_insn *in);
MVM_OPCODE_LIST(MVM_X_DECL)
#undef MVM_X_DECL

/* Returns operand k's value: the register's content, or the literal held
 * in *scratch (which borrows the program's JSON and must not be
 * cleared). */
const mvm_value *mvm_vm_arg(mvm_vm *vm, const mvm_insn *in, unsigned k,
                            mvm_value *scratch);

/* Returns the JSON of operand k (asserted to be a JSON value). */
const json_t *mvm_vm_arg_json(mvm_vm *vm, const mvm_insn *in, unsigned k);

/* Returns the label of operand k (borrowed; a history's base label). */
const mvm_label *mvm_vm_arg_label(mvm_vm *vm, const mvm_insn *in,
                                  unsigned k);

/* Writes a value to the register of operand k, joining the pc label into
 * its label. Takes the content of *v (v is left unset). */
int mvm_vm_write(mvm_vm *vm, const mvm_insn *in, unsigned k, mvm_value *v);

/* Writes JSON (stolen) with the join of `label` and the pc label. */
int mvm_vm_write_json(mvm_vm *vm, const mvm_insn *in, unsigned k,
                      json_t *json, const mvm_label *label);

/* Joins the effective labels of the listed operands into *out (a new
 * reference). */
int mvm_vm_join_args(mvm_vm *vm, const mvm_insn *in, const unsigned *ks,
                     size_t n, mvm_label **out);

/* Ends a failed instruction: jumps to its failure label when it has one
 * (returning MVM_OK), else stops the run with `code` and a message that
 * names the file, line and instruction. */
int mvm_vm_fail(mvm_vm *vm, const mvm_insn *in, int code, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

/* Stops the run with `code` regardless of a failure label: for internal
 * failures such as running out of memory. */
int mvm_vm_abort(mvm_vm *vm, const mvm_insn *in, int code, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));

/* Asks the monitor to decide an effect (step, context are filled in), and
 * resolves an ASK verdict with the user. *allowed is the outcome, and
 * `decision` has the rule and reason either way. A non-zero return is an
 * internal failure (no memory). */
int mvm_vm_decide(mvm_vm *vm, mvm_effect *effect, mvm_decision *decision,
                  bool *allowed);

/* Reports what an allowed effect did to the monitor's record(). */
void mvm_vm_record(mvm_vm *vm, const mvm_effect *effect,
                   const mvm_decision *decision, const json_t *outcome);

/* Sends an event to the host's hook. Steals `event` (NULL is ignored). */
void mvm_vm_event(mvm_vm *vm, json_t *event);

/* Serializes a label for events and effect records (a new reference). */
json_t *mvm_vm_label_json(const mvm_label *label);

/* Finds the bound toolbox for a server and lists its tools (cached for
 * the run). *list is borrowed. Fails with MVM_ENOTFOUND when no toolbox
 * has that server name. */
int mvm_vm_tool_list(mvm_vm *vm, const mvm_insn *in, const char *server,
                     mvm_toolbox_slot **slot, const json_t **list);

/* Returns text for a value shown to a user or put in a message: a string
 * as it is, anything else as compact JSON. A malloc'd string or NULL. */
char *mvm_vm_text_of(const json_t *json);

/* Returns the text of a tool result: its text content items joined with
 * newlines, or its structured content as JSON when it has no text item.
 * A malloc'd string, or NULL on no memory. */
char *mvm_vm_result_text(const json_t *result);

/* Checks that a string of `len` bytes fits max_value_bytes; otherwise
 * stops the run with MVM_ELIMIT naming `what`. */
int mvm_vm_check_size(mvm_vm *vm, const mvm_insn *in, size_t len,
                      const char *what);

/* The failure label target of an instruction, or -1. */
int32_t mvm_vm_fail_target(const mvm_insn *in);

/* Joins label into the program-counter label. Fails with MVM_ENOMEM. */
int mvm_vm_join_pc(mvm_vm *vm, const mvm_label *label);

/* The status an instruction fails with when its effect is denied:
 * MVM_EBUDGET when a budget decided, else MVM_EDENIED. */
static inline int mvm_vm_denial_status(const mvm_decision *d)
{
  return d->budget ? MVM_EBUDGET : MVM_EDENIED;
}

#endif
