/* explain.c - deciding effects written as JSON, with the trace of rules
 * considered: the engine of `mvm policy explain` and of the table-driven
 * tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor_internal.h"

void pol_json_effect_clear(pol_json_effect *je)
{
  mvm_label_unref(je->args_label);
  mvm_label_unref(je->context_label);
  for (size_t i = 0; i < je->narg; i++)
    mvm_label_unref(je->arg_label_refs[i]);
  free(je->arg_label_refs);
  free(je->arg_labels);
  memset(je, 0, sizeof *je);
}

static int bad_field(mvm_error *err, size_t index, const char *field,
                     const char *what)
{
  return mvm_error_set(err, MVM_EINVAL, "explain", "effect %zu: field '%s' "
                       "%s", index, field, what);
}

static int label_field(const json_t *obj, const char *field, size_t index,
                       mvm_label **out, mvm_error *err)
{
  const json_t *v = json_object_get(obj, field);
  mvm_error lerr;

  *out = NULL;
  if (v == NULL || json_is_null(v))
    return MVM_OK;
  if (mvm_label_from_json(v, out, &lerr) != MVM_OK) {
    char what[MVM_ERROR_MSG_MAX];
    snprintf(what, sizeof what, "is not a label: %.300s", lerr.msg);
    return bad_field(err, index, field, what);
  }
  return MVM_OK;
}

static int effect_kind(const char *name, mvm_effect_kind *kind)
{
  for (int k = 0; k < MVM_EFFECT_COUNT; k++) {
    if (strcmp(mvm_effect_name(k), name) == 0) {
      *kind = (mvm_effect_kind)k;
      return MVM_OK;
    }
  }
  return MVM_EINVAL;
}

int pol_json_effect_parse(const json_t *obj, size_t index,
                          pol_json_effect *je, mvm_error *err)
{
  const char *name = json_string_value(json_object_get(obj, "effect"));
  const json_t *target = json_object_get(obj, "target");
  const json_t *arg_labels = json_object_get(obj, "arg_labels");
  int rc;

  memset(je, 0, sizeof *je);
  if (!json_is_object(obj))
    return mvm_error_set(err, MVM_EINVAL, "explain", "effect %zu is not a "
                         "JSON object", index);
  if (name == NULL || effect_kind(name, &je->e.kind) != MVM_OK)
    return bad_field(err, index, "effect", "must name an effect: model.load, "
                     "model.call, model.query, tool.load, tool.call, "
                     "user.show, user.ask, memory.write, label.endorse or "
                     "label.declassify");
  if (target != NULL && !json_is_string(target))
    return bad_field(err, index, "target", "must be a string");
  if (arg_labels != NULL && !json_is_object(arg_labels))
    return bad_field(err, index, "arg_labels", "must be an object of labels");

  je->e.target = json_string_value(target);
  je->e.args = json_object_get(obj, "args");
  je->e.identity = json_object_get(obj, "identity");
  je->e.detail = json_object_get(obj, "detail");
  je->e.step = (uint64_t)json_integer_value(json_object_get(obj, "step"));
  rc = label_field(obj, "args_label", index, &je->args_label, err);
  if (rc == MVM_OK)
    rc = label_field(obj, "context_label", index, &je->context_label, err);
  if (rc)
    return rc;
  je->e.args_label = je->args_label;
  je->e.context_label = je->context_label;

  size_t n = json_object_size(arg_labels);
  je->arg_labels = calloc(n + 1, sizeof *je->arg_labels);
  je->arg_label_refs = calloc(n + 1, sizeof *je->arg_label_refs);
  if (je->arg_labels == NULL || je->arg_label_refs == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "explain", "out of memory");
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)arg_labels, key, v) {
    mvm_label *l = NULL;
    mvm_error lerr;
    if (mvm_label_from_json(v, &l, &lerr) != MVM_OK) {
      char what[MVM_ERROR_MSG_MAX];
      snprintf(what, sizeof what, "has an invalid label for '%.100s': "
               "%.300s", key, lerr.msg);
      return bad_field(err, index, "arg_labels", what);
    }
    je->arg_label_refs[je->narg] = l;
    je->arg_labels[je->narg].name = key;
    je->arg_labels[je->narg].label = l;
    je->narg++;
  }
  je->e.arg_labels = je->arg_labels;
  je->e.narg_labels = je->narg;
  return MVM_OK;
}

/* Decides one effect and appends its explanation to results. */
static int explain_one(mvm_monitor *mon, pol_monitor *m, const json_t *item,
                       size_t index, json_t *results, mvm_error *err)
{
  pol_json_effect je;
  mvm_decision d;
  json_t *entry = NULL;
  int rc;

  rc = pol_json_effect_parse(item, index, &je, err);
  if (rc) {
    pol_json_effect_clear(&je);
    return rc;
  }
  m->trace = json_array();
  if (m->trace == NULL) {
    pol_json_effect_clear(&je);
    return mvm_error_set(err, MVM_ENOMEM, "explain", "out of memory");
  }
  rc = mon->ops->check(mon->self, &je.e, &d, err);
  if (rc)
    goto out;

  entry = json_pack("{s:s,s:s?,s:s,s:s,s:s,s:O}", "effect",
                    mvm_effect_name(je.e.kind), "target", je.e.target,
                    "verdict", mvm_policy_verdict_name(d.verdict), "rule",
                    d.rule, "reason", d.reason, "trace", m->trace);
  if (entry == NULL)
    goto nomem;

  const json_t *outcome = json_object_get(item, "outcome");
  if (d.verdict == MVM_VERDICT_ALLOW) {
    rc = mon->ops->record(mon->self, &je.e, &d,
                          outcome ? outcome : je.e.identity, err);
    if (rc)
      goto out;
  }
  if (d.verdict == MVM_VERDICT_ALLOW && je.e.kind == MVM_EFFECT_TOOL_CALL) {
    mvm_label *label = NULL;
    rc = mon->ops->result_label(mon->self, &je.e, outcome, &label, err);
    if (rc)
      goto out;
    json_t *lj = mvm_label_to_json(label);
    mvm_label_unref(label);
    if (lj == NULL || json_object_set_new(entry, "result_label", lj))
      goto nomem;
  }
  if (json_array_append(results, entry))
    goto nomem;
  goto out;

nomem:
  rc = mvm_error_set(err, MVM_ENOMEM, "explain", "out of memory");
out:
  json_decref(entry);
  json_decref(m->trace);
  m->trace = NULL;
  pol_json_effect_clear(&je);
  return rc;
}

int mvm_policy_explain(mvm_policy *policy, const json_t *effects,
                       const mvm_policy_monitor_config *cfg, json_t **out,
                       mvm_error *err)
{
  mvm_policy_monitor_config c;
  mvm_monitor mon = {NULL, NULL};
  json_t *results = NULL;
  int rc;

  if (!json_is_object(effects) && !json_is_array(effects))
    return mvm_error_set(err, MVM_EINVAL, "explain", "the effects must be "
                         "one JSON object or an array of them");
  if (cfg != NULL)
    c = *cfg;
  else
    mvm_policy_monitor_config_init(&c);
  c.lock_read_only = true;
  rc = mvm_policy_monitor_new(policy, &c, &mon, err);
  if (rc)
    return rc;
  results = json_array();
  if (results == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "explain", "out of memory");
    goto out;
  }

  pol_monitor *m = pol_monitor_of(&mon);
  if (json_is_object(effects)) {
    rc = explain_one(&mon, m, effects, 0, results, err);
  } else {
    size_t i;
    const json_t *item;
    json_array_foreach(effects, i, item) {
      rc = explain_one(&mon, m, item, i, results, err);
      if (rc)
        break;
    }
  }

out:
  mvm_policy_monitor_free(&mon);
  if (rc) {
    json_decref(results);
    return rc;
  }
  *out = results;
  return MVM_OK;
}
