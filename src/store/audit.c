/* audit.c - opening the audit log and appending records to its chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/json.h"
#include "base/log.h"
#include "store/audit_private.h"

static const char audit_ddl[] =
    "CREATE TABLE audit_records ("
    " seq INTEGER PRIMARY KEY,"
    " run_id TEXT NOT NULL,"
    " time TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " prev_hash BLOB NOT NULL,"
    " hash BLOB NOT NULL,"
    " mac BLOB);"
    "CREATE INDEX audit_records_run ON audit_records (run_id, seq);"
    /* The head row repeats the last record's position, so removing
     * records from the end is noticed unless the head row is rewritten
     * too. */
    "CREATE TABLE audit_head ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " seq INTEGER NOT NULL,"
    " hash BLOB NOT NULL);";

static const mvm_db_schema audit_schema = {
    .component = "audit",
    .version = MVM_AUDIT_SCHEMA_VERSION,
    .ddl = audit_ddl,
};

/* Fields of an effect record that may be large and are capped. */
static const char *const capped_fields[] = {"args", "outcome", "identity",
                                            "detail"};

static int prepare_statements(mvm_audit *log, mvm_error *err)
{
  int rc = mvm_db_prepare(log->db,
                          "INSERT INTO audit_records"
                          " (seq, run_id, time, kind, body, prev_hash, hash,"
                          " mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          &log->insert, "audit", err);
  if (rc)
    return rc;
  return mvm_db_prepare(log->db,
                        "INSERT INTO audit_head (id, seq, hash)"
                        " VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE"
                        " SET seq = excluded.seq, hash = excluded.hash",
                        &log->set_head, "audit", err);
}

int mvm_audit_open(const char *path, const mvm_audit_options *opts,
                   mvm_audit **out, mvm_error *err)
{
  mvm_audit_options options = {0};
  mvm_audit *log = NULL;
  int rc;

  if (opts != NULL)
    options = *opts;
  if (sodium_init() < 0)
    return mvm_error_set(err, MVM_EIO, "audit",
                         "cannot initialize libsodium");

  log = calloc(1, sizeof *log);
  if (log == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "audit",
                         "out of memory opening '%s'", path);
  log->path = strdup(path);
  if (log->path == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "audit", "out of memory opening '%s'",
                       path);
    goto out;
  }
  log->max_body_bytes = mvm_db_max_value_bytes(&options.db);
  log->max_field_bytes = options.max_field_bytes != 0
                             ? options.max_field_bytes
                             : MVM_AUDIT_DEFAULT_MAX_FIELD_BYTES;
  if (options.mac_key != NULL) {
    memcpy(log->key, options.mac_key, MVM_AUDIT_KEY_BYTES);
    log->has_key = true;
  }

  rc = mvm_redactor_new(&log->redactor, err);
  if (rc)
    goto out;
  rc = mvm_db_open(path, &audit_schema, &options.db, &log->db, err);
  if (rc)
    goto out;
  if (options.db.mode != MVM_DB_READ_ONLY) {
    rc = prepare_statements(log, err);
    if (rc)
      goto out;
  }

  *out = log;
  log = NULL;

out:
  mvm_audit_close(log);
  return rc;
}

void mvm_audit_close(mvm_audit *log)
{
  mvm_error err;

  if (log == NULL)
    return;
  if (log->in_batch && mvm_audit_commit(log, &err) != MVM_OK)
    mvm_log(MVM_LOG_ERROR, "audit", "closing '%s': %s", log->path, err.msg);
  sqlite3_finalize(log->insert);
  sqlite3_finalize(log->set_head);
  mvm_db_close(log->db);
  mvm_redactor_free(log->redactor);
  sodium_memzero(log->key, sizeof log->key);
  free(log->path);
  free(log);
}

int mvm_audit_add_secret(mvm_audit *log, const char *secret, size_t len,
                         mvm_error *err)
{
  return mvm_redactor_add(log->redactor, secret, len, err);
}

int mvm_audit_redact(mvm_audit *log, const json_t *in, json_t **out,
                     mvm_error *err)
{
  return mvm_redactor_json(log->redactor, in, out, err);
}

int mvm_audit_read_tail(mvm_audit *log, mvm_audit_head *tail, mvm_error *err)
{
  sqlite3_stmt *stmt = NULL;
  int rc = mvm_db_prepare(log->db,
                          "SELECT seq, hash FROM audit_records"
                          " ORDER BY seq DESC LIMIT 1",
                          &stmt, "audit", err);
  if (rc)
    return rc;

  memset(tail, 0, sizeof *tail);
  int step = sqlite3_step(stmt);
  if (step == SQLITE_ROW) {
    sqlite3_int64 seq = sqlite3_column_int64(stmt, 0);
    const void *hash = sqlite3_column_blob(stmt, 1);
    if (seq < 1 || hash == NULL ||
        sqlite3_column_bytes(stmt, 1) != MVM_AUDIT_HASH_BYTES) {
      rc = mvm_error_set(err, MVM_ETAMPER, "audit",
                         "the last record of '%s' (seq %lld) has no valid "
                         "hash to chain onto; run 'mvm audit verify'",
                         log->path, (long long)seq);
    } else {
      tail->seq = (uint64_t)seq;
      memcpy(tail->hash, hash, MVM_AUDIT_HASH_BYTES);
    }
  } else if (step != SQLITE_DONE) {
    rc = mvm_db_error(log->db, step, "audit", "reading the last record", err);
  }
  sqlite3_finalize(stmt);
  return rc;
}

int mvm_audit_head_read(mvm_audit *log, mvm_audit_head *head, mvm_error *err)
{
  if (log->in_batch) {
    *head = log->tail;
    return MVM_OK;
  }
  return mvm_audit_read_tail(log, head, err);
}

int mvm_audit_begin(mvm_audit *log, mvm_error *err)
{
  if (log->in_batch)
    return mvm_error_set(err, MVM_ESTATE, "audit",
                         "a batch is already open on '%s'; commit it first",
                         log->path);
  if (log->insert == NULL)
    return mvm_error_set(err, MVM_ESTATE, "audit",
                         "'%s' is open read-only", log->path);

  int rc = mvm_db_exec(log->db, "BEGIN IMMEDIATE", "audit", err);
  if (rc)
    return rc;
  rc = mvm_audit_read_tail(log, &log->tail, err);
  if (rc) {
    mvm_db_rollback(log->db);
    return rc;
  }
  log->in_batch = true;
  log->batch_count = 0;
  return MVM_OK;
}

int mvm_audit_commit(mvm_audit *log, mvm_error *err)
{
  if (!log->in_batch)
    return mvm_error_set(err, MVM_ESTATE, "audit",
                         "no batch is open on '%s'", log->path);
  log->in_batch = false;
  int rc = MVM_OK;
  if (log->batch_count > 0)
    rc = mvm_audit_write_head(log, &log->tail, err);
  if (rc == MVM_OK)
    rc = mvm_db_exec(log->db, "COMMIT", "audit", err);
  if (rc)
    mvm_db_rollback(log->db);
  mvm_trace(MVM_TRACE_AUDIT, "committed a batch of %llu records to '%s'",
            (unsigned long long)log->batch_count, log->path);
  log->batch_count = 0;
  return rc;
}

void mvm_audit_rollback(mvm_audit *log)
{
  if (!log->in_batch)
    return;
  mvm_db_rollback(log->db);
  log->in_batch = false;
  log->batch_count = 0;
}

static int step_done(mvm_audit *log, sqlite3_stmt *stmt, const char *what,
                     mvm_error *err)
{
  int step = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (step != SQLITE_DONE)
    return mvm_db_error(log->db, step, "audit", what, err);
  return MVM_OK;
}

int mvm_audit_write_head(mvm_audit *log, const mvm_audit_head *head,
                         mvm_error *err)
{
  sqlite3_bind_int64(log->set_head, 1, (sqlite3_int64)head->seq);
  sqlite3_bind_blob(log->set_head, 2, head->hash, MVM_AUDIT_HASH_BYTES,
                    SQLITE_STATIC);
  return step_done(log, log->set_head, "updating the audit head", err);
}

/* Inserts one record after `tail`. */
static int insert_record(mvm_audit *log, const mvm_audit_head *tail,
                         const char *run_id, const char *kind,
                         const char *body, size_t body_len,
                         mvm_audit_head *added, mvm_error *err)
{
  char time[MVM_DB_TIME_SIZE];
  unsigned char mac[crypto_auth_BYTES];
  sqlite3_stmt *ins = log->insert;
  uint64_t seq = tail->seq + 1;

  mvm_db_timestamp(time);
  mvm_audit_record_hash(tail->hash, seq, run_id, strlen(run_id), time,
                        strlen(time), kind, strlen(kind), body, body_len,
                        added->hash);
  added->seq = seq;

  sqlite3_bind_int64(ins, 1, (sqlite3_int64)seq);
  sqlite3_bind_text(ins, 2, run_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(ins, 3, time, -1, SQLITE_STATIC);
  sqlite3_bind_text(ins, 4, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(ins, 5, body, (int)body_len, SQLITE_STATIC);
  sqlite3_bind_blob(ins, 6, tail->hash, MVM_AUDIT_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(ins, 7, added->hash, MVM_AUDIT_HASH_BYTES,
                    SQLITE_STATIC);
  if (log->has_key) {
    crypto_auth(mac, added->hash, MVM_AUDIT_HASH_BYTES, log->key);
    sqlite3_bind_blob(ins, 8, mac, sizeof mac, SQLITE_STATIC);
  } else {
    sqlite3_bind_null(ins, 8);
  }
  return step_done(log, ins, "appending to the audit log", err);
}

/* Appends a record with an already serialized body, in its own
 * transaction or in the open batch. */
static int write_record(mvm_audit *log, const char *run_id, const char *kind,
                        const char *body, size_t body_len, uint64_t *seq,
                        mvm_error *err)
{
  mvm_audit_head tail = log->tail;
  mvm_audit_head added;
  bool own = !log->in_batch;
  int rc = MVM_OK;

  if (log->insert == NULL)
    return mvm_error_set(err, MVM_ESTATE, "audit",
                         "'%s' is open read-only", log->path);

  /* The tail is read inside the write transaction, so a record another
   * process appended a moment ago is the one this record chains onto. */
  if (own) {
    rc = mvm_db_exec(log->db, "BEGIN IMMEDIATE", "audit", err);
    if (rc)
      return rc;
    rc = mvm_audit_read_tail(log, &tail, err);
    if (rc)
      goto out;
  }
  rc = insert_record(log, &tail, run_id, kind, body, body_len, &added, err);
  if (rc)
    goto out;
  /* A batch moves the head row once, at its commit. */
  if (own)
    rc = mvm_audit_write_head(log, &added, err);
  if (rc == MVM_OK && own)
    rc = mvm_db_exec(log->db, "COMMIT", "audit", err);

out:
  if (rc && own) {
    mvm_db_rollback(log->db);
  } else if (rc) {
    char first[MVM_ERROR_MSG_MAX];
    uint64_t lost = log->batch_count;
    snprintf(first, sizeof first, "%s", err != NULL ? err->msg : "");
    mvm_audit_rollback(log);
    mvm_error_set(err, rc, "audit",
                  "%s; the open batch was rolled back, losing %llu "
                  "records",
                  first, (unsigned long long)lost);
    return rc;
  }
  if (rc)
    return rc;

  if (!own) {
    log->tail = added;
    log->batch_count++;
  }
  if (seq != NULL)
    *seq = added.seq;
  mvm_trace(MVM_TRACE_AUDIT, "appended record %llu (%s, run %s)",
            (unsigned long long)added.seq, kind, run_id);
  return MVM_OK;
}

/* Replaces an oversized field of a redacted body by its size and digest,
 * so one huge tool result cannot make the effect unauditable. */
static int cap_field(mvm_audit *log, json_t *body, const char *field,
                     mvm_error *err)
{
  json_t *value = json_object_get(body, field);
  unsigned char digest[crypto_hash_sha256_BYTES];
  char hex[crypto_hash_sha256_BYTES * 2 + 1];

  if (value == NULL)
    return MVM_OK;
  char *text = mvm_json_dump_canonical(value);
  if (text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "audit",
                         "out of memory serializing field '%s'", field);
  size_t len = strlen(text);
  if (len <= log->max_field_bytes) {
    free(text);
    return MVM_OK;
  }

  crypto_hash_sha256(digest, (const unsigned char *)text, len);
  free(text);
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  json_t *stub = json_pack("{s:s, s:I, s:s}", "omitted",
                           "larger than the field limit", "bytes",
                           (json_int_t)len, "sha256", hex);
  if (stub == NULL || json_object_set_new(body, field, stub))
    return mvm_error_set(err, MVM_ENOMEM, "audit",
                         "out of memory replacing field '%s'", field);
  return MVM_OK;
}

static int check_names(const char *run_id, const char *kind, mvm_error *err)
{
  if (!mvm_db_valid_name(run_id, MVM_AUDIT_RUN_ID_MAX))
    return mvm_error_set(err, MVM_EINVAL, "audit",
                         "run id '%.140s' is invalid; use 1 to %d letters, "
                         "digits, '.', '_', ':' or '-'",
                         run_id ? run_id : "(null)", MVM_AUDIT_RUN_ID_MAX);
  if (!mvm_db_valid_name(kind, MVM_AUDIT_KIND_MAX))
    return mvm_error_set(err, MVM_EINVAL, "audit",
                         "record kind '%.80s' is invalid; use 1 to %d "
                         "letters, digits, '.', '_', ':' or '-'",
                         kind ? kind : "(null)", MVM_AUDIT_KIND_MAX);
  return MVM_OK;
}

static int serialize(const json_t *body, const char *kind, char **text,
                     mvm_error *err)
{
  *text = mvm_json_dump_canonical(body);
  if (*text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "audit",
                         "out of memory serializing a '%s' record", kind);
  return MVM_OK;
}

/* Caps every capped field of *body. The redactor may have returned the
 * caller's own object, which must not change, so the top level is copied
 * first. */
static int cap_fields(mvm_audit *log, json_t **body, mvm_error *err)
{
  json_t *copy = json_copy(*body);
  if (copy == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "audit",
                         "out of memory copying a record body");
  json_decref(*body);
  *body = copy;

  for (size_t i = 0; i < sizeof capped_fields / sizeof capped_fields[0];
       i++) {
    int rc = cap_field(log, copy, capped_fields[i], err);
    if (rc)
      return rc;
  }
  return MVM_OK;
}

/* Redacts, caps (for effect records), serializes and writes a body. */
static int append_body(mvm_audit *log, const char *run_id, const char *kind,
                       const json_t *body, bool cap, uint64_t *seq,
                       mvm_error *err)
{
  json_t *clean = NULL;
  char *text = NULL;
  int rc = check_names(run_id, kind, err);
  if (rc)
    return rc;
  if (!json_is_object(body))
    return mvm_error_set(err, MVM_EINVAL, "audit",
                         "the body of a '%s' record must be a JSON object",
                         kind);

  rc = mvm_redactor_json(log->redactor, body, &clean, err);
  if (rc)
    goto out;
  rc = serialize(clean, kind, &text, err);
  if (rc)
    goto out;

  /* No field can be longer than the whole body, so most records skip the
   * per-field check and the second serialization. */
  size_t len = strlen(text);
  if (cap && len > log->max_field_bytes) {
    rc = cap_fields(log, &clean, err);
    free(text);
    text = NULL;
    if (rc == MVM_OK)
      rc = serialize(clean, kind, &text, err);
    if (rc)
      goto out;
    len = strlen(text);
  }
  if (len > log->max_body_bytes) {
    rc = mvm_error_set(err, MVM_ELIMIT, "audit",
                       "the body of a '%s' record is %zu bytes, over the "
                       "limit of %zu bytes",
                       kind, len, log->max_body_bytes);
    goto out;
  }
  rc = write_record(log, run_id, kind, text, len, seq, err);

out:
  free(text);
  json_decref(clean);
  return rc;
}

int mvm_audit_append(mvm_audit *log, const char *run_id, const char *kind,
                     const json_t *body, uint64_t *seq, mvm_error *err)
{
  return append_body(log, run_id, kind, body, false, seq, err);
}

/* Builds {} or a shallow copy of `info`, which must be an object. */
static int info_body(const json_t *info, const char *kind, json_t **out,
                     mvm_error *err)
{
  if (info != NULL && !json_is_object(info))
    return mvm_error_set(err, MVM_EINVAL, "audit",
                         "the info of a '%s' record must be a JSON object",
                         kind);
  *out = info != NULL ? json_copy((json_t *)info) : json_object();
  if (*out == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "audit",
                         "out of memory building a '%s' record", kind);
  return MVM_OK;
}

int mvm_audit_append_run_start(mvm_audit *log, const char *run_id,
                               const json_t *info, mvm_error *err)
{
  json_t *body = NULL;
  int rc = info_body(info, MVM_AUDIT_KIND_RUN_START, &body, err);
  if (rc)
    return rc;
  rc = append_body(log, run_id, MVM_AUDIT_KIND_RUN_START, body, false, NULL,
                   err);
  json_decref(body);
  return rc;
}

int mvm_audit_append_run_end(mvm_audit *log, const char *run_id, int status,
                             const json_t *info, mvm_error *err)
{
  json_t *body = NULL;
  int rc = info_body(info, MVM_AUDIT_KIND_RUN_END, &body, err);
  if (rc)
    return rc;
  if (json_object_set_new(body, "status",
                          json_string(mvm_status_name(status)))) {
    rc = mvm_error_set(err, MVM_ENOMEM, "audit",
                       "out of memory building a run.end record");
    goto out;
  }
  rc = append_body(log, run_id, MVM_AUDIT_KIND_RUN_END, body, false, NULL,
                   err);

out:
  json_decref(body);
  return rc;
}

static const char *verdict_name(mvm_verdict verdict)
{
  switch (verdict) {
  case MVM_VERDICT_ALLOW:
    return "allow";
  case MVM_VERDICT_DENY:
    return "deny";
  case MVM_VERDICT_ASK:
    return "ask";
  }
  return "unknown";
}

static int set_label(json_t *obj, const char *key, const mvm_label *label)
{
  json_t *json = mvm_label_to_json(label);
  if (json == NULL)
    return MVM_ENOMEM;
  return json_object_set_new(obj, key, json) ? MVM_ENOMEM : MVM_OK;
}

/* Sets obj[key] to a borrowed value, when there is one. */
static int set_borrowed(json_t *obj, const char *key, const json_t *value)
{
  if (value == NULL)
    return MVM_OK;
  return json_object_set(obj, key, (json_t *)value) ? MVM_ENOMEM : MVM_OK;
}

static int add_arg_labels(json_t *obj, const mvm_effect *effect)
{
  if (effect->narg_labels == 0)
    return MVM_OK;

  json_t *labels = json_object();
  if (labels == NULL)
    return MVM_ENOMEM;
  for (size_t i = 0; i < effect->narg_labels; i++) {
    const mvm_arg_label *arg = &effect->arg_labels[i];
    if (arg->name == NULL || set_label(labels, arg->name, arg->label)) {
      json_decref(labels);
      return MVM_ENOMEM;
    }
  }
  return json_object_set_new(obj, "arg_labels", labels) ? MVM_ENOMEM : MVM_OK;
}

/* Builds the fields shared by decision and outcome records. */
static int effect_body(const mvm_effect *effect, const mvm_decision *decision,
                       json_t **out, mvm_error *err)
{
  json_t *body = json_pack("{s:s, s:s?, s:I, s:s, s:s, s:s}", "effect",
                           mvm_effect_name(effect->kind), "target",
                           effect->target, "step", (json_int_t)effect->step,
                           "verdict", verdict_name(decision->verdict), "rule",
                           decision->rule, "reason", decision->reason);
  if (body == NULL)
    return mvm_error_set(err, MVM_EINVAL, "audit",
                         "cannot build the record of effect '%s': out of "
                         "memory, or its target, rule or reason is not "
                         "valid UTF-8",
                         mvm_effect_name(effect->kind));
  *out = body;
  return MVM_OK;
}

int mvm_audit_append_decision(mvm_audit *log, const char *run_id,
                              const mvm_effect *effect,
                              const mvm_decision *decision, mvm_error *err)
{
  json_t *body = NULL;
  int rc = effect_body(effect, decision, &body, err);
  if (rc)
    return rc;

  if (set_borrowed(body, "args", effect->args) ||
      set_label(body, "args_label", effect->args_label) ||
      set_label(body, "context_label", effect->context_label) ||
      add_arg_labels(body, effect) ||
      set_borrowed(body, "identity", effect->identity) ||
      set_borrowed(body, "detail", effect->detail)) {
    rc = mvm_error_set(err, MVM_ENOMEM, "audit",
                       "out of memory building the record of effect '%s'",
                       mvm_effect_name(effect->kind));
    goto out;
  }
  rc = append_body(log, run_id, MVM_AUDIT_KIND_DECISION, body, true, NULL,
                   err);

out:
  json_decref(body);
  return rc;
}

int mvm_audit_append_outcome(mvm_audit *log, const char *run_id,
                             const mvm_effect *effect,
                             const mvm_decision *decision,
                             const json_t *outcome, mvm_error *err)
{
  json_t *body = NULL;
  int rc = effect_body(effect, decision, &body, err);
  if (rc)
    return rc;

  json_t *value = outcome != NULL ? json_incref((json_t *)outcome)
                                  : json_null();
  if (json_object_set_new(body, "outcome", value)) {
    rc = mvm_error_set(err, MVM_ENOMEM, "audit",
                       "out of memory building the outcome of effect '%s'",
                       mvm_effect_name(effect->kind));
    goto out;
  }
  rc = append_body(log, run_id, MVM_AUDIT_KIND_OUTCOME, body, true, NULL,
                   err);

out:
  json_decref(body);
  return rc;
}
