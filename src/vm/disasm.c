/* disasm.c - the canonical listing, the program hash and manifest, and the
 * instruction set reference generated from the opcode list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "vm/program.h"

/* Column where listing comments start. */
#define COMMENT_COLUMN 44

static int put_json(mvm_buf *b, const json_t *json)
{
  char *text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS |
                                    JSON_ENCODE_ANY);
  if (text == NULL)
    return MVM_ENOMEM;
  int rc = mvm_buf_append_str(b, text);
  free(text);
  return rc;
}

static int put_operand(mvm_buf *b, const mvm_program *p,
                       const mvm_operand *op)
{
  switch (op->form) {
  case MVM_FORM_REG:
    return mvm_buf_printf(b, "%%%s", p->regs[op->reg]);
  case MVM_FORM_LITERAL:
  case MVM_FORM_STRING:
  case MVM_FORM_SCHEMA:
    return put_json(b, op->value);
  case MVM_FORM_NAME:
    return mvm_buf_append_str(b, op->text);
  case MVM_FORM_INT:
    return mvm_buf_printf(b, "%llu", (unsigned long long)op->number);
  case MVM_FORM_QUERY: {
    int rc = mvm_buf_append_str(b, op->text);
    if (rc == MVM_OK && op->value != NULL)
      rc = mvm_buf_append_str(b, " ");
    if (rc == MVM_OK && op->value != NULL)
      rc = put_json(b, op->value);
    return rc;
  }
  }
  return MVM_EINVAL;
}

static int put_directives(mvm_buf *b, const mvm_program *p)
{
  int rc = MVM_OK;
  char type[64];

  for (size_t i = 0; rc == MVM_OK && i < p->models.len; i++)
    rc = mvm_buf_printf(b, ".model %s\n", p->models.items[i].name);
  for (size_t i = 0; rc == MVM_OK && i < p->tools.len; i++)
    rc = mvm_buf_printf(b, ".tool %s\n", p->tools.items[i].name);
  for (size_t i = 0; rc == MVM_OK && i < p->patterns.len; i++)
    rc = mvm_buf_printf(b, ".tools %s\n", p->patterns.items[i].name);
  if (rc == MVM_OK && p->input_reg >= 0)
    rc = mvm_buf_printf(b, ".input %%%s %s\n", p->regs[p->input_reg],
                        mvm_type_format(p->input_type, type, sizeof type));
  return rc;
}

/* Writes "; index", jump targets and the written type. */
static int put_comment(mvm_buf *b, const mvm_program *p, size_t i,
                       size_t line_start)
{
  const mvm_insn *in = &p->insns[i];
  const mvm_op_info *info = mvm_op_info_get(in->op);
  size_t width = b->len - line_start;
  int rc = MVM_OK;

  do {
    rc = mvm_buf_append(b, " ", 1);
  } while (rc == MVM_OK && ++width < COMMENT_COLUMN);
  if (rc == MVM_OK)
    rc = mvm_buf_printf(b, "; %zu", i);

  for (unsigned k = 0; rc == MVM_OK && k < in->nopnd; k++) {
    char kind = info->opnd[k].kind;
    if ((kind == 'l' || kind == 's' || kind == 'o') &&
        in->opnd[k].target >= 0)
      rc = mvm_buf_printf(b, "  %s=%d", in->opnd[k].text,
                          in->opnd[k].target);
  }
  for (unsigned k = 0; rc == MVM_OK && k < in->nopnd; k++) {
    char kind = info->opnd[k].kind;
    char type[128];
    if ((kind != 'w' && kind != 'u') || !p->verified ||
        !p->reachable[i])
      continue;
    rc = mvm_buf_printf(b, "  %%%s: %s", p->regs[in->opnd[k].reg],
                        mvm_type_format(p->written_type[i], type,
                                        sizeof type));
  }
  if (rc == MVM_OK && p->verified && !p->reachable[i])
    rc = mvm_buf_append_str(b, "  unreachable");
  return rc;
}

static int put_insn(mvm_buf *b, const mvm_program *p, size_t i,
                    unsigned flags)
{
  const mvm_insn *in = &p->insns[i];
  size_t line_start = b->len;
  int rc;

  for (size_t l = 0; l < p->labels.len; l++) {
    if (p->labels.items[l].index != i)
      continue;
    rc = mvm_buf_printf(b, "%s:\n", p->labels.items[l].name);
    if (rc)
      return rc;
  }
  line_start = b->len;
  rc = mvm_buf_printf(b, "  %s", mvm_op_info_get(in->op)->mnemonic);
  for (unsigned k = 0; rc == MVM_OK && k < in->nopnd; k++) {
    rc = mvm_buf_append_str(b, k == 0 ? " " : ", ");
    if (rc == MVM_OK)
      rc = put_operand(b, p, &in->opnd[k]);
  }
  if (rc == MVM_OK && (flags & MVM_DISASM_COMMENTS))
    rc = put_comment(b, p, i, line_start);
  if (rc == MVM_OK)
    rc = mvm_buf_append_str(b, "\n");
  return rc;
}

char *mvm_disasm(const mvm_program *program, unsigned flags)
{
  mvm_buf b;
  int rc = MVM_OK;

  mvm_buf_init(&b, 0);
  if (flags & MVM_DISASM_COMMENTS)
    rc = mvm_buf_printf(&b, "; %s  %zu instructions, %zu registers%s\n",
                        program->file, program->ninsns, program->nregs,
                        program->verified ? ", verified" : "");
  if (rc == MVM_OK)
    rc = put_directives(&b, program);
  for (size_t i = 0; rc == MVM_OK && i < program->ninsns; i++)
    rc = put_insn(&b, program, i, flags);
  if (rc) {
    mvm_buf_free(&b);
    return NULL;
  }
  return mvm_buf_steal(&b);
}

int mvm_program_compute_hash(mvm_program *p)
{
  unsigned char digest[crypto_hash_sha256_BYTES];
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  char *text;

  if (sodium_init() < 0)
    return MVM_ENOMEM;
  text = mvm_disasm(p, 0);
  if (text == NULL)
    return MVM_ENOMEM;
  crypto_hash_sha256(digest, (const unsigned char *)text, strlen(text));
  free(text);
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  snprintf(p->hash, sizeof p->hash, "sha256:%s", hex);
  return MVM_OK;
}

const char *mvm_program_hash(const mvm_program *program)
{
  return program->hash;
}

static json_t *decl_names(const mvm_decls *d)
{
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < d->len; i++) {
    if (json_array_append_new(arr, json_string(d->items[i].name))) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

/* Names the effects the reachable instructions may request. */
static json_t *effect_names(const mvm_program *p)
{
  bool used[MVM_EFFECT_COUNT] = {false};
  json_t *arr = json_array();

  for (size_t i = 0; i < p->ninsns; i++) {
    int effect = mvm_op_info_get(p->insns[i].op)->effect;
    if (effect >= 0 && (!p->verified || p->reachable[i]))
      used[effect] = true;
  }
  for (int e = 0; arr != NULL && e < MVM_EFFECT_COUNT; e++) {
    if (!used[e])
      continue;
    if (json_array_append_new(arr, json_string(mvm_effect_name(e)))) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

int mvm_program_manifest(const mvm_program *program, json_t **out,
                         mvm_error *err)
{
  const mvm_program *p = program;
  char type[64];
  json_t *input = json_null();

  if (p->input_reg >= 0)
    input = json_pack("{s:s,s:s}", "register", p->regs[p->input_reg],
                      "type", mvm_type_format(p->input_type, type,
                                              sizeof type));

  json_t *m = json_pack("{s:s,s:s?,s:b,s:I,s:I,s:o,s:o,s:o,s:o,s:o}",
                        "file", p->file, "hash",
                        p->hash[0] ? p->hash : NULL, "verified",
                        p->verified, "instructions", (json_int_t)p->ninsns,
                        "registers", (json_int_t)p->nregs, "models",
                        decl_names(&p->models), "tools",
                        decl_names(&p->tools), "tool_patterns",
                        decl_names(&p->patterns), "input", input, "effects",
                        effect_names(p));
  if (m == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "asm", "out of memory");
  *out = m;
  return MVM_OK;
}

/* ------------------------------------------------------------- isa.md */

static const char isa_intro[] =
    "# mvm instruction set\n"
    "\n"
    "<!-- generated, do not edit; regenerate with "
    "`mvm disasm --isa > docs/isa.md` from the opcode list in "
    "src/vm/opcodes.h -->\n"
    "\n"
    "A program is text, one instruction or directive per line:\n"
    "\n"
    "```\n"
    ".model main                 ; a model the host binds by name\n"
    ".tool std.echo              ; one tool, server.tool\n"
    ".tools std.*                ; a pattern of tools\n"
    ".input %task str            ; the register that receives the input\n"
    "loop:                       ; a label marks the next instruction\n"
    "  hist.add %h, user, %task  ; mnemonic, then operands\n"
    "```\n"
    "\n"
    "Comments start with `;` or `#`. Registers are named (`%task`) and "
    "hold a value and its label. A read operand may be a register or a "
    "JSON literal (`\"text\"`, `3`, `[1, 2]`, `{\"k\": true}`, `null`). "
    "String literals use JSON escapes.\n"
    "\n"
    "## Operands\n"
    "\n"
    "| form | meaning |\n"
    "|---|---|\n"
    "| `%dst` | a register the instruction writes |\n"
    "| `%reg` or literal | a value the instruction reads |\n"
    "| `label` | a jump target; `[, fail]` is an optional failure label |\n"
    "| `name` | a model declared with `.model` |\n"
    "| `server.tool` | a tool declared with `.tool` or matched by a "
    "`.tools` pattern |\n"
    "| `pattern` | a pattern declared with `.tools`; `*` matches any "
    "characters |\n"
    "| `role` | `system`, `user`, `assistant` or `tool` |\n"
    "| `type` | for `as`: null, bool, int, float, num, str, list, map, "
    "json |\n"
    "| query type | `bool`, `int`, `enum [\"a\", \"b\"]` or "
    "`schema {...}` |\n"
    "| `\"path\"` | a field path: `a.b[0].c`, `[\"key.with.dots\"]` |\n"
    "| `\"format\"` | text with `{reg}` placeholders; `{{` and `}}` are "
    "braces |\n"
    "\n"
    "## Types\n"
    "\n"
    "The verifier gives every register a static type at every "
    "instruction: a union of null, bool, int, float, str, list, map, "
    "reply (a model reply, a map), calls (a reply's tool calls, a list), "
    "result (a tool result, a map), history, model, tool and toolset. "
    "`num` is int or float, `json` is any JSON type, `any` is every "
    "type.\n"
    "\n"
    "## Failure branches and labels\n"
    "\n"
    "An instruction with an optional failure label jumps there when it "
    "fails (a missing field, invalid JSON, a denied effect) and leaves its "
    "destination unwritten; without the label the failure stops the run. "
    "Taking or skipping a failure branch, like any conditional jump, joins "
    "the labels of the instruction's inputs into the program-counter "
    "label, which every later value and effect carries.\n";

/* Writes "%name:type", escaping '|' so a union does not split the
 * Markdown table cell. */
static int put_type_cell(mvm_buf *b, const char *sep, const mvm_opnd_info *oi)
{
  int rc = mvm_buf_printf(b, "%s%%%s:", sep, oi->name);

  for (const char *t = oi->type_text; rc == MVM_OK && *t != '\0'; t++)
    rc = *t == '|' ? mvm_buf_append_str(b, "\\|") : mvm_buf_append(b, t, 1);
  return rc;
}

static int put_group(mvm_buf *b, int group)
{
  int rc = mvm_buf_printf(b, "\n## %s\n\n| instruction | effect | "
                          "summary |\n|---|---|---|\n",
                          mvm_op_group_name(group));

  for (int op = 0; rc == MVM_OK && op < MVM_OP_COUNT; op++) {
    const mvm_op_info *info = mvm_op_info_get(op);
    if (info->group != group)
      continue;

    rc = mvm_buf_printf(b, "| `%s", info->mnemonic);
    for (unsigned k = 0; rc == MVM_OK && k < info->nopnd; k++) {
      const mvm_opnd_info *oi = &info->opnd[k];
      const char *sep = k == 0 ? " " : ", ";
      if (oi->kind == 'o')
        rc = mvm_buf_printf(b, " [, %s]", oi->name);
      else if (strchr("wrux", oi->kind) && oi->type_text[0] != '@')
        rc = put_type_cell(b, sep, oi);
      else if (strchr("wrux", oi->kind))
        rc = mvm_buf_printf(b, "%s%%%s", sep, oi->name);
      else
        rc = mvm_buf_printf(b, "%s%s", sep, oi->name);
    }
    if (rc == MVM_OK)
      rc = mvm_buf_printf(b, "` | %s%s | %s |\n",
                          info->effect >= 0 ? mvm_effect_name(info->effect)
                                            : "none",
                          info->effect >= 0 && info->checked
                              ? ", checked by the monitor"
                              : "",
                          info->summary);
  }
  return rc;
}

char *mvm_isa_markdown(void)
{
  mvm_buf b;
  int rc;

  if (mvm_op_info_get(0) == NULL)
    return NULL;
  mvm_buf_init(&b, 0);
  rc = mvm_buf_append_str(&b, isa_intro);
  if (rc == MVM_OK)
    rc = mvm_buf_append_str(&b, "\nIn the tables, `%name:type` is a "
                                "register operand and the type it accepts "
                                "or gets; a `%dst` without a type gets the "
                                "type its inputs give it (`mov`, `as`, "
                                "`endorse`, `model.query`).\n");
  for (int g = 0; rc == MVM_OK && g < MVM_GROUP_COUNT; g++)
    rc = put_group(&b, g);
  if (rc) {
    mvm_buf_free(&b);
    return NULL;
  }
  return mvm_buf_steal(&b);
}

/* ------------------------------------------------------------- encoding */

static json_t *operand_json(const mvm_program *p, const mvm_operand *op,
                            char kind)
{
  switch (op->form) {
  case MVM_FORM_REG:
    return json_pack("{s:I}", "reg", (json_int_t)op->reg);
  case MVM_FORM_LITERAL:
  case MVM_FORM_STRING:
  case MVM_FORM_SCHEMA:
    return json_pack("{s:O}", "value", op->value);
  case MVM_FORM_INT:
    return json_pack("{s:I}", "int", (json_int_t)op->number);
  case MVM_FORM_QUERY:
    return json_pack("{s:s,s:O?}", "query", op->text, "spec", op->value);
  case MVM_FORM_NAME:
    if (kind == 'l' || kind == 's' || kind == 'o')
      return json_pack("{s:s,s:I}", "label", op->text, "target",
                       (json_int_t)op->target);
    return json_pack("{s:s}", "name", op->text);
  }
  (void)p;
  return NULL;
}

static json_t *insn_json(const mvm_program *p, size_t i)
{
  const mvm_insn *in = &p->insns[i];
  const mvm_op_info *info = mvm_op_info_get(in->op);
  json_t *ops = json_array();

  for (unsigned k = 0; ops != NULL && k < in->nopnd; k++) {
    if (json_array_append_new(ops, operand_json(p, &in->opnd[k],
                                                info->opnd[k].kind))) {
      json_decref(ops);
      ops = NULL;
    }
  }
  return json_pack("{s:I,s:I,s:i,s:s,s:o}", "index", (json_int_t)i, "line",
                   (json_int_t)in->line, "op", in->op, "mnemonic",
                   info->mnemonic, "operands", ops);
}

int mvm_program_to_json(const mvm_program *program, json_t **out,
                        mvm_error *err)
{
  json_t *manifest = NULL;
  json_t *regs = json_array();
  json_t *labels = json_object();
  json_t *code = json_array();
  int rc = mvm_program_manifest(program, &manifest, err);

  if (rc == MVM_OK && (regs == NULL || labels == NULL || code == NULL))
    rc = MVM_ENOMEM;
  for (size_t i = 0; rc == MVM_OK && i < program->nregs; i++) {
    if (json_array_append_new(regs, json_string(program->regs[i])))
      rc = MVM_ENOMEM;
  }
  for (size_t i = 0; rc == MVM_OK && i < program->labels.len; i++) {
    const mvm_decl *l = &program->labels.items[i];
    if (json_object_set_new(labels, l->name, json_integer(l->index)))
      rc = MVM_ENOMEM;
  }
  for (size_t i = 0; rc == MVM_OK && i < program->ninsns; i++) {
    if (json_array_append_new(code, insn_json(program, i)))
      rc = MVM_ENOMEM;
  }
  if (rc) {
    json_decref(manifest);
    json_decref(regs);
    json_decref(labels);
    json_decref(code);
    return rc == MVM_ENOMEM
               ? mvm_error_set(err, rc, "asm", "out of memory")
               : rc;
  }
  *out = json_pack("{s:o,s:o,s:o,s:o}", "manifest", manifest, "registers",
                   regs, "labels", labels, "code", code);
  if (*out == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "asm", "out of memory");
  return MVM_OK;
}
