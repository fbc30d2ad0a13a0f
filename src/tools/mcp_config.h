/* mcp_config.h - the mcpServers configuration file.
 *
 * The file has the shape desktop agent clients and editors read:
 *
 *   {"mcpServers": {
 *      "NAME": {"command": "node", "args": ["server.js"],
 *               "env": {"TOKEN": "${MY_TOKEN}"}, "cwd": "dir"},
 *      "NAME": {"url": "http://127.0.0.1:3000/mcp",
 *               "headers": {"Authorization": "Bearer ${API_TOKEN}"},
 *               "type": "http" | "streamable-http" | "sse"}}}
 *
 * "${VAR}" in env values and header values is replaced by the variable
 * from mvm's environment, and "${VAR:-default}" falls back to the
 * default when the variable is unset or empty. A variable that is unset
 * and has no default is an error. A server with "disabled": true is
 * skipped. Unknown members are ignored with a warning. A relative cwd is
 * taken from the file's directory.
 *
 * A stdio server's environment is HOME, LOGNAME, PATH, SHELL, TERM and
 * USER from mvm's environment (the variables the MCP TypeScript SDK
 * passes on by default) plus its "env" members, so API keys in mvm's
 * environment do not reach servers unless the file names them.
 *
 * Ownership: mvm_mcp_config_load returns a config the caller frees with
 * mvm_mcp_config_free; every string in it belongs to it.
 */
#ifndef MVM_TOOLS_MCP_CONFIG_H
#define MVM_TOOLS_MCP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"
#include "tools/mcp_client.h"
#include "tools/mcp_stdio.h"

#define MVM_MCP_CONFIG_MAX_BYTES (1024u * 1024)
#define MVM_MCP_CONFIG_MAX_SERVERS 64
#define MVM_MCP_CONFIG_MAX_ARGS 256
#define MVM_MCP_CONFIG_MAX_ENV 256
#define MVM_MCP_CONFIG_MAX_HEADERS 64
#define MVM_MCP_CONFIG_MAX_NAME 64

typedef enum mvm_mcp_server_kind {
  MVM_MCP_SERVER_STDIO = 0,
  MVM_MCP_SERVER_HTTP = 1
} mvm_mcp_server_kind;

typedef struct mvm_mcp_server_config {
  char *name; /* [A-Za-z0-9_-]{1,64}: tools are named "NAME.tool" */
  mvm_mcp_server_kind kind;
  /* stdio */
  char **argv; /* command then args, NULL-terminated */
  char **envp; /* the whole child environment, "K=V", NULL-terminated */
  char *cwd;   /* absolute or NULL */
  /* http */
  char *url;
  char **headers; /* "Name: value", NULL-terminated */
  char *type;     /* "http", "streamable-http" or "sse" */
} mvm_mcp_server_config;

typedef struct mvm_mcp_config {
  char *path; /* the file read, or the origin given to parse */
  mvm_mcp_server_config *servers;
  size_t count;
} mvm_mcp_config;

/* Reads and checks a configuration file. Fails with MVM_ENOTFOUND when
 * the file does not exist, MVM_ELIMIT past MVM_MCP_CONFIG_MAX_BYTES, and
 * MVM_ECONFIG for anything invalid, with a message naming the file, the
 * server and the member (and, for a missing variable, its name but never
 * a value). */
int mvm_mcp_config_load(const char *path, mvm_mcp_config **out, mvm_error *err);

/* Checks a parsed document like mvm_mcp_config_load. `origin` names it
 * in messages, and relative cwd values are taken from its directory
 * (NULL: the working directory). */
int mvm_mcp_config_parse(const json_t *doc, const char *origin,
                         mvm_mcp_config **out, mvm_error *err);

void mvm_mcp_config_free(mvm_mcp_config *config);

/* Returns the server called name (borrowed), or NULL. */
const mvm_mcp_server_config *mvm_mcp_config_find(const mvm_mcp_config *config,
                                                 const char *name);

/* Starts one server and returns it as a toolbox (see mvm_mcp_toolbox_new)
 * that the caller closes with out->ops->close(out->self). client_opts
 * may be NULL. Fails with the transport's or the client's status, naming
 * the server. A url server uses the Streamable HTTP transport; "type":
 * "sse" (the HTTP+SSE transport of 2024-11-05) is MVM_EUNSUPPORTED. */
int mvm_mcp_config_open(const mvm_mcp_server_config *server,
                        const mvm_mcp_client_opts *client_opts,
                        mvm_toolbox *out, mvm_error *err);

/* The same with explicit stdio transport limits and grace periods, for
 * hosts and tests that need them. stdio_opts may be NULL; its server,
 * argv, envp and cwd are taken from `server`. It does not apply to url
 * servers. */
int mvm_mcp_config_open_with(const mvm_mcp_server_config *server,
                             const mvm_mcp_client_opts *client_opts,
                             const mvm_mcp_stdio_opts *stdio_opts,
                             mvm_toolbox *out, mvm_error *err);

#endif
