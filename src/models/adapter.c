/* adapter.c - the shared parts of the HTTP model adapters. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "models/adapter.h"
#include "models/reply.h"

#define KEY_MASK "[key masked]"

static int url_is_http(const char *url)
{
  return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

static int init_strings(mvm_adapter *a, const char *model,
                        const char *base_url, const char *path,
                        const char *api_key, const char *auth_name,
                        const char *auth_prefix)
{
  size_t len = strlen(base_url);

  a->model = strdup(model);
  a->base_url = strdup(base_url);
  if (a->model == NULL || a->base_url == NULL)
    return MVM_ENOMEM;
  while (len > 0 && a->base_url[len - 1] == '/')
    a->base_url[--len] = '\0';
  if (asprintf(&a->url, "%s%s", a->base_url, path) < 0) {
    a->url = NULL;
    return MVM_ENOMEM;
  }

  if (api_key == NULL || api_key[0] == '\0')
    return MVM_OK;
  a->api_key = strdup(api_key);
  if (a->api_key == NULL)
    return MVM_ENOMEM;
  if (asprintf(&a->auth_header, "%s: %s%s", auth_name, auth_prefix,
               api_key) < 0) {
    a->auth_header = NULL;
    return MVM_ENOMEM;
  }
  return MVM_OK;
}

int mvm_adapter_init(mvm_adapter *a, const char *provider, const char *model,
                     const char *base_url, const char *path,
                     const char *api_key, const char *auth_name,
                     const char *auth_prefix, const mvm_model_config *cfg,
                     mvm_error *err)
{
  a->provider = provider;
  snprintf(a->where, sizeof a->where, "model:%s", provider);
  mvm_model_settings_from(cfg, &a->settings);

  if (!url_is_http(base_url))
    return mvm_error_set(err, MVM_ECONFIG, a->where,
                         "base URL '%s' must start with http:// or "
                         "https://",
                         base_url);
  if (strpbrk(api_key ? api_key : "", "\r\n") != NULL)
    return mvm_error_set(err, MVM_ECONFIG, a->where,
                         "the %s API key contains a line break; check the "
                         "key's source",
                         provider);
  if (init_strings(a, model, base_url, path, api_key, auth_name,
                   auth_prefix))
    return mvm_error_set(err, MVM_ENOMEM, a->where, "out of memory");

  mvm_http_options opts = {
      .where = a->where,
      .connect_timeout_s = a->settings.connect_timeout_s,
      .timeout_s = a->settings.timeout_s,
      .idle_timeout_s = a->settings.idle_timeout_s,
      .max_attempts = a->settings.max_attempts,
      .retry_base_s = a->settings.retry_base_s,
      .retry_max_s = a->settings.retry_max_s,
      .max_response_bytes = a->settings.max_response_bytes,
  };
  return mvm_http_client_new(&opts, &a->http, err);
}

void mvm_adapter_free(mvm_adapter *a)
{
  mvm_http_client_free(a->http);
  if (a->api_key != NULL)
    memset(a->api_key, 0, strlen(a->api_key));
  if (a->auth_header != NULL)
    memset(a->auth_header, 0, strlen(a->auth_header));
  free(a->api_key);
  free(a->auth_header);
  free(a->url);
  free(a->base_url);
  free(a->model);
  memset(a, 0, sizeof *a);
}

void mvm_adapter_mask(const mvm_adapter *a, char *text)
{
  if (a->api_key == NULL || a->api_key[0] == '\0')
    return;

  size_t klen = strlen(a->api_key);
  size_t mlen = strlen(KEY_MASK);
  char *hit;

  while ((hit = strstr(text, a->api_key)) != NULL) {
    size_t rest = strlen(hit + klen);
    /* The mask is no longer than any key worth masking; a shorter key is
     * overwritten with as much of the mask as fits. */
    size_t put = mlen <= klen ? mlen : klen;
    memcpy(hit, KEY_MASK, put);
    memmove(hit + put, hit + klen, rest + 1);
  }
}

/* Copies at most `max` bytes of body into out as printable text. */
static void printable(const char *body, size_t len, char *out, size_t size)
{
  size_t n = 0;
  for (size_t i = 0; i < len && n + 1 < size; i++) {
    unsigned char c = (unsigned char)body[i];
    out[n++] = (c >= 0x20 && c != 0x7F) ? (char)c : ' ';
  }
  out[n] = '\0';
}

static const char *status_hint(const mvm_adapter *a, long status)
{
  if (status == 401 || status == 403) {
    if (strcmp(a->provider, "openai") == 0)
      return "; check OPENAI_API_KEY or openai.api_key";
    if (strcmp(a->provider, "anthropic") == 0)
      return "; check ANTHROPIC_API_KEY or anthropic.api_key";
    return "; check the server's API key";
  }
  if (status == 404)
    return "; check the model name and the base URL";
  if (status == 429)
    return "; the provider is rate limiting, wait or lower the request rate";
  return "";
}

int mvm_adapter_http_error(const mvm_adapter *a,
                           const mvm_http_response *resp, mvm_error *err)
{
  json_t *doc = NULL;
  mvm_error jerr;
  char detail[320];
  char extra[200];
  mvm_json_limits limits = {.max_bytes = MVM_HTTP_ERROR_BODY_MAX};

  if (mvm_json_parse(resp->body.data ? resp->body.data : "", resp->body.len,
                     &limits, "error body", &doc, &jerr) == MVM_OK &&
      json_is_object(json_object_get(doc, "error"))) {
    const json_t *e = json_object_get(doc, "error");
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));

    snprintf(detail, sizeof detail, "(%s%s%s): %s", type ? type : "error",
             code ? ", code " : "", code ? code : "",
             msg ? msg : "no message");
  } else {
    char body[200];
    printable(resp->body.data ? resp->body.data : "", resp->body.len, body,
              sizeof body);
    snprintf(detail, sizeof detail, "with a body that is not a provider "
             "error: '%s'", body);
  }
  json_decref(doc);

  snprintf(extra, sizeof extra, "%s%s%s after %d attempt%s",
           resp->request_id[0] ? " (request id " : "", resp->request_id,
           resp->request_id[0] ? ")" : "", resp->attempts,
           resp->attempts == 1 ? "" : "s");
  mvm_error_set(err, MVM_EMODEL, a->where, "%s returned HTTP %ld %s%s%s",
                a->provider, resp->status, detail, extra,
                status_hint(a, resp->status));
  if (err != NULL)
    mvm_adapter_mask(a, err->msg);
  return MVM_EMODEL;
}

int mvm_adapter_finish_reply(mvm_adapter *a, json_t **reply, mvm_error *err)
{
  json_t *checked = NULL;
  char what[96];

  snprintf(what, sizeof what, "the %s reply", a->provider);
  int rc = mvm_reply_normalize(*reply, what, a->model,
                               a->settings.max_tool_calls, &checked, err);
  if (rc) {
    if (err != NULL)
      snprintf(err->where, sizeof err->where, "%s", a->where);
    return rc;
  }
  if (mvm_price_apply(a->settings.prices, a->provider, a->model, checked)) {
    json_decref(checked);
    return mvm_error_set(err, MVM_ENOMEM, a->where, "out of memory");
  }
  mvm_model_meter_add(a->settings.meter, checked);
  json_decref(*reply);
  *reply = checked;
  return MVM_OK;
}

static int check_message(const mvm_adapter *a, const json_t *m, size_t i,
                         mvm_error *err)
{
  const char *role = json_string_value(json_object_get(m, "role"));
  const json_t *content = json_object_get(m, "content");
  const json_t *calls = json_object_get(m, "tool_calls");

  if (!json_is_object(m))
    return mvm_error_set(err, MVM_EINVAL, a->where,
                         "request messages[%zu] must be an object", i);
  if (role == NULL ||
      (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
       strcmp(role, "assistant") != 0 && strcmp(role, "tool") != 0))
    return mvm_error_set(err, MVM_EINVAL, a->where,
                         "request messages[%zu].role must be one of system, "
                         "user, assistant, tool",
                         i);
  if (content != NULL && !json_is_string(content) && !json_is_null(content))
    return mvm_error_set(err, MVM_EINVAL, a->where,
                         "request messages[%zu].content must be a string",
                         i);
  if (calls != NULL && !json_is_array(calls))
    return mvm_error_set(err, MVM_EINVAL, a->where,
                         "request messages[%zu].tool_calls must be an array",
                         i);

  size_t k;
  const json_t *call;
  json_array_foreach(calls, k, call) {
    if (!json_is_string(json_object_get(call, "id")) ||
        !json_is_string(json_object_get(call, "name")))
      return mvm_error_set(err, MVM_EINVAL, a->where,
                           "request messages[%zu].tool_calls[%zu] needs a "
                           "string id and name",
                           i, k);
  }
  if (strcmp(role, "tool") == 0 &&
      !json_is_string(json_object_get(m, "tool_call_id")))
    return mvm_error_set(err, MVM_EINVAL, a->where,
                         "request messages[%zu] has role tool but no "
                         "string tool_call_id",
                         i);
  return MVM_OK;
}

int mvm_adapter_check_request(const mvm_adapter *a, const json_t *request,
                              mvm_error *err)
{
  const json_t *messages = json_object_get(request, "messages");
  const json_t *tools = json_object_get(request, "tools");
  size_t i;
  const json_t *item;

  if (!json_is_object(request) || !json_is_array(messages))
    return mvm_error_set(err, MVM_EINVAL, a->where,
                         "the model request must be an object with a "
                         "'messages' array");
  json_array_foreach(messages, i, item) {
    int rc = check_message(a, item, i, err);
    if (rc)
      return rc;
  }

  if (tools != NULL && !json_is_array(tools))
    return mvm_error_set(err, MVM_EINVAL, a->where,
                         "request 'tools' must be an array");
  json_array_foreach(tools, i, item) {
    if (!json_is_string(json_object_get(item, "name")))
      return mvm_error_set(err, MVM_EINVAL, a->where,
                           "request tools[%zu] needs a string name", i);
  }
  return MVM_OK;
}

char *mvm_adapter_arguments_text(const json_t *call)
{
  const json_t *args = json_object_get(call, "arguments");
  const json_t *raw = json_object_get(call, "arguments_raw");

  if (json_is_object(args))
    return json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (json_is_string(raw))
    return strdup(json_string_value(raw));
  return strdup("{}");
}

void mvm_call_parts_init(mvm_call_parts *parts, size_t max,
                         size_t max_arg_bytes)
{
  parts->items = NULL;
  parts->count = 0;
  parts->max = max;
  parts->max_arg_bytes = max_arg_bytes;
}

void mvm_call_parts_free(mvm_call_parts *parts)
{
  for (size_t i = 0; i < parts->count; i++) {
    free(parts->items[i].id);
    free(parts->items[i].name);
    mvm_buf_free(&parts->items[i].args);
  }
  free(parts->items);
  parts->items = NULL;
  parts->count = 0;
}

int mvm_call_parts_get(mvm_call_parts *parts, long key, mvm_call_part **out,
                       const char *where, mvm_error *err)
{
  for (size_t i = 0; i < parts->count; i++) {
    if (parts->items[i].key == key) {
      *out = &parts->items[i];
      return MVM_OK;
    }
  }
  if (parts->count >= parts->max)
    return mvm_error_set(err, MVM_ELIMIT, where,
                         "the reply has more than %zu tool calls; raise "
                         "limits.max_tool_calls",
                         parts->max);

  mvm_call_part *items =
      realloc(parts->items, (parts->count + 1) * sizeof *items);
  if (items == NULL)
    return mvm_error_set(err, MVM_ENOMEM, where, "out of memory");
  parts->items = items;

  mvm_call_part *part = &items[parts->count++];
  memset(part, 0, sizeof *part);
  part->key = key;
  mvm_buf_init(&part->args, parts->max_arg_bytes);
  *out = part;
  return MVM_OK;
}

int mvm_call_part_set(char **field, const char *value, size_t len)
{
  if (*field != NULL && (*field)[0] != '\0')
    return MVM_OK;
  char *copy = strndup(value, len);
  if (copy == NULL)
    return MVM_ENOMEM;
  free(*field);
  *field = copy;
  return MVM_OK;
}

int mvm_call_part_append(mvm_call_parts *parts, mvm_call_part *part,
                         const char *text, size_t len, const char *where,
                         mvm_error *err)
{
  int rc = mvm_buf_append(&part->args, text, len);
  if (rc == MVM_ELIMIT)
    return mvm_error_set(err, MVM_ELIMIT, where,
                         "tool call arguments are over the limit of %zu "
                         "bytes; raise limits.max_response_bytes",
                         parts->max_arg_bytes);
  if (rc)
    return mvm_error_set(err, rc, where, "out of memory");
  return MVM_OK;
}

static json_t *call_to_json(const mvm_call_part *p, uint64_t call, size_t i)
{
  char generated[64];
  const char *id = p->id;
  json_t *c = json_object();

  if (id == NULL || id[0] == '\0') {
    snprintf(generated, sizeof generated, "call_mvm_%llu_%zu",
             (unsigned long long)call, i);
    id = generated;
  }
  if (c == NULL || json_object_set_new(c, "id", json_string(id)) != 0 ||
      json_object_set_new(c, "name", json_string(p->name)) != 0 ||
      mvm_reply_set_arguments(c, p->args.data ? p->args.data : "",
                              p->args.len) != MVM_OK) {
    json_decref(c);
    return NULL;
  }
  return c;
}

int mvm_call_parts_to_json(const mvm_call_parts *parts, uint64_t call,
                           const char *where, json_t **out, mvm_error *err)
{
  json_t *list = json_array();
  if (list == NULL)
    return mvm_error_set(err, MVM_ENOMEM, where, "out of memory");

  for (size_t i = 0; i < parts->count; i++) {
    const mvm_call_part *p = &parts->items[i];

    if (p->name == NULL || p->name[0] == '\0') {
      json_decref(list);
      return mvm_error_set(err, MVM_EMODEL, where,
                           "the model sent tool call %zu without a name", i);
    }
    json_t *c = call_to_json(p, call, i);
    if (c == NULL || json_array_append_new(list, c) != 0) {
      json_decref(list);
      return mvm_error_set(err, MVM_ENOMEM, where, "out of memory");
    }
  }
  *out = list;
  return MVM_OK;
}
