/* path.h - path checks for the policy's `under` constraint, and the
 * open-time check a file tool must repeat.
 *
 * A check at decision time cannot stop a symbolic link swapped in between
 * the decision and the open. A tool that opens a checked path must
 * therefore open it with mvm_path_open_beneath (or an equivalent
 * openat2(RESOLVE_BENEATH) of its own), which fails if the path, as it is
 * at open time, leaves the directory.
 */
#ifndef MVM_MONITOR_PATH_H
#define MVM_MONITOR_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"

#define MVM_PATH_MAX 4096

/* Resolves `path` the way the kernel would at this moment: symbolic links
 * and ".." in the part that exists are resolved by realpath(3), the part
 * that does not exist yet (a file about to be written) is appended as it
 * is, and a ".." in that part is rejected because the kernel cannot step
 * back over a missing directory. A relative path is taken relative to `dir` when
 * allow_relative is set, and rejected otherwise. Sets *inside when the
 * resolved path is `dir` (itself resolved) or below it, and writes the
 * resolved path to resolved[0..size). Fails with MVM_EDENIED and a message
 * naming the path when it cannot be resolved: a relative path not
 * allowed, a NUL byte, a dangling symbolic link, a loop, a ".." after a
 * missing component, or an unreadable component. */
int mvm_path_check_under(const char *dir, const char *path,
                         bool allow_relative, char *resolved, size_t size,
                         bool *inside, mvm_error *err);

/* Opens `path` with open(2) `flags` and `mode` (for O_CREAT) only if, at
 * open time, it resolves beneath `dir`: symbolic links that stay inside
 * are followed, any link or ".." that leaves fails. `path` is absolute
 * (below `dir`, after resolving `dir` itself) or relative to `dir`. Uses
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) and, on kernels
 * without it, a walk that refuses every symbolic link and "..". *fd is
 * the new descriptor, which the caller closes. Fails with MVM_EDENIED
 * when the path leaves `dir`, MVM_ENOTFOUND or MVM_EIO otherwise. */
int mvm_path_open_beneath(const char *dir, const char *path, int flags,
                          unsigned mode, int *fd, mvm_error *err);

#endif
