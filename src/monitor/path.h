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
 * back over a missing directory. A relative path is taken relative to
 * `base`; with `base` NULL it is rejected. Sets *inside when the resolved
 * path is `dir` (itself resolved) or below it, and writes the resolved
 * path to resolved[0..size).
 *
 * Fails with MVM_EDENIED and a message naming the path whenever a tool
 * could open a different file than the one resolved here:
 * - a path that starts with '~', which tools expand to a home directory;
 * - a relative path with no `base`;
 * - a ".." that names another file when the path is normalized as text
 *   first (as Node's path.resolve does) than when the kernel resolves it,
 *   which happens after a symbolic link;
 * - a missing component in a directory with an entry that a tool may take
 *   for it after Unicode normalization or case folding. The test is
 *   coarse: the component or any entry has a non-ASCII byte, or an entry
 *   differs from it only in ASCII case;
 * and when it cannot be resolved: a NUL byte, a dangling symbolic link, a
 * loop, a ".." after a missing component, an unreadable component. */
int mvm_path_check_under(const char *dir, const char *path,
                         const char *base, char *resolved, size_t size,
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
