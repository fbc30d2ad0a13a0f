/* test_mcp_everything.c - the MCP client against the reference server
 * @modelcontextprotocol/server-everything over stdio: initialize, tool
 * listing and list changes, every content type it returns, structured
 * content, progress and timeouts, failed tools, roots, elicitation,
 * sampling, ping, and shutdown with no process left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "mcp_support.h"
#include "mvm.h"
#include "tools/mcp_client.h"

static int setup(void **state)
{
  if (mcp_test_node() == NULL)
    return -1;
  if (mcp_test_module("@modelcontextprotocol/server-everything/dist/"
                      "index.js") == NULL)
    return -1;
  return 0;
}

static mvm_mcp_client *open_everything(const mvm_mcp_client_opts *opts)
{
  mvm_mcp_client *c = NULL;
  mvm_error err = {0};

  if (mcp_test_open_everything(opts, &c, &err) != MVM_OK)
    fail_msg("cannot start server-everything: %s", err.msg);
  return c;
}

static json_t *call(mvm_mcp_client *c, const char *tool, const char *args,
                    const mvm_tool_call_opts *opts, int expected,
                    mvm_error *err)
{
  json_t *jargs = json_loads(args, 0, NULL);
  json_t *result = NULL;
  int rc;

  assert_non_null(jargs);
  rc = mvm_mcp_client_call_tool(c, tool, jargs, opts, &result, err);
  json_decref(jargs);
  if (rc != expected)
    fail_msg("tool %s: status %s, expected %s: %s", tool, mvm_status_name(rc),
             mvm_status_name(expected), err->msg);
  return result;
}

static const json_t *item(const json_t *result, size_t i)
{
  return json_array_get(json_object_get(result, "content"), i);
}

static const char *member(const json_t *obj, const char *key)
{
  return json_string_value(json_object_get(obj, key));
}

static bool has_tool(const json_t *tools, const char *name)
{
  size_t i;
  json_t *tool;

  json_array_foreach(tools, i, tool)
  {
    if (strcmp(member(tool, "name"), name) == 0)
      return true;
  }
  return false;
}

/* Returns the first content item of `type`, or NULL. */
static const json_t *item_of_type(const json_t *result, const char *type)
{
  size_t i;
  json_t *it;

  json_array_foreach(json_object_get(result, "content"), i, it)
  {
    if (strcmp(member(it, "type"), type) == 0)
      return it;
  }
  return NULL;
}

static void initializes(void **state)
{
  mvm_mcp_client *c = open_everything(NULL);
  const json_t *info = mvm_mcp_client_server_info(c);

  assert_string_equal(mvm_mcp_client_revision(c), "2025-11-25");
  assert_string_equal(member(json_object_get(info, "serverInfo"), "name"),
                      "mcp-servers/everything");
  assert_true(json_is_object(
      json_object_get(json_object_get(info, "capabilities"), "tools")));
  mvm_mcp_client_close(c);
}

static void negotiates_2025_06_18(void **state)
{
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;

  mvm_mcp_client_opts_init(&opts);
  opts.revision = "2025-06-18";
  c = open_everything(&opts);
  assert_string_equal(mvm_mcp_client_revision(c), "2025-06-18");
  mvm_mcp_client_close(c);
}

static void lists_tools_and_follows_changes(void **state)
{
  mvm_mcp_root roots[] = {{"file:///tmp/mvm-roots", "scratch"}};
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  mvm_mcp_client_stats stats;
  json_t *tools = NULL;
  mvm_error err = {0};
  const char *expected[] = {"echo",
                            "get-sum",
                            "get-tiny-image",
                            "get-annotated-message",
                            "get-resource-links",
                            "get-resource-reference",
                            "get-structured-content",
                            "trigger-long-running-operation"};

  mvm_mcp_client_opts_init(&opts);
  opts.roots = roots;
  opts.nroots = 1;
  c = open_everything(&opts);
  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_OK);
  for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
    if (!has_tool(tools, expected[i]))
      fail_msg("tool %s is missing", expected[i]);
  }
  json_decref(tools);

  /* The server registers its roots tool after notifications/initialized
   * and sends notifications/tools/list_changed. Waiting for the response
   * to a ping makes sure those notifications have been read. */
  assert_int_equal(mvm_mcp_client_ping(c, 0, &err), MVM_OK);
  mvm_mcp_client_stats_get(c, &stats);
  assert_true(stats.list_changed >= 1);
  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_OK);
  assert_true(has_tool(tools, "get-roots-list"));
  assert_false(has_tool(tools, "trigger-sampling-request"));
  json_decref(tools);
  mvm_mcp_client_close(c);
}

static void calls_echo_and_sum(void **state)
{
  mvm_mcp_client *c = open_everything(NULL);
  mvm_error err = {0};
  json_t *r;

  r = call(c, "echo", "{\"message\": \"hello mvm\"}", NULL, MVM_OK, &err);
  assert_string_equal(member(item(r, 0), "type"), "text");
  assert_string_equal(member(item(r, 0), "text"), "Echo: hello mvm");
  assert_true(json_is_false(json_object_get(r, "isError")));
  json_decref(r);

  r = call(c, "get-sum", "{\"a\": 2, \"b\": 40}", NULL, MVM_OK, &err);
  assert_non_null(strstr(member(item(r, 0), "text"), "42"));
  json_decref(r);

  /* Arguments that do not match inputSchema never reach the server. */
  call(c, "get-sum", "{\"a\": \"2\", \"b\": 40}", NULL, MVM_ESCHEMA, &err);
  assert_non_null(strstr(err.msg, "/a"));
  call(c, "echo", "{}", NULL, MVM_ESCHEMA, &err);
  mvm_mcp_client_close(c);
}

static void keeps_image_content(void **state)
{
  mvm_mcp_client *c = open_everything(NULL);
  mvm_error err = {0};
  const json_t *image;
  json_t *r;

  r = call(c, "get-tiny-image", "{}", NULL, MVM_OK, &err);
  image = item_of_type(r, "image");
  assert_non_null(image);
  assert_string_equal(member(image, "mimeType"), "image/png");
  assert_true(strlen(member(image, "data")) > 100);
  assert_non_null(item_of_type(r, "text"));
  json_decref(r);

  r = call(c, "get-annotated-message",
           "{\"messageType\": \"error\", \"includeImage\": true}", NULL, MVM_OK,
           &err);
  assert_non_null(json_object_get(item(r, 0), "annotations"));
  assert_non_null(item_of_type(r, "image"));
  json_decref(r);
  mvm_mcp_client_close(c);
}

static void keeps_resource_links_and_embedded_resources(void **state)
{
  mvm_mcp_client *c = open_everything(NULL);
  mvm_error err = {0};
  const json_t *res;
  json_t *r;
  size_t links = 0;
  size_t i;
  json_t *it;

  r = call(c, "get-resource-links", "{\"count\": 3}", NULL, MVM_OK, &err);
  json_array_foreach(json_object_get(r, "content"), i, it)
  {
    if (strcmp(member(it, "type"), "resource_link") == 0) {
      links++;
      assert_non_null(strstr(member(it, "uri"), "demo://resource/"));
    }
  }
  assert_int_equal(links, 3);
  json_decref(r);

  r = call(c, "get-resource-reference",
           "{\"resourceType\": \"Text\", \"resourceId\": 2}", NULL, MVM_OK,
           &err);
  res = json_object_get(item_of_type(r, "resource"), "resource");
  assert_non_null(res);
  assert_non_null(strstr(member(res, "uri"), "2"));
  assert_non_null(member(res, "text"));
  json_decref(r);

  r = call(c, "get-resource-reference",
           "{\"resourceType\": \"Blob\", \"resourceId\": 1}", NULL, MVM_OK,
           &err);
  res = json_object_get(item_of_type(r, "resource"), "resource");
  assert_non_null(member(res, "blob"));
  json_decref(r);
  mvm_mcp_client_close(c);
}

static void checks_structured_content(void **state)
{
  mvm_mcp_client *c = open_everything(NULL);
  mvm_error err = {0};
  const json_t *sc;
  json_t *tools = NULL;
  size_t i;
  json_t *tool;
  json_t *r;

  assert_int_equal(mvm_mcp_client_list_tools(c, &tools, &err), MVM_OK);
  json_array_foreach(tools, i, tool)
  {
    if (strcmp(member(tool, "name"), "get-structured-content") == 0)
      assert_true(json_is_object(json_object_get(tool, "outputSchema")));
  }
  json_decref(tools);

  r = call(c, "get-structured-content", "{\"location\": \"Chicago\"}", NULL,
           MVM_OK, &err);
  sc = json_object_get(r, "structuredContent");
  assert_int_equal(json_number_value(json_object_get(sc, "temperature")), 36);
  assert_string_equal(member(sc, "conditions"), "Light rain / drizzle");
  json_decref(r);

  call(c, "get-structured-content", "{\"location\": \"Paris\"}", NULL,
       MVM_ESCHEMA, &err);
  mvm_mcp_client_close(c);
}

static void failed_tool_is_a_result(void **state)
{
  mvm_mcp_client *c = open_everything(NULL);
  mvm_error err = {0};
  json_t *r;

  /* resourceId 0 passes the schema (a number) and fails in the tool. */
  r = call(c, "get-resource-reference",
           "{\"resourceType\": \"Text\", \"resourceId\": 0}", NULL, MVM_OK,
           &err);
  assert_true(json_is_true(json_object_get(r, "isError")));
  assert_non_null(strstr(member(item(r, 0), "text"), "Invalid resourceId"));
  json_decref(r);
  mvm_mcp_client_close(c);
}

struct progress_log {
  size_t n;
  char last[64];
};

static void on_progress(void *ctx, const char *text, size_t len)
{
  struct progress_log *log = ctx;
  log->n++;
  snprintf(log->last, sizeof log->last, "%.*s", (int)len, text);
}

static void reports_progress(void **state)
{
  mvm_mcp_client *c = open_everything(NULL);
  struct progress_log log = {0};
  mvm_model_stream stream = {.on_text = on_progress, .ctx = &log};
  mvm_tool_call_opts opts = {.timeout_s = 1.5, .progress = &stream};
  mvm_error err = {0};
  json_t *r;

  /* Eight steps of 0.3 s take 2.4 s, more than the 1.5 s timeout, which
   * each progress notification restarts. */
  r = call(c, "trigger-long-running-operation",
           "{\"duration\": 2.4, \"steps\": 8}", &opts, MVM_OK, &err);
  assert_int_equal(log.n, 8);
  assert_string_equal(log.last, "8/8");
  assert_non_null(strstr(member(item(r, 0), "text"), "completed"));
  json_decref(r);
  mvm_mcp_client_close(c);
}

static void maximum_timeout_cancels(void **state)
{
  mvm_mcp_client_opts copts;
  mvm_mcp_client *c;
  struct progress_log log = {0};
  mvm_model_stream stream = {.on_text = on_progress, .ctx = &log};
  mvm_tool_call_opts opts = {.timeout_s = 5, .progress = &stream};
  mvm_mcp_client_stats stats;
  mvm_error err = {0};
  json_t *r;

  mvm_mcp_client_opts_init(&copts);
  copts.max_timeout_ms = 1000;
  c = open_everything(&copts);
  call(c, "trigger-long-running-operation", "{\"duration\": 10, \"steps\": 20}",
       &opts, MVM_ETIMEOUT, &err);
  assert_non_null(strstr(err.msg, "maximum of 1000 ms"));
  assert_true(log.n >= 1);
  mvm_mcp_client_stats_get(c, &stats);
  assert_int_equal(stats.cancels_sent, 1);

  /* The session goes on after the cancellation. */
  r = call(c, "echo", "{\"message\": \"after\"}", NULL, MVM_OK, &err);
  assert_string_equal(member(item(r, 0), "text"), "Echo: after");
  json_decref(r);
  mvm_mcp_client_close(c);
}

static void gives_roots(void **state)
{
  mvm_mcp_root roots[] = {{"file:///tmp/mvm-roots", "scratch"}};
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  mvm_error err = {0};
  json_t *r;

  mvm_mcp_client_opts_init(&opts);
  opts.roots = roots;
  opts.nroots = 1;
  c = open_everything(&opts);
  r = call(c, "get-roots-list", "{}", NULL, MVM_OK, &err);
  assert_non_null(strstr(member(item(r, 0), "text"), "file:///tmp/mvm-roots"));
  assert_non_null(strstr(member(item(r, 0), "text"), "scratch"));
  json_decref(r);
  mvm_mcp_client_close(c);
}

struct host {
  int calls;
  json_t *params;
};

static int elicit(void *ctx, const char *server, const json_t *params,
                  json_t **result, mvm_error *err)
{
  struct host *h = ctx;
  h->calls++;
  json_decref(h->params);
  h->params = json_deep_copy(params);
  *result = json_pack("{s:s, s:{s:s, s:b, s:s, s:i}}", "action", "accept",
                      "content", "name", "Ada Lovelace", "check", 1, "email",
                      "ada@example.org", "integer", 42);
  return MVM_OK;
}

static int sample(void *ctx, const char *server, const json_t *params,
                  json_t **result, mvm_error *err)
{
  struct host *h = ctx;
  h->calls++;
  json_decref(h->params);
  h->params = json_deep_copy(params);
  *result =
      json_pack("{s:s, s:{s:s, s:s}, s:s, s:s}", "role", "assistant", "content",
                "type", "text", "text", "sampled by the test host", "model",
                "test-model", "stopReason", "endTurn");
  return MVM_OK;
}

static void elicitation_reaches_host(void **state)
{
  struct host host = {0};
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  mvm_error err = {0};
  json_t *r;

  mvm_mcp_client_opts_init(&opts);
  opts.elicit = elicit;
  opts.elicit_ctx = &host;
  c = open_everything(&opts);
  r = call(c, "trigger-elicitation-request", "{}", NULL, MVM_OK, &err);
  assert_int_equal(host.calls, 1);
  assert_true(json_is_object(json_object_get(host.params, "requestedSchema")));
  char *text = json_dumps(r, JSON_COMPACT);
  assert_non_null(text);
  if (strstr(text, "Ada Lovelace") == NULL)
    fail_msg("the accepted content is not in the result: %s", text);
  free(text);
  json_decref(r);
  json_decref(host.params);
  mvm_mcp_client_close(c);
}

static void sampling_reaches_host(void **state)
{
  struct host host = {0};
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c;
  mvm_error err = {0};
  json_t *r;

  mvm_mcp_client_opts_init(&opts);
  opts.sample = sample;
  opts.sample_ctx = &host;
  c = open_everything(&opts);
  r = call(c, "trigger-sampling-request",
           "{\"prompt\": \"say hi\", \"maxTokens\": 20}", NULL, MVM_OK, &err);
  assert_int_equal(host.calls, 1);
  assert_int_equal(
      json_integer_value(json_object_get(host.params, "maxTokens")), 20);
  assert_non_null(
      strstr(member(item(r, 0), "text"), "sampled by the test host"));
  json_decref(r);
  json_decref(host.params);
  mvm_mcp_client_close(c);
}

static void pings_and_shuts_down(void **state)
{
  mvm_mcp_client *c = open_everything(NULL);
  mvm_error err = {0};

  assert_int_equal(mvm_mcp_client_ping(c, 5000, &err), MVM_OK);
  mvm_mcp_client_close(c);
  /* The server and everything it started have been reaped. */
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(initializes),
      cmocka_unit_test(negotiates_2025_06_18),
      cmocka_unit_test(lists_tools_and_follows_changes),
      cmocka_unit_test(calls_echo_and_sum),
      cmocka_unit_test(keeps_image_content),
      cmocka_unit_test(keeps_resource_links_and_embedded_resources),
      cmocka_unit_test(checks_structured_content),
      cmocka_unit_test(failed_tool_is_a_result),
      cmocka_unit_test(reports_progress),
      cmocka_unit_test(maximum_timeout_cancels),
      cmocka_unit_test(gives_roots),
      cmocka_unit_test(elicitation_reaches_host),
      cmocka_unit_test(sampling_reaches_host),
      cmocka_unit_test(pings_and_shuts_down),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
