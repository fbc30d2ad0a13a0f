/* builtin_fs.c - read_file, write_file, list_directory and get_file_info
 * beneath configured roots. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "tools/builtin_fs.h"

#define FS_DEFAULT_MAX_READ (1024u * 1024)
#define FS_DEFAULT_MAX_WRITE (1024u * 1024)
#define FS_DEFAULT_MAX_LIST 1000
#define FS_ROOT_NAME_MAX 64

/* Attempts at a fresh temporary name before a write gives up. */
#define FS_TEMP_ATTEMPTS 16

struct fs_root {
  char *name;
  char *path;
  int fd; /* O_PATH directory fd */
  bool read_only;
};

struct fs {
  char *server;
  struct fs_root roots[MVM_BUILTIN_FS_MAX_ROOTS];
  size_t nroots;
  bool no_symlinks;
  mvm_sandbox_resolver resolver;
  size_t max_read;
  size_t max_write;
  size_t max_list;
};

/* One tool call's parsed common arguments. */
struct fs_target {
  const struct fs_root *root;
  const char *path;
};

void mvm_builtin_fs_config_init(mvm_builtin_fs_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->server = "files";
  cfg->resolver = MVM_RESOLVER_AUTO;
  cfg->max_read_bytes = FS_DEFAULT_MAX_READ;
  cfg->max_write_bytes = FS_DEFAULT_MAX_WRITE;
  cfg->max_list_entries = FS_DEFAULT_MAX_LIST;
}

/* ---------------------------------------------------------------- helpers */

/* Builds the isError result for a failed resolution of `path`. */
static json_t *path_error(const struct fs_target *t, int error,
                          bool no_symlinks)
{
  const char *root = t->root->name;

  switch (error) {
  case EXDEV:
    return mvm_sandbox_result_error("denied",
                                    "path '%s' resolves outside root '%s'; "
                                    "use a path inside the root",
                                    t->path, root);
  case ELOOP:
    if (no_symlinks)
      return mvm_sandbox_result_error(
          "denied", "path '%s' in root '%s' crosses a symbolic link, which "
                    "this toolbox does not follow",
          t->path, root);
    return mvm_sandbox_result_error("denied",
                                    "path '%s' in root '%s' is a symbolic "
                                    "link or has too many nested links",
                                    t->path, root);
  case ENOENT:
    return mvm_sandbox_result_error("not_found",
                                    "path '%s' does not exist in root '%s'",
                                    t->path, root);
  case ENOTDIR:
    return mvm_sandbox_result_error("not_found",
                                    "a component of path '%s' in root '%s' "
                                    "is not a directory",
                                    t->path, root);
  case ENAMETOOLONG:
    return mvm_sandbox_result_error("limit",
                                    "path '%s' is longer than %d bytes once "
                                    "its links are expanded",
                                    t->path, MVM_SANDBOX_PATH_MAX);
  case EACCES:
  case EPERM:
    return mvm_sandbox_result_error("denied",
                                    "permission denied for path '%s' in "
                                    "root '%s'",
                                    t->path, root);
  default:
    return mvm_sandbox_result_error("io", "cannot open path '%s' in root "
                                          "'%s': %s",
                                    t->path, root, strerror(error));
  }
}

/* Reads the "root" and "path" arguments into t. Returns NULL, or the
 * isError result to return. */
static json_t *parse_target(const struct fs *fs, const json_t *args,
                            bool path_required, struct fs_target *t)
{
  const json_t *root = json_object_get(args, "root");
  const json_t *path = json_object_get(args, "path");

  t->root = &fs->roots[0];
  if (root != NULL) {
    const char *name = json_string_value(root);
    size_t i = 0;
    while (name != NULL && i < fs->nroots &&
           strcmp(fs->roots[i].name, name) != 0)
      i++;
    if (name == NULL || i == fs->nroots)
      return mvm_sandbox_result_error(
          "invalid_argument", "root '%s' is not configured; use one of the "
                              "names in the tool's inputSchema",
          name ? name : "(not a string)");
    t->root = &fs->roots[i];
  }

  t->path = ".";
  if (path == NULL && !path_required)
    return NULL;
  if (!json_is_string(path))
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument 'path' must be a string");
  t->path = json_string_value(path);
  if (json_string_length(path) != strlen(t->path))
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument 'path' contains a NUL byte");
  if (strlen(t->path) > MVM_SANDBOX_PATH_MAX)
    return mvm_sandbox_result_error("limit",
                                    "argument 'path' is longer than %d "
                                    "bytes",
                                    MVM_SANDBOX_PATH_MAX);
  if (t->path[0] == '/')
    return mvm_sandbox_result_error("denied",
                                    "path '%s' is absolute; paths are "
                                    "relative to root '%s'",
                                    t->path, t->root->name);
  if (t->path[0] == '\0')
    t->path = ".";
  return NULL;
}

/* Opens the target; on failure *result gets the isError result. */
static int open_target(const struct fs *fs, const struct fs_target *t,
                       int flags, json_t **result)
{
  int fd = mvm_sandbox_open_beneath(t->root->fd, t->path, flags,
                                    fs->no_symlinks, fs->resolver);
  if (fd < 0) {
    mvm_trace(MVM_TRACE_TOOL, "files: open '%s' in root '%s' failed: %s",
              t->path, t->root->name, strerror(-fd));
    *result = path_error(t, -fd, fs->no_symlinks);
  }
  return fd;
}

/* Reads an optional non-negative integer argument. */
static json_t *get_size_arg(const json_t *args, const char *name,
                            size_t *value, bool *present)
{
  const json_t *v = json_object_get(args, name);

  *present = v != NULL;
  if (v == NULL)
    return NULL;
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument '%s' must be a non-negative "
                                    "integer",
                                    name);
  *value = (size_t)json_integer_value(v);
  return NULL;
}

static const char *type_name(mode_t mode)
{
  if (S_ISREG(mode))
    return "file";
  if (S_ISDIR(mode))
    return "directory";
  if (S_ISLNK(mode))
    return "symlink";
  return "other";
}

/* ---------------------------------------------------------------- read */

/* Reads want bytes from offset (want 0 up to max + 1 to detect growth). */
static int read_range(int fd, size_t offset, size_t want, mvm_buf *buf)
{
  char chunk[65536];

  while (buf->len < want) {
    size_t n = want - buf->len;
    if (n > sizeof chunk)
      n = sizeof chunk;
    ssize_t got = pread(fd, chunk, n, (off_t)(offset + buf->len));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return -errno;
    if (got == 0)
      break;
    if (mvm_buf_append(buf, chunk, (size_t)got))
      return -ENOMEM;
  }
  return 0;
}

static json_t *read_result(const struct fs_target *t, const mvm_buf *buf,
                           const struct stat *st, size_t offset, bool base64)
{
  size_t replaced = 0;
  json_t *content =
      base64 ? mvm_sandbox_json_base64((const unsigned char *)buf->data,
                                       buf->len)
             : mvm_sandbox_json_text(buf->data ? buf->data : "", buf->len,
                                     &replaced);
  if (content == NULL)
    return NULL;

  json_t *structured = json_pack(
      "{sssssIsIsIsssI}", "root", t->root->name, "path", t->path, "size",
      (json_int_t)st->st_size, "offset", (json_int_t)offset, "bytes",
      (json_int_t)buf->len, "encoding", base64 ? "base64" : "text",
      "replaced_bytes", (json_int_t)replaced);
  if (structured == NULL) {
    json_decref(content);
    return NULL;
  }
  json_t *result =
      mvm_sandbox_result(json_string_value(content), structured, false);
  json_decref(content);
  return result;
}

static json_t *tool_read_file(struct fs *fs, const json_t *args)
{
  static const char *const known[] = {"root", "path", "offset", "length",
                                      "encoding", NULL};
  struct fs_target t;
  size_t offset = 0;
  size_t length = 0;
  bool has_offset;
  bool has_length;
  json_t *result = mvm_sandbox_check_args(args, known);

  if (result == NULL)
    result = parse_target(fs, args, true, &t);
  if (result == NULL)
    result = get_size_arg(args, "offset", &offset, &has_offset);
  if (result == NULL)
    result = get_size_arg(args, "length", &length, &has_length);
  if (result != NULL)
    return result;

  const char *encoding = json_string_value(json_object_get(args, "encoding"));
  if (json_object_get(args, "encoding") != NULL &&
      (encoding == NULL ||
       (strcmp(encoding, "text") != 0 && strcmp(encoding, "base64") != 0)))
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument 'encoding' must be \"text\" "
                                    "or \"base64\"");
  bool base64 = encoding != NULL && strcmp(encoding, "base64") == 0;

  if (has_length && length > fs->max_read)
    return mvm_sandbox_result_error("limit",
                                    "length %zu is larger than the read "
                                    "limit of %zu bytes",
                                    length, fs->max_read);

  int fd = open_target(fs, &t, O_RDONLY | O_NOCTTY | O_NONBLOCK, &result);
  if (fd < 0)
    return result;

  struct stat st;
  mvm_buf buf;
  mvm_buf_init(&buf, 0);
  if (fstat(fd, &st) < 0) {
    result = mvm_sandbox_result_error("io", "cannot stat '%s': %s", t.path,
                                      strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    result = mvm_sandbox_result_error(
        "invalid_argument", "path '%s' in root '%s' is a %s, not a file%s",
        t.path, t.root->name, type_name(st.st_mode),
        S_ISDIR(st.st_mode) ? "; use list_directory" : "");
    goto out;
  }

  /* Without a length, read one byte past the limit to catch a file that
   * is too large or grew since fstat. */
  size_t want = has_length ? length : fs->max_read + 1;
  int rc = read_range(fd, offset, want, &buf);
  if (rc < 0) {
    result = mvm_sandbox_result_error("io", "reading '%s' failed: %s",
                                      t.path, strerror(-rc));
    goto out;
  }
  if (!has_length && buf.len > fs->max_read) {
    result = mvm_sandbox_result_error(
        "limit", "file '%s' has %lld bytes from offset %zu, more than the "
                 "read limit of %zu; pass offset and length to read a part",
        t.path, (long long)st.st_size - (long long)offset, offset,
        fs->max_read);
    goto out;
  }
  result = read_result(&t, &buf, &st, offset, base64);

out:
  mvm_buf_free(&buf);
  close(fd);
  return result;
}

/* ---------------------------------------------------------------- write */

/* Splits path into its directory part (in dir) and its last component.
 * Returns NULL or the isError result. */
static json_t *split_path(const struct fs_target *t, char *dir,
                          size_t dir_size, const char **name)
{
  const char *slash = strrchr(t->path, '/');
  const char *last = slash ? slash + 1 : t->path;

  if (last[0] == '\0' || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
    return mvm_sandbox_result_error("invalid_argument",
                                    "path '%s' does not name a file",
                                    t->path);
  if (strlen(last) > NAME_MAX)
    return mvm_sandbox_result_error("limit",
                                    "file name in '%s' is longer than %d "
                                    "bytes",
                                    t->path, NAME_MAX);
  size_t len = slash ? (size_t)(slash - t->path) : 0;
  if (len == 0)
    snprintf(dir, dir_size, "%s", slash ? "/" : ".");
  else
    snprintf(dir, dir_size, "%.*s", (int)len, t->path);
  *name = last;
  return NULL;
}

/* Creates a fresh temporary file in dirfd, named into tmp. */
static int create_temp(int dirfd, char *tmp, size_t size, mode_t mode)
{
  for (int i = 0; i < FS_TEMP_ATTEMPTS; i++) {
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
      return -EIO;
    snprintf(tmp, size, ".mvm-write-%02x%02x%02x%02x%02x%02x%02x%02x",
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    int fd = openat(dirfd, tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    mode);
    if (fd >= 0 || errno != EEXIST)
      return fd >= 0 ? fd : -errno;
  }
  return -EEXIST;
}

static int write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Writes data to a temporary file in dirfd and renames it to name.
 * Returns 0 or a negative errno; the temporary file never survives a
 * failure. */
static int replace_file(int dirfd, const char *name, const char *data,
                        size_t len, bool overwrite)
{
  char tmp[64];
  struct stat st;
  mode_t mode = 0644;

  /* Keep the mode of a regular file being replaced. */
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(st.st_mode))
    mode = st.st_mode & 07777;

  int fd = create_temp(dirfd, tmp, sizeof tmp, mode);
  if (fd < 0)
    return fd;

  int rc = write_all(fd, data, len);
  if (rc == 0 && fchmod(fd, mode) < 0)
    rc = -errno;
  if (rc == 0 && fsync(fd) < 0)
    rc = -errno;
  if (close(fd) < 0 && rc == 0)
    rc = -errno;
  if (rc == 0) {
    /* A symbolic link at `name` is replaced, never followed. */
    int r = overwrite ? renameat(dirfd, tmp, dirfd, name)
                      : renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);
    if (r < 0)
      rc = -errno;
  }
  if (rc != 0) {
    unlinkat(dirfd, tmp, 0);
    return rc;
  }

  /* Make the rename durable; a failure here loses no data. */
  int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

static json_t *write_error(const struct fs_target *t, int error)
{
  switch (error) {
  case EEXIST:
    return mvm_sandbox_result_error("denied",
                                    "file '%s' already exists in root '%s' "
                                    "and overwrite is false",
                                    t->path, t->root->name);
  case EISDIR:
  case ENOTEMPTY:
    return mvm_sandbox_result_error("invalid_argument",
                                    "path '%s' in root '%s' is a directory",
                                    t->path, t->root->name);
  case EFBIG:
  case ENOSPC:
  case EDQUOT:
    return mvm_sandbox_result_error("limit",
                                    "writing '%s' in root '%s' failed: %s; "
                                    "the file was left unchanged",
                                    t->path, t->root->name, strerror(error));
  default:
    return mvm_sandbox_result_error("io",
                                    "writing '%s' in root '%s' failed: %s; "
                                    "the file was left unchanged",
                                    t->path, t->root->name, strerror(error));
  }
}

static json_t *tool_write_file(struct fs *fs, const json_t *args)
{
  static const char *const known[] = {"root", "path", "content",
                                      "overwrite", NULL};
  struct fs_target t;
  json_t *result = mvm_sandbox_check_args(args, known);

  if (result == NULL)
    result = parse_target(fs, args, true, &t);
  if (result != NULL)
    return result;

  const json_t *content = json_object_get(args, "content");
  const json_t *overwrite = json_object_get(args, "overwrite");
  if (!json_is_string(content))
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument 'content' must be a string");
  if (overwrite != NULL && !json_is_boolean(overwrite))
    return mvm_sandbox_result_error("invalid_argument",
                                    "argument 'overwrite' must be a boolean");
  if (t.root->read_only)
    return mvm_sandbox_result_error("denied", "root '%s' is read-only",
                                    t.root->name);
  size_t len = json_string_length(content);
  if (len > fs->max_write)
    return mvm_sandbox_result_error("limit",
                                    "content has %zu bytes, more than the "
                                    "write limit of %zu",
                                    len, fs->max_write);

  char dir[MVM_SANDBOX_PATH_MAX + 1];
  const char *name = NULL;
  result = split_path(&t, dir, sizeof dir, &name);
  if (result != NULL)
    return result;

  struct fs_target parent = {t.root, dir};
  int dirfd = open_target(fs, &parent, O_PATH | O_DIRECTORY, &result);
  if (dirfd < 0)
    return result;

  int rc = replace_file(dirfd, name, json_string_value(content), len,
                        overwrite == NULL || json_is_true(overwrite));
  close(dirfd);
  if (rc < 0) {
    mvm_trace(MVM_TRACE_TOOL, "files: write '%s' failed: %s", t.path,
              strerror(-rc));
    return write_error(&t, -rc);
  }

  char text[MVM_SANDBOX_PATH_MAX + 128];
  snprintf(text, sizeof text, "wrote %zu bytes to '%s' in root '%s'", len,
           t.path, t.root->name);
  json_t *structured = json_pack("{sssssI}", "root", t.root->name, "path",
                                 t.path, "bytes", (json_int_t)len);
  if (structured == NULL)
    return NULL;
  return mvm_sandbox_result(text, structured, false);
}

/* ---------------------------------------------------------------- list */

static int compare_names(const void *a, const void *b)
{
  const json_t *x = *(json_t *const *)a;
  const json_t *y = *(json_t *const *)b;
  return strcmp(json_string_value(json_object_get(x, "name")),
                json_string_value(json_object_get(y, "name")));
}

/* Builds one entry {"name", "type", "size"} from an lstat of the name. */
static json_t *list_entry(int dirfd, const char *name)
{
  struct stat st;
  json_t *jname = mvm_sandbox_json_text(name, strlen(name), NULL);

  if (jname == NULL)
    return NULL;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return json_pack("{soss}", "name", jname, "type", "unknown");
  return json_pack("{sosssI}", "name", jname, "type", type_name(st.st_mode),
                   "size", (json_int_t)st.st_size);
}

/* Reads up to max entries into a sorted array. */
static int list_read(int fd, size_t max, json_t *entries, bool *truncated)
{
  int dup_fd = dup(fd);
  if (dup_fd < 0)
    return -errno;
  DIR *dir = fdopendir(dup_fd);
  if (dir == NULL) {
    int error = errno;
    close(dup_fd);
    return -error;
  }

  struct dirent *de;
  int rc = 0;
  *truncated = false;
  errno = 0;
  while ((de = readdir(dir)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (json_array_size(entries) >= max) {
      *truncated = true;
      break;
    }
    if (json_array_append_new(entries, list_entry(fd, de->d_name)) < 0) {
      rc = -ENOMEM;
      break;
    }
    errno = 0;
  }
  if (de == NULL && errno != 0)
    rc = -errno;
  closedir(dir);
  return rc;
}

static json_t *list_result(const struct fs_target *t, json_t *entries,
                           bool truncated)
{
  size_t n = json_array_size(entries);
  json_t **items = malloc((n ? n : 1) * sizeof *items);
  mvm_buf text;
  json_t *result = NULL;

  if (items == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    items[i] = json_incref(json_array_get(entries, i));
  qsort(items, n, sizeof *items, compare_names);
  json_array_clear(entries);

  mvm_buf_init(&text, 0);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    const json_t *e = items[i];
    rc = rc ? rc
            : mvm_buf_printf(&text, "[%s] %s\n",
                             json_string_value(json_object_get(e, "type")),
                             json_string_value(json_object_get(e, "name")));
    if (json_array_append_new(entries, items[i]) < 0)
      rc = MVM_ENOMEM;
  }
  if (rc == 0 && truncated)
    rc = mvm_buf_printf(&text, "(listing cut at %zu entries)\n", n);
  if (rc == 0 && n == 0)
    rc = mvm_buf_append_str(&text, "(empty directory)\n");
  free(items);
  if (rc)
    goto out;

  json_t *structured = json_pack("{sssssOsb}", "root", t->root->name, "path",
                                 t->path, "entries", entries, "truncated",
                                 truncated);
  if (structured != NULL)
    result = mvm_sandbox_result(text.data, structured, false);

out:
  mvm_buf_free(&text);
  return result;
}

static json_t *tool_list_directory(struct fs *fs, const json_t *args)
{
  static const char *const known[] = {"root", "path", NULL};
  struct fs_target t;
  bool truncated = false;
  json_t *result = mvm_sandbox_check_args(args, known);

  if (result == NULL)
    result = parse_target(fs, args, false, &t);
  if (result != NULL)
    return result;

  int fd = open_target(fs, &t, O_RDONLY | O_DIRECTORY, &result);
  if (fd < 0)
    return result;

  json_t *entries = json_array();
  int rc = entries ? list_read(fd, fs->max_list, entries, &truncated)
                   : -ENOMEM;
  close(fd);
  if (rc == -ENOMEM)
    result = NULL;
  else if (rc < 0)
    result = mvm_sandbox_result_error("io", "listing '%s' failed: %s",
                                      t.path, strerror(-rc));
  else
    result = list_result(&t, entries, truncated);
  json_decref(entries);
  return result;
}

/* ---------------------------------------------------------------- info */

static json_t *tool_get_file_info(struct fs *fs, const json_t *args)
{
  static const char *const known[] = {"root", "path", NULL};
  struct fs_target t;
  json_t *result = mvm_sandbox_check_args(args, known);

  if (result == NULL)
    result = parse_target(fs, args, true, &t);
  if (result != NULL)
    return result;

  /* O_NOFOLLOW reports a final symbolic link itself. */
  int fd = open_target(fs, &t, O_PATH | O_NOFOLLOW, &result);
  if (fd < 0)
    return result;

  struct stat st;
  if (fstat(fd, &st) < 0) {
    result = mvm_sandbox_result_error("io", "cannot stat '%s': %s", t.path,
                                      strerror(errno));
    close(fd);
    return result;
  }

  char mtime[32];
  char mode[8];
  struct tm tm;
  gmtime_r(&st.st_mtime, &tm);
  strftime(mtime, sizeof mtime, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(mode, sizeof mode, "%04o", (unsigned)(st.st_mode & 07777));

  json_t *structured = json_pack(
      "{sssssssIssss}", "root", t.root->name, "path", t.path, "type",
      type_name(st.st_mode), "size", (json_int_t)st.st_size, "mode", mode,
      "modified", mtime);
  if (structured != NULL && S_ISLNK(st.st_mode)) {
    char target[MVM_SANDBOX_PATH_MAX + 1];
    ssize_t n = readlinkat(fd, "", target, sizeof target - 1);
    if (n >= 0)
      json_object_set_new(structured, "target",
                          mvm_sandbox_json_text(target, (size_t)n, NULL));
  }
  close(fd);
  if (structured == NULL)
    return NULL;

  char text[MVM_SANDBOX_PATH_MAX + 128];
  snprintf(text, sizeof text, "%s '%s': %s, %lld bytes, mode %s, modified %s",
           t.root->name, t.path, type_name(st.st_mode),
           (long long)st.st_size, mode, mtime);
  return mvm_sandbox_result(text, structured, false);
}

/* ---------------------------------------------------------------- toolbox */

static const char *const tool_schemas[] = {
    "{\"name\": \"read_file\", \"description\": \"Read a file under a "
    "configured root. Paths are relative to the root; '..' and symbolic "
    "links cannot leave it.\", \"inputSchema\": {\"type\": \"object\", "
    "\"properties\": {\"path\": {\"type\": \"string\", \"description\": "
    "\"file path relative to the root\"}, \"root\": {\"type\": \"string\"}, "
    "\"offset\": {\"type\": \"integer\", \"minimum\": 0, \"description\": "
    "\"first byte to read\"}, \"length\": {\"type\": \"integer\", "
    "\"minimum\": 0, \"description\": \"bytes to read\"}, \"encoding\": "
    "{\"enum\": [\"text\", \"base64\"], \"description\": \"text replaces "
    "invalid UTF-8 with U+FFFD\"}}, \"required\": [\"path\"], "
    "\"additionalProperties\": false}, \"annotations\": {\"readOnlyHint\": "
    "true, \"openWorldHint\": false}}",
    "{\"name\": \"write_file\", \"description\": \"Create or replace a file "
    "under a configured root. The new content appears at once or not at "
    "all.\", \"inputSchema\": {\"type\": \"object\", \"properties\": "
    "{\"path\": {\"type\": \"string\", \"description\": \"file path relative "
    "to the root; its directory must exist\"}, \"root\": {\"type\": "
    "\"string\"}, \"content\": {\"type\": \"string\"}, \"overwrite\": "
    "{\"type\": \"boolean\", \"description\": \"replace an existing file "
    "(default true)\"}}, \"required\": [\"path\", \"content\"], "
    "\"additionalProperties\": false}, \"annotations\": {\"readOnlyHint\": "
    "false, \"destructiveHint\": true, \"idempotentHint\": true, "
    "\"openWorldHint\": false}}",
    "{\"name\": \"list_directory\", \"description\": \"List the entries of a "
    "directory under a configured root, sorted by name.\", \"inputSchema\": "
    "{\"type\": \"object\", \"properties\": {\"path\": {\"type\": "
    "\"string\", \"description\": \"directory path relative to the root "
    "(default: the root)\"}, \"root\": {\"type\": \"string\"}}, "
    "\"additionalProperties\": false}, \"annotations\": {\"readOnlyHint\": "
    "true, \"openWorldHint\": false}}",
    "{\"name\": \"get_file_info\", \"description\": \"Return the type, size, "
    "mode and modification time of a path under a configured root, without "
    "following a final symbolic link.\", \"inputSchema\": {\"type\": "
    "\"object\", \"properties\": {\"path\": {\"type\": \"string\"}, "
    "\"root\": {\"type\": \"string\"}}, \"required\": [\"path\"], "
    "\"additionalProperties\": false}, \"annotations\": {\"readOnlyHint\": "
    "true, \"openWorldHint\": false}}",
};

/* Parses a descriptor and lists the root names as the "root" enum. */
static json_t *tool_descriptor(const struct fs *fs, const char *schema)
{
  json_t *tool = json_loads(schema, 0, NULL);
  json_t *names = json_array();

  if (tool == NULL || names == NULL)
    goto fail;
  for (size_t i = 0; i < fs->nroots; i++) {
    if (json_array_append_new(names, json_string(fs->roots[i].name)) < 0)
      goto fail;
  }
  json_t *root = json_object_get(
      json_object_get(json_object_get(tool, "inputSchema"), "properties"),
      "root");
  if (json_object_set_new(root, "enum", names) < 0) {
    names = NULL;
    goto fail;
  }
  return tool;

fail:
  json_decref(names);
  json_decref(tool);
  return NULL;
}

static int fs_list(void *self, json_t **tools, mvm_error *err)
{
  struct fs *fs = self;
  json_t *list = json_array();

  for (size_t i = 0; list != NULL && i < sizeof tool_schemas /
                                             sizeof tool_schemas[0];
       i++) {
    if (json_array_append_new(list, tool_descriptor(fs, tool_schemas[i])) <
        0) {
      json_decref(list);
      list = NULL;
    }
  }
  if (list == NULL)
    return mvm_error_set(err, MVM_ENOMEM, fs->server,
                         "out of memory listing the file tools");
  *tools = list;
  return MVM_OK;
}

static int fs_call(void *self, const char *name, const json_t *args,
                   const mvm_tool_call_opts *opts, json_t **result,
                   mvm_error *err)
{
  struct fs *fs = self;
  json_t *out;

  if (strcmp(name, "read_file") == 0)
    out = tool_read_file(fs, args);
  else if (strcmp(name, "write_file") == 0)
    out = tool_write_file(fs, args);
  else if (strcmp(name, "list_directory") == 0)
    out = tool_list_directory(fs, args);
  else if (strcmp(name, "get_file_info") == 0)
    out = tool_get_file_info(fs, args);
  else
    return mvm_error_set(err, MVM_ENOTFOUND, fs->server,
                         "no tool '%s' in '%s'; the tools are read_file, "
                         "write_file, list_directory and get_file_info",
                         name, fs->server);

  if (out == NULL)
    return mvm_error_set(err, MVM_ENOMEM, fs->server,
                         "out of memory building the result of '%s'", name);
  *result = out;
  return MVM_OK;
}

static void fs_close(void *self)
{
  struct fs *fs = self;

  if (fs == NULL)
    return;
  for (size_t i = 0; i < fs->nroots; i++) {
    if (fs->roots[i].fd >= 0)
      close(fs->roots[i].fd);
    free(fs->roots[i].name);
    free(fs->roots[i].path);
  }
  free(fs->server);
  free(fs);
}

static const mvm_tool_ops fs_ops = {
    .kind = "builtin",
    .list = fs_list,
    .call = fs_call,
    .close = fs_close,
};

static bool valid_root_name(const char *name)
{
  size_t len = name ? strlen(name) : 0;

  if (len == 0 || len > FS_ROOT_NAME_MAX)
    return false;
  return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789_.-") == len;
}

static int open_root(struct fs *fs, const mvm_builtin_fs_root *r,
                     mvm_error *err)
{
  struct fs_root *root = &fs->roots[fs->nroots];

  if (!valid_root_name(r->name))
    return mvm_error_set(err, MVM_ECONFIG, "files",
                         "root name '%s' is invalid; use 1 to %d letters, "
                         "digits, '_', '.' or '-'",
                         r->name ? r->name : "(null)", FS_ROOT_NAME_MAX);
  for (size_t i = 0; i < fs->nroots; i++) {
    if (strcmp(fs->roots[i].name, r->name) == 0)
      return mvm_error_set(err, MVM_ECONFIG, "files",
                           "root name '%s' is used twice; give each root "
                           "its own name",
                           r->name);
  }
  if (r->path == NULL)
    return mvm_error_set(err, MVM_ECONFIG, "files",
                         "root '%s' has no path", r->name);

  int fd = open(r->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return mvm_error_set(err, MVM_ECONFIG, "files",
                         "root '%s': cannot open directory '%s': %s",
                         r->name, r->path, strerror(errno));
  root->fd = fd;
  root->read_only = r->read_only;
  root->name = strdup(r->name);
  root->path = strdup(r->path);
  fs->nroots++;
  if (root->name == NULL || root->path == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "files",
                         "out of memory opening root '%s'", r->name);
  return MVM_OK;
}

int mvm_builtin_fs_new(const mvm_builtin_fs_config *cfg, mvm_toolbox *out,
                       mvm_error *err)
{
  int rc;

  if (cfg->nroots == 0 || cfg->nroots > MVM_BUILTIN_FS_MAX_ROOTS)
    return mvm_error_set(err, MVM_ECONFIG, "files",
                         "the file tools need 1 to %d roots, not %zu",
                         MVM_BUILTIN_FS_MAX_ROOTS, cfg->nroots);
  if (cfg->max_read_bytes == 0 || cfg->max_write_bytes == 0 ||
      cfg->max_list_entries == 0)
    return mvm_error_set(err, MVM_ECONFIG, "files",
                         "the read, write and list limits must be above 0; "
                         "start from mvm_builtin_fs_config_init");

  struct fs *fs = calloc(1, sizeof *fs);
  if (fs == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "files",
                         "out of memory creating the file tools");
  fs->server = strdup(cfg->server ? cfg->server : "files");
  fs->no_symlinks = cfg->no_symlinks;
  fs->resolver = cfg->resolver;
  fs->max_read = cfg->max_read_bytes;
  fs->max_write = cfg->max_write_bytes;
  fs->max_list = cfg->max_list_entries;
  if (fs->server == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "files",
                       "out of memory creating the file tools");
    goto fail;
  }

  for (size_t i = 0; i < cfg->nroots; i++) {
    rc = open_root(fs, &cfg->roots[i], err);
    if (rc)
      goto fail;
  }

  mvm_trace(MVM_TRACE_TOOL, "files: %zu roots, first '%s' at '%s'",
            fs->nroots, fs->roots[0].name, fs->roots[0].path);
  out->server = fs->server;
  out->ops = &fs_ops;
  out->self = fs;
  return MVM_OK;

fail:
  fs_close(fs);
  return rc;
}
