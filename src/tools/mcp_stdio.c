/* mcp_stdio.c - the MCP stdio transport over a child process's pipes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "tools/jsonrpc.h"
#include "tools/mcp_stdio.h"

#define READ_CHUNK 65536
/* How long recv waits for the child to exit after its stdout closed,
 * to report an exit status instead of "closed its output". */
#define EXIT_WAIT_MS 500
/* The tail of stderr kept for the message that reports the server's exit:
 * its last lines, up to this many bytes, each cut at STDERR_TAIL_LINE. */
#define STDERR_TAIL_BYTES 1024
#define STDERR_TAIL_LINE 240
/* Servers whose process groups mvm_mcp_stdio_kill_all can reach at once.
 * mvm_mcp_config allows 64 servers in a file. */
#define MAX_LIVE_GROUPS 256

/* Process group ids of the running servers, 0 in free slots. A signal
 * handler reads them, so they are lock-free atomics. */
static atomic_int live_groups[MAX_LIVE_GROUPS];

struct stdio_transport {
  mvm_mcp_transport base;
  char *server;
  char where[MVM_ERROR_WHERE_MAX];
  pid_t pid;
  int in_fd;
  int out_fd;
  int err_fd;
  mvm_jsonrpc_lines out_lines;
  mvm_jsonrpc_lines err_lines;
  size_t max_message;
  int close_grace_ms;
  int term_grace_ms;
  int write_timeout_ms;
  unsigned stderr_per_s;

  bool exited;     /* the child's exit was seen (it may not be reaped) */
  int exit_status; /* a wait status, valid when exited */
  bool reaped;
  bool out_eof;
  char *dead_msg; /* why the transport is unusable, or NULL */
  char stderr_tail[STDERR_TAIL_BYTES]; /* last lines, each ending in '\n' */
  size_t stderr_tail_len;

  long long log_window_ms;  /* start of the current rate-limit second */
  unsigned log_lines;       /* lines logged in the current second */
  unsigned long suppressed; /* lines not logged since the last report */
};

static const mvm_mcp_transport_ops stdio_ops;

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline)
{
  long long left;

  if (deadline < 0)
    return -1;
  left = deadline - now_ms();
  if (left < 0)
    return 0;
  return left > 60000 ? 60000 : (int)left;
}

/* Applies the stderr and noise rate limit; returns true when the line may
 * be logged. Reports the lines it held back once a new second starts. */
static bool rate_allow(struct stdio_transport *t)
{
  long long now = now_ms();

  if (now - t->log_window_ms >= 1000) {
    if (t->suppressed > 0)
      mvm_log(MVM_LOG_WARN, t->where,
              "%lu lines from server '%s' were not logged (over %u lines "
              "a second)",
              t->suppressed, t->server, t->stderr_per_s);
    t->log_window_ms = now;
    t->log_lines = 0;
    t->suppressed = 0;
  }
  if (t->log_lines < t->stderr_per_s) {
    t->log_lines++;
    return true;
  }
  t->suppressed++;
  return false;
}

/* Appends a line to the stderr tail, dropping its oldest lines to make
 * room. Blank lines are not kept. */
static void keep_stderr_line(struct stdio_transport *t, const char *line,
                             size_t len)
{
  static const char cut[] = "...";

  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                     line[len - 1] == '\t'))
    len--;
  if (len == 0)
    return;
  bool too_long = len > STDERR_TAIL_LINE;
  size_t keep = too_long ? STDERR_TAIL_LINE - (sizeof cut - 1) : len;
  size_t need = keep + (too_long ? sizeof cut - 1 : 0) + 1;

  while (t->stderr_tail_len + need > sizeof t->stderr_tail) {
    const char *nl = memchr(t->stderr_tail, '\n', t->stderr_tail_len);
    size_t drop = (size_t)(nl - t->stderr_tail) + 1;
    memmove(t->stderr_tail, t->stderr_tail + drop,
            t->stderr_tail_len - drop);
    t->stderr_tail_len -= drop;
  }
  memcpy(t->stderr_tail + t->stderr_tail_len, line, keep);
  t->stderr_tail_len += keep;
  if (too_long) {
    memcpy(t->stderr_tail + t->stderr_tail_len, cut, sizeof cut - 1);
    t->stderr_tail_len += sizeof cut - 1;
  }
  t->stderr_tail[t->stderr_tail_len++] = '\n';
}

static void log_stderr_line(struct stdio_transport *t, const char *line,
                            size_t len)
{
  if (len == 0)
    return;
  keep_stderr_line(t, line, len);
  if (rate_allow(t))
    mvm_log(MVM_LOG_INFO, t->where, "stderr: %s", line);
}

/* Logs every complete stderr line buffered so far. */
static int flush_stderr_lines(struct stdio_transport *t)
{
  for (;;) {
    mvm_lines_event ev;
    char *line = NULL;
    size_t len = 0;
    int rc = mvm_jsonrpc_lines_next(&t->err_lines, &ev, &line, &len);

    if (rc)
      return rc;
    if (ev == MVM_LINES_NONE)
      return MVM_OK;
    if (ev == MVM_LINES_OVERLONG) {
      if (rate_allow(t))
        mvm_log(MVM_LOG_INFO, t->where,
                "stderr: a line of over %d bytes (not shown)",
                MVM_MCP_STDIO_MAX_STDERR_LINE);
      continue;
    }
    log_stderr_line(t, line, len);
    free(line);
  }
}

/* Reads what stderr has without blocking. Closes it at end of file. */
static int drain_stderr(struct stdio_transport *t)
{
  char chunk[4096];

  while (t->err_fd >= 0) {
    ssize_t n = read(t->err_fd, chunk, sizeof chunk);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return MVM_OK;
    if (n <= 0) {
      char *line = NULL;
      size_t len = 0;

      close(t->err_fd);
      t->err_fd = -1;
      if (mvm_jsonrpc_lines_finish(&t->err_lines, &line, &len) == MVM_OK &&
          line != NULL)
        log_stderr_line(t, line, len);
      free(line);
      return MVM_OK;
    }
    int rc = mvm_jsonrpc_lines_push(&t->err_lines, chunk, (size_t)n);
    if (rc == MVM_OK)
      rc = flush_stderr_lines(t);
    if (rc)
      return rc;
  }
  return MVM_OK;
}

/* Checks, without reaping, whether the child has exited, and records its
 * status. The zombie keeps the process group id reserved until close()
 * has signalled the group. */
static bool child_exited(struct stdio_transport *t)
{
  siginfo_t info;

  if (t->exited)
    return true;
  memset(&info, 0, sizeof info);
  if (waitid(P_PID, (id_t)t->pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return false;
  if (info.si_pid != t->pid)
    return false;
  t->exited = true;
  if (info.si_code == CLD_EXITED)
    t->exit_status = (info.si_status & 0xff) << 8;
  else
    t->exit_status = info.si_status & 0x7f;
  return true;
}

/* Waits up to ms for the child to exit, logging its stderr and dropping
 * its stdout meanwhile. */
static bool wait_exit(struct stdio_transport *t, int ms, bool drop_stdout)
{
  long long deadline = now_ms() + ms;

  while (!child_exited(t)) {
    struct pollfd fds[2];
    nfds_t nfds = 0;
    int left = remaining_ms(deadline);

    if (left == 0)
      return false;
    if (left > 10)
      left = 10;
    if (t->err_fd >= 0)
      fds[nfds++] = (struct pollfd){.fd = t->err_fd, .events = POLLIN};
    if (drop_stdout && t->out_fd >= 0)
      fds[nfds++] = (struct pollfd){.fd = t->out_fd, .events = POLLIN};
    if (nfds == 0 || poll(fds, nfds, left) < 0) {
      struct timespec ts = {0, (long)left * 1000000};
      nanosleep(&ts, NULL);
    }
    drain_stderr(t);
    if (drop_stdout && t->out_fd >= 0) {
      char chunk[READ_CHUNK];
      ssize_t n = read(t->out_fd, chunk, sizeof chunk);
      if (n == 0) {
        close(t->out_fd);
        t->out_fd = -1;
      }
    }
  }
  return true;
}

static void describe_exit(struct stdio_transport *t, char *buf, size_t size)
{
  if (!t->exited)
    snprintf(buf, size, "closed its standard output");
  else if (WIFEXITED(t->exit_status))
    snprintf(buf, size, "exited with status %d", WEXITSTATUS(t->exit_status));
  else
    snprintf(buf, size, "was killed by signal %d (%s)",
             WTERMSIG(t->exit_status), strsignal(WTERMSIG(t->exit_status)));
}

/* Appends to msg (of size MVM_ERROR_MSG_MAX) the newest stderr lines
 * that fit in it whole, oldest first, one per indented line. */
static void append_stderr_tail(const struct stdio_transport *t, char *msg)
{
  const char *tail = t->stderr_tail;
  size_t used = strlen(msg);
  size_t start = t->stderr_tail_len;
  size_t count = 0;
  char header[64];

  if (t->stderr_tail_len == 0)
    return;
  /* Walks back over whole lines while they fit with the header and a
   * two-space indent each. */
  for (;;) {
    size_t end = start - 1; /* the '\n' ending the line before start */
    size_t begin = end;
    while (begin > 0 && tail[begin - 1] != '\n')
      begin--;
    snprintf(header, sizeof header, "; its last %zu stderr lines:",
             count + 1);
    size_t need = strlen(header) + (t->stderr_tail_len - begin) +
                  2 * (count + 1);
    if (count > 0 && used + need >= MVM_ERROR_MSG_MAX)
      break;
    start = begin;
    count++;
    if (start == 0)
      break;
  }

  if (count == 1) {
    snprintf(msg + used, MVM_ERROR_MSG_MAX - used,
             "; its last stderr line: %.*s",
             (int)(t->stderr_tail_len - start - 1), tail + start);
    return;
  }
  snprintf(msg + used, MVM_ERROR_MSG_MAX - used,
           "; its last %zu stderr lines:", count);
  for (size_t pos = start; pos < t->stderr_tail_len;) {
    const char *nl = memchr(tail + pos, '\n', t->stderr_tail_len - pos);
    size_t len = (size_t)(nl - (tail + pos));
    used = strlen(msg);
    snprintf(msg + used, MVM_ERROR_MSG_MAX - used, "\n  %.*s", (int)len,
             tail + pos);
    pos += len + 1;
  }
}

/* Marks the transport dead after stdout reached end of file and builds
 * the message every later call returns. The message is logged only at
 * level info, because every caller gets it in its error. */
static void mark_dead(struct stdio_transport *t)
{
  char what[128];
  char msg[MVM_ERROR_MSG_MAX];

  t->out_eof = true;
  wait_exit(t, EXIT_WAIT_MS, false);
  drain_stderr(t);
  describe_exit(t, what, sizeof what);
  snprintf(msg, sizeof msg, "server '%s' %s", t->server, what);
  append_stderr_tail(t, msg);
  free(t->dead_msg);
  t->dead_msg = strdup(msg);
  mvm_log(MVM_LOG_INFO, t->where, "%s", msg);
}

static int dead_error(struct stdio_transport *t, mvm_error *err)
{
  return mvm_error_set(err, MVM_EIO, t->where, "%s",
                       t->dead_msg != NULL ? t->dead_msg
                                           : "server connection is closed");
}

/* Writes all of data to fd with SIGPIPE blocked, so a closed pipe gives
 * EPIPE instead of killing mvm. A SIGPIPE raised here is consumed, but
 * one that was pending before stays pending. */
static int write_all(struct stdio_transport *t, const char *data, size_t len,
                     mvm_error *err)
{
  sigset_t pipe_set;
  sigset_t old_mask;
  sigset_t pending;
  bool was_pending;
  long long deadline = now_ms() + t->write_timeout_ms;
  int rc = MVM_OK;
  int saved = 0;

  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigpending(&pending);
  was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

  while (len > 0) {
    ssize_t n = write(t->in_fd, data, len);

    if (n > 0) {
      data += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd fds[2] = {{.fd = t->in_fd, .events = POLLOUT},
                              {.fd = t->err_fd, .events = POLLIN}};
      int left = remaining_ms(deadline);

      if (left == 0) {
        rc = mvm_error_set(err, MVM_ETIMEOUT, t->where,
                           "server '%s' did not read its input for %d ms; "
                           "it may be stuck",
                           t->server, t->write_timeout_ms);
        break;
      }
      poll(fds, t->err_fd >= 0 ? 2 : 1, left);
      drain_stderr(t);
      continue;
    }
    saved = errno;
    rc = MVM_EIO;
    break;
  }

  if (saved == EPIPE && !was_pending) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

  if (rc == MVM_EIO && saved == EPIPE) {
    mark_dead(t);
    return dead_error(t, err);
  }
  if (rc == MVM_EIO)
    return mvm_error_set(err, MVM_EIO, t->where,
                         "cannot write to server '%s': %s", t->server,
                         strerror(saved));
  return rc;
}

static int stdio_send(mvm_mcp_transport *base, const char *msg, size_t len,
                      mvm_error *err)
{
  struct stdio_transport *t = (struct stdio_transport *)base;
  int rc;

  if (t->out_eof || t->in_fd < 0)
    return dead_error(t, err);
  if (memchr(msg, '\n', len) != NULL)
    return mvm_error_set(err, MVM_EINVAL, t->where,
                         "a message to server '%s' contains a newline; the "
                         "stdio transport needs compact JSON",
                         t->server);
  mvm_trace(MVM_TRACE_MCP, "%s <- %.*s", t->server, (int)len, msg);

  rc = write_all(t, msg, len, err);
  if (rc == MVM_OK)
    rc = write_all(t, "\n", 1, err);
  return rc;
}

/* True when the first non-blank byte opens a JSON object or array. */
static bool looks_like_json(const char *line, size_t len, bool *blank)
{
  for (size_t i = 0; i < len; i++) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r')
      continue;
    *blank = false;
    return c == '{' || c == '[';
  }
  *blank = true;
  return false;
}

static void log_noise(struct stdio_transport *t, const char *line, size_t len)
{
  if (rate_allow(t))
    mvm_log(MVM_LOG_WARN, t->where,
            "server '%s' wrote a non-JSON line on stdout (skipped): %.120s%s",
            t->server, line, len > 120 ? "..." : "");
}

/* Takes the next message from the stdout buffer. Returns MVM_OK with
 * *msg NULL when none is complete yet. */
static int next_message(struct stdio_transport *t, char **msg, size_t *len,
                        mvm_error *err)
{
  for (;;) {
    mvm_lines_event ev;
    char *line = NULL;
    size_t n = 0;
    bool blank = false;
    int rc = mvm_jsonrpc_lines_next(&t->out_lines, &ev, &line, &n);

    if (rc)
      return mvm_error_set(err, rc, t->where, "out of memory");
    if (ev == MVM_LINES_NONE) {
      *msg = NULL;
      return MVM_OK;
    }
    if (ev == MVM_LINES_OVERLONG)
      return mvm_error_set(err, MVM_ELIMIT, t->where,
                           "server '%s' sent a message of over %zu bytes, "
                           "the maximum message size; it was discarded",
                           t->server, t->max_message);
    if (looks_like_json(line, n, &blank)) {
      mvm_trace(MVM_TRACE_MCP, "%s -> %.*s", t->server, (int)n, line);
      *msg = line;
      *len = n;
      return MVM_OK;
    }
    if (!blank)
      log_noise(t, line, n);
    free(line);
  }
}

/* Reads what stdout has into the line buffer. At end of file, hands back
 * a last unterminated message in *msg and marks the transport dead. */
static int read_stdout(struct stdio_transport *t, char **msg, size_t *len,
                       mvm_error *err)
{
  char chunk[READ_CHUNK];
  ssize_t n;

  *msg = NULL;
  do {
    n = read(t->out_fd, chunk, sizeof chunk);
  } while (n < 0 && errno == EINTR);

  if (n < 0 && errno == EAGAIN)
    return MVM_OK;
  if (n > 0) {
    if (mvm_jsonrpc_lines_push(&t->out_lines, chunk, (size_t)n) != MVM_OK)
      return mvm_error_set(err, MVM_ENOMEM, t->where, "out of memory");
    return MVM_OK;
  }

  char *line = NULL;
  size_t llen = 0;
  bool blank = false;
  mvm_jsonrpc_lines_finish(&t->out_lines, &line, &llen);
  mark_dead(t);
  if (line != NULL && looks_like_json(line, llen, &blank)) {
    *msg = line;
    *len = llen;
    return MVM_OK;
  }
  if (line != NULL && !blank)
    log_noise(t, line, llen);
  free(line);
  return dead_error(t, err);
}

static int stdio_recv(mvm_mcp_transport *base, int timeout_ms, char **msg,
                      size_t *len, mvm_error *err)
{
  struct stdio_transport *t = (struct stdio_transport *)base;
  long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
  char *line = NULL;
  int rc;

  for (;;) {
    rc = next_message(t, &line, len, err);
    if (rc || line != NULL)
      break;
    if (t->out_eof)
      return dead_error(t, err);

    struct pollfd fds[2] = {{.fd = t->out_fd, .events = POLLIN},
                            {.fd = t->err_fd, .events = POLLIN}};
    int left = remaining_ms(deadline);
    int ready = poll(fds, t->err_fd >= 0 ? 2 : 1, left);

    if (ready < 0 && errno != EINTR)
      return mvm_error_set(err, MVM_EIO, t->where,
                           "cannot wait for server '%s': %s", t->server,
                           strerror(errno));
    if (ready > 0 && t->err_fd >= 0 && fds[1].revents != 0)
      drain_stderr(t);
    if (ready > 0 && fds[0].revents != 0) {
      rc = read_stdout(t, &line, len, err);
      if (rc || line != NULL)
        break;
      continue;
    }
    if (ready == 0 && remaining_ms(deadline) == 0)
      return mvm_error_set(err, MVM_ETIMEOUT, t->where,
                           "no message from server '%s' within %d ms",
                           t->server, timeout_ms);
  }
  if (rc)
    return rc;
  *msg = line;
  return MVM_OK;
}

/* Records a server's process group for mvm_mcp_stdio_kill_all. */
static void track_group(struct stdio_transport *t)
{
  for (size_t i = 0; i < MAX_LIVE_GROUPS; i++) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&live_groups[i], &expected,
                                       (int)t->pid))
      return;
  }
  mvm_log(MVM_LOG_WARN, t->where,
          "more than %d MCP servers are running, so "
          "mvm_mcp_stdio_kill_all misses server '%s' (pid %ld); only its "
          "first process gets SIGKILL when mvm dies",
          MAX_LIVE_GROUPS, t->server, (long)t->pid);
}

/* Forgets a server's process group. Called before the leader is reaped,
 * while its zombie keeps the group id from being reused. */
static void untrack_group(pid_t pid)
{
  for (size_t i = 0; i < MAX_LIVE_GROUPS; i++) {
    int expected = (int)pid;
    if (atomic_compare_exchange_strong(&live_groups[i], &expected, 0))
      return;
  }
}

void mvm_mcp_stdio_kill_all(void)
{
  for (size_t i = 0; i < MAX_LIVE_GROUPS; i++) {
    int pgid = atomic_load(&live_groups[i]);
    if (pgid > 0)
      kill(-pgid, SIGKILL);
  }
}

static void signal_group(struct stdio_transport *t, int sig)
{
  if (kill(-t->pid, sig) != 0)
    kill(t->pid, sig);
}

/* Stops the child in the order MCP's lifecycle gives for stdio, then
 * reaps it. */
static void stop_child(struct stdio_transport *t)
{
  if (t->reaped || t->pid <= 0)
    return;
  if (t->in_fd >= 0) {
    close(t->in_fd);
    t->in_fd = -1;
  }
  if (!wait_exit(t, t->close_grace_ms, true)) {
    mvm_log(MVM_LOG_INFO, t->where,
            "server '%s' did not exit %d ms after its input closed; "
            "sending SIGTERM",
            t->server, t->close_grace_ms);
    signal_group(t, SIGTERM);
    if (!wait_exit(t, t->term_grace_ms, true)) {
      mvm_log(MVM_LOG_WARN, t->where,
              "server '%s' did not exit %d ms after SIGTERM; sending SIGKILL",
              t->server, t->term_grace_ms);
      signal_group(t, SIGKILL);
    }
  }
  /* The leader is a zombie or about to be one, so its group id still
   * names this group: stop anything the server left behind in it. */
  kill(-t->pid, SIGKILL);
  untrack_group(t->pid);
  while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  t->reaped = true;
}

static void stdio_close(mvm_mcp_transport *base)
{
  struct stdio_transport *t = (struct stdio_transport *)base;

  if (t == NULL)
    return;
  stop_child(t);
  drain_stderr(t);
  if (t->in_fd >= 0)
    close(t->in_fd);
  if (t->out_fd >= 0)
    close(t->out_fd);
  if (t->err_fd >= 0)
    close(t->err_fd);
  mvm_jsonrpc_lines_free(&t->out_lines);
  mvm_jsonrpc_lines_free(&t->err_lines);
  free(t->dead_msg);
  free(t->server);
  free(t);
}

static const mvm_mcp_transport_ops stdio_ops = {
    .kind = "stdio",
    .send = stdio_send,
    .recv = stdio_recv,
    .negotiated = NULL,
    .close = stdio_close,
};

pid_t mvm_mcp_stdio_pid(const mvm_mcp_transport *t)
{
  const struct stdio_transport *s = (const struct stdio_transport *)t;

  if (t == NULL || t->ops != &stdio_ops || s->reaped)
    return 0;
  return s->pid;
}

/* Moves fd above the standard descriptors, keeping O_CLOEXEC, so dup2 in
 * the child always makes a fresh copy without it. */
static int lift_fd(int *fd)
{
  int moved;

  if (*fd > 2)
    return 0;
  moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
  if (moved < 0)
    return -1;
  close(*fd);
  *fd = moved;
  return 0;
}

static int make_pipe(int fds[2])
{
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  if (lift_fd(&fds[0]) != 0 || lift_fd(&fds[1]) != 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  return 0;
}

static void set_nonblocking(int fd)
{
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0)
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int check_cwd(const struct stdio_transport *t, const char *cwd,
                     mvm_error *err)
{
  struct stat st;

  if (cwd == NULL)
    return MVM_OK;
  if (stat(cwd, &st) != 0)
    return mvm_error_set(err, errno == ENOENT ? MVM_ENOTFOUND : MVM_EIO,
                         t->where, "server '%s': working directory '%s': %s",
                         t->server, cwd, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return mvm_error_set(err, MVM_ENOTFOUND, t->where,
                         "server '%s': working directory '%s' is not a "
                         "directory",
                         t->server, cwd);
  return MVM_OK;
}

/* Signals whose handlers the child gets back at their defaults, whatever
 * mvm installed. */
static const int default_signals[] = {SIGPIPE, SIGINT,  SIGTERM,
                                      SIGHUP,  SIGQUIT, SIGCHLD,
                                      SIGUSR1, SIGUSR2, SIGALRM};

/* The step at which the child failed, reported with errno through the
 * status pipe. */
enum child_stage { STAGE_SETUP = 1, STAGE_CHDIR, STAGE_EXEC };

/* Everything the child needs, prepared before fork. */
struct launch {
  const char *path; /* the file to execute */
  char *const *argv;
  char *const *envp;
  const char *cwd; /* may be NULL */
  int fds[3];      /* become the child's stdin, stdout and stderr */
  int status_fd;   /* write end of the status pipe, close-on-exec */
  pid_t parent;    /* mvm's pid */
};

static void child_fail(int fd, int stage, int error)
{
  int report[2] = {stage, error};
  ssize_t n = write(fd, report, sizeof report);
  (void)n;
  _exit(127);
}

/* Runs between fork and exec: async-signal-safe calls only. */
static void child_main(const struct launch *l)
{
  struct sigaction dfl;
  sigset_t none;

  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (size_t i = 0; i < sizeof default_signals / sizeof *default_signals; i++)
    sigaction(default_signals[i], &dfl, NULL);
  if (setpgid(0, 0) != 0)
    child_fail(l->status_fd, STAGE_SETUP, errno);
  /* The kernel sends the server SIGKILL when the thread that forked it
   * exits, so the server dies with mvm however mvm dies. If mvm died
   * before this call, getppid() no longer returns l->parent. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
    child_fail(l->status_fd, STAGE_SETUP, errno);
  if (getppid() != l->parent)
    _exit(127);
  for (int i = 0; i < 3; i++) {
    if (dup2(l->fds[i], i) < 0)
      child_fail(l->status_fd, STAGE_SETUP, errno);
  }
  if (l->cwd != NULL && chdir(l->cwd) != 0)
    child_fail(l->status_fd, STAGE_CHDIR, errno);
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
    child_fail(l->status_fd, STAGE_SETUP, errno);
  execve(l->path, l->argv, l->envp);
  child_fail(l->status_fd, STAGE_EXEC, errno);
}

/* Finds the file that execvp would run for `command`: the command itself
 * when it contains a '/', else the first executable regular file of that
 * name in a directory of mvm's PATH. Without PATH it searches
 * "/bin:/usr/bin", the default of glibc 2.36 (`getconf PATH`). Returns 0,
 * ENOENT, EACCES when only files that are not executable were found, or
 * ENAMETOOLONG. */
static int find_command(const char *command, char *path, size_t size)
{
  const char *dirs = getenv("PATH");
  int error = ENOENT;

  if (strchr(command, '/') != NULL) {
    if ((size_t)snprintf(path, size, "%s", command) >= size)
      return ENAMETOOLONG;
    return 0;
  }
  if (dirs == NULL)
    dirs = "/bin:/usr/bin";
  for (const char *dir = dirs;;) {
    const char *colon = strchr(dir, ':');
    size_t len = colon != NULL ? (size_t)(colon - dir) : strlen(dir);
    struct stat st;
    int n;

    /* An empty entry is the working directory. */
    if (len == 0)
      n = snprintf(path, size, "%s", command);
    else
      n = snprintf(path, size, "%.*s/%s", (int)len, dir, command);
    if (n > 0 && (size_t)n < size && stat(path, &st) == 0 &&
        S_ISREG(st.st_mode)) {
      if (access(path, X_OK) == 0)
        return 0;
      error = EACCES;
    }
    if (colon == NULL)
      return error;
    dir = colon + 1;
  }
}

/* Reads the child's report from the status pipe: false when exec
 * succeeded (the pipe closed with nothing in it). */
static bool read_child_failure(int fd, int report[2])
{
  size_t got = 0;

  while (got < 2 * sizeof(int)) {
    ssize_t n = read(fd, (char *)report + got, 2 * sizeof(int) - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  return got == 2 * sizeof(int);
}

static int spawn_error(struct stdio_transport *t,
                       const mvm_mcp_stdio_opts *opts, int stage, int error,
                       mvm_error *err)
{
  if (stage == STAGE_CHDIR)
    return mvm_error_set(err, error == ENOENT ? MVM_ENOTFOUND : MVM_EIO,
                         t->where,
                         "server '%s': cannot change to working directory "
                         "'%s': %s",
                         t->server, opts->cwd, strerror(error));
  if (error == ENOENT)
    return mvm_error_set(err, MVM_ENOTFOUND, t->where,
                         "server '%s': command '%s' not found; check the "
                         "command and PATH",
                         t->server, opts->argv[0]);
  return mvm_error_set(err, MVM_EIO, t->where,
                       "server '%s': cannot start '%s': %s", t->server,
                       opts->argv[0], strerror(error));
}

/* Starts the child with fork and execve instead of posix_spawn, because
 * only code in the child can ask for PR_SET_PDEATHSIG. */
static int spawn_child(struct stdio_transport *t,
                       const mvm_mcp_stdio_opts *opts, int pipes[3][2],
                       mvm_error *err)
{
  static char *const empty_env[] = {NULL};
  char path[PATH_MAX];
  int status[2] = {-1, -1};
  int report[2] = {0, 0};
  sigset_t all;
  sigset_t old;
  pid_t pid;
  int error = find_command(opts->argv[0], path, sizeof path);

  if (error != 0)
    return spawn_error(t, opts, STAGE_EXEC, error, err);
  if (make_pipe(status) != 0)
    return mvm_error_set(err, MVM_EIO, t->where,
                         "server '%s': cannot create a pipe: %s", t->server,
                         strerror(errno));

  struct launch l = {
      .path = path,
      .argv = (char *const *)opts->argv,
      .envp = opts->envp != NULL ? (char *const *)opts->envp : empty_env,
      .cwd = opts->cwd,
      .fds = {pipes[0][0], pipes[1][1], pipes[2][1]},
      .status_fd = status[1],
      .parent = getpid(),
  };

  /* With every signal blocked, none of mvm's handlers runs in the child
   * before child_main resets them. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid = fork();
  if (pid == 0)
    child_main(&l);
  error = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(status[1]);
  if (pid < 0) {
    close(status[0]);
    return mvm_error_set(err, MVM_EIO, t->where,
                         "server '%s': cannot start '%s': fork failed: %s",
                         t->server, opts->argv[0], strerror(error));
  }

  /* Also set here, so the group exists before the parent may signal it,
   * whichever process runs first. */
  setpgid(pid, pid);
  t->pid = pid;
  track_group(t);
  bool failed = read_child_failure(status[0], report);
  close(status[0]);
  if (!failed)
    return MVM_OK;

  untrack_group(pid);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
  t->pid = -1;
  return spawn_error(t, opts, report[0], report[1], err);
}

int mvm_mcp_stdio_open(const mvm_mcp_stdio_opts *opts, mvm_mcp_transport **out,
                       mvm_error *err)
{
  struct stdio_transport *t = NULL;
  int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  int rc;

  if (opts == NULL || opts->server == NULL || opts->server[0] == '\0')
    return mvm_error_set(err, MVM_EINVAL, "mcp",
                         "an MCP stdio server needs a name");
  if (opts->argv == NULL || opts->argv[0] == NULL || opts->argv[0][0] == 0)
    return mvm_error_set(err, MVM_EINVAL, "mcp",
                         "server '%s' needs a command to run", opts->server);

  t = calloc(1, sizeof *t);
  if (t == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "mcp", "out of memory");
  t->pid = -1;
  t->in_fd = t->out_fd = t->err_fd = -1;
  t->server = strdup(opts->server);
  if (t->server == NULL) {
    free(t);
    return mvm_error_set(err, MVM_ENOMEM, "mcp", "out of memory");
  }
  snprintf(t->where, sizeof t->where, "mcp:%s", t->server);
  t->base.ops = &stdio_ops;
  t->base.server = t->server;
  t->max_message = opts->max_message_bytes ? opts->max_message_bytes
                                           : MVM_MCP_STDIO_DEFAULT_MAX_MESSAGE;
  t->close_grace_ms = opts->close_grace_ms > 0
                          ? opts->close_grace_ms
                          : MVM_MCP_STDIO_DEFAULT_CLOSE_GRACE_MS;
  t->term_grace_ms = opts->term_grace_ms > 0
                         ? opts->term_grace_ms
                         : MVM_MCP_STDIO_DEFAULT_TERM_GRACE_MS;
  t->write_timeout_ms = opts->write_timeout_ms > 0
                            ? opts->write_timeout_ms
                            : MVM_MCP_STDIO_DEFAULT_WRITE_TIMEOUT_MS;
  t->stderr_per_s = opts->stderr_lines_per_s
                        ? opts->stderr_lines_per_s
                        : MVM_MCP_STDIO_DEFAULT_STDERR_LINES_PER_S;
  t->log_window_ms = now_ms();
  mvm_jsonrpc_lines_init(&t->out_lines, t->max_message);
  mvm_jsonrpc_lines_init(&t->err_lines, MVM_MCP_STDIO_MAX_STDERR_LINE);

  rc = check_cwd(t, opts->cwd, err);
  if (rc)
    goto fail;
  for (int i = 0; i < 3; i++) {
    if (make_pipe(pipes[i]) != 0) {
      rc = mvm_error_set(err, MVM_EIO, t->where,
                         "server '%s': cannot create a pipe: %s", t->server,
                         strerror(errno));
      goto fail;
    }
  }

  rc = spawn_child(t, opts, pipes, err);
  if (rc)
    goto fail;
  mvm_log(MVM_LOG_INFO, t->where, "started server '%s' (pid %ld): %s",
          t->server, (long)t->pid, opts->argv[0]);

  close(pipes[0][0]);
  close(pipes[1][1]);
  close(pipes[2][1]);
  t->in_fd = pipes[0][1];
  t->out_fd = pipes[1][0];
  t->err_fd = pipes[2][0];
  set_nonblocking(t->in_fd);
  set_nonblocking(t->out_fd);
  set_nonblocking(t->err_fd);
  *out = &t->base;
  return MVM_OK;

fail:
  for (int i = 0; i < 3; i++) {
    if (pipes[i][0] >= 0)
      close(pipes[i][0]);
    if (pipes[i][1] >= 0)
      close(pipes[i][1]);
  }
  mvm_jsonrpc_lines_free(&t->out_lines);
  mvm_jsonrpc_lines_free(&t->err_lines);
  free(t->server);
  free(t);
  return rc;
}
