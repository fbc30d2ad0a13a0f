/* test_paths.c - the state directory and default database paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "mvm.h"
#include "store/paths.h"
#include "store_support.h"

static void clear_env(void)
{
  unsetenv("MVM_STATE_DIR");
  unsetenv("XDG_STATE_HOME");
}

static int setup(void **state)
{
  clear_env();
  setenv("HOME", "/home/tester", 1);
  return 0;
}

static const char *state_dir(void)
{
  static char buf[4096];
  mvm_error err;
  int rc = mvm_state_dir(buf, sizeof buf, &err);
  if (rc)
    fail_msg("state dir: %s", err.msg);
  return buf;
}

static void paths_env_override(void **state)
{
  setenv("MVM_STATE_DIR", "/srv/mvm-state", 1);
  setenv("XDG_STATE_HOME", "/home/tester/.state", 1);
  assert_string_equal(state_dir(), "/srv/mvm-state");
}

static void paths_empty_env_ignored(void **state)
{
  setenv("MVM_STATE_DIR", "", 1);
  assert_string_equal(state_dir(), "/home/tester/.local/state/mvm");
}

static void paths_xdg_state_home(void **state)
{
  setenv("XDG_STATE_HOME", "/home/tester/.state", 1);
  assert_string_equal(state_dir(), "/home/tester/.state/mvm");
}

static void paths_relative_xdg_ignored(void **state)
{
  setenv("XDG_STATE_HOME", "relative/state", 1);
  assert_string_equal(state_dir(), "/home/tester/.local/state/mvm");
}

static void paths_default_files(void **state)
{
  char buf[4096];
  mvm_error err;

  setenv("MVM_STATE_DIR", "/srv/s", 1);
  assert_int_equal(mvm_audit_default_path(buf, sizeof buf, &err), MVM_OK);
  assert_string_equal(buf, "/srv/s/audit.db");
  assert_int_equal(mvm_state_db_default_path(buf, sizeof buf, &err), MVM_OK);
  assert_string_equal(buf, "/srv/s/state.db");
}

static void paths_too_long(void **state)
{
  char buf[16];
  mvm_error err;

  setenv("MVM_STATE_DIR", "/a/rather/long/state/directory", 1);
  assert_int_equal(mvm_state_dir(buf, sizeof buf, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "MVM_STATE_DIR"));
  setenv("MVM_STATE_DIR", "/srv/abcdef", 1);
  assert_int_equal(mvm_audit_default_path(buf, sizeof buf, &err), MVM_ELIMIT);
}

static void paths_create_nested(void **state)
{
  char dir[256];
  char nested[512];
  char file[600];
  struct stat st;
  mvm_error err;

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  snprintf(nested, sizeof nested, "%s/a/b/c", dir);
  assert_int_equal(mvm_state_dir_create(nested, &err), MVM_OK);
  assert_int_equal(stat(nested, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0700);
  /* Again: nothing to do. */
  assert_int_equal(mvm_state_dir_create(nested, &err), MVM_OK);

  snprintf(file, sizeof file, "%s/plain", dir);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fclose(f);
  snprintf(nested, sizeof nested, "%s/plain/sub", dir);
  assert_int_equal(mvm_state_dir_create(nested, &err), MVM_EIO);
  assert_non_null(strstr(err.msg, "a file of that name exists"));
  store_test_rmtree(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(paths_env_override, setup),
      cmocka_unit_test_setup(paths_empty_env_ignored, setup),
      cmocka_unit_test_setup(paths_xdg_state_home, setup),
      cmocka_unit_test_setup(paths_relative_xdg_ignored, setup),
      cmocka_unit_test_setup(paths_default_files, setup),
      cmocka_unit_test_setup(paths_too_long, setup),
      cmocka_unit_test_setup(paths_create_nested, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
