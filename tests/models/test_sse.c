/* test_sse.c - the Server-Sent Events parser, fed whole, byte by byte and
 * split at every point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/sse.h"
#include "mvm.h"

/* Each dispatched event is written to `out` as "type|id|retry|data" and a
 * newline, so one string comparison checks a whole stream. */
struct record {
  mvm_buf out;
  int events;
  int stop_after; /* return MVM_ECANCELLED after this many events; 0 never */
};

static int on_event(void *ctx, const mvm_sse_event *ev)
{
  struct record *r = ctx;

  assert_int_equal(ev->data[ev->data_len], '\0');
  assert_int_equal(mvm_buf_printf(&r->out, "%s|%s|%ld|", ev->type, ev->id,
                                  ev->retry_ms),
                   MVM_OK);
  assert_int_equal(mvm_buf_append(&r->out, ev->data, ev->data_len), MVM_OK);
  assert_int_equal(mvm_buf_append(&r->out, "\n", 1), MVM_OK);
  r->events++;
  if (r->stop_after > 0 && r->events >= r->stop_after)
    return MVM_ECANCELLED;
  return MVM_OK;
}

struct sse_case {
  const char *name;
  const char *input;
  size_t len;
  const char *want;
  size_t want_len;
};

/* A string literal and its length, which counts embedded NUL bytes. */
#define BYTES(s) s, sizeof(s) - 1

static const struct sse_case cases[] = {
    {"one event", BYTES("data: hello\n\n"),
     BYTES("message||-1|hello\n")},
    {"data lines joined", BYTES("data: a\ndata: b\ndata\n\n"),
     BYTES("message||-1|a\nb\n\n")},
    {"CRLF line ends", BYTES("data: x\r\ndata: y\r\n\r\n"),
     BYTES("message||-1|x\ny\n")},
    {"CR line ends", BYTES("data: x\rdata: y\r\r"),
     BYTES("message||-1|x\ny\n")},
    {"mixed line ends", BYTES("data: a\r\n\rdata: b\n\r\ndata: c\r\r"),
     BYTES("message||-1|a\nmessage||-1|b\nmessage||-1|c\n")},
    {"CR then LF is one end", BYTES("data: a\r\n\r\n"),
     BYTES("message||-1|a\n")},
    {"comments ignored", BYTES(": keep-alive\n\n:\ndata: y\n: x\n\n"),
     BYTES("message||-1|y\n")},
    {"event type", BYTES("event: add\ndata: 1\n\ndata: 2\n\n"),
     BYTES("add||-1|1\nmessage||-1|2\n")},
    {"type without data resets", BYTES("event: x\n\ndata: y\n\n"),
     BYTES("message||-1|y\n")},
    {"id carries over",
     BYTES("id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"),
     BYTES("message|7|-1|a\nmessage|7|-1|b\nmessage||-1|c\n")},
    {"id with NUL ignored",
     BYTES("id: 1\ndata: a\n\nid: x\0y\ndata: b\n\n"),
     BYTES("message|1|-1|a\nmessage|1|-1|b\n")},
    {"id set without dispatch", BYTES("id: 9\n\ndata: a\n\n"),
     BYTES("message|9|-1|a\n")},
    {"retry digits only",
     BYTES("retry: 1500\ndata: a\n\nretry: 12x\ndata: b\n\n"
           "retry:\ndata: c\n\n"),
     BYTES("message||1500|a\nmessage||1500|b\nmessage||1500|c\n")},
    {"retry huge clamps",
     BYTES("retry: 99999999999999999999999\ndata: a\n\n"),
     BYTES("message||9223372036854775807|a\n")},
    {"one space dropped", BYTES("data:x\ndata:  y\ndata: \n\n"),
     BYTES("message||-1|x\n y\n\n")},
    {"colon in value", BYTES("data: a:b: c\n\n"),
     BYTES("message||-1|a:b: c\n")},
    {"field without colon", BYTES("data\n\n"),
     BYTES("message||-1|\n")},
    {"unknown field ignored", BYTES("foo: bar\nDATA: no\ndata: a\n\n"),
     BYTES("message||-1|a\n")},
    {"space before colon", BYTES("data : a\n\n"),
     BYTES("")},
    {"BOM dropped", BYTES("\xEF\xBB\xBF" "data: a\n\n"),
     BYTES("message||-1|a\n")},
    {"second BOM kept", BYTES("\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n"),
     BYTES("")},
    {"partial BOM is text", BYTES("\xEF\xBB" "data: a\n\ndata: b\n\n"),
     BYTES("message||-1|b\n")},
    {"unfinished event dropped", BYTES("data: a\n\ndata: b\n"),
     BYTES("message||-1|a\n")},
    {"unfinished line dropped", BYTES("data: a\n\ndata: b"),
     BYTES("message||-1|a\n")},
    {"invalid byte replaced", BYTES("data: a\xFF" "b\n\n"),
     BYTES("message||-1|a\xEF\xBF\xBD" "b\n")},
    {"truncated sequence replaced", BYTES("data: \xE2\x82\n\n"),
     BYTES("message||-1|\xEF\xBF\xBD\n")},
    {"surrogate rejected", BYTES("data: \xED\xA0\x80\n\n"),
     BYTES("message||-1|\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\n")},
    {"overlong rejected", BYTES("data: \xC0\xAF\n\n"),
     BYTES("message||-1|\xEF\xBF\xBD\xEF\xBF\xBD\n")},
    {"valid UTF-8 kept", BYTES("data: Zürich 🌍 €\n\n"),
     BYTES("message||-1|Zürich 🌍 €\n")},
    {"event with unicode type", BYTES("event: ü\ndata: 1\n\n"),
     BYTES("ü||-1|1\n")},
    {"NUL in data kept", BYTES("data: a\0b\n\n"),
     BYTES("message||-1|a\0b\n")},
    {"empty input", BYTES(""),
     BYTES("")},
    {"blank lines only", BYTES("\n\r\n\r\n"),
     BYTES("")},
};

static void check_output(const struct record *r, const struct sse_case *c,
                         const char *how)
{
  if (r->out.len != c->want_len ||
      (c->want_len > 0 && memcmp(r->out.data, c->want, c->want_len) != 0))
    fail_msg("case '%s' fed %s: got '%s', expected '%s'", c->name, how,
             r->out.data ? r->out.data : "", c->want);
}

/* Feeds input cut at the given offsets (sorted, within the input). */
static void run_split(const struct sse_case *c, const size_t *cuts,
                      size_t ncuts, const char *how)
{
  size_t len = c->len;
  struct record r = {0};
  mvm_sse_parser p;
  mvm_error err;
  size_t pos = 0;

  mvm_buf_init(&r.out, 0);
  mvm_sse_init(&p, 0, on_event, &r);
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    if (mvm_sse_feed(&p, c->input + pos, end - pos, &err) != MVM_OK)
      fail_msg("case '%s' fed %s: %s", c->name, how, err.msg);
    pos = end;
  }
  assert_int_equal(mvm_sse_finish(&p, &err), MVM_OK);
  check_output(&r, c, how);
  mvm_sse_free(&p);
  mvm_buf_free(&r.out);
}

static void sse_cases_whole(void **state)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_split(&cases[i], NULL, 0, "whole");
}

static void sse_cases_byte_by_byte(void **state)
{
  size_t cuts[256];

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct sse_case *c = &cases[i];
    size_t len = c->len;
    assert_true(len < 256);
    for (size_t k = 1; k < len; k++)
      cuts[k - 1] = k;
    run_split(c, cuts, len > 0 ? len - 1 : 0, "byte by byte");
  }
}

static void sse_cases_every_split(void **state)
{
  char how[64];

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct sse_case *c = &cases[i];
    size_t len = c->len;

    for (size_t a = 0; a <= len; a++) {
      for (size_t b = a; b <= len; b++) {
        size_t cuts[2] = {a, b};
        snprintf(how, sizeof how, "cut at %zu and %zu", a, b);
        run_split(c, cuts, 2, how);
      }
    }
  }
}

static void sse_line_over_limit(void **state)
{
  struct record r = {0};
  mvm_sse_parser p;
  mvm_error err;
  char line[64];

  mvm_buf_init(&r.out, 0);
  mvm_sse_init(&p, 16, on_event, &r);
  memset(line, 'x', sizeof line);
  memcpy(line, "data: ", 6);

  /* 16 bytes in a line pass; 17 fail, whether or not the line end is in
   * the same feed. */
  assert_int_equal(mvm_sse_feed(&p, line, 16, &err), MVM_OK);
  assert_int_equal(mvm_sse_feed(&p, "\n\n", 2, &err), MVM_OK);
  assert_int_equal(r.events, 1);
  assert_int_equal(mvm_sse_feed(&p, line, 17, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "line is over the limit of 16 bytes"));
  assert_int_equal(mvm_sse_feed(&p, "\n", 1, &err), MVM_ESTATE);
  assert_int_equal(mvm_sse_finish(&p, &err), MVM_ESTATE);
  mvm_sse_free(&p);

  mvm_sse_init(&p, 16, on_event, &r);
  memcpy(line + 17, "\n", 1);
  assert_int_equal(mvm_sse_feed(&p, line, 18, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "line is over the limit"));
  mvm_sse_free(&p);
  mvm_buf_free(&r.out);
}

static void sse_data_over_limit(void **state)
{
  struct record r = {0};
  mvm_sse_parser p;
  mvm_error err;
  const char *chunk = "data: 0123456789\n"; /* 10 bytes of data + LF */

  mvm_buf_init(&r.out, 0);
  mvm_sse_init(&p, 32, on_event, &r);

  /* Two lines make 21 bytes of data; a third makes 32, which is at the
   * limit; a fourth is over. */
  for (int i = 0; i < 3; i++)
    assert_int_equal(mvm_sse_feed(&p, chunk, strlen(chunk), &err), MVM_OK);
  assert_int_equal(mvm_sse_feed(&p, "\n", 1, &err), MVM_OK);
  assert_int_equal(r.events, 1);

  for (int i = 0; i < 3; i++)
    assert_int_equal(mvm_sse_feed(&p, chunk, strlen(chunk), &err), MVM_OK);
  assert_int_equal(mvm_sse_feed(&p, chunk, strlen(chunk), &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "event's data is over the limit of 32"));
  assert_int_equal(r.events, 1);
  mvm_sse_free(&p);
  mvm_buf_free(&r.out);
}

static void sse_callback_stops_feed(void **state)
{
  struct record r = {.stop_after = 1};
  mvm_sse_parser p;
  mvm_error err;
  const char *in = "data: a\n\ndata: b\n\n";

  mvm_buf_init(&r.out, 0);
  mvm_sse_init(&p, 0, on_event, &r);
  err.code = MVM_OK;
  assert_int_equal(mvm_sse_feed(&p, in, strlen(in), &err), MVM_ECANCELLED);
  assert_int_equal(err.code, MVM_OK);
  assert_int_equal(r.events, 1);
  assert_string_equal(r.out.data, "message||-1|a\n");
  assert_int_equal(mvm_sse_feed(&p, in, strlen(in), &err), MVM_ESTATE);
  mvm_sse_free(&p);
  mvm_buf_free(&r.out);
}

static void sse_finish_starts_new_stream(void **state)
{
  struct record r = {0};
  mvm_sse_parser p;
  mvm_error err;
  const char *first = "id: 4\ndata: a\n\ndata: lost";
  const char *second = "\xEF\xBB\xBF" "data: b\n\n";

  mvm_buf_init(&r.out, 0);
  mvm_sse_init(&p, 0, on_event, &r);
  assert_int_equal(mvm_sse_feed(&p, first, strlen(first), &err), MVM_OK);
  assert_int_equal(mvm_sse_finish(&p, &err), MVM_OK);

  /* A reconnected stream may start with a BOM again and keeps the id. */
  assert_int_equal(mvm_sse_feed(&p, second, strlen(second), &err), MVM_OK);
  assert_int_equal(mvm_sse_finish(&p, &err), MVM_OK);
  assert_string_equal(r.out.data, "message|4|-1|a\nmessage|4|-1|b\n");
  mvm_sse_free(&p);
  mvm_buf_free(&r.out);
}

static void sse_trailing_cr_then_lf(void **state)
{
  struct record r = {0};
  mvm_sse_parser p;
  mvm_error err;

  /* A CR at the end of one feed and an LF at the start of the next are a
   * single line end, so only one blank line follows. */
  mvm_buf_init(&r.out, 0);
  mvm_sse_init(&p, 0, on_event, &r);
  assert_int_equal(mvm_sse_feed(&p, "data: a\r", 8, &err), MVM_OK);
  assert_int_equal(mvm_sse_feed(&p, "\ndata: b\r", 9, &err), MVM_OK);
  assert_int_equal(mvm_sse_feed(&p, "\n", 1, &err), MVM_OK);
  assert_int_equal(r.events, 0);
  assert_int_equal(mvm_sse_feed(&p, "\r", 1, &err), MVM_OK);
  assert_string_equal(r.out.data, "message||-1|a\nb\n");
  mvm_sse_free(&p);
  mvm_buf_free(&r.out);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sse_cases_whole),
      cmocka_unit_test(sse_cases_byte_by_byte),
      cmocka_unit_test(sse_cases_every_split),
      cmocka_unit_test(sse_line_over_limit),
      cmocka_unit_test(sse_data_over_limit),
      cmocka_unit_test(sse_callback_stops_feed),
      cmocka_unit_test(sse_finish_starts_new_stream),
      cmocka_unit_test(sse_trailing_cr_then_lf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
