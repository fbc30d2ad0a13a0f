/* test_path.c - the `under` path check and the open-time check a file tool
 * repeats, on real directories and symbolic links. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "monitor/path.h"

static char root[256];
static char allowed[300];

static void put(const char *rel, const char *text)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void dir(const char *rel)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  assert_int_equal(mkdir(path, 0755), 0);
}

static void link_to(const char *target, const char *rel)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  assert_int_equal(symlink(target, path), 0);
}

static int setup(void **state)
{
  char outside[512];

  snprintf(root, sizeof root, "/tmp/mvm-test-path-XXXXXX");
  if (mkdtemp(root) == NULL)
    return -1;
  snprintf(allowed, sizeof allowed, "%s/allowed", root);
  snprintf(outside, sizeof outside, "%s/outside", root);
  dir("allowed");
  dir("allowed/sub");
  dir("outside");
  put("allowed/doc.txt", "inside\n");
  put("allowed/sub/n.txt", "n\n");
  put("outside/secret.txt", "secret\n");
  link_to(outside, "allowed/out");
  link_to("sub", "allowed/in");
  return 0;
}

static int teardown(void **state)
{
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static char *read_fd(int fd)
{
  static char buf[64];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  assert_true(n >= 0);
  buf[n] = '\0';
  return buf;
}

static void check_inside(void **state)
{
  char path[600];
  char resolved[MVM_PATH_MAX];
  bool inside = false;
  mvm_error err;

  snprintf(path, sizeof path, "%s/in/n.txt", allowed);
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_OK);
  assert_true(inside);
  assert_non_null(strstr(resolved, "/allowed/sub/n.txt"));
}

static void check_outside(void **state)
{
  char path[600];
  char resolved[MVM_PATH_MAX];
  bool inside = true;
  mvm_error err;

  snprintf(path, sizeof path, "%s/out/secret.txt", allowed);
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_OK);
  assert_false(inside);
  assert_non_null(strstr(resolved, "/outside/secret.txt"));
}

static void check_missing_tail_appended(void **state)
{
  char path[600];
  char resolved[MVM_PATH_MAX];
  bool inside = false;
  mvm_error err;

  snprintf(path, sizeof path, "%s/new/./dir//file.txt", allowed);
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_OK);
  assert_true(inside);
  assert_non_null(strstr(resolved, "/allowed/new/dir/file.txt"));
}

/* The kernel cannot step back over "dir", which does not exist, so the
 * path is rejected rather than normalized as text. */
static void check_parent_after_missing(void **state)
{
  char path[600];
  char resolved[MVM_PATH_MAX];
  bool inside = true;
  mvm_error err;

  snprintf(path, sizeof path, "%s/new/dir/../file.txt", allowed);
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_EDENIED);
  assert_false(inside);
  assert_non_null(strstr(err.msg, "'..' after 'dir'"));
}

/* "doc.txt" is a file, so the ".." after it is rejected too. */
static void check_parent_after_file(void **state)
{
  char path[600];
  char resolved[MVM_PATH_MAX];
  bool inside = true;
  mvm_error err;

  snprintf(path, sizeof path, "%s/doc.txt/../doc.txt", allowed);
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_EDENIED);
  assert_false(inside);
  assert_non_null(strstr(err.msg, "'..' after 'doc.txt'"));
}

/* A relative path is taken from the base the policy names, and without
 * one it cannot be checked, because tools differ in what they take it
 * from. */
static void check_relative_needs_base(void **state)
{
  char resolved[MVM_PATH_MAX];
  bool inside = false;
  mvm_error err;

  assert_int_equal(mvm_path_check_under(allowed, "doc.txt", NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_EDENIED);
  assert_non_null(strstr(err.msg, "is not absolute"));
  assert_int_equal(mvm_path_check_under(allowed, "doc.txt", allowed,
                                        resolved, sizeof resolved, &inside,
                                        &err),
                   MVM_OK);
  assert_true(inside);
  assert_int_equal(mvm_path_check_under(allowed, "allowed/doc.txt", root,
                                        resolved, sizeof resolved, &inside,
                                        &err),
                   MVM_OK);
  assert_true(inside);
  /* From the root, "inbox.txt" is not below the allowed directory. */
  assert_int_equal(mvm_path_check_under(allowed, "inbox.txt", root,
                                        resolved, sizeof resolved, &inside,
                                        &err),
                   MVM_OK);
  assert_false(inside);
}

/* Tools expand "~" to a home directory, which the check cannot know. */
static void check_tilde_undecided(void **state)
{
  char resolved[MVM_PATH_MAX];
  bool inside = true;
  mvm_error err;

  assert_int_equal(mvm_path_check_under(allowed, "~/doc.txt", allowed,
                                        resolved, sizeof resolved, &inside,
                                        &err),
                   MVM_EDENIED);
  assert_false(inside);
  assert_non_null(strstr(err.msg, "starts with '~'"));
  assert_int_equal(mvm_path_check_under(allowed, "~", NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_EDENIED);
}

/* "up" links to "deep/er": the kernel resolves "up/../doc.txt" to
 * deep/doc.txt, a tool that normalizes text first to doc.txt. */
static void check_parent_after_link(void **state)
{
  char path[600];
  char resolved[MVM_PATH_MAX];
  bool inside = true;
  mvm_error err;

  dir("allowed/deep");
  dir("allowed/deep/er");
  link_to("deep/er", "allowed/up");
  snprintf(path, sizeof path, "%s/up/../doc.txt", allowed);
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_EDENIED);
  assert_false(inside);
  assert_non_null(strstr(err.msg, "normalizes the path as text"));

  /* Without a link both readings agree. */
  snprintf(path, sizeof path, "%s/sub/../doc.txt", allowed);
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_OK);
  assert_true(inside);
  assert_non_null(strstr(resolved, "/allowed/doc.txt"));
}

/* uni/caf\xc3\xa9 (NFC) exists; the NFD spelling does not, and a tool
 * that looks the name up again after normalizing it would open the NFC
 * entry. An entry that differs only in case counts too. */
static void check_lookalike_undecided(void **state)
{
  char base[400];
  char path[600];
  char resolved[MVM_PATH_MAX];
  bool inside = true;
  mvm_error err;

  dir("uni");
  dir("uni/caf\xc3\xa9");
  dir("uni/empty");
  put("uni/Notes.txt", "n\n");
  snprintf(base, sizeof base, "%s/uni", root);

  snprintf(path, sizeof path, "%s/cafe\xcc\x81/x.txt", base);
  assert_int_equal(mvm_path_check_under(base, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_EDENIED);
  assert_false(inside);
  assert_non_null(strstr(err.msg, "Unicode normalization"));

  /* Any new name in a directory with a non-ASCII entry is undecided. */
  snprintf(path, sizeof path, "%s/new.txt", base);
  assert_int_equal(mvm_path_check_under(base, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_EDENIED);

  /* A non-ASCII name in an empty directory has nothing to match. */
  snprintf(path, sizeof path, "%s/empty/caf\xc3\xa9.txt", base);
  assert_int_equal(mvm_path_check_under(base, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_OK);
  assert_true(inside);

  /* "notes.txt" is missing, "Notes.txt" is there. */
  snprintf(path, sizeof path, "%s/notes.txt", allowed);
  put("allowed/Notes.txt", "n\n");
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_EDENIED);
  assert_non_null(strstr(err.msg, "entry 'Notes.txt'"));
  snprintf(path, sizeof path, "%s/Notes.txt", allowed);
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_OK);
  assert_true(inside);
}

static void check_missing_directory(void **state)
{
  char resolved[MVM_PATH_MAX];
  bool inside = false;
  mvm_error err;

  assert_int_equal(mvm_path_check_under("/nonexistent/dir", "/etc/passwd",
                                        NULL, resolved, sizeof resolved,
                                        &inside, &err),
                   MVM_EDENIED);
  assert_non_null(strstr(err.msg, "directory '/nonexistent/dir' cannot be "
                                  "resolved"));
}

static void open_inside(void **state)
{
  char path[600];
  mvm_error err;
  int fd = -1;

  snprintf(path, sizeof path, "%s/doc.txt", allowed);
  assert_int_equal(mvm_path_open_beneath(allowed, path, O_RDONLY, 0, &fd,
                                         &err),
                   MVM_OK);
  assert_string_equal(read_fd(fd), "inside\n");
  close(fd);

  /* Relative to the directory, through a link that stays inside. */
  assert_int_equal(mvm_path_open_beneath(allowed, "in/n.txt", O_RDONLY, 0,
                                         &fd, &err),
                   MVM_OK);
  assert_string_equal(read_fd(fd), "n\n");
  close(fd);
}

static void open_refuses_escape(void **state)
{
  char path[600];
  mvm_error err;
  int fd = -1;

  snprintf(path, sizeof path, "%s/out/secret.txt", allowed);
  assert_int_equal(mvm_path_open_beneath(allowed, path, O_RDONLY, 0, &fd,
                                         &err),
                   MVM_EDENIED);
  assert_non_null(strstr(err.msg, "leaves directory"));
  assert_int_equal(mvm_path_open_beneath(allowed, "../outside/secret.txt",
                                         O_RDONLY, 0, &fd, &err),
                   MVM_EDENIED);
  assert_int_equal(mvm_path_open_beneath(allowed, "/etc/passwd", O_RDONLY,
                                         0, &fd, &err),
                   MVM_EDENIED);
  assert_int_equal(fd, -1);
}

static void open_creates_inside(void **state)
{
  mvm_error err;
  int fd = -1;

  assert_int_equal(mvm_path_open_beneath(allowed, "sub/created.txt",
                                         O_WRONLY | O_CREAT | O_EXCL, 0600,
                                         &fd, &err),
                   MVM_OK);
  assert_int_equal(write(fd, "x", 1), 1);
  close(fd);
  assert_int_equal(mvm_path_open_beneath(allowed, "nothere/x.txt",
                                         O_RDONLY, 0, &fd, &err),
                   MVM_ENOTFOUND);
}

/* The check passes on a regular file; then the file is replaced by a link
 * to a secret outside. The open-time helper refuses it, so a tool that
 * opens through it cannot be fooled by the swap. */
static void swap_after_check(void **state)
{
  char path[600];
  char secret[600];
  char resolved[MVM_PATH_MAX];
  bool inside = false;
  mvm_error err;
  int fd = -1;

  put("allowed/report.txt", "report\n");
  snprintf(path, sizeof path, "%s/report.txt", allowed);
  snprintf(secret, sizeof secret, "%s/outside/secret.txt", root);
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_OK);
  assert_true(inside);

  assert_int_equal(unlink(path), 0);
  assert_int_equal(symlink(secret, path), 0);

  /* A plain open(2) would now read the secret... */
  fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  assert_string_equal(read_fd(fd), "secret\n");
  close(fd);
  fd = -1;

  /* ...but the open-time check refuses it. */
  assert_int_equal(mvm_path_open_beneath(allowed, path, O_RDONLY, 0, &fd,
                                         &err),
                   MVM_EDENIED);
  assert_int_equal(fd, -1);

  /* A second check would catch it too. */
  assert_int_equal(mvm_path_check_under(allowed, path, NULL, resolved,
                                        sizeof resolved, &inside, &err),
                   MVM_OK);
  assert_false(inside);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(check_inside),
      cmocka_unit_test(check_outside),
      cmocka_unit_test(check_missing_tail_appended),
      cmocka_unit_test(check_parent_after_missing),
      cmocka_unit_test(check_parent_after_file),
      cmocka_unit_test(check_relative_needs_base),
      cmocka_unit_test(check_tilde_undecided),
      cmocka_unit_test(check_parent_after_link),
      cmocka_unit_test(check_lookalike_undecided),
      cmocka_unit_test(check_missing_directory),
      cmocka_unit_test(open_inside),
      cmocka_unit_test(open_refuses_escape),
      cmocka_unit_test(open_creates_inside),
      cmocka_unit_test(swap_after_check),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
