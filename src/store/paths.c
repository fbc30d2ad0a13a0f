/* paths.c - the state directory and the default database paths. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/paths.h"

static int put_path(char *buf, size_t size, const char *a, const char *b,
                    mvm_error *err)
{
  int n = snprintf(buf, size, "%s%s", a, b);
  if (n < 0 || (size_t)n >= size)
    return mvm_error_set(err, MVM_ELIMIT, "store",
                         "state path '%s%s' is longer than %zu bytes; set "
                         "MVM_STATE_DIR to a shorter directory",
                         a, b, size - 1);
  return MVM_OK;
}

static const char *home_dir(void)
{
  const char *home = getenv("HOME");
  if (home != NULL && home[0] != '\0')
    return home;

  struct passwd *pw = getpwuid(getuid());
  if (pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] != '\0')
    return pw->pw_dir;
  return NULL;
}

int mvm_state_dir(char *buf, size_t size, mvm_error *err)
{
  const char *dir = getenv("MVM_STATE_DIR");
  if (dir != NULL && dir[0] != '\0')
    return put_path(buf, size, dir, "", err);

  /* The XDG Base Directory specification requires relative values to be
   * treated as invalid and ignored. */
  const char *xdg = getenv("XDG_STATE_HOME");
  if (xdg != NULL && xdg[0] == '/')
    return put_path(buf, size, xdg, "/mvm", err);

  const char *home = home_dir();
  if (home == NULL)
    return mvm_error_set(err, MVM_ENOTFOUND, "store",
                         "cannot find the state directory: HOME is not set "
                         "and the user has no home directory; set "
                         "MVM_STATE_DIR");
  return put_path(buf, size, home, "/.local/state/mvm", err);
}

static int state_file(const char *name, char *buf, size_t size,
                      mvm_error *err)
{
  char dir[4096];
  int rc = mvm_state_dir(dir, sizeof dir, err);
  if (rc)
    return rc;
  return put_path(buf, size, dir, name, err);
}

int mvm_audit_default_path(char *buf, size_t size, mvm_error *err)
{
  return state_file("/" MVM_AUDIT_FILE_NAME, buf, size, err);
}

int mvm_state_db_default_path(char *buf, size_t size, mvm_error *err)
{
  return state_file("/" MVM_STATE_DB_FILE_NAME, buf, size, err);
}

static int make_one(const char *path, mvm_error *err)
{
  struct stat st;

  if (mkdir(path, 0700) == 0)
    return MVM_OK;
  if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return MVM_OK;
  if (errno == EEXIST)
    return mvm_error_set(err, MVM_EIO, "store",
                         "cannot create directory '%s': a file of that "
                         "name exists",
                         path);
  return mvm_error_set(err, MVM_EIO, "store",
                       "cannot create directory '%s': %s", path,
                       strerror(errno));
}

int mvm_state_dir_create(const char *path, mvm_error *err)
{
  char *copy = strdup(path);
  int rc = MVM_OK;

  if (copy == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "store",
                         "out of memory creating '%s'", path);

  /* Create each parent in turn, skipping the leading slash. */
  for (char *p = copy + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    rc = make_one(copy, err);
    *p = '/';
    if (rc)
      goto out;
  }
  rc = make_one(copy, err);

out:
  free(copy);
  return rc;
}
