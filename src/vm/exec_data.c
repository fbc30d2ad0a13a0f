/* exec_data.c - data instructions: moves, formatting, comparison,
 * arithmetic, lists and maps.
 *
 * Every result's label is the join of its inputs' labels and the pc
 * label, so a value derived from an untrusted one stays untrusted. JSON
 * values are shared between registers and never changed in place: list
 * and map updates copy the container first. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "vm/vm_internal.h"

/* Joins the labels of the listed operands and writes json (stolen) to
 * operand 0. */
static int write_joined(mvm_vm *vm, const mvm_insn *in, json_t *json,
                        const unsigned *ks, size_t n)
{
  mvm_label *label = NULL;

  if (json == NULL)
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  if (mvm_vm_join_args(vm, in, ks, n, &label)) {
    json_decref(json);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  int rc = mvm_vm_write_json(vm, in, 0, json, label);
  mvm_label_unref(label);
  return rc;
}

/* mov %dst, %src
 * %dst = %src, value and label (a literal has the bottom label). Any kind
 * moves: a history, a model or a toolset handle too; a history is copied
 * on its next change, so the two registers do not alias. */
int mvm_exec_mov(mvm_vm *vm, const mvm_insn *in)
{
  mvm_value scratch;
  const mvm_value *src = mvm_vm_arg(vm, in, 1, &scratch);
  mvm_value v;

  mvm_value_init(&v);
  if (src == &scratch) {
    mvm_value_set_json(&v, json_incref(scratch.json), NULL);
  } else {
    mvm_value_copy(&v, src);
  }
  return mvm_vm_write(vm, in, 0, &v);
}

/* fmt %dst, "format"
 * %dst = the format with each {reg} replaced by the register's value: a
 * string as it is, any other JSON value as compact JSON. The label is the
 * join of every register named. A result over the value size limit stops
 * the run with MVM_ELIMIT. */
int mvm_exec_fmt(mvm_vm *vm, const mvm_insn *in)
{
  const json_t *parts = in->opnd[1].parts;
  mvm_label *label = NULL;
  mvm_buf b;
  int rc = MVM_OK;

  mvm_buf_init(&b, vm->limits.max_value_bytes);
  for (size_t i = 0; rc == MVM_OK && i < json_array_size(parts); i++) {
    const json_t *part = json_array_get(parts, i);
    if (json_is_string(part)) {
      rc = mvm_buf_append(&b, json_string_value(part),
                          json_string_length(part));
      continue;
    }

    const mvm_value *v = &vm->regs[json_integer_value(part)];
    char *text = NULL;
    mvm_label *joined = NULL;
    assert(v->kind == MVM_VALUE_JSON);
    text = mvm_vm_text_of(v->json);
    rc = text ? mvm_buf_append_str(&b, text) : MVM_ENOMEM;
    free(text);
    if (rc == MVM_OK)
      rc = mvm_label_join(label, v->label, &joined);
    if (rc == MVM_OK) {
      mvm_label_unref(label);
      label = joined;
    }
  }

  if (rc == MVM_OK) {
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    rc = mvm_vm_write_json(vm, in, 0, s, label);
  } else if (rc == MVM_ELIMIT) {
    rc = mvm_vm_abort(vm, in, MVM_ELIMIT, "the formatted string is over "
                      "the value limit of %zu bytes",
                      vm->limits.max_value_bytes);
  } else {
    rc = mvm_vm_abort(vm, in, rc, "out of memory");
  }
  mvm_label_unref(label);
  mvm_buf_free(&b);
  return rc;
}

static int compare(mvm_vm *vm, const mvm_insn *in, bool value)
{
  static const unsigned ks[] = {1, 2};
  return write_joined(vm, in, json_boolean(value), ks, 2);
}

/* eq %dst, %a, %b
 * %dst = whether %a and %b are equal (json_equal: 1 and 1.0 differ). */
int mvm_exec_eq(mvm_vm *vm, const mvm_insn *in)
{
  return compare(vm, in, json_equal(mvm_vm_arg_json(vm, in, 1),
                                    mvm_vm_arg_json(vm, in, 2)));
}

/* ne %dst, %a, %b
 * %dst = whether %a and %b differ. */
int mvm_exec_ne(mvm_vm *vm, const mvm_insn *in)
{
  return compare(vm, in, !json_equal(mvm_vm_arg_json(vm, in, 1),
                                     mvm_vm_arg_json(vm, in, 2)));
}

/* Compares two numbers: integers exactly, otherwise as doubles. */
static int number_order(const json_t *a, const json_t *b)
{
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a);
    json_int_t y = json_integer_value(b);
    return x < y ? -1 : x > y;
  }
  double x = json_number_value(a);
  double y = json_number_value(b);
  return x < y ? -1 : x > y;
}

/* lt %dst, %a, %b
 * %dst = %a < %b, for numbers. */
int mvm_exec_lt(mvm_vm *vm, const mvm_insn *in)
{
  return compare(vm, in, number_order(mvm_vm_arg_json(vm, in, 1),
                                      mvm_vm_arg_json(vm, in, 2)) < 0);
}

/* le %dst, %a, %b
 * %dst = %a <= %b, for numbers. */
int mvm_exec_le(mvm_vm *vm, const mvm_insn *in)
{
  return compare(vm, in, number_order(mvm_vm_arg_json(vm, in, 1),
                                      mvm_vm_arg_json(vm, in, 2)) <= 0);
}

/* not %dst, %value
 * %dst = !%value. */
int mvm_exec_not(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {1};
  return write_joined(vm, in,
                      json_boolean(json_is_false(mvm_vm_arg_json(vm, in, 1))),
                      ks, 1);
}

static int arith(mvm_vm *vm, const mvm_insn *in, bool subtract)
{
  static const unsigned ks[] = {1, 2};
  json_int_t a = json_integer_value(mvm_vm_arg_json(vm, in, 1));
  json_int_t b = json_integer_value(mvm_vm_arg_json(vm, in, 2));
  json_int_t r;
  bool overflow = subtract ? __builtin_sub_overflow(a, b, &r)
                           : __builtin_add_overflow(a, b, &r);

  if (overflow)
    return mvm_vm_fail(vm, in, MVM_ELIMIT,
                       "%lld %c %lld overflows a 64-bit integer",
                       (long long)a, subtract ? '-' : '+', (long long)b);
  return write_joined(vm, in, json_integer(r), ks, 2);
}

/* add %dst, %a, %b
 * %dst = %a + %b on 64-bit integers; overflow stops the run with
 * MVM_ELIMIT. */
int mvm_exec_add(mvm_vm *vm, const mvm_insn *in)
{
  return arith(vm, in, false);
}

/* sub %dst, %a, %b
 * %dst = %a - %b on 64-bit integers; overflow stops the run with
 * MVM_ELIMIT. */
int mvm_exec_sub(mvm_vm *vm, const mvm_insn *in)
{
  return arith(vm, in, true);
}

/* len %dst, %value
 * %dst = the number of characters (UTF-8 code points) of a string, items
 * of a list, entries of a map, or messages of a history. */
int mvm_exec_len(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {1};
  mvm_value scratch;
  const mvm_value *v = mvm_vm_arg(vm, in, 1, &scratch);
  size_t n = 0;

  if (v->kind == MVM_VALUE_HISTORY)
    n = mvm_history_len(v->history);
  else if (json_is_string(v->json))
    n = mvm_utf8_length(json_string_value(v->json),
                        json_string_length(v->json));
  else if (json_is_array(v->json))
    n = json_array_size(v->json);
  else if (json_is_object(v->json))
    n = json_object_size(v->json);
  return write_joined(vm, in, json_integer((json_int_t)n), ks, 1);
}

/* list.new %dst
 * %dst = []. */
int mvm_exec_list_new(mvm_vm *vm, const mvm_insn *in)
{
  return mvm_vm_write_json(vm, in, 0, json_array(), NULL);
}

/* list.push %list, %value
 * %list = a copy of %list with %value appended; the label is the join of
 * both. */
int mvm_exec_list_push(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {0, 1};
  json_t *list = json_copy((json_t *)mvm_vm_arg_json(vm, in, 0));

  if (list == NULL ||
      json_array_append(list, (json_t *)mvm_vm_arg_json(vm, in, 1))) {
    json_decref(list);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  return write_joined(vm, in, list, ks, 2);
}

/* list.get %dst, %list, %index [, fail]
 * %dst = %list[%index] (0-based). A negative or out-of-range index fails
 * with MVM_ENOTFOUND. The label is the join of the list's and the
 * index's. */
int mvm_exec_list_get(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {1, 2};
  const json_t *list = mvm_vm_arg_json(vm, in, 1);
  json_int_t i = json_integer_value(mvm_vm_arg_json(vm, in, 2));

  if (i < 0 || (size_t)i >= json_array_size(list))
    return mvm_vm_fail(vm, in, MVM_ENOTFOUND,
                       "index %lld is outside the list of %zu items",
                       (long long)i, json_array_size(list));
  return write_joined(vm, in, json_incref(json_array_get(list, (size_t)i)),
                      ks, 2);
}

/* map.new %dst
 * %dst = {}. */
int mvm_exec_map_new(mvm_vm *vm, const mvm_insn *in)
{
  return mvm_vm_write_json(vm, in, 0, json_object(), NULL);
}

/* map.set %map, %key, %value
 * %map = a copy of %map with %key set to %value; the label is the join of
 * all three. A key with a NUL character fails with MVM_EINVAL. */
int mvm_exec_map_set(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {0, 1, 2};
  const json_t *key = mvm_vm_arg_json(vm, in, 1);

  if (strlen(json_string_value(key)) != json_string_length(key))
    return mvm_vm_abort(vm, in, MVM_EINVAL,
                        "map key contains a NUL character");

  json_t *map = json_copy((json_t *)mvm_vm_arg_json(vm, in, 0));
  if (map == NULL ||
      json_object_set(map, json_string_value(key),
                      (json_t *)mvm_vm_arg_json(vm, in, 2))) {
    json_decref(map);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  return write_joined(vm, in, map, ks, 3);
}

/* map.get %dst, %map, %key [, fail]
 * %dst = %map[%key]. A missing key fails with MVM_ENOTFOUND. */
int mvm_exec_map_get(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {1, 2};
  const char *key = json_string_value(mvm_vm_arg_json(vm, in, 2));
  json_t *value = json_object_get(mvm_vm_arg_json(vm, in, 1), key);

  if (value == NULL)
    return mvm_vm_fail(vm, in, MVM_ENOTFOUND, "the map has no key '%s'",
                       key);
  return write_joined(vm, in, json_incref(value), ks, 2);
}
