/* test_value.c - runtime values: sharing, histories with per-message
 * labels (copy on write, trimming, storage form) and toolsets (offered
 * names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "value/value.h"

static mvm_label *source(const char *s)
{
  const char *v[] = {s};
  mvm_label *l = NULL;
  assert_int_equal(mvm_label_new(v, 1, NULL, 0, &l), MVM_OK);
  return l;
}

static json_t *msg(const char *role, const char *content)
{
  return json_pack("{s:s,s:s}", "role", role, "content", content);
}

static const char *role_at(const mvm_history *h, size_t i)
{
  return json_string_value(json_object_get(mvm_history_message(h, i),
                                           "role"));
}

static const char *content_at(const mvm_history *h, size_t i)
{
  return json_string_value(json_object_get(mvm_history_message(h, i),
                                           "content"));
}

static void copy_shares_and_clear_releases(void **state)
{
  mvm_value a;
  mvm_value b;
  mvm_label *web = source("web");

  mvm_value_init(&a);
  mvm_value_init(&b);
  mvm_value_set_json(&a, json_string("x"), web);
  mvm_value_copy(&b, &a);
  assert_ptr_equal(a.json, b.json);
  assert_true(mvm_label_equal(a.label, b.label));

  mvm_value_clear(&a);
  assert_int_equal(a.kind, MVM_VALUE_UNSET);
  assert_string_equal(json_string_value(b.json), "x");

  mvm_value_move(&a, &b);
  assert_int_equal(b.kind, MVM_VALUE_UNSET);
  assert_int_equal(a.kind, MVM_VALUE_JSON);
  mvm_value_clear(&a);
  mvm_label_unref(web);
}

static void join_label_accumulates(void **state)
{
  mvm_value v;
  mvm_label *web = source("web");
  mvm_label *mail = source("mail");

  mvm_value_init(&v);
  mvm_value_set_json(&v, json_true(), web);
  assert_int_equal(mvm_value_join_label(&v, mail), MVM_OK);
  assert_int_equal(mvm_label_source_count(v.label), 2);
  assert_int_equal(mvm_value_join_label(&v, NULL), MVM_OK);
  assert_int_equal(mvm_label_source_count(v.label), 2);
  mvm_value_clear(&v);
  mvm_label_unref(web);
  mvm_label_unref(mail);
}

static void history_copy_on_write(void **state)
{
  mvm_history *a = NULL;
  assert_int_equal(mvm_history_new(&a), MVM_OK);
  assert_int_equal(mvm_history_append(&a, msg("user", "one"), NULL), MVM_OK);

  mvm_history *b = mvm_history_ref(a);
  assert_int_equal(mvm_history_append(&b, msg("user", "two"), NULL), MVM_OK);
  assert_ptr_not_equal(a, b);
  assert_int_equal(mvm_history_len(a), 1);
  assert_int_equal(mvm_history_len(b), 2);

  /* With one owner the append happens in place. */
  mvm_history *before = b;
  assert_int_equal(mvm_history_append(&b, msg("user", "3"), NULL), MVM_OK);
  assert_ptr_equal(before, b);
  mvm_history_unref(a);
  mvm_history_unref(b);
}

static void history_label_is_join_of_messages(void **state)
{
  mvm_history *h = NULL;
  mvm_label *web = source("web");
  mvm_label *joined = NULL;
  mvm_value v;

  assert_int_equal(mvm_history_new(&h), MVM_OK);
  assert_int_equal(mvm_history_append(&h, msg("user", "a"), NULL), MVM_OK);
  assert_int_equal(mvm_history_join_labels(h, &joined), MVM_OK);
  assert_null(joined);
  assert_int_equal(mvm_history_append(&h, msg("tool", "b"), web), MVM_OK);
  assert_int_equal(mvm_history_join_labels(h, &joined), MVM_OK);
  assert_true(mvm_label_equal(joined, web));
  mvm_label_unref(joined);

  mvm_value_init(&v);
  v.kind = MVM_VALUE_HISTORY;
  v.history = h;
  assert_int_equal(mvm_value_label(&v, &joined), MVM_OK);
  assert_true(mvm_label_equal(joined, web));
  mvm_label_unref(joined);
  mvm_value_clear(&v);
  mvm_label_unref(web);
}

/* system, user 1, assistant 2 (tool call), tool 3, user 4 */
static mvm_history *sample(mvm_label *web)
{
  mvm_history *h = NULL;
  assert_int_equal(mvm_history_new(&h), MVM_OK);
  assert_int_equal(mvm_history_append(&h, msg("system", "sys"), NULL),
                   MVM_OK);
  assert_int_equal(mvm_history_append(&h, msg("user", "one"), NULL),
                   MVM_OK);
  assert_int_equal(mvm_history_append(&h, msg("assistant", "two"), NULL),
                   MVM_OK);
  assert_int_equal(mvm_history_append(&h, msg("tool", "three"), web),
                   MVM_OK);
  assert_int_equal(mvm_history_append(&h, msg("user", "four"), NULL),
                   MVM_OK);
  return h;
}

static void trim_keeps_system_and_labels(void **state)
{
  mvm_label *web = source("web");
  mvm_history *h = sample(web);

  assert_int_equal(mvm_history_trim(&h, 4, SIZE_MAX), MVM_OK);
  assert_int_equal(mvm_history_len(h), 4);
  assert_string_equal(role_at(h, 0), "system");
  assert_string_equal(content_at(h, 1), "two");
  assert_string_equal(content_at(h, 2), "three");
  assert_string_equal(content_at(h, 3), "four");
  /* The kept tool result keeps its label. */
  assert_true(mvm_label_equal(mvm_history_message_label(h, 2), web));
  assert_null(mvm_history_message_label(h, 3));
  mvm_history_unref(h);
  mvm_label_unref(web);
}

static void trim_drops_orphan_tool_results(void **state)
{
  mvm_label *web = source("web");
  mvm_history *h = sample(web);
  mvm_label *joined = NULL;

  assert_int_equal(mvm_history_trim(&h, 2, SIZE_MAX), MVM_OK);
  assert_int_equal(mvm_history_len(h), 2);
  assert_string_equal(role_at(h, 0), "system");
  assert_string_equal(content_at(h, 1), "four");

  /* The untrusted message is gone, and with it the taint. */
  assert_int_equal(mvm_history_join_labels(h, &joined), MVM_OK);
  assert_null(joined);
  mvm_history_unref(h);

  /* Keeping 3 would leave the tool result first, without the assistant
   * message that asked for it, so it goes too. */
  h = sample(web);
  assert_int_equal(mvm_history_trim(&h, 3, SIZE_MAX), MVM_OK);
  assert_int_equal(mvm_history_len(h), 2);
  assert_string_equal(role_at(h, 1), "user");
  mvm_history_unref(h);
  h = sample(web);
  assert_int_equal(mvm_history_trim(&h, 1, SIZE_MAX), MVM_OK);
  assert_int_equal(mvm_history_len(h), 2);
  assert_string_equal(content_at(h, 1), "four");
  mvm_history_unref(h);
  mvm_label_unref(web);
}

static void trim_by_characters(void **state)
{
  mvm_label *web = source("web");
  mvm_history *h = sample(web);

  /* sys(3) + four(4) = 7 fits; adding three(5) does not. */
  assert_int_equal(mvm_history_chars(h), 3 + 3 + 3 + 5 + 4);
  assert_int_equal(mvm_history_trim(&h, SIZE_MAX, 11), MVM_OK);
  assert_int_equal(mvm_history_len(h), 2);
  assert_int_equal(mvm_history_chars(h), 7);

  /* The newest message stays whatever the budget. */
  assert_int_equal(mvm_history_trim(&h, SIZE_MAX, 0), MVM_OK);
  assert_int_equal(mvm_history_len(h), 2);
  mvm_history_unref(h);
  mvm_label_unref(web);
}

static void trim_does_not_touch_shared_copy(void **state)
{
  mvm_label *web = source("web");
  mvm_history *a = sample(web);
  mvm_history *b = mvm_history_ref(a);

  assert_int_equal(mvm_history_trim(&b, 2, SIZE_MAX), MVM_OK);
  assert_int_equal(mvm_history_len(a), 5);
  assert_int_equal(mvm_history_len(b), 2);
  mvm_history_unref(a);
  mvm_history_unref(b);
  mvm_label_unref(web);
}

static void history_storage_round_trip(void **state)
{
  mvm_label *web = source("web");
  mvm_history *h = sample(web);
  mvm_history *back = NULL;
  mvm_error err;

  json_t *json = mvm_history_to_json(h);
  assert_non_null(json);
  assert_int_equal(mvm_history_from_json(json, &back, &err), MVM_OK);
  assert_int_equal(mvm_history_len(back), 5);
  for (size_t i = 0; i < 5; i++) {
    assert_true(json_equal(mvm_history_message(h, i),
                           mvm_history_message(back, i)));
    assert_true(mvm_label_equal(mvm_history_message_label(h, i),
                                mvm_history_message_label(back, i)));
  }
  json_decref(json);
  mvm_history_unref(back);

  json = json_pack("[{s:{s:s}}]", "message", "content", "no role");
  assert_int_equal(mvm_history_from_json(json, &back, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "item 0"));
  json_decref(json);
  json = json_string("x");
  assert_int_equal(mvm_history_from_json(json, &back, &err), MVM_EINVAL);
  json_decref(json);
  mvm_history_unref(h);
  mvm_label_unref(web);
}

static void offered_names(void **state)
{
  char out[MVM_OFFERED_NAME_MAX + 1];
  char long_tool[100];

  mvm_tool_offered_name("std", "echo", out);
  assert_string_equal(out, "std__echo");
  mvm_tool_offered_name("my.server", "read file!", out);
  assert_string_equal(out, "my_server__read_file_");
  memset(long_tool, 'x', sizeof long_tool - 1);
  long_tool[sizeof long_tool - 1] = '\0';
  mvm_tool_offered_name("s", long_tool, out);
  assert_int_equal(strlen(out), MVM_OFFERED_NAME_MAX);
}

static void toolset_dedupes_and_resolves(void **state)
{
  mvm_toolset *ts = NULL;
  json_t *desc = json_pack("{s:s,s:s}", "name", "a.b", "description", "d");

  assert_int_equal(mvm_toolset_new(&ts), MVM_OK);
  assert_int_equal(mvm_toolset_add(&ts, "s", "a.b", desc), MVM_OK);
  assert_int_equal(mvm_toolset_add(&ts, "s", "a.b", desc), MVM_OK);
  assert_int_equal(mvm_toolset_count(ts), 1);
  /* "s.a_b" offers as s__a_b too: it gets a suffix. */
  assert_int_equal(mvm_toolset_add(&ts, "s", "a_b", desc), MVM_OK);
  assert_int_equal(mvm_toolset_count(ts), 2);
  assert_string_equal(mvm_toolset_get(ts, 0)->offered, "s__a_b");
  assert_string_equal(mvm_toolset_get(ts, 1)->offered, "s__a_b_2");
  assert_string_equal(mvm_toolset_find_offered(ts, "s__a_b_2")->name, "a_b");
  assert_string_equal(mvm_toolset_get(ts, 0)->full, "s.a.b");
  assert_null(mvm_toolset_find_offered(ts, "s__a"));

  json_t *offer = mvm_toolset_offer(ts);
  assert_int_equal(json_array_size(offer), 2);
  json_t *first = json_array_get(offer, 0);
  assert_string_equal(json_string_value(json_object_get(first, "name")),
                      "s__a_b");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(first, "input_schema"), "type")),
                      "object");
  json_decref(offer);

  /* Copy on write, as for histories. */
  mvm_toolset *shared = mvm_toolset_ref(ts);
  assert_int_equal(mvm_toolset_add(&shared, "t", "x", desc), MVM_OK);
  assert_int_equal(mvm_toolset_count(ts), 2);
  assert_int_equal(mvm_toolset_count(shared), 3);
  mvm_toolset_unref(shared);
  mvm_toolset_unref(ts);
  json_decref(desc);
}

static void utf8_length_counts_code_points(void **state)
{
  assert_int_equal(mvm_utf8_length("", 0), 0);
  assert_int_equal(mvm_utf8_length("abc", 3), 3);
  assert_int_equal(mvm_utf8_length("h\xc3\xa9llo", 6), 5);
  assert_int_equal(mvm_utf8_length("\xf0\x9f\x99\x82", 4), 1);
}

static void describe_each_kind(void **state)
{
  mvm_value v;
  mvm_value_init(&v);
  json_t *d = mvm_value_describe(&v);
  assert_true(json_is_true(json_object_get(d, "unset")));
  json_decref(d);

  assert_int_equal(mvm_history_new(&v.history), MVM_OK);
  v.kind = MVM_VALUE_HISTORY;
  d = mvm_value_describe(&v);
  assert_int_equal(json_integer_value(json_object_get(d, "history")), 0);
  json_decref(d);
  mvm_value_clear(&v);
  assert_string_equal(mvm_value_kind_name(MVM_VALUE_TOOLSET), "toolset");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(copy_shares_and_clear_releases),
      cmocka_unit_test(join_label_accumulates),
      cmocka_unit_test(history_copy_on_write),
      cmocka_unit_test(history_label_is_join_of_messages),
      cmocka_unit_test(trim_keeps_system_and_labels),
      cmocka_unit_test(trim_drops_orphan_tool_results),
      cmocka_unit_test(trim_by_characters),
      cmocka_unit_test(trim_does_not_touch_shared_copy),
      cmocka_unit_test(history_storage_round_trip),
      cmocka_unit_test(offered_names),
      cmocka_unit_test(toolset_dedupes_and_resolves),
      cmocka_unit_test(utf8_length_counts_code_points),
      cmocka_unit_test(describe_each_kind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
