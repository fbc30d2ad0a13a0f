/* builtins.h - the builtins file, which turns on the sandboxed built-in
 * tools for a run.
 *
 * The file is a JSON object with up to three sections, each optional:
 *
 *   {"files": {"roots": [{"name": "notes", "path": "/home/me/notes",
 *                         "read_only": true}],
 *              "no_symlinks": false, "max_read_bytes": 1048576},
 *    "fetch": {"schemes": ["https"], "hosts": ["docs.python.org"],
 *              "max_bytes": 1000000, "timeout_s": 20},
 *    "exec": {"root": "/home/me/work", "allow_network": false,
 *             "timeout_s": 30}}
 *
 * Each key of a section is the field of the same name in
 * mvm_builtin_fs_config ("files"), mvm_builtin_fetch_config ("fetch") or
 * mvm_builtin_exec_config ("exec"). A key left out keeps the value that
 * the *_config_init function sets. The section's toolbox is named after
 * the section unless "server" names it. Enumerations are words.
 * files.resolver is "auto", "openat2" or "walk". exec.landlock,
 * exec.seccomp and exec.namespaces are "required", "if_available" or
 * "off". exec.uid and exec.gid are "auto", "keep" or a number.
 * exec.limits is an object with the fields of mvm_sandbox_rlimits.
 * files.roots[].path and exec.root may be relative to the file's own
 * directory; the other paths must be absolute.
 *
 * An unknown key, a value of the wrong type or out of range, and a
 * missing files.roots or exec.root are MVM_ECONFIG errors whose message
 * names the file and the key ("files.roots[1].path"), and for an unknown
 * key the valid keys.
 *
 * Ownership: mvm_builtins_load fills a config whose configs borrow
 * strings and lists that the config itself owns; release it with
 * mvm_builtins_config_free. The toolboxes from mvm_builtins_open belong
 * to the caller, who closes each with box.ops->close(box.self).
 */
#ifndef MVM_RUNTIME_BUILTINS_H
#define MVM_RUNTIME_BUILTINS_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"
#include "tools/builtin_exec.h"
#include "tools/builtin_fetch.h"
#include "tools/builtin_fs.h"

/* Maximum size of a builtins file, in bytes. */
#define MVM_BUILTINS_MAX_BYTES (256u * 1024)
/* Maximum entries in one list (schemes, hosts, env, commands, ...). */
#define MVM_BUILTINS_MAX_LIST 256
/* Maximum toolboxes one file opens: files, fetch and exec. */
#define MVM_BUILTINS_MAX_BOXES 3
/* Maximum timeout a file may set, in seconds (one day). */
#define MVM_BUILTINS_MAX_TIMEOUT_S 86400.0

/* Storage the parsed configs borrow: NULL-terminated lists and paths
 * made absolute. Every list and path of one file fits. */
#define MVM_BUILTINS_MAX_OWNED (MVM_BUILTIN_FS_MAX_ROOTS + 16)

typedef struct mvm_builtins_config {
  char *path; /* the file read */
  bool has_files;
  bool has_fetch;
  bool has_exec;
  mvm_builtin_fs_config files;
  mvm_builtin_fetch_config fetch;
  mvm_builtin_exec_config exec;
  mvm_builtin_fs_root roots[MVM_BUILTIN_FS_MAX_ROOTS];
  json_t *doc; /* the parsed file, whose strings the configs borrow */
  void *owned[MVM_BUILTINS_MAX_OWNED];
  size_t nowned;
} mvm_builtins_config;

/* Reads and checks the builtins file at `path` into *out. Fails with
 * MVM_ENOTFOUND or MVM_EIO when the file cannot be read, and with
 * MVM_ECONFIG for a file over MVM_BUILTINS_MAX_BYTES, invalid JSON or an
 * invalid key or value, with the message described at the top of this
 * file. On failure *out holds nothing to release. */
int mvm_builtins_load(const char *path, mvm_builtins_config *out,
                      mvm_error *err);

/* Releases what mvm_builtins_load stored; a zeroed config is a no-op. */
void mvm_builtins_config_free(mvm_builtins_config *config);

/* Reads the builtins file at `path` and opens one toolbox per section, in
 * the order files, fetch, exec, into boxes[0..*n). Fails like
 * mvm_builtins_load, with MVM_ELIMIT when more than `max` toolboxes would
 * open, and with the status of mvm_builtin_fs_new, mvm_builtin_fetch_new
 * or mvm_builtin_exec_new (MVM_ECONFIG, MVM_ESANDBOX) with the file named
 * in the message. On failure every toolbox opened so far is closed and
 * *n is 0. */
int mvm_builtins_open(const char *path, mvm_toolbox *boxes, size_t max,
                      size_t *n, mvm_error *err);

/* Opens like mvm_builtins_open and writes into summary[size] one line
 * naming each toolbox opened, with the exec toolbox's sandbox status,
 * for example "files, exec (sandbox: landlock ABI 7 (fs+net+scope),
 * seccomp on, user+net namespace on, rlimits on, uid 65534, network
 * denied)", or "no toolboxes" for a file without sections. */
int mvm_builtins_open_summary(const char *path, mvm_toolbox *boxes,
                              size_t max, size_t *n, char *summary,
                              size_t size, mvm_error *err);

#endif
