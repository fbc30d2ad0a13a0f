/* buf.c - growable byte buffer with a size cap. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

void mvm_buf_init(mvm_buf *buf, size_t max)
{
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
  buf->max = max;
}

static int buf_reserve(mvm_buf *buf, size_t extra)
{
  if (extra > SIZE_MAX - buf->len - 1)
    return MVM_ELIMIT;

  size_t need = buf->len + extra + 1;
  if (buf->max != 0 && need - 1 > buf->max)
    return MVM_ELIMIT;
  if (need <= buf->cap)
    return MVM_OK;

  size_t cap = buf->cap ? buf->cap : 64;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;

  char *data = realloc(buf->data, cap);
  if (data == NULL)
    return MVM_ENOMEM;
  buf->data = data;
  buf->cap = cap;
  return MVM_OK;
}

int mvm_buf_append(mvm_buf *buf, const void *data, size_t len)
{
  int rc = buf_reserve(buf, len);
  if (rc)
    return rc;

  if (len > 0)
    memcpy(buf->data + buf->len, data, len);
  buf->len += len;
  buf->data[buf->len] = '\0';
  return MVM_OK;
}

int mvm_buf_append_str(mvm_buf *buf, const char *s)
{
  return mvm_buf_append(buf, s, strlen(s));
}

int mvm_buf_printf(mvm_buf *buf, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return MVM_EINVAL;

  int rc = buf_reserve(buf, (size_t)n);
  if (rc)
    return rc;

  va_start(ap, fmt);
  vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  buf->len += (size_t)n;
  return MVM_OK;
}

void mvm_buf_consume(mvm_buf *buf, size_t n)
{
  if (n >= buf->len) {
    mvm_buf_reset(buf);
    return;
  }
  memmove(buf->data, buf->data + n, buf->len - n);
  buf->len -= n;
  buf->data[buf->len] = '\0';
}

void mvm_buf_reset(mvm_buf *buf)
{
  buf->len = 0;
  if (buf->data != NULL)
    buf->data[0] = '\0';
}

char *mvm_buf_steal(mvm_buf *buf)
{
  char *data = buf->data;
  if (data == NULL)
    data = calloc(1, 1);
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
  return data;
}

void mvm_buf_free(mvm_buf *buf)
{
  free(buf->data);
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
}
