/* test_adapters.c - the OpenAI, Anthropic and OpenAI-compatible adapters
 * against the mock provider, one case per file in
 * tests/fixtures/models/cases. Each case queues wire responses from
 * tests/fixtures/models/wire, makes one call, and checks the requests the
 * adapter sent (method, path, headers, JSON body) and the reply or error
 * it returned. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/json.h"
#include "mock_provider.h"
#include "models/spec.h"
#include "mvm.h"
#include "support.h"

#define OPENAI_KEY "sk-test-openai-0123456789abcdef"
#define ANTHROPIC_KEY "sk-ant-test-0123456789abcdef"

static mvm_mock_provider *mock;
static mvm_buf log_lines;

static void capture_log(void *ctx, int level, const char *where,
                        const char *line)
{
  mvm_buf_printf(&log_lines, "%s: %s\n", where, line);
}

struct text_sink {
  mvm_buf text;
  int fragments;
};

static void on_text(void *ctx, const char *text, size_t len)
{
  struct text_sink *t = ctx;
  assert_int_equal(mvm_buf_append(&t->text, text, len), MVM_OK);
  t->fragments++;
}

static void fill_config(const json_t *c, mvm_model_config *cfg,
                        char *base, size_t size)
{
  const json_t *stream = json_object_get(c, "stream");

  snprintf(base, size, "%s/v1", mvm_mock_url(mock));
  cfg->openai.base_url = base;
  cfg->openai.api_key = OPENAI_KEY;
  cfg->anthropic.base_url = base;
  cfg->anthropic.api_key = ANTHROPIC_KEY;
  cfg->connect_timeout_s = 5;
  cfg->timeout_s = 20;
  cfg->retry_base_s = 0.01;
  cfg->retry_max_s = 1;
  cfg->no_stream = json_is_false(stream);
  cfg->max_attempts = (int)json_integer_value(
      json_object_get(c, "max_attempts"));
  cfg->max_tool_calls = (size_t)json_integer_value(
      json_object_get(c, "max_tool_calls"));
  cfg->max_response_bytes = (size_t)json_integer_value(
      json_object_get(c, "max_response_bytes"));
  cfg->max_event_bytes = (size_t)json_integer_value(
      json_object_get(c, "max_event_bytes"));
}

static void queue_responses(const json_t *responses)
{
  size_t i;
  const json_t *r;

  json_array_foreach(responses, i, r) {
    char path[512];
    mvm_mock_response opts = {0};

    snprintf(path, sizeof path, "tests/fixtures/models/wire/%s",
             json_string_value(json_object_get(r, "body_file")));
    opts.headers = json_string_value(json_object_get(r, "headers"));
    opts.chunk_bytes =
        (size_t)json_integer_value(json_object_get(r, "chunk_bytes"));
    opts.chunk_delay_ms =
        (int)json_integer_value(json_object_get(r, "chunk_delay_ms"));
    opts.cut_after =
        (size_t)json_integer_value(json_object_get(r, "cut_after"));
    assert_int_equal(
        mvm_mock_push_file(
            mock, (int)json_integer_value(json_object_get(r, "status")),
            json_string_value(json_object_get(r, "content_type")),
            mvm_test_path(path), &opts),
        0);
  }
}

static void check_request(const char *name, size_t i, const json_t *want)
{
  const mvm_mock_request *got = mvm_mock_request_at(mock, i);
  const char *key;
  json_t *value;
  json_t *body = NULL;
  mvm_error err;

  assert_non_null(got);
  assert_string_equal(got->method,
                      json_string_value(json_object_get(want, "method")));
  assert_string_equal(got->path,
                      json_string_value(json_object_get(want, "path")));

  json_object_foreach(json_object_get(want, "headers"), key, value) {
    const char *have = json_string_value(json_object_get(got->headers, key));
    if (have == NULL || strcmp(have, json_string_value(value)) != 0)
      fail_msg("case %s request %zu: header %s is '%s', expected '%s'", name,
               i, key, have ? have : "(missing)", json_string_value(value));
  }
  size_t k;
  json_array_foreach(json_object_get(want, "absent_headers"), k, value) {
    if (json_object_get(got->headers, json_string_value(value)) != NULL)
      fail_msg("case %s request %zu: header %s should be absent", name, i,
               json_string_value(value));
  }

  assert_int_equal(mvm_json_parse(got->body, got->body_len, NULL,
                                  "request body", &body, &err),
                   MVM_OK);
  if (!json_equal(body, json_object_get(want, "body"))) {
    char *a = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT);
    char *b = json_dumps(json_object_get(want, "body"),
                         JSON_SORT_KEYS | JSON_COMPACT);
    fail_msg("case %s request %zu body:\n got  %s\n want %s", name, i, a, b);
  }
  json_decref(body);
}

/* Replaces "arguments_error": "*" in want with the value in got, so a
 * case only requires that the field is a non-empty string. */
static void accept_any_arguments_error(json_t *want, const json_t *got)
{
  size_t i;
  json_t *call;

  json_array_foreach(json_object_get(want, "tool_calls"), i, call) {
    const json_t *e = json_object_get(call, "arguments_error");
    if (!json_is_string(e) || strcmp(json_string_value(e), "*") != 0)
      continue;
    const json_t *have = json_object_get(
        json_array_get(json_object_get(got, "tool_calls"), i),
        "arguments_error");
    assert_true(json_is_string(have));
    assert_true(json_string_length(have) > 0);
    json_object_set(call, "arguments_error", (json_t *)have);
  }
}

static void check_reply(const char *name, const json_t *want_in,
                        const json_t *got)
{
  json_t *want = json_deep_copy(want_in);
  json_t *have = json_deep_copy(got);
  const json_t *want_cost = json_object_get(want, "cost_usd");
  const json_t *have_cost = json_object_get(have, "cost_usd");

  accept_any_arguments_error(want, have);
  if (json_is_number(want_cost)) {
    if (!json_is_number(have_cost))
      fail_msg("case %s: cost_usd is not a number", name);
    double a = json_number_value(want_cost);
    double b = json_number_value(have_cost);
    if (fabs(a - b) > 1e-12 + 1e-9 * fabs(a))
      fail_msg("case %s: cost_usd %.12g, expected %.12g", name, b, a);
    json_object_del(want, "cost_usd");
    json_object_del(have, "cost_usd");
  }
  if (!json_equal(want, have)) {
    char *a = json_dumps(have, JSON_SORT_KEYS | JSON_COMPACT);
    char *b = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
    fail_msg("case %s reply:\n got  %s\n want %s", name, a, b);
  }
  json_decref(want);
  json_decref(have);
}

static void check_error(const char *name, const json_t *want, int rc,
                        const mvm_error *err)
{
  const char *code = json_string_value(json_object_get(want, "code"));
  const char *where = json_string_value(json_object_get(want, "where"));
  size_t i;
  const json_t *part;

  if (strcmp(mvm_status_name(rc), code) != 0)
    fail_msg("case %s: status %s (%s), expected %s", name,
             mvm_status_name(rc), err->msg, code);
  if (where != NULL && strcmp(err->where, where) != 0)
    fail_msg("case %s: error from '%s', expected '%s'", name, err->where,
             where);
  json_array_foreach(json_object_get(want, "contains"), i, part) {
    if (strstr(err->msg, json_string_value(part)) == NULL)
      fail_msg("case %s: error '%s' lacks '%s'", name, err->msg,
               json_string_value(part));
  }
  json_array_foreach(json_object_get(want, "excludes"), i, part) {
    if (strstr(err->msg, json_string_value(part)) != NULL)
      fail_msg("case %s: error '%s' contains '%s'", name, err->msg,
               json_string_value(part));
  }
}

static void check_meter(const char *name, mvm_model_meter *meter,
                        const json_t *reply)
{
  mvm_model_totals t;
  const json_t *usage = json_object_get(reply, "usage");

  mvm_model_meter_totals(meter, &t);
  if (reply == NULL) {
    assert_int_equal(t.calls, 0);
    return;
  }
  assert_int_equal(t.calls, 1);
  assert_int_equal(t.input_tokens,
                   json_integer_value(json_object_get(usage, "input_tokens")));
  assert_int_equal(t.output_tokens, json_integer_value(json_object_get(
                                        usage, "output_tokens")));
  if (json_is_null(json_object_get(reply, "cost_usd")))
    assert_int_equal(t.unpriced_calls, 1);
  else
    assert_true(t.cost_usd > 0);
  (void)name;
}

static char *spec_text(const char *spec)
{
  const char *at = strstr(spec, "{BASE}");
  char *out = NULL;

  if (at == NULL)
    return strdup(spec);
  assert_true(asprintf(&out, "%.*s%s%s", (int)(at - spec), spec,
                       mvm_mock_url(mock), at + 6) > 0);
  return out;
}

static void run_case(const char *name, const json_t *c,
                     const mvm_price_table *prices)
{
  mvm_model_config cfg = {0};
  mvm_model_meter *meter = NULL;
  mvm_model model = {0};
  struct text_sink sink = {0};
  mvm_model_stream stream = {on_text, NULL, &sink};
  json_t *reply = NULL;
  mvm_error err;
  char base[128];
  size_t i;
  const json_t *v;

  mvm_mock_reset(mock);
  mvm_buf_reset(&log_lines);
  mvm_buf_init(&sink.text, 0);
  assert_int_equal(mvm_model_meter_new(&meter), MVM_OK);
  fill_config(json_object_get(c, "config"), &cfg, base, sizeof base);
  cfg.prices = prices;
  cfg.meter = meter;
  queue_responses(json_object_get(c, "responses"));

  char *spec = spec_text(json_string_value(json_object_get(c, "spec")));
  if (mvm_model_open_spec(spec, &cfg, &model, &err) != MVM_OK)
    fail_msg("case %s: open: %s", name, err.msg);
  int rc = model.ops->call(model.self, json_object_get(c, "request"),
                           &stream, &reply, &err);

  const json_t *want_requests = json_object_get(c, "expect_requests");
  if (mvm_mock_request_count(mock) != json_array_size(want_requests))
    fail_msg("case %s: %zu requests, expected %zu (%s)", name,
             mvm_mock_request_count(mock), json_array_size(want_requests),
             rc ? err.msg : "ok");
  json_array_foreach(want_requests, i, v)
    check_request(name, i, v);

  if (json_object_get(c, "expect_error") != NULL) {
    check_error(name, json_object_get(c, "expect_error"), rc, &err);
    assert_null(reply);
  } else {
    if (rc != MVM_OK)
      fail_msg("case %s: %s: %s", name, mvm_status_name(rc), err.msg);
    check_reply(name, json_object_get(c, "expect_reply"), reply);
  }
  check_meter(name, meter, reply);

  const char *text = json_string_value(json_object_get(c, "expect_text"));
  if (text != NULL &&
      strcmp(sink.text.data ? sink.text.data : "", text) != 0)
    fail_msg("case %s: streamed text '%s', expected '%s'", name,
             sink.text.data ? sink.text.data : "", text);
  const json_t *fragments = json_object_get(c, "expect_fragments");
  if (fragments != NULL)
    assert_int_equal(sink.fragments, json_integer_value(fragments));

  json_array_foreach(json_object_get(c, "expect_log"), i, v) {
    if (log_lines.data == NULL ||
        strstr(log_lines.data, json_string_value(v)) == NULL)
      fail_msg("case %s: log lacks '%s'; log:\n%s", name,
               json_string_value(v), log_lines.data ? log_lines.data : "");
  }

  /* No key reaches a log or trace line, whatever the case did. */
  if (log_lines.data != NULL) {
    assert_null(strstr(log_lines.data, OPENAI_KEY));
    assert_null(strstr(log_lines.data, ANTHROPIC_KEY));
  }
  assert_null(strstr(err.msg, OPENAI_KEY));
  assert_null(strstr(err.msg, ANTHROPIC_KEY));

  json_decref(reply);
  model.ops->close(model.self);
  mvm_model_meter_free(meter);
  mvm_buf_free(&sink.text);
  free(spec);
}

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void adapters_fixture_cases(void **state)
{
  /* mvm_test_path returns a static buffer that later calls reuse. */
  char *dir_path = strdup(mvm_test_path("tests/fixtures/models/cases"));
  DIR *dir = opendir(dir_path);
  struct dirent *de;
  char *names[256];
  size_t count = 0;
  mvm_price_table *prices = NULL;
  mvm_error err;

  assert_non_null(dir);
  while ((de = readdir(dir)) != NULL && count < 256) {
    size_t len = strlen(de->d_name);
    if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0)
      names[count++] = strdup(de->d_name);
  }
  closedir(dir);
  qsort(names, count, sizeof names[0], compare_names);
  assert_true(count >= 30);

  assert_int_equal(mvm_price_table_default(&prices, &err), MVM_OK);
  for (size_t i = 0; i < count; i++) {
    char path[600];
    json_t *c = NULL;

    snprintf(path, sizeof path, "%s/%s", dir_path, names[i]);
    if (mvm_json_load_file(path, NULL, &c, &err) != MVM_OK)
      fail_msg("%s: %s", names[i], err.msg);
    print_message("case %s\n", names[i]);
    run_case(names[i], c, prices);
    json_decref(c);
    free(names[i]);
  }
  mvm_price_table_free(prices);
  free(dir_path);
}

static int setup(void **state)
{
  mock = mvm_mock_start();
  if (mock == NULL)
    return -1;
  mvm_buf_init(&log_lines, 0);
  mvm_log_set_sink(capture_log, NULL);
  mvm_log_set_level(MVM_LOG_TRACE);
  mvm_trace_set(UINT32_MAX);
  return 0;
}

static int teardown(void **state)
{
  mvm_log_set_sink(NULL, NULL);
  mvm_trace_set(0);
  mvm_mock_stop(mock);
  mvm_buf_free(&log_lines);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(adapters_fixture_cases),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
