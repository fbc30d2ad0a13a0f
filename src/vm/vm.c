/* vm.c - the interpreter: VM setup, the dispatch loop, the effect hook,
 * events and tracing. Instruction handlers are in exec_*.c. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "vm/vm_internal.h"

static const mvm_exec_fn exec_table[MVM_OP_COUNT] = {
#define MVM_X_FN(id, stem, mn, group, effect, checked, ops, summary)          \
  [MVM_OP_##id] = mvm_exec_##stem,
    MVM_OPCODE_LIST(MVM_X_FN)
#undef MVM_X_FN
};

/* ------------------------------------------------------------- setup */

int mvm_vm_new(const mvm_program *program, mvm_vm **out, mvm_error *err)
{
  if (!program->verified)
    return mvm_error_set(err, MVM_ESTATE, "vm",
                         "program '%s' is not verified; run mvm_verify "
                         "before creating a VM", program->file);

  mvm_vm *vm = calloc(1, sizeof *vm);
  if (vm == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "vm", "out of memory");
  vm->prog = program;
  vm->models = calloc(program->models.len + 1, sizeof *vm->models);
  vm->regs = calloc(program->nregs + 1, sizeof *vm->regs);
  vm->effects = json_array();
  vm->memory_store = json_object();
  if (vm->models == NULL || vm->regs == NULL || vm->effects == NULL ||
      vm->memory_store == NULL) {
    mvm_vm_free(vm);
    return mvm_error_set(err, MVM_ENOMEM, "vm", "out of memory");
  }
  for (size_t i = 0; i < program->models.len; i++)
    vm->models[i].name = program->models.items[i].name;
  mvm_value_init(&vm->result);
  mvm_vm_set_limits(vm, NULL);
  *out = vm;
  return MVM_OK;
}

static void reset_run(mvm_vm *vm)
{
  for (size_t i = 0; i < vm->prog->nregs; i++)
    mvm_value_clear(&vm->regs[i]);
  for (size_t i = 0; i < vm->nboxes; i++) {
    json_decref(vm->boxes[i].list);
    vm->boxes[i].list = NULL;
  }
  for (size_t i = 0; i < vm->prog->models.len; i++)
    vm->models[i].loaded = false;
  mvm_label_unref(vm->pc_label);
  vm->pc_label = NULL;
  mvm_value_clear(&vm->result);
  vm->depth = 0;
  vm->pc = 0;
  vm->steps = 0;
  vm->halted = false;
  json_array_clear(vm->effects);
}

void mvm_vm_free(mvm_vm *vm)
{
  if (vm == NULL)
    return;
  if (vm->regs != NULL && vm->models != NULL)
    reset_run(vm);
  for (size_t i = 0; i < vm->nboxes; i++)
    free(vm->boxes[i].server);
  free(vm->boxes);
  free(vm->stack);
  free(vm->regs);
  free(vm->models);
  json_decref(vm->effects);
  json_decref(vm->memory_store);
  free(vm);
}

int mvm_vm_bind_model(mvm_vm *vm, const char *name, const mvm_model *model,
                      mvm_error *err)
{
  int idx = mvm_decls_find(&vm->prog->models, name);
  if (idx < 0)
    return mvm_error_set(err, MVM_ENOTFOUND, "vm",
                         "program '%s' declares no model '%s'; declare it "
                         "with '.model %s' or bind a declared one",
                         vm->prog->file, name, name);
  vm->models[idx].model = *model;
  vm->models[idx].bound = true;
  return MVM_OK;
}

int mvm_vm_add_toolbox(mvm_vm *vm, const mvm_toolbox *box, mvm_error *err)
{
  for (size_t i = 0; i < vm->nboxes; i++) {
    if (strcmp(vm->boxes[i].server, box->server) == 0)
      return mvm_error_set(err, MVM_EINVAL, "vm",
                           "a toolbox for server '%s' is already bound; "
                           "give each toolbox its own server name",
                           box->server);
  }

  mvm_toolbox_slot *boxes = realloc(vm->boxes,
                                    (vm->nboxes + 1) * sizeof *boxes);
  if (boxes == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "vm", "out of memory");
  vm->boxes = boxes;

  mvm_toolbox_slot *slot = &vm->boxes[vm->nboxes];
  memset(slot, 0, sizeof *slot);
  slot->server = strdup(box->server);
  if (slot->server == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "vm", "out of memory");
  slot->box = *box;
  slot->box.server = slot->server;
  vm->nboxes++;
  return MVM_OK;
}

void mvm_vm_set_monitor(mvm_vm *vm, const mvm_monitor *monitor)
{
  vm->has_monitor = monitor != NULL;
  if (monitor != NULL)
    vm->monitor = *monitor;
}

void mvm_vm_set_user(mvm_vm *vm, const mvm_user *user)
{
  vm->has_user = user != NULL;
  if (user != NULL)
    vm->user = *user;
}

void mvm_vm_set_memory(mvm_vm *vm, const mvm_memory *memory)
{
  vm->has_memory = memory != NULL;
  if (memory != NULL)
    vm->memory = *memory;
}

void mvm_vm_set_limits(mvm_vm *vm, const mvm_vm_limits *limits)
{
  mvm_vm_limits l = {0};
  if (limits != NULL)
    l = *limits;
  if (l.max_steps == 0)
    l.max_steps = MVM_VM_DEFAULT_MAX_STEPS;
  if (l.max_call_depth == 0)
    l.max_call_depth = MVM_VM_DEFAULT_MAX_CALL_DEPTH;
  if (l.max_history == 0)
    l.max_history = MVM_VM_DEFAULT_MAX_HISTORY;
  if (l.max_value_bytes == 0)
    l.max_value_bytes = MVM_VM_DEFAULT_MAX_VALUE_BYTES;
  vm->limits = l;
}

void mvm_vm_set_event_hook(mvm_vm *vm, mvm_event_fn fn, void *ctx)
{
  vm->on_event = fn;
  vm->event_ctx = ctx;
}

const json_t *mvm_vm_effects(const mvm_vm *vm)
{
  return vm->effects;
}

uint64_t mvm_vm_steps(const mvm_vm *vm)
{
  return vm->steps;
}

/* ------------------------------------------------------------- operands */

const mvm_value *mvm_vm_arg(mvm_vm *vm, const mvm_insn *in, unsigned k,
                            mvm_value *scratch)
{
  const mvm_operand *op = &in->opnd[k];

  if (op->form == MVM_FORM_REG)
    return &vm->regs[op->reg];
  mvm_value_init(scratch);
  scratch->kind = MVM_VALUE_JSON;
  scratch->json = op->value;
  return scratch;
}

const json_t *mvm_vm_arg_json(mvm_vm *vm, const mvm_insn *in, unsigned k)
{
  const mvm_operand *op = &in->opnd[k];

  if (op->form != MVM_FORM_REG)
    return op->value;
  assert(vm->regs[op->reg].kind == MVM_VALUE_JSON);
  return vm->regs[op->reg].json;
}

const mvm_label *mvm_vm_arg_label(mvm_vm *vm, const mvm_insn *in,
                                  unsigned k)
{
  const mvm_operand *op = &in->opnd[k];
  return op->form == MVM_FORM_REG ? vm->regs[op->reg].label : NULL;
}

int mvm_vm_join_args(mvm_vm *vm, const mvm_insn *in, const unsigned *ks,
                     size_t n, mvm_label **out)
{
  mvm_label *acc = NULL;

  for (size_t i = 0; i < n; i++) {
    mvm_value scratch;
    const mvm_value *v = mvm_vm_arg(vm, in, ks[i], &scratch);
    mvm_label *l = NULL;
    mvm_label *next = NULL;
    int rc = mvm_value_label(v, &l);
    if (rc == MVM_OK)
      rc = mvm_label_join(acc, l, &next);
    mvm_label_unref(l);
    mvm_label_unref(acc);
    if (rc)
      return rc;
    acc = next;
  }
  *out = acc;
  return MVM_OK;
}

int mvm_vm_write(mvm_vm *vm, const mvm_insn *in, unsigned k, mvm_value *v)
{
  int rc = mvm_value_join_label(v, vm->pc_label);
  if (rc) {
    mvm_value_clear(v);
    return mvm_vm_abort(vm, in, rc, "out of memory");
  }
  mvm_value_move(&vm->regs[in->opnd[k].reg], v);
  return MVM_OK;
}

int mvm_vm_write_json(mvm_vm *vm, const mvm_insn *in, unsigned k,
                      json_t *json, const mvm_label *label)
{
  mvm_value v;

  if (json == NULL)
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  mvm_value_init(&v);
  mvm_value_set_json(&v, json, label);
  return mvm_vm_write(vm, in, k, &v);
}

/* ------------------------------------------------------------- failure */

int32_t mvm_vm_fail_target(const mvm_insn *in)
{
  const mvm_op_info *info = mvm_op_info_get(in->op);
  if (!info->has_fail || in->nopnd != info->nopnd)
    return -1;
  return in->opnd[in->nopnd - 1].target;
}

static int stop_run(mvm_vm *vm, const mvm_insn *in, int code,
                    const char *msg)
{
  mvm_error_set(vm->err, code, "vm", "%s:%u: %s: %s", vm->prog->file,
                in->line, mvm_op_info_get(in->op)->mnemonic, msg);
  return code;
}

int mvm_vm_fail(mvm_vm *vm, const mvm_insn *in, int code, const char *fmt,
                ...)
{
  char msg[MVM_ERROR_MSG_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  int32_t target = mvm_vm_fail_target(in);
  if (target >= 0 && code != MVM_ENOMEM) {
    mvm_trace(MVM_TRACE_VM, "%s:%u: %s failed (%s: %s); going to %s",
              vm->prog->file, in->line, mvm_op_info_get(in->op)->mnemonic,
              mvm_status_name(code), msg, in->opnd[in->nopnd - 1].text);
    vm->next = (size_t)target;
    return MVM_OK;
  }
  return stop_run(vm, in, code, msg);
}

int mvm_vm_abort(mvm_vm *vm, const mvm_insn *in, int code, const char *fmt,
                 ...)
{
  char msg[MVM_ERROR_MSG_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return stop_run(vm, in, code, msg);
}

int mvm_vm_check_size(mvm_vm *vm, const mvm_insn *in, size_t len,
                      const char *what)
{
  if (len <= vm->limits.max_value_bytes)
    return MVM_OK;
  return mvm_vm_abort(vm, in, MVM_ELIMIT,
                      "%s would be %zu bytes, over the value limit of %zu "
                      "bytes", what, len, vm->limits.max_value_bytes);
}

char *mvm_vm_text_of(const json_t *json)
{
  if (json_is_string(json))
    return strndup(json_string_value(json), json_string_length(json));
  return json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ------------------------------------------------------------- events */

json_t *mvm_vm_label_json(const mvm_label *label)
{
  return mvm_label_to_json(label);
}

void mvm_vm_event(mvm_vm *vm, json_t *event)
{
  if (event == NULL)
    return;
  if (vm->on_event != NULL)
    vm->on_event(vm->event_ctx, event);
  json_decref(event);
}

/* ------------------------------------------------------------- effects */

static json_t *effect_json(const mvm_effect *e, const mvm_decision *d)
{
  return json_pack("{s:s,s:s?,s:O?,s:o,s:o,s:O?,s:O?,s:I,s:s,s:s,s:s}",
                   "effect", mvm_effect_name(e->kind), "target", e->target,
                   "args", e->args, "args_label",
                   mvm_label_to_json(e->args_label), "context_label",
                   mvm_label_to_json(e->context_label), "identity",
                   e->identity, "detail", e->detail, "step",
                   (json_int_t)e->step, "verdict",
                   d->verdict == MVM_VERDICT_ALLOW  ? "allow"
                   : d->verdict == MVM_VERDICT_DENY ? "deny"
                                                    : "ask",
                   "rule", d->rule, "reason", d->reason);
}

/* Builds the confirmation prompt for an ASK verdict. */
static char *ask_prompt(const mvm_effect *e, const mvm_decision *d)
{
  char *args = e->args ? json_dumps(e->args, JSON_COMPACT |
                                                 JSON_ENCODE_ANY)
                       : NULL;
  char *prompt = NULL;
  const int max_args = 300;

  if (asprintf(&prompt, "Allow %s%s%s%s%.*s%s? %s (rule %s)",
               mvm_effect_name(e->kind), e->target ? " " : "",
               e->target ? e->target : "", args ? " with " : "", max_args,
               args ? args : "",
               args && strlen(args) > (size_t)max_args ? "..." : "",
               d->reason[0] ? d->reason : "the policy asks for "
                                          "confirmation",
               d->rule[0] ? d->rule : "unnamed") < 0)
    prompt = NULL;
  free(args);
  return prompt;
}

static int resolve_ask(mvm_vm *vm, const mvm_effect *e, mvm_decision *d)
{
  char *prompt = ask_prompt(e, d);
  mvm_error uerr;
  bool yes = false;
  int rc;

  if (prompt == NULL)
    return MVM_ENOMEM;
  if (!vm->has_user || vm->user.ops->confirm == NULL)
    rc = MVM_EUNSUPPORTED;
  else
    rc = vm->user.ops->confirm(vm->user.self, prompt, &yes, &uerr);
  free(prompt);

  /* The policy's reason is cut so the prefix always fits. */
  char reason[MVM_REASON_MAX];
  const int keep = MVM_REASON_MAX - 100;
  if (rc == MVM_OK && yes) {
    snprintf(reason, sizeof reason, "the user confirmed: %.*s", keep,
             d->reason);
    d->verdict = MVM_VERDICT_ALLOW;
  } else if (rc == MVM_OK) {
    snprintf(reason, sizeof reason, "the user declined: %.*s", keep,
             d->reason);
    d->verdict = MVM_VERDICT_DENY;
  } else if (rc == MVM_EUNSUPPORTED) {
    snprintf(reason, sizeof reason, "no user to confirm: %.*s", keep,
             d->reason);
    d->verdict = MVM_VERDICT_DENY;
  } else {
    snprintf(reason, sizeof reason, "confirmation failed (%.60s): %.*s",
             uerr.msg, keep - 60, d->reason);
    d->verdict = MVM_VERDICT_DENY;
  }
  memcpy(d->reason, reason, sizeof d->reason);
  return MVM_OK;
}

int mvm_vm_decide(mvm_vm *vm, mvm_effect *effect, mvm_decision *decision,
                  bool *allowed)
{
  mvm_error merr;
  int rc = MVM_OK;

  effect->step = vm->steps;
  memset(decision, 0, sizeof *decision);
  if (vm->has_monitor) {
    mvm_error_clear(&merr);
    rc = vm->monitor.ops->check(vm->monitor.self, effect, decision, &merr);
    if (rc) {
      /* A monitor that cannot decide denies. */
      decision->verdict = MVM_VERDICT_DENY;
      snprintf(decision->rule, sizeof decision->rule, "monitor-error");
      snprintf(decision->reason, sizeof decision->reason,
               "the monitor failed (%s): %.400s", mvm_status_name(rc),
               merr.msg);
    }
  } else {
    decision->verdict = MVM_VERDICT_ALLOW;
    snprintf(decision->rule, sizeof decision->rule, "default");
    snprintf(decision->reason, sizeof decision->reason,
             "no monitor is set, so every effect is allowed");
  }

  rc = MVM_OK;
  if (decision->verdict == MVM_VERDICT_ASK)
    rc = resolve_ask(vm, effect, decision);
  if (rc)
    return rc;
  if (decision->verdict != MVM_VERDICT_ALLOW)
    decision->verdict = MVM_VERDICT_DENY;
  *allowed = decision->verdict == MVM_VERDICT_ALLOW;

  if (!vm->has_monitor) {
    json_t *rec = effect_json(effect, decision);
    if (rec == NULL || json_array_append_new(vm->effects, rec))
      return MVM_ENOMEM;
  }
  mvm_trace(MVM_TRACE_POLICY, "%s %s: %s (rule %s): %s",
            mvm_effect_name(effect->kind),
            effect->target ? effect->target : "-",
            *allowed ? "allow" : "deny", decision->rule, decision->reason);
  mvm_vm_event(vm, json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s,s:s*}", "event",
                             "decision", "effect",
                             mvm_effect_name(effect->kind), "target",
                             effect->target, "verdict",
                             *allowed ? "allow" : "deny", "rule",
                             decision->rule, "reason", decision->reason,
                             "pin",
                             decision->pin[0] ? decision->pin : NULL));
  return MVM_OK;
}

void mvm_vm_record(mvm_vm *vm, const mvm_effect *effect,
                   const mvm_decision *decision, const json_t *outcome)
{
  if (!vm->has_monitor) {
    json_t *last = json_array_get(vm->effects,
                                  json_array_size(vm->effects) - 1);
    if (last != NULL && outcome != NULL)
      json_object_set(last, "outcome", (json_t *)outcome);
    return;
  }
  if (vm->monitor.ops->record == NULL)
    return;

  mvm_error merr;
  int rc = vm->monitor.ops->record(vm->monitor.self, effect, decision,
                                   outcome, &merr);
  if (rc)
    mvm_log(MVM_LOG_WARN, "vm", "monitor record() failed for %s %s: %s",
            mvm_effect_name(effect->kind),
            effect->target ? effect->target : "-", merr.msg);
}

/* ------------------------------------------------------------- tools */

int mvm_vm_tool_list(mvm_vm *vm, const mvm_insn *in, const char *server,
                     mvm_toolbox_slot **slot, const json_t **list)
{
  for (size_t i = 0; i < vm->nboxes; i++) {
    mvm_toolbox_slot *s = &vm->boxes[i];
    if (strcmp(s->server, server) != 0)
      continue;

    if (s->list == NULL) {
      mvm_error terr;
      mvm_error_clear(&terr);
      int rc = s->box.ops->list(s->box.self, &s->list, &terr);
      if (rc)
        return mvm_vm_fail(vm, in, rc, "listing the tools of server '%s' "
                           "failed: %s", server, terr.msg);
      if (!json_is_array(s->list)) {
        json_decref(s->list);
        s->list = NULL;
        return mvm_vm_fail(vm, in, MVM_EPROTOCOL, "server '%s' listed its "
                           "tools as something other than an array",
                           server);
      }
    }
    *slot = s;
    *list = s->list;
    return MVM_OK;
  }
  *slot = NULL;
  return mvm_vm_fail(vm, in, MVM_ENOTFOUND, "no toolbox is bound for "
                     "server '%s'; bind one or change the tool name",
                     server);
}

/* ------------------------------------------------------------- tracing */

static void trace_insn(mvm_vm *vm, const mvm_insn *in)
{
  const mvm_op_info *info = mvm_op_info_get(in->op);
  mvm_buf b;
  char label[256];

  mvm_buf_init(&b, 4096);
  mvm_buf_printf(&b, "%s:%u [%zu] %s", vm->prog->file, in->line, vm->pc,
                 info->mnemonic);
  for (unsigned k = 0; k < in->nopnd; k++) {
    const mvm_operand *op = &in->opnd[k];
    char kind = info->opnd[k].kind;
    mvm_buf_append_str(&b, k == 0 ? " " : ", ");
    if (op->form != MVM_FORM_REG) {
      char *text = NULL;
      const char *shown = op->text;
      if (op->value != NULL) {
        text = json_dumps(op->value, JSON_COMPACT | JSON_ENCODE_ANY);
        shown = text;
      }
      mvm_buf_printf(&b, "%.60s", shown ? shown : "?");
      free(text);
      continue;
    }
    mvm_buf_printf(&b, "%%%s", vm->prog->regs[op->reg]);
    if (kind == 'w')
      continue;

    mvm_label *l = NULL;
    if (mvm_value_label(&vm->regs[op->reg], &l) == MVM_OK)
      mvm_buf_printf(&b, "=%s", mvm_label_format(l, label, sizeof label));
    mvm_label_unref(l);
  }
  mvm_buf_printf(&b, "  pc=%s",
                 mvm_label_format(vm->pc_label, label, sizeof label));
  mvm_trace(MVM_TRACE_VM, "%s", b.data ? b.data : "");
  mvm_buf_free(&b);
}

/* ------------------------------------------------------------- run */

int mvm_vm_join_pc(mvm_vm *vm, const mvm_label *label)
{
  mvm_label *joined = NULL;
  int rc = mvm_label_join(vm->pc_label, label, &joined);

  if (rc)
    return rc;
  mvm_label_unref(vm->pc_label);
  vm->pc_label = joined;
  return MVM_OK;
}

/* The path a conditional jump or a failure branch takes depends on the
 * instruction's inputs, so their labels join the pc label before it
 * runs. */
static int join_branch_inputs(mvm_vm *vm, const mvm_insn *in)
{
  const mvm_op_info *info = mvm_op_info_get(in->op);
  bool conditional = in->op == MVM_OP_JT || in->op == MVM_OP_JF ||
                     in->op == MVM_OP_JEQ || in->op == MVM_OP_JNE ||
                     in->op == MVM_OP_JEMPTY || in->op == MVM_OP_JNULL;
  unsigned ks[MVM_MAX_OPERANDS];
  size_t n = 0;

  if (!conditional && mvm_vm_fail_target(in) < 0)
    return MVM_OK;
  for (unsigned k = 0; k < in->nopnd; k++) {
    char kind = info->opnd[k].kind;
    if ((kind == 'r' || kind == 'u' || kind == 'x') &&
        in->opnd[k].form == MVM_FORM_REG)
      ks[n++] = k;
  }

  mvm_label *inputs = NULL;
  int rc = mvm_vm_join_args(vm, in, ks, n, &inputs);
  if (rc == MVM_OK)
    rc = mvm_vm_join_pc(vm, inputs);
  mvm_label_unref(inputs);
  if (rc)
    return mvm_vm_abort(vm, in, rc, "out of memory");
  return MVM_OK;
}

int mvm_program_check_input(const mvm_program *p, const json_t *input,
                            mvm_error *err)
{
  const char *reg;
  char type[64];
  char *text;
  json_t *empty;
  bool text_type;
  int rc;

  if (p->input_reg < 0)
    return MVM_OK;
  reg = p->regs[p->input_reg];
  mvm_type_format(p->input_type, type, sizeof type);
  /* A string input can come from --input TEXT, anything else needs JSON. */
  empty = json_string("");
  text_type = empty != NULL && mvm_type_check_json(p->input_type, empty);
  json_decref(empty);
  if (input == NULL)
    return mvm_error_set(err, MVM_EINVAL, "vm",
                         "program '%s' declares '.input %%%s %s' but the run "
                         "got no input; pass one with mvm run %s",
                         p->file, reg, type,
                         text_type ? "--input TEXT" : "--input-json VALUE");
  if (mvm_type_check_json(p->input_type, input))
    return MVM_OK;

  text = json_dumps(input, JSON_ENCODE_ANY | JSON_COMPACT);
  rc = mvm_error_set(err, MVM_EINVAL, "vm",
                     "invalid input %.80s%s for '.input %%%s %s' in '%s': "
                     "pass a value of type %s%s",
                     text != NULL ? text : "(unprintable)",
                     text != NULL && strlen(text) > 80 ? "..." : "", reg,
                     type, p->file, type,
                     json_is_string(input) && !text_type
                         ? " as JSON with mvm run --input-json VALUE"
                         : "");
  free(text);
  return rc;
}

static int set_input(mvm_vm *vm, const json_t *input,
                     const mvm_label *input_label, mvm_error *err)
{
  const mvm_program *p = vm->prog;
  int rc = mvm_program_check_input(p, input, err);

  if (rc || p->input_reg < 0)
    return rc;
  mvm_value_set_json(&vm->regs[p->input_reg], json_incref((json_t *)input),
                     input_label);
  return MVM_OK;
}

static int step(mvm_vm *vm)
{
  const mvm_insn *in = &vm->prog->insns[vm->pc];

  if (vm->steps >= vm->limits.max_steps)
    return mvm_vm_abort(vm, in, MVM_EBUDGET,
                        "the step budget of %llu instructions is used up; "
                        "raise it (mvm run --steps N) or look for a loop "
                        "that never ends",
                        (unsigned long long)vm->limits.max_steps);
  vm->steps++;
  if (mvm_trace_on(MVM_TRACE_VM))
    trace_insn(vm, in);

  int rc = join_branch_inputs(vm, in);
  if (rc)
    return rc;
  vm->next = vm->pc + 1;
  rc = exec_table[in->op](vm, in);
  if (rc)
    return rc;
  /* The verifier rules out falling off the end. */
  assert(vm->halted || vm->next < vm->prog->ninsns);
  vm->pc = vm->next;
  return MVM_OK;
}

int mvm_vm_run(mvm_vm *vm, const json_t *input, const mvm_label *input_label,
               json_t **result, mvm_label **result_label, mvm_error *err)
{
  mvm_error local;
  int rc;

  if (err == NULL)
    err = &local;
  mvm_error_clear(err);
  reset_run(vm);
  vm->err = err;

  if (vm->stack_cap != vm->limits.max_call_depth) {
    free(vm->stack);
    vm->stack = calloc(vm->limits.max_call_depth, sizeof *vm->stack);
    vm->stack_cap = vm->stack ? vm->limits.max_call_depth : 0;
  }
  if (vm->stack == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "vm", "out of memory");

  rc = set_input(vm, input, input_label, err);
  while (rc == MVM_OK && !vm->halted)
    rc = step(vm);
  vm->err = NULL;
  if (rc)
    return rc;

  if (result != NULL)
    *result = json_incref(vm->result.json);
  if (result_label != NULL)
    *result_label = mvm_label_ref(vm->result.label);
  return MVM_OK;
}
