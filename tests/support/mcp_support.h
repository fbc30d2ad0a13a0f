/* mcp_support.h - helpers for the MCP tests and benchmark: finding node
 * and the npm servers, starting a server as an MCP client, and capturing
 * log lines. */
#ifndef MVM_TEST_MCP_SUPPORT_H
#define MVM_TEST_MCP_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "mvm.h"
#include "tools/mcp_client.h"
#include "tools/mcp_stdio.h"

/* Returns the absolute path of `node` found in PATH, in a static buffer,
 * or NULL (with a message on stderr) when there is none. */
const char *mcp_test_node(void);

/* Returns the absolute path of a file under node/node_modules of the
 * source tree ("@modelcontextprotocol/server-everything/dist/index.js"),
 * in a static buffer, or NULL with a message on stderr saying to run
 * scripts/deps.sh when it is missing. */
const char *mcp_test_module(const char *relative);

/* Returns a malloc'd copy of mvm's environment, NULL-terminated, with
 * `extra` ("K=V" strings, NULL-terminated, may be NULL) added. */
char **mcp_test_env(const char *const *extra);
void mcp_test_env_free(char **env);

/* Returns the path of tests/fixtures/mcp/misbehave.js, in a static
 * buffer. */
const char *mcp_test_fixture(void);

/* The helpers below call the tools layer. They are inline so that each
 * test's own object references mvm_tools, which the linker reads after
 * it. The support library itself links only the value layer. */

/* Starts `node SCRIPT ARGS...` as server `name` and opens a client over
 * it. argv contains the script and its arguments, NULL-terminated (at most
 * 30). stdio may be NULL. Returns the client's status. */
static inline int mcp_test_open(const char *name, const char *const *argv,
                                const mvm_mcp_client_opts *opts,
                                const mvm_mcp_stdio_opts *stdio,
                                mvm_mcp_client **out, mvm_error *err)
{
  const char *node = mcp_test_node();
  const char *full[32];
  mvm_mcp_stdio_opts so = {0};
  mvm_mcp_transport *t = NULL;
  char **env;
  size_t n = 0;
  int rc;

  if (node == NULL)
    return mvm_error_set(err, MVM_ENOTFOUND, "test",
                         "node is not in PATH: run scripts/deps.sh");
  full[n++] = node;
  while (argv[n - 1] != NULL && n < 31) {
    full[n] = argv[n - 1];
    n++;
  }
  full[n] = NULL;

  env = mcp_test_env(NULL);
  if (stdio != NULL)
    so = *stdio;
  so.server = name;
  so.argv = full;
  so.envp = (const char *const *)env;
  rc = mvm_mcp_stdio_open(&so, &t, err);
  mcp_test_env_free(env);
  if (rc)
    return rc;
  return mvm_mcp_client_open(t, opts, out, err);
}

/* Starts the @modelcontextprotocol/server-everything stdio server. */
static inline int mcp_test_open_everything(const mvm_mcp_client_opts *opts,
                                           mvm_mcp_client **out, mvm_error *err)
{
  const char *script =
      mcp_test_module("@modelcontextprotocol/server-everything/dist/index.js");
  char copy[4096];

  if (script == NULL)
    return mvm_error_set(err, MVM_ENOTFOUND, "test",
                         "server-everything is missing: run "
                         "scripts/deps.sh");
  snprintf(copy, sizeof copy, "%s", script);
  const char *argv[] = {copy, "stdio", NULL};
  return mcp_test_open("everything", argv, opts, NULL, out, err);
}

/* Starts tests/fixtures/mcp/misbehave.js in `mode`. */
static inline int mcp_test_open_fixture(const char *mode,
                                        const mvm_mcp_client_opts *opts,
                                        mvm_mcp_client **out, mvm_error *err)
{
  const char *argv[] = {mcp_test_fixture(), mode, NULL};
  return mcp_test_open("fixture", argv, opts, NULL, out, err);
}

/* Captures log lines from now on ("LEVEL WHERE: LINE\n" each) at `level`
 * and above, until mcp_test_log_stop. */
void mcp_test_log_start(int level);
void mcp_test_log_stop(void);
/* The lines captured so far (borrowed, valid until the next log line). */
const char *mcp_test_log_text(void);
/* Counts the captured lines that contain needle. */
size_t mcp_test_log_count(const char *needle);
void mcp_test_log_clear(void);

#endif
