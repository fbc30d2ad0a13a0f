/* demo.c - lays out the embedded demo in the state directory. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "runtime/demo.h"
#include "runtime/embedded.h"
#include "store/paths.h"

#define WORKSPACE_MARK "@WORKSPACE@"
#define FS_SERVER "@modelcontextprotocol/server-filesystem/dist/index.js"

static const char *const workspace_files[] = {
    "inbox/01-standup-notes.txt",
    "inbox/02-invoice-1043.txt",
    "inbox/03-newsletter.txt",
    "private/credentials.txt",
    NULL,
};

int mvm_demo_node_path(const char *package_file, char *buf, size_t size,
                       mvm_error *err)
{
  const char *dir = getenv("MVM_NODE_DIR");
  if (dir == NULL || dir[0] == '\0')
    dir = MVM_NODE_DIR_DEFAULT;

  int n = snprintf(buf, size, "%s/node_modules/%s", dir, package_file);
  if (n < 0 || (size_t)n >= size)
    return mvm_error_set(err, MVM_ELIMIT, "demo", "path too long: %s", dir);
  if (access(buf, R_OK) != 0)
    return mvm_error_set(err, MVM_ENOTFOUND, "demo",
                         "'%s' is not installed; run scripts/deps.sh, or set "
                         "MVM_NODE_DIR to the folder holding node_modules",
                         buf);
  return MVM_OK;
}

/* Writes data to path through a temporary file and a rename, so a reader
 * never sees a partial file. */
static int write_file(const char *path, const char *data, size_t len,
                      mvm_error *err)
{
  char tmp[MVM_DEMO_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);

  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return mvm_error_set(err, MVM_EIO, "demo", "cannot create '%s': %s", tmp,
                         strerror(errno));

  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      int e = errno;
      close(fd);
      unlink(tmp);
      return mvm_error_set(err, MVM_EIO, "demo", "cannot write '%s': %s",
                           tmp, strerror(e));
    }
    off += (size_t)w;
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return mvm_error_set(err, MVM_EIO, "demo", "cannot write '%s': %s", path,
                         strerror(e));
  }
  return MVM_OK;
}

/* Copies an embedded file to path, replacing each WORKSPACE_MARK with the
 * workspace path. */
static int install(const char *embedded, const char *path,
                   const char *workspace, mvm_error *err)
{
  const mvm_embedded_file *f = mvm_embedded_find(embedded);
  if (f == NULL)
    return mvm_error_set(err, MVM_ENOTFOUND, "demo",
                         "'%s' is not built into this binary", embedded);

  mvm_buf out;
  mvm_buf_init(&out, 0);
  const char *p = f->data;
  const char *mark;
  int rc = MVM_OK;

  while (rc == MVM_OK && (mark = strstr(p, WORKSPACE_MARK)) != NULL) {
    rc = mvm_buf_append(&out, p, (size_t)(mark - p));
    if (rc == MVM_OK)
      rc = mvm_buf_append_str(&out, workspace);
    p = mark + strlen(WORKSPACE_MARK);
  }
  if (rc == MVM_OK)
    rc = mvm_buf_append_str(&out, p);
  if (rc)
    rc = mvm_error_set(err, rc, "demo", "out of memory");
  else
    rc = write_file(path, out.data, out.len, err);
  mvm_buf_free(&out);
  return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  if (flag == FTW_DP)
    return rmdir(path);
  return unlink(path);
}

/* Removes the old workspace. FTW_PHYS never follows a link out of it. */
static int clear_workspace(const char *workspace, mvm_error *err)
{
  if (access(workspace, F_OK) != 0)
    return MVM_OK;
  if (nftw(workspace, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    return mvm_error_set(err, MVM_EIO, "demo",
                         "cannot remove the old demo workspace '%s': %s",
                         workspace, strerror(errno));
  return MVM_OK;
}

static int make_dir(const char *path, mvm_error *err)
{
  if (mkdir(path, 0700) != 0 && errno != EEXIST)
    return mvm_error_set(err, MVM_EIO, "demo", "cannot create '%s': %s",
                         path, strerror(errno));
  return MVM_OK;
}

static int write_mcp_config(const mvm_demo_paths *p, const char *server,
                            mvm_error *err)
{
  json_t *doc = json_pack("{s:{s:{s:s, s:[s, s]}}}", "mcpServers", "fs",
                          "command", "node", "args", server, p->workspace);
  if (doc == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "demo", "out of memory");

  char *text = json_dumps(doc, JSON_INDENT(2));
  json_decref(doc);
  if (text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "demo", "out of memory");
  int rc = write_file(p->mcp_config, text, strlen(text), err);
  free(text);
  return rc;
}

int mvm_demo_prepare(const char *state_dir, mvm_demo_paths *out,
                     mvm_error *err)
{
  mvm_demo_paths p;
  char server[PATH_MAX];
  char path[MVM_DEMO_PATH_MAX + 64];
  int rc;

  rc = mvm_demo_node_path(FS_SERVER, server, sizeof server, err);
  if (rc)
    return rc;

  if (strlen(state_dir) + sizeof "/demo" > sizeof p.dir)
    return mvm_error_set(err, MVM_ELIMIT, "demo",
                         "state directory path too long: %s", state_dir);
  snprintf(p.dir, sizeof p.dir, "%s/demo", state_dir);
  snprintf(p.workspace, sizeof p.workspace, "%s/workspace", p.dir);
  snprintf(p.recording, sizeof p.recording, "%s/recording.json", p.dir);
  snprintf(p.policy, sizeof p.policy, "%s/demo.policy", p.dir);
  snprintf(p.mcp_config, sizeof p.mcp_config, "%s/mcp.json", p.dir);

  rc = mvm_state_dir_create(p.dir, err);
  if (rc == MVM_OK)
    rc = clear_workspace(p.workspace, err);
  if (rc == MVM_OK)
    rc = make_dir(p.workspace, err);

  const char *subdirs[] = {"inbox", "private", "public", NULL};
  for (size_t i = 0; rc == MVM_OK && subdirs[i] != NULL; i++) {
    snprintf(path, sizeof path, "%s/%s", p.workspace, subdirs[i]);
    rc = make_dir(path, err);
  }
  for (size_t i = 0; rc == MVM_OK && workspace_files[i] != NULL; i++) {
    char embedded[256];
    snprintf(embedded, sizeof embedded, "demo/workspace/%s",
             workspace_files[i]);
    snprintf(path, sizeof path, "%s/%s", p.workspace, workspace_files[i]);
    rc = install(embedded, path, p.workspace, err);
  }

  if (rc == MVM_OK)
    rc = install("demo/recording.json", p.recording, p.workspace, err);
  if (rc == MVM_OK)
    rc = install("demo/demo.policy", p.policy, p.workspace, err);
  if (rc == MVM_OK)
    rc = write_mcp_config(&p, server, err);
  if (rc == MVM_OK)
    *out = p;
  return rc;
}
