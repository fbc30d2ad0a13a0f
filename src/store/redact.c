/* redact.c - replacing registered secrets and secret-bearing fields with
 * markers. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "base/json.h"
#include "store/redact.h"

struct secret {
  unsigned char *bytes;
  size_t len;
};

struct mvm_redactor {
  /* Sorted by length, longest first, so a secret that contains another is
   * replaced whole. */
  struct secret secrets[MVM_REDACT_MAX_SECRETS];
  size_t count;
  /* first[c] is true when some secret starts with byte c, and pair[i]
   * when one starts with the two bytes whose value is i, because every
   * secret has at least MVM_REDACT_MIN_SECRET_BYTES. They filter positions
   * before any comparison. So text that starts no secret costs two
   * lookups a byte, however many secrets there are. */
  bool first[256];
  bool pair[256 * 256];
};

/* Field names, lower case with '-' and '_' removed, whose values are
 * always redacted. */
static const char *const secret_fields[] = {
    "accesstoken",  "apikey",     "authorization", "bearertoken",
    "clientsecret", "cookie",     "idtoken",       "passwd",
    "password",     "privatekey", "proxyauthorization",
    "refreshtoken", "secret",     "sessiontoken",  "setcookie",
    "token",        "xapikey",    "xauthtoken",
};

int mvm_redactor_new(mvm_redactor **out, mvm_error *err)
{
  mvm_redactor *r = calloc(1, sizeof *r);
  if (r == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "redact",
                         "out of memory creating a redactor");
  *out = r;
  return MVM_OK;
}

void mvm_redactor_free(mvm_redactor *r)
{
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->count; i++) {
    sodium_memzero(r->secrets[i].bytes, r->secrets[i].len);
    free(r->secrets[i].bytes);
  }
  free(r);
}

size_t mvm_redactor_count(const mvm_redactor *r)
{
  return r == NULL ? 0 : r->count;
}

int mvm_redactor_add(mvm_redactor *r, const void *secret, size_t len,
                     mvm_error *err)
{
  size_t at;

  if (len < MVM_REDACT_MIN_SECRET_BYTES)
    return mvm_error_set(err, MVM_EINVAL, "redact",
                         "a secret of %zu bytes is too short to redact "
                         "safely; register secrets of at least %d bytes",
                         len, MVM_REDACT_MIN_SECRET_BYTES);
  if (len > MVM_REDACT_MAX_SECRET_BYTES)
    return mvm_error_set(err, MVM_ELIMIT, "redact",
                         "a secret of %zu bytes is over the limit of %d "
                         "bytes",
                         len, MVM_REDACT_MAX_SECRET_BYTES);
  for (size_t i = 0; i < r->count; i++) {
    if (r->secrets[i].len == len &&
        memcmp(r->secrets[i].bytes, secret, len) == 0)
      return MVM_OK;
  }
  if (r->count == MVM_REDACT_MAX_SECRETS)
    return mvm_error_set(err, MVM_ELIMIT, "redact",
                         "cannot register more than %d secrets",
                         MVM_REDACT_MAX_SECRETS);

  unsigned char *copy = malloc(len);
  if (copy == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "redact",
                         "out of memory registering a secret");
  memcpy(copy, secret, len);

  for (at = 0; at < r->count && r->secrets[at].len >= len; at++)
    ;
  memmove(&r->secrets[at + 1], &r->secrets[at],
          (r->count - at) * sizeof r->secrets[0]);
  r->secrets[at].bytes = copy;
  r->secrets[at].len = len;
  r->count++;
  r->first[copy[0]] = true;
  r->pair[copy[0] << 8 | copy[1]] = true;
  return MVM_OK;
}

void mvm_redact_marker(const void *value, size_t len,
                       char out[MVM_REDACT_MARKER_SIZE])
{
  unsigned char digest[crypto_hash_sha256_BYTES];
  char hex[9];

  crypto_hash_sha256(digest, value, len);
  sodium_bin2hex(hex, sizeof hex, digest, 4);
  memcpy(out, "[redacted:sha256:", 17);
  memcpy(out + 17, hex, 8);
  out[25] = ']';
  out[26] = '\0';
}

bool mvm_redact_secret_field(const char *key)
{
  char norm[32];
  size_t n = 0;

  for (const char *p = key; *p != '\0'; p++) {
    if (*p == '-' || *p == '_')
      continue;
    if (n + 1 == sizeof norm)
      return false;
    norm[n++] = (char)tolower((unsigned char)*p);
  }
  norm[n] = '\0';

  for (size_t i = 0; i < sizeof secret_fields / sizeof secret_fields[0];
       i++) {
    if (strcmp(norm, secret_fields[i]) == 0)
      return true;
  }
  return false;
}

/* Returns the length of the longest secret that starts at in[0..len), or
 * 0 when none does. */
static size_t match_at(const mvm_redactor *r, const unsigned char *in,
                       size_t len)
{
  if (!r->first[in[0]] || len < 2 || !r->pair[in[0] << 8 | in[1]])
    return 0;
  for (size_t i = 0; i < r->count; i++) {
    const struct secret *s = &r->secrets[i];
    if (s->len <= len && memcmp(s->bytes, in, s->len) == 0)
      return s->len;
  }
  return 0;
}

int mvm_redactor_string(const mvm_redactor *r, const char *in, size_t len,
                        char **out, size_t *out_len, mvm_error *err)
{
  const unsigned char *p = (const unsigned char *)in;
  mvm_buf buf;
  size_t plain = 0; /* start of the bytes not yet copied */
  int rc = MVM_OK;

  mvm_buf_init(&buf, 0);
  for (size_t i = 0; r != NULL && r->count > 0 && i < len;) {
    size_t m = match_at(r, p + i, len - i);
    if (m == 0) {
      i++;
      continue;
    }

    char marker[MVM_REDACT_MARKER_SIZE];
    mvm_redact_marker(p + i, m, marker);
    rc = mvm_buf_append(&buf, in + plain, i - plain);
    if (rc == MVM_OK)
      rc = mvm_buf_append_str(&buf, marker);
    if (rc)
      goto out;
    i += m;
    plain = i;
  }
  rc = mvm_buf_append(&buf, in + plain, len - plain);
  if (rc)
    goto out;

  size_t n = buf.len;
  char *s = mvm_buf_steal(&buf);
  if (s == NULL) {
    rc = MVM_ENOMEM;
    goto out;
  }
  *out = s;
  if (out_len != NULL)
    *out_len = n;

out:
  mvm_buf_free(&buf);
  if (rc)
    return mvm_error_set(err, MVM_ENOMEM, "redact",
                         "out of memory redacting a string of %zu bytes",
                         len);
  return MVM_OK;
}

static int field_marker(const json_t *value, json_t **out, mvm_error *err)
{
  char marker[MVM_REDACT_MARKER_SIZE];

  if (json_is_string(value)) {
    mvm_redact_marker(json_string_value(value), json_string_length(value),
                      marker);
  } else {
    char *text = mvm_json_dump_canonical(value);
    if (text == NULL)
      return mvm_error_set(err, MVM_ENOMEM, "redact",
                           "out of memory redacting a field");
    mvm_redact_marker(text, strlen(text), marker);
    free(text);
  }
  *out = json_string(marker);
  if (*out == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "redact",
                         "out of memory redacting a field");
  return MVM_OK;
}

static int redact_value(const mvm_redactor *r, const json_t *in, int depth,
                        json_t **out, mvm_error *err);

/* Redacts an object key. A key whose redacted form is not valid UTF-8
 * (a secret ended inside a multi-byte character) becomes one marker over
 * the whole original key. */
static int redact_key(const mvm_redactor *r, const char *key, char **out,
                      mvm_error *err)
{
  char marker[MVM_REDACT_MARKER_SIZE];
  char *text = NULL;
  int rc = mvm_redactor_string(r, key, strlen(key), &text, NULL, err);
  if (rc)
    return rc;

  json_t *probe = json_string(text);
  if (probe != NULL) {
    json_decref(probe);
    *out = text;
    return MVM_OK;
  }
  free(text);
  mvm_redact_marker(key, strlen(key), marker);
  *out = strdup(marker);
  if (*out == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "redact",
                         "out of memory redacting an object key");
  return MVM_OK;
}

static int redact_object(const mvm_redactor *r, const json_t *in, int depth,
                         json_t **out, mvm_error *err)
{
  json_t *obj = json_object();
  const char *key;
  json_t *value;
  int rc = MVM_OK;

  if (obj == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "redact",
                         "out of memory redacting an object");

  json_object_foreach((json_t *)in, key, value) {
    char *new_key = NULL;
    json_t *new_value = NULL;

    rc = redact_key(r, key, &new_key, err);
    if (rc)
      break;
    if (mvm_redact_secret_field(key))
      rc = field_marker(value, &new_value, err);
    else
      rc = redact_value(r, value, depth + 1, &new_value, err);
    if (rc == MVM_OK && json_object_set_new(obj, new_key, new_value))
      rc = mvm_error_set(err, MVM_ENOMEM, "redact",
                         "out of memory redacting an object");
    free(new_key);
    if (rc)
      break;
  }
  if (rc) {
    json_decref(obj);
    return rc;
  }
  *out = obj;
  return MVM_OK;
}

static int redact_array(const mvm_redactor *r, const json_t *in, int depth,
                        json_t **out, mvm_error *err)
{
  json_t *arr = json_array();
  size_t i;
  json_t *value;
  int rc = MVM_OK;

  if (arr == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "redact",
                         "out of memory redacting an array");

  json_array_foreach(in, i, value) {
    json_t *copy = NULL;
    rc = redact_value(r, value, depth + 1, &copy, err);
    if (rc)
      break;
    if (json_array_append_new(arr, copy)) {
      rc = mvm_error_set(err, MVM_ENOMEM, "redact",
                         "out of memory redacting an array");
      break;
    }
  }
  if (rc) {
    json_decref(arr);
    return rc;
  }
  *out = arr;
  return MVM_OK;
}

static int redact_string(const mvm_redactor *r, const json_t *in,
                         json_t **out, mvm_error *err)
{
  char *text = NULL;
  size_t len = 0;
  int rc = mvm_redactor_string(r, json_string_value(in),
                               json_string_length(in), &text, &len, err);
  if (rc)
    return rc;

  /* The input was valid UTF-8 and markers are ASCII, so the result is
   * valid UTF-8 unless a secret ended inside a multi-byte character. Then
   * jansson rejects it, and one marker replaces the whole original. */
  *out = json_stringn(text, len);
  free(text);
  if (*out == NULL)
    return field_marker(in, out, err);
  return MVM_OK;
}

static int redact_value(const mvm_redactor *r, const json_t *in, int depth,
                        json_t **out, mvm_error *err)
{
  if (depth > MVM_REDACT_MAX_DEPTH)
    return mvm_error_set(err, MVM_ELIMIT, "redact",
                         "value nests deeper than the limit of %d levels",
                         MVM_REDACT_MAX_DEPTH);

  switch (json_typeof(in)) {
  case JSON_OBJECT:
    return redact_object(r, in, depth, out, err);
  case JSON_ARRAY:
    return redact_array(r, in, depth, out, err);
  case JSON_STRING:
    return redact_string(r, in, out, err);
  default:
    *out = json_deep_copy(in);
    if (*out == NULL)
      return mvm_error_set(err, MVM_ENOMEM, "redact",
                           "out of memory copying a value");
    return MVM_OK;
  }
}

static bool string_has_secret(const mvm_redactor *r, const char *s,
                              size_t len)
{
  const unsigned char *p = (const unsigned char *)s;

  for (size_t i = 0; r != NULL && r->count > 0 && i < len; i++) {
    if (match_at(r, p + i, len - i) != 0)
      return true;
  }
  return false;
}

/* Tells whether redaction would change `in`, without copying it. Most
 * records hold no secret, and a scan costs far less than a copy. */
static int needs_redaction(const mvm_redactor *r, const json_t *in, int depth,
                           bool *found, mvm_error *err)
{
  const char *key;
  json_t *value;
  size_t i;
  int rc = MVM_OK;

  if (depth > MVM_REDACT_MAX_DEPTH)
    return mvm_error_set(err, MVM_ELIMIT, "redact",
                         "value nests deeper than the limit of %d levels",
                         MVM_REDACT_MAX_DEPTH);
  switch (json_typeof(in)) {
  case JSON_OBJECT:
    json_object_foreach((json_t *)in, key, value) {
      if (mvm_redact_secret_field(key) ||
          string_has_secret(r, key, strlen(key))) {
        *found = true;
        return MVM_OK;
      }
      rc = needs_redaction(r, value, depth + 1, found, err);
      if (rc || *found)
        return rc;
    }
    return MVM_OK;
  case JSON_ARRAY:
    json_array_foreach(in, i, value) {
      rc = needs_redaction(r, value, depth + 1, found, err);
      if (rc || *found)
        return rc;
    }
    return MVM_OK;
  case JSON_STRING:
    *found = string_has_secret(r, json_string_value(in),
                               json_string_length(in));
    return MVM_OK;
  default:
    return MVM_OK;
  }
}

int mvm_redactor_json(const mvm_redactor *r, const json_t *in, json_t **out,
                      mvm_error *err)
{
  bool found = false;
  int rc = needs_redaction(r, in, 0, &found, err);
  if (rc)
    return rc;
  if (!found) {
    *out = json_incref((json_t *)in);
    return MVM_OK;
  }
  return redact_value(r, in, 0, out, err);
}
