/* parse.c - policy files: top-level statements (rules, tool declarations,
 * sinks, budgets, pin mode), the policy's life cycle and the built-in
 * permissive policy. The lines inside blocks are in parse_body.c. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "monitor/parse_internal.h"

/* ------------------------------------------------------------- freeing */

void pol_argspec_clear(pol_argspec *spec)
{
  for (size_t k = 0; k < spec->nchecks; k++) {
    pol_check *c = &spec->checks[k];
    json_decref(c->values);
    pcre2_code_free(c->re);
    free(c->text);
    pol_strings_free(c->items, c->nitems);
  }
  free(spec->checks);
  free(spec->name);
  memset(spec, 0, sizeof *spec);
}

void pol_argspecs_free(pol_argspec *specs, size_t n)
{
  for (size_t i = 0; specs != NULL && i < n; i++)
    pol_argspec_clear(&specs[i]);
  free(specs);
}

static void rule_free(pol_rule *r)
{
  free(r->pattern);
  free(r->arg_names);
  pol_argspecs_free(r->args, r->nargs);
  pol_strings_free(r->from, r->nfrom);
  pol_strings_free(r->to, r->nto);
  free(r->reason);
}

static void tool_free(pol_tooldecl *t)
{
  free(t->pattern);
  pol_strings_free(t->trusted_args, t->ntrusted_args);
  pol_strings_free(t->sink_readers, t->nsink_readers);
  pol_strings_free(t->sink_args, t->nsink_args);
  for (size_t i = 0; i < t->nlabels; i++) {
    free(t->labels[i].field);
    mvm_label_unref(t->labels[i].label);
    pol_argspecs_free(t->labels[i].when, t->labels[i].when ? 1 : 0);
  }
  free(t->labels);
}

void mvm_policy_free(mvm_policy *p)
{
  if (p == NULL)
    return;
  for (size_t i = 0; i < p->nrules; i++)
    rule_free(&p->rules[i]);
  free(p->rules);
  for (int k = 0; k < MVM_EFFECT_COUNT; k++)
    pol_index_free(&p->rule_index[k]);
  for (size_t i = 0; i < p->ntools; i++)
    tool_free(&p->tools[i]);
  free(p->tools);
  pol_index_free(&p->tool_index);
  for (size_t i = 0; i < p->nbudgets; i++)
    free(p->budgets[i].pattern);
  free(p->budgets);
  mvm_label_unref(p->user.label);
  mvm_label_unref(p->memory.label);
  for (size_t i = 0; i < p->nproviders; i++) {
    free(p->providers[i].name);
    mvm_label_unref(p->providers[i].label);
  }
  free(p->providers);
  free(p->name);
  free(p->loc_name);
  free(p->path);
  free(p->lock_path);
  free(p);
}

void pol_loc(const mvm_policy *policy, unsigned line, char *buf,
             size_t size)
{
  snprintf(buf, size, "%.80s:%u", policy->loc_name, line);
}

static mvm_policy *policy_alloc(const char *name)
{
  static const char *const user[] = {"user"};
  mvm_policy *p = calloc(1, sizeof *p);

  if (p == NULL)
    return NULL;
  const char *slash = strrchr(name, '/');
  p->name = strdup(name);
  p->loc_name = strdup(slash ? slash + 1 : name);
  p->pin = PIN_ASK;
  p->user.kind = SINK_LIST;
  p->memory.kind = SINK_NONE;
  if (p->name == NULL || p->loc_name == NULL ||
      mvm_label_new(NULL, 0, user, 1, &p->user.label) ||
      pol_readers_label(SINK_NONE, NULL, 0, &p->memory.label)) {
    mvm_policy_free(p);
    return NULL;
  }
  return p;
}

/* ------------------------------------------------------------- rules */

static const struct {
  const char *word;
  unsigned effects;
} effect_words[] = {
    {"model", EFF_MODELS},
    {"model.load", EFF_BIT(MVM_EFFECT_MODEL_LOAD)},
    {"model.call", EFF_BIT(MVM_EFFECT_MODEL_CALL)},
    {"model.query", EFF_BIT(MVM_EFFECT_MODEL_QUERY)},
    {"tool", EFF_TOOLS},
    {"tool.load", EFF_BIT(MVM_EFFECT_TOOL_LOAD)},
    {"tool.call", EFF_BIT(MVM_EFFECT_TOOL_CALL)},
    {"user.show", EFF_BIT(MVM_EFFECT_USER_SHOW)},
    {"user.ask", EFF_BIT(MVM_EFFECT_USER_ASK)},
    {"memory.write", EFF_BIT(MVM_EFFECT_MEMORY_WRITE)},
    {"endorse", EFF_BIT(MVM_EFFECT_ENDORSE)},
    {"label.endorse", EFF_BIT(MVM_EFFECT_ENDORSE)},
    {"declassify", EFF_BIT(MVM_EFFECT_DECLASSIFY)},
    {"label.declassify", EFF_BIT(MVM_EFFECT_DECLASSIFY)},
};

static int grow_array(void **arr, size_t n, size_t elem)
{
  /* Doubles at powers of two, so n appends cost O(n) copies. */
  if (n != 0 && (n & (n - 1)) != 0)
    return MVM_OK;
  size_t cap = n == 0 ? 4 : n * 2;
  void *grown = realloc(*arr, cap * elem);
  if (grown == NULL)
    return MVM_ENOMEM;
  *arr = grown;
  return MVM_OK;
}

static int count_statement(pol_parser *ps)
{
  if (++ps->statements > MVM_POLICY_MAX_STATEMENTS)
    return pol_error(ps, MVM_ELIMIT, 1, "the policy has more than %d "
                     "statements; split it or use patterns",
                     MVM_POLICY_MAX_STATEMENTS);
  return MVM_OK;
}

/* Checks a rule's target pattern for the effects it covers. */
static int check_target(pol_parser *ps, unsigned effects, const char *word,
                        const char *pattern, unsigned col)
{
  if (pattern[0] == '\0')
    return pol_error(ps, MVM_EPARSE, col, "the %s pattern is empty", word);
  if ((effects & EFF_TOOLS) && strchr(pattern, '.') == NULL &&
      strchr(pattern, '*') == NULL)
    return pol_error(ps, MVM_EPARSE, col, "tool name '%.80s' has no server "
                     "part; write SERVER.TOOL, e.g. \"files.read_file\"",
                     pattern);
  if ((effects & EFF_MODELS) && strchr(pattern, ':') == NULL &&
      strchr(pattern, '*') == NULL)
    return pol_error(ps, MVM_EPARSE, col, "model '%.80s' has no provider "
                     "part; write PROVIDER:MODEL, e.g. \"openai:gpt-4o\"",
                     pattern);
  return MVM_OK;
}

/* allow|ask|deny EFFECT [TARGET] [{] */
static int parse_rule(pol_parser *ps, mvm_verdict verdict)
{
  mvm_policy *p = ps->policy;
  const pol_tok *t = pol_peek(ps);
  const char *word = NULL;
  const char *pattern = "*";
  unsigned effects = 0;
  int rc;

  rc = pol_expect_text(ps, "an effect (tool, model, user.show, ...)", &word);
  if (rc)
    return rc;
  for (size_t i = 0; i < sizeof effect_words / sizeof effect_words[0]; i++) {
    if (strcmp(word, effect_words[i].word) == 0) {
      effects = effect_words[i].effects;
      word = effect_words[i].word;
    }
  }
  if (effects == 0 || t->kind != TOK_WORD)
    return pol_error(ps, MVM_EPARSE, t->col, "unknown effect '%.80s'; "
                     "expected one of: tool, tool.load, tool.call, model, "
                     "model.load, model.call, model.query, user.show, "
                     "user.ask, memory.write, endorse, declassify", word);

  bool needs_target = (effects & (EFF_TOOLS | EFF_MODELS)) != 0;
  bool takes_target = needs_target ||
                      effects == EFF_BIT(MVM_EFFECT_MEMORY_WRITE);
  const pol_tok *pt = pol_peek(ps);
  if (pt != NULL && (pt->kind == TOK_WORD || pt->kind == TOK_STRING)) {
    if (!takes_target)
      return pol_error(ps, MVM_EPARSE, pt->col, "a %s rule takes no target "
                       "name, found '%.80s'", word, pt->text);
    rc = pol_expect_text(ps, "a target", &pattern);
    if (rc == MVM_OK)
      rc = check_target(ps, effects, word, pattern, pt->col);
    if (rc)
      return rc;
  } else if (needs_target) {
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "a %s rule needs a name "
                     "or pattern, e.g. %s %s \"%s\"", word,
                     mvm_policy_verdict_name(verdict), word,
                     (effects & EFF_TOOLS) ? "files.read_file"
                                           : "openai:gpt-4o-mini");
  }

  bool block = false;
  pt = pol_peek(ps);
  if (pt != NULL && pt->kind == TOK_LBRACE) {
    ps->pos++;
    block = true;
  }
  rc = pol_expect_end(ps);
  if (rc == MVM_OK)
    rc = count_statement(ps);
  if (rc)
    return rc;

  if (grow_array((void **)&p->rules, p->nrules, sizeof *p->rules))
    return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  pol_rule *r = &p->rules[p->nrules];
  memset(r, 0, sizeof *r);
  r->verdict = verdict;
  r->effects = effects;
  r->effect_word = word;
  r->line = ps->line;
  r->pattern = strdup(pattern);
  if (r->pattern == NULL)
    return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  p->nrules++;
  if (block) {
    ps->block = BLOCK_RULE;
    ps->block_id = p->nrules - 1;
    ps->block_line = ps->line;
    ps->block_lines = 0;
  }
  return MVM_OK;
}

/* tool PATTERN [readonly|consequential] [{] */
static int parse_tool(pol_parser *ps)
{
  mvm_policy *p = ps->policy;
  const pol_tok *pt = pol_peek(ps);
  const char *pattern = NULL;
  int consequential = -1;
  int rc;

  rc = pol_expect_text(ps, "a tool name or pattern", &pattern);
  if (rc == MVM_OK)
    rc = check_target(ps, EFF_TOOLS, "tool", pattern, pt->col);
  if (rc)
    return rc;
  if (pol_accept_word(ps, "readonly"))
    consequential = 0;
  else if (pol_accept_word(ps, "consequential"))
    consequential = 1;

  bool block = false;
  pt = pol_peek(ps);
  if (pt != NULL && pt->kind == TOK_LBRACE) {
    ps->pos++;
    block = true;
  }
  rc = pol_expect_end(ps);
  if (rc == MVM_OK)
    rc = count_statement(ps);
  if (rc)
    return rc;

  if (grow_array((void **)&p->tools, p->ntools, sizeof *p->tools))
    return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  pol_tooldecl *t = &p->tools[p->ntools];
  memset(t, 0, sizeof *t);
  t->line = ps->line;
  t->consequential = consequential;
  t->consequential_line = ps->line;
  t->untrusted_verdict = MVM_VERDICT_DENY;
  t->pattern = strdup(pattern);
  if (t->pattern == NULL)
    return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  p->ntools++;
  if (block) {
    ps->block = BLOCK_TOOL;
    ps->block_id = p->ntools - 1;
    ps->block_line = ps->line;
    ps->block_lines = 0;
  }
  return MVM_OK;
}

/* ------------------------------------------------------------- sinks */

static int set_sink(pol_parser *ps, pol_sink *sink, const char *what)
{
  pol_sink_kind kind;
  char **items = NULL;
  size_t n = 0;
  int rc;

  if (sink->line != 0)
    return pol_error(ps, MVM_EPARSE, 1, "the readers of %s are already "
                     "declared on line %u", what, sink->line);
  if (!pol_accept_word(ps, "readers"))
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected 'readers' after "
                     "'sink %s'", what);
  rc = pol_parse_readers(ps, &kind, &items, &n);
  if (rc == MVM_OK)
    rc = pol_expect_end(ps);
  if (rc == MVM_OK) {
    mvm_label_unref(sink->label);
    sink->label = NULL;
    if (pol_readers_label(kind, items, n, &sink->label))
      rc = mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
    sink->kind = kind;
    sink->line = ps->line;
  }
  pol_strings_free(items, n);
  return rc;
}

/* sink user|memory readers R... ; sink provider NAME readers R... */
static int parse_sink(pol_parser *ps)
{
  mvm_policy *p = ps->policy;
  const pol_tok *t = pol_peek(ps);
  int rc;

  if (pol_accept_word(ps, "user"))
    return set_sink(ps, &p->user, "the user");
  if (pol_accept_word(ps, "memory"))
    return set_sink(ps, &p->memory, "memory");
  if (!pol_accept_word(ps, "provider"))
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "unknown sink%s%.80s%s; "
                     "expected user, memory or provider NAME",
                     t ? " '" : "", t && t->text ? t->text : "",
                     t ? "'" : "");

  const char *name = NULL;
  rc = pol_expect_text(ps, "a provider name, e.g. openai", &name);
  if (rc)
    return rc;
  for (size_t i = 0; i < p->nproviders; i++) {
    if (strcmp(p->providers[i].name, name) == 0)
      return pol_error(ps, MVM_EPARSE, 1, "the readers of provider '%s' are "
                       "already declared on line %u", name,
                       p->providers[i].line);
  }
  rc = count_statement(ps);
  if (rc)
    return rc;
  if (grow_array((void **)&p->providers, p->nproviders,
                 sizeof *p->providers))
    return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  pol_sink *s = &p->providers[p->nproviders];
  memset(s, 0, sizeof *s);
  s->name = strdup(name);
  if (s->name == NULL)
    return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  p->nproviders++;
  char what[200];
  snprintf(what, sizeof what, "provider '%.100s'", name);
  return set_sink(ps, s, what);
}

/* ------------------------------------------------------------- budgets */

/* Reads a duration: a number of seconds, or a number with s, m or h. */
static int parse_duration(pol_parser *ps, double *out)
{
  const pol_tok *t = pol_peek(ps);
  double scale = 1;
  char *end = NULL;

  if (t == NULL || t->kind != TOK_WORD)
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected a duration, "
                     "e.g. 90s, 5m or 1h");
  errno = 0;
  double d = strtod(t->text, &end);
  if (end != t->text && strcmp(end, "s") == 0)
    scale = 1;
  else if (end != t->text && strcmp(end, "m") == 0)
    scale = 60;
  else if (end != t->text && strcmp(end, "h") == 0)
    scale = 3600;
  else if (end == t->text || *end != '\0')
    return pol_error(ps, MVM_EPARSE, t->col, "'%.80s' is not a duration; "
                     "write a number of seconds, or a number with s, m or h "
                     "(90s, 5m, 1h)", t->text);
  /* "5 minutes" reads as 5 seconds followed by a stray word. */
  const pol_tok *unit = ps->pos + 1 < ps->ntoks ? &ps->toks[ps->pos + 1]
                                                : NULL;
  if (*end == '\0' && unit != NULL && unit->kind == TOK_WORD &&
      unit->text != NULL && unit->text[0] != '\0' &&
      strchr("smhSMH", unit->text[0]) != NULL)
    return pol_error(ps, MVM_EPARSE, unit->col, "'%.40s %.40s' is not a "
                     "duration; write the unit right after the number, "
                     "with s, m or h (%s%c)", t->text, unit->text, t->text,
                     tolower((unsigned char)unit->text[0]));
  if (errno == ERANGE || !(d > 0) || d > 1e9 ||
      strpbrk(t->text, "xXnN") != NULL)
    return pol_error(ps, MVM_EPARSE, t->col, "duration '%.80s' must be "
                     "positive and finite", t->text);
  ps->pos++;
  *out = d * scale;
  return MVM_OK;
}

static const char *const budget_names[] = {"calls", "tokens", "cost",
                                           "time"};

/* budget calls [PATTERN] N | tokens N | cost USD | time DURATION */
static int parse_budget(pol_parser *ps)
{
  mvm_policy *p = ps->policy;
  pol_budget b;
  const char *pattern = NULL;
  unsigned col = pol_col(ps);
  int rc = MVM_OK;

  memset(&b, 0, sizeof b);
  if (pol_accept_word(ps, "calls")) {
    b.kind = BUDGET_CALLS;
    if (ps->pos + 1 < ps->ntoks) {
      const pol_tok *pt = pol_peek(ps);
      rc = pol_expect_text(ps, "a tool pattern", &pattern);
      if (rc == MVM_OK)
        rc = check_target(ps, EFF_TOOLS, "budget", pattern, pt->col);
    }
    size_t n = 0;
    if (rc == MVM_OK)
      rc = pol_parse_size(ps, "the number of calls", &n);
    b.limit = (double)n;
  } else if (pol_accept_word(ps, "tokens")) {
    size_t n = 0;
    b.kind = BUDGET_TOKENS;
    rc = pol_parse_size(ps, "the number of tokens", &n);
    b.limit = (double)n;
  } else if (pol_accept_word(ps, "cost")) {
    b.kind = BUDGET_COST;
    col = pol_col(ps);
    rc = pol_parse_number(ps, "the cost in USD", &b.limit);
    if (rc == MVM_OK && b.limit < 0)
      rc = pol_error(ps, MVM_EPARSE, col, "the cost budget must be 0 or "
                     "more USD");
  } else if (pol_accept_word(ps, "time")) {
    b.kind = BUDGET_TIME;
    rc = parse_duration(ps, &b.limit);
  } else {
    const pol_tok *t = pol_peek(ps);
    return pol_error(ps, MVM_EPARSE, col, "unknown budget '%.80s'; expected "
                     "calls, tokens, cost or time",
                     t && t->text ? t->text : "");
  }
  if (rc == MVM_OK)
    rc = pol_expect_end(ps);
  if (rc)
    return rc;

  for (size_t i = 0; i < p->nbudgets; i++) {
    const pol_budget *o = &p->budgets[i];
    bool same_pattern = (o->pattern == NULL && pattern == NULL) ||
                        (o->pattern != NULL && pattern != NULL &&
                         strcmp(o->pattern, pattern) == 0);
    if (o->kind == b.kind && same_pattern)
      return pol_error(ps, MVM_EPARSE, col, "budget %s%s%s is already set on "
                       "line %u", budget_names[b.kind], pattern ? " " : "",
                       pattern ? pattern : "", o->line);
  }
  rc = count_statement(ps);
  if (rc)
    return rc;
  if (grow_array((void **)&p->budgets, p->nbudgets, sizeof *p->budgets))
    return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  b.line = ps->line;
  if (pattern != NULL) {
    b.pattern = strdup(pattern);
    if (b.pattern == NULL)
      return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  }
  p->budgets[p->nbudgets++] = b;
  return MVM_OK;
}

/* ------------------------------------------------------------- lines */

static int parse_pin(pol_parser *ps)
{
  mvm_policy *p = ps->policy;

  if (p->pin_line != 0)
    return pol_error(ps, MVM_EPARSE, 1, "pin is already set on line %u",
                     p->pin_line);
  if (pol_accept_word(ps, "ask"))
    p->pin = PIN_ASK;
  else if (pol_accept_word(ps, "auto"))
    p->pin = PIN_AUTO;
  else if (pol_accept_word(ps, "off"))
    p->pin = PIN_OFF;
  else
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "expected ask, auto or "
                     "off after 'pin'");
  p->pin_line = ps->line;
  return pol_expect_end(ps);
}

static int parse_version(pol_parser *ps)
{
  const pol_tok *t = pol_peek(ps);

  if (t == NULL || t->kind != TOK_WORD || strcmp(t->text, "1") != 0)
    return pol_error(ps, MVM_EPARSE, pol_col(ps), "unsupported policy "
                     "version%s%.40s%s; this mvm reads version 1",
                     t && t->text ? " '" : "", t && t->text ? t->text : "",
                     t && t->text ? "'" : "");
  ps->pos++;
  ps->policy->version_line = ps->line;
  return pol_expect_end(ps);
}

static int close_block(pol_parser *ps)
{
  ps->pos++;
  if (ps->block == BLOCK_NONE)
    return pol_error(ps, MVM_EPARSE, ps->toks[0].col, "'}' closes no "
                     "block");
  ps->block = BLOCK_NONE;
  return pol_expect_end(ps);
}

static int parse_statement(pol_parser *ps)
{
  const pol_tok *t = pol_peek(ps);

  if (t->kind == TOK_RBRACE)
    return close_block(ps);
  if (ps->block != BLOCK_NONE) {
    if (++ps->block_lines > MVM_POLICY_MAX_BLOCK_LINES)
      return pol_error(ps, MVM_ELIMIT, 1, "the block opened on line %u has "
                       "more than %d lines", ps->block_line,
                       MVM_POLICY_MAX_BLOCK_LINES);
    return ps->block == BLOCK_RULE ? pol_parse_rule_line(ps)
                                   : pol_parse_tool_line(ps);
  }
  if (t->kind != TOK_WORD)
    return pol_error(ps, MVM_EPARSE, t->col, "a statement starts with a "
                     "keyword, not %s", t->kind == TOK_STRING ? "a string"
                     : t->kind == TOK_LBRACE ? "'{'" : "','");
  ps->pos++;
  if (strcmp(t->text, "allow") == 0)
    return parse_rule(ps, MVM_VERDICT_ALLOW);
  if (strcmp(t->text, "deny") == 0)
    return parse_rule(ps, MVM_VERDICT_DENY);
  if (strcmp(t->text, "ask") == 0)
    return parse_rule(ps, MVM_VERDICT_ASK);
  if (strcmp(t->text, "tool") == 0)
    return parse_tool(ps);
  if (strcmp(t->text, "sink") == 0)
    return parse_sink(ps);
  if (strcmp(t->text, "budget") == 0)
    return parse_budget(ps);
  if (strcmp(t->text, "pin") == 0)
    return parse_pin(ps);
  if (strcmp(t->text, "version") == 0)
    return parse_version(ps);
  return pol_error(ps, MVM_EPARSE, t->col, "unknown statement '%.80s'; "
                   "expected allow, ask, deny, tool, sink, budget, pin or "
                   "version", t->text);
}

/* Returns the length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
  if (s[0] < 0x80)
    return 1;
  size_t len = s[0] >= 0xf0 && s[0] <= 0xf4   ? 4
               : s[0] >= 0xe0                 ? 3
               : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                                              : 0;
  if (len == 0 || len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  }
  /* Overlong forms, surrogates and code points past U+10FFFF. */
  if ((len == 3 && s[0] == 0xe0 && s[1] < 0xa0) ||
      (len == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
      (len == 4 && s[0] == 0xf0 && s[1] < 0x90) ||
      (len == 4 && s[0] == 0xf4 && s[1] >= 0x90))
    return 0;
  return len;
}

static int check_line_bytes(pol_parser *ps, const char *line, size_t len)
{
  for (size_t i = 0; i < len;) {
    const unsigned char *s = (const unsigned char *)line + i;
    if (s[0] == 0)
      return pol_error(ps, MVM_EPARSE, (unsigned)i + 1, "NUL byte in the "
                       "policy text");
    size_t n = utf8_len(s, len - i);
    if (n == 0)
      return pol_error(ps, MVM_EPARSE, (unsigned)i + 1, "invalid UTF-8 byte "
                       "0x%02x; save the policy as UTF-8", s[0]);
    i += n;
  }
  return MVM_OK;
}

static int build_indexes(pol_parser *ps)
{
  mvm_policy *p = ps->policy;

  for (size_t i = 0; i < p->nrules; i++) {
    pol_rule *r = &p->rules[i];
    pol_loc(p, r->line, r->loc, sizeof r->loc);
    if (strcmp(r->pattern, "*") == 0 &&
        !(r->effects & (EFF_TOOLS | EFF_MODELS)))
      snprintf(r->text, sizeof r->text, "%s %s",
               mvm_policy_verdict_name(r->verdict), r->effect_word);
    else
      snprintf(r->text, sizeof r->text, "%s %s '%.80s'",
               mvm_policy_verdict_name(r->verdict), r->effect_word,
               r->pattern);
    if (r->nargs > 0) {
      r->arg_names = calloc(r->nargs, sizeof *r->arg_names);
      if (r->arg_names == NULL)
        return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
      for (size_t k = 0; k < r->nargs; k++) {
        if (r->args[k].name != NULL)
          r->arg_names[r->narg_names++] = r->args[k].name;
      }
    }
    for (int k = 0; k < MVM_EFFECT_COUNT; k++) {
      if ((p->rules[i].effects & EFF_BIT(k)) &&
          pol_index_add(&p->rule_index[k], p->rules[i].pattern, i))
        return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
    }
  }
  for (size_t i = 0; i < p->ntools; i++) {
    if (pol_index_add(&p->tool_index, p->tools[i].pattern, i))
      return mvm_error_set(ps->err, MVM_ENOMEM, "policy", "out of memory");
  }
  return MVM_OK;
}

int mvm_policy_parse(const char *text, size_t len, const char *name,
                     mvm_policy **out, mvm_error *err)
{
  pol_parser *ps = NULL;
  mvm_policy *p = NULL;
  int rc = MVM_OK;

  if (name == NULL)
    name = "policy";
  if (len > MVM_POLICY_MAX_BYTES)
    return mvm_error_set(err, MVM_ELIMIT, "policy", "%s: the policy is %zu "
                         "bytes, over the limit of %u", name, len,
                         MVM_POLICY_MAX_BYTES);
  ps = calloc(1, sizeof *ps);
  p = policy_alloc(name);
  if (ps == NULL || p == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
    goto out;
  }
  ps->policy = p;
  ps->err = err;

  /* A UTF-8 byte order mark, which some editors write, is not text. */
  size_t at = 0;
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
    at = 3;
  while (at < len && rc == MVM_OK) {
    const char *line = text + at;
    const char *nl = memchr(line, '\n', len - at);
    size_t n = nl ? (size_t)(nl - line) : len - at;
    at += n + (nl ? 1 : 0);
    ps->line++;
    if (n > 0 && line[n - 1] == '\r')
      n--;
    if (n > MVM_POLICY_MAX_LINE) {
      rc = pol_error(ps, MVM_ELIMIT, MVM_POLICY_MAX_LINE + 1, "the line is "
                     "%zu bytes, over the limit of %d", n,
                     MVM_POLICY_MAX_LINE);
      break;
    }
    rc = check_line_bytes(ps, line, n);
    if (rc == MVM_OK)
      rc = pol_lex_line(ps, line, n);
    if (rc == MVM_OK && ps->ntoks > 0)
      rc = parse_statement(ps);
  }
  if (rc == MVM_OK && ps->block != BLOCK_NONE) {
    rc = mvm_error_set(err, MVM_EPARSE, "policy", "%s:%u:1: the block "
                       "opened here is not closed; add a line with '}'",
                       name, ps->block_line);
  }
  if (rc == MVM_OK)
    rc = build_indexes(ps);

out:
  if (ps != NULL)
    pol_lex_clear(ps);
  free(ps);
  if (rc) {
    mvm_policy_free(p);
    return rc;
  }
  *out = p;
  return MVM_OK;
}

int mvm_policy_load_file(const char *path, mvm_policy **out, mvm_error *err)
{
  FILE *f = fopen(path, "rb");
  mvm_buf buf;
  char chunk[8192];
  mvm_policy *p = NULL;
  int rc = MVM_OK;

  if (f == NULL)
    return mvm_error_set(err, errno == ENOENT ? MVM_ENOTFOUND : MVM_EIO,
                         "policy", "cannot open policy file '%s': %s", path,
                         strerror(errno));
  mvm_buf_init(&buf, MVM_POLICY_MAX_BYTES);
  for (;;) {
    size_t n = fread(chunk, 1, sizeof chunk, f);
    int brc = n > 0 ? mvm_buf_append(&buf, chunk, n) : MVM_OK;
    if (brc == MVM_ELIMIT) {
      rc = mvm_error_set(err, MVM_ELIMIT, "policy", "%s: the policy is over "
                         "the limit of %u bytes", path, MVM_POLICY_MAX_BYTES);
      break;
    }
    if (brc != MVM_OK) {
      rc = mvm_error_set(err, brc, "policy", "out of memory");
      break;
    }
    if (n < sizeof chunk)
      break;
  }
  if (rc == MVM_OK && ferror(f))
    rc = mvm_error_set(err, MVM_EIO, "policy", "cannot read policy file "
                       "'%s': %s", path, strerror(errno));
  fclose(f);

  if (rc == MVM_OK)
    rc = mvm_policy_parse(buf.data ? buf.data : "", buf.len, path, &p, err);
  mvm_buf_free(&buf);
  if (rc == MVM_OK) {
    p->path = strdup(path);
    if (p->path == NULL || asprintf(&p->lock_path, "%s.lock", path) < 0) {
      p->lock_path = NULL;
      mvm_policy_free(p);
      return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
    }
    *out = p;
  }
  return rc;
}

int mvm_policy_permissive(mvm_policy **out, mvm_error *err)
{
  mvm_policy *p = policy_alloc("permissive");

  if (p == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
  p->permissive = true;
  p->pin = PIN_OFF;
  *out = p;
  return MVM_OK;
}

bool mvm_policy_is_permissive(const mvm_policy *policy)
{
  return policy != NULL && policy->permissive;
}

const char *mvm_policy_lock_path(const mvm_policy *policy)
{
  return policy->lock_path;
}

const char *mvm_policy_verdict_name(mvm_verdict verdict)
{
  switch (verdict) {
  case MVM_VERDICT_ALLOW:
    return "allow";
  case MVM_VERDICT_ASK:
    return "ask";
  case MVM_VERDICT_DENY:
    break;
  }
  return "deny";
}
