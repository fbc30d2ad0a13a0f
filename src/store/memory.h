/* memory.h - named values with their labels in SQLite, kept across runs:
 * the store's implementation of mvm_memory_ops.
 *
 * A store is bound to one namespace (a program, a session, a user), so
 * programs sharing a database cannot read each other's keys. Each entry
 * keeps its JSON value and its label; a value read back carries the label
 * it was written with. A put replaces the whole entry and is durable when
 * it returns (per the database's sync level).
 *
 * The store is owned by the caller and released with
 * mvm_memory_store_close; the mvm_memory view from
 * mvm_memory_store_adapter borrows it. */
#ifndef MVM_STORE_MEMORY_H
#define MVM_STORE_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"
#include "store/db.h"

#define MVM_MEMORY_SCHEMA_VERSION 1
#define MVM_MEMORY_NAMESPACE_MAX 128
#define MVM_MEMORY_KEY_MAX 256
#define MVM_MEMORY_DEFAULT_MAX_ENTRIES 10000

typedef struct mvm_memory_store mvm_memory_store;

typedef struct mvm_memory_options {
  /* Database options. db.max_value_bytes caps one serialized value. */
  mvm_db_options db;
  /* Entries allowed in one namespace; 0 means
   * MVM_MEMORY_DEFAULT_MAX_ENTRIES. */
  size_t max_entries;
} mvm_memory_options;

/* Opens the memory of namespace `ns` in the database at `path`. ns is 1 to
 * MVM_MEMORY_NAMESPACE_MAX letters, digits, '.', '_', ':' or '-'. opts may
 * be NULL for the defaults. Fails with MVM_EINVAL for an invalid
 * namespace, otherwise as mvm_db_open. */
int mvm_memory_store_open(const char *path, const char *ns,
                          const mvm_memory_options *opts,
                          mvm_memory_store **out, mvm_error *err);

/* Closes the store; NULL is allowed. */
void mvm_memory_store_close(mvm_memory_store *store);

/* Returns the mvm_memory view of the store, for the VM. */
mvm_memory mvm_memory_store_adapter(mvm_memory_store *store);

/* Reads an entry into new references: *value, and *label (NULL for
 * trusted and public). Both are NULL, with MVM_OK, when the key is absent.
 * Fails with MVM_EINVAL for an invalid key, and MVM_EPARSE or MVM_ELIMIT
 * when the stored entry is damaged or too large. Other failures are as
 * mvm_db_error. */
int mvm_memory_store_get(mvm_memory_store *store, const char *key,
                         json_t **value, mvm_label **label, mvm_error *err);

/* Writes an entry (value and label borrowed). A key is 1 to
 * MVM_MEMORY_KEY_MAX bytes of UTF-8 with no control characters. Fails with
 * MVM_EINVAL for an invalid key or a NULL value, MVM_ELIMIT for a value
 * over the size cap or a new key past the entry limit, otherwise as
 * mvm_db_error. */
int mvm_memory_store_put(mvm_memory_store *store, const char *key,
                         const json_t *value, const mvm_label *label,
                         mvm_error *err);

/* Removes an entry. Sets *found (when found is not NULL) to whether the
 * entry existed. */
int mvm_memory_store_delete(mvm_memory_store *store, const char *key,
                            bool *found, mvm_error *err);

/* Lists the namespace's keys in byte order as a new JSON array of
 * strings. Failures as mvm_db_error. */
int mvm_memory_store_keys(mvm_memory_store *store, json_t **keys,
                          mvm_error *err);

#endif
