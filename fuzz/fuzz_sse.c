/* fuzz_sse.c - libFuzzer harness for the SSE parser and the OpenAI and
 * Anthropic stream assemblers.
 *
 * Input: byte 0 picks the split pattern, the rest is the stream. The SSE
 * parser must dispatch the same events whether the stream arrives whole or
 * split. Each assembler must either fail with a status or build a reply
 * that passes the neutral reply check. The same bytes also go to the
 * whole-reply parsers. Any other outcome aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/sse.h"
#include "models/anthropic.h"
#include "models/openai.h"
#include "models/reply.h"

#define MAX_EVENT 4096
#define MAX_TEXT 65536
#define MAX_CALLS 8

/* Events are logged as type, id, retry and data, so two runs compare as
 * one byte string. */
static int log_event(void *ctx, const mvm_sse_event *ev)
{
  mvm_buf *log = ctx;
  if (mvm_buf_printf(log, "%s|%s|%ld|%zu|", ev->type, ev->id, ev->retry_ms,
                     ev->data_len) != MVM_OK ||
      mvm_buf_append(log, ev->data, ev->data_len) != MVM_OK)
    return MVM_ENOMEM;
  return MVM_OK;
}

/* Returns the next piece length for a split pattern: 1..64 bytes. */
static size_t piece(uint32_t *state)
{
  *state = *state * 1103515245u + 12345u;
  return 1 + ((*state >> 16) % 64);
}

static int sse_run(const char *data, size_t size, uint32_t split,
                   mvm_buf *log)
{
  mvm_sse_parser p;
  mvm_error err;
  size_t pos = 0;
  int rc = MVM_OK;

  mvm_sse_init(&p, MAX_EVENT, log_event, log);
  while (pos < size && rc == MVM_OK) {
    size_t n = split ? piece(&split) : size;
    if (n > size - pos)
      n = size - pos;
    rc = mvm_sse_feed(&p, data + pos, n, &err);
    pos += n;
  }
  if (rc == MVM_OK)
    rc = mvm_sse_finish(&p, &err);
  mvm_sse_free(&p);
  return rc;
}

static void check_sse(const char *data, size_t size, uint32_t split)
{
  mvm_buf whole;
  mvm_buf parts;

  mvm_buf_init(&whole, 0);
  mvm_buf_init(&parts, 0);
  int rc_whole = sse_run(data, size, 0, &whole);
  int rc_parts = sse_run(data, size, split | 1, &parts);

  /* A stream over a limit fails either way, but may dispatch fewer events
   * before failing when fed in pieces, so only clean runs must agree. */
  if (rc_whole == MVM_OK || rc_parts == MVM_OK) {
    if (rc_whole != rc_parts || whole.len != parts.len ||
        (whole.len > 0 && memcmp(whole.data, parts.data, whole.len) != 0)) {
      fprintf(stderr, "SSE events differ between whole and split input\n");
      abort();
    }
  }
  mvm_buf_free(&whole);
  mvm_buf_free(&parts);
}

static void count_text(void *ctx, const char *text, size_t len)
{
  size_t *total = ctx;
  *total += len;
}

/* A reply an assembler built must pass the neutral reply check. */
static void check_reply(json_t *reply)
{
  json_t *norm = NULL;
  mvm_error err;

  int rc = mvm_reply_normalize(reply, "fuzzed reply", "m", MAX_CALLS, &norm,
                               &err);
  if (rc != MVM_OK && rc != MVM_ENOMEM) {
    fprintf(stderr, "assembled reply failed its check: %s\n", err.msg);
    abort();
  }
  json_decref(norm);
  json_decref(reply);
}

static void check_openai(const char *data, size_t size, uint32_t split)
{
  mvm_openai_stream s;
  size_t text = 0;
  mvm_model_stream stream = {count_text, NULL, &text};
  mvm_error err;
  json_t *reply = NULL;
  size_t pos = 0;
  int rc = MVM_OK;

  mvm_openai_stream_init(&s, MAX_EVENT, MAX_TEXT, MAX_CALLS, &stream,
                         "fuzz", 1);
  while (pos < size && rc == MVM_OK) {
    size_t n = piece(&split);
    if (n > size - pos)
      n = size - pos;
    rc = mvm_openai_stream_feed(&s, data + pos, n, &err);
    pos += n;
  }
  if (rc == MVM_OK && mvm_openai_stream_finish(&s, &reply, &err) == MVM_OK)
    check_reply(reply);
  mvm_openai_stream_free(&s);

  if (mvm_openai_parse_reply(data, size, "fuzz", 1, MAX_CALLS, &reply,
                             &err) == MVM_OK)
    check_reply(reply);
}

static void check_anthropic(const char *data, size_t size, uint32_t split)
{
  mvm_anthropic_stream s;
  size_t text = 0;
  mvm_model_stream stream = {count_text, NULL, &text};
  mvm_error err;
  json_t *reply = NULL;
  size_t pos = 0;
  int rc = MVM_OK;

  mvm_anthropic_stream_init(&s, MAX_EVENT, MAX_TEXT, MAX_CALLS, &stream,
                            "fuzz", 1);
  while (pos < size && rc == MVM_OK) {
    size_t n = piece(&split);
    if (n > size - pos)
      n = size - pos;
    rc = mvm_anthropic_stream_feed(&s, data + pos, n, &err);
    pos += n;
  }
  if (rc == MVM_OK &&
      mvm_anthropic_stream_finish(&s, &reply, &err) == MVM_OK)
    check_reply(reply);
  mvm_anthropic_stream_free(&s);

  if (mvm_anthropic_parse_reply(data, size, "fuzz", 1, MAX_CALLS, &reply,
                                &err) == MVM_OK)
    check_reply(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
  if (size < 1)
    return 0;

  uint32_t split = bytes[0];
  const char *data = (const char *)bytes + 1;
  size--;

  check_sse(data, size, split);
  check_openai(data, size, split);
  check_anthropic(data, size, split);
  return 0;
}
