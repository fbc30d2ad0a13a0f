/* json.h - JSON parsing of outside input with hard limits, over jansson.
 *
 * Every parser of outside input (model replies, JSON-RPC, policies, replay
 * files, tool results) goes through mvm_json_parse so that size and nesting
 * depth are bounded before jansson sees the text. */
#ifndef MVM_BASE_JSON_H
#define MVM_BASE_JSON_H

#include <stddef.h>

#include "mvm.h"

#define MVM_JSON_DEFAULT_MAX_BYTES (16u * 1024 * 1024)
#define MVM_JSON_DEFAULT_MAX_DEPTH 64

typedef struct mvm_json_limits {
  size_t max_bytes; /* 0: MVM_JSON_DEFAULT_MAX_BYTES */
  int max_depth;    /* 0: MVM_JSON_DEFAULT_MAX_DEPTH */
} mvm_json_limits;

/* Parses one JSON text of any type from text[0..len). Fails with MVM_ELIMIT
 * when the text is longer than max_bytes or nests deeper than max_depth,
 * and with MVM_EPARSE (message with line and column) when it is not valid
 * JSON. An integer outside int64 becomes a real when a double represents
 * it exactly (2^64), and otherwise fails with MVM_ELIMIT rather than being
 * rounded. `what` names the input in messages ("model reply", "policy file").
 * limits may be NULL for the defaults. *out is a new reference. */
int mvm_json_parse(const char *text, size_t len, const mvm_json_limits *limits,
                   const char *what, json_t **out, mvm_error *err);

/* Reads and parses a file with the same limits. */
int mvm_json_load_file(const char *path, const mvm_json_limits *limits,
                       json_t **out, mvm_error *err);

/* Returns the nesting depth of a JSON text without parsing it: brackets
 * outside strings, counted up to `stop` (returns stop once reached). */
int mvm_json_depth(const char *text, size_t len, int stop);

/* Serializes compactly with sorted keys, a malloc'd string, or NULL on no
 * memory. Sorted keys make the text stable for hashing. */
char *mvm_json_dump_canonical(const json_t *json);

#endif
