/* test_schema_suite.c - runs the vendored files of the official JSON Schema
 * Test Suite (tests/fixtures/schema/suite, draft 2020-12 and, for keyword
 * files the vendored copy lacked there, draft 2019-09) through the
 * validator.
 *
 * Each file is an array of groups {description, schema, tests}, and each
 * test is {description, data, valid}. A group or test listed in `skips` is
 * still run, and must still disagree with the suite, so an entry that
 * starts passing is reported as stale. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mvm.h"
#include "support.h"
#include "value/schema.h"

#define SUITE_DIR "tests/fixtures/schema/suite"
#define MAX_FILES 128

/* A known difference from the suite. test NULL covers the whole group. */
typedef struct suite_skip {
  const char *file;
  const char *group;
  const char *test;
  const char *reason;
} suite_skip;

#define UNEVALUATED                                                          \
  "unevaluatedProperties and unevaluatedItems are rejected with "             \
  "MVM_EUNSUPPORTED"

#define REMOTE                                                               \
  "a $ref to the draft meta-schema, another document; mvm resolves only "    \
  "references within the schema"

#define EMBEDDED_ID                                                          \
  "an $id inside a subschema changes the base URI of its references, and "   \
  "mvm rejects it with MVM_EUNSUPPORTED"

static const suite_skip skips[] = {
    {"anyOf.2019-09.json", "Meta-schema applicator tests: Boolean logic", NULL,
     REMOTE},
    {"oneOf.2019-09.json", "Meta-schema applicator tests: Boolean logic", NULL,
     REMOTE},
    {"const.2019-09.json", "Meta-schema validation tests: const", NULL,
     REMOTE},
    {"uniqueItems.2019-09.json", "Meta-schema validation tests: arrays", NULL,
     REMOTE},
    {"dependentRequired.2019-09.json", "Meta-schema validation tests: objects",
     NULL, REMOTE},
    {"maximum.2019-09.json", "Meta-schema validation tests: numeric instances",
     NULL, REMOTE},
    {"minimum.2019-09.json", "Meta-schema validation tests: numeric instances",
     NULL, REMOTE},
    {"infinite-loop-detection.json", "guard against infinite recursion", NULL,
     "a $ref loop that never reads into the value is rejected at compile "
     "time with MVM_EINVAL, before any value is checked"},
    {"ref.json", "remote ref, containing refs itself", NULL, REMOTE},
    {"ref.json", "URN base URI with f-component", NULL, REMOTE},
    {"ref.json", "Recursive references between schemas", NULL, EMBEDDED_ID},
    {"ref.json", "refs with relative uris and defs", NULL, EMBEDDED_ID},
    {"ref.json", "relative refs with absolute uris and defs", NULL,
     EMBEDDED_ID},
    {"ref.json",
     "$id must be resolved against nearest parent, not just immediate "
     "parent",
     NULL, EMBEDDED_ID},
    {"ref.json", "order of evaluation: $id and $ref", NULL, EMBEDDED_ID},
    {"ref.json", "order of evaluation: $id and $anchor and $ref", NULL,
     EMBEDDED_ID},
    {"ref.json", "URN ref with nested pointer ref", NULL, EMBEDDED_ID},
    {"ref.json", "ref to if", NULL, EMBEDDED_ID},
    {"ref.json", "ref to then", NULL, EMBEDDED_ID},
    {"ref.json", "ref to else", NULL, EMBEDDED_ID},
    {"ref.json", "ref with absolute-path-reference", NULL, EMBEDDED_ID},
    {"ref.json", "ref creates new scope when adjacent to keywords", NULL,
     UNEVALUATED},
    {"not.json",
     "collect annotations inside a 'not', even if collection is disabled",
     NULL, UNEVALUATED},
    {"propertyNames.json", "propertyNames with unevaluatedProperties", NULL,
     UNEVALUATED},
    {"dependentSchemas.json", "dependent schema with unevaluatedProperties",
     NULL, UNEVALUATED},
    {"minContains.2019-09.json", "minContains = 0", NULL,
     "this copy of the draft 2019-09 file fails an array with no match; in "
     "draft 2020-12, which mvm follows, minContains 0 lets contains pass"},
    {NULL, NULL, NULL, NULL},
};

typedef struct suite_counts {
  int passed;
  int failed;
  int skipped;
  int stale;
} suite_counts;

static const suite_skip *find_skip(const char *file, const char *group,
                                   const char *test)
{
  for (size_t i = 0; skips[i].file != NULL; i++) {
    const suite_skip *s = &skips[i];
    if (strcmp(s->file, file) != 0 || strcmp(s->group, group) != 0)
      continue;
    if (s->test == NULL || (test != NULL && strcmp(s->test, test) == 0))
      return s;
  }
  return NULL;
}

static const char *text_of(const json_t *object, const char *key)
{
  const char *text = json_string_value(json_object_get(object, key));
  return text != NULL ? text : "(no description)";
}

/* Counts one outcome. agrees is true when mvm's result matches the
 * suite's. */
static void count(suite_counts *counts, const char *file, const char *group,
                  const char *test, bool agrees, const char *detail)
{
  const suite_skip *skip = find_skip(file, group, test);

  if (skip != NULL && !agrees) {
    counts->skipped++;
    return;
  }
  if (skip != NULL) {
    counts->stale++;
    print_error("stale skip: %s / %s / %s now agrees with the suite; "
                "remove it from the skip list\n",
                file, group, test);
    return;
  }
  if (agrees) {
    counts->passed++;
    return;
  }
  counts->failed++;
  print_error("FAIL %s / %s / %s: %s\n", file, group, test, detail);
}

static void run_group(const char *file, const json_t *group,
                      suite_counts *counts)
{
  const char *name = text_of(group, "description");
  const json_t *tests = json_object_get(group, "tests");
  mvm_schema *s = NULL;
  mvm_error err;
  size_t i;
  const json_t *test;

  mvm_error_clear(&err);
  int rc = mvm_schema_compile(json_object_get(group, "schema"), &s, &err);
  if (rc != MVM_OK) {
    /* A schema mvm does not compile fails every test of its group. */
    json_array_foreach(tests, i, test)
      count(counts, file, name, text_of(test, "description"), false,
            err.msg);
    return;
  }
  json_array_foreach(tests, i, test) {
    const char *what = text_of(test, "description");
    bool expected = json_is_true(json_object_get(test, "valid"));

    mvm_error_clear(&err);
    rc = mvm_schema_validate(s, json_object_get(test, "data"), &err);
    if (rc != MVM_OK && rc != MVM_ESCHEMA) {
      count(counts, file, name, what, false, err.msg);
      continue;
    }
    count(counts, file, name, what, (rc == MVM_OK) == expected,
          expected ? err.msg : "the value matched but the suite says "
                               "it is invalid");
  }
  mvm_schema_free(s);
}

static void run_file(const char *file, suite_counts *counts)
{
  char relative[512];
  json_t *groups = NULL;
  json_error_t jerr;
  size_t i;
  const json_t *group;

  /* Loads with jansson and JSON_ALLOW_NUL, because the suite has strings
   * with \u0000, which mvm_json_parse rejects. */
  snprintf(relative, sizeof relative, "%s/%s", SUITE_DIR, file);
  groups = json_load_file(mvm_test_path(relative),
                          JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
  if (groups == NULL)
    fail_msg("%s does not load: %s at line %d", relative, jerr.text,
             jerr.line);
  assert_true(json_is_array(groups));
  json_array_foreach(groups, i, group)
    run_group(file, group, counts);
  json_decref(groups);
}

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the .json files of the suite directory, sorted. */
static size_t list_files(char **names, size_t max)
{
  DIR *dir = opendir(mvm_test_path(SUITE_DIR));
  struct dirent *entry;
  size_t n = 0;

  if (dir == NULL)
    fail_msg("cannot open %s", mvm_test_path(SUITE_DIR));
  while ((entry = readdir(dir)) != NULL) {
    size_t len = strlen(entry->d_name);
    if (len < 6 || strcmp(entry->d_name + len - 5, ".json") != 0)
      continue;
    if (n == max)
      fail_msg("%s has more than %zu .json files; raise MAX_FILES",
               SUITE_DIR, max);
    names[n] = strdup(entry->d_name);
    assert_non_null(names[n]);
    n++;
  }
  closedir(dir);
  qsort(names, n, sizeof *names, compare_names);
  return n;
}

static void official_suite(void **state)
{
  char *files[MAX_FILES];
  suite_counts counts = {0};
  size_t n = list_files(files, MAX_FILES);

  assert_true(n > 0);
  for (size_t i = 0; i < n; i++) {
    run_file(files[i], &counts);
    free(files[i]);
  }
  print_message("JSON Schema Test Suite: %zu files, %d passed, %d failed, "
                "%d skipped\n",
                n, counts.passed, counts.failed, counts.skipped);
  for (size_t i = 0; skips[i].file != NULL; i++)
    print_message("  skipped %s / %s%s%s: %s\n", skips[i].file,
                  skips[i].group, skips[i].test != NULL ? " / " : "",
                  skips[i].test != NULL ? skips[i].test : "",
                  skips[i].reason);
  assert_int_equal(counts.failed, 0);
  assert_int_equal(counts.stale, 0);
  assert_true(counts.passed > 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(official_suite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
