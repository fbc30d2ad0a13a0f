/* anthropic.h - the Anthropic Messages adapter (API version 2023-06-01).
 *
 * The model returned is owned by the caller and released with
 * model.ops->close(model.self). The request builder, reply parser and
 * stream assembler are exposed for tests, the fuzzer and the benchmark. */
#ifndef MVM_MODELS_ANTHROPIC_H
#define MVM_MODELS_ANTHROPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/sse.h"
#include "models/adapter.h"
#include "models/config.h"
#include "mvm.h"

#define MVM_ANTHROPIC_VERSION "2023-06-01"

/* Opens an adapter for an Anthropic model. The base URL (the part before
 * "/messages") comes from cfg->anthropic.base_url, else
 * $ANTHROPIC_BASE_URL; the key from cfg->anthropic.api_key, else
 * $ANTHROPIC_API_KEY. A missing base URL or key is an MVM_ECONFIG error
 * that names the setting to add. */
int mvm_anthropic_open(const char *model, const mvm_model_config *cfg,
                       mvm_model *out, mvm_error *err);

/* Builds the Messages request body for a neutral request: system messages
 * become the top-level "system", assistant tool calls become tool_use
 * blocks, tool messages become tool_result blocks, and consecutive user
 * and tool messages merge into one user message. max_tokens is required
 * by the API, so default_max_tokens fills it when the request has none.
 * Fails with MVM_EINVAL on a field it cannot map. */
int mvm_anthropic_build_request(const json_t *request, const char *model,
                                bool stream, int default_max_tokens,
                                json_t **out, mvm_error *err);

/* Parses a whole (not streamed) Messages response into a neutral reply,
 * not yet checked against limits or priced. */
int mvm_anthropic_parse_reply(const char *body, size_t len,
                              const char *where, uint64_t call,
                              size_t max_tool_calls, json_t **reply,
                              mvm_error *err);

/* Assembles a streamed reply from Messages stream events. */
typedef struct mvm_anthropic_stream {
  mvm_sse_parser sse;
  const mvm_model_stream *stream; /* receives text fragments; may be NULL */
  const char *where;
  uint64_t call;
  mvm_buf text;
  mvm_call_parts calls; /* tool_use blocks, keyed by block index */
  char *model;
  char *stop_reason;
  json_int_t input_tokens;
  json_int_t output_tokens;
  bool usage_seen;
  bool started;   /* message_start arrived */
  bool done;      /* message_stop arrived */
  bool delivered; /* text went to stream->on_text */
  mvm_error error;
  size_t max_event_bytes;
  size_t max_text_bytes;
} mvm_anthropic_stream;

void mvm_anthropic_stream_init(mvm_anthropic_stream *s,
                               size_t max_event_bytes, size_t max_text_bytes,
                               size_t max_tool_calls,
                               const mvm_model_stream *stream,
                               const char *where, uint64_t call);
void mvm_anthropic_stream_reset(mvm_anthropic_stream *s);

/* Feeds response bytes, split anywhere. Fails with MVM_ELIMIT, MVM_EPARSE,
 * or MVM_EMODEL for an error event. */
int mvm_anthropic_stream_feed(mvm_anthropic_stream *s, const char *bytes,
                              size_t len, mvm_error *err);

/* Ends the stream and builds the reply. A stream without message_stop was
 * cut off: MVM_EMODEL. */
int mvm_anthropic_stream_finish(mvm_anthropic_stream *s, json_t **reply,
                                mvm_error *err);
void mvm_anthropic_stream_free(mvm_anthropic_stream *s);

#endif
