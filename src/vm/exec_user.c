/* exec_user.c - user I/O and label changes.
 *
 * Showing a value to the user is a flow of data to a reader, so the
 * monitor decides it. Asking is an effect too, because the prompt reaches
 * the user. What the user types is trusted, so its label is the pc label
 * only. Endorse and declassify change a label only when the monitor
 * allows it. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "vm/vm_internal.h"

/* user.show %value [, fail]
 * Shows %value to the user (a string as it is, anything else as JSON)
 * after the monitor allows USER_SHOW with the value's label, and reports
 * an "answer" event. With no user set, only the event happens. A denial
 * fails with MVM_EDENIED. */
int mvm_exec_user_show(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {0};
  const json_t *value = mvm_vm_arg_json(vm, in, 0);
  mvm_label *label = NULL;
  mvm_decision d;
  bool allowed = false;
  char *text = mvm_vm_text_of(value);
  int rc = text ? mvm_vm_join_args(vm, in, ks, 1, &label) : MVM_ENOMEM;

  if (rc) {
    free(text);
    return mvm_vm_abort(vm, in, rc, "out of memory");
  }

  mvm_effect e = {.kind = MVM_EFFECT_USER_SHOW, .target = "user",
                  .args = value, .args_label = label,
                  .context_label = vm->pc_label};
  rc = mvm_vm_decide(vm, &e, &d, &allowed);
  if (rc) {
    rc = mvm_vm_abort(vm, in, rc, "out of memory");
  } else if (!allowed) {
    rc = mvm_vm_fail(vm, in, mvm_vm_denial_status(&d), "showing the value to the user "
                     "is denied: %s (rule %s)", d.reason, d.rule);
  } else {
    mvm_error uerr;
    mvm_error_clear(&uerr);
    if (vm->has_user && vm->user.ops->show != NULL)
      rc = vm->user.ops->show(vm->user.self, text, label, &uerr);
    if (rc) {
      rc = mvm_vm_fail(vm, in, rc, "showing the value to the user failed: "
                       "%s", uerr.msg);
    } else {
      mvm_vm_record(vm, &e, &d, value);
      mvm_vm_event(vm, json_pack("{s:s,s:O,s:s,s:o}", "event", "answer",
                                 "value", value, "text", text, "label",
                                 mvm_vm_label_json(label)));
    }
  }
  mvm_label_unref(label);
  free(text);
  return rc;
}

/* Decides USER_ASK for a prompt; kind is "ask" or "confirm". */
static int decide_ask(mvm_vm *vm, const mvm_insn *in, const char *kind)
{
  static const unsigned ks[] = {1};
  mvm_label *label = NULL;
  json_t *detail = json_pack("{s:s}", "kind", kind);
  mvm_decision d;
  bool allowed = false;
  int rc = detail ? mvm_vm_join_args(vm, in, ks, 1, &label) : MVM_ENOMEM;

  if (rc == MVM_OK) {
    mvm_effect e = {.kind = MVM_EFFECT_USER_ASK, .target = "user",
                    .args = mvm_vm_arg_json(vm, in, 1), .args_label = label,
                    .context_label = vm->pc_label, .detail = detail};
    rc = mvm_vm_decide(vm, &e, &d, &allowed);
    if (rc == MVM_OK && allowed)
      mvm_vm_record(vm, &e, &d, NULL);
  }
  mvm_label_unref(label);
  json_decref(detail);
  if (rc)
    return mvm_vm_abort(vm, in, rc, "out of memory");
  if (!allowed)
    return mvm_vm_fail(vm, in, mvm_vm_denial_status(&d), "asking the user is denied: %s "
                       "(rule %s)", d.reason, d.rule);
  return MVM_OK;
}

/* user.ask %dst, %prompt [, fail]
 * %dst = the user's answer to %prompt, after the monitor allows USER_ASK.
 * With no user present the instruction fails with MVM_EUNSUPPORTED; an
 * answer over the value size limit stops the run with MVM_ELIMIT. */
int mvm_exec_user_ask(mvm_vm *vm, const mvm_insn *in)
{
  const char *prompt = json_string_value(mvm_vm_arg_json(vm, in, 1));
  size_t next = vm->next;
  char *answer = NULL;
  mvm_error uerr;
  int rc = decide_ask(vm, in, "ask");

  if (rc || vm->next != next)
    return rc;
  if (!vm->has_user || vm->user.ops->ask == NULL)
    return mvm_vm_fail(vm, in, MVM_EUNSUPPORTED, "no user is present to "
                       "answer \"%.80s\"", prompt);
  mvm_error_clear(&uerr);
  rc = vm->user.ops->ask(vm->user.self, prompt, &answer, &uerr);
  if (rc)
    return mvm_vm_fail(vm, in, rc, "asking the user failed: %s", uerr.msg);

  rc = mvm_vm_check_size(vm, in, strlen(answer), "the answer");
  json_t *s = rc ? NULL : json_string(answer);
  free(answer);
  if (rc)
    return rc;
  if (s == NULL)
    return mvm_vm_fail(vm, in, MVM_EINVAL, "the answer is not valid UTF-8");
  return mvm_vm_write_json(vm, in, 0, s, NULL);
}

/* user.confirm %dst, %prompt [, fail]
 * %dst = whether the user answers yes to %prompt, after the monitor
 * allows USER_ASK (detail {"kind": "confirm"}). With no user present,
 * or a user that cannot be asked (no terminal), %dst is false and a
 * warning is logged, because an unconfirmed action must not go ahead. */
int mvm_exec_user_confirm(mvm_vm *vm, const mvm_insn *in)
{
  const char *prompt = json_string_value(mvm_vm_arg_json(vm, in, 1));
  size_t next = vm->next;
  bool yes = false;
  mvm_error uerr;
  int rc = decide_ask(vm, in, "confirm");

  if (rc || vm->next != next)
    return rc;
  mvm_error_clear(&uerr);
  if (!vm->has_user || vm->user.ops->confirm == NULL)
    rc = mvm_error_set(&uerr, MVM_EUNSUPPORTED, "user",
                       "no user is present");
  else
    rc = vm->user.ops->confirm(vm->user.self, prompt, &yes, &uerr);
  if (rc == MVM_EUNSUPPORTED) {
    mvm_log(MVM_LOG_WARN, "vm", "%s; the answer to \"%.80s\" is no",
            uerr.msg, prompt);
    yes = false;
  } else if (rc) {
    return mvm_vm_fail(vm, in, rc, "asking the user failed: %s", uerr.msg);
  }
  return mvm_vm_write_json(vm, in, 0, json_boolean(yes), NULL);
}

/* ------------------------------------------------------------- labels */

static json_t *label_sources(const mvm_label *label)
{
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < mvm_label_source_count(label); i++) {
    if (json_array_append_new(arr,
                              json_string(mvm_label_source(label, i)))) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

/* Asks the monitor about a label change and, when allowed, writes a copy
 * of operand 1 with the new label. */
static int change_label(mvm_vm *vm, const mvm_insn *in, mvm_effect_kind kind,
                        json_t *detail, mvm_label *changed)
{
  mvm_value scratch;
  const mvm_value *src = mvm_vm_arg(vm, in, 1, &scratch);
  mvm_decision d;
  bool allowed = false;
  int rc;

  mvm_effect e = {.kind = kind, .args = src->json, .args_label = src->label,
                  .context_label = vm->pc_label, .detail = detail};
  rc = mvm_vm_decide(vm, &e, &d, &allowed);
  if (rc)
    return mvm_vm_abort(vm, in, rc, "out of memory");
  if (!allowed)
    return mvm_vm_fail(vm, in, mvm_vm_denial_status(&d), "%s is denied: %s (rule %s)",
                       mvm_effect_name(kind), d.reason, d.rule);
  mvm_vm_record(vm, &e, &d, detail);

  mvm_value v;
  mvm_value_init(&v);
  mvm_value_copy(&v, src);
  mvm_label_unref(v.label);
  v.label = mvm_label_ref(changed);
  return mvm_vm_write(vm, in, 0, &v);
}

/* endorse %dst, %value [, fail]
 * %dst = %value without any integrity source, when the monitor allows
 * ENDORSE with detail {"drop": [sources], "type": the JSON type,
 * "origin": the value's origin or null}. With the origin, a policy can
 * check whether the value came from a typed quarantined query. A value with no
 * source to drop is copied without asking. The pc label still joins, so
 * endorsing does not undo a branch on untrusted data. A denial fails with
 * MVM_EDENIED. */
int mvm_exec_endorse(mvm_vm *vm, const mvm_insn *in)
{
  mvm_value scratch;
  const mvm_value *src = mvm_vm_arg(vm, in, 1, &scratch);
  size_t n = mvm_label_source_count(src->label);
  const char **sources = calloc(n + 1, sizeof *sources);
  mvm_label *changed = NULL;
  char type[32];
  int rc = sources ? MVM_OK : MVM_ENOMEM;

  for (size_t i = 0; i < n && sources != NULL; i++)
    sources[i] = mvm_label_source(src->label, i);
  if (rc == MVM_OK)
    rc = mvm_label_endorse(src->label, sources, n, &changed);
  free(sources);
  if (rc)
    return mvm_vm_abort(vm, in, rc, "out of memory");

  json_t *detail = NULL;
  if (n == 0) {
    mvm_value v;
    mvm_value_init(&v);
    mvm_value_copy(&v, src);
    mvm_label_unref(changed);
    return mvm_vm_write(vm, in, 0, &v);
  }
  detail = json_pack("{s:o,s:s,s:O}", "drop", label_sources(src->label),
                     "type", mvm_type_format(mvm_type_of_json(src->json),
                                             type, sizeof type),
                     "origin", src->origin ? src->origin : json_null());
  if (detail == NULL) {
    mvm_label_unref(changed);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  rc = change_label(vm, in, MVM_EFFECT_ENDORSE, detail, changed);
  json_decref(detail);
  mvm_label_unref(changed);
  return rc;
}

/* declassify %dst, %value, %readers [, fail]
 * %dst = %value readable also by the listed readers, when the monitor
 * allows DECLASSIFY with detail {"add_readers": [...]}. A reader that is
 * not a string fails with MVM_EINVAL; a denial with MVM_EDENIED. */
int mvm_exec_declassify(mvm_vm *vm, const mvm_insn *in)
{
  mvm_value scratch;
  const mvm_value *src = mvm_vm_arg(vm, in, 1, &scratch);
  const json_t *readers = mvm_vm_arg_json(vm, in, 2);
  size_t n = json_array_size(readers);
  const char **names = calloc(n + 1, sizeof *names);
  mvm_label *changed = NULL;

  if (names == NULL)
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    names[i] = json_string_value(json_array_get(readers, i));
    if (names[i] == NULL) {
      free(names);
      return mvm_vm_fail(vm, in, MVM_EINVAL, "reader %zu is not a string",
                         i);
    }
  }
  int rc = mvm_label_declassify(src->label, names, n, &changed);
  free(names);
  if (rc)
    return mvm_vm_abort(vm, in, rc, "out of memory");

  json_t *detail = json_pack("{s:O}", "add_readers", readers);
  if (detail == NULL) {
    mvm_label_unref(changed);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  rc = change_label(vm, in, MVM_EFFECT_DECLASSIFY, detail, changed);
  json_decref(detail);
  mvm_label_unref(changed);
  return rc;
}
