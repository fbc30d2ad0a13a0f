/* log.c - log lines and per-category tracing, handed to a host's sink. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

static mvm_log_sink log_sink;
static void *log_ctx;
static int log_level = MVM_LOG_WARN;
static uint32_t trace_mask;

static const char *const trace_names[] = {
#define MVM_X_NAME(name, bit, text) [bit] = text,
    MVM_TRACE_LIST(MVM_X_NAME)
#undef MVM_X_NAME
};
#define TRACE_COUNT (sizeof trace_names / sizeof trace_names[0])

void mvm_log_set_sink(mvm_log_sink sink, void *ctx)
{
  log_sink = sink;
  log_ctx = ctx;
}

void mvm_log_set_level(int level)
{
  log_level = level;
}

static const char *level_name(int level)
{
  static const char *const names[] = {"trace", "debug", "info", "warning",
                                      "error"};
  if (level < 0 || level > MVM_LOG_ERROR)
    return "log";
  return names[level];
}

void mvm_log_v(int level, const char *where, const char *fmt, va_list ap)
{
  char line[2048];
  int n = vsnprintf(line, sizeof line, fmt, ap);
  if (n >= (int)sizeof line)
    memcpy(line + sizeof line - 4, "...", 4);

  if (log_sink != NULL) {
    log_sink(log_ctx, level, where, line);
    return;
  }
  fprintf(stderr, "mvm: %s: %s: %s\n", level_name(level), where, line);
}

void mvm_log(int level, const char *where, const char *fmt, ...)
{
  if (level < log_level)
    return;
  va_list ap;
  va_start(ap, fmt);
  mvm_log_v(level, where, fmt, ap);
  va_end(ap);
}

void mvm_trace(int category, const char *fmt, ...)
{
  if (!mvm_trace_on(category))
    return;
  va_list ap;
  va_start(ap, fmt);
  mvm_log_v(MVM_LOG_TRACE, trace_names[category], fmt, ap);
  va_end(ap);
}

int mvm_trace_parse(const char *spec, uint32_t *mask, mvm_error *err)
{
  uint32_t bits = 0;
  const char *p = spec;

  while (*p != '\0') {
    size_t len = strcspn(p, ",");
    size_t i;

    if (len == 3 && strncmp(p, "all", 3) == 0) {
      bits = (1u << TRACE_COUNT) - 1;
    } else {
      for (i = 0; i < TRACE_COUNT; i++) {
        if (strlen(trace_names[i]) == len &&
            strncmp(p, trace_names[i], len) == 0)
          break;
      }
      if (i == TRACE_COUNT)
        return mvm_error_set(err, MVM_EINVAL, "trace",
                             "unknown trace category '%.*s'; valid: all, vm, "
                             "policy, mcp, http, model, sandbox, audit, tool",
                             (int)len, p);
      bits |= 1u << i;
    }
    p += len;
    if (*p == ',')
      p++;
  }
  *mask = bits;
  return MVM_OK;
}

void mvm_trace_set(uint32_t mask)
{
  trace_mask = mask;
}

bool mvm_trace_on(int category)
{
  return category >= 0 && category < (int)TRACE_COUNT &&
         (trace_mask & (1u << category)) != 0;
}
