/* fuzz_jsonrpc.c - libFuzzer harness for the stdio line splitter,
 * JSON-RPC classification and the MCP client's message handling.
 *
 * Input: byte 0 picks the maximum line length and the split pattern, the
 * rest is a byte stream from a server.
 *  1. The splitter must give the same lines and over-long reports whether
 *     the stream arrives whole or in pieces, the same as a plain reference
 *     splitter, and keep its buffer bounded.
 *  2. Every line must either fail to classify with a status or classify
 *     consistently, and messages rebuilt from it must classify the same.
 *  3. The lines are then served to an MCP client as a server's messages,
 *     with "$ID" replaced by the id of the client's last request, while the
 *     client initializes, lists tools and calls one. It must end with a
 *     status and leak nothing.
 * Any other outcome aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "tools/jsonrpc.h"
#include "tools/mcp_client.h"

#define MAX_LINES 64

static void check(bool ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "fuzz_jsonrpc: %s\n", what);
    abort();
  }
}

/* Returns the next piece length for a split pattern: 1..32 bytes. */
static size_t piece(uint32_t *state)
{
  *state = *state * 1103515245u + 12345u;
  return 1 + ((*state >> 16) % 32);
}

/* Splits with mvm_jsonrpc_lines, logging "L<len>:<bytes>" per line and
 * "O" per over-long line. Keeps up to MAX_LINES lines in `lines`. */
static void split_lines(const uint8_t *data, size_t size, size_t max_line,
                        uint32_t split, mvm_buf *log, char **lines,
                        size_t *nlines)
{
  mvm_jsonrpc_lines s;
  size_t pos = 0;

  mvm_jsonrpc_lines_init(&s, max_line);
  while (pos < size) {
    size_t n = split ? piece(&split) : size - pos;
    if (n > size - pos)
      n = size - pos;
    check(mvm_jsonrpc_lines_push(&s, data + pos, n) == MVM_OK, "push");
    pos += n;

    for (;;) {
      mvm_lines_event ev;
      char *line = NULL;
      size_t len = 0;
      check(mvm_jsonrpc_lines_next(&s, &ev, &line, &len) == MVM_OK, "next");
      if (ev == MVM_LINES_NONE)
        break;
      if (ev == MVM_LINES_OVERLONG) {
        check(len > max_line, "over-long line within the limit");
        mvm_buf_append_str(log, "O");
        continue;
      }
      check(len <= max_line, "line over the limit");
      check(strlen(line) == len || memchr(line, 0, len) != NULL, "length");
      mvm_buf_printf(log, "L%zu:", len);
      mvm_buf_append(log, line, len);
      if (lines != NULL && *nlines < MAX_LINES)
        lines[(*nlines)++] = line;
      else
        free(line);
    }
    check(s.buf.len <= max_line + 1, "splitter buffer unbounded");
  }

  char *last = NULL;
  size_t len = 0;
  check(mvm_jsonrpc_lines_finish(&s, &last, &len) == MVM_OK, "finish");
  if (last != NULL) {
    mvm_buf_printf(log, "E%zu:", len);
    mvm_buf_append(log, last, len);
    free(last);
  }
  mvm_jsonrpc_lines_free(&s);
}

/* The same split, written plainly: cut at each newline, drop one '\r'
 * before it, and report what is longer than max_line. */
static void reference_split(const uint8_t *data, size_t size, size_t max_line,
                            mvm_buf *log)
{
  size_t start = 0;
  bool reported = false;

  for (size_t i = 0; i <= size; i++) {
    if (i < size && data[i] != '\n') {
      size_t len = i + 1 - start;
      /* A partial line is known to be too long once it passes
       * max_line + 1, even before its newline. */
      if (!reported && len > max_line + 1) {
        mvm_buf_append_str(log, "O");
        reported = true;
      }
      continue;
    }
    size_t len = i - start;
    if (len > 0 && data[i - 1] == '\r')
      len--;
    if (i == size) {
      if (!reported && i > start && len <= max_line) {
        mvm_buf_printf(log, "E%zu:", len);
        mvm_buf_append(log, data + start, len);
      }
    } else if (!reported && len > max_line) {
      mvm_buf_append_str(log, "O");
    } else if (!reported) {
      mvm_buf_printf(log, "L%zu:", len);
      mvm_buf_append(log, data + start, len);
    }
    reported = false;
    start = i + 1;
  }
}

/* Classifies a line and checks the result against its own shape, then
 * rebuilds messages from it and classifies those. */
static void classify(const char *line, size_t len)
{
  mvm_jsonrpc_msg msg = {0};
  mvm_jsonrpc_msg again = {0};
  mvm_error err = {0};
  char *text = NULL;
  int rc = mvm_jsonrpc_parse(line, len, 1 << 16, &msg, &err);

  if (rc) {
    check(rc == MVM_EPARSE || rc == MVM_EPROTOCOL || rc == MVM_ELIMIT,
          "unexpected status");
    check(msg.root == NULL, "output set on failure");
    check(err.msg[0] != '\0', "failure without a message");
    return;
  }

  switch (msg.kind) {
  case MVM_JSONRPC_REQUEST:
    check(msg.method != NULL, "request without method");
    check(json_is_integer(msg.id) || json_is_string(msg.id), "request id");
    text = mvm_jsonrpc_result(msg.id, json_null(), NULL);
    check(text != NULL, "result builder");
    check(mvm_jsonrpc_parse(text, strlen(text), 0, &again, &err) == MVM_OK,
          "rebuilt result does not parse");
    check(again.kind == MVM_JSONRPC_RESULT, "rebuilt result kind");
    check(json_equal(again.id, msg.id), "rebuilt result id");
    break;
  case MVM_JSONRPC_NOTIFICATION:
    check(msg.method != NULL && msg.id == NULL, "notification shape");
    text = mvm_jsonrpc_notification(msg.method, msg.params, NULL);
    check(text != NULL, "notification builder");
    check(strchr(text, '\n') == NULL, "newline in a built message");
    check(mvm_jsonrpc_parse(text, strlen(text), 0, &again, &err) == MVM_OK,
          "rebuilt notification does not parse");
    check(again.kind == MVM_JSONRPC_NOTIFICATION &&
              strcmp(again.method, msg.method) == 0,
          "rebuilt notification");
    break;
  case MVM_JSONRPC_RESULT:
    check(msg.result != NULL && msg.id != NULL, "result shape");
    break;
  case MVM_JSONRPC_ERROR:
    check(msg.error_message != NULL && msg.id != NULL, "error shape");
    text = mvm_jsonrpc_error(msg.id, msg.error_code, msg.error_message,
                             msg.error_data, NULL);
    check(text != NULL, "error builder");
    check(mvm_jsonrpc_parse(text, strlen(text), 0, &again, &err) == MVM_OK,
          "rebuilt error does not parse");
    check(again.kind == MVM_JSONRPC_ERROR && again.error_code == msg.error_code,
          "rebuilt error");
    break;
  default:
    check(false, "unknown kind");
  }
  free(text);
  mvm_jsonrpc_msg_clear(&again);
  mvm_jsonrpc_msg_clear(&msg);
}

/* ------------------------------------------------- a scripted transport */

struct script {
  mvm_mcp_transport base;
  char **lines;
  size_t n;
  size_t next;
  long long last_id;
};

static int script_send(mvm_mcp_transport *t, const char *msg, size_t len,
                       mvm_error *err)
{
  struct script *s = (struct script *)t;
  mvm_jsonrpc_msg m = {0};

  check(memchr(msg, '\n', len) == NULL, "client sent a newline");
  check(mvm_jsonrpc_parse(msg, len, 0, &m, err) == MVM_OK,
        "client sent an invalid message");
  if (m.kind == MVM_JSONRPC_REQUEST && json_is_integer(m.id))
    s->last_id = json_integer_value(m.id);
  mvm_jsonrpc_msg_clear(&m);
  return MVM_OK;
}

/* Replaces each "$ID" with the id of the client's last request. */
static char *with_id(const char *line, long long id)
{
  mvm_buf buf;
  const char *p = line;
  const char *hit;

  mvm_buf_init(&buf, 0);
  while ((hit = strstr(p, "$ID")) != NULL) {
    mvm_buf_append(&buf, p, (size_t)(hit - p));
    mvm_buf_printf(&buf, "%lld", id);
    p = hit + 3;
  }
  mvm_buf_append_str(&buf, p);
  return mvm_buf_steal(&buf);
}

static int script_recv(mvm_mcp_transport *t, int timeout_ms, char **msg,
                       size_t *len, mvm_error *err)
{
  struct script *s = (struct script *)t;

  if (s->next == s->n)
    return mvm_error_set(err, MVM_EIO, "fuzz", "the script ended");
  *msg = with_id(s->lines[s->next++], s->last_id);
  check(*msg != NULL, "out of memory");
  *len = strlen(*msg);
  return MVM_OK;
}

static void script_close(mvm_mcp_transport *t)
{
}

static const mvm_mcp_transport_ops script_ops = {
    .kind = "stdio",
    .send = script_send,
    .recv = script_recv,
    .close = script_close,
};

static int decline(void *ctx, const char *server, const json_t *params,
                   json_t **result, mvm_error *err)
{
  *result = json_pack("{s:s}", "action", "decline");
  return MVM_OK;
}

static void run_client(char **lines, size_t n)
{
  struct script s = {
      .base = {.ops = &script_ops, .server = "fuzz"}, .lines = lines, .n = n};
  mvm_mcp_root roots[] = {{"file:///fuzz", "fuzz"}};
  mvm_mcp_client_opts opts;
  mvm_mcp_client *c = NULL;
  mvm_error err = {0};
  json_t *tools = NULL;
  json_t *result = NULL;
  json_t *changes = NULL;
  int rc;

  mvm_mcp_client_opts_init(&opts);
  opts.roots = roots;
  opts.nroots = 1;
  opts.elicit = decline;
  opts.max_pages = 4;
  opts.max_tools = 16;
  opts.max_content_items = 8;
  rc = mvm_mcp_client_open(&s.base, &opts, &c, &err);
  if (rc)
    return;

  rc = mvm_mcp_client_list_tools(c, &tools, &err);
  if (rc == MVM_OK) {
    const char *name =
        json_string_value(json_object_get(json_array_get(tools, 0), "name"));
    check(json_is_array(tools), "tools is not an array");
    if (name != NULL) {
      rc = mvm_mcp_client_call_tool(c, name, NULL, NULL, &result, &err);
      if (rc == MVM_OK)
        check(json_is_boolean(json_object_get(result, "isError")) &&
                  json_is_array(json_object_get(result, "content")),
              "call result shape");
    }
  }
  mvm_mcp_client_take_changes(c, &changes, &err);
  json_decref(changes);
  json_decref(result);
  json_decref(tools);
  mvm_mcp_client_close(c);
}

static void quiet_sink(void *ctx, int level, const char *where,
                       const char *line)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  mvm_buf whole;
  mvm_buf pieces;
  mvm_buf reference;
  char *lines[MAX_LINES];
  size_t nlines = 0;
  size_t max_line;
  uint32_t split;

  if (size < 1)
    return 0;
  mvm_log_set_sink(quiet_sink, NULL);
  /* Short limits exercise the over-long path; 0 selects a large one. */
  max_line = data[0] % 16 == 0 ? 1 << 16 : (size_t)(data[0] % 16) * 8;
  split = data[0] | 1u;
  data++;
  size--;

  mvm_buf_init(&whole, 0);
  mvm_buf_init(&pieces, 0);
  mvm_buf_init(&reference, 0);
  split_lines(data, size, max_line, 0, &whole, lines, &nlines);
  split_lines(data, size, max_line, split, &pieces, NULL, NULL);
  reference_split(data, size, max_line, &reference);
  check(whole.len == pieces.len &&
            (whole.len == 0 || memcmp(whole.data, pieces.data, whole.len) == 0),
        "split changes the lines");
  check(whole.len == reference.len &&
            (whole.len == 0 ||
             memcmp(whole.data, reference.data, whole.len) == 0),
        "splitter differs from the reference");

  for (size_t i = 0; i < nlines; i++)
    classify(lines[i], strlen(lines[i]));
  run_client(lines, nlines);

  for (size_t i = 0; i < nlines; i++)
    free(lines[i]);
  mvm_buf_free(&whole);
  mvm_buf_free(&pieces);
  mvm_buf_free(&reference);
  return 0;
}
