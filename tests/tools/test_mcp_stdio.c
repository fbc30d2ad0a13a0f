/* test_mcp_stdio.c - the stdio transport against small sh scripts:
 * framing, noise, the message size limit, stderr logging, crashes and
 * their exit status, SIGPIPE, the environment, shutdown without a
 * process or zombie left behind, and servers that die with their host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mcp_support.h"
#include "mvm.h"
#include "tools/mcp_stdio.h"

static char **test_env;

static int setup(void **state)
{
  test_env = mcp_test_env(NULL);
  return test_env != NULL ? 0 : -1;
}

static int teardown(void **state)
{
  mcp_test_env_free(test_env);
  mcp_test_log_stop();
  return 0;
}

static mvm_mcp_transport *open_sh(const char *script, mvm_mcp_stdio_opts *opts)
{
  const char *argv[] = {"sh", "-c", script, NULL};
  mvm_mcp_stdio_opts defaults = {0};
  mvm_mcp_transport *t = NULL;
  mvm_error err = {0};

  if (opts == NULL)
    opts = &defaults;
  /* Most scripts ignore stdin, so a long grace period only slows the
   * tests down. */
  if (opts->close_grace_ms == 0)
    opts->close_grace_ms = 100;
  opts->server = "sh";
  opts->argv = argv;
  if (opts->envp == NULL)
    opts->envp = (const char *const *)test_env;
  if (mvm_mcp_stdio_open(opts, &t, &err) != MVM_OK)
    fail_msg("cannot start sh: %s", err.msg);
  return t;
}

static int recv_msg(mvm_mcp_transport *t, char **msg, mvm_error *err)
{
  size_t len = 0;
  return t->ops->recv(t, 5000, msg, &len, err);
}

static bool process_gone(pid_t pid)
{
  return kill(pid, 0) != 0 && errno == ESRCH;
}

/* True once no process of group pgid is left. Killed members that the
 * shell left behind are reaped by init, which may take a moment, so this
 * waits up to 5 s. */
static bool group_gone(pid_t pgid)
{
  for (int i = 0; i < 500; i++) {
    if (kill(-pgid, 0) != 0 && errno == ESRCH)
      return true;
    usleep(10 * 1000);
  }
  return false;
}

/* True when pid is gone or a zombie. A killed server whose host died
 * is reparented, and stays a zombie until its new parent reaps it. */
static bool dead_or_zombie(pid_t pid)
{
  char path[64];
  char stat[512] = "";
  FILE *f;

  if (kill(pid, 0) != 0 && errno == ESRCH)
    return true;
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  f = fopen(path, "r");
  if (f == NULL)
    return true;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  /* The state follows the command name, which ends at the last ')'. */
  const char *paren = strrchr(stat, ')');
  return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

/* Waits up to 5 s for dead_or_zombie(pid). */
static bool dies_soon(pid_t pid)
{
  for (int i = 0; i < 500; i++) {
    if (dead_or_zombie(pid))
      return true;
    usleep(10 * 1000);
  }
  return false;
}

static void missing_command_is_not_found(void **state)
{
  const char *argv1[] = {"/nonexistent/mvm-server", NULL};
  const char *argv2[] = {"mvm-no-such-command", "x", NULL};
  mvm_mcp_stdio_opts opts = {.server = "missing"};
  mvm_mcp_transport *t = NULL;
  mvm_error err = {0};

  opts.argv = argv1;
  assert_int_equal(mvm_mcp_stdio_open(&opts, &t, &err), MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, "'/nonexistent/mvm-server' not found"));
  assert_non_null(strstr(err.msg, "server 'missing'"));
  assert_null(t);

  opts.argv = argv2;
  assert_int_equal(mvm_mcp_stdio_open(&opts, &t, &err), MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, "mvm-no-such-command"));

  opts.argv = NULL;
  assert_int_equal(mvm_mcp_stdio_open(&opts, &t, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "needs a command"));
}

static void exec_failure_is_reported(void **state)
{
  char path[] = "/tmp/mvm-stdio-noexec-XXXXXX";
  int fd = mkstemp(path);
  const char *argv[] = {path, NULL};
  mvm_mcp_stdio_opts opts = {.server = "noexec", .argv = argv};
  mvm_mcp_transport *t = NULL;
  mvm_error err = {0};

  /* The file exists but is not executable, so execve fails in the child
   * and the child reports why. */
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(mvm_mcp_stdio_open(&opts, &t, &err), MVM_EIO);
  assert_null(t);
  assert_non_null(strstr(err.msg, "server 'noexec': cannot start"));
  assert_non_null(strstr(err.msg, strerror(EACCES)));
  unlink(path);
}

static void missing_cwd_is_not_found(void **state)
{
  const char *argv[] = {"sh", "-c", "true", NULL};
  mvm_mcp_stdio_opts opts = {
      .server = "s", .argv = argv, .cwd = "/nonexistent/dir"};
  mvm_mcp_transport *t = NULL;
  mvm_error err = {0};

  assert_int_equal(mvm_mcp_stdio_open(&opts, &t, &err), MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, "/nonexistent/dir"));
}

static void runs_in_cwd(void **state)
{
  mvm_mcp_stdio_opts opts = {.cwd = "/tmp"};
  mvm_mcp_transport *t =
      open_sh("printf '{\"cwd\":\"%s\"}\\n' \"$(pwd)\"", &opts);
  char *msg = NULL;
  mvm_error err = {0};

  assert_int_equal(recv_msg(t, &msg, &err), MVM_OK);
  assert_string_equal(msg, "{\"cwd\":\"/tmp\"}");
  free(msg);
  t->ops->close(t);
}

static void echoes_lines(void **state)
{
  mvm_mcp_transport *t = open_sh("while read line; do printf '%s\\n' "
                                 "\"$line\"; done",
                                 NULL);
  const char *out = "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}";
  char *msg = NULL;
  mvm_error err = {0};

  assert_int_equal(t->ops->send(t, out, strlen(out), &err), MVM_OK);
  assert_int_equal(recv_msg(t, &msg, &err), MVM_OK);
  assert_string_equal(msg, out);
  free(msg);

  assert_int_equal(t->ops->send(t, "{}\n{}", 5, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "newline"));
  t->ops->close(t);
}

static void skips_noise_lines(void **state)
{
  mvm_mcp_transport *t;
  char *msg = NULL;
  mvm_error err = {0};

  mcp_test_log_start(MVM_LOG_WARN);
  t = open_sh("echo 'Server listening'; echo; echo '   '; "
              "echo '{\"a\":1}'; echo 'more noise'; echo '[1]'; sleep 5",
              NULL);
  assert_int_equal(recv_msg(t, &msg, &err), MVM_OK);
  assert_string_equal(msg, "{\"a\":1}");
  free(msg);
  assert_int_equal(recv_msg(t, &msg, &err), MVM_OK);
  assert_string_equal(msg, "[1]");
  free(msg);
  assert_int_equal(mcp_test_log_count("non-JSON line"), 2);
  assert_int_equal(mcp_test_log_count("Server listening"), 1);
  t->ops->close(t);
}

static void times_out_without_message(void **state)
{
  mvm_mcp_transport *t = open_sh("sleep 5", NULL);
  char *msg = NULL;
  size_t len = 0;
  mvm_error err = {0};

  assert_int_equal(t->ops->recv(t, 50, &msg, &len, &err), MVM_ETIMEOUT);
  assert_null(msg);
  assert_int_equal(t->ops->recv(t, 0, &msg, &len, &err), MVM_ETIMEOUT);
  t->ops->close(t);
}

static void overlong_message_is_dropped(void **state)
{
  mvm_mcp_stdio_opts opts = {.max_message_bytes = 64};
  mvm_mcp_transport *t = open_sh(
      "printf '{\"pad\":\"%0200d\"}\\n' 0; echo '{\"after\":true}'; sleep 5",
      &opts);
  char *msg = NULL;
  mvm_error err = {0};

  assert_int_equal(recv_msg(t, &msg, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "over 64 bytes"));
  assert_non_null(strstr(err.msg, "maximum message size"));
  assert_non_null(strstr(err.msg, "server 'sh'"));
  assert_int_equal(recv_msg(t, &msg, &err), MVM_OK);
  assert_string_equal(msg, "{\"after\":true}");
  free(msg);
  t->ops->close(t);
}

static void reports_exit_status(void **state)
{
  mvm_mcp_transport *t = open_sh("echo 'config missing' >&2; exit 3", NULL);
  pid_t pid = mvm_mcp_stdio_pid(t);
  char *msg = NULL;
  mvm_error err = {0};

  assert_true(pid > 0);
  assert_int_equal(recv_msg(t, &msg, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "exited with status 3"));
  assert_non_null(strstr(err.msg, "config missing"));

  /* Every later call fails the same way. Writing to the closed pipe must
   * not raise SIGPIPE in the test process. */
  assert_int_equal(t->ops->send(t, "{}", 2, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "exited with status 3"));
  assert_int_equal(recv_msg(t, &msg, &err), MVM_EIO);
  t->ops->close(t);
  assert_true(process_gone(pid));
  assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
}

static void exit_message_quotes_stderr_tail(void **state)
{
  /* A stack trace: the error line comes before several frames and a
   * version line, as node prints it for a missing module. */
  mvm_mcp_transport *t =
      open_sh("echo 'Error: Cannot find module /nope.js' >&2; "
              "echo '    at frame one' >&2; echo '    at frame two' >&2; "
              "echo '' >&2; echo '  code: MODULE_NOT_FOUND' >&2; "
              "echo 'Node.js v20' >&2; exit 1",
              NULL);
  char *msg = NULL;
  mvm_error err = {0};

  mcp_test_log_start(MVM_LOG_WARN);
  assert_int_equal(recv_msg(t, &msg, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "exited with status 1; its last 5 "
                                  "stderr lines:\n"));
  assert_non_null(strstr(err.msg, "\n  Error: Cannot find module "
                                  "/nope.js\n      at frame one\n"));
  assert_non_null(strstr(err.msg, "\n  Node.js v20"));
  /* The caller prints the error; a warning would show it a second time. */
  assert_int_equal(mcp_test_log_count("exited with status"), 0);
  t->ops->close(t);
  mcp_test_log_stop();
}

static void exit_message_keeps_newest_lines(void **state)
{
  /* 60 lines of 30 bytes: more than the message holds, so it keeps the
   * newest lines whole and states how many. */
  mvm_mcp_transport *t =
      open_sh("i=0; while [ $i -lt 60 ]; do "
              "printf 'noise line %02d ..............\\n' $i >&2; "
              "i=$((i+1)); done; echo 'the last line' >&2; exit 2",
              NULL);
  char *msg = NULL;
  mvm_error err = {0};

  assert_int_equal(recv_msg(t, &msg, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "exited with status 2; its last "));
  assert_non_null(strstr(err.msg, "\n  noise line 59 ..."));
  assert_null(strstr(err.msg, "noise line 00"));
  assert_true(strlen(err.msg) > 400);
  size_t n = strlen(err.msg);
  assert_string_equal(err.msg + n - strlen("\n  the last line"),
                      "\n  the last line");
  t->ops->close(t);
}

static void reports_killing_signal(void **state)
{
  mvm_mcp_transport *t = open_sh("kill -9 $$", NULL);
  char *msg = NULL;
  mvm_error err = {0};

  assert_int_equal(recv_msg(t, &msg, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "killed by signal 9"));
  t->ops->close(t);
}

static void write_to_closed_stdin_is_eio(void **state)
{
  /* The server closes its stdin but keeps running, so a write hits
   * EPIPE while stdout is still open. */
  mvm_mcp_transport *t = open_sh("exec 0<&-; sleep 5", NULL);
  char big[65536];
  mvm_error err = {0};
  sigset_t pending;
  int rc = MVM_OK;

  memset(big, ' ', sizeof big);
  big[0] = '{';
  big[sizeof big - 1] = '}';
  usleep(100 * 1000);
  for (int i = 0; i < 4 && rc == MVM_OK; i++)
    rc = t->ops->send(t, big, sizeof big, &err);
  assert_int_equal(rc, MVM_EIO);
  sigpending(&pending);
  assert_false(sigismember(&pending, SIGPIPE));
  t->ops->close(t);
}

static void closes_and_reaps(void **state)
{
  mvm_mcp_transport *t = open_sh("cat >/dev/null", NULL);
  pid_t pid = mvm_mcp_stdio_pid(t);

  assert_true(pid > 0);
  t->ops->close(t);
  assert_true(process_gone(pid));
  assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

static void close_escalates_to_sigkill(void **state)
{
  mvm_mcp_stdio_opts opts = {.close_grace_ms = 100, .term_grace_ms = 100};
  mvm_mcp_transport *t;
  pid_t pid;

  mcp_test_log_start(MVM_LOG_INFO);
  /* Ignores SIGTERM and stdin's end; its sleep children share its
   * process group. */
  t = open_sh("trap '' TERM; exec 0<&-; while :; do sleep 1; done", &opts);
  pid = mvm_mcp_stdio_pid(t);
  usleep(100 * 1000);
  t->ops->close(t);
  assert_true(process_gone(pid));
  assert_true(group_gone(pid));
  assert_int_equal(mcp_test_log_count("sending SIGTERM"), 1);
  assert_int_equal(mcp_test_log_count("sending SIGKILL"), 1);
}

static void server_dies_with_its_host(void **state)
{
  int report[2];
  pid_t server = 0;
  int status = 0;

  assert_int_equal(pipe(report), 0);
  pid_t host = fork();
  assert_true(host >= 0);
  if (host == 0) {
    /* The host starts a server that ignores its stdin, then exits
     * without closing the transport, as mvm does when it is killed. */
    const char *argv[] = {"sh", "-c", "exec sleep 60", NULL};
    mvm_mcp_stdio_opts opts = {
        .server = "orphan", .argv = argv, .envp = (const char *const *)test_env};
    mvm_mcp_transport *t = NULL;
    mvm_error err = {0};

    close(report[0]);
    if (mvm_mcp_stdio_open(&opts, &t, &err) != MVM_OK)
      _exit(2);
    pid_t pid = mvm_mcp_stdio_pid(t);
    if (write(report[1], &pid, sizeof pid) != (ssize_t)sizeof pid)
      _exit(3);
    _exit(0);
  }
  close(report[1]);
  assert_int_equal(read(report[0], &server, sizeof server),
                   (ssize_t)sizeof server);
  close(report[0]);
  assert_int_equal(waitpid(host, &status, 0), host);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_true(server > 0);

  bool died = dies_soon(server);
  if (!died)
    kill(server, SIGKILL);
  assert_true(died);
}

static void kill_all_reaches_process_groups(void **state)
{
  mvm_mcp_transport *t;
  char *msg = NULL;
  mvm_error err = {0};
  json_t *doc;
  pid_t leader;
  pid_t child;

  /* The server's background child is in its process group, where the
   * kernel's PR_SET_PDEATHSIG does not reach. */
  t = open_sh("sleep 60 & printf '{\"child\":%d}\\n' $!; wait", NULL);
  leader = mvm_mcp_stdio_pid(t);
  assert_int_equal(recv_msg(t, &msg, &err), MVM_OK);
  doc = json_loads(msg, 0, NULL);
  free(msg);
  assert_non_null(doc);
  child = (pid_t)json_integer_value(json_object_get(doc, "child"));
  json_decref(doc);
  assert_true(child > 0);

  mvm_mcp_stdio_kill_all();
  assert_int_equal(recv_msg(t, &msg, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "killed by signal 9"));
  bool died = dies_soon(child);
  if (!died)
    kill(child, SIGKILL);
  assert_true(died);
  t->ops->close(t);
  assert_true(process_gone(leader));
}

static void stderr_is_logged_and_rate_limited(void **state)
{
  mvm_mcp_stdio_opts opts = {.stderr_lines_per_s = 5};
  mvm_mcp_transport *t;
  char *msg = NULL;
  mvm_error err = {0};

  mcp_test_log_start(MVM_LOG_INFO);
  t = open_sh("i=0; while [ $i -lt 100 ]; do echo \"warn $i\" >&2; "
              "i=$((i+1)); done; sleep 0.2; echo '{}'; sleep 5",
              &opts);
  assert_int_equal(recv_msg(t, &msg, &err), MVM_OK);
  free(msg);
  assert_int_equal(mcp_test_log_count("stderr: warn"), 5);
  assert_int_equal(mcp_test_log_count("mcp:sh: stderr: warn 0"), 1);
  t->ops->close(t);
}

static void environment_is_explicit(void **state)
{
  const char *env[] = {"ONLY_VAR=visible", NULL};
  mvm_mcp_stdio_opts opts = {.envp = env};
  mvm_mcp_transport *t;
  char *msg = NULL;
  mvm_error err = {0};

  setenv("MVM_TEST_SECRET", "should-not-leak", 1);
  t = open_sh("printf '{\"only\":\"%s\",\"secret\":\"%s\"}\\n' "
              "\"$ONLY_VAR\" \"$MVM_TEST_SECRET\"; sleep 5",
              &opts);
  assert_int_equal(recv_msg(t, &msg, &err), MVM_OK);
  assert_string_equal(msg, "{\"only\":\"visible\",\"secret\":\"\"}");
  free(msg);
  t->ops->close(t);
  unsetenv("MVM_TEST_SECRET");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(missing_command_is_not_found),
      cmocka_unit_test(exec_failure_is_reported),
      cmocka_unit_test(missing_cwd_is_not_found),
      cmocka_unit_test(runs_in_cwd),
      cmocka_unit_test(echoes_lines),
      cmocka_unit_test(skips_noise_lines),
      cmocka_unit_test(times_out_without_message),
      cmocka_unit_test(overlong_message_is_dropped),
      cmocka_unit_test(reports_exit_status),
      cmocka_unit_test(exit_message_quotes_stderr_tail),
      cmocka_unit_test(exit_message_keeps_newest_lines),
      cmocka_unit_test(reports_killing_signal),
      cmocka_unit_test(write_to_closed_stdin_is_eio),
      cmocka_unit_test(closes_and_reaps),
      cmocka_unit_test(close_escalates_to_sigkill),
      cmocka_unit_test(server_dies_with_its_host),
      cmocka_unit_test(kill_all_reaches_process_groups),
      cmocka_unit_test(stderr_is_logged_and_rate_limited),
      cmocka_unit_test(environment_is_explicit),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
