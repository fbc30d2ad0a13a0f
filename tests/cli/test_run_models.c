/* test_run_models.c - `mvm run` of the standard agent program against a
 * local server that replays the providers' wire formats: OpenAI (streamed
 * and not), Anthropic (streamed and not) and an OpenAI-compatible server.
 *
 * Each case serves two replies: one with two tool calls (in the streamed
 * OpenAI case their argument fragments interleave), then a text answer.
 * The test runs the real binary ($MVM_BIN) and checks the exit code, the
 * answer on stdout, and that the second request carried both tool calls
 * and both results back to the provider. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "mock_provider.h"
#include "support.h"

#define WIRE "tests/fixtures/models/wire/"

struct model_case {
  const char *spec;     /* the --model value; %s is the mock URL */
  const char *path;     /* the request path the provider uses */
  const char *tools;    /* fixture with two tool calls */
  const char *tools_type;
  const char *answer;   /* fixture with the final text */
  const char *answer_type;
  const char *answer_text; /* text the answer fixture carries */
  bool no_stream;
  const char *call_ids[2]; /* ids the provider gave, or NULL */
};

static const char *mvm_bin(void)
{
  const char *bin = getenv("MVM_BIN");
  if (bin == NULL || bin[0] == '\0')
    fail_msg("MVM_BIN is not set; run this test through ctest");
  return bin;
}

/* Reads a fixture and renames its tool to one the run offers. */
static char *load_fixture(const char *name)
{
  char path[512];
  FILE *f;
  mvm_buf buf;
  char chunk[4096];
  size_t n;

  snprintf(path, sizeof path, "%s", mvm_test_path(name));
  f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open fixture %s", path);
  mvm_buf_init(&buf, 0);
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    assert_int_equal(mvm_buf_append(&buf, chunk, n), MVM_OK);
  fclose(f);

  /* get_weather -> std__echo, the name under which the agent offers the
   * built-in std.echo. The arguments stay as recorded. */
  mvm_buf out;
  mvm_buf_init(&out, 0);
  const char *p = buf.data;
  const char *hit;
  while ((hit = strstr(p, "get_weather")) != NULL) {
    assert_int_equal(mvm_buf_append(&out, p, (size_t)(hit - p)), MVM_OK);
    assert_int_equal(mvm_buf_append_str(&out, "std__echo"), MVM_OK);
    p = hit + strlen("get_weather");
  }
  assert_int_equal(mvm_buf_append_str(&out, p), MVM_OK);
  mvm_buf_free(&buf);
  return mvm_buf_steal(&out);
}

static void push(mvm_mock_provider *mock, const char *fixture,
                 const char *type)
{
  char *body = load_fixture(fixture);
  mvm_mock_response r = {.status = 200, .content_type = type, .body = body};
  assert_int_equal(mvm_mock_push(mock, &r), 0);
  free(body);
}

/* Runs mvm with stdout and stderr captured; returns the exit code. */
static int run_mvm(char *const argv[], char **out, char **err_out)
{
  char out_path[] = "/tmp/mvm-run-out-XXXXXX";
  char err_path[] = "/tmp/mvm-run-err-XXXXXX";
  int out_fd = mkstemp(out_path);
  int err_fd = mkstemp(err_path);
  assert_true(out_fd >= 0 && err_fd >= 0);

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);

  FILE *f = fdopen(out_fd, "r");
  FILE *g = fdopen(err_fd, "r");
  size_t cap = 1 << 20;
  *out = calloc(1, cap);
  *err_out = calloc(1, cap);
  rewind(f);
  rewind(g);
  fread(*out, 1, cap - 1, f);
  fread(*err_out, 1, cap - 1, g);
  fclose(f);
  fclose(g);
  unlink(out_path);
  unlink(err_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void run_case(const struct model_case *c)
{
  mvm_mock_provider *mock = mvm_mock_start();
  char state[] = "/tmp/mvm-run-state-XXXXXX";
  char spec[512];
  char model_config[600];
  char agent[512];
  char *out = NULL;
  char *err = NULL;

  assert_non_null(mock);
  assert_non_null(mkdtemp(state));
  push(mock, c->tools, c->tools_type);
  push(mock, c->answer, c->answer_type);

  snprintf(spec, sizeof spec, c->spec, mvm_mock_url(mock));
  snprintf(agent, sizeof agent, "%s", mvm_test_path("lib/agent.mvs"));
  snprintf(model_config, sizeof model_config, "%s/models.json", state);
  FILE *f = fopen(model_config, "w");
  assert_non_null(f);
  fprintf(f, "{\"stream\": %s, \"retry\": {\"max_attempts\": 1}}\n",
          c->no_stream ? "false" : "true");
  fclose(f);

  char base[300];
  snprintf(base, sizeof base, "%s/v1", mvm_mock_url(mock));
  setenv("OPENAI_BASE_URL", base, 1);
  setenv("ANTHROPIC_BASE_URL", base, 1);
  setenv("OPENAI_API_KEY", "sk-test-openai-0123456789", 1);
  setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789", 1);
  setenv("MVM_STATE_DIR", state, 1);
  unsetenv("MVM_CONFIG");

  char *argv[] = {(char *)mvm_bin(), "run", agent, "--input",
                  "What is the weather in Oslo and Lima?", "--model", spec,
                  "--model-config", model_config, "--policy", "permissive",
                  "--no-input", "--quiet", NULL};
  int code = run_mvm(argv, &out, &err);
  if (code != 0)
    fail_msg("mvm run exited %d; stderr:\n%s", code, err);

  assert_non_null(strstr(out, c->answer_text));
  assert_int_equal(mvm_mock_request_count(mock), 2);

  const mvm_mock_request *first = mvm_mock_request_at(mock, 0);
  const mvm_mock_request *second = mvm_mock_request_at(mock, 1);
  assert_string_equal(first->method, "POST");
  assert_string_equal(first->path, c->path);
  assert_non_null(strstr(first->body, "std__echo"));
  /* The second request hands both calls and both results back. */
  assert_non_null(strstr(second->body, "Oslo"));
  assert_non_null(strstr(second->body, "Lima"));
  for (int i = 0; i < 2; i++) {
    if (c->call_ids[i] != NULL)
      assert_non_null(strstr(second->body, c->call_ids[i]));
  }
  /* Keys go only into headers, never into an output. */
  assert_null(strstr(out, "0123456789"));
  assert_null(strstr(err, "0123456789"));

  free(out);
  free(err);
  mvm_mock_stop(mock);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", state);
  assert_int_equal(system(cmd), 0);
}

static void openai_streamed_parallel(void **state)
{
  struct model_case c = {
      "openai:gpt-4.1-mini", "/v1/chat/completions",
      WIRE "openai_stream_parallel.sse", "text/event-stream",
      WIRE "openai_stream_text.sse", "text/event-stream", "Hello! How can I help?",
      false, {"call_oslo", "call_lima"}};
  run_case(&c);
}

static void openai_whole(void **state)
{
  struct model_case c = {
      "openai:gpt-4.1-mini", "/v1/chat/completions", WIRE "openai_tools.json",
      "application/json", WIRE "openai_text.json", "application/json", "Hello! How can I help?",
      true, {NULL, NULL}};
  run_case(&c);
}

static void anthropic_streamed(void **state)
{
  struct model_case c = {
      "anthropic:claude-sonnet-4-5", "/v1/messages",
      WIRE "anthropic_stream_tools.sse", "text/event-stream",
      WIRE "anthropic_stream_text.sse", "text/event-stream", "Hello! How can I help?",
      false, {NULL, NULL}};
  run_case(&c);
}

static void anthropic_whole(void **state)
{
  struct model_case c = {
      "anthropic:claude-sonnet-4-5", "/v1/messages",
      WIRE "anthropic_tools.json", "application/json",
      WIRE "anthropic_text.json", "application/json", "Hello! How can I help?", true,
      {"toolu_01A09q90qw90lq917835lq9", "toolu_01B77a77ab77ab77ab77ab7"}};
  run_case(&c);
}

static void compatible_whole(void **state)
{
  struct model_case c = {
      "openai-compatible:%s/v1#qwen2.5", "/v1/chat/completions",
      WIRE "compat_tools.json", "application/json", WIRE "openai_text.json",
      "application/json", "Hello! How can I help?", true, {NULL, NULL}};
  run_case(&c);
}

static void compatible_streamed(void **state)
{
  struct model_case c = {
      "openai-compatible:%s/v1#qwen2.5", "/v1/chat/completions",
      WIRE "compat_stream.sse", "text/event-stream",
      WIRE "openai_stream_text.sse", "text/event-stream", "Hello! How can I help?", false,
      {NULL, NULL}};
  run_case(&c);
}

/* Writes text to dir/name and returns the path in a static buffer. */
static const char *write_file(const char *dir, const char *name,
                              const char *text)
{
  static char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

/* Runs the agent against the mock with the given model config and policy
 * texts; returns the exit code, with stderr in *err_out. */
static int run_failing(mvm_mock_provider *mock, const char *model_config,
                       const char *policy, char **err_out)
{
  char state[] = "/tmp/mvm-run-state-XXXXXX";
  char config_path[600];
  char policy_path[600];
  char base[300];
  char agent[512];
  char *out = NULL;

  assert_non_null(mkdtemp(state));
  snprintf(config_path, sizeof config_path, "%s",
           write_file(state, "models.json", model_config));
  snprintf(policy_path, sizeof policy_path, "%s",
           write_file(state, "run.policy", policy));
  snprintf(agent, sizeof agent, "%s", mvm_test_path("lib/agent.mvs"));
  snprintf(base, sizeof base, "%s/v1", mvm_mock_url(mock));
  setenv("OPENAI_BASE_URL", base, 1);
  setenv("OPENAI_API_KEY", "sk-test-openai-0123456789", 1);
  setenv("MVM_STATE_DIR", state, 1);
  unsetenv("MVM_CONFIG");

  char *argv[] = {(char *)mvm_bin(), "run", agent, "--input", "Weather?",
                  "--model", "openai:gpt-4.1-mini", "--model-config",
                  config_path, "--policy", policy_path, "--no-input",
                  "--quiet", NULL};
  int code = run_mvm(argv, &out, err_out);
  free(out);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", state);
  assert_int_equal(system(cmd), 0);
  return code;
}

static const char run_policy[] =
    "version 1\npin off\nallow model \"openai:*\"\nallow tool \"std.*\"\n"
    "tool \"std.*\" readonly {\n  result trusted\n}\nallow user.show\n";

/* A model request that times out is a model failure: exit code 7, not
 * the tool servers' 8. */
static void model_timeout_exits_7(void **state)
{
  mvm_mock_provider *mock = mvm_mock_start();
  mvm_mock_response slow = {.status = 200, .content_type = "application/json",
                            .body = "{}", .delay_ms = 3000};
  char *err = NULL;

  assert_non_null(mock);
  assert_int_equal(mvm_mock_push(mock, &slow), 0);
  int code = run_failing(mock,
                         "{\"stream\": false, \"timeout_s\": 0.3, "
                         "\"retry\": {\"max_attempts\": 1}}\n",
                         run_policy, &err);
  if (code != 7)
    fail_msg("mvm run exited %d, expected 7; stderr:\n%s", code, err);
  assert_non_null(strstr(err, "timed out"));
  free(err);
  mvm_mock_stop(mock);
}

/* A token budget that denies the second model call ends the run with the
 * budget exit code 6, not the denial code 5. */
static void token_budget_exits_6(void **state)
{
  mvm_mock_provider *mock = mvm_mock_start();
  char policy[512];
  char *err = NULL;

  assert_non_null(mock);
  push(mock, WIRE "openai_tools.json", "application/json");
  snprintf(policy, sizeof policy, "%sbudget tokens 10\n", run_policy);
  int code = run_failing(mock,
                         "{\"stream\": false, \"retry\": "
                         "{\"max_attempts\": 1}}\n",
                         policy, &err);
  if (code != 6)
    fail_msg("mvm run exited %d, expected 6; stderr:\n%s", code, err);
  assert_non_null(strstr(err, "token budget is exhausted"));
  assert_int_equal(mvm_mock_request_count(mock), 1);
  free(err);
  mvm_mock_stop(mock);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(openai_streamed_parallel),
      cmocka_unit_test(openai_whole),
      cmocka_unit_test(anthropic_streamed),
      cmocka_unit_test(anthropic_whole),
      cmocka_unit_test(compatible_whole),
      cmocka_unit_test(compatible_streamed),
      cmocka_unit_test(model_timeout_exits_7),
      cmocka_unit_test(token_budget_exits_6),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
