/* sandbox.c - kernel feature probe, path resolver, Landlock, seccomp,
 * rlimits and namespace helpers, and tool result builders. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "tools/sandbox.h"

/* Landlock constants newer than the Linux 6.1 headers in Debian 12. The
 * values are fixed by the kernel ABI (include/uapi/linux/landlock.h). */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* The ruleset attribute as of ABI 6. Older kernels take a prefix of it,
 * whose length is the size passed to landlock_create_ruleset. */
struct ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

/* Rights a rule on a regular file or device may carry. */
#define LL_FILE_RIGHTS                                                        \
  (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |              \
   LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |              \
   LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define LL_READ_RIGHTS                                                        \
  (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |               \
   LANDLOCK_ACCESS_FS_READ_DIR)

/* Retries of openat2 when a concurrent rename or mount made the kernel
 * return EAGAIN for RESOLVE_BENEATH. */
#define OPENAT2_RETRIES 32

/* Symbolic links the walk follows in one resolution, as Linux's own
 * limit (MAXSYMLINKS). */
#define WALK_MAX_LINKS 40

/* Directories the walk may hold open at once. */
#define WALK_MAX_DEPTH 256

static mvm_sandbox_features probed;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static int probe_landlock(int *error)
{
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                     LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 0) {
    *error = errno;
    return 0;
  }
  *error = 0;
  return (int)abi;
}

static bool probe_seccomp(void)
{
  uint32_t action = SECCOMP_RET_ERRNO;

  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
    return false;
  return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

static bool probe_user_namespaces(void)
{
  int status = 0;
  pid_t pid = fork();

  if (pid < 0)
    return false;
  if (pid == 0)
    _exit(unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : 1);
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool probe_openat2(void)
{
  struct open_how how = {0};

  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
  if (fd < 0)
    return errno != ENOSYS && errno != EINVAL && errno != E2BIG;
  close((int)fd);
  return true;
}

static void probe_all(void)
{
  probed.landlock_abi = probe_landlock(&probed.landlock_errno);
  probed.seccomp = probe_seccomp();
  probed.user_namespaces = probe_user_namespaces();
  probed.openat2 = probe_openat2();
  probed.no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) >= 0;
  mvm_trace(MVM_TRACE_SANDBOX,
            "probe: landlock ABI %d (errno %d), seccomp %d, user "
            "namespaces %d, openat2 %d, no_new_privs %d",
            probed.landlock_abi, probed.landlock_errno, probed.seccomp,
            probed.user_namespaces, probed.openat2, probed.no_new_privs);
}

void mvm_sandbox_probe(mvm_sandbox_features *out)
{
  pthread_once(&probe_once, probe_all);
  *out = probed;
}

static const char *yes_no(bool on)
{
  return on ? "yes" : "no";
}

int mvm_sandbox_features_describe(const mvm_sandbox_features *f,
                                  json_t **json, char *text, size_t size,
                                  mvm_error *err)
{
  int abi = f->landlock_abi;

  if (text != NULL && size > 0) {
    char landlock[96];
    if (abi > 0)
      snprintf(landlock, sizeof landlock, "landlock ABI %d (fs%s%s)", abi,
               abi >= 4 ? "+net" : "", abi >= 6 ? "+scope" : "");
    else
      snprintf(landlock, sizeof landlock, "landlock unavailable (%s)",
               strerror(f->landlock_errno));
    snprintf(text, size,
             "kernel: %s, seccomp %s, user+net namespaces %s, openat2 %s, "
             "no_new_privs %s",
             landlock, yes_no(f->seccomp), yes_no(f->user_namespaces),
             yes_no(f->openat2), yes_no(f->no_new_privs));
  }
  if (json == NULL)
    return MVM_OK;

  json_t *obj = json_pack("{s{sisbsbsb}sbsbsbsb}", "landlock", "abi", abi,
                          "fs", abi >= 1, "net", abi >= 4, "scope", abi >= 6,
                          "seccomp", f->seccomp, "user_namespaces",
                          f->user_namespaces, "openat2", f->openat2,
                          "no_new_privs", f->no_new_privs);
  if (obj == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "sandbox",
                         "out of memory describing the kernel features");
  *json = obj;
  return MVM_OK;
}

/* ---------------------------------------------------------------- paths */

static int open_openat2(int dirfd, const char *path, int flags,
                        bool no_symlinks)
{
  struct open_how how = {0};

  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  if (no_symlinks)
    how.resolve |= RESOLVE_NO_SYMLINKS;

  for (int i = 0; i < OPENAT2_RETRIES; i++) {
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0)
      return (int)fd;
    if (errno != EAGAIN)
      break;
  }
  return -errno;
}

/* The state of one component walk: the directories entered below the
 * starting fd, and the path still to resolve. */
struct walk {
  int base;
  int fds[WALK_MAX_DEPTH];
  int depth;
  int links;
  char rest[MVM_SANDBOX_PATH_MAX + 1];
};

static int walk_top(const struct walk *w)
{
  return w->depth > 0 ? w->fds[w->depth - 1] : w->base;
}

static void walk_release(struct walk *w)
{
  while (w->depth > 0)
    close(w->fds[--w->depth]);
}

/* Replaces the component just read with the target of the symbolic link
 * `name` in the current directory: rest becomes target + "/" + tail. */
static int walk_splice_link(struct walk *w, const char *name,
                            const char *tail, bool no_symlinks)
{
  char target[MVM_SANDBOX_PATH_MAX + 1];
  char joined[MVM_SANDBOX_PATH_MAX + 1];

  if (no_symlinks)
    return -ELOOP;
  if (++w->links > WALK_MAX_LINKS)
    return -ELOOP;

  ssize_t n = readlinkat(walk_top(w), name, target, sizeof target);
  if (n < 0)
    return -errno;
  if ((size_t)n >= sizeof target)
    return -ENAMETOOLONG;
  target[n] = '\0';
  if (target[0] == '/')
    return -EXDEV;

  int len = tail[0] != '\0'
                ? snprintf(joined, sizeof joined, "%s/%s", target, tail)
                : snprintf(joined, sizeof joined, "%s", target);
  if (len < 0 || (size_t)len >= sizeof joined)
    return -ENAMETOOLONG;
  memcpy(w->rest, joined, (size_t)len + 1);
  return 0;
}

/* True when the entry `name` in the current directory is a symbolic
 * link. */
static bool walk_is_link(const struct walk *w, const char *name)
{
  struct stat st;

  if (fstatat(walk_top(w), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return false;
  return S_ISLNK(st.st_mode);
}

/* Steps into the directory `name`, or splices it when it is a link.
 * Returns 0 when it entered a directory, 1 when it spliced a link, or a
 * negative errno. */
static int walk_enter(struct walk *w, const char *name, const char *tail,
                      bool no_symlinks)
{
  int fd = openat(walk_top(w), name,
                  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    if (w->depth >= WALK_MAX_DEPTH) {
      close(fd);
      return -ENAMETOOLONG;
    }
    w->fds[w->depth++] = fd;
    return 0;
  }

  /* O_PATH | O_NOFOLLOW opens a link itself, which O_DIRECTORY rejects
   * with ENOTDIR; without O_PATH the kernel reports ELOOP. */
  int error = errno;
  if ((error != ENOTDIR && error != ELOOP) || !walk_is_link(w, name))
    return -error;
  int rc = walk_splice_link(w, name, tail, no_symlinks);
  return rc < 0 ? rc : 1;
}

/* Opens the last component into *fd. Returns 0 when it opened it, 1 when
 * the component was a link spliced into w->rest, or a negative errno. */
static int walk_final(struct walk *w, const char *name, const char *tail,
                      int flags, bool no_symlinks, int *fd)
{
  bool follow = (flags & O_NOFOLLOW) == 0;
  int opened = openat(walk_top(w), name, flags | O_NOFOLLOW | O_CLOEXEC);
  int error = errno;

  if (opened >= 0) {
    struct stat st;
    /* O_PATH | O_NOFOLLOW succeeds on a link: resolve it by hand. */
    if (!(flags & O_PATH) || !follow || fstat(opened, &st) < 0 ||
        !S_ISLNK(st.st_mode)) {
      *fd = opened;
      return 0;
    }
    close(opened);
    error = ELOOP;
  }

  if (!follow || (error != ELOOP && error != ENOTDIR) ||
      !walk_is_link(w, name))
    return -error;
  int rc = walk_splice_link(w, name, tail, no_symlinks);
  return rc < 0 ? rc : 1;
}

/* Takes the next component of w->rest into name and the rest after it
 * into tail. Returns false when no component is left. */
static bool walk_next(struct walk *w, char *name, char *tail,
                      bool *dir_slash)
{
  const char *p = w->rest;

  while (*p == '/')
    p++;
  if (*p == '\0')
    return false;

  size_t n = strcspn(p, "/");
  memcpy(name, p, n);
  name[n] = '\0';
  p += n;
  *dir_slash = *p == '/';
  while (*p == '/')
    p++;
  memmove(tail, p, strlen(p) + 1);
  return true;
}

/* Resolves w->rest from w->base. Returns 0 with *fd set, or a negative
 * errno. */
static int walk_resolve(struct walk *w, int flags, bool no_symlinks, int *fd)
{
  char name[MVM_SANDBOX_PATH_MAX + 1];
  char tail[MVM_SANDBOX_PATH_MAX + 1];
  bool dir_slash = false;
  int rc;

  while (walk_next(w, name, tail, &dir_slash)) {
    /* "name/" must be a directory: resolve it as "name/.". */
    if (tail[0] == '\0' && dir_slash)
      strcpy(tail, ".");
    bool last = tail[0] == '\0';

    if (strcmp(name, "..") == 0) {
      if (w->depth == 0)
        return -EXDEV;
      close(w->fds[--w->depth]);
      rc = 0;
    } else if (strcmp(name, ".") == 0) {
      rc = 0;
    } else if (!last) {
      rc = walk_enter(w, name, tail, no_symlinks);
    } else {
      rc = walk_final(w, name, tail, flags, no_symlinks, fd);
      if (rc == 0)
        return 0;
    }
    if (rc < 0)
      return rc;
    /* rc 1: a link target now heads w->rest. */
    if (rc == 0)
      memcpy(w->rest, tail, strlen(tail) + 1);
  }

  /* The path named a directory already entered ("", ".", "a/.."). */
  int opened = openat(walk_top(w), ".", flags | O_CLOEXEC);
  if (opened < 0)
    return -errno;
  *fd = opened;
  return 0;
}

/* NOTE: unlike RESOLVE_BENEATH, the walk does not detect another process
 * renaming an entered directory out of the tree during the call. ".." stays
 * safe because it returns to a stored fd, but later components resolve
 * from the moved directory. */
static int open_walk(int dirfd, const char *path, int flags,
                     bool no_symlinks)
{
  struct walk *w = malloc(sizeof *w);
  int fd = -1;

  if (w == NULL)
    return -ENOMEM;
  w->base = dirfd;
  w->depth = 0;
  w->links = 0;
  snprintf(w->rest, sizeof w->rest, "%s", path);

  int rc = walk_resolve(w, flags, no_symlinks, &fd);
  walk_release(w);
  free(w);
  return rc < 0 ? rc : fd;
}

int mvm_sandbox_open_beneath(int dirfd, const char *path, int flags,
                             bool no_symlinks, mvm_sandbox_resolver resolver)
{
  if (path[0] == '/')
    return -EXDEV;
  if (strlen(path) > MVM_SANDBOX_PATH_MAX)
    return -ENAMETOOLONG;
  if (flags & O_CREAT)
    return -EINVAL;
  if (path[0] == '\0')
    path = ".";

  if (resolver != MVM_RESOLVER_WALK) {
    int fd = open_openat2(dirfd, path, flags, no_symlinks);
    if (fd != -ENOSYS || resolver == MVM_RESOLVER_OPENAT2)
      return fd;
  }
  return open_walk(dirfd, path, flags, no_symlinks);
}

/* ---------------------------------------------------------------- landlock */

static uint64_t landlock_fs_rights(int abi)
{
  uint64_t rights = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;

  if (abi >= 2)
    rights |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3)
    rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
  if (abi >= 5)
    rights |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
  return rights;
}

static size_t landlock_attr_size(int abi)
{
  if (abi >= 6)
    return sizeof(struct ruleset_attr);
  if (abi >= 4)
    return offsetof(struct ruleset_attr, scoped);
  return offsetof(struct ruleset_attr, handled_access_net);
}

static int landlock_add_paths(int ruleset, const char *const *paths,
                              uint64_t rights, mvm_error *err)
{
  for (size_t i = 0; paths != NULL && paths[i] != NULL; i++) {
    struct landlock_path_beneath_attr rule = {0};
    struct stat st;
    int fd = open(paths[i], O_PATH | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT) {
      mvm_trace(MVM_TRACE_SANDBOX, "landlock: skipping missing path '%s'",
                paths[i]);
      continue;
    }
    if (fd < 0 || fstat(fd, &st) < 0) {
      int error = errno;
      if (fd >= 0)
        close(fd);
      return mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                           "cannot open '%s' for a Landlock rule: %s; "
                           "remove it from the path lists",
                           paths[i], strerror(error));
    }

    rule.parent_fd = fd;
    rule.allowed_access =
        S_ISDIR(st.st_mode) ? rights : rights & LL_FILE_RIGHTS;
    long rc = syscall(SYS_landlock_add_rule, ruleset,
                      LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int error = errno;
    close(fd);
    if (rc < 0)
      return mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                           "landlock_add_rule failed for '%s': %s", paths[i],
                           strerror(error));
  }
  return MVM_OK;
}

int mvm_sandbox_landlock_new(int abi, const mvm_sandbox_landlock_spec *spec,
                             int *fd, mvm_error *err)
{
  struct ruleset_attr attr = {0};
  uint64_t all = landlock_fs_rights(abi);
  int rc;

  if (abi < 1)
    return mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                         "Landlock is not available in this kernel");

  attr.handled_access_fs = all;
  if (abi >= 4 && spec->deny_tcp)
    attr.handled_access_net =
        LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
  if (abi >= 6 && spec->scope)
    attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;

  long ruleset = syscall(SYS_landlock_create_ruleset, &attr,
                         landlock_attr_size(abi), 0);
  if (ruleset < 0)
    return mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                         "landlock_create_ruleset failed for ABI %d: %s", abi,
                         strerror(errno));

  rc = landlock_add_paths((int)ruleset, spec->read_paths, LL_READ_RIGHTS & all,
                          err);
  if (rc)
    goto fail;
  rc = landlock_add_paths((int)ruleset, spec->write_paths, all, err);
  if (rc)
    goto fail;
  *fd = (int)ruleset;
  return MVM_OK;

fail:
  close((int)ruleset);
  return rc;
}

int mvm_sandbox_landlock_enforce(int ruleset_fd)
{
  if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0) < 0)
    return -errno;
  return 0;
}

/* ---------------------------------------------------------------- seccomp */

/* System calls that fail with EPERM in every sandboxed process. Names
 * unknown on this architecture are skipped. */
static const char *const denied_syscalls[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "kexec_load", "kexec_file_load", "bpf", "perf_event_open",
    "keyctl", "add_key", "request_key",
    "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "syslog", "acct",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "userfaultfd", "open_by_handle_at", "name_to_handle_at",
    "iopl", "ioperm", "quotactl", "quotactl_fd", "lookup_dcookie",
    "vhangup", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "fanotify_init", "unshare", "setns", "setsid", "setpgid",
    NULL};

static const uint64_t namespace_flags[] = {
    CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};


/* An argument comparison "(arg & mask) == value". libseccomp's SCMP_A0
 * macros leave a field to the compiler, which clang warns about. */
static struct scmp_arg_cmp masked_eq(unsigned arg, scmp_datum_t mask,
                                     scmp_datum_t value)
{
  struct scmp_arg_cmp c = {
      .arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = value};
  return c;
}

static int bpf_rules(scmp_filter_ctx ctx, bool allow_network)
{
  int rc = 0;

  for (size_t i = 0; denied_syscalls[i] != NULL && rc == 0; i++) {
    int nr = seccomp_syscall_resolve_name(denied_syscalls[i]);
    if (nr != __NR_SCMP_ERROR)
      rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
  }
  for (size_t i = 0; i < sizeof namespace_flags / sizeof namespace_flags[0] &&
                     rc == 0;
       i++)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                          masked_eq(0, namespace_flags[i],
                                    namespace_flags[i]));
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                          masked_eq(1, 0xffffffffu, TIOCSTI));
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                          masked_eq(1, 0xffffffffu, TIOCLINUX));
  /* NOTE: AF_UNIX stays allowed, and Landlock up to ABI 7 does not cover
   * connect(2) to a named socket, so a command can reach a listening Unix
   * socket whose path it can name (abstract ones are scoped from ABI 6). */
  if (rc == 0 && !allow_network) {
    struct scmp_arg_cmp not_unix = {0, SCMP_CMP_NE, AF_UNIX, 0};
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
                          not_unix);
  }
  return rc;
}

/* Reads the exported program back from the memory file. */
static int bpf_read(int fd, mvm_sandbox_bpf *out, mvm_error *err)
{
  struct stat st;

  if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0)
    return mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                         "cannot read the exported seccomp program: %s",
                         strerror(errno));
  size_t size = (size_t)st.st_size;
  size_t count = size / sizeof(struct sock_filter);
  if (count == 0 || count > BPF_MAXINSNS ||
      size % sizeof(struct sock_filter) != 0)
    return mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                         "the seccomp program has an invalid size of %zu "
                         "bytes",
                         size);

  void *filter = malloc(size);
  if (filter == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "sandbox",
                         "out of memory for the seccomp program");
  if (pread(fd, filter, size, 0) != (ssize_t)size) {
    free(filter);
    return mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                         "short read of the exported seccomp program");
  }
  out->filter = filter;
  out->len = (unsigned short)count;
  return MVM_OK;
}

int mvm_sandbox_bpf_build(bool allow_network, mvm_sandbox_bpf *out,
                          mvm_error *err)
{
  int fd = -1;
  int rc;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

  if (ctx == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "sandbox",
                         "seccomp_init failed: out of memory");

  rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0)
    rc = bpf_rules(ctx, allow_network);
  if (rc != 0) {
    rc = mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                       "building the seccomp filter failed: %s",
                       strerror(-rc));
    goto out;
  }

  fd = memfd_create("mvm-seccomp", MFD_CLOEXEC);
  if (fd < 0) {
    rc = mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                       "memfd_create for the seccomp program failed: %s",
                       strerror(errno));
    goto out;
  }
  rc = seccomp_export_bpf(ctx, fd);
  if (rc != 0) {
    rc = mvm_error_set(err, MVM_ESANDBOX, "sandbox",
                       "seccomp_export_bpf failed: %s", strerror(-rc));
    goto out;
  }
  rc = bpf_read(fd, out, err);

out:
  if (fd >= 0)
    close(fd);
  seccomp_release(ctx);
  return rc;
}

void mvm_sandbox_bpf_free(mvm_sandbox_bpf *bpf)
{
  free(bpf->filter);
  bpf->filter = NULL;
  bpf->len = 0;
}

int mvm_sandbox_bpf_load(const mvm_sandbox_bpf *bpf)
{
  struct sock_fprog prog = {.len = bpf->len, .filter = bpf->filter};

  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
    return -errno;
  return 0;
}

/* ---------------------------------------------------------------- rlimits */

static int rlimit_set(int resource, uint64_t value)
{
  struct rlimit lim;

  if (value == 0)
    return 0;
  if (getrlimit(resource, &lim) < 0)
    return -errno;
  rlim_t v = (rlim_t)value;
  if (lim.rlim_max != RLIM_INFINITY && v > lim.rlim_max)
    v = lim.rlim_max;
  lim.rlim_cur = v;
  lim.rlim_max = v;
  if (setrlimit(resource, &lim) < 0)
    return -errno;
  return 0;
}

int mvm_sandbox_rlimits_apply(const mvm_sandbox_rlimits *limits)
{
  int rc = rlimit_set(RLIMIT_CPU, limits->cpu_s);

  if (rc == 0)
    rc = rlimit_set(RLIMIT_AS, limits->as_bytes);
  if (rc == 0)
    rc = rlimit_set(RLIMIT_FSIZE, limits->fsize_bytes);
  if (rc == 0)
    rc = rlimit_set(RLIMIT_NOFILE, limits->nofile);
  if (rc == 0)
    rc = rlimit_set(RLIMIT_NPROC, limits->nproc);
  return rc;
}

/* ------------------------------------------------------------ namespaces */

void mvm_sandbox_idmap_init(mvm_sandbox_idmap *map, unsigned uid,
                            unsigned gid)
{
  snprintf(map->uid_map, sizeof map->uid_map, "%u %u 1\n", uid, uid);
  snprintf(map->gid_map, sizeof map->gid_map, "%u %u 1\n", gid, gid);
}

static int write_proc_file(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);

  if (fd < 0)
    return -errno;
  size_t len = strlen(text);
  ssize_t n = write(fd, text, len);
  int error = errno;
  close(fd);
  if (n < 0)
    return -error;
  return (size_t)n == len ? 0 : -EIO;
}

int mvm_sandbox_enter_namespaces(const mvm_sandbox_idmap *map, bool new_net)
{
  int rc;

  if (unshare(CLONE_NEWUSER | (new_net ? CLONE_NEWNET : 0)) < 0)
    return -errno;
  /* An unprivileged gid_map write needs setgroups denied first. */
  rc = write_proc_file("/proc/self/setgroups", "deny");
  if (rc == 0)
    rc = write_proc_file("/proc/self/uid_map", map->uid_map);
  if (rc == 0)
    rc = write_proc_file("/proc/self/gid_map", map->gid_map);
  return rc;
}

/* ---------------------------------------------------------------- results */

json_t *mvm_sandbox_result(const char *text, json_t *structured,
                           bool is_error)
{
  json_t *result = json_pack("{s[{ssss}]sb}", "content", "type", "text",
                             "text", text, "isError", is_error);

  if (result == NULL) {
    json_decref(structured);
    return NULL;
  }
  if (structured != NULL &&
      json_object_set_new(result, "structuredContent", structured) < 0) {
    json_decref(result);
    return NULL;
  }
  return result;
}

json_t *mvm_sandbox_result_error(const char *kind, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  json_t *text = mvm_sandbox_json_text(msg, strlen(msg), NULL);
  if (text == NULL)
    return NULL;
  json_t *structured = json_pack("{ssso}", "error", kind, "message", text);
  if (structured == NULL)
    return NULL;
  return mvm_sandbox_result(json_string_value(text), structured, true);
}

/* Returns the length of the valid UTF-8 sequence at s[0..len), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
  unsigned char c = s[0];
  size_t need;
  uint32_t cp;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    need = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (len < need)
    return 0;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  /* Overlong forms, surrogates and code points past U+10FFFF. */
  if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
      (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
    return 0;
  return need;
}

json_t *mvm_sandbox_json_text(const char *data, size_t len,
                              size_t *replaced)
{
  const unsigned char *s = (const unsigned char *)data;
  size_t bad = 0;
  mvm_buf buf;
  json_t *out = NULL;

  mvm_buf_init(&buf, 0);
  for (size_t i = 0; i < len;) {
    size_t n = utf8_sequence(s + i, len - i);
    size_t run = i;
    /* Copy the longest valid run in one append. */
    while (n > 0) {
      i += n;
      n = i < len ? utf8_sequence(s + i, len - i) : 0;
    }
    if (i > run && mvm_buf_append(&buf, data + run, i - run))
      goto out;
    if (i < len) {
      if (mvm_buf_append(&buf, "\xef\xbf\xbd", 3))
        goto out;
      bad++;
      i++;
    }
  }
  out = json_stringn(buf.data ? buf.data : "", buf.len);
  if (replaced != NULL)
    *replaced = bad;

out:
  mvm_buf_free(&buf);
  return out;
}

json_t *mvm_sandbox_json_base64(const unsigned char *data, size_t len)
{
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

  if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
    return NULL;
  size_t size = (len + 2) / 3 * 4;
  char *text = malloc(size + 1);
  if (text == NULL)
    return NULL;

  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)data[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)data[i + 1] << 8;
    if (i + 2 < len)
      v |= data[i + 2];
    text[o++] = alphabet[(v >> 18) & 63];
    text[o++] = alphabet[(v >> 12) & 63];
    text[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
    text[o++] = i + 2 < len ? alphabet[v & 63] : '=';
  }
  json_t *out = json_stringn(text, o);
  free(text);
  return out;
}

json_t *mvm_sandbox_check_args(const json_t *args, const char *const *known)
{
  const char *key;
  json_t *value;

  if (!json_is_object(args))
    return mvm_sandbox_result_error("invalid_argument",
                                    "the arguments must be a JSON object");
  json_object_foreach((json_t *)args, key, value) {
    size_t i = 0;
    while (known[i] != NULL && strcmp(known[i], key) != 0)
      i++;
    if (known[i] == NULL)
      return mvm_sandbox_result_error(
          "invalid_argument", "unknown argument '%s'; see the tool's "
                              "inputSchema for the accepted ones",
          key);
  }
  return NULL;
}
