/* agent.c - one run: settings, program, adapters, policy, audit, manifest. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "models/replay.h"
#include "models/spec.h"
#include "monitor/policy.h"
#include "runtime/agent.h"
#include "runtime/builtins.h"
#include "runtime/connect.h"
#include "runtime/demo.h"
#include "runtime/embedded.h"
#include "runtime/guard.h"
#include "runtime/manifest.h"
#include "runtime/wrap.h"
#include "store/audit.h"
#include "store/paths.h"
#include "store/redact.h"
#include "tools/builtin_pure.h"

#define AGENT_PROGRAM "lib/agent.mvs"
#define MAX_TOOLBOXES 64
#define DEFAULT_MODEL_NAME "main"

struct run {
  const mvm_agent_options *opts;
  const mvm_agent_hooks *hooks;
  mvm_agent_result *result;
  mvm_error *err;
  double t0;
  char started_at[32];

  mvm_settings settings;
  mvm_demo_paths demo;
  bool have_demo;
  const char *policy_path;
  const char *mcp_path;

  mvm_diags *diags;
  mvm_program *program;
  json_t *program_manifest;
  mvm_vm *vm;

  mvm_model_config mcfg;
  bool have_mcfg;
  mvm_model_meter *meter;
  mvm_wrapped_model models[MVM_AGENT_MAX_MODEL_BINDS];
  size_t nmodels;
  json_t *model_info; /* [{name, spec, identity}] */

  mvm_wrapped_toolbox boxes[MAX_TOOLBOXES];
  size_t nboxes;
  json_t *tool_info; /* [{tool, description_sha256, ...}] */

  mvm_agent_policy policy;
  mvm_guard guard;
  bool have_guard;
  mvm_monitor monitor;
  mvm_audit *audit;
  mvm_user user; /* the hooks' user, with answers to the audit log */
};

static void notice(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void notice(struct run *r, const char *fmt, ...)
{
  char line[1024];
  va_list ap;

  if (r->hooks->notice == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  r->hooks->notice(r->hooks->notice_ctx, line);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void utc_now(char out[32])
{
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------ settings */

static int resolve_settings(struct run *r)
{
  int rc = mvm_settings_resolve(&r->opts->flags, &r->settings, r->err);
  if (rc)
    return rc;

  /* The embedded demo only stands in for what the standard agent lacks;
   * a program file runs with exactly what was configured. */
  if (r->opts->program_path != NULL) {
    r->settings.demo_model = false;
    r->settings.demo_servers = false;
    r->settings.demo_policy = false;
    if (r->settings.policy.value == NULL)
      return mvm_error_set(r->err, MVM_ECONFIG, "run",
                           "no policy for %s: pass --policy FILE (see "
                           "docs/policy.md), or --policy permissive to run "
                           "with the monitor off",
                           r->opts->program_path);
  }

  /* The demo recording only makes sense against the demo's own servers:
   * with servers of one's own, a missing model is an error. */
  if (r->settings.demo_model && !r->settings.demo_servers)
    return mvm_error_set(r->err, MVM_ECONFIG, "run",
                         "no model configured: pass --model SPEC (for "
                         "example replay:FILE or openai:gpt-4.1-mini), or set "
                         "OPENAI_API_KEY or ANTHROPIC_API_KEY");

  bool servers_default = r->settings.demo_servers;
  if (r->settings.demo_model || servers_default ||
      r->settings.demo_policy) {
    rc = mvm_demo_prepare(r->settings.state_dir.value, &r->demo, r->err);
    if (rc)
      return rc;
    r->have_demo = true;
  }

  r->policy_path = r->settings.policy.value ? r->settings.policy.value
                                            : r->demo.policy;
  if (r->settings.mcp_config.value != NULL)
    r->mcp_path = r->settings.mcp_config.value;
  else if (servers_default)
    r->mcp_path = r->demo.mcp_config;
  else
    r->mcp_path = NULL;

  if (r->settings.demo_model)
    notice(r, "no model configured (set OPENAI_API_KEY or "
              "ANTHROPIC_API_KEY, or pass --model): replaying the demo "
              "recording %s",
           r->demo.recording);
  if (servers_default)
    notice(r, "no MCP servers configured (--mcp-config): using the demo's "
              "filesystem server on %s",
           r->demo.workspace);
  if (r->settings.demo_policy)
    notice(r, "no policy given (--policy): using the demo policy %s",
           r->demo.policy);
  return MVM_OK;
}

/* ------------------------------------------------------------ program */

static int load_program(struct run *r)
{
  int rc = mvm_diags_new(&r->diags);
  if (rc)
    return mvm_error_set(r->err, rc, "run", "out of memory");

  if (r->opts->program_path != NULL) {
    rc = mvm_asm_file(r->opts->program_path, r->diags, &r->program, r->err);
  } else {
    const mvm_embedded_file *f = mvm_embedded_find(AGENT_PROGRAM);
    if (f == NULL)
      return mvm_error_set(r->err, MVM_ENOTFOUND, "run",
                           "the standard agent program is not built in");
    rc = mvm_asm(AGENT_PROGRAM, f->data, f->size, r->diags, &r->program,
                 r->err);
  }
  if (rc == MVM_OK)
    rc = mvm_verify(r->program, NULL, r->diags, r->err);
  if (mvm_diags_count(r->diags) > 0)
    r->result->diagnostics = mvm_diags_format(r->diags);
  if (rc == MVM_OK) {
    rc = mvm_program_check_input(r->program, r->opts->input, r->err);
    r->result->bad_input = rc != MVM_OK;
  }
  if (rc == MVM_OK)
    rc = mvm_program_manifest(r->program, &r->program_manifest, r->err);
  if (rc == MVM_OK)
    rc = mvm_vm_new(r->program, &r->vm, r->err);
  return rc;
}

/* ------------------------------------------------------------ audit */

/* Registers an API key with the audit log's redactor. A key too short to
 * redact safely is not registered, with a warning, so a placeholder key
 * for a local server does not stop the run. */
static int add_key_secret(struct run *r, const char *key, const char *what)
{
  size_t len = key != NULL ? strlen(key) : 0;

  if (len == 0)
    return MVM_OK;
  if (len < MVM_REDACT_MIN_SECRET_BYTES) {
    mvm_log(MVM_LOG_WARN, "audit", "the key in %s has %zu bytes, too few "
            "to redact, so it is not redacted from the audit log",
            what, len);
    return MVM_OK;
  }
  return mvm_audit_add_secret(r->audit, key, len, r->err);
}

static int open_audit(struct run *r)
{
  const char *dir = r->settings.state_dir.value;
  int rc = mvm_state_dir_create(dir, r->err);
  if (rc)
    return rc;

  int n = snprintf(r->result->audit_path, sizeof r->result->audit_path,
                   "%s/%s", dir, MVM_AUDIT_FILE_NAME);
  if (n < 0 || (size_t)n >= sizeof r->result->audit_path)
    return mvm_error_set(r->err, MVM_ELIMIT, "run",
                         "state directory path too long: %s", dir);
  rc = mvm_audit_open(r->result->audit_path, NULL, &r->audit, r->err);
  if (rc)
    return rc;

  /* Provider keys never reach the audit file in clear. */
  const char *keys[] = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"};
  for (size_t i = 0; rc == MVM_OK && i < 2; i++)
    rc = add_key_secret(r, getenv(keys[i]), keys[i]);
  return rc;
}

/* ------------------------------------------------------------ models */

/* Finds the spec for a declared model: an explicit NAME=SPEC binding, or
 * the run's model for "main" or for a program's only model. */
static int spec_for(struct run *r, const char *name, size_t ndeclared,
                    char *buf, size_t size)
{
  size_t len = strlen(name);

  for (size_t i = 0; i < r->opts->nmodel_binds; i++) {
    const char *b = r->opts->model_binds[i];
    if (strncmp(b, name, len) == 0 && b[len] == '=') {
      snprintf(buf, size, "%s", b + len + 1);
      return MVM_OK;
    }
  }
  if (strcmp(name, DEFAULT_MODEL_NAME) != 0 && ndeclared != 1)
    return mvm_error_set(r->err, MVM_ECONFIG, "run",
                         "the program declares model '%s' but no model is "
                         "bound to it; pass --model %s=SPEC",
                         name, name);
  if (!r->settings.demo_model && r->settings.model.value == NULL)
    return mvm_error_set(r->err, MVM_ECONFIG, "run",
                         "the program declares model '%s' but no model is "
                         "configured; pass --model SPEC (for example "
                         "replay:FILE or openai:gpt-4.1-mini)",
                         name);
  if (r->settings.demo_model)
    snprintf(buf, size, "replay:%s", r->demo.recording);
  else
    snprintf(buf, size, "%s", r->settings.model.value);
  return MVM_OK;
}

static int open_model(struct run *r, const char *name, const char *spec)
{
  mvm_model base;
  mvm_model recorded;
  int rc = mvm_model_open_spec(spec, &r->mcfg, &base, r->err);
  /* An invalid spec or replay file is a configuration error (exit 4). */
  if (rc == MVM_EINVAL || rc == MVM_EPARSE || rc == MVM_ESCHEMA)
    r->err->code = rc = MVM_ECONFIG;
  if (rc)
    return rc;

  if (r->opts->record_path != NULL) {
    rc = mvm_replay_record(base, r->opts->record_path, &recorded, r->err);
    if (rc) {
      base.ops->close(base.self);
      return rc;
    }
    base = recorded;
  }

  mvm_wrapped_model *w = &r->models[r->nmodels];
  mvm_wrap_model(w, base, r->hooks->interrupted);
  r->nmodels++;

  json_t *identity = NULL;
  rc = base.ops->identity(base.self, &identity, r->err);
  if (rc == MVM_OK)
    rc = json_array_append_new(r->model_info,
                               json_pack("{s:s, s:s, s:o}", "name", name,
                                         "spec", spec, "identity", identity))
             ? mvm_error_set(r->err, MVM_ENOMEM, "run", "out of memory")
             : MVM_OK;
  if (rc == MVM_OK)
    rc = mvm_vm_bind_model(r->vm, name, &w->model, r->err);
  return rc;
}

static int open_models(struct run *r)
{
  const json_t *declared = json_object_get(r->program_manifest, "models");
  size_t ndeclared = json_array_size(declared);
  int rc;

  if (r->settings.model_config.value != NULL)
    rc = mvm_model_config_load(r->settings.model_config.value, &r->mcfg,
                               r->err);
  else
    rc = mvm_model_config_defaults(&r->mcfg, r->err);
  if (rc)
    return rc;
  r->have_mcfg = true;

  /* Keys from the model config file never reach the audit file in clear,
   * like the keys from the environment. */
  const char *config_keys[] = {r->mcfg.openai.api_key,
                               r->mcfg.anthropic.api_key,
                               r->mcfg.compatible.api_key};
  for (size_t i = 0; r->audit != NULL && i < 3; i++) {
    rc = add_key_secret(r, config_keys[i], "the model config file");
    if (rc)
      return rc;
  }
  if (mvm_model_meter_new(&r->meter))
    return mvm_error_set(r->err, MVM_ENOMEM, "run", "out of memory");
  r->mcfg.meter = r->meter;

  if (ndeclared > MVM_AGENT_MAX_MODEL_BINDS)
    return mvm_error_set(r->err, MVM_ELIMIT, "run",
                         "the program declares %zu models; at most %d are "
                         "supported",
                         ndeclared, MVM_AGENT_MAX_MODEL_BINDS);

  for (size_t i = 0; i < ndeclared; i++) {
    const json_t *d = json_array_get(declared, i);
    const char *name = json_is_string(d)
                           ? json_string_value(d)
                           : json_string_value(json_object_get(d, "name"));
    char spec[4200];

    if (name == NULL)
      return mvm_error_set(r->err, MVM_EINVAL, "run",
                           "program manifest has a model without a name");
    rc = spec_for(r, name, ndeclared, spec, sizeof spec);
    if (rc == MVM_OK)
      rc = open_model(r, name, spec);
    if (rc)
      return rc;
  }
  return MVM_OK;
}

/* ------------------------------------------------------------ tools */

static int add_toolbox(struct run *r, const mvm_toolbox *box)
{
  if (r->nboxes == MAX_TOOLBOXES) {
    box->ops->close(box->self);
    return mvm_error_set(r->err, MVM_ELIMIT, "run",
                         "more than %d tool servers are configured",
                         MAX_TOOLBOXES);
  }
  mvm_wrapped_toolbox *w = &r->boxes[r->nboxes++];
  mvm_wrap_toolbox(w, *box, r->hooks->interrupted);
  return mvm_vm_add_toolbox(r->vm, &w->box, r->err);
}

/* Lists each toolbox's tools into the manifest with their pin hashes. */
static int describe_tools(struct run *r)
{
  for (size_t i = 0; i < r->nboxes; i++) {
    mvm_toolbox *box = &r->boxes[i].box;
    json_t *tools = NULL;
    size_t j;
    json_t *tool;
    int rc = box->ops->list(box->self, &tools, r->err);
    if (rc)
      return rc;

    json_array_foreach(tools, j, tool)
    {
      char dhex[65];
      char shex[65];
      const char *name = json_string_value(json_object_get(tool, "name"));
      char full[512];

      if (name == NULL)
        continue;
      snprintf(full, sizeof full, "%s.%s", box->server, name);
      rc = mvm_tool_hashes(tool, dhex, shex, r->err);
      if (rc == MVM_OK &&
          json_array_append_new(
              r->tool_info,
              json_pack("{s:s, s:s, s:s, s:O?}", "tool", full,
                        "description_sha256", dhex, "schema_sha256", shex,
                        "annotations", json_object_get(tool, "annotations"))))
        rc = mvm_error_set(r->err, MVM_ENOMEM, "run", "out of memory");
      if (rc)
        break;
    }
    json_decref(tools);
    if (rc)
      return rc;
  }
  return MVM_OK;
}

static int open_tools(struct run *r)
{
  mvm_toolbox std;
  int rc = mvm_builtin_pure_new(&std, r->err);
  if (rc == MVM_OK)
    rc = add_toolbox(r, &std);
  if (rc)
    return rc;

  if (r->mcp_path != NULL) {
    mvm_toolbox boxes[MAX_TOOLBOXES];
    size_t n = 0;
    rc = mvm_agent_open_servers(r->mcp_path, r->hooks, boxes, MAX_TOOLBOXES,
                                &n, r->err);
    for (size_t i = 0; i < n; i++) {
      if (rc == MVM_OK)
        rc = add_toolbox(r, &boxes[i]);
      else
        boxes[i].ops->close(boxes[i].self);
    }
    if (rc)
      return rc;
    notice(r, "%zu MCP server%s from %s", n, n == 1 ? "" : "s", r->mcp_path);
  }

  const char *builtins = r->settings.builtins.value;
  if (builtins != NULL) {
    mvm_toolbox boxes[MVM_BUILTINS_MAX_BOXES];
    char summary[768];
    size_t n = 0;
    rc = mvm_builtins_open_summary(builtins, boxes, MVM_BUILTINS_MAX_BOXES,
                                   &n, summary, sizeof summary, r->err);
    for (size_t i = 0; i < n; i++) {
      if (rc == MVM_OK)
        rc = add_toolbox(r, &boxes[i]);
      else
        boxes[i].ops->close(boxes[i].self);
    }
    if (rc)
      return rc;
    notice(r, "built-in tools from %s: %s", builtins, summary);
  }
  return describe_tools(r);
}

/* ------------------------------------------------------------ policy */

/* Shows the warnings of `mvm policy check` at the start of a run, since
 * a policy that weakens itself should not go unnoticed. */
static void notice_policy_warnings(struct run *r)
{
  json_t *summary = NULL;
  mvm_error err;
  const json_t *warning;
  size_t i;

  if (r->policy.state == NULL ||
      mvm_policy_summary(r->policy.state, &summary, &err) != MVM_OK)
    return;
  json_array_foreach(json_object_get(summary, "warnings"), i, warning)
  {
    notice(r, "warning: %s:%lld: %s", r->policy_path,
           (long long)json_integer_value(json_object_get(warning, "line")),
           json_string_value(json_object_get(warning, "message")));
  }
  json_decref(summary);
}

static int open_policy(struct run *r)
{
  int rc = mvm_agent_policy_open(r->policy_path, &r->policy, r->err);
  if (rc)
    return rc;

  r->result->permissive = r->policy.permissive;
  if (r->policy.permissive)
    notice(r, "UNSAFE: --policy permissive turns the monitor off; every "
              "effect is allowed and only logged");
  else
    notice_policy_warnings(r);

  rc = mvm_guard_init(&r->guard, &r->policy.monitor, r->audit,
                      r->result->run_id, r->err);
  if (rc)
    return rc;
  r->have_guard = true;
  r->monitor = mvm_guard_monitor(&r->guard);
  mvm_vm_set_monitor(r->vm, &r->monitor);
  return MVM_OK;
}

/* ------------------------------------------------------------ manifest */

static json_t *counts_json(struct run *r)
{
  mvm_model_totals totals;
  memset(&totals, 0, sizeof totals);
  if (r->meter != NULL)
    mvm_model_meter_totals(r->meter, &totals);

  uint64_t tool_calls = 0;
  for (size_t i = 0; i < r->nboxes; i++)
    tool_calls += r->boxes[i].calls;

  json_t *cost = totals.calls > totals.unpriced_calls
                     ? json_real(totals.cost_usd)
                     : json_null();
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
                   "tools_not_offered", (json_int_t)r->guard.hidden, "steps",
                   (json_int_t)(r->vm ? mvm_vm_steps(r->vm) : 0),
                   "model_calls", (json_int_t)totals.calls, "tool_calls",
                   (json_int_t)tool_calls, "allowed",
                   (json_int_t)r->guard.allowed, "denied",
                   (json_int_t)r->guard.denied, "asked",
                   (json_int_t)r->guard.asked, "input_tokens",
                   (json_int_t)totals.input_tokens, "output_tokens",
                   (json_int_t)totals.output_tokens, "cost_usd", cost);
}

static void finish_audit(struct run *r, int status)
{
  mvm_error e;

  if (r->audit == NULL)
    return;
  json_t *info = json_pack("{s:s?, s:o}", "message",
                           status ? r->result->error.msg : NULL, "counts",
                           counts_json(r));
  if (mvm_audit_append_run_end(r->audit, r->result->run_id, status, info,
                               &e))
    mvm_log(MVM_LOG_ERROR, "audit", "cannot write the run's end: %s", e.msg);
  json_decref(info);

  mvm_audit_head head;
  if (mvm_audit_head_read(r->audit, &head, &e) == MVM_OK)
    mvm_audit_hash_to_hex(head.hash, r->result->audit_head);
}

static int write_manifest(struct run *r, int status)
{
  char ended_at[32];
  char dir[PATH_MAX];
  char cwd[PATH_MAX];
  char policy_hex[65];
  mvm_error e;
  int rc;

  if (getcwd(cwd, sizeof cwd) == NULL)
    cwd[0] = '\0';
  /* The built-in permissive policy has no file to hash. */
  if (r->policy.permissive || mvm_sha256_file_hex(r->policy_path, policy_hex))
    policy_hex[0] = '\0';
  utc_now(ended_at);
  snprintf(dir, sizeof dir, "%s/runs", r->settings.state_dir.value);
  rc = mvm_state_dir_create(dir, &e);
  if (rc)
    goto fail;
  int n = snprintf(r->result->manifest_path,
                   sizeof r->result->manifest_path, "%s/%s.json", dir,
                   r->result->run_id);
  if (n < 0 || (size_t)n >= sizeof r->result->manifest_path) {
    rc = mvm_error_set(&e, MVM_ELIMIT, "run", "manifest path too long");
    goto fail;
  }

  json_t *answer = r->result->answer;
  json_t *m = json_pack(
      "{s:s, s:s, s:s, s:s, s:f, s:s, s:s?, s:s, s:O?, s:o?, s:O?, s:O?, "
      "s:{s:s?, s:s?, s:b}, s:O?, s:o, s:O?, s:{s:s, s:s}}",
      "format", MVM_MANIFEST_FORMAT, "run_id", r->result->run_id,
      "started_at", r->started_at, "ended_at", ended_at, "duration_s",
      now_s() - r->t0, "status", mvm_status_name(status), "error",
      status ? r->result->error.msg : NULL, "cwd", cwd, "program",
      r->program_manifest,
      "settings", mvm_settings_to_json(&r->settings), "models",
      r->model_info, "tools", r->tool_info, "policy", "path",
      r->policy_path, "sha256", policy_hex[0] ? policy_hex : NULL,
      "permissive", r->policy.permissive, "decisions",
      r->have_guard ? r->guard.decisions : NULL, "counts", counts_json(r),
      "answer", answer, "audit", "path", r->result->audit_path, "head_hash",
      r->result->audit_head);
  if (m == NULL) {
    rc = mvm_error_set(&e, MVM_ENOMEM, "run", "out of memory");
    goto fail;
  }
  /* The manifest sits beside the audit log, so it gets the same
   * redaction: the answer or a decision may repeat a secret. */
  json_t *clean = NULL;
  rc = mvm_audit_redact(r->audit, m, &clean, &e);
  json_decref(m);
  if (rc)
    goto fail;
  rc = mvm_manifest_write(r->result->manifest_path, clean, &e);
  json_decref(clean);
  if (rc == MVM_OK)
    return MVM_OK;

fail:
  r->result->manifest_path[0] = '\0';
  mvm_log(MVM_LOG_ERROR, "run", "cannot write the run manifest: %s", e.msg);
  return rc;
}

/* ------------------------------------------------------------ user */

/* The answer to a confirmation decides an effect, so it is audited like a
 * decision: the prompt and the answer, or that nobody could answer. */
static void audit_answer(struct run *r, const char *kind, const char *prompt,
                         int rc, bool yes)
{
  mvm_error e;
  const char *with = NULL;
  const char *reply = "no";

  /* The VM's confirmation prompt ("Allow tool.call X with {...}? ...")
   * quotes the arguments as escaped, shortened JSON text, which can cut a
   * secret in two where the redactor cannot find it. The decision record
   * before this one contains the arguments, redacted, so only the part
   * before them is kept here. */
  if (strncmp(prompt, "Allow ", 6) == 0)
    with = strstr(prompt, " with ");
  size_t keep = with != NULL ? (size_t)(with - prompt) : strlen(prompt);
  if (rc != MVM_OK)
    reply = "no user present";
  else if (yes)
    reply = "yes";
  json_t *body = json_pack("{s:s%, s:b, s:s}", "prompt", prompt, keep,
                           "arguments_in_decision", with != NULL, "answer",
                           reply);
  if (body == NULL ||
      mvm_audit_append(r->audit, r->result->run_id, kind, body, NULL, &e))
    mvm_log(MVM_LOG_ERROR, "audit", "cannot record the user's answer");
  json_decref(body);
}

static int user_show(void *self, const char *text, const mvm_label *label,
                     mvm_error *err)
{
  struct run *r = self;
  const mvm_user *u = r->hooks->user;
  if (u == NULL || u->ops->show == NULL)
    return MVM_OK;
  return u->ops->show(u->self, text, label, err);
}

static int user_ask(void *self, const char *prompt, char **answer,
                    mvm_error *err)
{
  struct run *r = self;
  const mvm_user *u = r->hooks->user;
  if (u == NULL || u->ops->ask == NULL)
    return mvm_error_set(err, MVM_EUNSUPPORTED, "user",
                         "no user is present to answer");
  return u->ops->ask(u->self, prompt, answer, err);
}

static int user_confirm(void *self, const char *prompt, bool *yes,
                        mvm_error *err)
{
  struct run *r = self;
  const mvm_user *u = r->hooks->user;
  bool answer = false;
  int rc;

  if (u == NULL || u->ops->confirm == NULL)
    rc = mvm_error_set(err, MVM_EUNSUPPORTED, "user",
                       "no user is present to confirm");
  else
    rc = u->ops->confirm(u->self, prompt, &answer, err);
  audit_answer(r, "confirmation", prompt, rc, answer);
  if (rc == MVM_OK)
    *yes = answer;
  return rc;
}

static const mvm_user_ops audited_user_ops = {
    .show = user_show,
    .ask = user_ask,
    .confirm = user_confirm,
};

/* ------------------------------------------------------------ the run */

static int start_run(struct run *r)
{
  json_t *info = json_pack(
      "{s:O?, s:o, s:O, s:s?, s:b}", "program", r->program_manifest,
      "settings", mvm_settings_to_json(&r->settings), "models", r->model_info,
      "policy", r->policy_path, "permissive", r->policy.permissive);
  if (info == NULL)
    return mvm_error_set(r->err, MVM_ENOMEM, "run", "out of memory");
  int rc = mvm_audit_append_run_start(r->audit, r->result->run_id, info,
                                      r->err);
  json_decref(info);
  return rc;
}

/* Forwards the VM's events to the host, and audits the calls the VM
 * rejected itself (rules "vm.*"). A model's call of a tool it was not
 * offered, or with arguments that are not a JSON object, never reaches
 * the monitor, so the guard would not see it. */
static void on_vm_event(void *ctx, const json_t *event)
{
  struct run *r = ctx;
  const char *rule = json_string_value(json_object_get(event, "rule"));

  if (rule != NULL && strncmp(rule, "vm.", 3) == 0 && r->audit != NULL) {
    mvm_label *context = NULL;
    mvm_error aerr;
    const json_t *label_json = json_object_get(event, "context_label");

    if (label_json != NULL &&
        mvm_label_from_json(label_json, &context, &aerr) != MVM_OK)
      mvm_log(MVM_LOG_ERROR, "audit", "cannot read a decision's label: %s",
              aerr.msg);
    mvm_effect e = {
        .kind = MVM_EFFECT_TOOL_CALL,
        .target = json_string_value(json_object_get(event, "target")),
        .context_label = context,
        .args_label = context,
    };
    mvm_decision d = {.verdict = MVM_VERDICT_DENY};
    snprintf(d.rule, sizeof d.rule, "%s", rule);
    snprintf(d.reason, sizeof d.reason, "%s",
             json_string_value(json_object_get(event, "reason")));
    if (mvm_audit_append_decision(r->audit, r->result->run_id, &e, &d,
                                  &aerr))
      mvm_log(MVM_LOG_ERROR, "audit", "cannot write a decision: %s",
              aerr.msg);
    mvm_label_unref(context);
    r->guard.denied++;
  }
  if (r->hooks->on_event != NULL)
    r->hooks->on_event(r->hooks->event_ctx, event);
}

static int execute(struct run *r)
{
  mvm_vm_limits limits = {.max_steps = r->opts->max_steps};
  mvm_label *label = NULL;

  mvm_vm_set_limits(r->vm, &limits);
  r->user.ops = &audited_user_ops;
  r->user.self = r;
  mvm_vm_set_user(r->vm, &r->user);
  mvm_vm_set_event_hook(r->vm, on_vm_event, r);

  int rc = mvm_vm_run(r->vm, r->opts->input, NULL, &r->result->answer,
                      &label, r->err);
  r->result->answer_label = label;
  if (rc == MVM_OK && mvm_guard_audit_error(&r->guard) != NULL) {
    *r->err = *mvm_guard_audit_error(&r->guard);
    rc = r->err->code;
  }
  if (rc && r->hooks->interrupted != NULL && *r->hooks->interrupted)
    rc = mvm_error_set(r->err, MVM_ECANCELLED, "run",
                       "interrupted; the audit log is complete up to this "
                       "point");
  return rc;
}

static void release(struct run *r)
{
  mvm_vm_free(r->vm);
  r->vm = NULL;
  for (size_t i = r->nboxes; i > 0; i--)
    mvm_wrap_toolbox_close(&r->boxes[i - 1]);
  for (size_t i = r->nmodels; i > 0; i--)
    mvm_wrap_model_close(&r->models[i - 1]);
  if (r->have_guard)
    mvm_guard_free(&r->guard);
  mvm_agent_policy_close(&r->policy);
  mvm_audit_close(r->audit);
  if (r->have_mcfg)
    mvm_model_config_free(&r->mcfg);
  mvm_model_meter_free(r->meter);
  json_decref(r->model_info);
  json_decref(r->tool_info);
  json_decref(r->program_manifest);
  mvm_program_free(r->program);
  mvm_diags_free(r->diags);
  mvm_settings_free(&r->settings);
}

int mvm_agent_run(const mvm_agent_options *opts, const mvm_agent_hooks *hooks,
                  mvm_agent_result *result)
{
  static const mvm_agent_hooks no_hooks;
  struct run r;
  int rc;

  memset(result, 0, sizeof *result);
  memset(&r, 0, sizeof r);
  r.opts = opts;
  r.hooks = hooks ? hooks : &no_hooks;
  r.result = result;
  r.err = &result->error;
  r.t0 = now_s();
  utc_now(r.started_at);
  mvm_run_id_new(result->run_id);
  mvm_error_clear(r.err);

  r.model_info = json_array();
  r.tool_info = json_array();
  if (r.model_info == NULL || r.tool_info == NULL) {
    rc = mvm_error_set(r.err, MVM_ENOMEM, "run", "out of memory");
    goto out;
  }

  rc = resolve_settings(&r);
  if (rc == MVM_OK)
    rc = load_program(&r);
  if (rc == MVM_OK)
    rc = open_audit(&r);
  if (rc == MVM_OK)
    rc = open_policy(&r);
  if (rc == MVM_OK)
    rc = open_models(&r);
  if (rc == MVM_OK)
    rc = open_tools(&r);
  if (rc == MVM_OK)
    rc = start_run(&r);
  if (rc == MVM_OK)
    rc = execute(&r);

  result->denied = r.guard.denied;
  if (r.have_guard)
    result->decisions = json_incref(r.guard.decisions);
  finish_audit(&r, rc);
  if (r.audit != NULL)
    write_manifest(&r, rc);

out:
  release(&r);
  result->status = rc;
  return rc;
}

void mvm_agent_result_free(mvm_agent_result *result)
{
  json_decref(result->answer);
  json_decref(result->decisions);
  mvm_label_unref(result->answer_label);
  free(result->diagnostics);
  result->answer = NULL;
  result->decisions = NULL;
  result->answer_label = NULL;
  result->diagnostics = NULL;
}
