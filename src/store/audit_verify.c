/* audit_verify.c - walking the audit chain: verification and listing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "store/audit_private.h"

/* Column numbers of the verification query. */
enum {
  COL_SEQ,
  COL_RUN_ID,
  COL_TIME,
  COL_KIND,
  COL_BODY,
  COL_PREV,
  COL_HASH,
  COL_MAC
};

static const char *const column_names[] = {
    "seq", "run_id", "time", "kind", "body", "prev_hash", "hash", "mac",
};

/* State of a walk over the chain. */
struct walk {
  uint64_t expected; /* the sequence number the next record must have */
  unsigned char prev[MVM_AUDIT_HASH_BYTES];
};

static int tamper(mvm_audit_report *report, uint64_t seq, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));

static int tamper(mvm_audit_report *report, uint64_t seq, const char *fmt,
                  ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(report->problem, sizeof report->problem, fmt, ap);
  va_end(ap);
  report->bad_seq = seq;
  return MVM_ETAMPER;
}

static const char *type_name(int type)
{
  switch (type) {
  case SQLITE_INTEGER:
    return "INTEGER";
  case SQLITE_FLOAT:
    return "REAL";
  case SQLITE_TEXT:
    return "TEXT";
  case SQLITE_BLOB:
    return "BLOB";
  default:
    return "NULL";
  }
}

/* Checks the stored types and sizes, so the hash is computed over what a
 * writer could have stored. */
static int check_columns(sqlite3_stmt *stmt, uint64_t seq,
                         mvm_audit_report *report)
{
  for (int col = COL_RUN_ID; col <= COL_MAC; col++) {
    int type = sqlite3_column_type(stmt, col);
    int want = col <= COL_BODY ? SQLITE_TEXT : SQLITE_BLOB;

    if (col == COL_MAC && type == SQLITE_NULL)
      continue;
    if (type != want)
      return tamper(report, seq,
                    "record %llu: column %s holds %s, expected %s",
                    (unsigned long long)seq, column_names[col],
                    type_name(type), type_name(want));
    if (col >= COL_PREV && sqlite3_column_bytes(stmt, col) !=
                               (col == COL_MAC ? crypto_auth_BYTES
                                               : MVM_AUDIT_HASH_BYTES))
      return tamper(report, seq, "record %llu: column %s has %d bytes",
                    (unsigned long long)seq, column_names[col],
                    sqlite3_column_bytes(stmt, col));
  }
  return MVM_OK;
}

static int check_mac(const mvm_audit *log, sqlite3_stmt *stmt, uint64_t seq,
                     const unsigned char *hash, mvm_audit_report *report)
{
  const unsigned char *mac = sqlite3_column_blob(stmt, COL_MAC);

  if (mac != NULL)
    report->macs++;
  if (!log->has_key)
    return MVM_OK;
  if (mac == NULL)
    return tamper(report, seq,
                  "record %llu has no MAC, but every record of a log "
                  "verified with a key must carry one",
                  (unsigned long long)seq);
  if (crypto_auth_verify(mac, hash, MVM_AUDIT_HASH_BYTES, log->key) != 0)
    return tamper(report, seq,
                  "record %llu: its MAC does not match (the record was "
                  "written or changed without the key)",
                  (unsigned long long)seq);
  return MVM_OK;
}

/* Checks one record against the chain so far. */
static int check_record(const mvm_audit *log, sqlite3_stmt *stmt,
                        struct walk *w, const unsigned char *known,
                        mvm_audit_report *report)
{
  sqlite3_int64 raw_seq = sqlite3_column_int64(stmt, COL_SEQ);
  unsigned char computed[MVM_AUDIT_HASH_BYTES];
  uint64_t seq = w->expected;

  if (raw_seq < 1 || (uint64_t)raw_seq < w->expected)
    return tamper(report, seq,
                  "record %llu: found sequence number %lld in its place",
                  (unsigned long long)seq, (long long)raw_seq);
  if ((uint64_t)raw_seq > w->expected)
    return tamper(report, seq,
                  "record %llu is missing: the record after record %llu "
                  "is record %lld",
                  (unsigned long long)seq, (unsigned long long)(seq - 1),
                  (long long)raw_seq);

  int rc = check_columns(stmt, seq, report);
  if (rc)
    return rc;

  const unsigned char *prev = sqlite3_column_blob(stmt, COL_PREV);
  const unsigned char *hash = sqlite3_column_blob(stmt, COL_HASH);
  mvm_audit_record_hash(
      prev, seq, (const char *)sqlite3_column_text(stmt, COL_RUN_ID),
      (size_t)sqlite3_column_bytes(stmt, COL_RUN_ID),
      (const char *)sqlite3_column_text(stmt, COL_TIME),
      (size_t)sqlite3_column_bytes(stmt, COL_TIME),
      (const char *)sqlite3_column_text(stmt, COL_KIND),
      (size_t)sqlite3_column_bytes(stmt, COL_KIND),
      (const char *)sqlite3_column_text(stmt, COL_BODY),
      (size_t)sqlite3_column_bytes(stmt, COL_BODY), computed);

  /* The record's own hash is checked before its link, so an edited record
   * is named rather than the one after it. */
  if (memcmp(computed, hash, MVM_AUDIT_HASH_BYTES) != 0)
    return tamper(report, seq,
                  "record %llu: its stored hash does not match its content "
                  "and position (its run id, time, kind, body, hash or "
                  "sequence number was changed)",
                  (unsigned long long)seq);
  if (memcmp(prev, w->prev, MVM_AUDIT_HASH_BYTES) != 0)
    return tamper(report, seq,
                  "record %llu: its prev_hash does not match the hash of "
                  "record %llu (a record was changed, inserted, removed or "
                  "reordered there)",
                  (unsigned long long)seq, (unsigned long long)(seq - 1));
  rc = check_mac(log, stmt, seq, hash, report);
  if (rc)
    return rc;

  if (known != NULL && memcmp(known, hash, MVM_AUDIT_HASH_BYTES) == 0) {
    report->known_head_found = true;
    report->known_head_seq = seq;
  }
  memcpy(w->prev, hash, MVM_AUDIT_HASH_BYTES);
  w->expected++;
  report->records++;
  report->head.seq = seq;
  memcpy(report->head.hash, hash, MVM_AUDIT_HASH_BYTES);
  return MVM_OK;
}

static int walk_records(mvm_audit *log, const unsigned char *known,
                        mvm_audit_report *report, mvm_error *err)
{
  struct walk w = {.expected = 1};
  sqlite3_stmt *stmt = NULL;
  int step;
  int rc = mvm_db_prepare(log->db,
                          "SELECT seq, run_id, time, kind, body, prev_hash,"
                          " hash, mac FROM audit_records ORDER BY seq",
                          &stmt, "audit", err);
  if (rc)
    return rc;

  while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
    rc = check_record(log, stmt, &w, known, report);
    if (rc)
      break;
  }
  if (rc == MVM_OK && step != SQLITE_DONE)
    rc = mvm_db_error(log->db, step, "audit", "reading the audit log", err);
  sqlite3_finalize(stmt);
  return rc;
}

/* Compares the head row with the last record, which notices records
 * removed from the end by someone who left the head row alone. */
static int check_head_row(mvm_audit *log, mvm_audit_report *report,
                          mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  uint64_t last = report->head.seq;
  int rc = mvm_db_prepare(log->db, "SELECT seq, hash FROM audit_head",
                          &stmt, "audit", err);
  if (rc)
    return rc;

  int step = sqlite3_step(stmt);
  if (step == SQLITE_DONE) {
    if (last > 0)
      rc = tamper(report, 0,
                  "the head row is missing although the log has %llu "
                  "records (the audit_head table was changed)",
                  (unsigned long long)last);
    goto out;
  }
  if (step != SQLITE_ROW) {
    rc = mvm_db_error(log->db, step, "audit", "reading the audit head", err);
    goto out;
  }

  sqlite3_int64 head_seq = sqlite3_column_int64(stmt, 0);
  const void *hash = sqlite3_column_blob(stmt, 1);
  if (head_seq > 0 && (uint64_t)head_seq > last)
    rc = tamper(report, last + 1,
                "record %llu is missing: the log ends at record %llu but "
                "its head row names record %lld (records were removed "
                "from the end)",
                (unsigned long long)(last + 1), (unsigned long long)last,
                (long long)head_seq);
  else if (head_seq < 0 || (uint64_t)head_seq < last)
    rc = tamper(report, (uint64_t)(head_seq < 0 ? 0 : head_seq) + 1,
                "the head row names record %lld but the log continues to "
                "record %llu (records were added by something other than "
                "mvm)",
                (long long)head_seq, (unsigned long long)last);
  else if (hash == NULL ||
           sqlite3_column_bytes(stmt, 1) != MVM_AUDIT_HASH_BYTES ||
           memcmp(hash, report->head.hash, MVM_AUDIT_HASH_BYTES) != 0)
    rc = tamper(report, last,
                "the head row's hash does not match record %llu (the "
                "audit_head table was changed)",
                (unsigned long long)last);

out:
  sqlite3_finalize(stmt);
  return rc;
}

int mvm_audit_verify(mvm_audit *log, const unsigned char *known,
                     mvm_audit_report *report, mvm_error *err)
{
  bool own = !log->in_batch;
  int rc;

  memset(report, 0, sizeof *report);
  /* One read transaction gives a consistent snapshot while other
   * processes keep appending. Inside a batch, the head row is brought up
   * to date first, as the commit would. */
  if (own)
    rc = mvm_db_exec(log->db, "BEGIN", "audit", err);
  else
    rc = log->batch_count > 0 ? mvm_audit_write_head(log, &log->tail, err)
                              : MVM_OK;
  if (rc)
    return rc;

  rc = walk_records(log, known, report, err);
  if (rc == MVM_OK)
    rc = check_head_row(log, report, err);
  if (rc == MVM_OK && known != NULL && !report->known_head_found) {
    char hex[MVM_AUDIT_HEX_SIZE];
    mvm_audit_hash_to_hex(known, hex);
    rc = tamper(report, 0,
                "the known head %.16s... is not in the log of %llu "
                "records: records were removed from the end or the chain "
                "was rebuilt",
                hex, (unsigned long long)report->records);
  }
  if (rc == MVM_EINVAL)
    rc = tamper(report, 0, "the database file is damaged: %s",
                err != NULL ? err->msg : "SQLite reported corruption");

  if (own)
    mvm_db_rollback(log->db);
  if (rc == MVM_ETAMPER)
    return mvm_error_set(err, rc, "audit", "%s", report->problem);
  return rc;
}

int mvm_audit_iterate(mvm_audit *log, const char *run_id, uint64_t last,
                      mvm_audit_visit visit, void *ctx, mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  int step;
  int rc = mvm_db_prepare(log->db,
                          "SELECT seq, run_id, time, kind, body, hash FROM"
                          " (SELECT * FROM audit_records"
                          "  WHERE ?1 IS NULL OR run_id = ?1"
                          "  ORDER BY seq DESC LIMIT ?2)"
                          " ORDER BY seq",
                          &stmt, "audit", err);
  if (rc)
    return rc;

  if (run_id != NULL)
    sqlite3_bind_text(stmt, 1, run_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 2,
                     last == 0 || last > INT64_MAX ? -1
                                                   : (sqlite3_int64)last);

  while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
    mvm_audit_record rec = {0};
    const unsigned char *hash = sqlite3_column_blob(stmt, 5);
    const char *text;

    rec.seq = (uint64_t)sqlite3_column_int64(stmt, 0);
    text = (const char *)sqlite3_column_text(stmt, 1);
    rec.run_id = text != NULL ? text : "";
    text = (const char *)sqlite3_column_text(stmt, 2);
    rec.time = text != NULL ? text : "";
    text = (const char *)sqlite3_column_text(stmt, 3);
    rec.kind = text != NULL ? text : "";
    text = (const char *)sqlite3_column_text(stmt, 4);
    rec.body = text != NULL ? text : "";
    rec.body_len = (size_t)sqlite3_column_bytes(stmt, 4);
    if (hash != NULL && sqlite3_column_bytes(stmt, 5) == MVM_AUDIT_HASH_BYTES)
      memcpy(rec.hash, hash, MVM_AUDIT_HASH_BYTES);

    rc = visit(ctx, &rec, err);
    if (rc)
      break;
  }
  if (rc == MVM_OK && step != SQLITE_DONE)
    rc = mvm_db_error(log->db, step, "audit", "reading the audit log", err);
  sqlite3_finalize(stmt);
  return rc;
}
