/* sandbox.h - kernel protections shared by the built-in tools.
 *
 * The probe reports which protections the running kernel offers. The path
 * resolver opens a path beneath a directory fd without letting ".." or a
 * symbolic link leave it. The Landlock, seccomp, rlimit and namespace
 * helpers come in two halves. The parent builds everything that allocates
 * (a Landlock ruleset fd, a BPF program). The child makes only
 * async-signal-safe system calls between fork and exec, so a multithreaded
 * host can fork safely.
 *
 * The result helpers build the MCP CallToolResult objects the built-in
 * tools return. Every returned json_t is a new reference the caller owns.
 */
#ifndef MVM_TOOLS_SANDBOX_H
#define MVM_TOOLS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm.h"

/* ---------------------------------------------------------------- probe */

typedef struct mvm_sandbox_features {
  int landlock_abi;      /* 0: Landlock unavailable */
  int landlock_errno;    /* why it is unavailable (ENOSYS, EOPNOTSUPP) */
  bool seccomp;          /* seccomp filters with SECCOMP_RET_ERRNO work */
  bool user_namespaces;  /* unshare(CLONE_NEWUSER | CLONE_NEWNET) works */
  bool openat2;          /* openat2(2) with RESOLVE_BENEATH works */
  bool no_new_privs;     /* PR_SET_NO_NEW_PRIVS is supported */
} mvm_sandbox_features;

/* Probes the kernel once per process and copies the result to *out. The
 * user namespace probe forks a child that calls unshare and exits. */
void mvm_sandbox_probe(mvm_sandbox_features *out);

/* Describes the probed features as JSON,
 * {"landlock": {"abi", "fs", "net", "scope"}, "seccomp", "user_namespaces",
 *  "openat2", "no_new_privs"}, and as one line of text into text[size],
 * "kernel: landlock ABI 7 (fs+net+scope), seccomp yes, ...". Either output
 * may be NULL. Fails only with MVM_ENOMEM. */
int mvm_sandbox_features_describe(const mvm_sandbox_features *f,
                                  json_t **json, char *text, size_t size,
                                  mvm_error *err);

/* How a protection is handled when the exec toolbox is created. */
typedef enum mvm_sandbox_mode {
  MVM_SANDBOX_REQUIRED = 0,     /* missing: creating the toolbox fails */
  MVM_SANDBOX_IF_AVAILABLE = 1, /* used when the kernel has it */
  MVM_SANDBOX_OFF = 2           /* never used */
} mvm_sandbox_mode;

/* ---------------------------------------------------------------- paths */

typedef enum mvm_sandbox_resolver {
  MVM_RESOLVER_AUTO = 0,    /* openat2, or the walk when it is missing */
  MVM_RESOLVER_OPENAT2 = 1, /* openat2 only */
  MVM_RESOLVER_WALK = 2     /* the component walk only */
} mvm_sandbox_resolver;

/* Longest path the resolver accepts, in bytes, symbolic link targets
 * included. */
#define MVM_SANDBOX_PATH_MAX 4096

/* Opens `path`, relative to the directory `dirfd`, so that neither ".."
 * nor a symbolic link (relative, absolute, dangling, or swapped in during
 * the call) resolves outside dirfd. `flags` are open(2) flags (O_CLOEXEC is
 * added); O_NOFOLLOW leaves a final symbolic link unfollowed. With
 * no_symlinks every symbolic link fails with ELOOP. O_CREAT is not
 * supported.
 *
 * The openat2 resolver lets the kernel enforce RESOLVE_BENEATH and
 * RESOLVE_NO_MAGICLINKS. The walk opens one component at a time with
 * O_NOFOLLOW from fds it holds, reads each symbolic link and resolves its
 * target the same way, and handles ".." by going back to the fd it held.
 *
 * Returns a new fd, or a negative errno: -EXDEV for an absolute path or an
 * escape, -ELOOP for a forbidden or too deep link, -ENAMETOOLONG, -ENOSYS
 * when MVM_RESOLVER_OPENAT2 is asked for and missing, or what open(2)
 * returned. */
int mvm_sandbox_open_beneath(int dirfd, const char *path, int flags,
                             bool no_symlinks, mvm_sandbox_resolver resolver);

/* ---------------------------------------------------------------- landlock */

/* Access granted to the processes of the exec tool. Lists are
 * NULL-terminated arrays of absolute paths; a path that does not exist is
 * skipped. Read paths get execute, read-file and read-dir rights; write
 * paths get every right the kernel's ABI handles (files get the file
 * rights only). */
typedef struct mvm_sandbox_landlock_spec {
  const char *const *read_paths;
  const char *const *write_paths;
  bool deny_tcp;    /* handle TCP bind and connect with no rule (ABI 4) */
  bool scope;       /* deny signals and abstract sockets outside (ABI 6) */
} mvm_sandbox_landlock_spec;

/* Builds a Landlock ruleset for the given ABI (from the probe). *fd is a
 * new O_CLOEXEC ruleset fd the caller closes; one ruleset may restrict
 * many children. Fails with MVM_ESANDBOX naming the path or call that
 * failed. */
int mvm_sandbox_landlock_new(int abi, const mvm_sandbox_landlock_spec *spec,
                             int *fd, mvm_error *err);

/* In the child: enforces the ruleset on the calling thread. Needs
 * no_new_privs (or CAP_SYS_ADMIN). Returns 0 or a negative errno. */
int mvm_sandbox_landlock_enforce(int ruleset_fd);

/* ---------------------------------------------------------------- seccomp */

/* A compiled seccomp BPF program, owned; release with
 * mvm_sandbox_bpf_free. */
typedef struct mvm_sandbox_bpf {
  void *filter; /* struct sock_filter[len] */
  unsigned short len;
} mvm_sandbox_bpf;

/* Compiles the exec tool's seccomp filter with libseccomp. It returns
 * EPERM for ptrace, process_vm_*, mount and the new mount API, chroot,
 * pivot_root, kexec, bpf, perf_event_open, keyctl and the key calls,
 * module loading, reboot, swap, clock setting, syslog, acct, userfaultfd,
 * open_by_handle_at, iopl/ioperm, io_uring, fanotify, unshare, setns,
 * clone with namespace flags, setsid and setpgid (so every descendant
 * stays in the process group a timeout kills), and TIOCSTI/TIOCLINUX
 * ioctls; clone3 gets ENOSYS so libc falls back to clone, whose flags the
 * filter can check. Without allow_network, socket(2) for any family but
 * AF_UNIX returns EPERM. A system call from another architecture kills
 * the process. */
int mvm_sandbox_bpf_build(bool allow_network, mvm_sandbox_bpf *out,
                          mvm_error *err);
void mvm_sandbox_bpf_free(mvm_sandbox_bpf *bpf);

/* In the child: installs the program. Needs no_new_privs. Returns 0 or a
 * negative errno. */
int mvm_sandbox_bpf_load(const mvm_sandbox_bpf *bpf);

/* ---------------------------------------------------------------- rlimits */

/* Resource limits for a child; 0 leaves a limit as inherited. Each value
 * sets both the soft and the hard limit, capped at the inherited hard
 * limit. */
typedef struct mvm_sandbox_rlimits {
  uint64_t cpu_s;       /* RLIMIT_CPU, seconds */
  uint64_t as_bytes;    /* RLIMIT_AS */
  uint64_t fsize_bytes; /* RLIMIT_FSIZE */
  uint64_t nofile;      /* RLIMIT_NOFILE */
  uint64_t nproc;       /* RLIMIT_NPROC, per real user id */
} mvm_sandbox_rlimits;

/* In the child: applies the limits. Returns 0 or a negative errno. */
int mvm_sandbox_rlimits_apply(const mvm_sandbox_rlimits *limits);

/* ------------------------------------------------------------ namespaces */

/* Maps prepared by the parent, because formatting is not async-signal-safe.
 * Each maps the child's own user or group id to itself, the only mapping an
 * unprivileged process may write. */
typedef struct mvm_sandbox_idmap {
  char uid_map[64];
  char gid_map[64];
} mvm_sandbox_idmap;

/* Prepares the maps for a child that will run as uid and gid. */
void mvm_sandbox_idmap_init(mvm_sandbox_idmap *map, unsigned uid,
                            unsigned gid);

/* In the child: enters a new user namespace and, with new_net, a new
 * network namespace. The new network namespace has only a loopback
 * interface that is down. Then writes the maps. Returns 0 or a negative
 * errno. */
int mvm_sandbox_enter_namespaces(const mvm_sandbox_idmap *map, bool new_net);

/* ---------------------------------------------------------------- results */

/* Builds a CallToolResult with one text item. `structured` (stolen, may
 * be NULL) becomes structuredContent. Returns NULL on no memory. */
json_t *mvm_sandbox_result(const char *text, json_t *structured,
                           bool is_error);

/* Builds an isError CallToolResult whose text is the formatted message and
 * whose structuredContent is {"error": kind, "message": text}. `kind` is a
 * stable word tests and policies can match: "invalid_argument", "denied",
 * "not_found", "limit", "timeout", "io", "http". Returns NULL on no
 * memory. */
json_t *mvm_sandbox_result_error(const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Builds a JSON string from bytes that may not be UTF-8: each byte that is
 * not part of a valid UTF-8 sequence becomes U+FFFD. *replaced (may be
 * NULL) gets the number of bytes replaced. Returns NULL on no memory. */
json_t *mvm_sandbox_json_text(const char *data, size_t len,
                              size_t *replaced);

/* Encodes bytes as standard base64 with padding, as a JSON string.
 * Returns NULL on no memory. */
json_t *mvm_sandbox_json_base64(const unsigned char *data, size_t len);

/* Checks that every key of the object `args` is in the NULL-terminated
 * list `known`. Returns NULL when it is, or an isError result naming the
 * first unknown key (or saying that args is not an object). */
json_t *mvm_sandbox_check_args(const json_t *args, const char *const *known);

#endif
