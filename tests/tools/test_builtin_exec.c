/* test_builtin_exec.c - the command tool: output, environment and working
 * directory. Then attacks the sandbox must stop although the tests run as
 * root: reading outside the root, TCP connections (each layer alone and all
 * together), a fork bomb, huge output, a command past its timeout,
 * background processes and denied system calls. Commands are standard
 * Debian programs (sh, cat, env, head, sleep, perl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mvm.h"
#include "tools/builtin_exec.h"

#define SECRET "OUTSIDE-SECRET-CONTENT"
#define NOBODY 65534

struct fixture {
  char base[64];
  char root[96];
  char outside[96];
  int listener; /* TCP listener on 127.0.0.1 */
  int port;
};

static struct fixture fx;

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
  return remove(path);
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
  char path[256];
  struct sockaddr_in addr = {0};
  socklen_t len = sizeof addr;

  snprintf(fx.base, sizeof fx.base, "/tmp/mvm-exec-XXXXXX");
  if (mkdtemp(fx.base) == NULL || chmod(fx.base, 0755) != 0)
    return -1;
  snprintf(fx.root, sizeof fx.root, "%s/root", fx.base);
  snprintf(fx.outside, sizeof fx.outside, "%s/outside", fx.base);
  if (mkdir(fx.root, 0755) != 0 || mkdir(fx.outside, 0777) != 0)
    return -1;
  /* Commands run as uid 65534 when the tests run as root. */
  if (geteuid() == 0 && chown(fx.root, NOBODY, NOBODY) != 0)
    return -1;
  snprintf(path, sizeof path, "%s/sub", fx.root);
  if (mkdir(path, 0755) != 0)
    return -1;
  if (geteuid() == 0 && chown(path, NOBODY, NOBODY) != 0)
    return -1;
  /* World-writable, so only Landlock keeps commands from writing here. */
  if (chmod(fx.outside, 0777) != 0)
    return -1;
  /* Readable by anyone, so only Landlock keeps it from the commands. */
  snprintf(path, sizeof path, "%s/secret", fx.outside);
  write_text(path, SECRET);
  chmod(path, 0644);

  fx.listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fx.listener < 0 ||
      bind(fx.listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      listen(fx.listener, 8) != 0 ||
      getsockname(fx.listener, (struct sockaddr *)&addr, &len) != 0)
    return -1;
  fx.port = ntohs(addr.sin_port);
  return 0;
}

static int teardown(void **state)
{
  close(fx.listener);
  nftw(fx.base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* Counts the connections that reached the listener since the last call. */
static int accepted(void)
{
  int n = 0;
  int c;
  while ((c = accept(fx.listener, NULL, NULL)) >= 0) {
    close(c);
    n++;
  }
  return n;
}

static void base_config(mvm_builtin_exec_config *cfg)
{
  mvm_builtin_exec_config_init(cfg);
  cfg->root = fx.root;
  cfg->timeout_s = 10;
}

static mvm_toolbox open_exec(const mvm_builtin_exec_config *cfg)
{
  mvm_toolbox tb = {0};
  mvm_error err;
  int rc = mvm_builtin_exec_new(cfg, &tb, &err);
  if (rc)
    fail_msg("mvm_builtin_exec_new: %s", err.msg);
  return tb;
}

static mvm_toolbox open_default(void)
{
  mvm_builtin_exec_config cfg;
  base_config(&cfg);
  return open_exec(&cfg);
}

static json_t *run_args(mvm_toolbox *tb, json_t *args)
{
  json_t *result = NULL;
  mvm_error err;
  mvm_tool_call_opts opts = {0};
  int rc = tb->ops->call(tb->self, "run_command", args, &opts, &result, &err);
  if (rc)
    fail_msg("run_command: %s", err.msg);
  json_decref(args);
  return result;
}

/* Runs argv (NULL-terminated) and returns the result. */
static json_t *run(mvm_toolbox *tb, const char *const *argv)
{
  json_t *a = json_array();
  for (size_t i = 0; argv[i] != NULL; i++)
    json_array_append_new(a, json_string(argv[i]));
  return run_args(tb, json_pack("{so}", "argv", a));
}

static const json_t *sc(const json_t *r)
{
  return json_object_get(r, "structuredContent");
}

static const char *out_of(const json_t *r)
{
  const char *s = json_string_value(json_object_get(sc(r), "stdout"));
  assert_non_null(s);
  return s;
}

static const char *err_of(const json_t *r)
{
  const char *s = json_string_value(json_object_get(sc(r), "stderr"));
  assert_non_null(s);
  return s;
}

static const char *text_of(const json_t *r)
{
  const json_t *item = json_array_get(json_object_get(r, "content"), 0);
  return json_string_value(json_object_get(item, "text"));
}

static int exit_of(const json_t *r)
{
  const json_t *code = json_object_get(sc(r), "exit_code");
  return json_is_integer(code) ? (int)json_integer_value(code) : -1;
}

static const char *signal_of(const json_t *r)
{
  const char *s = json_string_value(json_object_get(sc(r), "signal"));
  return s ? s : "(none)";
}

static const char *error_kind(const json_t *r)
{
  const char *s = json_string_value(json_object_get(sc(r), "error"));
  return s ? s : "(none)";
}

static bool is_error(const json_t *r)
{
  return json_is_true(json_object_get(r, "isError"));
}

/* No child of the test process is left, running or zombie. */
static void assert_no_children(void)
{
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

/* True when a live (not zombie) process named `name` runs as `uid`. */
static bool process_alive(unsigned uid, const char *name)
{
  char cmd[160];
  snprintf(cmd, sizeof cmd,
           "pgrep -r R,S,D,T,t -u %u -x %s > /dev/null", uid, name);
  return system(cmd) == 0;
}

/* True when such a process is still alive after SIGKILL had up to 5 s to
 * take effect. */
static bool process_running(unsigned uid, const char *name)
{
  for (int i = 0; i < 50; i++) {
    if (!process_alive(uid, name))
      return false;
    usleep(100 * 1000);
  }
  return true;
}

/* ---------------------------------------------------------------- basics */

static void echo_prints_output(void **state)
{
  mvm_toolbox tb = open_default();
  json_t *r = run(&tb, (const char *[]){"echo", "hello", "world", NULL});

  assert_false(is_error(r));
  assert_string_equal(out_of(r), "hello world\n");
  assert_string_equal(text_of(r), "hello world\n");
  assert_int_equal(exit_of(r), 0);
  assert_string_equal(json_string_value(json_object_get(sc(r), "command")),
                      "/usr/bin/echo");
  json_decref(r);
  tb.ops->close(tb.self);
  assert_no_children();
}

static void describe_reports_protections(void **state)
{
  mvm_toolbox tb = open_default();
  json_t *json = NULL;
  char line[256];
  mvm_error err;

  assert_int_equal(mvm_builtin_exec_describe(&tb, &json, line, sizeof line,
                                             &err),
                   MVM_OK);
  print_message("%s\n", line);
  assert_non_null(strstr(line, "sandbox: landlock ABI "));
  assert_non_null(strstr(line, "seccomp on"));
  assert_non_null(strstr(line, "network denied"));
  assert_true(json_is_true(json_object_get(json, "seccomp")));
  assert_true(json_integer_value(json_object_get(
                  json_object_get(json, "landlock"), "abi")) >= 1);
  if (geteuid() == 0) {
    assert_int_equal(json_integer_value(json_object_get(json, "uid")),
                     NOBODY);
    assert_true(json_is_true(json_object_get(json, "process_limit")));
  }
  json_decref(json);
  tb.ops->close(tb.self);

  mvm_builtin_exec_config cfg;
  base_config(&cfg);
  cfg.landlock = MVM_SANDBOX_OFF;
  cfg.seccomp = MVM_SANDBOX_OFF;
  cfg.namespaces = MVM_SANDBOX_OFF;
  cfg.uid = MVM_EXEC_ID_KEEP;
  cfg.gid = MVM_EXEC_ID_KEEP;
  tb = open_exec(&cfg);
  assert_int_equal(mvm_builtin_exec_describe(&tb, &json, line, sizeof line,
                                             &err),
                   MVM_OK);
  assert_non_null(strstr(line, "landlock off, seccomp off, user+net "
                               "namespace off"));
  assert_true(json_is_false(json_object_get(json, "landlock")));
  if (geteuid() == 0) {
    assert_non_null(strstr(line, "(no process limit)"));
    assert_true(json_is_false(json_object_get(json, "process_limit")));
  }
  json_decref(json);
  tb.ops->close(tb.self);
}

static void environment_is_not_inherited(void **state)
{
  mvm_builtin_exec_config cfg;
  const char *const pass[] = {"MVM_TEST_PASSED", NULL};
  char home[160];

  setenv("MVM_TEST_SECRET", "s3cret", 1);
  setenv("MVM_TEST_PASSED", "visible", 1);
  base_config(&cfg);
  cfg.pass_env = pass;
  mvm_toolbox tb = open_exec(&cfg);
  json_t *r = run(&tb, (const char *[]){"env", NULL});
  const char *out = out_of(r);

  assert_false(is_error(r));
  assert_null(strstr(out, "MVM_TEST_SECRET"));
  assert_null(strstr(out, "s3cret"));
  assert_non_null(strstr(out, "MVM_TEST_PASSED=visible\n"));
  assert_non_null(strstr(out, "PATH=/usr/bin:/bin\n"));
  snprintf(home, sizeof home, "HOME=%s\n", fx.root);
  assert_non_null(strstr(out, home));
  /* PATH, LANG, MVM_TEST_PASSED and HOME: four lines, nothing else. */
  int lines = 0;
  for (const char *p = out; *p; p++)
    lines += *p == '\n';
  assert_int_equal(lines, 4);
  json_decref(r);
  tb.ops->close(tb.self);
  unsetenv("MVM_TEST_SECRET");
  unsetenv("MVM_TEST_PASSED");
}

static void cwd_and_stdin_work(void **state)
{
  mvm_toolbox tb = open_default();
  char expected[160];

  json_t *r = run_args(&tb, json_pack("{s[s]ss}", "argv", "pwd", "cwd",
                                      "sub"));
  snprintf(expected, sizeof expected, "%s/sub\n", fx.root);
  assert_string_equal(out_of(r), expected);
  json_decref(r);

  r = run_args(&tb, json_pack("{s[s]ss}", "argv", "cat", "stdin",
                              "from stdin"));
  assert_string_equal(out_of(r), "from stdin");
  json_decref(r);

  r = run_args(&tb, json_pack("{s[s]ss}", "argv", "pwd", "cwd", ".."));
  assert_true(is_error(r));
  assert_string_equal(error_kind(r), "denied");
  json_decref(r);
  r = run_args(&tb, json_pack("{s[s]ss}", "argv", "pwd", "cwd", "/tmp"));
  assert_string_equal(error_kind(r), "denied");
  json_decref(r);
  tb.ops->close(tb.self);
  assert_no_children();
}

static void writes_stay_in_root(void **state)
{
  mvm_toolbox tb = open_default();
  char path[160];
  char script[256];

  json_t *r = run(&tb, (const char *[]){"sh", "-c",
                                        "echo made > sub/f && cat sub/f",
                                        NULL});
  assert_false(is_error(r));
  assert_string_equal(out_of(r), "made\n");
  json_decref(r);

  /* The outside directory is world-writable: only Landlock stops this. */
  snprintf(script, sizeof script, "echo x > %s/planted", fx.outside);
  r = run(&tb, (const char *[]){"sh", "-c", script, NULL});
  assert_true(is_error(r));
  assert_non_null(strstr(err_of(r), "Permission denied"));
  json_decref(r);
  snprintf(path, sizeof path, "%s/planted", fx.outside);
  assert_int_equal(access(path, F_OK), -1);
  tb.ops->close(tb.self);
}

static void exit_code_and_missing_program(void **state)
{
  mvm_toolbox tb = open_default();
  json_t *r = run(&tb, (const char *[]){"sh", "-c", "echo oops >&2; exit 3",
                                        NULL});
  assert_true(is_error(r));
  assert_int_equal(exit_of(r), 3);
  assert_string_equal(err_of(r), "oops\n");
  assert_string_equal(text_of(r), "[stderr]\noops\n\n[exit code 3]");
  json_decref(r);

  r = run(&tb, (const char *[]){"no-such-program-mvm", NULL});
  assert_string_equal(error_kind(r), "not_found");
  json_decref(r);
  r = run(&tb, (const char *[]){"/no/such/program", NULL});
  assert_string_equal(error_kind(r), "not_found");
  json_decref(r);
  r = run_args(&tb, json_pack("{s[]}", "argv"));
  assert_string_equal(error_kind(r), "invalid_argument");
  json_decref(r);
  r = run_args(&tb, json_pack("{s[s]ss}", "argv", "true", "shell", "x"));
  assert_string_equal(error_kind(r), "invalid_argument");
  json_decref(r);
  tb.ops->close(tb.self);
  assert_no_children();
}

static void allowed_commands_are_enforced(void **state)
{
  mvm_builtin_exec_config cfg;
  const char *const commands[] = {"/usr/bin/id", NULL};
  base_config(&cfg);
  cfg.commands = commands;
  mvm_toolbox tb = open_exec(&cfg);

  json_t *r = run(&tb, (const char *[]){"id", "-u", NULL});
  assert_false(is_error(r));
  char uid[16];
  snprintf(uid, sizeof uid, "%u\n", geteuid() == 0 ? NOBODY : geteuid());
  assert_string_equal(out_of(r), uid);
  json_decref(r);
  r = run(&tb, (const char *[]){"cat", "/etc/hostname", NULL});
  assert_string_equal(error_kind(r), "denied");
  json_decref(r);
  tb.ops->close(tb.self);
}

/* ---------------------------------------------------------------- attacks */

/* Reads the outside file as uid 65534 and, when the tests run as root, as
 * root itself. Landlock denies it either way. */
static void read_outside_is_denied(void **state)
{
  char secret[160];
  snprintf(secret, sizeof secret, "%s/secret", fx.outside);

  for (int keep_root = 0; keep_root < 2; keep_root++) {
    mvm_builtin_exec_config cfg;
    base_config(&cfg);
    if (keep_root) {
      cfg.uid = MVM_EXEC_ID_KEEP;
      cfg.gid = MVM_EXEC_ID_KEEP;
    }
    mvm_toolbox tb = open_exec(&cfg);
    json_t *r = run(&tb, (const char *[]){"cat", secret, NULL});
    assert_true(is_error(r));
    assert_null(strstr(text_of(r), SECRET));
    assert_non_null(strstr(err_of(r), "Permission denied"));
    json_decref(r);

    r = run(&tb, (const char *[]){"ls", fx.base, NULL});
    assert_true(is_error(r));
    json_decref(r);
    tb.ops->close(tb.self);
  }

  /* The same command without Landlock does read it, so the check above
   * can fail. */
  mvm_builtin_exec_config cfg;
  base_config(&cfg);
  cfg.landlock = MVM_SANDBOX_OFF;
  mvm_toolbox tb = open_exec(&cfg);
  json_t *r = run(&tb, (const char *[]){"cat", secret, NULL});
  assert_string_equal(out_of(r), SECRET);
  json_decref(r);
  tb.ops->close(tb.self);
}

/* Runs a perl TCP connect to the test's listener and returns its output. */
static json_t *try_connect(const mvm_builtin_exec_config *cfg)
{
  char script[512];
  snprintf(script, sizeof script,
           "use Socket; socket(my $s, AF_INET, SOCK_STREAM, 0) or "
           "die \"socket: $!\\n\"; connect($s, pack_sockaddr_in(%d, "
           "inet_aton('127.0.0.1'))) or die \"connect: $!\\n\"; "
           "print \"connected\\n\";",
           fx.port);
  mvm_toolbox tb = open_exec(cfg);
  json_t *r = run(&tb, (const char *[]){"perl", "-e", script, NULL});
  tb.ops->close(tb.self);
  return r;
}

static void tcp_connect_is_denied(void **state)
{
  mvm_builtin_exec_config cfg;
  json_t *r;

  accepted();
  /* Everything on. */
  base_config(&cfg);
  r = try_connect(&cfg);
  assert_true(is_error(r));
  assert_null(strstr(out_of(r), "connected"));
  json_decref(r);
  assert_int_equal(accepted(), 0);

  /* seccomp alone: socket(AF_INET) fails with EPERM. */
  base_config(&cfg);
  cfg.landlock = MVM_SANDBOX_OFF;
  cfg.namespaces = MVM_SANDBOX_OFF;
  r = try_connect(&cfg);
  assert_string_equal(err_of(r), "socket: Operation not permitted\n");
  json_decref(r);
  assert_int_equal(accepted(), 0);

  /* Landlock alone (ABI 4 and later): connect fails with EACCES. */
  mvm_sandbox_features f;
  mvm_sandbox_probe(&f);
  if (f.landlock_abi >= 4) {
    base_config(&cfg);
    cfg.seccomp = MVM_SANDBOX_OFF;
    cfg.namespaces = MVM_SANDBOX_OFF;
    r = try_connect(&cfg);
    assert_string_equal(err_of(r), "connect: Permission denied\n");
    json_decref(r);
    assert_int_equal(accepted(), 0);
  }

  /* The network namespace alone: its loopback is down. */
  if (f.user_namespaces) {
    base_config(&cfg);
    cfg.seccomp = MVM_SANDBOX_OFF;
    cfg.landlock = MVM_SANDBOX_OFF;
    r = try_connect(&cfg);
    assert_string_equal(err_of(r), "connect: Network is unreachable\n");
    json_decref(r);
    assert_int_equal(accepted(), 0);
  }

  /* With the network allowed the same command connects, so the checks
   * above can fail. */
  base_config(&cfg);
  cfg.allow_network = true;
  r = try_connect(&cfg);
  assert_string_equal(out_of(r), "connected\n");
  json_decref(r);
  assert_int_equal(accepted(), 1);
  assert_no_children();
}

/* Runs perl's syscall() and returns "<return value> <errno>". */
static void expect_syscall(mvm_toolbox *tb, const char *call,
                           const char *expected)
{
  char script[256];
  snprintf(script, sizeof script, "$! = 0; my $r = %s; print \"$r \", $!+0;",
           call);
  json_t *r = run(tb, (const char *[]){"perl", "-e", script, NULL});
  if (strcmp(out_of(r), expected) != 0)
    fail_msg("%s returned '%s', expected '%s' (stderr %s)", call, out_of(r),
             expected, err_of(r));
  json_decref(r);
}

static void denied_syscalls_fail_with_eperm(void **state)
{
  mvm_toolbox tb = open_default();

  /* x86_64 numbers: ptrace 101, mount 165, keyctl 250, unshare 272,
   * perf_event_open 298, bpf 321, clone3 435. EPERM is 1, ENOSYS 38. */
  expect_syscall(&tb, "syscall(101, 0, 0, 0, 0)", "-1 1");
  expect_syscall(&tb, "syscall(165, 0, 0, 0, 0, 0)", "-1 1");
  expect_syscall(&tb, "syscall(250, 0, 0, 0, 0, 0)", "-1 1");
  expect_syscall(&tb, "syscall(272, 0x10000000)", "-1 1");
  expect_syscall(&tb, "syscall(298, 0, 0, 0, 0, 0)", "-1 1");
  expect_syscall(&tb, "syscall(321, 0, 0, 0)", "-1 1");
  expect_syscall(&tb, "syscall(435, 0, 0)", "-1 38");
  /* setsid in a forked child (not a group leader) would succeed. */
  expect_syscall(&tb, "do { require POSIX; my $p = fork(); if (!$p) { "
                      "exit(POSIX::setsid() == -1 ? 7 : 0) } waitpid($p, 0); "
                      "$? >> 8 }",
                 "7 0");
  tb.ops->close(tb.self);

  /* Without seccomp, PTRACE_TRACEME succeeds: the test can fail. */
  mvm_builtin_exec_config cfg;
  base_config(&cfg);
  cfg.seccomp = MVM_SANDBOX_OFF;
  tb = open_exec(&cfg);
  expect_syscall(&tb, "syscall(101, 0, 0, 0, 0)", "0 0");
  tb.ops->close(tb.self);
  assert_no_children();
}

static void fork_bomb_hits_process_limit(void **state)
{
  if (geteuid() == 0 && process_alive(NOBODY, "sleep"))
    skip();
  mvm_builtin_exec_config cfg;
  base_config(&cfg);
  cfg.limits.nproc = 16;
  cfg.timeout_s = 5;
  mvm_toolbox tb = open_exec(&cfg);

  /* Bounded at 200 so a broken limit cannot take the machine down. */
  json_t *r = run(&tb, (const char *[]){
                           "sh", "-c",
                           "i=0; while [ $i -lt 200 ]; do sleep 30 & "
                           "i=$((i+1)); echo $i; done; wait",
                           NULL});
  const char *out = out_of(r);
  const char *last = out;
  for (const char *p = out; *p; p++)
    if (*p == '\n' && p[1] != '\0')
      last = p + 1;
  print_message("started %d sleeps before the limit\n", atoi(last));
  assert_true(is_error(r));
  assert_true(atoi(last) < 16);
  assert_non_null(strstr(err_of(r), "fork"));
  json_decref(r);
  tb.ops->close(tb.self);
  /* The group was killed with the shell: no sleep is left. */
  assert_false(process_running(NOBODY, "sleep"));
  assert_no_children();
}

static void huge_output_is_capped(void **state)
{
  mvm_builtin_exec_config cfg;
  base_config(&cfg);
  cfg.max_stdout = 65536;
  cfg.max_stderr = 1000;
  mvm_toolbox tb = open_exec(&cfg);

  json_t *r = run(&tb, (const char *[]){
                           "sh", "-c",
                           "head -c 10000000 /dev/zero | tr '\\0' y; "
                           "head -c 5000 /dev/zero | tr '\\0' e >&2",
                           NULL});
  assert_int_equal(strlen(out_of(r)), 65536);
  assert_int_equal(strlen(err_of(r)), 1000);
  assert_true(json_is_true(json_object_get(sc(r), "stdout_truncated")));
  assert_true(json_is_true(json_object_get(sc(r), "stderr_truncated")));
  assert_int_equal(json_integer_value(json_object_get(sc(r), "stdout_bytes")),
                   10000000);
  assert_int_equal(json_integer_value(json_object_get(sc(r), "stderr_bytes")),
                   5000);
  assert_non_null(strstr(text_of(r), "[stdout truncated: kept 65536 of "
                                     "10000000 bytes]"));
  assert_non_null(strstr(text_of(r), "[stderr truncated: kept 1000 of 5000 "
                                     "bytes]"));
  json_decref(r);
  tb.ops->close(tb.self);
}

static void timeout_kills_the_group(void **state)
{
  mvm_builtin_exec_config cfg;
  base_config(&cfg);
  cfg.timeout_s = 1;
  cfg.kill_grace_ms = 200;
  mvm_toolbox tb = open_exec(&cfg);

  json_t *r = run(&tb, (const char *[]){"sleep", "30", NULL});
  assert_true(is_error(r));
  assert_true(json_is_true(json_object_get(sc(r), "timed_out")));
  assert_string_equal(signal_of(r), "SIGTERM");
  assert_non_null(strstr(text_of(r), "[timed out after 1 s]"));
  json_decref(r);

  /* A shell that ignores SIGTERM, with a child, gets SIGKILL. */
  r = run(&tb, (const char *[]){"sh", "-c",
                                "trap '' TERM; sleep 30; echo done", NULL});
  assert_true(json_is_true(json_object_get(sc(r), "timed_out")));
  assert_true(json_is_true(json_object_get(sc(r), "killed")));
  assert_string_equal(signal_of(r), "SIGKILL");
  assert_null(strstr(out_of(r), "done"));
  json_decref(r);

  /* A call may ask for a shorter timeout. */
  r = run_args(&tb, json_pack("{s[ss]sf}", "argv", "sleep", "30",
                              "timeout_s", 0.2));
  assert_true(json_is_true(json_object_get(sc(r), "timed_out")));
  json_decref(r);
  tb.ops->close(tb.self);
  assert_no_children();
  assert_false(process_running(geteuid() == 0 ? NOBODY : geteuid(),
                               "sleep"));
}

static void background_process_is_killed(void **state)
{
  mvm_toolbox tb = open_default();
  json_t *r = run(&tb, (const char *[]){"sh", "-c",
                                        "sleep 30 & echo started", NULL});
  assert_false(is_error(r));
  assert_string_equal(out_of(r), "started\n");
  json_decref(r);
  tb.ops->close(tb.self);
  assert_no_children();
  assert_false(process_running(geteuid() == 0 ? NOBODY : geteuid(),
                               "sleep"));
}

/* A command outlives neither a host that is killed mid-call: the kernel
 * sends it SIGKILL when its parent dies, although it runs in a session of
 * its own that no signal to the host's group reaches. */
static void command_dies_with_its_host(void **state)
{
  unsigned uid = geteuid() == 0 ? NOBODY : geteuid();
  pid_t host = fork();

  assert_true(host >= 0);
  if (host == 0) {
    mvm_toolbox tb = open_default();
    json_t *r = run(&tb, (const char *[]){"sleep", "30", NULL});
    json_decref(r);
    _exit(0);
  }
  bool started = false;
  for (int i = 0; i < 100 && !started; i++) {
    started = process_alive(uid, "sleep");
    if (!started)
      usleep(50 * 1000);
  }
  assert_true(started);
  assert_int_equal(kill(host, SIGKILL), 0);
  assert_int_equal(waitpid(host, NULL, 0), host);
  assert_false(process_running(uid, "sleep"));
  assert_no_children();
}

static void limits_on_arguments(void **state)
{
  mvm_builtin_exec_config cfg;
  base_config(&cfg);
  cfg.max_stdin = 4;
  cfg.max_argv_bytes = 16;
  mvm_toolbox tb = open_exec(&cfg);

  json_t *r = run_args(&tb, json_pack("{s[s]ss}", "argv", "cat", "stdin",
                                      "12345"));
  assert_string_equal(error_kind(r), "limit");
  json_decref(r);
  r = run(&tb, (const char *[]){"echo", "0123456789abcdef", NULL});
  assert_string_equal(error_kind(r), "limit");
  json_decref(r);
  tb.ops->close(tb.self);
}

static void config_errors(void **state)
{
  mvm_builtin_exec_config cfg;
  mvm_toolbox tb;
  mvm_error err;
  const char *const bad_env[] = {"NOVALUE", NULL};

  mvm_builtin_exec_config_init(&cfg);
  assert_int_equal(mvm_builtin_exec_new(&cfg, &tb, &err), MVM_ECONFIG);
  base_config(&cfg);
  cfg.root = "/nonexistent/mvm-exec";
  assert_int_equal(mvm_builtin_exec_new(&cfg, &tb, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "/nonexistent/mvm-exec"));
  base_config(&cfg);
  cfg.env = bad_env;
  assert_int_equal(mvm_builtin_exec_new(&cfg, &tb, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "NOVALUE"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(echo_prints_output),
      cmocka_unit_test(describe_reports_protections),
      cmocka_unit_test(environment_is_not_inherited),
      cmocka_unit_test(cwd_and_stdin_work),
      cmocka_unit_test(writes_stay_in_root),
      cmocka_unit_test(exit_code_and_missing_program),
      cmocka_unit_test(allowed_commands_are_enforced),
      cmocka_unit_test(read_outside_is_denied),
      cmocka_unit_test(tcp_connect_is_denied),
      cmocka_unit_test(denied_syscalls_fail_with_eperm),
      cmocka_unit_test(fork_bomb_hits_process_limit),
      cmocka_unit_test(huge_output_is_capped),
      cmocka_unit_test(timeout_kills_the_group),
      cmocka_unit_test(background_process_is_killed),
      cmocka_unit_test(command_dies_with_its_host),
      cmocka_unit_test(limits_on_arguments),
      cmocka_unit_test(config_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
