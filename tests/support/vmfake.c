/* vmfake.c - small adapters for VM tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmfake.h"

/* ------------------------------------------------------------- model */

static int model_identity(void *self, json_t **out, mvm_error *err)
{
  vmfake_model *m = self;
  *out = json_incref(m->identity);
  return MVM_OK;
}

static int model_call(void *self, const json_t *request,
                      const mvm_model_stream *stream, json_t **reply,
                      mvm_error *err)
{
  vmfake_model *m = self;

  json_array_append_new(m->requests, json_deep_copy(request));
  if (m->fail_status)
    return mvm_error_set(err, m->fail_status, "fake", "scripted failure");
  if (m->next >= json_array_size(m->replies))
    return mvm_error_set(err, MVM_EMODEL, "fake", "no reply left");

  json_t *r = json_deep_copy(json_array_get(m->replies, m->next++));
  const char *text = json_string_value(json_object_get(r, "text"));
  if (stream != NULL && stream->on_text != NULL && text != NULL)
    stream->on_text(stream->ctx, text, strlen(text));
  *reply = r;
  return MVM_OK;
}

static void model_close(void *self)
{
}

static const mvm_model_ops model_ops = {"fake", model_identity, model_call,
                                        model_close};

void vmfake_model_init(vmfake_model *m, const char *replies_json)
{
  memset(m, 0, sizeof *m);
  m->replies = json_loads(replies_json, 0, NULL);
  if (!json_is_array(m->replies)) {
    fprintf(stderr, "vmfake: replies are not a JSON array: %s\n",
            replies_json);
    abort();
  }
  m->requests = json_array();
  m->identity = json_pack("{s:s,s:s,s:s}", "provider", "fake", "model",
                          "fake-1", "endpoint", "memory");
}

mvm_model vmfake_model_adapter(vmfake_model *m)
{
  mvm_model model = {&model_ops, m};
  return model;
}

void vmfake_model_free(vmfake_model *m)
{
  json_decref(m->replies);
  json_decref(m->requests);
  json_decref(m->identity);
  memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------- tools */

static int tools_list(void *self, json_t **out, mvm_error *err)
{
  vmfake_tools *t = self;
  t->list_calls++;
  *out = json_pack(
      "[{s:s,s:s,s:{s:s,s:{s:{s:s}}}},{s:s,s:s,s:{s:s}}]", "name", "echo",
      "description", "echo text", "inputSchema", "type", "object",
      "properties", "text", "type", "string", "name", "add", "description",
      "add numbers", "inputSchema", "type", "object");
  return MVM_OK;
}

static int tools_call(void *self, const char *name, const json_t *args,
                      const mvm_tool_call_opts *opts, json_t **result,
                      mvm_error *err)
{
  vmfake_tools *t = self;

  json_array_append_new(t->calls, json_pack("{s:s,s:O}", "name", name,
                                            "args", args));
  if (t->fail_status)
    return mvm_error_set(err, t->fail_status, "fake", "scripted failure");
  if (strcmp(name, "echo") == 0) {
    const char *text = json_string_value(json_object_get(args, "text"));
    *result = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text",
                        "text", text ? text : "", "isError", 0);
    return MVM_OK;
  }
  json_int_t a = json_integer_value(json_object_get(args, "a"));
  json_int_t b = json_integer_value(json_object_get(args, "b"));
  *result = json_pack("{s:[],s:{s:I},s:b}", "content", "structuredContent",
                      "sum", a + b, "isError", 0);
  return MVM_OK;
}

static void tools_close(void *self)
{
}

static const mvm_tool_ops tool_ops = {"fake", tools_list, tools_call,
                                      tools_close};

void vmfake_tools_init(vmfake_tools *t, const char *server)
{
  memset(t, 0, sizeof *t);
  t->server = server;
  t->calls = json_array();
}

mvm_toolbox vmfake_tools_adapter(vmfake_tools *t)
{
  mvm_toolbox box = {t->server, &tool_ops, t};
  return box;
}

void vmfake_tools_free(vmfake_tools *t)
{
  json_decref(t->calls);
  memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------- monitor */

static int monitor_check(void *self, const mvm_effect *e, mvm_decision *out,
                         mvm_error *err)
{
  vmfake_monitor *m = self;

  json_array_append_new(
      m->checks,
      json_pack("{s:s,s:s?,s:O?,s:o,s:o,s:O?,s:O?,s:I}", "effect",
                mvm_effect_name(e->kind), "target", e->target, "args",
                e->args, "args_label", mvm_label_to_json(e->args_label),
                "context_label", mvm_label_to_json(e->context_label),
                "detail", e->detail, "identity", e->identity, "narg_labels",
                (json_int_t)e->narg_labels));
  if (m->check_status)
    return mvm_error_set(err, m->check_status, "fake", "scripted failure");

  bool applies = m->deny_target == NULL ||
                 (e->target != NULL && strcmp(e->target, m->deny_target) == 0);
  out->verdict = applies ? m->verdict[e->kind] : MVM_VERDICT_ALLOW;
  snprintf(out->rule, sizeof out->rule, "fake:%s", mvm_effect_name(e->kind));
  snprintf(out->reason, sizeof out->reason, "scripted verdict for %s",
           e->target ? e->target : "-");
  return MVM_OK;
}

static int monitor_record(void *self, const mvm_effect *e,
                          const mvm_decision *d, const json_t *outcome,
                          mvm_error *err)
{
  vmfake_monitor *m = self;
  json_array_append_new(m->records,
                        json_pack("{s:s,s:s?,s:O?}", "effect",
                                  mvm_effect_name(e->kind), "target",
                                  e->target, "outcome", outcome));
  return MVM_OK;
}

static int monitor_result_label(void *self, const mvm_effect *call,
                                const json_t *result, mvm_label **out,
                                mvm_error *err)
{
  vmfake_monitor *m = self;
  if (m->result_source == NULL || m->result_source[0] == '\0') {
    *out = NULL;
    return MVM_OK;
  }
  *out = vmfake_source_label(m->result_source);
  return MVM_OK;
}

static const mvm_monitor_ops monitor_ops = {monitor_check, monitor_record,
                                            NULL, NULL};
static const mvm_monitor_ops monitor_ops_labels = {
    monitor_check, monitor_record, monitor_result_label, NULL};

void vmfake_monitor_init(vmfake_monitor *m)
{
  memset(m, 0, sizeof *m);
  m->checks = json_array();
  m->records = json_array();
}

mvm_monitor vmfake_monitor_adapter(vmfake_monitor *m)
{
  mvm_monitor mon = {m->with_result_label ? &monitor_ops_labels
                                          : &monitor_ops,
                     m};
  return mon;
}

void vmfake_monitor_free(vmfake_monitor *m)
{
  json_decref(m->checks);
  json_decref(m->records);
  memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------- user */

static int user_show(void *self, const char *text, const mvm_label *label,
                     mvm_error *err)
{
  vmfake_user *u = self;
  json_array_append_new(u->shown, json_string(text));
  return MVM_OK;
}

static int user_ask(void *self, const char *prompt, char **answer,
                    mvm_error *err)
{
  vmfake_user *u = self;
  json_array_append_new(u->prompts, json_string(prompt));
  if (u->answer == NULL)
    return mvm_error_set(err, MVM_EUNSUPPORTED, "fake", "no user");
  *answer = strdup(u->answer);
  return *answer ? MVM_OK : MVM_ENOMEM;
}

static int user_confirm(void *self, const char *prompt, bool *yes,
                        mvm_error *err)
{
  vmfake_user *u = self;
  json_array_append_new(u->prompts, json_string(prompt));
  if (u->confirm < 0)
    return mvm_error_set(err, MVM_EUNSUPPORTED, "fake", "no user");
  *yes = u->confirm == 1;
  return MVM_OK;
}

static const mvm_user_ops user_ops = {user_show, user_ask, user_confirm};

void vmfake_user_init(vmfake_user *u, const char *answer, int confirm)
{
  memset(u, 0, sizeof *u);
  u->answer = answer;
  u->confirm = confirm;
  u->prompts = json_array();
  u->shown = json_array();
}

mvm_user vmfake_user_adapter(vmfake_user *u)
{
  mvm_user user = {&user_ops, u};
  return user;
}

void vmfake_user_free(vmfake_user *u)
{
  json_decref(u->prompts);
  json_decref(u->shown);
  memset(u, 0, sizeof *u);
}

/* ------------------------------------------------------------- memory */

static int memory_get(void *self, const char *key, json_t **value,
                      mvm_label **label, mvm_error *err)
{
  vmfake_memory *m = self;
  json_t *entry = json_object_get(m->store, key);

  *value = NULL;
  *label = NULL;
  if (entry == NULL)
    return MVM_OK;
  int rc = mvm_label_from_json(json_object_get(entry, "label"), label, err);
  if (rc == MVM_OK)
    *value = json_incref(json_object_get(entry, "value"));
  return rc;
}

static int memory_put(void *self, const char *key, const json_t *value,
                      const mvm_label *label, mvm_error *err)
{
  vmfake_memory *m = self;
  m->puts++;
  json_object_set_new(m->store, key,
                      json_pack("{s:O,s:o}", "value", value, "label",
                                mvm_label_to_json(label)));
  return MVM_OK;
}

static const mvm_memory_ops memory_ops = {memory_get, memory_put};

void vmfake_memory_init(vmfake_memory *m)
{
  memset(m, 0, sizeof *m);
  m->store = json_object();
}

mvm_memory vmfake_memory_adapter(vmfake_memory *m)
{
  mvm_memory mem = {&memory_ops, m};
  return mem;
}

void vmfake_memory_free(vmfake_memory *m)
{
  json_decref(m->store);
  memset(m, 0, sizeof *m);
}

mvm_label *vmfake_source_label(const char *source)
{
  const char *sources[] = {source};
  mvm_label *l = NULL;
  if (mvm_label_new(sources, 1, NULL, 0, &l) != MVM_OK)
    abort();
  return l;
}
