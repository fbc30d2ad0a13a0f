/* json.c - bounded JSON parsing over jansson. */
#include <errno.h>
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
