/* memory.c - labelled memory values in SQLite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "store/memory.h"

static const char memory_ddl[] =
    "CREATE TABLE memory_values ("
    " namespace TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " label TEXT,"
    " updated TEXT NOT NULL,"
    " PRIMARY KEY (namespace, key)) WITHOUT ROWID;";

static const mvm_db_schema memory_schema = {
    .component = "memory",
    .version = MVM_MEMORY_SCHEMA_VERSION,
    .ddl = memory_ddl,
};

struct mvm_memory_store {
  sqlite3 *db;
  char *path;
  char *ns;
  size_t max_value_bytes;
  size_t max_entries;
};

static int memory_get(void *self, const char *key, json_t **value,
                      mvm_label **label, mvm_error *err)
{
  return mvm_memory_store_get(self, key, value, label, err);
}

static int memory_put(void *self, const char *key, const json_t *value,
                      const mvm_label *label, mvm_error *err)
{
  return mvm_memory_store_put(self, key, value, label, err);
}

static const mvm_memory_ops memory_ops = {
    .get = memory_get,
    .put = memory_put,
};

int mvm_memory_store_open(const char *path, const char *ns,
                          const mvm_memory_options *opts,
                          mvm_memory_store **out, mvm_error *err)
{
  mvm_memory_options options = {0};
  mvm_memory_store *store = NULL;
  int rc;

  if (opts != NULL)
    options = *opts;
  if (!mvm_db_valid_name(ns, MVM_MEMORY_NAMESPACE_MAX))
    return mvm_error_set(err, MVM_EINVAL, "memory",
                         "memory namespace '%.140s' is invalid; use 1 to %d "
                         "letters, digits, '.', '_', ':' or '-'",
                         ns ? ns : "(null)", MVM_MEMORY_NAMESPACE_MAX);

  store = calloc(1, sizeof *store);
  if (store == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "memory",
                         "out of memory opening '%s'", path);
  store->path = strdup(path);
  store->ns = strdup(ns);
  if (store->path == NULL || store->ns == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "memory",
                       "out of memory opening '%s'", path);
    goto out;
  }
  store->max_value_bytes = mvm_db_max_value_bytes(&options.db);
  store->max_entries =
      options.max_entries != 0 ? options.max_entries : MVM_MEMORY_DEFAULT_MAX_ENTRIES;

  rc = mvm_db_open(path, &memory_schema, &options.db, &store->db, err);
  if (rc)
    goto out;
  *out = store;
  store = NULL;

out:
  mvm_memory_store_close(store);
  return rc;
}

void mvm_memory_store_close(mvm_memory_store *store)
{
  if (store == NULL)
    return;
  mvm_db_close(store->db);
  free(store->ns);
  free(store->path);
  free(store);
}

mvm_memory mvm_memory_store_adapter(mvm_memory_store *store)
{
  mvm_memory m = {.ops = &memory_ops, .self = store};
  return m;
}

static int check_key(const char *key, mvm_error *err)
{
  size_t len = key != NULL ? strlen(key) : 0;
  json_t *probe = NULL;

  if (len == 0 || len > MVM_MEMORY_KEY_MAX)
    return mvm_error_set(err, MVM_EINVAL, "memory",
                         "memory key of %zu bytes is invalid; use 1 to %d "
                         "bytes",
                         len, MVM_MEMORY_KEY_MAX);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)key[i];
    if (c < 0x20 || c == 0x7f)
      return mvm_error_set(err, MVM_EINVAL, "memory",
                           "memory key '%.80s' contains control character "
                           "0x%02x; use printable text",
                           key, c);
  }
  probe = json_string(key);
  if (probe == NULL)
    return mvm_error_set(err, MVM_EINVAL, "memory",
                         "memory key is not valid UTF-8");
  json_decref(probe);
  return MVM_OK;
}

/* Parses a stored value and label into new references. */
static int load_entry(mvm_memory_store *store, sqlite3_stmt *stmt,
                      const char *key, json_t **value, mvm_label **label,
                      mvm_error *err)
{
  mvm_json_limits limits = {.max_bytes = store->max_value_bytes};
  char what[MVM_ERROR_MSG_MAX / 2];
  json_t *v = NULL;
  mvm_label *l = NULL;

  snprintf(what, sizeof what, "memory entry '%.80s' of namespace '%s'", key,
           store->ns);
  if (sqlite3_column_type(stmt, 0) != SQLITE_TEXT)
    return mvm_error_set(err, MVM_EPARSE, "memory",
                         "%s has no stored value; the database was changed "
                         "outside mvm",
                         what);
  int rc = mvm_json_parse((const char *)sqlite3_column_text(stmt, 0),
                          (size_t)sqlite3_column_bytes(stmt, 0), &limits,
                          what, &v, err);
  if (rc)
    return rc;
  rc = mvm_db_label_load((const char *)sqlite3_column_text(stmt, 1),
                         (size_t)sqlite3_column_bytes(stmt, 1),
                         store->max_value_bytes, what, &l, err);
  if (rc) {
    json_decref(v);
    return rc;
  }
  *value = v;
  *label = l;
  return MVM_OK;
}

int mvm_memory_store_get(mvm_memory_store *store, const char *key,
                         json_t **value, mvm_label **label, mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  int rc = check_key(key, err);
  if (rc)
    return rc;
  rc = mvm_db_prepare(store->db,
                      "SELECT value, label FROM memory_values"
                      " WHERE namespace = ? AND key = ?",
                      &stmt, "memory", err);
  if (rc)
    return rc;

  sqlite3_bind_text(stmt, 1, store->ns, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
  int step = sqlite3_step(stmt);
  if (step == SQLITE_ROW) {
    rc = load_entry(store, stmt, key, value, label, err);
  } else if (step == SQLITE_DONE) {
    *value = NULL;
    *label = NULL;
  } else {
    rc = mvm_db_error(store->db, step, "memory", "reading a memory entry",
                      err);
  }
  sqlite3_finalize(stmt);
  return rc;
}

/* Counts the namespace's entries and sets *exists when `key` is one. */
static int count_entries(mvm_memory_store *store, const char *key,
                         sqlite3_int64 *count, bool *exists, mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  int rc = mvm_db_prepare(store->db,
                          "SELECT count(*), coalesce(sum(key = ?2), 0)"
                          " FROM memory_values WHERE namespace = ?1",
                          &stmt, "memory", err);
  if (rc)
    return rc;

  sqlite3_bind_text(stmt, 1, store->ns, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
  int step = sqlite3_step(stmt);
  if (step == SQLITE_ROW) {
    *count = sqlite3_column_int64(stmt, 0);
    *exists = sqlite3_column_int64(stmt, 1) > 0;
  } else {
    rc = mvm_db_error(store->db, step, "memory", "counting memory entries",
                      err);
  }
  sqlite3_finalize(stmt);
  return rc;
}

static int write_entry(mvm_memory_store *store, const char *key,
                       const char *value, const char *label, mvm_error *err)
{
  char time[MVM_DB_TIME_SIZE];
  sqlite3_stmt *stmt = NULL;
  int rc = mvm_db_prepare(store->db,
                          "INSERT INTO memory_values"
                          " (namespace, key, value, label, updated)"
                          " VALUES (?, ?, ?, ?, ?)"
                          " ON CONFLICT (namespace, key) DO UPDATE SET"
                          " value = excluded.value, label = excluded.label,"
                          " updated = excluded.updated",
                          &stmt, "memory", err);
  if (rc)
    return rc;

  mvm_db_timestamp(time);
  sqlite3_bind_text(stmt, 1, store->ns, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 3, value, -1, SQLITE_STATIC);
  if (label != NULL)
    sqlite3_bind_text(stmt, 4, label, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(stmt, 4);
  sqlite3_bind_text(stmt, 5, time, -1, SQLITE_STATIC);
  int step = sqlite3_step(stmt);
  if (step != SQLITE_DONE)
    rc = mvm_db_error(store->db, step, "memory", "writing a memory entry",
                      err);
  sqlite3_finalize(stmt);
  return rc;
}

int mvm_memory_store_put(mvm_memory_store *store, const char *key,
                         const json_t *value, const mvm_label *label,
                         mvm_error *err)
{
  char *text = NULL;
  char *label_text = NULL;
  sqlite3_int64 count = 0;
  bool exists = false;
  int rc = check_key(key, err);
  if (rc)
    return rc;
  if (value == NULL)
    return mvm_error_set(err, MVM_EINVAL, "memory",
                         "memory entry '%.80s' needs a value; use JSON null "
                         "for an empty one",
                         key);

  text = mvm_json_dump_canonical(value);
  if (text == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "memory",
                       "out of memory serializing memory entry '%.80s'", key);
    goto out;
  }
  if (strlen(text) > store->max_value_bytes) {
    rc = mvm_error_set(err, MVM_ELIMIT, "memory",
                       "memory entry '%.80s' is %zu bytes, over the limit "
                       "of %zu bytes",
                       key, strlen(text), store->max_value_bytes);
    goto out;
  }
  rc = mvm_db_label_dump(label, &label_text, err);
  if (rc)
    goto out;

  /* The count and the write share one write transaction, so two
   * processes cannot both add the last allowed entry. */
  rc = mvm_db_exec(store->db, "BEGIN IMMEDIATE", "memory", err);
  if (rc)
    goto out;
  rc = count_entries(store, key, &count, &exists, err);
  if (rc == MVM_OK && !exists && (size_t)count >= store->max_entries)
    rc = mvm_error_set(err, MVM_ELIMIT, "memory",
                       "namespace '%s' already holds %lld entries, the "
                       "limit; delete entries before adding '%.80s'",
                       store->ns, (long long)count, key);
  if (rc == MVM_OK)
    rc = write_entry(store, key, text, label_text, err);
  if (rc == MVM_OK)
    rc = mvm_db_exec(store->db, "COMMIT", "memory", err);
  if (rc)
    mvm_db_rollback(store->db);

out:
  free(label_text);
  free(text);
  return rc;
}

int mvm_memory_store_delete(mvm_memory_store *store, const char *key,
                            bool *found, mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  int rc = check_key(key, err);
  if (rc)
    return rc;
  rc = mvm_db_prepare(store->db,
                      "DELETE FROM memory_values"
                      " WHERE namespace = ? AND key = ?",
                      &stmt, "memory", err);
  if (rc)
    return rc;

  sqlite3_bind_text(stmt, 1, store->ns, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
  int step = sqlite3_step(stmt);
  if (step != SQLITE_DONE)
    rc = mvm_db_error(store->db, step, "memory", "deleting a memory entry",
                      err);
  else if (found != NULL)
    *found = sqlite3_changes(store->db) > 0;
  sqlite3_finalize(stmt);
  return rc;
}

int mvm_memory_store_keys(mvm_memory_store *store, json_t **keys,
                          mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  json_t *list = json_array();
  int step;
  int rc;

  if (list == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "memory",
                         "out of memory listing memory keys");
  rc = mvm_db_prepare(store->db,
                      "SELECT key FROM memory_values WHERE namespace = ?"
                      " ORDER BY key",
                      &stmt, "memory", err);
  if (rc)
    goto out;

  sqlite3_bind_text(stmt, 1, store->ns, -1, SQLITE_STATIC);
  while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(stmt, 0);
    if (json_array_append_new(list, json_string(key != NULL ? key : ""))) {
      rc = mvm_error_set(err, MVM_ENOMEM, "memory",
                         "out of memory listing memory keys");
      goto out;
    }
  }
  if (step != SQLITE_DONE) {
    rc = mvm_db_error(store->db, step, "memory", "listing memory keys", err);
    goto out;
  }
  *keys = list;
  list = NULL;

out:
  sqlite3_finalize(stmt);
  json_decref(list);
  return rc;
}
