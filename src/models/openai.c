/* openai.c - OpenAI Chat Completions: request mapping, reply parsing,
 * stream assembly, and the model adapter. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "models/openai.h"
#include "models/reply.h"

struct openai_model {
  mvm_adapter a;
  bool compatible;
};

/* ---------------------------------------------------------------- request */

static int set_new(json_t *obj, const char *key, json_t *value)
{
  if (value == NULL || json_object_set_new(obj, key, value) != 0)
    return MVM_ENOMEM;
  return MVM_OK;
}

static json_t *map_tool_calls(const json_t *calls)
{
  json_t *list = json_array();
  size_t i;
  const json_t *call;

  json_array_foreach(calls, i, call) {
    char *args = mvm_adapter_arguments_text(call);
    json_t *item = NULL;
    if (args != NULL)
      item = json_pack("{sOsss{sOss}}", "id", json_object_get(call, "id"),
                       "type", "function", "function", "name",
                       json_object_get(call, "name"), "arguments", args);
    free(args);
    if (item == NULL || json_array_append_new(list, item) != 0) {
      json_decref(list);
      return NULL;
    }
  }
  return list;
}

static json_t *content_or(const json_t *m, json_t *fallback)
{
  const json_t *content = json_object_get(m, "content");
  if (json_is_string(content)) {
    json_decref(fallback);
    return json_copy((json_t *)content);
  }
  return fallback;
}

static json_t *map_message(const json_t *m)
{
  const char *role = json_string_value(json_object_get(m, "role"));
  const json_t *calls = json_object_get(m, "tool_calls");
  json_t *out = json_pack("{ss}", "role", role);
  int rc;

  if (out == NULL)
    return NULL;

  if (strcmp(role, "assistant") == 0 && json_array_size(calls) > 0) {
    const json_t *content = json_object_get(m, "content");
    bool empty = !json_is_string(content) || json_string_length(content) == 0;
    rc = set_new(out, "content", empty ? json_null() : content_or(m, NULL));
    if (rc == MVM_OK)
      rc = set_new(out, "tool_calls", map_tool_calls(calls));
  } else if (strcmp(role, "tool") == 0) {
    rc = set_new(out, "tool_call_id",
                 json_copy(json_object_get(m, "tool_call_id")));
    if (rc == MVM_OK)
      rc = set_new(out, "content", content_or(m, json_string("")));
  } else {
    rc = set_new(out, "content", content_or(m, json_string("")));
  }
  if (rc) {
    json_decref(out);
    return NULL;
  }
  return out;
}

static json_t *map_tools(const json_t *tools)
{
  json_t *list = json_array();
  size_t i;
  const json_t *tool;

  json_array_foreach(tools, i, tool) {
    const json_t *desc = json_object_get(tool, "description");
    const json_t *schema = json_object_get(tool, "input_schema");
    json_t *fn = json_pack("{sO}", "name", json_object_get(tool, "name"));

    if (fn != NULL && json_is_string(desc))
      json_object_set(fn, "description", (json_t *)desc);
    if (fn != NULL)
      json_object_set_new(fn, "parameters",
                          json_is_object(schema)
                              ? json_deep_copy(schema)
                              : json_pack("{ss}", "type", "object"));
    json_t *item = fn ? json_pack("{sssO}", "type", "function", "function",
                                  fn)
                      : NULL;
    json_decref(fn);
    if (item == NULL || json_array_append_new(list, item) != 0) {
      json_decref(list);
      return NULL;
    }
  }
  return list;
}

static int map_tool_choice(const json_t *choice, json_t *body,
                           mvm_error *err)
{
  if (choice == NULL)
    return MVM_OK;
  if (json_is_string(choice)) {
    const char *s = json_string_value(choice);
    if (strcmp(s, "auto") != 0 && strcmp(s, "none") != 0 &&
        strcmp(s, "required") != 0)
      return mvm_error_set(err, MVM_EINVAL, "model:openai",
                           "request tool_choice '%s' must be auto, none, "
                           "required or {\"name\": ...}",
                           s);
    return set_new(body, "tool_choice", json_copy((json_t *)choice));
  }
  const json_t *name = json_object_get(choice, "name");
  if (!json_is_string(name))
    return mvm_error_set(err, MVM_EINVAL, "model:openai",
                         "request tool_choice must be auto, none, required "
                         "or {\"name\": ...}");
  return set_new(body, "tool_choice",
                 json_pack("{sss{sO}}", "type", "function", "function",
                           "name", name));
}

static int map_options(const json_t *request, bool stream, bool compatible,
                       json_t *body, mvm_error *err)
{
  const json_t *format = json_object_get(request, "response_format");
  const json_t *max_tokens = json_object_get(request, "max_tokens");
  const json_t *temperature = json_object_get(request, "temperature");
  const json_t *parallel = json_object_get(request, "parallel_tool_calls");
  int rc = MVM_OK;

  if (format != NULL && !json_is_object(format))
    return mvm_error_set(err, MVM_EINVAL, "model:openai",
                         "request response_format must be a JSON Schema "
                         "object");
  if (format != NULL)
    rc = set_new(body, "response_format",
                 json_pack("{sss{sssOsb}}", "type", "json_schema",
                           "json_schema", "name", "reply", "schema", format,
                           "strict", 0));
  if (rc == MVM_OK && json_is_integer(max_tokens))
    rc = set_new(body, compatible ? "max_tokens" : "max_completion_tokens",
                 json_copy((json_t *)max_tokens));
  if (rc == MVM_OK && json_is_number(temperature))
    rc = set_new(body, "temperature", json_copy((json_t *)temperature));
  if (rc == MVM_OK && json_is_boolean(parallel))
    rc = set_new(body, "parallel_tool_calls", json_copy((json_t *)parallel));
  if (rc == MVM_OK && stream) {
    rc = set_new(body, "stream", json_true());
    if (rc == MVM_OK)
      rc = set_new(body, "stream_options",
                   json_pack("{sb}", "include_usage", 1));
  }
  if (rc == MVM_ENOMEM)
    mvm_error_set(err, rc, "model:openai", "out of memory");
  return rc;
}

int mvm_openai_build_request(const json_t *request, const char *model,
                             bool stream, bool compatible, json_t **out,
                             mvm_error *err)
{
  const json_t *messages = json_object_get(request, "messages");
  const json_t *tools = json_object_get(request, "tools");
  json_t *body = json_pack("{sss[]}", "model", model, "messages");
  json_t *list = json_object_get(body, "messages");
  size_t i;
  const json_t *m;
  int rc = MVM_OK;

  if (body == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "model:openai", "out of memory");

  json_array_foreach(messages, i, m) {
    if (json_array_append_new(list, map_message(m)) != 0) {
      rc = mvm_error_set(err, MVM_ENOMEM, "model:openai", "out of memory");
      goto out;
    }
  }
  if (json_array_size(tools) > 0) {
    rc = set_new(body, "tools", map_tools(tools));
    if (rc) {
      mvm_error_set(err, rc, "model:openai", "out of memory");
      goto out;
    }
    rc = map_tool_choice(json_object_get(request, "tool_choice"), body, err);
    if (rc)
      goto out;
  }
  rc = map_options(request, stream, compatible, body, err);

out:
  if (rc) {
    json_decref(body);
    return rc;
  }
  *out = body;
  return MVM_OK;
}

/* ---------------------------------------------------------------- reply */

static const char *map_finish(const char *finish, size_t ncalls, bool refusal)
{
  if (refusal)
    return "refusal";
  if (finish == NULL)
    return ncalls > 0 ? "tool_calls" : "end";
  /* Some compatible servers end a tool-calling reply with "stop". */
  if (strcmp(finish, "stop") == 0)
    return ncalls > 0 ? "tool_calls" : "end";
  if (strcmp(finish, "tool_calls") == 0 ||
      strcmp(finish, "function_call") == 0)
    return "tool_calls";
  if (strcmp(finish, "length") == 0)
    return "length";
  if (strcmp(finish, "content_filter") == 0)
    return "refusal";
  return "other";
}

/* Builds the reply; steals calls. */
static int build_reply(const char *text, size_t len, json_t *calls,
                       bool usage_seen, json_int_t in_tok, json_int_t out_tok,
                       const char *finish, bool refusal, const char *model,
                       json_t **reply)
{
  json_t *r = json_object();
  json_t *t = json_stringn(text, len);
  int rc = MVM_ENOMEM;

  if (r == NULL || t == NULL || calls == NULL)
    goto fail;
  if (json_object_set_new(r, "text", t) != 0) {
    t = NULL;
    goto fail;
  }
  t = NULL;
  const char *stop = map_finish(finish, json_array_size(calls), refusal);
  if (json_object_set_new(r, "tool_calls", calls) != 0) {
    calls = NULL;
    goto fail;
  }
  calls = NULL;

  json_t *usage =
      usage_seen
          ? json_pack("{sIsI}", "input_tokens", in_tok, "output_tokens",
                      out_tok)
          : json_pack("{sisisb}", "input_tokens", 0, "output_tokens", 0,
                      "reported", 0);
  if (set_new(r, "usage", usage) || set_new(r, "stop_reason",
                                            json_string(stop)))
    goto fail;
  if (model != NULL && set_new(r, "model", json_string(model)))
    goto fail;
  *reply = r;
  return MVM_OK;

fail:
  json_decref(t);
  json_decref(calls);
  json_decref(r);
  return rc;
}

static int read_usage(const json_t *usage, json_int_t *in_tok,
                      json_int_t *out_tok)
{
  const json_t *p = json_object_get(usage, "prompt_tokens");
  const json_t *c = json_object_get(usage, "completion_tokens");
  if (!json_is_integer(p) || !json_is_integer(c))
    return 0;
  *in_tok = json_integer_value(p) > 0 ? json_integer_value(p) : 0;
  *out_tok = json_integer_value(c) > 0 ? json_integer_value(c) : 0;
  return 1;
}

/* Appends a tool_calls entry of a whole reply to the call parts. */
static int add_whole_call(mvm_call_parts *parts, const json_t *tc, size_t i,
                          const char *where, mvm_error *err)
{
  const json_t *fn = json_object_get(tc, "function");
  const json_t *id = json_object_get(tc, "id");
  const json_t *name = json_object_get(fn, "name");
  const json_t *args = json_object_get(fn, "arguments");
  mvm_call_part *part = NULL;
  int rc;

  if (!json_is_object(fn) || !json_is_string(name))
    return mvm_error_set(err, MVM_EPARSE, where,
                         "reply message.tool_calls[%zu] has no "
                         "function.name",
                         i);
  rc = mvm_call_parts_get(parts, (long)i, &part, where, err);
  if (rc)
    return rc;
  if (json_is_string(id) &&
      mvm_call_part_set(&part->id, json_string_value(id),
                        json_string_length(id)))
    return mvm_error_set(err, MVM_ENOMEM, where, "out of memory");
  if (mvm_call_part_set(&part->name, json_string_value(name),
                        json_string_length(name)))
    return mvm_error_set(err, MVM_ENOMEM, where, "out of memory");

  if (json_is_string(args))
    return mvm_call_part_append(parts, part, json_string_value(args),
                                json_string_length(args), where, err);
  if (json_is_object(args)) {
    /* Some compatible servers send the arguments as an object. */
    char *text = json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
      return mvm_error_set(err, MVM_ENOMEM, where, "out of memory");
    rc = mvm_call_part_append(parts, part, text, strlen(text), where, err);
    free(text);
    return rc;
  }
  return MVM_OK;
}

static int message_text(const json_t *message, mvm_buf *text, bool *refusal,
                        const char *where, mvm_error *err)
{
  const json_t *content = json_object_get(message, "content");
  const json_t *refusal_text = json_object_get(message, "refusal");
  int rc = MVM_OK;

  if (json_is_string(content)) {
    rc = mvm_buf_append(text, json_string_value(content),
                        json_string_length(content));
  } else if (content != NULL && !json_is_null(content)) {
    return mvm_error_set(err, MVM_EPARSE, where,
                         "reply message.content must be a string or null");
  }
  if (rc == MVM_OK && json_is_string(refusal_text)) {
    *refusal = true;
    rc = mvm_buf_append(text, json_string_value(refusal_text),
                        json_string_length(refusal_text));
  }
  if (rc)
    return mvm_error_set(err, rc, where,
                         "the reply text is over the limit of %zu bytes",
                         text->max);
  return MVM_OK;
}

int mvm_openai_parse_reply(const char *body, size_t len, const char *where,
                           uint64_t call, size_t max_tool_calls,
                           json_t **reply, mvm_error *err)
{
  json_t *doc = NULL;
  json_t *calls = NULL;
  mvm_call_parts parts;
  mvm_buf text;
  bool refusal = false;
  json_int_t in_tok = 0;
  json_int_t out_tok = 0;

  mvm_call_parts_init(&parts, max_tool_calls, len + 1);
  mvm_buf_init(&text, len + 1);
  int rc = mvm_json_parse(body, len, NULL, "the chat completion", &doc, err);
  if (rc)
    goto out;

  const json_t *choice = json_array_get(json_object_get(doc, "choices"), 0);
  const json_t *message = json_object_get(choice, "message");
  const json_t *tcs = json_object_get(message, "tool_calls");
  if (!json_is_object(message)) {
    rc = mvm_error_set(err, MVM_EPARSE, where,
                       "the chat completion has no choices[0].message");
    goto out;
  }

  rc = message_text(message, &text, &refusal, where, err);
  size_t i;
  const json_t *tc;
  json_array_foreach(tcs, i, tc) {
    if (rc)
      break;
    rc = add_whole_call(&parts, tc, i, where, err);
  }
  if (rc == MVM_OK)
    rc = mvm_call_parts_to_json(&parts, call, where, &calls, err);
  if (rc)
    goto out;

  bool usage_seen = read_usage(json_object_get(doc, "usage"), &in_tok,
                               &out_tok);
  rc = build_reply(text.data ? text.data : "", text.len, calls, usage_seen,
                   in_tok, out_tok,
                   json_string_value(json_object_get(choice, "finish_reason")),
                   refusal, json_string_value(json_object_get(doc, "model")),
                   reply);
  calls = NULL;
  if (rc)
    mvm_error_set(err, rc, where, "out of memory");

out:
  json_decref(calls);
  json_decref(doc);
  mvm_buf_free(&text);
  mvm_call_parts_free(&parts);
  return rc;
}

/* ---------------------------------------------------------------- stream */

static int stream_fail(mvm_openai_stream *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int stream_fail(mvm_openai_stream *s, int code, const char *fmt, ...)
{
  va_list ap;
  char msg[MVM_ERROR_MSG_MAX];

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return mvm_error_set(&s->error, code, s->where, "%s", msg);
}

static int emit_text(mvm_openai_stream *s, const char *text, size_t len)
{
  if (len == 0)
    return MVM_OK;
  if (mvm_buf_append(&s->text, text, len) != MVM_OK)
    return stream_fail(s, MVM_ELIMIT,
                       "the reply text is over the limit of %zu bytes; "
                       "raise limits.max_response_bytes",
                       s->max_text_bytes);
  if (s->stream != NULL && s->stream->on_text != NULL) {
    s->stream->on_text(s->stream->ctx, text, len);
    s->delivered = true;
  }
  return MVM_OK;
}

static int stream_call(mvm_openai_stream *s, const json_t *tc, size_t pos)
{
  const json_t *index = json_object_get(tc, "index");
  const json_t *id = json_object_get(tc, "id");
  const json_t *fn = json_object_get(tc, "function");
  const json_t *name = json_object_get(fn, "name");
  const json_t *args = json_object_get(fn, "arguments");
  mvm_call_part *part = NULL;

  /* Without an index, a fragment belongs to the call at its position. */
  long key = json_is_integer(index) ? (long)json_integer_value(index)
                                    : (long)pos;
  int rc = mvm_call_parts_get(&s->calls, key, &part, s->where, &s->error);
  if (rc)
    return rc;

  if (json_is_string(id) && json_string_length(id) > 0 &&
      mvm_call_part_set(&part->id, json_string_value(id),
                        json_string_length(id)))
    return stream_fail(s, MVM_ENOMEM, "out of memory");
  if (json_is_string(name) && json_string_length(name) > 0 &&
      mvm_call_part_set(&part->name, json_string_value(name),
                        json_string_length(name)))
    return stream_fail(s, MVM_ENOMEM, "out of memory");

  if (json_is_string(args))
    return mvm_call_part_append(&s->calls, part, json_string_value(args),
                                json_string_length(args), s->where,
                                &s->error);
  if (json_is_object(args)) {
    char *text = json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
      return stream_fail(s, MVM_ENOMEM, "out of memory");
    mvm_buf_reset(&part->args);
    rc = mvm_call_part_append(&s->calls, part, text, strlen(text), s->where,
                              &s->error);
    free(text);
    return rc;
  }
  return MVM_OK;
}

static int stream_delta(mvm_openai_stream *s, const json_t *choice)
{
  const json_t *delta = json_object_get(choice, "delta");
  const json_t *content = json_object_get(delta, "content");
  const json_t *refusal = json_object_get(delta, "refusal");
  const json_t *finish = json_object_get(choice, "finish_reason");
  const json_t *tcs = json_object_get(delta, "tool_calls");
  int rc = MVM_OK;

  if (json_is_string(content))
    rc = emit_text(s, json_string_value(content), json_string_length(content));
  if (rc == MVM_OK && json_is_string(refusal)) {
    s->refusal = true;
    rc = emit_text(s, json_string_value(refusal), json_string_length(refusal));
  }

  size_t i;
  const json_t *tc;
  json_array_foreach(tcs, i, tc) {
    if (rc)
      break;
    rc = stream_call(s, tc, i);
  }

  if (rc == MVM_OK && json_is_string(finish)) {
    free(s->finish_reason);
    s->finish_reason = strdup(json_string_value(finish));
    if (s->finish_reason == NULL)
      rc = stream_fail(s, MVM_ENOMEM, "out of memory");
  }
  return rc;
}

static int stream_error_event(mvm_openai_stream *s, const json_t *e)
{
  const char *type = json_string_value(json_object_get(e, "type"));
  const char *msg = json_string_value(json_object_get(e, "message"));
  return stream_fail(s, MVM_EMODEL, "the stream reported an error (%s): %s",
                     type ? type : "error", msg ? msg : "no message");
}

static int stream_chunk(mvm_openai_stream *s, const json_t *chunk)
{
  const json_t *model = json_object_get(chunk, "model");
  const json_t *usage = json_object_get(chunk, "usage");
  const json_t *choices = json_object_get(chunk, "choices");

  if (!json_is_object(chunk))
    return stream_fail(s, MVM_EPARSE,
                       "a stream event is not a JSON object");
  if (json_is_object(json_object_get(chunk, "error")))
    return stream_error_event(s, json_object_get(chunk, "error"));

  if (json_is_string(model) && s->model == NULL) {
    s->model = strdup(json_string_value(model));
    if (s->model == NULL)
      return stream_fail(s, MVM_ENOMEM, "out of memory");
  }
  if (json_is_object(usage))
    s->usage_seen = read_usage(usage, &s->input_tokens, &s->output_tokens) ||
                    s->usage_seen;

  /* Only the first choice is assembled: requests never ask for n > 1. */
  size_t i;
  const json_t *choice;
  json_array_foreach(choices, i, choice) {
    const json_t *index = json_object_get(choice, "index");
    if (json_is_integer(index) && json_integer_value(index) != 0)
      continue;
    int rc = stream_delta(s, choice);
    if (rc)
      return rc;
  }
  return MVM_OK;
}

static int on_sse_event(void *ctx, const mvm_sse_event *ev)
{
  mvm_openai_stream *s = ctx;
  json_t *chunk = NULL;
  mvm_json_limits limits = {.max_bytes = s->max_event_bytes};

  if (s->done)
    return MVM_OK;
  if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
    s->done = true;
    return MVM_OK;
  }

  int rc = mvm_json_parse(ev->data, ev->data_len, &limits, "a stream event",
                          &chunk, &s->error);
  if (rc) {
    snprintf(s->error.where, sizeof s->error.where, "%s", s->where);
    return rc;
  }
  rc = stream_chunk(s, chunk);
  json_decref(chunk);
  return rc;
}

void mvm_openai_stream_init(mvm_openai_stream *s, size_t max_event_bytes,
                            size_t max_text_bytes, size_t max_tool_calls,
                            const mvm_model_stream *stream, const char *where,
                            uint64_t call)
{
  memset(s, 0, sizeof *s);
  s->stream = stream;
  s->where = where;
  s->call = call;
  s->max_event_bytes = max_event_bytes;
  s->max_text_bytes = max_text_bytes;
  mvm_sse_init(&s->sse, max_event_bytes, on_sse_event, s);
  mvm_buf_init(&s->text, max_text_bytes);
  mvm_call_parts_init(&s->calls, max_tool_calls, max_text_bytes);
}

void mvm_openai_stream_free(mvm_openai_stream *s)
{
  mvm_sse_free(&s->sse);
  mvm_buf_free(&s->text);
  mvm_call_parts_free(&s->calls);
  free(s->model);
  free(s->finish_reason);
  s->model = NULL;
  s->finish_reason = NULL;
}

void mvm_openai_stream_reset(mvm_openai_stream *s)
{
  const mvm_model_stream *stream = s->stream;
  const char *where = s->where;
  uint64_t call = s->call;
  size_t max_event = s->max_event_bytes;
  size_t max_text = s->max_text_bytes;
  size_t max_calls = s->calls.max;

  mvm_openai_stream_free(s);
  mvm_openai_stream_init(s, max_event, max_text, max_calls, stream, where,
                         call);
}

int mvm_openai_stream_feed(mvm_openai_stream *s, const char *bytes,
                           size_t len, mvm_error *err)
{
  mvm_error_clear(&s->error);
  int rc = mvm_sse_feed(&s->sse, bytes, len, err);
  if (rc && s->error.code != MVM_OK && err != NULL)
    *err = s->error;
  return rc;
}

int mvm_openai_stream_finish(mvm_openai_stream *s, json_t **reply,
                             mvm_error *err)
{
  json_t *calls = NULL;
  int rc = mvm_sse_finish(&s->sse, err);
  if (rc)
    return rc;

  if (!s->done && s->finish_reason == NULL)
    return mvm_error_set(err, MVM_EMODEL, s->where,
                         "the stream ended before the reply was complete "
                         "(no finish_reason and no [DONE]); the connection "
                         "may have been cut");

  rc = mvm_call_parts_to_json(&s->calls, s->call, s->where, &calls, err);
  if (rc)
    return rc;
  rc = build_reply(s->text.data ? s->text.data : "", s->text.len, calls,
                   s->usage_seen, s->input_tokens, s->output_tokens,
                   s->finish_reason, s->refusal, s->model, reply);
  if (rc)
    return mvm_error_set(err, rc, s->where, "out of memory");
  return MVM_OK;
}

/* ---------------------------------------------------------------- adapter */

static int openai_identity(void *self, json_t **out, mvm_error *err)
{
  struct openai_model *m = self;
  json_t *id = json_pack("{ssssss}", "provider", m->a.provider, "model",
                         m->a.model, "endpoint", m->a.base_url);
  if (id == NULL)
    return mvm_error_set(err, MVM_ENOMEM, m->a.where, "out of memory");
  *out = id;
  return MVM_OK;
}

static int stream_on_body(void *ctx, const char *bytes, size_t len)
{
  mvm_openai_stream *s = ctx;
  return mvm_openai_stream_feed(s, bytes, len, &s->error);
}

static void stream_on_attempt(void *ctx)
{
  mvm_openai_stream_reset(ctx);
}

static bool stream_delivered(void *ctx)
{
  mvm_openai_stream *s = ctx;
  return s->delivered;
}

static int post_streamed(struct openai_model *m, const char *body,
                         const mvm_model_stream *stream,
                         mvm_http_response *resp, json_t **reply,
                         mvm_error *err)
{
  mvm_adapter *a = &m->a;
  mvm_openai_stream s;
  const char *headers[] = {"Content-Type: application/json",
                           "Accept: text/event-stream", a->auth_header};
  mvm_http_request req = {
      .url = a->url,
      .headers = headers,
      .nheaders = a->auth_header ? 3 : 2,
      .body = body,
      .body_len = strlen(body),
      .on_body = stream_on_body,
      .on_attempt = stream_on_attempt,
      .delivered = stream_delivered,
      .ctx = &s,
      .stream = stream,
  };

  mvm_openai_stream_init(&s, a->settings.max_event_bytes,
                         a->settings.max_response_bytes,
                         a->settings.max_tool_calls, stream, a->where,
                         a->calls);
  int rc = mvm_http_post(a->http, &req, resp, err);
  if (rc && s.error.code == rc && err != NULL)
    *err = s.error;
  if (rc == MVM_OK && resp->status >= 200 && resp->status < 300)
    rc = mvm_openai_stream_finish(&s, reply, err);
  mvm_openai_stream_free(&s);
  return rc;
}

static int post_whole(struct openai_model *m, const char *body,
                      const mvm_model_stream *stream, mvm_http_response *resp,
                      json_t **reply, mvm_error *err)
{
  mvm_adapter *a = &m->a;
  const char *headers[] = {"Content-Type: application/json",
                           "Accept: application/json", a->auth_header};
  mvm_http_request req = {
      .url = a->url,
      .headers = headers,
      .nheaders = a->auth_header ? 3 : 2,
      .body = body,
      .body_len = strlen(body),
      .stream = stream,
  };

  int rc = mvm_http_post(a->http, &req, resp, err);
  if (rc || resp->status < 200 || resp->status >= 300)
    return rc;
  rc = mvm_openai_parse_reply(resp->body.data ? resp->body.data : "",
                              resp->body.len, a->where, a->calls,
                              a->settings.max_tool_calls, reply, err);
  if (rc)
    return rc;

  const json_t *text = json_object_get(*reply, "text");
  return mvm_reply_stream_text(stream, json_string_value(text),
                               json_string_length(text), 1, a->where, err);
}

static int openai_call(void *self, const json_t *request,
                       const mvm_model_stream *stream, json_t **reply,
                       mvm_error *err)
{
  struct openai_model *m = self;
  mvm_adapter *a = &m->a;
  json_t *body_json = NULL;
  json_t *got = NULL;
  char *body = NULL;
  mvm_http_response resp;

  mvm_http_response_init(&resp);
  int rc = mvm_adapter_check_request(a, request, err);
  if (rc == MVM_OK)
    rc = mvm_openai_build_request(request, a->model, a->settings.stream,
                                  m->compatible, &body_json, err);
  if (rc)
    goto out;
  body = json_dumps(body_json, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (body == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, a->where, "out of memory");
    goto out;
  }

  a->calls++;
  mvm_trace(MVM_TRACE_MODEL, "%s: call %llu to %s, %zu messages", a->where,
            (unsigned long long)a->calls, a->model,
            json_array_size(json_object_get(request, "messages")));
  if (a->settings.stream)
    rc = post_streamed(m, body, stream, &resp, &got, err);
  else
    rc = post_whole(m, body, stream, &resp, &got, err);
  if (rc == MVM_OK && (resp.status < 200 || resp.status >= 300))
    rc = mvm_adapter_http_error(a, &resp, err);
  if (rc == MVM_OK)
    rc = mvm_adapter_finish_reply(a, &got, err);
  if (rc)
    goto out;

  *reply = got;
  got = NULL;

out:
  if (rc && err != NULL)
    mvm_adapter_mask(a, err->msg);
  json_decref(got);
  free(body);
  json_decref(body_json);
  mvm_http_response_free(&resp);
  return rc;
}

static void openai_close(void *self)
{
  struct openai_model *m = self;
  if (m == NULL)
    return;
  mvm_adapter_free(&m->a);
  free(m);
}

static const mvm_model_ops openai_ops = {
    .kind = "openai",
    .identity = openai_identity,
    .call = openai_call,
    .close = openai_close,
};

static const mvm_model_ops compatible_ops = {
    .kind = "openai-compatible",
    .identity = openai_identity,
    .call = openai_call,
    .close = openai_close,
};

static int open_common(const char *provider, const char *base_url,
                       const char *model, const char *key, bool compatible,
                       const mvm_model_config *cfg, mvm_model *out,
                       mvm_error *err)
{
  struct openai_model *m = calloc(1, sizeof *m);
  if (m == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "model:openai", "out of memory");

  m->compatible = compatible;
  int rc = mvm_adapter_init(&m->a, provider, model, base_url,
                            "/chat/completions", key, "Authorization",
                            "Bearer ", cfg, err);
  if (rc) {
    openai_close(m);
    return rc;
  }
  out->ops = compatible ? &compatible_ops : &openai_ops;
  out->self = m;
  return MVM_OK;
}

int mvm_openai_open(const char *model, const mvm_model_config *cfg,
                    mvm_model *out, mvm_error *err)
{
  const char *base = cfg ? cfg->openai.base_url : NULL;
  const char *key = cfg ? cfg->openai.api_key : NULL;

  if (base == NULL)
    base = getenv("OPENAI_BASE_URL");
  if (key == NULL)
    key = getenv("OPENAI_API_KEY");
  if (base == NULL || base[0] == '\0')
    base = MVM_OPENAI_DEFAULT_BASE_URL;
  if (key == NULL || key[0] == '\0')
    return mvm_error_set(err, MVM_ECONFIG, "model:openai",
                         "no API key for openai: set OPENAI_API_KEY or "
                         "openai.api_key in the model config");
  if (model == NULL || model[0] == '\0')
    return mvm_error_set(err, MVM_ECONFIG, "model:openai",
                         "the openai model name is empty; write "
                         "openai:MODEL, for example openai:gpt-4.1-mini");
  return open_common("openai", base, model, key, false, cfg, out, err);
}

int mvm_openai_compatible_open(const char *base_url, const char *model,
                               const mvm_model_config *cfg, mvm_model *out,
                               mvm_error *err)
{
  const char *key = cfg ? cfg->compatible.api_key : NULL;

  if (model == NULL || model[0] == '\0')
    return mvm_error_set(err, MVM_ECONFIG, "model:openai-compatible",
                         "the model name is empty; write "
                         "openai-compatible:URL#MODEL");
  return open_common("openai-compatible", base_url, model, key, true, cfg,
                     out, err);
}
