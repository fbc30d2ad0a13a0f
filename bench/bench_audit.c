/* bench_audit.c - audit log append and verify throughput.
 *
 * usage: bench_audit [DIR] [BATCHED_RECORDS] [UNBATCHED_RECORDS]
 *
 * Appends decision records of about 500 bytes (a tool call with
 * arguments, labels, rule and reason, through redaction with two
 * registered secrets) to a new database in DIR (default $TMPDIR or /tmp):
 * in transactions of 1000 records and one transaction per record, each
 * with synchronous=FULL and NORMAL. Then verifies the batched log. Prints
 * one line per case with the records per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mvm.h"
#include "store/audit.h"
#include "store_support.h"

#define BATCH_SIZE 1000

struct bench {
  const char *dir;
  mvm_effect effect;
  mvm_decision decision;
  json_t *args;
  mvm_label *label;
};

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const mvm_error *err)
{
  fprintf(stderr, "bench_audit: %s: %s\n", what, err->msg);
  exit(1);
}

static mvm_audit *open_fresh(struct bench *b, const char *name,
                             mvm_db_sync sync)
{
  char path[4096];
  mvm_audit_options opts = {.db.sync = sync};
  mvm_audit *log = NULL;
  mvm_error err;
  const char *secrets[] = {"sk-bench-0123456789abcdef", "hunter2-bench"};

  snprintf(path, sizeof path, "%s/%s", b->dir, name);
  if (mvm_audit_open(path, &opts, &log, &err))
    die("open", &err);
  for (int i = 0; i < 2; i++) {
    if (mvm_audit_add_secret(log, secrets[i], strlen(secrets[i]), &err))
      die("add secret", &err);
  }
  return log;
}

static void append_one(struct bench *b, mvm_audit *log, long i)
{
  mvm_error err;

  b->effect.step = (uint64_t)i;
  if (mvm_audit_append_decision(log, "run-0123456789abcdef", &b->effect,
                                &b->decision, &err))
    die("append", &err);
}

/* Appends n records, committing every `batch` records (1: each record in
 * its own transaction). Returns records per second. */
static double run_case(struct bench *b, const char *name, mvm_db_sync sync,
                       long n, long batch)
{
  mvm_audit *log = open_fresh(b, name, sync);
  mvm_error err;
  double start = now();

  for (long i = 0; i < n; i++) {
    if (batch > 1 && i % batch == 0 && mvm_audit_begin(log, &err))
      die("begin", &err);
    append_one(b, log, i);
    if (batch > 1 && (i % batch == batch - 1 || i == n - 1) &&
        mvm_audit_commit(log, &err))
      die("commit", &err);
  }
  double secs = now() - start;
  mvm_audit_close(log);
  printf("append  %-9s  sync=%-6s  %7ld records  %7.3f s  %9.0f records/s\n",
         batch > 1 ? "batched" : "unbatched",
         sync == MVM_DB_SYNC_FULL ? "FULL" : "NORMAL", n, secs, n / secs);
  return n / secs;
}

static int body_size(void *ctx, const mvm_audit_record *rec, mvm_error *err)
{
  (void)err;
  *(size_t *)ctx = rec->body_len;
  return MVM_OK;
}

static void run_verify(struct bench *b, const char *name)
{
  char path[4096];
  mvm_audit_options opts = {.db.mode = MVM_DB_READ_ONLY};
  mvm_audit *log = NULL;
  mvm_audit_report report;
  mvm_error err;
  size_t bytes = 0;

  snprintf(path, sizeof path, "%s/%s", b->dir, name);
  if (mvm_audit_open(path, &opts, &log, &err))
    die("open for verify", &err);
  if (mvm_audit_iterate(log, NULL, 1, body_size, &bytes, &err))
    die("iterate", &err);
  double start = now();
  if (mvm_audit_verify(log, NULL, &report, &err))
    die("verify", &err);
  double secs = now() - start;
  printf("verify  %-9s  %-11s  %7llu records  %7.3f s  %9.0f records/s\n",
         "batched", "", (unsigned long long)report.records, secs,
         report.records / secs);
  printf("record body: %zu bytes\n", bytes);
  mvm_audit_close(log);
}

static void make_effect(struct bench *b)
{
  const char *sources[] = {"web:news.example"};
  const char *readers[] = {"alice@corp.example", "bob@corp.example"};

  if (mvm_label_new(sources, 1, readers, 2, &b->label) != MVM_OK) {
    fprintf(stderr, "bench_audit: out of memory\n");
    exit(1);
  }
  b->args = json_pack(
      "{s:s, s:s, s:s, s:i}", "to", "bob@corp.example", "subject",
      "Quarterly numbers", "body",
      "Hi Bob, the quarterly summary is attached.",
      "priority", 2);
  if (b->args == NULL) {
    fprintf(stderr, "bench_audit: out of memory\n");
    exit(1);
  }
  b->effect.kind = MVM_EFFECT_TOOL_CALL;
  b->effect.target = "mail.send_email";
  b->effect.args = b->args;
  b->effect.args_label = b->label;
  b->effect.context_label = b->label;
  b->decision.verdict = MVM_VERDICT_DENY;
  snprintf(b->decision.rule, sizeof b->decision.rule,
           "policies/mail.mvp:17");
  snprintf(b->decision.reason, sizeof b->decision.reason,
           "a consequential call was decided in a context tainted by "
           "web:news.example");
}

int main(int argc, char **argv)
{
  struct bench b = {0};
  char dir[512];
  long batched = argc > 2 ? atol(argv[2]) : 50000;
  long unbatched = argc > 3 ? atol(argv[3]) : 2000;

  if (argc > 1) {
    snprintf(dir, sizeof dir, "%s/mvm-bench-XXXXXX", argv[1]);
    if (mkdtemp(dir) == NULL) {
      perror("bench_audit: mkdtemp");
      return 1;
    }
  } else if (store_test_tmpdir(dir, sizeof dir) != 0) {
    perror("bench_audit: mkdtemp");
    return 1;
  }
  if (batched < 1 || unbatched < 1) {
    fprintf(stderr, "bench_audit: record counts must be positive\n");
    return 2;
  }
  b.dir = dir;
  make_effect(&b);

  printf("bench_audit: %s, batches of %d\n", dir, BATCH_SIZE);
  run_case(&b, "batched-full.db", MVM_DB_SYNC_FULL, batched, BATCH_SIZE);
  run_case(&b, "batched-normal.db", MVM_DB_SYNC_NORMAL, batched, BATCH_SIZE);
  run_case(&b, "unbatched-full.db", MVM_DB_SYNC_FULL, unbatched, 1);
  run_case(&b, "unbatched-normal.db", MVM_DB_SYNC_NORMAL, unbatched, 1);
  run_verify(&b, "batched-full.db");

  json_decref(b.args);
  mvm_label_unref(b.label);
  store_test_rmtree(dir);
  return 0;
}
