/* spec.h - model specs: the text that names a model and its adapter.
 *
 *   openai:MODEL                  OpenAI Chat Completions
 *   anthropic:MODEL               Anthropic Messages
 *   openai-compatible:URL#MODEL   an OpenAI-compatible server at URL
 *   replay:FILE                   replies recorded in a replay file
 *
 * The model opened is owned by the caller and released with
 * model.ops->close(model.self). */
#ifndef MVM_MODELS_SPEC_H
#define MVM_MODELS_SPEC_H

#include "models/config.h"
#include "mvm.h"

/* The valid forms, for error and help messages. */
#define MVM_MODEL_SPEC_FORMS                                                  \
  "openai:MODEL, anthropic:MODEL, openai-compatible:URL#MODEL, "              \
  "replay:FILE"

typedef enum mvm_model_kind {
  MVM_MODEL_OPENAI,
  MVM_MODEL_ANTHROPIC,
  MVM_MODEL_COMPATIBLE,
  MVM_MODEL_REPLAY
} mvm_model_kind;

/* A parsed spec. Strings are owned; release with mvm_model_spec_free. */
typedef struct mvm_model_spec {
  mvm_model_kind kind;
  char *model;    /* model id; NULL for replay */
  char *base_url; /* openai-compatible only */
  char *path;     /* replay only */
} mvm_model_spec;

/* Parses spec text without opening anything. An invalid spec is an
 * MVM_EINVAL error that quotes it and lists the valid forms. */
int mvm_model_spec_parse(const char *text, mvm_model_spec *out,
                         mvm_error *err);
void mvm_model_spec_free(mvm_model_spec *spec);

/* Parses spec and opens its adapter with cfg (may be NULL for defaults
 * and the environment). Fails with the parse error or the adapter's. */
int mvm_model_open_spec(const char *spec, const mvm_model_config *cfg,
                        mvm_model *out, mvm_error *err);

#endif
