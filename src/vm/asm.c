/* asm.c - the assembler: program text to mvm_program.
 *
 * It checks syntax and structure only: every line parses, mnemonics and
 * directives exist, each operand has the form its kind needs, names are
 * not declared twice, and the text stays within the limits in mvm.h.
 * Names are resolved and types checked later, by the verifier. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "vm/program.h"

/* Errors reported before the assembler gives up on a file. */
#define MAX_ERRORS 50
/* Literal JSON in program text nests at most this deep. */
#define MAX_LITERAL_DEPTH 32
/* The largest integer operand (hist.trim budgets). */
#define MAX_INT_OPERAND 1000000000ull

typedef struct cursor {
  const char *s; /* the line, not NUL-terminated */
  size_t len;
  size_t pos;
} cursor;

typedef struct assembler {
  mvm_program *p;
  mvm_diags *diags;
  mvm_error *err;
  unsigned line;
  size_t errors;
  int rc; /* MVM_ENOMEM once memory runs out */
} assembler;

static void report(assembler *a, size_t col0, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records an error at 0-based column col0 of the current line. */
static void report(assembler *a, size_t col0, const char *fmt, ...)
{
  char msg[MVM_ERROR_MSG_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  if (a->errors == 0)
    mvm_error_set(a->err, MVM_ESYNTAX, "asm", "%s:%u:%zu: %s",
                  a->p->file, a->line, col0 + 1, msg);
  a->errors++;
  if (mvm_diags_add(a->diags, a->p, MVM_DIAG_ERROR, a->line,
                    (unsigned)(col0 + 1), "%s", msg))
    a->rc = MVM_ENOMEM;
}

static bool at_end(const cursor *c)
{
  return c->pos >= c->len || c->s[c->pos] == ';' || c->s[c->pos] == '#';
}

static void skip_space(cursor *c)
{
  while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t'))
    c->pos++;
}

static bool is_ident_start(char ch)
{
  return isalpha((unsigned char)ch) || ch == '_';
}

static bool is_ident_char(char ch)
{
  return isalnum((unsigned char)ch) || ch == '_';
}

/* Length of the bare word at the cursor: up to a space, comma or comment. */
static size_t word_len(const cursor *c)
{
  size_t n = 0;
  while (c->pos + n < c->len) {
    char ch = c->s[c->pos + n];
    if (ch == ' ' || ch == '\t' || ch == ',' || ch == ';' || ch == '#')
      break;
    n++;
  }
  return n;
}

/* Length of an identifier at the cursor, 0 if none. */
static size_t ident_len(const cursor *c)
{
  size_t n = 0;
  if (c->pos >= c->len || !is_ident_start(c->s[c->pos]))
    return 0;
  while (c->pos + n < c->len && is_ident_char(c->s[c->pos + n]))
    n++;
  return n;
}

/* Length of a JSON literal at the cursor, found by matching brackets and
 * skipping strings; 0 when a string or bracket is not closed. */
static size_t literal_extent(const cursor *c)
{
  const char *s = c->s + c->pos;
  size_t n = c->len - c->pos;
  int depth = 0;
  bool in_string = false;

  if (n == 0)
    return 0;
  if (s[0] != '"' && s[0] != '[' && s[0] != '{')
    return word_len(c);

  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (in_string) {
      if (ch == '\\')
        i++;
      else if (ch == '"')
        in_string = false;
      else
        continue;
      if (depth == 0 && !in_string)
        return i + 1;
      continue;
    }
    if (ch == '"')
      in_string = true;
    else if (ch == '[' || ch == '{')
      depth++;
    else if ((ch == ']' || ch == '}') && --depth == 0)
      return i + 1;
  }
  return 0;
}

/* Parses a JSON literal at the cursor into *out and advances. */
static bool parse_literal(assembler *a, cursor *c, const char *what,
                          json_t **out)
{
  size_t start = c->pos;
  size_t n = literal_extent(c);
  mvm_json_limits limits = {MVM_ASM_MAX_LINE_BYTES, MAX_LITERAL_DEPTH};
  mvm_error jerr;

  if (n == 0) {
    if (c->pos < c->len && c->s[c->pos] == '"')
      report(a, start, "unterminated string literal in %s", what);
    else if (c->pos < c->len)
      report(a, start, "unclosed '%c' in %s", c->s[c->pos], what);
    else
      report(a, start, "missing %s", what);
    return false;
  }

  int rc = mvm_json_parse(c->s + start, n, &limits, "literal", out, &jerr);
  if (rc == MVM_ENOMEM) {
    a->rc = rc;
    return false;
  }
  if (rc) {
    /* jansson's message ends with a position inside the literal, which
     * the caret replaces. */
    char *detail = strstr(jerr.msg, "valid JSON: ");
    char *at = strstr(jerr.msg, " at line ");
    if (at != NULL)
      *at = '\0';
    if (rc == MVM_ELIMIT)
      report(a, start, "%s nests deeper than %d levels", what,
             MAX_LITERAL_DEPTH);
    else if (isalpha((unsigned char)c->s[start]))
      report(a, start,
             "expected %s, found '%.*s'; write strings in double quotes "
             "and registers as %%name",
             what, (int)n, c->s + start);
    else
      report(a, start, "invalid JSON literal for %s: %s", what,
             detail ? detail + strlen("valid JSON: ") : jerr.msg);
    return false;
  }
  c->pos += n;
  return true;
}

/* Finds or adds register `name`; returns its index or -1 (reported). */
static int register_index(assembler *a, const char *name, size_t len,
                          size_t col0)
{
  mvm_program *p = a->p;

  for (size_t i = 0; i < p->nregs; i++) {
    if (strlen(p->regs[i]) == len && strncmp(p->regs[i], name, len) == 0)
      return (int)i;
  }
  if (p->nregs == MVM_ASM_MAX_REGISTERS) {
    report(a, col0, "too many registers: the limit is %d",
           MVM_ASM_MAX_REGISTERS);
    return -1;
  }
  if (p->nregs == p->reg_cap) {
    size_t cap = p->reg_cap ? p->reg_cap * 2 : 16;
    char **regs = realloc(p->regs, cap * sizeof *regs);
    if (regs == NULL) {
      a->rc = MVM_ENOMEM;
      return -1;
    }
    p->regs = regs;
    p->reg_cap = cap;
  }
  p->regs[p->nregs] = strndup(name, len);
  if (p->regs[p->nregs] == NULL) {
    a->rc = MVM_ENOMEM;
    return -1;
  }
  return (int)p->nregs++;
}

/* Parses %name at the cursor. */
static bool parse_register(assembler *a, cursor *c, const char *what,
                           uint32_t *reg)
{
  size_t start = c->pos;

  if (c->pos >= c->len || c->s[c->pos] != '%') {
    report(a, start, "expected a register (%%name) for %s, found '%.*s'",
           what, (int)word_len(c), c->s + c->pos);
    return false;
  }
  c->pos++;
  size_t n = ident_len(c);
  if (n == 0 || (c->pos + n < c->len && !strchr(" \t,;#", c->s[c->pos + n]))) {
    c->pos = start;
    report(a, start,
           "invalid register name '%.*s' for %s: use %% followed by a "
           "letter or '_', then letters, digits or '_'",
           (int)word_len(c), c->s + start, what);
    return false;
  }
  if (n > MVM_ASM_MAX_NAME) {
    report(a, start, "register name is longer than %d characters",
           MVM_ASM_MAX_NAME);
    return false;
  }
  int idx = register_index(a, c->s + c->pos, n, start);
  if (idx < 0)
    return false;
  *reg = (uint32_t)idx;
  c->pos += n;
  return true;
}

/* Parses a bare name whose characters satisfy `ok` into *out. */
static bool parse_name(assembler *a, cursor *c, const char *what,
                       const char *allowed, bool (*ok)(const char *, size_t),
                       char **out)
{
  size_t start = c->pos;
  size_t n = word_len(c);

  if (n == 0 || !ok(c->s + start, n)) {
    report(a, start, "invalid %s '%.*s': %s", what, (int)n, c->s + start,
           allowed);
    return false;
  }
  if (n > MVM_ASM_MAX_NAME) {
    report(a, start, "%s is longer than %d characters", what,
           MVM_ASM_MAX_NAME);
    return false;
  }
  *out = strndup(c->s + start, n);
  if (*out == NULL) {
    a->rc = MVM_ENOMEM;
    return false;
  }
  c->pos += n;
  return true;
}

static bool ok_ident(const char *s, size_t n)
{
  if (!is_ident_start(s[0]))
    return false;
  for (size_t i = 1; i < n; i++) {
    if (!is_ident_char(s[i]))
      return false;
  }
  return true;
}

static bool ok_model(const char *s, size_t n)
{
  if (!is_ident_start(s[0]))
    return false;
  for (size_t i = 1; i < n; i++) {
    if (!is_ident_char(s[i]) && s[i] != '-')
      return false;
  }
  return true;
}

static bool tool_char(char ch)
{
  return is_ident_char(ch) || ch == '-' || ch == '.';
}

static bool ok_tool(const char *s, size_t n)
{
  const char *dot = memchr(s, '.', n);
  if (dot == NULL || dot == s || dot == s + n - 1)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (!tool_char(s[i]))
      return false;
  }
  return true;
}

static bool ok_pattern(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (!tool_char(s[i]) && s[i] != '*')
      return false;
  }
  return true;
}

static bool ok_role(const char *s, size_t n)
{
  static const char *const roles[] = {"system", "user", "assistant", "tool"};
  for (size_t i = 0; i < 4; i++) {
    if (strlen(roles[i]) == n && strncmp(roles[i], s, n) == 0)
      return true;
  }
  return false;
}

/* Parses a string literal into op->text and op->value. */
static bool parse_string(assembler *a, cursor *c, const char *what,
                         mvm_operand *op)
{
  size_t start = c->pos;

  if (c->pos >= c->len || c->s[c->pos] != '"') {
    report(a, start, "expected a string literal for %s, found '%.*s'", what,
           (int)word_len(c), c->s + c->pos);
    return false;
  }
  if (!parse_literal(a, c, what, &op->value))
    return false;
  op->form = MVM_FORM_STRING;
  op->text = strdup(json_string_value(op->value));
  if (op->text == NULL) {
    a->rc = MVM_ENOMEM;
    return false;
  }
  if (strlen(op->text) != json_string_length(op->value)) {
    report(a, start, "%s contains a NUL character", what);
    return false;
  }
  return true;
}

/* Splits a field path like "a.b[0].c" or "[\"x.y\"][2]" into keys
 * (strings) and indexes (integers) in op->parts. */
static bool parse_path(assembler *a, const mvm_operand *op, size_t col0,
                       json_t *parts)
{
  const char *s = op->text;
  size_t i = 0;
  size_t n = strlen(s);

  if (n == 0) {
    report(a, col0, "empty field path: name at least one field or index");
    return false;
  }
  while (i < n) {
    json_t *part = NULL;
    if (s[i] == '[' && i + 1 < n && s[i + 1] == '"') {
      /* ["key"]: a JSON string, for keys with '.', '[' or ']'. */
      size_t j = i + 2;
      while (j < n && s[j] != '"')
        j += s[j] == '\\' ? 2 : 1;
      if (j >= n || j + 1 >= n || s[j + 1] != ']') {
        report(a, col0, "invalid field path \"%s\": '[\"' at offset %zu "
                        "must be closed by '\"]'", s, i);
        return false;
      }
      part = json_loadb(s + i + 1, j - i, JSON_DECODE_ANY, NULL);
      if (!json_is_string(part)) {
        json_decref(part);
        report(a, col0, "invalid field path \"%s\": the key at offset %zu "
                        "is not a valid JSON string", s, i);
        return false;
      }
      i = j + 2;
    } else if (s[i] == '[') {
      size_t j = i + 1;
      while (j < n && isdigit((unsigned char)s[j]))
        j++;
      if (j == i + 1 || j >= n || s[j] != ']' || j - i - 1 > 9) {
        report(a, col0,
               "invalid field path \"%s\": '[' at offset %zu must hold an "
               "index of up to 9 digits and be closed by ']'", s, i);
        return false;
      }
      part = json_integer(strtoll(s + i + 1, NULL, 10));
      i = j + 1;
    } else {
      size_t j = i;
      while (j < n && s[j] != '.' && s[j] != '[' && s[j] != ']')
        j++;
      if (j == i) {
        report(a, col0, "invalid field path \"%s\": empty field name at "
                        "offset %zu", s, i);
        return false;
      }
      part = json_stringn(s + i, j - i);
      i = j;
    }
    if (part == NULL || json_array_append_new(parts, part)) {
      a->rc = MVM_ENOMEM;
      return false;
    }
    if (i < n && s[i] == '.') {
      i++;
      if (i == n) {
        report(a, col0, "invalid field path \"%s\": it ends with '.'", s);
        return false;
      }
    } else if (i < n && s[i] != '[') {
      report(a, col0, "invalid field path \"%s\": unexpected '%c' at "
                      "offset %zu", s, s[i], i);
      return false;
    }
  }
  return true;
}

/* Splits a format string into literal text (strings) and register indexes
 * (integers) in parts. "{{" and "}}" stand for braces. */
static bool parse_format(assembler *a, const mvm_operand *op, size_t col0,
                         json_t *parts)
{
  const char *s = op->text;
  size_t n = strlen(s);
  size_t i = 0;
  char *text = malloc(n + 1);
  size_t tlen = 0;
  bool ok = true;

  if (text == NULL) {
    a->rc = MVM_ENOMEM;
    return false;
  }
  while (ok && i < n) {
    if ((s[i] == '{' || s[i] == '}') && i + 1 < n && s[i + 1] == s[i]) {
      text[tlen++] = s[i];
      i += 2;
      continue;
    }
    if (s[i] == '}') {
      report(a, col0, "format string has '}' at offset %zu with no '{'; "
                      "write '}}' for a literal brace", i);
      ok = false;
      break;
    }
    if (s[i] != '{') {
      text[tlen++] = s[i++];
      continue;
    }

    const char *close = strchr(s + i, '}');
    size_t name_len = close ? (size_t)(close - s - i - 1) : 0;
    cursor nc = {s + i + 1, name_len, 0};
    if (close == NULL) {
      report(a, col0, "format string has '{' at offset %zu with no '}'; "
                      "write '{{' for a literal brace", i);
      ok = false;
    } else if (name_len == 0 || ident_len(&nc) != name_len) {
      report(a, col0, "format string placeholder '{%.*s}' must name a "
                      "register, as in {task} for %%task",
             (int)name_len, s + i + 1);
      ok = false;
    }
    if (!ok)
      break;

    int reg = register_index(a, s + i + 1, name_len, col0);
    json_t *tpart = tlen ? json_stringn(text, tlen) : NULL;
    if (reg < 0 || (tlen && tpart == NULL) ||
        (tpart && json_array_append_new(parts, tpart)) ||
        json_array_append_new(parts, json_integer(reg))) {
      if (reg >= 0)
        a->rc = MVM_ENOMEM;
      ok = false;
      break;
    }
    tlen = 0;
    i += name_len + 2;
  }
  if (ok && tlen > 0 &&
      json_array_append_new(parts, json_stringn(text, tlen))) {
    a->rc = MVM_ENOMEM;
    ok = false;
  }
  free(text);
  return ok;
}

/* Parses a quarantined query type: bool, int, enum [...], schema {...}. */
static bool parse_query_type(assembler *a, cursor *c, const char *what,
                             mvm_operand *op)
{
  size_t start = c->pos;
  size_t n = ident_len(c);
  const char *s = c->s + start;

  op->form = MVM_FORM_QUERY;
  op->text = strndup(s, n);
  if (op->text == NULL) {
    a->rc = MVM_ENOMEM;
    return false;
  }
  c->pos += n;
  if (strcmp(op->text, "bool") == 0) {
    op->type = MVM_T_BOOL | MVM_T_NULL;
    return true;
  }
  if (strcmp(op->text, "int") == 0) {
    op->type = MVM_T_INT | MVM_T_NULL;
    return true;
  }
  if (strcmp(op->text, "enum") != 0 && strcmp(op->text, "schema") != 0) {
    c->pos = start;
    report(a, start, "invalid query type '%.*s' for %s: use bool, int, "
                     "enum [\"a\", ...] or schema {...}", (int)word_len(c), s,
           what);
    return false;
  }

  bool is_enum = op->text[0] == 'e';
  skip_space(c);
  size_t lit = c->pos;
  if (!parse_literal(a, c, is_enum ? "enum list" : "schema", &op->value))
    return false;
  if (!is_enum) {
    if (!json_is_object(op->value)) {
      report(a, lit, "schema must be a JSON object");
      return false;
    }
    op->type = MVM_T_JSON;
    return true;
  }

  size_t i;
  json_t *item;
  if (!json_is_array(op->value) || json_array_size(op->value) == 0) {
    report(a, lit, "enum list must be a non-empty array of strings");
    return false;
  }
  json_array_foreach(op->value, i, item) {
    if (!json_is_string(item)) {
      report(a, lit, "enum list item %zu is not a string", i);
      return false;
    }
    for (size_t j = 0; j < i; j++) {
      if (json_equal(item, json_array_get(op->value, j))) {
        report(a, lit, "enum list repeats \"%s\"", json_string_value(item));
        return false;
      }
    }
  }
  op->type = MVM_T_STR | MVM_T_NULL;
  return true;
}

/* Parses an integer literal >= 0. */
static bool parse_int(assembler *a, cursor *c, const char *what,
                      mvm_operand *op)
{
  size_t start = c->pos;
  size_t n = word_len(c);
  uint64_t v = 0;

  for (size_t i = 0; i < n; i++) {
    char ch = c->s[start + i];
    if (!isdigit((unsigned char)ch) || v > MAX_INT_OPERAND) {
      v = UINT64_MAX;
      break;
    }
    v = v * 10 + (uint64_t)(ch - '0');
  }
  if (n == 0 || v > MAX_INT_OPERAND) {
    report(a, start, "expected an integer from 0 to %llu for %s, found "
                     "'%.*s'", MAX_INT_OPERAND, what, (int)n, c->s + start);
    return false;
  }
  op->form = MVM_FORM_INT;
  op->number = v;
  c->pos += n;
  return true;
}

/* Parses a type name for `as` and `.input`: one JSON type. */
static bool parse_type_name(assembler *a, cursor *c, const char *what,
                            mvm_operand *op)
{
  size_t start = c->pos;
  size_t n = word_len(c);
  uint32_t type = mvm_type_parse(c->s + start, n, false);

  if (n == 0 || type == 0 || (type & ~(uint32_t)MVM_T_JSON) != 0 ||
      (type & (MVM_T_REPLY | MVM_T_CALLS | MVM_T_RESULT))) {
    report(a, start, "invalid type '%.*s' for %s: use null, bool, int, "
                     "float, num, str, list, map or json", (int)n,
           c->s + start, what);
    return false;
  }
  op->form = MVM_FORM_NAME;
  op->type = type;
  op->text = strndup(c->s + start, n);
  if (op->text == NULL) {
    a->rc = MVM_ENOMEM;
    return false;
  }
  c->pos += n;
  return true;
}

/* Parses operand `i` of an instruction according to its kind. */
static bool parse_operand(assembler *a, cursor *c, const mvm_op_info *info,
                          unsigned i, mvm_operand *op)
{
  const mvm_opnd_info *oi = &info->opnd[i];
  char what[96];
  size_t start = c->pos;

  snprintf(what, sizeof what, "operand '%s' of '%s'", oi->name,
           info->mnemonic);
  op->col = (uint32_t)(start + 1);
  op->target = -1;

  switch (oi->kind) {
  case 'w':
  case 'u':
  case 'x':
    op->form = MVM_FORM_REG;
    return parse_register(a, c, what, &op->reg);
  case 'r':
    if (c->pos < c->len && c->s[c->pos] == '%') {
      op->form = MVM_FORM_REG;
      return parse_register(a, c, what, &op->reg);
    }
    op->form = MVM_FORM_LITERAL;
    return parse_literal(a, c, what, &op->value);
  case 'l':
  case 's':
  case 'o':
    op->form = MVM_FORM_NAME;
    return parse_name(a, c, "label name", "a label is a letter or '_', then "
                      "letters, digits or '_'", ok_ident, &op->text);
  case 'm':
    op->form = MVM_FORM_NAME;
    return parse_name(a, c, "model name", "a model name is a letter or '_', "
                      "then letters, digits, '_' or '-'", ok_model,
                      &op->text);
  case 't':
    op->form = MVM_FORM_NAME;
    return parse_name(a, c, "tool name", "write server.tool, using letters, "
                      "digits, '_', '-' and '.'", ok_tool, &op->text);
  case 'p':
    op->form = MVM_FORM_NAME;
    return parse_name(a, c, "tool pattern", "write server.* or *, using "
                      "letters, digits, '_', '-', '.' and '*'", ok_pattern,
                      &op->text);
  case 'e':
    op->form = MVM_FORM_NAME;
    return parse_name(a, c, "role", "use system, user, assistant or tool",
                      ok_role, &op->text);
  case 'q':
    return parse_query_type(a, c, what, op);
  case 'y':
    return parse_type_name(a, c, what, op);
  case 'n':
    return parse_int(a, c, what, op);
  case 'j':
    op->form = MVM_FORM_SCHEMA;
    if (!parse_literal(a, c, what, &op->value))
      return false;
    if (!json_is_object(op->value) && !json_is_boolean(op->value)) {
      report(a, start, "%s must be a JSON Schema: an object or a boolean",
             what);
      return false;
    }
    return true;
  case 'k':
    if (!parse_string(a, c, what, op))
      return false;
    if (op->text[0] == '\0') {
      report(a, start, "memory key must not be empty");
      return false;
    }
    return true;
  case 'h':
  case 'f':
    if (!parse_string(a, c, what, op))
      return false;
    op->parts = json_array();
    if (op->parts == NULL) {
      a->rc = MVM_ENOMEM;
      return false;
    }
    if (oi->kind == 'h')
      return parse_path(a, op, start, op->parts);
    return parse_format(a, op, start, op->parts);
  }
  report(a, start, "internal error: operand kind '%c'", oi->kind);
  return false;
}

static void operand_free(mvm_operand *op)
{
  json_decref(op->value);
  json_decref(op->parts);
  free(op->text);
  memset(op, 0, sizeof *op);
}

/* Writes "(dst, model, history, tools[, fail])" for messages. */
static void operand_names(const mvm_op_info *info, char *buf, size_t size)
{
  size_t used = 0;
  buf[0] = '\0';
  for (unsigned i = 0; i < info->nopnd && used < size; i++) {
    bool optional = info->opnd[i].kind == 'o';
    used += (size_t)snprintf(buf + used, size - used, "%s%s%s%s",
                             optional ? "[" : "", i ? ", " : "",
                             info->opnd[i].name, optional ? "]" : "");
  }
}

/* Writes "3 operands (history, role, content)" for messages. */
static void count_message(const mvm_op_info *info, char *buf, size_t size)
{
  unsigned required = info->nopnd - (info->has_fail ? 1 : 0);
  char names[128];

  operand_names(info, names, sizeof names);
  if (info->has_fail)
    snprintf(buf, size, "%u or %u operands (%s)", required, info->nopnd,
             names);
  else if (info->nopnd == 0)
    snprintf(buf, size, "no operands");
  else
    snprintf(buf, size, "%u operand%s (%s)", required,
             required == 1 ? "" : "s", names);
}

static int add_insn(assembler *a, const mvm_insn *in)
{
  mvm_program *p = a->p;
  if (p->ninsns == p->insn_cap) {
    size_t cap = p->insn_cap ? p->insn_cap * 2 : 64;
    mvm_insn *insns = realloc(p->insns, cap * sizeof *insns);
    if (insns == NULL)
      return MVM_ENOMEM;
    p->insns = insns;
    p->insn_cap = cap;
  }
  p->insns[p->ninsns++] = *in;
  return MVM_OK;
}

static void parse_instruction(assembler *a, cursor *c)
{
  size_t start = c->pos;
  size_t n = word_len(c);
  int op = mvm_op_find(c->s + start, n);

  if (op < 0) {
    report(a, start, "unknown instruction '%.*s'; docs/isa.md lists the "
                     "instruction set", (int)n, c->s + start);
    return;
  }
  if (a->p->ninsns == MVM_ASM_MAX_INSNS) {
    report(a, start, "too many instructions: the limit is %d",
           MVM_ASM_MAX_INSNS);
    return;
  }

  const mvm_op_info *info = mvm_op_info_get(op);
  unsigned required = info->nopnd - (info->has_fail ? 1 : 0);
  mvm_insn in;
  char counts[160];
  bool ok = true;

  memset(&in, 0, sizeof in);
  in.op = op;
  in.line = a->line;
  in.col = (uint32_t)(start + 1);
  c->pos += n;
  count_message(info, counts, sizeof counts);

  for (unsigned i = 0; ok && i < info->nopnd; i++) {
    skip_space(c);
    if (i > 0 && !at_end(c)) {
      if (c->s[c->pos] != ',') {
        report(a, c->pos, "expected ',' before operand '%s' of '%s'",
               info->opnd[i].name, info->mnemonic);
        ok = false;
        break;
      }
      c->pos++;
      skip_space(c);
    }
    if (at_end(c)) {
      if (i < required) {
        report(a, c->pos, "'%s' takes %s, found %u", info->mnemonic,
               counts, i);
        ok = false;
      }
      break;
    }
    ok = parse_operand(a, c, info, i, &in.opnd[i]);
    if (ok)
      in.nopnd = i + 1;
  }
  skip_space(c);
  if (ok && !at_end(c)) {
    if (c->s[c->pos] == ',')
      report(a, c->pos, "'%s' takes %s, found more", info->mnemonic,
             counts);
    else
      report(a, c->pos, "unexpected text '%.*s' after the operands of '%s'",
             (int)word_len(c), c->s + c->pos, info->mnemonic);
    ok = false;
  }

  if (ok && add_insn(a, &in) == MVM_OK)
    return;
  if (ok)
    a->rc = MVM_ENOMEM;
  for (unsigned i = 0; i < MVM_MAX_OPERANDS; i++)
    operand_free(&in.opnd[i]);
}

static void declare(assembler *a, mvm_decls *d, const char *kind,
                    const char *name, size_t col0)
{
  int prev = mvm_decls_find(d, name);

  if (prev >= 0) {
    report(a, col0, "%s '%s' is already declared at line %u", kind, name,
           d->items[prev].line);
    return;
  }
  if (d->len == MVM_ASM_MAX_DECLS) {
    report(a, col0, "too many %s declarations: the limit is %d", kind,
           MVM_ASM_MAX_DECLS);
    return;
  }
  if (mvm_decls_add(d, name, strlen(name), a->line, (uint32_t)(col0 + 1),
                    0))
    a->rc = MVM_ENOMEM;
}

static void parse_input_directive(assembler *a, cursor *c)
{
  mvm_operand reg;
  mvm_operand type;

  memset(&reg, 0, sizeof reg);
  memset(&type, 0, sizeof type);
  if (a->p->input_reg >= 0) {
    report(a, c->pos, ".input is already declared at line %u",
           a->p->input_line);
    return;
  }
  if (!parse_register(a, c, "the .input directive", &reg.reg))
    return;
  skip_space(c);
  type.type = MVM_T_STR;
  if (!at_end(c) && !parse_type_name(a, c, "the .input directive", &type))
    return;
  free(type.text);
  a->p->input_reg = (int32_t)reg.reg;
  a->p->input_type = type.type;
  a->p->input_line = a->line;
}

static void parse_directive(assembler *a, cursor *c)
{
  size_t start = c->pos;
  size_t n = word_len(c);
  const char *s = c->s + start;
  size_t errors = a->errors;
  char *name = NULL;

  c->pos += n;
  skip_space(c);
  size_t arg = c->pos;

  if (n == 6 && strncmp(s, ".model", 6) == 0) {
    if (parse_name(a, c, "model name", "a model name is a letter or '_', "
                   "then letters, digits, '_' or '-'", ok_model, &name))
      declare(a, &a->p->models, "model", name, arg);
  } else if (n == 5 && strncmp(s, ".tool", 5) == 0) {
    if (parse_name(a, c, "tool name", "write server.tool, using letters, "
                   "digits, '_', '-' and '.'", ok_tool, &name))
      declare(a, &a->p->tools, "tool", name, arg);
  } else if (n == 6 && strncmp(s, ".tools", 6) == 0) {
    if (parse_name(a, c, "tool pattern", "write server.* or *, using "
                   "letters, digits, '_', '-', '.' and '*'", ok_pattern,
                   &name))
      declare(a, &a->p->patterns, "tool pattern", name, arg);
  } else if (n == 6 && strncmp(s, ".input", 6) == 0) {
    parse_input_directive(a, c);
  } else {
    report(a, start, "unknown directive '%.*s'; use .model, .tool, .tools "
                     "or .input", (int)n, s);
    return;
  }
  free(name);

  skip_space(c);
  if (a->errors == errors && !at_end(c))
    report(a, c->pos, "unexpected text '%.*s' after the directive",
           (int)word_len(c), c->s + c->pos);
}

/* Parses "name:" at the start of a line, if present. */
static void parse_label(assembler *a, cursor *c)
{
  size_t start = c->pos;
  size_t n = ident_len(c);

  if (n == 0 || start + n >= c->len || c->s[start + n] != ':')
    return;
  c->pos += n + 1;

  char *name = strndup(c->s + start, n);
  if (name == NULL) {
    a->rc = MVM_ENOMEM;
    return;
  }
  int prev = mvm_decls_find(&a->p->labels, name);
  if (prev >= 0)
    report(a, start, "label '%s' is already defined at line %u", name,
           a->p->labels.items[prev].line);
  else if (n > MVM_ASM_MAX_NAME)
    report(a, start, "label is longer than %d characters", MVM_ASM_MAX_NAME);
  else if (mvm_decls_add(&a->p->labels, name, n, a->line,
                         (uint32_t)(start + 1), (uint32_t)a->p->ninsns))
    a->rc = MVM_ENOMEM;
  free(name);
}

static void parse_line(assembler *a, cursor *c)
{
  if (c->len > MVM_ASM_MAX_LINE_BYTES) {
    report(a, 0, "line is %zu bytes long, over the limit of %d bytes",
           c->len, MVM_ASM_MAX_LINE_BYTES);
    return;
  }
  if (memchr(c->s, '\0', c->len) != NULL) {
    report(a, (size_t)((const char *)memchr(c->s, '\0', c->len) - c->s),
           "NUL byte in program text");
    return;
  }

  skip_space(c);
  parse_label(a, c);
  skip_space(c);
  if (at_end(c))
    return;

  if (c->s[c->pos] == '.')
    parse_directive(a, c);
  else
    parse_instruction(a, c);
}

static void check_trailing_labels(assembler *a)
{
  for (size_t i = 0; i < a->p->labels.len; i++) {
    const mvm_decl *l = &a->p->labels.items[i];
    if (l->index < a->p->ninsns)
      continue;
    a->line = l->line;
    report(a, l->col - 1, "label '%s' marks no instruction; put an "
                          "instruction after it", l->name);
  }
}

void mvm_program_free(mvm_program *program)
{
  if (program == NULL)
    return;
  for (size_t i = 0; i < program->ninsns; i++) {
    for (unsigned k = 0; k < MVM_MAX_OPERANDS; k++)
      operand_free(&program->insns[i].opnd[k]);
  }
  free(program->insns);
  for (size_t i = 0; i < program->nregs; i++)
    free(program->regs[i]);
  free(program->regs);
  mvm_decls_free(&program->models);
  mvm_decls_free(&program->tools);
  mvm_decls_free(&program->patterns);
  mvm_decls_free(&program->labels);
  free(program->written_type);
  free(program->reachable);
  json_decref(program->taint);
  free(program->source);
  free(program->file);
  free(program);
}

static int program_new(const char *file, const char *text, size_t len,
                       mvm_program **out)
{
  mvm_program *p = calloc(1, sizeof *p);
  if (p == NULL)
    return MVM_ENOMEM;
  p->input_reg = -1;
  p->file = strdup(file ? file : "<input>");
  p->source = malloc(len + 1);
  if (p->file == NULL || p->source == NULL) {
    mvm_program_free(p);
    return MVM_ENOMEM;
  }
  memcpy(p->source, text, len);
  p->source[len] = '\0';
  p->source_len = len;
  *out = p;
  return MVM_OK;
}

int mvm_asm(const char *file, const char *text, size_t len, mvm_diags *diags,
            mvm_program **out, mvm_error *err)
{
  mvm_program *p = NULL;
  assembler a;

  if (mvm_op_info_get(0) == NULL)
    return mvm_error_set(err, MVM_EINVAL, "asm",
                         "the opcode table in src/vm/opcodes.h is invalid");
  if (program_new(file, len <= MVM_ASM_MAX_SOURCE_BYTES ? text : "",
                  len <= MVM_ASM_MAX_SOURCE_BYTES ? len : 0, &p))
    return mvm_error_set(err, MVM_ENOMEM, "asm", "out of memory");

  memset(&a, 0, sizeof a);
  a.p = p;
  a.diags = diags;
  a.err = err;

  if (len > MVM_ASM_MAX_SOURCE_BYTES) {
    if (mvm_diags_add(diags, p, MVM_DIAG_ERROR, 0, 0,
                      "program is %zu bytes, over the limit of %u bytes",
                      len, MVM_ASM_MAX_SOURCE_BYTES))
      a.rc = MVM_ENOMEM;
    mvm_error_set(err, MVM_ESYNTAX, "asm",
                  "%s: program is %zu bytes, over the limit of %u bytes",
                  p->file, len, MVM_ASM_MAX_SOURCE_BYTES);
    a.errors = 1;
  }

  size_t pos = 0;
  while (pos < p->source_len && a.errors < MAX_ERRORS && a.rc == MVM_OK) {
    const char *nl = memchr(p->source + pos, '\n', p->source_len - pos);
    size_t end = nl ? (size_t)(nl - p->source) : p->source_len;
    size_t llen = end - pos;
    if (llen > 0 && p->source[pos + llen - 1] == '\r')
      llen--;

    cursor c = {p->source + pos, llen, 0};
    a.line++;
    parse_line(&a, &c);
    pos = end + 1;
  }
  if (a.rc == MVM_OK && a.errors < MAX_ERRORS)
    check_trailing_labels(&a);
  if (a.rc == MVM_OK && a.errors >= MAX_ERRORS &&
      mvm_diags_add(diags, p, MVM_DIAG_ERROR, 0, 0,
                    "stopped after %d errors; fix these and assemble "
                    "again", MAX_ERRORS))
    a.rc = MVM_ENOMEM;

  if (a.rc) {
    mvm_program_free(p);
    return mvm_error_set(err, a.rc, "asm", "out of memory");
  }
  if (a.errors > 0) {
    mvm_program_free(p);
    return MVM_ESYNTAX;
  }
  if (mvm_program_compute_hash(p)) {
    mvm_program_free(p);
    return mvm_error_set(err, MVM_ENOMEM, "asm", "out of memory");
  }
  *out = p;
  return MVM_OK;
}

int mvm_asm_file(const char *path, mvm_diags *diags, mvm_program **out,
                 mvm_error *err)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return mvm_error_set(err, errno == ENOENT ? MVM_ENOTFOUND : MVM_EIO,
                         "asm", "cannot open program '%s': %s", path,
                         strerror(errno));

  /* One byte over the limit is enough to tell the file is too large. */
  size_t cap = MVM_ASM_MAX_SOURCE_BYTES + 1;
  char *text = malloc(cap);
  size_t len = 0;
  int rc = MVM_OK;

  if (text == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "asm", "out of memory");
  } else {
    len = fread(text, 1, cap, f);
    if (ferror(f))
      rc = mvm_error_set(err, MVM_EIO, "asm", "cannot read program '%s': "
                         "%s", path, strerror(errno));
  }
  fclose(f);
  if (rc == MVM_OK)
    rc = mvm_asm(path, text, len, diags, out, err);
  free(text);
  return rc;
}
