/* store_support.c - helpers for the store's tests and benchmark. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_support.h"

int store_test_tmpdir(char *buf, size_t size)
{
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0')
    base = "/tmp";
  int n = snprintf(buf, size, "%s/mvm-store-XXXXXX", base);
  if (n < 0 || (size_t)n >= size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return mkdtemp(buf) != NULL ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void store_test_rmtree(const char *path)
{
  nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *store_test_join(const char *dir, const char *name)
{
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

bool store_test_file_contains(const char *path, const void *needle,
                              size_t len)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return false;

  char *data = NULL;
  size_t used = 0;
  size_t cap = 0;
  char chunk[65536];
  size_t n;
  bool found = false;

  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (used + n > cap) {
      size_t want = (used + n) * 2;
      char *grown = realloc(data, want);
      if (grown == NULL)
        break;
      data = grown;
      cap = want;
    }
    memcpy(data + used, chunk, n);
    used += n;
  }
  fclose(f);
  if (data != NULL)
    found = memmem(data, used, needle, len) != NULL;
  free(data);
  return found;
}

/* Reads a descriptor to its end into a malloc'd string. */
static char *slurp(int fd)
{
  char *data = malloc(1);
  size_t used = 0;
  char chunk[4096];
  ssize_t n;

  if (data == NULL)
    return NULL;
  while ((n = read(fd, chunk, sizeof chunk)) > 0) {
    char *grown = realloc(data, used + (size_t)n + 1);
    if (grown == NULL)
      break;
    data = grown;
    memcpy(data + used, chunk, (size_t)n);
    used += (size_t)n;
  }
  data[used] = '\0';
  return data;
}

int store_test_run(char *const argv[], char **out, char **errout)
{
  char outpath[] = "/tmp/mvm-store-out-XXXXXX";
  char errpath[] = "/tmp/mvm-store-err-XXXXXX";
  int outfd = mkstemp(outpath);
  int errfd = mkstemp(errpath);
  int status = 0;
  int code = -1;

  if (outfd < 0 || errfd < 0)
    goto out;
  pid_t pid = fork();
  if (pid < 0)
    goto out;
  if (pid == 0) {
    dup2(outfd, 1);
    dup2(errfd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  if (waitpid(pid, &status, 0) < 0)
    goto out;
  if (WIFEXITED(status))
    code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    code = 128 + WTERMSIG(status);

  lseek(outfd, 0, SEEK_SET);
  lseek(errfd, 0, SEEK_SET);
  if (out != NULL)
    *out = slurp(outfd);
  if (errout != NULL)
    *errout = slurp(errfd);

out:
  if (outfd >= 0) {
    close(outfd);
    unlink(outpath);
  }
  if (errfd >= 0) {
    close(errfd);
    unlink(errpath);
  }
  return code;
}
