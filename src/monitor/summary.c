/* summary.c - what `mvm policy check` reports about a parsed policy: its
 * counts, budgets and sinks, and warnings about rules that can never
 * decide anything or settings that weaken the policy. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/policy_internal.h"

static const char *const pin_names[] = {"ask", "auto", "off"};
static const char *const budget_kinds[] = {"calls", "tokens", "cost",
                                           "time"};

static json_t *readers_json(const pol_sink *s)
{
  if (s->kind == SINK_EVERYONE || s->label == NULL)
    return json_string("everyone");
  if (s->kind == SINK_NONE)
    return json_string("none");
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < mvm_label_reader_count(s->label);
       i++)
    json_array_append_new(arr, json_string(mvm_label_reader(s->label, i)));
  return arr;
}

static int warn(json_t *warnings, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int warn(json_t *warnings, unsigned line, const char *fmt, ...)
{
  char msg[400];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return json_array_append_new(warnings, json_pack("{s:I,s:s}", "line",
                                                   (json_int_t)line,
                                                   "message", msg));
}

/* An allow or ask rule is dead when an unconditional deny rule covers all
 * its effects and every name its pattern matches. Treating the allow
 * pattern's '*' as a literal is sound here: a deny pattern's '*' can only
 * stand for it by covering any text in its place. */
static int dead_rules(const mvm_policy *p, json_t *warnings)
{
  for (size_t i = 0; i < p->nrules; i++) {
    const pol_rule *a = &p->rules[i];
    if (a->verdict == MVM_VERDICT_DENY)
      continue;
    for (size_t k = 0; k < p->nrules; k++) {
      const pol_rule *d = &p->rules[k];
      if (d->verdict != MVM_VERDICT_DENY || d->nargs != 0 ||
          d->args_maxsize != 0 || d->from != NULL || d->to != NULL ||
          d->quarantined || d->vtypes != 0 ||
          (a->effects & ~d->effects) != 0 ||
          !pol_glob_match(d->pattern, a->pattern))
        continue;
      if (warn(warnings, a->line, "this %s rule never applies: the deny "
               "rule on line %u covers every effect it allows",
               mvm_policy_verdict_name(a->verdict), d->line))
        return MVM_ENOMEM;
      break;
    }
  }
  return MVM_OK;
}

/* True when some declaration of the same tool pattern labels results. */
static bool pattern_labels_results(const mvm_policy *p, const char *pattern)
{
  for (size_t i = 0; i < p->ntools; i++) {
    if (p->tools[i].nlabels > 0 && strcmp(p->tools[i].pattern, pattern) == 0)
      return true;
  }
  return false;
}

/* A consequential tool whose results are not labelled gets the default
 * untrusted label, so its own result taints every later decision. */
static int unlabelled_consequential(const mvm_policy *p, json_t *warnings)
{
  for (size_t i = 0; i < p->ntools; i++) {
    const pol_tooldecl *t = &p->tools[i];
    if (t->consequential != 1 || pattern_labels_results(p, t->pattern))
      continue;
    if (warn(warnings, t->line, "consequential tool '%s' has no 'result' "
             "line, so its results are untrusted and every later "
             "consequential call is decided in an untrusted context; add "
             "'result trusted' if its output cannot carry outside text",
             t->pattern))
      return MVM_ENOMEM;
  }
  return MVM_OK;
}

static bool spec_has(const pol_argspec *spec, pol_check_kind kind)
{
  for (size_t i = 0; i < spec->nchecks; i++) {
    if (spec->checks[i].kind == kind)
      return true;
  }
  return false;
}

/* Warns about the checks of one argument line that cannot hold as
 * written: a directory that does not resolve here, a `relative to` that
 * must match the tool, a minimum above the maximum. */
static int line_warnings(const pol_argspec *spec, json_t *warnings)
{
  const char *name = spec->name ? spec->name : "*";
  bool have_min = false;
  bool have_max = false;
  double lo = 0;
  double hi = 0;
  char real[PATH_MAX];

  for (size_t i = 0; i < spec->nchecks; i++) {
    const pol_check *c = &spec->checks[i];
    if ((c->kind == CK_UNDER || c->kind == CK_RELATIVE) &&
        realpath(c->text, real) == NULL &&
        warn(warnings, spec->line, "directory '%s' cannot be resolved "
             "(%s), so every path checked on argument '%s' is undecided: "
             "an allow rule never applies, a deny or ask rule applies to "
             "every call, and a 'trusted when' line never applies", c->text,
             strerror(errno), name))
      return MVM_ENOMEM;
    if (c->kind == CK_RELATIVE &&
        warn(warnings, spec->line, "argument '%s' takes relative paths from "
             "'%s'; this holds only if the tool takes them from there too "
             "(the MCP filesystem server takes them from the first "
             "directory it serves), else the check resolves another file "
             "than the tool opens", name, c->text))
      return MVM_ENOMEM;
    if (c->kind == CK_MIN && (!have_min || c->number > lo)) {
      lo = c->number;
      have_min = true;
    }
    if (c->kind == CK_MAX && (!have_max || c->number < hi)) {
      hi = c->number;
      have_max = true;
    }
  }
  if (have_min && have_max && lo > hi &&
      warn(warnings, spec->line, "argument '%s' has min %g above max %g, so "
           "no number passes", name, lo, hi))
    return MVM_ENOMEM;
  return MVM_OK;
}

/* True when some rule for a tool that `r` may also cover checks argument
 * `name` with `under`, so the argument is a path. */
static bool is_path_argument(const mvm_policy *p, const pol_rule *r,
                             const char *name)
{
  for (size_t i = 0; i < p->nrules; i++) {
    const pol_rule *q = &p->rules[i];
    if (!pol_glob_match(q->pattern, r->pattern) &&
        !pol_glob_match(r->pattern, q->pattern))
      continue;
    for (size_t k = 0; k < q->nargs; k++) {
      const pol_argspec *t = &q->args[k];
      if (t->name != NULL && strcmp(t->name, name) == 0 &&
          spec_has(t, CK_UNDER))
        return true;
    }
  }
  return false;
}

static int argument_warnings(const mvm_policy *p, json_t *warnings)
{
  for (size_t i = 0; i < p->nrules; i++) {
    const pol_rule *r = &p->rules[i];
    for (size_t k = 0; k < r->nargs; k++) {
      const pol_argspec *spec = &r->args[k];
      if (line_warnings(spec, warnings))
        return MVM_ENOMEM;
      if (spec->name == NULL || !spec_has(spec, CK_PATTERN) ||
          spec_has(spec, CK_UNDER) || !is_path_argument(p, r, spec->name))
        continue;
      if (warn(warnings, spec->line, "the pattern on path argument '%s' "
               "sees the value as written, because this line has no "
               "'under' check, so a path ending in '/' or '/.' names the "
               "same file yet may escape it; add the 'under' check to this "
               "line to match the resolved path too", spec->name))
        return MVM_ENOMEM;
    }
  }
  for (size_t i = 0; i < p->ntools; i++) {
    const pol_tooldecl *t = &p->tools[i];
    for (size_t k = 0; k < t->nlabels; k++) {
      if (t->labels[k].when != NULL &&
          line_warnings(t->labels[k].when, warnings))
        return MVM_ENOMEM;
    }
  }
  return MVM_OK;
}

/* An allowed declassify rule without `to` may add any reader, which
 * makes any secret public. */
static int open_declassify(const mvm_policy *p, json_t *warnings)
{
  for (size_t i = 0; i < p->nrules; i++) {
    const pol_rule *r = &p->rules[i];
    if (r->verdict == MVM_VERDICT_DENY ||
        r->effects != EFF_BIT(MVM_EFFECT_DECLASSIFY) || r->to != NULL)
      continue;
    if (warn(warnings, r->line, "this rule lets a program declassify a "
             "value to any reader, everyone included; list the readers it "
             "may add with 'to READER, ...'"))
      return MVM_ENOMEM;
  }
  return MVM_OK;
}

static int weak_settings(const mvm_policy *p, json_t *warnings)
{
  if (argument_warnings(p, warnings) || open_declassify(p, warnings))
    return MVM_ENOMEM;
  if (unlabelled_consequential(p, warnings))
    return MVM_ENOMEM;
  if (p->pin == PIN_OFF &&
      warn(warnings, p->pin_line, "pin off: changed tool descriptions and "
           "models are not detected"))
    return MVM_ENOMEM;
  if (p->version_line == 0 &&
      warn(warnings, 1, "the policy has no 'version 1' line; add one so "
           "that a later mvm reads the file the same way"))
    return MVM_ENOMEM;
  for (size_t i = 0; i < p->nrules; i++) {
    const pol_rule *r = &p->rules[i];
    if (r->verdict != MVM_VERDICT_ALLOW ||
        r->effects != EFF_BIT(MVM_EFFECT_ENDORSE))
      continue;
    if ((r->vtypes == 0 || (r->vtypes & VT_STR)) && !r->quarantined &&
        warn(warnings, r->line, "this rule lets a program endorse free "
             "text, which an injection can control; add 'quarantined' or "
             "'type bool, int'"))
      return MVM_ENOMEM;
    /* A schema answer may hold strings the model wrote freely. */
    bool schema = r->qtypes == 0 || (r->qtypes & QT_SCHEMA);
    bool texty = r->vtypes == 0 || (r->vtypes & (VT_STR | VT_LIST | VT_MAP));
    if (r->quarantined && schema && texty &&
        warn(warnings, r->line, "this rule lets a program endorse the "
             "answer of a 'schema' query, whose strings are free text; "
             "list the safe types, as in 'quarantined bool, int, enum'"))
      return MVM_ENOMEM;
  }
  return MVM_OK;
}

static int line_order(const void *a, const void *b)
{
  json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a,
                                                    "line"));
  json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b,
                                                    "line"));
  return x < y ? -1 : x > y;
}

/* Returns the warnings sorted by line, a new array, or NULL. */
static json_t *sorted(const json_t *warnings)
{
  size_t n = json_array_size(warnings);
  json_t **items = calloc(n + 1, sizeof *items);
  json_t *out = json_array();

  if (items == NULL || out == NULL) {
    free(items);
    json_decref(out);
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    items[i] = json_array_get(warnings, i);
  qsort(items, n, sizeof *items, line_order);
  for (size_t i = 0; i < n; i++) {
    if (json_array_append(out, items[i])) {
      json_decref(out);
      out = NULL;
      break;
    }
  }
  free(items);
  return out;
}

int mvm_policy_summary(const mvm_policy *p, json_t **out, mvm_error *err)
{
  json_t *budgets = json_array();
  json_t *providers = json_object();
  json_t *warnings = json_array();
  json_t *s = NULL;

  if (budgets == NULL || providers == NULL || warnings == NULL)
    goto nomem;
  for (size_t i = 0; i < p->nbudgets; i++) {
    const pol_budget *b = &p->budgets[i];
    if (json_array_append_new(budgets, json_pack(
            "{s:s,s:s?,s:f,s:I}", "kind", budget_kinds[b->kind], "pattern",
            b->pattern, "limit", b->limit, "line", (json_int_t)b->line)))
      goto nomem;
  }
  for (size_t i = 0; i < p->nproviders; i++) {
    if (json_object_set_new(providers, p->providers[i].name,
                            readers_json(&p->providers[i])))
      goto nomem;
  }
  if (dead_rules(p, warnings) || weak_settings(p, warnings))
    goto nomem;
  json_t *by_line = sorted(warnings);
  if (by_line == NULL)
    goto nomem;
  json_decref(warnings);
  warnings = by_line;

  s = json_pack("{s:s,s:b,s:s,s:I,s:I,s:O,s:{s:o,s:o,s:O},s:O}", "name",
                p->name, "permissive", p->permissive, "pin",
                pin_names[p->pin], "rules", (json_int_t)p->nrules, "tools",
                (json_int_t)p->ntools, "budgets", budgets, "sinks", "user",
                readers_json(&p->user), "memory", readers_json(&p->memory),
                "providers", providers, "warnings", warnings);
  if (s == NULL)
    goto nomem;
  json_decref(budgets);
  json_decref(providers);
  json_decref(warnings);
  *out = s;
  return MVM_OK;

nomem:
  json_decref(budgets);
  json_decref(providers);
  json_decref(warnings);
  return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
}
