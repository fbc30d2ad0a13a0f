/* builtin_exec.h - a command tool that runs programs in a sandbox.
 *
 * The toolbox offers one tool, "run_command": an argv list (no shell), a
 * working directory under the configured root, and optional standard
 * input. The child gets only the environment the configuration lists.
 * Before exec the child starts a new session, so it leads its own process
 * group. It then drops root to an unprivileged user, enters new user and
 * network namespaces, and sets rlimits and no_new_privs. Last it enforces
 * a Landlock ruleset (read-only system paths, read-write root, TCP denied)
 * and loads a seccomp filter (see mvm_sandbox_bpf_build). A timeout
 * sends SIGTERM, then SIGKILL, to the whole process group; the
 * group is killed as well when the command exits, so no descendant
 * outlives the call. Output beyond the caps is dropped and reported.
 *
 * The configuration is borrowed during mvm_builtin_exec_new, which copies
 * what it keeps.
 */
#ifndef MVM_TOOLS_BUILTIN_EXEC_H
#define MVM_TOOLS_BUILTIN_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"
#include "tools/sandbox.h"

/* Values of uid and gid in mvm_builtin_exec_config. */
#define MVM_EXEC_ID_AUTO (-1L) /* 65534 when mvm runs as root, else keep */
#define MVM_EXEC_ID_KEEP (-2L) /* keep mvm's own id, even root */

typedef struct mvm_builtin_exec_config {
  const char *server; /* toolbox name; default "exec" */
  const char *root;   /* working root: the only read-write tree */
  /* NULL-terminated lists of absolute paths. read_paths: NULL means /usr,
   * /lib, /lib64, /bin, /sbin and /etc. write_paths: extra read-write
   * paths; NULL means /dev/null, /dev/zero, /dev/full, /dev/random and
   * /dev/urandom. */
  const char *const *read_paths;
  const char *const *write_paths;
  /* "NAME=value" entries every command gets, and names whose value is
   * copied from mvm's own environment when set. Nothing else is passed. */
  const char *const *env;
  const char *const *pass_env;
  /* Executables allowed as argv[0] after the search (absolute paths);
   * NULL allows any file the search finds. */
  const char *const *commands;
  const char *search_path; /* for argv[0] without '/'; "/usr/bin:/bin" */
  double timeout_s;        /* default 30; a call may ask for less */
  int kill_grace_ms;       /* SIGTERM to SIGKILL; default 500 */
  size_t max_stdout;       /* bytes kept; default 1 MiB */
  size_t max_stderr;       /* bytes kept; default 256 KiB */
  size_t max_stdin;        /* bytes accepted; default 1 MiB */
  size_t max_argv_bytes;   /* argv total; default 128 KiB */
  mvm_sandbox_rlimits limits;
  bool allow_network;      /* keep TCP and non-Unix sockets */
  long uid;                /* MVM_EXEC_ID_AUTO, MVM_EXEC_ID_KEEP or an id */
  long gid;
  mvm_sandbox_mode landlock;   /* default REQUIRED */
  mvm_sandbox_mode seccomp;    /* default REQUIRED */
  mvm_sandbox_mode namespaces; /* default IF_AVAILABLE */
} mvm_builtin_exec_config;

/* Fills cfg with the defaults: no root, the default paths, PATH and LANG
 * set to fixed values, 30 s timeout, rlimits of 30 s CPU, 1 GiB address
 * space, 64 MiB file size, 256 open files and 64 processes. */
void mvm_builtin_exec_config_init(mvm_builtin_exec_config *cfg);

/* Probes the kernel, builds the Landlock ruleset and seccomp program, and
 * returns the toolbox in *out, released with out->ops->close(out->self).
 * Fails with MVM_ESANDBOX when a protection set to REQUIRED is missing,
 * naming it, and with MVM_ECONFIG for a missing root or a bad setting. */
int mvm_builtin_exec_new(const mvm_builtin_exec_config *cfg,
                         mvm_toolbox *out, mvm_error *err);

/* Describes the protections this toolbox applies to each command, as JSON
 * {"landlock": {"abi", "fs", "net", "scope"} | false, "seccomp",
 * "namespaces", "rlimits", "uid", "gid", "network", "process_limit"} and
 * as one line into text[size], for example "sandbox: landlock ABI 7
 * (fs+net+scope), seccomp on, user+net namespace on, rlimits on, uid
 * 65534". Either output may be NULL. */
int mvm_builtin_exec_describe(const mvm_toolbox *tb, json_t **json,
                              char *text, size_t size, mvm_error *err);

#endif
