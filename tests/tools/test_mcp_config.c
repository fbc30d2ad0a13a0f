/* test_mcp_config.c - the mcpServers file: server shapes, variable
 * expansion, the default environment, invalid documents and their
 * messages, limits, and starting a configured server for real. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp_support.h"
#include "mvm.h"
#include "tools/mcp_config.h"

static int teardown_test(void **state)
{
  mcp_test_log_stop();
  unsetenv("MVM_TEST_TOKEN");
  unsetenv("MVM_TEST_EMPTY");
  return 0;
}

static int parse(const char *text, mvm_mcp_config **cfg, mvm_error *err)
{
  json_error_t jerr;
  json_t *doc = json_loads(text, 0, &jerr);
  int rc;

  if (doc == NULL)
    fail_msg("invalid test document: %s", jerr.text);
  rc = mvm_mcp_config_parse(doc, "/etc/mvm/mcp.json", cfg, err);
  json_decref(doc);
  return rc;
}

static mvm_mcp_config *parse_ok(const char *text)
{
  mvm_mcp_config *cfg = NULL;
  mvm_error err = {0};

  if (parse(text, &cfg, &err) != MVM_OK)
    fail_msg("config rejected: %s", err.msg);
  return cfg;
}

static const char *env_value(const mvm_mcp_server_config *s, const char *key)
{
  size_t klen = strlen(key);

  for (size_t i = 0; s->envp[i] != NULL; i++) {
    if (strncmp(s->envp[i], key, klen) == 0 && s->envp[i][klen] == '=')
      return s->envp[i] + klen + 1;
  }
  return NULL;
}

static void parses_stdio_and_http_servers(void **state)
{
  mvm_mcp_config *cfg;
  const mvm_mcp_server_config *s;

  setenv("MVM_TEST_TOKEN", "s3cret", 1);
  cfg = parse_ok(
      "{\"mcpServers\": {"
      " \"files\": {\"command\": \"node\", \"args\": [\"fs.js\", \"/tmp\"],"
      "   \"env\": {\"API_KEY\": \"${MVM_TEST_TOKEN}\", \"MODE\": \"x\"},"
      "   \"cwd\": \"servers\"},"
      " \"remote\": {\"url\": \"http://127.0.0.1:9/mcp\", \"type\": "
      "   \"streamable-http\", \"headers\": {\"Authorization\": "
      "   \"Bearer ${MVM_TEST_TOKEN}\"}},"
      " \"plain\": {\"url\": \"https://127.0.0.1/mcp\"},"
      " \"off\": {\"command\": \"x\", \"disabled\": true}}}");
  assert_int_equal(cfg->count, 3);
  assert_string_equal(cfg->path, "/etc/mvm/mcp.json");

  s = mvm_mcp_config_find(cfg, "files");
  assert_non_null(s);
  assert_int_equal(s->kind, MVM_MCP_SERVER_STDIO);
  assert_string_equal(s->argv[0], "node");
  assert_string_equal(s->argv[1], "fs.js");
  assert_string_equal(s->argv[2], "/tmp");
  assert_null(s->argv[3]);
  assert_string_equal(env_value(s, "API_KEY"), "s3cret");
  assert_string_equal(env_value(s, "MODE"), "x");
  /* A relative cwd is taken from the file's directory. */
  assert_string_equal(s->cwd, "/etc/mvm/servers");

  s = mvm_mcp_config_find(cfg, "remote");
  assert_int_equal(s->kind, MVM_MCP_SERVER_HTTP);
  assert_string_equal(s->url, "http://127.0.0.1:9/mcp");
  assert_string_equal(s->type, "streamable-http");
  assert_string_equal(s->headers[0], "Authorization: Bearer s3cret");
  assert_null(s->headers[1]);

  s = mvm_mcp_config_find(cfg, "plain");
  assert_string_equal(s->type, "http");
  assert_null(s->headers[0]);
  assert_null(mvm_mcp_config_find(cfg, "off"));
  mvm_mcp_config_free(cfg);
}

static void inherits_only_safe_variables(void **state)
{
  mvm_mcp_config *cfg;
  const mvm_mcp_server_config *s;

  setenv("MVM_TEST_TOKEN", "not-for-servers", 1);
  cfg = parse_ok("{\"mcpServers\": {\"a\": {\"command\": \"x\","
                 " \"env\": {\"PATH\": \"/opt/bin\"}}}}");
  s = &cfg->servers[0];
  assert_null(env_value(s, "MVM_TEST_TOKEN"));
  /* "env" overrides an inherited variable. */
  assert_string_equal(env_value(s, "PATH"), "/opt/bin");
  if (getenv("HOME") != NULL)
    assert_string_equal(env_value(s, "HOME"), getenv("HOME"));
  assert_null(s->cwd);
  mvm_mcp_config_free(cfg);
}

static void expands_defaults(void **state)
{
  mvm_mcp_config *cfg;
  const mvm_mcp_server_config *s;

  setenv("MVM_TEST_EMPTY", "", 1);
  cfg = parse_ok("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": {"
                 " \"A\": \"${MVM_TEST_UNSET_VAR:-fallback}\","
                 " \"B\": \"${MVM_TEST_EMPTY:-used}\","
                 " \"C\": \"pre-${MVM_TEST_UNSET_VAR:-}-post $HOME $\","
                 " \"D\": \"${MVM_TEST_UNSET_VAR:-a:-b}\"}}}}");
  s = &cfg->servers[0];
  assert_string_equal(env_value(s, "A"), "fallback");
  assert_string_equal(env_value(s, "B"), "used");
  assert_string_equal(env_value(s, "C"), "pre--post $HOME $");
  assert_string_equal(env_value(s, "D"), "a:-b");
  mvm_mcp_config_free(cfg);
}

static void rejects_invalid_documents(void **state)
{
  struct {
    const char *text;
    const char *message;
  } cases[] = {
      {"{}", "has no \"mcpServers\" object"},
      {"{\"mcpServers\": []}", "has no \"mcpServers\" object"},
      {"{\"mcpServers\": {\"a.b\": {\"command\": \"x\"}}}",
       "server name 'a.b' is invalid"},
      {"{\"mcpServers\": {\"\": {\"command\": \"x\"}}}",
       "server name '' is invalid"},
      {"{\"mcpServers\": {\"std\": {\"command\": \"x\"}}}",
       "server name 'std' is reserved for mvm's built-in tools"},
      {"{\"mcpServers\": {\"a\": 3}}", "server 'a' must be an object"},
      {"{\"mcpServers\": {\"a\": {}}}", "needs exactly one of"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"url\": "
       "\"http://127.0.0.1/\"}}}",
       "needs exactly one of"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"\"}}}",
       "\"command\" must be a non-empty string"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"args\": \"-v\"}}}",
       "\"args\" must be an array"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"args\": [1]}}}",
       "\"args\"[0] must be a string"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": []}}}",
       "\"env\" must be an object"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": {\"K\": 1}}}}",
       "env 'K' must have a name"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": "
       "{\"K=V\": \"1\"}}}}",
       "env 'K=V' must have a name"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"type\": \"http\"}}}",
       "needs a \"url\""},
      {"{\"mcpServers\": {\"a\": {\"url\": \"ftp://127.0.0.1/\"}}}",
       "must start with http:// or https://"},
      {"{\"mcpServers\": {\"a\": {\"url\": \"http://127.0.0.1/\", "
       "\"type\": \"websocket\"}}}",
       "'websocket' is not one of"},
      {"{\"mcpServers\": {\"a\": {\"url\": \"http://127.0.0.1/\", "
       "\"headers\": {\"Bad Name\": \"v\"}}}}",
       "header \"Bad Name\" must be a token"},
      {"{\"mcpServers\": {\"a\": {\"url\": \"http://127.0.0.1/\", "
       "\"headers\": {\"X\\r\\nY\": \"v\"}}}}",
       "header \"X\\r\\nY\" must be a token"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", "
       "\"disabled\": \"yes\"}}}",
       "server 'a': \"disabled\" must be true or false"},
      {"{\"mcpServers\": {\"a\": {\"url\": \"http://127.0.0.1/\", "
       "\"headers\": {\"X\": \"a\\r\\nInjected: 1\"}}}}",
       "contains a line break"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": "
       "{\"K\": \"${MVM_TEST_UNSET_VAR}\"}}}}",
       "env 'K' uses ${MVM_TEST_UNSET_VAR}, which is not set; export "
       "MVM_TEST_UNSET_VAR or give a default"},
      {"{\"mcpServers\": {\"a\": {\"url\": \"http://127.0.0.1/\", "
       "\"headers\": {\"Authorization\": \"Bearer ${MVM_TEST_UNSET_VAR}\"}}}}",
       "header 'Authorization' uses ${MVM_TEST_UNSET_VAR}"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": "
       "{\"K\": \"${OPEN\"}}}}",
       "'${' without a closing '}'"},
      {"{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": "
       "{\"K\": \"${1BAD}\"}}}}",
       "invalid variable name '1BAD'"},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mvm_mcp_config *cfg = NULL;
    mvm_error err = {0};
    int rc = parse(cases[i].text, &cfg, &err);

    if (rc != MVM_ECONFIG || strstr(err.msg, cases[i].message) == NULL)
      fail_msg("case %zu: status %s, message '%s', expected '%s'", i,
               mvm_status_name(rc), err.msg, cases[i].message);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "/etc/mvm/mcp.json"));
  }
}

static void never_puts_values_in_messages(void **state)
{
  mvm_mcp_config *cfg = NULL;
  mvm_error err = {0};

  setenv("MVM_TEST_TOKEN", "tok\r\nen", 1);
  assert_int_equal(parse("{\"mcpServers\": {\"a\": {\"url\": "
                         "\"http://127.0.0.1/\", \"headers\": "
                         "{\"Authorization\": \"${MVM_TEST_TOKEN}\"}}}}",
                         &cfg, &err),
                   MVM_ECONFIG);
  assert_null(strstr(err.msg, "tok"));
}

static void warns_about_unknown_members(void **state)
{
  mvm_mcp_config *cfg;

  mcp_test_log_start(MVM_LOG_WARN);
  cfg = parse_ok("{\"mcpServers\": {"
                 " \"a\": {\"command\": \"x\", \"autoApprove\": [],"
                 "   \"headers\": {}},"
                 " \"b\": {\"url\": \"http://127.0.0.1/\", \"cwd\": \"/\"}}}");
  assert_int_equal(cfg->count, 2);
  assert_int_equal(
      mcp_test_log_count("server 'a': unknown member 'autoApprove' ignored"),
      1);
  assert_int_equal(
      mcp_test_log_count("server 'a': unknown member 'headers' ignored"), 1);
  assert_int_equal(
      mcp_test_log_count("server 'b': unknown member 'cwd' ignored"), 1);
  mvm_mcp_config_free(cfg);
}

static void enforces_limits(void **state)
{
  mvm_mcp_config *cfg = NULL;
  mvm_error err = {0};
  json_t *doc = json_object();
  json_t *servers = json_object();
  json_t *args = json_array();
  char name[16];

  json_object_set_new(doc, "mcpServers", servers);
  for (int i = 0; i <= MVM_MCP_CONFIG_MAX_SERVERS; i++) {
    snprintf(name, sizeof name, "s%d", i);
    json_object_set_new(servers, name, json_pack("{s:s}", "command", "x"));
  }
  assert_int_equal(mvm_mcp_config_parse(doc, "big.json", &cfg, &err),
                   MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "over the maximum of 64"));
  json_object_clear(servers);

  for (int i = 0; i <= MVM_MCP_CONFIG_MAX_ARGS; i++)
    json_array_append_new(args, json_string("a"));
  json_object_set_new(servers, "s",
                      json_pack("{s:s, s:o}", "command", "x", "args", args));
  assert_int_equal(mvm_mcp_config_parse(doc, "big.json", &cfg, &err),
                   MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "\"args\" has 257 items"));
  json_decref(doc);

  char name_long[80];
  char text[200];
  memset(name_long, 'n', 65);
  name_long[65] = '\0';
  snprintf(text, sizeof text,
           "{\"mcpServers\": {\"%s\": {\"command\": "
           "\"x\"}}}",
           name_long);
  assert_int_equal(parse(text, &cfg, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "1 to 64"));
}

static void loads_files(void **state)
{
  char path[] = "/tmp/mvm-mcp-config-XXXXXX";
  int fd = mkstemp(path);
  mvm_mcp_config *cfg = NULL;
  mvm_error err = {0};
  FILE *f;

  assert_true(fd >= 0);
  f = fdopen(fd, "w");
  fputs("{\"mcpServers\": {\"a\": {\"command\": \"x\"}}}", f);
  fclose(f);
  assert_int_equal(mvm_mcp_config_load(path, &cfg, &err), MVM_OK);
  assert_int_equal(cfg->count, 1);
  mvm_mcp_config_free(cfg);

  f = fopen(path, "w");
  fputs("{\"mcpServers\": {", f);
  fclose(f);
  assert_int_equal(mvm_mcp_config_load(path, &cfg, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "not valid JSON"));
  unlink(path);

  assert_int_equal(mvm_mcp_config_load(path, &cfg, &err), MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, path));
}

static void legacy_sse_is_unsupported(void **state)
{
  mvm_mcp_config *cfg = parse_ok("{\"mcpServers\": {\"old\": {\"url\": "
                                 "\"http://127.0.0.1:9/sse\", \"type\": "
                                 "\"sse\"}}}");
  mvm_toolbox box;
  mvm_error err = {0};

  assert_int_equal(mvm_mcp_config_open(&cfg->servers[0], NULL, &box, &err),
                   MVM_EUNSUPPORTED);
  assert_non_null(strstr(err.msg, "HTTP+SSE"));
  mvm_mcp_config_free(cfg);
}

static void starts_configured_server(void **state)
{
  const char *node = mcp_test_node();
  const char *script;
  json_t *doc;
  char *text;
  mvm_mcp_config *cfg;
  mvm_toolbox box;
  mvm_error err = {0};
  json_t *args;
  json_t *result = NULL;
  const char *env;

  assert_non_null(node);
  script =
      mcp_test_module("@modelcontextprotocol/server-everything/dist/index.js");
  assert_non_null(script);
  setenv("MVM_TEST_TOKEN", "passed-on", 1);
  setenv("MVM_TEST_EMPTY", "kept-in-mvm", 1);
  doc = json_pack("{s:{s:{s:s, s:[s, s], s:{s:s}}}}", "mcpServers",
                  "everything", "command", node, "args", script, "stdio", "env",
                  "TOKEN", "${MVM_TEST_TOKEN}");
  text = json_dumps(doc, 0);
  cfg = parse_ok(text);
  free(text);
  json_decref(doc);

  assert_int_equal(mvm_mcp_config_open(&cfg->servers[0], NULL, &box, &err),
                   MVM_OK);
  args = json_object();
  assert_int_equal(
      box.ops->call(box.self, "get-env", args, NULL, &result, &err), MVM_OK);
  env = json_string_value(json_object_get(
      json_array_get(json_object_get(result, "content"), 0), "text"));
  assert_non_null(env);
  assert_non_null(strstr(env, "\"TOKEN\": \"passed-on\""));
  assert_null(strstr(env, "kept-in-mvm"));
  assert_null(strstr(env, "MVM_TEST_TOKEN"));
  json_decref(result);
  json_decref(args);
  box.ops->close(box.self);
  mvm_mcp_config_free(cfg);
}

static void missing_command_names_server(void **state)
{
  mvm_mcp_config *cfg = parse_ok("{\"mcpServers\": {\"ghost\": {\"command\": "
                                 "\"mvm-no-such-server\"}}}");
  mvm_toolbox box;
  mvm_error err = {0};

  assert_int_equal(mvm_mcp_config_open(&cfg->servers[0], NULL, &box, &err),
                   MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, "server 'ghost'"));
  assert_non_null(strstr(err.msg, "mvm-no-such-server"));
  mvm_mcp_config_free(cfg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(parses_stdio_and_http_servers, teardown_test),
      cmocka_unit_test_teardown(inherits_only_safe_variables, teardown_test),
      cmocka_unit_test_teardown(expands_defaults, teardown_test),
      cmocka_unit_test_teardown(rejects_invalid_documents, teardown_test),
      cmocka_unit_test_teardown(never_puts_values_in_messages, teardown_test),
      cmocka_unit_test_teardown(warns_about_unknown_members, teardown_test),
      cmocka_unit_test_teardown(enforces_limits, teardown_test),
      cmocka_unit_test_teardown(loads_files, teardown_test),
      cmocka_unit_test_teardown(legacy_sse_is_unsupported, teardown_test),
      cmocka_unit_test_teardown(starts_configured_server, teardown_test),
      cmocka_unit_test_teardown(missing_command_names_server, teardown_test),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
