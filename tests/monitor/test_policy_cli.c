/* test_policy_cli.c - `mvm policy check`, `mvm policy explain` and
 * `mvm approve`, run as the real binary named by $MVM_BIN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "monitor/lock.h"
#include "store_support.h"
#include "support.h"

static char dir[256];

static int setup(void **state)
{
  snprintf(dir, sizeof dir, "/tmp/mvm-test-policy-cli-XXXXXX");
  return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
  store_test_rmtree(dir);
  return 0;
}

static const char *mvm_bin(void)
{
  const char *bin = getenv("MVM_BIN");
  if (bin == NULL || bin[0] == '\0')
    fail_msg("MVM_BIN is not set; run this test through ctest");
  return bin;
}

static char *in_dir(const char *name)
{
  static char path[4][512];
  static int next;
  char *p = path[next++ % 4];
  snprintf(p, sizeof path[0], "%s/%s", dir, name);
  return p;
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Runs mvm with up to six arguments; returns the exit code. */
static int run(char **out, char **err, const char *a, const char *b,
               const char *c, const char *d, const char *e, const char *f)
{
  char *argv[] = {(char *)mvm_bin(), (char *)a, (char *)b, (char *)c,
                  (char *)d, (char *)e, (char *)f, NULL};
  return store_test_run(argv, out, err);
}

static void check_valid_policy(void **state)
{
  char *out = NULL;
  char *err = NULL;
  const char *policy = mvm_test_path("examples/policies/payments.policy");

  assert_int_equal(run(&out, &err, "policy", "check", policy, NULL, NULL,
                       NULL),
                   0);
  assert_non_null(strstr(out, "valid: 10 rules, 3 tool declarations, pin "
                              "ask"));
  assert_non_null(strstr(out, "budget calls bank.transfer: 3"));
  free(out);
  free(err);

  assert_int_equal(run(&out, &err, "policy", "check", policy, "--json", NULL,
                       NULL),
                   0);
  json_t *j = json_loads(out, 0, NULL);
  assert_non_null(j);
  assert_int_equal(json_integer_value(json_object_get(j, "rules")), 10);
  json_decref(j);
  free(out);
  free(err);
}

static void check_reports_error(void **state)
{
  char *out = NULL;
  char *err = NULL;
  const char *path = in_dir("bad.policy");

  write_text(path, "pin ask\nallow tool \"a.b\" {\n  arg x rnage 1 5\n}\n");
  assert_int_equal(run(&out, &err, "policy", "check", path, NULL, NULL,
                       NULL),
                   4);
  assert_non_null(strstr(err, "bad.policy:3:9: unknown check 'rnage'"));
  assert_non_null(strstr(err, "  arg x rnage 1 5\n"));
  assert_non_null(strstr(err, "\n          ^\n"));
  free(out);
  free(err);

  assert_int_equal(run(&out, &err, "policy", "check", in_dir("none.policy"),
                       NULL, NULL, NULL),
                   10);
  free(out);
  free(err);
  assert_int_equal(run(&out, &err, "policy", "frobnicate", path, NULL, NULL,
                       NULL),
                   2);
  free(out);
  free(err);
}

static void explain_decisions(void **state)
{
  char *out = NULL;
  char *err = NULL;
  const char *effects = in_dir("effects.json");
  const char *policy = mvm_test_path("examples/policies/email.policy");

  write_text(effects,
             "[{\"effect\": \"tool.call\", \"target\": \"mail.read_message\","
             " \"args\": {\"folder\": \"inbox\", \"id\": \"m1\"}},"
             " {\"effect\": \"tool.call\", \"target\": \"mail.send_message\","
             " \"args\": {\"to\": \"eve@evil.com\", \"subject\": \"s\","
             " \"body\": \"b\"}, \"context_label\": {\"integrity\":"
             " [\"email:inbound\"]}}]");
  assert_int_equal(run(&out, &err, "policy", "explain", policy, effects,
                       "--lock", in_dir("never.lock")),
                   5);
  assert_non_null(strstr(out, "1. tool.call mail.read_message: allow\n"));
  assert_non_null(strstr(out, "   rule:   email.policy:28\n"));
  assert_non_null(strstr(out, "result label: {\"integrity\":"
                              "[\"email:inbound\"],\"readers\":\"*\"}"));
  assert_non_null(strstr(out, "2. tool.call mail.send_message: deny\n"));
  assert_non_null(strstr(out, "does not match pattern"));
  free(out);
  free(err);
  assert_int_equal(access(in_dir("never.lock"), F_OK), -1);

  write_text(effects, "{\"effect\": \"user.show\", \"args\": \"hi\"}");
  assert_int_equal(run(&out, &err, "policy", "explain", policy, effects,
                       "--json", NULL),
                   0);
  json_t *j = json_loads(out, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(j, 0), "verdict")),
                      "allow");
  json_decref(j);
  free(out);
  free(err);

  write_text(effects, "{\"effect\": \"tool.fly\"}");
  assert_int_equal(run(&out, &err, "policy", "explain", policy, effects,
                       NULL, NULL),
                   4);
  assert_non_null(strstr(err, "effect 0: field 'effect' must name an "
                              "effect"));
  free(out);
  free(err);
}

static void explain_permissive(void **state)
{
  char *out = NULL;
  char *err = NULL;
  const char *effects = in_dir("p.json");

  write_text(effects, "{\"effect\": \"tool.call\", \"target\": \"x.y\"}");
  assert_int_equal(run(&out, &err, "policy", "explain", "permissive",
                       effects, NULL, NULL),
                   0);
  assert_non_null(strstr(out, "rule:   permissive"));
  free(out);
  free(err);
  assert_int_equal(run(&out, &err, "policy", "check", "permissive", NULL,
                       NULL, NULL),
                   0);
  assert_non_null(strstr(out, "UNSAFE"));
  free(out);
  free(err);
}

static void approve_pending(void **state)
{
  char *out = NULL;
  char *err = NULL;
  const char *policy = in_dir("a.policy");
  char lock[600];
  json_t *doc = mvm_lock_new();
  json_t *entry = NULL;
  mvm_error e;

  snprintf(lock, sizeof lock, "%s.lock", policy);
  write_text(policy, "pin ask\nallow tool \"*\"\n");
  json_t *id = json_pack("{s:s,s:s}", "name", "send", "description",
                         "Send mail.");
  assert_int_equal(mvm_lock_tool_entry("mail.send", id, &entry, &e),
                   MVM_OK);
  assert_int_equal(mvm_lock_set_pending(doc, MVM_LOCK_TOOLS, "mail.send",
                                        entry, "new"),
                   MVM_OK);
  assert_int_equal(mvm_lock_save(lock, doc, &e), MVM_OK);
  json_decref(doc);
  json_decref(entry);
  json_decref(id);

  assert_int_equal(run(&out, &err, "approve", policy, "--list", NULL, NULL,
                       NULL),
                   1);
  assert_non_null(strstr(out, "tool mail.send (new)"));
  assert_non_null(strstr(out, "description: Send mail."));
  free(out);
  free(err);

  if (!isatty(STDIN_FILENO)) {
    /* No terminal: nothing is approved without --yes. */
    assert_int_equal(run(&out, &err, "approve", policy, NULL, NULL, NULL,
                         NULL),
                     1);
    assert_non_null(strstr(err, "use --yes"));
    free(out);
    free(err);
  }

  assert_int_equal(run(&out, &err, "approve", policy, "--yes", "other.tool",
                       NULL, NULL),
                   0);
  assert_non_null(strstr(out, "nothing in"));
  free(out);
  free(err);

  assert_int_equal(run(&out, &err, "approve", policy, "--yes", NULL, NULL,
                       NULL),
                   0);
  assert_non_null(strstr(out, "pinned"));
  free(out);
  free(err);
  assert_int_equal(mvm_lock_load(lock, &doc, &e), MVM_OK);
  assert_non_null(mvm_lock_pinned(doc, MVM_LOCK_TOOLS, "mail.send"));
  assert_null(json_object_get(mvm_lock_pending(doc, MVM_LOCK_TOOLS),
                              "mail.send"));
  json_decref(doc);
}

static void help_texts(void **state)
{
  char *out = NULL;
  char *err = NULL;

  assert_int_equal(run(&out, &err, "policy", "--help", NULL, NULL, NULL,
                       NULL),
                   0);
  assert_non_null(strstr(out, "usage: mvm policy check POLICY"));
  free(out);
  free(err);
  assert_int_equal(run(&out, &err, "approve", "--help", NULL, NULL, NULL,
                       NULL),
                   0);
  assert_non_null(strstr(out, "usage: mvm approve POLICY"));
  free(out);
  free(err);
}

/* A bad command line names what is missing and exits 2, without the
 * whole help text. */
static void usage_errors(void **state)
{
  static const struct {
    const char *args[3];
    const char *message;
  } cases[] = {
      {{"policy", NULL, NULL}, "missing subcommand 'check' or 'explain'"},
      {{"policy", "check", NULL}, "mvm policy check: missing POLICY"},
      {{"policy", "explain", NULL},
       "mvm policy explain: missing POLICY and EFFECTS.json"},
      {{"policy", "explain", "p.mvp"},
       "mvm policy explain: missing EFFECTS.json"},
      {{"policy", "lint", "p.mvp"}, "unknown subcommand 'lint'"},
  };
  char *out = NULL;
  char *err = NULL;

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = run(&out, &err, cases[i].args[0], cases[i].args[1],
                 cases[i].args[2], NULL, NULL, NULL);
    if (rc != 2 || strstr(err, cases[i].message) == NULL)
      fail_msg("case %zu: exit %d, stderr: %s", i, rc, err);
    assert_null(strstr(err, "Exit codes:"));
    free(out);
    free(err);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(check_valid_policy),
      cmocka_unit_test(check_reports_error),
      cmocka_unit_test(explain_decisions),
      cmocka_unit_test(explain_permissive),
      cmocka_unit_test(approve_pending),
      cmocka_unit_test(help_texts),
      cmocka_unit_test(usage_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
