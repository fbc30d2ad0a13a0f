/* builtin_pure.h - deterministic built-in tools under the server name
 * "std": std.echo, std.upper, std.length and std.add.
 *
 * They touch nothing outside the process, so they need no sandbox and
 * serve examples and tests. Each has a real inputSchema; arguments that
 * do not match it give a result with "isError": true naming the argument,
 * as an MCP server would. */
#ifndef MVM_TOOLS_BUILTIN_PURE_H
#define MVM_TOOLS_BUILTIN_PURE_H

#include "mvm.h"

#define MVM_BUILTIN_PURE_SERVER "std"

/* Fills *out with the "std" toolbox. The toolbox owns no resources, so
 * close() does nothing and the table may be copied freely. It cannot fail
 * today; the status is there for the toolbox contract. */
int mvm_builtin_pure_new(mvm_toolbox *out, mvm_error *err);

#endif
