/* status.c - names and texts of status codes, and the error record. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mvm.h"

const char *mvm_status_name(int status)
{
  switch (status) {
#define MVM_X_CASE(name, value, text)                                          \
  case value:                                                                  \
    return #name;
    MVM_STATUS_LIST(MVM_X_CASE)
#undef MVM_X_CASE
  }
  return "MVM_E?";
}

const char *mvm_status_text(int status)
{
  switch (status) {
#define MVM_X_CASE(name, value, text)                                          \
  case value:                                                                  \
    return text;
    MVM_STATUS_LIST(MVM_X_CASE)
#undef MVM_X_CASE
  }
  return "unknown status";
}

int mvm_error_set(mvm_error *err, int code, const char *where,
                  const char *fmt, ...)
{
  if (err == NULL)
    return code;

  err->code = code;
  snprintf(err->where, sizeof err->where, "%s", where ? where : "");

  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);

  /* Mark a cut message so the reader knows text is missing. */
  if (n >= (int)sizeof err->msg)
    memcpy(err->msg + sizeof err->msg - 4, "...", 4);
  return code;
}

void mvm_error_clear(mvm_error *err)
{
  if (err == NULL)
    return;
  err->code = MVM_OK;
  err->where[0] = '\0';
  err->msg[0] = '\0';
}

const char *mvm_effect_name(int kind)
{
  switch (kind) {
#define MVM_X_CASE(name, value, text)                                          \
  case value:                                                                  \
    return text;
    MVM_EFFECT_LIST(MVM_X_CASE)
#undef MVM_X_CASE
  }
  return "effect?";
}
