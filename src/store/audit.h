/* audit.h - the tamper-evident audit log: a hash chain of records in an
 * SQLite database.
 *
 * Each record has a sequence number (1, 2, 3, ... with no gaps), a run id,
 * a UTC time, a kind ("decision", "outcome", "run.start", "run.end" or a
 * caller's own) and a body: a JSON object stored as canonical text
 * (compact, keys sorted). Its hash is the SHA-256 of
 *
 *   "mvm-audit-v1" and a NUL byte, prev_hash (32 bytes), seq (8 bytes,
 *   big-endian), then run_id, time, kind and body, each as its length
 *   (8 bytes, big-endian) followed by its bytes,
 *
 * where prev_hash is the hash of the record before, or 32 zero bytes for
 * record 1. Changing, removing, inserting or reordering a record breaks
 * the hash of that record or the link from the next one, and
 * mvm_audit_verify names the first record where that happens. Someone who
 * can rewrite the file can recompute the whole chain. Only a head hash
 * kept elsewhere (the run manifest) or a MAC key that only the writer has
 * detects that (docs/audit.md).
 *
 * Secrets never reach the file in clear: every body goes through a
 * redactor (store/redact.h) holding the secrets registered with
 * mvm_audit_add_secret. Run ids and kinds are limited to letters, digits
 * and ".:_-" and are not redacted.
 *
 * Several processes may append to one database: each append takes
 * SQLite's write lock (BEGIN IMMEDIATE) and chains onto the last record
 * read inside that transaction. An mvm_audit handle serves one thread at a
 * time. The handle is owned by the caller and released with
 * mvm_audit_close. */
#ifndef MVM_STORE_AUDIT_H
#define MVM_STORE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm.h"
#include "store/db.h"

#define MVM_AUDIT_SCHEMA_VERSION 1
#define MVM_AUDIT_HASH_BYTES 32
/* 64 hex digits and the NUL. */
#define MVM_AUDIT_HEX_SIZE 65
/* Key of the optional MAC (HMAC-SHA-512-256, libsodium crypto_auth). */
#define MVM_AUDIT_KEY_BYTES 32
#define MVM_AUDIT_RUN_ID_MAX 128
#define MVM_AUDIT_KIND_MAX 64
/* Default size above which an effect's args, outcome, identity or detail
 * is replaced in the record by its size and SHA-256. */
#define MVM_AUDIT_DEFAULT_MAX_FIELD_BYTES (16u * 1024)

#define MVM_AUDIT_KIND_DECISION "decision"
#define MVM_AUDIT_KIND_OUTCOME "outcome"
#define MVM_AUDIT_KIND_RUN_START "run.start"
#define MVM_AUDIT_KIND_RUN_END "run.end"

typedef struct mvm_audit mvm_audit;

typedef struct mvm_audit_options {
  /* Database options. db.max_value_bytes caps a record body. */
  mvm_db_options db;
  /* When not NULL, MVM_AUDIT_KEY_BYTES bytes (copied): every appended
   * record carries a MAC of its hash, and mvm_audit_verify requires a
   * valid MAC on every record. */
  const unsigned char *mac_key;
  /* 0 means MVM_AUDIT_DEFAULT_MAX_FIELD_BYTES. */
  size_t max_field_bytes;
} mvm_audit_options;

/* A position in the chain: a record's sequence number and hash. seq 0 with
 * a zero hash is the empty log. */
typedef struct mvm_audit_head {
  uint64_t seq;
  unsigned char hash[MVM_AUDIT_HASH_BYTES];
} mvm_audit_head;

/* One stored record, as mvm_audit_iterate passes it. The strings are
 * borrowed for the duration of the callback. */
typedef struct mvm_audit_record {
  uint64_t seq;
  const char *run_id;
  const char *time;
  const char *kind;
  const char *body;
  size_t body_len;
  unsigned char hash[MVM_AUDIT_HASH_BYTES];
} mvm_audit_record;

/* What mvm_audit_verify found. */
typedef struct mvm_audit_report {
  uint64_t records;    /* intact records before the first bad one */
  mvm_audit_head head; /* the last intact record */
  uint64_t macs;       /* intact records that carry a MAC */
  bool known_head_found;
  uint64_t known_head_seq;
  uint64_t bad_seq; /* the first bad record; 0 when intact or not tied to
                       one record */
  char problem[MVM_ERROR_MSG_MAX]; /* empty when intact */
} mvm_audit_report;

/* Opens the audit log at `path`, creating the file and its tables when
 * opts->db.mode is MVM_DB_CREATE. opts may be NULL for the defaults
 * (create, FULL sync). Failures as mvm_db_open. */
int mvm_audit_open(const char *path, const mvm_audit_options *opts,
                   mvm_audit **out, mvm_error *err);

/* Commits an open batch (logging an error when that fails), wipes the MAC
 * key and the secrets from memory, and closes the database. NULL is
 * allowed. */
void mvm_audit_close(mvm_audit *log);

/* Registers a secret that must never appear in a record: every
 * occurrence in a body is replaced by a marker. Failures as
 * mvm_redactor_add. */
int mvm_audit_add_secret(mvm_audit *log, const char *secret, size_t len,
                         mvm_error *err);

/* Makes a copy of `in` with the log's secrets redacted, as a record body
 * would be, for files written beside the log (the run manifest). Returns
 * and fails as mvm_redactor_json. */
int mvm_audit_redact(mvm_audit *log, const json_t *in, json_t **out,
                     mvm_error *err);

/* Starts a batch: later appends share one transaction, which holds the
 * database's write lock (other writers wait) until mvm_audit_commit. A
 * crash before the commit loses the whole batch and leaves the chain
 * intact. Fails with MVM_ESTATE when a batch is already open, or as
 * mvm_db_error when the lock cannot be taken. */
int mvm_audit_begin(mvm_audit *log, mvm_error *err);

/* Commits the open batch. Fails with MVM_ESTATE when none is open. On any
 * failure the batch is rolled back. */
int mvm_audit_commit(mvm_audit *log, mvm_error *err);

/* Drops the open batch, if any. */
void mvm_audit_rollback(mvm_audit *log);

/* Appends one record. `body` must be a JSON object (borrowed). It is
 * redacted and stored as canonical text. The record's sequence number goes
 * to *seq when seq is not NULL. Fails with MVM_EINVAL for a run id or kind
 * outside the allowed alphabet and lengths, or a body that is not an
 * object. Fails with MVM_ELIMIT for a body over the size limit. Other
 * failures are as mvm_db_error. Inside a batch, a failure rolls back the
 * whole batch, and the message says how many records were lost. */
int mvm_audit_append(mvm_audit *log, const char *run_id, const char *kind,
                     const json_t *body, uint64_t *seq, mvm_error *err);

/* Appends a "run.start" record whose body is `info` (an object, borrowed;
 * NULL for {}). Failures as mvm_audit_append. */
int mvm_audit_append_run_start(mvm_audit *log, const char *run_id,
                               const json_t *info, mvm_error *err);

/* Appends a "run.end" record whose body is `info` (NULL for {}) with
 * "status" set to the name of `status` ("MVM_OK", "MVM_EDENIED", ...).
 * Failures as mvm_audit_append. */
int mvm_audit_append_run_end(mvm_audit *log, const char *run_id, int status,
                             const json_t *info, mvm_error *err);

/* Appends a "decision" record: the effect's name, target, step, args,
 * labels (args, context and per argument), identity and detail, with the
 * verdict, rule and reason. Args, identity and detail larger than the
 * field limit are replaced by {"omitted", "bytes", "sha256"}. Failures as
 * mvm_audit_append. */
int mvm_audit_append_decision(mvm_audit *log, const char *run_id,
                              const mvm_effect *effect,
                              const mvm_decision *decision, mvm_error *err);

/* Appends an "outcome" record: what an allowed effect did. `outcome` is
 * any JSON value (borrowed; NULL for null), capped like args. Failures as
 * mvm_audit_append. */
int mvm_audit_append_outcome(mvm_audit *log, const char *run_id,
                             const mvm_effect *effect,
                             const mvm_decision *decision,
                             const json_t *outcome, mvm_error *err);

/* Reads the last record's position: the value to keep in a run manifest
 * and pass to mvm_audit_verify later. Failures as mvm_db_error. */
int mvm_audit_head_read(mvm_audit *log, mvm_audit_head *head,
                        mvm_error *err);

/* Walks the whole chain in order and recomputes every hash (and MAC when
 * the log was opened with a key). When `known` is not NULL, the chain must
 * contain a record with that hash: this is what detects removed trailing
 * records and a rebuilt chain. Fills *report in every case. Returns MVM_OK
 * when intact, MVM_ETAMPER naming the first bad record and what is wrong
 * with it, or a database error as mvm_db_error. */
int mvm_audit_verify(mvm_audit *log, const unsigned char *known,
                     mvm_audit_report *report, mvm_error *err);

/* Calls visit for each record in sequence order; a non-zero return from
 * visit stops the walk and is returned. `run_id` NULL means every run;
 * `last` 0 means every record, else the last `last` records that match.
 * Failures as mvm_db_error. */
typedef int (*mvm_audit_visit)(void *ctx, const mvm_audit_record *record,
                               mvm_error *err);
int mvm_audit_iterate(mvm_audit *log, const char *run_id, uint64_t last,
                      mvm_audit_visit visit, void *ctx, mvm_error *err);

/* Writes a hash as 64 lowercase hex digits. */
void mvm_audit_hash_to_hex(const unsigned char hash[MVM_AUDIT_HASH_BYTES],
                           char out[MVM_AUDIT_HEX_SIZE]);

/* Parses 64 hex digits (either case). Fails with MVM_EINVAL otherwise. */
int mvm_audit_hash_from_hex(const char *text,
                            unsigned char hash[MVM_AUDIT_HASH_BYTES],
                            mvm_error *err);

/* Computes a record's hash as described at the top of this file. */
void mvm_audit_record_hash(const unsigned char prev[MVM_AUDIT_HASH_BYTES],
                           uint64_t seq, const char *run_id, size_t run_len,
                           const char *time, size_t time_len,
                           const char *kind, size_t kind_len,
                           const char *body, size_t body_len,
                           unsigned char out[MVM_AUDIT_HASH_BYTES]);

/* Reads a MAC key file: 64 hex digits, optionally followed by a newline.
 * Fails with MVM_ENOTFOUND or MVM_EIO when it cannot be read, MVM_EINVAL
 * when other users may read it (mode not 0600 or stricter) or its content
 * is not a key. */
int mvm_audit_key_load(const char *path,
                       unsigned char key[MVM_AUDIT_KEY_BYTES],
                       mvm_error *err);

/* Creates a new key file at `path` with mode 0600 holding a random key.
 * Fails with MVM_EIO when the file exists or cannot be written. */
int mvm_audit_key_create(const char *path, mvm_error *err);

#endif
