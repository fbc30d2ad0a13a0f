/* test_mcp_reference.c - the MCP client over stdio against the reference
 * servers installed by scripts/deps.sh under node/node_modules:
 * server-everything (every content type, structured content, progress,
 * tool errors, roots, elicitation, sampling, list changes), then
 * server-filesystem and server-memory. Each server runs under the `node`
 * found in PATH and must be gone after close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mvm.h"
#include "support.h"
#include "tools/mcp_client.h"
#include "tools/mcp_stdio.h"

#define EVERYTHING "node/node_modules/@modelcontextprotocol/" \
                   "server-everything/dist/index.js"
#define FILESYSTEM "node/node_modules/@modelcontextprotocol/" \
                   "server-filesystem/dist/index.js"
#define MEMORY "node/node_modules/@modelcontextprotocol/" \
               "server-memory/dist/index.js"

struct server {
  mvm_mcp_client *client;
  pid_t pid;
};

static char script[4096];

/* Fails the test, rather than skipping it, when the npm servers are not
 * installed. */
static const char *server_script(const char *relative)
{
  snprintf(script, sizeof script, "%s", mvm_test_path(relative));
  if (access(script, R_OK) != 0)
    fail_msg("%s is missing: run scripts/deps.sh to install the MCP "
             "reference servers under node/node_modules",
             script);
  return script;
}

static void server_open(struct server *s, const char *name,
                        const char *const *argv, const char *const *envp,
                        const mvm_mcp_client_opts *copts)
{
  mvm_mcp_stdio_opts sopts = {.server = name, .argv = argv, .envp = envp};
  mvm_mcp_transport *t = NULL;
  mvm_error err = {0};
  int rc;

  memset(s, 0, sizeof *s);
  rc = mvm_mcp_stdio_open(&sopts, &t, &err);
  if (rc)
    fail_msg("starting %s failed: %s", name, err.msg);
  s->pid = mvm_mcp_stdio_pid(t);
  rc = mvm_mcp_client_open(t, copts, &s->client, &err);
  if (rc)
    fail_msg("initializing %s failed: %s", name, err.msg);
}

static void everything_open(struct server *s,
                            const mvm_mcp_client_opts *copts)
{
  const char *argv[] = {"node", server_script(EVERYTHING), "stdio", NULL};
  server_open(s, "everything", argv, NULL, copts);
}

static void server_close(struct server *s)
{
  mvm_mcp_client_close(s->client);
  errno = 0;
  assert_int_equal(waitpid(s->pid, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
  assert_int_equal(kill(s->pid, 0), -1);
}

static json_t *call_ok(struct server *s, const char *tool, const char *args,
                       const mvm_tool_call_opts *opts)
{
  json_t *a = json_loads(args, 0, NULL);
  json_t *result = NULL;
  mvm_error err = {0};
  int rc;

  assert_non_null(a);
  rc = mvm_mcp_client_call_tool(s->client, tool, a, opts, &result, &err);
  json_decref(a);
  if (rc)
    fail_msg("calling %s failed: %s: %s", tool, mvm_status_name(rc),
             err.msg);
  assert_true(json_is_boolean(json_object_get(result, "isError")));
  return result;
}

static const json_t *content_item(const json_t *result, size_t i)
{
  return json_array_get(json_object_get(result, "content"), i);
}

static const char *item_text(const json_t *result, size_t i)
{
  return json_string_value(json_object_get(content_item(result, i), "text"));
}

static const char *item_type(const json_t *result, size_t i)
{
  return json_string_value(json_object_get(content_item(result, i), "type"));
}

/* Waits until the server lists `tool`, which it may register after
 * initialization and announce with notifications/tools/list_changed. */
static bool wait_for_tool(struct server *s, const char *tool)
{
  mvm_error err = {0};

  for (int i = 0; i < 100; i++) {
    json_t *tools = NULL;
    size_t k;
    json_t *t;
    bool found = false;

    assert_int_equal(mvm_mcp_client_list_tools(s->client, &tools, &err),
                     MVM_OK);
    json_array_foreach(tools, k, t) {
      if (strcmp(json_string_value(json_object_get(t, "name")), tool) == 0)
        found = true;
    }
    json_decref(tools);
    if (found)
      return true;
    assert_int_equal(mvm_mcp_client_poll(s->client, 100, &err), MVM_OK);
  }
  return false;
}

static void test_everything_lists_tools(void **state)
{
  struct server s;
  mvm_error err = {0};
  json_t *tools = NULL;
  size_t i;
  json_t *tool;
  bool echo = false;

  everything_open(&s, NULL);
  assert_string_equal(mvm_mcp_client_revision(s.client),
                      MVM_MCP_LATEST_REVISION);
  assert_string_equal(mvm_mcp_client_transport_kind(s.client), "stdio");
  assert_int_equal(mvm_mcp_client_list_tools(s.client, &tools, &err),
                   MVM_OK);
  assert_true(json_array_size(tools) >= 10);
  json_array_foreach(tools, i, tool) {
    const char *name = json_string_value(json_object_get(tool, "name"));
    assert_non_null(name);
    assert_true(json_is_object(json_object_get(tool, "inputSchema")));
    if (strcmp(name, "echo") == 0)
      echo = true;
  }
  assert_true(echo);
  json_decref(tools);
  assert_int_equal(mvm_mcp_client_ping(s.client, 0, &err), MVM_OK);
  server_close(&s);
}

static void test_everything_text_tools(void **state)
{
  struct server s;
  json_t *r;

  everything_open(&s, NULL);
  r = call_ok(&s, "echo", "{\"message\": \"hello mvm\"}", NULL);
  assert_false(json_is_true(json_object_get(r, "isError")));
  assert_string_equal(item_text(r, 0), "Echo: hello mvm");
  json_decref(r);

  r = call_ok(&s, "get-sum", "{\"a\": 2, \"b\": 40}", NULL);
  assert_non_null(strstr(item_text(r, 0), "is 42"));
  json_decref(r);
  server_close(&s);
}

static void test_everything_bad_args(void **state)
{
  struct server s;
  mvm_error err = {0};
  json_t *args = json_pack("{s:s, s:i}", "a", "two", "b", 40);
  json_t *result = NULL;

  everything_open(&s, NULL);
  /* The input schema declares a as a number: the client rejects the call
   * before it reaches the server. */
  assert_int_equal(mvm_mcp_client_call_tool(s.client, "get-sum", args, NULL,
                                            &result, &err),
                   MVM_ESCHEMA);
  assert_non_null(strstr(err.msg, "get-sum"));
  assert_null(result);
  json_decref(args);
  server_close(&s);
}

static void test_everything_image(void **state)
{
  struct server s;
  json_t *r;

  everything_open(&s, NULL);
  r = call_ok(&s, "get-tiny-image", "{}", NULL);
  assert_string_equal(item_type(r, 1), "image");
  assert_string_equal(json_string_value(json_object_get(content_item(r, 1),
                                                        "mimeType")),
                      "image/png");
  assert_true(json_string_length(json_object_get(content_item(r, 1),
                                                 "data")) > 100);
  json_decref(r);
  server_close(&s);
}

static void test_everything_resource_links(void **state)
{
  struct server s;
  json_t *r;

  everything_open(&s, NULL);
  r = call_ok(&s, "get-resource-links", "{\"count\": 2}", NULL);
  assert_int_equal(json_array_size(json_object_get(r, "content")), 3);
  assert_string_equal(item_type(r, 1), "resource_link");
  assert_string_equal(item_type(r, 2), "resource_link");
  assert_non_null(json_string_value(json_object_get(content_item(r, 1),
                                                    "uri")));
  json_decref(r);
  server_close(&s);
}

static void test_everything_embedded_resource(void **state)
{
  struct server s;
  json_t *r;

  everything_open(&s, NULL);
  r = call_ok(&s, "get-resource-reference",
              "{\"resourceType\": \"Text\", \"resourceId\": 2}", NULL);
  assert_string_equal(item_type(r, 1), "resource");
  const json_t *res = json_object_get(content_item(r, 1), "resource");
  assert_non_null(json_string_value(json_object_get(res, "uri")));
  assert_non_null(json_string_value(json_object_get(res, "text")));
  json_decref(r);

  r = call_ok(&s, "get-resource-reference",
              "{\"resourceType\": \"Blob\", \"resourceId\": 3}", NULL);
  res = json_object_get(content_item(r, 1), "resource");
  assert_non_null(json_string_value(json_object_get(res, "blob")));
  json_decref(r);
  server_close(&s);
}

static void test_everything_tool_error(void **state)
{
  struct server s;
  json_t *r;

  everything_open(&s, NULL);
  /* The tool throws on id 0: a failed tool result, not a protocol
   * error. */
  r = call_ok(&s, "get-resource-reference",
              "{\"resourceType\": \"Text\", \"resourceId\": 0}", NULL);
  assert_true(json_is_true(json_object_get(r, "isError")));
  assert_non_null(strstr(item_text(r, 0), "resourceId"));
  json_decref(r);
  server_close(&s);
}

static void test_everything_structured(void **state)
{
  struct server s;
  json_t *r;

  everything_open(&s, NULL);
  r = call_ok(&s, "get-structured-content", "{\"location\": \"Chicago\"}",
              NULL);
  const json_t *sc = json_object_get(r, "structuredContent");
  assert_true(json_is_object(sc));
  assert_true(json_is_number(json_object_get(sc, "temperature")));
  assert_string_equal(item_type(r, 0), "text");
  json_decref(r);
  server_close(&s);
}

static void test_everything_annotations(void **state)
{
  struct server s;
  json_t *r;

  everything_open(&s, NULL);
  r = call_ok(&s, "get-annotated-message",
              "{\"messageType\": \"error\", \"includeImage\": true}", NULL);
  assert_true(json_is_object(json_object_get(content_item(r, 0),
                                             "annotations")));
  assert_string_equal(item_type(r, 1), "image");
  json_decref(r);
  server_close(&s);
}

struct progress_log {
  unsigned lines;
  char last[128];
};

static void log_progress(void *ctx, const char *text, size_t len)
{
  struct progress_log *log = ctx;
  log->lines++;
  snprintf(log->last, sizeof log->last, "%.*s", (int)len, text);
}

static void test_everything_progress(void **state)
{
  struct server s;
  struct progress_log log = {0};
  mvm_model_stream stream = {.on_text = log_progress, .ctx = &log};
  mvm_tool_call_opts opts = {.timeout_s = 1.5, .progress = &stream};
  json_t *r;

  everything_open(&s, NULL);
  /* Eight steps of 0.25 s run past the 1.5 s timeout, which progress
   * restarts. */
  r = call_ok(&s, "trigger-long-running-operation",
              "{\"duration\": 2, \"steps\": 8}", &opts);
  assert_non_null(strstr(item_text(r, 0), "completed"));
  assert_int_equal(log.lines, 8);
  assert_string_equal(log.last, "8/8");
  json_decref(r);
  server_close(&s);
}

static void test_everything_roots(void **state)
{
  struct server s;
  mvm_mcp_root roots[] = {{"file:///tmp/mvm-reference-root", "scratch"}};
  mvm_mcp_client_opts copts;
  json_t *r;

  mvm_mcp_client_opts_init(&copts);
  copts.roots = roots;
  copts.nroots = 1;
  everything_open(&s, &copts);
  /* The server registers get-roots-list only for a client with the roots
   * capability, after initialization, and announces it with list_changed. */
  assert_true(wait_for_tool(&s, "get-roots-list"));
  r = call_ok(&s, "get-roots-list", "{}", NULL);
  assert_non_null(strstr(item_text(r, 0), "file:///tmp/mvm-reference-root"));
  json_decref(r);
  server_close(&s);
}

static void test_everything_no_capabilities(void **state)
{
  struct server s;
  mvm_error err = {0};
  json_t *tools = NULL;
  size_t i;
  json_t *tool;

  everything_open(&s, NULL);
  /* Give the server time to register its conditional tools. */
  assert_int_equal(mvm_mcp_client_poll(s.client, 300, &err), MVM_OK);
  assert_int_equal(mvm_mcp_client_list_tools(s.client, &tools, &err),
                   MVM_OK);
  json_array_foreach(tools, i, tool) {
    const char *name = json_string_value(json_object_get(tool, "name"));
    assert_string_not_equal(name, "get-roots-list");
    assert_string_not_equal(name, "trigger-elicitation-request");
    assert_string_not_equal(name, "trigger-sampling-request");
  }
  json_decref(tools);
  server_close(&s);
}

static int elicit_answer(void *ctx, const char *server, const json_t *params,
                         json_t **result, mvm_error *err)
{
  unsigned *calls = ctx;
  (*calls)++;
  assert_string_equal(server, "everything");
  assert_true(json_is_object(json_object_get(params, "requestedSchema")));
  *result = json_pack("{s:s, s:{s:s}}", "action", "accept", "content",
                      "name", "Ada Lovelace");
  return MVM_OK;
}

static void test_everything_elicitation(void **state)
{
  struct server s;
  mvm_mcp_client_opts copts;
  unsigned calls = 0;
  json_t *r;

  mvm_mcp_client_opts_init(&copts);
  copts.elicit = elicit_answer;
  copts.elicit_ctx = &calls;
  everything_open(&s, &copts);
  assert_true(wait_for_tool(&s, "trigger-elicitation-request"));
  r = call_ok(&s, "trigger-elicitation-request", "{}", NULL);
  assert_int_equal(calls, 1);
  assert_non_null(strstr(item_text(r, 1), "Name: Ada Lovelace"));
  json_decref(r);
  server_close(&s);
}

static int sample_answer(void *ctx, const char *server, const json_t *params,
                         json_t **result, mvm_error *err)
{
  unsigned *calls = ctx;
  (*calls)++;
  assert_true(json_is_array(json_object_get(params, "messages")));
  *result = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s}", "role", "assistant",
                      "content", "type", "text", "text", "sampled reply",
                      "model", "test-model", "stopReason", "endTurn");
  return MVM_OK;
}

static void test_everything_sampling(void **state)
{
  struct server s;
  mvm_mcp_client_opts copts;
  unsigned calls = 0;
  json_t *r;

  mvm_mcp_client_opts_init(&copts);
  copts.sample = sample_answer;
  copts.sample_ctx = &calls;
  everything_open(&s, &copts);
  assert_true(wait_for_tool(&s, "trigger-sampling-request"));
  r = call_ok(&s, "trigger-sampling-request",
              "{\"prompt\": \"hi\", \"maxTokens\": 10}", NULL);
  assert_int_equal(calls, 1);
  assert_non_null(strstr(item_text(r, 0), "sampled reply"));
  json_decref(r);
  server_close(&s);
}

static void test_everything_logging(void **state)
{
  struct server s;
  mvm_mcp_client_stats before;
  mvm_mcp_client_stats after;
  mvm_error err = {0};
  json_t *r;

  everything_open(&s, NULL);
  mvm_mcp_client_stats_get(s.client, &before);
  r = call_ok(&s, "toggle-simulated-logging", "{}", NULL);
  json_decref(r);
  /* The server now sends notifications/message every few seconds. */
  for (int i = 0; i < 100; i++) {
    assert_int_equal(mvm_mcp_client_poll(s.client, 100, &err), MVM_OK);
    mvm_mcp_client_stats_get(s.client, &after);
    if (after.notifications > before.notifications)
      break;
  }
  assert_true(after.notifications > before.notifications);
  server_close(&s);
}

static char tmp_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
  return remove(path);
}

static void make_tmp_dir(void)
{
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/mvm-mcp-ref-XXXXXX");
  assert_non_null(mkdtemp(tmp_dir));
}

static void remove_tmp_dir(void)
{
  nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_filesystem_server(void **state)
{
  struct server s;
  char file[128];
  char args[512];
  json_t *r;

  make_tmp_dir();
  snprintf(file, sizeof file, "%s/notes.txt", tmp_dir);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fputs("first line\n", f);
  fclose(f);

  const char *argv[] = {"node", server_script(FILESYSTEM), tmp_dir, NULL};
  server_open(&s, "filesystem", argv, NULL, NULL);

  snprintf(args, sizeof args, "{\"path\": \"%s\"}", tmp_dir);
  r = call_ok(&s, "list_directory", args, NULL);
  assert_false(json_is_true(json_object_get(r, "isError")));
  assert_non_null(strstr(item_text(r, 0), "[FILE] notes.txt"));
  json_decref(r);

  snprintf(args, sizeof args,
           "{\"path\": \"%s/new.txt\", \"content\": \"written by mvm\"}",
           tmp_dir);
  r = call_ok(&s, "write_file", args, NULL);
  assert_false(json_is_true(json_object_get(r, "isError")));
  json_decref(r);

  snprintf(args, sizeof args, "{\"path\": \"%s/new.txt\"}", tmp_dir);
  r = call_ok(&s, "read_text_file", args, NULL);
  assert_string_equal(item_text(r, 0), "written by mvm");
  json_decref(r);

  /* Outside the allowed directory: a failed tool result. */
  r = call_ok(&s, "read_text_file", "{\"path\": \"/etc/hostname\"}", NULL);
  assert_true(json_is_true(json_object_get(r, "isError")));
  json_decref(r);

  server_close(&s);
  remove_tmp_dir();
}

static void test_memory_server(void **state)
{
  struct server s;
  char env[160];
  json_t *r;

  make_tmp_dir();
  snprintf(env, sizeof env, "MEMORY_FILE_PATH=%s/memory.jsonl", tmp_dir);
  const char *argv[] = {"node", server_script(MEMORY), NULL};
  const char *envp[] = {env, NULL};
  server_open(&s, "memory", argv, envp, NULL);

  r = call_ok(&s, "create_entities",
              "{\"entities\": [{\"name\": \"mvm\", \"entityType\": "
              "\"project\", \"observations\": [\"written in C\"]}]}",
              NULL);
  assert_false(json_is_true(json_object_get(r, "isError")));
  json_decref(r);

  r = call_ok(&s, "read_graph", "{}", NULL);
  assert_non_null(strstr(item_text(r, 0), "written in C"));
  json_decref(r);

  server_close(&s);
  remove_tmp_dir();
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_everything_lists_tools),
      cmocka_unit_test(test_everything_text_tools),
      cmocka_unit_test(test_everything_bad_args),
      cmocka_unit_test(test_everything_image),
      cmocka_unit_test(test_everything_resource_links),
      cmocka_unit_test(test_everything_embedded_resource),
      cmocka_unit_test(test_everything_tool_error),
      cmocka_unit_test(test_everything_structured),
      cmocka_unit_test(test_everything_annotations),
      cmocka_unit_test(test_everything_progress),
      cmocka_unit_test(test_everything_roots),
      cmocka_unit_test(test_everything_no_capabilities),
      cmocka_unit_test(test_everything_elicitation),
      cmocka_unit_test(test_everything_sampling),
      cmocka_unit_test(test_everything_logging),
      cmocka_unit_test(test_filesystem_server),
      cmocka_unit_test(test_memory_server),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
