/* sse.h - a Server-Sent Events parser that follows the HTML standard's
 * event-stream rules: LF, CR and CRLF line ends, several "data:" lines
 * joined with LF, comment lines ignored, "event:", "id:" and "retry:"
 * fields, and input split across feeds at any byte.
 *
 * The parser owns its buffers; mvm_sse_free releases them. Event fields
 * passed to the callback are borrowed for the duration of the call. */
#ifndef MVM_BASE_SSE_H
#define MVM_BASE_SSE_H

#include <stddef.h>

#include "base/buf.h"
#include "mvm.h"

typedef struct mvm_sse_event {
  const char *type; /* "message" when the stream gave no event field */
  const char *data; /* data lines joined with LF, NUL-terminated */
  size_t data_len;
  const char *id;   /* the last event id seen so far, or "" */
  long retry_ms;    /* the last retry field seen, or -1 */
} mvm_sse_event;

/* Returns MVM_OK to continue, anything else to stop parsing; the value is
 * returned from mvm_sse_feed. */
typedef int (*mvm_sse_callback)(void *ctx, const mvm_sse_event *event);

typedef struct mvm_sse_parser {
  mvm_sse_callback on_event;
  void *ctx;
  size_t max_event_bytes; /* cap on one line and on one event's data */
  mvm_buf line;
  mvm_buf data;
  mvm_buf type;
  mvm_buf id;
  long retry_ms;
  int state; /* private: whether the last byte was a CR, BOM handling */
} mvm_sse_parser;

void mvm_sse_init(mvm_sse_parser *p, size_t max_event_bytes,
                  mvm_sse_callback on_event, void *ctx);
/* Feeds bytes; dispatches every complete event. An event or line over
 * max_event_bytes is an MVM_ELIMIT error naming the limit. */
int mvm_sse_feed(mvm_sse_parser *p, const char *bytes, size_t len,
                 mvm_error *err);
/* Ends the stream. Per the standard, an event not closed by a blank line is
 * discarded. */
int mvm_sse_finish(mvm_sse_parser *p, mvm_error *err);
void mvm_sse_free(mvm_sse_parser *p);

#endif
