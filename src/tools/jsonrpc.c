/* jsonrpc.c - JSON-RPC 2.0 parsing, building and line framing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tools/jsonrpc.h"

#define WHERE "jsonrpc"

static int check_id(const json_t *id, bool allow_null, mvm_error *err)
{
  if (json_is_integer(id) || json_is_string(id))
    return MVM_OK;
  if (json_is_null(id) && allow_null)
    return MVM_OK;
  if (json_is_null(id))
    return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                         "request id is null; JSON-RPC ids in MCP must be "
                         "a string or an integer");
  return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                       "message id is a JSON %s; it must be a string or an "
                       "integer",
                       json_is_real(id)     ? "real number"
                       : json_is_object(id) ? "object"
                       : json_is_array(id)  ? "array"
                                            : "boolean");
}

static int classify_call(json_t *root, const json_t *method,
                         mvm_jsonrpc_msg *msg, mvm_error *err)
{
  const json_t *id = json_object_get(root, "id");
  const json_t *params = json_object_get(root, "params");
  int rc;

  if (!json_is_string(method))
    return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                         "\"method\" must be a string");
  if (params != NULL && !json_is_object(params) && !json_is_array(params))
    return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                         "\"params\" of '%s' must be an object or an array",
                         json_string_value(method));
  if (id != NULL) {
    rc = check_id(id, false, err);
    if (rc)
      return rc;
  }

  msg->kind = id != NULL ? MVM_JSONRPC_REQUEST : MVM_JSONRPC_NOTIFICATION;
  msg->id = id;
  msg->method = json_string_value(method);
  msg->params = params;
  return MVM_OK;
}

static int classify_error(const json_t *error, mvm_jsonrpc_msg *msg,
                          mvm_error *err)
{
  const json_t *code = json_object_get(error, "code");
  const json_t *message = json_object_get(error, "message");

  if (!json_is_object(error))
    return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                         "\"error\" must be an object with code and message");
  if (!json_is_integer(code))
    return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                         "\"error.code\" must be an integer");
  if (!json_is_string(message))
    return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                         "\"error.message\" must be a string");

  msg->kind = MVM_JSONRPC_ERROR;
  msg->error_code = json_integer_value(code);
  msg->error_message = json_string_value(message);
  msg->error_data = json_object_get(error, "data");
  return MVM_OK;
}

static int classify_response(json_t *root, mvm_jsonrpc_msg *msg, mvm_error *err)
{
  const json_t *id = json_object_get(root, "id");
  const json_t *result = json_object_get(root, "result");
  const json_t *error = json_object_get(root, "error");
  int rc;

  if (id == NULL)
    return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                         "message has neither \"method\" nor \"id\"");
  rc = check_id(id, true, err);
  if (rc)
    return rc;
  if (result != NULL && error != NULL)
    return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                         "response has both \"result\" and \"error\"");
  if (result == NULL && error == NULL)
    return mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                         "response has neither \"result\" nor \"error\"");

  msg->id = id;
  if (error != NULL)
    return classify_error(error, msg, err);
  msg->kind = MVM_JSONRPC_RESULT;
  msg->result = result;
  return MVM_OK;
}

int mvm_jsonrpc_parse(const char *text, size_t len, size_t max_bytes,
                      mvm_jsonrpc_msg *out, mvm_error *err)
{
  mvm_json_limits limits = {.max_bytes = max_bytes,
                            .max_depth = MVM_JSONRPC_MAX_DEPTH};
  mvm_jsonrpc_msg msg = {0};
  json_t *root = NULL;
  const json_t *version;
  const json_t *method;
  int rc;

  rc = mvm_json_parse(text, len, &limits, "JSON-RPC message", &root, err);
  if (rc)
    return rc;

  if (json_is_array(root)) {
    rc = mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                       "message is a JSON-RPC batch (an array); MCP sends "
                       "one message at a time");
    goto out;
  }
  if (!json_is_object(root)) {
    rc = mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                       "message is not a JSON object");
    goto out;
  }
  version = json_object_get(root, "jsonrpc");
  if (!json_is_string(version) ||
      strcmp(json_string_value(version), "2.0") != 0) {
    rc = mvm_error_set(err, MVM_EPROTOCOL, WHERE,
                       "message lacks \"jsonrpc\": \"2.0\"");
    goto out;
  }

  msg.root = root;
  method = json_object_get(root, "method");
  if (method != NULL)
    rc = classify_call(root, method, &msg, err);
  else
    rc = classify_response(root, &msg, err);
  if (rc)
    goto out;

  *out = msg;
  root = NULL;
out:
  json_decref(root);
  return rc;
}

void mvm_jsonrpc_msg_clear(mvm_jsonrpc_msg *msg)
{
  json_decref(msg->root);
  memset(msg, 0, sizeof *msg);
}

bool mvm_jsonrpc_id_is(const json_t *id, long long value)
{
  return json_is_integer(id) && json_integer_value(id) == value;
}

char *mvm_jsonrpc_id_format(const json_t *id, char *buf, size_t size)
{
  if (json_is_integer(id))
    snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
  else if (json_is_string(id))
    snprintf(buf, size, "\"%s\"", json_string_value(id));
  else
    snprintf(buf, size, "null");
  return buf;
}

/* Serializes a message object and takes ownership of it. */
static char *dump_message(json_t *msg, size_t *len)
{
  char *text = NULL;

  if (msg != NULL)
    text = json_dumps(msg, JSON_COMPACT);
  json_decref(msg);
  if (text != NULL && len != NULL)
    *len = strlen(text);
  return text;
}

char *mvm_jsonrpc_request(long long id, const char *method,
                          const json_t *params, size_t *len)
{
  json_t *msg = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id",
                          (json_int_t)id, "method", method);

  if (msg != NULL && params != NULL &&
      json_object_set(msg, "params", (json_t *)params) != 0) {
    json_decref(msg);
    msg = NULL;
  }
  return dump_message(msg, len);
}

char *mvm_jsonrpc_notification(const char *method, const json_t *params,
                               size_t *len)
{
  json_t *msg = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);

  if (msg != NULL && params != NULL &&
      json_object_set(msg, "params", (json_t *)params) != 0) {
    json_decref(msg);
    msg = NULL;
  }
  return dump_message(msg, len);
}

char *mvm_jsonrpc_result(const json_t *id, const json_t *result, size_t *len)
{
  json_t *msg = json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "id",
                          (json_t *)id, "result", (json_t *)result);
  return dump_message(msg, len);
}

char *mvm_jsonrpc_error(const json_t *id, long long code, const char *message,
                        const json_t *data, size_t *len)
{
  json_t *error =
      json_pack("{s:I, s:s}", "code", (json_int_t)code, "message", message);
  json_t *msg = NULL;

  if (error != NULL && data != NULL &&
      json_object_set(error, "data", (json_t *)data) != 0) {
    json_decref(error);
    error = NULL;
  }
  if (error != NULL)
    msg = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
                    id != NULL ? (json_t *)id : json_null(), "error", error);
  return dump_message(msg, len);
}

void mvm_jsonrpc_lines_init(mvm_jsonrpc_lines *lines, size_t max_line)
{
  mvm_buf_init(&lines->buf, 0);
  lines->max_line = max_line > 0 ? max_line : 1;
  lines->scanned = 0;
  lines->discarding = false;
  lines->overlong = 0;
}

int mvm_jsonrpc_lines_push(mvm_jsonrpc_lines *lines, const void *data,
                           size_t len)
{
  return mvm_buf_append(&lines->buf, data, len);
}

/* Copies buf[0..n) without a trailing '\r' into a new string. */
static int copy_line(const char *data, size_t n, char **line, size_t *len)
{
  if (n > 0 && data[n - 1] == '\r')
    n--;

  char *copy = malloc(n + 1);
  if (copy == NULL)
    return MVM_ENOMEM;
  memcpy(copy, data, n);
  copy[n] = '\0';
  *line = copy;
  *len = n;
  return MVM_OK;
}

/* Counts the bytes of a line without its newline and one '\r'. */
static size_t line_length(const char *data, size_t n)
{
  return n > 0 && data[n - 1] == '\r' ? n - 1 : n;
}

int mvm_jsonrpc_lines_next(mvm_jsonrpc_lines *lines, mvm_lines_event *event,
                           char **line, size_t *len)
{
  mvm_buf *buf = &lines->buf;

  for (;;) {
    const char *start = buf->data + lines->scanned;
    const char *nl = NULL;

    if (buf->len > lines->scanned)
      nl = memchr(start, '\n', buf->len - lines->scanned);

    if (nl == NULL) {
      lines->scanned = buf->len;
      if (lines->discarding) {
        lines->overlong += buf->len;
        mvm_buf_reset(buf);
        lines->scanned = 0;
      } else if (buf->len > lines->max_line + 1) {
        /* Past max_line plus a possible '\r': the line is over the limit
         * however it ends. */
        lines->discarding = true;
        lines->overlong = buf->len;
        mvm_buf_reset(buf);
        lines->scanned = 0;
        *event = MVM_LINES_OVERLONG;
        *len = lines->overlong;
        return MVM_OK;
      }
      *event = MVM_LINES_NONE;
      return MVM_OK;
    }

    size_t n = (size_t)(nl - buf->data);
    if (lines->discarding) {
      lines->overlong += n;
      lines->discarding = false;
      mvm_buf_consume(buf, n + 1);
      lines->scanned = 0;
      continue;
    }
    if (line_length(buf->data, n) > lines->max_line) {
      lines->overlong = n;
      mvm_buf_consume(buf, n + 1);
      lines->scanned = 0;
      *event = MVM_LINES_OVERLONG;
      *len = n;
      return MVM_OK;
    }

    int rc = copy_line(buf->data, n, line, len);
    if (rc)
      return rc;
    mvm_buf_consume(buf, n + 1);
    lines->scanned = 0;
    *event = MVM_LINES_LINE;
    return MVM_OK;
  }
}

int mvm_jsonrpc_lines_finish(mvm_jsonrpc_lines *lines, char **line, size_t *len)
{
  mvm_buf *buf = &lines->buf;
  int rc = MVM_OK;

  *line = NULL;
  *len = 0;
  if (!lines->discarding && buf->len > 0 &&
      line_length(buf->data, buf->len) <= lines->max_line)
    rc = copy_line(buf->data, buf->len, line, len);
  mvm_buf_reset(buf);
  lines->scanned = 0;
  lines->discarding = false;
  return rc;
}

void mvm_jsonrpc_lines_free(mvm_jsonrpc_lines *lines)
{
  mvm_buf_free(&lines->buf);
  lines->scanned = 0;
  lines->discarding = false;
}
