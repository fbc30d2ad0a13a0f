/* check.c - argument constraints: types, ranges, enumerations, patterns,
 * paths, URLs and sizes. Each failed check explains itself in one
 * sentence naming the argument and the offending value. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/path.h"
#include "monitor/policy_internal.h"

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

static bool numbers_equal(const json_t *a, const json_t *b)
{
  if (json_is_number(a) && json_is_number(b))
    return json_number_value(a) == json_number_value(b);
  return json_equal((json_t *)a, (json_t *)b);
}

static pol_truth check_pattern(const pol_check *c, const char *name,
                               const json_t *v, const pol_matcher *m,
                               char *why, size_t size)
{
  pcre2_match_data *md = m ? m->match_data : NULL;
  pcre2_match_context *mctx = m ? m->match_context : NULL;
  pcre2_match_data *own_md = NULL;
  pcre2_match_context *own_ctx = NULL;
  char shown[96];
  pol_truth t = POL_UNKNOWN;

  if (md == NULL)
    md = own_md = pcre2_match_data_create(1, NULL);
  if (mctx == NULL) {
    mctx = own_ctx = pcre2_match_context_create(NULL);
    if (mctx != NULL) {
      pcre2_set_match_limit(mctx, POL_MATCH_LIMIT);
      pcre2_set_depth_limit(mctx, POL_DEPTH_LIMIT);
    }
  }
  if (md == NULL || mctx == NULL) {
    if (why != NULL)
      snprintf(why, size, "out of memory matching argument '%s'", name);
    goto out;
  }

  int r = pcre2_match(c->re, (PCRE2_SPTR)json_string_value(v),
                      json_string_length(v), 0, 0, md, mctx);
  if (r >= 0)
    t = POL_TRUE;
  else if (r == PCRE2_ERROR_NOMATCH)
    t = POL_FALSE;
  if (t == POL_TRUE || why == NULL)
    goto out;
  show_value(v, shown, sizeof shown);
  if (r == PCRE2_ERROR_NOMATCH)
    snprintf(why, size, "argument '%s' is %s, which does not match "
             "pattern '%.100s'", name, shown, c->text);
  else if (r == PCRE2_ERROR_MATCHLIMIT || r == PCRE2_ERROR_DEPTHLIMIT)
    snprintf(why, size, "argument '%s' is %s, and matching pattern "
             "'%.100s' hit the match limit", name, shown, c->text);
  else
    snprintf(why, size, "argument '%s' is %s, which is not valid UTF-8 "
             "for pattern '%.100s'", name, shown, c->text);

out:
  pcre2_match_context_free(own_ctx);
  pcre2_match_data_free(own_md);
  return t;
}

static pol_truth check_under(const pol_check *c, bool relative,
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
  if (mvm_path_check_under(c->text, path, relative, resolved,
                           sizeof resolved, &inside, &err) != MVM_OK) {
    if (why != NULL)
      snprintf(why, size, "argument '%s': %s", name, err.msg);
    return POL_UNKNOWN;
  }
  if (!inside && why != NULL)
    snprintf(why, size, "argument '%s' is '%.200s', which resolves to "
             "'%.200s', outside '%s'", name, path, resolved, c->text);
  return inside ? POL_TRUE : POL_FALSE;
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
    ok = c->kind == CK_MIN ? json_number_value(v) >= c->number
                           : json_number_value(v) <= c->number;
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
      if (numbers_equal(v, json_array_get(c->values, i)))
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
    return check_pattern(c, name, v, m, why, size);
  case CK_UNDER:
    if (!json_is_string(v))
      return wrong_type(name, v, "a string", why, size);
    return check_under(c, spec->relative, name, v, why, size);
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
