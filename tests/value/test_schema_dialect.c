/* test_schema_dialect.c - "pattern" follows ECMA-262 where PCRE2 differs,
 * and format checks reject strings with an embedded NUL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mvm.h"
#include "value/schema.h"

/* One pattern case: pattern and subject are C strings (the subject is
 * UTF-8), and matches is true when ECMA-262 finds a match. */
typedef struct regex_case {
  const char *pattern;
  const char *subject;
  bool matches;
} regex_case;

static void run_regex_case(const regex_case *c)
{
  json_t *schema = json_pack("{s:s}", "pattern", c->pattern);
  json_t *subject = json_string(c->subject);
  mvm_error err;

  assert_non_null(schema);
  assert_non_null(subject);
  mvm_error_clear(&err);
  int rc = mvm_schema_check(schema, subject, &err);
  if (c->matches && rc != MVM_OK)
    fail_msg("pattern %s should match \"%s\": %d %s", c->pattern,
             c->subject, rc, err.msg);
  if (!c->matches && rc != MVM_ESCHEMA)
    fail_msg("pattern %s should not match \"%s\": %d %s", c->pattern,
             c->subject, rc, err.msg);
  json_decref(subject);
  json_decref(schema);
}

#define RUN_REGEX(cases)                                                      \
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)                 \
  run_regex_case(&cases[i])

static void dollar_is_end_only(void **state)
{
  static const regex_case cases[] = {
      {"^abc$", "abc", true},
      {"^abc$", "abc\n", false},
      {"^[a-z]+$", "rm\n", false},
      {"abc$", "xabc", true},
  };
  RUN_REGEX(cases);
}

static void property_escapes(void **state)
{
  static const regex_case cases[] = {
      {"^\\p{Letter}+$", "h\xc3\xa9llo", true},
      {"^\\p{Letter}+$", "123", false},
      {"^\\P{Letter}+$", "123", true},
      {"^\\p{L}+$", "abc", true},
      {"^\\p{General_Category=Uppercase_Letter}$", "A", true},
      {"^\\p{General_Category=Uppercase_Letter}$", "a", false},
      {"^\\p{gc=Lu}$", "A", true},
      {"^\\p{gc=Lu}$", "a", false},
      {"^\\p{Lowercase_Letter}$", "a", true},
      /* BENGALI DIGIT FOUR, BENGALI DIGIT TWO */
      {"^\\p{Decimal_Number}+$", "\xe0\xa7\xaa\xe0\xa7\xa8", true},
      {"^\\p{digit}+$", "\xe0\xa7\xaa\xe0\xa7\xa8", true},
      {"^\\p{Script=Greek}$", "\xcf\x80", true},
      {"^\\p{sc=Greek}$", "p", false},
      {"^[\\p{Letter}\\d]+$", "a1\xc3\xa9", true},
      {"\\p{Letter}cole", "l'\xc3\xa9" "cole", true},
  };
  RUN_REGEX(cases);
}

static void white_space_is_unicode(void **state)
{
  static const regex_case cases[] = {
      {"^\\s$", " ", true},
      {"^\\s$", "\t", true},
      {"^\\s$", "\v", true},
      {"^\\s$", "\xc2\xa0", true},     /* NO-BREAK SPACE */
      {"^\\s$", "\xef\xbb\xbf", true}, /* ZERO WIDTH NO-BREAK SPACE */
      {"^\\s$", "\xe2\x80\xa9", true}, /* PARAGRAPH SEPARATOR */
      {"^\\s$", "\xe2\x80\x83", true}, /* EM SPACE */
      {"^\\s$", "\x01", false},
      {"^\\s$", "\xe2\x80\x93", false}, /* EN DASH */
      {"^\\S$", "\xc2\xa0", false},
      {"^\\S$", "\xe2\x80\x83", false},
      {"^\\S$", "\xe2\x80\x93", true},
      {"^[\\s]$", "\xe2\x80\x83", true},
      {"^[^\\s]$", "\xe2\x80\x83", false},
      {"^[^\\s]$", "x", true},
  };
  RUN_REGEX(cases);
}

static void dot_and_classes(void **state)
{
  static const regex_case cases[] = {
      {"^.$", "\xc3\xa9", true},
      {"^.$", "\n", false},
      {"^.$", "\r", false},
      {"^.$", "\xe2\x80\xa8", false}, /* LINE SEPARATOR */
      {"^[.]$", ".", true},
      {"^[.]$", "x", false},
      {"^\\.$", ".", true},
      {"^\\.$", "x", false},
      {"a[]b", "ab", false},
      {"^a[^]b$", "a\nb", true},
      {"^[]a]$", "]a", false},
      {"^\\d$", "\xe0\xa7\xaa", false},
      {"^\\w$", "\xc3\xa9", false},
      {"[a-z]cole", "\xc3\xa9" "cole", false},
      {"[a-z]cole", "ecole", true},
  };
  RUN_REGEX(cases);
}

static void unicode_escapes(void **state)
{
  static const regex_case cases[] = {
      {"^\\u00e9$", "\xc3\xa9", true},
      {"^\\u00E9$", "e", false},
      {"^\\uD83D\\uDCA9$", "\xf0\x9f\x92\xa9", true},
      {"^\\u{1F4A9}$", "\xf0\x9f\x92\xa9", true},
      {"^[\\u0061-\\u0063]+$", "abc", true},
      {"^[\\u0061-\\u0063]+$", "abd", false},
  };
  RUN_REGEX(cases);
}

static void rewritten_pattern_errors(void **state)
{
  json_t *changed = json_pack("{s:s}", "pattern", "\\s(");
  json_t *same = json_pack("{s:s}", "pattern", "a(");
  mvm_schema *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_schema_compile(changed, &s, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "at # is not a valid regular expression"));
  assert_null(strstr(err.msg, "offset"));
  assert_int_equal(mvm_schema_compile(same, &s, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "at offset 2"));
  json_decref(same);
  json_decref(changed);
}

/* Checks that text[0..len), which contains a NUL, fails the format. */
static void assert_nul_rejected(const char *format, const char *text,
                                size_t len)
{
  json_t *schema = json_pack("{s:s}", "format", format);
  json_t *value = json_stringn(text, len);
  json_t *prefix = json_string(text);
  mvm_error err;

  assert_non_null(value);
  assert_int_equal(mvm_schema_check(schema, prefix, &err), MVM_OK);
  assert_int_equal(mvm_schema_check(schema, value, &err), MVM_ESCHEMA);
  assert_non_null(strstr(err.msg, "format:"));
  json_decref(prefix);
  json_decref(value);
  json_decref(schema);
}

static void formats_reject_nul(void **state)
{
  assert_nul_rejected("email", "ab@example.com\0x", 16);
  assert_nul_rejected("uri", "http://example.com/\0x", 21);
  assert_nul_rejected("hostname", "example.com\0x", 13);
  assert_nul_rejected("ipv4", "10.0.0.1\0", 9);
  assert_nul_rejected("ipv6", "::1\0", 4);
  assert_nul_rejected("date", "2024-01-15\0", 11);
  assert_nul_rejected("uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380\0", 37);
}

static void email_ipv6_tag_any_case(void **state)
{
  static const char *const valid[] = {
      "a@[IPv6:::1]",
      "a@[ipv6:::1]",
      "a@[IPV6:2001:db8::7]",
  };
  json_t *schema = json_pack("{s:s}", "format", "email");
  mvm_error err;

  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
    json_t *value = json_string(valid[i]);
    if (mvm_schema_check(schema, value, &err) != MVM_OK)
      fail_msg("%s should be a valid email: %s", valid[i], err.msg);
    json_decref(value);
  }
  json_decref(schema);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dollar_is_end_only),
      cmocka_unit_test(property_escapes),
      cmocka_unit_test(white_space_is_unicode),
      cmocka_unit_test(dot_and_classes),
      cmocka_unit_test(unicode_escapes),
      cmocka_unit_test(rewritten_pattern_errors),
      cmocka_unit_test(formats_reject_nul),
      cmocka_unit_test(email_ipv6_tag_any_case),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
