/* verify.c - the verifier: names, control flow, types and taint.
 *
 * It runs after the assembler and before anything executes:
 *  1. names: jump targets, subroutines, models, tools and tool patterns
 *     resolve to labels and declarations;
 *  2. control flow: the graph of successors, with subroutine calls and
 *     returns, no path falling off the end, no `ret` outside a subroutine,
 *     and unreachable code reported;
 *  3. dataflow: the static type of every register before every
 *     instruction, joined at merge points until nothing changes, checked
 *     against what each operand accepts, with "unset" tracked so that a
 *     read of a register that some path never wrote is rejected;
 *  4. taint: over the same dataflow, which registers may hold data derived
 *     from a tool result, a model reply that saw one, or memory, and where
 *     such data, or a branch on it, reaches a tool call.
 * Messages are sorted by line and column before they reach the caller. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value/schema.h"
#include "vm/program.h"

/* The verifier keeps one state per instruction and register; this bounds
 * that memory (8 bytes each) for hostile input. */
#define MAX_STATE_CELLS (4u * 1024 * 1024)

typedef struct reg_state {
  uint32_t type;
  int32_t taint; /* index of the instruction the taint came from, or -1 */
} reg_state;

typedef struct edge_list {
  uint32_t *items;
  size_t len;
  size_t cap;
} edge_list;

typedef struct message {
  int severity;
  unsigned line;
  unsigned col;
  char *text;
} message;

typedef struct verifier {
  mvm_program *p;
  size_t n;    /* instructions */
  size_t regs; /* registers */
  reg_state *in;    /* n * regs: state before each instruction */
  int32_t *pc_in;   /* n: taint of the branch context before each */
  bool *reached;    /* n: the state has been set */
  bool *queued;
  uint32_t *queue;
  size_t qhead;
  size_t qlen;
  edge_list *returns; /* n: for a ret, the instructions it returns to */
  bool *falls_off;    /* n: a path leaves the program after it */
  message *msgs;
  size_t nmsgs;
  size_t msg_cap;
  json_t *taint;
  int rc;
} verifier;

static void add_message(verifier *v, int severity, unsigned line,
                        unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add_message(verifier *v, int severity, unsigned line,
                        unsigned col, const char *fmt, ...)
{
  if (v->nmsgs == v->msg_cap) {
    size_t cap = v->msg_cap ? v->msg_cap * 2 : 16;
    message *msgs = realloc(v->msgs, cap * sizeof *msgs);
    if (msgs == NULL) {
      v->rc = MVM_ENOMEM;
      return;
    }
    v->msgs = msgs;
    v->msg_cap = cap;
  }

  char *text = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&text, fmt, ap) < 0)
    text = NULL;
  va_end(ap);
  if (text == NULL) {
    v->rc = MVM_ENOMEM;
    return;
  }
  v->msgs[v->nmsgs++] = (message){severity, line, col, text};
}

static const mvm_op_info *info_of(const mvm_insn *in)
{
  return mvm_op_info_get(in->op);
}

static const char *reg_name(const verifier *v, uint32_t reg)
{
  return v->p->regs[reg];
}

static int edge_add(edge_list *e, uint32_t to)
{
  for (size_t i = 0; i < e->len; i++) {
    if (e->items[i] == to)
      return MVM_OK;
  }
  if (e->len == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 4;
    uint32_t *items = realloc(e->items, cap * sizeof *items);
    if (items == NULL)
      return MVM_ENOMEM;
    e->items = items;
    e->cap = cap;
  }
  e->items[e->len++] = to;
  return MVM_OK;
}

/* ------------------------------------------------------------- names */

static void check_label(verifier *v, const mvm_insn *in, mvm_operand *op,
                        char kind)
{
  int idx = mvm_decls_find(&v->p->labels, op->text);
  const char *mn = info_of(in)->mnemonic;

  if (idx >= 0) {
    op->target = (int32_t)v->p->labels.items[idx].index;
    return;
  }
  op->target = -1;
  if (kind == 's')
    add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                "'call' to subroutine '%s', which does not exist", op->text);
  else if (kind == 'o')
    add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                "'%s' failure branch goes to label '%s', which does not "
                "exist", mn, op->text);
  else
    add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                "'%s' jumps to label '%s', which does not exist", mn,
                op->text);
}

static bool tool_declared(const mvm_program *p, const char *tool)
{
  if (mvm_decls_find(&p->tools, tool) >= 0)
    return true;
  for (size_t i = 0; i < p->patterns.len; i++) {
    if (mvm_pattern_match(p->patterns.items[i].name, tool))
      return true;
  }
  return false;
}

static void check_names(verifier *v)
{
  for (size_t i = 0; i < v->n; i++) {
    mvm_insn *in = &v->p->insns[i];
    const mvm_op_info *info = info_of(in);

    for (unsigned k = 0; k < in->nopnd; k++) {
      mvm_operand *op = &in->opnd[k];
      char kind = info->opnd[k].kind;

      if (kind == 'l' || kind == 's' || kind == 'o')
        check_label(v, in, op, kind);
      else if (kind == 'm' && mvm_decls_find(&v->p->models, op->text) < 0)
        add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                    "model '%s' is not declared; add '.model %s'", op->text,
                    op->text);
      else if (kind == 't' && !tool_declared(v->p, op->text))
        add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                    "tool '%s' is not declared; add '.tool %s' or a "
                    "'.tools' pattern that matches it", op->text, op->text);
      else if (kind == 'p' && mvm_decls_find(&v->p->patterns, op->text) < 0)
        add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                    "tool pattern '%s' is not declared; add '.tools %s'",
                    op->text, op->text);
    }
  }
}

/* ------------------------------------------------------------- control */

static int32_t label_target(const mvm_insn *in, char kind)
{
  const mvm_op_info *info = info_of(in);
  for (unsigned k = 0; k < in->nopnd; k++) {
    if (info->opnd[k].kind == kind)
      return in->opnd[k].target;
  }
  return -1;
}

static bool is_conditional_jump(int op)
{
  return op == MVM_OP_JT || op == MVM_OP_JF || op == MVM_OP_JEQ ||
         op == MVM_OP_JNE || op == MVM_OP_JEMPTY || op == MVM_OP_JNULL;
}

/* Whether the instruction can complete and go on to the next one. */
static bool continues(const mvm_insn *in)
{
  switch (in->op) {
  case MVM_OP_JMP:
  case MVM_OP_RET:
  case MVM_OP_HALT:
  case MVM_OP_FAIL:
  case MVM_OP_CALL:
    return false;
  }
  return true;
}

/* Successors inside one routine: a call goes on to the next instruction
 * and a ret ends the routine. Writes up to 2 targets. */
static size_t local_successors(const verifier *v, size_t i, uint32_t *out)
{
  const mvm_insn *in = &v->p->insns[i];
  size_t n = 0;
  int32_t t = -1;

  if (continues(in) || in->op == MVM_OP_CALL) {
    if (i + 1 < v->n)
      out[n++] = (uint32_t)(i + 1);
  }
  if (in->op == MVM_OP_JMP || is_conditional_jump(in->op))
    t = label_target(in, 'l');
  else if (info_of(in)->has_fail && in->nopnd == info_of(in)->nopnd)
    t = label_target(in, 'o');
  if (t >= 0)
    out[n++] = (uint32_t)t;
  return n;
}

/* Marks every instruction of the routine entered at `entry` and collects
 * its `ret`s. */
static int routine_body(const verifier *v, size_t entry, bool *seen,
                        edge_list *rets)
{
  uint32_t *stack = malloc(v->n * sizeof *stack);
  size_t top = 0;
  int rc = MVM_OK;

  if (stack == NULL)
    return MVM_ENOMEM;
  memset(seen, 0, v->n * sizeof *seen);
  seen[entry] = true;
  stack[top++] = (uint32_t)entry;
  while (top > 0 && rc == MVM_OK) {
    uint32_t i = stack[--top];
    uint32_t succ[2];

    if (v->p->insns[i].op == MVM_OP_RET)
      rc = edge_add(rets, i);
    size_t ns = local_successors(v, i, succ);
    for (size_t k = 0; k < ns; k++) {
      if (!seen[succ[k]]) {
        seen[succ[k]] = true;
        stack[top++] = succ[k];
      }
    }
  }
  free(stack);
  return rc;
}

/* Links every ret of every called routine to the instruction after each
 * call of that routine, and reports a ret reachable from the entry. */
static int link_returns(verifier *v)
{
  bool *seen = calloc(v->n, sizeof *seen);
  edge_list rets = {0};
  int rc = seen ? MVM_OK : MVM_ENOMEM;

  if (rc == MVM_OK)
    rc = routine_body(v, 0, seen, &rets);
  for (size_t r = 0; rc == MVM_OK && r < rets.len; r++) {
    const mvm_insn *in = &v->p->insns[rets.items[r]];
    add_message(v, MVM_DIAG_ERROR, in->line, in->col,
                "'ret' is reachable from the program entry, outside any "
                "subroutine; reach subroutines with 'call'");
  }

  for (size_t c = 0; rc == MVM_OK && c < v->n; c++) {
    const mvm_insn *in = &v->p->insns[c];
    int32_t target = in->op == MVM_OP_CALL ? in->opnd[0].target : -1;
    if (target < 0)
      continue;

    rets.len = 0;
    rc = routine_body(v, (size_t)target, seen, &rets);
    for (size_t r = 0; rc == MVM_OK && r < rets.len; r++) {
      if (c + 1 < v->n)
        rc = edge_add(&v->returns[rets.items[r]], (uint32_t)(c + 1));
      else
        v->falls_off[c] = true;
    }
  }
  free(rets.items);
  free(seen);
  return rc;
}

/* ------------------------------------------------------------- dataflow */

static int32_t taint_join(int32_t a, int32_t b)
{
  if (a < 0)
    return b;
  if (b < 0)
    return a;
  return a < b ? a : b;
}

static reg_state *state_at(const verifier *v, size_t i)
{
  return &v->in[i * v->regs];
}

static void enqueue(verifier *v, size_t i)
{
  if (v->queued[i])
    return;
  v->queued[i] = true;
  v->queue[(v->qhead + v->qlen++) % v->n] = (uint32_t)i;
}

/* Joins a state into the state before instruction `to`. */
static void flow(verifier *v, size_t to, const reg_state *regs, int32_t pc)
{
  reg_state *dst = state_at(v, to);
  bool changed = !v->reached[to];

  if (!v->reached[to]) {
    memcpy(dst, regs, v->regs * sizeof *dst);
    v->pc_in[to] = pc;
    v->reached[to] = true;
  } else {
    for (size_t r = 0; r < v->regs; r++) {
      uint32_t type = dst[r].type | regs[r].type;
      int32_t taint = taint_join(dst[r].taint, regs[r].taint);
      if (type != dst[r].type || taint != dst[r].taint) {
        dst[r].type = type;
        dst[r].taint = taint;
        changed = true;
      }
    }
    int32_t joined = taint_join(v->pc_in[to], pc);
    if (joined != v->pc_in[to]) {
      v->pc_in[to] = joined;
      changed = true;
    }
  }
  if (changed)
    enqueue(v, to);
}

/* The static type and taint of a read operand. */
static reg_state operand_state(const verifier *v, const reg_state *regs,
                               const mvm_operand *op)
{
  if (op->form == MVM_FORM_REG)
    return regs[op->reg];
  if (op->form == MVM_FORM_LITERAL)
    return (reg_state){mvm_type_of_json(op->value), -1};
  return (reg_state){0, -1};
}

/* Joins the taint of every register the instruction reads. */
static int32_t inputs_taint(const verifier *v, const mvm_insn *in,
                            const reg_state *regs)
{
  const mvm_op_info *info = info_of(in);
  int32_t t = -1;

  for (unsigned k = 0; k < in->nopnd; k++) {
    const mvm_operand *op = &in->opnd[k];
    char kind = info->opnd[k].kind;

    if ((kind == 'r' || kind == 'u' || kind == 'x') &&
        op->form == MVM_FORM_REG)
      t = taint_join(t, regs[op->reg].taint);
    if (kind == 'f') {
      for (size_t p = 0; p < json_array_size(op->parts); p++) {
        json_t *part = json_array_get(op->parts, p);
        if (json_is_integer(part))
          t = taint_join(t, regs[json_integer_value(part)].taint);
      }
    }
  }
  return t;
}

/* The taint a written register gets, before the branch context joins. */
static int32_t result_taint(const verifier *v, size_t i,
                            const reg_state *regs)
{
  const mvm_insn *in = &v->p->insns[i];

  switch (in->op) {
  case MVM_OP_TOOL_CALL:
  case MVM_OP_DISPATCH:
  case MVM_OP_MEM_LOAD:
    return (int32_t)i;
  case MVM_OP_ENDORSE:
  case MVM_OP_USER_ASK:
  case MVM_OP_USER_CONFIRM:
    return -1;
  }
  return inputs_taint(v, in, regs);
}

/* The static type the instruction writes to its w or u operand. */
static uint32_t result_type(const verifier *v, const mvm_insn *in,
                            const reg_state *regs, unsigned k)
{
  const mvm_op_info *info = info_of(in);
  const mvm_opnd_info *oi = &info->opnd[k];

  if (oi->kind == 'u')
    return oi->type;
  if (oi->same_as >= 0) {
    reg_state s = operand_state(v, regs, &in->opnd[oi->same_as]);
    return s.type & ~(uint32_t)MVM_T_UNSET;
  }
  for (unsigned j = 0; j < in->nopnd; j++) {
    if ((oi->from_type && info->opnd[j].kind == 'y') ||
        (oi->from_query && info->opnd[j].kind == 'q'))
      return in->opnd[j].type;
  }
  return oi->type;
}

/* Whether the instruction joins its inputs' taint into the branch
 * context: a conditional jump, or an instruction with a failure branch,
 * because which way it goes depends on its inputs. */
static bool branches_on_inputs(const mvm_insn *in)
{
  const mvm_op_info *info = info_of(in);
  return is_conditional_jump(in->op) ||
         (info->has_fail && in->nopnd == info->nopnd);
}

static void transfer(verifier *v, size_t i, reg_state *out)
{
  const mvm_insn *in = &v->p->insns[i];
  const mvm_op_info *info = info_of(in);
  const reg_state *before = state_at(v, i);
  int32_t pc = v->pc_in[i];

  if (branches_on_inputs(in))
    pc = taint_join(pc, inputs_taint(v, in, before));

  /* The failure branch leaves every register as it was. */
  int32_t fail_target = -1;
  if (info->has_fail && in->nopnd == info->nopnd)
    fail_target = in->opnd[in->nopnd - 1].target;
  if (fail_target >= 0)
    flow(v, (size_t)fail_target, before, pc);

  memcpy(out, before, v->regs * sizeof *out);
  for (unsigned k = 0; k < in->nopnd; k++) {
    char kind = info->opnd[k].kind;
    uint32_t reg = in->opnd[k].reg;

    if (kind == 'w' || kind == 'u') {
      out[reg].type = result_type(v, in, before, k);
      out[reg].taint = taint_join(result_taint(v, i, before), pc);
    } else if (kind == 'x') {
      out[reg].type = MVM_T_UNSET;
      out[reg].taint = -1;
    }
  }

  switch (in->op) {
  case MVM_OP_JMP:
    if (in->opnd[0].target >= 0)
      flow(v, (size_t)in->opnd[0].target, out, pc);
    return;
  case MVM_OP_CALL:
    if (in->opnd[0].target >= 0) {
      flow(v, (size_t)in->opnd[0].target, out, pc);
      return;
    }
    /* A missing subroutine is already reported; going on to the next
     * instruction keeps the code after it from being reported as
     * unreachable too. */
    break;
  case MVM_OP_RET:
    for (size_t r = 0; r < v->returns[i].len; r++)
      flow(v, v->returns[i].items[r], out, pc);
    return;
  case MVM_OP_HALT:
  case MVM_OP_FAIL:
    return;
  }

  int32_t target = is_conditional_jump(in->op) ? label_target(in, 'l') : -1;
  if (in->op == MVM_OP_JNULL && in->opnd[0].form == MVM_FORM_REG) {
    /* jnull narrows: null at the target, not null after it. */
    uint32_t reg = in->opnd[0].reg;
    uint32_t type = out[reg].type;
    if (target >= 0) {
      out[reg].type = MVM_T_NULL;
      flow(v, (size_t)target, out, pc);
    }
    out[reg].type = type & ~(uint32_t)MVM_T_NULL;
    target = -1;
  }
  if (target >= 0)
    flow(v, (size_t)target, out, pc);
  if (i + 1 < v->n)
    flow(v, i + 1, out, pc);
  else
    v->falls_off[i] = true;
}

static int run_dataflow(verifier *v)
{
  reg_state *entry = calloc(v->regs ? v->regs : 1, sizeof *entry);
  reg_state *out = calloc(v->regs ? v->regs : 1, sizeof *out);

  if (entry == NULL || out == NULL) {
    free(entry);
    free(out);
    return MVM_ENOMEM;
  }
  for (size_t r = 0; r < v->regs; r++) {
    entry[r].type = MVM_T_UNSET;
    entry[r].taint = -1;
  }
  if (v->p->input_reg >= 0)
    entry[v->p->input_reg].type = v->p->input_type;

  flow(v, 0, entry, -1);
  while (v->qlen > 0) {
    size_t i = v->queue[v->qhead];
    v->qhead = (v->qhead + 1) % v->n;
    v->qlen--;
    v->queued[i] = false;
    transfer(v, i, out);
  }
  free(entry);
  free(out);
  return MVM_OK;
}

/* ------------------------------------------------------------- checks */

static void check_read(verifier *v, const mvm_insn *in, const char *what,
                       const mvm_operand *op, uint32_t type, uint32_t accept,
                       const char *expected)
{
  const char *mn = info_of(in)->mnemonic;
  char found[128];

  if (op->form == MVM_FORM_REG && (type & ~(uint32_t)MVM_T_UNSET) == 0) {
    add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                "'%s' reads %%%s, which holds no value here on any path",
                mn, reg_name(v, op->reg));
    return;
  }
  if (op->form == MVM_FORM_REG && (type & MVM_T_UNSET)) {
    add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                "'%s' reads %%%s, which may hold no value here: some path "
                "to this instruction does not set it", mn,
                reg_name(v, op->reg));
    return;
  }
  if ((type & ~accept) == 0)
    return;
  mvm_type_format(type, found, sizeof found);
  if (op->form == MVM_FORM_REG)
    add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                "'%s' %s (%%%s): expected %s, found %s", mn, what,
                reg_name(v, op->reg), expected, found);
  else
    add_message(v, MVM_DIAG_ERROR, in->line, op->col,
                "'%s' %s: expected %s, found %s (a literal)", mn, what,
                expected, found);
}

static void check_format(verifier *v, const mvm_insn *in,
                         const mvm_operand *op, const reg_state *regs)
{
  for (size_t p = 0; p < json_array_size(op->parts); p++) {
    json_t *part = json_array_get(op->parts, p);
    if (!json_is_integer(part))
      continue;

    uint32_t reg = (uint32_t)json_integer_value(part);
    mvm_operand fake = *op;
    char what[160];
    fake.form = MVM_FORM_REG;
    fake.reg = reg;
    snprintf(what, sizeof what, "placeholder {%s}", reg_name(v, reg));
    check_read(v, in, what, &fake, regs[reg].type, MVM_T_JSON, "json");
  }
}

/* Compiles the literal schema of json.check, so an invalid schema (a
 * $ref that names nothing, an unknown type) is a verification error and
 * not a failure at run time. */
static void check_schema(verifier *v, const mvm_insn *in,
                         const mvm_operand *op)
{
  mvm_schema *schema = NULL;
  mvm_error err;

  mvm_error_clear(&err);
  if (mvm_schema_compile(op->value, &schema, &err) == MVM_OK) {
    mvm_schema_free(schema);
    return;
  }
  add_message(v, MVM_DIAG_ERROR, in->line, op->col,
              "'json.check' schema is invalid: %s", err.msg);
}

static void check_operands(verifier *v, size_t i)
{
  const mvm_insn *in = &v->p->insns[i];
  const mvm_op_info *info = info_of(in);
  const reg_state *regs = state_at(v, i);

  for (unsigned k = 0; k < in->nopnd; k++) {
    const mvm_opnd_info *oi = &info->opnd[k];
    const mvm_operand *op = &in->opnd[k];
    char what[64];

    if (oi->kind == 'f') {
      check_format(v, in, op, regs);
      continue;
    }
    if (in->op == MVM_OP_JSON_CHECK && oi->kind == 'j') {
      check_schema(v, in, op);
      continue;
    }
    if (oi->kind != 'r' && oi->kind != 'u' && oi->kind != 'x')
      continue;
    snprintf(what, sizeof what, "operand '%s'", oi->name);
    check_read(v, in, what, op, operand_state(v, regs, op).type, oi->accept,
               oi->type_text);
  }
}

/* True when an error was already reported at line:col. */
static bool has_error_at(const verifier *v, unsigned line, unsigned col)
{
  for (size_t k = 0; k < v->nmsgs; k++) {
    const message *m = &v->msgs[k];
    if (m->severity == MVM_DIAG_ERROR && m->line == line && m->col == col)
      return true;
  }
  return false;
}

static void check_unreachable(verifier *v, bool strict)
{
  int severity = strict ? MVM_DIAG_ERROR : MVM_DIAG_WARNING;

  for (size_t i = 0; i < v->n; i++) {
    if (v->reached[i])
      continue;
    size_t j = i;
    while (j + 1 < v->n && !v->reached[j + 1])
      j++;

    const mvm_insn *in = &v->p->insns[i];
    /* A lone instruction that already has an error (a 'ret' reachable
     * from the entry, on a path that never returns) gets no second,
     * contradicting message. */
    if (j == i && has_error_at(v, in->line, in->col))
      continue;
    if (j == i)
      add_message(v, severity, in->line, in->col,
                  "unreachable code: '%s' never runs", info_of(in)->mnemonic);
    else if (j == i + 1)
      add_message(v, severity, in->line, in->col,
                  "unreachable code: '%s' and the instruction after it "
                  "never run", info_of(in)->mnemonic);
    else
      add_message(v, severity, in->line, in->col,
                  "unreachable code: '%s' and the %zu instructions after it "
                  "never run", info_of(in)->mnemonic, j - i);
    i = j;
  }
}

static void check_fall_off(verifier *v)
{
  for (size_t i = 0; i < v->n; i++) {
    if (!v->reached[i] || !v->falls_off[i])
      continue;
    const mvm_insn *in = &v->p->insns[i];
    add_message(v, MVM_DIAG_ERROR, in->line, in->col,
                "control falls off the end of the program after '%s'; end "
                "it with halt, fail, jmp or ret", info_of(in)->mnemonic);
  }
}

/* ------------------------------------------------------------- taint */

static int add_finding(verifier *v, size_t i, const char *reg,
                       int32_t source, const char *reason)
{
  const mvm_insn *in = &v->p->insns[i];
  const mvm_insn *src = &v->p->insns[source];
  json_t *f;

  f = json_pack("{s:I,s:I,s:s,s:s,s:s*,s:s,s:{s:I,s:s}}", "line",
                (json_int_t)in->line, "col", (json_int_t)in->col,
                "instruction", info_of(in)->mnemonic, "effect",
                mvm_effect_name(MVM_EFFECT_TOOL_CALL), "register", reg,
                "reason", reason, "source", "line",
                (json_int_t)src->line, "instruction",
                info_of(src)->mnemonic);
  if (f == NULL || json_array_append_new(v->taint, f))
    return MVM_ENOMEM;
  return MVM_OK;
}

/* Registers and branch contexts that may carry untrusted data into a
 * tool call. */
static int find_taint(verifier *v)
{
  int rc = MVM_OK;

  for (size_t i = 0; rc == MVM_OK && i < v->n; i++) {
    const mvm_insn *in = &v->p->insns[i];
    const reg_state *regs = state_at(v, i);
    char reason[512];

    if (!v->reached[i] ||
        (in->op != MVM_OP_TOOL_CALL && in->op != MVM_OP_DISPATCH))
      continue;

    /* tool.call's arguments, or dispatch's reply, decide the call. */
    const mvm_operand *data = &in->opnd[in->op == MVM_OP_TOOL_CALL ? 2 : 1];
    int32_t src = operand_state(v, regs, data).taint;
    if (src >= 0 && data->form == MVM_FORM_REG) {
      const mvm_insn *s = &v->p->insns[src];
      snprintf(reason, sizeof reason,
               "%%%s may carry untrusted data from '%s' at line %u%s",
               reg_name(v, data->reg), info_of(s)->mnemonic, s->line,
               (size_t)src == i ? " (an earlier pass through this "
                                  "instruction)"
                                : "");
      rc = add_finding(v, i, reg_name(v, data->reg), src, reason);
    }

    int32_t pc = v->pc_in[i];
    if (rc == MVM_OK && pc >= 0 && pc != src) {
      const mvm_insn *s = &v->p->insns[pc];
      snprintf(reason, sizeof reason,
               "the call is decided after a branch on data that may be "
               "untrusted, from '%s' at line %u", info_of(s)->mnemonic,
               s->line);
      rc = add_finding(v, i, NULL, pc, reason);
    }
  }
  return rc;
}

/* ------------------------------------------------------------- driver */

static int compare_messages(const void *a, const void *b)
{
  const message *x = a;
  const message *y = b;
  if (x->line != y->line)
    return x->line < y->line ? -1 : 1;
  if (x->col != y->col)
    return x->col < y->col ? -1 : 1;
  return x < y ? -1 : 1;
}

static int verifier_init(verifier *v, mvm_program *p)
{
  memset(v, 0, sizeof *v);
  v->p = p;
  v->n = p->ninsns;
  v->regs = p->nregs;
  v->taint = json_array();

  size_t n = v->n ? v->n : 1;
  v->in = calloc(n * (v->regs ? v->regs : 1), sizeof *v->in);
  v->pc_in = calloc(n, sizeof *v->pc_in);
  v->reached = calloc(n, sizeof *v->reached);
  v->queued = calloc(n, sizeof *v->queued);
  v->queue = calloc(n, sizeof *v->queue);
  v->returns = calloc(n, sizeof *v->returns);
  v->falls_off = calloc(n, sizeof *v->falls_off);
  if (v->taint == NULL || v->in == NULL || v->pc_in == NULL ||
      v->reached == NULL || v->queued == NULL || v->queue == NULL ||
      v->returns == NULL || v->falls_off == NULL)
    return MVM_ENOMEM;
  return MVM_OK;
}

static void verifier_free(verifier *v)
{
  for (size_t i = 0; v->returns != NULL && i < v->n; i++)
    free(v->returns[i].items);
  for (size_t i = 0; i < v->nmsgs; i++)
    free(v->msgs[i].text);
  free(v->msgs);
  free(v->returns);
  free(v->falls_off);
  free(v->queue);
  free(v->queued);
  free(v->reached);
  free(v->pc_in);
  free(v->in);
  json_decref(v->taint);
}

/* Records what the disassembler and the interpreter need. */
static int keep_results(verifier *v)
{
  mvm_program *p = v->p;

  free(p->written_type);
  free(p->reachable);
  p->written_type = calloc(v->n ? v->n : 1, sizeof *p->written_type);
  p->reachable = calloc(v->n ? v->n : 1, sizeof *p->reachable);
  if (p->written_type == NULL || p->reachable == NULL)
    return MVM_ENOMEM;
  for (size_t i = 0; i < v->n; i++) {
    const mvm_insn *in = &p->insns[i];
    const mvm_op_info *info = info_of(in);
    p->reachable[i] = v->reached[i];
    for (unsigned k = 0; v->reached[i] && k < in->nopnd; k++) {
      if (info->opnd[k].kind == 'w' || info->opnd[k].kind == 'u')
        p->written_type[i] = result_type(v, in, state_at(v, i), k);
    }
  }
  json_decref(p->taint);
  p->taint = v->taint;
  v->taint = NULL;
  return MVM_OK;
}

static int verify_passes(verifier *v, const mvm_verify_opts *opts)
{
  int rc;

  if (v->n == 0) {
    add_message(v, MVM_DIAG_ERROR, 0, 0, "program has no instructions");
    return MVM_OK;
  }
  if (v->regs > 0 && v->n > MAX_STATE_CELLS / v->regs) {
    add_message(v, MVM_DIAG_ERROR, 0, 0,
                "program is too large to verify: %zu instructions times "
                "%zu registers is over the limit of %u", v->n, v->regs,
                MAX_STATE_CELLS);
    return MVM_OK;
  }

  check_names(v);
  rc = link_returns(v);
  if (rc == MVM_OK)
    rc = run_dataflow(v);
  if (rc)
    return rc;
  for (size_t i = 0; i < v->n; i++) {
    if (v->reached[i])
      check_operands(v, i);
  }
  check_fall_off(v);
  check_unreachable(v, opts != NULL && opts->strict);
  return find_taint(v);
}

int mvm_verify(mvm_program *program, const mvm_verify_opts *opts,
               mvm_diags *diags, mvm_error *err)
{
  verifier v;
  size_t errors = 0;
  int rc = verifier_init(&v, program);

  program->verified = false;
  if (rc == MVM_OK)
    rc = verify_passes(&v, opts);
  if (rc == MVM_OK)
    rc = v.rc;

  if (v.nmsgs > 1)
    qsort(v.msgs, v.nmsgs, sizeof *v.msgs, compare_messages);
  for (size_t i = 0; rc == MVM_OK && i < v.nmsgs; i++) {
    const message *m = &v.msgs[i];
    if (m->severity != MVM_DIAG_ERROR)
      continue;
    if (errors++ == 0)
      mvm_error_set(err, MVM_EVERIFY, "verify", "%s:%u:%u: %s",
                    program->file, m->line, m->col, m->text);
  }
  for (size_t i = 0; rc == MVM_OK && i < v.nmsgs; i++) {
    const message *m = &v.msgs[i];
    rc = mvm_diags_add(diags, program, m->severity, m->line, m->col, "%s",
                       m->text);
  }

  if (rc == MVM_OK && errors == 0) {
    rc = keep_results(&v);
    if (rc == MVM_OK)
      program->verified = true;
  }
  verifier_free(&v);

  if (rc)
    return mvm_error_set(err, rc, "verify", "out of memory");
  return errors ? MVM_EVERIFY : MVM_OK;
}

int mvm_verify_taint_report(const mvm_program *program, json_t **out,
                            mvm_error *err)
{
  if (!program->verified || program->taint == NULL)
    return mvm_error_set(err, MVM_ESTATE, "verify",
                         "the taint report needs a verified program; run "
                         "mvm_verify first");
  *out = json_deep_copy(program->taint);
  if (*out == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "verify", "out of memory");
  return MVM_OK;
}
