/* driver.c - the client the MCP conformance suite runs
 * (@modelcontextprotocol/conformance, `conformance client --command`).
 *
 * Usage: mcp_conformance_driver [--verbose] URL
 *
 * The suite starts a test server for one scenario, appends its URL as the
 * last argument and names the scenario in MCP_CONFORMANCE_SCENARIO. The
 * driver connects mvm's MCP client over the Streamable HTTP transport,
 * lists the tools and calls each one with arguments built from its input
 * schema, then closes the session. That covers the scenarios that test a
 * client without authorization: initialize, tools_call,
 * elicitation-sep1034-client-defaults (elicitation requests are accepted
 * with the defaults of the requested schema) and sse-retry (the transport
 * resumes the tool call's stream with Last-Event-ID). Exit status 0 means
 * every step succeeded; the suite judges conformance from what its server
 * saw. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mvm.h"
#include "tools/mcp_client.h"
#include "tools/mcp_http.h"

#define WHERE "conformance"

/* Builds the content of an elicitation result from the defaults in the
 * requested schema. Returns NULL when a required field has no default,
 * because there is no user here to fill it in. */
static json_t *defaults_of(const json_t *schema)
{
  const json_t *props = json_object_get(schema, "properties");
  const json_t *required = json_object_get(schema, "required");
  json_t *content = json_object();
  const char *name;
  json_t *prop;
  size_t i;

  if (content == NULL)
    return NULL;
  json_object_foreach((json_t *)props, name, prop) {
    json_t *value = json_object_get(prop, "default");

    if (value != NULL)
      json_object_set(content, name, value);
  }
  for (i = 0; i < json_array_size(required); i++) {
    const char *field = json_string_value(json_array_get(required, i));

    if (field != NULL && json_object_get(content, field) == NULL) {
      json_decref(content);
      return NULL;
    }
  }
  return content;
}

static int answer_elicitation(void *ctx, const char *server,
                              const json_t *params, json_t **result,
                              mvm_error *err)
{
  const json_t *schema = json_object_get(params, "requestedSchema");
  json_t *content = defaults_of(schema);

  (void)ctx;
  (void)server;
  if (content == NULL) {
    *result = json_pack("{s:s}", "action", "decline");
  } else {
    *result = json_pack("{s:s, s:o}", "action", "accept", "content",
                        content);
  }
  if (*result == NULL)
    return mvm_error_set(err, MVM_ENOMEM, WHERE, "out of memory");
  printf("elicitation: %s\n", content != NULL ? "accepted with defaults"
                                               : "declined");
  return MVM_OK;
}

/* Picks a value for one input property: its default, else a simple value
 * of its type. */
static json_t *sample_value(const json_t *prop)
{
  const json_t *value = json_object_get(prop, "default");
  const char *type = json_string_value(json_object_get(prop, "type"));
  const json_t *choices = json_object_get(prop, "enum");

  if (value != NULL)
    return json_deep_copy(value);
  if (json_array_size(choices) > 0)
    return json_deep_copy(json_array_get(choices, 0));
  if (type == NULL || strcmp(type, "string") == 0)
    return json_string("test");
  if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
    return json_integer(1);
  if (strcmp(type, "boolean") == 0)
    return json_true();
  if (strcmp(type, "array") == 0)
    return json_array();
  return json_object();
}

static json_t *sample_arguments(const json_t *tool)
{
  const json_t *schema = json_object_get(tool, "inputSchema");
  const json_t *props = json_object_get(schema, "properties");
  json_t *args = json_object();
  const char *name;
  json_t *prop;

  if (args == NULL)
    return NULL;
  json_object_foreach((json_t *)props, name, prop)
      json_object_set_new(args, name, sample_value(prop));
  return args;
}

static int call_tools(mvm_mcp_client *client, mvm_error *err)
{
  json_t *tools = NULL;
  size_t i;
  int rc;

  rc = mvm_mcp_client_list_tools(client, &tools, err);
  if (rc)
    return rc;
  printf("tools: %zu\n", json_array_size(tools));
  for (i = 0; i < json_array_size(tools) && rc == MVM_OK; i++) {
    const json_t *tool = json_array_get(tools, i);
    const char *name = json_string_value(json_object_get(tool, "name"));
    json_t *args = sample_arguments(tool);
    json_t *result = NULL;
    char *text;

    rc = mvm_mcp_client_call_tool(client, name, args, NULL, &result, err);
    json_decref(args);
    if (rc)
      break;
    text = json_dumps(result, JSON_COMPACT);
    printf("call %s: %s\n", name, text != NULL ? text : "?");
    free(text);
    json_decref(result);
  }
  json_decref(tools);
  return rc;
}

int main(int argc, char **argv)
{
  const char *scenario = getenv("MCP_CONFORMANCE_SCENARIO");
  mvm_mcp_http_config cfg = {0};
  mvm_mcp_client_opts opts;
  mvm_mcp_transport *t = NULL;
  mvm_mcp_client *client = NULL;
  mvm_error err = {0};
  int rc;

  if (argc < 2 || strcmp(argv[1], "--help") == 0) {
    fprintf(stderr,
            "usage: %s [--verbose] URL\n"
            "Connects to the MCP server at URL over Streamable HTTP, lists "
            "and calls its tools,\nanswering elicitations with the schema's "
            "defaults. Run by the conformance suite.\n",
            argv[0]);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--verbose") == 0)
    mvm_log_set_level(MVM_LOG_DEBUG);
  printf("scenario: %s\n", scenario != NULL ? scenario : "(none)");

  cfg.server = "conformance";
  cfg.url = argv[argc - 1];
  rc = mvm_mcp_http_open(&cfg, &t, &err);
  if (rc)
    goto out;
  mvm_mcp_client_opts_init(&opts);
  opts.elicit = answer_elicitation;
  rc = mvm_mcp_client_open(t, &opts, &client, &err);
  if (rc)
    goto out;
  printf("initialized: revision %s\n", mvm_mcp_client_revision(client));
  rc = call_tools(client, &err);

out:
  mvm_mcp_client_close(client);
  if (rc) {
    fprintf(stderr, "mcp_conformance_driver: %s: %s\n", mvm_status_name(rc),
            err.msg);
    return 1;
  }
  return 0;
}
