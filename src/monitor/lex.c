/* lex.c - splitting policy lines into tokens, and the token-level helpers
 * the parser builds on. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/parse_internal.h"

int pol_error(pol_parser *ps, int code, unsigned col, const char *fmt, ...)
{
  char msg[MVM_ERROR_MSG_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return mvm_error_set(ps->err, code, "policy", "%s:%u:%u: %s",
                       ps->policy->name, ps->line, col, msg);
}

void pol_lex_clear(pol_parser *ps)
{
  for (size_t i = 0; i < ps->ntoks; i++)
    free(ps->toks[i].text);
  ps->ntoks = 0;
  ps->pos = 0;
}

static bool is_word_byte(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
         c == '*' || c == ':' || c == '/' || c == '@' || c == '+';
}

static int push(pol_parser *ps, pol_tok_kind kind, unsigned col, char *text,
                size_t len)
{
  if (ps->ntoks == MVM_POLICY_MAX_TOKENS) {
    free(text);
    return pol_error(ps, MVM_ELIMIT, col, "the line has more than %d "
                     "tokens; split the statement", MVM_POLICY_MAX_TOKENS);
  }
  pol_tok *t = &ps->toks[ps->ntoks++];
  t->kind = kind;
  t->col = col;
  t->text = text;
  t->len = len;
  return MVM_OK;
}

/* Reads a double-quoted string with the escapes \" \\ \n \t \r, or a
 * single-quoted one in which every byte stands for itself. *used is the
 * bytes consumed, quotes included. */
static int lex_string(pol_parser *ps, const char *s, size_t len,
                      unsigned col, size_t *used)
{
  char quote = s[0];
  char *out = malloc(len + 1);
  size_t n = 0;
  size_t i = 1;

  if (out == NULL)
    return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  while (i < len && s[i] != quote) {
    char c = s[i];
    if (quote == '"' && c == '\\') {
      if (i + 1 >= len)
        break;
      char e = s[i + 1];
      switch (e) {
      case '"':
      case '\\':
        c = e;
        break;
      case 'n':
        c = '\n';
        break;
      case 't':
        c = '\t';
        break;
      case 'r':
        c = '\r';
        break;
      default:
        free(out);
        return pol_error(ps, MVM_EPARSE, col + (unsigned)i,
                         "unknown escape '\\%c' in a string; use \\\\ for a "
                         "backslash, or a 'single-quoted' string in which "
                         "backslashes stand for themselves",
                         e >= 0x20 && e < 0x7f ? e : '?');
      }
      i++;
    }
    out[n++] = c;
    i++;
  }
  if (i >= len) {
    free(out);
    return pol_error(ps, MVM_EPARSE, col, "the string starting here has no "
                     "closing %c on this line", quote);
  }
  out[n] = '\0';
  *used = i + 1;
  return push(ps, TOK_STRING, col, out, n);
}

int pol_lex_line(pol_parser *ps, const char *line, size_t len)
{
  size_t i = 0;
  int rc = MVM_OK;

  pol_lex_clear(ps);
  while (i < len && rc == MVM_OK) {
    unsigned char c = (unsigned char)line[i];
    unsigned col = (unsigned)i + 1;

    if (c == ' ' || c == '\t') {
      i++;
    } else if (c == '#') {
      break;
    } else if (c == '"' || c == '\'') {
      size_t used = 0;
      rc = lex_string(ps, line + i, len - i, col, &used);
      i += used;
    } else if (c == '{' || c == '}' || c == ',') {
      pol_tok_kind kind = TOK_COMMA;
      if (c == '{')
        kind = TOK_LBRACE;
      else if (c == '}')
        kind = TOK_RBRACE;
      rc = push(ps, kind, col, NULL, 0);
      i++;
    } else if (is_word_byte(c)) {
      size_t start = i;
      while (i < len && is_word_byte((unsigned char)line[i]))
        i++;
      char *w = strndup(line + start, i - start);
      if (w == NULL)
        return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
      rc = push(ps, TOK_WORD, col, w, i - start);
    } else if (c < 0x20 || c == 0x7f) {
      return pol_error(ps, MVM_EPARSE, col, "control character 0x%02x; "
                       "only spaces and tabs may separate tokens", c);
    } else {
      /* Quotes the whole UTF-8 sequence; the text is not NUL-terminated. */
      size_t n = 1;
      while (i + n < len && n < 4 && ((unsigned char)line[i + n] & 0xc0) ==
                                         0x80)
        n++;
      return pol_error(ps, MVM_EPARSE, col, "unexpected character '%.*s'; "
                       "quote names that contain it", (int)n, line + i);
    }
  }
  return rc;
}

const pol_tok *pol_peek(const pol_parser *ps)
{
  return ps->pos < ps->ntoks ? &ps->toks[ps->pos] : NULL;
}

const pol_tok *pol_next(pol_parser *ps)
{
  return ps->pos < ps->ntoks ? &ps->toks[ps->pos++] : NULL;
}

bool pol_at_end(const pol_parser *ps)
{
  return ps->pos >= ps->ntoks;
}

bool pol_accept_word(pol_parser *ps, const char *w)
{
  const pol_tok *t = pol_peek(ps);

  if (t != NULL && t->kind == TOK_WORD && strcmp(t->text, w) == 0) {
    ps->pos++;
    return true;
  }
  return false;
}

unsigned pol_col(const pol_parser *ps)
{
  const pol_tok *t = pol_peek(ps);

  if (t != NULL)
    return t->col;
  if (ps->ntoks == 0)
    return 1;
  const pol_tok *last = &ps->toks[ps->ntoks - 1];
  return last->col + (unsigned)(last->kind == TOK_WORD ? last->len : 1);
}

/* Describes the current token for "expected X, found Y" messages. */
static const char *found(const pol_parser *ps, char *buf, size_t size)
{
  const pol_tok *t = pol_peek(ps);

  if (t == NULL)
    return "the end of the line";
  switch (t->kind) {
  case TOK_LBRACE:
    return "'{'";
  case TOK_RBRACE:
    return "'}'";
  case TOK_COMMA:
    return "','";
  case TOK_STRING:
    /* A quoted "1" where a number belongs reads better named as a
     * string than as '1'. */
    snprintf(buf, size, "the string \"%.80s\"", t->text);
    return buf;
  default:
    snprintf(buf, size, "'%.80s'", t->text);
    return buf;
  }
}

int pol_expect_text(pol_parser *ps, const char *what, const char **out)
{
  const pol_tok *t = pol_peek(ps);
  char buf[112];

  /* Token text has no NUL byte: the line was checked for one, and no
   * escape produces it. */
  if (t == NULL || (t->kind != TOK_WORD && t->kind != TOK_STRING))
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected %s, found %s",
                     what, found(ps, buf, sizeof buf));
  ps->pos++;
  *out = t->text;
  return MVM_OK;
}

int pol_expect_end(pol_parser *ps)
{
  char buf[112];

  if (pol_at_end(ps))
    return MVM_OK;
  return pol_error(ps, MVM_EPARSE, pol_col(ps), "unexpected %s; the "
                   "statement has ended (one statement per line)",
                   found(ps, buf, sizeof buf));
}

void pol_strings_free(char **items, size_t n)
{
  for (size_t i = 0; items != NULL && i < n; i++)
    free(items[i]);
  free(items);
}

int pol_parse_list(pol_parser *ps, const char *what, char ***items,
                   size_t *n)
{
  char **list = NULL;
  size_t count = 0;
  int rc;

  for (;;) {
    const char *text = NULL;
    rc = pol_expect_text(ps, what, &text);
    if (rc)
      goto fail;
    char **grown = realloc(list, (count + 1) * sizeof *list);
    if (grown == NULL)
      goto nomem;
    list = grown;
    list[count] = strdup(text);
    if (list[count] == NULL)
      goto nomem;
    count++;
    const pol_tok *t = pol_peek(ps);
    if (t == NULL || t->kind != TOK_COMMA)
      break;
    ps->pos++;
  }
  *items = list;
  *n = count;
  return MVM_OK;

nomem:
  rc = mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
fail:
  pol_strings_free(list, count);
  return rc;
}

int pol_parse_readers(pol_parser *ps, pol_sink_kind *kind, char ***items,
                      size_t *n)
{
  *items = NULL;
  *n = 0;
  if (pol_accept_word(ps, "everyone")) {
    *kind = SINK_EVERYONE;
    return MVM_OK;
  }
  if (pol_accept_word(ps, "none")) {
    *kind = SINK_NONE;
    return MVM_OK;
  }
  *kind = SINK_LIST;
  unsigned col = pol_col(ps);
  int rc = pol_parse_list(ps, "a reader name, everyone or none", items, n);
  /* In a list, these words would name a reader called "everyone", "none"
   * or "*" instead of meaning every reader or no reader, so they are
   * rejected there. */
  for (size_t i = 0; rc == MVM_OK && i < *n; i++) {
    const char *r = (*items)[i];
    if (strcmp(r, "everyone") == 0 || strcmp(r, "none") == 0 ||
        strcmp(r, "*") == 0)
      rc = pol_error(ps, MVM_EPARSE, col, "'%s' in a list of readers would "
                     "name a reader called '%s'; write 'readers everyone' "
                     "or 'readers none' on its own", r, r);
  }
  if (rc) {
    pol_strings_free(*items, *n);
    *items = NULL;
    *n = 0;
  }
  return rc;
}

int pol_readers_label(pol_sink_kind kind, char *const *items, size_t n,
                      mvm_label **out)
{
  static const char *const nobody[1] = {NULL};

  *out = NULL;
  if (kind == SINK_EVERYONE || kind == SINK_UNSET)
    return MVM_OK;
  if (kind == SINK_NONE)
    return mvm_label_new(NULL, 0, nobody, 0, out);
  return mvm_label_new(NULL, 0, (const char *const *)items, n, out);
}

int pol_parse_number(pol_parser *ps, const char *what, double *out)
{
  const pol_tok *t = pol_peek(ps);
  char buf[112];
  char *end = NULL;

  if (t == NULL || t->kind != TOK_WORD)
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected %s (a number), "
                     "found %s", what, found(ps, buf, sizeof buf));
  errno = 0;
  double d = strtod(t->text, &end);
  if (end == t->text || *end != '\0' || errno == ERANGE || !isfinite(d) ||
      strpbrk(t->text, "xXnN") != NULL)
    return pol_error(ps, MVM_EPARSE, t->col, "'%.80s' is not a decimal "
                     "number; write %s like 12 or 0.5", t->text, what);
  ps->pos++;
  *out = d;
  return MVM_OK;
}

int pol_parse_size(pol_parser *ps, const char *what, size_t *out)
{
  const pol_tok *t = pol_peek(ps);
  char buf[112];
  unsigned long long v = 0;

  if (t == NULL || t->kind != TOK_WORD)
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected %s (a whole "
                     "number), found %s", what, found(ps, buf, sizeof buf));
  if (t->len > 15 || strspn(t->text, "0123456789") != t->len)
    return pol_error(ps, MVM_EPARSE, t->col, "'%.80s' is not a whole number "
                     "from 0 to 999999999999999; write %s in digits",
                     t->text, what);
  for (size_t i = 0; i < t->len; i++)
    v = v * 10 + (unsigned long long)(t->text[i] - '0');
  ps->pos++;
  *out = (size_t)v;
  return MVM_OK;
}
