/* db.h - opening mvm's SQLite databases: WAL journal, durability level,
 * busy timeout, a cap on value size, and a schema version per component.
 *
 * Several components (the audit log, memory, sessions) may share one
 * database file. The file carries mvm's application id in its header and
 * a table mvm_schema(component, version). Each component creates its own
 * tables the first time it opens the file. A database made by another
 * program, or by a newer mvm, is rejected with a message that says so.
 *
 * A sqlite3 handle returned here is owned by the caller, who releases it
 * with mvm_db_close. One handle serves one thread at a time. */
#ifndef MVM_STORE_DB_H
#define MVM_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mvm.h"

/* "mvm1" in ASCII, stored in the database header (PRAGMA application_id). */
#define MVM_DB_APPLICATION_ID 0x6d766d31

#define MVM_DB_DEFAULT_BUSY_MS 5000
#define MVM_DB_DEFAULT_MAX_VALUE_BYTES (1u * 1024 * 1024)
/* Largest value SQLite will store or return through a handle opened here:
 * a bound on what a crafted file can make mvm load. */
#define MVM_DB_MAX_VALUE_BYTES_LIMIT (64u * 1024 * 1024)

/* The length of an ISO 8601 UTC time with microseconds,
 * "2025-01-31T23:59:59.123456Z", plus the NUL. */
#define MVM_DB_TIME_SIZE 28
/* Size of an id made by mvm_db_new_id, NUL included. */
#define MVM_DB_ID_SIZE 33

typedef enum mvm_db_mode {
  MVM_DB_CREATE = 0, /* read-write; create the file and tables if missing */
  MVM_DB_EXISTING,   /* read-write; the file and component must exist */
  MVM_DB_READ_ONLY   /* read only; the file and component must exist */
} mvm_db_mode;

/* Durability of a committed transaction, with the journal in WAL mode.
 * FULL syncs the WAL to disk at every commit, so a commit that returned
 * survives a power loss. NORMAL syncs only at checkpoints, so the last
 * commits before a power loss or OS crash may be lost, but the database
 * stays consistent. A crash of the process alone loses nothing. */
typedef enum mvm_db_sync {
  MVM_DB_SYNC_FULL = 0,
  MVM_DB_SYNC_NORMAL = 1
} mvm_db_sync;

typedef struct mvm_db_options {
  mvm_db_mode mode;
  mvm_db_sync sync;
  /* How long a writer waits for another process's write lock; 0 means
   * MVM_DB_DEFAULT_BUSY_MS. */
  int busy_timeout_ms;
  /* Largest JSON value (record body, memory value, message) in bytes, in
   * and out; 0 means MVM_DB_DEFAULT_MAX_VALUE_BYTES. At most
   * MVM_DB_MAX_VALUE_BYTES_LIMIT. */
  size_t max_value_bytes;
} mvm_db_options;

/* A component's schema: its name, the version this build writes, and the
 * SQL that creates its tables in an empty database. */
typedef struct mvm_db_schema {
  const char *component;
  int version;
  const char *ddl;
} mvm_db_schema;

/* Opens (or creates, in MVM_DB_CREATE mode) the database at `path` for
 * one component, checks the file is mvm's and the component's schema
 * version is the one this build supports, and creates the component's
 * tables when absent. A new file is created with mode 0600; its parent
 * directory must exist. opts may be NULL for the defaults. Fails with
 * MVM_ENOTFOUND when the file is missing, or the component is missing
 * outside MVM_DB_CREATE. Fails with MVM_EINVAL when the file is not an
 * SQLite database or belongs to another program, and MVM_EUNSUPPORTED
 * when the schema version differs. Fails with MVM_EIO on file errors, and
 * MVM_ETIMEOUT when another process keeps the write lock past the busy
 * timeout. *out is set only on success. */
int mvm_db_open(const char *path, const mvm_db_schema *schema,
                const mvm_db_options *opts, sqlite3 **out, mvm_error *err);

/* Closes a handle from mvm_db_open; NULL is allowed. An open transaction
 * is rolled back by SQLite. */
void mvm_db_close(sqlite3 *db);

/* Resolves the value-size cap of opts (NULL or 0 gives the default). */
size_t mvm_db_max_value_bytes(const mvm_db_options *opts);

/* Fills err from an SQLite result code and the handle's message, naming
 * `what` ("appending to the audit log"), and returns the mvm status. The
 * status is MVM_ETIMEOUT for a lock kept too long, MVM_ELIMIT for a value
 * over the cap, MVM_ENOMEM when out of memory, MVM_EINVAL for a file that
 * is not a database or is corrupt, and MVM_EIO for everything else. */
int mvm_db_error(sqlite3 *db, int sqlite_rc, const char *where,
                 const char *what, mvm_error *err);

/* Runs SQL statements that return no rows. Failures as mvm_db_error. */
int mvm_db_exec(sqlite3 *db, const char *sql, const char *where,
                mvm_error *err);

/* Prepares one statement. Failures as mvm_db_error. */
int mvm_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt,
                   const char *where, mvm_error *err);

/* Rolls back the open transaction, if any, ignoring errors: used on
 * failure paths, where the first error is the one reported. */
void mvm_db_rollback(sqlite3 *db);

/* Writes the current UTC time as "2025-01-31T23:59:59.123456Z". */
void mvm_db_timestamp(char out[MVM_DB_TIME_SIZE]);

/* Writes a new random id: 32 lowercase hex digits from libsodium's
 * generator. Returns MVM_EIO when libsodium cannot be initialized. */
int mvm_db_new_id(char out[MVM_DB_ID_SIZE], mvm_error *err);

/* Serializes a label for a TEXT column: *text is a malloc'd string, or
 * NULL for the bottom label (trusted, public), stored as SQL NULL. Fails
 * only with MVM_ENOMEM. */
int mvm_db_label_dump(const mvm_label *label, char **text, mvm_error *err);

/* Parses a label column: text NULL gives the bottom label. `what` names
 * the row in messages. Fails with MVM_EPARSE, or MVM_ELIMIT past
 * max_bytes, when the stored text is not a label. */
int mvm_db_label_load(const char *text, size_t len, size_t max_bytes,
                      const char *what, mvm_label **label, mvm_error *err);

/* True when `s` is 1 to `max` bytes of letters, digits, '.', '_', ':' and
 * '-': the alphabet of run ids, session ids and namespaces. */
bool mvm_db_valid_name(const char *s, size_t max);

#endif
