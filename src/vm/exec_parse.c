/* exec_parse.c - output parsing: model replies, tool results, JSON text,
 * field paths and runtime type checks.
 *
 * A parsed value keeps the label of the text or object it came from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "value/schema.h"
#include "vm/vm_internal.h"

/* Writes json (stolen) to operand 0 with operand 1's label. */
static int write_from(mvm_vm *vm, const mvm_insn *in, json_t *json)
{
  static const unsigned ks[] = {1};
  mvm_label *label = NULL;

  if (json == NULL)
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  if (mvm_vm_join_args(vm, in, ks, 1, &label)) {
    json_decref(json);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  int rc = mvm_vm_write_json(vm, in, 0, json, label);
  mvm_label_unref(label);
  return rc;
}

/* reply.text %dst, %reply
 * %dst = the reply's "text" ("" when the model sent none). */
int mvm_exec_reply_text(mvm_vm *vm, const mvm_insn *in)
{
  const json_t *text = json_object_get(mvm_vm_arg_json(vm, in, 1), "text");
  return write_from(vm, in, json_is_string(text)
                                ? json_incref((json_t *)text)
                                : json_string(""));
}

/* reply.calls %dst, %reply
 * %dst = the reply's "tool_calls", a list of {"id", "name", "arguments"}
 * ([] when the model asked for no tool). */
int mvm_exec_reply_calls(mvm_vm *vm, const mvm_insn *in)
{
  const json_t *calls = json_object_get(mvm_vm_arg_json(vm, in, 1),
                                        "tool_calls");
  return write_from(vm, in, json_is_array(calls)
                                ? json_incref((json_t *)calls)
                                : json_array());
}

/* Joins the "text" items of a CallToolResult's content with newlines;
 * with no text item, the structured content as JSON. */
static char *result_text(const json_t *result)
{
  const json_t *content = json_object_get(result, "content");
  mvm_buf b;
  size_t i;
  const json_t *item;
  int rc = MVM_OK;

  mvm_buf_init(&b, 0);
  json_array_foreach(content, i, item) {
    const char *type = json_string_value(json_object_get(item, "type"));
    const json_t *text = json_object_get(item, "text");
    if (type == NULL || strcmp(type, "text") != 0 || !json_is_string(text))
      continue;
    if (b.len > 0)
      rc = mvm_buf_append(&b, "\n", 1);
    if (rc == MVM_OK)
      rc = mvm_buf_append(&b, json_string_value(text),
                          json_string_length(text));
    if (rc)
      break;
  }
  if (rc == MVM_OK && b.len == 0 &&
      json_object_get(result, "structuredContent") != NULL) {
    char *s = json_dumps(json_object_get(result, "structuredContent"),
                         JSON_COMPACT | JSON_ENCODE_ANY);
    rc = s ? mvm_buf_append_str(&b, s) : MVM_ENOMEM;
    free(s);
  }
  if (rc) {
    mvm_buf_free(&b);
    return NULL;
  }
  return mvm_buf_steal(&b);
}

char *mvm_vm_result_text(const json_t *result)
{
  return result_text(result);
}

/* result.text %dst, %result
 * %dst = the text items of the result's content joined with newlines, or
 * the structured content as JSON when there is no text item, or "". */
int mvm_exec_result_text(mvm_vm *vm, const mvm_insn *in)
{
  char *text = result_text(mvm_vm_arg_json(vm, in, 1));
  json_t *s = text ? json_string(text) : NULL;

  free(text);
  return write_from(vm, in, s);
}

/* result.data %dst, %result [, fail]
 * %dst = the result's "structuredContent". A result without one fails
 * with MVM_ENOTFOUND. */
int mvm_exec_result_data(mvm_vm *vm, const mvm_insn *in)
{
  json_t *data = json_object_get(mvm_vm_arg_json(vm, in, 1),
                                 "structuredContent");
  if (data == NULL)
    return mvm_vm_fail(vm, in, MVM_ENOTFOUND,
                       "the tool result has no structuredContent");
  return write_from(vm, in, json_incref(data));
}

/* result.error %dst, %result
 * %dst = whether the result's "isError" is true; a denied call's result
 * is an error. */
int mvm_exec_result_error(mvm_vm *vm, const mvm_insn *in)
{
  const json_t *r = mvm_vm_arg_json(vm, in, 1);
  return write_from(vm, in,
                    json_boolean(json_is_true(json_object_get(r, "isError"))));
}

/* json.parse %dst, %text [, fail]
 * %dst = the JSON value in %text. Invalid JSON fails with MVM_EPARSE;
 * text over the value size limit, or nesting deeper than 64 levels, fails
 * with MVM_ELIMIT. */
int mvm_exec_json_parse(mvm_vm *vm, const mvm_insn *in)
{
  const json_t *text = mvm_vm_arg_json(vm, in, 1);
  mvm_json_limits limits = {vm->limits.max_value_bytes, 0};
  mvm_error perr;
  json_t *value = NULL;

  int rc = mvm_json_parse(json_string_value(text), json_string_length(text),
                          &limits, "the text", &value, &perr);
  if (rc == MVM_ENOMEM)
    return mvm_vm_abort(vm, in, rc, "out of memory");
  if (rc)
    return mvm_vm_fail(vm, in, rc, "%s", perr.msg);
  return write_from(vm, in, value);
}

/* json.check %dst, %value, schema [, fail]
 * %dst = %value when it matches the JSON Schema literal, else fails with
 * MVM_ESCHEMA naming the first mismatch. An invalid schema fails with the
 * schema compiler's status. A build without the schema validator fails
 * with MVM_EUNSUPPORTED, so a program never takes an unchecked value for
 * a checked one. */
int mvm_exec_json_check(mvm_vm *vm, const mvm_insn *in)
{
  const json_t *value = mvm_vm_arg_json(vm, in, 1);
  mvm_schema *schema = NULL;
  mvm_error serr;

  /* NOTE: the schema is compiled on every execution; programs use small
   * schemas, and caching would tie compiled schemas to the VM. */
  mvm_error_clear(&serr);
  int rc = mvm_schema_compile(in->opnd[2].value, &schema, &serr);
  if (rc == MVM_ENOMEM)
    return mvm_vm_abort(vm, in, rc, "out of memory");
  if (rc)
    return mvm_vm_fail(vm, in, rc, "the schema is invalid: %s", serr.msg);
  rc = mvm_schema_validate(schema, value, &serr);
  mvm_schema_free(schema);
  if (rc == MVM_ENOMEM)
    return mvm_vm_abort(vm, in, rc, "out of memory");
  if (rc)
    return mvm_vm_fail(vm, in, MVM_ESCHEMA, "%s", serr.msg);
  return write_from(vm, in, json_incref((json_t *)value));
}

/* json.dump %dst, %value
 * %dst = %value as compact JSON text with sorted keys. Text over the value
 * size limit stops the run with MVM_ELIMIT. */
int mvm_exec_json_dump(mvm_vm *vm, const mvm_insn *in)
{
  char *text = json_dumps(mvm_vm_arg_json(vm, in, 1),
                          JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  if (text == NULL)
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");

  int rc = mvm_vm_check_size(vm, in, strlen(text), "the JSON text");
  if (rc == MVM_OK)
    rc = write_from(vm, in, json_string(text));
  free(text);
  return rc;
}

/* get %dst, %value, "path" [, fail]
 * %dst = the part of %value the path names: keys for maps, [N] indexes
 * for lists ("tool_calls[0].arguments.path"). A step that finds no such
 * key or index, or a value of the wrong kind, fails with MVM_ENOTFOUND
 * naming the step. */
int mvm_exec_get(mvm_vm *vm, const mvm_insn *in)
{
  const json_t *cur = mvm_vm_arg_json(vm, in, 1);
  const json_t *parts = in->opnd[2].parts;
  const char *path = in->opnd[2].text;

  for (size_t i = 0; i < json_array_size(parts); i++) {
    const json_t *part = json_array_get(parts, i);
    const json_t *next = NULL;

    if (json_is_string(part))
      next = json_object_get(cur, json_string_value(part));
    else if (json_is_array(cur))
      next = json_array_get(cur, (size_t)json_integer_value(part));
    if (next != NULL) {
      cur = next;
      continue;
    }
    if (json_is_string(part))
      return mvm_vm_fail(vm, in, MVM_ENOTFOUND,
                         "path \"%s\": no key '%s' at step %zu", path,
                         json_string_value(part), i + 1);
    return mvm_vm_fail(vm, in, MVM_ENOTFOUND,
                       "path \"%s\": no index %lld at step %zu", path,
                       (long long)json_integer_value(part), i + 1);
  }
  return write_from(vm, in, json_incref((json_t *)cur));
}

/* as %dst, %value, type [, fail]
 * %dst = %value when its runtime type is the named one (num accepts int
 * and float, json anything), else fails with MVM_ESCHEMA. The verifier
 * gives %dst the named type, which narrows a union. */
int mvm_exec_as(mvm_vm *vm, const mvm_insn *in)
{
  const json_t *v = mvm_vm_arg_json(vm, in, 1);
  uint32_t type = in->opnd[2].type;
  char found[32];

  if (!mvm_type_check_json(type, v))
    return mvm_vm_fail(vm, in, MVM_ESCHEMA, "value is %s, not %s",
                       mvm_type_format(mvm_type_of_json(v), found,
                                       sizeof found),
                       in->opnd[2].text);
  return write_from(vm, in, json_incref((json_t *)v));
}
