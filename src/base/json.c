/* json.c - bounded JSON parsing over jansson. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"

int mvm_json_depth(const char *text, size_t len, int stop)
{
  int depth = 0;
  int max = 0;
  bool in_string = false;

  for (size_t i = 0; i < len; i++) {
    char c = text[i];

    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      depth++;
      if (depth > max)
        max = depth;
      if (max >= stop)
        return stop;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return max;
}

/* Big integers. jansson stores integers as int64 and rejects a literal
 * outside that range. A whole number that a double represents exactly
 * (such as 18446744073709551616 = 2^64) is rewritten as "<digits>.0" and
 * parsed as a real of the same value. Any other such literal fails with
 * MVM_ELIMIT, because a double would silently change its digits. */

#define BIG_INTEGER_MAX_DIGITS 400

/* Checks whether the integer literal tok[0..n) lies outside int64. */
static bool outside_int64(const char *tok, size_t n)
{
  bool negative = tok[0] == '-';
  const char *digits = tok + negative;
  size_t count = n - negative;
  const char *max = negative ? "9223372036854775808" : "9223372036854775807";

  if (count != 19)
    return count > 19;
  return memcmp(digits, max, 19) > 0;
}

/* Checks whether a double represents the integer literal tok[0..n)
 * exactly. */
static bool exact_as_double(const char *tok, size_t n)
{
  char literal[BIG_INTEGER_MAX_DIGITS + 2];
  char printed[BIG_INTEGER_MAX_DIGITS + 8];

  if (n > BIG_INTEGER_MAX_DIGITS)
    return false;
  memcpy(literal, tok, n);
  literal[n] = '\0';
  double d = strtod(literal, NULL);
  if (d == HUGE_VAL || d == -HUGE_VAL)
    return false;
  snprintf(printed, sizeof printed, "%.0f", d);
  return strcmp(printed, literal) == 0;
}

/* Length of the number token at text[i..len), or 0 when none starts
 * there. *whole is set when it has no fraction or exponent. */
static size_t number_token(const char *text, size_t len, size_t i,
                           bool *whole)
{
  size_t j = i;

  *whole = true;
  if (j < len && text[j] == '-')
    j++;
  if (j >= len || text[j] < '0' || text[j] > '9')
    return 0;
  while (j < len && ((text[j] >= '0' && text[j] <= '9') || text[j] == '.' ||
                     text[j] == 'e' || text[j] == 'E' || text[j] == '+' ||
                     (text[j] == '-' && j > i))) {
    if (text[j] < '0' || text[j] > '9')
      *whole = false;
    j++;
  }
  return j - i;
}

static int parse_big_integers(const char *text, size_t len, const char *what,
                              json_t **out, mvm_error *err)
{
  mvm_buf buf;
  bool in_string = false;
  int line = 1;
  int rc = MVM_OK;

  mvm_buf_init(&buf, 0);
  for (size_t i = 0; rc == MVM_OK && i < len;) {
    char c = text[i];
    bool whole;
    size_t n = in_string ? 0 : number_token(text, len, i, &whole);

    if (n > 0 && whole && outside_int64(text + i, n)) {
      if (!exact_as_double(text + i, n)) {
        rc = mvm_error_set(err, MVM_ELIMIT, "json",
                           "%s has the integer %.*s%s at line %d, outside "
                           "the 64-bit range mvm keeps exactly; send it as "
                           "a string",
                           what, n > 40 ? 40 : (int)n, text + i,
                           n > 40 ? "..." : "", line);
        break;
      }
      rc = mvm_buf_append(&buf, text + i, n);
      if (rc == MVM_OK)
        rc = mvm_buf_append(&buf, ".0", 2);
      i += n;
      continue;
    }
    if (n > 0) {
      rc = mvm_buf_append(&buf, text + i, n);
      i += n;
      continue;
    }
    if (in_string && c == '\\' && i + 1 < len) {
      rc = mvm_buf_append(&buf, text + i, 2);
      i += 2;
      continue;
    }
    if (c == '"')
      in_string = !in_string;
    else if (c == '\n')
      line++;
    rc = mvm_buf_append(&buf, &c, 1);
    i++;
  }

  if (rc == MVM_OK) {
    json_error_t jerr;
    json_t *json = json_loadb(buf.data, buf.len, JSON_DECODE_ANY, &jerr);
    /* Columns count the ".0" added to big integers on the same line. */
    if (json == NULL)
      rc = mvm_error_set(err, MVM_EPARSE, "json",
                         "%s is not valid JSON: %s at line %d, column %d",
                         what, jerr.text, jerr.line, jerr.column);
    else
      *out = json;
  } else if (rc == MVM_ENOMEM) {
    mvm_error_set(err, rc, "json", "out of memory parsing %s", what);
  }
  mvm_buf_free(&buf);
  return rc;
}

int mvm_json_parse(const char *text, size_t len, const mvm_json_limits *limits,
                   const char *what, json_t **out, mvm_error *err)
{
  size_t max_bytes = MVM_JSON_DEFAULT_MAX_BYTES;
  int max_depth = MVM_JSON_DEFAULT_MAX_DEPTH;

  if (limits != NULL && limits->max_bytes != 0)
    max_bytes = limits->max_bytes;
  if (limits != NULL && limits->max_depth != 0)
    max_depth = limits->max_depth;
  if (what == NULL)
    what = "JSON input";

  if (len > max_bytes)
    return mvm_error_set(err, MVM_ELIMIT, "json",
                         "%s is %zu bytes, over the limit of %zu bytes",
                         what, len, max_bytes);
  if (mvm_json_depth(text, len, max_depth + 1) > max_depth)
    return mvm_error_set(err, MVM_ELIMIT, "json",
                         "%s nests deeper than the limit of %d levels", what,
                         max_depth);

  json_error_t jerr;
  json_t *json = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
  if (json == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
    return parse_big_integers(text, len, what, out, err);
  if (json == NULL)
    return mvm_error_set(err, MVM_EPARSE, "json",
                         "%s is not valid JSON: %s at line %d, column %d",
                         what, jerr.text, jerr.line, jerr.column);
  *out = json;
  return MVM_OK;
}

int mvm_json_load_file(const char *path, const mvm_json_limits *limits,
                       json_t **out, mvm_error *err)
{
  size_t max_bytes = MVM_JSON_DEFAULT_MAX_BYTES;
  if (limits != NULL && limits->max_bytes != 0)
    max_bytes = limits->max_bytes;

  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return mvm_error_set(err, errno == ENOENT ? MVM_ENOTFOUND : MVM_EIO,
                         "json", "cannot open '%s': %s", path,
                         strerror(errno));

  mvm_buf buf;
  mvm_buf_init(&buf, max_bytes);
  char chunk[65536];
  size_t n;
  int rc = MVM_OK;

  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    rc = mvm_buf_append(&buf, chunk, n);
    if (rc)
      break;
  }
  if (rc == MVM_OK && ferror(f))
    rc = mvm_error_set(err, MVM_EIO, "json", "cannot read '%s': %s", path,
                       strerror(errno));
  else if (rc == MVM_ELIMIT)
    mvm_error_set(err, rc, "json", "'%s' is over the limit of %zu bytes",
                  path, max_bytes);
  else if (rc)
    mvm_error_set(err, rc, "json", "cannot read '%s': out of memory", path);
  fclose(f);

  if (rc == MVM_OK)
    rc = mvm_json_parse(buf.data ? buf.data : "", buf.len, limits, path, out,
                        err);
  mvm_buf_free(&buf);
  return rc;
}

char *mvm_json_dump_canonical(const json_t *json)
{
  return json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}
