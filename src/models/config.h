/* config.h - settings shared by the model adapters: endpoints, keys,
 * timeouts, retries, limits, prices and the usage meter.
 *
 * A zeroed mvm_model_config is valid and means "defaults, keys and base
 * URLs from the environment". Strings and the price table are borrowed:
 * adapters copy the strings they keep when they open, while `prices` and
 * `meter` must outlive every model opened with the config. A config filled
 * by mvm_model_config_load owns its strings and table and is released with
 * mvm_model_config_free. */
#ifndef MVM_MODELS_CONFIG_H
#define MVM_MODELS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "models/price.h"
#include "mvm.h"

/* The providers' documented API roots, used when neither the config nor
 * the environment names a base URL. */
#define MVM_OPENAI_DEFAULT_BASE_URL "https://api.openai.com/v1"
#define MVM_ANTHROPIC_DEFAULT_BASE_URL "https://api.anthropic.com/v1"

#define MVM_MODEL_DEFAULT_CONNECT_TIMEOUT_S 10.0
#define MVM_MODEL_DEFAULT_TIMEOUT_S 600.0
#define MVM_MODEL_DEFAULT_IDLE_TIMEOUT_S 300.0
#define MVM_MODEL_DEFAULT_MAX_ATTEMPTS 4
#define MVM_MODEL_DEFAULT_RETRY_BASE_S 0.5
#define MVM_MODEL_DEFAULT_RETRY_MAX_S 30.0
#define MVM_MODEL_DEFAULT_MAX_RESPONSE_BYTES (8u * 1024 * 1024)
#define MVM_MODEL_DEFAULT_MAX_EVENT_BYTES (1024u * 1024)
#define MVM_MODEL_DEFAULT_MAX_TOOL_CALLS 128
#define MVM_MODEL_DEFAULT_MAX_TOKENS 4096

/* Endpoint and key of one provider. */
typedef struct mvm_provider_config {
  const char *base_url; /* NULL: environment, else the provider's own */
  const char *api_key;  /* NULL: from the environment */
} mvm_provider_config;

typedef struct mvm_model_config {
  mvm_provider_config openai;     /* env OPENAI_BASE_URL, OPENAI_API_KEY */
  mvm_provider_config anthropic;  /* ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY */
  mvm_provider_config compatible; /* key only; the spec gives the URL */

  double connect_timeout_s; /* 0: default; per connection attempt */
  double timeout_s;         /* 0: default; whole request, per attempt */
  double idle_timeout_s;    /* 0: default; silence within a stream */
  int max_attempts;         /* 0: default; 1 disables retries */
  double retry_base_s;      /* 0: default; first backoff ceiling */
  double retry_max_s;       /* 0: default; longest wait between attempts */

  bool no_stream;            /* true: ask for whole replies, not streams */
  size_t max_response_bytes; /* 0: default; body or whole stream */
  size_t max_event_bytes;    /* 0: default; one SSE line or event */
  size_t max_tool_calls;     /* 0: default; tool calls in one reply */
  int default_max_tokens;    /* 0: default; Anthropic needs a value */

  const mvm_price_table *prices; /* NULL: no costs (cost_usd null) */
  mvm_model_meter *meter;        /* NULL: no totals */

  /* Owned storage of a loaded config; NULL when filled by hand. */
  json_t *owned_doc;
  mvm_price_table *owned_prices;
} mvm_model_config;

/* Fills *cfg from a JSON config file:
 *   {"openai": {"base_url", "api_key"}, "anthropic": {...},
 *    "openai-compatible": {"api_key"},
 *    "connect_timeout_s", "timeout_s", "idle_timeout_s", "stream": bool,
 *    "retry": {"max_attempts", "base_delay_s", "max_delay_s"},
 *    "limits": {"max_response_bytes", "max_event_bytes",
 *               "max_tool_calls"},
 *    "max_tokens": n,
 *    "prices": "prices.json" (relative to the config file) or a table}
 * Every key is optional; an unknown key is an MVM_ECONFIG error naming it,
 * so a misspelling is not silently ignored. Without "prices" the shipped
 * table is used. The meter is left NULL. */
int mvm_model_config_load(const char *path, mvm_model_config *cfg,
                          mvm_error *err);

/* Fills *cfg with defaults and the shipped price table (owned). */
int mvm_model_config_defaults(mvm_model_config *cfg, mvm_error *err);

/* Releases what a loaded config owns and zeroes it. */
void mvm_model_config_free(mvm_model_config *cfg);

/* The settings an adapter runs with, after defaults and environment. */
typedef struct mvm_model_settings {
  double connect_timeout_s;
  double timeout_s;
  double idle_timeout_s;
  int max_attempts;
  double retry_base_s;
  double retry_max_s;
  bool stream;
  size_t max_response_bytes;
  size_t max_event_bytes;
  size_t max_tool_calls;
  int default_max_tokens;
  const mvm_price_table *prices;
  mvm_model_meter *meter;
} mvm_model_settings;

/* Resolves cfg (may be NULL) into settings with defaults filled in. */
void mvm_model_settings_from(const mvm_model_config *cfg,
                             mvm_model_settings *out);

#endif
