/* value.h - runtime values of the VM: labelled JSON values, histories of
 * labelled messages, and handles to models and tools.
 *
 * Ownership:
 *  - An mvm_value owns one reference to each of its label, json, origin,
 *    history and toolset. mvm_value_clear releases them and leaves the
 *    value unset. mvm_value_copy shares the references, so copying is
 *    cheap whatever the size.
 *  - A json_t held by a value is never changed in place once stored: an
 *    instruction that builds a new list or map copies first. Histories and
 *    toolsets are reference counted and copied on write: the *_append and
 *    *_add functions take a pointer to the caller's pointer and clone the
 *    object first when anyone else holds a reference.
 *  - Functions documented as "steals" take over the caller's reference,
 *    also on failure.
 *  - Every function that can fail returns an mvm_status; allocation
 *    failure is MVM_ENOMEM and leaves the inputs unchanged.
 */
#ifndef MVM_VALUE_VALUE_H
#define MVM_VALUE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm.h"

typedef enum mvm_value_kind {
  MVM_VALUE_UNSET = 0,
  MVM_VALUE_JSON,    /* null, bool, integer, real, string, array, object */
  MVM_VALUE_HISTORY, /* messages in the neutral model shape, each labelled */
  MVM_VALUE_MODEL,   /* a loaded model: index into the program's models */
  MVM_VALUE_TOOL,    /* one loaded tool: a toolset with one entry */
  MVM_VALUE_TOOLSET  /* loaded tools offered together to a model */
} mvm_value_kind;

typedef struct mvm_history mvm_history;
typedef struct mvm_toolset mvm_toolset;

/* A register's content. `label` applies to the whole value; a history
 * also carries one label per message, and its effective label is the join
 * of `label` and every message label (mvm_value_label). `origin` is NULL
 * or a JSON object recording how the value was made when that matters to
 * the monitor, e.g. {"quarantined": {"type": "bool", "model": "m"}}. */
typedef struct mvm_value {
  mvm_value_kind kind;
  mvm_label *label;
  json_t *json;
  json_t *origin;
  mvm_history *history;
  mvm_toolset *tools;
  uint32_t model;
} mvm_value;

/* Returns "unset", "json", "history", "model", "tool" or "toolset". */
const char *mvm_value_kind_name(mvm_value_kind kind);

/* Sets v to unset without releasing anything. */
void mvm_value_init(mvm_value *v);

/* Releases everything v holds and sets it to unset. */
void mvm_value_clear(mvm_value *v);

/* Makes dst share src's content (dst is cleared first). Never fails. */
void mvm_value_copy(mvm_value *dst, const mvm_value *src);

/* Moves src's content into dst (dst is cleared first) and unsets src. */
void mvm_value_move(mvm_value *dst, mvm_value *src);

/* Sets v to a JSON value with a label. Steals `json`; `label` is borrowed
 * (a new reference is taken). */
void mvm_value_set_json(mvm_value *v, json_t *json, const mvm_label *label);

/* Joins `extra` into v's own label. */
int mvm_value_join_label(mvm_value *v, const mvm_label *extra);

/* Computes v's effective label: for a history the join of v->label and
 * every message label, for every other kind v->label. *out is a new
 * reference (NULL for bottom). */
int mvm_value_label(const mvm_value *v, mvm_label **out);

/* Describes v for traces and events: the JSON itself for JSON values,
 * {"history": n} with the message count, {"model": i}, {"tools": [names]}.
 * Returns a new reference or NULL on no memory. */
json_t *mvm_value_describe(const mvm_value *v);

/* ------------------------------------------------------------- history */

/* Creates an empty history with one reference. */
int mvm_history_new(mvm_history **out);
mvm_history *mvm_history_ref(mvm_history *h);
void mvm_history_unref(mvm_history *h);

size_t mvm_history_len(const mvm_history *h);

/* The message object and its label at index i (borrowed). */
const json_t *mvm_history_message(const mvm_history *h, size_t i);
const mvm_label *mvm_history_message_label(const mvm_history *h, size_t i);

/* Appends a message with its label. Steals `msg`. When *h is shared it is
 * cloned first and *h points to the clone afterwards. */
int mvm_history_append(mvm_history **h, json_t *msg, const mvm_label *label);

/* Drops the oldest non-system messages until at most `max` messages
 * remain and their contents total at most `max_chars` characters (UTF-8
 * code points); SIZE_MAX means no limit. System messages are always kept,
 * and so is the newest non-system message, whatever the budget. After
 * dropping, tool messages left at the front of the non-system messages
 * (results whose assistant message was dropped) are dropped too, because
 * model providers reject them. Kept messages keep their labels. Copies on
 * write like mvm_history_append. */
int mvm_history_trim(mvm_history **h, size_t max, size_t max_chars);

/* Counts the characters (UTF-8 code points) of every message's "content"
 * string. */
size_t mvm_history_chars(const mvm_history *h);

/* Joins every message label. *out is a new reference. */
int mvm_history_join_labels(const mvm_history *h, mvm_label **out);

/* Returns a new array of the message objects, as a model request's
 * "messages", or NULL on no memory. */
json_t *mvm_history_messages(const mvm_history *h);

/* Serializes as [{"message": {...}, "label": {...}}, ...] so that storage
 * keeps every message's label. Returns NULL on no memory. */
json_t *mvm_history_to_json(const mvm_history *h);

/* Rebuilds a history from mvm_history_to_json's form. Fails with
 * MVM_EINVAL naming the bad item. */
int mvm_history_from_json(const json_t *json, mvm_history **out,
                          mvm_error *err);

/* ------------------------------------------------------------- toolsets */

/* The longest tool name model providers accept. */
#define MVM_OFFERED_NAME_MAX 64

/* One loaded tool. `offered` is the name the model sees (see
 * mvm_tool_offered_name), unique within its toolset. `desc` is the tool's
 * MCP description {"name", "description", "inputSchema", ...}. */
typedef struct mvm_tool_entry {
  char *server;
  char *name;
  char *full; /* "server.name" */
  char offered[MVM_OFFERED_NAME_MAX + 1];
  json_t *desc;
} mvm_tool_entry;

/* Creates an empty toolset with one reference. */
int mvm_toolset_new(mvm_toolset **out);
mvm_toolset *mvm_toolset_ref(mvm_toolset *ts);
void mvm_toolset_unref(mvm_toolset *ts);

/* Adds a tool (copies the strings, takes a reference to desc). A tool
 * already in the set (same server and name) is left as it is. An offered
 * name that collides with another entry's gets a "_2", "_3", ... suffix.
 * Copies on write like mvm_history_append. */
int mvm_toolset_add(mvm_toolset **ts, const char *server, const char *name,
                    json_t *desc);

size_t mvm_toolset_count(const mvm_toolset *ts);
const mvm_tool_entry *mvm_toolset_get(const mvm_toolset *ts, size_t i);

/* Finds an entry by the name offered to the model; NULL when absent. */
const mvm_tool_entry *mvm_toolset_find_offered(const mvm_toolset *ts,
                                               const char *offered);

/* Builds the "tools" array of a model request: [{"name": offered,
 * "description", "input_schema"}]. Returns NULL on no memory. */
json_t *mvm_toolset_offer(const mvm_toolset *ts);

/* Writes the name under which tool `server`.`tool` is offered to a model:
 * "server__tool" with every character outside [A-Za-z0-9_-] replaced by
 * '_', cut to MVM_OFFERED_NAME_MAX characters. `out` holds at least
 * MVM_OFFERED_NAME_MAX + 1 bytes. */
void mvm_tool_offered_name(const char *server, const char *tool, char *out);

/* ------------------------------------------------------------- text */

/* Counts the code points of a UTF-8 string (continuation bytes are not
 * counted). */
size_t mvm_utf8_length(const char *s, size_t len);

#endif
