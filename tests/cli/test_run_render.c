/* test_run_render.c - what `mvm run` prints on stderr, run as the real
 * binary ($MVM_BIN). The lines that sum up the tools not offered to the
 * model name the reason and the policy file to approve. The status line's
 * counts match the manifest's. Also: denial lines, the footer's command,
 * and no status line when the run never started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "mcp_support.h"
#include "store_support.h"
#include "support.h"

static const char *bin;
static char dir[256];

static int setup(void **state)
{
  bin = getenv("MVM_BIN");
  if (bin == NULL || bin[0] != '/') {
    fprintf(stderr, "MVM_BIN is not set to an absolute path; run this "
                    "test through ctest\n");
    return -1;
  }
  if (mcp_test_node() == NULL || store_test_tmpdir(dir, sizeof dir) != 0)
    return -1;
  /* Nothing from the environment may change the runs' settings. */
  setenv("MVM_STATE_DIR", store_test_join(dir, "state"), 1);
  setenv("XDG_CONFIG_HOME", store_test_join(dir, "config"), 1);
  unsetenv("MVM_CONFIG");
  unsetenv("MVM_MODEL");
  unsetenv("MVM_POLICY");
  unsetenv("MVM_MCP_CONFIG");
  unsetenv("MVM_MODEL_CONFIG");
  unsetenv("MVM_BUILTINS");
  unsetenv("OPENAI_API_KEY");
  unsetenv("ANTHROPIC_API_KEY");
  return 0;
}

static int teardown(void **state)
{
  store_test_rmtree(dir);
  return 0;
}

/* Returns a new copy of the path of `name` in the test directory. */
static char *in_dir(const char *name)
{
  char *path = strdup(store_test_join(dir, name));
  assert_non_null(path);
  return path;
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

static char *slurp_fd(int fd)
{
  size_t cap = 1 << 20;
  char *text = calloc(1, cap);
  ssize_t n;
  size_t len = 0;

  assert_non_null(text);
  lseek(fd, 0, SEEK_SET);
  while ((n = read(fd, text + len, cap - 1 - len)) > 0)
    len += (size_t)n;
  return text;
}

/* Runs argv with stdin from /dev/null and stdout and stderr captured.
 * With `path` set, the child's PATH is `path` and argv[0] is looked up in
 * it; else argv[0] is the program's path. Returns the exit code. */
static int run_as(char *const argv[], const char *path, char **out, char **err)
{
  char out_path[] = "/tmp/mvm-render-out-XXXXXX";
  char err_path[] = "/tmp/mvm-render-err-XXXXXX";
  int out_fd = mkstemp(out_path);
  int err_fd = mkstemp(err_path);
  int status = 0;

  assert_true(out_fd >= 0 && err_fd >= 0);
  unlink(out_path);
  unlink(err_path);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    if (path != NULL) {
      setenv("PATH", path, 1);
      execvp(argv[0], argv);
    } else {
      execv(argv[0], argv);
    }
    _exit(127);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  *out = slurp_fd(out_fd);
  *err = slurp_fd(err_fd);
  close(out_fd);
  close(err_fd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run(char *const argv[], char **out, char **err)
{
  return run_as(argv, NULL, out, err);
}

/* Writes an mcpServers file with the fixture server under each name. */
static void write_servers(const char *path, const char *const *names)
{
  json_t *servers = json_object();

  for (size_t i = 0; names[i] != NULL; i++)
    json_object_set_new(servers, names[i],
                        json_pack("{s:s, s:[s]}", "command", mcp_test_node(),
                                  "args", mcp_test_fixture()));
  json_t *doc = json_pack("{s:o}", "mcpServers", servers);
  assert_int_equal(json_dump_file(doc, path, JSON_INDENT(2)), 0);
  json_decref(doc);
}

/* Reads the manifest that the footer names and returns its "counts". */
static json_t *manifest_counts(const char *err)
{
  const char *at = strstr(err, "; manifest ");
  char path[1024];

  assert_non_null(at);
  at += strlen("; manifest ");
  snprintf(path, sizeof path, "%.*s", (int)strcspn(at, "\n"), at);
  json_t *manifest = json_load_file(path, 0, NULL);
  assert_non_null(manifest);
  json_t *counts = json_incref(json_object_get(manifest, "counts"));
  json_decref(manifest);
  return counts;
}

static json_int_t count_of(const json_t *counts, const char *key)
{
  const json_t *v = json_object_get(counts, key);
  assert_true(json_is_integer(v));
  return json_integer_value(v);
}

/* A run of the standard agent under the policy, with the mcpServers file
 * and a replay model that replies "done". Returns the exit code. */
static int run_agent(const char *servers, const char *policy, char **out,
                     char **err)
{
  char *replay = in_dir("done.replay.json");
  char model[512];

  write_text(replay, "{\"format\": \"mvm-replay/1\", \"model\": \"m\", "
                     "\"replies\": [{\"text\": \"done\"}]}\n");
  snprintf(model, sizeof model, "replay:%s", replay);
  char *argv[] = {
      (char *)bin, "run",          "Say done", "--mcp-config", (char *)servers,
      "--policy",  (char *)policy, "--model",  model,          "--no-input",
      NULL};
  int code = run(argv, out, err);
  free(replay);
  return code;
}

/* Approves everything waiting in the policy's lock file. */
static void approve_all(const char *policy)
{
  char *out = NULL;
  char *err = NULL;
  char *argv[] = {(char *)bin, "approve", (char *)policy, "--yes", NULL};
  int code = run(argv, &out, &err);
  if (code != 0)
    fail_msg("mvm approve exited %d: %s", code, err);
  free(out);
  free(err);
}

static void pin_summary_names_reason_and_policy(void **state)
{
  char *servers = in_dir("servers.json");
  char *twins = in_dir("twins.json");
  char *policy = in_dir("pins.policy");
  char *lock = in_dir("pins.policy.lock");
  const char *one[] = {"fixture", NULL};
  const char *two[] = {"fixture", "twin", NULL};
  char expected[2048];
  char *out = NULL;
  char *err = NULL;
  int code;

  write_servers(servers, one);
  write_servers(twins, two);
  write_text(policy, "version 1\n"
                     "pin ask\n"
                     "allow model \"replay:*\"\n"
                     "allow user.show\n"
                     "allow tool \"fixture.echo\"\n"
                     "allow tool \"twin.echo\"\n");

  /* No user can confirm the pins. The agent loads its tools before its
   * model, so one run queues both, and the hint names the policy file. */
  code = run_agent(servers, policy, &out, &err);
  if (code != 5)
    fail_msg("exit %d, expected 5: %s", code, err);
  snprintf(expected, sizeof expected,
           "  1 tool not offered to the model because its identity is not "
           "approved yet: run '%s approve %s' to review and pin the tools\n",
           bin, policy);
  assert_non_null(strstr(err, expected));
  assert_non_null(strstr(err, "tools not offered to the model: no rule of "
                              "the policy allows them"));
  free(out);
  free(err);
  approve_all(policy);

  /* One approval covers the model and the tool. */
  code = run_agent(servers, policy, &out, &err);
  if (code != 0)
    fail_msg("exit %d: %s", code, err);
  assert_null(strstr(err, "not approved yet"));
  free(out);
  free(err);

  /* A changed description is a changed identity, not a missing rule. */
  json_t *doc = json_load_file(lock, 0, NULL);
  assert_non_null(doc);
  json_t *entry =
      json_object_get(json_object_get(doc, "tools"), "fixture.echo");
  assert_non_null(entry);
  json_object_set_new(entry, "description_sha256",
                      json_string("00000000000000000000000000000000"
                                  "00000000000000000000000000000000"));
  assert_int_equal(json_dump_file(doc, lock, JSON_INDENT(2)), 0);
  json_decref(doc);
  code = run_agent(servers, policy, &out, &err);
  if (code != 0)
    fail_msg("exit %d: %s", code, err);
  snprintf(expected, sizeof expected,
           "  1 tool not offered to the model because it differs from its "
           "pinned identity (its description or input schema changed): "
           "fixture.echo; to review the change and pin what is new, run "
           "'%s approve %s'\n",
           bin, policy);
  assert_non_null(strstr(err, expected));
  assert_null(strstr(err, "not approved yet"));
  free(out);
  free(err);
  approve_all(policy);

  /* A second server with a tool of the same name shadows the first. */
  code = run_agent(twins, policy, &out, &err);
  if (code != 0)
    fail_msg("exit %d: %s", code, err);
  snprintf(expected, sizeof expected,
           "  1 tool not offered to the model because it is not pinned and "
           "has the name of another server's tool: twin.echo (shadows "
           "fixture.echo); if the tools of both servers are wanted, run "
           "'%s approve %s'\n",
           bin, policy);
  assert_non_null(strstr(err, expected));
  free(out);
  free(err);

  free(servers);
  free(twins);
  free(policy);
  free(lock);
}

static void status_line_counts_by_effect(void **state)
{
  char *program = in_dir("counts.mvs");
  char *policy = in_dir("counts.policy");
  char *replay = in_dir("counts.replay.json");
  char model[512];
  char *out = NULL;
  char *err = NULL;

  /* An allowed tool call, a quarantined query, and a memory write that no
   * rule allows, which stops the run. */
  write_text(program, ".model main\n"
                      ".tool std.echo\n"
                      "  model.load %m, main\n"
                      "  model.query %b, %m, \"Is it spam?\", \"text\", "
                      "bool\n"
                      "  tool.load %echo, std.echo\n"
                      "  tool.call %r, %echo, {\"text\": \"x\"}\n"
                      "  mem.store \"note\", \"v\"\n"
                      "  halt \"done\"\n");
  write_text(policy, "version 1\n"
                     "pin off\n"
                     "allow model \"replay:*\"\n"
                     "allow tool \"std.echo\"\n");
  write_text(replay, "{\"format\": \"mvm-replay/1\", \"model\": \"m\", "
                     "\"replies\": [{\"text\": \"{\\\"answer\\\": "
                     "true}\"}]}\n");
  snprintf(model, sizeof model, "main=replay:%s", replay);
  char *argv[] = {(char *)bin, "run", program,      "--policy", policy,
                  "--model",   model, "--no-input", NULL};
  int code = run(argv, &out, &err);

  assert_int_equal(code, 5);
  assert_non_null(strstr(err, "DENIED memory.write note"));
  assert_non_null(strstr(err, "\n[1 model call | 1 tool call | 1 other "
                              "effect denied | "));
  json_t *counts = manifest_counts(err);
  assert_int_equal(count_of(counts, "model_calls"), 1);
  assert_int_equal(count_of(counts, "tool_calls"), 1);
  json_decref(counts);
  free(out);
  free(err);
  free(program);
  free(policy);
  free(replay);
}

static void denied_calls_counted_apart(void **state)
{
  char *servers = in_dir("calls.json");
  char *policy = in_dir("calls.policy");
  char *replay = in_dir("calls.replay.json");
  const char *names[] = {"fixture", NULL};
  char model[512];
  char *out = NULL;
  char *err = NULL;

  write_servers(servers, names);
  write_text(policy, "version 1\n"
                     "pin off\n"
                     "allow model \"replay:*\"\n"
                     "allow user.show\n"
                     "allow tool \"std.echo\" {\n"
                     "  arg text required type string maxlen 5\n"
                     "}\n");
  /* One call within the rule, one outside it, one to a tool that was
   * never offered. */
  write_text(replay,
             "{\"format\": \"mvm-replay/1\", \"model\": \"m\", \"replies\": [\n"
             " {\"tool_calls\": [\n"
             "  {\"id\": \"c1\", \"name\": \"std__echo\", \"arguments\": "
             "{\"text\": \"hi\"}},\n"
             "  {\"id\": \"c2\", \"name\": \"std__echo\", \"arguments\": "
             "{\"text\": \"far too long\"}},\n"
             "  {\"id\": \"c3\", \"name\": \"shell__exec\", \"arguments\": "
             "{}}]},\n"
             " {\"text\": \"done\"}]}\n");
  snprintf(model, sizeof model, "replay:%s", replay);
  char *argv[] = {(char *)bin, "run",        "Echo", "--mcp-config",
                  servers,     "--policy",   policy, "--model",
                  model,       "--no-input", NULL};
  int code = run(argv, &out, &err);

  if (code != 0)
    fail_msg("exit %d: %s", code, err);
  /* The reason names the rule "default", so the line does not repeat
   * it; a rule the reason does not name is shown. */
  assert_non_null(strstr(err, "DENIED tool.call std.echo: denied by default: "
                              "no rule allows tool 'std.echo'"));
  assert_null(strstr(err, "by default: denied by default"));
  assert_non_null(strstr(err, "DENIED tool.call shell__exec by "
                              "vm.not-offered: "));
  assert_non_null(strstr(err, "\n[2 model calls | 1 tool call | 2 tool "
                              "calls denied | "));
  json_t *counts = manifest_counts(err);
  assert_int_equal(count_of(counts, "tool_calls"), 1);
  assert_int_equal(count_of(counts, "model_calls"), 2);
  json_decref(counts);
  free(out);
  free(err);
  free(servers);
  free(policy);
  free(replay);
}

static void footer_names_invoked_binary(void **state)
{
  char *program = in_dir("hello.mvs");
  char bin_dir[1024];
  char path[2048];
  char expected[1024];
  char *out = NULL;
  char *err = NULL;

  write_text(program, "halt \"hello\"\n");
  snprintf(bin_dir, sizeof bin_dir, "%s", bin);
  *strrchr(bin_dir, '/') = '\0';

  /* Not on PATH: the footer's command is the path mvm was run by. */
  char *by_path[] = {(char *)bin, "run",        program,
                     "--policy",  "permissive", NULL};
  assert_int_equal(run_as(by_path, "/usr/bin:/bin", &out, &err), 0);
  snprintf(expected, sizeof expected, "(%s audit show --db ", bin);
  assert_non_null(strstr(err, expected));
  free(out);
  free(err);

  /* Found on PATH, by name or by a path to the same file: "mvm". */
  snprintf(path, sizeof path, "%s:/usr/bin:/bin", bin_dir);
  char *by_name[] = {"mvm", "run", program, "--policy", "permissive", NULL};
  assert_int_equal(run_as(by_name, path, &out, &err), 0);
  assert_non_null(strstr(err, "(mvm audit show --db "));
  free(out);
  free(err);
  assert_int_equal(run_as(by_path, path, &out, &err), 0);
  assert_non_null(strstr(err, "(mvm audit show --db "));
  free(out);
  free(err);
  free(program);
}

static void config_error_prints_no_status_line(void **state)
{
  char *config = in_dir("bad-config.json");
  char *out = NULL;
  char *err = NULL;

  write_text(config, "{\"bogus\": 1}\n");
  char *argv[] = {(char *)bin, "run", "x", "--config", config, NULL};
  int code = run(argv, &out, &err);

  assert_int_equal(code, 4);
  assert_non_null(strstr(err, "unknown key 'bogus'"));
  assert_null(strstr(err, "model calls"));
  free(out);
  free(err);
  free(config);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pin_summary_names_reason_and_policy),
      cmocka_unit_test(status_line_counts_by_effect),
      cmocka_unit_test(denied_calls_counted_apart),
      cmocka_unit_test(footer_names_invoked_binary),
      cmocka_unit_test(config_error_prints_no_status_line),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
