/* test_decisions.c - the table of decisions in
 * tests/fixtures/policy/decisions.json, one cmocka test per case.
 *
 * A case names a policy file in tests/fixtures/policy and a sequence of
 * effects in the JSON form of mvm_policy_explain, decided in order by one
 * monitor. Each effect may carry:
 *   "expect": "allow" | "deny" | "ask"   the verdict
 *   "rule": "file:line" | "default" ...  the exact rule
 *   "reason": "text"                     a part of the reason
 *   "expect_label": LABEL                the result label (tool.call)
 *   "advance": seconds                   clock time passing before it
 *   "record": false                      do not record it when allowed
 * and the case may set "no_user", "pin_tools" [{"target", "identity"}] and
 * "pin_models" [identity] to start from a lock file, and
 * "expect_pending" / "expect_pinned" to check the lock file afterwards.
 * "$TMP" in the policy and in every string of the effects is replaced by
 * a temporary directory holding files, links and loops for path checks.
 */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "monitor/lock.h"
#include "monitor/monitor_internal.h"
#include "monitor/policy.h"
#include "support.h"

static char tmp_dir[256];
static json_t *table;

/* ------------------------------------------------------------- fixtures */

static void write_file(const char *rel, const char *text)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp_dir, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void make_dir(const char *rel)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp_dir, rel);
  assert_int_equal(mkdir(path, 0755), 0);
}

static void make_link(const char *target, const char *rel)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp_dir, rel);
  assert_int_equal(symlink(target, path), 0);
}

static int group_setup(void **state)
{
  char outside[512];
  char dangling[512];

  /* International host names are converted in the process locale. */
  setlocale(LC_ALL, "C.UTF-8");
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/mvm-test-decisions-XXXXXX");
  if (mkdtemp(tmp_dir) == NULL)
    return -1;
  make_dir("allowed");
  make_dir("allowed/sub");
  make_dir("allowedx");
  make_dir("outside");
  write_file("allowed/doc.txt", "doc\n");
  write_file("allowed/sub/n.txt", "n\n");
  write_file("allowedx/doc.txt", "x\n");
  write_file("outside/secret.txt", "secret\n");
  snprintf(outside, sizeof outside, "%s/outside", tmp_dir);
  snprintf(dangling, sizeof dangling, "%s/outside/nonexistent", tmp_dir);
  make_link(outside, "allowed/link_out");
  make_link("sub", "allowed/link_in");
  make_link(dangling, "allowed/dangling");
  make_link("loop2", "allowed/loop1");
  make_link("loop1", "allowed/loop2");
  /* "deep" leads two levels down, so "deep/../.." is allowed for the
   * kernel but the temporary directory for a tool that normalizes text. */
  make_dir("allowed/a");
  make_dir("allowed/a/b");
  make_link("a/b", "allowed/deep");
  /* A name that passes a pattern for text files, linked to a script. */
  write_file("allowed/script.sh", "#!/bin/sh\n");
  make_link("script.sh", "allowed/notes.txt");
  /* "caf\xc3\xa9" in NFC leads outside; its NFD spelling does not exist. */
  make_dir("uni");
  make_link(outside, "uni/caf\xc3\xa9");

  /* Read with jansson itself: one case has a NUL byte in a string. */
  json_error_t jerr;
  table = json_load_file(mvm_test_path("tests/fixtures/policy/"
                                       "decisions.json"),
                         JSON_ALLOW_NUL, &jerr);
  if (table == NULL) {
    fprintf(stderr, "cannot load the decision table: %s at line %d\n",
            jerr.text, jerr.line);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state)
{
  char cmd[600];

  json_decref(table);
  /* The directory holds only what group_setup and the cases made. */
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------- helpers */

static char *replace_tmp(const char *text)
{
  mvm_buf out;
  const char *p = text;

  mvm_buf_init(&out, 0);
  for (;;) {
    const char *hit = strstr(p, "$TMP");
    if (hit == NULL)
      break;
    assert_int_equal(mvm_buf_append(&out, p, (size_t)(hit - p)), MVM_OK);
    assert_int_equal(mvm_buf_append_str(&out, tmp_dir), MVM_OK);
    p = hit + 4;
  }
  assert_int_equal(mvm_buf_append_str(&out, p), MVM_OK);
  return mvm_buf_steal(&out);
}

/* Returns a deep copy of v with $TMP replaced in every string. */
static json_t *substitute(const json_t *v)
{
  if (json_is_string(v)) {
    /* Strings may hold NUL bytes, which stay where they are. */
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    size_t head = strlen(s);
    char *fixed = replace_tmp(s);
    mvm_buf b;
    mvm_buf_init(&b, 0);
    assert_int_equal(mvm_buf_append_str(&b, fixed), MVM_OK);
    assert_int_equal(mvm_buf_append(&b, s + head, len - head), MVM_OK);
    json_t *out = json_stringn(b.data, b.len);
    mvm_buf_free(&b);
    free(fixed);
    return out;
  }
  if (json_is_array(v)) {
    json_t *out = json_array();
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
      json_array_append_new(out, substitute(item));
    return out;
  }
  if (json_is_object(v)) {
    json_t *out = json_object();
    const char *key;
    json_t *item;
    json_object_foreach((json_t *)v, key, item)
      json_object_set_new(out, key, substitute(item));
    return out;
  }
  return json_deep_copy(v);
}

static char *read_policy(const char *name)
{
  char rel[256];
  snprintf(rel, sizeof rel, "tests/fixtures/policy/%s", name);
  FILE *f = fopen(mvm_test_path(rel), "r");
  assert_non_null(f);
  mvm_buf b;
  char chunk[4096];
  size_t n;
  mvm_buf_init(&b, 0);
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    assert_int_equal(mvm_buf_append(&b, chunk, n), MVM_OK);
  fclose(f);
  char *raw = mvm_buf_steal(&b);
  char *text = replace_tmp(raw);
  free(raw);
  return text;
}

static double fake_clock(void *ctx)
{
  return *(double *)ctx;
}

/* Writes the lock file a case starts from. */
static void write_lock(const json_t *c, const char *path)
{
  const json_t *tools = json_object_get(c, "pin_tools");
  const json_t *models = json_object_get(c, "pin_models");
  json_t *doc = mvm_lock_new();
  mvm_error err;
  size_t i;
  const json_t *item;

  json_array_foreach(tools, i, item) {
    json_t *entry = NULL;
    const char *target = json_string_value(json_object_get(item, "target"));
    assert_int_equal(mvm_lock_tool_entry(target,
                                         json_object_get(item, "identity"),
                                         &entry, &err),
                     MVM_OK);
    assert_int_equal(mvm_lock_pin(doc, MVM_LOCK_TOOLS, target, entry),
                     MVM_OK);
    json_decref(entry);
  }
  json_array_foreach(models, i, item) {
    json_t *entry = NULL;
    char *key = NULL;
    assert_int_equal(mvm_lock_model_entry(item, &key, &entry, &err), MVM_OK);
    assert_int_equal(mvm_lock_pin(doc, MVM_LOCK_MODELS, key, entry), MVM_OK);
    free(key);
    json_decref(entry);
  }
  assert_int_equal(mvm_lock_save(path, doc, &err), MVM_OK);
  json_decref(doc);
}

static void check_lock_keys(const char *case_name, const char *path,
                            const json_t *want, bool pending)
{
  json_t *doc = NULL;
  mvm_error err;
  size_t i;
  const json_t *key;

  if (want == NULL)
    return;
  assert_int_equal(mvm_lock_load(path, &doc, &err), MVM_OK);
  json_array_foreach(want, i, key) {
    const char *k = json_string_value(key);
    const json_t *found =
        pending ? json_object_get(mvm_lock_pending(doc, MVM_LOCK_TOOLS), k)
                : mvm_lock_pinned(doc, MVM_LOCK_TOOLS, k);
    if (found == NULL)
      fail_msg("%s: the lock file has no %s entry '%s'", case_name,
               pending ? "pending" : "pinned", k);
  }
  json_decref(doc);
}

/* ------------------------------------------------------------- one case */

static void check_effect(const char *name, size_t index, mvm_monitor *mon,
                         const json_t *spec, double *now)
{
  json_t *effect = substitute(spec);
  pol_json_effect je;
  mvm_decision d;
  mvm_error err;

  *now += json_number_value(json_object_get(spec, "advance"));
  if (pol_json_effect_parse(effect, index, &je, &err) != MVM_OK)
    fail_msg("%s: effect %zu is malformed: %s", name, index, err.msg);
  assert_int_equal(mon->ops->check(mon->self, &je.e, &d, &err), MVM_OK);

  const char *verdict = mvm_policy_verdict_name(d.verdict);
  const char *want = json_string_value(json_object_get(spec, "expect"));
  const char *rule = json_string_value(json_object_get(spec, "rule"));
  const char *reason = json_string_value(json_object_get(spec, "reason"));
  if (want != NULL && strcmp(verdict, want) != 0)
    fail_msg("%s: effect %zu: verdict %s, expected %s (rule %s: %s)", name,
             index, verdict, want, d.rule, d.reason);
  if (rule != NULL && strcmp(d.rule, rule) != 0)
    fail_msg("%s: effect %zu: rule %s, expected %s (%s)", name, index,
             d.rule, rule, d.reason);
  if (reason != NULL && strstr(d.reason, reason) == NULL)
    fail_msg("%s: effect %zu: reason \"%s\" lacks \"%s\"", name, index,
             d.reason, reason);

  const json_t *outcome = json_object_get(effect, "outcome");
  const json_t *record = json_object_get(spec, "record");
  if (d.verdict == MVM_VERDICT_ALLOW && !json_is_false(record))
    assert_int_equal(mon->ops->record(mon->self, &je.e, &d,
                                      outcome ? outcome : je.e.identity,
                                      &err),
                     MVM_OK);

  const json_t *want_label = json_object_get(spec, "expect_label");
  if (want_label != NULL) {
    mvm_label *label = NULL;
    assert_int_equal(mon->ops->result_label(mon->self, &je.e, outcome,
                                            &label, &err),
                     MVM_OK);
    json_t *got = mvm_label_to_json(label);
    if (!json_equal(got, (json_t *)want_label)) {
      char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
      char *w = json_dumps(want_label, JSON_COMPACT | JSON_SORT_KEYS);
      fail_msg("%s: effect %zu: result label %s, expected %s", name, index,
               g, w);
    }
    json_decref(got);
    mvm_label_unref(label);
  }
  pol_json_effect_clear(&je);
  json_decref(effect);
}

static void run_case(void **state)
{
  const json_t *c = *state;
  const char *name = json_string_value(json_object_get(c, "name"));
  const char *file = json_string_value(json_object_get(c, "policy"));
  char *text = read_policy(file);
  char lock[512];
  mvm_policy *policy = NULL;
  mvm_monitor mon;
  mvm_error err;
  double now = 0;
  static unsigned serial;

  if (mvm_policy_parse(text, strlen(text), file, &policy, &err) != MVM_OK)
    fail_msg("%s: policy %s does not parse: %s", name, file, err.msg);
  free(text);

  snprintf(lock, sizeof lock, "%s/case-%u.lock", tmp_dir, serial++);
  if (json_object_get(c, "pin_tools") || json_object_get(c, "pin_models"))
    write_lock(c, lock);

  mvm_policy_monitor_config cfg;
  mvm_policy_monitor_config_init(&cfg);
  cfg.lock_path = lock;
  cfg.no_user = json_is_true(json_object_get(c, "no_user"));
  cfg.clock = fake_clock;
  cfg.clock_ctx = &now;
  cfg.start_time = 0;
  assert_int_equal(mvm_policy_monitor_new(policy, &cfg, &mon, &err), MVM_OK);

  size_t i;
  const json_t *spec;
  json_array_foreach(json_object_get(c, "effects"), i, spec)
    check_effect(name, i, &mon, spec, &now);

  mvm_policy_monitor_free(&mon);
  mvm_policy_free(policy);
  check_lock_keys(name, lock, json_object_get(c, "expect_pending"), true);
  check_lock_keys(name, lock, json_object_get(c, "expect_pinned"), false);
}

/* The table must stay large enough to cover the cases listed at the top
 * of this file: at least 100 decisions with an expected verdict. */
static void table_is_large(void **state)
{
  size_t decisions = 0;
  size_t i;
  const json_t *c;

  json_array_foreach(json_object_get(table, "cases"), i, c) {
    size_t k;
    const json_t *e;
    json_array_foreach(json_object_get(c, "effects"), k, e) {
      if (json_object_get(e, "expect") != NULL)
        decisions++;
    }
  }
  assert_true(decisions >= 100);
}

int main(void)
{
  void *state = NULL;

  if (group_setup(&state) != 0)
    return 1;
  const json_t *cases = json_object_get(table, "cases");
  size_t n = json_array_size(cases);
  struct CMUnitTest *tests = calloc(n + 1, sizeof *tests);
  if (tests == NULL)
    return 1;
  tests[0].name = "table_is_large";
  tests[0].test_func = table_is_large;
  for (size_t i = 0; i < n; i++) {
    const json_t *c = json_array_get(cases, i);
    tests[i + 1].name = json_string_value(json_object_get(c, "name"));
    tests[i + 1].test_func = run_case;
    tests[i + 1].initial_state = (void *)c;
  }
  int failed = _cmocka_run_group_tests("decisions", tests, n + 1, NULL,
                                       NULL);
  free(tests);
  if (group_teardown(&state) != 0)
    return 1;
  return failed;
}
