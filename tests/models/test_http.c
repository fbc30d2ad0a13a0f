/* test_http.c - the adapters' HTTP machinery: Retry-After, backoff,
 * cancellation, timeouts, refused connections, redirects, keys from the
 * environment and tracing, against the mock provider. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "mock_provider.h"
#include "models/http.h"
#include "models/openai.h"
#include "models/spec.h"
#include "mvm.h"
#include "support.h"

#define KEY "sk-test-http-0123456789abcdef"
#define WIRE(name) mvm_test_path("tests/fixtures/models/wire/" name)

static mvm_mock_provider *mock;
static mvm_buf log_lines;
static bool cancel_on_retry;

static void capture_log(void *ctx, int level, const char *where,
                        const char *line)
{
  mvm_buf_printf(&log_lines, "%s: %s\n", where, line);
  if (strstr(line, "retrying in") != NULL)
    cancel_on_retry = true;
}

static json_t *simple_request(void)
{
  json_t *req = json_pack("{s[{ssss}]}", "messages", "role", "user",
                          "content", "Say hello.");
  assert_non_null(req);
  return req;
}

static void base_config(mvm_model_config *cfg, char *base, size_t size)
{
  memset(cfg, 0, sizeof *cfg);
  snprintf(base, size, "%s/v1", mvm_mock_url(mock));
  cfg->openai.base_url = base;
  cfg->openai.api_key = KEY;
  cfg->connect_timeout_s = 5;
  cfg->timeout_s = 20;
  cfg->retry_base_s = 0.01;
  cfg->retry_max_s = 2;
}

static void reset(void)
{
  mvm_mock_reset(mock);
  mvm_buf_reset(&log_lines);
  cancel_on_retry = false;
}

static void retry_after_seconds(void **state)
{
  double s = -1;

  assert_true(mvm_http_parse_retry_after("120", 0, &s));
  assert_true(s == 120);
  assert_true(mvm_http_parse_retry_after("  5 ", 0, &s));
  assert_true(s == 5);
  assert_true(mvm_http_parse_retry_after("0", 0, &s));
  assert_true(s == 0);
  assert_false(mvm_http_parse_retry_after("", 0, &s));
  assert_false(mvm_http_parse_retry_after("soon", 0, &s));
  assert_false(mvm_http_parse_retry_after("-1", 0, &s));
  assert_false(mvm_http_parse_retry_after("1.5", 0, &s));
}

static void retry_after_http_date(void **state)
{
  /* Wed, 21 Oct 2015 07:28:00 GMT is 1445412480 seconds after the epoch. */
  const time_t when = 1445412480;
  double s = -1;

  assert_true(mvm_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
                                         when - 30, &s));
  assert_true(s == 30);
  assert_true(mvm_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
                                         when + 600, &s));
  assert_true(s == 0);
  assert_false(mvm_http_parse_retry_after("Wed, 99 Foo 2015 07:28:00 GMT",
                                          when, &s));
}

static void backoff_full_jitter(void **state)
{
  assert_true(mvm_http_backoff(0.5, 30, 1, 0.0) == 0.0);
  assert_true(mvm_http_backoff(0.5, 30, 1, 0.5) == 0.25);
  assert_true(mvm_http_backoff(0.5, 30, 2, 0.5) == 0.5);
  assert_true(mvm_http_backoff(0.5, 30, 3, 0.5) == 1.0);
  /* The ceiling stops at max_s, even for huge retry numbers. */
  assert_true(mvm_http_backoff(0.5, 30, 10, 0.5) == 15.0);
  assert_true(mvm_http_backoff(0.5, 30, 5000, 0.5) == 15.0);
}

static void retryable_statuses(void **state)
{
  const long yes[] = {429, 500, 502, 503, 504};
  const long no[] = {200, 400, 401, 403, 404, 409, 501, 529};

  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
    assert_true(mvm_http_status_retryable(yes[i]));
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    assert_false(mvm_http_status_retryable(no[i]));
}

struct cancel_ctx {
  int fragments;
  bool cancel_after_first;
};

static void count_text(void *ctx, const char *text, size_t len)
{
  struct cancel_ctx *c = ctx;
  c->fragments++;
}

static bool cancel_after_text(void *ctx)
{
  struct cancel_ctx *c = ctx;
  return c->cancel_after_first && c->fragments > 0;
}

static bool cancel_when_retrying(void *ctx)
{
  return cancel_on_retry;
}

static void cancel_mid_stream(void **state)
{
  mvm_model_config cfg;
  mvm_model m = {0};
  char base[128];
  json_t *req = simple_request();
  json_t *reply = NULL;
  mvm_error err;
  struct cancel_ctx c = {.cancel_after_first = true};
  mvm_model_stream stream = {count_text, cancel_after_text, &c};
  mvm_mock_response opts = {.chunk_bytes = 64, .chunk_delay_ms = 50};

  reset();
  base_config(&cfg, base, sizeof base);
  assert_int_equal(mvm_mock_push_file(mock, 200, "text/event-stream",
                                      WIRE("openai_stream_text.sse"), &opts),
                   0);
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err), MVM_OK);
  assert_int_equal(m.ops->call(m.self, req, &stream, &reply, &err),
                   MVM_ECANCELLED);
  assert_null(reply);
  assert_int_equal(c.fragments, 1);
  assert_int_equal(mvm_mock_request_count(mock), 1);
  assert_string_equal(err.msg, "the model call was cancelled");
  m.ops->close(m.self);
  json_decref(req);
}

static void cancel_during_backoff(void **state)
{
  mvm_model_config cfg;
  mvm_model m = {0};
  char base[128];
  json_t *req = simple_request();
  json_t *reply = NULL;
  mvm_error err;
  mvm_model_stream stream = {NULL, cancel_when_retrying, NULL};
  mvm_mock_response opts = {.headers = "Retry-After: 2"};

  reset();
  base_config(&cfg, base, sizeof base);
  cfg.no_stream = true;
  assert_int_equal(mvm_mock_push_file(mock, 429, NULL,
                                      WIRE("openai_error_429.json"), &opts),
                   0);
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err), MVM_OK);
  assert_int_equal(m.ops->call(m.self, req, &stream, &reply, &err),
                   MVM_ECANCELLED);
  assert_int_equal(mvm_mock_request_count(mock), 1);
  assert_non_null(strstr(log_lines.data, "retrying in 2.00 s"));
  m.ops->close(m.self);
  json_decref(req);
}

static void timeout_retried_then_fails(void **state)
{
  mvm_model_config cfg;
  mvm_model m = {0};
  char base[128];
  json_t *req = simple_request();
  json_t *reply = NULL;
  mvm_error err;
  mvm_mock_response slow = {.delay_ms = 1500};

  reset();
  base_config(&cfg, base, sizeof base);
  cfg.no_stream = true;
  cfg.timeout_s = 0.3;
  cfg.max_attempts = 2;
  for (int i = 0; i < 2; i++)
    assert_int_equal(mvm_mock_push_file(mock, 200, NULL,
                                        WIRE("openai_text.json"), &slow),
                     0);
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err), MVM_OK);
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err),
                   MVM_ETIMEOUT);
  assert_non_null(strstr(err.msg, "timed out"));
  assert_non_null(strstr(err.msg, "raise timeout_s"));
  assert_non_null(strstr(log_lines.data, "attempt 1 of 2 failed"));
  assert_int_equal(mvm_mock_request_count(mock), 2);
  m.ops->close(m.self);
  json_decref(req);
}

/* A stream that stops sending ends with MVM_ETIMEOUT long before the
 * total timeout, and the message names the setting to raise. */
static void idle_stream_times_out(void **state)
{
  mvm_model_config cfg;
  mvm_model m = {0};
  char base[128];
  json_t *req = simple_request();
  json_t *reply = NULL;
  mvm_error err;
  mvm_mock_response stalled = {.chunk_bytes = 64, .chunk_delay_ms = 4000};

  reset();
  base_config(&cfg, base, sizeof base);
  cfg.idle_timeout_s = 0.5;
  cfg.max_attempts = 1;
  assert_int_equal(mvm_mock_push_file(mock, 200, "text/event-stream",
                                      WIRE("openai_stream_text.sse"),
                                      &stalled),
                   0);
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err), MVM_OK);
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err),
                   MVM_ETIMEOUT);
  assert_null(reply);
  assert_non_null(strstr(err.msg, "sent nothing for 0.5 s"));
  assert_non_null(strstr(err.msg, "raise idle_timeout_s"));
  assert_int_equal(mvm_mock_request_count(mock), 1);
  m.ops->close(m.self);
  json_decref(req);
}

/* Returns a loopback port with nothing listening on it. */
static int closed_port(void)
{
  struct sockaddr_in addr = {0};
  socklen_t len = sizeof addr;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  assert_true(fd >= 0);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

static void connection_refused_retried(void **state)
{
  mvm_model_config cfg;
  mvm_model m = {0};
  char base[128];
  json_t *req = simple_request();
  json_t *reply = NULL;
  mvm_error err;

  reset();
  base_config(&cfg, base, sizeof base);
  snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", closed_port());
  cfg.max_attempts = 3;
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err), MVM_OK);
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err),
                   MVM_EMODEL);
  assert_non_null(strstr(err.msg, "failed"));
  assert_non_null(strstr(err.msg, "check the base URL"));
  assert_non_null(strstr(log_lines.data, "attempt 1 of 3 failed"));
  assert_non_null(strstr(log_lines.data, "attempt 2 of 3 failed"));
  assert_null(strstr(log_lines.data, "attempt 3 of 3 failed"));
  m.ops->close(m.self);
  json_decref(req);
}

static void redirect_not_followed(void **state)
{
  mvm_model_config cfg;
  mvm_model m = {0};
  char base[128];
  char location[200];
  json_t *req = simple_request();
  json_t *reply = NULL;
  mvm_error err;

  reset();
  base_config(&cfg, base, sizeof base);
  snprintf(location, sizeof location, "Location: %s/elsewhere",
           mvm_mock_url(mock));
  mvm_mock_response redirect = {.status = 307, .headers = location,
                                .body = ""};
  assert_int_equal(mvm_mock_push(mock, &redirect), 0);
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err), MVM_OK);
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err),
                   MVM_EMODEL);
  assert_non_null(strstr(err.msg, "HTTP 307"));
  assert_int_equal(mvm_mock_request_count(mock), 1);
  m.ops->close(m.self);
  json_decref(req);
}

static void keys_from_environment(void **state)
{
  mvm_model m = {0};
  char base[128];
  json_t *req = simple_request();
  json_t *reply = NULL;
  mvm_error err;

  reset();
  snprintf(base, sizeof base, "%s/v1", mvm_mock_url(mock));
  setenv("OPENAI_BASE_URL", base, 1);
  setenv("OPENAI_API_KEY", "sk-from-env-0123456789", 1);
  assert_int_equal(mvm_mock_push_file(mock, 200, "text/event-stream",
                                      WIRE("openai_stream_text.sse"), NULL),
                   0);
  assert_int_equal(mvm_model_open_spec("openai:gpt-4.1-mini", NULL, &m, &err),
                   MVM_OK);
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err), MVM_OK);
  const mvm_mock_request *got = mvm_mock_request_at(mock, 0);
  assert_string_equal(
      json_string_value(json_object_get(got->headers, "authorization")),
      "Bearer sk-from-env-0123456789");
  json_decref(reply);
  m.ops->close(m.self);

  unsetenv("OPENAI_API_KEY");
  assert_int_equal(mvm_model_open_spec("openai:gpt-4.1-mini", NULL, &m, &err),
                   MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "set OPENAI_API_KEY"));
  /* With no base URL configured, the adapters use the providers' own API
   * roots. Opening sends nothing; the identity shows the endpoint. */
  unsetenv("OPENAI_BASE_URL");
  setenv("OPENAI_API_KEY", "sk-from-env-0123456789", 1);
  json_t *id = NULL;
  assert_int_equal(mvm_model_open_spec("openai:gpt-4.1-mini", NULL, &m, &err),
                   MVM_OK);
  assert_int_equal(m.ops->identity(m.self, &id, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(id, "endpoint")),
                      MVM_OPENAI_DEFAULT_BASE_URL);
  json_decref(id);
  m.ops->close(m.self);
  unsetenv("OPENAI_API_KEY");

  unsetenv("ANTHROPIC_BASE_URL");
  setenv("ANTHROPIC_API_KEY", "sk-ant-env", 1);
  assert_int_equal(
      mvm_model_open_spec("anthropic:claude-sonnet-4-5", NULL, &m, &err),
      MVM_OK);
  assert_int_equal(m.ops->identity(m.self, &id, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(id, "endpoint")),
                      MVM_ANTHROPIC_DEFAULT_BASE_URL);
  json_decref(id);
  m.ops->close(m.self);
  unsetenv("ANTHROPIC_API_KEY");
  json_decref(req);
}

static void base_url_must_be_http(void **state)
{
  mvm_model_config cfg = {0};
  mvm_model m = {0};
  mvm_error err;

  cfg.openai.base_url = "file:///etc/passwd";
  cfg.openai.api_key = KEY;
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err),
                   MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "must start with http:// or https://"));
  assert_null(m.ops);
}

static void identity_per_adapter(void **state)
{
  mvm_model_config cfg;
  char base[128];
  char spec[256];
  mvm_model m = {0};
  json_t *id = NULL;
  mvm_error err;

  base_config(&cfg, base, sizeof base);
  cfg.anthropic.base_url = base;
  cfg.anthropic.api_key = KEY;

  assert_int_equal(mvm_model_open_spec("openai:gpt-4.1-mini", &cfg, &m, &err),
                   MVM_OK);
  assert_string_equal(m.ops->kind, "openai");
  assert_int_equal(m.ops->identity(m.self, &id, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(id, "provider")),
                      "openai");
  assert_string_equal(json_string_value(json_object_get(id, "model")),
                      "gpt-4.1-mini");
  assert_string_equal(json_string_value(json_object_get(id, "endpoint")),
                      base);
  json_decref(id);
  m.ops->close(m.self);

  assert_int_equal(
      mvm_model_open_spec("anthropic:claude-sonnet-4-5", &cfg, &m, &err),
      MVM_OK);
  assert_string_equal(m.ops->kind, "anthropic");
  assert_int_equal(m.ops->identity(m.self, &id, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(id, "provider")),
                      "anthropic");
  assert_string_equal(json_string_value(json_object_get(id, "model")),
                      "claude-sonnet-4-5");
  json_decref(id);
  m.ops->close(m.self);

  snprintf(spec, sizeof spec, "openai-compatible:%s/v1/#qwen2.5",
           mvm_mock_url(mock));
  assert_int_equal(mvm_model_open_spec(spec, &cfg, &m, &err), MVM_OK);
  assert_string_equal(m.ops->kind, "openai-compatible");
  assert_int_equal(m.ops->identity(m.self, &id, &err), MVM_OK);
  assert_string_equal(json_string_value(json_object_get(id, "provider")),
                      "openai-compatible");
  assert_string_equal(json_string_value(json_object_get(id, "model")),
                      "qwen2.5");
  /* The trailing '/' of the URL is dropped. */
  assert_string_equal(json_string_value(json_object_get(id, "endpoint")),
                      base);
  json_decref(id);
  m.ops->close(m.self);
}

static void trace_names_request_not_key(void **state)
{
  mvm_model_config cfg;
  mvm_model m = {0};
  char base[128];
  json_t *req = simple_request();
  json_t *reply = NULL;
  mvm_error err;

  reset();
  base_config(&cfg, base, sizeof base);
  mvm_trace_set(UINT32_MAX);
  assert_int_equal(mvm_mock_push_file(mock, 200, "text/event-stream",
                                      WIRE("openai_stream_text.sse"), NULL),
                   0);
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err), MVM_OK);
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err), MVM_OK);
  mvm_trace_set(0);

  assert_non_null(strstr(log_lines.data, "http: model:openai: POST "));
  assert_non_null(strstr(log_lines.data, "model: model:openai: call 1 to "
                                         "gpt-4.1-mini"));
  assert_null(strstr(log_lines.data, KEY));
  json_decref(reply);
  m.ops->close(m.self);
  json_decref(req);
}

static void malformed_reply_is_parse_error(void **state)
{
  mvm_model_config cfg;
  mvm_model m = {0};
  char base[128];
  json_t *req = simple_request();
  json_t *reply = NULL;
  mvm_error err;
  mvm_mock_response bad = {.status = 200, .body = "{\"choices\": ["};
  mvm_mock_response empty = {.status = 200, .body = "{\"choices\": []}"};

  reset();
  base_config(&cfg, base, sizeof base);
  cfg.no_stream = true;
  assert_int_equal(mvm_mock_push(mock, &bad), 0);
  assert_int_equal(mvm_mock_push(mock, &empty), 0);
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err), MVM_OK);
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "the chat completion is not valid JSON"));
  assert_int_equal(m.ops->call(m.self, req, NULL, &reply, &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "no choices[0].message"));
  m.ops->close(m.self);
  json_decref(req);
}

static void request_checked_before_sending(void **state)
{
  mvm_model_config cfg;
  mvm_model m = {0};
  char base[128];
  json_t *reply = NULL;
  mvm_error err;
  json_t *bad_role = json_pack("{s[{ssss}]}", "messages", "role", "robot",
                               "content", "hi");
  json_t *no_id = json_pack("{s[{ssss}]}", "messages", "role", "tool",
                            "content", "42");

  reset();
  base_config(&cfg, base, sizeof base);
  assert_int_equal(mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err), MVM_OK);
  assert_int_equal(m.ops->call(m.self, bad_role, NULL, &reply, &err),
                   MVM_EINVAL);
  assert_non_null(strstr(err.msg, "messages[0].role must be one of"));
  assert_int_equal(m.ops->call(m.self, no_id, NULL, &reply, &err),
                   MVM_EINVAL);
  assert_non_null(strstr(err.msg, "no string tool_call_id"));
  assert_int_equal(mvm_mock_request_count(mock), 0);
  m.ops->close(m.self);
  json_decref(bad_role);
  json_decref(no_id);
}

static int setup(void **state)
{
  mock = mvm_mock_start();
  if (mock == NULL)
    return -1;
  mvm_buf_init(&log_lines, 0);
  mvm_log_set_sink(capture_log, NULL);
  mvm_log_set_level(MVM_LOG_TRACE);
  return 0;
}

static int teardown(void **state)
{
  mvm_log_set_sink(NULL, NULL);
  mvm_mock_stop(mock);
  mvm_buf_free(&log_lines);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(retry_after_seconds),
      cmocka_unit_test(retry_after_http_date),
      cmocka_unit_test(backoff_full_jitter),
      cmocka_unit_test(retryable_statuses),
      cmocka_unit_test(cancel_mid_stream),
      cmocka_unit_test(cancel_during_backoff),
      cmocka_unit_test(timeout_retried_then_fails),
      cmocka_unit_test(idle_stream_times_out),
      cmocka_unit_test(connection_refused_retried),
      cmocka_unit_test(redirect_not_followed),
      cmocka_unit_test(keys_from_environment),
      cmocka_unit_test(base_url_must_be_http),
      cmocka_unit_test(identity_per_adapter),
      cmocka_unit_test(trace_names_request_not_key),
      cmocka_unit_test(malformed_reply_is_parse_error),
      cmocka_unit_test(request_checked_before_sending),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
