/* test_redact.c - replacing secrets and secret-bearing fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "mvm.h"
#include "store/redact.h"

static mvm_redactor *redactor_with(const char *const *secrets, size_t n)
{
  mvm_redactor *r = NULL;
  mvm_error err;

  assert_int_equal(mvm_redactor_new(&r, &err), MVM_OK);
  for (size_t i = 0; i < n; i++) {
    int rc = mvm_redactor_add(r, secrets[i], strlen(secrets[i]), &err);
    if (rc)
      fail_msg("add '%s': %s", secrets[i], err.msg);
  }
  return r;
}

static char *redact(const mvm_redactor *r, const char *in)
{
  char *out = NULL;
  size_t len = 0;
  mvm_error err;

  assert_int_equal(mvm_redactor_string(r, in, strlen(in), &out, &len, &err),
                   MVM_OK);
  assert_int_equal(strlen(out), len);
  return out;
}

static void redact_marker_format(void **state)
{
  char marker[MVM_REDACT_MARKER_SIZE];

  /* SHA-256("abc") starts with ba7816bf. */
  mvm_redact_marker("abc", 3, marker);
  assert_string_equal(marker, "[redacted:sha256:ba7816bf]");
  assert_int_equal(strlen(marker), MVM_REDACT_MARKER_SIZE - 1);
}

static void redact_string_every_occurrence(void **state)
{
  const char *secrets[] = {"s3cret-value"};
  mvm_redactor *r = redactor_with(secrets, 1);
  char marker[MVM_REDACT_MARKER_SIZE];
  char want[256];

  mvm_redact_marker("s3cret-value", 12, marker);
  snprintf(want, sizeof want, "a %s b %s%s c", marker, marker, marker);
  char *out = redact(r, "a s3cret-value b s3cret-values3cret-value c");
  assert_string_equal(out, want);
  free(out);

  out = redact(r, "nothing to hide");
  assert_string_equal(out, "nothing to hide");
  free(out);
  out = redact(r, "");
  assert_string_equal(out, "");
  free(out);
  mvm_redactor_free(r);
}

static void redact_longest_secret_first(void **state)
{
  const char *secrets[] = {"token-abc", "token-abcdef"};
  mvm_redactor *r = redactor_with(secrets, 2);
  char marker[MVM_REDACT_MARKER_SIZE];
  char want[128];

  mvm_redact_marker("token-abcdef", 12, marker);
  snprintf(want, sizeof want, "[%s]", marker);
  char *out = redact(r, "[token-abcdef]");
  assert_string_equal(out, want);
  free(out);
  mvm_redactor_free(r);
}

static void redact_null_redactor_copies(void **state)
{
  char *out = redact(NULL, "plain text");
  assert_string_equal(out, "plain text");
  free(out);
}

static void redact_add_limits(void **state)
{
  mvm_redactor *r = NULL;
  mvm_error err;
  char big[MVM_REDACT_MAX_SECRET_BYTES + 2];
  char name[32];

  assert_int_equal(mvm_redactor_new(&r, &err), MVM_OK);
  assert_int_equal(mvm_redactor_add(r, "abc", 3, &err), MVM_EINVAL);
  assert_non_null(strstr(err.msg, "too short"));
  memset(big, 'k', sizeof big);
  assert_int_equal(mvm_redactor_add(r, big, sizeof big - 1, &err),
                   MVM_ELIMIT);
  assert_int_equal(mvm_redactor_add(r, big, MVM_REDACT_MAX_SECRET_BYTES,
                                    &err),
                   MVM_OK);

  /* Duplicates do not count twice. */
  assert_int_equal(mvm_redactor_add(r, "dup-secret", 10, &err), MVM_OK);
  assert_int_equal(mvm_redactor_add(r, "dup-secret", 10, &err), MVM_OK);
  assert_int_equal(mvm_redactor_count(r), 2);
  for (size_t i = 2; i < MVM_REDACT_MAX_SECRETS; i++) {
    snprintf(name, sizeof name, "secret-%zu", i);
    assert_int_equal(mvm_redactor_add(r, name, strlen(name), &err), MVM_OK);
  }
  assert_int_equal(mvm_redactor_add(r, "one-too-many", 12, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "more than 2048"));
  mvm_redactor_free(r);
}

static void redact_secret_field_names(void **state)
{
  const char *yes[] = {"authorization", "Authorization", "api_key",
                       "API-KEY",       "x-api-key",     "X_Api_Key",
                       "password",      "token",         "access_token",
                       "Set-Cookie",    "client_secret"};
  const char *no[] = {"tokens", "max_tokens", "input_tokens", "key",
                      "author", "path",       ""};

  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (!mvm_redact_secret_field(yes[i]))
      fail_msg("'%s' should be a secret field", yes[i]);
  }
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
    if (mvm_redact_secret_field(no[i]))
      fail_msg("'%s' should not be a secret field", no[i]);
  }
}

static void redact_json_walks_everything(void **state)
{
  const char *secrets[] = {"pw-9981-zz"};
  mvm_redactor *r = redactor_with(secrets, 1);
  mvm_error err;
  json_t *out = NULL;
  json_t *in = json_pack("{s:[s, i, {s:s}], s:s, s:{s:i}, s:n, s:b}", "list",
                         "has pw-9981-zz inside", 42, "deep", "pw-9981-zz",
                         "pw-9981-zz", "secret as key", "Token", "n", 5,
                         "nothing", "flag", 1);

  assert_int_equal(mvm_redactor_json(r, in, &out, &err), MVM_OK);
  char *text = mvm_json_dump_canonical(out);
  assert_null(strstr(text, "pw-9981-zz"));
  assert_non_null(strstr(text, "\"list\":[\"has [redacted:sha256:"));
  assert_non_null(strstr(text, "42"));
  assert_non_null(strstr(text, "\"flag\":true"));
  assert_non_null(strstr(text, "\"nothing\":null"));
  /* The Token field's object value became one marker string. */
  assert_true(json_is_string(json_object_get(out, "Token")));
  free(text);

  /* The input is untouched. */
  assert_string_equal(
      json_string_value(json_object_get(in, "pw-9981-zz")), "secret as key");
  json_decref(out);
  json_decref(in);
  mvm_redactor_free(r);
}

static void redact_json_depth_limit(void **state)
{
  json_t *root = json_array();
  json_t *cur = root;
  json_t *out = NULL;
  mvm_error err;

  for (int i = 0; i < MVM_REDACT_MAX_DEPTH + 5; i++) {
    json_t *next = json_array();
    json_array_append_new(cur, next);
    cur = next;
  }
  assert_int_equal(mvm_redactor_json(NULL, root, &out, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "deeper than the limit"));
  assert_null(out);
  json_decref(root);
}

static void redact_split_utf8_falls_back(void **state)
{
  /* The secret ends inside "é" (0xc3 0xa9): cutting there would leave a
   * lone continuation byte, so the whole string becomes one marker. */
  const char secret[] = "caf\xc3";
  mvm_redactor *r = NULL;
  mvm_error err;
  json_t *out = NULL;
  char marker[MVM_REDACT_MARKER_SIZE];

  assert_int_equal(mvm_redactor_new(&r, &err), MVM_OK);
  assert_int_equal(mvm_redactor_add(r, secret, 4, &err), MVM_OK);
  json_t *in = json_pack("{s:s}", "v", "caf\xc3\xa9 au lait");
  assert_non_null(in);
  assert_int_equal(mvm_redactor_json(r, in, &out, &err), MVM_OK);
  mvm_redact_marker("caf\xc3\xa9 au lait", 13, marker);
  assert_string_equal(json_string_value(json_object_get(out, "v")), marker);
  json_decref(out);
  json_decref(in);
  mvm_redactor_free(r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(redact_marker_format),
      cmocka_unit_test(redact_string_every_occurrence),
      cmocka_unit_test(redact_longest_secret_first),
      cmocka_unit_test(redact_null_redactor_copies),
      cmocka_unit_test(redact_add_limits),
      cmocka_unit_test(redact_secret_field_names),
      cmocka_unit_test(redact_json_walks_everything),
      cmocka_unit_test(redact_json_depth_limit),
      cmocka_unit_test(redact_split_utf8_falls_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
