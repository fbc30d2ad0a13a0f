/* test_label.c - label construction, join, flow checks and JSON form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mvm.h"

static mvm_label *make(const char *const *src, size_t ns,
                       const char *const *rd, size_t nr)
{
  mvm_label *l = NULL;
  assert_int_equal(mvm_label_new(src, ns, rd, nr, &l), MVM_OK);
  return l;
}

static void bottom_is_null(void **state)
{
  mvm_label *l = make(NULL, 0, NULL, 0);
  assert_null(l);
  assert_true(mvm_label_is_trusted(l));
  assert_true(mvm_label_is_public(l));
}

static void join_unites_sources(void **state)
{
  const char *a_src[] = {"web", "email"};
  const char *b_src[] = {"email", "calendar"};
  mvm_label *a = make(a_src, 2, NULL, 0);
  mvm_label *b = make(b_src, 2, NULL, 0);
  mvm_label *j = NULL;

  assert_int_equal(mvm_label_join(a, b, &j), MVM_OK);
  assert_int_equal(mvm_label_source_count(j), 3);
  assert_string_equal(mvm_label_source(j, 0), "calendar");
  assert_string_equal(mvm_label_source(j, 1), "email");
  assert_string_equal(mvm_label_source(j, 2), "web");
  assert_false(mvm_label_is_trusted(j));
  mvm_label_unref(a);
  mvm_label_unref(b);
  mvm_label_unref(j);
}

static void join_intersects_readers(void **state)
{
  const char *a_rd[] = {"alice", "bob", "openai"};
  const char *b_rd[] = {"bob", "openai", "carol"};
  mvm_label *a = make(NULL, 0, a_rd, 3);
  mvm_label *b = make(NULL, 0, b_rd, 3);
  mvm_label *j = NULL;

  assert_int_equal(mvm_label_join(a, b, &j), MVM_OK);
  assert_int_equal(mvm_label_reader_count(j), 2);
  assert_true(mvm_label_readable_by(j, "bob"));
  assert_true(mvm_label_readable_by(j, "openai"));
  assert_false(mvm_label_readable_by(j, "alice"));
  assert_false(mvm_label_readable_by(j, "carol"));
  mvm_label_unref(a);
  mvm_label_unref(b);
  mvm_label_unref(j);
}

static void join_with_bottom_keeps_label(void **state)
{
  const char *src[] = {"web"};
  mvm_label *a = make(src, 1, NULL, 0);
  mvm_label *j = NULL;

  assert_int_equal(mvm_label_join(a, NULL, &j), MVM_OK);
  assert_true(mvm_label_equal(a, j));
  mvm_label_unref(j);
  assert_int_equal(mvm_label_join(NULL, a, &j), MVM_OK);
  assert_true(mvm_label_equal(a, j));
  mvm_label_unref(j);
  mvm_label_unref(a);
}

static void flows_to_checks_readers(void **state)
{
  const char *secret_rd[] = {"alice", "mail.internal"};
  const char *sink_ok[] = {"alice"};
  const char *sink_bad[] = {"alice", "evil.example"};
  mvm_label *secret = make(NULL, 0, secret_rd, 2);
  mvm_label *ok = make(NULL, 0, sink_ok, 1);
  mvm_label *bad = make(NULL, 0, sink_bad, 2);

  assert_true(mvm_label_flows_to(secret, ok));
  assert_false(mvm_label_flows_to(secret, bad));
  /* A sink anyone can read accepts only public data. */
  assert_false(mvm_label_flows_to(secret, NULL));
  assert_true(mvm_label_flows_to(NULL, bad));
  mvm_label_unref(secret);
  mvm_label_unref(ok);
  mvm_label_unref(bad);
}

static void nobody_reader_set(void **state)
{
  const char *none[] = {"x"};
  mvm_label *l = make(NULL, 0, none, 0);
  assert_non_null(l);
  assert_int_equal(mvm_label_reader_count(l), 0);
  assert_false(mvm_label_readable_by(l, "x"));
  mvm_label_unref(l);
}

static void endorse_drops_sources(void **state)
{
  const char *src[] = {"web", "email"};
  const char *drop[] = {"web", "email"};
  mvm_label *l = make(src, 2, NULL, 0);
  mvm_label *e = NULL;

  assert_int_equal(mvm_label_endorse(l, drop, 1, &e), MVM_OK);
  assert_int_equal(mvm_label_source_count(e), 1);
  assert_string_equal(mvm_label_source(e, 0), "email");
  mvm_label_unref(e);
  assert_int_equal(mvm_label_endorse(l, drop, 2, &e), MVM_OK);
  assert_null(e);
  mvm_label_unref(l);
}

static void declassify_adds_readers(void **state)
{
  const char *rd[] = {"alice"};
  const char *more[] = {"bob"};
  mvm_label *l = make(NULL, 0, rd, 1);
  mvm_label *d = NULL;

  assert_int_equal(mvm_label_declassify(l, more, 1, &d), MVM_OK);
  assert_true(mvm_label_readable_by(d, "bob"));
  assert_true(mvm_label_readable_by(d, "alice"));
  mvm_label_unref(l);
  mvm_label_unref(d);
}

static void json_round_trip(void **state)
{
  const char *src[] = {"web"};
  const char *rd[] = {"alice", "bob"};
  mvm_label *l = make(src, 1, rd, 2);
  mvm_label *back = NULL;
  json_t *j = mvm_label_to_json(l);
  mvm_error err;

  assert_non_null(j);
  assert_int_equal(mvm_label_from_json(j, &back, &err), MVM_OK);
  assert_true(mvm_label_equal(l, back));
  json_decref(j);
  mvm_label_unref(back);

  j = mvm_label_to_json(NULL);
  assert_string_equal(json_string_value(json_object_get(j, "readers")), "*");
  assert_int_equal(mvm_label_from_json(j, &back, &err), MVM_OK);
  assert_null(back);
  json_decref(j);
  mvm_label_unref(l);
}

static void json_rejects_bad_shape(void **state)
{
  mvm_label *l = NULL;
  mvm_error err;
  json_t *j = json_pack("{s:[i]}", "integrity", 3);

  assert_int_equal(mvm_label_from_json(j, &l, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "integrity"));
  json_decref(j);
}

static void format_is_readable(void **state)
{
  const char *src[] = {"web"};
  const char *rd[] = {"alice"};
  mvm_label *l = make(src, 1, rd, 1);
  char buf[64];

  assert_string_equal(mvm_label_format(l, buf, sizeof buf),
                      "untrusted(web)/{alice}");
  assert_string_equal(mvm_label_format(NULL, buf, sizeof buf),
                      "trusted/public");
  mvm_label_unref(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bottom_is_null),
      cmocka_unit_test(join_unites_sources),
      cmocka_unit_test(join_intersects_readers),
      cmocka_unit_test(join_with_bottom_keeps_label),
      cmocka_unit_test(flows_to_checks_readers),
      cmocka_unit_test(nobody_reader_set),
      cmocka_unit_test(endorse_drops_sources),
      cmocka_unit_test(declassify_adds_readers),
      cmocka_unit_test(json_round_trip),
      cmocka_unit_test(json_rejects_bad_shape),
      cmocka_unit_test(format_is_readable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
