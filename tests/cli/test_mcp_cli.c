/* test_mcp_cli.c - `mvm tools list` and `mvm tools call`, run as the real
 * binary ($MVM_BIN) against tests/fixtures/mcp/misbehave.js and the
 * reference server-everything: output, JSON output and exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp_support.h"
#include "store_support.h"

static const char *bin;
static char config[64];
static char bad_config[64];

static int setup(void **state)
{
  const char *node = mcp_test_node();
  const char *everything =
      mcp_test_module("@modelcontextprotocol/server-everything/dist/index.js");
  json_t *doc;
  int fd;

  /* Calls run with the monitor off unless a test names a policy. */
  setenv("MVM_POLICY", "permissive", 1);
  bin = getenv("MVM_BIN");
  if (bin == NULL) {
    fprintf(stderr, "MVM_BIN is not set; run this test through ctest\n");
    return -1;
  }
  if (node == NULL || everything == NULL)
    return -1;

  snprintf(config, sizeof config, "/tmp/mvm-mcp-cli-XXXXXX");
  fd = mkstemp(config);
  if (fd < 0)
    return -1;
  close(fd);
  doc = json_pack("{s:{s:{s:s, s:[s, s]}, s:{s:s, s:[s]}, "
                  "s:{s:s, s:[s, s]}}}",
                  "mcpServers", "everything", "command", node, "args",
                  everything, "stdio", "fixture", "command", node, "args",
                  mcp_test_fixture(), "broken", "command", node, "args",
                  mcp_test_fixture(), "exit-on-start");
  if (json_dump_file(doc, config, 0) != 0)
    return -1;
  json_decref(doc);

  snprintf(bad_config, sizeof bad_config, "/tmp/mvm-mcp-cli-bad-XXXXXX");
  fd = mkstemp(bad_config);
  if (fd < 0)
    return -1;
  if (write(fd, "{\"mcpServers\": {\"a.b\": {}}}", 27) != 27)
    return -1;
  close(fd);
  return 0;
}

static int teardown(void **state)
{
  unlink(config);
  unlink(bad_config);
  return 0;
}

/* Runs mvm with up to 8 arguments after "tools". */
static int run(char **out, char **errout, const char *a1, const char *a2,
               const char *a3, const char *a4, const char *a5, const char *a6,
               const char *a7, const char *a8)
{
  char *argv[] = {(char *)bin, "tools",    (char *)a1, (char *)a2,
                  (char *)a3,  (char *)a4, (char *)a5, (char *)a6,
                  (char *)a7,  (char *)a8, NULL};
  return store_test_run(argv, out, errout);
}

static void prints_help(void **state)
{
  char *out = NULL;
  int code =
      run(&out, NULL, "--help", NULL, NULL, NULL, NULL, NULL, NULL, NULL);

  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "usage: mvm tools list"));
  assert_non_null(strstr(out, "--config FILE"));
  free(out);
}

static void lists_one_server(void **state)
{
  char *out = NULL;
  char *err = NULL;
  int code = run(&out, &err, "list", "fixture", "--config", config, NULL, NULL,
                 NULL, NULL);

  if (code != 0)
    fail_msg("exit %d: %s", code, err);
  assert_non_null(strstr(out, "fixture (stdio, misbehave 1.0.0, MCP "
                              "2025-11-25): 20 tools"));
  assert_non_null(strstr(out, "  fixture.echo  sha256:"));
  assert_non_null(strstr(out, "      Echoes the text argument\n"));
  assert_null(strstr(out, "everything"));
  free(out);
  free(err);
}

static void lists_everything_with_annotations(void **state)
{
  char *out = NULL;
  char *err = NULL;
  int code = run(&out, &err, "list", "everything", "--config", config, NULL,
                 NULL, NULL, NULL);

  if (code != 0)
    fail_msg("exit %d: %s", code, err);
  assert_non_null(strstr(out, "everything.get-sum  sha256:"));
  assert_non_null(strstr(out, "annotations: readOnlyHint=true"));
  free(out);
  free(err);
}

static void lists_as_json(void **state)
{
  char *out = NULL;
  char *err = NULL;
  json_t *doc;
  const json_t *server;
  const json_t *tool;
  const char *hash;
  int code = run(&out, &err, "list", "fixture", "--json", "--config", config,
                 NULL, NULL, NULL);

  assert_int_equal(code, 0);
  doc = json_loads(out, 0, NULL);
  assert_non_null(doc);
  server = json_array_get(json_object_get(doc, "servers"), 0);
  assert_string_equal(json_string_value(json_object_get(server, "name")),
                      "fixture");
  assert_string_equal(json_string_value(json_object_get(server, "revision")),
                      "2025-11-25");
  tool = json_array_get(json_object_get(server, "tools"), 0);
  hash = json_string_value(json_object_get(tool, "hash"));
  assert_non_null(hash);
  assert_int_equal(strlen(hash), 71);
  assert_true(json_is_object(json_object_get(tool, "inputSchema")));
  json_decref(doc);
  free(out);
  free(err);
}

static void list_goes_on_past_a_broken_server(void **state)
{
  char *out = NULL;
  char *err = NULL;
  int code =
      run(&out, &err, "list", "--config", config, NULL, NULL, NULL, NULL, NULL);

  assert_int_equal(code, 8);
  assert_non_null(strstr(out, "fixture.echo"));
  assert_non_null(strstr(out, "everything.echo"));
  const char *exited = "server 'broken' exited with status 5";
  const char *first = strstr(err, exited);
  assert_non_null(first);
  /* The error is printed once, not also as a warning. */
  assert_null(strstr(first + strlen(exited), exited));
  assert_non_null(strstr(err, "its last stderr line: cannot start: missing "
                              "configuration"));
  free(out);
  free(err);
}

static void calls_a_tool(void **state)
{
  char *out = NULL;
  char *err = NULL;
  int code =
      run(&out, &err, "call", "fixture", "echo", "{\"text\": \"from the cli\"}",
          "--config", config, NULL, NULL);

  if (code != 0)
    fail_msg("exit %d: %s", code, err);
  assert_string_equal(out, "from the cli\nstructuredContent:\n{\n  "
                           "\"text\": \"from the cli\"\n}\n");
  free(out);
  free(err);
}

static void summarizes_other_content(void **state)
{
  char *out = NULL;
  char *err = NULL;
  int code = run(&out, &err, "call", "everything", "get-resource-reference",
                 "{\"resourceType\": \"Text\", \"resourceId\": 3}", "--config",
                 config, NULL, NULL);

  if (code != 0)
    fail_msg("exit %d: %s", code, err);
  assert_non_null(strstr(out, "[embedded resource demo://resource/"));
  assert_non_null(strstr(out, "bytes of text]"));
  free(out);
  free(err);

  code = run(&out, &err, "call", "everything", "get-tiny-image", "--config",
             config, NULL, NULL, NULL);
  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "[image image/png, "));
  free(out);
  free(err);
}

static void calls_with_json_output(void **state)
{
  char *out = NULL;
  char *err = NULL;
  json_t *doc;
  int code = run(&out, &err, "call", "fixture", "echo", "{\"text\": \"j\"}",
                 "--json", "--config", config, NULL);

  assert_int_equal(code, 0);
  doc = json_loads(out, 0, NULL);
  assert_non_null(doc);
  assert_true(json_is_false(json_object_get(doc, "isError")));
  assert_string_equal(
      json_string_value(json_object_get(
          json_array_get(json_object_get(doc, "content"), 0), "text")),
      "j");
  json_decref(doc);
  free(out);
  free(err);
}

static void reports_progress(void **state)
{
  char *out = NULL;
  char *err = NULL;
  int code =
      run(&out, &err, "call", "fixture", "progress-slow",
          "{\"steps\": 2, \"gap_ms\": 10}", "--config", config, NULL, NULL);

  assert_int_equal(code, 0);
  assert_non_null(strstr(err, "progress 1/2: step 1"));
  assert_non_null(strstr(err, "progress 2/2: step 2"));
  free(out);
  free(err);
}

static void exit_codes(void **state)
{
  struct {
    const char *args[8];
    int code;
    const char *message;
  } cases[] = {
      {{"call", "fixture", "fail", "--config", config},
       1,
       "tool 'fail' on server 'fixture' reported an error"},
      {{"call", "nosuch", "echo", "--config", config},
       2,
       "has no server 'nosuch'"},
      {{"call", "fixture", "nosuch", "--config", config},
       2,
       "has no tool 'nosuch'"},
      {{"call", "fixture", "echo", "{\"text\": 1}", "--config", config},
       2,
       "do not match the input schema of 'echo'"},
      {{"call", "fixture", "echo", "not json", "--config", config},
       2,
       "JSON-ARGS is not valid JSON"},
      {{"call", "fixture", "--config", config}, 2, "call needs SERVER TOOL"},
      {{"frobnicate"}, 2, "unknown subcommand"},
      {{"list", "--bogus"}, 2, "unknown option"},
      {{"call", "fixture", "hang", "--timeout", "0.3", "--config", config},
       8,
       "within 300 ms"},
      {{"call", "fixture", "die", "--config", config},
       8,
       "exited with status 3"},
      {{"call", "fixture", "rpc-error", "--config", config},
       8,
       "no such thing"},
      {{"call", "broken", "echo", "--config", config},
       8,
       "missing configuration"},
      {{"list", "--config", bad_config}, 4, "server name 'a.b' is invalid"},
      {{"list", "--config", "/nonexistent/mcp.json"},
       10,
       "/nonexistent/mcp.json"},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *err = NULL;
    const char *const *a = cases[i].args;
    int code = run(NULL, &err, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
    if (code != cases[i].code || strstr(err, cases[i].message) == NULL)
      fail_msg("case %zu: exit %d (expected %d), stderr: %s", i, code,
               cases[i].code, err);
    free(err);
  }
}

static void hints_split_server_and_tool(void **state)
{
  char expected[512];
  char *err = NULL;

  /* "SERVER.TOOL", as 'list' prints it, shifts the JSON into TOOL's
   * place; the hint is the command to run, with the same options. */
  int code = run(NULL, &err, "call", "fixture.echo", "{\"text\": \"x\"}",
                 "--config", config, NULL, NULL, NULL);
  assert_int_equal(code, 2);
  snprintf(expected, sizeof expected,
           "has no server 'fixture.echo'; SERVER and TOOL are separate "
           "arguments, so to call tool 'echo' of server 'fixture', run:\n"
           "  %s tools call fixture echo '{\"text\": \"x\"}' --config %s "
           "--policy permissive\n",
           bin, config);
  assert_non_null(strstr(err, expected));
  free(err);

  code = run(NULL, &err, "call", "fixture.echo", "--mcp-config", config,
             NULL, NULL, NULL, NULL);
  assert_int_equal(code, 2);
  snprintf(expected, sizeof expected,
           "  %s tools call fixture echo --mcp-config %s --policy "
           "permissive\n",
           bin, config);
  assert_non_null(strstr(err, expected));
  free(err);

  code = run(NULL, &err, "list", "fixture.echo", "--config", config, NULL,
             NULL, NULL, NULL);
  assert_int_equal(code, 2);
  snprintf(expected, sizeof expected,
           "for the tools of server 'fixture', run '%s tools list fixture "
           "--config %s'\n",
           bin, config);
  assert_non_null(strstr(err, expected));
  free(err);
}

static void hints_list_servers_and_config(void **state)
{
  char expected[512];
  char *err = NULL;

  int code = run(NULL, &err, "list", "nosuch", "--config", config, NULL,
                 NULL, NULL, NULL);
  assert_int_equal(code, 2);
  assert_non_null(strstr(err, "has no server 'nosuch'; its servers are: "
                              "everything, fixture, broken\n"));
  free(err);

  code = run(NULL, &err, "call", "nosuch", "echo", "--config", config, NULL,
             NULL, NULL);
  assert_int_equal(code, 2);
  assert_non_null(strstr(err, "its servers are: everything, fixture, "
                              "broken\n"));
  free(err);

  /* The command in the hint runs as printed: it names the file. */
  code = run(NULL, &err, "call", "fixture", "nosuch", "--mcp-config", config,
             NULL, NULL, NULL);
  assert_int_equal(code, 2);
  snprintf(expected, sizeof expected,
           "server 'fixture' has no tool 'nosuch'; '%s tools list fixture "
           "--mcp-config %s' shows its tools",
           bin, config);
  assert_non_null(strstr(err, expected));
  free(err);
}

static void ask_without_terminal_says_so(void **state)
{
  char policy[] = "/tmp/mvm-mcp-cli-ask-XXXXXX";
  int fd = mkstemp(policy);
  const char *text = "version 1\npin off\n"
                     "allow tool \"fixture.echo\"\n"
                     "ask tool \"fixture.echo\"\n";
  char *out = NULL;
  char *err = NULL;

  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);

  /* With stdin not a terminal, no user can answer the confirmation. */
  int saved_stdin = dup(0);
  int null_fd = open("/dev/null", O_RDONLY);
  assert_true(saved_stdin >= 0 && null_fd >= 0);
  dup2(null_fd, 0);
  int code = run(&out, &err, "call", "fixture", "echo", "{\"text\": \"x\"}",
                 "--config", config, "--policy", policy);
  dup2(saved_stdin, 0);
  close(saved_stdin);
  close(null_fd);

  assert_int_equal(code, 5);
  assert_non_null(strstr(err, "requires the user's confirmation; it was not "
                              "confirmed: no terminal to confirm on"));
  assert_string_equal(out, "");
  free(out);
  free(err);
  unlink(policy);
}

static void needs_a_config(void **state)
{
  char *err = NULL;
  int code;

  unsetenv("MVM_MCP_CONFIG");
  code = run(NULL, &err, "list", NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  assert_int_equal(code, 4);
  assert_non_null(strstr(err, "pass --config FILE or set MVM_MCP_CONFIG"));
  free(err);

  setenv("MVM_MCP_CONFIG", config, 1);
  code = run(NULL, &err, "call", "fixture", "echo", "{\"text\": \"env\"}", NULL,
             NULL, NULL, NULL);
  assert_int_equal(code, 0);
  free(err);
  unsetenv("MVM_MCP_CONFIG");
}

static void call_denied_by_policy(void **state)
{
  char policy[] = "/tmp/mvm-mcp-cli-policy-XXXXXX";
  int fd = mkstemp(policy);
  const char *text = "version 1\npin off\n"
                     "allow tool \"fixture.echo\" {\n"
                     "  arg text required type string maxlen 5\n"
                     "}\n";
  char *out = NULL;
  char *err = NULL;

  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);

  /* Within the rule: allowed. */
  int code = run(&out, &err, "call", "fixture", "echo", "{\"text\": \"hi\"}",
                 "--config", config, "--policy", policy);
  if (code != 0)
    fail_msg("exit %d: %s", code, err);
  assert_non_null(strstr(out, "hi"));
  free(out);
  free(err);

  /* Too long for the rule, and a tool no rule allows: denied, exit 5,
   * with the reason on stderr and nothing sent to the server. */
  code = run(&out, &err, "call", "fixture", "echo",
             "{\"text\": \"far too long\"}", "--config", config, "--policy",
             policy);
  assert_int_equal(code, 5);
  assert_non_null(strstr(err, "denied"));
  assert_string_equal(out, "");
  free(out);
  free(err);

  code = run(&out, &err, "call", "everything", "echo",
             "{\"message\": \"x\"}", "--config", config, "--policy", policy);
  assert_int_equal(code, 5);
  /* The reason names the rule "default", so the message names it once. */
  assert_non_null(strstr(err, "tool.load everything.echo denied: denied by "
                              "default: no rule allows tool "
                              "'everything.echo'"));
  assert_null(strstr(err, "by default: denied by default"));
  free(out);
  free(err);
  unlink(policy);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(prints_help),
      cmocka_unit_test(lists_one_server),
      cmocka_unit_test(lists_everything_with_annotations),
      cmocka_unit_test(lists_as_json),
      cmocka_unit_test(list_goes_on_past_a_broken_server),
      cmocka_unit_test(calls_a_tool),
      cmocka_unit_test(summarizes_other_content),
      cmocka_unit_test(calls_with_json_output),
      cmocka_unit_test(reports_progress),
      cmocka_unit_test(exit_codes),
      cmocka_unit_test(hints_split_server_and_tool),
      cmocka_unit_test(hints_list_servers_and_config),
      cmocka_unit_test(ask_without_terminal_says_so),
      cmocka_unit_test(needs_a_config),
      cmocka_unit_test(call_denied_by_policy),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
