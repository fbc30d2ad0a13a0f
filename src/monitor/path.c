/* path.c - resolving paths for `under` constraints, and opening a checked
 * path so that a link swapped in after the check cannot leave the
 * directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "monitor/path.h"

#define MAX_COMPONENTS 512
/* Retries of openat2 when a concurrent rename made the kernel return
 * EAGAIN for RESOLVE_BENEATH. */
#define OPENAT2_RETRIES 8

#define DENY(err, ...) mvm_error_set(err, MVM_EDENIED, "policy", __VA_ARGS__)

/* Returns the component that precedes the first ".." of tail[0..n),
 * taken in reverse push order, or NULL when the tail has no "..". The
 * component is `last`, the final component of the existing prefix, when
 * the ".." comes first. */
static const char *before_parent_step(char **tail, size_t n,
                                      const char *last)
{
  for (size_t i = n; i-- > 0;) {
    if (strcmp(tail[i], "..") == 0)
      return i + 1 < n ? tail[i + 1] : last;
  }
  return NULL;
}

/* Appends the components of tail[0..n) in reverse push order to out,
 * skipping empty and "." components. The tail has no "..". */
static int append_tail(char *out, size_t size, char **tail, size_t n)
{
  for (size_t i = n; i-- > 0;) {
    const char *c = tail[i];
    size_t len = strlen(out);

    if (c[0] == '\0' || strcmp(c, ".") == 0)
      continue;
    if (len + 1 + strlen(c) + 1 > size)
      return -1;
    if (len > 1)
      out[len++] = '/';
    else if (len == 0)
      out[len++] = '/';
    strcpy(out + len, c);
  }
  return 0;
}

static bool has_non_ascii(const char *s)
{
  for (; *s != '\0'; s++) {
    if ((unsigned char)*s >= 0x80)
      return true;
  }
  return false;
}

/* Fails when a tool may open an existing entry of directory `parent` for
 * `name`, which does not exist there. The MCP filesystem server looks such
 * a name up again among the entries equal to it after Unicode NFC
 * normalization, and a server on a case-insensitive file system matches
 * any case. Without a normalization table the check is coarse: a
 * non-ASCII byte in the name or in any entry, or an entry equal to the
 * name but for ASCII case, makes the path undecided. */
static int check_lookalike(const char *full, const char *parent,
                           const char *name, mvm_error *err)
{
  bool wide = has_non_ascii(name);
  DIR *d = opendir(parent);
  const struct dirent *ent;

  if (d == NULL) {
    /* Below a file nothing can be opened, by the kernel or a tool. */
    if (errno == ENOTDIR)
      return MVM_OK;
    return DENY(err, "path '%s' cannot be checked: directory '%s', where "
                     "'%s' would be, cannot be listed: %s", full, parent,
                name, strerror(errno));
  }
  while ((ent = readdir(d)) != NULL) {
    const char *entry = ent->d_name;
    if (strcmp(entry, ".") == 0 || strcmp(entry, "..") == 0)
      continue;
    if (wide || has_non_ascii(entry) || strcasecmp(entry, name) == 0) {
      int rc = DENY(err, "path '%s' cannot be checked: '%s' does not exist "
                         "in '%s', whose entry '%s' a tool may open in its "
                         "place (after Unicode normalization or case "
                         "folding); write the entry's exact name", full,
                    name, parent, entry);
      closedir(d);
      return rc;
    }
  }
  closedir(d);
  return MVM_OK;
}

/* Returns the first component of tail[0..n), taken in reverse push order,
 * that is neither empty nor ".", or NULL. */
static const char *first_missing(char **tail, size_t n)
{
  for (size_t i = n; i-- > 0;) {
    if (tail[i][0] != '\0' && strcmp(tail[i], ".") != 0)
      return tail[i];
  }
  return NULL;
}

/* Resolves the longest existing prefix of the absolute path `full` with
 * realpath(3) and appends the rest lexically. */
static int resolve_existing(const char *full, char *out, size_t size,
                            mvm_error *err)
{
  char buf[MVM_PATH_MAX];
  char names[MVM_PATH_MAX];
  char real[PATH_MAX];
  char *tail[MAX_COMPONENTS];
  size_t ntail = 0;
  struct stat st;

  /* names is a copy of buf in which each stripped component stays
   * readable: buf loses a component's leading slash, names keeps it. */
  snprintf(buf, sizeof buf, "%s", full);
  memcpy(names, buf, sizeof names);
  for (;;) {
    if (realpath(buf, real) != NULL)
      break;
    if (errno == ELOOP)
      return DENY(err, "path '%s' cannot be resolved: '%s' is part of a "
                       "symbolic link loop", full, buf);
    if (errno != ENOENT && errno != ENOTDIR)
      return DENY(err, "path '%s' cannot be resolved: %s", full,
                  strerror(errno));
    /* realpath found nothing, yet lstat finds an entry: a link whose
     * target is missing, which a create would follow anywhere. */
    if (lstat(buf, &st) == 0 && S_ISLNK(st.st_mode))
      return DENY(err, "path '%s' cannot be checked: '%s' is a symbolic "
                       "link whose target does not exist", full, buf);
    char *slash = strrchr(buf, '/');
    if (slash == NULL || ntail == MAX_COMPONENTS)
      return DENY(err, "path '%s' cannot be resolved: too many components",
                  full);
    size_t at = (size_t)(slash - buf);
    tail[ntail++] = names + at + 1;
    names[at] = '\0';
    if (at == 0)
      buf[1] = '\0';
    else
      *slash = '\0';
  }

  /* A ".." after a missing component cannot be resolved the way the
   * kernel would: the kernel fails on the missing component, while a tool
   * that normalizes the path as text (as Node's path.resolve does) steps
   * back and may then follow a link out of the directory. */
  const char *last = strrchr(real, '/');
  const char *before =
      before_parent_step(tail, ntail, last && last[1] ? last + 1 : real);
  if (before != NULL)
    return DENY(err, "path '%s' cannot be checked: it has '..' after '%s', "
                     "which does not exist or is not a directory; remove "
                     "the '..'", full, before);
  const char *missing = first_missing(tail, ntail);
  if (missing != NULL) {
    int rc = check_lookalike(full, real, missing, err);
    if (rc)
      return rc;
  }
  if (strlen(real) >= size)
    return DENY(err, "path '%s' is longer than %zu bytes once resolved",
                full, size - 1);
  strcpy(out, real);
  if (append_tail(out, size, tail, ntail) != 0)
    return DENY(err, "path '%s' is longer than %zu bytes once resolved",
                full, size - 1);
  return MVM_OK;
}

static bool is_below(const char *path, const char *dir)
{
  size_t n = strlen(dir);

  if (strcmp(dir, "/") == 0)
    return path[0] == '/';
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool has_parent_step(const char *path)
{
  for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2) {
    bool starts = p == path || p[-1] == '/';
    bool ends = p[2] == '\0' || p[2] == '/';
    if (starts && ends)
      return true;
  }
  return false;
}

/* Normalizes the absolute path `full` as text, the way Node's path.resolve
 * and Python's os.path.normpath do: empty and "." components go, and ".."
 * removes the component before it. Returns -1 when out is too small. */
static int normalize_text(const char *full, char *out, size_t size)
{
  char buf[MVM_PATH_MAX];
  char *save = NULL;
  size_t len = 0;

  snprintf(buf, sizeof buf, "%s", full);
  out[0] = '\0';
  for (char *c = strtok_r(buf, "/", &save); c != NULL;
       c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0)
      continue;
    if (strcmp(c, "..") == 0) {
      char *slash = strrchr(out, '/');
      len = slash != NULL ? (size_t)(slash - out) : 0;
      out[len] = '\0';
      continue;
    }
    size_t n = strlen(c);
    if (len + 1 + n + 1 > size)
      return -1;
    out[len++] = '/';
    memcpy(out + len, c, n + 1);
    len += n;
  }
  if (len == 0)
    snprintf(out, size, "/");
  return 0;
}

/* Fails when a ".." in `full` names another file when the path is
 * normalized as text first, as tools written in Node do, than when the
 * kernel resolves it to `resolved`. The two differ after a symbolic link:
 * the kernel steps back from the link's target, the text from the link. */
static int check_parent_steps(const char *full, const char *resolved,
                              mvm_error *err)
{
  char text[MVM_PATH_MAX];
  char other[MVM_PATH_MAX];

  if (!has_parent_step(full))
    return MVM_OK;
  if (normalize_text(full, text, sizeof text) != 0)
    return DENY(err, "path '%.200s' is longer than %zu bytes once "
                     "normalized", full, sizeof text - 1);
  int rc = resolve_existing(text, other, sizeof other, err);
  if (rc)
    return rc;
  if (strcmp(other, resolved) != 0)
    return DENY(err, "path '%s' cannot be checked: its '..' leads to '%s' "
                     "for the kernel but to '%s' for a tool that "
                     "normalizes the path as text; remove the '..'", full,
                resolved, other);
  return MVM_OK;
}

int mvm_path_check_under(const char *dir, const char *path,
                         const char *base, char *resolved, size_t size,
                         bool *inside, mvm_error *err)
{
  char rdir[PATH_MAX];
  char rbase[PATH_MAX];
  char full[MVM_PATH_MAX];
  int rc;

  *inside = false;
  if (path[0] == '\0')
    return DENY(err, "the path is empty");
  if (path[0] == '~')
    return DENY(err, "path '%.200s' starts with '~', which a tool may "
                     "expand to a home directory; write the path in full",
                path);
  if (realpath(dir, rdir) == NULL)
    return DENY(err, "directory '%s' cannot be resolved: %s", dir,
                strerror(errno));
  if (path[0] != '/') {
    if (base == NULL)
      return DENY(err, "path '%s' is not absolute, and the check for '%s' "
                       "names no directory that relative paths are taken "
                       "from", path, dir);
    if (realpath(base, rbase) == NULL)
      return DENY(err, "directory '%s', which relative paths are taken "
                       "from, cannot be resolved: %s", base,
                  strerror(errno));
    if ((size_t)snprintf(full, sizeof full, "%s/%s", rbase, path) >=
        sizeof full)
      return DENY(err, "path '%s' is longer than %zu bytes", path,
                  sizeof full - 1);
  } else {
    if (strlen(path) >= sizeof full)
      return DENY(err, "path '%.200s' is longer than %zu bytes", path,
                  sizeof full - 1);
    strcpy(full, path);
  }

  rc = resolve_existing(full, resolved, size, err);
  if (rc == MVM_OK)
    rc = check_parent_steps(full, resolved, err);
  if (rc)
    return rc;
  *inside = is_below(resolved, rdir);
  return MVM_OK;
}

static int open_error(const char *dir, const char *path, int e,
                      mvm_error *err)
{
  if (e == EXDEV || e == ELOOP)
    return mvm_error_set(err, MVM_EDENIED, "policy",
                         "path '%s' leaves directory '%s' at open time "
                         "(through '..' or a symbolic link)", path, dir);
  if (e == ENOENT)
    return mvm_error_set(err, MVM_ENOTFOUND, "policy",
                         "path '%s' does not exist under '%s'", path, dir);
  return mvm_error_set(err, MVM_EIO, "policy", "cannot open '%s' under "
                       "'%s': %s", path, dir, strerror(e));
}

/* The walk for kernels without openat2: every component is opened with
 * O_NOFOLLOW, and ".." is refused, so no link or parent step is taken. */
static int open_walk(int dfd, const char *dir, const char *rel, int flags,
                     unsigned mode, int *fd, mvm_error *err)
{
  char buf[MVM_PATH_MAX];
  char *save = NULL;
  int cur = dup(dfd);

  if (cur < 0)
    return open_error(dir, rel, errno, err);
  snprintf(buf, sizeof buf, "%s", rel);
  char *comp = strtok_r(buf, "/", &save);
  while (comp != NULL) {
    char *next = strtok_r(NULL, "/", &save);
    int nfd;

    if (strcmp(comp, "..") == 0) {
      close(cur);
      return open_error(dir, rel, EXDEV, err);
    }
    if (next == NULL)
      nfd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    else
      nfd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(cur);
    if (nfd < 0)
      return open_error(dir, rel, e == ENOTDIR ? ELOOP : e, err);
    cur = nfd;
    comp = next;
  }
  *fd = cur;
  return MVM_OK;
}

int mvm_path_open_beneath(const char *dir, const char *path, int flags,
                          unsigned mode, int *fd, mvm_error *err)
{
  char rdir[PATH_MAX];
  const char *rel = path;
  int dfd;
  int rc = MVM_OK;

  if (realpath(dir, rdir) == NULL)
    return open_error(dir, path, errno, err);
  if (path[0] == '/') {
    size_t n = strlen(rdir);
    if (!is_below(path, rdir))
      return open_error(dir, path, EXDEV, err);
    rel = strcmp(rdir, "/") == 0 ? path + 1 : path + n;
    while (*rel == '/')
      rel++;
  }
  if (*rel == '\0')
    rel = ".";

  dfd = open(rdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return open_error(dir, path, errno, err);

  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long r = -1;
  for (int i = 0; i < OPENAT2_RETRIES; i++) {
    r = syscall(SYS_openat2, dfd, rel, &how, sizeof how);
    if (r >= 0 || errno != EAGAIN)
      break;
  }
  if (r >= 0) {
    *fd = (int)r;
  } else if (errno == ENOSYS) {
    rc = open_walk(dfd, dir, rel, flags, mode, fd, err);
  } else {
    rc = open_error(dir, path, errno, err);
  }
  close(dfd);
  return rc;
}
