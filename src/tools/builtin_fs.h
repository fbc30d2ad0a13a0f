/* builtin_fs.h - file tools confined to configured root directories.
 *
 * The toolbox offers read_file, write_file, list_directory and
 * get_file_info. Every path argument is relative to one root, named by the
 * "root" argument (default: the first root). Each root is opened once as a
 * directory fd when the toolbox is created, and every path is resolved
 * beneath that fd by mvm_sandbox_open_beneath, so ".." and symbolic links
 * cannot leave the root. Writes go to a temporary file in the target's
 * directory, which is then renamed over the target, so a failed write
 * leaves no partial file.
 *
 * The configuration is borrowed during mvm_builtin_fs_new, which copies
 * what it keeps.
 */
#ifndef MVM_TOOLS_BUILTIN_FS_H
#define MVM_TOOLS_BUILTIN_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"
#include "tools/sandbox.h"

#define MVM_BUILTIN_FS_MAX_ROOTS 16

typedef struct mvm_builtin_fs_root {
  const char *name; /* [A-Za-z0-9_.-]{1,64}, unique */
  const char *path; /* an existing directory */
  bool read_only;
} mvm_builtin_fs_root;

typedef struct mvm_builtin_fs_config {
  const char *server; /* toolbox name; default "files" */
  const mvm_builtin_fs_root *roots;
  size_t nroots;           /* 1 to MVM_BUILTIN_FS_MAX_ROOTS */
  bool no_symlinks;        /* reject every symbolic link, even inside */
  mvm_sandbox_resolver resolver;
  size_t max_read_bytes;   /* largest read; default 1 MiB */
  size_t max_write_bytes;  /* largest write; default 1 MiB */
  size_t max_list_entries; /* list_directory cut-off; default 1000 */
} mvm_builtin_fs_config;

/* Fills cfg with the defaults and no roots. */
void mvm_builtin_fs_config_init(mvm_builtin_fs_config *cfg);

/* Opens every root and returns the toolbox in *out, which the caller
 * releases with out->ops->close(out->self). Fails with MVM_ECONFIG naming
 * the root that is missing, not a directory, or badly named. */
int mvm_builtin_fs_new(const mvm_builtin_fs_config *cfg, mvm_toolbox *out,
                       mvm_error *err);

#endif
