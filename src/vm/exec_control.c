/* exec_control.c - control flow instructions.
 *
 * Every conditional jump joins the labels of the values it tests into the
 * pc label before it runs (vm.c, join_branch_inputs), so what a branch
 * decided is carried by every later write and effect. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm_internal.h"

static void jump(mvm_vm *vm, const mvm_insn *in, unsigned k)
{
  assert(in->opnd[k].target >= 0);
  vm->next = (size_t)in->opnd[k].target;
}

/* jmp target
 * Continues at target. */
int mvm_exec_jmp(mvm_vm *vm, const mvm_insn *in)
{
  jump(vm, in, 0);
  return MVM_OK;
}

/* jt %cond, target
 * Continues at target when %cond is true, else with the next
 * instruction. */
int mvm_exec_jt(mvm_vm *vm, const mvm_insn *in)
{
  if (json_is_true(mvm_vm_arg_json(vm, in, 0)))
    jump(vm, in, 1);
  return MVM_OK;
}

/* jf %cond, target
 * Continues at target when %cond is false. */
int mvm_exec_jf(mvm_vm *vm, const mvm_insn *in)
{
  if (json_is_false(mvm_vm_arg_json(vm, in, 0)))
    jump(vm, in, 1);
  return MVM_OK;
}

/* jeq %a, %b, target
 * Continues at target when %a and %b are equal JSON values. Equality is
 * jansson's json_equal: an integer never equals a real (1 != 1.0), and
 * object key order does not matter. */
int mvm_exec_jeq(mvm_vm *vm, const mvm_insn *in)
{
  if (json_equal(mvm_vm_arg_json(vm, in, 0), mvm_vm_arg_json(vm, in, 1)))
    jump(vm, in, 2);
  return MVM_OK;
}

/* jne %a, %b, target
 * Continues at target when %a and %b differ (see jeq). */
int mvm_exec_jne(mvm_vm *vm, const mvm_insn *in)
{
  if (!json_equal(mvm_vm_arg_json(vm, in, 0), mvm_vm_arg_json(vm, in, 1)))
    jump(vm, in, 2);
  return MVM_OK;
}

/* jempty %value, target
 * Continues at target when %value is null, "", [], {} or a history with
 * no message. */
int mvm_exec_jempty(mvm_vm *vm, const mvm_insn *in)
{
  mvm_value scratch;
  const mvm_value *v = mvm_vm_arg(vm, in, 0, &scratch);
  bool empty;

  if (v->kind == MVM_VALUE_HISTORY) {
    empty = mvm_history_len(v->history) == 0;
  } else {
    const json_t *j = v->json;
    empty = json_is_null(j) ||
            (json_is_string(j) && json_string_length(j) == 0) ||
            (json_is_array(j) && json_array_size(j) == 0) ||
            (json_is_object(j) && json_object_size(j) == 0);
  }
  if (empty)
    jump(vm, in, 1);
  return MVM_OK;
}

/* jnull %value, target
 * Continues at target when %value is null. The verifier narrows the
 * register's type: null at target, not null after the instruction. */
int mvm_exec_jnull(mvm_vm *vm, const mvm_insn *in)
{
  if (json_is_null(mvm_vm_arg_json(vm, in, 0)))
    jump(vm, in, 1);
  return MVM_OK;
}

/* call target
 * Pushes the next instruction's index and continues at target.
 * Registers are global, so a subroutine reads and writes the caller's.
 * Nesting deeper than the call depth limit stops the run with
 * MVM_ELIMIT. */
int mvm_exec_call(mvm_vm *vm, const mvm_insn *in)
{
  if (vm->depth >= vm->limits.max_call_depth)
    return mvm_vm_abort(vm, in, MVM_ELIMIT,
                        "the call depth limit of %u nested calls is "
                        "reached; look for a subroutine that calls itself "
                        "without end", vm->limits.max_call_depth);
  vm->stack[vm->depth++] = (uint32_t)(vm->pc + 1);
  jump(vm, in, 0);
  return MVM_OK;
}

/* ret
 * Continues after the most recent call. The verifier rejects a ret
 * reachable outside a subroutine, so the stack is never empty here. */
int mvm_exec_ret(mvm_vm *vm, const mvm_insn *in)
{
  (void)in;
  assert(vm->depth > 0);
  vm->next = vm->stack[--vm->depth];
  return MVM_OK;
}

/* halt %result
 * Stops the run; the host gets %result with its label joined with the pc
 * label. */
int mvm_exec_halt(mvm_vm *vm, const mvm_insn *in)
{
  mvm_value scratch;
  const mvm_value *v = mvm_vm_arg(vm, in, 0, &scratch);
  mvm_value result;

  mvm_value_init(&result);
  mvm_value_copy(&result, v);
  if (mvm_value_join_label(&result, vm->pc_label)) {
    mvm_value_clear(&result);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  mvm_value_move(&vm->result, &result);
  vm->halted = true;
  mvm_vm_event(vm, json_pack("{s:s,s:O,s:o}", "event", "halt", "value",
                             vm->result.json, "label",
                             mvm_vm_label_json(vm->result.label)));
  return MVM_OK;
}

/* fail %message
 * Stops the run with MVM_EFAIL; the error message is %message (a string
 * as it is, any other value as JSON). */
int mvm_exec_fail(mvm_vm *vm, const mvm_insn *in)
{
  char *text = mvm_vm_text_of(mvm_vm_arg_json(vm, in, 0));
  if (text == NULL)
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");

  int rc = mvm_vm_abort(vm, in, MVM_EFAIL, "%s", text);
  free(text);
  return rc;
}
