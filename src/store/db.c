/* db.c - opening mvm's SQLite databases and the helpers the store shares. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/json.h"
#include "base/log.h"
#include "store/db.h"

/* Room beyond the value cap for the other columns of a row. */
#define ROW_OVERHEAD_BYTES (64u * 1024)

static const char schema_table_ddl[] =
    "CREATE TABLE mvm_schema ("
    " component TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL)";

size_t mvm_db_max_value_bytes(const mvm_db_options *opts)
{
  if (opts == NULL || opts->max_value_bytes == 0)
    return MVM_DB_DEFAULT_MAX_VALUE_BYTES;
  return opts->max_value_bytes;
}

int mvm_db_error(sqlite3 *db, int sqlite_rc, const char *where,
                 const char *what, mvm_error *err)
{
  const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(sqlite_rc);

  switch (sqlite_rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return mvm_error_set(err, MVM_ETIMEOUT, where,
                         "%s failed: the database stayed locked by another "
                         "connection past the busy timeout (%s)",
                         what, msg);
  case SQLITE_TOOBIG:
    return mvm_error_set(err, MVM_ELIMIT, where,
                         "%s failed: a value is over the size limit (%s)",
                         what, msg);
  case SQLITE_NOMEM:
    return mvm_error_set(err, MVM_ENOMEM, where, "%s failed: out of memory",
                         what);
  case SQLITE_NOTADB:
  case SQLITE_CORRUPT:
    return mvm_error_set(err, MVM_EINVAL, where,
                         "%s failed: the file is not a valid SQLite "
                         "database (%s)",
                         what, msg);
  default:
    return mvm_error_set(err, MVM_EIO, where, "%s failed: %s (SQLite code %d)",
                         what, msg, sqlite_rc);
  }
}

int mvm_db_exec(sqlite3 *db, const char *sql, const char *where,
                mvm_error *err)
{
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return mvm_db_error(db, rc, where, sql, err);
  return MVM_OK;
}

int mvm_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt,
                   const char *where, mvm_error *err)
{
  int rc = sqlite3_prepare_v2(db, sql, -1, stmt, NULL);
  if (rc != SQLITE_OK)
    return mvm_db_error(db, rc, where, "preparing a statement", err);
  return MVM_OK;
}

void mvm_db_rollback(sqlite3 *db)
{
  if (db != NULL && !sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

void mvm_db_close(sqlite3 *db)
{
  /* sqlite3_close_v2 finishes the close once the last statement is
   * finalized, so a leaked statement cannot keep the file open forever. */
  if (db != NULL)
    sqlite3_close_v2(db);
}

void mvm_db_timestamp(char out[MVM_DB_TIME_SIZE])
{
  struct timespec ts;
  struct tm tm;
  unsigned micros;

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  micros = (unsigned)(ts.tv_nsec / 1000) % 1000000u;
  /* 19 characters of date and time, then 8 of ".123456Z" and the NUL. */
  strftime(out, 20, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + 19, MVM_DB_TIME_SIZE - 19, ".%06uZ", micros);
}

int mvm_db_new_id(char out[MVM_DB_ID_SIZE], mvm_error *err)
{
  unsigned char bytes[(MVM_DB_ID_SIZE - 1) / 2];

  if (sodium_init() < 0)
    return mvm_error_set(err, MVM_EIO, "store",
                         "cannot initialize libsodium to make a random id");
  randombytes_buf(bytes, sizeof bytes);
  sodium_bin2hex(out, MVM_DB_ID_SIZE, bytes, sizeof bytes);
  return MVM_OK;
}

bool mvm_db_valid_name(const char *s, size_t max)
{
  size_t n = 0;

  if (s == NULL)
    return false;
  for (; s[n] != '\0'; n++) {
    char c = s[n];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '-';
    if (!ok || n >= max)
      return false;
  }
  return n > 0;
}

int mvm_db_label_dump(const mvm_label *label, char **text, mvm_error *err)
{
  if (label == NULL) {
    *text = NULL;
    return MVM_OK;
  }
  json_t *json = mvm_label_to_json(label);
  char *s = json != NULL ? mvm_json_dump_canonical(json) : NULL;
  json_decref(json);
  if (s == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "store",
                         "out of memory serializing a label");
  *text = s;
  return MVM_OK;
}

int mvm_db_label_load(const char *text, size_t len, size_t max_bytes,
                      const char *what, mvm_label **label, mvm_error *err)
{
  mvm_json_limits limits = {.max_bytes = max_bytes};
  json_t *json = NULL;
  int rc;

  if (text == NULL) {
    *label = NULL;
    return MVM_OK;
  }
  rc = mvm_json_parse(text, len, &limits, what, &json, err);
  if (rc == MVM_OK) {
    rc = mvm_label_from_json(json, label, err);
    if (rc == MVM_EINVAL) {
      char cause[MVM_ERROR_MSG_MAX];
      snprintf(cause, sizeof cause, "%s", err != NULL ? err->msg : "");
      rc = mvm_error_set(err, MVM_EPARSE, "store",
                         "%s holds an invalid label: %s", what, cause);
    }
  }
  json_decref(json);
  return rc;
}

/* Reads one integer from a statement that returns one row. */
static int query_int(sqlite3 *db, const char *sql, sqlite3_int64 *value,
                     const char *where, mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  int rc = mvm_db_prepare(db, sql, &stmt, where, err);
  if (rc)
    return rc;

  int step = sqlite3_step(stmt);
  if (step == SQLITE_ROW) {
    *value = sqlite3_column_int64(stmt, 0);
    rc = MVM_OK;
  } else {
    rc = mvm_db_error(db, step, where, sql, err);
  }
  sqlite3_finalize(stmt);
  return rc;
}

/* Checks that the file is empty or mvm's. Sets *empty for a file with no
 * tables and no application id, which the caller may initialize. */
static int check_identity(sqlite3 *db, const char *path, bool *empty,
                          mvm_error *err)
{
  sqlite3_int64 app_id = 0;
  sqlite3_int64 tables = 0;
  sqlite3_int64 schema_tables = 0;
  int rc;

  /* The first read of the header is where SQLite notices a file that is
   * not a database. */
  rc = query_int(db, "PRAGMA application_id", &app_id, "store", err);
  if (rc == MVM_OK)
    rc = query_int(db, "SELECT count(*) FROM sqlite_schema", &tables, "store",
                   err);
  if (rc == MVM_OK)
    rc = query_int(db,
                   "SELECT count(*) FROM sqlite_schema"
                   " WHERE type = 'table' AND name = 'mvm_schema'",
                   &schema_tables, "store", err);
  if (rc) {
    if (rc == MVM_EINVAL)
      return mvm_error_set(err, MVM_EINVAL, "store",
                           "'%s' is not an SQLite database; pass the path of "
                           "an mvm database or a new file",
                           path);
    return rc;
  }

  *empty = app_id == 0 && tables == 0;
  if (*empty)
    return MVM_OK;
  if (app_id != MVM_DB_APPLICATION_ID)
    return mvm_error_set(err, MVM_EINVAL, "store",
                         "'%s' is an SQLite database of another program "
                         "(application id 0x%08llx, mvm uses 0x%08x); pass "
                         "the path of an mvm database or a new file",
                         path, (unsigned long long)app_id,
                         MVM_DB_APPLICATION_ID);
  if (schema_tables != 1)
    return mvm_error_set(err, MVM_EINVAL, "store",
                         "'%s' has mvm's application id but no mvm_schema "
                         "table; the file is damaged",
                         path);
  return MVM_OK;
}

/* Runs check_identity in one read transaction, so a process creating the
 * schema at the same moment is seen before or after, never halfway. */
static int check_identity_snapshot(sqlite3 *db, const char *path,
                                   bool *empty, mvm_error *err)
{
  int rc = mvm_db_exec(db, "BEGIN", "store", err);
  if (rc)
    return rc;
  rc = check_identity(db, path, empty, err);
  mvm_db_rollback(db);
  return rc;
}

/* Looks up the component's schema version. *version is 0 when absent. */
static int component_version(sqlite3 *db, const char *component,
                             sqlite3_int64 *version, mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  int rc = mvm_db_prepare(db,
                          "SELECT version FROM mvm_schema WHERE component = ?",
                          &stmt, "store", err);
  if (rc)
    return rc;

  sqlite3_bind_text(stmt, 1, component, -1, SQLITE_STATIC);
  int step = sqlite3_step(stmt);
  if (step == SQLITE_ROW) {
    *version = sqlite3_column_int64(stmt, 0);
  } else if (step == SQLITE_DONE) {
    *version = 0;
  } else {
    rc = mvm_db_error(db, step, "store", "reading the schema version", err);
  }
  sqlite3_finalize(stmt);
  return rc;
}

static int check_version(const char *path, const mvm_db_schema *schema,
                         sqlite3_int64 version, mvm_error *err)
{
  if (version > schema->version)
    return mvm_error_set(err, MVM_EUNSUPPORTED, "store",
                         "'%s' has %s schema version %lld, newer than "
                         "version %d that this mvm supports; use a newer "
                         "mvm",
                         path, schema->component, (long long)version,
                         schema->version);
  if (version != schema->version)
    return mvm_error_set(err, MVM_EUNSUPPORTED, "store",
                         "'%s' has %s schema version %lld, which this mvm "
                         "cannot read (it supports version %d)",
                         path, schema->component, (long long)version,
                         schema->version);
  return MVM_OK;
}

static int create_component(sqlite3 *db, const mvm_db_schema *schema,
                            mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  int rc = mvm_db_exec(db, schema->ddl, "store", err);
  if (rc)
    return rc;

  rc = mvm_db_prepare(db,
                      "INSERT INTO mvm_schema (component, version)"
                      " VALUES (?, ?)",
                      &stmt, "store", err);
  if (rc)
    return rc;
  sqlite3_bind_text(stmt, 1, schema->component, -1, SQLITE_STATIC);
  sqlite3_bind_int(stmt, 2, schema->version);
  int step = sqlite3_step(stmt);
  if (step != SQLITE_DONE)
    rc = mvm_db_error(db, step, "store", "recording the schema version", err);
  sqlite3_finalize(stmt);
  return rc;
}

/* Creates mvm's tables and the component's in one write transaction, so
 * two processes opening a new file at once cannot both create them. */
static int set_up_schema(sqlite3 *db, const char *path,
                         const mvm_db_schema *schema, mvm_db_mode mode,
                         mvm_error *err)
{
  char sql[64];
  bool empty = false;
  sqlite3_int64 version = 0;
  int rc = mvm_db_exec(db, "BEGIN IMMEDIATE", "store", err);
  if (rc)
    return rc;

  rc = check_identity(db, path, &empty, err);
  if (rc)
    goto out;
  if (empty && mode != MVM_DB_CREATE) {
    rc = mvm_error_set(err, MVM_ENOTFOUND, "store",
                       "'%s' is empty and contains no %s data", path,
                       schema->component);
    goto out;
  }
  if (empty) {
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d",
             MVM_DB_APPLICATION_ID);
    rc = mvm_db_exec(db, sql, "store", err);
    if (rc == MVM_OK)
      rc = mvm_db_exec(db, schema_table_ddl, "store", err);
    if (rc)
      goto out;
  }

  rc = component_version(db, schema->component, &version, err);
  if (rc)
    goto out;
  if (version == 0 && mode != MVM_DB_CREATE)
    rc = mvm_error_set(err, MVM_ENOTFOUND, "store",
                       "'%s' contains no %s data", path, schema->component);
  else if (version == 0)
    rc = create_component(db, schema, err);
  else
    rc = check_version(path, schema, version, err);
  if (rc)
    goto out;
  rc = mvm_db_exec(db, "COMMIT", "store", err);

out:
  if (rc)
    mvm_db_rollback(db);
  return rc;
}

static int check_read_only_schema(sqlite3 *db, const char *path,
                                  const mvm_db_schema *schema, mvm_error *err)
{
  bool empty = false;
  sqlite3_int64 version = 0;
  int rc = check_identity_snapshot(db, path, &empty, err);
  if (rc)
    return rc;
  if (!empty)
    rc = component_version(db, schema->component, &version, err);
  if (rc)
    return rc;
  if (version == 0)
    return mvm_error_set(err, MVM_ENOTFOUND, "store",
                         "'%s' contains no %s data", path, schema->component);
  return check_version(path, schema, version, err);
}

/* Reads or sets the journal mode: `sql` is "PRAGMA journal_mode" with or
 * without "= WAL". Returns the SQLite result code. */
static int journal_mode(sqlite3 *db, const char *sql, char *mode, size_t size)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return rc;

  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const char *text = (const char *)sqlite3_column_text(stmt, 0);
    snprintf(mode, size, "%s", text != NULL ? text : "?");
    rc = SQLITE_OK;
  }
  sqlite3_finalize(stmt);
  return rc;
}

/* Switches to WAL and sets the sync level. WAL lets readers run while a
 * writer appends, and commits write the log sequentially. The switch needs
 * an exclusive lock. With two processes creating one file, SQLite 3.40
 * returned SQLITE_BUSY for it at once despite the busy timeout, so it is
 * retried here until that timeout. A file stays in WAL mode once switched,
 * and later opens skip the switch. */
static int set_journal(sqlite3 *db, const char *path, mvm_db_sync sync,
                       int busy_timeout_ms, mvm_error *err)
{
  char mode[16];
  int src = journal_mode(db, "PRAGMA journal_mode", mode, sizeof mode);

  for (int waited = 0; src == SQLITE_OK && strcmp(mode, "wal") != 0;) {
    src = journal_mode(db, "PRAGMA journal_mode = WAL", mode, sizeof mode);
    if ((src & 0xff) == SQLITE_BUSY && waited < busy_timeout_ms) {
      sqlite3_sleep(10);
      waited += 10;
      src = SQLITE_OK;
      mode[0] = '\0';
      continue;
    }
    if (src == SQLITE_OK && strcmp(mode, "wal") != 0)
      return mvm_error_set(err, MVM_EIO, "store",
                           "cannot switch '%s' to WAL mode (journal mode is "
                           "'%s'); put the database on a local file system",
                           path, mode);
  }
  if (src != SQLITE_OK)
    return mvm_db_error(db, src, "store", "switching to WAL mode", err);

  return mvm_db_exec(db,
                     sync == MVM_DB_SYNC_NORMAL ? "PRAGMA synchronous = NORMAL"
                                                : "PRAGMA synchronous = FULL",
                     "store", err);
}

/* Makes sure the file exists (with mode 0600 when new) for MVM_DB_CREATE,
 * or exists at all for the other modes. */
static int prepare_file(const char *path, mvm_db_mode mode, mvm_error *err)
{
  struct stat st;

  if (stat(path, &st) == 0) {
    if (!S_ISREG(st.st_mode))
      return mvm_error_set(err, MVM_EINVAL, "store",
                           "'%s' is not a regular file", path);
    return MVM_OK;
  }
  if (errno != ENOENT)
    return mvm_error_set(err, MVM_EIO, "store", "cannot access '%s': %s",
                         path, strerror(errno));
  if (mode != MVM_DB_CREATE)
    return mvm_error_set(err, MVM_ENOTFOUND, "store",
                         "database '%s' does not exist", path);

  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST)
    return mvm_error_set(err, errno == ENOENT ? MVM_ENOTFOUND : MVM_EIO,
                         "store", "cannot create database '%s': %s", path,
                         strerror(errno));
  if (fd >= 0)
    close(fd);
  return MVM_OK;
}

int mvm_db_open(const char *path, const mvm_db_schema *schema,
                const mvm_db_options *opts, sqlite3 **out, mvm_error *err)
{
  mvm_db_options options = {0};
  sqlite3 *db = NULL;
  int flags;
  int rc;

  if (opts != NULL)
    options = *opts;
  if (options.busy_timeout_ms <= 0)
    options.busy_timeout_ms = MVM_DB_DEFAULT_BUSY_MS;
  options.max_value_bytes = mvm_db_max_value_bytes(&options);
  if (options.max_value_bytes > MVM_DB_MAX_VALUE_BYTES_LIMIT)
    return mvm_error_set(err, MVM_EINVAL, "store",
                         "value size limit %zu is over the maximum of %u "
                         "bytes",
                         options.max_value_bytes, MVM_DB_MAX_VALUE_BYTES_LIMIT);

  rc = prepare_file(path, options.mode, err);
  if (rc)
    return rc;

  if (options.mode == MVM_DB_READ_ONLY)
    flags = SQLITE_OPEN_READONLY;
  else
    flags = SQLITE_OPEN_READWRITE;
  int src = sqlite3_open_v2(path, &db, flags, NULL);
  if (src != SQLITE_OK) {
    rc = mvm_db_error(db, src, "store", "opening the database", err);
    goto out;
  }
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH,
                (int)(options.max_value_bytes + ROW_OVERHEAD_BYTES));

  if (options.mode == MVM_DB_READ_ONLY) {
    rc = check_read_only_schema(db, path, schema, err);
  } else {
    bool empty = false;
    rc = check_identity_snapshot(db, path, &empty, err);
    if (rc == MVM_OK && empty && options.mode != MVM_DB_CREATE)
      rc = mvm_error_set(err, MVM_ENOTFOUND, "store",
                         "'%s' is empty and contains no %s data", path,
                         schema->component);
    if (rc == MVM_OK)
      rc = set_journal(db, path, options.sync, options.busy_timeout_ms, err);
    if (rc == MVM_OK)
      rc = set_up_schema(db, path, schema, options.mode, err);
  }
  if (rc)
    goto out;

  mvm_trace(MVM_TRACE_AUDIT, "opened %s database '%s'", schema->component,
            path);
  *out = db;
  db = NULL;

out:
  mvm_db_close(db);
  return rc;
}
