/* schema_validate.c - applies a compiled JSON Schema to an instance.
 *
 * Every keyword check returns MVM_OK, MVM_ESCHEMA for a mismatch, or
 * another status (ELIMIT, ENOMEM) that stops validation at once. Inside
 * anyOf, oneOf, not, if and contains a mismatch is an expected outcome, so
 * those evaluations run "quiet" and record nothing. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value/schema_internal.h"

#define WHERE "schema"
#define DESCRIBE_MAX 64

typedef struct validator {
  const mvm_schema *s;
  mvm_error *err;
  json_t *errors; /* collected mismatches, or NULL to stop at the first */
  size_t nerrors;
  bool have_first; /* err contains the first mismatch */
  int quiet;
  mvm_buf path; /* RFC 6901 pointer of the value being checked */
  pcre2_match_data *match;
  unsigned long steps;
  int depth;
} validator;

static int validate_node(validator *v, const schema_node *node,
                         const json_t *instance);

static bool collecting(const validator *v)
{
  return v->errors != NULL && v->quiet == 0;
}

/* Folds one check's status into *status. Returns true when the caller
 * should stop checking this node. */
static bool fold(const validator *v, int rc, int *status)
{
  if (rc == MVM_OK)
    return false;
  if (rc != MVM_ESCHEMA) {
    *status = rc;
    return true;
  }
  *status = MVM_ESCHEMA;
  return !collecting(v);
}

/* Writes a short JSON text of value into out, cut with "..." to fit. */
static void describe(const json_t *value, char *out, size_t size)
{
  double d = json_real_value(value);

  /* A whole real, such as 2^64 parsed from a big integer literal, shows
   * all its digits rather than jansson's "1.8446744073709552e+19". */
  if (json_is_real(value) && floor(d) == d && fabs(d) < 1e21) {
    snprintf(out, size, "%.0f", d);
    return;
  }

  char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
  if (text == NULL) {
    snprintf(out, size, "the value");
    return;
  }
  if (strlen(text) < size)
    snprintf(out, size, "%s", text);
  else
    snprintf(out, size, "%.*s...", (int)(size - 4), text);
  free(text);
}

static int add_error(validator *v, const char *pointer, const char *keyword,
                     const char *location, const char *message)
{
  json_t *item = json_pack("{s:s, s:s, s:s, s:s}", "instancePath", pointer,
                           "keyword", keyword, "schemaPath", location,
                           "message", message);
  if (item == NULL || json_array_append_new(v->errors, item))
    return MVM_ENOMEM;
  v->nerrors++;
  return MVM_OK;
}

/* Records a mismatch of keyword at node for the current value. The error
 * reads "<pointer>: <keyword>: <message> (at <schema location>)". */
static int report(validator *v, const schema_node *node, const char *keyword,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int report(validator *v, const schema_node *node, const char *keyword,
                  const char *fmt, ...)
{
  char message[320];
  char location[256];
  va_list ap;

  if (v->quiet)
    return MVM_ESCHEMA;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  if (node->boolean >= 0)
    snprintf(location, sizeof location, "%s", node->location);
  else
    snprintf(location, sizeof location, "%s/%s", node->location, keyword);

  const char *pointer = v->path.len > 0 ? v->path.data : "";
  if (!v->have_first) {
    mvm_error_set(v->err, MVM_ESCHEMA, WHERE, "%s: %s: %s (at %s)",
                  pointer[0] != '\0' ? pointer : "(root)", keyword, message,
                  location);
    v->have_first = true;
  }
  if (v->errors != NULL && v->nerrors < MVM_SCHEMA_DEFAULT_MAX_ERRORS &&
      add_error(v, pointer, keyword, location, message))
    return MVM_ENOMEM;
  return MVM_ESCHEMA;
}

/* ---------------------------------------------------------------- paths */

static int push_key(validator *v, const char *key, size_t len, size_t *saved)
{
  *saved = v->path.len;
  return mvm_schema_append_token(&v->path, key, len) ? MVM_ENOMEM : MVM_OK;
}

static int push_index(validator *v, size_t index, size_t *saved)
{
  *saved = v->path.len;
  return mvm_buf_printf(&v->path, "/%zu", index) ? MVM_ENOMEM : MVM_OK;
}

static void pop(validator *v, size_t saved)
{
  v->path.len = saved;
  if (v->path.data != NULL)
    v->path.data[saved] = '\0';
}

static int validate_key(validator *v, const schema_node *node,
                        const char *key, const json_t *value)
{
  size_t saved;
  int rc = push_key(v, key, strlen(key), &saved);
  if (rc == MVM_OK)
    rc = validate_node(v, node, value);
  pop(v, saved);
  return rc;
}

static int validate_index(validator *v, const schema_node *node, size_t index,
                          const json_t *value)
{
  size_t saved;
  int rc = push_index(v, index, &saved);
  if (rc == MVM_OK)
    rc = validate_node(v, node, value);
  pop(v, saved);
  return rc;
}

/* Runs node quietly: returns MVM_OK or MVM_ESCHEMA without recording the
 * mismatch, or a hard failure. */
static int probe(validator *v, const schema_node *node, const json_t *value)
{
  v->quiet++;
  int rc = validate_node(v, node, value);
  v->quiet--;
  return rc;
}

/* -------------------------------------------------------------- regexes */

/* Searches text for regex anywhere (JSON Schema patterns are not
 * anchored). Returns MVM_OK on a match, MVM_ESCHEMA on none. */
static int regex_search(validator *v, const schema_regex *regex,
                        const char *text, size_t len)
{
  int rc = pcre2_match(regex->code, (PCRE2_SPTR)text, len, 0, 0, v->match,
                       v->s->match_context);
  if (rc >= 0)
    return MVM_OK;
  if (rc == PCRE2_ERROR_NOMATCH)
    return MVM_ESCHEMA;
  if (rc == PCRE2_ERROR_NOMEMORY)
    return MVM_ENOMEM;
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
      rc == PCRE2_ERROR_HEAPLIMIT)
    return mvm_error_set(v->err, MVM_ELIMIT, WHERE,
                         "the pattern \"%.80s\" hit the match limit of %u "
                         "at %s; simplify the pattern",
                         regex->text, v->s->opts.match_limit,
                         v->path.len > 0 ? v->path.data : "(root)");

  PCRE2_UCHAR why[120];
  pcre2_get_error_message(rc, why, sizeof why);
  return mvm_error_set(v->err, MVM_EINVAL, WHERE,
                       "matching the pattern \"%.80s\" failed: %s",
                       regex->text, (const char *)why);
}

/* ---------------------------------------------------------------- types */

static bool is_whole(const json_t *value)
{
  if (json_is_integer(value))
    return true;
  double d = json_real_value(value);
  return json_is_real(value) && isfinite(d) && floor(d) == d;
}

static unsigned type_of(const json_t *value)
{
  switch (json_typeof(value)) {
  case JSON_NULL:
    return SCHEMA_NULL;
  case JSON_TRUE:
  case JSON_FALSE:
    return SCHEMA_BOOLEAN;
  case JSON_OBJECT:
    return SCHEMA_OBJECT;
  case JSON_ARRAY:
    return SCHEMA_ARRAY;
  case JSON_STRING:
    return SCHEMA_STRING;
  case JSON_INTEGER:
  case JSON_REAL:
    return SCHEMA_NUMBER | (is_whole(value) ? SCHEMA_INTEGER : 0);
  }
  return 0;
}

static const char *type_phrase(const json_t *value)
{
  switch (json_typeof(value)) {
  case JSON_NULL:
    return "null";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return is_whole(value) ? "an integer" : "a number";
  }
  return "a value";
}

static int check_type(validator *v, const schema_node *node,
                      const json_t *value)
{
  static const char *const names[] = {"null",   "boolean", "object",
                                      "array",  "number",  "string",
                                      "integer"};
  char expected[96] = "";
  size_t used = 0;

  if (node->types == 0 || (node->types & type_of(value)) != 0)
    return MVM_OK;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if ((node->types & (1u << i)) == 0)
      continue;
    used += (size_t)snprintf(expected + used, sizeof expected - used, "%s%s",
                             used > 0 ? " or " : "", names[i]);
  }
  return report(v, node, "type", "the value is %s, not %s",
                type_phrase(value), expected);
}

/* -------------------------------------------------------------- numbers */

static int check_bound(validator *v, const schema_node *node,
                       const json_t *value, const char *keyword,
                       const json_t *bound, int fail_from, int fail_to,
                       const char *relation)
{
  char shown[DESCRIBE_MAX];
  char limit[DESCRIBE_MAX];

  if (bound == NULL)
    return MVM_OK;
  int cmp = mvm_schema_number_compare(value, bound);
  if (cmp < fail_from || cmp > fail_to)
    return MVM_OK;
  describe(value, shown, sizeof shown);
  describe(bound, limit, sizeof limit);
  return report(v, node, keyword, "%s is %s %s", shown, relation, limit);
}

static int check_number(validator *v, const schema_node *node,
                        const json_t *value)
{
  int status = MVM_OK;

  if (fold(v, check_bound(v, node, value, "minimum", node->minimum, -1, -1,
                          "less than the minimum"),
           &status))
    return status;
  if (fold(v, check_bound(v, node, value, "exclusiveMinimum",
                          node->exclusive_minimum, -1, 0,
                          "not greater than the exclusive minimum"),
           &status))
    return status;
  if (fold(v, check_bound(v, node, value, "maximum", node->maximum, 1, 1,
                          "greater than the maximum"),
           &status))
    return status;
  if (fold(v, check_bound(v, node, value, "exclusiveMaximum",
                          node->exclusive_maximum, 0, 1,
                          "not less than the exclusive maximum"),
           &status))
    return status;

  if (node->multiple_of != NULL &&
      !mvm_schema_is_multiple(value, node->multiple_of)) {
    char shown[DESCRIBE_MAX];
    char divisor[DESCRIBE_MAX];
    describe(value, shown, sizeof shown);
    describe(node->multiple_of, divisor, sizeof divisor);
    fold(v, report(v, node, "multipleOf", "%s is not a multiple of %s",
                   shown, divisor),
         &status);
  }
  return status;
}

/* -------------------------------------------------------------- strings */

/* Counts Unicode code points in valid UTF-8: every byte that does not
 * continue a sequence starts one. */
static size_t count_code_points(const char *text, size_t len)
{
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (((unsigned char)text[i] & 0xC0) != 0x80)
      n++;
  }
  return n;
}

static int check_string(validator *v, const schema_node *node,
                        const json_t *value)
{
  const char *text = json_string_value(value);
  size_t len = json_string_length(value);
  size_t chars = count_code_points(text, len);
  int status = MVM_OK;
  int rc;

  if (node->min_length >= 0 && chars < (size_t)node->min_length &&
      fold(v, report(v, node, "minLength",
                     "the string is %zu characters long, shorter than the "
                     "minimum length %lld",
                     chars, node->min_length),
           &status))
    return status;
  if (node->max_length >= 0 && chars > (size_t)node->max_length &&
      fold(v, report(v, node, "maxLength",
                     "the string is %zu characters long, longer than the "
                     "maximum length %lld",
                     chars, node->max_length),
           &status))
    return status;

  if (node->pattern.code != NULL) {
    rc = regex_search(v, &node->pattern, text, len);
    if (rc == MVM_ESCHEMA) {
      char shown[DESCRIBE_MAX];
      describe(value, shown, sizeof shown);
      rc = report(v, node, "pattern", "%s does not match the pattern \"%s\"",
                  shown, node->pattern.text);
    }
    if (fold(v, rc, &status))
      return status;
  }

  if (node->format != NULL && !v->s->opts.format_annotation_only &&
      !mvm_schema_format_check(node->format, text, len)) {
    char shown[DESCRIBE_MAX];
    describe(value, shown, sizeof shown);
    fold(v, report(v, node, "format", "%s is not a valid %s", shown,
                   node->format),
         &status);
  }
  return status;
}

/* --------------------------------------------------------------- arrays */

static int check_contains(validator *v, const schema_node *node,
                          const json_t *value)
{
  size_t matches = 0;
  size_t i;
  const json_t *item;

  json_array_foreach(value, i, item) {
    int rc = probe(v, node->contains, item);
    if (rc == MVM_OK)
      matches++;
    else if (rc != MVM_ESCHEMA)
      return rc;
  }

  long long min = node->min_contains >= 0 ? node->min_contains : 1;
  if (matches < (size_t)min)
    return report(v, node, min == 1 ? "contains" : "minContains",
                  "%zu items match the contains schema, fewer than %lld",
                  matches, min);
  if (node->max_contains >= 0 && matches > (size_t)node->max_contains)
    return report(v, node, "maxContains",
                  "%zu items match the contains schema, more than %lld",
                  matches, node->max_contains);
  return MVM_OK;
}

/* NOTE: uniqueItems compares every pair, so its time grows with the square
 * of the array length; input limits on the instance bound it. */
static int check_unique(validator *v, const schema_node *node,
                        const json_t *value)
{
  size_t n = json_array_size(value);

  for (size_t i = 0; i < n; i++) {
    for (size_t j = i + 1; j < n; j++) {
      if (mvm_schema_json_equal(json_array_get(value, i),
                                json_array_get(value, j)))
        return report(v, node, "uniqueItems",
                      "items %zu and %zu are equal; all items must be "
                      "unique",
                      i, j);
    }
  }
  return MVM_OK;
}

static int check_array(validator *v, const schema_node *node,
                       const json_t *value)
{
  size_t n = json_array_size(value);
  int status = MVM_OK;

  if (node->min_items >= 0 && n < (size_t)node->min_items &&
      fold(v, report(v, node, "minItems",
                     "the array has %zu items, fewer than the minimum %lld",
                     n, node->min_items),
           &status))
    return status;
  if (node->max_items >= 0 && n > (size_t)node->max_items &&
      fold(v, report(v, node, "maxItems",
                     "the array has %zu items, more than the maximum %lld",
                     n, node->max_items),
           &status))
    return status;

  for (size_t i = 0; i < n; i++) {
    const schema_node *item_schema = i < node->prefix_items.count
                                         ? node->prefix_items.items[i]
                                         : node->items;
    if (item_schema == NULL)
      continue;
    if (fold(v, validate_index(v, item_schema, i, json_array_get(value, i)),
             &status))
      return status;
  }

  if (node->contains != NULL &&
      fold(v, check_contains(v, node, value), &status))
    return status;
  if (node->unique_items)
    fold(v, check_unique(v, node, value), &status);
  return status;
}

/* -------------------------------------------------------------- objects */

static int check_required(validator *v, const schema_node *node,
                          const json_t *value, const json_t *names,
                          const char *keyword, const char *trigger)
{
  int status = MVM_OK;
  size_t i;
  const json_t *name;

  json_array_foreach(names, i, name) {
    const char *key = json_string_value(name);
    if (json_object_get(value, key) != NULL)
      continue;
    int rc = trigger == NULL
                 ? report(v, node, keyword,
                          "the required property \"%s\" is missing", key)
                 : report(v, node, keyword,
                          "the property \"%s\" is required when \"%s\" is "
                          "present",
                          key, trigger);
    if (fold(v, rc, &status))
      return status;
  }
  return status;
}

/* Applies properties, patternProperties and additionalProperties to one
 * member. */
static int check_member(validator *v, const schema_node *node,
                        const char *key, const json_t *member)
{
  const json_t *declared = json_object_get(node->source, "properties");
  bool matched = false;
  int status = MVM_OK;

  for (size_t i = 0; i < node->nproperties; i++) {
    if (strcmp(node->properties[i].name, key) != 0)
      continue;
    matched = true;
    if (fold(v, validate_key(v, node->properties[i].schema, key, member),
             &status))
      return status;
  }
  for (size_t i = 0; i < node->npattern_properties; i++) {
    const schema_pattern_property *p = &node->pattern_properties[i];
    int rc = regex_search(v, &p->regex, key, strlen(key));
    if (rc == MVM_ESCHEMA)
      continue;
    if (rc == MVM_OK) {
      matched = true;
      rc = validate_key(v, p->schema, key, member);
    }
    if (fold(v, rc, &status))
      return status;
  }
  if (matched || node->additional_properties == NULL)
    return status;
  if (node->additional_properties->boolean == 0 && declared != NULL) {
    size_t saved;
    int rc = push_key(v, key, strlen(key), &saved);
    if (rc == MVM_OK)
      rc = report(v, node, "additionalProperties",
                  "the property \"%s\" is not allowed; the schema declares "
                  "%zu properties and allows no others",
                  key, json_object_size(declared));
    pop(v, saved);
    fold(v, rc, &status);
    return status;
  }
  fold(v, validate_key(v, node->additional_properties, key, member),
       &status);
  return status;
}

static int check_dependents(validator *v, const schema_node *node,
                            const json_t *value)
{
  int status = MVM_OK;

  for (size_t i = 0; i < node->ndependents; i++) {
    const schema_dependent *dep = &node->dependents[i];
    int rc;
    if (json_object_get(value, dep->name) == NULL)
      continue;
    if (dep->required != NULL)
      rc = check_required(v, node, value, dep->required, dep->keyword,
                          dep->name);
    else
      rc = validate_node(v, dep->schema, value);
    if (fold(v, rc, &status))
      return status;
  }
  return status;
}

static int check_object(validator *v, const schema_node *node,
                        const json_t *value)
{
  size_t n = json_object_size(value);
  int status = MVM_OK;
  const char *key;
  const json_t *member;

  if (node->min_properties >= 0 && n < (size_t)node->min_properties &&
      fold(v, report(v, node, "minProperties",
                     "the object has %zu properties, fewer than the minimum "
                     "%lld",
                     n, node->min_properties),
           &status))
    return status;
  if (node->max_properties >= 0 && n > (size_t)node->max_properties &&
      fold(v, report(v, node, "maxProperties",
                     "the object has %zu properties, more than the maximum "
                     "%lld",
                     n, node->max_properties),
           &status))
    return status;
  if (node->required != NULL &&
      fold(v, check_required(v, node, value, node->required, "required", NULL),
           &status))
    return status;

  json_object_foreach((json_t *)value, key, member) {
    if (fold(v, check_member(v, node, key, member), &status))
      return status;
    if (node->property_names == NULL)
      continue;
    json_t *name = json_string(key);
    if (name == NULL)
      return MVM_ENOMEM;
    int rc = validate_key(v, node->property_names, key, name);
    json_decref(name);
    if (fold(v, rc, &status))
      return status;
  }

  if (node->ndependents > 0)
    fold(v, check_dependents(v, node, value), &status);
  return status;
}

/* ---------------------------------------------------------- applicators */

static int check_all_of(validator *v, const schema_node *node,
                        const json_t *value)
{
  int status = MVM_OK;
  for (size_t i = 0; i < node->all_of.count; i++) {
    if (fold(v, validate_node(v, node->all_of.items[i], value), &status))
      return status;
  }
  return status;
}

static int check_any_of(validator *v, const schema_node *node,
                        const json_t *value)
{
  for (size_t i = 0; i < node->any_of.count; i++) {
    int rc = probe(v, node->any_of.items[i], value);
    if (rc != MVM_ESCHEMA)
      return rc;
  }
  return report(v, node, "anyOf", "the value matches none of the %zu schemas",
                node->any_of.count);
}

static int check_one_of(validator *v, const schema_node *node,
                        const json_t *value)
{
  size_t first = 0;
  size_t matches = 0;

  for (size_t i = 0; i < node->one_of.count; i++) {
    int rc = probe(v, node->one_of.items[i], value);
    if (rc == MVM_ESCHEMA)
      continue;
    if (rc != MVM_OK)
      return rc;
    if (matches == 1)
      return report(v, node, "oneOf",
                    "the value matches both schema %zu and schema %zu; it "
                    "must match exactly one",
                    first, i);
    first = i;
    matches++;
  }
  if (matches == 0)
    return report(v, node, "oneOf",
                  "the value matches none of the %zu schemas; it must "
                  "match exactly one",
                  node->one_of.count);
  return MVM_OK;
}

static int check_applicators(validator *v, const schema_node *node,
                             const json_t *value)
{
  int status = MVM_OK;
  int rc;

  if (node->ref != NULL && fold(v, validate_node(v, node->ref, value),
                                &status))
    return status;
  if (node->all_of.count > 0 && fold(v, check_all_of(v, node, value),
                                     &status))
    return status;
  if (node->any_of.count > 0 && fold(v, check_any_of(v, node, value),
                                     &status))
    return status;
  if (node->one_of.count > 0 && fold(v, check_one_of(v, node, value),
                                     &status))
    return status;

  if (node->not_schema != NULL) {
    rc = probe(v, node->not_schema, value);
    if (rc == MVM_OK)
      rc = report(v, node, "not", "the value matches the schema in not");
    else if (rc == MVM_ESCHEMA)
      rc = MVM_OK;
    if (fold(v, rc, &status))
      return status;
  }

  if (node->if_schema != NULL) {
    rc = probe(v, node->if_schema, value);
    if (rc == MVM_OK && node->then_schema != NULL)
      rc = validate_node(v, node->then_schema, value);
    else if (rc == MVM_ESCHEMA)
      rc = node->else_schema != NULL
               ? validate_node(v, node->else_schema, value)
               : MVM_OK;
    fold(v, rc, &status);
  }
  return status;
}

static int check_enum_const(validator *v, const schema_node *node,
                            const json_t *value)
{
  char shown[DESCRIBE_MAX];
  char allowed[DESCRIBE_MAX * 2];
  int status = MVM_OK;

  if (node->const_value != NULL &&
      !mvm_schema_json_equal(value, node->const_value)) {
    describe(value, shown, sizeof shown);
    describe(node->const_value, allowed, sizeof allowed);
    if (fold(v, report(v, node, "const", "%s is not the constant %s", shown,
                       allowed),
             &status))
      return status;
  }
  if (node->enum_values == NULL)
    return status;

  size_t i;
  const json_t *item;
  json_array_foreach(node->enum_values, i, item) {
    if (mvm_schema_json_equal(value, item))
      return status;
  }
  describe(value, shown, sizeof shown);
  describe(node->enum_values, allowed, sizeof allowed);
  fold(v, report(v, node, "enum", "%s is not one of %s", shown, allowed),
       &status);
  return status;
}

/* ----------------------------------------------------------------- node */

static int check_keywords(validator *v, const schema_node *node,
                          const json_t *value)
{
  int status = MVM_OK;

  if (fold(v, check_type(v, node, value), &status))
    return status;
  if (fold(v, check_enum_const(v, node, value), &status))
    return status;

  int rc = MVM_OK;
  if (json_is_number(value))
    rc = check_number(v, node, value);
  else if (json_is_string(value))
    rc = check_string(v, node, value);
  else if (json_is_array(value))
    rc = check_array(v, node, value);
  else if (json_is_object(value))
    rc = check_object(v, node, value);
  if (fold(v, rc, &status))
    return status;

  fold(v, check_applicators(v, node, value), &status);
  return status;
}

static int validate_node(validator *v, const schema_node *node,
                         const json_t *instance)
{
  if (++v->steps > v->s->opts.max_steps)
    return mvm_error_set(v->err, MVM_ELIMIT, WHERE,
                         "validation applied more than %lu subschemas (at "
                         "%s); simplify the schema or raise the step limit",
                         v->s->opts.max_steps, node->location);
  if (v->depth >= MVM_SCHEMA_MAX_EVAL_DEPTH)
    return mvm_error_set(v->err, MVM_ELIMIT, WHERE,
                         "validation nests deeper than %d subschemas at %s; "
                         "the value or the schema is too deeply nested",
                         MVM_SCHEMA_MAX_EVAL_DEPTH, node->location);

  if (node->boolean == 1)
    return MVM_OK;
  if (node->boolean == 0)
    return report(v, node, "false", "no value is allowed here");

  v->depth++;
  int rc = check_keywords(v, node, instance);
  v->depth--;
  return rc;
}

/* ------------------------------------------------------------ public API */

static int run(const mvm_schema *s, const json_t *instance, json_t *errors,
               mvm_error *err)
{
  validator v = {.s = s, .err = err, .errors = errors};
  int rc;

  if (s == NULL || instance == NULL)
    return mvm_error_set(err, MVM_EINVAL, WHERE,
                         "no schema or value given to validate");
  mvm_buf_init(&v.path, 0);
  v.match = pcre2_match_data_create(1, NULL);
  if (v.match == NULL)
    return mvm_error_set(err, MVM_ENOMEM, WHERE,
                         "out of memory validating a value");

  rc = validate_node(&v, s->root, instance);
  if (rc == MVM_ENOMEM)
    mvm_error_set(err, rc, WHERE, "out of memory validating a value");
  pcre2_match_data_free(v.match);
  mvm_buf_free(&v.path);
  return rc;
}

int mvm_schema_validate(const mvm_schema *s, const json_t *instance,
                        mvm_error *err)
{
  return run(s, instance, NULL, err);
}

int mvm_schema_validate_all(const mvm_schema *s, const json_t *instance,
                            json_t **errors, mvm_error *err)
{
  json_t *list = json_array();
  if (list == NULL)
    return mvm_error_set(err, MVM_ENOMEM, WHERE,
                         "out of memory validating a value");

  int rc = run(s, instance, list, err);
  if (rc != MVM_OK && rc != MVM_ESCHEMA) {
    json_decref(list);
    return rc;
  }
  *errors = list;
  return rc;
}
