/* bench_models.c - throughput of the SSE parser and the stream
 * assemblers on a large synthetic stream, and the latency a model adapter
 * adds per call against the local mock provider.
 *
 * Usage: bench_models [MEGABYTES [CALLS]] (defaults 64 and 500). Prints
 * one line per measurement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/sse.h"
#include "mock_provider.h"
#include "models/anthropic.h"
#include "models/openai.h"
#include "mvm.h"

#define FEED_BYTES 16384

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An OpenAI stream of text chunks and two interleaved tool calls whose
 * arguments grow by one fragment per event, repeated to `target` bytes. */
static void build_openai_stream(mvm_buf *out, size_t target)
{
  static const char head[] =
      "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
      "\"created\":1,\"model\":\"gpt-4.1-mini\",\"choices\":[{\"index\":0,";
  int n = 0;

  mvm_buf_printf(out, "%s\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
                      "\"call_a\",\"type\":\"function\",\"function\":{"
                      "\"name\":\"write\",\"arguments\":\"{\\\"t\\\":\\\"\"}}]},"
                      "\"finish_reason\":null}]}\n\n",
                 head);
  mvm_buf_printf(out, "%s\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":"
                      "\"call_b\",\"type\":\"function\",\"function\":{"
                      "\"name\":\"write\",\"arguments\":\"{\\\"t\\\":\\\"\"}}]},"
                      "\"finish_reason\":null}]}\n\n",
                 head);
  while (out->len < target) {
    if (n % 3 == 0)
      mvm_buf_printf(out, "%s\"delta\":{\"content\":\"word %d \"},"
                          "\"finish_reason\":null}]}\n\n",
                     head, n);
    else
      mvm_buf_printf(out, "%s\"delta\":{\"tool_calls\":[{\"index\":%d,"
                          "\"function\":{\"arguments\":\"abc%d \"}}]},"
                          "\"finish_reason\":null}]}\n\n",
                     head, n % 3 - 1, n);
    n++;
  }
  for (int i = 0; i < 2; i++)
    mvm_buf_printf(out, "%s\"delta\":{\"tool_calls\":[{\"index\":%d,"
                        "\"function\":{\"arguments\":\"\\\"}\"}}]},"
                        "\"finish_reason\":null}]}\n\n",
                   head, i);
  mvm_buf_printf(out, "%s\"delta\":{},\"finish_reason\":\"tool_calls\"}]}"
                      "\n\ndata: [DONE]\n\n",
                 head);
}

/* The same content as Anthropic events, with one tool_use block. */
static void build_anthropic_stream(mvm_buf *out, size_t target)
{
  int n = 0;

  mvm_buf_append_str(
      out, "event: message_start\ndata: {\"type\":\"message_start\","
           "\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{"
           "\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
           "event: content_block_start\ndata: {\"type\":"
           "\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
           "\"text\",\"text\":\"\"}}\n\n"
           "event: content_block_start\ndata: {\"type\":"
           "\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
           "\"tool_use\",\"id\":\"toolu_1\",\"name\":\"write\",\"input\":{}}}"
           "\n\nevent: content_block_delta\ndata: {\"type\":"
           "\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
           "\"input_json_delta\",\"partial_json\":\"{\\\"t\\\":\\\"\"}}\n\n");
  while (out->len < target) {
    if (n % 2 == 0)
      mvm_buf_printf(out, "event: content_block_delta\ndata: {\"type\":"
                          "\"content_block_delta\",\"index\":0,\"delta\":{"
                          "\"type\":\"text_delta\",\"text\":\"word %d \"}}"
                          "\n\n",
                     n);
    else
      mvm_buf_printf(out, "event: content_block_delta\ndata: {\"type\":"
                          "\"content_block_delta\",\"index\":1,\"delta\":{"
                          "\"type\":\"input_json_delta\",\"partial_json\":"
                          "\"abc%d \"}}\n\n",
                     n);
    n++;
  }
  mvm_buf_append_str(
      out, "event: content_block_delta\ndata: {\"type\":"
           "\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
           "\"input_json_delta\",\"partial_json\":\"\\\"}\"}}\n\n"
           "event: message_delta\ndata: {\"type\":\"message_delta\","
           "\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{"
           "\"output_tokens\":99}}\n\n"
           "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

static int count_event(void *ctx, const mvm_sse_event *ev)
{
  size_t *events = ctx;
  (*events)++;
  return MVM_OK;
}

static void bench_sse(const mvm_buf *stream)
{
  mvm_sse_parser p;
  mvm_error err;
  size_t events = 0;

  double t0 = now_s();
  mvm_sse_init(&p, 0, count_event, &events);
  for (size_t pos = 0; pos < stream->len; pos += FEED_BYTES) {
    size_t n = stream->len - pos < FEED_BYTES ? stream->len - pos
                                              : FEED_BYTES;
    if (mvm_sse_feed(&p, stream->data + pos, n, &err) != MVM_OK) {
      fprintf(stderr, "sse: %s\n", err.msg);
      exit(1);
    }
  }
  mvm_sse_finish(&p, &err);
  mvm_sse_free(&p);
  double dt = now_s() - t0;
  printf("sse parse: %.1f MB in %.3f s = %.0f MB/s (%zu events)\n",
         (double)stream->len / 1e6, dt, (double)stream->len / 1e6 / dt,
         events);
}

static void bench_openai(const mvm_buf *stream)
{
  mvm_openai_stream s;
  mvm_error err;
  json_t *reply = NULL;

  double t0 = now_s();
  mvm_openai_stream_init(&s, 1 << 20, stream->len, 16, NULL, "bench", 1);
  for (size_t pos = 0; pos < stream->len; pos += FEED_BYTES) {
    size_t n = stream->len - pos < FEED_BYTES ? stream->len - pos
                                              : FEED_BYTES;
    if (mvm_openai_stream_feed(&s, stream->data + pos, n, &err) != MVM_OK) {
      fprintf(stderr, "openai: %s\n", err.msg);
      exit(1);
    }
  }
  if (mvm_openai_stream_finish(&s, &reply, &err) != MVM_OK) {
    fprintf(stderr, "openai: %s\n", err.msg);
    exit(1);
  }
  double dt = now_s() - t0;
  json_t *calls = json_object_get(reply, "tool_calls");
  printf("openai stream assembly: %.1f MB in %.3f s = %.0f MB/s "
         "(%zu tool calls, arguments %s)\n",
         (double)stream->len / 1e6, dt, (double)stream->len / 1e6 / dt,
         json_array_size(calls),
         json_is_object(json_object_get(json_array_get(calls, 0),
                                        "arguments"))
             ? "valid"
             : "invalid");
  json_decref(reply);
  mvm_openai_stream_free(&s);
}

static void bench_anthropic(const mvm_buf *stream)
{
  mvm_anthropic_stream s;
  mvm_error err;
  json_t *reply = NULL;

  double t0 = now_s();
  mvm_anthropic_stream_init(&s, 1 << 20, stream->len, 16, NULL, "bench", 1);
  for (size_t pos = 0; pos < stream->len; pos += FEED_BYTES) {
    size_t n = stream->len - pos < FEED_BYTES ? stream->len - pos
                                              : FEED_BYTES;
    if (mvm_anthropic_stream_feed(&s, stream->data + pos, n, &err) !=
        MVM_OK) {
      fprintf(stderr, "anthropic: %s\n", err.msg);
      exit(1);
    }
  }
  if (mvm_anthropic_stream_finish(&s, &reply, &err) != MVM_OK) {
    fprintf(stderr, "anthropic: %s\n", err.msg);
    exit(1);
  }
  double dt = now_s() - t0;
  printf("anthropic stream assembly: %.1f MB in %.3f s = %.0f MB/s "
         "(%zu tool calls)\n",
         (double)stream->len / 1e6, dt, (double)stream->len / 1e6 / dt,
         json_array_size(json_object_get(reply, "tool_calls")));
  json_decref(reply);
  mvm_anthropic_stream_free(&s);
}

static int compare_double(const void *a, const void *b)
{
  double x = *(const double *)a;
  double y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *what, double *ms, int n)
{
  qsort(ms, (size_t)n, sizeof ms[0], compare_double);
  int p99 = (int)((double)n * 0.99);
  if (p99 >= n)
    p99 = n - 1;
  printf("%s: median %.3f ms, p99 %.3f ms over %d calls\n", what,
         ms[n / 2], ms[p99], n);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
  return size * nmemb;
}

/* A plain libcurl POST of the same body on one reused handle: the floor
 * that the mock server and loopback HTTP cost without the adapter. */
static void bench_raw(mvm_mock_provider *mock, const char *body,
                      const char *reply, int calls)
{
  double *ms = calloc((size_t)calls, sizeof *ms);
  CURL *curl = curl_easy_init();
  char url[160];
  struct curl_slist *headers =
      curl_slist_append(NULL, "Content-Type: application/json");

  snprintf(url, sizeof url, "%s/v1/chat/completions", mvm_mock_url(mock));
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "127.0.0.1");
  for (int i = 0; i < calls; i++) {
    mvm_mock_response r = {.status = 200, .body = reply};
    mvm_mock_push(mock, &r);
    double t0 = now_s();
    curl_easy_perform(curl);
    ms[i] = (now_s() - t0) * 1000;
  }
  report("raw libcurl POST (baseline)", ms, calls);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  free(ms);
  mvm_mock_reset(mock);
}

static void bench_adapter(mvm_mock_provider *mock, const char *reply,
                          const char *content_type, bool stream, int calls)
{
  double *ms = calloc((size_t)calls, sizeof *ms);
  mvm_model_config cfg = {0};
  mvm_model m = {0};
  mvm_error err;
  char base[160];
  json_t *req = json_pack("{s[{ssss}]}", "messages", "role", "user",
                          "content", "Say hello.");

  snprintf(base, sizeof base, "%s/v1", mvm_mock_url(mock));
  cfg.openai.base_url = base;
  cfg.openai.api_key = "sk-bench";
  cfg.no_stream = !stream;
  if (mvm_openai_open("gpt-4.1-mini", &cfg, &m, &err) != MVM_OK) {
    fprintf(stderr, "%s\n", err.msg);
    exit(1);
  }
  for (int i = 0; i < calls; i++) {
    mvm_mock_response r = {.status = 200, .body = reply,
                           .content_type = content_type};
    json_t *out = NULL;
    mvm_mock_push(mock, &r);
    double t0 = now_s();
    if (m.ops->call(m.self, req, NULL, &out, &err) != MVM_OK) {
      fprintf(stderr, "call: %s\n", err.msg);
      exit(1);
    }
    ms[i] = (now_s() - t0) * 1000;
    json_decref(out);
  }
  report(stream ? "openai adapter call, streamed"
                : "openai adapter call, whole reply",
         ms, calls);
  m.ops->close(m.self);
  json_decref(req);
  free(ms);
  mvm_mock_reset(mock);
}

static char *read_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  mvm_buf buf;
  char chunk[4096];
  size_t n;

  if (f == NULL) {
    perror(path);
    exit(1);
  }
  mvm_buf_init(&buf, 0);
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    mvm_buf_append(&buf, chunk, n);
  fclose(f);
  return mvm_buf_steal(&buf);
}

int main(int argc, char **argv)
{
  size_t mb = argc > 1 ? (size_t)atol(argv[1]) : 64;
  int calls = argc > 2 ? atoi(argv[2]) : 500;
  mvm_buf stream;

  if (mb < 1 || calls < 1) {
    fprintf(stderr, "usage: bench_models [MEGABYTES [CALLS]]\n");
    return 2;
  }

  mvm_buf_init(&stream, 0);
  build_openai_stream(&stream, mb * 1000000);
  bench_sse(&stream);
  bench_openai(&stream);
  mvm_buf_free(&stream);

  mvm_buf_init(&stream, 0);
  build_anthropic_stream(&stream, mb * 1000000);
  bench_anthropic(&stream);
  mvm_buf_free(&stream);

  mvm_mock_provider *mock = mvm_mock_start();
  if (mock == NULL) {
    fprintf(stderr, "cannot start the mock provider\n");
    return 1;
  }
  char *whole = read_file(MVM_SOURCE_DIR
                          "/tests/fixtures/models/wire/openai_text.json");
  char *sse = read_file(MVM_SOURCE_DIR
                        "/tests/fixtures/models/wire/openai_stream_text.sse");
  bench_raw(mock, "{\"model\":\"gpt-4.1-mini\",\"messages\":[{\"role\":"
                  "\"user\",\"content\":\"Say hello.\"}]}",
            whole, calls);
  bench_adapter(mock, whole, NULL, false, calls);
  bench_adapter(mock, sse, "text/event-stream", true, calls);
  free(whole);
  free(sse);
  mvm_mock_stop(mock);
  return 0;
}
