/* demo.h - the embedded demo: an inbox folder served by the npm MCP
 * filesystem server, a recording of a model that obeys an instruction
 * injected into one of the files, and a policy that stops it.
 *
 * The demo lives in <state dir>/demo. Each preparation lays the workspace
 * anew from the files built into the binary, so an earlier unsafe run
 * leaves nothing behind, and writes the recording, the policy and an
 * mcpServers file with the workspace's absolute path filled in. */
#ifndef MVM_RUNTIME_DEMO_H
#define MVM_RUNTIME_DEMO_H

#include <limits.h>

#include "mvm.h"

/* Where the npm MCP servers are installed: $MVM_NODE_DIR, else the
 * node/ folder of the source tree mvm was built from. */
#define MVM_NODE_DIR_DEFAULT MVM_SOURCE_DIR "/node"

/* Room for the state directory plus the longest file name below. */
#define MVM_DEMO_PATH_MAX (PATH_MAX + 64)

typedef struct mvm_demo_paths {
  char dir[PATH_MAX];        /* <state dir>/demo */
  char workspace[MVM_DEMO_PATH_MAX];  /* the files the assistant works on */
  char recording[MVM_DEMO_PATH_MAX];  /* replay file of the injection follower */
  char policy[MVM_DEMO_PATH_MAX];     /* the demo policy */
  char mcp_config[MVM_DEMO_PATH_MAX]; /* mcpServers file for the filesystem server */
} mvm_demo_paths;

/* Prepares the demo under state_dir. Fails with MVM_ENOTFOUND when the
 * npm filesystem server is not installed (the message says to run
 * scripts/deps.sh), MVM_EIO when a file cannot be written. */
int mvm_demo_prepare(const char *state_dir, mvm_demo_paths *out,
                     mvm_error *err);

/* Writes the path of an npm package's file under the node directory into
 * buf, e.g. "@modelcontextprotocol/server-filesystem/dist/index.js".
 * Fails with MVM_ENOTFOUND when the file does not exist. */
int mvm_demo_node_path(const char *package_file, char *buf, size_t size,
                       mvm_error *err);

#endif
