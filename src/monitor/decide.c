/* decide.c - the decision for one effect.
 *
 * Rules first: a matching deny rule decides at once. With no matching
 * allow rule the effect is denied by default; an ask rule only adds a
 * confirmation to what an allow rule permits. An allowed (or asked) effect
 * then goes through the checks no rule can waive (budgets, pins,
 * information flow, consequential calls in an untrusted context), each of
 * which may deny or ask. The final verdict is the strictest one found:
 * deny > ask > allow. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/lock.h"
#include "monitor/monitor_internal.h"

#define WHY_MAX 320

/* ------------------------------------------------------------- helpers */

static void decide_set(mvm_decision *d, mvm_verdict v, const char *rule,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void decide_set(mvm_decision *d, mvm_verdict v, const char *rule,
                       const char *fmt, ...)
{
  va_list ap;

  d->verdict = v;
  d->budget = false;
  d->pin[0] = '\0';
  snprintf(d->rule, sizeof d->rule, "%s", rule);
  va_start(ap, fmt);
  vsnprintf(d->reason, sizeof d->reason, fmt, ap);
  va_end(ap);
}

/* Writes "{a, b}", "everyone" or "nobody" for a label's readers. */
static char *readers_text(const mvm_label *l, char *buf, size_t size)
{
  size_t n = mvm_label_reader_count(l);
  size_t used = 0;

  if (n == SIZE_MAX) {
    snprintf(buf, size, "everyone");
    return buf;
  }
  if (n == 0) {
    snprintf(buf, size, "nobody");
    return buf;
  }
  used = (size_t)snprintf(buf, size, "{");
  for (size_t i = 0; i < n && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                             mvm_label_reader(l, i));
  if (used < size)
    snprintf(buf + used, size - used, "}");
  return buf;
}

static char *sources_text(const mvm_label *l, char *buf, size_t size)
{
  size_t used = 0;

  buf[0] = '\0';
  for (size_t i = 0; i < mvm_label_source_count(l) && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                             mvm_label_source(l, i));
  return buf;
}

static void loc_or(const mvm_policy *p, unsigned line, const char *dflt,
                   char *buf, size_t size)
{
  if (line != 0)
    pol_loc(p, line, buf, size);
  else
    snprintf(buf, size, "%s", dflt);
}

/* Names the policy for "run mvm approve ..." hints. */
static const char *policy_arg(const pol_monitor *m)
{
  return m->policy->path ? m->policy->path : m->policy->name;
}

/* ------------------------------------------------------------- rules */

typedef struct scan_note {
  size_t id;
  bool applies;
  bool undecided; /* it applies because a check could not be decided */
  char why[WHY_MAX];
} scan_note;

typedef struct rule_scan {
  pol_monitor *m;
  const mvm_effect *e;
  const char *target;
  const json_t *args; /* TOOL_CALL arguments, an object */
  bool found[3];      /* indexed by mvm_verdict */
  size_t best[3];
  bool missed;
  size_t miss_id;
  char miss_why[WHY_MAX];
  scan_note *notes;   /* explain only */
  size_t nnotes;
  int rc;
} rule_scan;

static bool in_list(char *const *items, size_t n, const char *s)
{
  for (size_t i = 0; i < n; i++) {
    if (strcmp(items[i], s) == 0)
      return true;
  }
  return false;
}

static unsigned value_type_bit(const json_t *v)
{
  if (v == NULL)
    return VT_NULL;
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return VT_MAP;
  case JSON_ARRAY:
    return VT_LIST;
  case JSON_STRING:
    return VT_STR;
  case JSON_INTEGER:
    return VT_INT;
  case JSON_REAL:
    return VT_FLOAT;
  case JSON_TRUE:
  case JSON_FALSE:
    return VT_BOOL;
  case JSON_NULL:
    break;
  }
  return VT_NULL;
}

static const char *value_type_word(unsigned bit)
{
  switch (bit) {
  case VT_MAP:
    return "map";
  case VT_LIST:
    return "list";
  case VT_STR:
    return "str";
  case VT_INT:
    return "int";
  case VT_FLOAT:
    return "float";
  case VT_BOOL:
    return "bool";
  }
  return "null";
}

static unsigned query_type_bit(const char *t)
{
  if (t == NULL)
    return 0;
  if (strcmp(t, "bool") == 0)
    return QT_BOOL;
  if (strcmp(t, "int") == 0)
    return QT_INT;
  if (strcmp(t, "enum") == 0)
    return QT_ENUM;
  if (strcmp(t, "schema") == 0)
    return QT_SCHEMA;
  return 0;
}

/* The conditions of an endorse or declassify rule. */
static bool label_rule_holds(const pol_rule *r, const mvm_effect *e,
                             char *why, size_t size)
{
  const json_t *detail = e->detail;

  if (r->from != NULL) {
    const json_t *drop = json_object_get(detail, "drop");
    /* Without a list of the sources to drop, every source of the value
     * counts as dropped. */
    size_t n = json_is_array(drop) ? json_array_size(drop)
                                   : mvm_label_source_count(e->args_label);
    for (size_t i = 0; i < n; i++) {
      const char *s = json_is_array(drop)
                          ? json_string_value(json_array_get(drop, i))
                          : mvm_label_source(e->args_label, i);
      if (s == NULL || !in_list(r->from, r->nfrom, s)) {
        if (why != NULL)
          snprintf(why, size, "endorsing would drop source '%.100s', which "
                 "the rule does not list", s ? s : "?");
        return false;
      }
    }
  }
  if (r->to != NULL) {
    const json_t *add = json_object_get(detail, "add_readers");
    if (!json_is_array(add)) {
      if (why != NULL)
        snprintf(why, size, "the effect does not list the readers to add "
                 "(detail \"add_readers\"), so the rule's 'to' list cannot "
                 "be checked");
      return false;
    }
    for (size_t i = 0; i < json_array_size(add); i++) {
      const char *s = json_string_value(json_array_get(add, i));
      if (s == NULL || !in_list(r->to, r->nto, s)) {
        if (why != NULL)
          snprintf(why, size, "declassifying would add reader '%.100s', "
                 "which the rule does not list", s ? s : "?");
        return false;
      }
    }
  }
  if (r->quarantined) {
    const json_t *q = json_object_get(json_object_get(detail, "origin"),
                                      "quarantined");
    const char *qt = json_string_value(json_object_get(q, "type"));
    if (!json_is_object(q)) {
      if (why != NULL)
        snprintf(why, size, "the value does not come from a quarantined "
               "query");
      return false;
    }
    if (!json_is_true(json_object_get(q, "valid"))) {
      if (why != NULL)
        snprintf(why, size, "the quarantined query's output was not valid");
      return false;
    }
    if (r->qtypes != 0 && !(query_type_bit(qt) & r->qtypes)) {
      if (why != NULL)
        snprintf(why, size, "the quarantined query's type '%.40s' is not in "
               "the rule's list", qt ? qt : "?");
      return false;
    }
  }
  if (r->vtypes != 0) {
    unsigned bit = value_type_bit(e->args);
    if (!(bit & r->vtypes)) {
      if (why != NULL)
        snprintf(why, size, "the value is a %s, which the rule does not list",
               value_type_word(bit));
      return false;
    }
  }
  return true;
}

/* Evaluates a rule's argument checks on a tool call: a three-valued AND
 * over its argument lines, in which an undecided check fails an allow
 * rule and satisfies a deny or ask rule. */
static bool call_args_hold(rule_scan *s, const pol_rule *r, char *why,
                           size_t size, bool *undecided)
{
  bool condition = r->verdict != MVM_VERDICT_ALLOW;
  bool unknown = false;
  char one[WHY_MAX];

  for (size_t i = 0; i < r->nargs; i++) {
    pol_truth t = pol_argspec_eval(&r->args[i], s->args, r->arg_names,
                                   r->narg_names, &s->m->matcher,
                                   why != NULL ? one : NULL, sizeof one);
    if (t == POL_TRUE)
      continue;
    if (t == POL_FALSE || !condition) {
      if (why != NULL)
        snprintf(why, size, "%s", one);
      return false;
    }
    if (!unknown && why != NULL)
      snprintf(why, size, "%s", one);
    unknown = true;
  }
  if (unknown && undecided != NULL)
    *undecided = true;
  return true;
}

/* Decides whether a rule applies to the effect. A deny or ask rule also
 * applies when one of its argument checks cannot be decided, and then sets
 * *undecided (when not NULL) and explains that check in why. */
static bool rule_holds(rule_scan *s, const pol_rule *r, char *why,
                       size_t size, bool *undecided)
{
  if (undecided != NULL)
    *undecided = false;

  switch (s->e->kind) {
  case MVM_EFFECT_TOOL_LOAD:
    /* Loading is decided by the tool's name alone: any allow or ask rule
     * for it permits loading, and only an unconditional deny forbids it,
     * because the arguments of later calls are unknown. */
    if (r->verdict != MVM_VERDICT_DENY || (r->nargs == 0 &&
                                           r->args_maxsize == 0))
      return true;
    if (why != NULL)
      snprintf(why, size, "a deny rule with argument checks applies to "
             "calls, not to loading");
    return false;
  case MVM_EFFECT_TOOL_CALL:
    if (r->args_maxsize != 0) {
      size_t n = json_dumpb(s->args, NULL, 0, JSON_COMPACT);
      if (n > r->args_maxsize) {
        if (why != NULL)
          snprintf(why, size, "the arguments are %zu bytes of JSON, over the "
                 "maximum of %zu", n, r->args_maxsize);
        return false;
      }
    }
    return call_args_hold(s, r, why, size, undecided);
  case MVM_EFFECT_ENDORSE:
  case MVM_EFFECT_DECLASSIFY:
    return label_rule_holds(r, s->e, why, size);
  default:
    return true;
  }
}

static int scan_one(void *ctx, size_t id)
{
  rule_scan *s = ctx;
  const pol_rule *r = &s->m->policy->rules[id];
  bool tracing = s->m->trace != NULL;
  char why[WHY_MAX] = "";

  if (!pol_glob_match(r->pattern, s->target))
    return 0;
  /* An ask rule never applies to loading, only to the tool's calls. */
  if (s->e->kind == MVM_EFFECT_TOOL_LOAD && r->verdict == MVM_VERDICT_ASK)
    return 0;
  /* Why a rule does not apply is written out only when explaining; the
   * default-deny reason recomputes it for the one rule it names. */
  bool undecided = false;
  bool ok = rule_holds(s, r, tracing ? why : NULL, sizeof why, &undecided);
  mvm_verdict v = r->verdict;

  if (ok && (!s->found[v] || id < s->best[v])) {
    s->found[v] = true;
    s->best[v] = id;
  } else if (!ok && r->verdict == MVM_VERDICT_ALLOW &&
             (!s->missed || id < s->miss_id)) {
    s->missed = true;
    s->miss_id = id;
  }

  if (tracing) {
    scan_note *grown = realloc(s->notes, (s->nnotes + 1) * sizeof *grown);
    if (grown == NULL) {
      s->rc = MVM_ENOMEM;
      return 1;
    }
    s->notes = grown;
    s->notes[s->nnotes].id = id;
    s->notes[s->nnotes].applies = ok;
    s->notes[s->nnotes].undecided = undecided;
    snprintf(s->notes[s->nnotes].why, WHY_MAX, "%s", why);
    s->nnotes++;
  }
  return 0;
}

static int note_order(const void *a, const void *b)
{
  const scan_note *x = a;
  const scan_note *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static void emit_notes(rule_scan *s)
{
  if (s->nnotes > 1)
    qsort(s->notes, s->nnotes, sizeof *s->notes, note_order);
  for (size_t i = 0; i < s->nnotes; i++) {
    const pol_rule *r = &s->m->policy->rules[s->notes[i].id];
    if (s->notes[i].applies && s->notes[i].undecided)
      pol_note(s->m, "%s: %s applies, because a check cannot be decided: "
               "%s", r->loc, r->text, s->notes[i].why);
    else if (s->notes[i].applies)
      pol_note(s->m, "%s: %s applies", r->loc, r->text);
    else
      pol_note(s->m, "%s: %s does not apply: %s", r->loc, r->text,
               s->notes[i].why);
  }
}

/* Writes "; it applies because ..." when the deny or ask rule r applies
 * only because one of its checks could not be decided, else "". */
static void undecided_text(rule_scan *s, const pol_rule *r, char *buf,
                           size_t size)
{
  char why[WHY_MAX] = "";
  bool undecided = false;

  buf[0] = '\0';
  if (rule_holds(s, r, why, sizeof why, &undecided) && undecided)
    snprintf(buf, size, "; it applies because a check cannot be decided: "
             "%s", why);
}

/* Finds the rules that match the effect. Returns 1 when they decided it
 * (a deny, or no rule allowing it), and 0 with *rule_verdict set when the
 * remaining checks decide. */
static int scan_rules(pol_monitor *m, const mvm_effect *e,
                      const char *target, const char *what,
                      const json_t *args, mvm_decision *d,
                      mvm_verdict *rule_verdict, int *rc)
{
  const mvm_policy *p = m->policy;
  rule_scan s;

  memset(&s, 0, sizeof s);
  s.m = m;
  s.e = e;
  s.target = target;
  s.args = args;
  *rc = pol_index_each(&p->rule_index[e->kind], target, scan_one, &s);
  if (*rc == 1 || s.rc)
    *rc = s.rc ? s.rc : MVM_ENOMEM;
  if (*rc == MVM_OK && m->trace != NULL)
    emit_notes(&s);
  free(s.notes);
  if (*rc)
    return 1;

  if (s.found[MVM_VERDICT_DENY]) {
    const pol_rule *r = &p->rules[s.best[MVM_VERDICT_DENY]];
    char undecided[WHY_MAX + 64];
    undecided_text(&s, r, undecided, sizeof undecided);
    decide_set(d, MVM_VERDICT_DENY, r->loc, "denied by %s (%s)%s%.200s%s",
               r->loc, r->text, r->reason ? ": " : "",
               r->reason ? r->reason : "", undecided);
    return 1;
  }
  /* An ask rule adds a confirmation to what an allow rule permits; on
   * its own it permits nothing. */
  if (!s.found[MVM_VERDICT_ALLOW]) {
    if (s.missed) {
      const pol_rule *r = &p->rules[s.miss_id];
      char why[WHY_MAX] = "";
      rule_holds(&s, r, why, sizeof why, NULL);
      decide_set(d, MVM_VERDICT_DENY, "default", "denied by default: no "
                 "rule allows %s; %s (%s) does not apply: %s", what, r->loc,
                 r->text, why);
    } else {
      decide_set(d, MVM_VERDICT_DENY, "default", "denied by default: no "
                 "rule allows %s", what);
    }
    return 1;
  }

  mvm_verdict v = s.found[MVM_VERDICT_ASK] ? MVM_VERDICT_ASK
                                           : MVM_VERDICT_ALLOW;
  const pol_rule *r = &p->rules[s.best[v]];
  char undecided[WHY_MAX + 64] = "";
  if (v == MVM_VERDICT_ASK)
    undecided_text(&s, r, undecided, sizeof undecided);
  if (v == MVM_VERDICT_ASK)
    decide_set(d, v, r->loc, "%s (%s) requires the user's confirmation%s"
               "%.200s%s", r->loc, r->text, r->reason ? ": " : "",
               r->reason ? r->reason : "", undecided);
  else
    decide_set(d, v, r->loc, "allowed by %s (%s)%s%.300s", r->loc, r->text,
               r->reason ? ": " : "", r->reason ? r->reason : "");
  *rule_verdict = v;
  return 0;
}

/* Replaces the decision when `v` is stricter than the current one. */
static bool stricter(const mvm_decision *d, mvm_verdict v)
{
  static const int rank[] = {[MVM_VERDICT_ALLOW] = 0,
                             [MVM_VERDICT_ASK] = 1,
                             [MVM_VERDICT_DENY] = 2};
  return rank[v] > rank[d->verdict];
}

/* ------------------------------------------------------------- budgets */

static bool over_time(pol_monitor *m, mvm_decision *d)
{
  const mvm_policy *p = m->policy;
  char loc[POL_LOC_MAX];
  double elapsed = pol_now(m) - m->start;

  for (size_t i = 0; i < p->nbudgets; i++) {
    const pol_budget *b = &p->budgets[i];
    if (b->kind != BUDGET_TIME || elapsed < b->limit)
      continue;
    pol_loc(p, b->line, loc, sizeof loc);
    decide_set(d, MVM_VERDICT_DENY, loc, "%s: the time budget is exhausted: "
               "%.0f s of %.0f s used", loc, elapsed, b->limit);
    d->budget = true;
    return true;
  }
  return false;
}

static bool over_calls(pol_monitor *m, const pol_tool_info *info,
                       mvm_decision *d)
{
  const mvm_policy *p = m->policy;
  char loc[POL_LOC_MAX];

  for (size_t i = 0; i < p->nbudgets; i++) {
    const pol_budget *b = &p->budgets[i];
    if (b->kind != BUDGET_CALLS || b->pattern != NULL ||
        (double)m->counters.tool_calls < b->limit)
      continue;
    pol_loc(p, b->line, loc, sizeof loc);
    decide_set(d, MVM_VERDICT_DENY, loc, "%s: the budget of tool calls is "
               "exhausted: %llu of %.0f used", loc,
               (unsigned long long)m->counters.tool_calls, b->limit);
    d->budget = true;
    return true;
  }
  for (size_t i = 0; i < info->nbudgets; i++) {
    const pol_budget *b = &p->budgets[info->budgets[i]];
    uint64_t used = m->budget_calls[info->budgets[i]];
    if ((double)used < b->limit)
      continue;
    pol_loc(p, b->line, loc, sizeof loc);
    decide_set(d, MVM_VERDICT_DENY, loc, "%s: the budget of calls to '%s' "
               "is exhausted: %llu of %.0f used", loc, b->pattern,
               (unsigned long long)used, b->limit);
    d->budget = true;
    return true;
  }
  return false;
}

static bool over_model_budget(pol_monitor *m, mvm_decision *d)
{
  const mvm_policy *p = m->policy;
  const mvm_policy_counters *c = &m->counters;
  char loc[POL_LOC_MAX];
  uint64_t tokens = c->input_tokens + c->output_tokens;

  for (size_t i = 0; i < p->nbudgets; i++) {
    const pol_budget *b = &p->budgets[i];
    pol_loc(p, b->line, loc, sizeof loc);
    if (b->kind == BUDGET_TOKENS && (double)tokens >= b->limit) {
      decide_set(d, MVM_VERDICT_DENY, loc, "%s: the token budget is "
                 "exhausted: %llu of %.0f tokens used", loc,
                 (unsigned long long)tokens, b->limit);
      d->budget = true;
      return true;
    }
    if (b->kind == BUDGET_COST && c->cost_usd >= b->limit) {
      decide_set(d, MVM_VERDICT_DENY, loc, "%s: the cost budget is "
                 "exhausted: %.4f of %.4f USD used", loc, c->cost_usd,
                 b->limit);
      d->budget = true;
      return true;
    }
  }
  return false;
}

/* ------------------------------------------------------------- flows */

/* Checks that the effect's data (arguments joined with the context that
 * chose them) may be read by every reader of the sink. `line` is where the
 * policy sets the sink's readers, 0 for the default, which `dflt`
 * explains. */
static int check_flow(const pol_monitor *m, const mvm_effect *e,
                      const mvm_label *sink, const char *sink_desc,
                      unsigned line, const char *dflt, mvm_decision *d)
{
  mvm_label *data = NULL;
  char loc[POL_LOC_MAX];
  char have[160];
  char want[160];

  /* The join's readers are the intersection, so it flows exactly when
   * both parts flow; the join is built only to explain a denial. */
  if (mvm_label_flows_to(e->args_label, sink) &&
      mvm_label_flows_to(e->context_label, sink))
    return MVM_OK;
  if (mvm_label_join(e->args_label, e->context_label, &data))
    return MVM_ENOMEM;
  readers_text(data, have, sizeof have);
  readers_text(sink, want, sizeof want);
  if (line != 0) {
    pol_loc(m->policy, line, loc, sizeof loc);
    decide_set(d, MVM_VERDICT_DENY, loc, "%s: data readable only by %s may "
               "not flow to %s, which is read by %s", loc, have, sink_desc,
               want);
  } else {
    decide_set(d, MVM_VERDICT_DENY, "default-sink", "data readable only by "
               "%s may not flow to %s, which is read by %s (%s)", have,
               sink_desc, want, dflt);
  }
  mvm_label_unref(data);
  return MVM_OK;
}

/* Builds the sink label of a tool call: the declared readers plus the
 * values of the arguments named by `sink readers arg`. A missing or
 * non-string argument makes the sink public (everyone), the strictest. */
static int tool_sink(const pol_tool_info *info, const json_t *args,
                     mvm_label **out)
{
  const char **readers = NULL;
  size_t n = 0;
  size_t cap;
  int rc = MVM_OK;

  *out = NULL;
  if (info->sink == SINK_UNSET || info->sink == SINK_EVERYONE)
    return MVM_OK;
  if (info->nsink_args == 0) {
    *out = mvm_label_ref(info->sink_label);
    return MVM_OK;
  }
  cap = mvm_label_reader_count(info->sink_label);
  for (size_t i = 0; i < info->nsink_args; i++) {
    const json_t *v = json_object_get(args, info->sink_args[i]);
    cap += json_is_array(v) ? json_array_size(v) : 1;
  }
  readers = calloc(cap + 1, sizeof *readers);
  if (readers == NULL)
    return MVM_ENOMEM;
  for (size_t i = 0; i < mvm_label_reader_count(info->sink_label); i++)
    readers[n++] = mvm_label_reader(info->sink_label, i);
  for (size_t i = 0; i < info->nsink_args; i++) {
    const json_t *v = json_object_get(args, info->sink_args[i]);
    if (json_is_string(v)) {
      readers[n++] = json_string_value(v);
      continue;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
      goto everyone;
    for (size_t k = 0; k < json_array_size(v); k++) {
      const char *s = json_string_value(json_array_get(v, k));
      if (s == NULL)
        goto everyone;
      readers[n++] = s;
    }
  }
  rc = mvm_label_new(NULL, 0, readers, n, out);
  free(readers);
  return rc;

everyone:
  free(readers);
  return MVM_OK;
}

static const mvm_label *arg_label(const mvm_effect *e, const char *name,
                                  bool *found)
{
  for (size_t i = 0; i < e->narg_labels; i++) {
    if (e->arg_labels[i].name != NULL &&
        strcmp(e->arg_labels[i].name, name) == 0) {
      *found = true;
      return e->arg_labels[i].label;
    }
  }
  *found = false;
  return NULL;
}

/* A consequential call decided in an untrusted context is denied (or
 * asked), unless every argument the declaration names as deciding is
 * itself trusted. */
static void check_consequential(pol_monitor *m, const mvm_effect *e,
                                const pol_tool_info *info, mvm_decision *d)
{
  char loc[POL_LOC_MAX];
  char ctx[200];
  char src[200];

  if (!info->consequential) {
    pol_note(m, "'%s' is read-only, so the context's integrity does not "
             "matter", e->target);
    return;
  }
  if (mvm_label_is_trusted(e->context_label))
    return;
  unsigned line = info->trusted_line ? info->trusted_line
                  : info->untrusted_line ? info->untrusted_line
                                         : info->consequential_line;
  loc_or(m->policy, line, "default-consequential", loc, sizeof loc);
  sources_text(e->context_label, ctx, sizeof ctx);
  if (!stricter(d, info->untrusted_verdict))
    return;

  if (info->ntrusted_args == 0 && line == 0) {
    decide_set(d, info->untrusted_verdict, loc, "consequential call '%s' "
               "decided in untrusted context (sources: %s); a tool not "
               "declared readonly is consequential", e->target, ctx);
    return;
  }
  if (info->ntrusted_args == 0) {
    decide_set(d, info->untrusted_verdict, loc, "%s: consequential call "
               "'%s' decided in untrusted context (sources: %s)", loc,
               e->target, ctx);
    return;
  }
  for (size_t i = 0; i < info->ntrusted_args; i++) {
    const char *name = info->trusted_args[i];
    bool found = false;
    const mvm_label *l = arg_label(e, name, &found);
    bool present = json_object_get(e->args, name) != NULL;
    /* A missing deciding argument leaves the choice to the tool's
     * default, which the untrusted context may have counted on. */
    if (!present) {
      decide_set(d, info->untrusted_verdict, loc, "%s: consequential call "
                 "'%s' decided in untrusted context (sources: %s); the "
                 "deciding argument '%s' is missing", loc, e->target, ctx,
                 name);
      return;
    }
    if (!found)
      l = e->args_label; /* no per-argument label: the arguments' join */
    if (mvm_label_is_trusted(l))
      continue;
    decide_set(d, info->untrusted_verdict, loc, "%s: consequential call "
               "'%s' decided in untrusted context (sources: %s); argument "
               "'%s' is untrusted (sources: %s)", loc, e->target, ctx, name,
               sources_text(l, src, sizeof src));
    return;
  }
  pol_note(m, "%s: the context is untrusted (sources: %s), but every "
           "argument named by trusted-args is trusted", loc, ctx);
}

/* ------------------------------------------------------------- pins */

static int pin_pending(pol_monitor *m, mvm_lock_section section,
                       const char *key, const json_t *entry,
                       const char *reason)
{
  if (mvm_lock_set_pending(m->lock, section, key, entry, reason))
    return MVM_ENOMEM;
  pol_save_lock(m);
  return MVM_OK;
}

/* Finds an unpinned tool's name among another server's tools. */
static const char *shadowed(pol_monitor *m, const json_t *entry)
{
  const char *server = json_string_value(json_object_get(entry, "server"));
  const char *name = json_string_value(json_object_get(entry, "name"));
  const json_t *pinned = json_object_get(m->lock, "tools");
  const char *key;
  json_t *v;

  json_object_foreach((json_t *)pinned, key, v) {
    const char *s = json_string_value(json_object_get(v, "server"));
    const char *n = json_string_value(json_object_get(v, "name"));
    if (s != NULL && n != NULL && strcmp(n, name) == 0 &&
        strcmp(s, server) != 0)
      return key;
  }
  json_object_foreach(m->run_tools, key, v) {
    const char *dot = strchr(key, '.');
    if (dot != NULL && strcmp(dot + 1, name) == 0 &&
        (strlen(server) != (size_t)(dot - key) ||
         strncmp(key, server, (size_t)(dot - key)) != 0))
      return key;
  }
  return NULL;
}

static int check_tool_pin(pol_monitor *m, const mvm_effect *e,
                          mvm_decision *d)
{
  const mvm_policy *p = m->policy;
  json_t *entry = NULL;
  mvm_error lerr;
  char loc[POL_LOC_MAX];
  char diff[200];
  int rc;

  if (p->pin == PIN_OFF)
    return MVM_OK;
  loc_or(p, p->pin_line, "pin", loc, sizeof loc);
  rc = mvm_lock_tool_entry(e->target, e->identity, &entry, &lerr);
  if (rc)
    return rc;

  const json_t *pinned = mvm_lock_pinned(m->lock, MVM_LOCK_TOOLS, e->target);
  if (pinned != NULL) {
    if (mvm_lock_differs(MVM_LOCK_TOOLS, pinned, entry, diff, sizeof diff)) {
      decide_set(d, MVM_VERDICT_DENY, loc, "%s: tool '%s' differs from its "
                 "pinned identity (%s); review and approve it with 'mvm "
                 "approve %s'", loc, e->target, diff, policy_arg(m));
      snprintf(d->pin, sizeof d->pin, "changed");
    rc = pin_pending(m, MVM_LOCK_TOOLS, e->target, entry, "changed");
    } else {
      pol_note(m, "tool '%s' matches its pinned identity", e->target);
    }
    json_decref(entry);
    return rc;
  }

  const char *other = shadowed(m, entry);
  if (other != NULL) {
    char reason[300];
    decide_set(d, MVM_VERDICT_DENY, loc, "%s: tool '%s' is not pinned and "
               "has the same name as tool '%s' of another server; approve "
               "it with 'mvm approve %s' if both are wanted", loc, e->target,
               other, policy_arg(m));
    snprintf(reason, sizeof reason, "shadows %s", other);
    snprintf(d->pin, sizeof d->pin, "shadows %.*s",
             (int)(sizeof d->pin - sizeof "shadows "), other);
    rc = pin_pending(m, MVM_LOCK_TOOLS, e->target, entry, reason);
  } else if (p->pin == PIN_ASK && stricter(d, MVM_VERDICT_ASK)) {
    decide_set(d, MVM_VERDICT_ASK, loc, "%s: tool '%s' is not pinned yet; "
               "confirm to pin it, or approve it with 'mvm approve %s'", loc,
               e->target, policy_arg(m));
    snprintf(d->pin, sizeof d->pin, "new");
    rc = pin_pending(m, MVM_LOCK_TOOLS, e->target, entry, "new");
  } else if (p->pin == PIN_AUTO) {
    pol_note(m, "%s: tool '%s' is not pinned; it is pinned once loaded "
             "(pin auto)", loc, e->target);
  }
  json_decref(entry);
  return rc;
}

static int check_model_pin(pol_monitor *m, const mvm_effect *e,
                           const char *key, const json_t *entry,
                           mvm_decision *d)
{
  const mvm_policy *p = m->policy;
  char loc[POL_LOC_MAX];
  char diff[200];

  if (p->pin == PIN_OFF)
    return MVM_OK;
  loc_or(p, p->pin_line, "pin", loc, sizeof loc);
  const json_t *pinned = mvm_lock_pinned(m->lock, MVM_LOCK_MODELS, key);
  if (pinned != NULL) {
    if (!mvm_lock_differs(MVM_LOCK_MODELS, pinned, entry, diff, sizeof diff))
      return MVM_OK;
    decide_set(d, MVM_VERDICT_DENY, loc, "%s: model '%s' differs from its "
               "pinned identity (%s); review and approve it with 'mvm "
               "approve %s'", loc, key, diff, policy_arg(m));
    snprintf(d->pin, sizeof d->pin, "changed");
    return pin_pending(m, MVM_LOCK_MODELS, key, entry, "changed");
  }
  if (p->pin == PIN_ASK && stricter(d, MVM_VERDICT_ASK)) {
    decide_set(d, MVM_VERDICT_ASK, loc, "%s: model '%s' is not pinned yet; "
               "confirm to pin it, or approve it with 'mvm approve %s'", loc,
               key, policy_arg(m));
    snprintf(d->pin, sizeof d->pin, "new");
    return pin_pending(m, MVM_LOCK_MODELS, key, entry, "new");
  }
  return MVM_OK;
}

/* ------------------------------------------------------------- effects */

static int decide_tool_call(pol_monitor *m, const mvm_effect *e,
                            mvm_decision *d)
{
  const char *target = e->target ? e->target : "";
  json_t *empty = NULL;
  const json_t *args = e->args;
  pol_tool_info scratch;
  const pol_tool_info *info = NULL;
  mvm_verdict rv;
  char what[200];
  char desc[200];
  int rc = MVM_OK;

  if (args != NULL && !json_is_object(args)) {
    decide_set(d, MVM_VERDICT_DENY, "default", "the arguments of tool '%s' "
               "are not a JSON object", target);
    return MVM_OK;
  }
  if (args == NULL) {
    empty = json_object();
    if (empty == NULL)
      return MVM_ENOMEM;
    args = empty;
  }
  snprintf(what, sizeof what, "tool '%.150s'", target);
  if (scan_rules(m, e, target, what, args, d, &rv, &rc))
    goto out;

  memset(&scratch, 0, sizeof scratch);
  rc = pol_tool_info_get(m, target, &scratch, &info);
  if (rc)
    goto out;
  if (over_time(m, d) || over_calls(m, info, d))
    goto done;

  /* Integrity first: when injected text steered the call, that is the
   * reason a person needs to see, even if the data could not flow either. */
  check_consequential(m, e, info, d);
  if (d->verdict == MVM_VERDICT_DENY)
    goto done;

  mvm_label *sink = NULL;
  rc = tool_sink(info, args, &sink);
  if (rc)
    goto done;
  snprintf(desc, sizeof desc, "tool '%.150s'", target);
  rc = check_flow(m, e, sink, desc, info->sink_line, "the default for a "
                  "tool without 'sink readers'", d);
  mvm_label_unref(sink);

done:
  pol_tool_info_clear(&scratch);
out:
  json_decref(empty);
  return rc;
}

static int decide_tool_load(pol_monitor *m, const mvm_effect *e,
                            mvm_decision *d)
{
  const char *target = e->target ? e->target : "";
  char what[200];
  mvm_verdict rv;
  int rc = MVM_OK;

  snprintf(what, sizeof what, "tool '%.150s'", target);
  if (scan_rules(m, e, target, what, NULL, d, &rv, &rc))
    return rc;
  if (over_time(m, d))
    return MVM_OK;
  return check_tool_pin(m, e, d);
}

static int decide_model(pol_monitor *m, const mvm_effect *e,
                        mvm_decision *d)
{
  const json_t *identity = pol_model_identity(m, e);
  json_t *entry = NULL;
  char *key = NULL;
  char what[300];
  char desc[200];
  mvm_error lerr;
  mvm_verdict rv;
  int rc = MVM_OK;

  if (identity == NULL) {
    decide_set(d, MVM_VERDICT_DENY, "default", "model '%s' has no known "
               "identity: it was not loaded under this monitor",
               e->target ? e->target : "");
    return MVM_OK;
  }
  if (mvm_lock_model_entry(identity, &key, &entry, &lerr)) {
    decide_set(d, MVM_VERDICT_DENY, "default", "model '%s' has an invalid "
               "identity: %s", e->target ? e->target : "", lerr.msg);
    return lerr.code == MVM_ENOMEM ? MVM_ENOMEM : MVM_OK;
  }
  snprintf(what, sizeof what, "model '%.200s'", key);
  if (scan_rules(m, e, key, what, NULL, d, &rv, &rc) || over_time(m, d))
    goto out;

  if (e->kind == MVM_EFFECT_MODEL_LOAD) {
    rc = check_model_pin(m, e, key, entry, d);
    goto out;
  }
  if (over_model_budget(m, d))
    goto out;
  const char *provider = json_string_value(json_object_get(entry,
                                                           "provider"));
  unsigned line = 0;
  mvm_label *sink = pol_provider_sink(m->policy, provider, &line);
  snprintf(desc, sizeof desc, "provider '%.150s'", provider);
  rc = check_flow(m, e, sink, desc, line, "by default a provider is its "
                  "only reader", d);
  mvm_label_unref(sink);

out:
  free(key);
  json_decref(entry);
  return rc;
}

static int decide_sink_effect(pol_monitor *m, const mvm_effect *e,
                              mvm_decision *d)
{
  const mvm_policy *p = m->policy;
  bool memory = e->kind == MVM_EFFECT_MEMORY_WRITE;
  const char *target = "user";
  const pol_sink *sink = &p->user;
  char what[200];
  char desc[200];
  mvm_verdict rv;
  int rc = MVM_OK;

  if (memory) {
    target = e->target ? e->target : "";
    sink = &p->memory;
    snprintf(what, sizeof what, "memory.write '%.150s'", target);
    snprintf(desc, sizeof desc, "memory '%.150s'", target);
  } else {
    snprintf(what, sizeof what, "%s", mvm_effect_name(e->kind));
    snprintf(desc, sizeof desc, "the user");
  }

  if (scan_rules(m, e, target, what, NULL, d, &rv, &rc))
    return rc;
  return check_flow(m, e, sink->label, desc, sink->line,
                    memory ? "the default readers of memory"
                           : "by default the user's only reader is 'user'",
                    d);
}

static int decide_label_change(pol_monitor *m, const mvm_effect *e,
                               mvm_decision *d)
{
  char what[200];
  char src[160];
  mvm_verdict rv;
  int rc = MVM_OK;

  if (e->kind == MVM_EFFECT_ENDORSE)
    snprintf(what, sizeof what, "endorsing a value from %s",
             mvm_label_is_trusted(e->args_label)
                 ? "trusted sources"
                 : sources_text(e->args_label, src, sizeof src));
  else
    snprintf(what, sizeof what, "declassifying a value");
  scan_rules(m, e, "", what, NULL, d, &rv, &rc);
  return rc;
}

int pol_decide(pol_monitor *m, const mvm_effect *e, mvm_decision *d,
               mvm_error *err)
{
  int rc = MVM_OK;

  memset(d, 0, sizeof *d);
  if (m->policy->permissive) {
    decide_set(d, MVM_VERDICT_ALLOW, "permissive", "the permissive policy "
               "allows every effect without checks (unsafe)");
    return MVM_OK;
  }
  bool tool = e->kind == MVM_EFFECT_TOOL_CALL ||
              e->kind == MVM_EFFECT_TOOL_LOAD;
  if (tool && (e->target == NULL || e->target[0] == '\0')) {
    decide_set(d, MVM_VERDICT_DENY, "default", "%s names no tool",
               mvm_effect_name(e->kind));
    return MVM_OK;
  }
  switch (e->kind) {
  case MVM_EFFECT_TOOL_CALL:
    rc = decide_tool_call(m, e, d);
    break;
  case MVM_EFFECT_TOOL_LOAD:
    rc = decide_tool_load(m, e, d);
    break;
  case MVM_EFFECT_MODEL_LOAD:
  case MVM_EFFECT_MODEL_CALL:
  case MVM_EFFECT_MODEL_QUERY:
    rc = decide_model(m, e, d);
    break;
  case MVM_EFFECT_USER_SHOW:
  case MVM_EFFECT_USER_ASK:
  case MVM_EFFECT_MEMORY_WRITE:
    rc = decide_sink_effect(m, e, d);
    break;
  case MVM_EFFECT_ENDORSE:
  case MVM_EFFECT_DECLASSIFY:
    rc = decide_label_change(m, e, d);
    break;
  default:
    decide_set(d, MVM_VERDICT_DENY, "default", "unknown effect kind %d",
               (int)e->kind);
    break;
  }
  if (rc)
    return mvm_error_set(err, rc, "policy", "deciding %s '%s' failed: %s",
                         mvm_effect_name(e->kind),
                         e->target ? e->target : "", mvm_status_text(rc));

  if (d->verdict == MVM_VERDICT_ASK && m->cfg.no_user) {
    char reason[MVM_REASON_MAX];
    snprintf(reason, sizeof reason, "%.400s; no user is present to "
             "confirm, so it is denied", d->reason);
    memcpy(d->reason, reason, sizeof d->reason);
    d->verdict = MVM_VERDICT_DENY;
  }
  return MVM_OK;
}

/* ------------------------------------------------------------- labels */

/* Decides whether a `result` or `field` line applies to a call with these
 * arguments. A line that restricts (untrusted, readers, secret) applies
 * when its `when` argument is left out or its condition cannot be decided
 * (a path that does not resolve). A line that would make the result
 * trusted does not, so neither case loosens a label. */
static bool line_applies(pol_monitor *m, const pol_label_line *ll,
                         const json_t *args, bool restricts)
{
  if (ll->when == NULL)
    return true;
  if (json_object_get(args, ll->when->name) == NULL)
    return restricts;

  pol_truth when =
      pol_argspec_eval(ll->when, args, NULL, 0, &m->matcher, NULL, 0);
  return when == POL_TRUE || (when == POL_UNKNOWN && restricts);
}

int pol_result_label(pol_monitor *m, const mvm_effect *call,
                     const json_t *result, mvm_label **out, mvm_error *err)
{
  const mvm_policy *p = m->policy;
  const char *target = call->target ? call->target : "";
  const json_t *sc = json_object_get(result, "structuredContent");
  pol_tool_info scratch;
  const pol_tool_info *info = NULL;
  mvm_label *label = NULL;
  bool integrity = false;
  int rc;

  *out = NULL;
  if (p->permissive)
    return MVM_OK;
  memset(&scratch, 0, sizeof scratch);
  rc = pol_tool_info_get(m, target, &scratch, &info);
  for (size_t i = 0; rc == MVM_OK && i < info->ndecls; i++) {
    const pol_tooldecl *t = &p->tools[info->decls[i]];
    for (size_t k = 0; rc == MVM_OK && k < t->nlabels; k++) {
      const pol_label_line *ll = &t->labels[k];
      if (ll->what == LBL_SECRET)
        continue;
      if (ll->field != NULL &&
          (!json_is_object(sc) || json_object_get(sc, ll->field) == NULL))
        continue;
      if (!line_applies(m, ll, call->args, ll->what != LBL_TRUSTED))
        continue;
      if (ll->what != LBL_READERS)
        integrity = true;
      mvm_label *joined = NULL;
      rc = mvm_label_join(label, ll->label, &joined);
      mvm_label_unref(label);
      label = joined;
    }
  }
  if (rc == MVM_OK && !integrity) {
    /* With no integrity declared, a result is untrusted, tainted by the
     * tool itself. */
    char source[300];
    snprintf(source, sizeof source, "tool:%s", target);
    const char *sources[] = {source};
    mvm_label *taint = NULL;
    mvm_label *joined = NULL;
    rc = mvm_label_new(sources, 1, NULL, 0, &taint);
    if (rc == MVM_OK)
      rc = mvm_label_join(label, taint, &joined);
    mvm_label_unref(taint);
    mvm_label_unref(label);
    label = joined;
  }
  pol_tool_info_clear(&scratch);
  if (rc) {
    mvm_label_unref(label);
    return mvm_error_set(err, rc, "policy", "labelling the result of '%s' "
                         "failed: %s", target, mvm_status_text(rc));
  }
  *out = label;
  return MVM_OK;
}

/* Appends the strings of one result value that a `secret` line covers:
 * a string as it is, anything else as its compact JSON text. */
static int add_secret_value(json_t *out, const json_t *value)
{
  if (json_is_string(value))
    return json_array_append_new(out, json_stringn(json_string_value(value),
                                                   json_string_length(value)));
  if (value == NULL || json_is_null(value))
    return 0;
  char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
  int rc = text != NULL ? json_array_append_new(out, json_string(text)) : -1;
  free(text);
  return rc;
}

/* Appends the text of every text item and embedded text resource of a
 * result's content. */
static int add_secret_content(json_t *out, const json_t *result)
{
  const json_t *content = json_object_get(result, "content");
  const json_t *item;
  size_t i;

  json_array_foreach(content, i, item)
  {
    const json_t *text = json_object_get(item, "text");
    const json_t *resource = json_object_get(item, "resource");
    if (json_is_object(resource))
      text = json_object_get(resource, "text");
    if (json_is_string(text) && add_secret_value(out, text) != 0)
      return -1;
  }
  return add_secret_value(out, json_object_get(result, "structuredContent"));
}

int pol_result_secrets(pol_monitor *m, const mvm_effect *call,
                       const json_t *result, json_t **out, mvm_error *err)
{
  const mvm_policy *p = m->policy;
  const char *target = call->target ? call->target : "";
  const json_t *sc = json_object_get(result, "structuredContent");
  pol_tool_info scratch;
  const pol_tool_info *info = NULL;
  json_t *secrets = json_array();
  int rc;

  *out = NULL;
  if (secrets == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
  memset(&scratch, 0, sizeof scratch);
  rc = p->permissive ? MVM_OK : pol_tool_info_get(m, target, &scratch, &info);
  for (size_t i = 0; rc == MVM_OK && info != NULL && i < info->ndecls; i++) {
    const pol_tooldecl *t = &p->tools[info->decls[i]];
    for (size_t k = 0; rc == MVM_OK && k < t->nlabels; k++) {
      const pol_label_line *ll = &t->labels[k];
      if (ll->what != LBL_SECRET || !line_applies(m, ll, call->args, true))
        continue;
      if (ll->field == NULL)
        rc = add_secret_content(secrets, result) ? MVM_ENOMEM : MVM_OK;
      else if (json_is_object(sc))
        rc = add_secret_value(secrets, json_object_get(sc, ll->field))
                 ? MVM_ENOMEM
                 : MVM_OK;
    }
  }
  pol_tool_info_clear(&scratch);
  if (rc) {
    json_decref(secrets);
    return mvm_error_set(err, rc, "policy", "collecting the secrets of "
                         "'%s' failed: %s", target, mvm_status_text(rc));
  }
  *out = secrets;
  return MVM_OK;
}
