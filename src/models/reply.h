/* reply.h - building and checking the neutral model reply (see mvm.h).
 *
 * Every adapter produces the same reply object:
 *   {"text", "tool_calls": [{"id", "name", "arguments"}], "usage":
 *    {"input_tokens", "output_tokens"}, "stop_reason", "model",
 *    "cost_usd"}.
 * Functions returning json_t * through an out parameter give the caller a
 * new reference; json_t * arguments are borrowed unless their comment
 * states "steals". */
#ifndef MVM_MODELS_REPLY_H
#define MVM_MODELS_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"

/* Returns true when s is one of the neutral stop reasons: "end",
 * "tool_calls", "length", "refusal", "other". */
bool mvm_reply_stop_reason_valid(const char *s);

/* Sets call["arguments"] from the raw argument text a provider sent. Text
 * that parses (within the JSON limits) to an object becomes the arguments.
 * Anything else sets "arguments": null, "arguments_error" (why) and
 * "arguments_raw" (the text): a typed result, not a failure. Empty text is
 * the empty object, because some servers send "" for a call without
 * arguments. Returns MVM_ENOMEM only. */
int mvm_reply_set_arguments(json_t *call, const char *raw, size_t len);

/* Checks a reply object from outside (a replay file) and returns a
 * normalized copy in *out: missing "text" becomes "", missing "tool_calls"
 * [], missing "stop_reason" "tool_calls" or "end", missing "model"
 * default_model, missing "usage" zeros with "reported": false, missing
 * "cost_usd" null. Arguments given as a string are parsed as with
 * mvm_reply_set_arguments. `what` names the reply in messages ("replay file
 * 'x.json', reply 3"). Fails with MVM_EPARSE naming the field, or
 * MVM_ELIMIT when there are more than max_tool_calls tool calls. */
int mvm_reply_normalize(const json_t *in, const char *what,
                        const char *default_model, size_t max_tool_calls,
                        json_t **out, mvm_error *err);

/* Calls stream->on_text with text[0..len) cut into up to `pieces`
 * fragments at UTF-8 character boundaries, checking stream->cancelled
 * before each one. Returns MVM_ECANCELLED (message from `where`) when
 * cancelled. stream may be NULL. */
int mvm_reply_stream_text(const mvm_model_stream *stream, const char *text,
                          size_t len, int pieces, const char *where,
                          mvm_error *err);

#endif
