/* cmd_tools.c - `mvm tools list` and `mvm tools call`: the tools of the
 * configured MCP servers, and one call to one of them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "cli/cli.h"
#include "mvm.h"
#include "tools/mcp_client.h"
#include "tools/mcp_config.h"
#include "cli/term.h"
#include "runtime/connect.h"
#include "value/schema.h"

static const char usage[] =
    "usage: mvm tools list [SERVER...] [OPTIONS]\n"
    "       mvm tools call SERVER TOOL [JSON-ARGS] [OPTIONS]\n"
    "\n"
    "'list' starts every configured MCP server (or the named ones) and\n"
    "prints each tool with its description, annotations and identity\n"
    "hash: SHA-256 over the canonical JSON of its description and input\n"
    "schema, which changes whenever either does.\n"
    "\n"
    "'call' starts SERVER, calls TOOL with JSON-ARGS (a JSON object;\n"
    "default {}), and prints the result: text content as is, other\n"
    "content summarized, structuredContent as indented JSON. Progress\n"
    "goes to stderr.\n"
    "\n"
    "options:\n"
    "  --config FILE   the mcpServers file (default: $MVM_MCP_CONFIG);\n"
    "                  --mcp-config FILE, as in 'mvm run', is the same\n"
    "  --policy FILE   call: the policy that decides the call (default:\n"
    "                  $MVM_POLICY); 'permissive' turns the monitor off\n"
    "  --json          print JSON instead of text: for list, every server\n"
    "                  and tool; for call, the whole CallToolResult\n"
    "  --timeout SECS  call: seconds without a response or progress before\n"
    "                  the call is cancelled (default 60)\n"
    "  --verbose       also log the servers' stderr lines\n"
    "  --trace=LIST    trace categories on stderr, e.g. mcp\n"
    "  --help          show this text\n"
    "\n"
    "Exit codes: 0 done, 1 the tool reported an error (isError), 2 bad\n"
    "command line, 4 bad configuration, 5 denied by the policy, 6 a limit\n"
    "was exceeded, 8 the server failed, timed out or broke the protocol,\n"
    "10 file error, 130 interrupted.\n";

struct tools_opts {
  const char *config;
  const char *config_option; /* "--config" or "--mcp-config" as typed */
  const char *policy;
  bool json;
  bool verbose;
  double timeout_s;
  const char *trace;
  const char *positional[64];
  int npositional;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
  interrupted = 1;
  signal(sig, SIG_DFL);
}

static int usage_error(const char *problem, const char *value)
{
  fprintf(stderr, "mvm tools: %s%s%s; run 'mvm tools --help'\n", problem,
          value != NULL ? ": " : "", value != NULL ? value : "");
  return MVM_EXIT_USAGE;
}

/* Matches --name=VALUE or --name VALUE, advancing *i past the value. */
static bool match_option(int argc, char **argv, int *i, const char *name,
                         const char **value)
{
  size_t n = strlen(name);

  if (strncmp(argv[*i], name, n) != 0)
    return false;
  if (argv[*i][n] == '=') {
    *value = argv[*i] + n + 1;
    return true;
  }
  if (argv[*i][n] == '\0' && *i + 1 < argc) {
    *value = argv[++*i];
    return true;
  }
  return false;
}

static int parse_args(int argc, char **argv, struct tools_opts *o)
{
  const char *v;

  for (int i = 2; i < argc; i++) {
    if (match_option(argc, argv, &i, "--config", &v)) {
      o->config = v;
      o->config_option = "--config";
    } else if (match_option(argc, argv, &i, "--mcp-config", &v)) {
      o->config = v;
      o->config_option = "--mcp-config";
    } else if (match_option(argc, argv, &i, "--policy", &v)) {
      o->policy = v;
    } else if (match_option(argc, argv, &i, "--timeout", &v)) {
      char *end = NULL;
      errno = 0;
      o->timeout_s = strtod(v, &end);
      if (errno != 0 || end == v || *end != '\0' || !(o->timeout_s > 0))
        return usage_error("--timeout needs a positive number of seconds", v);
    } else if (match_option(argc, argv, &i, "--trace", &v)) {
      o->trace = v;
    } else if (strcmp(argv[i], "--json") == 0) {
      o->json = true;
    } else if (strcmp(argv[i], "--verbose") == 0) {
      o->verbose = true;
    } else if (argv[i][0] == '-' && argv[i][1] == '-') {
      return usage_error("unknown option", argv[i]);
    } else if (o->npositional ==
               (int)(sizeof o->positional / sizeof *o->positional)) {
      return usage_error("too many arguments", NULL);
    } else {
      o->positional[o->npositional++] = argv[i];
    }
  }
  if (o->config == NULL)
    o->config = getenv("MVM_MCP_CONFIG");
  if (o->policy == NULL)
    o->policy = getenv("MVM_POLICY");
  return MVM_EXIT_OK;
}

static int setup_logging(const struct tools_opts *o)
{
  uint32_t mask = 0;
  mvm_error err = {0};

  if (o->verbose)
    mvm_log_set_level(MVM_LOG_INFO);
  if (o->trace == NULL)
    return MVM_EXIT_OK;
  if (mvm_trace_parse(o->trace, &mask, &err) != MVM_OK)
    return usage_error(err.msg, NULL);
  mvm_trace_set(mask);
  mvm_log_set_level(MVM_LOG_TRACE);
  return MVM_EXIT_OK;
}

/* Maps a failure to start or talk to a server to an exit code. */
static int server_exit_code(int status)
{
  switch (status) {
  case MVM_ECONFIG:
  case MVM_EUNSUPPORTED:
    return MVM_EXIT_CONFIG;
  case MVM_ELIMIT:
    return MVM_EXIT_BUDGET;
  case MVM_ECANCELLED:
    return MVM_EXIT_INTERRUPT;
  case MVM_ENOMEM:
    return MVM_EXIT_FAIL;
  default:
    return MVM_EXIT_TOOL;
  }
}

static int load_config(const struct tools_opts *o, mvm_mcp_config **cfg)
{
  mvm_error err = {0};
  int rc;

  if (o->config == NULL || o->config[0] == '\0') {
    fprintf(stderr, "mvm tools: no MCP servers configured; pass --config "
                    "FILE or set MVM_MCP_CONFIG\n");
    return MVM_EXIT_CONFIG;
  }
  rc = mvm_mcp_config_load(o->config, cfg, &err);
  if (rc) {
    fprintf(stderr, "mvm tools: %s\n", err.msg);
    return rc == MVM_ELIMIT ? MVM_EXIT_CONFIG : mvm_cli_exit_code(rc);
  }
  return MVM_EXIT_OK;
}

/* --------------------------------------------------------------- hints */

/* Appends " WORD" to buf, quoted for the shell. */
static void append_word(char *buf, size_t size, const char *word)
{
  char quoted[1024];
  size_t used = strlen(buf);

  mvm_cli_shell_word(word, quoted, sizeof quoted);
  snprintf(buf + used, size - used, " %s", quoted);
}

/* Appends the options a printed command needs to find the same servers
 * and policy: the mcpServers file as it was given (--config when it came
 * from $MVM_MCP_CONFIG), and the policy for a call. */
static void append_options(char *buf, size_t size,
                           const struct tools_opts *o, bool call)
{
  append_word(buf, size, o->config_option ? o->config_option : "--config");
  append_word(buf, size, o->config);
  if (call && o->policy != NULL) {
    append_word(buf, size, "--policy");
    append_word(buf, size, o->policy);
  }
}

/* Writes "mvm tools SUBCOMMAND ARGS... OPTIONS" into buf. */
static void format_command(char *buf, size_t size, const struct tools_opts *o,
                           const char *const *args, size_t nargs)
{
  bool call = nargs > 0 && strcmp(args[0], "call") == 0;

  snprintf(buf, size, "%s tools", mvm_cli_self());
  for (size_t i = 0; i < nargs; i++)
    append_word(buf, size, args[i]);
  append_options(buf, size, o, call);
}

/* Reports a SERVER argument that names no server of the file. A name
 * like "fs.read_text_file", as 'list' prints tools, gets the command with
 * server and tool apart; any other name gets the list of servers. */
static int unknown_server(const struct tools_opts *o,
                          const mvm_mcp_config *cfg, const char *name)
{
  const char *dot = strchr(name, '.');
  char server[256];
  char command[4096];

  snprintf(server, sizeof server, "%.*s",
           dot != NULL ? (int)(dot - name) : 0, name);
  if (dot != NULL && mvm_mcp_config_find(cfg, server) != NULL) {
    const char *args[66];
    size_t n = 0;
    bool call = strcmp(o->positional[0], "call") == 0;

    args[n++] = o->positional[0];
    args[n++] = server;
    if (call) {
      args[n++] = dot + 1;
      for (int i = 2; i < o->npositional; i++)
        args[n++] = o->positional[i];
    }
    format_command(command, sizeof command, o, args, n);
    if (call)
      fprintf(stderr, "mvm tools: %s has no server '%s'; SERVER and TOOL "
                      "are separate arguments, so to call tool '%s' of "
                      "server '%s', run:\n  %s\n",
              cfg->path, name, dot + 1, server, command);
    else
      fprintf(stderr, "mvm tools: %s has no server '%s'; for the tools "
                      "of server '%s', run '%s'\n",
              cfg->path, name, server, command);
    return MVM_EXIT_USAGE;
  }

  fprintf(stderr, "mvm tools: %s has no server '%s'; its servers are: ",
          cfg->path, name);
  for (size_t i = 0; i < cfg->count; i++)
    fprintf(stderr, "%s%s", i > 0 ? ", " : "", cfg->servers[i].name);
  fprintf(stderr, "%s\n", cfg->count == 0 ? "(none)" : "");
  return MVM_EXIT_USAGE;
}

/* ------------------------------------------------------------------ list */

static const char *or_unknown(const char *text)
{
  return text != NULL ? text : "?";
}

static void print_annotations(const json_t *annotations)
{
  const char *key;
  json_t *value;
  bool first = true;

  if (!json_is_object(annotations) || json_object_size(annotations) == 0)
    return;
  printf("      annotations:");
  json_object_foreach((json_t *)annotations, key, value)
  {
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    printf("%s %s=%s", first ? "" : ",", key, text != NULL ? text : "?");
    free(text);
    first = false;
  }
  printf("\n");
}

/* Prints the first line of a description, cut at 200 bytes. */
static void print_description(const char *text)
{
  size_t n;

  if (text == NULL || text[0] == '\0')
    return;
  n = strcspn(text, "\n");
  printf("      %.*s%s\n", (int)(n > 200 ? 200 : n), text,
         n > 200 || text[n] != '\0' ? " ..." : "");
}

static void print_server_text(const mvm_toolbox *box, const json_t *tools)
{
  mvm_mcp_client *client = mvm_mcp_toolbox_client(box);
  const json_t *info =
      json_object_get(mvm_mcp_client_server_info(client), "serverInfo");
  size_t i;
  json_t *tool;

  printf("%s (%s, %s %s, MCP %s): %zu tool%s\n", box->server,
         mvm_mcp_client_transport_kind(client),
         or_unknown(json_string_value(json_object_get(info, "name"))),
         or_unknown(json_string_value(json_object_get(info, "version"))),
         mvm_mcp_client_revision(client), json_array_size(tools),
         json_array_size(tools) == 1 ? "" : "s");
  json_array_foreach(tools, i, tool)
  {
    char hash[80] = "?";
    mvm_mcp_tool_hash(tool, hash, sizeof hash);
    printf("  %s.%s  %s\n", box->server,
           json_string_value(json_object_get(tool, "name")), hash);
    print_description(json_string_value(json_object_get(tool, "description")));
    print_annotations(json_object_get(tool, "annotations"));
  }
}

static json_t *server_json(const mvm_toolbox *box, const json_t *tools)
{
  mvm_mcp_client *client = mvm_mcp_toolbox_client(box);
  json_t *list = json_array();
  size_t i;
  json_t *tool;

  json_array_foreach(tools, i, tool)
  {
    char hash[80] = "";
    json_t *entry = json_deep_copy(tool);
    mvm_mcp_tool_hash(tool, hash, sizeof hash);
    json_object_set_new(entry, "hash", json_string(hash));
    json_array_append_new(list, entry);
  }
  return json_pack(
      "{s:s, s:s, s:s, s:O?, s:o}", "name", box->server, "transport",
      mvm_mcp_client_transport_kind(client), "revision",
      mvm_mcp_client_revision(client), "serverInfo",
      json_object_get(mvm_mcp_client_server_info(client), "serverInfo"),
      "tools", list);
}

/* Lists one server's tools. Returns an exit code. */
static int list_server(const mvm_mcp_server_config *server, bool as_json,
                       json_t *servers)
{
  mvm_toolbox box;
  json_t *tools = NULL;
  mvm_error err = {0};
  int rc;

  rc = mvm_mcp_config_open(server, NULL, &box, &err);
  if (rc == MVM_OK) {
    rc = box.ops->list(box.self, &tools, &err);
    if (rc == MVM_OK && as_json)
      json_array_append_new(servers, server_json(&box, tools));
    else if (rc == MVM_OK)
      print_server_text(&box, tools);
    json_decref(tools);
    box.ops->close(box.self);
  }
  if (rc == MVM_OK)
    return MVM_EXIT_OK;

  fprintf(stderr, "mvm tools: %s\n", err.msg);
  if (as_json)
    json_array_append_new(servers, json_pack("{s:s, s:s}", "name", server->name,
                                             "error", err.msg));
  return server_exit_code(rc);
}

static int cmd_list(const struct tools_opts *o, const mvm_mcp_config *cfg)
{
  json_t *servers = json_array();
  int worst = MVM_EXIT_OK;

  for (int i = 1; i < o->npositional; i++) {
    if (mvm_mcp_config_find(cfg, o->positional[i]) == NULL) {
      json_decref(servers);
      return unknown_server(o, cfg, o->positional[i]);
    }
  }
  for (size_t i = 0; i < cfg->count; i++) {
    const mvm_mcp_server_config *s = &cfg->servers[i];
    bool selected = o->npositional <= 1;
    for (int k = 1; k < o->npositional && !selected; k++)
      selected = strcmp(o->positional[k], s->name) == 0;
    if (!selected)
      continue;
    int code = list_server(s, o->json, servers);
    if (worst == MVM_EXIT_OK)
      worst = code;
  }
  if (o->json) {
    json_t *doc = json_pack("{s:o}", "servers", servers);
    json_dumpf(doc, stdout, JSON_INDENT(2));
    printf("\n");
    json_decref(doc);
  } else {
    json_decref(servers);
  }
  return worst;
}

/* ------------------------------------------------------------------ call */

static void on_progress(void *ctx, const char *text, size_t len)
{
  fprintf(stderr, "mvm tools: progress %.*s\n", (int)len, text);
}

static bool call_cancelled(void *ctx)
{
  return interrupted != 0;
}

/* Asks the monitor about one effect; an ask needs a "y" on the terminal. */
static int decide(const mvm_monitor *m, const mvm_effect *e, mvm_error *err)
{
  mvm_decision d;
  char answer[MVM_ERROR_MSG_MAX + 100] = "";
  memset(&d, 0, sizeof d);
  int rc = m->ops->check(m->self, e, &d, err);
  if (rc)
    return rc;

  if (d.verdict == MVM_VERDICT_ASK) {
    mvm_term term;
    mvm_user user;
    mvm_error uerr = {0};
    bool yes = false;
    char prompt[MVM_REASON_MAX + 200];
    mvm_term_init(&term, false);
    user = mvm_term_user(&term);
    snprintf(prompt, sizeof prompt, "%s %s: %s (rule %s)",
             mvm_effect_name(e->kind), e->target, d.reason, d.rule);
    int urc = user.ops->confirm(user.self, prompt, &yes, &uerr);
    if (urc != MVM_OK)
      snprintf(answer, sizeof answer, "; it was not confirmed: %s%s",
               uerr.msg, urc == MVM_EUNSUPPORTED
                             ? " (run the command from a terminal to answer)"
                             : "");
    else if (!yes)
      snprintf(answer, sizeof answer, "; the user declined");
    d.verdict = yes ? MVM_VERDICT_ALLOW : MVM_VERDICT_DENY;
  }
  if (d.verdict != MVM_VERDICT_ALLOW) {
    bool named = mvm_cli_reason_names_rule(d.reason, d.rule);
    return mvm_error_set(err, MVM_EDENIED, "policy", "%s %s denied%s%s: %s%s",
                         mvm_effect_name(e->kind), e->target,
                         named ? "" : " by ", named ? "" : d.rule, d.reason,
                         answer);
  }
  if (m->ops->record != NULL && e->kind == MVM_EFFECT_TOOL_LOAD)
    m->ops->record(m->self, e, &d, NULL, err);
  return MVM_OK;
}

/* Makes one tool call. Every `mvm tools call` goes through here: the
 * monitor decides the tool's load (pinning) and the call first. The
 * arguments come from the person at the terminal, so they and the
 * context are trusted. */
static int call_tool(const mvm_toolbox *box, const char *tool,
                     const json_t *args, const mvm_tool_call_opts *opts,
                     const mvm_monitor *monitor, json_t **result,
                     mvm_error *err)
{
  char full[300];
  json_t *tools = NULL;
  const json_t *def = NULL;
  size_t i;
  json_t *t;
  int rc;

  snprintf(full, sizeof full, "%s.%s", box->server, tool);
  rc = box->ops->list(box->self, &tools, err);
  if (rc)
    return rc;
  json_array_foreach(tools, i, t)
  {
    const char *name = json_string_value(json_object_get(t, "name"));
    if (name != NULL && strcmp(name, tool) == 0)
      def = t;
  }
  mvm_effect load = {.kind = MVM_EFFECT_TOOL_LOAD, .target = full,
                     .identity = def};
  mvm_effect call = {.kind = MVM_EFFECT_TOOL_CALL, .target = full,
                     .args = args};
  rc = decide(monitor, &load, err);
  if (rc == MVM_OK)
    rc = decide(monitor, &call, err);
  json_decref(tools);
  if (rc)
    return rc;

  rc = box->ops->call(box->self, tool, args, opts, result, err);
  if (rc == MVM_OK && monitor->ops->record != NULL) {
    mvm_decision d = {.verdict = MVM_VERDICT_ALLOW};
    monitor->ops->record(monitor->self, &call, &d, *result, err);
  }
  return rc;
}

/* Checks that the tool exists and that args match its inputSchema, so
 * that mistakes on the command line exit with MVM_EXIT_USAGE. Returns an
 * exit code. */
static int check_arguments(const struct tools_opts *o,
                           const mvm_toolbox *box, const char *tool,
                           const json_t *args, mvm_error *err)
{
  json_t *tools = NULL;
  json_t *empty = json_object();
  const json_t *def = NULL;
  size_t i;
  json_t *t;
  int rc;

  rc = box->ops->list(box->self, &tools, err);
  if (rc) {
    json_decref(empty);
    return server_exit_code(rc);
  }
  json_array_foreach(tools, i, t)
  {
    const char *name = json_string_value(json_object_get(t, "name"));
    if (name != NULL && strcmp(name, tool) == 0)
      def = t;
  }
  if (def == NULL) {
    const char *list[] = {"list", box->server};
    char command[2048];
    format_command(command, sizeof command, o, list, 2);
    mvm_error_set(err, MVM_ENOTFOUND, "tools",
                  "server '%s' has no tool '%s'; '%s' shows its tools",
                  box->server, tool, command);
    rc = MVM_EXIT_USAGE;
  } else if (mvm_schema_check(json_object_get(def, "inputSchema"),
                              args != NULL ? args : empty,
                              err) == MVM_ESCHEMA) {
    char msg[MVM_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    mvm_error_set(err, MVM_ESCHEMA, "tools",
                  "JSON-ARGS do not match the input schema of '%s': %s", tool,
                  msg);
    rc = MVM_EXIT_USAGE;
  }
  json_decref(tools);
  json_decref(empty);
  return rc;
}

static void print_item(const json_t *item)
{
  const char *type = json_string_value(json_object_get(item, "type"));
  const json_t *res = json_object_get(item, "resource");
  const char *mime = json_string_value(json_object_get(item, "mimeType"));

  if (type == NULL)
    type = "?";
  if (strcmp(type, "text") == 0) {
    const char *text = json_string_value(json_object_get(item, "text"));
    size_t n = text != NULL ? strlen(text) : 0;
    printf("%s%s", text != NULL ? text : "",
           n > 0 && text[n - 1] == '\n' ? "" : "\n");
  } else if (strcmp(type, "image") == 0 || strcmp(type, "audio") == 0) {
    printf("[%s %s, %zu bytes of base64]\n", type, mime ? mime : "?",
           json_string_length(json_object_get(item, "data")));
  } else if (strcmp(type, "resource_link") == 0) {
    printf("[resource link %s: %s%s%s%s]\n",
           or_unknown(json_string_value(json_object_get(item, "name"))),
           or_unknown(json_string_value(json_object_get(item, "uri"))),
           mime ? " (" : "", mime ? mime : "", mime ? ")" : "");
  } else if (strcmp(type, "resource") == 0) {
    const json_t *text = json_object_get(res, "text");
    const char *rmime = json_string_value(json_object_get(res, "mimeType"));
    printf("[embedded resource %s%s%s%s: %zu bytes of %s]\n",
           or_unknown(json_string_value(json_object_get(res, "uri"))),
           rmime ? " (" : "", rmime ? rmime : "", rmime ? ")" : "",
           text != NULL ? json_string_length(text)
                        : json_string_length(json_object_get(res, "blob")),
           text != NULL ? "text" : "base64");
  } else {
    printf("[%s content]\n", type);
  }
}

static void print_result_text(const json_t *result)
{
  const json_t *structured = json_object_get(result, "structuredContent");
  size_t i;
  json_t *item;

  json_array_foreach(json_object_get(result, "content"), i, item)
      print_item(item);
  if (structured != NULL) {
    printf("structuredContent:\n");
    json_dumpf(structured, stdout, JSON_INDENT(2));
    printf("\n");
  }
}

static int cmd_call(const struct tools_opts *o, const mvm_mcp_config *cfg)
{
  const mvm_mcp_server_config *server;
  mvm_model_stream progress = {.on_text = on_progress,
                               .cancelled = call_cancelled};
  mvm_tool_call_opts opts = {.timeout_s = o->timeout_s, .progress = &progress};
  json_t *args = NULL;
  json_t *result = NULL;
  mvm_toolbox box;
  mvm_error err = {0};
  int rc;

  /* "SERVER.TOOL", as 'list' prints it, is checked first, because it
   * also shifts JSON-ARGS into the place of TOOL. */
  if (o->npositional >= 2 &&
      mvm_mcp_config_find(cfg, o->positional[1]) == NULL &&
      strchr(o->positional[1], '.') != NULL)
    return unknown_server(o, cfg, o->positional[1]);
  if (o->npositional < 3 || o->npositional > 4)
    return usage_error("call needs SERVER TOOL [JSON-ARGS]", NULL);
  server = mvm_mcp_config_find(cfg, o->positional[1]);
  if (server == NULL)
    return unknown_server(o, cfg, o->positional[1]);
  if (o->npositional == 4) {
    const char *text = o->positional[3];
    rc = mvm_json_parse(text, strlen(text), NULL, "JSON-ARGS", &args, &err);
    if (rc == MVM_OK && !json_is_object(args))
      rc = mvm_error_set(&err, MVM_EINVAL, "tools",
                         "JSON-ARGS must be a JSON object, like "
                         "'{\"path\": \"/tmp\"}'");
    if (rc) {
      json_decref(args);
      return usage_error(err.msg, NULL);
    }
  }

  if (o->policy == NULL) {
    json_decref(args);
    return usage_error("call needs a policy: --policy FILE (or $MVM_POLICY),"
                       " or --policy permissive to call with the monitor off",
                       NULL);
  }
  mvm_agent_policy policy;
  rc = mvm_agent_policy_open(o->policy, &policy, &err);
  if (rc) {
    json_decref(args);
    fprintf(stderr, "mvm tools: %s\n", err.msg);
    return mvm_cli_exit_code(rc);
  }
  if (policy.permissive)
    fprintf(stderr, "mvm tools: UNSAFE: --policy permissive turns the "
                    "monitor off\n");

  rc = mvm_mcp_config_open(server, NULL, &box, &err);
  if (rc) {
    mvm_agent_policy_close(&policy);
    json_decref(args);
    fprintf(stderr, "mvm tools: %s\n", err.msg);
    return server_exit_code(rc);
  }
  rc = check_arguments(o, &box, o->positional[2], args, &err);
  if (rc == MVM_OK) {
    signal(SIGINT, on_sigint);
    rc = call_tool(&box, o->positional[2], args, &opts, &policy.monitor,
                   &result, &err);
    signal(SIGINT, SIG_DFL);
    rc = rc == MVM_EDENIED ? MVM_EXIT_DENIED
         : rc              ? server_exit_code(rc)
                           : MVM_EXIT_OK;
  }
  box.ops->close(box.self);
  mvm_agent_policy_close(&policy);
  json_decref(args);
  if (rc) {
    fprintf(stderr, "mvm tools: %s\n", err.msg);
    return rc;
  }

  if (o->json) {
    json_dumpf(result, stdout, JSON_INDENT(2));
    printf("\n");
  } else {
    print_result_text(result);
  }
  rc = json_is_true(json_object_get(result, "isError")) ? MVM_EXIT_FAIL
                                                        : MVM_EXIT_OK;
  if (rc)
    fprintf(stderr,
            "mvm tools: tool '%s' on server '%s' reported an "
            "error\n",
            o->positional[2], server->name);
  json_decref(result);
  return rc;
}

int mvm_cli_tools(int argc, char **argv)
{
  struct tools_opts o = {0};
  mvm_mcp_config *cfg = NULL;
  int rc;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      return MVM_EXIT_OK;
    }
  }
  if (argc < 2)
    return usage_error("missing subcommand: list or call", NULL);
  if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "call") != 0)
    return usage_error("unknown subcommand", argv[1]);

  o.positional[o.npositional++] = argv[1];
  rc = parse_args(argc, argv, &o);
  if (rc == MVM_EXIT_OK)
    rc = setup_logging(&o);
  if (rc == MVM_EXIT_OK)
    rc = load_config(&o, &cfg);
  if (rc)
    return rc;

  signal(SIGPIPE, SIG_IGN);
  if (strcmp(argv[1], "list") == 0)
    rc = cmd_list(&o, cfg);
  else
    rc = cmd_call(&o, cfg);
  mvm_mcp_config_free(cfg);
  return rc;
}
