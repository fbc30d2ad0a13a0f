/* anthropic.c - Anthropic Messages: request mapping, reply parsing, stream
 * assembly, and the model adapter. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "models/anthropic.h"
#include "models/reply.h"

#define WHERE "model:anthropic"

struct anthropic_model {
  mvm_adapter a;
};

/* ---------------------------------------------------------------- request */

/* Collects content blocks and merges consecutive messages of one role. */
struct builder {
  json_t *messages;
  json_t *blocks;   /* blocks of the message being built, or NULL */
  const char *role; /* its role: "user" or "assistant" */
  mvm_buf system;
};

static int set_new(json_t *obj, const char *key, json_t *value)
{
  if (value == NULL || json_object_set_new(obj, key, value) != 0)
    return MVM_ENOMEM;
  return MVM_OK;
}

/* Ends the message being built. A single text block becomes a plain
 * string content, the form the API documents for simple turns. */
static int flush(struct builder *b)
{
  json_t *content;

  if (b->blocks == NULL)
    return MVM_OK;
  if (json_array_size(b->blocks) == 0) {
    json_decref(b->blocks);
    b->blocks = NULL;
    return MVM_OK;
  }

  json_t *first = json_array_get(b->blocks, 0);
  const char *type = json_string_value(json_object_get(first, "type"));
  if (json_array_size(b->blocks) == 1 && strcmp(type, "text") == 0)
    content = json_incref(json_object_get(first, "text"));
  else
    content = json_incref(b->blocks);
  json_decref(b->blocks);
  b->blocks = NULL;

  json_t *m = json_pack("{ssso}", "role", b->role, "content", content);
  if (m == NULL || json_array_append_new(b->messages, m) != 0)
    return MVM_ENOMEM;
  return MVM_OK;
}

/* Adds a block to a message of `role`; steals block. */
static int add_block(struct builder *b, const char *role, json_t *block)
{
  if (block == NULL)
    return MVM_ENOMEM;
  if (b->blocks != NULL && strcmp(b->role, role) != 0) {
    int rc = flush(b);
    if (rc) {
      json_decref(block);
      return rc;
    }
  }
  if (b->blocks == NULL) {
    b->blocks = json_array();
    b->role = role;
  }
  if (b->blocks == NULL || json_array_append_new(b->blocks, block) != 0)
    return MVM_ENOMEM;
  return MVM_OK;
}

static int add_text(struct builder *b, const char *role, const json_t *text)
{
  /* The API rejects empty text blocks. */
  if (!json_is_string(text) || json_string_length(text) == 0)
    return MVM_OK;
  return add_block(b, role,
                   json_pack("{sssO}", "type", "text", "text", text));
}

static int add_tool_use(struct builder *b, const json_t *call)
{
  const json_t *args = json_object_get(call, "arguments");
  json_t *input = json_is_object(args) ? json_deep_copy(args) : json_object();

  /* NOTE: arguments the model sent as invalid JSON go back as {} because
   * tool_use input must be an object; the model does not see its raw
   * text again. */
  return add_block(b, "assistant",
                   json_pack("{sssOsOso}", "type", "tool_use", "id",
                             json_object_get(call, "id"), "name",
                             json_object_get(call, "name"), "input", input));
}

static int add_message(struct builder *b, const json_t *m)
{
  const char *role = json_string_value(json_object_get(m, "role"));
  const json_t *content = json_object_get(m, "content");
  int rc = MVM_OK;

  if (strcmp(role, "system") == 0) {
    if (!json_is_string(content) || json_string_length(content) == 0)
      return MVM_OK;
    if (b->system.len > 0)
      rc = mvm_buf_append_str(&b->system, "\n\n");
    if (rc == MVM_OK)
      rc = mvm_buf_append(&b->system, json_string_value(content),
                          json_string_length(content));
    return rc;
  }
  if (strcmp(role, "user") == 0)
    return add_text(b, "user", content);
  if (strcmp(role, "tool") == 0) {
    json_t *block = json_pack("{sssOso}", "type", "tool_result",
                              "tool_use_id",
                              json_object_get(m, "tool_call_id"), "content",
                              json_is_string(content)
                                  ? json_copy((json_t *)content)
                                  : json_string(""));
    if (block != NULL && json_is_true(json_object_get(m, "is_error")))
      json_object_set_new(block, "is_error", json_true());
    return add_block(b, "user", block);
  }

  rc = add_text(b, "assistant", content);
  size_t i;
  const json_t *call;
  json_array_foreach(json_object_get(m, "tool_calls"), i, call) {
    if (rc)
      break;
    rc = add_tool_use(b, call);
  }
  return rc;
}

static json_t *map_tools(const json_t *tools)
{
  json_t *list = json_array();
  size_t i;
  const json_t *tool;

  json_array_foreach(tools, i, tool) {
    const json_t *desc = json_object_get(tool, "description");
    const json_t *schema = json_object_get(tool, "input_schema");
    json_t *item = json_pack("{sOso}", "name", json_object_get(tool, "name"),
                             "input_schema",
                             json_is_object(schema)
                                 ? json_deep_copy(schema)
                                 : json_pack("{ss}", "type", "object"));
    if (item != NULL && json_is_string(desc))
      json_object_set(item, "description", (json_t *)desc);
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
  json_t *mapped = NULL;

  if (choice == NULL)
    return MVM_OK;
  if (json_is_string(choice)) {
    const char *s = json_string_value(choice);
    if (strcmp(s, "auto") == 0)
      mapped = json_pack("{ss}", "type", "auto");
    else if (strcmp(s, "required") == 0)
      mapped = json_pack("{ss}", "type", "any");
    else if (strcmp(s, "none") == 0)
      mapped = json_pack("{ss}", "type", "none");
  } else if (json_is_string(json_object_get(choice, "name"))) {
    mapped = json_pack("{sssO}", "type", "tool", "name",
                       json_object_get(choice, "name"));
  }
  if (mapped == NULL)
    return mvm_error_set(err, MVM_EINVAL, WHERE,
                         "request tool_choice must be auto, none, required "
                         "or {\"name\": ...}");
  return set_new(body, "tool_choice", mapped);
}

/* The Messages API has no response_format field in version 2023-06-01,
 * so the schema goes into the system prompt. */
static int add_format(struct builder *b, const json_t *format,
                      mvm_error *err)
{
  if (format == NULL)
    return MVM_OK;
  if (!json_is_object(format))
    return mvm_error_set(err, MVM_EINVAL, WHERE,
                         "request response_format must be a JSON Schema "
                         "object");

  /* NOTE: an instruction, not a constraint: the model may still reply
   * with text that does not match, which the caller's schema check must
   * catch. */
  char *schema = json_dumps(format, JSON_COMPACT | JSON_SORT_KEYS);
  if (schema == NULL)
    return MVM_ENOMEM;
  int rc = MVM_OK;
  if (b->system.len > 0)
    rc = mvm_buf_append_str(&b->system, "\n\n");
  if (rc == MVM_OK)
    rc = mvm_buf_printf(&b->system,
                        "Reply with only a JSON value, no other text, that "
                        "matches this JSON Schema: %s",
                        schema);
  free(schema);
  return rc;
}

static int map_options(const json_t *request, int default_max_tokens,
                       bool stream, json_t *body)
{
  const json_t *max_tokens = json_object_get(request, "max_tokens");
  const json_t *temperature = json_object_get(request, "temperature");
  int rc;

  rc = set_new(body, "max_tokens",
               json_is_integer(max_tokens)
                   ? json_copy((json_t *)max_tokens)
                   : json_integer(default_max_tokens));
  if (rc == MVM_OK && json_is_number(temperature))
    rc = set_new(body, "temperature", json_copy((json_t *)temperature));
  if (rc == MVM_OK && stream)
    rc = set_new(body, "stream", json_true());
  return rc;
}

int mvm_anthropic_build_request(const json_t *request, const char *model,
                                bool stream, int default_max_tokens,
                                json_t **out, mvm_error *err)
{
  const json_t *tools = json_object_get(request, "tools");
  struct builder b = {.messages = json_array()};
  json_t *body = json_pack("{ss}", "model", model);
  size_t i;
  const json_t *m;
  int rc = MVM_OK;

  mvm_buf_init(&b.system, 0);
  if (body == NULL || b.messages == NULL) {
    rc = MVM_ENOMEM;
    goto out;
  }

  json_array_foreach(json_object_get(request, "messages"), i, m) {
    rc = add_message(&b, m);
    if (rc)
      goto out;
  }
  rc = flush(&b);
  if (rc == MVM_OK)
    rc = add_format(&b, json_object_get(request, "response_format"), err);
  if (rc == MVM_OK)
    rc = map_options(request, default_max_tokens, stream, body);
  if (rc == MVM_OK && b.system.len > 0)
    rc = set_new(body, "system", json_stringn(b.system.data, b.system.len));
  if (rc == MVM_OK) {
    rc = set_new(body, "messages", b.messages);
    b.messages = NULL;
  }
  if (rc == MVM_OK && json_array_size(tools) > 0) {
    rc = set_new(body, "tools", map_tools(tools));
    if (rc == MVM_OK)
      rc = map_tool_choice(json_object_get(request, "tool_choice"), body,
                           err);
  }

out:
  if (rc == MVM_ENOMEM)
    mvm_error_set(err, rc, WHERE, "out of memory");
  json_decref(b.blocks);
  json_decref(b.messages);
  mvm_buf_free(&b.system);
  if (rc) {
    json_decref(body);
    return rc;
  }
  *out = body;
  return MVM_OK;
}

/* ---------------------------------------------------------------- reply */

static const char *map_stop(const char *stop, size_t ncalls)
{
  if (stop == NULL)
    return ncalls > 0 ? "tool_calls" : "end";
  if (strcmp(stop, "end_turn") == 0 || strcmp(stop, "stop_sequence") == 0)
    return ncalls > 0 ? "tool_calls" : "end";
  if (strcmp(stop, "tool_use") == 0)
    return "tool_calls";
  if (strcmp(stop, "max_tokens") == 0)
    return "length";
  if (strcmp(stop, "refusal") == 0)
    return "refusal";
  return "other";
}

/* Input tokens include the prompt-cache reads and writes. */
static bool read_usage(const json_t *usage, json_int_t *in_tok,
                       json_int_t *out_tok)
{
  static const char *const inputs[] = {"input_tokens",
                                       "cache_creation_input_tokens",
                                       "cache_read_input_tokens"};
  const json_t *out = json_object_get(usage, "output_tokens");
  bool seen = false;

  if (!json_is_object(usage))
    return false;
  json_int_t total = 0;
  for (size_t i = 0; i < 3; i++) {
    const json_t *v = json_object_get(usage, inputs[i]);
    if (json_is_integer(v) && json_integer_value(v) > 0)
      total += json_integer_value(v);
    seen = seen || json_is_integer(v);
  }
  if (seen)
    *in_tok = total;
  if (json_is_integer(out)) {
    *out_tok = json_integer_value(out) > 0 ? json_integer_value(out) : 0;
    seen = true;
  }
  return seen;
}

/* Builds the reply; steals calls. */
static int build_reply(const char *text, size_t len, json_t *calls,
                       bool usage_seen, json_int_t in_tok, json_int_t out_tok,
                       const char *stop, const char *model, json_t **reply)
{
  json_t *r = json_object();
  size_t ncalls = json_array_size(calls);

  if (r == NULL || calls == NULL) {
    json_decref(r);
    json_decref(calls);
    return MVM_ENOMEM;
  }
  if (json_object_set_new(r, "tool_calls", calls) != 0) {
    json_decref(r);
    return MVM_ENOMEM;
  }

  json_t *usage =
      usage_seen
          ? json_pack("{sIsI}", "input_tokens", in_tok, "output_tokens",
                      out_tok)
          : json_pack("{sisisb}", "input_tokens", 0, "output_tokens", 0,
                      "reported", 0);
  if (set_new(r, "text", json_stringn(text, len)) ||
      set_new(r, "usage", usage) ||
      set_new(r, "stop_reason", json_string(map_stop(stop, ncalls))) ||
      (model != NULL && set_new(r, "model", json_string(model)))) {
    json_decref(r);
    return MVM_ENOMEM;
  }
  *reply = r;
  return MVM_OK;
}

static int whole_tool_use(mvm_call_parts *parts, const json_t *block,
                          size_t i, const char *where, mvm_error *err)
{
  const json_t *id = json_object_get(block, "id");
  const json_t *name = json_object_get(block, "name");
  const json_t *input = json_object_get(block, "input");
  mvm_call_part *part = NULL;

  if (!json_is_string(name))
    return mvm_error_set(err, MVM_EPARSE, where,
                         "reply content[%zu] is a tool_use without a name",
                         i);
  int rc = mvm_call_parts_get(parts, (long)i, &part, where, err);
  if (rc)
    return rc;
  if ((json_is_string(id) &&
       mvm_call_part_set(&part->id, json_string_value(id),
                         json_string_length(id))) ||
      mvm_call_part_set(&part->name, json_string_value(name),
                        json_string_length(name)))
    return mvm_error_set(err, MVM_ENOMEM, where, "out of memory");

  /* A tool_use block without "input" has no arguments. */
  char *text = input != NULL ? json_dumps(input, JSON_COMPACT |
                                                     JSON_PRESERVE_ORDER |
                                                     JSON_ENCODE_ANY)
                             : strdup("{}");
  if (text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, where, "out of memory");
  rc = mvm_call_part_append(parts, part, text, strlen(text), where, err);
  free(text);
  return rc;
}

int mvm_anthropic_parse_reply(const char *body, size_t len,
                              const char *where, uint64_t call,
                              size_t max_tool_calls, json_t **reply,
                              mvm_error *err)
{
  json_t *doc = NULL;
  json_t *calls = NULL;
  mvm_call_parts parts;
  mvm_buf text;
  json_int_t in_tok = 0;
  json_int_t out_tok = 0;
  size_t i;
  const json_t *block;

  mvm_call_parts_init(&parts, max_tool_calls, len + 1);
  mvm_buf_init(&text, len + 1);
  int rc = mvm_json_parse(body, len, NULL, "the Messages response", &doc,
                          err);
  if (rc)
    goto out;

  const json_t *content = json_object_get(doc, "content");
  if (!json_is_array(content)) {
    rc = mvm_error_set(err, MVM_EPARSE, where,
                       "the Messages response has no 'content' array");
    goto out;
  }
  json_array_foreach(content, i, block) {
    const char *type = json_string_value(json_object_get(block, "type"));
    const json_t *t = json_object_get(block, "text");

    if (type != NULL && strcmp(type, "text") == 0 && json_is_string(t))
      rc = mvm_buf_append(&text, json_string_value(t), json_string_length(t));
    else if (type != NULL && strcmp(type, "tool_use") == 0)
      rc = whole_tool_use(&parts, block, i, where, err);
    if (rc == MVM_ENOMEM)
      mvm_error_set(err, rc, where, "out of memory");
    if (rc)
      goto out;
  }

  rc = mvm_call_parts_to_json(&parts, call, where, &calls, err);
  if (rc)
    goto out;
  bool usage_seen = read_usage(json_object_get(doc, "usage"), &in_tok,
                               &out_tok);
  rc = build_reply(text.data ? text.data : "", text.len, calls, usage_seen,
                   in_tok, out_tok,
                   json_string_value(json_object_get(doc, "stop_reason")),
                   json_string_value(json_object_get(doc, "model")), reply);
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

static int stream_fail(mvm_anthropic_stream *s, int code, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

static int stream_fail(mvm_anthropic_stream *s, int code, const char *fmt,
                       ...)
{
  va_list ap;
  char msg[MVM_ERROR_MSG_MAX];

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return mvm_error_set(&s->error, code, s->where, "%s", msg);
}

static int set_string(mvm_anthropic_stream *s, char **field,
                      const json_t *value)
{
  if (!json_is_string(value))
    return MVM_OK;
  char *copy = strdup(json_string_value(value));
  if (copy == NULL)
    return stream_fail(s, MVM_ENOMEM, "out of memory");
  free(*field);
  *field = copy;
  return MVM_OK;
}

static int emit_text(mvm_anthropic_stream *s, const json_t *text)
{
  size_t len = json_string_length(text);
  if (!json_is_string(text) || len == 0)
    return MVM_OK;
  if (mvm_buf_append(&s->text, json_string_value(text), len) != MVM_OK)
    return stream_fail(s, MVM_ELIMIT,
                       "the reply text is over the limit of %zu bytes; "
                       "raise limits.max_response_bytes",
                       s->max_text_bytes);
  if (s->stream != NULL && s->stream->on_text != NULL) {
    s->stream->on_text(s->stream->ctx, json_string_value(text), len);
    s->delivered = true;
  }
  return MVM_OK;
}

static long block_index(const json_t *event)
{
  const json_t *index = json_object_get(event, "index");
  return json_is_integer(index) ? (long)json_integer_value(index) : -1;
}

static int on_block_start(mvm_anthropic_stream *s, const json_t *event)
{
  const json_t *block = json_object_get(event, "content_block");
  const char *type = json_string_value(json_object_get(block, "type"));
  mvm_call_part *part = NULL;

  if (type == NULL)
    return stream_fail(s, MVM_EPARSE,
                       "content_block_start has no content_block.type");
  if (strcmp(type, "text") == 0)
    return emit_text(s, json_object_get(block, "text"));
  if (strcmp(type, "tool_use") != 0)
    return MVM_OK;

  int rc = mvm_call_parts_get(&s->calls, block_index(event), &part,
                              s->where, &s->error);
  if (rc)
    return rc;
  const json_t *id = json_object_get(block, "id");
  const json_t *name = json_object_get(block, "name");
  if ((json_is_string(id) &&
       mvm_call_part_set(&part->id, json_string_value(id),
                         json_string_length(id))) ||
      (json_is_string(name) &&
       mvm_call_part_set(&part->name, json_string_value(name),
                         json_string_length(name))))
    return stream_fail(s, MVM_ENOMEM, "out of memory");

  /* The start usually carries "input": {} and the arguments follow as
   * input_json_delta fragments, which replace this initial text. */
  const json_t *input = json_object_get(block, "input");
  if (json_is_object(input) && json_object_size(input) > 0) {
    char *text = json_dumps(input, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
      return stream_fail(s, MVM_ENOMEM, "out of memory");
    rc = mvm_call_part_append(&s->calls, part, text, strlen(text), s->where,
                              &s->error);
    free(text);
  }
  return rc;
}

static int on_block_delta(mvm_anthropic_stream *s, const json_t *event)
{
  const json_t *delta = json_object_get(event, "delta");
  const char *type = json_string_value(json_object_get(delta, "type"));

  if (type == NULL)
    return stream_fail(s, MVM_EPARSE,
                       "content_block_delta has no delta.type");
  if (strcmp(type, "text_delta") == 0)
    return emit_text(s, json_object_get(delta, "text"));
  if (strcmp(type, "input_json_delta") != 0)
    return MVM_OK;

  long index = block_index(event);
  mvm_call_part *part = NULL;
  for (size_t i = 0; i < s->calls.count; i++) {
    if (s->calls.items[i].key == index)
      part = &s->calls.items[i];
  }
  if (part == NULL)
    return stream_fail(s, MVM_EPARSE,
                       "input_json_delta for content block %ld, which did "
                       "not start as a tool_use",
                       index);

  const json_t *partial = json_object_get(delta, "partial_json");
  if (!part->streamed) {
    mvm_buf_reset(&part->args);
    part->streamed = true;
  }
  if (!json_is_string(partial))
    return MVM_OK;
  return mvm_call_part_append(&s->calls, part, json_string_value(partial),
                              json_string_length(partial), s->where,
                              &s->error);
}

static int on_message_start(mvm_anthropic_stream *s, const json_t *event)
{
  const json_t *message = json_object_get(event, "message");
  s->started = true;
  if (read_usage(json_object_get(message, "usage"), &s->input_tokens,
                 &s->output_tokens))
    s->usage_seen = true;
  return set_string(s, &s->model, json_object_get(message, "model"));
}

static int on_message_delta(mvm_anthropic_stream *s, const json_t *event)
{
  const json_t *delta = json_object_get(event, "delta");

  /* message_delta usage counts are cumulative, so they replace. */
  if (read_usage(json_object_get(event, "usage"), &s->input_tokens,
                 &s->output_tokens))
    s->usage_seen = true;
  return set_string(s, &s->stop_reason, json_object_get(delta, "stop_reason"));
}

static int on_error_event(mvm_anthropic_stream *s, const json_t *event)
{
  const json_t *e = json_object_get(event, "error");
  const char *type = json_string_value(json_object_get(e, "type"));
  const char *msg = json_string_value(json_object_get(e, "message"));
  return stream_fail(s, MVM_EMODEL, "the stream reported an error (%s): %s",
                     type ? type : "error", msg ? msg : "no message");
}

static int dispatch_event(mvm_anthropic_stream *s, const char *type,
                          const json_t *event)
{
  if (strcmp(type, "message_start") == 0)
    return on_message_start(s, event);
  if (strcmp(type, "content_block_start") == 0)
    return on_block_start(s, event);
  if (strcmp(type, "content_block_delta") == 0)
    return on_block_delta(s, event);
  if (strcmp(type, "message_delta") == 0)
    return on_message_delta(s, event);
  if (strcmp(type, "message_stop") == 0) {
    s->done = true;
    return MVM_OK;
  }
  if (strcmp(type, "error") == 0)
    return on_error_event(s, event);
  /* ping, content_block_stop and event types added later are ignored,
   * because the API's versioning policy lets it add event types. */
  return MVM_OK;
}

static int on_sse_event(void *ctx, const mvm_sse_event *ev)
{
  mvm_anthropic_stream *s = ctx;
  json_t *event = NULL;
  mvm_json_limits limits = {.max_bytes = s->max_event_bytes};

  if (s->done)
    return MVM_OK;
  int rc = mvm_json_parse(ev->data, ev->data_len, &limits, "a stream event",
                          &event, &s->error);
  if (rc) {
    snprintf(s->error.where, sizeof s->error.where, "%s", s->where);
    return rc;
  }

  const char *type = json_string_value(json_object_get(event, "type"));
  if (!json_is_object(event))
    rc = stream_fail(s, MVM_EPARSE, "a stream event is not a JSON object");
  else
    rc = dispatch_event(s, type != NULL ? type : ev->type, event);
  json_decref(event);
  return rc;
}

void mvm_anthropic_stream_init(mvm_anthropic_stream *s,
                               size_t max_event_bytes, size_t max_text_bytes,
                               size_t max_tool_calls,
                               const mvm_model_stream *stream,
                               const char *where, uint64_t call)
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

void mvm_anthropic_stream_free(mvm_anthropic_stream *s)
{
  mvm_sse_free(&s->sse);
  mvm_buf_free(&s->text);
  mvm_call_parts_free(&s->calls);
  free(s->model);
  free(s->stop_reason);
  s->model = NULL;
  s->stop_reason = NULL;
}

void mvm_anthropic_stream_reset(mvm_anthropic_stream *s)
{
  const mvm_model_stream *stream = s->stream;
  const char *where = s->where;
  uint64_t call = s->call;
  size_t max_event = s->max_event_bytes;
  size_t max_text = s->max_text_bytes;
  size_t max_calls = s->calls.max;

  mvm_anthropic_stream_free(s);
  mvm_anthropic_stream_init(s, max_event, max_text, max_calls, stream, where,
                            call);
}

int mvm_anthropic_stream_feed(mvm_anthropic_stream *s, const char *bytes,
                              size_t len, mvm_error *err)
{
  mvm_error_clear(&s->error);
  int rc = mvm_sse_feed(&s->sse, bytes, len, err);
  if (rc && s->error.code != MVM_OK && err != NULL)
    *err = s->error;
  return rc;
}

int mvm_anthropic_stream_finish(mvm_anthropic_stream *s, json_t **reply,
                                mvm_error *err)
{
  json_t *calls = NULL;
  int rc = mvm_sse_finish(&s->sse, err);
  if (rc)
    return rc;

  if (!s->done)
    return mvm_error_set(err, MVM_EMODEL, s->where,
                         "the stream ended before message_stop; the "
                         "connection may have been cut");

  rc = mvm_call_parts_to_json(&s->calls, s->call, s->where, &calls, err);
  if (rc)
    return rc;
  rc = build_reply(s->text.data ? s->text.data : "", s->text.len, calls,
                   s->usage_seen, s->input_tokens, s->output_tokens,
                   s->stop_reason, s->model, reply);
  if (rc)
    return mvm_error_set(err, rc, s->where, "out of memory");
  return MVM_OK;
}

/* ---------------------------------------------------------------- adapter */

static int anthropic_identity(void *self, json_t **out, mvm_error *err)
{
  struct anthropic_model *m = self;
  json_t *id = json_pack("{ssssss}", "provider", "anthropic", "model",
                         m->a.model, "endpoint", m->a.base_url);
  if (id == NULL)
    return mvm_error_set(err, MVM_ENOMEM, WHERE, "out of memory");
  *out = id;
  return MVM_OK;
}

static int stream_on_body(void *ctx, const char *bytes, size_t len)
{
  mvm_anthropic_stream *s = ctx;
  return mvm_anthropic_stream_feed(s, bytes, len, &s->error);
}

static void stream_on_attempt(void *ctx)
{
  mvm_anthropic_stream_reset(ctx);
}

static bool stream_delivered(void *ctx)
{
  mvm_anthropic_stream *s = ctx;
  return s->delivered;
}

static int post(struct anthropic_model *m, const char *body,
                const mvm_model_stream *stream, mvm_http_response *resp,
                json_t **reply, mvm_error *err)
{
  mvm_adapter *a = &m->a;
  bool streamed = a->settings.stream;
  mvm_anthropic_stream s;
  const char *headers[] = {
      "Content-Type: application/json",
      "anthropic-version: " MVM_ANTHROPIC_VERSION,
      streamed ? "Accept: text/event-stream" : "Accept: application/json",
      a->auth_header,
  };
  mvm_http_request req = {
      .url = a->url,
      .headers = headers,
      .nheaders = a->auth_header ? 4 : 3,
      .body = body,
      .body_len = strlen(body),
      .on_body = streamed ? stream_on_body : NULL,
      .on_attempt = streamed ? stream_on_attempt : NULL,
      .delivered = streamed ? stream_delivered : NULL,
      .ctx = &s,
      .stream = stream,
  };

  mvm_anthropic_stream_init(&s, a->settings.max_event_bytes,
                            a->settings.max_response_bytes,
                            a->settings.max_tool_calls, stream, a->where,
                            a->calls);
  int rc = mvm_http_post(a->http, &req, resp, err);
  if (rc && s.error.code == rc && err != NULL)
    *err = s.error;
  if (rc || resp->status < 200 || resp->status >= 300)
    goto out;

  if (streamed) {
    rc = mvm_anthropic_stream_finish(&s, reply, err);
    goto out;
  }
  rc = mvm_anthropic_parse_reply(resp->body.data ? resp->body.data : "",
                                 resp->body.len, a->where, a->calls,
                                 a->settings.max_tool_calls, reply, err);
  if (rc == MVM_OK) {
    const json_t *text = json_object_get(*reply, "text");
    rc = mvm_reply_stream_text(stream, json_string_value(text),
                               json_string_length(text), 1, a->where, err);
  }

out:
  mvm_anthropic_stream_free(&s);
  return rc;
}

static int anthropic_call(void *self, const json_t *request,
                          const mvm_model_stream *stream, json_t **reply,
                          mvm_error *err)
{
  struct anthropic_model *m = self;
  mvm_adapter *a = &m->a;
  json_t *body_json = NULL;
  json_t *got = NULL;
  char *body = NULL;
  mvm_http_response resp;

  mvm_http_response_init(&resp);
  int rc = mvm_adapter_check_request(a, request, err);
  if (rc == MVM_OK)
    rc = mvm_anthropic_build_request(request, a->model, a->settings.stream,
                                     a->settings.default_max_tokens,
                                     &body_json, err);
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
  rc = post(m, body, stream, &resp, &got, err);
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

static void anthropic_close(void *self)
{
  struct anthropic_model *m = self;
  if (m == NULL)
    return;
  mvm_adapter_free(&m->a);
  free(m);
}

static const mvm_model_ops anthropic_ops = {
    .kind = "anthropic",
    .identity = anthropic_identity,
    .call = anthropic_call,
    .close = anthropic_close,
};

int mvm_anthropic_open(const char *model, const mvm_model_config *cfg,
                       mvm_model *out, mvm_error *err)
{
  const char *base = cfg ? cfg->anthropic.base_url : NULL;
  const char *key = cfg ? cfg->anthropic.api_key : NULL;

  if (base == NULL)
    base = getenv("ANTHROPIC_BASE_URL");
  if (key == NULL)
    key = getenv("ANTHROPIC_API_KEY");
  if (base == NULL || base[0] == '\0')
    base = MVM_ANTHROPIC_DEFAULT_BASE_URL;
  if (key == NULL || key[0] == '\0')
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "no API key for anthropic: set ANTHROPIC_API_KEY or "
                         "anthropic.api_key in the model config");
  if (model == NULL || model[0] == '\0')
    return mvm_error_set(err, MVM_ECONFIG, WHERE,
                         "the anthropic model name is empty; write "
                         "anthropic:MODEL, for example "
                         "anthropic:claude-sonnet-4-5");

  struct anthropic_model *m = calloc(1, sizeof *m);
  if (m == NULL)
    return mvm_error_set(err, MVM_ENOMEM, WHERE, "out of memory");
  int rc = mvm_adapter_init(&m->a, "anthropic", model, base, "/messages",
                            key, "x-api-key", "", cfg, err);
  if (rc) {
    anthropic_close(m);
    return rc;
  }
  out->ops = &anthropic_ops;
  out->self = m;
  return MVM_OK;
}
