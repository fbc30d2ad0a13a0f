/* mcp_support.c - helpers for the MCP tests and benchmark. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "mcp_support.h"

extern char **environ;

const char *mcp_test_node(void)
{
  static char path[4096];
  const char *env = getenv("PATH");
  const char *p = env != NULL ? env : "";

  while (*p != '\0') {
    size_t len = strcspn(p, ":");
    snprintf(path, sizeof path, "%.*s/node", (int)len, p);
    if (len > 0 && access(path, X_OK) == 0)
      return path;
    p += len;
    if (*p == ':')
      p++;
  }
  fprintf(stderr, "node is not in PATH; the MCP tests need Node.js: run "
                  "scripts/deps.sh\n");
  return NULL;
}

const char *mcp_test_module(const char *relative)
{
  static char path[4096];

  snprintf(path, sizeof path, "%s/node/node_modules/%s", MVM_SOURCE_DIR,
           relative);
  if (access(path, R_OK) == 0)
    return path;
  fprintf(stderr,
          "%s is missing: run scripts/deps.sh to install the npm "
          "MCP servers into node/node_modules\n",
          path);
  return NULL;
}

char **mcp_test_env(const char *const *extra)
{
  size_t n = 0;
  size_t m = 0;
  char **env;

  while (environ[n] != NULL)
    n++;
  while (extra != NULL && extra[m] != NULL)
    m++;
  env = calloc(n + m + 1, sizeof *env);
  if (env == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    env[i] = strdup(environ[i]);
  for (size_t i = 0; i < m; i++)
    env[n + i] = strdup(extra[i]);
  return env;
}

void mcp_test_env_free(char **env)
{
  for (size_t i = 0; env != NULL && env[i] != NULL; i++)
    free(env[i]);
  free(env);
}

const char *mcp_test_fixture(void)
{
  static char path[4096];

  snprintf(path, sizeof path, "%s/tests/fixtures/mcp/misbehave.js",
           MVM_SOURCE_DIR);
  return path;
}

static mvm_buf log_buf;
static int log_min = MVM_LOG_WARN;

static void capture(void *ctx, int level, const char *where, const char *line)
{
  static const char *const names[] = {"trace", "debug", "info", "warning",
                                      "error"};
  (void)ctx;
  if (level < log_min)
    return;
  mvm_buf_printf(&log_buf, "%s %s: %s\n",
                 level >= 0 && level <= 4 ? names[level] : "log", where, line);
}

void mcp_test_log_start(int level)
{
  mvm_buf_free(&log_buf);
  mvm_buf_init(&log_buf, 0);
  log_min = level;
  mvm_log_set_level(level);
  mvm_log_set_sink(capture, NULL);
}

void mcp_test_log_stop(void)
{
  mvm_log_set_sink(NULL, NULL);
  mvm_log_set_level(MVM_LOG_WARN);
  mvm_buf_free(&log_buf);
}

const char *mcp_test_log_text(void)
{
  return log_buf.data != NULL ? log_buf.data : "";
}

size_t mcp_test_log_count(const char *needle)
{
  size_t count = 0;
  const char *p = mcp_test_log_text();

  while (*p != '\0') {
    const char *end = strchr(p, '\n');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    char line[4096];

    snprintf(line, sizeof line, "%.*s", (int)len, p);
    if (strstr(line, needle) != NULL)
      count++;
    p += len;
    if (*p == '\n')
      p++;
  }
  return count;
}

void mcp_test_log_clear(void)
{
  mvm_buf_reset(&log_buf);
}
