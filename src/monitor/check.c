/* check.c - argument constraints: types, ranges, enumerations, patterns,
 * paths, URLs and sizes. Each failed check explains itself in one
 * sentence naming the argument and the offending value. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/path.h"
#include "monitor/policy_internal.h"
#include "value/schema.h"

static pol_truth truth(bool ok)
{
  return ok ? POL_TRUE : POL_FALSE;
}

/* Names the JSON type of v with its article, for messages. */
static const char *type_name(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "a value";
}

static unsigned type_bits(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return JT_OBJECT;
  case JSON_ARRAY:
    return JT_ARRAY;
  case JSON_STRING:
    return JT_STRING;
  case JSON_INTEGER:
    return JT_NUMBER | JT_INTEGER;
  case JSON_REAL: {
    double d = json_real_value(v);
    return JT_NUMBER | (d == floor(d) ? JT_INTEGER : 0);
  }
  case JSON_TRUE:
  case JSON_FALSE:
    return JT_BOOLEAN;
  case JSON_NULL:
    return JT_NULL;
  }
  return 0;
}

/* Writes a short, quoted form of a value for messages. */
static void show_value(const json_t *v, char *buf, size_t size)
{
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

  if (text == NULL) {
    snprintf(buf, size, "(%s)", type_name(v));
    return;
  }
  if (strlen(text) > 80)
    snprintf(buf, size, "%.77s...", text);
  else
    snprintf(buf, size, "%s", text);
  free(text);
}

/* Compares a JSON number with a bound from the policy exactly, so an
 * integer above 2^53 is not rounded to the bound. Returns <0, 0 or >0. */
static int compare_bound(const json_t *v, double bound)
{
  json_t *b = json_real(bound);
  int order = b != NULL ? mvm_schema_number_compare(v, b) : 0;

  json_decref(b);
  return order;
}

/* Matches a compiled pattern against subject[0..len). Returns POL_UNKNOWN
 * on an error (the match limit, invalid UTF-8), with the PCRE2 code in
 * *code. */
static pol_truth match_pattern(const pol_check *c, const char *subject,
                               size_t len, const pol_matcher *m, int *code)
{
  pcre2_match_data *md = m ? m->match_data : NULL;
  pcre2_match_context *mctx = m ? m->match_context : NULL;
  pcre2_match_data *own_md = NULL;
  pcre2_match_context *own_ctx = NULL;
  pol_truth t = POL_UNKNOWN;

  *code = PCRE2_ERROR_NOMEMORY;
  if (md == NULL)
    md = own_md = pcre2_match_data_create(1, NULL);
  if (mctx == NULL) {
    mctx = own_ctx = pcre2_match_context_create(NULL);
    if (mctx != NULL) {
      pcre2_set_match_limit(mctx, POL_MATCH_LIMIT);
      pcre2_set_depth_limit(mctx, POL_DEPTH_LIMIT);
    }
  }
  if (md != NULL && mctx != NULL) {
    *code = pcre2_match(c->re, (PCRE2_SPTR)subject, len, 0, 0, md, mctx);
    if (*code >= 0)
      t = POL_TRUE;
    else if (*code == PCRE2_ERROR_NOMATCH)
      t = POL_FALSE;
  }
  pcre2_match_context_free(own_ctx);
  pcre2_match_data_free(own_md);
  return t;
}

static pol_truth check_pattern(const pol_check *c, const char *name,
                               const json_t *v, const pol_matcher *m,
                               char *why, size_t size)
{
  char shown[96];
  int r = 0;
  pol_truth t = match_pattern(c, json_string_value(v), json_string_length(v),
                              m, &r);

  if (t == POL_TRUE || why == NULL)
    return t;
  show_value(v, shown, sizeof shown);
  if (r == PCRE2_ERROR_NOMATCH)
    snprintf(why, size, "argument '%s' is %s, which does not match "
             "pattern '%.100s'", name, shown, c->text);
  else if (r == PCRE2_ERROR_MATCHLIMIT || r == PCRE2_ERROR_DEPTHLIMIT)
    snprintf(why, size, "argument '%s' is %s, and matching pattern "
             "'%.100s' hit the match limit", name, shown, c->text);
  else if (r == PCRE2_ERROR_NOMEMORY)
    snprintf(why, size, "out of memory matching argument '%s'", name);
  else
    snprintf(why, size, "argument '%s' is %s, which is not valid UTF-8 "
             "for pattern '%.100s'", name, shown, c->text);
  return t;
}

/* Returns the first check of a kind on an argument line, or NULL. */
static const pol_check *find_check(const pol_argspec *spec,
                                   pol_check_kind kind)
{
  for (size_t i = 0; i < spec->nchecks; i++) {
    if (spec->checks[i].kind == kind)
      return &spec->checks[i];
  }
  return NULL;
}

/* Returns the directory that relative paths are taken from, as the line's
 * `relative to DIR` states it, or NULL. */
static const char *relative_base(const pol_argspec *spec)
{
  const pol_check *c = find_check(spec, CK_RELATIVE);
  return c != NULL ? c->text : NULL;
}

static pol_truth check_under(const pol_check *c, const char *base,
                             const char *name, const json_t *v, char *why,
                             size_t size)
{
  char resolved[MVM_PATH_MAX];
  mvm_error err;
  bool inside = false;
  const char *path = json_string_value(v);

  if (strlen(path) != json_string_length(v)) {
    if (why != NULL)
      snprintf(why, size, "argument '%s' contains a NUL byte", name);
    return POL_UNKNOWN;
  }
  if (mvm_path_check_under(c->text, path, base, resolved, sizeof resolved,
                           &inside, &err) != MVM_OK) {
    if (why != NULL)
      snprintf(why, size, "argument '%s': %s", name, err.msg);
    return POL_UNKNOWN;
  }
  if (!inside && why != NULL)
    snprintf(why, size, "argument '%s' is '%.200s', which resolves to "
             "'%.200s', outside '%s'", name, path, resolved, c->text);
  return inside ? POL_TRUE : POL_FALSE;
}

/* Returns the part of `path` after directory `dir`: "" when they are
 * equal, "/rest" when path is below dir, NULL otherwise. */
static const char *below(const char *path, const char *dir)
{
  size_t n = strlen(dir);

  if (strcmp(dir, "/") == 0)
    return path[0] == '/' ? path : NULL;
  if (strncmp(path, dir, n) != 0 || (path[n] != '\0' && path[n] != '/'))
    return NULL;
  return path + n;
}

/* Writes the resolved path that a pattern on an `under` line is matched
 * against. A path below the line's directory is written from that
 * directory as the policy spells it, and a relative value relative to the
 * `relative to` directory, so that it has the form of the value. Returns
 * false with the reason in err when the path does not resolve. */
static bool resolved_form(const pol_check *under, const char *base,
                          const char *path, char *out, size_t size,
                          mvm_error *err)
{
  char resolved[MVM_PATH_MAX];
  char real[PATH_MAX];
  bool inside = false;
  const char *rest = NULL;

  if (mvm_path_check_under(under->text, path, base, resolved,
                           sizeof resolved, &inside, err) != MVM_OK)
    return false;
  if (path[0] != '/') {
    if (realpath(base, real) != NULL)
      rest = below(resolved, real);
    if (rest != NULL && rest[0] == '/')
      rest++;
    if (rest != NULL)
      snprintf(out, size, "%s", rest[0] != '\0' ? rest : ".");
    else
      snprintf(out, size, "%s", resolved);
    return true;
  }
  if (strcmp(under->text, "/") != 0 && realpath(under->text, real) != NULL)
    rest = below(resolved, real);
  if (rest != NULL)
    snprintf(out, size, "%s%s", under->text, rest);
  else
    snprintf(out, size, "%s", resolved);
  return true;
}

/* Checks a pattern on a line that also checks `under`: the value and the
 * path it resolves to must both match or both not match. Otherwise the
 * check is undecided, because the tool opens the resolved path, and
 * "run.sh/", "run.sh/." and "link_to_run.sh" name run.sh to it. */
static pol_truth check_path_pattern(const pol_check *c,
                                    const pol_argspec *spec,
                                    const char *name, const json_t *v,
                                    const pol_matcher *m, char *why,
                                    size_t size)
{
  const char *path = json_string_value(v);
  char form[MVM_PATH_MAX];
  char shown[96];
  mvm_error err;
  int code = 0;
  pol_truth raw = check_pattern(c, name, v, m, why, size);

  if (raw == POL_UNKNOWN)
    return raw;
  if (strlen(path) != json_string_length(v)) {
    if (why != NULL)
      snprintf(why, size, "argument '%s' contains a NUL byte", name);
    return POL_UNKNOWN;
  }
  if (!resolved_form(find_check(spec, CK_UNDER), relative_base(spec), path,
                     form, sizeof form, &err)) {
    if (why != NULL)
      snprintf(why, size, "argument '%s': pattern '%.60s' cannot be checked "
               "on the path the tool opens: %s", name, c->text, err.msg);
    return POL_UNKNOWN;
  }
  pol_truth resolved = match_pattern(c, form, strlen(form), m, &code);
  if (resolved == raw)
    return raw;
  if (why != NULL) {
    show_value(v, shown, sizeof shown);
    snprintf(why, size, "argument '%s' is %s, which %s pattern '%.60s', "
             "but the path it resolves to, '%.100s', %s", name, shown,
             raw == POL_TRUE ? "matches" : "does not match", c->text, form,
             resolved == POL_TRUE  ? "does"
             : resolved == POL_FALSE ? "does not"
                                     : "cannot be matched");
  }
  return POL_UNKNOWN;
}

static bool in_list(char *const *items, size_t n, const char *s)
{
  for (size_t i = 0; i < n; i++) {
    if (strcmp(items[i], s) == 0)
      return true;
  }
  return false;
}

static pol_truth check_url(const pol_check *c, const char *name,
                           const json_t *v, char *why, size_t size)
{
  char *scheme = NULL;
  char *host = NULL;
  char uwhy[256];
  char shown[96];
  bool ok = false;

  if (!pol_url_parse(json_string_value(v), json_string_length(v), &scheme,
                     &host, uwhy, sizeof uwhy)) {
    if (why != NULL) {
      show_value(v, shown, sizeof shown);
      snprintf(why, size, "argument '%s' is %s: %s", name, shown, uwhy);
    }
    return POL_UNKNOWN;
  }
  if (c->kind == CK_SCHEME) {
    ok = in_list(c->items, c->nitems, scheme);
  } else {
    for (size_t i = 0; host != NULL && i < c->nitems && !ok; i++)
      ok = pol_host_matches(c->items[i], host);
  }
  if (!ok && why != NULL) {
    show_value(v, shown, sizeof shown);
    if (c->kind == CK_SCHEME)
      snprintf(why, size, "argument '%s' is %s, whose scheme '%s' is not "
               "in the allowed list", name, shown, scheme);
    else if (host == NULL)
      snprintf(why, size, "argument '%s' is %s, which has no host", name,
               shown);
    else
      snprintf(why, size, "argument '%s' is %s, whose host '%s' is not in "
               "the allowed list", name, shown, host);
  }
  free(scheme);
  free(host);
  return ok ? POL_TRUE : POL_FALSE;
}

/* A check of the wrong JSON type is undecided, because the tool may
 * convert the value (read "5000" as a number). */
static pol_truth wrong_type(const char *name, const json_t *v,
                            const char *want, char *why, size_t size)
{
  if (why != NULL)
    snprintf(why, size, "argument '%s' is %s, not %s", name,
             type_name(v), want);
  return POL_UNKNOWN;
}

/* Checks one present value. why may be NULL when no explanation is
 * needed, which saves formatting on the common path. */
static pol_truth check_value(const pol_check *c, const pol_argspec *spec,
                             const char *name, const json_t *v,
                             const pol_matcher *m, char *why, size_t size)
{
  char shown[96];
  bool ok;

  switch (c->kind) {
  case CK_REQUIRED:
  case CK_RELATIVE:
    return POL_TRUE;
  case CK_FORBIDDEN:
    if (why != NULL)
      snprintf(why, size, "argument '%s' is not allowed", name);
    return POL_FALSE;
  case CK_TYPE:
    ok = (type_bits(v) & c->types) != 0;
    if (!ok && why != NULL)
      snprintf(why, size, "argument '%s' is %s, which is not an allowed "
               "type", name, type_name(v));
    return truth(ok);
  case CK_MIN:
  case CK_MAX:
    if (!json_is_number(v))
      return wrong_type(name, v, "a number", why, size);
    ok = c->kind == CK_MIN ? compare_bound(v, c->number) >= 0
                           : compare_bound(v, c->number) <= 0;
    if (!ok && why != NULL) {
      show_value(v, shown, sizeof shown);
      snprintf(why, size, "argument '%s' is %s, %s %g", name, shown,
               c->kind == CK_MIN ? "below the minimum"
                                 : "above the maximum",
               c->number);
    }
    return truth(ok);
  case CK_ENUM:
    for (size_t i = 0; i < json_array_size(c->values); i++) {
      if (mvm_schema_json_equal(v, json_array_get(c->values, i)))
        return POL_TRUE;
    }
    if (why != NULL) {
      show_value(v, shown, sizeof shown);
      snprintf(why, size, "argument '%s' is %s, which is not one of the "
               "allowed values", name, shown);
    }
    return POL_FALSE;
  case CK_PATTERN:
    if (!json_is_string(v))
      return wrong_type(name, v, "a string", why, size);
    if (find_check(spec, CK_UNDER) != NULL)
      return check_path_pattern(c, spec, name, v, m, why, size);
    return check_pattern(c, name, v, m, why, size);
  case CK_UNDER:
    if (!json_is_string(v))
      return wrong_type(name, v, "a string", why, size);
    return check_under(c, relative_base(spec), name, v, why, size);
  case CK_SCHEME:
  case CK_HOST:
    if (!json_is_string(v))
      return wrong_type(name, v, "a string", why, size);
    return check_url(c, name, v, why, size);
  case CK_MAXLEN:
    if (!json_is_string(v))
      return wrong_type(name, v, "a string", why, size);
    ok = json_string_length(v) <= c->limit;
    if (!ok && why != NULL)
      snprintf(why, size, "argument '%s' is %zu bytes long, over the "
               "maximum of %zu", name, json_string_length(v), c->limit);
    return truth(ok);
  case CK_MAXITEMS:
    if (!json_is_array(v))
      return wrong_type(name, v, "an array", why, size);
    ok = json_array_size(v) <= c->limit;
    if (!ok && why != NULL)
      snprintf(why, size, "argument '%s' has %zu items, over the maximum "
               "of %zu", name, json_array_size(v), c->limit);
    return truth(ok);
  case CK_MAXSIZE: {
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    ok = n <= c->limit;
    if (!ok && why != NULL)
      snprintf(why, size, "argument '%s' is %zu bytes of JSON, over the "
               "maximum of %zu", name, n, c->limit);
    return truth(ok);
  }
  }
  if (why != NULL)
    snprintf(why, size, "argument '%s': unknown check", name);
  return POL_UNKNOWN;
}

/* Checks one argument; a missing one passes every check but required.
 * The checks combine as a three-valued AND: false wins, then undecided.
 * On false or undecided, why explains a check that decided. */
static pol_truth check_arg(const pol_argspec *spec, const char *name,
                           const json_t *v, const pol_matcher *m, char *why,
                           size_t size)
{
  pol_truth all = POL_TRUE;

  for (size_t i = 0; i < spec->nchecks; i++) {
    const pol_check *c = &spec->checks[i];
    if (v == NULL) {
      if (c->kind != CK_REQUIRED)
        continue;
      if (why != NULL)
        snprintf(why, size, "argument '%s' is required but missing", name);
      return POL_FALSE;
    }
    /* A passing check writes nothing, so why keeps the explanation of
     * the last failing one. */
    pol_truth t = check_value(c, spec, name, v, m, why, size);
    if (t == POL_FALSE)
      return POL_FALSE;
    if (t == POL_UNKNOWN)
      all = POL_UNKNOWN;
  }
  return all;
}

pol_truth pol_argspec_eval(const pol_argspec *spec, const json_t *args,
                           char *const *named, size_t nnamed,
                           const pol_matcher *matcher, char *why,
                           size_t size)
{
  if (spec->name != NULL)
    return check_arg(spec, spec->name, json_object_get(args, spec->name),
                     matcher, why, size);

  /* "*": every argument the rule does not name on its own line. */
  pol_truth all = POL_TRUE;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)args, key, v) {
    if (in_list(named, nnamed, key))
      continue;
    pol_truth t = check_arg(spec, key, v, matcher, why, size);
    if (t == POL_FALSE)
      return POL_FALSE;
    if (t == POL_UNKNOWN)
      all = POL_UNKNOWN;
  }
  return all;
}

bool pol_argspec_holds(const pol_argspec *spec, const json_t *args,
                       char *const *named, size_t nnamed,
                       const pol_matcher *matcher, char *why, size_t size)
{
  return pol_argspec_eval(spec, args, named, nnamed, matcher, why, size) ==
         POL_TRUE;
}
