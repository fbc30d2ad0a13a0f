/* test_spec.c - model specs, the config file, price tables and the usage
 * meter. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "models/config.h"
#include "models/price.h"
#include "models/spec.h"
#include "mvm.h"
#include "support.h"

static void spec_parses_each_form(void **state)
{
  mvm_model_spec s;
  mvm_error err;

  assert_int_equal(mvm_model_spec_parse("openai:gpt-4.1-mini", &s, &err),
                   MVM_OK);
  assert_int_equal(s.kind, MVM_MODEL_OPENAI);
  assert_string_equal(s.model, "gpt-4.1-mini");
  mvm_model_spec_free(&s);

  assert_int_equal(
      mvm_model_spec_parse("anthropic:claude-sonnet-4-5", &s, &err), MVM_OK);
  assert_int_equal(s.kind, MVM_MODEL_ANTHROPIC);
  assert_string_equal(s.model, "claude-sonnet-4-5");
  mvm_model_spec_free(&s);

  assert_int_equal(mvm_model_spec_parse(
                       "openai-compatible:http://127.0.0.1:8080/v1#qwen2.5",
                       &s, &err),
                   MVM_OK);
  assert_int_equal(s.kind, MVM_MODEL_COMPATIBLE);
  assert_string_equal(s.base_url, "http://127.0.0.1:8080/v1");
  assert_string_equal(s.model, "qwen2.5");
  mvm_model_spec_free(&s);

  assert_int_equal(mvm_model_spec_parse("replay:runs/a:b.json", &s, &err),
                   MVM_OK);
  assert_int_equal(s.kind, MVM_MODEL_REPLAY);
  assert_string_equal(s.path, "runs/a:b.json");
  assert_null(s.model);
  mvm_model_spec_free(&s);
}

static void spec_rejects_invalid_forms(void **state)
{
  static const char *const bad[][2] = {
      {"gpt-4.1-mini", "no 'kind:' prefix"},
      {"openia:gpt-4.1", "unknown kind"},
      {"openai:", "nothing follows"},
      {"openai-compatible:http://127.0.0.1:8080/v1", "needs URL#MODEL"},
      {"openai-compatible:http://127.0.0.1:8080/v1#", "needs URL#MODEL"},
      {"openai-compatible:127.0.0.1:8080#m", "must start with http://"},
  };
  mvm_model_spec s;
  mvm_error err;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(mvm_model_spec_parse(bad[i][0], &s, &err), MVM_EINVAL);
    if (strstr(err.msg, bad[i][1]) == NULL)
      fail_msg("'%s': '%s' lacks '%s'", bad[i][0], err.msg, bad[i][1]);
    assert_non_null(strstr(err.msg, bad[i][0]));
    assert_non_null(strstr(err.msg, MVM_MODEL_SPEC_FORMS));
  }
}

static void spec_opens_replay_with_meter(void **state)
{
  mvm_model_config cfg = {0};
  mvm_model_meter *meter = NULL;
  mvm_model m = {0};
  mvm_model_totals t;
  json_t *req = json_pack("{s[]}", "messages");
  json_t *reply = NULL;
  mvm_error err;
  char spec[600];

  assert_int_equal(mvm_model_meter_new(&meter), MVM_OK);
  cfg.meter = meter;
  snprintf(spec, sizeof spec, "replay:%s",
           mvm_test_path("tests/fixtures/models/replay/basic.json"));
  assert_int_equal(mvm_model_open_spec(spec, &cfg, &m, &err), MVM_OK);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err), MVM_OK);
    json_decref(reply);
  }
  m.ops->close(m.self);

  /* basic.json records 12+40 input and 7+11 output tokens; only its
   * second reply has a cost. */
  mvm_model_meter_totals(meter, &t);
  assert_int_equal(t.calls, 2);
  assert_int_equal(t.input_tokens, 52);
  assert_int_equal(t.output_tokens, 18);
  assert_true(t.cost_usd == 0.00025);
  assert_int_equal(t.unpriced_calls, 1);

  json_t *j = mvm_model_totals_to_json(&t);
  assert_int_equal(json_integer_value(json_object_get(j, "calls")), 2);
  assert_int_equal(json_integer_value(json_object_get(j, "unpriced_calls")),
                   1);
  assert_true(json_real_value(json_object_get(j, "cost_usd")) == 0.00025);
  json_decref(j);
  mvm_model_meter_free(meter);
  json_decref(req);
}

static void price_lookup_prefers_exact(void **state)
{
  mvm_price_table *t = NULL;
  mvm_error err;
  double in = 0;
  double out = 0;

  assert_int_equal(mvm_price_table_default(&t, &err), MVM_OK);
  assert_true(mvm_price_lookup(t, "openai", "gpt-4.1-mini", &in, &out));
  assert_true(in == 0.4);
  assert_true(out == 1.6);

  /* A dated id matches the longest listed prefix followed by '-'. */
  assert_true(
      mvm_price_lookup(t, "openai", "gpt-4.1-mini-2025-04-14", &in, &out));
  assert_true(in == 0.4);
  assert_true(mvm_price_lookup(t, "openai", "gpt-4.1-2025-04-14", &in, &out));
  assert_true(in == 2.0);
  assert_true(mvm_price_lookup(t, "anthropic", "claude-sonnet-4-5-20250929",
                               &in, &out));
  assert_true(in == 3.0);
  assert_true(out == 15.0);

  /* A prefix that does not end at '-' is another model. */
  assert_false(mvm_price_lookup(t, "openai", "gpt-4.1mini", &in, &out));
  assert_false(mvm_price_lookup(t, "openai", "gpt-5", &in, &out));
  assert_false(mvm_price_lookup(t, "anthropic", "gpt-4.1-mini", &in, &out));
  assert_false(
      mvm_price_lookup(t, "openai-compatible", "gpt-4.1-mini", &in, &out));
  assert_false(mvm_price_lookup(t, "openai", "", &in, &out));
  mvm_price_table_free(t);
}

static void price_apply_unknown_is_null(void **state)
{
  mvm_price_table *t = NULL;
  mvm_error err;
  json_t *priced = json_pack("{s{sisi}ss}", "usage", "input_tokens", 1000000,
                             "output_tokens", 500000, "model",
                             "gpt-4.1-mini-2025-04-14");
  json_t *unknown = json_pack("{s{sisi}ss}", "usage", "input_tokens", 10,
                              "output_tokens", 5, "model", "my-local-model");
  json_t *unreported = json_pack("{s{sisisb}ss}", "usage", "input_tokens", 0,
                                 "output_tokens", 0, "reported", 0, "model",
                                 "gpt-4.1-mini");

  assert_int_equal(mvm_price_table_default(&t, &err), MVM_OK);
  assert_int_equal(mvm_price_apply(t, "openai", "gpt-4.1-mini", priced),
                   MVM_OK);
  assert_true(fabs(json_real_value(json_object_get(priced, "cost_usd")) -
                   1.2) < 1e-12);

  assert_int_equal(mvm_price_apply(t, "openai", "also-unknown", unknown),
                   MVM_OK);
  assert_true(json_is_null(json_object_get(unknown, "cost_usd")));

  /* The fallback model prices a reply whose own model id is unknown. */
  assert_int_equal(mvm_price_apply(t, "openai", "gpt-4.1-mini", unknown),
                   MVM_OK);
  assert_true(json_is_real(json_object_get(unknown, "cost_usd")));

  assert_int_equal(mvm_price_apply(t, "openai", "gpt-4.1-mini", unreported),
                   MVM_OK);
  assert_true(json_is_null(json_object_get(unreported, "cost_usd")));
  assert_int_equal(mvm_price_apply(NULL, "openai", "gpt-4.1-mini", priced),
                   MVM_OK);
  assert_true(json_is_null(json_object_get(priced, "cost_usd")));

  json_decref(priced);
  json_decref(unknown);
  json_decref(unreported);
  mvm_price_table_free(t);
}

static void price_table_rejects_bad_entries(void **state)
{
  static const char *const bad[][2] = {
      {"{\"prices\": {}}", "\"format\": \"mvm-prices/1\""},
      {"{\"format\": \"mvm-prices/1\", \"prices\": []}", "must be an object"},
      {"{\"format\": \"mvm-prices/1\", \"prices\": {\"gpt-4\": "
       "{\"input_per_mtok\": 1, \"output_per_mtok\": 1}}}",
       "key 'gpt-4' must be \"provider:model\""},
      {"{\"format\": \"mvm-prices/1\", \"prices\": {\"openai:x\": "
       "{\"input_per_mtok\": -1, \"output_per_mtok\": 1}}}",
       "'openai:x' must be an object with input_per_mtok"},
      {"{\"format\": \"mvm-prices/1\", \"prices\": {\"openai:x\": "
       "{\"input_per_mtok\": 1}}}",
       "'openai:x' must be an object with input_per_mtok"},
  };
  mvm_price_table *t = NULL;
  mvm_error err;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_t *doc = json_loads(bad[i][0], 0, NULL);
    assert_non_null(doc);
    assert_int_equal(mvm_price_table_parse(doc, "prices.json", &t, &err),
                     MVM_ECONFIG);
    if (strstr(err.msg, bad[i][1]) == NULL)
      fail_msg("'%s' lacks '%s'", err.msg, bad[i][1]);
    json_decref(doc);
  }
}

static char *write_temp(const char *dir, const char *name, const char *text)
{
  char *path = NULL;
  assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void config_file_sets_every_key(void **state)
{
  char dir[] = "/tmp/mvm-test-spec-XXXXXX";
  mvm_model_config cfg;
  mvm_error err;
  double in = 0;
  double out = 0;

  assert_non_null(mkdtemp(dir));
  char *prices = write_temp(dir, "prices.json",
                            "{\"format\": \"mvm-prices/1\", \"prices\": "
                            "{\"openai-compatible:qwen2.5\": "
                            "{\"input_per_mtok\": 0, \"output_per_mtok\": 0}}}");
  char *path = write_temp(
      dir, "models.json",
      "{\"openai\": {\"base_url\": \"http://127.0.0.1:9/v1\", "
      "\"api_key\": \"sk-a\"},\n"
      " \"anthropic\": {\"base_url\": \"http://127.0.0.1:9/v1\"},\n"
      " \"openai-compatible\": {\"api_key\": \"local\"},\n"
      " \"connect_timeout_s\": 3, \"timeout_s\": 60, \"stream\": false,\n"
      " \"retry\": {\"max_attempts\": 6, \"base_delay_s\": 0.25, "
      "\"max_delay_s\": 8},\n"
      " \"limits\": {\"max_response_bytes\": 2048, \"max_event_bytes\": 512, "
      "\"max_tool_calls\": 4},\n"
      " \"max_tokens\": 1000, \"prices\": \"prices.json\"}\n");

  assert_int_equal(mvm_model_config_load(path, &cfg, &err), MVM_OK);
  assert_string_equal(cfg.openai.base_url, "http://127.0.0.1:9/v1");
  assert_string_equal(cfg.openai.api_key, "sk-a");
  assert_string_equal(cfg.anthropic.base_url, "http://127.0.0.1:9/v1");
  assert_null(cfg.anthropic.api_key);
  assert_string_equal(cfg.compatible.api_key, "local");
  assert_true(cfg.connect_timeout_s == 3);
  assert_true(cfg.timeout_s == 60);
  assert_true(cfg.no_stream);
  assert_int_equal(cfg.max_attempts, 6);
  assert_true(cfg.retry_base_s == 0.25);
  assert_true(cfg.retry_max_s == 8);
  assert_int_equal(cfg.max_response_bytes, 2048);
  assert_int_equal(cfg.max_event_bytes, 512);
  assert_int_equal(cfg.max_tool_calls, 4);
  assert_int_equal(cfg.default_max_tokens, 1000);
  assert_true(mvm_price_lookup(cfg.prices, "openai-compatible", "qwen2.5",
                               &in, &out));
  assert_false(mvm_price_lookup(cfg.prices, "openai", "gpt-4.1-mini", &in,
                                &out));
  mvm_model_config_free(&cfg);

  unlink(path);
  unlink(prices);
  rmdir(dir);
  free(path);
  free(prices);
}

static void config_file_rejects_unknown_keys(void **state)
{
  static const char *const bad[][2] = {
      {"{\"timeout\": 3}", "unknown key 'timeout'"},
      {"{\"openai\": {\"url\": \"x\"}}", "unknown key 'url' in openai"},
      {"{\"openai-compatible\": {\"base_url\": \"http://x\"}}",
       "unknown key 'base_url' in openai-compatible"},
      {"{\"retry\": {\"max_attempts\": 0}}", "'max_attempts' must be a "
                                             "number from 1 to 100"},
      {"{\"stream\": \"yes\"}", "'stream' must be true or false"},
      {"{\"limits\": {\"max_event_bytes\": 1}}", "'max_event_bytes' must be"},
      {"{\"prices\": 3}", "'prices' must be a file name"},
      {"{\"prices\": \"missing-prices.json\"}", "missing-prices.json"},
      {"[]", "must contain a JSON object"},
  };
  char dir[] = "/tmp/mvm-test-spec-XXXXXX";
  mvm_model_config cfg;
  mvm_error err;

  assert_non_null(mkdtemp(dir));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *path = write_temp(dir, "models.json", bad[i][0]);
    int rc = mvm_model_config_load(path, &cfg, &err);
    assert_int_not_equal(rc, MVM_OK);
    if (strstr(err.msg, bad[i][1]) == NULL)
      fail_msg("'%s': '%s' lacks '%s'", bad[i][0], err.msg, bad[i][1]);
    unlink(path);
    free(path);
  }
  rmdir(dir);
}

static void settings_fill_defaults(void **state)
{
  mvm_model_settings s;
  mvm_model_config cfg = {0};

  mvm_model_settings_from(NULL, &s);
  assert_true(s.connect_timeout_s == MVM_MODEL_DEFAULT_CONNECT_TIMEOUT_S);
  assert_true(s.timeout_s == MVM_MODEL_DEFAULT_TIMEOUT_S);
  assert_int_equal(s.max_attempts, MVM_MODEL_DEFAULT_MAX_ATTEMPTS);
  assert_true(s.stream);
  assert_int_equal(s.max_tool_calls, MVM_MODEL_DEFAULT_MAX_TOOL_CALLS);
  assert_null(s.prices);

  cfg.max_attempts = 1;
  cfg.no_stream = true;
  mvm_model_settings_from(&cfg, &s);
  assert_int_equal(s.max_attempts, 1);
  assert_false(s.stream);

  mvm_error err;
  assert_int_equal(mvm_model_config_defaults(&cfg, &err), MVM_OK);
  assert_non_null(cfg.prices);
  mvm_model_config_free(&cfg);
  assert_null(cfg.prices);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(spec_parses_each_form),
      cmocka_unit_test(spec_rejects_invalid_forms),
      cmocka_unit_test(spec_opens_replay_with_meter),
      cmocka_unit_test(price_lookup_prefers_exact),
      cmocka_unit_test(price_apply_unknown_is_null),
      cmocka_unit_test(price_table_rejects_bad_entries),
      cmocka_unit_test(config_file_sets_every_key),
      cmocka_unit_test(config_file_rejects_unknown_keys),
      cmocka_unit_test(settings_fill_defaults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
