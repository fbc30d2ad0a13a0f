/* adapter.h - parts shared by the HTTP model adapters (OpenAI, Anthropic,
 * OpenAI-compatible): the adapter record, key handling, provider error
 * messages, reply accounting, and the assembly of streamed tool calls.
 *
 * Internal to src/models. An adapter owns every string and handle in its
 * record and releases them in mvm_adapter_free. */
#ifndef MVM_MODELS_ADAPTER_H
#define MVM_MODELS_ADAPTER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "models/config.h"
#include "models/http.h"
#include "mvm.h"

typedef struct mvm_adapter {
  const char *provider;   /* "openai", "anthropic", "openai-compatible" */
  char where[64];         /* "model:openai", for errors and logs */
  char *model;            /* the requested model id */
  char *base_url;         /* without a trailing '/' */
  char *url;              /* the endpoint that calls POST to */
  char *api_key;          /* NULL for servers without keys */
  char *auth_header;      /* "Authorization: Bearer ..." or NULL */
  mvm_model_settings settings;
  mvm_http_client *http;
  uint64_t calls;         /* calls made, for generated tool-call ids */
} mvm_adapter;

/* Fills a (zeroed by the caller) from the arguments: copies model,
 * base_url and api_key, builds url = base_url + path, and the
 * authorization header "<auth_name>: <auth_prefix><key>" when there is a
 * key. Fails with MVM_ECONFIG when base_url is not an http or https URL,
 * MVM_ENOMEM, or the HTTP client's error. */
int mvm_adapter_init(mvm_adapter *a, const char *provider, const char *model,
                     const char *base_url, const char *path,
                     const char *api_key, const char *auth_name,
                     const char *auth_prefix, const mvm_model_config *cfg,
                     mvm_error *err);
void mvm_adapter_free(mvm_adapter *a);

/* Replaces every occurrence of the adapter's API key in text (in place,
 * NUL-terminated) with "[key masked]" or as much of it as fits. */
void mvm_adapter_mask(const mvm_adapter *a, char *text);

/* Fills err with MVM_EMODEL for a non-2xx response: the status, the
 * provider's error type, code and message from its JSON error body
 * ({"error": {"type", "message", "code"}}, as OpenAI and Anthropic send
 * it), the request id, the attempts made, and a hint for 401, 403, 404 and
 * 429. Returns MVM_EMODEL. */
int mvm_adapter_http_error(const mvm_adapter *a,
                           const mvm_http_response *resp, mvm_error *err);

/* Checks the reply an adapter assembled (limits, field shapes), sets
 * cost_usd from the price table and adds the reply to the meter. On
 * success *reply is replaced by the checked copy. */
int mvm_adapter_finish_reply(mvm_adapter *a, json_t **reply, mvm_error *err);

/* Checks the neutral request: an object with a "messages" array whose
 * entries have a known role and a string or null content, and "tools"
 * entries with a name. Fails with MVM_EINVAL naming the index and field. */
int mvm_adapter_check_request(const mvm_adapter *a, const json_t *request,
                              mvm_error *err);

/* Returns the neutral arguments of a tool call as JSON text for a
 * provider request: the arguments object, or arguments_raw when the model
 * had sent invalid JSON. A malloc'd string or NULL on no memory. */
char *mvm_adapter_arguments_text(const json_t *call);

/* One tool call being assembled from stream fragments. */
typedef struct mvm_call_part {
  long key;       /* the provider's index for the call */
  char *id;
  char *name;
  mvm_buf args;   /* argument text fragments, joined */
  bool streamed;  /* argument fragments have replaced the initial text */
} mvm_call_part;

typedef struct mvm_call_parts {
  mvm_call_part *items;
  size_t count;
  size_t max;            /* tool-call limit */
  size_t max_arg_bytes;  /* cap on one call's argument text */
} mvm_call_parts;

void mvm_call_parts_init(mvm_call_parts *parts, size_t max,
                         size_t max_arg_bytes);
void mvm_call_parts_free(mvm_call_parts *parts);

/* Finds the call with this key, or appends a new one. Fails with
 * MVM_ELIMIT when a new call would pass the tool-call limit. */
int mvm_call_parts_get(mvm_call_parts *parts, long key, mvm_call_part **out,
                       const char *where, mvm_error *err);

/* Sets *field to a copy of value[0..len) unless it is already set and
 * non-empty. Returns MVM_ENOMEM only. */
int mvm_call_part_set(char **field, const char *value, size_t len);

/* Appends argument text; MVM_ELIMIT past max_arg_bytes. */
int mvm_call_part_append(mvm_call_parts *parts, mvm_call_part *part,
                         const char *text, size_t len, const char *where,
                         mvm_error *err);

/* Builds the neutral tool_calls array in key order of first appearance.
 * A call without an id gets "call_mvm_<call>_<n>", stable for the same
 * call number and position. A call without a name is an MVM_EMODEL
 * error. */
int mvm_call_parts_to_json(const mvm_call_parts *parts, uint64_t call,
                           const char *where, json_t **out, mvm_error *err);

#endif
