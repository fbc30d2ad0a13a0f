/* builtin_exec.c - the "run_command" tool: fork, confine, exec, collect
 * output, enforce the timeout. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "tools/builtin_exec.h"

#define EXEC_DEFAULT_TIMEOUT_S 30.0
#define EXEC_DEFAULT_GRACE_MS 500
#define EXEC_DEFAULT_MAX_STDOUT (1024u * 1024)
#define EXEC_DEFAULT_MAX_STDERR (256u * 1024)
#define EXEC_DEFAULT_MAX_STDIN (1024u * 1024)
#define EXEC_DEFAULT_MAX_ARGV (128u * 1024)
#define EXEC_MAX_ARGS 4096
#define EXEC_LIST_MAX 256
#define EXEC_NOBODY 65534

/* Reads and writes per poll round, in bytes. */
#define EXEC_CHUNK 65536

/* Time the output loop waits past the SIGKILL for the pipes to close. */
#define EXEC_DRAIN_MS 1000

static const char *const default_read_paths[] = {
    "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", NULL};
static const char *const default_write_paths[] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
    NULL};
static const char *const default_env[] = {"PATH=/usr/bin:/bin",
                                          "LANG=C.UTF-8", NULL};

/* Steps of the child's setup, reported to the parent on failure. */
enum child_stage {
  STAGE_SIGNALS,
  STAGE_SETSID,
  STAGE_FDS,
  STAGE_CHDIR,
  STAGE_IDS,
  STAGE_NAMESPACES,
  STAGE_RLIMITS,
  STAGE_NO_NEW_PRIVS,
  STAGE_LANDLOCK,
  STAGE_PARENT_DEATH,
  STAGE_CLOSE_FDS,
  STAGE_SECCOMP,
  STAGE_EXEC
};

static const char *const stage_names[] = {
    "signal reset", "setsid", "standard fds", "chdir", "setuid/setgid",
    "user and network namespaces", "rlimits", "no_new_privs", "Landlock",
    "parent-death signal", "closing fds", "seccomp", "execve"};

struct child_error {
  int stage;
  int error;
};

struct exec {
  char *server;
  char *root;
  int root_fd;
  char **env; /* "NAME=value", NULL-terminated */
  char **commands;
  char *search_path;
  double timeout_s;
  int grace_ms;
  size_t max_out;
  size_t max_err;
  size_t max_in;
  size_t max_argv;
  mvm_sandbox_rlimits limits;
  bool allow_network;
  bool use_landlock;
  bool use_seccomp;
  bool use_namespaces;
  int landlock_abi;
  int ruleset_fd;
  mvm_sandbox_bpf bpf;
  bool set_ids;
  uid_t uid;
  gid_t gid;
  mvm_sandbox_idmap idmap;
};

/* Everything the child needs, prepared before fork. */
struct launch {
  const struct exec *x;
  const char *path;
  char **argv;
  int in_fd;
  int out_fd;
  int err_fd;
  int cwd_fd;
  int status_fd;
  pid_t parent; /* mvm's pid, to see whether it died before prctl */
};

/* The output of one run. */
struct run {
  mvm_buf out;
  mvm_buf err;
  size_t out_total;
  size_t err_total;
  bool timed_out;
  bool killed;
  int status;
};

void mvm_builtin_exec_config_init(mvm_builtin_exec_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->server = "exec";
  cfg->env = default_env;
  cfg->search_path = "/usr/bin:/bin";
  cfg->timeout_s = EXEC_DEFAULT_TIMEOUT_S;
  cfg->kill_grace_ms = EXEC_DEFAULT_GRACE_MS;
  cfg->max_stdout = EXEC_DEFAULT_MAX_STDOUT;
  cfg->max_stderr = EXEC_DEFAULT_MAX_STDERR;
  cfg->max_stdin = EXEC_DEFAULT_MAX_STDIN;
  cfg->max_argv_bytes = EXEC_DEFAULT_MAX_ARGV;
  cfg->limits.cpu_s = 30;
  cfg->limits.as_bytes = 1024ull * 1024 * 1024;
  cfg->limits.fsize_bytes = 64ull * 1024 * 1024;
  cfg->limits.nofile = 256;
  cfg->limits.nproc = 64;
  cfg->uid = MVM_EXEC_ID_AUTO;
  cfg->gid = MVM_EXEC_ID_AUTO;
  cfg->landlock = MVM_SANDBOX_REQUIRED;
  cfg->seccomp = MVM_SANDBOX_REQUIRED;
  cfg->namespaces = MVM_SANDBOX_IF_AVAILABLE;
}

/* ---------------------------------------------------------------- child */

static void child_fail(int fd, int stage, int error)
{
  struct child_error e = {stage, error};
  ssize_t n = write(fd, &e, sizeof e);
  (void)n;
  _exit(127);
}

static void child_check(const struct launch *l, int stage, int rc)
{
  if (rc < 0)
    child_fail(l->status_fd, stage, rc == -1 ? errno : -rc);
}

static void child_reset_signals(const struct launch *l)
{
  struct sigaction sa = {0};
  sigset_t none;

  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP)
      sigaction(sig, &sa, NULL);
  }
  sigemptyset(&none);
  child_check(l, STAGE_SIGNALS, sigprocmask(SIG_SETMASK, &none, NULL));
}

static void child_drop_ids(const struct launch *l)
{
  const struct exec *x = l->x;

  if (!x->set_ids)
    return;
  child_check(l, STAGE_IDS, setgroups(0, NULL));
  child_check(l, STAGE_IDS, setresgid(x->gid, x->gid, x->gid));
  child_check(l, STAGE_IDS, setresuid(x->uid, x->uid, x->uid));
  /* A changed uid makes the process undumpable, which gives
   * /proc/self/uid_map to root; the namespace setup must write it. */
  child_check(l, STAGE_IDS, prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
}

/* Runs between fork and exec: async-signal-safe calls only. */
static void child_main(const struct launch *l, char **envp)
{
  const struct exec *x = l->x;

  child_reset_signals(l);
  child_check(l, STAGE_SETSID, setsid());
  child_check(l, STAGE_FDS, dup2(l->in_fd, 0));
  child_check(l, STAGE_FDS, dup2(l->out_fd, 1));
  child_check(l, STAGE_FDS, dup2(l->err_fd, 2));
  child_check(l, STAGE_CHDIR, fchdir(l->cwd_fd));
  child_drop_ids(l);
  if (x->use_namespaces)
    child_check(l, STAGE_NAMESPACES,
                mvm_sandbox_enter_namespaces(&x->idmap,
                                             !x->allow_network));
  child_check(l, STAGE_RLIMITS, mvm_sandbox_rlimits_apply(&x->limits));
  child_check(l, STAGE_NO_NEW_PRIVS, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  if (x->use_landlock)
    child_check(l, STAGE_LANDLOCK,
                mvm_sandbox_landlock_enforce(x->ruleset_fd));
  /* The command runs in its own session, so a signal to mvm's process
   * group misses it; the kernel kills it when mvm dies instead. This
   * comes after the credential changes, which clear the setting. */
  child_check(l, STAGE_PARENT_DEATH, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
  if (getppid() != l->parent)
    child_fail(l->status_fd, STAGE_PARENT_DEATH, ESRCH);
  /* Every inherited fd above 2 closes at exec, also those another thread
   * of the host opened without O_CLOEXEC. */
  child_check(l, STAGE_CLOSE_FDS,
              (int)syscall(SYS_close_range, 3, ~0u, CLOSE_RANGE_CLOEXEC));
  if (x->use_seccomp)
    child_check(l, STAGE_SECCOMP, mvm_sandbox_bpf_load(&x->bpf));
  execve(l->path, l->argv, envp);
  child_fail(l->status_fd, STAGE_EXEC, errno);
}

/* ---------------------------------------------------------------- parent */

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends what fits under the cap and counts everything read. Returns
 * false at end of file or on a read error. */
static bool drain(int fd, mvm_buf *buf, size_t *total)
{
  char chunk[EXEC_CHUNK];
  ssize_t n = read(fd, chunk, sizeof chunk);

  if (n < 0)
    return errno == EINTR || errno == EAGAIN;
  if (n == 0)
    return false;
  *total += (size_t)n;
  size_t room = buf->max - buf->len;
  mvm_buf_append(buf, chunk, (size_t)n < room ? (size_t)n : room);
  return true;
}

/* Writes the next part of the standard input. Returns false when done. */
static bool feed(int fd, const char *data, size_t len, size_t *sent)
{
  size_t n = len - *sent;

  if (n > EXEC_CHUNK)
    n = EXEC_CHUNK;
  ssize_t w = send(fd, data + *sent, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0)
    return errno == EINTR || errno == EAGAIN;
  *sent += (size_t)w;
  return *sent < len;
}

/* Sends sig to the child's process group, and to the child itself in case
 * it has not called setsid yet. */
static void signal_group(pid_t pid, int sig)
{
  kill(-pid, sig);
  kill(pid, sig);
}

/* True once the child has exited; it stays a zombie (WNOWAIT), so its
 * process group id cannot be reused before the group is killed. */
static bool child_exited(pid_t pid)
{
  siginfo_t info = {0};

  if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
    return errno == ECHILD;
  return info.si_pid == pid;
}

struct io {
  int out;
  int err;
  int in;
  const char *input;
  size_t input_len;
  size_t sent;
};

/* Collects output until the pipes close and the child exits, enforcing the
 * timeout. */
static void collect(const struct exec *x, pid_t pid, struct io *io,
                    double timeout_s, struct run *run)
{
  double deadline = now_s() + timeout_s;
  double kill_at = 0;
  double give_up = 0;
  bool exited = false;

  while (io->out >= 0 || io->err >= 0 || !exited) {
    struct pollfd p[3] = {{io->out, POLLIN, 0},
                          {io->err, POLLIN, 0},
                          {io->in, POLLOUT, 0}};
    double now = now_s();

    if (!exited && child_exited(pid)) {
      exited = true;
      signal_group(pid, SIGKILL);
      give_up = now + EXEC_DRAIN_MS / 1000.0;
    }
    if (!exited && !run->timed_out && now >= deadline) {
      run->timed_out = true;
      mvm_trace(MVM_TRACE_SANDBOX, "exec: pid %d timed out, SIGTERM",
                (int)pid);
      signal_group(pid, SIGTERM);
      kill_at = now + x->grace_ms / 1000.0;
    }
    if (!exited && kill_at > 0 && now >= kill_at && !run->killed) {
      run->killed = true;
      signal_group(pid, SIGKILL);
    }
    /* SIGKILL cannot be caught, so this only bounds the wait for pipes
     * held open by a process outside the group. */
    if (kill_at > 0 && now >= kill_at)
      give_up = give_up > 0 ? give_up : kill_at + EXEC_DRAIN_MS / 1000.0;
    if (give_up > 0 && now >= give_up)
      break;

    int rc = poll(p, 3, 20);
    if (rc < 0 && errno != EINTR)
      break;
    if (io->out >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
        !drain(io->out, &run->out, &run->out_total)) {
      close(io->out);
      io->out = -1;
    }
    if (io->err >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
        !drain(io->err, &run->err, &run->err_total)) {
      close(io->err);
      io->err = -1;
    }
    if (io->in >= 0 && (p[2].revents & (POLLOUT | POLLHUP | POLLERR)) &&
        !feed(io->in, io->input, io->input_len, &io->sent)) {
      close(io->in);
      io->in = -1;
    }
  }

  while (waitpid(pid, &run->status, 0) < 0 && errno == EINTR)
    ;
}

/* ---------------------------------------------------------------- call */

struct request {
  char **argv;
  size_t argc;
  const char *cwd;
  const char *input;
  size_t input_len;
  double timeout_s;
  char path[MVM_SANDBOX_PATH_MAX + 1];
};

static void request_free(struct request *r)
{
  free(r->argv);
  r->argv = NULL;
}

static json_t *parse_argv(const struct exec *x, const json_t *jargv,
                          struct request *r)
{
  size_t total = 0;

  if (!json_is_array(jargv) || json_array_size(jargv) == 0)
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument 'argv' must be a non-empty "
                                    "array of strings");
  r->argc = json_array_size(jargv);
  if (r->argc > EXEC_MAX_ARGS)
    return mvm_sandbox_result_error("limit",
                                    "argv has %zu entries, more than %d",
                                    r->argc, EXEC_MAX_ARGS);
  r->argv = calloc(r->argc + 1, sizeof *r->argv);
  if (r->argv == NULL)
    return NULL;
  for (size_t i = 0; i < r->argc; i++) {
    const json_t *a = json_array_get(jargv, i);
    const char *s = json_string_value(a);
    if (s == NULL || json_string_length(a) != strlen(s))
      return mvm_sandbox_result_error("invalid_argument",
                                      "argv[%zu] must be a string without "
                                      "NUL bytes",
                                      i);
    total += strlen(s) + 1;
    r->argv[i] = (char *)s;
  }
  if (total > x->max_argv)
    return mvm_sandbox_result_error("limit",
                                    "argv has %zu bytes, more than the "
                                    "limit of %zu",
                                    total, x->max_argv);
  if (r->argv[0][0] == '\0')
    return mvm_sandbox_result_error("invalid_argument",
                                    "argv[0] must name a program");
  return NULL;
}

/* Finds argv[0] on the search path and checks the allowed commands. */
static json_t *find_program(const struct exec *x, struct request *r)
{
  const char *name = r->argv[0];

  if (strchr(name, '/') != NULL) {
    snprintf(r->path, sizeof r->path, "%s", name);
  } else {
    const char *dir = x->search_path;
    r->path[0] = '\0';
    while (*dir != '\0') {
      size_t n = strcspn(dir, ":");
      snprintf(r->path, sizeof r->path, "%.*s/%s", (int)n, dir, name);
      if (n > 0 && access(r->path, X_OK) == 0)
        break;
      r->path[0] = '\0';
      dir += n;
      if (*dir == ':')
        dir++;
    }
    if (r->path[0] == '\0')
      return mvm_sandbox_result_error("not_found",
                                      "program '%s' is not in the search "
                                      "path %s",
                                      name, x->search_path);
  }

  if (x->commands == NULL)
    return NULL;
  for (size_t i = 0; x->commands[i] != NULL; i++) {
    if (strcmp(x->commands[i], r->path) == 0)
      return NULL;
  }
  return mvm_sandbox_result_error("denied",
                                  "program '%s' is not in the allowed "
                                  "commands",
                                  r->path);
}

static json_t *parse_request(const struct exec *x, const json_t *args,
                             const mvm_tool_call_opts *opts,
                             struct request *r)
{
  static const char *const known[] = {"argv", "cwd", "stdin", "timeout_s",
                                      NULL};
  json_t *result = mvm_sandbox_check_args(args, known);

  r->cwd = ".";
  r->timeout_s = x->timeout_s;
  if (opts != NULL && opts->timeout_s > 0 && opts->timeout_s < r->timeout_s)
    r->timeout_s = opts->timeout_s;
  if (result != NULL)
    return result;

  const json_t *cwd = json_object_get(args, "cwd");
  const json_t *input = json_object_get(args, "stdin");
  const json_t *timeout = json_object_get(args, "timeout_s");
  bool cwd_ok = json_is_string(cwd) &&
                json_string_length(cwd) == strlen(json_string_value(cwd));
  if (cwd != NULL && !cwd_ok)
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument 'cwd' must be a string");
  if (cwd != NULL)
    r->cwd = json_string_value(cwd);
  if (r->cwd[0] == '/')
    return mvm_sandbox_result_error("denied",
                                    "cwd '%s' is absolute; it is relative "
                                    "to the working root",
                                    r->cwd);
  if (input != NULL && !json_is_string(input))
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument 'stdin' must be a string");
  if (input != NULL) {
    r->input = json_string_value(input);
    r->input_len = json_string_length(input);
    if (r->input_len > x->max_in)
      return mvm_sandbox_result_error("limit",
                                      "stdin has %zu bytes, more than the "
                                      "limit of %zu",
                                      r->input_len, x->max_in);
  }
  if (timeout != NULL &&
      (!json_is_number(timeout) || json_number_value(timeout) <= 0))
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument 'timeout_s' must be a "
                                    "positive number of seconds");
  if (timeout != NULL && json_number_value(timeout) < r->timeout_s)
    r->timeout_s = json_number_value(timeout);

  result = parse_argv(x, json_object_get(args, "argv"), r);
  if (result == NULL && r->argv == NULL)
    return NULL;
  if (result == NULL)
    result = find_program(x, r);
  return result;
}

static const char *signal_name(int sig)
{
  static char name[16];
  const char *abbrev = sigabbrev_np(sig);

  if (abbrev == NULL) {
    snprintf(name, sizeof name, "signal %d", sig);
    return name;
  }
  snprintf(name, sizeof name, "SIG%s", abbrev);
  return name;
}

/* Builds the text the model reads: stdout, then stderr and notes. */
static int result_text(const struct run *run, double timeout_s, mvm_buf *t)
{
  int rc = mvm_buf_append(t, run->out.data ? run->out.data : "",
                          run->out.len);

  if (rc == 0 && run->err.len > 0)
    rc = mvm_buf_printf(t, "%s[stderr]\n%.*s",
                        run->out.len > 0 ? "\n" : "", (int)run->err.len,
                        run->err.data);
  if (rc == 0 && run->out_total > run->out.len)
    rc = mvm_buf_printf(t, "\n[stdout truncated: kept %zu of %zu bytes]",
                        run->out.len, run->out_total);
  if (rc == 0 && run->err_total > run->err.len)
    rc = mvm_buf_printf(t, "\n[stderr truncated: kept %zu of %zu bytes]",
                        run->err.len, run->err_total);
  if (rc == 0 && run->timed_out)
    rc = mvm_buf_printf(t, "\n[timed out after %g s]", timeout_s);
  if (rc == 0 && WIFSIGNALED(run->status))
    rc = mvm_buf_printf(t, "\n[killed by %s]",
                        signal_name(WTERMSIG(run->status)));
  else if (rc == 0 && WEXITSTATUS(run->status) != 0)
    rc = mvm_buf_printf(t, "\n[exit code %d]", WEXITSTATUS(run->status));
  return rc;
}

static json_t *run_result(const struct request *r, const struct run *run)
{
  mvm_buf text;
  json_t *result = NULL;
  json_t *out = mvm_sandbox_json_text(run->out.data ? run->out.data : "",
                                      run->out.len, NULL);
  json_t *err = mvm_sandbox_json_text(run->err.data ? run->err.data : "",
                                      run->err.len, NULL);
  bool signaled = WIFSIGNALED(run->status);

  mvm_buf_init(&text, 0);
  if (out == NULL || err == NULL || result_text(run, r->timeout_s, &text))
    goto out;
  json_t *jtext = mvm_sandbox_json_text(text.data, text.len, NULL);
  if (jtext == NULL)
    goto out;

  json_t *structured = json_pack(
      "{sssosososbsIsIsbsbsb}", "command", r->path, "exit_code",
      signaled ? json_null() : json_integer(WEXITSTATUS(run->status)),
      "signal",
      signaled ? json_string(signal_name(WTERMSIG(run->status))) : json_null(),
      "stdout", json_incref(out), "timed_out", run->timed_out,
      "stdout_bytes", (json_int_t)run->out_total, "stderr_bytes",
      (json_int_t)run->err_total, "stdout_truncated",
      run->out_total > run->out.len, "stderr_truncated",
      run->err_total > run->err.len, "killed", run->killed);
  if (structured != NULL && json_object_set(structured, "stderr", err) == 0) {
    bool failed = signaled || run->timed_out || WEXITSTATUS(run->status) != 0;
    result = mvm_sandbox_result(json_string_value(jtext), structured, failed);
  } else {
    json_decref(structured);
  }
  json_decref(jtext);

out:
  mvm_buf_free(&text);
  json_decref(out);
  json_decref(err);
  return result;
}

/* Reads the child's setup report: 0 when exec succeeded, or the stage
 * that failed. */
static int read_child_status(int fd, struct child_error *e)
{
  for (;;) {
    ssize_t n = read(fd, e, sizeof *e);
    if (n < 0 && errno == EINTR)
      continue;
    return n == (ssize_t)sizeof *e ? 1 : 0;
  }
}

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* Opens the pipes and fds the child inherits. Index 0 of each pair is the
 * parent's end. */
static int open_fds(const struct request *r, int in[2], int out[2],
                    int err[2], int status[2])
{
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
      pipe2(status, O_CLOEXEC) < 0)
    return -errno;
  if (r->input != NULL) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
      return -errno;
  } else {
    in[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in[1] < 0)
      return -errno;
  }
  return 0;
}

/* Builds the result for a setup failure in the child. */
static int setup_failure(const struct exec *x, const struct request *r,
                         const struct child_error *e, json_t **result,
                         mvm_error *err)
{
  const char *stage = e->stage >= 0 && e->stage <= STAGE_EXEC
                          ? stage_names[e->stage]
                          : "unknown step";

  mvm_log(MVM_LOG_WARN, x->server, "running '%s' failed at %s: %s",
          r->path, stage, strerror(e->error));
  if (e->stage == STAGE_EXEC) {
    *result = mvm_sandbox_result_error(
        e->error == ENOENT ? "not_found" : "denied",
        "cannot execute '%s': %s", r->path, strerror(e->error));
    return *result ? MVM_OK : MVM_ENOMEM;
  }
  if (e->stage == STAGE_CHDIR) {
    *result = mvm_sandbox_result_error("denied",
                                       "cannot enter directory '%s': %s",
                                       r->cwd, strerror(e->error));
    return *result ? MVM_OK : MVM_ENOMEM;
  }
  return mvm_error_set(err, MVM_ESANDBOX, x->server,
                       "the sandbox setup for '%s' failed at %s: %s", r->path,
                       stage, strerror(e->error));
}

static int launch_and_wait(const struct exec *x, struct request *r,
                           int cwd_fd, json_t **result, mvm_error *err)
{
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int errp[2] = {-1, -1};
  int status[2] = {-1, -1};
  struct run run = {0};
  struct child_error ce;
  int rc = MVM_OK;

  mvm_buf_init(&run.out, x->max_out);
  mvm_buf_init(&run.err, x->max_err);
  int orc = open_fds(r, in, out, errp, status);
  if (orc < 0) {
    rc = mvm_error_set(err, MVM_EIO, x->server,
                       "cannot create pipes for '%s': %s", r->path,
                       strerror(-orc));
    goto out;
  }

  struct launch l = {x,      r->path,   r->argv,   in[1], out[1],
                     errp[1], cwd_fd,    status[1], getpid()};
  pid_t pid = fork();
  if (pid < 0) {
    rc = mvm_error_set(err, MVM_EIO, x->server, "fork for '%s' failed: %s",
                       r->path, strerror(errno));
    goto out;
  }
  if (pid == 0)
    child_main(&l, x->env);

  close_fd(&in[1]);
  close_fd(&out[1]);
  close_fd(&errp[1]);
  close_fd(&status[1]);
  mvm_trace(MVM_TRACE_SANDBOX, "exec: started '%s' as pid %d", r->path,
            (int)pid);

  if (read_child_status(status[0], &ce)) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    rc = setup_failure(x, r, &ce, result, err);
    goto out;
  }

  struct io io = {out[0], errp[0], r->input ? in[0] : -1, r->input,
                  r->input_len, 0};
  if (r->input != NULL && r->input_len == 0) {
    shutdown(in[0], SHUT_WR);
    io.in = -1;
  }
  collect(x, pid, &io, r->timeout_s, &run);
  out[0] = io.out;
  errp[0] = io.err;
  mvm_trace(MVM_TRACE_SANDBOX, "exec: pid %d ended, status 0x%x", (int)pid,
            (unsigned)run.status);

  *result = run_result(r, &run);
  if (*result == NULL)
    rc = mvm_error_set(err, MVM_ENOMEM, x->server,
                       "out of memory building the result of '%s'", r->path);

out:
  close_fd(&in[0]);
  close_fd(&in[1]);
  close_fd(&out[0]);
  close_fd(&out[1]);
  close_fd(&errp[0]);
  close_fd(&errp[1]);
  close_fd(&status[0]);
  close_fd(&status[1]);
  mvm_buf_free(&run.out);
  mvm_buf_free(&run.err);
  return rc;
}

static int exec_call(void *self, const char *name, const json_t *args,
                     const mvm_tool_call_opts *opts, json_t **result,
                     mvm_error *err)
{
  struct exec *x = self;
  struct request r = {0};
  json_t *out;
  int rc = MVM_OK;

  if (strcmp(name, "run_command") != 0)
    return mvm_error_set(err, MVM_ENOTFOUND, x->server,
                         "no tool '%s' in '%s'; the only tool is "
                         "run_command",
                         name, x->server);

  out = parse_request(x, args, opts, &r);
  if (out == NULL && r.argv == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, x->server, "out of memory");
    goto done;
  }
  if (out != NULL)
    goto done;

  int cwd_fd = mvm_sandbox_open_beneath(x->root_fd, r.cwd,
                                        O_PATH | O_DIRECTORY, false,
                                        MVM_RESOLVER_AUTO);
  if (cwd_fd < 0) {
    out = mvm_sandbox_result_error(
        cwd_fd == -EXDEV ? "denied" : "not_found",
        "cwd '%s' is not a directory inside the working root: %s", r.cwd,
        strerror(-cwd_fd));
    goto done;
  }
  rc = launch_and_wait(x, &r, cwd_fd, &out, err);
  close(cwd_fd);

done:
  request_free(&r);
  if (rc == MVM_OK && out == NULL)
    rc = mvm_error_set(err, MVM_ENOMEM, x->server,
                       "out of memory building a result");
  if (rc == MVM_OK)
    *result = out;
  else
    json_decref(out);
  return rc;
}

/* ---------------------------------------------------------------- toolbox */

static const char exec_schema[] =
    "{\"name\": \"run_command\", \"description\": \"Run a program with "
    "arguments (no shell) in a sandbox: it can read system directories, "
    "write only under the working root, and has no network. Returns "
    "stdout, stderr and the exit status.\", \"inputSchema\": {\"type\": "
    "\"object\", \"properties\": {\"argv\": {\"type\": \"array\", \"items\": "
    "{\"type\": \"string\"}, \"minItems\": 1, \"description\": \"program "
    "and arguments; a program without '/' is looked up in the search "
    "path\"}, \"cwd\": {\"type\": \"string\", \"description\": \"working "
    "directory relative to the working root (default: the root)\"}, "
    "\"stdin\": {\"type\": \"string\", \"description\": \"text given on "
    "standard input\"}, \"timeout_s\": {\"type\": \"number\", "
    "\"exclusiveMinimum\": 0, \"description\": \"seconds before the "
    "command is killed; capped by the configuration\"}}, \"required\": "
    "[\"argv\"], \"additionalProperties\": false}, \"annotations\": "
    "{\"readOnlyHint\": false, \"destructiveHint\": true, "
    "\"openWorldHint\": false}}";

static int exec_list(void *self, json_t **tools, mvm_error *err)
{
  struct exec *x = self;
  json_t *tool = json_loads(exec_schema, 0, NULL);
  json_t *list = tool ? json_pack("[o]", tool) : NULL;

  if (list == NULL)
    return mvm_error_set(err, MVM_ENOMEM, x->server,
                         "out of memory listing the exec tool");
  *tools = list;
  return MVM_OK;
}

static void free_list(char **list)
{
  for (size_t i = 0; list != NULL && list[i] != NULL; i++)
    free(list[i]);
  free(list);
}

static void exec_close(void *self)
{
  struct exec *x = self;

  if (x == NULL)
    return;
  if (x->root_fd >= 0)
    close(x->root_fd);
  if (x->ruleset_fd >= 0)
    close(x->ruleset_fd);
  mvm_sandbox_bpf_free(&x->bpf);
  free_list(x->env);
  free_list(x->commands);
  free(x->search_path);
  free(x->root);
  free(x->server);
  free(x);
}

static const mvm_tool_ops exec_ops = {
    .kind = "builtin",
    .list = exec_list,
    .call = exec_call,
    .close = exec_close,
};

static size_t list_length(const char *const *list)
{
  size_t n = 0;
  while (list != NULL && list[n] != NULL)
    n++;
  return n;
}

/* Builds the child's environment: the listed entries, the passed names
 * that are set, and HOME as the root unless listed. */
static int build_env(struct exec *x, const mvm_builtin_exec_config *cfg,
                     mvm_error *err)
{
  size_t n = list_length(cfg->env) + list_length(cfg->pass_env) + 1;
  size_t k = 0;
  bool has_home = false;

  if (n > EXEC_LIST_MAX)
    return mvm_error_set(err, MVM_ECONFIG, "exec",
                         "the environment lists have %zu entries, more "
                         "than %d",
                         n, EXEC_LIST_MAX);
  x->env = calloc(n + 1, sizeof *x->env);
  if (x->env == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "exec", "out of memory");

  for (size_t i = 0; cfg->env != NULL && cfg->env[i] != NULL; i++) {
    const char *eq = strchr(cfg->env[i], '=');
    if (eq == NULL || eq == cfg->env[i])
      return mvm_error_set(err, MVM_ECONFIG, "exec",
                           "environment entry '%s' is not NAME=value",
                           cfg->env[i]);
    has_home |= strncmp(cfg->env[i], "HOME=", 5) == 0;
    if ((x->env[k++] = strdup(cfg->env[i])) == NULL)
      return mvm_error_set(err, MVM_ENOMEM, "exec", "out of memory");
  }
  for (size_t i = 0; cfg->pass_env != NULL && cfg->pass_env[i] != NULL;
       i++) {
    const char *value = getenv(cfg->pass_env[i]);
    if (value == NULL)
      continue;
    has_home |= strcmp(cfg->pass_env[i], "HOME") == 0;
    if (asprintf(&x->env[k++], "%s=%s", cfg->pass_env[i], value) < 0) {
      x->env[--k] = NULL;
      return mvm_error_set(err, MVM_ENOMEM, "exec", "out of memory");
    }
  }
  if (!has_home && asprintf(&x->env[k++], "HOME=%s", x->root) < 0) {
    x->env[--k] = NULL;
    return mvm_error_set(err, MVM_ENOMEM, "exec", "out of memory");
  }
  return MVM_OK;
}

static int copy_commands(struct exec *x, const char *const *commands,
                         mvm_error *err)
{
  size_t n = list_length(commands);

  if (commands == NULL)
    return MVM_OK;
  if (n > EXEC_LIST_MAX)
    return mvm_error_set(err, MVM_ECONFIG, "exec",
                         "the command list has %zu entries, more than %d", n,
                         EXEC_LIST_MAX);
  x->commands = calloc(n + 1, sizeof *x->commands);
  if (x->commands == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "exec", "out of memory");
  for (size_t i = 0; i < n; i++) {
    if (commands[i][0] != '/')
      return mvm_error_set(err, MVM_ECONFIG, "exec",
                           "allowed command '%s' is not an absolute path",
                           commands[i]);
    if ((x->commands[i] = strdup(commands[i])) == NULL)
      return mvm_error_set(err, MVM_ENOMEM, "exec", "out of memory");
  }
  return MVM_OK;
}

/* Decides the user and group the commands run as. */
static int choose_ids(struct exec *x, const mvm_builtin_exec_config *cfg,
                      mvm_error *err)
{
  bool root = geteuid() == 0;
  long uid = cfg->uid;
  long gid = cfg->gid;

  if (uid == MVM_EXEC_ID_AUTO)
    uid = root ? EXEC_NOBODY : MVM_EXEC_ID_KEEP;
  if (gid == MVM_EXEC_ID_AUTO)
    gid = root ? EXEC_NOBODY : MVM_EXEC_ID_KEEP;
  x->uid = uid == MVM_EXEC_ID_KEEP ? geteuid() : (uid_t)uid;
  x->gid = gid == MVM_EXEC_ID_KEEP ? getegid() : (gid_t)gid;
  if (uid < MVM_EXEC_ID_KEEP || gid < MVM_EXEC_ID_KEEP)
    return mvm_error_set(err, MVM_ECONFIG, "exec",
                         "uid %ld or gid %ld is invalid", uid, gid);
  x->set_ids = x->uid != geteuid() || x->gid != getegid();
  if (x->set_ids && !root)
    return mvm_error_set(err, MVM_ECONFIG, "exec",
                         "running commands as uid %u gid %u needs mvm to "
                         "run as root; leave uid and gid at their defaults",
                         (unsigned)x->uid, (unsigned)x->gid);
  mvm_sandbox_idmap_init(&x->idmap, x->uid, x->gid);
  return MVM_OK;
}

/* Decides whether a protection is used, failing when it is required and
 * missing. */
static int decide(mvm_sandbox_mode mode, bool available, const char *what,
                  bool *use, mvm_error *err)
{
  *use = mode != MVM_SANDBOX_OFF && available;
  if (mode == MVM_SANDBOX_REQUIRED && !available)
    return mvm_error_set(err, MVM_ESANDBOX, "exec",
                         "%s is required for the exec tool but this kernel "
                         "does not offer it; set it to 'if available' only "
                         "if commands may run without it",
                         what);
  if (mode != MVM_SANDBOX_OFF && !available)
    mvm_log(MVM_LOG_WARN, "exec", "%s is not available: commands run "
                                  "without it",
            what);
  return MVM_OK;
}

static int build_protections(struct exec *x,
                             const mvm_builtin_exec_config *cfg,
                             mvm_error *err)
{
  mvm_sandbox_features f;
  int rc;

  mvm_sandbox_probe(&f);
  x->landlock_abi = f.landlock_abi;
  rc = decide(cfg->landlock, f.landlock_abi > 0 && f.no_new_privs,
              "Landlock", &x->use_landlock, err);
  if (rc == 0)
    rc = decide(cfg->seccomp, f.seccomp && f.no_new_privs, "seccomp",
                &x->use_seccomp, err);
  if (rc == 0)
    rc = decide(cfg->namespaces, f.user_namespaces,
                "user and network namespaces", &x->use_namespaces, err);
  if (rc)
    return rc;

  if (x->use_landlock) {
    const char *const *writes =
        cfg->write_paths ? cfg->write_paths : default_write_paths;
    size_t n = list_length(writes);
    const char **all = calloc(n + 2, sizeof *all);
    if (all == NULL)
      return mvm_error_set(err, MVM_ENOMEM, "exec", "out of memory");
    all[0] = x->root;
    memcpy(all + 1, writes, n * sizeof *all);
    mvm_sandbox_landlock_spec spec = {
        cfg->read_paths ? cfg->read_paths : default_read_paths, all,
        !cfg->allow_network, true};
    rc = mvm_sandbox_landlock_new(x->landlock_abi, &spec, &x->ruleset_fd,
                                  err);
    free(all);
    if (rc)
      return rc;
  }
  if (x->use_seccomp)
    rc = mvm_sandbox_bpf_build(cfg->allow_network, &x->bpf, err);
  return rc;
}

static int check_config(const mvm_builtin_exec_config *cfg, mvm_error *err)
{
  if (cfg->root == NULL || cfg->root[0] != '/')
    return mvm_error_set(err, MVM_ECONFIG, "exec",
                         "the exec tool needs an absolute working root, not "
                         "'%s'",
                         cfg->root ? cfg->root : "(none)");
  if (cfg->timeout_s <= 0 || cfg->kill_grace_ms < 0 || cfg->max_stdout == 0 ||
      cfg->max_stderr == 0 || cfg->max_argv_bytes == 0 ||
      cfg->search_path == NULL)
    return mvm_error_set(err, MVM_ECONFIG, "exec",
                         "the exec timeout, output caps, argv cap and "
                         "search path must be set; start from "
                         "mvm_builtin_exec_config_init");
  return MVM_OK;
}

int mvm_builtin_exec_new(const mvm_builtin_exec_config *cfg,
                         mvm_toolbox *out, mvm_error *err)
{
  int rc = check_config(cfg, err);

  if (rc)
    return rc;
  struct exec *x = calloc(1, sizeof *x);
  if (x == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "exec", "out of memory");
  x->root_fd = -1;
  x->ruleset_fd = -1;
  x->server = strdup(cfg->server ? cfg->server : "exec");
  x->root = strdup(cfg->root);
  x->search_path = strdup(cfg->search_path);
  x->timeout_s = cfg->timeout_s;
  x->grace_ms = cfg->kill_grace_ms;
  x->max_out = cfg->max_stdout;
  x->max_err = cfg->max_stderr;
  x->max_in = cfg->max_stdin;
  x->max_argv = cfg->max_argv_bytes;
  x->limits = cfg->limits;
  x->allow_network = cfg->allow_network;
  if (x->server == NULL || x->root == NULL || x->search_path == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "exec", "out of memory");
    goto fail;
  }

  x->root_fd = open(x->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (x->root_fd < 0) {
    rc = mvm_error_set(err, MVM_ECONFIG, "exec",
                       "cannot open the working root '%s': %s", x->root,
                       strerror(errno));
    goto fail;
  }
  rc = build_env(x, cfg, err);
  if (rc == 0)
    rc = copy_commands(x, cfg->commands, err);
  if (rc == 0)
    rc = choose_ids(x, cfg, err);
  if (rc == 0)
    rc = build_protections(x, cfg, err);
  if (rc)
    goto fail;

  char line[256];
  mvm_builtin_exec_describe(&(mvm_toolbox){x->server, &exec_ops, x}, NULL,
                            line, sizeof line, NULL);
  mvm_log(MVM_LOG_INFO, x->server, "%s", line);
  out->server = x->server;
  out->ops = &exec_ops;
  out->self = x;
  return MVM_OK;

fail:
  exec_close(x);
  return rc;
}

int mvm_builtin_exec_describe(const mvm_toolbox *tb, json_t **json,
                              char *text, size_t size, mvm_error *err)
{
  const struct exec *x = tb->self;
  int abi = x->use_landlock ? x->landlock_abi : 0;
  bool net_rules = abi >= 4 && !x->allow_network;
  /* The kernel never applies RLIMIT_NPROC to real uid 0. */
  bool nproc = x->limits.nproc > 0 && x->uid != 0;

  if (text != NULL && size > 0) {
    char landlock[64] = "landlock off";
    if (abi > 0)
      snprintf(landlock, sizeof landlock, "landlock ABI %d (fs%s%s)", abi,
               net_rules ? "+net" : "", abi >= 6 ? "+scope" : "");
    snprintf(text, size,
             "sandbox: %s, seccomp %s, user+net namespace %s, rlimits on%s, "
             "uid %u, network %s",
             landlock, x->use_seccomp ? "on" : "off",
             x->use_namespaces ? "on" : "off",
             nproc ? "" : " (no process limit)", (unsigned)x->uid,
             x->allow_network ? "allowed" : "denied");
  }
  if (json == NULL)
    return MVM_OK;

  json_t *landlock =
      abi > 0 ? json_pack("{sisbsbsb}", "abi", abi, "fs", true, "net",
                          net_rules, "scope", abi >= 6)
              : json_false();
  json_t *obj = json_pack(
      "{sosbsbsbsbsisisb}", "landlock", landlock, "seccomp", x->use_seccomp,
      "namespaces", x->use_namespaces, "rlimits", true, "process_limit",
      nproc, "uid", (int)x->uid, "gid", (int)x->gid, "network",
      x->allow_network);
  if (obj == NULL)
    return mvm_error_set(err, MVM_ENOMEM, x->server,
                         "out of memory describing the sandbox");
  *json = obj;
  return MVM_OK;
}
