/* guard.c - a policy monitor with audit logging and a decision list. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "monitor/policy.h"
#include "runtime/guard.h"
#include "store/redact.h"

static const char *verdict_name(mvm_verdict v)
{
  switch (v) {
  case MVM_VERDICT_ALLOW:
    return "allow";
  case MVM_VERDICT_DENY:
    return "deny";
  case MVM_VERDICT_ASK:
    return "ask";
  }
  return "deny";
}

/* Keeps the first audit failure and logs every one. */
static void note_audit_failure(mvm_guard *g, const mvm_error *e)
{
  mvm_log(MVM_LOG_ERROR, "audit", "cannot write the audit log: %s", e->msg);
  if (g->audit_err.code == MVM_OK)
    g->audit_err = *e;
}

static void remember_decision(mvm_guard *g, const mvm_effect *effect,
                              const mvm_decision *d)
{
  json_t *item = json_pack(
      "{s:s, s:s?, s:s, s:s, s:s, s:I, s:o?, s:o?, s:s*}", "effect",
      mvm_effect_name(effect->kind), "target", effect->target, "verdict",
      verdict_name(d->verdict), "rule", d->rule, "reason", d->reason, "step",
      (json_int_t)effect->step, "args_label",
      mvm_label_to_json(effect->args_label), "context_label",
      mvm_label_to_json(effect->context_label), "pin",
      d->pin[0] != '\0' ? d->pin : NULL);
  /* The manifest is a summary: a missing entry under memory pressure is
   * logged, while the audit log stays the complete record. */
  if (item == NULL || json_array_append_new(g->decisions, item) != 0)
    mvm_log(MVM_LOG_WARN, "guard", "out of memory: decision not listed in "
                                   "the manifest");
}

static int guard_check(void *self, const mvm_effect *effect,
                       mvm_decision *out, mvm_error *err)
{
  mvm_guard *g = self;
  mvm_error inner_err;
  int rc;

  mvm_error_clear(&inner_err);
  rc = g->inner.ops->check(g->inner.self, effect, out, &inner_err);
  if (rc) {
    /* An internal failure of the policy is a deny, never an allow. */
    out->verdict = MVM_VERDICT_DENY;
    out->budget = false;
    snprintf(out->rule, sizeof out->rule, "monitor.error");
    snprintf(out->reason, sizeof out->reason, "the monitor failed: %.400s",
             inner_err.msg);
  }

  if (g->audit != NULL) {
    mvm_error aerr;
    if (mvm_audit_append_decision(g->audit, g->run_id, effect, out, &aerr)) {
      note_audit_failure(g, &aerr);
      out->verdict = MVM_VERDICT_DENY;
      out->budget = false;
      snprintf(out->rule, sizeof out->rule, "audit.unavailable");
      snprintf(out->reason, sizeof out->reason,
               "denied because the decision could not be written to the "
               "audit log: %.400s",
               aerr.msg);
    }
  }

  if (out->verdict == MVM_VERDICT_ALLOW)
    g->allowed++;
  else if (out->verdict == MVM_VERDICT_ASK)
    g->asked++;
  else if (effect->kind == MVM_EFFECT_TOOL_LOAD)
    g->hidden++;
  else
    g->denied++;
  remember_decision(g, effect, out);
  (void)err;
  return MVM_OK;
}

static int guard_record(void *self, const mvm_effect *effect,
                        const mvm_decision *decision, const json_t *outcome,
                        mvm_error *err)
{
  mvm_guard *g = self;
  int rc = MVM_OK;

  if (g->inner.ops->record != NULL)
    rc = g->inner.ops->record(g->inner.self, effect, decision, outcome, err);

  if (g->audit != NULL) {
    mvm_error aerr;
    if (mvm_audit_append_outcome(g->audit, g->run_id, effect, decision,
                                 outcome, &aerr))
      note_audit_failure(g, &aerr);
  }
  return rc;
}

/* Pieces of a secret shorter than this are not registered on their own:
 * a short line ("[db]", "}") would blank ordinary text all over the log. */
#define SECRET_PIECE_MIN_BYTES 8

/* Registers text[0..len) with the redactor, and its JSON string escaping
 * when that differs, because a record may quote the value inside a JSON
 * text (a confirmation prompt shows the arguments that way). */
static int register_piece(mvm_guard *g, const char *text, size_t len,
                          bool with_escaped, mvm_error *err)
{
  json_t *str;
  char *escaped;
  int rc;

  if (len < MVM_REDACT_MIN_SECRET_BYTES || len > MVM_REDACT_MAX_SECRET_BYTES)
    return MVM_OK;
  rc = mvm_audit_add_secret(g->audit, text, len, err);
  if (rc || !with_escaped)
    return rc;
  str = json_stringn(text, len);
  escaped = str != NULL ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
  json_decref(str);
  if (escaped != NULL && strlen(escaped) - 2 != len)
    rc = register_piece(g, escaped + 1, strlen(escaped) - 2, false, err);
  free(escaped);
  return rc;
}

static bool is_blank(char c)
{
  return c == ' ' || c == '\t' || c == '\r';
}

/* Registers a secret value whole and line by line, and for each
 * "name = value" or "name: value" line the value alone, so a model that
 * copies one key out of a credentials file is still redacted. Lines of
 * a value over the redactor's size limit are still registered. */
static int register_secret(mvm_guard *g, const char *text, size_t len,
                           mvm_error *err)
{
  const char *end = text + len;
  int rc = register_piece(g, text, len, true, err);

  while (rc == MVM_OK && text < end) {
    const char *nl = memchr(text, '\n', (size_t)(end - text));
    const char *line_end = nl != NULL ? nl : end;
    const char *a = text;
    const char *b = line_end;

    while (a < b && is_blank(*a))
      a++;
    while (b > a && is_blank(b[-1]))
      b--;
    if ((size_t)(b - a) >= SECRET_PIECE_MIN_BYTES && (size_t)(b - a) < len)
      rc = register_piece(g, a, (size_t)(b - a), true, err);

    const char *sep = a;
    while (sep < b && *sep != '=' && *sep != ':')
      sep++;
    if (rc == MVM_OK && sep < b) {
      const char *v = sep + 1;
      while (v < b && (is_blank(*v) || *v == '"' || *v == '\''))
        v++;
      const char *w = b;
      while (w > v && (w[-1] == '"' || w[-1] == '\'' || w[-1] == ','))
        w--;
      if ((size_t)(w - v) >= SECRET_PIECE_MIN_BYTES)
        rc = register_piece(g, v, (size_t)(w - v), true, err);
    }
    text = nl != NULL ? nl + 1 : end;
  }
  return rc;
}

/* Registers the values of a result that the policy marks secret, before
 * the VM records the result, so no audit record contains them in clear. */
static void register_secrets(mvm_guard *g, const mvm_effect *call,
                             const json_t *result)
{
  json_t *secrets = NULL;
  const json_t *item;
  mvm_error serr;
  size_t i;

  if (g->audit == NULL ||
      mvm_policy_monitor_result_secrets(&g->inner, call, result, &secrets,
                                        &serr) != MVM_OK)
    return;
  json_array_foreach(secrets, i, item)
  {
    if (register_secret(g, json_string_value(item), json_string_length(item),
                        &serr) != MVM_OK) {
      /* NOTE: the redactor keeps at most MVM_REDACT_MAX_SECRETS secrets.
       * Past that, a secret result is written in clear, with a warning. */
      mvm_log(MVM_LOG_WARN, "audit", "a secret result of '%s' is not "
              "redacted: %s", call->target ? call->target : "", serr.msg);
      break;
    }
  }
  json_decref(secrets);
}

static int guard_result_label(void *self, const mvm_effect *call,
                              const json_t *result, mvm_label **out,
                              mvm_error *err)
{
  mvm_guard *g = self;
  char source[256];

  register_secrets(g, call, result);
  if (g->inner.ops->result_label != NULL)
    return g->inner.ops->result_label(g->inner.self, call, result, out, err);

  /* The VM's own rule for a monitor without labels: untrusted, from the
   * tool. Stated here too so the guard never widens trust. */
  snprintf(source, sizeof source, "tool:%s", call->target ? call->target : "");
  const char *sources[] = {source};
  return mvm_label_new(sources, 1, NULL, 0, out);
}

static int guard_sink_label(void *self, mvm_effect_kind kind,
                            const char *target, mvm_label **out,
                            mvm_error *err)
{
  mvm_guard *g = self;

  if (g->inner.ops->sink_label == NULL) {
    *out = NULL;
    return MVM_OK;
  }
  return g->inner.ops->sink_label(g->inner.self, kind, target, out, err);
}

static const mvm_monitor_ops guard_ops = {
    .check = guard_check,
    .record = guard_record,
    .result_label = guard_result_label,
    .sink_label = guard_sink_label,
};

int mvm_guard_init(mvm_guard *guard, const mvm_monitor *inner,
                   mvm_audit *audit, const char *run_id, mvm_error *err)
{
  memset(guard, 0, sizeof *guard);
  guard->inner = *inner;
  guard->audit = audit;
  guard->run_id = run_id;
  guard->decisions = json_array();
  if (guard->decisions == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "guard", "out of memory");
  mvm_error_clear(&guard->audit_err);
  return MVM_OK;
}

void mvm_guard_free(mvm_guard *guard)
{
  json_decref(guard->decisions);
  guard->decisions = NULL;
}

mvm_monitor mvm_guard_monitor(mvm_guard *guard)
{
  mvm_monitor m = {&guard_ops, guard};
  return m;
}

const mvm_error *mvm_guard_audit_error(const mvm_guard *guard)
{
  return guard->audit_err.code == MVM_OK ? NULL : &guard->audit_err;
}
