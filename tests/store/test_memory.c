/* test_memory.c - labelled memory values in SQLite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "mvm.h"
#include "store/audit.h"
#include "store/memory.h"
#include "store_support.h"

struct fixture {
  char dir[256];
  char db[512];
  mvm_memory_store *store;
  mvm_label *web;
};

static mvm_memory_store *open_store(const char *path, const char *ns,
                                    const mvm_memory_options *opts)
{
  mvm_memory_store *store = NULL;
  mvm_error err;
  int rc = mvm_memory_store_open(path, ns, opts, &store, &err);
  if (rc)
    fail_msg("open '%s': %s", path, err.msg);
  return store;
}

static int setup(void **state)
{
  struct fixture *fx = calloc(1, sizeof *fx);
  const char *sources[] = {"web"};
  assert_non_null(fx);
  assert_int_equal(store_test_tmpdir(fx->dir, sizeof fx->dir), 0);
  snprintf(fx->db, sizeof fx->db, "%s/state.db", fx->dir);
  fx->store = open_store(fx->db, "prog-a", NULL);
  assert_int_equal(mvm_label_new(sources, 1, NULL, 0, &fx->web), MVM_OK);
  *state = fx;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *fx = *state;
  mvm_memory_store_close(fx->store);
  mvm_label_unref(fx->web);
  store_test_rmtree(fx->dir);
  free(fx);
  return 0;
}

static void put(mvm_memory_store *store, const char *key, json_t *value,
                const mvm_label *label)
{
  mvm_error err;
  int rc = mvm_memory_store_put(store, key, value, label, &err);
  json_decref(value);
  if (rc)
    fail_msg("put '%s': %s", key, err.msg);
}

static void memory_put_get_label(void **state)
{
  struct fixture *fx = *state;
  json_t *value = NULL;
  mvm_label *label = NULL;
  mvm_error err;

  put(fx->store, "notes", json_pack("{s:[i,i]}", "ids", 1, 2), fx->web);
  assert_int_equal(
      mvm_memory_store_get(fx->store, "notes", &value, &label, &err), MVM_OK);
  assert_non_null(value);
  assert_int_equal(
      json_integer_value(json_array_get(json_object_get(value, "ids"), 1)),
      2);
  assert_true(mvm_label_equal(label, fx->web));
  assert_false(mvm_label_is_trusted(label));
  json_decref(value);
  mvm_label_unref(label);
}

static void memory_bottom_label_and_scalars(void **state)
{
  struct fixture *fx = *state;
  json_t *value = NULL;
  mvm_label *label = fx->web;
  mvm_error err;

  put(fx->store, "count", json_integer(41), NULL);
  assert_int_equal(
      mvm_memory_store_get(fx->store, "count", &value, &label, &err), MVM_OK);
  assert_int_equal(json_integer_value(value), 41);
  assert_null(label);
  json_decref(value);

  put(fx->store, "empty", json_null(), NULL);
  assert_int_equal(
      mvm_memory_store_get(fx->store, "empty", &value, &label, &err), MVM_OK);
  assert_true(json_is_null(value));
  json_decref(value);
}

static void memory_absent_key(void **state)
{
  struct fixture *fx = *state;
  json_t *value = json_true();
  mvm_label *label = fx->web;
  mvm_error err;

  assert_int_equal(
      mvm_memory_store_get(fx->store, "missing", &value, &label, &err),
      MVM_OK);
  assert_null(value);
  assert_null(label);
}

static void memory_overwrite_replaces_label(void **state)
{
  struct fixture *fx = *state;
  json_t *value = NULL;
  mvm_label *label = NULL;
  mvm_error err;

  put(fx->store, "k", json_string("tainted"), fx->web);
  put(fx->store, "k", json_string("clean"), NULL);
  assert_int_equal(mvm_memory_store_get(fx->store, "k", &value, &label, &err),
                   MVM_OK);
  assert_string_equal(json_string_value(value), "clean");
  assert_null(label);
  json_decref(value);
}

static void memory_survives_reopen(void **state)
{
  struct fixture *fx = *state;
  json_t *value = NULL;
  mvm_label *label = NULL;
  mvm_error err;

  put(fx->store, "persist", json_string("kept"), fx->web);
  mvm_memory_store_close(fx->store);
  fx->store = open_store(fx->db, "prog-a", NULL);
  assert_int_equal(
      mvm_memory_store_get(fx->store, "persist", &value, &label, &err),
      MVM_OK);
  assert_string_equal(json_string_value(value), "kept");
  assert_true(mvm_label_equal(label, fx->web));
  json_decref(value);
  mvm_label_unref(label);
}

static void memory_namespaces_isolated(void **state)
{
  struct fixture *fx = *state;
  mvm_memory_store *other = open_store(fx->db, "prog-b", NULL);
  json_t *value = NULL;
  mvm_label *label = NULL;
  json_t *keys = NULL;
  mvm_error err;

  put(fx->store, "shared-name", json_string("a's"), NULL);
  assert_int_equal(
      mvm_memory_store_get(other, "shared-name", &value, &label, &err),
      MVM_OK);
  assert_null(value);
  put(other, "shared-name", json_string("b's"), NULL);
  assert_int_equal(
      mvm_memory_store_get(fx->store, "shared-name", &value, &label, &err),
      MVM_OK);
  assert_string_equal(json_string_value(value), "a's");
  json_decref(value);
  assert_int_equal(mvm_memory_store_keys(other, &keys, &err), MVM_OK);
  assert_int_equal(json_array_size(keys), 1);
  json_decref(keys);
  mvm_memory_store_close(other);
}

static void memory_delete_and_keys(void **state)
{
  struct fixture *fx = *state;
  json_t *keys = NULL;
  bool found = false;
  mvm_error err;

  put(fx->store, "b", json_true(), NULL);
  put(fx->store, "a", json_true(), NULL);
  put(fx->store, "c", json_true(), NULL);
  assert_int_equal(mvm_memory_store_delete(fx->store, "b", &found, &err),
                   MVM_OK);
  assert_true(found);
  assert_int_equal(mvm_memory_store_delete(fx->store, "b", &found, &err),
                   MVM_OK);
  assert_false(found);
  assert_int_equal(mvm_memory_store_keys(fx->store, &keys, &err), MVM_OK);
  assert_int_equal(json_array_size(keys), 2);
  assert_string_equal(json_string_value(json_array_get(keys, 0)), "a");
  assert_string_equal(json_string_value(json_array_get(keys, 1)), "c");
  json_decref(keys);
}

static void memory_adapter_ops(void **state)
{
  struct fixture *fx = *state;
  mvm_memory mem = mvm_memory_store_adapter(fx->store);
  json_t *value = json_string("via ops");
  json_t *back = NULL;
  mvm_label *label = NULL;
  mvm_error err;

  assert_int_equal(mem.ops->put(mem.self, "op-key", value, fx->web, &err),
                   MVM_OK);
  assert_int_equal(mem.ops->get(mem.self, "op-key", &back, &label, &err),
                   MVM_OK);
  assert_true(json_equal(value, back));
  assert_true(mvm_label_equal(label, fx->web));
  json_decref(back);
  json_decref(value);
  mvm_label_unref(label);
}

static void memory_rejects_bad_keys(void **state)
{
  struct fixture *fx = *state;
  json_t *v = json_true();
  char long_key[MVM_MEMORY_KEY_MAX + 2];
  mvm_error err;

  memset(long_key, 'k', sizeof long_key - 1);
  long_key[sizeof long_key - 1] = '\0';
  assert_int_equal(mvm_memory_store_put(fx->store, "", v, NULL, &err),
                   MVM_EINVAL);
  assert_int_equal(mvm_memory_store_put(fx->store, long_key, v, NULL, &err),
                   MVM_EINVAL);
  assert_non_null(strstr(err.msg, "257 bytes"));
  assert_int_equal(mvm_memory_store_put(fx->store, "a\nb", v, NULL, &err),
                   MVM_EINVAL);
  assert_non_null(strstr(err.msg, "control character 0x0a"));
  assert_int_equal(mvm_memory_store_put(fx->store, "bad\xff", v, NULL, &err),
                   MVM_EINVAL);
  assert_non_null(strstr(err.msg, "UTF-8"));
  assert_int_equal(mvm_memory_store_put(fx->store, "k", NULL, NULL, &err),
                   MVM_EINVAL);
  json_decref(v);
}

static void memory_rejects_bad_namespace(void **state)
{
  struct fixture *fx = *state;
  mvm_memory_store *store = NULL;
  mvm_error err;

  assert_int_equal(
      mvm_memory_store_open(fx->db, "has space", NULL, &store, &err),
      MVM_EINVAL);
  assert_non_null(strstr(err.msg, "namespace 'has space' is invalid"));
  assert_int_equal(mvm_memory_store_open(fx->db, "", NULL, &store, &err),
                   MVM_EINVAL);
  assert_null(store);
}

static void memory_value_over_limit(void **state)
{
  struct fixture *fx = *state;
  mvm_memory_options opts = {.db.max_value_bytes = 100};
  mvm_memory_store *small = open_store(fx->db, "small", &opts);
  char text[200];
  mvm_error err;

  memset(text, 'v', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  json_t *v = json_string(text);
  assert_int_equal(mvm_memory_store_put(small, "big", v, NULL, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "over the limit of 100 bytes"));
  json_decref(v);
  mvm_memory_store_close(small);
}

static void memory_stored_value_over_limit(void **state)
{
  struct fixture *fx = *state;
  mvm_memory_options opts = {.db.max_value_bytes = 100};
  mvm_memory_store *small = open_store(fx->db, "prog-a", &opts);
  char text[200];
  json_t *value = NULL;
  mvm_label *label = NULL;
  mvm_error err;

  /* Written through a store with the default cap, read through one whose
   * cap is smaller. */
  memset(text, 'v', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  put(fx->store, "big", json_string(text), NULL);
  assert_int_equal(mvm_memory_store_get(small, "big", &value, &label, &err),
                   MVM_ELIMIT);
  assert_null(value);
  mvm_memory_store_close(small);
}

static void memory_entry_limit(void **state)
{
  struct fixture *fx = *state;
  mvm_memory_options opts = {.max_entries = 3};
  mvm_memory_store *small = open_store(fx->db, "few", &opts);
  mvm_error err;

  put(small, "a", json_true(), NULL);
  put(small, "b", json_true(), NULL);
  put(small, "c", json_true(), NULL);
  json_t *v = json_true();
  assert_int_equal(mvm_memory_store_put(small, "d", v, NULL, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "already holds 3 entries"));
  /* Replacing an existing key is allowed at the limit. */
  assert_int_equal(mvm_memory_store_put(small, "a", v, NULL, &err), MVM_OK);
  json_decref(v);
  mvm_memory_store_close(small);
}

static void memory_damaged_entry(void **state)
{
  struct fixture *fx = *state;
  sqlite3 *db = NULL;
  json_t *value = NULL;
  mvm_label *label = NULL;
  mvm_error err;

  put(fx->store, "v", json_true(), NULL);
  put(fx->store, "l", json_true(), NULL);
  assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "UPDATE memory_values SET value = '{oops'"
                                " WHERE key = 'v';"
                                "UPDATE memory_values SET label ="
                                " '{\"integrity\": 5}' WHERE key = 'l'",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);

  assert_int_equal(mvm_memory_store_get(fx->store, "v", &value, &label, &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "memory entry 'v'"));
  assert_int_equal(mvm_memory_store_get(fx->store, "l", &value, &label, &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "invalid label"));
  assert_null(value);
}

static void memory_shares_file_with_audit(void **state)
{
  struct fixture *fx = *state;
  mvm_audit *log = NULL;
  mvm_audit_report report;
  json_t *value = NULL;
  mvm_label *label = NULL;
  mvm_error err;

  put(fx->store, "before", json_true(), NULL);
  assert_int_equal(mvm_audit_open(fx->db, NULL, &log, &err), MVM_OK);
  json_t *body = json_object();
  assert_int_equal(mvm_audit_append(log, "run-1", "note", body, NULL, &err),
                   MVM_OK);
  json_decref(body);
  assert_int_equal(mvm_audit_verify(log, NULL, &report, &err), MVM_OK);
  assert_int_equal(report.records, 1);
  mvm_audit_close(log);
  assert_int_equal(
      mvm_memory_store_get(fx->store, "before", &value, &label, &err),
      MVM_OK);
  assert_true(json_is_true(value));
  json_decref(value);
}

#define FX(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      FX(memory_put_get_label),
      FX(memory_bottom_label_and_scalars),
      FX(memory_absent_key),
      FX(memory_overwrite_replaces_label),
      FX(memory_survives_reopen),
      FX(memory_namespaces_isolated),
      FX(memory_delete_and_keys),
      FX(memory_adapter_ops),
      FX(memory_rejects_bad_keys),
      FX(memory_rejects_bad_namespace),
      FX(memory_value_over_limit),
      FX(memory_stored_value_over_limit),
      FX(memory_entry_limit),
      FX(memory_damaged_entry),
      FX(memory_shares_file_with_audit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
