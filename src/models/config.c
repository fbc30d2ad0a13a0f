/* config.c - model adapter settings: defaults and the JSON config file. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "models/config.h"

void mvm_model_settings_from(const mvm_model_config *cfg,
                             mvm_model_settings *out)
{
  static const mvm_model_config zero;
  if (cfg == NULL)
    cfg = &zero;

  out->connect_timeout_s = cfg->connect_timeout_s > 0
                               ? cfg->connect_timeout_s
                               : MVM_MODEL_DEFAULT_CONNECT_TIMEOUT_S;
  out->timeout_s =
      cfg->timeout_s > 0 ? cfg->timeout_s : MVM_MODEL_DEFAULT_TIMEOUT_S;
  out->idle_timeout_s = cfg->idle_timeout_s > 0
                            ? cfg->idle_timeout_s
                            : MVM_MODEL_DEFAULT_IDLE_TIMEOUT_S;
  out->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts
                                            : MVM_MODEL_DEFAULT_MAX_ATTEMPTS;
  out->retry_base_s = cfg->retry_base_s > 0 ? cfg->retry_base_s
                                            : MVM_MODEL_DEFAULT_RETRY_BASE_S;
  out->retry_max_s =
      cfg->retry_max_s > 0 ? cfg->retry_max_s : MVM_MODEL_DEFAULT_RETRY_MAX_S;
  out->stream = !cfg->no_stream;
  out->max_response_bytes = cfg->max_response_bytes
                                ? cfg->max_response_bytes
                                : MVM_MODEL_DEFAULT_MAX_RESPONSE_BYTES;
  out->max_event_bytes = cfg->max_event_bytes
                             ? cfg->max_event_bytes
                             : MVM_MODEL_DEFAULT_MAX_EVENT_BYTES;
  out->max_tool_calls = cfg->max_tool_calls ? cfg->max_tool_calls
                                            : MVM_MODEL_DEFAULT_MAX_TOOL_CALLS;
  out->default_max_tokens = cfg->default_max_tokens > 0
                                ? cfg->default_max_tokens
                                : MVM_MODEL_DEFAULT_MAX_TOKENS;
  out->prices = cfg->prices;
  out->meter = cfg->meter;
}

void mvm_model_config_free(mvm_model_config *cfg)
{
  if (cfg == NULL)
    return;
  json_decref(cfg->owned_doc);
  mvm_price_table_free(cfg->owned_prices);
  memset(cfg, 0, sizeof *cfg);
}

int mvm_model_config_defaults(mvm_model_config *cfg, mvm_error *err)
{
  memset(cfg, 0, sizeof *cfg);
  int rc = mvm_price_table_default(&cfg->owned_prices, err);
  if (rc)
    return rc;
  cfg->prices = cfg->owned_prices;
  return MVM_OK;
}

/* Fails unless every key of obj is in the NULL-terminated list. */
static int check_keys(const json_t *obj, const char *const *allowed,
                      const char *what, const char *path, mvm_error *err)
{
  const char *key;
  json_t *value;

  json_object_foreach((json_t *)obj, key, value) {
    size_t i = 0;
    while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
      i++;
    if (allowed[i] == NULL)
      return mvm_error_set(err, MVM_ECONFIG, "config",
                           "%s: unknown key '%s' in %s; see docs/models.md "
                           "for the valid keys",
                           path, key, what);
  }
  return MVM_OK;
}

static int get_string(const json_t *obj, const char *key, const char *what,
                      const char *path, const char **out, mvm_error *err)
{
  const json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return MVM_OK;
  if (!json_is_string(v) || json_string_length(v) == 0)
    return mvm_error_set(err, MVM_ECONFIG, "config",
                         "%s: %s.%s must be a non-empty string", path, what,
                         key);
  *out = json_string_value(v);
  return MVM_OK;
}

static int get_number(const json_t *obj, const char *key, const char *path,
                      double min, double max, double *out, mvm_error *err)
{
  const json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return MVM_OK;
  if (!json_is_number(v) || json_number_value(v) < min ||
      json_number_value(v) > max)
    return mvm_error_set(err, MVM_ECONFIG, "config",
                         "%s: '%s' must be a number from %g to %g", path, key,
                         min, max);
  *out = json_number_value(v);
  return MVM_OK;
}

static int load_provider(const json_t *doc, const char *name, bool has_url,
                         const char *path, mvm_provider_config *out,
                         mvm_error *err)
{
  static const char *const with_url[] = {"base_url", "api_key", NULL};
  static const char *const key_only[] = {"api_key", NULL};
  const json_t *obj = json_object_get(doc, name);
  int rc;

  if (obj == NULL)
    return MVM_OK;
  if (!json_is_object(obj))
    return mvm_error_set(err, MVM_ECONFIG, "config",
                         "%s: '%s' must be an object", path, name);
  rc = check_keys(obj, has_url ? with_url : key_only, name, path, err);
  if (rc == MVM_OK && has_url)
    rc = get_string(obj, "base_url", name, path, &out->base_url, err);
  if (rc == MVM_OK)
    rc = get_string(obj, "api_key", name, path, &out->api_key, err);
  return rc;
}

static int load_retry(const json_t *doc, const char *path,
                      mvm_model_config *cfg, mvm_error *err)
{
  static const char *const keys[] = {"max_attempts", "base_delay_s",
                                     "max_delay_s", NULL};
  const json_t *obj = json_object_get(doc, "retry");
  double attempts = 0;
  int rc;

  if (obj == NULL)
    return MVM_OK;
  if (!json_is_object(obj))
    return mvm_error_set(err, MVM_ECONFIG, "config",
                         "%s: 'retry' must be an object", path);
  rc = check_keys(obj, keys, "retry", path, err);
  if (rc == MVM_OK)
    rc = get_number(obj, "max_attempts", path, 1, 100, &attempts, err);
  if (rc == MVM_OK)
    rc = get_number(obj, "base_delay_s", path, 0.001, 3600,
                    &cfg->retry_base_s, err);
  if (rc == MVM_OK)
    rc = get_number(obj, "max_delay_s", path, 0.001, 3600, &cfg->retry_max_s,
                    err);
  cfg->max_attempts = (int)attempts;
  return rc;
}

static int load_limits(const json_t *doc, const char *path,
                       mvm_model_config *cfg, mvm_error *err)
{
  static const char *const keys[] = {"max_response_bytes", "max_event_bytes",
                                     "max_tool_calls", NULL};
  const json_t *obj = json_object_get(doc, "limits");
  double response = 0;
  double event = 0;
  double calls = 0;
  int rc;

  if (obj == NULL)
    return MVM_OK;
  if (!json_is_object(obj))
    return mvm_error_set(err, MVM_ECONFIG, "config",
                         "%s: 'limits' must be an object", path);
  rc = check_keys(obj, keys, "limits", path, err);
  if (rc == MVM_OK)
    rc = get_number(obj, "max_response_bytes", path, 1024, 1e10, &response,
                    err);
  if (rc == MVM_OK)
    rc = get_number(obj, "max_event_bytes", path, 64, 1e10, &event, err);
  if (rc == MVM_OK)
    rc = get_number(obj, "max_tool_calls", path, 1, 100000, &calls, err);
  cfg->max_response_bytes = (size_t)response;
  cfg->max_event_bytes = (size_t)event;
  cfg->max_tool_calls = (size_t)calls;
  return rc;
}

static int load_prices(const json_t *doc, const char *path,
                       mvm_model_config *cfg, mvm_error *err)
{
  const json_t *prices = json_object_get(doc, "prices");
  int rc;

  if (prices == NULL) {
    rc = mvm_price_table_default(&cfg->owned_prices, err);
  } else if (json_is_object(prices)) {
    rc = mvm_price_table_parse(prices, path, &cfg->owned_prices, err);
  } else if (json_is_string(prices)) {
    const char *file = json_string_value(prices);
    char *full = NULL;
    if (file[0] == '/') {
      full = strdup(file);
    } else {
      char *copy = strdup(path);
      if (copy != NULL && asprintf(&full, "%s/%s", dirname(copy), file) < 0)
        full = NULL;
      free(copy);
    }
    if (full == NULL)
      return mvm_error_set(err, MVM_ENOMEM, "config", "out of memory");
    rc = mvm_price_table_load(full, &cfg->owned_prices, err);
    free(full);
  } else {
    return mvm_error_set(err, MVM_ECONFIG, "config",
                         "%s: 'prices' must be a file name or a price "
                         "table object",
                         path);
  }
  cfg->prices = cfg->owned_prices;
  return rc;
}

static int load_doc(const json_t *doc, const char *path,
                    mvm_model_config *cfg, mvm_error *err)
{
  static const char *const keys[] = {
      "openai",         "anthropic", "openai-compatible",
      "connect_timeout_s", "timeout_s", "idle_timeout_s",
      "stream",         "retry",     "limits",
      "max_tokens",     "prices",    NULL};
  const json_t *stream = json_object_get(doc, "stream");
  double max_tokens = 0;
  int rc;

  if (!json_is_object(doc))
    return mvm_error_set(err, MVM_ECONFIG, "config",
                         "%s must contain a JSON object", path);
  rc = check_keys(doc, keys, "the model configuration", path, err);
  if (rc == MVM_OK)
    rc = load_provider(doc, "openai", true, path, &cfg->openai, err);
  if (rc == MVM_OK)
    rc = load_provider(doc, "anthropic", true, path, &cfg->anthropic, err);
  if (rc == MVM_OK)
    rc = load_provider(doc, "openai-compatible", false, path,
                       &cfg->compatible, err);
  if (rc == MVM_OK)
    rc = get_number(doc, "connect_timeout_s", path, 0.001, 3600,
                    &cfg->connect_timeout_s, err);
  if (rc == MVM_OK)
    rc = get_number(doc, "timeout_s", path, 0.001, 86400, &cfg->timeout_s,
                    err);
  if (rc == MVM_OK)
    rc = get_number(doc, "idle_timeout_s", path, 0.001, 86400,
                    &cfg->idle_timeout_s, err);
  if (rc == MVM_OK && stream != NULL && !json_is_boolean(stream))
    rc = mvm_error_set(err, MVM_ECONFIG, "config",
                       "%s: 'stream' must be true or false", path);
  cfg->no_stream = json_is_false(stream);
  if (rc == MVM_OK)
    rc = load_retry(doc, path, cfg, err);
  if (rc == MVM_OK)
    rc = load_limits(doc, path, cfg, err);
  if (rc == MVM_OK)
    rc = get_number(doc, "max_tokens", path, 1, 10000000, &max_tokens, err);
  cfg->default_max_tokens = (int)max_tokens;
  if (rc == MVM_OK)
    rc = load_prices(doc, path, cfg, err);
  return rc;
}

int mvm_model_config_load(const char *path, mvm_model_config *cfg,
                          mvm_error *err)
{
  mvm_model_config tmp;
  json_t *doc = NULL;

  memset(&tmp, 0, sizeof tmp);
  int rc = mvm_json_load_file(path, NULL, &doc, err);
  if (rc)
    return rc;

  tmp.owned_doc = doc;
  rc = load_doc(doc, path, &tmp, err);
  if (rc) {
    mvm_model_config_free(&tmp);
    return rc;
  }
  *cfg = tmp;
  return MVM_OK;
}
