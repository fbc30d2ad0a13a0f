/* test_sandbox.c - the kernel probe, the beneath-resolver in both modes,
 * the Landlock, seccomp, rlimit and namespace helpers (each in a forked
 * child), and the result builders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "mvm.h"
#include "tools/sandbox.h"

static char base[64];
static int base_fd = -1;

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
  return remove(path);
}

static void at(char *buf, size_t size, const char *rel)
{
  snprintf(buf, size, "%s/%s", base, rel);
}

static int setup(void **state)
{
  char p[256];

  snprintf(base, sizeof base, "/tmp/mvm-sandbox-XXXXXX");
  if (mkdtemp(base) == NULL)
    return -1;
  at(p, sizeof p, "root");
  mkdir(p, 0755);
  at(p, sizeof p, "root/dir");
  mkdir(p, 0755);
  at(p, sizeof p, "root/dir/file");
  FILE *f = fopen(p, "w");
  fputs("inside", f);
  fclose(f);
  at(p, sizeof p, "out");
  f = fopen(p, "w");
  fputs("outside", f);
  fclose(f);
  at(p, sizeof p, "root/to_file");
  symlink("dir/file", p);
  at(p, sizeof p, "root/to_dir");
  symlink("dir", p);
  at(p, sizeof p, "root/up");
  symlink("..", p);
  at(p, sizeof p, "root/dir/back");
  symlink("../dir/file", p);
  /* A chain of 41 links: one more than the kernel follows. */
  for (int i = 0; i <= 40; i++) {
    char name[64];
    char target[64];
    snprintf(name, sizeof name, "root/chain%d", i);
    snprintf(target, sizeof target, i < 40 ? "chain%d" : "dir/file", i + 1);
    at(p, sizeof p, name);
    symlink(target, p);
  }
  at(p, sizeof p, "root");
  base_fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return base_fd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
  close(base_fd);
  nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* ---------------------------------------------------------------- probe */

static void probe_reports_features(void **state)
{
  mvm_sandbox_features f;
  json_t *json = NULL;
  char line[256];
  mvm_error err;

  mvm_sandbox_probe(&f);
  assert_int_equal(mvm_sandbox_features_describe(&f, &json, line,
                                                 sizeof line, &err),
                   MVM_OK);
  print_message("%s\n", line);
  assert_non_null(strstr(line, "kernel: landlock "));
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(json, "landlock"), "abi")),
                   f.landlock_abi);
  assert_int_equal(json_is_true(json_object_get(json, "openat2")),
                   f.openat2);
  /* The probe matches the ABI the kernel returns. */
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1u);
  assert_int_equal(f.landlock_abi, abi < 0 ? 0 : abi);
  json_decref(json);

  mvm_sandbox_features none = {0};
  none.landlock_errno = ENOSYS;
  mvm_sandbox_features_describe(&none, NULL, line, sizeof line, &err);
  assert_string_equal(line,
                      "kernel: landlock unavailable (Function not "
                      "implemented), seccomp no, user+net namespaces no, "
                      "openat2 no, no_new_privs no");
}

/* ---------------------------------------------------------------- paths */

/* Opens path with the resolver and returns the first bytes, or the
 * negative errno as text. */
static const char *resolve(mvm_sandbox_resolver r, const char *path,
                           int flags, bool no_symlinks)
{
  static char out[64];
  int fd = mvm_sandbox_open_beneath(base_fd, path, flags, no_symlinks, r);
  if (fd < 0) {
    snprintf(out, sizeof out, "-%s", strerrorname_np(-fd));
    return out;
  }
  ssize_t n = read(fd, out, sizeof out - 1);
  struct stat st;
  fstat(fd, &st);
  close(fd);
  if (S_ISDIR(st.st_mode))
    return "(dir)";
  out[n < 0 ? 0 : n] = '\0';
  return out;
}

static void resolver_cases(void **state)
{
  static const struct {
    const char *path;
    int flags;
    bool no_symlinks;
    const char *expected;
  } cases[] = {
      {"dir/file", O_RDONLY, false, "inside"},
      {"to_file", O_RDONLY, false, "inside"},
      {"to_dir/file", O_RDONLY, false, "inside"},
      {"dir/back", O_RDONLY, false, "inside"},
      {"dir/../dir/./file", O_RDONLY, false, "inside"},
      {"", O_RDONLY | O_DIRECTORY, false, "(dir)"},
      {".", O_RDONLY | O_DIRECTORY, false, "(dir)"},
      {"dir/", O_RDONLY | O_DIRECTORY, false, "(dir)"},
      {"to_dir/", O_RDONLY | O_DIRECTORY, false, "(dir)"},
      {"dir/file/", O_RDONLY, false, "-ENOTDIR"},
      {"../out", O_RDONLY, false, "-EXDEV"},
      {"dir/../../out", O_RDONLY, false, "-EXDEV"},
      {"up/out", O_RDONLY, false, "-EXDEV"},
      {"/etc/hostname", O_RDONLY, false, "-EXDEV"},
      {"to_file", O_RDONLY, true, "-ELOOP"},
      {"to_dir/file", O_RDONLY, true, "-ELOOP"},
      {"to_file", O_RDONLY | O_NOFOLLOW, false, "-ELOOP"},
      {"chain1", O_RDONLY, false, "inside"},
      {"chain0", O_RDONLY, false, "-ELOOP"},
      {"missing", O_RDONLY, false, "-ENOENT"},
      {"dir/missing/x", O_RDONLY, false, "-ENOENT"},
  };
  mvm_sandbox_resolver modes[] = {MVM_RESOLVER_OPENAT2, MVM_RESOLVER_WALK};

  for (size_t m = 0; m < 2; m++) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      const char *got = resolve(modes[m], cases[i].path, cases[i].flags,
                                cases[i].no_symlinks);
      if (strcmp(got, cases[i].expected) != 0)
        fail_msg("%s resolver, '%s': got %s, expected %s",
                 m == 0 ? "openat2" : "walk", cases[i].path, got,
                 cases[i].expected);
    }
  }
}

static void resolver_rejects_long_paths(void **state)
{
  char path[MVM_SANDBOX_PATH_MAX + 16];
  memset(path, 'a', sizeof path - 1);
  path[sizeof path - 1] = '\0';
  assert_int_equal(mvm_sandbox_open_beneath(base_fd, path, O_RDONLY, false,
                                            MVM_RESOLVER_WALK),
                   -ENAMETOOLONG);
  assert_int_equal(mvm_sandbox_open_beneath(base_fd, "x", O_RDONLY | O_CREAT,
                                            false, MVM_RESOLVER_AUTO),
                   -EINVAL);
}

/* The O_PATH flavour reports a final link itself with O_NOFOLLOW. */
static void resolver_opath_nofollow(void **state)
{
  mvm_sandbox_resolver modes[] = {MVM_RESOLVER_OPENAT2, MVM_RESOLVER_WALK};
  for (size_t m = 0; m < 2; m++) {
    struct stat st;
    int fd = mvm_sandbox_open_beneath(base_fd, "to_file",
                                      O_PATH | O_NOFOLLOW, false, modes[m]);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    close(fd);
    fd = mvm_sandbox_open_beneath(base_fd, "to_file", O_PATH, false,
                                  modes[m]);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    close(fd);
  }
}

/* ---------------------------------------------------------------- children */

/* Runs fn in a forked child and returns its exit code. */
static int in_child(int (*fn)(void))
{
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(fn());
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static int landlock_child(void)
{
  mvm_sandbox_features f;
  char root[128];
  char out[128];
  char file[128];
  const char *reads[] = {root, NULL};
  const char *writes[] = {NULL};
  mvm_sandbox_landlock_spec spec = {reads, writes, true, true};
  int ruleset = -1;

  mvm_sandbox_probe(&f);
  at(root, sizeof root, "root");
  at(out, sizeof out, "out");
  at(file, sizeof file, "root/dir/file");
  if (mvm_sandbox_landlock_new(f.landlock_abi, &spec, &ruleset, NULL))
    return 10;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      mvm_sandbox_landlock_enforce(ruleset) != 0)
    return 11;
  int fd = open(file, O_RDONLY);
  if (fd < 0)
    return 12;
  close(fd);
  if (open(out, O_RDONLY) >= 0 || errno != EACCES)
    return 13;
  if (open(file, O_WRONLY) >= 0 || errno != EACCES)
    return 14;
  if (open("/etc/hostname", O_RDONLY) >= 0 || errno != EACCES)
    return 15;
  return 0;
}

static void landlock_confines_a_child(void **state)
{
  mvm_sandbox_features f;
  mvm_sandbox_probe(&f);
  if (f.landlock_abi < 1)
    skip();
  assert_int_equal(in_child(landlock_child), 0);
}

static void landlock_needs_a_kernel(void **state)
{
  mvm_sandbox_landlock_spec spec = {0};
  int fd = -1;
  mvm_error err;
  assert_int_equal(mvm_sandbox_landlock_new(0, &spec, &fd, &err),
                   MVM_ESANDBOX);
  assert_non_null(strstr(err.msg, "Landlock"));
}

static int seccomp_child(void)
{
  mvm_sandbox_bpf bpf = {0};
  if (mvm_sandbox_bpf_build(false, &bpf, NULL))
    return 10;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      mvm_sandbox_bpf_load(&bpf) != 0)
    return 11;
  if (syscall(SYS_ptrace, 0, 0, 0, 0) != -1 || errno != EPERM)
    return 12;
  if (socket(AF_INET, SOCK_STREAM, 0) >= 0 || errno != EPERM)
    return 13;
  if (socket(AF_INET6, SOCK_DGRAM, 0) >= 0 || errno != EPERM)
    return 14;
  int unix_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (unix_fd < 0)
    return 15;
  close(unix_fd);
  if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
    return 16;
  if (syscall(SYS_unshare, 0x10000000) != -1 || errno != EPERM)
    return 17;
  /* A plain fork still works: glibc uses clone without namespace flags. */
  pid_t pid = fork();
  if (pid == 0)
    _exit(0);
  if (pid < 0 || waitpid(pid, NULL, 0) != pid)
    return 18;
  mvm_sandbox_bpf_free(&bpf);
  return 0;
}

static void seccomp_denies_in_a_child(void **state)
{
  mvm_sandbox_features f;
  mvm_sandbox_probe(&f);
  if (!f.seccomp)
    skip();
  assert_int_equal(in_child(seccomp_child), 0);
}

static int network_allowed_child(void)
{
  mvm_sandbox_bpf bpf = {0};
  if (mvm_sandbox_bpf_build(true, &bpf, NULL))
    return 10;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      mvm_sandbox_bpf_load(&bpf) != 0)
    return 11;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return 12;
  close(fd);
  return 0;
}

static void seccomp_network_flag(void **state)
{
  mvm_sandbox_features f;
  mvm_sandbox_probe(&f);
  if (!f.seccomp)
    skip();
  assert_int_equal(in_child(network_allowed_child), 0);
}

static int rlimit_child(void)
{
  mvm_sandbox_rlimits lim = {.cpu_s = 7, .nofile = 33, .fsize_bytes = 4096};
  struct rlimit r;
  if (mvm_sandbox_rlimits_apply(&lim) != 0)
    return 10;
  if (getrlimit(RLIMIT_CPU, &r) != 0 || r.rlim_cur != 7 || r.rlim_max != 7)
    return 11;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur != 33)
    return 12;
  if (getrlimit(RLIMIT_FSIZE, &r) != 0 || r.rlim_cur != 4096)
    return 13;
  return 0;
}

static void rlimits_apply_in_a_child(void **state)
{
  assert_int_equal(in_child(rlimit_child), 0);
}

static int namespace_child(void)
{
  mvm_sandbox_idmap map;
  uid_t uid = geteuid();
  mvm_sandbox_idmap_init(&map, uid, getegid());
  if (mvm_sandbox_enter_namespaces(&map, true) != 0)
    return 10;
  /* The map keeps the id: without it the id would read as 65534. */
  if (geteuid() != uid)
    return 11;
  /* The new network namespace has no usable interface. */
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    return 12;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9)};
  a.sin_addr.s_addr = htonl(0x7f000001);
  int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
  close(fd);
  return rc == -1 && errno == ENETUNREACH ? 0 : 13;
}

static void namespaces_cut_the_network(void **state)
{
  mvm_sandbox_features f;
  mvm_sandbox_probe(&f);
  if (!f.user_namespaces)
    skip();
  assert_int_equal(in_child(namespace_child), 0);
}

/* ---------------------------------------------------------------- results */

static void utf8_text_replaces_invalid_bytes(void **state)
{
  static const struct {
    const char *in;
    size_t len;
    const char *out;
    size_t out_len;
    size_t replaced;
  } cases[] = {
      {"plain", 5, "plain", 5, 0},
      {"caf\xc3\xa9", 5, "caf\xc3\xa9", 5, 0},
      {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 4, 0},
      {"\xff", 1, "\xef\xbf\xbd", 3, 1},
      /* An overlong "/", a surrogate, a code point past U+10FFFF, and a
       * sequence cut short: each byte is replaced. */
      {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, 2},
      {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, 3},
      {"\xf4\x90\x80\x80", 4,
       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 4},
      {"ab\xe2\x82", 4, "ab\xef\xbf\xbd\xef\xbf\xbd", 8, 2},
      {"a\0b", 3, "a\0b", 3, 0},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t replaced = 99;
    json_t *s = mvm_sandbox_json_text(cases[i].in, cases[i].len, &replaced);
    assert_non_null(s);
    assert_int_equal(json_string_length(s), cases[i].out_len);
    assert_memory_equal(json_string_value(s), cases[i].out,
                        cases[i].out_len);
    assert_int_equal(replaced, cases[i].replaced);
    json_decref(s);
  }
}

static void base64_matches_rfc4648(void **state)
{
  static const char *const vectors[][2] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
      {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    json_t *s = mvm_sandbox_json_base64(
        (const unsigned char *)vectors[i][0], strlen(vectors[i][0]));
    assert_string_equal(json_string_value(s), vectors[i][1]);
    json_decref(s);
  }
}

static void results_have_mcp_shape(void **state)
{
  json_t *r = mvm_sandbox_result_error("limit", "too big: %d", 5);
  assert_true(json_is_true(json_object_get(r, "isError")));
  const json_t *item = json_array_get(json_object_get(r, "content"), 0);
  assert_string_equal(json_string_value(json_object_get(item, "type")),
                      "text");
  assert_string_equal(json_string_value(json_object_get(item, "text")),
                      "too big: 5");
  const json_t *sc = json_object_get(r, "structuredContent");
  assert_string_equal(json_string_value(json_object_get(sc, "error")),
                      "limit");
  json_decref(r);

  const char *const known[] = {"a", NULL};
  json_t *args = json_pack("{sisi}", "a", 1, "b", 2);
  r = mvm_sandbox_check_args(args, known);
  assert_non_null(r);
  assert_non_null(strstr(json_string_value(json_object_get(
                             json_array_get(json_object_get(r, "content"), 0),
                             "text")),
                         "'b'"));
  json_decref(r);
  json_object_del(args, "b");
  assert_null(mvm_sandbox_check_args(args, known));
  json_decref(args);
  r = mvm_sandbox_check_args(NULL, known);
  assert_non_null(r);
  json_decref(r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(probe_reports_features),
      cmocka_unit_test(resolver_cases),
      cmocka_unit_test(resolver_rejects_long_paths),
      cmocka_unit_test(resolver_opath_nofollow),
      cmocka_unit_test(landlock_confines_a_child),
      cmocka_unit_test(landlock_needs_a_kernel),
      cmocka_unit_test(seccomp_denies_in_a_child),
      cmocka_unit_test(seccomp_network_flag),
      cmocka_unit_test(rlimits_apply_in_a_child),
      cmocka_unit_test(namespaces_cut_the_network),
      cmocka_unit_test(utf8_text_replaces_invalid_bytes),
      cmocka_unit_test(base64_matches_rfc4648),
      cmocka_unit_test(results_have_mcp_shape),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
