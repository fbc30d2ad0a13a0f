/* parse_body.c - the lines inside blocks: argument checks and rule
 * options in rule blocks, properties and labels in tool blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "monitor/parse_internal.h"

#define NOMEM(ps) mvm_error_set((ps)->err, MVM_ENOMEM, "policy", "out of memory")

/* ------------------------------------------------------------- checks */

static const struct {
  const char *word;
  unsigned bit;
} json_types[] = {
    {"string", JT_STRING},   {"number", JT_NUMBER}, {"integer", JT_INTEGER},
    {"boolean", JT_BOOLEAN}, {"object", JT_OBJECT}, {"array", JT_ARRAY},
    {"null", JT_NULL},
};

static const char check_words[] =
    "required, forbidden, type, min, max, enum, pattern, under, relative, "
    "scheme, host, maxlen, maxitems or maxsize";

static int parse_types(pol_parser *ps, pol_check *c)
{
  char **items = NULL;
  size_t n = 0;
  unsigned col = pol_col(ps);
  int rc = pol_parse_list(ps, "a JSON type", &items, &n);

  for (size_t i = 0; rc == MVM_OK && i < n; i++) {
    unsigned bit = 0;
    for (size_t k = 0; k < sizeof json_types / sizeof json_types[0]; k++) {
      if (strcmp(items[i], json_types[k].word) == 0)
        bit = json_types[k].bit;
    }
    if (bit == 0)
      rc = pol_error(ps, MVM_EPARSE, col, "unknown JSON type '%.80s'; "
                     "expected string, number, integer, boolean, object, "
                     "array or null", items[i]);
    c->types |= bit;
  }
  pol_strings_free(items, n);
  return rc;
}

/* enum values: quoted strings are strings, bare words are JSON numbers,
 * true, false or null. */
static int parse_enum(pol_parser *ps, pol_check *c)
{
  c->values = json_array();
  if (c->values == NULL)
    return NOMEM(ps);
  for (;;) {
    const pol_tok *t = pol_peek(ps);
    json_t *v = NULL;

    if (t != NULL && t->kind == TOK_STRING) {
      v = json_stringn(t->text, t->len);
    } else if (t != NULL && t->kind == TOK_WORD) {
      mvm_error jerr;
      if (mvm_json_parse(t->text, t->len, NULL, "enum value", &v, &jerr) ||
          json_is_object(v) || json_is_array(v) || json_is_string(v)) {
        json_decref(v);
        return pol_error(ps, MVM_EPARSE, t->col, "enum value '%.80s' must "
                         "be a quoted string, a number, true, false or null",
                         t->text);
      }
    } else {
      return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected an enum value "
                       "(a quoted string, a number, true, false or null)");
    }
    if (v == NULL || json_array_append_new(c->values, v))
      return NOMEM(ps);
    ps->pos++;
    t = pol_peek(ps);
    if (t == NULL || t->kind != TOK_COMMA)
      return MVM_OK;
    ps->pos++;
  }
}

static int parse_pattern(pol_parser *ps, pol_check *c)
{
  const pol_tok *t = pol_peek(ps);
  int code = 0;
  PCRE2_SIZE offset = 0;

  if (t == NULL || t->kind != TOK_STRING)
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected a quoted "
                     "regular expression after 'pattern'");
  ps->pos++;
  c->text = strndup(t->text, t->len);
  if (c->text == NULL)
    return NOMEM(ps);
  /* Anchored at both ends: the whole argument must match. */
  c->re = pcre2_compile((PCRE2_SPTR)t->text, t->len,
                        PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF |
                            PCRE2_NEVER_BACKSLASH_C,
                        &code, &offset, NULL);
  if (c->re == NULL) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(code, msg, sizeof msg);
    return pol_error(ps, MVM_EPARSE, t->col + 1 + (unsigned)offset,
                     "invalid regular expression '%.80s': %s at offset %zu",
                     t->text, (const char *)msg, (size_t)offset);
  }
  return MVM_OK;
}

/* Reads the absolute directory after `under` or `relative to`. */
static int parse_directory(pol_parser *ps, pol_check *c, const char *what)
{
  const char *dir = NULL;
  unsigned col = pol_col(ps);
  int rc = pol_expect_text(ps, what, &dir);

  if (rc)
    return rc;
  if (dir[0] != '/')
    return pol_error(ps, MVM_EPARSE, col, "directory '%.80s' must be an "
                     "absolute path", dir);
  c->text = strdup(dir);
  if (c->text == NULL)
    return NOMEM(ps);
  /* "/srv/work/" and "/srv/work" name the same directory. */
  size_t n = strlen(c->text);
  while (n > 1 && c->text[n - 1] == '/')
    c->text[--n] = '\0';
  return MVM_OK;
}

/* relative to "DIR": tools differ in what they take a relative path from,
 * so the policy must name it. */
static int parse_relative(pol_parser *ps, pol_check *c)
{
  if (!pol_accept_word(ps, "to"))
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "'relative' needs the "
                     "directory that the tool takes relative paths from, "
                     "as in 'relative to \"/srv/files\"'");
  return parse_directory(ps, c, "a directory after 'relative to'");
}

static int parse_schemes(pol_parser *ps, pol_check *c)
{
  unsigned col = pol_col(ps);
  int rc = pol_parse_list(ps, "a URL scheme", &c->items, &c->nitems);

  for (size_t i = 0; rc == MVM_OK && i < c->nitems; i++) {
    char *s = c->items[i];
    for (char *q = s; *q != '\0'; q++) {
      if (*q >= 'A' && *q <= 'Z')
        *q = (char)(*q - 'A' + 'a');
    }
    if (s[0] < 'a' || s[0] > 'z' ||
        strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-") != strlen(s))
      rc = pol_error(ps, MVM_EPARSE, col, "'%.80s' is not a URL scheme; "
                     "write it without ':', e.g. https", s);
  }
  return rc;
}

static int parse_hosts(pol_parser *ps, pol_check *c)
{
  unsigned col = pol_col(ps);
  int rc = pol_parse_list(ps, "a host name", &c->items, &c->nitems);

  for (size_t i = 0; rc == MVM_OK && i < c->nitems; i++) {
    char *entry = c->items[i];
    bool wild = entry[0] == '*' && entry[1] == '.';
    char why[256];

    if (strchr(entry + (wild ? 1 : 0), '*') != NULL)
      return pol_error(ps, MVM_EPARSE, col, "host '%.80s' may use '*' only "
                       "as its first label, as in *.example.com", entry);
    char *norm = pol_url_normalize_host(entry + (wild ? 2 : 0), why,
                                        sizeof why);
    if (norm == NULL)
      return pol_error(ps, MVM_EPARSE, col, "invalid host '%.80s': %s", entry,
                       why);
    char *full = NULL;
    if (asprintf(&full, "%s%s", wild ? "*." : "", norm) < 0)
      full = NULL;
    free(norm);
    if (full == NULL)
      return NOMEM(ps);
    free(c->items[i]);
    c->items[i] = full;
  }
  return rc;
}

static int parse_one_check(pol_parser *ps, pol_argspec *spec, pol_check *c,
                           const pol_tok *kw)
{
  const char *w = kw->text;

  if (strcmp(w, "required") == 0) {
    c->kind = CK_REQUIRED;
  } else if (strcmp(w, "forbidden") == 0) {
    c->kind = CK_FORBIDDEN;
  } else if (strcmp(w, "relative") == 0) {
    c->kind = CK_RELATIVE;
    spec->relative = true;
    return parse_relative(ps, c);
  } else if (strcmp(w, "type") == 0) {
    c->kind = CK_TYPE;
    return parse_types(ps, c);
  } else if (strcmp(w, "min") == 0 || strcmp(w, "max") == 0) {
    c->kind = w[1] == 'i' ? CK_MIN : CK_MAX;
    return pol_parse_number(ps, w[1] == 'i' ? "the minimum" : "the maximum",
                            &c->number);
  } else if (strcmp(w, "enum") == 0) {
    c->kind = CK_ENUM;
    return parse_enum(ps, c);
  } else if (strcmp(w, "pattern") == 0) {
    c->kind = CK_PATTERN;
    return parse_pattern(ps, c);
  } else if (strcmp(w, "under") == 0) {
    c->kind = CK_UNDER;
    return parse_directory(ps, c, "a directory after 'under'");
  } else if (strcmp(w, "scheme") == 0) {
    c->kind = CK_SCHEME;
    return parse_schemes(ps, c);
  } else if (strcmp(w, "host") == 0) {
    c->kind = CK_HOST;
    return parse_hosts(ps, c);
  } else if (strcmp(w, "maxlen") == 0) {
    c->kind = CK_MAXLEN;
    return pol_parse_size(ps, "the maximum length in bytes", &c->limit);
  } else if (strcmp(w, "maxitems") == 0) {
    c->kind = CK_MAXITEMS;
    return pol_parse_size(ps, "the maximum number of items", &c->limit);
  } else if (strcmp(w, "maxsize") == 0) {
    c->kind = CK_MAXSIZE;
    return pol_parse_size(ps, "the maximum size in bytes", &c->limit);
  } else {
    return pol_error(ps, MVM_EPARSE, kw->col, "unknown check '%.80s'; "
                     "expected %s", w, check_words);
  }
  return MVM_OK;
}

static bool has_check(const pol_argspec *spec, pol_check_kind kind)
{
  for (size_t i = 0; i < spec->nchecks; i++) {
    if (spec->checks[i].kind == kind)
      return true;
  }
  return false;
}

/* Parses NAME CHECK... (the word `arg` already read) into spec. */
int pol_parse_argspec(pol_parser *ps, pol_argspec *spec)
{
  const pol_tok *nt = pol_peek(ps);
  const char *name = NULL;
  int rc;

  memset(spec, 0, sizeof *spec);
  spec->line = ps->line;
  rc = pol_expect_text(ps, "an argument name or *", &name);
  if (rc)
    return rc;
  if (!(nt->kind == TOK_WORD && strcmp(name, "*") == 0)) {
    spec->name = strdup(name);
    if (spec->name == NULL)
      return NOMEM(ps);
  }
  if (pol_at_end(ps))
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected a check after "
                     "'arg %.80s': %s", name, check_words);

  while (!pol_at_end(ps)) {
    const pol_tok *kw = pol_next(ps);
    if (kw->kind != TOK_WORD)
      return pol_error(ps, MVM_EPARSE, kw->col, "expected a check (%s)",
                       check_words);
    pol_check *grown = realloc(spec->checks,
                               (spec->nchecks + 1) * sizeof *grown);
    if (grown == NULL)
      return NOMEM(ps);
    spec->checks = grown;
    pol_check *c = &spec->checks[spec->nchecks++];
    memset(c, 0, sizeof *c);
    rc = parse_one_check(ps, spec, c, kw);
    if (rc)
      return rc;
  }

  if (has_check(spec, CK_REQUIRED) && has_check(spec, CK_FORBIDDEN))
    return pol_error(ps, MVM_EPARSE, nt->col, "argument '%.80s' cannot be "
                     "both required and forbidden", name);
  if (spec->name == NULL && has_check(spec, CK_REQUIRED))
    return pol_error(ps, MVM_EPARSE, nt->col, "'arg *' stands for arguments "
                     "the rule does not name, so it cannot be required");
  if (spec->relative && !has_check(spec, CK_UNDER))
    return pol_error(ps, MVM_EPARSE, nt->col, "'relative to' needs an "
                     "'under DIR' check on the same line");
  return MVM_OK;
}

/* ------------------------------------------------------------- rules */

static int append_argspec(pol_parser *ps, pol_argspec **specs, size_t *n)
{
  pol_argspec spec;
  int rc = pol_parse_argspec(ps, &spec);

  if (rc == MVM_OK) {
    pol_argspec *grown = realloc(*specs, (*n + 1) * sizeof *grown);
    if (grown == NULL) {
      rc = NOMEM(ps);
    } else {
      *specs = grown;
      (*specs)[(*n)++] = spec;
      return MVM_OK;
    }
  }
  pol_argspec_clear(&spec);
  return rc;
}

static const struct {
  const char *word;
  unsigned bit;
} query_types[] = {
    {"bool", QT_BOOL}, {"int", QT_INT}, {"enum", QT_ENUM},
    {"schema", QT_SCHEMA},
};

static const struct {
  const char *word;
  unsigned bit;
} value_types[] = {
    {"null", VT_NULL}, {"bool", VT_BOOL}, {"int", VT_INT},
    {"float", VT_FLOAT}, {"str", VT_STR}, {"list", VT_LIST},
    {"map", VT_MAP},
};

static int parse_quarantined(pol_parser *ps, pol_rule *r)
{
  char **items = NULL;
  size_t n = 0;
  unsigned col = pol_col(ps);
  int rc = MVM_OK;

  r->quarantined = true;
  if (pol_at_end(ps))
    return MVM_OK;
  rc = pol_parse_list(ps, "a query type", &items, &n);
  for (size_t i = 0; rc == MVM_OK && i < n; i++) {
    unsigned bit = 0;
    for (size_t k = 0; k < sizeof query_types / sizeof query_types[0]; k++) {
      if (strcmp(items[i], query_types[k].word) == 0)
        bit = query_types[k].bit;
    }
    if (bit == 0)
      rc = pol_error(ps, MVM_EPARSE, col, "unknown query type '%.80s'; "
                     "expected bool, int, enum or schema", items[i]);
    r->qtypes |= bit;
  }
  pol_strings_free(items, n);
  return rc;
}

static int parse_value_types(pol_parser *ps, pol_rule *r)
{
  char **items = NULL;
  size_t n = 0;
  unsigned col = pol_col(ps);
  int rc = pol_parse_list(ps, "a value type", &items, &n);

  for (size_t i = 0; rc == MVM_OK && i < n; i++) {
    unsigned bit = 0;
    for (size_t k = 0; k < sizeof value_types / sizeof value_types[0]; k++) {
      if (strcmp(items[i], value_types[k].word) == 0)
        bit = value_types[k].bit;
    }
    if (bit == 0)
      rc = pol_error(ps, MVM_EPARSE, col, "unknown value type '%.80s'; "
                     "expected null, bool, int, float, str, list or map",
                     items[i]);
    r->vtypes |= bit;
  }
  pol_strings_free(items, n);
  return rc;
}

static int parse_reason(pol_parser *ps, pol_rule *r)
{
  const pol_tok *t = pol_peek(ps);

  if (r->reason != NULL)
    return pol_error(ps, MVM_EPARSE, 1, "the rule already has a reason");
  if (t == NULL || t->kind != TOK_STRING)
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected a quoted "
                     "sentence after 'reason'");
  ps->pos++;
  r->reason = strndup(t->text, t->len);
  return r->reason ? MVM_OK : NOMEM(ps);
}

static int once(pol_parser *ps, bool set, const char *what, unsigned col)
{
  if (set)
    return pol_error(ps, MVM_EPARSE, col, "the rule already has a '%s' "
                     "line", what);
  return MVM_OK;
}

int pol_parse_rule_line(pol_parser *ps)
{
  pol_rule *r = &ps->policy->rules[ps->block_id];
  const pol_tok *kw = pol_next(ps);
  bool tool_rule = (r->effects & ~EFF_TOOLS) == 0;
  bool label_rule = r->effects == EFF_BIT(MVM_EFFECT_ENDORSE) ||
                    r->effects == EFF_BIT(MVM_EFFECT_DECLASSIFY);
  bool declassify = r->effects == EFF_BIT(MVM_EFFECT_DECLASSIFY);
  const char *w = kw->kind == TOK_WORD ? kw->text : "";
  int rc;

  if (strcmp(w, "reason") == 0) {
    rc = parse_reason(ps, r);
  } else if (tool_rule && strcmp(w, "arg") == 0) {
    rc = append_argspec(ps, &r->args, &r->nargs);
  } else if (tool_rule && strcmp(w, "args") == 0) {
    rc = once(ps, r->args_maxsize_line != 0, "args maxsize", kw->col);
    if (rc == MVM_OK && !pol_accept_word(ps, "maxsize"))
      rc = pol_error(ps, MVM_EPARSE, pol_col(ps), "expected 'maxsize' after "
                     "'args'");
    if (rc == MVM_OK)
      rc = pol_parse_size(ps, "the maximum size in bytes", &r->args_maxsize);
    r->args_maxsize_line = ps->line;
  } else if (label_rule && !declassify && strcmp(w, "quarantined") == 0) {
    rc = once(ps, r->quarantined, "quarantined", kw->col);
    if (rc == MVM_OK)
      rc = parse_quarantined(ps, r);
  } else if (label_rule && strcmp(w, "type") == 0) {
    rc = once(ps, r->vtypes != 0, "type", kw->col);
    if (rc == MVM_OK)
      rc = parse_value_types(ps, r);
  } else if (label_rule && !declassify && strcmp(w, "from") == 0) {
    rc = once(ps, r->from != NULL, "from", kw->col);
    if (rc == MVM_OK)
      rc = pol_parse_list(ps, "an integrity source", &r->from, &r->nfrom);
  } else if (declassify && strcmp(w, "to") == 0) {
    rc = once(ps, r->to != NULL, "to", kw->col);
    if (rc == MVM_OK)
      rc = pol_parse_list(ps, "a reader", &r->to, &r->nto);
  } else {
    const char *expected =
        tool_rule    ? "arg, args maxsize or reason"
        : declassify ? "to, type or reason"
        : label_rule ? "from, quarantined, type or reason"
                     : "reason";
    return pol_error(ps, MVM_EPARSE, kw->col, "'%.80s' does not belong in "
                     "a %s rule; expected %s", kw->text ? kw->text : "{",
                     r->effect_word, expected);
  }
  if (rc == MVM_OK)
    rc = pol_expect_end(ps);
  return rc;
}

/* ------------------------------------------------------------- tools */

static int add_label_line(pol_parser *ps, pol_tooldecl *t, char *field)
{
  pol_label_line ll;
  char **items = NULL;
  size_t n = 0;
  const pol_tok *kw = pol_peek(ps);
  int rc = MVM_OK;

  memset(&ll, 0, sizeof ll);
  ll.line = ps->line;
  ll.field = field;
  if (pol_accept_word(ps, "trusted")) {
    ll.what = LBL_TRUSTED;
  } else if (pol_accept_word(ps, "untrusted")) {
    ll.what = LBL_UNTRUSTED;
    rc = pol_parse_list(ps, "an integrity source, e.g. \"web\"", &items, &n);
    if (rc == MVM_OK &&
        mvm_label_new((const char *const *)items, n, NULL, 0, &ll.label))
      rc = NOMEM(ps);
  } else if (pol_accept_word(ps, "secret")) {
    ll.what = LBL_SECRET;
  } else if (pol_accept_word(ps, "readers")) {
    pol_sink_kind kind;
    ll.what = LBL_READERS;
    rc = pol_parse_readers(ps, &kind, &items, &n);
    if (rc == MVM_OK && pol_readers_label(kind, items, n, &ll.label))
      rc = NOMEM(ps);
  } else {
    rc = pol_error(ps, MVM_EPARSE, pol_col(ps), "expected trusted, "
                   "untrusted SOURCE..., readers READER... or secret"
                   "%s%.80s%s",
                   kw ? ", found '" : "", kw && kw->text ? kw->text : "",
                   kw ? "'" : "");
  }
  pol_strings_free(items, n);

  if (rc == MVM_OK && pol_accept_word(ps, "when")) {
    if (!pol_accept_word(ps, "arg")) {
      rc = pol_error(ps, MVM_EPARSE, pol_col(ps), "expected 'arg NAME "
                     "CHECK...' after 'when'");
    } else {
      unsigned col = pol_col(ps);
      ll.when = calloc(1, sizeof *ll.when);
      rc = ll.when ? pol_parse_argspec(ps, ll.when) : NOMEM(ps);
      if (rc == MVM_OK && ll.when->name == NULL)
        rc = pol_error(ps, MVM_EPARSE, col, "a 'when' condition must name "
                       "one argument, not *");
    }
  }
  if (rc == MVM_OK)
    rc = pol_expect_end(ps);

  pol_label_line *grown = NULL;
  if (rc == MVM_OK) {
    grown = realloc(t->labels, (t->nlabels + 1) * sizeof *grown);
    if (grown == NULL)
      rc = NOMEM(ps);
  }
  if (rc) {
    free(ll.field);
    mvm_label_unref(ll.label);
    pol_argspecs_free(ll.when, ll.when ? 1 : 0);
    return rc;
  }
  t->labels = grown;
  t->labels[t->nlabels++] = ll;
  return MVM_OK;
}

static int parse_tool_sink(pol_parser *ps, pol_tooldecl *t)
{
  if (!pol_accept_word(ps, "readers"))
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected 'readers' after "
                     "'sink'");
  if (t->sink_line != 0)
    return pol_error(ps, MVM_EPARSE, 1, "the sink readers of this tool are "
                     "already declared on line %u", t->sink_line);
  t->sink_line = ps->line;
  if (pol_accept_word(ps, "arg")) {
    t->sink = SINK_LIST;
    return pol_parse_list(ps, "an argument name", &t->sink_args,
                          &t->nsink_args);
  }
  return pol_parse_readers(ps, &t->sink, &t->sink_readers,
                           &t->nsink_readers);
}

int pol_parse_tool_line(pol_parser *ps)
{
  pol_tooldecl *t = &ps->policy->tools[ps->block_id];
  const pol_tok *kw = pol_next(ps);
  const char *w = kw->kind == TOK_WORD ? kw->text : "";
  int rc = MVM_OK;

  if (strcmp(w, "readonly") == 0 || strcmp(w, "consequential") == 0) {
    int value = w[0] == 'c';
    if (t->consequential != -1)
      return pol_error(ps, MVM_EPARSE, kw->col, "the tool is already marked "
                       "%s on line %u", t->consequential ? "consequential"
                       : "readonly", t->consequential_line);
    t->consequential = value;
    t->consequential_line = ps->line;
  } else if (strcmp(w, "trusted-args") == 0) {
    if (t->trusted_line != 0)
      return pol_error(ps, MVM_EPARSE, kw->col, "trusted-args is already "
                       "set on line %u", t->trusted_line);
    t->trusted_line = ps->line;
    rc = pol_parse_list(ps, "an argument name", &t->trusted_args,
                        &t->ntrusted_args);
  } else if (strcmp(w, "untrusted-context") == 0) {
    if (t->untrusted_set)
      return pol_error(ps, MVM_EPARSE, kw->col, "untrusted-context is "
                       "already set on line %u", t->untrusted_line);
    if (pol_accept_word(ps, "deny"))
      t->untrusted_verdict = MVM_VERDICT_DENY;
    else if (pol_accept_word(ps, "ask"))
      t->untrusted_verdict = MVM_VERDICT_ASK;
    else
      return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected deny or ask "
                       "after 'untrusted-context'");
    t->untrusted_set = true;
    t->untrusted_line = ps->line;
  } else if (strcmp(w, "sink") == 0) {
    rc = parse_tool_sink(ps, t);
  } else if (strcmp(w, "result") == 0) {
    return add_label_line(ps, t, NULL);
  } else if (strcmp(w, "field") == 0) {
    const char *name = NULL;
    rc = pol_expect_text(ps, "a field name of the result's "
                         "structuredContent", &name);
    if (rc)
      return rc;
    char *field = strdup(name);
    if (field == NULL)
      return NOMEM(ps);
    return add_label_line(ps, t, field);
  } else {
    return pol_error(ps, MVM_EPARSE, kw->col, "'%.80s' does not belong in "
                     "a tool declaration; expected readonly, consequential, "
                     "trusted-args, untrusted-context, sink readers, result "
                     "or field", kw->text ? kw->text : "{");
  }
  if (rc == MVM_OK)
    rc = pol_expect_end(ps);
  return rc;
}
