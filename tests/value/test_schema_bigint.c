/* test_schema_bigint.c - integers beyond int64 through mvm_json_parse and
 * the schema validator: exact values are kept, inexact ones rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "mvm.h"
#include "value/schema.h"

static json_t *parse_ok(const char *text)
{
  json_t *json = NULL;
  mvm_error err;
  int rc = mvm_json_parse(text, strlen(text), NULL, "the test input", &json,
                          &err);
  if (rc != MVM_OK)
    fail_msg("%s does not parse: %s", text, err.msg);
  return json;
}

static void int64_edges_stay_integers(void **state)
{
  json_t *max = parse_ok("9223372036854775807");
  json_t *min = parse_ok("-9223372036854775808");

  assert_true(json_is_integer(max));
  assert_int_equal(json_integer_value(max), INT64_MAX);
  assert_true(json_is_integer(min));
  assert_int_equal(json_integer_value(min), INT64_MIN);
  json_decref(max);
  json_decref(min);
}

static void exact_big_integer_becomes_real(void **state)
{
  json_t *json = parse_ok("{\"n\": 18446744073709551616, "
                          "\"s\": \"12345678901234567890\", \"m\": -1e3}");
  json_t *n = json_object_get(json, "n");

  assert_true(json_is_real(n));
  assert_true(json_real_value(n) == 18446744073709551616.0);
  /* Digits inside strings and ordinary numbers are untouched. */
  assert_string_equal(json_string_value(json_object_get(json, "s")),
                      "12345678901234567890");
  assert_true(json_real_value(json_object_get(json, "m")) == -1000.0);
  json_decref(json);
}

static void inexact_big_integer_is_limit_error(void **state)
{
  const char *text = "{\"amount\": 12345678901234567890}";
  json_t *json = NULL;
  mvm_error err;

  assert_int_equal(mvm_json_parse(text, strlen(text), NULL, "tool-call "
                                  "arguments", &json, &err),
                   MVM_ELIMIT);
  assert_null(json);
  assert_non_null(strstr(err.msg, "tool-call arguments has the integer "
                                  "12345678901234567890 at line 1"));
  assert_non_null(strstr(err.msg, "send it as a string"));
}

static void big_negative_integer(void **state)
{
  json_t *json = parse_ok("[-18446744073709551616]");
  assert_true(json_real_value(json_array_get(json, 0)) ==
              -18446744073709551616.0);
  json_decref(json);

  const char *text = "[1,\n-9223372036854775809]";
  mvm_error err;
  assert_int_equal(mvm_json_parse(text, strlen(text), NULL, "x", &json, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "-9223372036854775809 at line 2"));
}

static void other_errors_still_parse_errors(void **state)
{
  const char *text = "[18446744073709551616, ]";
  json_t *json = NULL;
  mvm_error err;

  assert_int_equal(mvm_json_parse(text, strlen(text), NULL, "x", &json, &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "is not valid JSON"));
}

static void big_integer_checked_exactly(void **state)
{
  json_t *args = parse_ok("{\"amount\": 18446744073709551616}");
  json_t *schema = parse_ok("{\"properties\":{\"amount\":{\"type\":"
                            "\"integer\",\"maximum\":1000}}}");
  json_t *wide = parse_ok("{\"type\":\"integer\",\"maximum\":"
                          "18446744073709551616}");
  mvm_error err;

  assert_int_equal(mvm_schema_check(schema, args, &err), MVM_ESCHEMA);
  assert_non_null(strstr(err.msg, "/amount: maximum: 18446744073709551616 "
                                  "is greater than the maximum 1000"));
  assert_int_equal(mvm_schema_check(wide, json_object_get(args, "amount"),
                                    &err),
                   MVM_OK);
  /* INT64_MAX is below 2^64 even though a double rounds it to 2^63. */
  json_t *below = parse_ok("9223372036854775807");
  json_t *tight = parse_ok("{\"exclusiveMaximum\":9223372036854775808}");
  assert_int_equal(mvm_schema_check(tight, below, &err), MVM_OK);
  json_decref(tight);
  json_decref(below);
  json_decref(wide);
  json_decref(schema);
  json_decref(args);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(int64_edges_stay_integers),
      cmocka_unit_test(exact_big_integer_becomes_real),
      cmocka_unit_test(inexact_big_integer_is_limit_error),
      cmocka_unit_test(big_negative_integer),
      cmocka_unit_test(other_errors_still_parse_errors),
      cmocka_unit_test(big_integer_checked_exactly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
