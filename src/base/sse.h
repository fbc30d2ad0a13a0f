/* sse.h - a Server-Sent Events parser that follows the event-stream rules
 * of the HTML Living Standard (section "Server-sent events", parsing an
 * event stream):
 *  - the bytes are decoded as UTF-8: one leading byte order mark is
 *    dropped and each invalid sequence becomes U+FFFD;
 *  - lines end with LF, CR or CRLF, even when a CRLF is split across feeds;
 *  - a line starting with ':' is a comment and ignored;
 *  - "field: value" drops one space after the colon; a line without a
 *    colon is a field with an empty value;
 *  - "data" lines are joined with LF, "event" sets the type, "id" sets the
 *    last event id unless the value contains U+0000, "retry" sets the
 *    reconnection time when the value is all ASCII digits, other fields
 *    are ignored;
 *  - a blank line dispatches the event unless its data is empty. The last
 *    event id carries over to later events, while type and data reset;
 *  - at the end of the stream an event or line not closed by a blank line
 *    is discarded.
 * Input may be split across feeds at any byte.
 *
 * The parser owns its buffers; mvm_sse_free releases them. Event fields
 * passed to the callback are borrowed for the duration of the call. */
#ifndef MVM_BASE_SSE_H
#define MVM_BASE_SSE_H

#include <stddef.h>

#include "base/buf.h"
#include "mvm.h"

/* Cap on a line and on one event's data when mvm_sse_init gets 0. */
#define MVM_SSE_DEFAULT_MAX_EVENT_BYTES (1024u * 1024)

typedef struct mvm_sse_event {
  const char *type; /* "message" when the stream gave no event field */
  const char *data; /* data lines joined with LF, NUL-terminated */
  size_t data_len;  /* data may contain NUL bytes; this is its length */
  const char *id;   /* the last event id seen so far, or "" */
  long retry_ms;    /* the last retry field seen, or -1 */
} mvm_sse_event;

/* Returns MVM_OK to continue, anything else to stop parsing. mvm_sse_feed
 * returns that value and leaves err untouched, so a callback that stops
 * reports its reason through its own context. */
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
  int state; /* private: CR seen, BOM check, stopped (flags in sse.c) */
  /* Private UTF-8 decoder state: the bytes of an unfinished character. */
  unsigned char utf8_bytes[4];
  int utf8_seen;
  int utf8_needed;
  unsigned char utf8_lower;
  unsigned char utf8_upper;
} mvm_sse_parser;

/* Prepares p to parse one stream, calling on_event(ctx, event) for each
 * dispatched event. max_event_bytes caps a line and an event's data (0:
 * MVM_SSE_DEFAULT_MAX_EVENT_BYTES). Allocates nothing. */
void mvm_sse_init(mvm_sse_parser *p, size_t max_event_bytes,
                  mvm_sse_callback on_event, void *ctx);

/* Feeds bytes and dispatches every event they complete. A line or an
 * event's data over max_event_bytes is an MVM_ELIMIT error naming the
 * limit; a non-zero callback result is returned as is. After any failure
 * the parser is stopped and further feeds fail with MVM_ESTATE. */
int mvm_sse_feed(mvm_sse_parser *p, const char *bytes, size_t len,
                 mvm_error *err);

/* Ends the stream. An event or line not closed by a blank line is
 * discarded, as the standard requires, and the parser is reset to parse a
 * new stream with the same callback (the last event id is kept). Returns
 * MVM_ESTATE when the parser had stopped on a failure. */
int mvm_sse_finish(mvm_sse_parser *p, mvm_error *err);

/* Releases the buffers; p may be initialized again afterwards. */
void mvm_sse_free(mvm_sse_parser *p);

#endif
