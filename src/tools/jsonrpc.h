/* jsonrpc.h - JSON-RPC 2.0 messages as MCP uses them, and the line
 * framing of the stdio transport.
 *
 * MCP sends one JSON-RPC message per JSON text: a request (method and id),
 * a notification (method, no id), or a response (id and either result or
 * error). It never sends batches, so an array is rejected here. Request
 * ids are strings or integers and never null. A response carries a null
 * id only when its sender could not read the request's id.
 *
 * Ownership: an mvm_jsonrpc_msg owns its parsed JSON in `root`; every
 * other pointer in it points into `root` and dies with
 * mvm_jsonrpc_msg_clear. Builders return malloc'd text the caller frees.
 */
#ifndef MVM_TOOLS_JSONRPC_H
#define MVM_TOOLS_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "mvm.h"

/* Error codes defined by JSON-RPC 2.0. */
#define MVM_JSONRPC_PARSE_ERROR (-32700)
#define MVM_JSONRPC_INVALID_REQUEST (-32600)
#define MVM_JSONRPC_METHOD_NOT_FOUND (-32601)
#define MVM_JSONRPC_INVALID_PARAMS (-32602)
#define MVM_JSONRPC_INTERNAL_ERROR (-32603)

/* The maximum nesting depth of a message; deeper ones are MVM_ELIMIT. */
#define MVM_JSONRPC_MAX_DEPTH 64

typedef enum mvm_jsonrpc_kind {
  MVM_JSONRPC_REQUEST = 0,
  MVM_JSONRPC_NOTIFICATION = 1,
  MVM_JSONRPC_RESULT = 2, /* a response with "result" */
  MVM_JSONRPC_ERROR = 3   /* a response with "error" */
} mvm_jsonrpc_kind;

/* One classified message. Fields a kind does not use are NULL or 0. */
typedef struct mvm_jsonrpc_msg {
  mvm_jsonrpc_kind kind;
  json_t *root;         /* the whole message object */
  const json_t *id;     /* integer or string; JSON null in a response
                           whose sender did not know the id */
  const char *method;   /* requests and notifications */
  const json_t *params; /* object or array, or NULL when absent */
  const json_t *result; /* MVM_JSONRPC_RESULT: any JSON value */
  long long error_code; /* MVM_JSONRPC_ERROR */
  const char *error_message;
  const json_t *error_data; /* NULL when absent */
} mvm_jsonrpc_msg;

/* Parses and classifies one message from text[0..len).
 *
 * Fails with MVM_ELIMIT when the text is longer than max_bytes (0: the
 * JSON parser's default limit) or nests deeper than MVM_JSONRPC_MAX_DEPTH.
 * Fails with MVM_EPARSE when it is not JSON. Fails with MVM_EPROTOCOL when
 * it is JSON but not a valid JSON-RPC 2.0 message: a batch, a wrong
 * "jsonrpc" member, an invalid id, or a response with both or neither of
 * result and error. The error message names the offending member. On
 * success *out owns the parsed JSON, which mvm_jsonrpc_msg_clear
 * releases. */
int mvm_jsonrpc_parse(const char *text, size_t len, size_t max_bytes,
                      mvm_jsonrpc_msg *out, mvm_error *err);

/* Releases the JSON a message owns and zeroes it. Safe on a zeroed
 * message. */
void mvm_jsonrpc_msg_clear(mvm_jsonrpc_msg *msg);

/* True when id is a JSON integer equal to `value`. */
bool mvm_jsonrpc_id_is(const json_t *id, long long value);

/* Writes the id as text for messages ("7", "\"abc\"", "null") into buf,
 * cut to size. Returns buf. */
char *mvm_jsonrpc_id_format(const json_t *id, char *buf, size_t size);

/* Builders. Each returns the compact JSON text of a message, which never
 * contains a newline, as a malloc'd string, and stores its length in *len
 * (len may be NULL). They return NULL on no memory. A params or result
 * argument is borrowed; params may be NULL to leave the member out. */
char *mvm_jsonrpc_request(long long id, const char *method,
                          const json_t *params, size_t *len);
char *mvm_jsonrpc_notification(const char *method, const json_t *params,
                               size_t *len);
char *mvm_jsonrpc_result(const json_t *id, const json_t *result, size_t *len);
/* data may be NULL. */
char *mvm_jsonrpc_error(const json_t *id, long long code, const char *message,
                        const json_t *data, size_t *len);

/*
 * Line framing: splits a byte stream into newline-terminated lines of at
 * most max_line bytes (the newline and one '\r' before it are not
 * counted). A longer line is dropped up to its newline and reported once,
 * so the stream recovers at the next line. Memory stays bounded by
 * max_line plus the last chunk pushed.
 */
typedef enum mvm_lines_event {
  MVM_LINES_NONE = 0,    /* no complete line yet: push more bytes */
  MVM_LINES_LINE = 1,    /* *line contains one line */
  MVM_LINES_OVERLONG = 2 /* a line over max_line was dropped */
} mvm_lines_event;

typedef struct mvm_jsonrpc_lines {
  mvm_buf buf;
  size_t max_line;
  size_t scanned;  /* bytes of buf already searched for a newline */
  bool discarding; /* dropping the rest of an over-long line */
  size_t overlong; /* bytes of the last over-long line seen so far */
} mvm_jsonrpc_lines;

/* Starts a splitter; max_line must be at least 1. */
void mvm_jsonrpc_lines_init(mvm_jsonrpc_lines *lines, size_t max_line);

/* Appends bytes read from the peer. Fails only with MVM_ENOMEM. Call
 * mvm_jsonrpc_lines_next until it returns MVM_LINES_NONE after each push,
 * or the buffer keeps growing. */
int mvm_jsonrpc_lines_push(mvm_jsonrpc_lines *lines, const void *data,
                           size_t len);

/* Takes the next event. For MVM_LINES_LINE, *line is a malloc'd,
 * NUL-terminated copy owned by the caller and *len its length. For
 * MVM_LINES_OVERLONG, *len is the number of bytes dropped so far (at least
 * max_line + 1). Fails only with MVM_ENOMEM. */
int mvm_jsonrpc_lines_next(mvm_jsonrpc_lines *lines, mvm_lines_event *event,
                           char **line, size_t *len);

/* Takes what is left after the stream ended: a last line without a
 * newline, if any (*line NULL when there is none). An unfinished
 * over-long line is dropped. */
int mvm_jsonrpc_lines_finish(mvm_jsonrpc_lines *lines, char **line,
                             size_t *len);

void mvm_jsonrpc_lines_free(mvm_jsonrpc_lines *lines);

#endif
