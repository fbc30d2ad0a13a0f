/* test_mcp_servers.c - the MCP client against the reference servers
 * @modelcontextprotocol/server-filesystem and server-memory, each started
 * from an mcpServers document through mvm_mcp_config_open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mcp_support.h"
#include "mvm.h"
#include "tools/mcp_config.h"

static char base[64];
static char node_path[4096];

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
  return remove(path);
}

static int setup(void **state)
{
  const char *node = mcp_test_node();

  if (node == NULL)
    return -1;
  snprintf(node_path, sizeof node_path, "%s", node);
  if (mcp_test_module("@modelcontextprotocol/server-filesystem/dist/"
                      "index.js") == NULL ||
      mcp_test_module("@modelcontextprotocol/server-memory/dist/index.js") ==
          NULL)
    return -1;
  snprintf(base, sizeof base, "/tmp/mvm-mcp-servers-XXXXXX");
  return mkdtemp(base) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
  nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* Starts the one server an mcpServers document names. */
static mvm_toolbox open_config(const char *doc_text,
                               const mvm_mcp_client_opts *opts)
{
  json_error_t jerr;
  json_t *doc = json_loads(doc_text, 0, &jerr);
  mvm_mcp_config *cfg = NULL;
  mvm_toolbox box = {0};
  mvm_error err = {0};

  if (doc == NULL)
    fail_msg("invalid test document: %s", jerr.text);
  if (mvm_mcp_config_parse(doc, "test.json", &cfg, &err) != MVM_OK)
    fail_msg("config: %s", err.msg);
  assert_int_equal(cfg->count, 1);
  if (mvm_mcp_config_open(&cfg->servers[0], opts, &box, &err) != MVM_OK)
    fail_msg("cannot start %s: %s", cfg->servers[0].name, err.msg);
  mvm_mcp_config_free(cfg);
  json_decref(doc);
  return box;
}

static json_t *call(const mvm_toolbox *box, const char *tool,
                    json_t *args /* stolen */)
{
  json_t *result = NULL;
  mvm_error err = {0};
  int rc = box->ops->call(box->self, tool, args, NULL, &result, &err);

  json_decref(args);
  if (rc != MVM_OK)
    fail_msg("%s.%s: %s", box->server, tool, err.msg);
  return result;
}

static const char *text_of(const json_t *result)
{
  return json_string_value(json_object_get(
      json_array_get(json_object_get(result, "content"), 0), "text"));
}

static char *filesystem_doc(const char *dir)
{
  const char *script =
      mcp_test_module("@modelcontextprotocol/server-filesystem/dist/index.js");
  json_t *doc = json_pack("{s:{s:{s:s, s:[s, s]}}}", "mcpServers", "files",
                          "command", node_path, "args", script, dir);
  char *text = json_dumps(doc, 0);
  json_decref(doc);
  return text;
}

static void filesystem_reads_and_writes(void **state)
{
  char dir[128];
  char file[192];
  char *doc;
  mvm_toolbox box;
  json_t *tools = NULL;
  mvm_error err = {0};
  json_t *r;

  snprintf(dir, sizeof dir, "%s/files", base);
  assert_int_equal(mkdir(dir, 0700), 0);
  snprintf(file, sizeof file, "%s/note.txt", dir);
  doc = filesystem_doc(dir);
  box = open_config(doc, NULL);
  free(doc);
  assert_string_equal(box.server, "files");
  assert_string_equal(box.ops->kind, "mcp-stdio");

  assert_int_equal(box.ops->list(box.self, &tools, &err), MVM_OK);
  assert_true(json_array_size(tools) >= 10);
  json_decref(tools);

  r = call(&box, "write_file",
           json_pack("{s:s, s:s}", "path", file, "content", "from mvm\n"));
  assert_false(json_is_true(json_object_get(r, "isError")));
  json_decref(r);

  r = call(&box, "read_text_file", json_pack("{s:s}", "path", file));
  assert_string_equal(text_of(r), "from mvm\n");
  json_decref(r);

  r = call(&box, "list_directory", json_pack("{s:s}", "path", dir));
  assert_non_null(strstr(text_of(r), "[FILE] note.txt"));
  json_decref(r);

  /* Outside the allowed directory the server refuses, as a failed tool
   * result. */
  r = call(&box, "read_text_file", json_pack("{s:s}", "path", "/etc/passwd"));
  assert_true(json_is_true(json_object_get(r, "isError")));
  assert_non_null(strstr(text_of(r), "denied"));
  json_decref(r);

  box.ops->close(box.self);
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void filesystem_takes_roots(void **state)
{
  char dir[128];
  char root[128];
  char uri[160];
  char *doc;
  mvm_mcp_root roots[1];
  mvm_mcp_client_opts opts;
  mvm_toolbox box;
  bool seen = false;

  snprintf(dir, sizeof dir, "%s/started", base);
  snprintf(root, sizeof root, "%s/root", base);
  assert_int_equal(mkdir(dir, 0700), 0);
  assert_int_equal(mkdir(root, 0700), 0);
  snprintf(uri, sizeof uri, "file://%s", root);
  roots[0].uri = uri;
  roots[0].name = "root";
  mvm_mcp_client_opts_init(&opts);
  opts.roots = roots;
  opts.nroots = 1;

  doc = filesystem_doc(dir);
  box = open_config(doc, &opts);
  free(doc);
  /* The server requests the roots after initialization and, once it has
   * checked them in the background, replaces its directories with them.
   * So the test calls until the root shows, at most 50 times. */
  for (int i = 0; i < 50 && !seen; i++) {
    json_t *r = call(&box, "list_allowed_directories", json_object());
    seen = strstr(text_of(r), root) != NULL;
    json_decref(r);
    if (!seen)
      usleep(100 * 1000);
  }
  assert_true(seen);
  box.ops->close(box.self);
}

static void memory_keeps_entities(void **state)
{
  const char *script =
      mcp_test_module("@modelcontextprotocol/server-memory/dist/index.js");
  char file[128];
  json_t *doc;
  char *text;
  mvm_toolbox box;
  json_t *r;
  struct stat st;

  snprintf(file, sizeof file, "%s/memory.jsonl", base);
  setenv("MVM_TEST_MEMORY", file, 1);
  doc = json_pack("{s:{s:{s:s, s:[s], s:{s:s}}}}", "mcpServers", "memory",
                  "command", node_path, "args", script, "env",
                  "MEMORY_FILE_PATH", "${MVM_TEST_MEMORY}");
  text = json_dumps(doc, 0);
  box = open_config(text, NULL);
  free(text);
  json_decref(doc);

  r = call(&box, "create_entities",
           json_pack("{s:[{s:s, s:s, s:[s]}]}", "entities", "name", "mvm",
                     "entityType", "project", "observations", "written in C"));
  assert_false(json_is_true(json_object_get(r, "isError")));
  json_decref(r);

  r = call(&box, "search_nodes", json_pack("{s:s}", "query", "written"));
  assert_non_null(strstr(text_of(r), "mvm"));
  json_decref(r);

  r = call(&box, "read_graph", json_object());
  assert_non_null(strstr(text_of(r), "written in C"));
  json_decref(r);
  box.ops->close(box.self);

  assert_int_equal(stat(file, &st), 0);
  assert_true(st.st_size > 0);
  unsetenv("MVM_TEST_MEMORY");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(filesystem_reads_and_writes),
      cmocka_unit_test(filesystem_takes_roots),
      cmocka_unit_test(memory_keeps_entities),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
