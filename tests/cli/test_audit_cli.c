/* test_audit_cli.c - `mvm audit verify`, `show` and `keygen`, run as the
 * real binary named by $MVM_BIN against logs written through the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cli/cli.h"
#include "mvm.h"
#include "store/audit.h"
#include "store_support.h"

struct fixture {
  char dir[256];
  char db[512];
  char head_hex[MVM_AUDIT_HEX_SIZE];
  char *out;
  char *err;
};

static const char *mvm_bin(void)
{
  const char *bin = getenv("MVM_BIN");
  if (bin == NULL || bin[0] == '\0')
    fail_msg("MVM_BIN is not set; run this test through ctest");
  return bin;
}

/* Writes a run of four records, optionally with a MAC key. */
static void write_log(const char *path, const unsigned char *key,
                      char head_hex[MVM_AUDIT_HEX_SIZE])
{
  mvm_audit_options opts = {.mac_key = key};
  mvm_audit *log = NULL;
  mvm_audit_head head;
  mvm_label *web = NULL;
  mvm_error err;
  const char *sources[] = {"web"};
  json_t *args = json_pack("{s:s}", "path", "/srv/notes.txt");
  json_t *info = json_pack("{s:s}", "program", "agent.mvm");
  json_t *outcome = json_pack("{s:b}", "isError", 0);

  assert_int_equal(mvm_audit_open(path, &opts, &log, &err), MVM_OK);
  assert_int_equal(mvm_label_new(sources, 1, NULL, 0, &web), MVM_OK);
  /* The target carries an escape sequence, as a hostile tool name
   * might. */
  mvm_effect e = {.kind = MVM_EFFECT_TOOL_CALL,
                  .target = "fs.read\x1b[31m",
                  .args = args,
                  .context_label = web,
                  .step = 3};
  mvm_decision d = {.verdict = MVM_VERDICT_DENY};
  snprintf(d.rule, sizeof d.rule, "policy.mvp:4");
  snprintf(d.reason, sizeof d.reason, "the context is untrusted");

  assert_int_equal(mvm_audit_append_run_start(log, "run-1", info, &err),
                   MVM_OK);
  assert_int_equal(mvm_audit_append_decision(log, "run-1", &e, &d, &err),
                   MVM_OK);
  d.verdict = MVM_VERDICT_ALLOW;
  assert_int_equal(
      mvm_audit_append_outcome(log, "run-1", &e, &d, outcome, &err), MVM_OK);
  assert_int_equal(
      mvm_audit_append_run_end(log, "run-1", MVM_EDENIED, NULL, &err),
      MVM_OK);
  assert_int_equal(mvm_audit_head_read(log, &head, &err), MVM_OK);
  mvm_audit_hash_to_hex(head.hash, head_hex);
  mvm_audit_close(log);

  json_decref(outcome);
  json_decref(info);
  json_decref(args);
  mvm_label_unref(web);
}

static int setup(void **state)
{
  struct fixture *fx = calloc(1, sizeof *fx);
  assert_non_null(fx);
  assert_int_equal(store_test_tmpdir(fx->dir, sizeof fx->dir), 0);
  snprintf(fx->db, sizeof fx->db, "%s/audit.db", fx->dir);
  write_log(fx->db, NULL, fx->head_hex);
  *state = fx;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *fx = *state;
  free(fx->out);
  free(fx->err);
  store_test_rmtree(fx->dir);
  free(fx);
  return 0;
}

/* Runs `mvm audit ARGS...`, keeping the output in the fixture. */
static int run_audit(struct fixture *fx, const char *a1, const char *a2,
                     const char *a3, const char *a4, const char *a5,
                     const char *a6)
{
  char *argv[] = {(char *)mvm_bin(), "audit", (char *)a1, (char *)a2,
                  (char *)a3,        (char *)a4, (char *)a5, (char *)a6,
                  NULL};
  free(fx->out);
  free(fx->err);
  fx->out = NULL;
  fx->err = NULL;
  int code = store_test_run(argv, &fx->out, &fx->err);
  assert_non_null(fx->out);
  assert_non_null(fx->err);
  return code;
}

static void expect_text(const char *text, const char *want)
{
  if (strstr(text, want) == NULL)
    fail_msg("output does not contain '%s':\n%s", want, text);
}

static void raw_exec(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void cli_verify_intact(void **state)
{
  struct fixture *fx = *state;
  char head_line[128];

  assert_int_equal(run_audit(fx, "verify", "--db", fx->db, NULL, NULL, NULL),
                   MVM_EXIT_OK);
  expect_text(fx->out, "is intact: 4 records");
  snprintf(head_line, sizeof head_line, "head: 4 %s", fx->head_hex);
  expect_text(fx->out, head_line);
  assert_string_equal(fx->err, "");
}

static void cli_verify_known_head(void **state)
{
  struct fixture *fx = *state;

  assert_int_equal(
      run_audit(fx, "verify", "--db", fx->db, "--head", fx->head_hex, NULL),
      MVM_EXIT_OK);
  expect_text(fx->out, "known head found at record 4 (0 records after it)");
}

static void cli_verify_detects_edit(void **state)
{
  struct fixture *fx = *state;

  raw_exec(fx->db, "UPDATE audit_records SET body = replace(body, 'deny',"
                   " 'allow') WHERE seq = 2");
  assert_int_equal(run_audit(fx, "verify", "--db", fx->db, NULL, NULL, NULL),
                   MVM_EXIT_TAMPER);
  expect_text(fx->err, "failed verification: record 2:");
  expect_text(fx->err, "records 1 to 1 are intact");
  assert_string_equal(fx->out, "");
}

static void cli_verify_truncation_needs_head(void **state)
{
  struct fixture *fx = *state;

  raw_exec(fx->db, "DELETE FROM audit_records WHERE seq = 4;"
                   "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM"
                   " audit_records WHERE seq = 3)");
  assert_int_equal(run_audit(fx, "verify", "--db", fx->db, NULL, NULL, NULL),
                   MVM_EXIT_OK);
  expect_text(fx->out, "is intact: 3 records");
  assert_int_equal(
      run_audit(fx, "verify", "--db", fx->db, "--head", fx->head_hex, NULL),
      MVM_EXIT_TAMPER);
  expect_text(fx->err, "is not in the log of 3 records");
}

static void cli_show_timeline(void **state)
{
  struct fixture *fx = *state;

  assert_int_equal(run_audit(fx, "show", "--db", fx->db, NULL, NULL, NULL),
                   MVM_EXIT_OK);
  expect_text(fx->out, "#1  ");
  expect_text(fx->out, "run-1  run.start  {\"program\":\"agent.mvm\"}");
  expect_text(fx->out, "decision  tool.call  fs.read\\x1b[31m  deny  "
                       "rule=policy.mvp:4  reason=the context is untrusted");
  expect_text(fx->out, "context=untrusted(web)/public");
  expect_text(fx->out, "outcome={\"isError\":false}");
  expect_text(fx->out, "run.end  {\"status\":\"MVM_EDENIED\"}");
  /* The escape byte itself never reaches the terminal. */
  assert_null(strchr(fx->out, '\x1b'));
}

static void cli_show_json_last(void **state)
{
  struct fixture *fx = *state;
  json_t *line = NULL;
  json_error_t jerr;

  assert_int_equal(
      run_audit(fx, "show", "--db", fx->db, "--json", "--last", "1"),
      MVM_EXIT_OK);
  /* One line: the run.end record. */
  char *newline = strchr(fx->out, '\n');
  assert_non_null(newline);
  assert_string_equal(newline + 1, "");
  line = json_loads(fx->out, 0, &jerr);
  assert_non_null(line);
  assert_int_equal(json_integer_value(json_object_get(line, "seq")), 4);
  assert_string_equal(json_string_value(json_object_get(line, "kind")),
                      "run.end");
  assert_string_equal(json_string_value(json_object_get(line, "hash")),
                      fx->head_hex);
  json_decref(line);
}

static void cli_show_filters_run(void **state)
{
  struct fixture *fx = *state;

  /* A run with no records shows nothing and says so on stderr. */
  assert_int_equal(
      run_audit(fx, "show", "--db", fx->db, "--run", "other-run", NULL),
      MVM_EXIT_FAIL);
  assert_string_equal(fx->out, "");
  assert_non_null(strstr(fx->err, "no records of run 'other-run'"));

  assert_int_equal(
      run_audit(fx, "show", "--db", fx->db, "--run", "run-1", NULL),
      MVM_EXIT_OK);
  assert_non_null(strstr(fx->out, "run-1"));
}

static void cli_default_path(void **state)
{
  struct fixture *fx = *state;

  setenv("MVM_STATE_DIR", fx->dir, 1);
  int code = run_audit(fx, "verify", NULL, NULL, NULL, NULL, NULL);
  unsetenv("MVM_STATE_DIR");
  assert_int_equal(code, MVM_EXIT_OK);
  expect_text(fx->out, "audit.db' is intact: 4 records");
}

static void cli_usage_errors(void **state)
{
  struct fixture *fx = *state;

  assert_int_equal(run_audit(fx, "verify", "--db", fx->db, "--head", "abc",
                             NULL),
                   MVM_EXIT_USAGE);
  expect_text(fx->err, "head hash 'abc' is invalid");
  assert_int_equal(run_audit(fx, "show", "--last", "-3", NULL, NULL, NULL),
                   MVM_EXIT_USAGE);
  assert_int_equal(run_audit(fx, "show", "--db", NULL, NULL, NULL, NULL),
                   MVM_EXIT_USAGE);
  expect_text(fx->err, "option '--db' needs a value");
  assert_int_equal(run_audit(fx, "check", NULL, NULL, NULL, NULL, NULL),
                   MVM_EXIT_USAGE);
  expect_text(fx->err, "unknown subcommand 'check'");
  assert_int_equal(run_audit(fx, NULL, NULL, NULL, NULL, NULL, NULL),
                   MVM_EXIT_USAGE);
  assert_int_equal(run_audit(fx, "--help", NULL, NULL, NULL, NULL, NULL),
                   MVM_EXIT_OK);
  expect_text(fx->out, "usage: mvm audit verify");
  assert_int_equal(run_audit(fx, "show", "--help", NULL, NULL, NULL, NULL),
                   MVM_EXIT_OK);
  expect_text(fx->out, "--last N");
}

static void cli_missing_database(void **state)
{
  struct fixture *fx = *state;

  assert_int_equal(run_audit(fx, "verify", "--db",
                             store_test_join(fx->dir, "none.db"), NULL, NULL,
                             NULL),
                   MVM_EXIT_IO);
  expect_text(fx->err, "none.db' does not exist");
}

static void cli_keygen_and_mac(void **state)
{
  struct fixture *fx = *state;
  char key_path[512];
  char mac_db[512];
  char other_key[512];
  char head[MVM_AUDIT_HEX_SIZE];
  unsigned char key[MVM_AUDIT_KEY_BYTES];
  struct stat st;
  mvm_error err;

  snprintf(key_path, sizeof key_path, "%s/audit.key", fx->dir);
  snprintf(other_key, sizeof other_key, "%s/other.key", fx->dir);
  snprintf(mac_db, sizeof mac_db, "%s/mac.db", fx->dir);
  assert_int_equal(
      run_audit(fx, "keygen", "--out", key_path, NULL, NULL, NULL),
      MVM_EXIT_OK);
  assert_int_equal(stat(key_path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(
      run_audit(fx, "keygen", "--out", key_path, NULL, NULL, NULL),
      MVM_EXIT_IO);

  assert_int_equal(mvm_audit_key_load(key_path, key, &err), MVM_OK);
  write_log(mac_db, key, head);
  assert_int_equal(
      run_audit(fx, "verify", "--db", mac_db, "--key-file", key_path, NULL),
      MVM_EXIT_OK);
  expect_text(fx->out, "MAC checked on all 4 records");
  assert_int_equal(run_audit(fx, "verify", "--db", mac_db, NULL, NULL, NULL),
                   MVM_EXIT_OK);
  expect_text(fx->out, "4 records carry a MAC; pass --key-file");

  assert_int_equal(
      run_audit(fx, "keygen", "--out", other_key, NULL, NULL, NULL),
      MVM_EXIT_OK);
  assert_int_equal(
      run_audit(fx, "verify", "--db", mac_db, "--key-file", other_key, NULL),
      MVM_EXIT_TAMPER);
  expect_text(fx->err, "record 1: its MAC does not match");
}

#define FX(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      FX(cli_verify_intact),
      FX(cli_verify_known_head),
      FX(cli_verify_detects_edit),
      FX(cli_verify_truncation_needs_head),
      FX(cli_show_timeline),
      FX(cli_show_json_last),
      FX(cli_show_filters_run),
      FX(cli_default_path),
      FX(cli_usage_errors),
      FX(cli_missing_database),
      FX(cli_keygen_and_mac),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
