/* monitor.c - the policy monitor of one run: the mvm_monitor_ops the VM
 * calls, the run's counters and budgets, loaded models, pins, and the
 * cache of merged tool properties. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "base/log.h"
#include "monitor/lock.h"
#include "monitor/monitor_internal.h"

static double monotonic_now(void *ctx)
{
  struct timespec ts;

  (void)ctx;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double pol_now(const pol_monitor *m)
{
  return m->cfg.clock(m->cfg.clock_ctx);
}

void pol_note(pol_monitor *m, const char *fmt, ...)
{
  char line[600];
  va_list ap;

  if (m->trace == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* A note lost to a failed allocation only shortens the explanation. */
  json_array_append_new(m->trace, json_string(line));
}

void pol_save_lock(pol_monitor *m)
{
  mvm_error err;

  if (m->lock_path == NULL || m->cfg.lock_read_only)
    return;
  /* NOTE: the whole file is rewritten from this run's copy, so two runs
   * updating one lock file at once can lose the other's update. */
  if (mvm_lock_save(m->lock_path, m->lock, &err) != MVM_OK)
    mvm_log(MVM_LOG_ERROR, "policy", "cannot update the lock file: %s",
            err.msg);
}

mvm_label *pol_provider_sink(const mvm_policy *p, const char *provider,
                             unsigned *line)
{
  static const char *const none[1] = {NULL};
  mvm_label *l = NULL;

  *line = 0;
  for (size_t i = 0; provider != NULL && i < p->nproviders; i++) {
    if (strcmp(p->providers[i].name, provider) == 0) {
      *line = p->providers[i].line;
      return mvm_label_ref(p->providers[i].label);
    }
  }
  /* By default a provider's only reader is the provider itself. A
   * failed allocation gives "everyone", which admits only public data. */
  const char *readers[] = {provider ? provider : ""};
  if (mvm_label_new(NULL, 0, provider ? readers : none, provider ? 1 : 0,
                    &l) != MVM_OK)
    return NULL;
  return l;
}

const json_t *pol_model_identity(const pol_monitor *m, const mvm_effect *e)
{
  if (e->identity != NULL)
    return e->identity;
  if (e->target == NULL)
    return NULL;
  return json_object_get(m->models, e->target);
}

/* ------------------------------------------------------------- tool info */

void pol_tool_info_clear(pol_tool_info *info)
{
  mvm_label_unref(info->sink_label);
  free(info->trusted_args);
  free(info->sink_args);
  free(info->decls);
  free(info->budgets);
  memset(info, 0, sizeof *info);
}

typedef struct decl_collect {
  const mvm_policy *policy;
  const char *target;
  size_t *ids;
  size_t n;
} decl_collect;

static int collect_decl(void *ctx, size_t id)
{
  decl_collect *c = ctx;

  if (!pol_glob_match(c->policy->tools[id].pattern, c->target))
    return 0;
  size_t *grown = realloc(c->ids, (c->n + 1) * sizeof *grown);
  if (grown == NULL)
    return MVM_ENOMEM;
  c->ids = grown;
  c->ids[c->n++] = id;
  return 0;
}

static int id_order(const void *a, const void *b)
{
  size_t x = *(const size_t *)a;
  size_t y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

static int append_names(const char ***list, size_t *n, char *const *names,
                        size_t count)
{
  if (count == 0)
    return MVM_OK;
  const char **grown = realloc(*list, (*n + count) * sizeof *grown);
  if (grown == NULL)
    return MVM_ENOMEM;
  *list = grown;
  for (size_t i = 0; i < count; i++)
    (*list)[(*n)++] = names[i];
  return MVM_OK;
}

/* Merges the sink readers of one declaration into info. */
static int merge_sink(pol_tool_info *info, const pol_tooldecl *t,
                      const char ***readers, size_t *nreaders)
{
  if (t->sink == SINK_UNSET)
    return MVM_OK;
  if (info->sink_line == 0)
    info->sink_line = t->sink_line;
  if (t->sink == SINK_EVERYONE || info->sink == SINK_EVERYONE) {
    info->sink = SINK_EVERYONE;
    info->sink_line = t->sink == SINK_EVERYONE ? t->sink_line
                                               : info->sink_line;
    return MVM_OK;
  }
  if (t->sink == SINK_NONE) {
    if (info->sink == SINK_UNSET)
      info->sink = SINK_NONE;
    return MVM_OK;
  }
  info->sink = SINK_LIST;
  int rc = append_names(readers, nreaders, t->sink_readers,
                        t->nsink_readers);
  if (rc == MVM_OK)
    rc = append_names(&info->sink_args, &info->nsink_args, t->sink_args,
                      t->nsink_args);
  return rc;
}

static int build_info(pol_monitor *m, const char *target,
                      pol_tool_info *info)
{
  const mvm_policy *p = m->policy;
  decl_collect c = {p, target, NULL, 0};
  const char **readers = NULL;
  size_t nreaders = 0;
  unsigned readonly_line = 0;
  bool ask_set = false;
  bool deny_set = false;
  int rc;

  memset(info, 0, sizeof *info);
  info->consequential = true;
  info->untrusted_verdict = MVM_VERDICT_DENY;
  rc = pol_index_each(&p->tool_index, target, collect_decl, &c);
  if (rc)
    goto out;
  if (c.n > 1)
    qsort(c.ids, c.n, sizeof *c.ids, id_order);
  info->decls = c.ids;
  info->ndecls = c.n;
  c.ids = NULL;

  for (size_t i = 0; rc == MVM_OK && i < info->ndecls; i++) {
    const pol_tooldecl *t = &p->tools[info->decls[i]];
    if (t->consequential == 1 && info->consequential_line == 0)
      info->consequential_line = t->consequential_line;
    if (t->consequential == 0 && readonly_line == 0)
      readonly_line = t->consequential_line;
    if (t->ntrusted_args > 0 && info->trusted_line == 0)
      info->trusted_line = t->trusted_line;
    rc = append_names(&info->trusted_args, &info->ntrusted_args,
                      t->trusted_args, t->ntrusted_args);
    if (t->untrusted_set && t->untrusted_verdict == MVM_VERDICT_DENY &&
        !deny_set) {
      deny_set = true;
      info->untrusted_line = t->untrusted_line;
    } else if (t->untrusted_set && t->untrusted_verdict == MVM_VERDICT_ASK &&
               !ask_set) {
      ask_set = true;
      if (!deny_set)
        info->untrusted_line = t->untrusted_line;
    }
    if (rc == MVM_OK)
      rc = merge_sink(info, t, &readers, &nreaders);
  }
  if (rc)
    goto out;
  /* Consequential unless some declaration marks the tool readonly and
   * none marks it consequential. */
  if (info->consequential_line == 0 && readonly_line != 0) {
    info->consequential = false;
    info->consequential_line = readonly_line;
  }
  info->untrusted_verdict = ask_set && !deny_set ? MVM_VERDICT_ASK
                                                 : MVM_VERDICT_DENY;
  if (info->sink == SINK_LIST || info->sink == SINK_NONE) {
    static const char *const nobody[1] = {NULL};
    rc = mvm_label_new(NULL, 0, nreaders ? readers : nobody, nreaders,
                       &info->sink_label);
    if (rc)
      goto out;
  }

  for (size_t i = 0; i < p->nbudgets; i++) {
    const pol_budget *b = &p->budgets[i];
    if (b->kind != BUDGET_CALLS || b->pattern == NULL ||
        !pol_glob_match(b->pattern, target))
      continue;
    size_t *grown = realloc(info->budgets,
                            (info->nbudgets + 1) * sizeof *grown);
    if (grown == NULL) {
      rc = MVM_ENOMEM;
      goto out;
    }
    info->budgets = grown;
    info->budgets[info->nbudgets++] = i;
  }

out:
  free(c.ids);
  free(readers);
  if (rc)
    pol_tool_info_clear(info);
  return rc;
}

int pol_tool_info_get(pol_monitor *m, const char *target,
                      pol_tool_info *scratch, const pol_tool_info **out)
{
  const pol_map_entry *e = pol_map_find(&m->tool_cache, target,
                                        strlen(target));
  int rc;

  if (e != NULL) {
    *out = &m->infos[e->ids[0]];
    return MVM_OK;
  }
  if (m->ninfos == POL_TOOL_CACHE_MAX) {
    rc = build_info(m, target, scratch);
    *out = scratch;
    return rc;
  }
  if ((m->ninfos & (m->ninfos - 1)) == 0) {
    size_t cap = m->ninfos ? m->ninfos * 2 : 8;
    pol_tool_info *grown = realloc(m->infos, cap * sizeof *grown);
    if (grown == NULL)
      return MVM_ENOMEM;
    m->infos = grown;
  }
  rc = build_info(m, target, &m->infos[m->ninfos]);
  if (rc)
    return rc;
  rc = pol_map_add(&m->tool_cache, target, strlen(target), m->ninfos);
  if (rc) {
    pol_tool_info_clear(&m->infos[m->ninfos]);
    return rc;
  }
  *out = &m->infos[m->ninfos++];
  return MVM_OK;
}

/* ------------------------------------------------------------- record */

static void count_model_usage(pol_monitor *m, const json_t *outcome)
{
  const json_t *usage = json_object_get(outcome, "usage");
  const json_t *cost = json_object_get(outcome, "cost_usd");
  json_int_t in = json_integer_value(json_object_get(usage,
                                                     "input_tokens"));
  json_int_t out = json_integer_value(json_object_get(usage,
                                                      "output_tokens"));

  m->counters.model_calls++;
  if (in > 0)
    m->counters.input_tokens += (uint64_t)in;
  if (out > 0)
    m->counters.output_tokens += (uint64_t)out;
  if (json_is_number(cost) && json_number_value(cost) >= 0) {
    m->counters.cost_usd += json_number_value(cost);
  } else {
    m->counters.calls_without_cost++;
    /* NOTE: a reply without a price adds nothing to the cost budget, so
     * a model missing from the price table is never stopped by it. */
    for (size_t i = 0; i < m->policy->nbudgets; i++) {
      /* Once per run: every reply of an unpriced model lacks a cost. */
      if (m->policy->budgets[i].kind == BUDGET_COST &&
          m->counters.calls_without_cost == 1) {
        mvm_log(MVM_LOG_WARN, "policy", "a model reply has no cost_usd (the "
                "model is not in the price table); the cost budget does "
                "not count such replies");
        break;
      }
    }
  }
}

static int pin_tool(pol_monitor *m, const mvm_effect *e, mvm_error *err)
{
  json_t *entry = NULL;
  int rc;

  if (json_object_set_new(m->run_tools, e->target, json_true()))
    return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
  if (m->policy->pin == PIN_OFF ||
      mvm_lock_pinned(m->lock, MVM_LOCK_TOOLS, e->target) != NULL)
    return MVM_OK;
  rc = mvm_lock_tool_entry(e->target, e->identity, &entry, err);
  if (rc)
    return rc;
  rc = mvm_lock_pin(m->lock, MVM_LOCK_TOOLS, e->target, entry);
  json_decref(entry);
  if (rc)
    return mvm_error_set(err, rc, "policy", "out of memory");
  pol_save_lock(m);
  return MVM_OK;
}

static int pin_model(pol_monitor *m, const mvm_effect *e, mvm_error *err)
{
  json_t *entry = NULL;
  char *key = NULL;
  int rc;

  if (e->target != NULL && e->identity != NULL &&
      json_object_set_new(m->models, e->target,
                          json_deep_copy(e->identity)))
    return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
  if (m->policy->pin == PIN_OFF || e->identity == NULL)
    return MVM_OK;
  rc = mvm_lock_model_entry(e->identity, &key, &entry, err);
  if (rc)
    return rc;
  if (mvm_lock_pinned(m->lock, MVM_LOCK_MODELS, key) == NULL) {
    rc = mvm_lock_pin(m->lock, MVM_LOCK_MODELS, key, entry);
    if (rc == MVM_OK)
      pol_save_lock(m);
    else
      mvm_error_set(err, rc, "policy", "out of memory");
  }
  free(key);
  json_decref(entry);
  return rc;
}

static int monitor_record(void *self, const mvm_effect *e,
                          const mvm_decision *d, const json_t *outcome,
                          mvm_error *err)
{
  pol_monitor *m = self;

  if (d != NULL && d->verdict != MVM_VERDICT_ALLOW)
    return MVM_OK;
  switch (e->kind) {
  case MVM_EFFECT_TOOL_CALL: {
    pol_tool_info scratch;
    const pol_tool_info *info = NULL;
    memset(&scratch, 0, sizeof scratch);
    m->counters.tool_calls++;
    if (pol_tool_info_get(m, e->target ? e->target : "", &scratch, &info))
      return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
    for (size_t i = 0; i < info->nbudgets; i++)
      m->budget_calls[info->budgets[i]]++;
    pol_tool_info_clear(&scratch);
    return MVM_OK;
  }
  case MVM_EFFECT_MODEL_CALL:
  case MVM_EFFECT_MODEL_QUERY:
    count_model_usage(m, outcome);
    return MVM_OK;
  case MVM_EFFECT_TOOL_LOAD:
    return e->target ? pin_tool(m, e, err) : MVM_OK;
  case MVM_EFFECT_MODEL_LOAD:
    return pin_model(m, e, err);
  default:
    return MVM_OK;
  }
}

/* ------------------------------------------------------------- ops */

static int monitor_check(void *self, const mvm_effect *e, mvm_decision *d,
                         mvm_error *err)
{
  pol_monitor *m = self;
  int rc = pol_decide(m, e, d, err);

  if (rc)
    return rc;
  if (d->verdict == MVM_VERDICT_ALLOW)
    m->counters.allowed++;
  else if (d->verdict == MVM_VERDICT_ASK)
    m->counters.asked++;
  else
    m->counters.denied++;
  /* The VM traces the final verdict, after any confirmation, so the
   * monitor does not trace it a second time. */
  return MVM_OK;
}

static int monitor_result_label(void *self, const mvm_effect *call,
                                const json_t *result, mvm_label **out,
                                mvm_error *err)
{
  return pol_result_label(self, call, result, out, err);
}

static int monitor_sink_label(void *self, mvm_effect_kind kind,
                              const char *target, mvm_label **out,
                              mvm_error *err)
{
  pol_monitor *m = self;
  const mvm_policy *p = m->policy;
  unsigned line = 0;

  *out = NULL;
  if (p->permissive)
    return MVM_OK;
  switch (kind) {
  case MVM_EFFECT_TOOL_CALL: {
    pol_tool_info scratch;
    const pol_tool_info *info = NULL;
    memset(&scratch, 0, sizeof scratch);
    if (pol_tool_info_get(m, target ? target : "", &scratch, &info))
      return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
    /* Readers taken from arguments are unknown here: everyone. */
    if (info->nsink_args == 0)
      *out = mvm_label_ref(info->sink_label);
    pol_tool_info_clear(&scratch);
    return MVM_OK;
  }
  case MVM_EFFECT_MODEL_CALL:
  case MVM_EFFECT_MODEL_QUERY: {
    const json_t *id = target ? json_object_get(m->models, target) : NULL;
    const char *provider = json_string_value(json_object_get(id,
                                                             "provider"));
    if (provider != NULL)
      *out = pol_provider_sink(p, provider, &line);
    return MVM_OK;
  }
  case MVM_EFFECT_USER_SHOW:
  case MVM_EFFECT_USER_ASK:
    *out = mvm_label_ref(p->user.label);
    return MVM_OK;
  case MVM_EFFECT_MEMORY_WRITE:
    *out = mvm_label_ref(p->memory.label);
    return MVM_OK;
  default:
    return MVM_OK;
  }
}

static const mvm_monitor_ops policy_monitor_ops = {
    .check = monitor_check,
    .record = monitor_record,
    .result_label = monitor_result_label,
    .sink_label = monitor_sink_label,
};

void mvm_policy_monitor_config_init(mvm_policy_monitor_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->start_time = -1;
}

static void monitor_destroy(pol_monitor *m)
{
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->ninfos; i++)
    pol_tool_info_clear(&m->infos[i]);
  free(m->infos);
  pol_map_free(&m->tool_cache);
  pcre2_match_data_free(m->matcher.match_data);
  pcre2_match_context_free(m->matcher.match_context);
  free(m->budget_calls);
  json_decref(m->models);
  json_decref(m->lock);
  json_decref(m->run_tools);
  json_decref(m->trace);
  free(m->lock_path);
  free(m);
}

int mvm_policy_monitor_new(mvm_policy *policy,
                           const mvm_policy_monitor_config *cfg,
                           mvm_monitor *out, mvm_error *err)
{
  pol_monitor *m = calloc(1, sizeof *m);
  int rc = MVM_OK;

  if (m == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
  if (sodium_init() < 0) {
    free(m);
    return mvm_error_set(err, MVM_EINVAL, "policy", "libsodium failed to "
                         "initialize");
  }
  m->policy = policy;
  if (cfg != NULL)
    m->cfg = *cfg;
  else
    mvm_policy_monitor_config_init(&m->cfg);
  if (m->cfg.clock == NULL) {
    m->cfg.clock = monotonic_now;
    m->cfg.clock_ctx = NULL;
  }
  m->start = m->cfg.start_time >= 0 ? m->cfg.start_time : pol_now(m);

  const char *lock = m->cfg.lock_path ? m->cfg.lock_path
                                      : policy->lock_path;
  m->cfg.lock_path = NULL;
  if (m->matcher.match_context != NULL) {
    pcre2_set_match_limit(m->matcher.match_context, POL_MATCH_LIMIT);
    pcre2_set_depth_limit(m->matcher.match_context, POL_DEPTH_LIMIT);
  }
  if (lock != NULL && policy->pin != PIN_OFF) {
    m->lock_path = strdup(lock);
    if (m->lock_path == NULL)
      goto nomem;
  }
  m->matcher.match_data = pcre2_match_data_create(1, NULL);
  m->matcher.match_context = pcre2_match_context_create(NULL);
  m->budget_calls = calloc(policy->nbudgets + 1, sizeof *m->budget_calls);
  m->models = json_object();
  m->run_tools = json_object();
  if (m->matcher.match_data == NULL || m->matcher.match_context == NULL ||
      m->budget_calls == NULL ||
      m->models == NULL || m->run_tools == NULL)
    goto nomem;
  if (m->lock_path != NULL)
    rc = mvm_lock_load(m->lock_path, &m->lock, err);
  else if ((m->lock = mvm_lock_new()) == NULL)
    goto nomem;
  if (rc) {
    monitor_destroy(m);
    return rc;
  }
  out->ops = &policy_monitor_ops;
  out->self = m;
  return MVM_OK;

nomem:
  monitor_destroy(m);
  return mvm_error_set(err, MVM_ENOMEM, "policy", "out of memory");
}

void mvm_policy_monitor_free(mvm_monitor *monitor)
{
  if (monitor == NULL || monitor->ops != &policy_monitor_ops)
    return;
  monitor_destroy(monitor->self);
  monitor->ops = NULL;
  monitor->self = NULL;
}

int mvm_policy_monitor_counters(const mvm_monitor *monitor,
                                mvm_policy_counters *out)
{
  if (monitor == NULL || monitor->ops != &policy_monitor_ops)
    return MVM_EINVAL;
  const pol_monitor *m = monitor->self;
  *out = m->counters;
  out->elapsed_s = pol_now(m) - m->start;
  return MVM_OK;
}

pol_monitor *pol_monitor_of(const mvm_monitor *monitor)
{
  return monitor->ops == &policy_monitor_ops ? monitor->self : NULL;
}

int mvm_policy_monitor_result_secrets(const mvm_monitor *monitor,
                                      const mvm_effect *call,
                                      const json_t *result, json_t **out,
                                      mvm_error *err)
{
  pol_monitor *m = monitor != NULL ? pol_monitor_of(monitor) : NULL;

  *out = NULL;
  if (m == NULL)
    return mvm_error_set(err, MVM_EINVAL, "policy",
                         "the monitor is not a policy monitor");
  return pol_result_secrets(m, call, result, out, err);
}
