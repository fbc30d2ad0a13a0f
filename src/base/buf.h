/* buf.h - a growable byte buffer with a hard size cap.
 *
 * The buffer owns its bytes; mvm_buf_free releases them and leaves an empty
 * buffer. The data is always NUL-terminated (the NUL is not counted in len),
 * so text can be used as a C string. Appending past `max` fails with
 * MVM_ELIMIT and leaves the buffer unchanged. */
#ifndef MVM_BASE_BUF_H
#define MVM_BASE_BUF_H

#include <stddef.h>

#include "mvm.h"

typedef struct mvm_buf {
  char *data;
  size_t len;
  size_t cap;
  size_t max; /* 0: no cap beyond memory */
} mvm_buf;

void mvm_buf_init(mvm_buf *buf, size_t max);
int mvm_buf_append(mvm_buf *buf, const void *data, size_t len);
int mvm_buf_append_str(mvm_buf *buf, const char *s);
int mvm_buf_printf(mvm_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes. */
void mvm_buf_consume(mvm_buf *buf, size_t n);
void mvm_buf_reset(mvm_buf *buf);
/* Hands the bytes to the caller (free with free()) and empties the buffer.
 * Returns an empty malloc'd string for an empty buffer, NULL on no memory. */
char *mvm_buf_steal(mvm_buf *buf);
void mvm_buf_free(mvm_buf *buf);

#endif
