/* mcp_config.c - reading the mcpServers file and starting its servers. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "tools/builtin_pure.h"
#include "tools/mcp_config.h"
#include "tools/mcp_http.h"
#include "tools/mcp_stdio.h"

#define WHERE "mcp-config"

/* Variables a stdio server gets from mvm's environment by default. */
static const char *const inherited_env[] = {"HOME",  "LOGNAME", "PATH",
                                            "SHELL", "TERM",    "USER"};

static const char *const stdio_members[] = {"command", "args", "env",
                                            "cwd",     "type", "disabled"};
static const char *const http_members[] = {"url", "headers", "type",
                                           "disabled"};

/* The context of the member being checked, for messages. */
struct where {
  const char *file;
  const char *server;
};

static void free_strv(char **v)
{
  for (size_t i = 0; v != NULL && v[i] != NULL; i++)
    free(v[i]);
  free(v);
}

static void free_server(mvm_mcp_server_config *s)
{
  free(s->name);
  free_strv(s->argv);
  free_strv(s->envp);
  free(s->cwd);
  free(s->url);
  free_strv(s->headers);
  free(s->type);
  memset(s, 0, sizeof *s);
}

void mvm_mcp_config_free(mvm_mcp_config *config)
{
  if (config == NULL)
    return;
  for (size_t i = 0; i < config->count; i++)
    free_server(&config->servers[i]);
  free(config->servers);
  free(config->path);
  free(config);
}

static int oom(mvm_error *err)
{
  return mvm_error_set(err, MVM_ENOMEM, WHERE, "out of memory");
}

static bool valid_server_name(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > MVM_MCP_CONFIG_MAX_NAME)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!isalnum(c) && c != '_' && c != '-')
      return false;
  }
  return true;
}

static bool valid_var_name(const char *name, size_t n)
{
  if (n == 0 || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++) {
    if (!isalnum((unsigned char)name[i]) && name[i] != '_')
      return false;
  }
  return true;
}

/* Replaces ${VAR} and ${VAR:-default} in `in`. The message names the
 * member and the variable, never a value. */
static int expand(const struct where *w, const char *member, const char *in,
                  char **out, mvm_error *err)
{
  mvm_buf buf;
  const char *p = in;
  int rc = MVM_OK;

  mvm_buf_init(&buf, 0);
  while (rc == MVM_OK && *p != '\0') {
    const char *start = strstr(p, "${");
    if (start == NULL) {
      rc = mvm_buf_append_str(&buf, p);
      break;
    }
    rc = mvm_buf_append(&buf, p, (size_t)(start - p));
    if (rc)
      break;

    const char *close = strchr(start + 2, '}');
    if (close == NULL) {
      rc = mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': %s has '${' without a closing "
                         "'}'",
                         w->file, w->server, member);
      goto out;
    }
    const char *name = start + 2;
    const char *dflt = strstr(name, ":-");
    size_t nlen = (size_t)(close - name);
    if (dflt != NULL && dflt < close)
      nlen = (size_t)(dflt - name);
    else
      dflt = NULL;
    if (!valid_var_name(name, nlen)) {
      rc = mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': %s has an invalid variable name "
                         "'%.*s'; use ${NAME} with letters, digits and _",
                         w->file, w->server, member,
                         (int)(nlen > 64 ? 64 : nlen), name);
      goto out;
    }

    char var[128];
    snprintf(var, sizeof var, "%.*s", (int)nlen, name);
    const char *value = getenv(var);
    if (dflt != NULL && (value == NULL || value[0] == '\0'))
      rc = mvm_buf_append(&buf, dflt + 2, (size_t)(close - dflt - 2));
    else if (value != NULL)
      rc = mvm_buf_append_str(&buf, value);
    else
      rc = mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': %s uses ${%s}, which is not set; "
                         "export %s or give a default with ${%s:-value}",
                         w->file, w->server, member, var, var, var);
    p = close + 1;
  }
  if (rc == MVM_ENOMEM)
    rc = oom(err);
  if (rc == MVM_OK) {
    *out = mvm_buf_steal(&buf);
    if (*out == NULL)
      rc = oom(err);
  }
out:
  mvm_buf_free(&buf);
  return rc;
}

static void warn_unknown(const struct where *w, const json_t *server,
                         const char *const *known, size_t nknown)
{
  const char *key;
  json_t *value;

  json_object_foreach((json_t *)server, key, value)
  {
    size_t i;
    for (i = 0; i < nknown && strcmp(key, known[i]) != 0; i++)
      ;
    if (i == nknown)
      mvm_log(MVM_LOG_WARN, WHERE,
              "%s: server '%s': unknown member '%s' "
              "ignored",
              w->file, w->server, key);
  }
}

static int string_member(const struct where *w, const json_t *server,
                         const char *key, const char **out, mvm_error *err)
{
  const json_t *v = json_object_get(server, key);

  *out = NULL;
  if (v == NULL)
    return MVM_OK;
  if (!json_is_string(v) || json_string_length(v) == 0)
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"%s\" must be a non-empty string",
                         w->file, w->server, key);
  *out = json_string_value(v);
  return MVM_OK;
}

static int build_argv(const struct where *w, const char *command,
                      const json_t *args, char ***out, mvm_error *err)
{
  size_t n = json_array_size(args);
  char **argv;

  if (args != NULL && !json_is_array(args))
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"args\" must be an array of "
                         "strings",
                         w->file, w->server);
  if (n > MVM_MCP_CONFIG_MAX_ARGS)
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"args\" has %zu items, over the "
                         "maximum of %d",
                         w->file, w->server, n, MVM_MCP_CONFIG_MAX_ARGS);
  argv = calloc(n + 2, sizeof *argv);
  if (argv == NULL)
    return oom(err);
  argv[0] = strdup(command);
  if (argv[0] == NULL)
    goto nomem;
  for (size_t i = 0; i < n; i++) {
    const json_t *a = json_array_get(args, i);
    if (!json_is_string(a)) {
      free_strv(argv);
      return mvm_error_set(err, MVM_ECONFIG, WHERE,
                           "%s: server '%s': \"args\"[%zu] must be a string",
                           w->file, w->server, i);
    }
    argv[i + 1] = strdup(json_string_value(a));
    if (argv[i + 1] == NULL)
      goto nomem;
  }
  *out = argv;
  return MVM_OK;
nomem:
  free_strv(argv);
  return oom(err);
}

/* Appends "key=value" to envp[0..*n), replacing an entry with the same
 * key. */
static int env_put(char **envp, size_t *n, const char *key, const char *value)
{
  size_t klen = strlen(key);
  size_t len = klen + strlen(value) + 2;
  char *entry = malloc(len);

  if (entry == NULL)
    return MVM_ENOMEM;
  snprintf(entry, len, "%s=%s", key, value);
  for (size_t i = 0; i < *n; i++) {
    if (strncmp(envp[i], key, klen) == 0 && envp[i][klen] == '=') {
      free(envp[i]);
      envp[i] = entry;
      return MVM_OK;
    }
  }
  envp[(*n)++] = entry;
  return MVM_OK;
}

static int build_env(const struct where *w, const json_t *env, char ***out,
                     mvm_error *err)
{
  size_t ninherit = sizeof inherited_env / sizeof *inherited_env;
  size_t n = 0;
  char **envp;
  const char *key;
  json_t *value;
  int rc = MVM_OK;

  if (env != NULL && !json_is_object(env))
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"env\" must be an object of "
                         "strings",
                         w->file, w->server);
  if (json_object_size(env) > MVM_MCP_CONFIG_MAX_ENV)
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"env\" has %zu variables, over "
                         "the maximum of %d",
                         w->file, w->server, json_object_size(env),
                         MVM_MCP_CONFIG_MAX_ENV);
  envp = calloc(ninherit + json_object_size(env) + 1, sizeof *envp);
  if (envp == NULL)
    return oom(err);

  for (size_t i = 0; i < ninherit && rc == MVM_OK; i++) {
    const char *v = getenv(inherited_env[i]);
    /* A value starting with "()" is an exported shell function. */
    if (v != NULL && strncmp(v, "()", 2) != 0)
      rc = env_put(envp, &n, inherited_env[i], v);
  }
  if (rc)
    goto fail_nomem;

  json_object_foreach((json_t *)env, key, value)
  {
    char member[160];
    char *expanded = NULL;

    if (key[0] == '\0' || strchr(key, '=') != NULL || !json_is_string(value)) {
      free_strv(envp);
      return mvm_error_set(err, MVM_ECONFIG, WHERE,
                           "%s: server '%s': env '%.64s' must have a name "
                           "without '=' and a string value",
                           w->file, w->server, key);
    }
    snprintf(member, sizeof member, "env '%.64s'", key);
    rc = expand(w, member, json_string_value(value), &expanded, err);
    if (rc) {
      free_strv(envp);
      return rc;
    }
    rc = env_put(envp, &n, key, expanded);
    free(expanded);
    if (rc)
      goto fail_nomem;
  }
  *out = envp;
  return MVM_OK;
fail_nomem:
  free_strv(envp);
  return oom(err);
}

static bool valid_header_name(const char *name)
{
  if (name[0] == '\0')
    return false;
  for (const char *p = name; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= ' ' || c >= 127 || c == ':')
      return false;
  }
  return true;
}

static int build_headers(const struct where *w, const json_t *headers,
                         char ***out, mvm_error *err)
{
  size_t n = 0;
  char **list;
  const char *key;
  json_t *value;

  if (headers != NULL && !json_is_object(headers))
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"headers\" must be an object of "
                         "strings",
                         w->file, w->server);
  if (json_object_size(headers) > MVM_MCP_CONFIG_MAX_HEADERS)
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"headers\" has %zu entries, over "
                         "the maximum of %d",
                         w->file, w->server, json_object_size(headers),
                         MVM_MCP_CONFIG_MAX_HEADERS);
  list = calloc(json_object_size(headers) + 1, sizeof *list);
  if (list == NULL)
    return oom(err);

  json_object_foreach((json_t *)headers, key, value)
  {
    char member[160];
    char *expanded = NULL;
    int rc;

    if (!valid_header_name(key) || !json_is_string(value)) {
      /* The name may contain control characters (a CRLF), so the
       * message quotes it as a JSON string. */
      json_t *name = json_string(key);
      char *quoted = name != NULL ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
      json_decref(name);
      free_strv(list);
      rc = mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': header %.64s must be a token "
                         "name with a string value",
                         w->file, w->server,
                         quoted != NULL ? quoted : "(unprintable)");
      free(quoted);
      return rc;
    }
    snprintf(member, sizeof member, "header '%.64s'", key);
    rc = expand(w, member, json_string_value(value), &expanded, err);
    if (rc) {
      free_strv(list);
      return rc;
    }
    if (strpbrk(expanded, "\r\n") != NULL) {
      free(expanded);
      free_strv(list);
      return mvm_error_set(err, MVM_ECONFIG, WHERE,
                           "%s: server '%s': header '%.64s' contains a line "
                           "break after expansion",
                           w->file, w->server, key);
    }
    size_t len = strlen(key) + strlen(expanded) + 3;
    char *line = malloc(len);
    if (line != NULL)
      snprintf(line, len, "%s: %s", key, expanded);
    free(expanded);
    if (line == NULL) {
      free_strv(list);
      return oom(err);
    }
    list[n++] = line;
  }
  *out = list;
  return MVM_OK;
}

/* Joins a relative cwd to the directory of the configuration file. */
static char *resolve_cwd(const char *origin, const char *cwd)
{
  const char *slash = origin != NULL ? strrchr(origin, '/') : NULL;
  size_t dlen;
  char *path;

  if (cwd[0] == '/' || slash == NULL)
    return strdup(cwd);
  dlen = (size_t)(slash - origin);
  path = malloc(dlen + strlen(cwd) + 2);
  if (path != NULL)
    sprintf(path, "%.*s/%s", (int)dlen, origin, cwd);
  return path;
}

static int parse_stdio(const struct where *w, const char *origin,
                       const json_t *def, mvm_mcp_server_config *s,
                       mvm_error *err)
{
  const char *command = NULL;
  const char *cwd = NULL;
  const char *type = NULL;
  int rc;

  warn_unknown(w, def, stdio_members,
               sizeof stdio_members / sizeof *stdio_members);
  rc = string_member(w, def, "command", &command, err);
  if (rc == MVM_OK)
    rc = string_member(w, def, "cwd", &cwd, err);
  if (rc == MVM_OK)
    rc = string_member(w, def, "type", &type, err);
  if (rc)
    return rc;
  if (type != NULL && strcmp(type, "stdio") != 0)
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"type\" '%.40s' needs a \"url\"; "
                         "a server with \"command\" has type \"stdio\"",
                         w->file, w->server, type);

  s->kind = MVM_MCP_SERVER_STDIO;
  rc = build_argv(w, command, json_object_get(def, "args"), &s->argv, err);
  if (rc == MVM_OK)
    rc = build_env(w, json_object_get(def, "env"), &s->envp, err);
  if (rc == MVM_OK && cwd != NULL) {
    s->cwd = resolve_cwd(origin, cwd);
    if (s->cwd == NULL)
      rc = oom(err);
  }
  return rc;
}

static int parse_http(const struct where *w, const json_t *def,
                      mvm_mcp_server_config *s, mvm_error *err)
{
  const char *url = NULL;
  const char *type = NULL;
  int rc;

  warn_unknown(w, def, http_members,
               sizeof http_members / sizeof *http_members);
  rc = string_member(w, def, "url", &url, err);
  if (rc == MVM_OK)
    rc = string_member(w, def, "type", &type, err);
  if (rc)
    return rc;
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"url\" must start with http:// "
                         "or https://",
                         w->file, w->server);
  if (type != NULL && strcmp(type, "http") != 0 &&
      strcmp(type, "streamable-http") != 0 && strcmp(type, "sse") != 0)
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s': \"type\" '%.40s' is not one of "
                         "http, streamable-http, sse",
                         w->file, w->server, type);

  s->kind = MVM_MCP_SERVER_HTTP;
  s->url = strdup(url);
  s->type = strdup(type != NULL ? type : "http");
  if (s->url == NULL || s->type == NULL)
    return oom(err);
  return build_headers(w, json_object_get(def, "headers"), &s->headers, err);
}

static int parse_server(const char *origin, const char *name, const json_t *def,
                        mvm_mcp_server_config *s, mvm_error *err)
{
  struct where w = {origin, name};
  bool has_command = json_object_get(def, "command") != NULL;
  bool has_url = json_object_get(def, "url") != NULL;

  if (!valid_server_name(name))
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server name '%.80s' is invalid; use 1 to %d "
                         "letters, digits, '_' or '-' (tools are named "
                         "SERVER.TOOL)",
                         origin, name, MVM_MCP_CONFIG_MAX_NAME);
  if (strcmp(name, MVM_BUILTIN_PURE_SERVER) == 0)
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server name '%s' is reserved for mvm's "
                         "built-in tools (%s.echo, %s.upper, %s.length, "
                         "%s.add); rename the server",
                         origin, name, name, name, name, name);
  if (!json_is_object(def))
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s' must be an object", origin, name);
  if (has_command == has_url) {
    /* Name the members it has, so a misspelled "comand" is plain. */
    char members[200] = "";
    size_t used = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)def, key, value)
    {
      int n = snprintf(members + used, sizeof members - used, "%s\"%.40s\"",
                       used ? ", " : "", key);
      if (n < 0 || (size_t)n >= sizeof members - used)
        break;
      used += (size_t)n;
    }
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s: server '%s' needs exactly one of \"command\" "
                         "(stdio) and \"url\" (HTTP); it has: %s",
                         origin, name, used ? members : "no members");
  }
  s->name = strdup(name);
  if (s->name == NULL)
    return oom(err);
  if (has_command)
    return parse_stdio(&w, origin, def, s, err);
  return parse_http(&w, def, s, err);
}

int mvm_mcp_config_parse(const json_t *doc, const char *origin,
                         mvm_mcp_config **out, mvm_error *err)
{
  const json_t *servers = json_object_get(doc, "mcpServers");
  mvm_mcp_config *cfg;
  const char *name;
  json_t *def;
  int rc = MVM_OK;

  if (origin == NULL)
    origin = "MCP configuration";
  if (!json_is_object(servers))
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s has no \"mcpServers\" object; write "
                         "{\"mcpServers\": {\"NAME\": {\"command\": ...}}}",
                         origin);
  if (json_object_size(servers) > MVM_MCP_CONFIG_MAX_SERVERS)
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "%s has %zu servers, over the maximum of %d", origin,
                         json_object_size(servers), MVM_MCP_CONFIG_MAX_SERVERS);

  cfg = calloc(1, sizeof *cfg);
  if (cfg == NULL)
    return oom(err);
  cfg->path = strdup(origin);
  cfg->servers = calloc(json_object_size(servers) + 1, sizeof *cfg->servers);
  if (cfg->path == NULL || cfg->servers == NULL) {
    mvm_mcp_config_free(cfg);
    return oom(err);
  }

  json_object_foreach((json_t *)servers, name, def)
  {
    const json_t *disabled = json_object_get(def, "disabled");
    if (disabled != NULL && !json_is_boolean(disabled)) {
      mvm_mcp_config_free(cfg);
      return mvm_error_set(err, MVM_ECONFIG, WHERE,
                           "%s: server '%.80s': \"disabled\" must be true "
                           "or false",
                           origin, name);
    }
    if (json_is_true(disabled)) {
      mvm_log(MVM_LOG_INFO, WHERE, "%s: server '%s' is disabled", origin, name);
      continue;
    }
    rc = parse_server(origin, name, def, &cfg->servers[cfg->count], err);
    if (rc) {
      free_server(&cfg->servers[cfg->count]);
      mvm_mcp_config_free(cfg);
      return rc;
    }
    cfg->count++;
  }
  *out = cfg;
  return MVM_OK;
}

int mvm_mcp_config_load(const char *path, mvm_mcp_config **out, mvm_error *err)
{
  mvm_json_limits limits = {.max_bytes = MVM_MCP_CONFIG_MAX_BYTES};
  json_t *doc = NULL;
  int rc;

  rc = mvm_json_load_file(path, &limits, &doc, err);
  if (rc == MVM_EPARSE && err != NULL) {
    char msg[MVM_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return mvm_error_set(err, MVM_ECONFIG, WHERE, "%s", msg);
  }
  if (rc == MVM_EPARSE)
    return MVM_ECONFIG;
  if (rc)
    return rc;
  rc = mvm_mcp_config_parse(doc, path, out, err);
  json_decref(doc);
  return rc;
}

const mvm_mcp_server_config *mvm_mcp_config_find(const mvm_mcp_config *config,
                                                 const char *name)
{
  for (size_t i = 0; i < config->count; i++) {
    if (strcmp(config->servers[i].name, name) == 0)
      return &config->servers[i];
  }
  return NULL;
}

/* Initializes a client over transport t (which it takes over) and wraps
 * it as a toolbox. */
static int open_toolbox(mvm_mcp_transport *t,
                        const mvm_mcp_client_opts *client_opts,
                        mvm_toolbox *out, mvm_error *err)
{
  mvm_mcp_client *client = NULL;
  int rc = mvm_mcp_client_open(t, client_opts, &client, err);

  if (rc)
    return rc;
  rc = mvm_mcp_toolbox_new(client, out, err);
  if (rc)
    mvm_mcp_client_close(client);
  return rc;
}

/* Opens a url server over the Streamable HTTP transport. */
static int open_http(const mvm_mcp_server_config *server,
                     const mvm_mcp_client_opts *client_opts, mvm_toolbox *out,
                     mvm_error *err)
{
  mvm_mcp_http_config hc = {0};
  mvm_mcp_transport *t = NULL;
  int rc;

  if (strcmp(server->type, "sse") == 0)
    return mvm_error_set(err, MVM_EUNSUPPORTED, WHERE,
                         "server '%s': the HTTP+SSE transport of MCP "
                         "2024-11-05 (\"type\": \"sse\") is not supported; "
                         "use the server's Streamable HTTP endpoint with "
                         "\"type\": \"http\"",
                         server->name);
  hc.server = server->name;
  hc.url = server->url;
  hc.headers = (const char *const *)server->headers;
  if (client_opts != NULL) {
    hc.max_message_bytes = client_opts->max_message_bytes;
    hc.cancelled = client_opts->cancelled;
    hc.cancelled_ctx = client_opts->cancelled_ctx;
  }

  rc = mvm_mcp_http_open(&hc, &t, err);
  if (rc)
    return rc;
  return open_toolbox(t, client_opts, out, err);
}

int mvm_mcp_config_open_with(const mvm_mcp_server_config *server,
                             const mvm_mcp_client_opts *client_opts,
                             const mvm_mcp_stdio_opts *stdio_opts,
                             mvm_toolbox *out, mvm_error *err)
{
  mvm_mcp_stdio_opts so = {0};
  mvm_mcp_transport *t = NULL;
  int rc;

  if (server->kind == MVM_MCP_SERVER_HTTP)
    return open_http(server, client_opts, out, err);

  if (stdio_opts != NULL)
    so = *stdio_opts;
  so.server = server->name;
  so.argv = (const char *const *)server->argv;
  so.envp = (const char *const *)server->envp;
  so.cwd = server->cwd;
  if (client_opts != NULL && so.max_message_bytes == 0)
    so.max_message_bytes = client_opts->max_message_bytes;

  rc = mvm_mcp_stdio_open(&so, &t, err);
  if (rc)
    return rc;
  return open_toolbox(t, client_opts, out, err);
}

int mvm_mcp_config_open(const mvm_mcp_server_config *server,
                        const mvm_mcp_client_opts *client_opts,
                        mvm_toolbox *out, mvm_error *err)
{
  return mvm_mcp_config_open_with(server, client_opts, NULL, out, err);
}
