/* spec.c - parsing model specs and opening their adapters. */
#include <stdlib.h>
#include <string.h>

#include "models/anthropic.h"
#include "models/openai.h"
#include "models/replay.h"
#include "models/spec.h"

static int invalid(const char *text, const char *why, mvm_error *err)
{
  return mvm_error_set(err, MVM_EINVAL, "model",
                       "invalid model spec '%s': %s; valid forms: %s", text,
                       why, MVM_MODEL_SPEC_FORMS);
}

void mvm_model_spec_free(mvm_model_spec *spec)
{
  free(spec->model);
  free(spec->base_url);
  free(spec->path);
  memset(spec, 0, sizeof *spec);
}

static int parse_compatible(const char *text, const char *rest,
                            mvm_model_spec *out, mvm_error *err)
{
  const char *hash = strrchr(rest, '#');

  if (hash == NULL || hash[1] == '\0')
    return invalid(text, "openai-compatible needs URL#MODEL", err);
  if (strncmp(rest, "http://", 7) != 0 && strncmp(rest, "https://", 8) != 0)
    return invalid(text, "the URL must start with http:// or https://", err);

  out->base_url = strndup(rest, (size_t)(hash - rest));
  out->model = strdup(hash + 1);
  if (out->base_url == NULL || out->model == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "model", "out of memory");
  return MVM_OK;
}

int mvm_model_spec_parse(const char *text, mvm_model_spec *out,
                         mvm_error *err)
{
  mvm_model_spec spec;
  const char *colon = strchr(text, ':');
  int rc = MVM_OK;

  memset(&spec, 0, sizeof spec);
  if (colon == NULL)
    return invalid(text, "it has no 'kind:' prefix", err);

  size_t klen = (size_t)(colon - text);
  const char *rest = colon + 1;
  if (rest[0] == '\0')
    return invalid(text, "nothing follows the ':'", err);

  if (klen == 6 && strncmp(text, "openai", 6) == 0) {
    spec.kind = MVM_MODEL_OPENAI;
    spec.model = strdup(rest);
    rc = spec.model ? MVM_OK : MVM_ENOMEM;
  } else if (klen == 9 && strncmp(text, "anthropic", 9) == 0) {
    spec.kind = MVM_MODEL_ANTHROPIC;
    spec.model = strdup(rest);
    rc = spec.model ? MVM_OK : MVM_ENOMEM;
  } else if (klen == 17 && strncmp(text, "openai-compatible", 17) == 0) {
    spec.kind = MVM_MODEL_COMPATIBLE;
    rc = parse_compatible(text, rest, &spec, err);
  } else if (klen == 6 && strncmp(text, "replay", 6) == 0) {
    spec.kind = MVM_MODEL_REPLAY;
    spec.path = strdup(rest);
    rc = spec.path ? MVM_OK : MVM_ENOMEM;
  } else {
    return invalid(text, "unknown kind", err);
  }

  if (rc == MVM_ENOMEM)
    mvm_error_set(err, rc, "model", "out of memory");
  if (rc) {
    mvm_model_spec_free(&spec);
    return rc;
  }
  *out = spec;
  return MVM_OK;
}

int mvm_model_open_spec(const char *text, const mvm_model_config *cfg,
                        mvm_model *out, mvm_error *err)
{
  mvm_model_spec spec;
  int rc = mvm_model_spec_parse(text, &spec, err);
  if (rc)
    return rc;

  switch (spec.kind) {
  case MVM_MODEL_OPENAI:
    rc = mvm_openai_open(spec.model, cfg, out, err);
    break;
  case MVM_MODEL_ANTHROPIC:
    rc = mvm_anthropic_open(spec.model, cfg, out, err);
    break;
  case MVM_MODEL_COMPATIBLE:
    rc = mvm_openai_compatible_open(spec.base_url, spec.model, cfg, out,
                                    err);
    break;
  case MVM_MODEL_REPLAY:
    rc = mvm_replay_open_config(spec.path, cfg, out, err);
    break;
  }
  mvm_model_spec_free(&spec);
  return rc;
}
