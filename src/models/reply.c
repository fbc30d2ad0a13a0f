/* reply.c - the neutral model reply: argument parsing, checks, streaming. */
#include <string.h>

#include "base/json.h"
#include "models/reply.h"

static const char *const stop_reasons[] = {"end", "tool_calls", "length",
                                           "refusal", "other"};

bool mvm_reply_stop_reason_valid(const char *s)
{
  for (size_t i = 0; i < sizeof stop_reasons / sizeof stop_reasons[0]; i++) {
    if (strcmp(s, stop_reasons[i]) == 0)
      return true;
  }
  return false;
}

static const char *json_type_name(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "a JSON value";
}

static int set_new(json_t *obj, const char *key, json_t *value)
{
  if (value == NULL)
    return MVM_ENOMEM;
  if (json_object_set_new(obj, key, value) != 0)
    return MVM_ENOMEM;
  return MVM_OK;
}

static int set_arguments_error(json_t *call, const char *why, const char *raw,
                               size_t len)
{
  int rc = set_new(call, "arguments", json_null());
  if (rc == MVM_OK)
    rc = set_new(call, "arguments_error", json_string(why));
  if (rc)
    return rc;

  /* Raw text comes from decoded JSON strings, so it is valid UTF-8 unless
   * a caller passed other bytes; those are not kept. */
  json_t *text = json_stringn(raw, len);
  if (text == NULL)
    text = json_string("(arguments were not valid UTF-8)");
  return set_new(call, "arguments_raw", text);
}

int mvm_reply_set_arguments(json_t *call, const char *raw, size_t len)
{
  mvm_error err;
  json_t *args = NULL;
  size_t i = 0;

  while (i < len && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' ||
                     raw[i] == '\r'))
    i++;
  if (i == len) {
    json_object_del(call, "arguments_error");
    json_object_del(call, "arguments_raw");
    return set_new(call, "arguments", json_object());
  }

  int rc = mvm_json_parse(raw, len, NULL, "tool-call arguments", &args, &err);
  if (rc == MVM_ENOMEM)
    return rc;
  if (rc)
    return set_arguments_error(call, err.msg, raw, len);
  if (!json_is_object(args)) {
    char why[128];
    snprintf(why, sizeof why, "tool-call arguments are %s, not an object",
             json_type_name(args));
    json_decref(args);
    return set_arguments_error(call, why, raw, len);
  }

  json_object_del(call, "arguments_error");
  json_object_del(call, "arguments_raw");
  return set_new(call, "arguments", args);
}

static int normalize_call(const json_t *in, const char *what, size_t index,
                          json_t **out, mvm_error *err)
{
  static const char where[] = "model";
  json_t *call = NULL;
  int rc;

  if (!json_is_object(in))
    return mvm_error_set(err, MVM_EPARSE, where,
                         "%s: tool_calls[%zu] is %s, expected an object "
                         "with id, name and arguments",
                         what, index, json_type_name(in));

  const json_t *id = json_object_get(in, "id");
  const json_t *name = json_object_get(in, "name");
  const json_t *args = json_object_get(in, "arguments");
  const json_t *raw = json_object_get(in, "arguments_raw");

  if (!json_is_string(id) || json_string_length(id) == 0)
    return mvm_error_set(err, MVM_EPARSE, where,
                         "%s: tool_calls[%zu].id must be a non-empty string",
                         what, index);
  if (!json_is_string(name) || json_string_length(name) == 0)
    return mvm_error_set(err, MVM_EPARSE, where,
                         "%s: tool_calls[%zu].name must be a non-empty "
                         "string",
                         what, index);
  if (!json_is_object(args) && !json_is_string(args) &&
      !(json_is_null(args) && json_is_string(raw)))
    return mvm_error_set(err, MVM_EPARSE, where,
                         "%s: tool_calls[%zu].arguments must be an object, "
                         "a string of JSON text, or null with "
                         "arguments_raw",
                         what, index);

  call = json_pack("{sOsO}", "id", id, "name", name);
  if (call == NULL)
    return MVM_ENOMEM;

  if (json_is_object(args))
    rc = set_new(call, "arguments", json_deep_copy(args));
  else if (json_is_string(args))
    rc = mvm_reply_set_arguments(call, json_string_value(args),
                                 json_string_length(args));
  else
    rc = mvm_reply_set_arguments(call, json_string_value(raw),
                                 json_string_length(raw));
  if (rc) {
    json_decref(call);
    return mvm_error_set(err, rc, where, "%s: out of memory", what);
  }
  *out = call;
  return MVM_OK;
}

static int normalize_calls(const json_t *in, const char *what,
                           size_t max_tool_calls, json_t *reply,
                           mvm_error *err)
{
  const json_t *calls = json_object_get(in, "tool_calls");
  json_t *list = json_array();
  size_t i;
  const json_t *c;

  if (list == NULL)
    return MVM_ENOMEM;
  if (set_new(reply, "tool_calls", list))
    return MVM_ENOMEM;
  if (calls == NULL || json_is_null(calls))
    return MVM_OK;
  if (!json_is_array(calls))
    return mvm_error_set(err, MVM_EPARSE, "model",
                         "%s: field 'tool_calls' is %s, expected an array",
                         what, json_type_name(calls));
  if (json_array_size(calls) > max_tool_calls)
    return mvm_error_set(err, MVM_ELIMIT, "model",
                         "%s has %zu tool calls, over the limit of %zu; "
                         "raise max_tool_calls in the model configuration",
                         what, json_array_size(calls), max_tool_calls);

  json_array_foreach(calls, i, c) {
    json_t *call = NULL;
    int rc = normalize_call(c, what, i, &call, err);
    if (rc)
      return rc;
    if (json_array_append_new(list, call))
      return MVM_ENOMEM;
  }
  return MVM_OK;
}

static int normalize_usage(const json_t *in, const char *what, json_t *reply,
                           mvm_error *err)
{
  const json_t *usage = json_object_get(in, "usage");
  if (usage == NULL || json_is_null(usage))
    return set_new(reply, "usage",
                   json_pack("{sisisb}", "input_tokens", 0, "output_tokens",
                             0, "reported", 0));
  if (!json_is_object(usage))
    return mvm_error_set(err, MVM_EPARSE, "model",
                         "%s: field 'usage' is %s, expected an object with "
                         "input_tokens and output_tokens",
                         what, json_type_name(usage));

  const json_t *in_tok = json_object_get(usage, "input_tokens");
  const json_t *out_tok = json_object_get(usage, "output_tokens");
  if (!json_is_integer(in_tok) || json_integer_value(in_tok) < 0)
    return mvm_error_set(err, MVM_EPARSE, "model",
                         "%s: usage.input_tokens must be an integer >= 0",
                         what);
  if (!json_is_integer(out_tok) || json_integer_value(out_tok) < 0)
    return mvm_error_set(err, MVM_EPARSE, "model",
                         "%s: usage.output_tokens must be an integer >= 0",
                         what);
  return set_new(reply, "usage", json_deep_copy(usage));
}

static int normalize_fields(const json_t *in, const char *what,
                            const char *default_model, json_t *reply,
                            mvm_error *err)
{
  const json_t *text = json_object_get(in, "text");
  const json_t *stop = json_object_get(in, "stop_reason");
  const json_t *model = json_object_get(in, "model");
  const json_t *cost = json_object_get(in, "cost_usd");
  int rc;

  if (text != NULL && !json_is_null(text) && !json_is_string(text))
    return mvm_error_set(err, MVM_EPARSE, "model",
                         "%s: field 'text' is %s, expected a string", what,
                         json_type_name(text));
  rc = set_new(reply, "text",
               json_is_string(text) ? json_copy((json_t *)text)
                                    : json_string(""));
  if (rc)
    return rc;

  if (stop != NULL && !(json_is_string(stop) &&
                        mvm_reply_stop_reason_valid(json_string_value(stop))))
    return mvm_error_set(err, MVM_EPARSE, "model",
                         "%s: field 'stop_reason' must be one of end, "
                         "tool_calls, length, refusal, other",
                         what);
  if (stop == NULL) {
    size_t ncalls = json_array_size(json_object_get(reply, "tool_calls"));
    rc = set_new(reply, "stop_reason",
                 json_string(ncalls > 0 ? "tool_calls" : "end"));
  } else {
    rc = set_new(reply, "stop_reason", json_copy((json_t *)stop));
  }
  if (rc)
    return rc;

  if (model != NULL && !json_is_string(model))
    return mvm_error_set(err, MVM_EPARSE, "model",
                         "%s: field 'model' is %s, expected a string", what,
                         json_type_name(model));
  rc = set_new(reply, "model",
               model ? json_copy((json_t *)model)
                     : json_string(default_model ? default_model : ""));
  if (rc)
    return rc;

  if (cost != NULL && !json_is_null(cost) &&
      !(json_is_number(cost) && json_number_value(cost) >= 0))
    return mvm_error_set(err, MVM_EPARSE, "model",
                         "%s: field 'cost_usd' must be a number >= 0 or "
                         "null",
                         what);
  return set_new(reply, "cost_usd",
                 json_is_number(cost) ? json_copy((json_t *)cost)
                                      : json_null());
}

int mvm_reply_normalize(const json_t *in, const char *what,
                        const char *default_model, size_t max_tool_calls,
                        json_t **out, mvm_error *err)
{
  json_t *reply = NULL;
  int rc;

  if (!json_is_object(in))
    return mvm_error_set(err, MVM_EPARSE, "model",
                         "%s is %s, expected an object with text, "
                         "tool_calls, usage and stop_reason",
                         what, json_type_name(in));

  reply = json_object();
  if (reply == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "model", "%s: out of memory",
                         what);

  rc = normalize_calls(in, what, max_tool_calls, reply, err);
  if (rc == MVM_OK)
    rc = normalize_usage(in, what, reply, err);
  if (rc == MVM_OK)
    rc = normalize_fields(in, what, default_model, reply, err);
  if (rc == MVM_ENOMEM)
    mvm_error_set(err, rc, "model", "%s: out of memory", what);
  if (rc) {
    json_decref(reply);
    return rc;
  }
  *out = reply;
  return MVM_OK;
}

/* Moves pos forward to the start of a UTF-8 character. */
static size_t char_boundary(const char *text, size_t len, size_t pos)
{
  while (pos < len && ((unsigned char)text[pos] & 0xC0) == 0x80)
    pos++;
  return pos;
}

int mvm_reply_stream_text(const mvm_model_stream *stream, const char *text,
                          size_t len, int pieces, const char *where,
                          mvm_error *err)
{
  if (stream == NULL)
    return MVM_OK;
  if (pieces < 1)
    pieces = 1;

  size_t step = (len + (size_t)pieces - 1) / (size_t)pieces;
  size_t pos = 0;

  while (pos < len) {
    if (stream->cancelled != NULL && stream->cancelled(stream->ctx))
      return mvm_error_set(err, MVM_ECANCELLED, where,
                           "the model call was cancelled");
    size_t end = char_boundary(text, len, pos + step < len ? pos + step : len);
    if (stream->on_text != NULL)
      stream->on_text(stream->ctx, text + pos, end - pos);
    pos = end;
  }
  if (stream->cancelled != NULL && stream->cancelled(stream->ctx))
    return mvm_error_set(err, MVM_ECANCELLED, where,
                         "the model call was cancelled");
  return MVM_OK;
}
