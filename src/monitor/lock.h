/* lock.h - the lock file: pinned identities of tools and models, and the
 * ones waiting for a person's approval.
 *
 *   {"version": 1,
 *    "tools": {"server.tool": ENTRY}, "models": {"provider:model": ENTRY},
 *    "pending": {"tools": {...}, "models": {...}}}
 *
 * A tool ENTRY is {"server", "name", "description_sha256",
 * "input_schema_sha256", "description", "input_schema"}; the text fields
 * let `mvm approve` show what changed and are left out when larger than
 * MVM_LOCK_MAX_TEXT. A model ENTRY is {"provider", "model", "endpoint"}.
 * A pending entry adds "reason": "new", "changed" or "shadows KEY".
 * Hashes are SHA-256 in lower-case hex: of the description's UTF-8 bytes
 * (empty when there is none), and of the input schema serialized with
 * sorted keys and no white space ({} when there is none).
 *
 * Documents are jansson objects the caller owns.
 */
#ifndef MVM_MONITOR_LOCK_H
#define MVM_MONITOR_LOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "mvm.h"

#define MVM_LOCK_MAX_BYTES (16u * 1024 * 1024)
#define MVM_LOCK_MAX_TEXT (64u * 1024)

typedef enum mvm_lock_section {
  MVM_LOCK_TOOLS,
  MVM_LOCK_MODELS
} mvm_lock_section;

/* Reads the lock file at path into *doc (a new object). A missing file
 * gives an empty lock. Fails with MVM_ECONFIG when the file is not a valid
 * lock (naming the field), MVM_ELIMIT over MVM_LOCK_MAX_BYTES, MVM_EIO. */
int mvm_lock_load(const char *path, json_t **doc, mvm_error *err);

/* Returns a new empty lock document, or NULL on no memory. */
json_t *mvm_lock_new(void);

/* Writes doc to path atomically: a temporary file in the same directory,
 * flushed to disk, then renamed over path. Fails with MVM_EIO. */
int mvm_lock_save(const char *path, const json_t *doc, mvm_error *err);

/* Builds the entry pinning a tool from its TOOL_LOAD identity (the MCP
 * tool description plus "server"); target is "server.tool", used when the
 * identity lacks "server" or "name". *entry is new. */
int mvm_lock_tool_entry(const char *target, const json_t *identity,
                        json_t **entry, mvm_error *err);

/* Builds the key "provider:model" and the entry pinning a model from its
 * MODEL_LOAD identity. Fails with MVM_EINVAL when the identity has no
 * string "provider". *key is malloc'd, *entry new. */
int mvm_lock_model_entry(const json_t *identity, char **key, json_t **entry,
                         mvm_error *err);

/* Returns the pinned entry under key (borrowed), or NULL. */
const json_t *mvm_lock_pinned(const json_t *doc, mvm_lock_section section,
                              const char *key);

/* Describes how `seen` differs from `pinned` ("description changed",
 * "input schema changed", "endpoint changed", ...) into buf. Returns false
 * when they pin the same identity. */
bool mvm_lock_differs(mvm_lock_section section, const json_t *pinned,
                      const json_t *seen, char *buf, size_t size);

/* Stores entry (borrowed) as pinned under key and drops any pending entry
 * for it. Fails with MVM_ENOMEM. */
int mvm_lock_pin(json_t *doc, mvm_lock_section section, const char *key,
                 const json_t *entry);

/* Stores a copy of entry with "reason" as pending under key. */
int mvm_lock_set_pending(json_t *doc, mvm_lock_section section,
                         const char *key, const json_t *entry,
                         const char *reason);

/* Returns the pending object of a section (borrowed; may be NULL). */
const json_t *mvm_lock_pending(const json_t *doc, mvm_lock_section section);

/* Moves the pending entry under key to the pinned ones. Fails with
 * MVM_ENOTFOUND when nothing is pending under key. */
int mvm_lock_approve(json_t *doc, mvm_lock_section section, const char *key,
                     mvm_error *err);

/* Appends a readable description of the pending entry under key to out:
 * what it is, why it waits, and how it differs from the pinned entry, line
 * by line for descriptions and by property for input schemas. */
int mvm_lock_describe(const json_t *doc, mvm_lock_section section,
                      const char *key, mvm_buf *out);

#endif
