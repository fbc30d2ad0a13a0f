/* session.c - sessions and their labelled message histories in SQLite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "store/session.h"

static const char session_ddl[] =
    "CREATE TABLE sessions ("
    " id TEXT PRIMARY KEY,"
    " state TEXT NOT NULL,"
    " meta TEXT NOT NULL,"
    " created TEXT NOT NULL,"
    " updated TEXT NOT NULL,"
    " message_count INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE session_messages ("
    " session_id TEXT NOT NULL,"
    " idx INTEGER NOT NULL,"
    " time TEXT NOT NULL,"
    " message TEXT NOT NULL,"
    " label TEXT,"
    " PRIMARY KEY (session_id, idx)) WITHOUT ROWID;";

static const mvm_db_schema session_schema = {
    .component = "session",
    .version = MVM_SESSION_SCHEMA_VERSION,
    .ddl = session_ddl,
};

struct mvm_session_store {
  sqlite3 *db;
  char *path;
  size_t max_value_bytes;
  size_t max_messages;
};

int mvm_session_store_open(const char *path, const mvm_session_options *opts,
                           mvm_session_store **out, mvm_error *err)
{
  mvm_session_options options = {0};
  mvm_session_store *store = NULL;
  int rc;

  if (opts != NULL)
    options = *opts;
  store = calloc(1, sizeof *store);
  if (store == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "session",
                         "out of memory opening '%s'", path);
  store->path = strdup(path);
  if (store->path == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "session",
                       "out of memory opening '%s'", path);
    goto out;
  }
  store->max_value_bytes = mvm_db_max_value_bytes(&options.db);
  store->max_messages = options.max_messages != 0
                            ? options.max_messages
                            : MVM_SESSION_DEFAULT_MAX_MESSAGES;

  rc = mvm_db_open(path, &session_schema, &options.db, &store->db, err);
  if (rc)
    goto out;
  *out = store;
  store = NULL;

out:
  mvm_session_store_close(store);
  return rc;
}

void mvm_session_store_close(mvm_session_store *store)
{
  if (store == NULL)
    return;
  mvm_db_close(store->db);
  free(store->path);
  free(store);
}

static int check_id(const char *id, mvm_error *err)
{
  if (!mvm_db_valid_name(id, MVM_SESSION_ID_MAX))
    return mvm_error_set(err, MVM_EINVAL, "session",
                         "session id '%.140s' is invalid; use 1 to %d "
                         "letters, digits, '.', '_', ':' or '-'",
                         id ? id : "(null)", MVM_SESSION_ID_MAX);
  return MVM_OK;
}

/* Runs a statement that returns no rows and stores the changed row count
 * in *changes when changes is not NULL. */
static int run(mvm_session_store *store, sqlite3_stmt *stmt,
               const char *what, int *changes, mvm_error *err)
{
  int step = sqlite3_step(stmt);
  if (step != SQLITE_DONE)
    return mvm_db_error(store->db, step, "session", what, err);
  if (changes != NULL)
    *changes = sqlite3_changes(store->db);
  return MVM_OK;
}

int mvm_session_create(mvm_session_store *store, const char *id,
                       const json_t *meta, mvm_error *err)
{
  char time[MVM_DB_TIME_SIZE];
  sqlite3_stmt *stmt = NULL;
  char *meta_text = NULL;
  int changes = 0;
  int rc = check_id(id, err);
  if (rc)
    return rc;
  if (meta != NULL && !json_is_object(meta))
    return mvm_error_set(err, MVM_EINVAL, "session",
                         "metadata of session '%s' must be a JSON object",
                         id);

  json_t *empty = meta == NULL ? json_object() : NULL;
  meta_text = mvm_json_dump_canonical(meta != NULL ? meta : empty);
  json_decref(empty);
  if (meta_text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "session",
                         "out of memory creating session '%s'", id);
  if (strlen(meta_text) > store->max_value_bytes) {
    rc = mvm_error_set(err, MVM_ELIMIT, "session",
                       "metadata of session '%s' is %zu bytes, over the "
                       "limit of %zu bytes",
                       id, strlen(meta_text), store->max_value_bytes);
    goto out;
  }

  rc = mvm_db_prepare(store->db,
                      "INSERT INTO sessions"
                      " (id, state, meta, created, updated, message_count)"
                      " VALUES (?1, 'running', ?2, ?3, ?3, 0)"
                      " ON CONFLICT (id) DO NOTHING",
                      &stmt, "session", err);
  if (rc)
    goto out;
  mvm_db_timestamp(time);
  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, meta_text, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 3, time, -1, SQLITE_STATIC);
  rc = run(store, stmt, "creating a session", &changes, err);
  if (rc == MVM_OK && changes == 0)
    rc = mvm_error_set(err, MVM_ESTATE, "session",
                       "session '%s' already exists in '%s'; load it to "
                       "resume, or pick a new id",
                       id, store->path);

out:
  sqlite3_finalize(stmt);
  free(meta_text);
  return rc;
}

/* Reads a session's message count inside the caller's transaction. */
static int message_count(mvm_session_store *store, const char *id,
                         sqlite3_int64 *count, mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  int rc = mvm_db_prepare(store->db,
                          "SELECT message_count FROM sessions WHERE id = ?",
                          &stmt, "session", err);
  if (rc)
    return rc;

  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  int step = sqlite3_step(stmt);
  if (step == SQLITE_ROW)
    *count = sqlite3_column_int64(stmt, 0);
  else if (step == SQLITE_DONE)
    rc = mvm_error_set(err, MVM_ENOTFOUND, "session",
                       "session '%s' not found in '%s'", id, store->path);
  else
    rc = mvm_db_error(store->db, step, "session", "reading a session", err);
  sqlite3_finalize(stmt);
  return rc;
}

/* Inserts the message row and bumps the session's count. */
static int store_message(mvm_session_store *store, const char *id,
                         uint64_t index, const char *message,
                         const char *label, mvm_error *err)
{
  char time[MVM_DB_TIME_SIZE];
  sqlite3_stmt *ins = NULL;
  sqlite3_stmt *upd = NULL;
  int rc = mvm_db_prepare(store->db,
                          "INSERT INTO session_messages"
                          " (session_id, idx, time, message, label)"
                          " VALUES (?, ?, ?, ?, ?)",
                          &ins, "session", err);
  if (rc == MVM_OK)
    rc = mvm_db_prepare(store->db,
                        "UPDATE sessions SET message_count = ?,"
                        " updated = ? WHERE id = ?",
                        &upd, "session", err);
  if (rc)
    goto out;

  mvm_db_timestamp(time);
  sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(ins, 2, (sqlite3_int64)index);
  sqlite3_bind_text(ins, 3, time, -1, SQLITE_STATIC);
  sqlite3_bind_text(ins, 4, message, -1, SQLITE_STATIC);
  if (label != NULL)
    sqlite3_bind_text(ins, 5, label, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(ins, 5);
  rc = run(store, ins, "appending a message", NULL, err);
  if (rc)
    goto out;

  sqlite3_bind_int64(upd, 1, (sqlite3_int64)index + 1);
  sqlite3_bind_text(upd, 2, time, -1, SQLITE_STATIC);
  sqlite3_bind_text(upd, 3, id, -1, SQLITE_STATIC);
  rc = run(store, upd, "updating a session", NULL, err);

out:
  sqlite3_finalize(upd);
  sqlite3_finalize(ins);
  return rc;
}

int mvm_session_append(mvm_session_store *store, const char *id,
                       uint64_t index, const json_t *message,
                       const mvm_label *label, mvm_error *err)
{
  char *text = NULL;
  char *label_text = NULL;
  sqlite3_int64 count = 0;
  int rc = check_id(id, err);
  if (rc)
    return rc;
  if (!json_is_object(message))
    return mvm_error_set(err, MVM_EINVAL, "session",
                         "message %llu of session '%s' must be a JSON "
                         "object",
                         (unsigned long long)index, id);

  text = mvm_json_dump_canonical(message);
  if (text == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "session",
                       "out of memory serializing a message of session "
                       "'%s'",
                       id);
    goto out;
  }
  if (strlen(text) > store->max_value_bytes) {
    rc = mvm_error_set(err, MVM_ELIMIT, "session",
                       "message %llu of session '%s' is %zu bytes, over the "
                       "limit of %zu bytes",
                       (unsigned long long)index, id, strlen(text),
                       store->max_value_bytes);
    goto out;
  }
  rc = mvm_db_label_dump(label, &label_text, err);
  if (rc)
    goto out;

  rc = mvm_db_exec(store->db, "BEGIN IMMEDIATE", "session", err);
  if (rc)
    goto out;
  rc = message_count(store, id, &count, err);
  if (rc == MVM_OK && (uint64_t)count != index)
    rc = mvm_error_set(err, MVM_ESTATE, "session",
                       "session '%s' has %lld messages, so the next one is "
                       "number %lld, not %llu; reload the session",
                       id, (long long)count, (long long)count,
                       (unsigned long long)index);
  else if (rc == MVM_OK && (size_t)count >= store->max_messages)
    rc = mvm_error_set(err, MVM_ELIMIT, "session",
                       "session '%s' has reached the limit of %zu messages",
                       id, store->max_messages);
  if (rc == MVM_OK)
    rc = store_message(store, id, index, text, label_text, err);
  if (rc == MVM_OK)
    rc = mvm_db_exec(store->db, "COMMIT", "session", err);
  if (rc)
    mvm_db_rollback(store->db);

out:
  free(label_text);
  free(text);
  return rc;
}

int mvm_session_set_state(mvm_session_store *store, const char *id,
                          const char *state, mvm_error *err)
{
  char time[MVM_DB_TIME_SIZE];
  sqlite3_stmt *stmt = NULL;
  int changes = 0;
  int rc = check_id(id, err);
  if (rc)
    return rc;
  if (state == NULL || (strcmp(state, MVM_SESSION_RUNNING) != 0 &&
                        strcmp(state, MVM_SESSION_FINISHED) != 0 &&
                        strcmp(state, MVM_SESSION_FAILED) != 0))
    return mvm_error_set(err, MVM_EINVAL, "session",
                         "session state '%.40s' is invalid; use running, "
                         "finished or failed",
                         state ? state : "(null)");

  rc = mvm_db_prepare(store->db,
                      "UPDATE sessions SET state = ?, updated = ?"
                      " WHERE id = ?",
                      &stmt, "session", err);
  if (rc)
    return rc;
  mvm_db_timestamp(time);
  sqlite3_bind_text(stmt, 1, state, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, time, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 3, id, -1, SQLITE_STATIC);
  rc = run(store, stmt, "setting a session's state", &changes, err);
  if (rc == MVM_OK && changes == 0)
    rc = mvm_error_set(err, MVM_ENOTFOUND, "session",
                       "session '%s' not found in '%s'", id, store->path);
  sqlite3_finalize(stmt);
  return rc;
}

void mvm_session_free(mvm_session *session)
{
  if (session == NULL)
    return;
  for (size_t i = 0; session->labels != NULL && i < session->count; i++)
    mvm_label_unref(session->labels[i]);
  free(session->labels);
  json_decref(session->messages);
  json_decref(session->meta);
  free(session);
}

static void copy_text(char *dst, size_t size, sqlite3_stmt *stmt, int col)
{
  const char *text = (const char *)sqlite3_column_text(stmt, col);
  snprintf(dst, size, "%s", text != NULL ? text : "");
}

/* Loads the sessions row: state, times, metadata and message count. */
static int load_header(mvm_session_store *store, const char *id,
                       mvm_session *s, sqlite3_int64 *count, mvm_error *err)
{
  mvm_json_limits limits = {.max_bytes = store->max_value_bytes};
  char what[MVM_ERROR_MSG_MAX / 2];
  sqlite3_stmt *stmt = NULL;
  int rc = mvm_db_prepare(store->db,
                          "SELECT state, created, updated, meta,"
                          " message_count FROM sessions WHERE id = ?",
                          &stmt, "session", err);
  if (rc)
    return rc;

  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  int step = sqlite3_step(stmt);
  if (step == SQLITE_DONE) {
    rc = mvm_error_set(err, MVM_ENOTFOUND, "session",
                       "session '%s' not found in '%s'", id, store->path);
    goto out;
  }
  if (step != SQLITE_ROW) {
    rc = mvm_db_error(store->db, step, "session", "reading a session", err);
    goto out;
  }

  snprintf(s->id, sizeof s->id, "%s", id);
  copy_text(s->state, sizeof s->state, stmt, 0);
  copy_text(s->created, sizeof s->created, stmt, 1);
  copy_text(s->updated, sizeof s->updated, stmt, 2);
  *count = sqlite3_column_int64(stmt, 4);
  snprintf(what, sizeof what, "metadata of session '%s'", id);
  const char *meta = (const char *)sqlite3_column_text(stmt, 3);
  rc = mvm_json_parse(meta != NULL ? meta : "",
                      (size_t)sqlite3_column_bytes(stmt, 3), &limits, what,
                      &s->meta, err);

out:
  sqlite3_finalize(stmt);
  return rc;
}

/* Parses one stored message and its label into s at position i. */
static int load_message(mvm_session_store *store, sqlite3_stmt *stmt,
                        mvm_session *s, size_t i, mvm_error *err)
{
  mvm_json_limits limits = {.max_bytes = store->max_value_bytes};
  char what[MVM_ERROR_MSG_MAX / 2];
  json_t *message = NULL;
  const char *text = (const char *)sqlite3_column_text(stmt, 1);

  snprintf(what, sizeof what, "message %zu of session '%s'", i, s->id);
  if (sqlite3_column_int64(stmt, 0) != (sqlite3_int64)i)
    return mvm_error_set(err, MVM_EPARSE, "session",
                         "%s is missing (found message %lld in its place); "
                         "the database was changed outside mvm",
                         what, (long long)sqlite3_column_int64(stmt, 0));
  int rc = mvm_json_parse(text != NULL ? text : "",
                          (size_t)sqlite3_column_bytes(stmt, 1), &limits,
                          what, &message, err);
  if (rc)
    return rc;
  if (json_array_append_new(s->messages, message))
    return mvm_error_set(err, MVM_ENOMEM, "session",
                         "out of memory loading session '%s'", s->id);
  return mvm_db_label_load((const char *)sqlite3_column_text(stmt, 2),
                           (size_t)sqlite3_column_bytes(stmt, 2),
                           store->max_value_bytes, what, &s->labels[i], err);
}

static int load_messages(mvm_session_store *store, mvm_session *s,
                         size_t count, mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  size_t i = 0;
  int step;
  int rc = mvm_db_prepare(store->db,
                          "SELECT idx, message, label FROM session_messages"
                          " WHERE session_id = ? ORDER BY idx",
                          &stmt, "session", err);
  if (rc)
    return rc;

  sqlite3_bind_text(stmt, 1, s->id, -1, SQLITE_STATIC);
  while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (i == count) {
      rc = mvm_error_set(err, MVM_EPARSE, "session",
                         "session '%s' holds more messages than its count "
                         "of %zu; the database was changed outside mvm",
                         s->id, count);
      goto out;
    }
    rc = load_message(store, stmt, s, i, err);
    if (rc)
      goto out;
    i++;
    s->count = i;
  }
  if (step != SQLITE_DONE)
    rc = mvm_db_error(store->db, step, "session", "reading messages", err);
  else if (i != count)
    rc = mvm_error_set(err, MVM_EPARSE, "session",
                       "session '%s' holds %zu messages but its count is "
                       "%zu; the database was changed outside mvm",
                       s->id, i, count);

out:
  sqlite3_finalize(stmt);
  return rc;
}

int mvm_session_load(mvm_session_store *store, const char *id,
                     mvm_session **out, mvm_error *err)
{
  mvm_session *s = NULL;
  sqlite3_int64 count = 0;
  int rc = check_id(id, err);
  if (rc)
    return rc;

  s = calloc(1, sizeof *s);
  if (s == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "session",
                         "out of memory loading session '%s'", id);

  /* One read transaction covers the count and the messages, so a
   * concurrent append cannot land between them. */
  rc = mvm_db_exec(store->db, "BEGIN", "session", err);
  if (rc)
    goto out;
  rc = load_header(store, id, s, &count, err);
  if (rc)
    goto out;
  if (count < 0 || (uint64_t)count > store->max_messages) {
    rc = mvm_error_set(err, MVM_ELIMIT, "session",
                       "session '%s' has %lld messages, over the limit of "
                       "%zu",
                       id, (long long)count, store->max_messages);
    goto out;
  }
  s->messages = json_array();
  s->labels = calloc((size_t)count + 1, sizeof *s->labels);
  if (s->messages == NULL || s->labels == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "session",
                       "out of memory loading session '%s'", id);
    goto out;
  }
  rc = load_messages(store, s, (size_t)count, err);
  if (rc)
    goto out;

  *out = s;
  s = NULL;

out:
  mvm_db_rollback(store->db);
  mvm_session_free(s);
  return rc;
}

int mvm_session_delete(mvm_session_store *store, const char *id, bool *found,
                       mvm_error *err)
{
  sqlite3_stmt *msgs = NULL;
  sqlite3_stmt *sess = NULL;
  int changes = 0;
  int rc = check_id(id, err);
  if (rc)
    return rc;

  rc = mvm_db_exec(store->db, "BEGIN IMMEDIATE", "session", err);
  if (rc)
    return rc;
  rc = mvm_db_prepare(store->db,
                      "DELETE FROM session_messages WHERE session_id = ?",
                      &msgs, "session", err);
  if (rc == MVM_OK)
    rc = mvm_db_prepare(store->db, "DELETE FROM sessions WHERE id = ?", &sess,
                        "session", err);
  if (rc)
    goto out;
  sqlite3_bind_text(msgs, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(sess, 1, id, -1, SQLITE_STATIC);
  rc = run(store, msgs, "deleting messages", NULL, err);
  if (rc == MVM_OK)
    rc = run(store, sess, "deleting a session", &changes, err);
  if (rc == MVM_OK)
    rc = mvm_db_exec(store->db, "COMMIT", "session", err);
  if (rc == MVM_OK && found != NULL)
    *found = changes > 0;

out:
  if (rc)
    mvm_db_rollback(store->db);
  sqlite3_finalize(sess);
  sqlite3_finalize(msgs);
  return rc;
}

int mvm_session_list(mvm_session_store *store, size_t limit, json_t **out,
                     mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  json_t *list = json_array();
  int step;
  int rc;

  if (list == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "session",
                         "out of memory listing sessions");
  rc = mvm_db_prepare(store->db,
                      "SELECT id, state, created, updated, message_count"
                      " FROM sessions ORDER BY updated DESC, id LIMIT ?",
                      &stmt, "session", err);
  if (rc)
    goto out;
  sqlite3_bind_int64(stmt, 1,
                     limit == 0 || limit > INT64_MAX ? -1
                                                     : (sqlite3_int64)limit);

  while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *cols[4];
    for (int c = 0; c < 4; c++) {
      cols[c] = (const char *)sqlite3_column_text(stmt, c);
      if (cols[c] == NULL)
        cols[c] = "";
    }
    json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", cols[0],
                             "state", cols[1], "created", cols[2], "updated",
                             cols[3], "messages",
                             (json_int_t)sqlite3_column_int64(stmt, 4));
    if (item == NULL || json_array_append_new(list, item)) {
      rc = mvm_error_set(err, MVM_ENOMEM, "session",
                         "out of memory listing sessions");
      goto out;
    }
  }
  if (step != SQLITE_DONE) {
    rc = mvm_db_error(store->db, step, "session", "listing sessions", err);
    goto out;
  }
  *out = list;
  list = NULL;

out:
  sqlite3_finalize(stmt);
  json_decref(list);
  return rc;
}
