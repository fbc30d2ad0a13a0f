/* test_run_builtins.c - `mvm run --builtins FILE` end to end: the real
 * binary ($MVM_BIN) runs the standard agent program with a replay model
 * that calls files.read_file on a read-only root, then files.write_file
 * on the same root. The policy allows both calls, so the file tools'
 * sandbox itself rejects the second, not the monitor. The run
 * uses --json so that each tool result can be checked on stdout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "support.h"

struct files {
  char base[64];
  char notes[128];
  char builtins[128];
  char policy[128];
  char replay[128];
  char state[128];
};

static const char *mvm_bin(void)
{
  const char *bin = getenv("MVM_BIN");
  if (bin == NULL || bin[0] == '\0')
    fail_msg("MVM_BIN is not set; run this test through ctest");
  return bin;
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
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
  assert_true(*out != NULL && *err_out != NULL);
  rewind(f);
  rewind(g);
  assert_true(fread(*out, 1, cap - 1, f) < cap - 1);
  assert_true(fread(*err_out, 1, cap - 1, g) < cap - 1);
  fclose(f);
  fclose(g);
  unlink(out_path);
  unlink(err_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void make_files(struct files *fx)
{
  char path[256];
  char text[1024];

  snprintf(fx->base, sizeof fx->base, "/tmp/mvm-run-builtins-XXXXXX");
  assert_non_null(mkdtemp(fx->base));
  snprintf(fx->notes, sizeof fx->notes, "%s/notes", fx->base);
  snprintf(fx->builtins, sizeof fx->builtins, "%s/builtins.json", fx->base);
  snprintf(fx->policy, sizeof fx->policy, "%s/run.policy", fx->base);
  snprintf(fx->replay, sizeof fx->replay, "%s/replay.json", fx->base);
  snprintf(fx->state, sizeof fx->state, "%s/state", fx->base);
  assert_int_equal(mkdir(fx->notes, 0755), 0);
  snprintf(path, sizeof path, "%s/hello.txt", fx->notes);
  write_text(path, "hello from the notes root\n");

  snprintf(text, sizeof text,
           "{\"files\": {\"roots\": [{\"name\": \"notes\", \"path\": \"%s\", "
           "\"read_only\": true}]}}\n",
           fx->notes);
  write_text(fx->builtins, text);

  /* Both calls are allowed, and the read's result is declared trusted.
   * So the monitor does not deny the write as a consequential call in an
   * untrusted context, and only the sandbox can reject it. */
  write_text(fx->policy, "version 1\n"
                         "pin off\n"
                         "allow model \"replay:*\"\n"
                         "allow user.show\n"
                         "allow tool \"files.read_file\"\n"
                         "allow tool \"files.write_file\"\n"
                         "tool \"files.read_file\" readonly {\n"
                         "  result trusted\n"
                         "}\n");

  write_text(fx->replay,
             "{\"format\": \"mvm-replay/1\", \"model\": \"builtins-e2e\",\n"
             " \"replies\": [\n"
             "  {\"tool_calls\": [{\"id\": \"call_read\", \"name\": "
             "\"files__read_file\", \"arguments\": {\"root\": \"notes\", "
             "\"path\": \"hello.txt\"}}]},\n"
             "  {\"tool_calls\": [{\"id\": \"call_write\", \"name\": "
             "\"files__write_file\", \"arguments\": {\"root\": \"notes\", "
             "\"path\": \"hello.txt\", \"content\": \"replaced\"}}]},\n"
             "  {\"text\": \"Read the note; the notes root is "
             "read-only.\"}]}\n");
}

/* Finds the tool_result event for a call id in the --json output. */
static json_t *tool_result(const char *out, const char *id)
{
  const char *line = out;

  while (*line != '\0') {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    json_t *event = json_loadb(line, len, 0, NULL);
    const char *kind = json_string_value(json_object_get(event, "event"));
    const char *call = json_string_value(json_object_get(event, "id"));

    if (kind != NULL && strcmp(kind, "tool_result") == 0 && call != NULL &&
        strcmp(call, id) == 0) {
      json_t *result = json_incref(json_object_get(event, "result"));
      json_decref(event);
      return result;
    }
    json_decref(event);
    line += len + (end != NULL);
  }
  fail_msg("no tool_result for %s in:\n%s", id, out);
  return NULL;
}

static const char *result_text(const json_t *result)
{
  const json_t *item = json_array_get(json_object_get(result, "content"), 0);
  const char *text = json_string_value(json_object_get(item, "text"));
  assert_non_null(text);
  return text;
}

static void read_allowed_write_rejected(void **state)
{
  struct files fx;
  char model[160];
  char agent[512];
  char notice[256];
  char path[256];
  char *out = NULL;
  char *err = NULL;

  make_files(&fx);
  snprintf(model, sizeof model, "replay:%s", fx.replay);
  snprintf(agent, sizeof agent, "%s", mvm_test_path("lib/agent.mvs"));
  setenv("MVM_STATE_DIR", fx.state, 1);
  unsetenv("MVM_CONFIG");
  unsetenv("MVM_BUILTINS");

  char *argv[] = {(char *)mvm_bin(), "run", agent, "--input",
                  "Read hello.txt in notes, then replace it.", "--model",
                  model, "--policy", fx.policy, "--builtins", fx.builtins,
                  "--no-input", "--quiet", "--json", NULL};
  int code = run_mvm(argv, &out, &err);
  if (code != 0)
    fail_msg("mvm run exited %d; stdout:\n%s\nstderr:\n%s", code, out, err);

  snprintf(notice, sizeof notice, "built-in tools from %s: files",
           fx.builtins);
  assert_non_null(strstr(out, notice));

  json_t *read = tool_result(out, "call_read");
  assert_true(json_is_false(json_object_get(read, "isError")));
  assert_string_equal(result_text(read), "hello from the notes root\n");
  json_decref(read);

  json_t *write = tool_result(out, "call_write");
  assert_true(json_is_true(json_object_get(write, "isError")));
  assert_string_equal(result_text(write), "root 'notes' is read-only");
  const json_t *sc = json_object_get(write, "structuredContent");
  assert_string_equal(json_string_value(json_object_get(sc, "error")),
                      "denied");
  /* The monitor allowed the call: a denial would carry "denied". */
  assert_null(json_object_get(write, "denied"));
  json_decref(write);

  assert_non_null(strstr(out, "\"status\":\"MVM_OK\""));
  assert_non_null(strstr(out, "the notes root is read-only."));

  /* The file is unchanged. */
  snprintf(path, sizeof path, "%s/hello.txt", fx.notes);
  FILE *f = fopen(path, "r");
  char content[64] = "";
  assert_non_null(f);
  assert_non_null(fgets(content, sizeof content, f));
  fclose(f);
  assert_string_equal(content, "hello from the notes root\n");

  free(out);
  free(err);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.base);
  assert_int_equal(system(cmd), 0);
}

static void bad_builtins_file_is_config_error(void **state)
{
  struct files fx;
  char model[160];
  char agent[512];
  char expected[512];
  char *out = NULL;
  char *err = NULL;

  make_files(&fx);
  write_text(fx.builtins, "{\"files\": {\"root\": []}}\n");
  snprintf(model, sizeof model, "replay:%s", fx.replay);
  snprintf(agent, sizeof agent, "%s", mvm_test_path("lib/agent.mvs"));
  setenv("MVM_STATE_DIR", fx.state, 1);
  unsetenv("MVM_CONFIG");
  /* The environment variable is the source this time. */
  setenv("MVM_BUILTINS", fx.builtins, 1);

  char *argv[] = {(char *)mvm_bin(), "run", agent, "--input", "x",
                  "--model", model, "--policy", fx.policy, "--no-input",
                  "--quiet", NULL};
  int code = run_mvm(argv, &out, &err);
  unsetenv("MVM_BUILTINS");
  assert_int_equal(code, 4); /* bad configuration */
  snprintf(expected, sizeof expected,
           "mvm run: builtins file '%s': unknown key 'files.root'; valid "
           "keys: server, roots, no_symlinks, resolver, max_read_bytes, "
           "max_write_bytes, max_list_entries\n",
           fx.builtins);
  assert_non_null(strstr(err, expected));

  free(out);
  free(err);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.base);
  assert_int_equal(system(cmd), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(read_allowed_write_rejected),
      cmocka_unit_test(bad_builtins_file_is_config_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
