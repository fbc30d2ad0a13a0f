/* replay.h - a model that plays recorded replies, and a recorder that
 * writes a live model's replies to a file in the same format.
 *
 * A replay file is one JSON object:
 *   {"format": "mvm-replay/1", "model": "recorded-model-id",
 *    "replies": [ neutral replies (see mvm.h), played in order ]}
 * Other top-level keys ("comment") are ignored. The model returned by both
 * constructors is owned by the caller, who releases it with
 * model.ops->close(model.self). */
#ifndef MVM_MODELS_REPLAY_H
#define MVM_MODELS_REPLAY_H

#include "models/config.h"
#include "mvm.h"

#define MVM_REPLAY_FORMAT "mvm-replay/1"

/* Opens the replay file at `path` and checks every reply in it (fields
 * and types, with the reply's index in the message). Tool-call arguments
 * given as a string of invalid JSON become "arguments": null with
 * "arguments_error" and "arguments_raw", as a live adapter would report
 * them. Each call returns the next reply, streams its text through
 * stream->on_text in a few fragments, and consumes the reply even when the
 * stream cancels it. When no reply is left a call fails with MVM_EMODEL.
 * Fails with MVM_ENOTFOUND or MVM_EIO when the file cannot be read,
 * MVM_EPARSE or MVM_ELIMIT when its content is invalid or too large. */
int mvm_replay_open(const char *path, mvm_model *out, mvm_error *err);

/* Opens a replay file like mvm_replay_open, with the tool-call limit of
 * cfg and its meter (both may be absent: cfg NULL). Every reply played is
 * added to the meter with the cost_usd the file recorded. */
int mvm_replay_open_config(const char *path, const mvm_model_config *cfg,
                           mvm_model *out, mvm_error *err);

/* Wraps `inner` so that every successful call's reply is also written to
 * the replay file at `path`. The file is rewritten after each call, to a
 * temporary file in the same folder that is then renamed over `path`, so
 * a crash leaves either the previous complete file or the new one. The
 * file is created, with no replies, when the recorder opens. identity()
 * and call() pass through to inner; failed calls are not recorded. On
 * success the recorder owns inner and closes it in its own close; on
 * failure inner is left to the caller. */
int mvm_replay_record(mvm_model inner, const char *path, mvm_model *out,
                      mvm_error *err);

#endif
