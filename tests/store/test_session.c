/* test_session.c - sessions and their histories, including processes
 * killed while appending. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "mvm.h"
#include "store/session.h"
#include "store_support.h"

struct fixture {
  char dir[256];
  char db[512];
  mvm_session_store *store;
  mvm_label *web;
};

static mvm_session_store *open_store(const char *path,
                                     const mvm_session_options *opts)
{
  mvm_session_store *store = NULL;
  mvm_error err;
  int rc = mvm_session_store_open(path, opts, &store, &err);
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
  fx->store = open_store(fx->db, NULL);
  assert_int_equal(mvm_label_new(sources, 1, NULL, 0, &fx->web), MVM_OK);
  *state = fx;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *fx = *state;
  mvm_session_store_close(fx->store);
  mvm_label_unref(fx->web);
  store_test_rmtree(fx->dir);
  free(fx);
  return 0;
}

static json_t *message(const char *role, const char *content)
{
  json_t *m = json_pack("{s:s, s:s}", "role", role, "content", content);
  assert_non_null(m);
  return m;
}

static void append(mvm_session_store *store, const char *id, uint64_t index,
                   const char *role, const char *content,
                   const mvm_label *label)
{
  mvm_error err;
  json_t *m = message(role, content);
  int rc = mvm_session_append(store, id, index, m, label, &err);
  json_decref(m);
  if (rc)
    fail_msg("append %llu: %s", (unsigned long long)index, err.msg);
}

static mvm_session *load(mvm_session_store *store, const char *id)
{
  mvm_session *s = NULL;
  mvm_error err;
  int rc = mvm_session_load(store, id, &s, &err);
  if (rc)
    fail_msg("load '%s': %s", id, err.msg);
  return s;
}

static const char *content_at(const mvm_session *s, size_t i)
{
  return json_string_value(
      json_object_get(json_array_get(s->messages, i), "content"));
}

static void session_create_append_load(void **state)
{
  struct fixture *fx = *state;
  mvm_error err;
  json_t *meta = json_pack("{s:s}", "program", "agent.mvm");

  assert_int_equal(mvm_session_create(fx->store, "s-1", meta, &err), MVM_OK);
  append(fx->store, "s-1", 0, "user", "find the report", NULL);
  append(fx->store, "s-1", 1, "tool", "page text from the web", fx->web);
  append(fx->store, "s-1", 2, "assistant", "here it is", fx->web);

  mvm_session *s = load(fx->store, "s-1");
  assert_string_equal(s->id, "s-1");
  assert_string_equal(s->state, "running");
  assert_int_equal(s->count, 3);
  assert_int_equal(json_array_size(s->messages), 3);
  assert_string_equal(content_at(s, 0), "find the report");
  assert_string_equal(content_at(s, 2), "here it is");
  assert_null(s->labels[0]);
  assert_true(mvm_label_equal(s->labels[1], fx->web));
  assert_true(mvm_label_equal(s->labels[2], fx->web));
  assert_string_equal(
      json_string_value(json_object_get(s->meta, "program")), "agent.mvm");
  assert_int_equal(strlen(s->created), MVM_DB_TIME_SIZE - 1);
  mvm_session_free(s);
  json_decref(meta);
}

static void session_survives_reopen(void **state)
{
  struct fixture *fx = *state;
  mvm_error err;

  assert_int_equal(mvm_session_create(fx->store, "s-r", NULL, &err), MVM_OK);
  append(fx->store, "s-r", 0, "user", "one", fx->web);
  mvm_session_store_close(fx->store);
  fx->store = open_store(fx->db, NULL);

  mvm_session *s = load(fx->store, "s-r");
  assert_int_equal(s->count, 1);
  assert_true(mvm_label_equal(s->labels[0], fx->web));
  assert_int_equal(json_object_size(s->meta), 0);
  mvm_session_free(s);
  /* The resumed run continues at index 1. */
  append(fx->store, "s-r", 1, "assistant", "two", NULL);
}

static void session_index_must_be_next(void **state)
{
  struct fixture *fx = *state;
  mvm_error err;
  json_t *m = message("user", "x");

  assert_int_equal(mvm_session_create(fx->store, "s-i", NULL, &err), MVM_OK);
  append(fx->store, "s-i", 0, "user", "first", NULL);
  assert_int_equal(mvm_session_append(fx->store, "s-i", 0, m, NULL, &err),
                   MVM_ESTATE);
  assert_non_null(strstr(err.msg, "has 1 messages"));
  assert_int_equal(mvm_session_append(fx->store, "s-i", 5, m, NULL, &err),
                   MVM_ESTATE);
  mvm_session *s = load(fx->store, "s-i");
  assert_int_equal(s->count, 1);
  mvm_session_free(s);
  json_decref(m);
}

static void session_duplicate_and_unknown(void **state)
{
  struct fixture *fx = *state;
  mvm_session *s = NULL;
  mvm_error err;
  json_t *m = message("user", "x");

  assert_int_equal(mvm_session_create(fx->store, "s-d", NULL, &err), MVM_OK);
  assert_int_equal(mvm_session_create(fx->store, "s-d", NULL, &err),
                   MVM_ESTATE);
  assert_non_null(strstr(err.msg, "already exists"));
  assert_int_equal(mvm_session_append(fx->store, "nope", 0, m, NULL, &err),
                   MVM_ENOTFOUND);
  assert_int_equal(mvm_session_load(fx->store, "nope", &s, &err),
                   MVM_ENOTFOUND);
  assert_null(s);
  assert_int_equal(mvm_session_set_state(fx->store, "nope", "failed", &err),
                   MVM_ENOTFOUND);
  json_decref(m);
}

static void session_rejects_bad_input(void **state)
{
  struct fixture *fx = *state;
  mvm_error err;
  json_t *arr = json_array();
  json_t *m = message("user", "x");

  assert_int_equal(mvm_session_create(fx->store, "bad id", NULL, &err),
                   MVM_EINVAL);
  assert_non_null(strstr(err.msg, "session id 'bad id' is invalid"));
  assert_int_equal(mvm_session_create(fx->store, "s-b", arr, &err),
                   MVM_EINVAL);
  assert_int_equal(mvm_session_create(fx->store, "s-b", NULL, &err), MVM_OK);
  assert_int_equal(mvm_session_append(fx->store, "s-b", 0, arr, NULL, &err),
                   MVM_EINVAL);
  assert_int_equal(
      mvm_session_set_state(fx->store, "s-b", "paused", &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "state 'paused' is invalid"));
  json_decref(m);
  json_decref(arr);
}

static void session_state_and_list(void **state)
{
  struct fixture *fx = *state;
  json_t *list = NULL;
  mvm_error err;

  assert_int_equal(mvm_session_create(fx->store, "s-a", NULL, &err), MVM_OK);
  assert_int_equal(mvm_session_create(fx->store, "s-b", NULL, &err), MVM_OK);
  append(fx->store, "s-b", 0, "user", "x", NULL);
  assert_int_equal(
      mvm_session_set_state(fx->store, "s-a", MVM_SESSION_FINISHED, &err),
      MVM_OK);

  mvm_session *s = load(fx->store, "s-a");
  assert_string_equal(s->state, "finished");
  mvm_session_free(s);

  assert_int_equal(mvm_session_list(fx->store, 0, &list, &err), MVM_OK);
  assert_int_equal(json_array_size(list), 2);
  json_t *first = json_array_get(list, 0);
  assert_string_equal(json_string_value(json_object_get(first, "id")),
                      "s-a");
  json_t *second = json_array_get(list, 1);
  assert_int_equal(json_integer_value(json_object_get(second, "messages")),
                   1);
  json_decref(list);

  assert_int_equal(mvm_session_list(fx->store, 1, &list, &err), MVM_OK);
  assert_int_equal(json_array_size(list), 1);
  json_decref(list);
}

static void session_delete(void **state)
{
  struct fixture *fx = *state;
  mvm_session *s = NULL;
  bool found = false;
  mvm_error err;

  assert_int_equal(mvm_session_create(fx->store, "s-x", NULL, &err), MVM_OK);
  append(fx->store, "s-x", 0, "user", "x", NULL);
  assert_int_equal(mvm_session_delete(fx->store, "s-x", &found, &err),
                   MVM_OK);
  assert_true(found);
  assert_int_equal(mvm_session_load(fx->store, "s-x", &s, &err),
                   MVM_ENOTFOUND);
  assert_int_equal(mvm_session_delete(fx->store, "s-x", &found, &err),
                   MVM_OK);
  assert_false(found);
  /* The id can be used again, starting from an empty history. */
  assert_int_equal(mvm_session_create(fx->store, "s-x", NULL, &err), MVM_OK);
  append(fx->store, "s-x", 0, "user", "fresh", NULL);
}

static void session_message_limits(void **state)
{
  struct fixture *fx = *state;
  mvm_session_options opts = {.max_messages = 2,
                              .db.max_value_bytes = 200};
  mvm_session_store *small = open_store(fx->db, &opts);
  mvm_session *s = NULL;
  char text[300];
  mvm_error err;

  assert_int_equal(mvm_session_create(small, "s-l", NULL, &err), MVM_OK);
  memset(text, 't', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  json_t *big = message("user", text);
  assert_int_equal(mvm_session_append(small, "s-l", 0, big, NULL, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "over the limit of 200 bytes"));

  append(small, "s-l", 0, "user", "a", NULL);
  append(small, "s-l", 1, "user", "b", NULL);
  json_t *m = message("user", "c");
  assert_int_equal(mvm_session_append(small, "s-l", 2, m, NULL, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "limit of 2 messages"));

  /* A history written under a larger limit is refused on load. */
  append(fx->store, "s-l", 2, "user", "c", NULL);
  assert_int_equal(mvm_session_load(small, "s-l", &s, &err), MVM_ELIMIT);
  assert_null(s);

  json_decref(m);
  json_decref(big);
  mvm_session_store_close(small);
}

static void raw_exec(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  char *msg = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    fail_msg("raw SQL '%s': %s", sql, msg);
  sqlite3_close(db);
}

/* Returns SQLite's integrity report of the file: "ok" when sound. */
static const char *integrity_check(const char *path)
{
  static char result[256];
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;

  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
  snprintf(result, sizeof result, "%s", sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

static void session_damaged_history(void **state)
{
  struct fixture *fx = *state;
  mvm_session *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_session_create(fx->store, "s-g", NULL, &err), MVM_OK);
  append(fx->store, "s-g", 0, "user", "a", NULL);
  append(fx->store, "s-g", 1, "user", "b", NULL);
  append(fx->store, "s-g", 2, "user", "c", NULL);

  raw_exec(fx->db, "DELETE FROM session_messages WHERE idx = 1");
  assert_int_equal(mvm_session_load(fx->store, "s-g", &s, &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "message 1 of session 's-g' is missing"));

  raw_exec(fx->db, "UPDATE sessions SET message_count = 1 WHERE id = 's-g'");
  assert_int_equal(mvm_session_load(fx->store, "s-g", &s, &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "more messages than its count"));

  raw_exec(fx->db, "UPDATE sessions SET message_count = 3 WHERE id = 's-g';"
                   "INSERT INTO session_messages VALUES ('s-g', 1, 't',"
                   " 'not json', NULL)");
  assert_int_equal(mvm_session_load(fx->store, "s-g", &s, &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "message 1 of session 's-g'"));
  assert_null(s);
}

/* Writes one byte to fd after each append returns, so the parent can
 * count the completed appends. Runs until killed. */
static void append_forever(const char *db, int fd)
{
  mvm_session_store *store = NULL;
  mvm_error err;
  char text[512];

  memset(text, 'm', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  if (mvm_session_store_open(db, NULL, &store, &err))
    _exit(1);
  for (uint64_t i = 0;; i++) {
    json_t *m = json_pack("{s:s, s:s, s:I}", "role", "user", "content", text,
                          "n", (json_int_t)i);
    if (m == NULL || mvm_session_append(store, "s-k", i, m, NULL, &err))
      _exit(2);
    json_decref(m);
    if (write(fd, "+", 1) != 1)
      _exit(3);
  }
}

static void session_killed_mid_append(void **state)
{
  struct fixture *fx = *state;
  int fds[2];
  char buf[256];
  size_t acked = 0;
  mvm_error err;

  assert_int_equal(mvm_session_create(fx->store, "s-k", NULL, &err), MVM_OK);
  mvm_session_store_close(fx->store);
  fx->store = NULL;
  assert_int_equal(pipe(fds), 0);

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    append_forever(fx->db, fds[1]);
  }
  close(fds[1]);
  /* Kill the child after 200 acknowledged messages. It appends with no
   * pause, so it is most likely inside the next append. */
  while (acked < 200) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    assert_true(n > 0);
    acked += (size_t)n;
  }
  kill(pid, SIGKILL);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0)
    acked += (size_t)n;
  close(fds[0]);

  fx->store = open_store(fx->db, NULL);
  mvm_session *s = load(fx->store, "s-k");
  /* Every acknowledged message is there, and at most the one whose
   * acknowledgement the kill cut off. */
  assert_true(s->count >= acked);
  assert_true(s->count <= acked + 1);
  for (size_t i = 0; i < s->count; i++) {
    json_t *msg = json_array_get(s->messages, i);
    assert_int_equal(json_integer_value(json_object_get(msg, "n")), i);
  }
  size_t count = s->count;
  mvm_session_free(s);
  append(fx->store, "s-k", count, "user", "resumed", NULL);

  assert_string_equal(integrity_check(fx->db), "ok");
}

/* A child opens a write transaction, inserts a message row and is killed
 * before committing: the half-written append must vanish. */
static void session_killed_in_transaction(void **state)
{
  struct fixture *fx = *state;
  int fds[2];
  char c;
  mvm_error err;

  assert_int_equal(mvm_session_create(fx->store, "s-t", NULL, &err), MVM_OK);
  append(fx->store, "s-t", 0, "user", "committed", NULL);
  mvm_session_store_close(fx->store);
  fx->store = NULL;
  assert_int_equal(pipe(fds), 0);

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    sqlite3 *db = NULL;
    close(fds[0]);
    if (sqlite3_open(fx->db, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "BEGIN IMMEDIATE;"
                     "INSERT INTO session_messages VALUES ('s-t', 1, 't',"
                     " '{\"role\":\"user\",\"content\":\"lost\"}', NULL);"
                     "UPDATE sessions SET message_count = 2"
                     " WHERE id = 's-t'",
                     NULL, NULL, NULL) != SQLITE_OK)
      _exit(1);
    if (write(fds[1], "+", 1) != 1)
      _exit(2);
    pause();
    _exit(3);
  }
  close(fds[1]);
  assert_int_equal(read(fds[0], &c, 1), 1);
  kill(pid, SIGKILL);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  close(fds[0]);

  fx->store = open_store(fx->db, NULL);
  mvm_session *s = load(fx->store, "s-t");
  assert_int_equal(s->count, 1);
  assert_string_equal(content_at(s, 0), "committed");
  mvm_session_free(s);
  /* The dead writer's lock is gone. */
  append(fx->store, "s-t", 1, "user", "next", NULL);
}

#define FX(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      FX(session_create_append_load),
      FX(session_survives_reopen),
      FX(session_index_must_be_next),
      FX(session_duplicate_and_unknown),
      FX(session_rejects_bad_input),
      FX(session_state_and_list),
      FX(session_delete),
      FX(session_message_limits),
      FX(session_damaged_history),
      FX(session_killed_mid_append),
      FX(session_killed_in_transaction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
