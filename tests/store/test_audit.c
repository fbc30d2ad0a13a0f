/* test_audit.c - the hash-chained audit log: appends, verification,
 * tampering with the SQLite file, redaction, batches and two writers. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/json.h"
#include "mvm.h"
#include "store/audit.h"
#include "store/redact.h"
#include "store_support.h"

#define FIXTURE_RECORDS 6

struct fixture {
  char dir[256];
  char db[512];
  mvm_audit *log;
  mvm_audit_head heads[FIXTURE_RECORDS + 1]; /* heads[i]: after record i */
};

static mvm_audit *open_log(const char *path, const mvm_audit_options *opts)
{
  mvm_audit *log = NULL;
  mvm_error err;
  int rc = mvm_audit_open(path, opts, &log, &err);
  if (rc)
    fail_msg("open '%s': %s", path, err.msg);
  return log;
}

static void append_simple(mvm_audit *log, const char *run, const char *text)
{
  mvm_error err;
  json_t *body = json_pack("{s:s}", "text", text);
  int rc = mvm_audit_append(log, run, "note", body, NULL, &err);
  json_decref(body);
  if (rc)
    fail_msg("append: %s", err.msg);
}

static void make_effect(mvm_effect *e, mvm_decision *d, json_t *args,
                        const mvm_label *label)
{
  memset(e, 0, sizeof *e);
  memset(d, 0, sizeof *d);
  e->kind = MVM_EFFECT_TOOL_CALL;
  e->target = "fs.read_file";
  e->args = args;
  e->args_label = label;
  e->context_label = label;
  e->step = 7;
  d->verdict = MVM_VERDICT_DENY;
  snprintf(d->rule, sizeof d->rule, "policy.mvp:12");
  snprintf(d->reason, sizeof d->reason, "context is untrusted (web)");
}

/* Appends the fixture's records: a run from start to end. */
static void fill_fixture(struct fixture *fx)
{
  mvm_error err;
  mvm_effect e;
  mvm_decision d;
  json_t *args = json_pack("{s:s}", "path", "/srv/data/report.txt");
  json_t *outcome = json_pack("{s:b}", "isError", 0);
  json_t *info = json_pack("{s:s}", "program", "agent.mvm");
  int i = 0;

  make_effect(&e, &d, args, NULL);
  assert_int_equal(
      mvm_audit_append_run_start(fx->log, "run-1", info, &err), MVM_OK);
  assert_int_equal(mvm_audit_head_read(fx->log, &fx->heads[++i], &err),
                   MVM_OK);
  assert_int_equal(mvm_audit_append_decision(fx->log, "run-1", &e, &d, &err),
                   MVM_OK);
  assert_int_equal(mvm_audit_head_read(fx->log, &fx->heads[++i], &err),
                   MVM_OK);
  d.verdict = MVM_VERDICT_ALLOW;
  assert_int_equal(mvm_audit_append_decision(fx->log, "run-1", &e, &d, &err),
                   MVM_OK);
  assert_int_equal(mvm_audit_head_read(fx->log, &fx->heads[++i], &err),
                   MVM_OK);
  assert_int_equal(
      mvm_audit_append_outcome(fx->log, "run-1", &e, &d, outcome, &err),
      MVM_OK);
  assert_int_equal(mvm_audit_head_read(fx->log, &fx->heads[++i], &err),
                   MVM_OK);
  append_simple(fx->log, "run-1", "fifth");
  assert_int_equal(mvm_audit_head_read(fx->log, &fx->heads[++i], &err),
                   MVM_OK);
  assert_int_equal(mvm_audit_append_run_end(fx->log, "run-1", MVM_OK, NULL,
                                            &err),
                   MVM_OK);
  assert_int_equal(mvm_audit_head_read(fx->log, &fx->heads[++i], &err),
                   MVM_OK);
  assert_int_equal(i, FIXTURE_RECORDS);

  json_decref(info);
  json_decref(outcome);
  json_decref(args);
}

static int setup(void **state)
{
  struct fixture *fx = calloc(1, sizeof *fx);
  assert_non_null(fx);
  assert_int_equal(store_test_tmpdir(fx->dir, sizeof fx->dir), 0);
  snprintf(fx->db, sizeof fx->db, "%s/audit.db", fx->dir);
  fx->log = open_log(fx->db, NULL);
  fill_fixture(fx);
  *state = fx;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *fx = *state;
  mvm_audit_close(fx->log);
  store_test_rmtree(fx->dir);
  free(fx);
  return 0;
}

/* Changes the database the way an attacker with the file would: through
 * a separate SQLite connection. */
static void raw_exec(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  char *msg = NULL;

  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    fail_msg("raw SQL '%s': %s", sql, msg);
  sqlite3_close(db);
}

static void expect_intact(mvm_audit *log, const unsigned char *known,
                          uint64_t records)
{
  mvm_audit_report report;
  mvm_error err;
  int rc = mvm_audit_verify(log, known, &report, &err);
  if (rc)
    fail_msg("verify: %s", err.msg);
  assert_int_equal(report.records, records);
  assert_int_equal(report.head.seq, records);
  assert_int_equal(report.bad_seq, 0);
  assert_string_equal(report.problem, "");
}

static void expect_tamper(mvm_audit *log, const unsigned char *known,
                          uint64_t bad_seq, const char *problem)
{
  mvm_audit_report report;
  mvm_error err;

  assert_int_equal(mvm_audit_verify(log, known, &report, &err), MVM_ETAMPER);
  assert_int_equal(err.code, MVM_ETAMPER);
  assert_int_equal(report.bad_seq, bad_seq);
  if (strstr(report.problem, problem) == NULL)
    fail_msg("problem '%s' does not contain '%s'", report.problem, problem);
  assert_string_equal(err.msg, report.problem);
}

/* Recomputes every hash and the head row from the stored contents, as an
 * attacker who knows the format would after editing a record. */
static void rebuild_chain(const char *path)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *sel = NULL;
  sqlite3_stmt *upd = NULL;
  unsigned char prev[MVM_AUDIT_HASH_BYTES] = {0};
  unsigned char hash[MVM_AUDIT_HASH_BYTES];
  sqlite3_int64 seq = 0;

  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT seq, run_id, time, kind, body"
                                      " FROM audit_records ORDER BY seq",
                                      -1, &sel, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "UPDATE audit_records SET prev_hash ="
                                      " ?, hash = ? WHERE seq = ?",
                                      -1, &upd, NULL),
                   SQLITE_OK);
  while (sqlite3_step(sel) == SQLITE_ROW) {
    seq = sqlite3_column_int64(sel, 0);
    mvm_audit_record_hash(
        prev, (uint64_t)seq, (const char *)sqlite3_column_text(sel, 1),
        (size_t)sqlite3_column_bytes(sel, 1),
        (const char *)sqlite3_column_text(sel, 2),
        (size_t)sqlite3_column_bytes(sel, 2),
        (const char *)sqlite3_column_text(sel, 3),
        (size_t)sqlite3_column_bytes(sel, 3),
        (const char *)sqlite3_column_text(sel, 4),
        (size_t)sqlite3_column_bytes(sel, 4), hash);
    sqlite3_bind_blob(upd, 1, prev, sizeof prev, SQLITE_TRANSIENT);
    sqlite3_bind_blob(upd, 2, hash, sizeof hash, SQLITE_TRANSIENT);
    sqlite3_bind_int64(upd, 3, seq);
    assert_int_equal(sqlite3_step(upd), SQLITE_DONE);
    sqlite3_reset(upd);
    memcpy(prev, hash, sizeof prev);
  }
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);

  char sql[128];
  snprintf(sql, sizeof sql, "UPDATE audit_head SET seq = %lld",
           (long long)seq);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "UPDATE audit_head SET hash = ?",
                                      -1, &upd, NULL),
                   SQLITE_OK);
  sqlite3_bind_blob(upd, 1, prev, sizeof prev, SQLITE_TRANSIENT);
  assert_int_equal(sqlite3_step(upd), SQLITE_DONE);
  sqlite3_finalize(upd);
  assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* Inserts a record at `seq` after moving the records from there up by
 * one. With `valid_hash`, its hash is computed correctly from record
 * seq - 1, as an attacker who knows the format would. */
static void insert_record(struct fixture *fx, uint64_t seq, bool valid_hash)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *ins = NULL;
  const char *run = "run-1";
  const char *time = "2030-01-01T00:00:00.000000Z";
  const char *kind = "note";
  const char *body = "{\"text\":\"forged\"}";
  unsigned char hash[MVM_AUDIT_HASH_BYTES];
  char sql[160];

  if (valid_hash)
    mvm_audit_record_hash(fx->heads[seq - 1].hash, seq, run, strlen(run),
                          time, strlen(time), kind, strlen(kind), body,
                          strlen(body), hash);
  else
    memset(hash, 0xab, sizeof hash);

  assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
  /* Moved one at a time from the top, so the primary key stays unique. */
  for (uint64_t s = FIXTURE_RECORDS; s >= seq; s--) {
    snprintf(sql, sizeof sql,
             "UPDATE audit_records SET seq = %llu WHERE seq = %llu",
             (unsigned long long)s + 1, (unsigned long long)s);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  }
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "INSERT INTO audit_records (seq, run_id, time, kind,"
                         " body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         -1, &ins, NULL),
      SQLITE_OK);
  sqlite3_bind_int64(ins, 1, (sqlite3_int64)seq);
  sqlite3_bind_text(ins, 2, run, -1, SQLITE_STATIC);
  sqlite3_bind_text(ins, 3, time, -1, SQLITE_STATIC);
  sqlite3_bind_text(ins, 4, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(ins, 5, body, -1, SQLITE_STATIC);
  sqlite3_bind_blob(ins, 6, fx->heads[seq - 1].hash, MVM_AUDIT_HASH_BYTES,
                    SQLITE_STATIC);
  sqlite3_bind_blob(ins, 7, hash, sizeof hash, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
  sqlite3_finalize(ins);
  assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* ------------------------------------------------------------ appending */

struct collected {
  json_t *bodies;
  json_t *kinds;
  json_t *runs;
  uint64_t seqs[64];
  size_t n;
};

static int collect(void *ctx, const mvm_audit_record *rec, mvm_error *err)
{
  struct collected *c = ctx;
  json_t *body = NULL;

  assert_int_equal(mvm_json_parse(rec->body, rec->body_len, NULL, "body",
                                  &body, err),
                   MVM_OK);
  assert_int_equal(json_array_append_new(c->bodies, body), 0);
  assert_int_equal(json_array_append_new(c->kinds, json_string(rec->kind)),
                   0);
  assert_int_equal(json_array_append_new(c->runs, json_string(rec->run_id)),
                   0);
  assert_true(c->n < 64);
  c->seqs[c->n++] = rec->seq;
  assert_int_equal(strlen(rec->time), MVM_DB_TIME_SIZE - 1);
  return MVM_OK;
}

static void collect_init(struct collected *c)
{
  memset(c, 0, sizeof *c);
  c->bodies = json_array();
  c->kinds = json_array();
  c->runs = json_array();
}

static void collect_free(struct collected *c)
{
  json_decref(c->bodies);
  json_decref(c->kinds);
  json_decref(c->runs);
}

static const char *str_at(const json_t *arr, size_t i)
{
  return json_string_value(json_array_get(arr, i));
}

static const char *field(const json_t *obj, const char *key)
{
  return json_string_value(json_object_get(obj, key));
}

static void audit_append_verify_intact(void **state)
{
  struct fixture *fx = *state;
  mvm_audit_head head;
  mvm_error err;

  expect_intact(fx->log, NULL, FIXTURE_RECORDS);
  expect_intact(fx->log, fx->heads[FIXTURE_RECORDS].hash, FIXTURE_RECORDS);
  assert_int_equal(mvm_audit_head_read(fx->log, &head, &err), MVM_OK);
  assert_int_equal(head.seq, FIXTURE_RECORDS);
  assert_memory_equal(head.hash, fx->heads[FIXTURE_RECORDS].hash,
                      MVM_AUDIT_HASH_BYTES);
  /* Each record has its own hash. */
  for (int i = 1; i < FIXTURE_RECORDS; i++)
    assert_memory_not_equal(fx->heads[i].hash, fx->heads[i + 1].hash,
                            MVM_AUDIT_HASH_BYTES);
}

static void audit_records_carry_effect(void **state)
{
  struct fixture *fx = *state;
  struct collected c;
  mvm_error err;

  collect_init(&c);
  assert_int_equal(mvm_audit_iterate(fx->log, NULL, 0, collect, &c, &err),
                   MVM_OK);
  assert_int_equal(c.n, FIXTURE_RECORDS);
  for (size_t i = 0; i < c.n; i++)
    assert_int_equal(c.seqs[i], i + 1);
  assert_string_equal(str_at(c.kinds, 0), "run.start");
  assert_string_equal(str_at(c.kinds, 1), "decision");
  assert_string_equal(str_at(c.kinds, 3), "outcome");
  assert_string_equal(str_at(c.kinds, 5), "run.end");
  assert_string_equal(str_at(c.runs, 2), "run-1");

  json_t *start = json_array_get(c.bodies, 0);
  assert_string_equal(field(start, "program"), "agent.mvm");

  json_t *deny = json_array_get(c.bodies, 1);
  assert_string_equal(field(deny, "effect"), "tool.call");
  assert_string_equal(field(deny, "target"), "fs.read_file");
  assert_string_equal(field(deny, "verdict"), "deny");
  assert_string_equal(field(deny, "rule"), "policy.mvp:12");
  assert_string_equal(field(deny, "reason"), "context is untrusted (web)");
  assert_int_equal(json_integer_value(json_object_get(deny, "step")), 7);
  assert_string_equal(field(json_object_get(deny, "args"), "path"),
                      "/srv/data/report.txt");
  json_t *label = json_object_get(deny, "args_label");
  assert_true(json_is_array(json_object_get(label, "integrity")));
  assert_string_equal(field(label, "readers"), "*");

  json_t *allow = json_array_get(c.bodies, 2);
  assert_string_equal(field(allow, "verdict"), "allow");
  json_t *outcome = json_array_get(c.bodies, 3);
  assert_true(json_is_false(
      json_object_get(json_object_get(outcome, "outcome"), "isError")));
  json_t *end = json_array_get(c.bodies, 5);
  assert_string_equal(field(end, "status"), "MVM_OK");
  collect_free(&c);
}

static void audit_decision_labels_recorded(void **state)
{
  struct fixture *fx = *state;
  const char *sources[] = {"web"};
  const char *readers[] = {"alice"};
  mvm_label *web = NULL;
  mvm_label *secret = NULL;
  mvm_effect e;
  mvm_decision d;
  mvm_error err;
  struct collected c;
  json_t *args = json_pack("{s:s, s:s}", "to", "bob", "body", "hi");

  assert_int_equal(mvm_label_new(sources, 1, NULL, 0, &web), MVM_OK);
  assert_int_equal(mvm_label_new(NULL, 0, readers, 1, &secret), MVM_OK);
  mvm_arg_label per_arg[] = {{"to", web}, {"body", secret}};
  make_effect(&e, &d, args, web);
  e.arg_labels = per_arg;
  e.narg_labels = 2;
  e.context_label = secret;
  assert_int_equal(mvm_audit_append_decision(fx->log, "run-2", &e, &d, &err),
                   MVM_OK);

  collect_init(&c);
  assert_int_equal(mvm_audit_iterate(fx->log, "run-2", 0, collect, &c, &err),
                   MVM_OK);
  assert_int_equal(c.n, 1);
  json_t *body = json_array_get(c.bodies, 0);
  json_t *args_label = json_object_get(body, "args_label");
  assert_string_equal(str_at(json_object_get(args_label, "integrity"), 0),
                      "web");
  json_t *ctx = json_object_get(body, "context_label");
  assert_string_equal(str_at(json_object_get(ctx, "readers"), 0), "alice");
  json_t *per = json_object_get(body, "arg_labels");
  assert_string_equal(
      str_at(json_object_get(json_object_get(per, "to"), "integrity"), 0),
      "web");
  assert_string_equal(
      str_at(json_object_get(json_object_get(per, "body"), "readers"), 0),
      "alice");
  collect_free(&c);
  expect_intact(fx->log, NULL, FIXTURE_RECORDS + 1);

  json_decref(args);
  mvm_label_unref(web);
  mvm_label_unref(secret);
}

static void audit_iterate_filters_run(void **state)
{
  struct fixture *fx = *state;
  struct collected c;
  mvm_error err;

  append_simple(fx->log, "run-2", "a");
  append_simple(fx->log, "run-2", "b");
  append_simple(fx->log, "run-2", "c");

  collect_init(&c);
  assert_int_equal(mvm_audit_iterate(fx->log, "run-2", 2, collect, &c, &err),
                   MVM_OK);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.seqs[0], FIXTURE_RECORDS + 2);
  assert_int_equal(c.seqs[1], FIXTURE_RECORDS + 3);
  assert_string_equal(field(json_array_get(c.bodies, 1), "text"), "c");
  collect_free(&c);

  collect_init(&c);
  assert_int_equal(mvm_audit_iterate(fx->log, NULL, 4, collect, &c, &err),
                   MVM_OK);
  assert_int_equal(c.n, 4);
  assert_int_equal(c.seqs[0], FIXTURE_RECORDS);
  collect_free(&c);

  collect_init(&c);
  assert_int_equal(
      mvm_audit_iterate(fx->log, "no-such-run", 0, collect, &c, &err),
      MVM_OK);
  assert_int_equal(c.n, 0);
  collect_free(&c);
}

static void audit_reopen_continues_chain(void **state)
{
  struct fixture *fx = *state;
  uint64_t seq = 0;
  mvm_error err;
  json_t *body = json_pack("{s:s}", "text", "after reopen");

  mvm_audit_close(fx->log);
  fx->log = open_log(fx->db, NULL);
  assert_int_equal(
      mvm_audit_append(fx->log, "run-3", "note", body, &seq, &err), MVM_OK);
  assert_int_equal(seq, FIXTURE_RECORDS + 1);
  expect_intact(fx->log, fx->heads[FIXTURE_RECORDS].hash,
                FIXTURE_RECORDS + 1);
  json_decref(body);
}

static void audit_empty_log_verifies(void **state)
{
  char dir[256];
  mvm_audit_report report;
  mvm_audit_head head;
  mvm_error err;
  unsigned char zero[MVM_AUDIT_HASH_BYTES] = {0};

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  mvm_audit *log = open_log(store_test_join(dir, "a.db"), NULL);
  assert_int_equal(mvm_audit_verify(log, NULL, &report, &err), MVM_OK);
  assert_int_equal(report.records, 0);
  assert_int_equal(mvm_audit_head_read(log, &head, &err), MVM_OK);
  assert_int_equal(head.seq, 0);
  assert_memory_equal(head.hash, zero, sizeof zero);
  mvm_audit_close(log);
  store_test_rmtree(dir);
}

static void audit_record_hash_covers_fields(void **state)
{
  unsigned char prev[MVM_AUDIT_HASH_BYTES] = {0};
  unsigned char a[MVM_AUDIT_HASH_BYTES];
  unsigned char b[MVM_AUDIT_HASH_BYTES];

  mvm_audit_record_hash(prev, 1, "r", 1, "t", 1, "k", 1, "{}", 2, a);
  mvm_audit_record_hash(prev, 2, "r", 1, "t", 1, "k", 1, "{}", 2, b);
  assert_memory_not_equal(a, b, sizeof a);
  /* Length prefixes keep field boundaries apart: "rt"+"" differs from
   * "r"+"t". */
  mvm_audit_record_hash(prev, 1, "rt", 2, "", 0, "k", 1, "{}", 2, b);
  assert_memory_not_equal(a, b, sizeof a);
  prev[0] = 1;
  mvm_audit_record_hash(prev, 1, "r", 1, "t", 1, "k", 1, "{}", 2, b);
  assert_memory_not_equal(a, b, sizeof a);
  prev[0] = 0;
  mvm_audit_record_hash(prev, 1, "r", 1, "t", 1, "k", 1, "{}", 2, b);
  assert_memory_equal(a, b, sizeof a);
}

static void audit_hex_round_trip(void **state)
{
  struct fixture *fx = *state;
  char hex[MVM_AUDIT_HEX_SIZE];
  unsigned char back[MVM_AUDIT_HASH_BYTES];
  mvm_error err;

  mvm_audit_hash_to_hex(fx->heads[3].hash, hex);
  assert_int_equal(strlen(hex), 64);
  assert_int_equal(mvm_audit_hash_from_hex(hex, back, &err), MVM_OK);
  assert_memory_equal(back, fx->heads[3].hash, sizeof back);

  hex[10] = 'g';
  assert_int_equal(mvm_audit_hash_from_hex(hex, back, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "64 hex digits"));
  assert_int_equal(mvm_audit_hash_from_hex("abcd", back, &err), MVM_EINVAL);
  assert_int_equal(mvm_audit_hash_from_hex("", back, &err), MVM_EINVAL);
}

static void audit_known_head_inside_log(void **state)
{
  struct fixture *fx = *state;
  mvm_audit_report report;
  mvm_error err;

  assert_int_equal(
      mvm_audit_verify(fx->log, fx->heads[3].hash, &report, &err), MVM_OK);
  assert_true(report.known_head_found);
  assert_int_equal(report.known_head_seq, 3);
  assert_int_equal(report.records, FIXTURE_RECORDS);
}

static void audit_unknown_head_rejected(void **state)
{
  struct fixture *fx = *state;
  unsigned char other[MVM_AUDIT_HASH_BYTES];

  memset(other, 0x5a, sizeof other);
  expect_tamper(fx->log, other, 0, "is not in the log");
}

/* ------------------------------------------------------------ tampering */

static void tamper_edit_body(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "UPDATE audit_records SET body = replace(body, 'deny',"
                   " 'allow') WHERE seq = 2");
  expect_tamper(fx->log, NULL, 2, "stored hash does not match");
}

static void tamper_edit_run_id(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "UPDATE audit_records SET run_id = 'run-9' WHERE seq = 4");
  expect_tamper(fx->log, NULL, 4, "stored hash does not match");
}

static void tamper_edit_time(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "UPDATE audit_records SET time = '2001-01-01T00:00:00."
                   "000000Z' WHERE seq = 5");
  expect_tamper(fx->log, NULL, 5, "stored hash does not match");
}

static void tamper_edit_hash(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "UPDATE audit_records SET hash = randomblob(32)"
                   " WHERE seq = 3");
  expect_tamper(fx->log, NULL, 3, "stored hash does not match");
}

static void tamper_edit_prev_hash(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "UPDATE audit_records SET prev_hash = randomblob(32)"
                   " WHERE seq = 4");
  expect_tamper(fx->log, NULL, 4, "stored hash does not match");
}

static void tamper_hash_wrong_type(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "UPDATE audit_records SET body = CAST(body AS BLOB)"
                   " WHERE seq = 3");
  expect_tamper(fx->log, NULL, 3, "column body holds BLOB");
}

static void tamper_hash_wrong_size(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "UPDATE audit_records SET hash = randomblob(31)"
                   " WHERE seq = 2");
  expect_tamper(fx->log, NULL, 2, "column hash has 31 bytes");
}

static void tamper_delete_middle(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "DELETE FROM audit_records WHERE seq = 3");
  expect_tamper(fx->log, NULL, 3, "record 3 is missing");
}

static void tamper_delete_first(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "DELETE FROM audit_records WHERE seq = 1");
  expect_tamper(fx->log, NULL, 1, "record 1 is missing");
}

static void tamper_delete_and_renumber(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "DELETE FROM audit_records WHERE seq = 3;"
                   "UPDATE audit_records SET seq = seq - 1 WHERE seq > 3");
  /* Record 4 moved to position 3: its hash covers its old number. */
  expect_tamper(fx->log, NULL, 3, "stored hash does not match");
}

static void tamper_insert_bad_hash(void **state)
{
  struct fixture *fx = *state;
  insert_record(fx, 3, false);
  expect_tamper(fx->log, NULL, 3, "stored hash does not match");
}

static void tamper_insert_valid_hash(void **state)
{
  struct fixture *fx = *state;
  /* The forged record itself chains correctly; the record it pushed to
   * position 4 no longer matches its hash. */
  insert_record(fx, 3, true);
  expect_tamper(fx->log, NULL, 4, "stored hash does not match");
}

static void tamper_swap_rows(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db,
           "UPDATE audit_records SET seq = 100 WHERE seq = 3;"
           "UPDATE audit_records SET seq = 3 WHERE seq = 4;"
           "UPDATE audit_records SET seq = 4 WHERE seq = 100");
  expect_tamper(fx->log, NULL, 3, "stored hash does not match");
}

static void tamper_swap_contents(void **state)
{
  struct fixture *fx = *state;
  /* Swap the bodies and hashes, keeping each row's seq and prev_hash. */
  raw_exec(fx->db,
           "CREATE TEMP TABLE t AS SELECT seq, body, hash FROM audit_records"
           " WHERE seq IN (2, 3);"
           "UPDATE audit_records SET body = (SELECT body FROM t WHERE seq ="
           " 3), hash = (SELECT hash FROM t WHERE seq = 3) WHERE seq = 2;"
           "UPDATE audit_records SET body = (SELECT body FROM t WHERE seq ="
           " 2), hash = (SELECT hash FROM t WHERE seq = 2) WHERE seq = 3");
  expect_tamper(fx->log, NULL, 2, "stored hash does not match");
}

static void tamper_truncate_tail(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "DELETE FROM audit_records WHERE seq >= 5");
  expect_tamper(fx->log, NULL, 5, "records were removed from the end");
}

static void tamper_truncate_tail_and_head(void **state)
{
  struct fixture *fx = *state;
  mvm_audit_report report;
  mvm_error err;

  /* An attacker who also moves the head row back leaves a valid chain of
   * four records: only the known head of record 6 reveals the loss. */
  raw_exec(fx->db, "DELETE FROM audit_records WHERE seq >= 5;"
                   "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM"
                   " audit_records WHERE seq = 4)");
  assert_int_equal(mvm_audit_verify(fx->log, NULL, &report, &err), MVM_OK);
  assert_int_equal(report.records, 4);
  expect_tamper(fx->log, fx->heads[6].hash, 0, "is not in the log");
}

static void tamper_append_without_head(void **state)
{
  struct fixture *fx = *state;
  sqlite3 *db = NULL;
  sqlite3_stmt *ins = NULL;
  unsigned char hash[MVM_AUDIT_HASH_BYTES];
  const char *body = "{\"text\":\"forged\"}";

  mvm_audit_record_hash(fx->heads[6].hash, 7, "run-1", 5, "t", 1, "note", 4,
                        body, strlen(body), hash);
  assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "INSERT INTO audit_records (seq, run_id, time, kind,"
                         " body, prev_hash, hash)"
                         " VALUES (7, 'run-1', 't', 'note', ?, ?, ?)",
                         -1, &ins, NULL),
      SQLITE_OK);
  sqlite3_bind_text(ins, 1, body, -1, SQLITE_STATIC);
  sqlite3_bind_blob(ins, 2, fx->heads[6].hash, MVM_AUDIT_HASH_BYTES,
                    SQLITE_STATIC);
  sqlite3_bind_blob(ins, 3, hash, sizeof hash, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
  sqlite3_finalize(ins);
  sqlite3_close(db);

  expect_tamper(fx->log, NULL, 7, "the log continues to record 7");
}

static void tamper_delete_head_row(void **state)
{
  struct fixture *fx = *state;
  raw_exec(fx->db, "DELETE FROM audit_head");
  expect_tamper(fx->log, NULL, 0, "head row is missing");
}

static void tamper_rebuilt_chain(void **state)
{
  struct fixture *fx = *state;
  mvm_audit_report report;
  mvm_error err;

  raw_exec(fx->db, "UPDATE audit_records SET body = replace(body, 'deny',"
                   " 'allow') WHERE seq = 2");
  rebuild_chain(fx->db);
  /* A full rebuild passes the internal checks: this is the documented
   * limit, and the reason to keep the head elsewhere. */
  assert_int_equal(mvm_audit_verify(fx->log, NULL, &report, &err), MVM_OK);
  expect_tamper(fx->log, fx->heads[6].hash, 0, "is not in the log");
  /* A head from before the edit is gone too. */
  expect_tamper(fx->log, fx->heads[3].hash, 0, "is not in the log");
  /* The head of record 1, before the edit, still matches. */
  expect_intact(fx->log, fx->heads[1].hash, 6);
}

static void tamper_corrupt_file(void **state)
{
  struct fixture *fx = *state;
  mvm_audit_report report;
  mvm_error err;

  /* Overwrite every page after the header with garbage. */
  mvm_audit_close(fx->log);
  fx->log = NULL;
  FILE *f = fopen(fx->db, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, 4096, SEEK_SET), 0);
  for (int i = 0; i < 4 * 4096; i++)
    fputc(0xee, f);
  fclose(f);

  mvm_audit_options opts = {.db.mode = MVM_DB_READ_ONLY};
  mvm_audit *log = NULL;
  int rc = mvm_audit_open(fx->db, &opts, &log, &err);
  if (rc == MVM_OK) {
    rc = mvm_audit_verify(log, NULL, &report, &err);
    mvm_audit_close(log);
  }
  /* The schema pages may be gone (open fails) or only the records (verify
   * fails); either way the damage is reported, never passed. */
  assert_true(rc == MVM_ETAMPER || rc == MVM_EINVAL);
}

/* ------------------------------------------------------------ MAC */

static void audit_mac_detects_rebuild(void **state)
{
  char dir[256];
  char db[512];
  unsigned char key[MVM_AUDIT_KEY_BYTES];
  unsigned char other[MVM_AUDIT_KEY_BYTES];
  mvm_audit_report report;
  mvm_error err;

  memset(key, 0x11, sizeof key);
  memset(other, 0x22, sizeof other);
  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  snprintf(db, sizeof db, "%s/mac.db", dir);

  mvm_audit_options opts = {.mac_key = key};
  mvm_audit *log = open_log(db, &opts);
  for (int i = 0; i < 4; i++)
    append_simple(log, "run-m", "with mac");
  assert_int_equal(mvm_audit_verify(log, NULL, &report, &err), MVM_OK);
  assert_int_equal(report.macs, 4);

  /* Without the key the MACs are counted but cannot be checked. */
  mvm_audit *plain = open_log(db, NULL);
  assert_int_equal(mvm_audit_verify(plain, NULL, &report, &err), MVM_OK);
  assert_int_equal(report.macs, 4);
  mvm_audit_close(plain);

  mvm_audit_options wrong = {.mac_key = other};
  mvm_audit *bad = open_log(db, &wrong);
  expect_tamper(bad, NULL, 1, "MAC does not match");
  mvm_audit_close(bad);

  raw_exec(db, "UPDATE audit_records SET body = '{\"text\":\"edited\"}'"
               " WHERE seq = 3");
  rebuild_chain(db);
  expect_tamper(log, NULL, 3, "MAC does not match");

  raw_exec(db, "UPDATE audit_records SET mac = NULL WHERE seq = 2");
  expect_tamper(log, NULL, 2, "has no MAC");
  mvm_audit_close(log);
  store_test_rmtree(dir);
}

static void audit_key_file_round_trip(void **state)
{
  char dir[256];
  char path[512];
  unsigned char key[MVM_AUDIT_KEY_BYTES];
  unsigned char again[MVM_AUDIT_KEY_BYTES];
  unsigned char zero[MVM_AUDIT_KEY_BYTES] = {0};
  mvm_error err;
  struct stat st;

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  snprintf(path, sizeof path, "%s/audit.key", dir);
  assert_int_equal(mvm_audit_key_create(path, &err), MVM_OK);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(mvm_audit_key_load(path, key, &err), MVM_OK);
  assert_memory_not_equal(key, zero, sizeof key);
  assert_int_equal(mvm_audit_key_load(path, again, &err), MVM_OK);
  assert_memory_equal(key, again, sizeof key);

  /* An existing file is never overwritten. */
  assert_int_equal(mvm_audit_key_create(path, &err), MVM_EIO);

  assert_int_equal(chmod(path, 0644), 0);
  assert_int_equal(mvm_audit_key_load(path, key, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "chmod 600"));

  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("not a key\n", f);
  fclose(f);
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(mvm_audit_key_load(path, key, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "64 hex digits"));

  assert_int_equal(
      mvm_audit_key_load(store_test_join(dir, "missing.key"), key, &err),
      MVM_ENOTFOUND);
  store_test_rmtree(dir);
}

/* ------------------------------------------------------------ redaction */

static const char api_key[] = "sk-live-7f3a9c2e41d84b6f";

static void audit_secret_never_stored(void **state)
{
  char dir[256];
  char db[512];
  char wal[600];
  char marker[MVM_REDACT_MARKER_SIZE];
  const char *field_values[] = {"Bearer tok-8d1e55aa90", "xkey-31c9e07d",
                                "hunter2-hunter2", "refresh-6a6b6c6d"};
  mvm_error err;
  mvm_effect e;
  mvm_decision d;
  struct collected c;

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  snprintf(db, sizeof db, "%s/audit.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", db);
  mvm_audit *log = open_log(db, NULL);
  assert_int_equal(mvm_audit_add_secret(log, api_key, strlen(api_key), &err),
                   MVM_OK);

  json_t *body = json_pack(
      "{s:s, s:[{s:s}], s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:s}", "note",
      "the key is sk-live-7f3a9c2e41d84b6f, keep it", "nested", "deep",
      "xsk-live-7f3a9c2e41d84b6fx", api_key, "used as a key",
      "Authorization", field_values[0], "X-Api-Key", field_values[1],
      "password", "inner", field_values[2], "oauth", "refresh_token",
      field_values[3], "canary", "public-canary-text");
  assert_non_null(body);
  assert_int_equal(mvm_audit_append(log, "run-s", "note", body, NULL, &err),
                   MVM_OK);

  json_t *args = json_pack("{s:s, s:{s:s}}", "url",
                           "https://127.0.0.1/?key=sk-live-7f3a9c2e41d84b6f",
                           "headers", "x-api-key", api_key);
  make_effect(&e, &d, args, NULL);
  assert_int_equal(mvm_audit_append_decision(log, "run-s", &e, &d, &err),
                   MVM_OK);
  assert_int_equal(
      mvm_audit_append_outcome(log, "run-s", &e, &d, body, &err), MVM_OK);

  /* The records still show where the secret was. */
  mvm_redact_marker(api_key, strlen(api_key), marker);
  collect_init(&c);
  assert_int_equal(mvm_audit_iterate(log, NULL, 0, collect, &c, &err),
                   MVM_OK);
  assert_int_equal(c.n, 3);
  json_t *stored = json_array_get(c.bodies, 0);
  const char *note = field(stored, "note");
  assert_non_null(strstr(note, marker));
  assert_non_null(strstr(note, "keep it"));
  assert_non_null(json_object_get(stored, marker));
  assert_string_equal(field(stored, "canary"), "public-canary-text");
  /* A secret field's whole value is replaced, even an object. */
  assert_true(json_is_string(json_object_get(stored, "password")));
  assert_non_null(strstr(field(stored, "password"), "[redacted:sha256:"));
  assert_non_null(strstr(field(stored, "Authorization"), "[redacted:"));
  assert_non_null(
      strstr(field(json_object_get(stored, "oauth"), "refresh_token"),
             "[redacted:"));
  collect_free(&c);

  /* Neither the main file nor the WAL contains any secret byte string,
   * and finding the canary shows that the search reads the records. */
  assert_true(store_test_file_contains(db, "public-canary-text", 18) ||
              store_test_file_contains(wal, "public-canary-text", 18));
  assert_false(store_test_file_contains(db, api_key, strlen(api_key)));
  assert_false(store_test_file_contains(wal, api_key, strlen(api_key)));
  for (size_t i = 0; i < 4; i++) {
    const char *v = field_values[i];
    assert_false(store_test_file_contains(db, v, strlen(v)));
    assert_false(store_test_file_contains(wal, v, strlen(v)));
  }

  mvm_audit_close(log);
  assert_true(store_test_file_contains(db, "public-canary-text", 18));
  assert_false(store_test_file_contains(db, api_key, strlen(api_key)));

  json_decref(args);
  json_decref(body);
  store_test_rmtree(dir);
}

/* ------------------------------------------------------------ limits */

static void audit_rejects_bad_names(void **state)
{
  struct fixture *fx = *state;
  json_t *body = json_object();
  json_t *arr = json_array();
  char long_run[MVM_AUDIT_RUN_ID_MAX + 2];
  mvm_error err;

  memset(long_run, 'r', sizeof long_run - 1);
  long_run[sizeof long_run - 1] = '\0';
  assert_int_equal(
      mvm_audit_append(fx->log, "run 1", "note", body, NULL, &err),
      MVM_EINVAL);
  assert_non_null(strstr(err.msg, "run id 'run 1' is invalid"));
  assert_int_equal(mvm_audit_append(fx->log, "", "note", body, NULL, &err),
                   MVM_EINVAL);
  assert_int_equal(
      mvm_audit_append(fx->log, long_run, "note", body, NULL, &err),
      MVM_EINVAL);
  assert_int_equal(
      mvm_audit_append(fx->log, "run-1", "no/slash", body, NULL, &err),
      MVM_EINVAL);
  assert_non_null(strstr(err.msg, "record kind"));
  assert_int_equal(mvm_audit_append(fx->log, "run-1", "note", arr, NULL, &err),
                   MVM_EINVAL);
  assert_non_null(strstr(err.msg, "must be a JSON object"));
  expect_intact(fx->log, NULL, FIXTURE_RECORDS);
  json_decref(arr);
  json_decref(body);
}

static void audit_body_over_limit(void **state)
{
  char dir[256];
  mvm_error err;
  char big[2048];

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  mvm_audit_options opts = {.db.max_value_bytes = 1024};
  mvm_audit *log = open_log(store_test_join(dir, "a.db"), &opts);
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  json_t *body = json_pack("{s:s}", "text", big);
  assert_int_equal(mvm_audit_append(log, "run-1", "note", body, NULL, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "over the limit of 1024 bytes"));
  expect_intact(log, NULL, 0);
  json_decref(body);
  mvm_audit_close(log);
  store_test_rmtree(dir);
}

static void audit_large_field_digested(void **state)
{
  char dir[256];
  mvm_error err;
  mvm_effect e;
  mvm_decision d;
  struct collected c;
  char big[600];

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  mvm_audit_options opts = {.max_field_bytes = 256};
  mvm_audit *log = open_log(store_test_join(dir, "a.db"), &opts);
  memset(big, 'y', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  json_t *args = json_pack("{s:s}", "content", big);
  json_t *outcome = json_pack("{s:s}", "text", "small");
  make_effect(&e, &d, args, NULL);
  assert_int_equal(mvm_audit_append_decision(log, "run-1", &e, &d, &err),
                   MVM_OK);
  assert_int_equal(
      mvm_audit_append_outcome(log, "run-1", &e, &d, outcome, &err), MVM_OK);

  collect_init(&c);
  assert_int_equal(mvm_audit_iterate(log, NULL, 0, collect, &c, &err),
                   MVM_OK);
  json_t *stored = json_object_get(json_array_get(c.bodies, 0), "args");
  assert_non_null(field(stored, "omitted"));
  assert_int_equal(json_integer_value(json_object_get(stored, "bytes")),
                   strlen(big) + strlen("{\"content\":\"\"}"));
  assert_int_equal(strlen(field(stored, "sha256")), 64);
  json_t *kept = json_object_get(json_array_get(c.bodies, 1), "outcome");
  assert_string_equal(field(kept, "text"), "small");
  collect_free(&c);
  /* The caller's arguments are untouched. */
  assert_string_equal(field(args, "content"), big);
  assert_int_equal(json_object_size(args), 1);

  json_decref(outcome);
  json_decref(args);
  mvm_audit_close(log);
  store_test_rmtree(dir);
}

/* ------------------------------------------------------------ schema */

static void audit_rejects_foreign_db(void **state)
{
  char dir[256];
  char db[512];
  mvm_audit *log = NULL;
  mvm_error err;

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  snprintf(db, sizeof db, "%s/other.db", dir);
  raw_exec(db, "CREATE TABLE customers (id INTEGER)");
  assert_int_equal(mvm_audit_open(db, NULL, &log, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "another program"));
  assert_null(log);

  snprintf(db, sizeof db, "%s/text.db", dir);
  FILE *f = fopen(db, "w");
  assert_non_null(f);
  fputs("this is a text file, not a database, and it is long enough for "
        "SQLite to read a header from it.................................\n",
        f);
  fclose(f);
  assert_int_equal(mvm_audit_open(db, NULL, &log, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "not an SQLite database"));
  store_test_rmtree(dir);
}

static void audit_rejects_newer_schema(void **state)
{
  struct fixture *fx = *state;
  mvm_audit *log = NULL;
  mvm_error err;

  raw_exec(fx->db, "UPDATE mvm_schema SET version = 2"
                   " WHERE component = 'audit'");
  assert_int_equal(mvm_audit_open(fx->db, NULL, &log, &err),
                   MVM_EUNSUPPORTED);
  assert_non_null(strstr(err.msg, "newer than version 1"));
  mvm_audit_options ro = {.db.mode = MVM_DB_READ_ONLY};
  assert_int_equal(mvm_audit_open(fx->db, &ro, &log, &err),
                   MVM_EUNSUPPORTED);
}

static void audit_read_only_needs_file(void **state)
{
  char dir[256];
  mvm_audit *log = NULL;
  mvm_error err;
  mvm_audit_options ro = {.db.mode = MVM_DB_READ_ONLY};

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  assert_int_equal(
      mvm_audit_open(store_test_join(dir, "none.db"), &ro, &log, &err),
      MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, "does not exist"));
  assert_int_equal(mvm_audit_open(store_test_join(dir, "no/dir.db"), NULL,
                                  &log, &err),
                   MVM_ENOTFOUND);
  store_test_rmtree(dir);
}

static void audit_read_only_cannot_append(void **state)
{
  struct fixture *fx = *state;
  mvm_audit_options ro = {.db.mode = MVM_DB_READ_ONLY};
  mvm_audit *log = open_log(fx->db, &ro);
  mvm_error err;
  json_t *body = json_object();

  assert_int_equal(mvm_audit_append(log, "run-1", "note", body, NULL, &err),
                   MVM_ESTATE);
  expect_intact(log, NULL, FIXTURE_RECORDS);
  json_decref(body);
  mvm_audit_close(log);
}

static void audit_file_mode_private(void **state)
{
  struct fixture *fx = *state;
  struct stat st;
  assert_int_equal(stat(fx->db, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
}

/* ------------------------------------------------------------ batches */

static void audit_batch_commit(void **state)
{
  struct fixture *fx = *state;
  mvm_error err;

  assert_int_equal(mvm_audit_begin(fx->log, &err), MVM_OK);
  assert_int_equal(mvm_audit_begin(fx->log, &err), MVM_ESTATE);
  for (int i = 0; i < 50; i++)
    append_simple(fx->log, "run-b", "batched");
  /* Verification inside the batch includes its uncommitted records. */
  expect_intact(fx->log, NULL, FIXTURE_RECORDS + 50);
  assert_int_equal(mvm_audit_commit(fx->log, &err), MVM_OK);
  assert_int_equal(mvm_audit_commit(fx->log, &err), MVM_ESTATE);

  mvm_audit *other = open_log(fx->db, NULL);
  expect_intact(other, fx->heads[FIXTURE_RECORDS].hash, FIXTURE_RECORDS + 50);
  mvm_audit_close(other);
}

static void audit_batch_rollback(void **state)
{
  struct fixture *fx = *state;
  mvm_error err;

  assert_int_equal(mvm_audit_begin(fx->log, &err), MVM_OK);
  for (int i = 0; i < 10; i++)
    append_simple(fx->log, "run-b", "dropped");
  mvm_audit_rollback(fx->log);
  expect_intact(fx->log, NULL, FIXTURE_RECORDS);
  append_simple(fx->log, "run-b", "after");
  expect_intact(fx->log, NULL, FIXTURE_RECORDS + 1);
}

static void audit_close_commits_batch(void **state)
{
  struct fixture *fx = *state;
  mvm_error err;

  assert_int_equal(mvm_audit_begin(fx->log, &err), MVM_OK);
  append_simple(fx->log, "run-b", "one");
  append_simple(fx->log, "run-b", "two");
  mvm_audit_close(fx->log);
  fx->log = open_log(fx->db, NULL);
  expect_intact(fx->log, NULL, FIXTURE_RECORDS + 2);
}

/* Runs a child that commits two records, then opens a batch of five and
 * is killed before committing it. */
static void audit_batch_killed_loses_batch(void **state)
{
  char dir[256];
  char db[512];
  int status = 0;

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  snprintf(db, sizeof db, "%s/audit.db", dir);

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    mvm_audit *log = NULL;
    mvm_error err;
    json_t *body = json_pack("{s:s}", "text", "child");
    if (mvm_audit_open(db, NULL, &log, &err) ||
        mvm_audit_append(log, "run-k", "note", body, NULL, &err) ||
        mvm_audit_append(log, "run-k", "note", body, NULL, &err) ||
        mvm_audit_begin(log, &err))
      _exit(1);
    for (int i = 0; i < 5; i++) {
      if (mvm_audit_append(log, "run-k", "note", body, NULL, &err))
        _exit(2);
    }
    kill(getpid(), SIGKILL);
    _exit(3);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);

  mvm_audit *log = open_log(db, NULL);
  expect_intact(log, NULL, 2);
  append_simple(log, "run-k", "after the crash");
  expect_intact(log, NULL, 3);
  mvm_audit_close(log);
  store_test_rmtree(dir);
}

/* ------------------------------------------------------------ writers */

#define WRITER_RECORDS 150

static void writer_failed(const char *run, const mvm_error *err, int code)
{
  fprintf(stderr, "writer %s: %s\n", run, err->msg);
  _exit(code);
}

static void run_writer(const char *db, const char *run, int batch)
{
  mvm_audit *log = NULL;
  mvm_error err = {0};
  json_t *body = json_pack("{s:s}", "text", run);

  mvm_audit_options opts = {.db.busy_timeout_ms = 30000};
  if (body == NULL || mvm_audit_open(db, &opts, &log, &err))
    writer_failed(run, &err, 1);
  for (int i = 0; i < WRITER_RECORDS; i++) {
    if (batch > 0 && i % batch == 0 && mvm_audit_begin(log, &err))
      writer_failed(run, &err, 2);
    if (mvm_audit_append(log, run, "note", body, NULL, &err))
      writer_failed(run, &err, 3);
    if (batch > 0 && (i % batch == batch - 1 || i == WRITER_RECORDS - 1) &&
        mvm_audit_commit(log, &err))
      writer_failed(run, &err, 4);
  }
  mvm_audit_close(log);
  json_decref(body);
  _exit(0);
}

static int count_run(void *ctx, const mvm_audit_record *rec, mvm_error *err)
{
  (void)rec;
  (void)err;
  (*(int *)ctx)++;
  return MVM_OK;
}

static void audit_two_writers(void **state)
{
  char dir[256];
  char db[512];
  pid_t pids[2];
  mvm_error err;

  assert_int_equal(store_test_tmpdir(dir, sizeof dir), 0);
  snprintf(db, sizeof db, "%s/audit.db", dir);

  for (int w = 0; w < 2; w++) {
    pids[w] = fork();
    assert_true(pids[w] >= 0);
    if (pids[w] == 0)
      run_writer(db, w == 0 ? "writer-a" : "writer-b", w == 0 ? 0 : 10);
  }
  for (int w = 0; w < 2; w++) {
    int status = 0;
    assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }

  mvm_audit *log = open_log(db, NULL);
  expect_intact(log, NULL, 2 * WRITER_RECORDS);
  int a = 0;
  int b = 0;
  assert_int_equal(mvm_audit_iterate(log, "writer-a", 0, count_run, &a, &err),
                   MVM_OK);
  assert_int_equal(mvm_audit_iterate(log, "writer-b", 0, count_run, &b, &err),
                   MVM_OK);
  assert_int_equal(a, WRITER_RECORDS);
  assert_int_equal(b, WRITER_RECORDS);
  mvm_audit_close(log);
  store_test_rmtree(dir);
}

static void audit_two_handles_interleave(void **state)
{
  struct fixture *fx = *state;
  mvm_audit *second = open_log(fx->db, NULL);

  /* Each append chains onto the true last record, even one the other
   * handle wrote. */
  for (int i = 0; i < 5; i++) {
    append_simple(fx->log, "run-x", "first handle");
    append_simple(second, "run-y", "second handle");
  }
  expect_intact(fx->log, NULL, FIXTURE_RECORDS + 10);
  expect_intact(second, NULL, FIXTURE_RECORDS + 10);
  mvm_audit_close(second);
}

#define FX(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      FX(audit_append_verify_intact),
      FX(audit_records_carry_effect),
      FX(audit_decision_labels_recorded),
      FX(audit_iterate_filters_run),
      FX(audit_reopen_continues_chain),
      cmocka_unit_test(audit_empty_log_verifies),
      cmocka_unit_test(audit_record_hash_covers_fields),
      FX(audit_hex_round_trip),
      FX(audit_known_head_inside_log),
      FX(audit_unknown_head_rejected),
      FX(tamper_edit_body),
      FX(tamper_edit_run_id),
      FX(tamper_edit_time),
      FX(tamper_edit_hash),
      FX(tamper_edit_prev_hash),
      FX(tamper_hash_wrong_type),
      FX(tamper_hash_wrong_size),
      FX(tamper_delete_middle),
      FX(tamper_delete_first),
      FX(tamper_delete_and_renumber),
      FX(tamper_insert_bad_hash),
      FX(tamper_insert_valid_hash),
      FX(tamper_swap_rows),
      FX(tamper_swap_contents),
      FX(tamper_truncate_tail),
      FX(tamper_truncate_tail_and_head),
      FX(tamper_append_without_head),
      FX(tamper_delete_head_row),
      FX(tamper_rebuilt_chain),
      FX(tamper_corrupt_file),
      cmocka_unit_test(audit_mac_detects_rebuild),
      cmocka_unit_test(audit_key_file_round_trip),
      cmocka_unit_test(audit_secret_never_stored),
      FX(audit_rejects_bad_names),
      cmocka_unit_test(audit_body_over_limit),
      cmocka_unit_test(audit_large_field_digested),
      cmocka_unit_test(audit_rejects_foreign_db),
      FX(audit_rejects_newer_schema),
      cmocka_unit_test(audit_read_only_needs_file),
      FX(audit_read_only_cannot_append),
      FX(audit_file_mode_private),
      FX(audit_batch_commit),
      FX(audit_batch_rollback),
      FX(audit_close_commits_batch),
      cmocka_unit_test(audit_batch_killed_loses_batch),
      cmocka_unit_test(audit_two_writers),
      FX(audit_two_handles_interleave),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
