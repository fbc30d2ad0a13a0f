/* openai.h - the OpenAI Chat Completions adapter, also used for
 * OpenAI-compatible servers (llama.cpp server, vLLM, Ollama).
 *
 * The models returned are owned by the caller and released with
 * model.ops->close(model.self). The request builder, reply parser and
 * stream assembler are exposed for tests, the fuzzer and the benchmark. */
#ifndef MVM_MODELS_OPENAI_H
#define MVM_MODELS_OPENAI_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/sse.h"
#include "models/adapter.h"
#include "models/config.h"
#include "mvm.h"

/* Opens an adapter for an OpenAI model. The base URL comes from
 * cfg->openai.base_url, else $OPENAI_BASE_URL; the key from
 * cfg->openai.api_key, else $OPENAI_API_KEY. There is no built-in base
 * URL: a missing one, or a missing key, is an MVM_ECONFIG error that names
 * the setting to add. */
int mvm_openai_open(const char *model, const mvm_model_config *cfg,
                    mvm_model *out, mvm_error *err);

/* Opens an adapter for an OpenAI-compatible server at base_url (the part
 * before "/chat/completions", such as "http://127.0.0.1:8080/v1"). The
 * key, optional, is cfg->compatible.api_key. It tolerates the known
 * deviations of such servers: missing tool-call ids (generated), arguments
 * sent as a JSON object, missing usage, and finish_reason "stop" with tool
 * calls. */
int mvm_openai_compatible_open(const char *base_url, const char *model,
                               const mvm_model_config *cfg, mvm_model *out,
                               mvm_error *err);

/* Builds the Chat Completions request body for a neutral request.
 * `compatible` sends "max_tokens" instead of OpenAI's
 * "max_completion_tokens". Fails with MVM_EINVAL on a request field it
 * cannot map. */
int mvm_openai_build_request(const json_t *request, const char *model,
                             bool stream, bool compatible, json_t **out,
                             mvm_error *err);

/* Parses a whole (not streamed) chat.completion body into a neutral reply
 * (not yet checked against limits or priced). `call` numbers generated
 * tool-call ids. Fails with MVM_EPARSE or MVM_EMODEL naming the field. */
int mvm_openai_parse_reply(const char *body, size_t len,
                           const char *where, uint64_t call,
                           size_t max_tool_calls, json_t **reply,
                           mvm_error *err);

/* Assembles a streamed reply from chat.completion.chunk events. */
typedef struct mvm_openai_stream {
  mvm_sse_parser sse;
  const mvm_model_stream *stream; /* receives text fragments; may be NULL */
  const char *where;
  uint64_t call;
  mvm_buf text;
  mvm_call_parts calls;
  char *model;
  char *finish_reason;
  json_int_t input_tokens;
  json_int_t output_tokens;
  bool usage_seen;
  bool refusal;
  bool done;       /* "[DONE]" arrived */
  bool delivered;  /* text went to stream->on_text */
  mvm_error error; /* why the SSE callback stopped */
  size_t max_event_bytes;
  size_t max_text_bytes;
} mvm_openai_stream;

/* Prepares an assembler. Caps: one SSE event, the reply's text and each
 * call's argument text (max_text_bytes), and the tool-call count. */
void mvm_openai_stream_init(mvm_openai_stream *s, size_t max_event_bytes,
                            size_t max_text_bytes, size_t max_tool_calls,
                            const mvm_model_stream *stream, const char *where,
                            uint64_t call);

/* Drops everything assembled so far, for a new attempt. */
void mvm_openai_stream_reset(mvm_openai_stream *s);

/* Feeds response bytes, split anywhere. Fails with MVM_ELIMIT, MVM_EPARSE
 * (an event that is not JSON), or MVM_EMODEL (an error event). */
int mvm_openai_stream_feed(mvm_openai_stream *s, const char *bytes,
                           size_t len, mvm_error *err);

/* Ends the stream and builds the reply. A stream that ended with neither
 * "[DONE]" nor a finish_reason was cut off: MVM_EMODEL. */
int mvm_openai_stream_finish(mvm_openai_stream *s, json_t **reply,
                             mvm_error *err);

void mvm_openai_stream_free(mvm_openai_stream *s);

#endif
