/* fuzz_policy.c - the policy parser on arbitrary bytes, and explain on every
 * policy that parses.
 *
 * Each parsed policy decides a fixed set of effects of every kind. It also
 * decides a tool call and a model load aimed at each rule's own pattern, so
 * the argument checks, labels and pins of the rules the fuzzer wrote run.
 * When the input has a NUL byte, the bytes before it are the policy and
 * the bytes after it, if they are valid JSON, are effects explained too.
 * Besides crashes and sanitizer reports it checks one property: a policy
 * that parses also summarizes. Pins stay in memory: a policy parsed from
 * text has no lock file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "monitor/policy.h"
#include "monitor/policy_internal.h"

/* Arguments with one value of every JSON type and the usual names. */
static const char fixed_args[] =
    "{\"path\": \"/tmp/../etc/passwd\", \"url\": \"https://a.example.com:8/x\","
    " \"amount\": 5, \"to\": [\"a\", \"b\"], \"s\": \"text\", \"n\": null,"
    " \"b\": true, \"f\": 1.5, \"o\": {\"k\": [1, 2]}, \"x\": \"DE12\"}";

static const char fixed_effects[] =
    "[{\"effect\": \"model.load\", \"target\": \"m\", \"identity\":"
    "  {\"provider\": \"openai\", \"model\": \"gpt-4o\", \"endpoint\": \"e\"}},"
    " {\"effect\": \"model.call\", \"target\": \"m\", \"args_label\":"
    "  {\"integrity\": [\"web\"], \"readers\": [\"user\"]},"
    "  \"outcome\": {\"usage\": {\"input_tokens\": 5, \"output_tokens\": 7},"
    "  \"cost_usd\": 0.5}},"
    " {\"effect\": \"model.query\", \"target\": \"m\"},"
    " {\"effect\": \"tool.load\", \"target\": \"mail.send\", \"identity\":"
    "  {\"name\": \"send\", \"description\": \"d\", \"inputSchema\": {}}},"
    " {\"effect\": \"tool.load\", \"target\": \"evil.send\", \"identity\":"
    "  {\"name\": \"send\", \"description\": \"e\"}},"
    " {\"effect\": \"tool.call\", \"target\": \"mail.send\", \"args\":"
    "  {\"to\": \"bob\"}, \"context_label\": {\"integrity\": [\"web\"]},"
    "  \"arg_labels\": {\"to\": {\"integrity\": []}},"
    "  \"outcome\": {\"content\": [], \"structuredContent\": {\"a\": 1}}},"
    " {\"effect\": \"user.show\", \"target\": \"user\", \"args\": \"hi\"},"
    " {\"effect\": \"user.ask\", \"target\": \"user\", \"args\": \"q\"},"
    " {\"effect\": \"memory.write\", \"target\": \"notes.a\", \"args\": 1},"
    " {\"effect\": \"label.endorse\", \"args\": true, \"args_label\":"
    "  {\"integrity\": [\"email:inbound\"]}, \"detail\": {\"drop\":"
    "  [\"email:inbound\"], \"type\": \"bool\", \"origin\": {\"quarantined\":"
    "  {\"type\": \"bool\", \"model\": \"m\", \"valid\": true}}}},"
    " {\"effect\": \"label.declassify\", \"args\": \"x\", \"detail\":"
    "  {\"add_readers\": [\"openai\"]}}]";

static json_t *effects_template;
static json_t *args_template;

/* Turns a pattern into a name it matches: each '*' becomes "x". */
static json_t *name_for(const char *pattern)
{
  char buf[256];
  size_t n = 0;

  for (const char *p = pattern; *p != '\0' && n + 2 < sizeof buf; p++)
    buf[n++] = *p == '*' ? 'x' : *p;
  buf[n] = '\0';
  return json_string(buf);
}

static json_t *effects_for(const mvm_policy *p)
{
  json_t *list = json_deep_copy(effects_template);

  for (size_t i = 0; list != NULL && i < p->nrules && i < 32; i++) {
    const pol_rule *r = &p->rules[i];
    json_t *name = name_for(r->pattern);
    json_t *e = NULL;
    if (r->effects & EFF_TOOLS)
      e = json_pack("{s:s,s:o,s:O,s:{s:[s],s:[s]},s:{s:[]}}", "effect",
                    "tool.call", "target", name, "args", args_template,
                    "context_label", "integrity", "web", "readers", "user",
                    "outcome", "content");
    else if (r->effects & EFF_MODELS)
      e = json_pack("{s:s,s:s,s:{s:s,s:o}}", "effect", "model.load",
                    "target", "m2", "identity", "provider", "openai",
                    "model", name);
    else
      json_decref(name);
    if (e != NULL)
      json_array_append_new(list, e);
  }
  return list;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  effects_template = json_loads(fixed_effects, 0, NULL);
  args_template = json_loads(fixed_args, 0, NULL);
  if (effects_template == NULL || args_template == NULL)
    abort();
  mvm_log_set_level(MVM_LOG_ERROR + 1);
  return 0;
}

/* Explains effects the fuzzer wrote; only crashes and sanitizer reports
 * count, since malformed effects are an expected error. */
static void explain_given(mvm_policy *p, const char *text, size_t len)
{
  mvm_json_limits limits = {64 * 1024, 16};
  json_t *effects = NULL;
  json_t *out = NULL;
  mvm_error err;

  if (mvm_json_parse(text, len, &limits, "effects", &effects, &err))
    return;
  mvm_policy_explain(p, effects, NULL, &out, &err);
  json_decref(out);
  json_decref(effects);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  mvm_policy *p = NULL;
  json_t *summary = NULL;
  json_t *out = NULL;
  mvm_error err;
  const uint8_t *nul = memchr(data, 0, size);
  size_t policy_len = nul ? (size_t)(nul - data) : size;

  if (mvm_policy_parse((const char *)data, policy_len, "fuzz.policy", &p,
                       &err))
    return 0;
  if (nul != NULL)
    explain_given(p, (const char *)nul + 1, size - policy_len - 1);
  if (mvm_policy_summary(p, &summary, &err) != MVM_OK)
    abort();
  json_decref(summary);

  json_t *effects = effects_for(p);
  mvm_policy_monitor_config cfg;
  mvm_policy_monitor_config_init(&cfg);
  cfg.no_user = size % 2 == 0;
  if (effects != NULL &&
      mvm_policy_explain(p, effects, &cfg, &out, &err) == MVM_OK &&
      json_array_size(out) != json_array_size(effects))
    abort();
  json_decref(out);
  json_decref(effects);
  mvm_policy_free(p);
  return 0;
}
