/* sse.c - the Server-Sent Events parser: UTF-8 decoding, line splitting,
 * field processing and event dispatch. */
#include <limits.h>
#include <string.h>

#include "base/sse.h"

/* Flags in mvm_sse_parser.state. */
#define SSE_AFTER_CR 0x1  /* the last line ended with CR: skip one LF */
#define SSE_BOM_DONE 0x2  /* the start of the stream has been checked */
#define SSE_STOPPED 0x4   /* a feed failed; the parser accepts no more */
#define SSE_BOM_SHIFT 4   /* bits 4-5: BOM bytes matched so far */
#define SSE_BOM_MASK (0x3 << SSE_BOM_SHIFT)

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
static const char replacement[3] = {'\xEF', '\xBF', '\xBD'}; /* U+FFFD */

void mvm_sse_init(mvm_sse_parser *p, size_t max_event_bytes,
                  mvm_sse_callback on_event, void *ctx)
{
  memset(p, 0, sizeof *p);
  if (max_event_bytes == 0)
    max_event_bytes = MVM_SSE_DEFAULT_MAX_EVENT_BYTES;
  p->on_event = on_event;
  p->ctx = ctx;
  p->max_event_bytes = max_event_bytes;
  mvm_buf_init(&p->line, max_event_bytes);
  /* The data buffer also stores the LF after the last data line. */
  mvm_buf_init(&p->data, max_event_bytes + 1);
  mvm_buf_init(&p->type, max_event_bytes);
  mvm_buf_init(&p->id, max_event_bytes);
  p->retry_ms = -1;
  p->utf8_lower = 0x80;
  p->utf8_upper = 0xBF;
}

void mvm_sse_free(mvm_sse_parser *p)
{
  mvm_buf_free(&p->line);
  mvm_buf_free(&p->data);
  mvm_buf_free(&p->type);
  mvm_buf_free(&p->id);
}

static int stop(mvm_sse_parser *p, int rc)
{
  p->state |= SSE_STOPPED;
  return rc;
}

static int line_too_long(mvm_sse_parser *p, mvm_error *err)
{
  return stop(p, mvm_error_set(err, MVM_ELIMIT, "sse",
                               "an event-stream line is over the limit of "
                               "%zu bytes; raise the SSE event size limit",
                               p->max_event_bytes));
}

static int append_line(mvm_sse_parser *p, const char *bytes, size_t len,
                       mvm_error *err)
{
  int rc = mvm_buf_append(&p->line, bytes, len);
  if (rc == MVM_ELIMIT)
    return line_too_long(p, err);
  if (rc)
    return stop(p, mvm_error_set(err, rc, "sse",
                                 "out of memory reading an event stream"));
  return MVM_OK;
}

/* Dispatches the pending event, or drops it when its data is empty. */
static int dispatch(mvm_sse_parser *p)
{
  if (p->data.len == 0) {
    mvm_buf_reset(&p->type);
    return MVM_OK;
  }

  /* The data buffer ends with the LF added after the last data line. */
  p->data.len--;
  p->data.data[p->data.len] = '\0';

  mvm_sse_event ev = {
      .type = p->type.len > 0 ? p->type.data : "message",
      .data = p->data.data,
      .data_len = p->data.len,
      .id = p->id.data != NULL ? p->id.data : "",
      .retry_ms = p->retry_ms,
  };
  int rc = p->on_event != NULL ? p->on_event(p->ctx, &ev) : MVM_OK;

  mvm_buf_reset(&p->data);
  mvm_buf_reset(&p->type);
  if (rc)
    return stop(p, rc);
  return MVM_OK;
}

static void set_retry(mvm_sse_parser *p, const char *value, size_t len)
{
  long ms = 0;

  if (len == 0)
    return;
  for (size_t i = 0; i < len; i++) {
    if (value[i] < '0' || value[i] > '9')
      return;
  }
  for (size_t i = 0; i < len; i++) {
    int digit = value[i] - '0';
    if (ms > (LONG_MAX - digit) / 10) {
      ms = LONG_MAX;
      break;
    }
    ms = ms * 10 + digit;
  }
  p->retry_ms = ms;
}

static int process_field(mvm_sse_parser *p, const char *name, size_t nlen,
                         const char *value, size_t vlen, mvm_error *err)
{
  int rc = MVM_OK;

  if (nlen == 4 && memcmp(name, "data", 4) == 0) {
    rc = mvm_buf_append(&p->data, value, vlen);
    if (rc == MVM_OK)
      rc = mvm_buf_append(&p->data, "\n", 1);
    if (rc == MVM_ELIMIT)
      return stop(p, mvm_error_set(err, MVM_ELIMIT, "sse",
                                   "an event's data is over the limit of %zu "
                                   "bytes; raise the SSE event size limit",
                                   p->max_event_bytes));
  } else if (nlen == 5 && memcmp(name, "event", 5) == 0) {
    mvm_buf_reset(&p->type);
    rc = mvm_buf_append(&p->type, value, vlen);
  } else if (nlen == 2 && memcmp(name, "id", 2) == 0) {
    if (memchr(value, '\0', vlen) == NULL) {
      mvm_buf_reset(&p->id);
      rc = mvm_buf_append(&p->id, value, vlen);
    }
  } else if (nlen == 5 && memcmp(name, "retry", 5) == 0) {
    set_retry(p, value, vlen);
  }

  if (rc)
    return stop(p, mvm_error_set(err, rc, "sse",
                                 "out of memory reading an event stream"));
  return MVM_OK;
}

/* Interprets one complete line (without its line end). */
static int process_line(mvm_sse_parser *p, const char *line, size_t len,
                        mvm_error *err)
{
  if (len == 0)
    return dispatch(p);
  if (line[0] == ':')
    return MVM_OK;

  const char *colon = memchr(line, ':', len);
  if (colon == NULL)
    return process_field(p, line, len, "", 0, err);

  size_t nlen = (size_t)(colon - line);
  const char *value = colon + 1;
  size_t vlen = len - nlen - 1;
  if (vlen > 0 && value[0] == ' ') {
    value++;
    vlen--;
  }
  return process_field(p, line, nlen, value, vlen, err);
}

/* Ends the current line: processes the buffered part plus bytes[0..len). */
static int end_line(mvm_sse_parser *p, const char *bytes, size_t len,
                    mvm_error *err)
{
  int rc;

  if (p->line.len == 0) {
    if (len > p->max_event_bytes)
      return line_too_long(p, err);
    return process_line(p, bytes, len, err);
  }
  rc = append_line(p, bytes, len, err);
  if (rc)
    return rc;
  rc = process_line(p, p->line.data, p->line.len, err);
  mvm_buf_reset(&p->line);
  return rc;
}

/* Feeds decoded text: splits it at LF, CR and CRLF. */
static int feed_text(mvm_sse_parser *p, const char *text, size_t len,
                     mvm_error *err)
{
  size_t start = 0;
  size_t i = 0;
  int rc;

  if (len > 0 && (p->state & SSE_AFTER_CR)) {
    p->state &= ~SSE_AFTER_CR;
    if (text[0] == '\n')
      start = i = 1;
  }

  while (i < len) {
    const char *hit = text + i;
    size_t rest = len - i;
    const char *lf = memchr(hit, '\n', rest);
    const char *cr = memchr(hit, '\r', lf != NULL ? (size_t)(lf - hit) : rest);
    const char *eol = cr != NULL ? cr : lf;

    if (eol == NULL)
      break;
    rc = end_line(p, text + start, (size_t)(eol - (text + start)), err);
    if (rc)
      return rc;
    i = (size_t)(eol - text) + 1;
    if (*eol == '\r') {
      if (i == len)
        p->state |= SSE_AFTER_CR;
      else if (text[i] == '\n')
        i++;
    }
    start = i;
  }

  if (start < len)
    return append_line(p, text + start, len - start, err);
  return MVM_OK;
}

static void utf8_reset(mvm_sse_parser *p)
{
  p->utf8_seen = 0;
  p->utf8_needed = 0;
  p->utf8_lower = 0x80;
  p->utf8_upper = 0xBF;
}

/* Starts a multi-byte character with lead byte b. Returns false when b
 * cannot start one. */
static bool utf8_start(mvm_sse_parser *p, unsigned char b)
{
  if (b >= 0xC2 && b <= 0xDF) {
    p->utf8_needed = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    if (b == 0xE0)
      p->utf8_lower = 0xA0;
    if (b == 0xED)
      p->utf8_upper = 0x9F;
    p->utf8_needed = 2;
  } else if (b >= 0xF0 && b <= 0xF4) {
    if (b == 0xF0)
      p->utf8_lower = 0x90;
    if (b == 0xF4)
      p->utf8_upper = 0x8F;
    p->utf8_needed = 3;
  } else {
    return false;
  }
  p->utf8_bytes[0] = b;
  p->utf8_seen = 0;
  return true;
}

/* Decodes one non-ASCII byte, or an ASCII byte that ends a character in
 * progress, with the WHATWG UTF-8 decoder: an invalid byte in a sequence
 * emits U+FFFD and is then decoded again on its own. */
static int decode_byte(mvm_sse_parser *p, unsigned char b, mvm_error *err)
{
  if (p->utf8_needed == 0) {
    if (b < 0x80)
      return feed_text(p, (const char *)&b, 1, err);
    if (utf8_start(p, b))
      return MVM_OK;
    return feed_text(p, replacement, sizeof replacement, err);
  }

  if (b < p->utf8_lower || b > p->utf8_upper) {
    utf8_reset(p);
    int rc = feed_text(p, replacement, sizeof replacement, err);
    if (rc)
      return rc;
    return decode_byte(p, b, err);
  }

  p->utf8_lower = 0x80;
  p->utf8_upper = 0xBF;
  p->utf8_seen++;
  p->utf8_bytes[p->utf8_seen] = b;
  if (p->utf8_seen < p->utf8_needed)
    return MVM_OK;

  size_t n = (size_t)p->utf8_needed + 1;
  utf8_reset(p);
  return feed_text(p, (const char *)p->utf8_bytes, n, err);
}

/* Decodes bytes as UTF-8 and feeds the text on. Runs of ASCII go through
 * in one piece; other bytes one at a time. */
static int decode(mvm_sse_parser *p, const unsigned char *bytes, size_t len,
                  mvm_error *err)
{
  size_t i = 0;
  int rc;

  while (i < len) {
    if (p->utf8_needed == 0 && bytes[i] < 0x80) {
      size_t run = i + 1;
      while (run < len && bytes[run] < 0x80)
        run++;
      rc = feed_text(p, (const char *)bytes + i, run - i, err);
      i = run;
    } else {
      rc = decode_byte(p, bytes[i], err);
      i++;
    }
    if (rc)
      return rc;
  }
  return MVM_OK;
}

/* Drops one byte order mark at the start of the stream, which may arrive
 * split across feeds. Returns how many bytes of `bytes` it used. */
static int check_bom(mvm_sse_parser *p, const unsigned char *bytes,
                     size_t len, size_t *used, mvm_error *err)
{
  int matched = (p->state & SSE_BOM_MASK) >> SSE_BOM_SHIFT;
  size_t i = 0;

  while (i < len && matched < 3 && bytes[i] == bom[matched]) {
    matched++;
    i++;
  }
  *used = i;
  if (matched == 3) {
    p->state |= SSE_BOM_DONE;
    p->state &= ~SSE_BOM_MASK;
    return MVM_OK;
  }
  if (i == len) {
    p->state = (p->state & ~SSE_BOM_MASK) | (matched << SSE_BOM_SHIFT);
    return MVM_OK;
  }

  /* Not a BOM: the bytes matched so far are ordinary input. */
  p->state |= SSE_BOM_DONE;
  p->state &= ~SSE_BOM_MASK;
  return decode(p, bom, (size_t)matched, err);
}

int mvm_sse_feed(mvm_sse_parser *p, const char *bytes, size_t len,
                 mvm_error *err)
{
  const unsigned char *in = (const unsigned char *)bytes;
  int rc;

  if (p->state & SSE_STOPPED)
    return mvm_error_set(err, MVM_ESTATE, "sse",
                         "the event-stream parser stopped on an earlier "
                         "error; start a new parser");

  if (!(p->state & SSE_BOM_DONE)) {
    size_t used = 0;
    rc = check_bom(p, in, len, &used, err);
    if (rc)
      return rc;
    in += used;
    len -= used;
  }
  return decode(p, in, len, err);
}

int mvm_sse_finish(mvm_sse_parser *p, mvm_error *err)
{
  if (p->state & SSE_STOPPED)
    return mvm_error_set(err, MVM_ESTATE, "sse",
                         "the event-stream parser stopped on an earlier "
                         "error; start a new parser");

  mvm_buf_reset(&p->line);
  mvm_buf_reset(&p->data);
  mvm_buf_reset(&p->type);
  utf8_reset(p);
  p->state = 0;
  return MVM_OK;
}
