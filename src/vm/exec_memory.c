/* exec_memory.c - histories and named memory.
 *
 * Every message of a history keeps its own label through trimming and
 * storage, and a history's label is the join of its messages' labels.
 * Memory values are stored with their labels and loaded with them. */
#include <stdlib.h>
#include <string.h>

#include "vm/vm_internal.h"

/* Copies the history register of operand 0 into *hist for changing. */
static void take_history(mvm_vm *vm, const mvm_insn *in, mvm_value *hist)
{
  mvm_value_init(hist);
  mvm_value_copy(hist, &vm->regs[in->opnd[0].reg]);
}

static int append(mvm_vm *vm, const mvm_insn *in, mvm_value *hist,
                  json_t *msg, const mvm_label *label)
{
  if (msg == NULL) {
    mvm_value_clear(hist);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  if (mvm_history_len(hist->history) >= vm->limits.max_history) {
    json_decref(msg);
    mvm_value_clear(hist);
    return mvm_vm_abort(vm, in, MVM_ELIMIT,
                        "the history has %zu messages, the limit; trim it "
                        "with hist.trim", vm->limits.max_history);
  }

  /* A message written after a branch on data carries that data's label. */
  mvm_label *joined = NULL;
  int rc = mvm_label_join(label, vm->pc_label, &joined);
  if (rc == MVM_OK)
    rc = mvm_history_append(&hist->history, msg, joined);
  else
    json_decref(msg);
  mvm_label_unref(joined);
  if (rc) {
    mvm_value_clear(hist);
    return mvm_vm_abort(vm, in, rc, "out of memory");
  }
  return mvm_vm_write(vm, in, 0, hist);
}

/* hist.new %dst
 * %dst = an empty history. */
int mvm_exec_hist_new(mvm_vm *vm, const mvm_insn *in)
{
  mvm_value v;

  mvm_value_init(&v);
  if (mvm_history_new(&v.history))
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  v.kind = MVM_VALUE_HISTORY;
  return mvm_vm_write(vm, in, 0, &v);
}

/* hist.add %history, role, %content
 * Appends {"role": role, "content": text}, where text is %content as it
 * is for a string and as JSON otherwise. The message's label is
 * %content's joined with the pc label. A history at the message limit
 * stops the run with MVM_ELIMIT. */
int mvm_exec_hist_add(mvm_vm *vm, const mvm_insn *in)
{
  mvm_value hist;
  char *text = mvm_vm_text_of(mvm_vm_arg_json(vm, in, 2));
  json_t *msg = text ? json_pack("{s:s,s:s}", "role", in->opnd[1].text,
                                 "content", text)
                     : NULL;

  free(text);
  take_history(vm, in, &hist);
  return append(vm, in, &hist, msg, mvm_vm_arg_label(vm, in, 2));
}

/* hist.reply %history, %reply
 * Appends the reply as {"role": "assistant", "content": text,
 * "tool_calls": [...]} (tool_calls only when there are some), labelled
 * with the reply's label. */
int mvm_exec_hist_reply(mvm_vm *vm, const mvm_insn *in)
{
  const json_t *reply = mvm_vm_arg_json(vm, in, 1);
  const json_t *text = json_object_get(reply, "text");
  const json_t *calls = json_object_get(reply, "tool_calls");
  json_t *msg = json_pack("{s:s,s:s}", "role", "assistant", "content",
                          json_is_string(text) ? json_string_value(text)
                                               : "");
  mvm_value hist;

  if (msg != NULL && json_array_size(calls) > 0 &&
      json_object_set(msg, "tool_calls", (json_t *)calls)) {
    json_decref(msg);
    msg = NULL;
  }
  take_history(vm, in, &hist);
  return append(vm, in, &hist, msg, mvm_vm_arg_label(vm, in, 1));
}

static int trim(mvm_vm *vm, const mvm_insn *in, size_t max, size_t chars)
{
  mvm_value hist;

  take_history(vm, in, &hist);
  if (mvm_history_trim(&hist.history, max, chars)) {
    mvm_value_clear(&hist);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  return mvm_vm_write(vm, in, 0, &hist);
}

/* hist.trim %history, N
 * Drops the oldest non-system messages until at most N remain. System
 * messages and the newest message always stay, and tool results left
 * without their assistant message go too. Kept messages keep their
 * labels. */
int mvm_exec_hist_trim(mvm_vm *vm, const mvm_insn *in)
{
  return trim(vm, in, (size_t)in->opnd[1].number, SIZE_MAX);
}

/* hist.trim_chars %history, N
 * Like hist.trim, but the budget is N characters of message content. */
int mvm_exec_hist_trim_chars(mvm_vm *vm, const mvm_insn *in)
{
  return trim(vm, in, SIZE_MAX, (size_t)in->opnd[1].number);
}

/* ------------------------------------------------------------- memory */

static int memory_put(mvm_vm *vm, const char *key, const json_t *value,
                      const mvm_label *label, mvm_error *err)
{
  if (vm->has_memory)
    return vm->memory.ops->put(vm->memory.self, key, value, label, err);

  json_t *entry = json_pack("{s:O,s:o}", "value", value, "label",
                            mvm_label_to_json(label));
  if (entry == NULL || json_object_set_new(vm->memory_store, key, entry))
    return mvm_error_set(err, MVM_ENOMEM, "memory", "out of memory");
  return MVM_OK;
}

static int memory_get(mvm_vm *vm, const char *key, json_t **value,
                      mvm_label **label, mvm_error *err)
{
  *value = NULL;
  *label = NULL;
  if (vm->has_memory)
    return vm->memory.ops->get(vm->memory.self, key, value, label, err);

  json_t *entry = json_object_get(vm->memory_store, key);
  if (entry == NULL)
    return MVM_OK;
  int rc = mvm_label_from_json(json_object_get(entry, "label"), label, err);
  if (rc == MVM_OK)
    *value = json_incref(json_object_get(entry, "value"));
  return rc;
}

/* mem.store "key", %value [, fail]
 * Stores %value under the key with its label joined with the pc label,
 * after the monitor allows MEMORY_WRITE (target = the key). The memory
 * is the host's (mvm_vm_set_memory), by default one that lives as long as
 * the VM. A denial fails with MVM_EDENIED; a store error with its
 * status. */
int mvm_exec_mem_store(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {1};
  const char *key = in->opnd[0].text;
  const json_t *value = mvm_vm_arg_json(vm, in, 1);
  mvm_label *vlabel = NULL;
  mvm_label *label = NULL;
  mvm_decision d;
  mvm_error merr;
  bool allowed = false;

  int rc = mvm_vm_join_args(vm, in, ks, 1, &vlabel);
  if (rc == MVM_OK)
    rc = mvm_label_join(vlabel, vm->pc_label, &label);
  mvm_label_unref(vlabel);
  if (rc)
    return mvm_vm_abort(vm, in, rc, "out of memory");

  mvm_effect e = {.kind = MVM_EFFECT_MEMORY_WRITE, .target = key,
                  .args = value, .args_label = label,
                  .context_label = vm->pc_label};
  rc = mvm_vm_decide(vm, &e, &d, &allowed);
  if (rc) {
    rc = mvm_vm_abort(vm, in, rc, "out of memory");
  } else if (!allowed) {
    rc = mvm_vm_fail(vm, in, mvm_vm_denial_status(&d), "writing memory '%s' is denied: "
                     "%s (rule %s)", key, d.reason, d.rule);
  } else {
    mvm_error_clear(&merr);
    rc = memory_put(vm, key, value, label, &merr);
    if (rc == MVM_OK)
      mvm_vm_record(vm, &e, &d, value);
    else
      rc = mvm_vm_fail(vm, in, rc, "storing memory '%s' failed: %s", key,
                       merr.msg);
  }
  mvm_label_unref(label);
  return rc;
}

/* mem.load %dst, "key" [, fail]
 * %dst = the value stored under the key, with the label it was stored
 * with (joined with the pc label). A missing key fails with
 * MVM_ENOTFOUND. */
int mvm_exec_mem_load(mvm_vm *vm, const mvm_insn *in)
{
  const char *key = in->opnd[1].text;
  json_t *value = NULL;
  mvm_label *label = NULL;
  mvm_error merr;

  mvm_error_clear(&merr);
  int rc = memory_get(vm, key, &value, &label, &merr);
  if (rc)
    return mvm_vm_fail(vm, in, rc, "loading memory '%s' failed: %s", key,
                       merr.msg);
  if (value == NULL) {
    mvm_label_unref(label);
    return mvm_vm_fail(vm, in, MVM_ENOTFOUND, "memory has no key '%s'",
                       key);
  }
  rc = mvm_vm_write_json(vm, in, 0, value, label);
  mvm_label_unref(label);
  return rc;
}
