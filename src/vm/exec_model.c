/* exec_model.c - model lifecycle and invocation: load, unload, call and
 * the quarantined query.
 *
 * A reply's label is the join of the labels of everything sent: every
 * message of the history, the offered toolset, the model handle and the
 * pc label. The model adds no label of its own, because its output can
 * only be as trusted as its input. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "vm/query.h"
#include "vm/vm_internal.h"

static mvm_model_slot *model_of(mvm_vm *vm, const mvm_insn *in, unsigned k)
{
  mvm_value scratch;
  const mvm_value *v = mvm_vm_arg(vm, in, k, &scratch);
  return &vm->models[v->model];
}

/* Streams text fragments to the host as "text" events. */
struct stream_ctx {
  mvm_vm *vm;
  const char *model;
};

static void on_text(void *ctx, const char *text, size_t len)
{
  struct stream_ctx *s = ctx;
  mvm_vm_event(s->vm, json_pack("{s:s,s:s,s:s%}", "event", "text", "model",
                                s->model, "text", text, len));
}

/* model.load %dst, name [, fail]
 * %dst = a handle to the declared model `name`, after the monitor allows
 * MODEL_LOAD with the adapter's identity() ({"provider", "model",
 * "endpoint"}), so a policy can pin it. No adapter bound to the name
 * fails with MVM_ENOTFOUND; a denial fails with MVM_EDENIED. */
int mvm_exec_model_load(mvm_vm *vm, const mvm_insn *in)
{
  const char *name = in->opnd[1].text;
  int idx = mvm_decls_find(&vm->prog->models, name);
  mvm_model_slot *slot = &vm->models[idx];
  json_t *identity = NULL;
  mvm_error merr;
  int rc;

  if (!slot->bound)
    return mvm_vm_fail(vm, in, MVM_ENOTFOUND,
                       "model '%s' has no adapter bound to it; bind one "
                       "(mvm run --model %s=replay:FILE)", name, name);
  if (slot->model.ops->identity != NULL) {
    mvm_error_clear(&merr);
    rc = slot->model.ops->identity(slot->model.self, &identity, &merr);
    if (rc)
      return mvm_vm_fail(vm, in, rc, "reading the identity of model '%s' "
                         "failed: %s", name, merr.msg);
  } else {
    identity = json_pack("{s:s}", "provider", slot->model.ops->kind);
  }
  if (identity == NULL)
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");

  mvm_effect e = {.kind = MVM_EFFECT_MODEL_LOAD, .target = name,
                  .context_label = vm->pc_label, .identity = identity};
  mvm_decision d;
  bool allowed = false;
  rc = mvm_vm_decide(vm, &e, &d, &allowed);
  if (rc) {
    json_decref(identity);
    return mvm_vm_abort(vm, in, rc, "out of memory");
  }
  if (!allowed) {
    json_decref(identity);
    return mvm_vm_fail(vm, in, mvm_vm_denial_status(&d), "loading model '%s' is denied: "
                       "%s (rule %s)", name, d.reason, d.rule);
  }

  slot->loaded = true;
  mvm_vm_record(vm, &e, &d, identity);
  json_decref(identity);

  mvm_value v;
  mvm_value_init(&v);
  v.kind = MVM_VALUE_MODEL;
  v.model = (uint32_t)idx;
  return mvm_vm_write(vm, in, 0, &v);
}

/* model.unload %model
 * Marks the model unloaded and unsets %model. Other registers that copied
 * the handle keep it, but calling through them stops the run with
 * MVM_ESTATE until the model is loaded again. The adapter stays open: the
 * host owns it. */
int mvm_exec_model_unload(mvm_vm *vm, const mvm_insn *in)
{
  model_of(vm, in, 0)->loaded = false;
  mvm_value_clear(&vm->regs[in->opnd[0].reg]);
  return MVM_OK;
}

static int check_loaded(mvm_vm *vm, const mvm_insn *in, mvm_model_slot *slot)
{
  if (slot->loaded)
    return MVM_OK;
  return mvm_vm_abort(vm, in, MVM_ESTATE,
                      "model '%s' is unloaded; load it again with "
                      "model.load", slot->name);
}

/* Fills a reply's missing fields so later instructions can rely on them:
 * "text" a string, "tool_calls" an array. */
static int normalize_reply(json_t *reply)
{
  if (!json_is_string(json_object_get(reply, "text")) &&
      json_object_set_new(reply, "text", json_string("")))
    return MVM_ENOMEM;
  if (!json_is_array(json_object_get(reply, "tool_calls")) &&
      json_object_set_new(reply, "tool_calls", json_array()))
    return MVM_ENOMEM;
  return MVM_OK;
}

/* Calls the adapter with streaming to events; on success *reply is an
 * object with "text" and "tool_calls". */
static int call_model(mvm_vm *vm, const mvm_insn *in, mvm_model_slot *slot,
                      const json_t *request, json_t **reply, bool *failed)
{
  struct stream_ctx sctx = {vm, slot->name};
  mvm_model_stream stream = {on_text, NULL, &sctx};
  mvm_error merr;
  json_t *r = NULL;

  *failed = false;
  mvm_error_clear(&merr);
  int rc = slot->model.ops->call(slot->model.self, request, &stream, &r,
                                 &merr);
  if (rc) {
    /* A model that timed out or could not be read is a model failure to
     * the program, whatever transport error the adapter saw. */
    int status = rc == MVM_ETIMEOUT || rc == MVM_EIO ? MVM_EMODEL : rc;
    *failed = true;
    return mvm_vm_fail(vm, in, status, "model '%s' failed: %s", slot->name,
                       merr.msg);
  }
  if (!json_is_object(r)) {
    json_decref(r);
    *failed = true;
    return mvm_vm_fail(vm, in, MVM_EMODEL,
                       "model '%s' returned a reply that is not an object",
                       slot->name);
  }
  if (normalize_reply(r)) {
    json_decref(r);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }
  *reply = r;
  return MVM_OK;
}

/* Builds {"messages", "tools", "tool_choice": "auto"}, without the last
 * two when no tool is offered. Returns NULL on no memory. */
static json_t *call_request(const mvm_history *history,
                            const mvm_toolset *tools)
{
  json_t *request = json_pack("{s:o}", "messages",
                              mvm_history_messages(history));
  if (request == NULL || mvm_toolset_count(tools) == 0)
    return request;

  if (json_object_set_new(request, "tools", mvm_toolset_offer(tools)) ||
      json_object_set_new(request, "tool_choice", json_string("auto"))) {
    json_decref(request);
    return NULL;
  }
  return request;
}

/* model.call %dst, %model, %history, %tools [, fail]
 * %dst = the model's reply to the history, offered the tools under the
 * names providers accept ("server__tool"). The monitor decides MODEL_CALL
 * on the whole request, labelled with the join of every message label.
 * The reply's text streams to the host as "text" events. A denial fails
 * with MVM_EDENIED, an adapter error with its status. */
int mvm_exec_model_call(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {1, 2, 3};
  mvm_model_slot *slot = model_of(vm, in, 1);
  mvm_value scratch;
  const mvm_value *hist = mvm_vm_arg(vm, in, 2, &scratch);
  const mvm_value *tools = mvm_vm_arg(vm, in, 3, &scratch);
  mvm_label *label = NULL;
  json_t *request = NULL;
  json_t *reply = NULL;
  int rc = check_loaded(vm, in, slot);

  if (rc)
    return rc;
  request = call_request(hist->history, tools->tools);
  if (request == NULL || mvm_vm_join_args(vm, in, ks, 3, &label)) {
    json_decref(request);
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  }

  mvm_effect e = {.kind = MVM_EFFECT_MODEL_CALL, .target = slot->name,
                  .args = request, .args_label = label,
                  .context_label = vm->pc_label};
  mvm_decision d;
  bool allowed = false;
  bool failed = false;
  rc = mvm_vm_decide(vm, &e, &d, &allowed);
  if (rc)
    rc = mvm_vm_abort(vm, in, rc, "out of memory");
  else if (!allowed)
    rc = mvm_vm_fail(vm, in, mvm_vm_denial_status(&d), "calling model '%s' is denied: "
                     "%s (rule %s)", slot->name, d.reason, d.rule);
  else
    rc = call_model(vm, in, slot, request, &reply, &failed);

  if (rc == MVM_OK && reply != NULL) {
    mvm_vm_record(vm, &e, &d, reply);
    mvm_vm_event(vm, json_pack("{s:s,s:s,s:O,s:o}", "event", "model_reply",
                               "model", slot->name, "reply", reply, "label",
                               mvm_vm_label_json(label)));
    rc = mvm_vm_write_json(vm, in, 0, reply, label);
  }
  mvm_label_unref(label);
  json_decref(request);
  return rc;
}

/* model.query %dst, %model, %prompt, %data, type
 * The quarantined query: sends the prompt and the data to the model with
 * no tools and requests output of one type: bool, int, enum ["a", ...]
 * (one of the strings) or schema {...} (a JSON value matching it).
 * %dst = the output when it has that type, else null, so a malformed or
 * manipulated answer is a value the program tests (jnull), not a
 * failure. %dst keeps the label of the prompt and the data, and its
 * origin records {"quarantined": {"type", "model", "valid"}}, which
 * endorse passes to the monitor: a policy can allow endorsing a bool, an
 * enum or an int from a quarantined query while free text stays
 * untrusted. The monitor decides MODEL_QUERY with the type in the
 * effect's detail. A denial or an adapter error stops the run (or takes
 * the failure branch). */
int mvm_exec_model_query(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {1, 2, 3};
  mvm_model_slot *slot = model_of(vm, in, 1);
  const mvm_operand *type = &in->opnd[4];
  mvm_label *label = NULL;
  json_t *request = NULL;
  json_t *detail = NULL;
  json_t *reply = NULL;
  int rc = check_loaded(vm, in, slot);

  if (rc)
    return rc;
  rc = mvm_query_request(type->text, type->value,
                         mvm_vm_arg_json(vm, in, 2),
                         mvm_vm_arg_json(vm, in, 3), &request, &detail);
  if (rc == MVM_OK)
    rc = mvm_vm_join_args(vm, in, ks, 3, &label);
  if (rc) {
    json_decref(request);
    json_decref(detail);
    return mvm_vm_abort(vm, in, rc, "out of memory");
  }

  mvm_effect e = {.kind = MVM_EFFECT_MODEL_QUERY, .target = slot->name,
                  .args = request, .args_label = label,
                  .context_label = vm->pc_label, .detail = detail};
  mvm_decision d;
  bool allowed = false;
  bool failed = false;
  rc = mvm_vm_decide(vm, &e, &d, &allowed);
  if (rc)
    rc = mvm_vm_abort(vm, in, rc, "out of memory");
  else if (!allowed)
    rc = mvm_vm_fail(vm, in, mvm_vm_denial_status(&d), "the quarantined query to model "
                     "'%s' is denied: %s (rule %s)", slot->name, d.reason,
                     d.rule);
  else
    rc = call_model(vm, in, slot, request, &reply, &failed);

  if (rc == MVM_OK && reply != NULL) {
    json_t *out = NULL;
    mvm_vm_record(vm, &e, &d, reply);
    rc = mvm_query_parse(type->text, type->value,
                         json_string_value(json_object_get(reply, "text")),
                         &out);
    mvm_value v;
    mvm_value_init(&v);
    if (rc == MVM_OK) {
      mvm_value_set_json(&v, out ? out : json_null(), label);
      v.origin = json_pack("{s:{s:s,s:s,s:b}}", "quarantined", "type",
                           type->text, "model", slot->name, "valid",
                           out != NULL);
    }
    if (rc || v.json == NULL || v.origin == NULL) {
      mvm_value_clear(&v);
      rc = mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
    } else {
      rc = mvm_vm_write(vm, in, 0, &v);
    }
    json_decref(reply);
  }
  mvm_label_unref(label);
  json_decref(request);
  json_decref(detail);
  return rc;
}
