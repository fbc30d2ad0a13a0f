/* schema.c - compiles a JSON Schema document into schema_node trees.
 *
 * Each subschema becomes one node. A $ref is resolved after the tree walk,
 * to the node already compiled for the target or to a new one, so a schema
 * that refers to itself compiles in one pass without recursing forever. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "value/schema_internal.h"

#define WHERE "schema"

typedef struct compiler {
  mvm_schema *s;
  mvm_error *err;
  schema_node **pending; /* nodes whose $ref is not resolved yet */
  size_t npending;
  size_t pending_cap;
} compiler;

static int compile_node(compiler *c, const json_t *json, const char *location,
                        int depth, schema_node **out);

/* ------------------------------------------------------------ node table */

static size_t hash_pointer(const void *p, size_t cap)
{
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= (uintptr_t)0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  return (size_t)x & (cap - 1);
}

static schema_node *find_by_source(const mvm_schema *s, const json_t *json)
{
  if (s->by_source_cap == 0)
    return NULL;
  size_t i = hash_pointer(json, s->by_source_cap);
  while (s->by_source[i] != NULL) {
    if (s->by_source[i]->source == json)
      return s->by_source[i];
    i = (i + 1) & (s->by_source_cap - 1);
  }
  return NULL;
}

static void insert_by_source(mvm_schema *s, schema_node *node)
{
  size_t i = hash_pointer(node->source, s->by_source_cap);
  while (s->by_source[i] != NULL)
    i = (i + 1) & (s->by_source_cap - 1);
  s->by_source[i] = node;
}

/* Keeps the hash at most half full so probing stays short. */
static int grow_by_source(mvm_schema *s)
{
  size_t cap = s->by_source_cap ? s->by_source_cap * 2 : 64;
  schema_node **table = calloc(cap, sizeof *table);
  if (table == NULL)
    return MVM_ENOMEM;

  schema_node **old = s->by_source;
  size_t old_cap = s->by_source_cap;
  s->by_source = table;
  s->by_source_cap = cap;
  for (size_t i = 0; i < old_cap; i++) {
    if (old[i] != NULL)
      insert_by_source(s, old[i]);
  }
  free(old);
  return MVM_OK;
}

static int new_node(compiler *c, const json_t *json, const char *location,
                    schema_node **out)
{
  mvm_schema *s = c->s;

  if (s->nnodes >= s->opts.max_nodes)
    return mvm_error_set(c->err, MVM_ELIMIT, WHERE,
                         "the schema has more than %zu subschemas (at %s); "
                         "simplify it or raise the node limit",
                         s->opts.max_nodes, location);
  if (s->nnodes == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    schema_node **nodes = realloc(s->nodes, cap * sizeof *nodes);
    if (nodes == NULL)
      return MVM_ENOMEM;
    s->nodes = nodes;
    s->cap = cap;
  }
  if ((s->nnodes + 1) * 2 > s->by_source_cap && grow_by_source(s))
    return MVM_ENOMEM;

  schema_node *node = calloc(1, sizeof *node);
  if (node == NULL)
    return MVM_ENOMEM;
  node->location = strdup(location);
  if (node->location == NULL) {
    free(node);
    return MVM_ENOMEM;
  }
  node->source = json;
  node->boolean = -1;
  node->min_length = -1;
  node->max_length = -1;
  node->min_contains = -1;
  node->max_contains = -1;
  node->min_items = -1;
  node->max_items = -1;
  node->min_properties = -1;
  node->max_properties = -1;
  s->nodes[s->nnodes++] = node;
  /* jansson's true and false are shared singletons, so boolean schemas are
   * never looked up by source: each keeps its own location. */
  if (json_is_object(json))
    insert_by_source(s, node);
  *out = node;
  return MVM_OK;
}

static void free_node(schema_node *node)
{
  pcre2_code_free(node->pattern.code);
  for (size_t i = 0; i < node->npattern_properties; i++)
    pcre2_code_free(node->pattern_properties[i].regex.code);
  free(node->pattern_properties);
  free(node->properties);
  free(node->dependents);
  free(node->prefix_items.items);
  free(node->all_of.items);
  free(node->any_of.items);
  free(node->one_of.items);
  free(node->location);
  free(node);
}

void mvm_schema_free(mvm_schema *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->nnodes; i++)
    free_node(s->nodes[i]);
  free(s->nodes);
  free(s->by_source);
  pcre2_match_context_free(s->match_context);
  json_decref(s->document);
  free(s);
}

/* ------------------------------------------------------------- locations */

int mvm_schema_append_token(mvm_buf *buf, const char *key, size_t len)
{
  int rc = mvm_buf_append(buf, "/", 1);
  size_t start = 0;

  /* Copies runs of plain bytes at once and escapes ~ and / between them. */
  for (size_t i = 0; rc == MVM_OK && i <= len; i++) {
    if (i < len && key[i] != '~' && key[i] != '/')
      continue;
    rc = mvm_buf_append(buf, key + start, i - start);
    if (rc == MVM_OK && i < len)
      rc = mvm_buf_append(buf, key[i] == '~' ? "~0" : "~1", 2);
    start = i + 1;
  }
  return rc;
}

/* Builds base + "/" + key (+ "/" + index when index >= 0) into *out, a
 * malloc'd string. */
static int child_location(const char *base, const char *key, long long index,
                          char **out)
{
  mvm_buf buf;
  mvm_buf_init(&buf, 0);
  int rc = mvm_buf_append_str(&buf, base);
  if (rc == MVM_OK)
    rc = mvm_schema_append_token(&buf, key, strlen(key));
  if (rc == MVM_OK && index >= 0)
    rc = mvm_buf_printf(&buf, "/%lld", index);
  if (rc == MVM_OK) {
    *out = mvm_buf_steal(&buf);
    if (*out == NULL)
      rc = MVM_ENOMEM;
  }
  mvm_buf_free(&buf);
  return rc;
}

/* Compiles the subschema json found at location/key[/index]. */
static int compile_child(compiler *c, const json_t *json, const char *base,
                         const char *key, long long index, int depth,
                         schema_node **out)
{
  char *location = NULL;
  int rc = child_location(base, key, index, &location);
  if (rc == MVM_OK)
    rc = compile_node(c, json, location, depth + 1, out);
  free(location);
  return rc;
}

/* ------------------------------------------------------ keyword checkers */

static int invalid_keyword(compiler *c, const schema_node *node,
                           const char *keyword, const char *expected)
{
  return mvm_error_set(c->err, MVM_EINVAL, WHERE,
                       "the schema keyword %s at %s must be %s; fix the "
                       "schema",
                       keyword, node->location, expected);
}

/* Reads a non-negative integer keyword (2.0 counts as 2) into *out. */
static int get_count(compiler *c, const schema_node *node,
                     const char *keyword, long long *out)
{
  const json_t *v = json_object_get(node->source, keyword);
  if (v == NULL)
    return MVM_OK;
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = json_integer_value(v);
    return MVM_OK;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d >= 0 && d < 9.2e18 && floor(d) == d) {
      *out = (long long)d;
      return MVM_OK;
    }
  }
  return invalid_keyword(c, node, keyword, "a non-negative integer");
}

static int get_number(compiler *c, const schema_node *node,
                      const char *keyword, const json_t **out)
{
  const json_t *v = json_object_get(node->source, keyword);
  if (v == NULL)
    return MVM_OK;
  if (!json_is_number(v))
    return invalid_keyword(c, node, keyword, "a number");
  *out = v;
  return MVM_OK;
}

static int get_schema(compiler *c, schema_node *node, const char *keyword,
                      int depth, schema_node **out)
{
  const json_t *v = json_object_get(node->source, keyword);
  if (v == NULL)
    return MVM_OK;
  return compile_child(c, v, node->location, keyword, -1, depth, out);
}

/* Compiles a non-empty array of schemas (allOf, anyOf, oneOf, prefixItems). */
static int get_schema_list(compiler *c, schema_node *node, const char *keyword,
                           int depth, schema_list *out)
{
  const json_t *v = json_object_get(node->source, keyword);
  if (v == NULL)
    return MVM_OK;
  if (!json_is_array(v) || json_array_size(v) == 0)
    return invalid_keyword(c, node, keyword, "a non-empty array of schemas");

  out->items = calloc(json_array_size(v), sizeof *out->items);
  if (out->items == NULL)
    return MVM_ENOMEM;
  for (size_t i = 0; i < json_array_size(v); i++) {
    int rc = compile_child(c, json_array_get(v, i), node->location, keyword,
                           (long long)i, depth, &out->items[i]);
    if (rc)
      return rc;
    out->count++;
  }
  return MVM_OK;
}

static int type_bit(const char *name, unsigned *bit)
{
  static const struct {
    const char *name;
    unsigned bit;
  } types[] = {
      {"null", SCHEMA_NULL},       {"boolean", SCHEMA_BOOLEAN},
      {"object", SCHEMA_OBJECT},   {"array", SCHEMA_ARRAY},
      {"number", SCHEMA_NUMBER},   {"string", SCHEMA_STRING},
      {"integer", SCHEMA_INTEGER},
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (strcmp(name, types[i].name) == 0) {
      *bit = types[i].bit;
      return MVM_OK;
    }
  }
  return MVM_EINVAL;
}

static int get_types(compiler *c, schema_node *node)
{
  static const char expected[] =
      "a type name (null, boolean, object, array, number, string, integer) "
      "or an array of them";
  const json_t *v = json_object_get(node->source, "type");
  unsigned bit;

  if (v == NULL)
    return MVM_OK;
  if (json_is_string(v)) {
    if (type_bit(json_string_value(v), &bit))
      return invalid_keyword(c, node, "type", expected);
    node->types = bit;
    return MVM_OK;
  }
  if (!json_is_array(v) || json_array_size(v) == 0)
    return invalid_keyword(c, node, "type", expected);

  size_t i;
  const json_t *item;
  json_array_foreach(v, i, item) {
    if (!json_is_string(item) || type_bit(json_string_value(item), &bit))
      return invalid_keyword(c, node, "type", expected);
    node->types |= bit;
  }
  return MVM_OK;
}

static int compile_regex(compiler *c, const schema_node *node,
                         const char *keyword, const char *text, size_t len,
                         schema_regex *out)
{
  const mvm_schema *s = c->s;

  if (len > s->opts.max_pattern)
    return mvm_error_set(c->err, MVM_ELIMIT, WHERE,
                         "the %s at %s is %zu bytes, over the limit of %zu "
                         "bytes; shorten the pattern",
                         keyword, node->location, len, s->opts.max_pattern);

  mvm_buf pcre;
  int code;
  PCRE2_SIZE offset;

  mvm_buf_init(&pcre, 0);
  out->text = text;
  if (mvm_schema_regex_translate(text, len, &pcre))
    return MVM_ENOMEM;
  /* DOLLAR_ENDONLY: in ECMA-262, $ does not match before a final \n. */
  out->code = pcre2_compile((PCRE2_SPTR)(pcre.data ? pcre.data : ""),
                            pcre.len, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY,
                            &code, &offset, NULL);
  bool same = pcre.len == len;
  mvm_buf_free(&pcre);
  if (out->code != NULL)
    return MVM_OK;
  if (code == PCRE2_ERROR_NOMEMORY)
    return MVM_ENOMEM;

  PCRE2_UCHAR why[120];
  pcre2_get_error_message(code, why, sizeof why);
  /* An offset into the rewritten pattern would mislead, so it is shown
   * only when the rewrite changed nothing. */
  if (!same)
    return mvm_error_set(c->err, MVM_EINVAL, WHERE,
                         "the %s at %s is not a valid regular expression: "
                         "%s",
                         keyword, node->location, (const char *)why);
  return mvm_error_set(c->err, MVM_EINVAL, WHERE,
                       "the %s at %s is not a valid regular expression: "
                       "%s at offset %zu",
                       keyword, node->location, (const char *)why,
                       (size_t)offset);
}

/* ------------------------------------------------------- object keywords */

static int get_properties(compiler *c, schema_node *node, int depth)
{
  const json_t *v = json_object_get(node->source, "properties");
  if (v == NULL)
    return MVM_OK;
  if (!json_is_object(v))
    return invalid_keyword(c, node, "properties",
                           "an object of property schemas");

  node->properties = calloc(json_object_size(v) + 1,
                            sizeof *node->properties);
  if (node->properties == NULL)
    return MVM_ENOMEM;

  char *base = NULL;
  int rc = child_location(node->location, "properties", -1, &base);
  const char *key;
  const json_t *sub;
  json_object_foreach((json_t *)v, key, sub) {
    if (rc)
      break;
    schema_property *p = &node->properties[node->nproperties];
    p->name = key;
    rc = compile_child(c, sub, base, key, -1, depth, &p->schema);
    if (rc == MVM_OK)
      node->nproperties++;
  }
  free(base);
  return rc;
}

static int get_pattern_properties(compiler *c, schema_node *node, int depth)
{
  const json_t *v = json_object_get(node->source, "patternProperties");
  if (v == NULL)
    return MVM_OK;
  if (!json_is_object(v))
    return invalid_keyword(c, node, "patternProperties",
                           "an object of pattern schemas");

  node->pattern_properties = calloc(json_object_size(v) + 1,
                                    sizeof *node->pattern_properties);
  if (node->pattern_properties == NULL)
    return MVM_ENOMEM;

  char *base = NULL;
  int rc = child_location(node->location, "patternProperties", -1, &base);
  const char *key;
  const json_t *sub;
  json_object_foreach((json_t *)v, key, sub) {
    if (rc)
      break;
    schema_pattern_property *p =
        &node->pattern_properties[node->npattern_properties];
    rc = compile_regex(c, node, "patternProperties key", key, strlen(key),
                       &p->regex);
    if (rc == MVM_OK)
      rc = compile_child(c, sub, base, key, -1, depth, &p->schema);
    if (p->regex.code != NULL)
      node->npattern_properties++;
  }
  free(base);
  return rc;
}

static bool is_string_array(const json_t *v)
{
  size_t i;
  const json_t *item;

  if (!json_is_array(v))
    return false;
  json_array_foreach(v, i, item) {
    if (!json_is_string(item))
      return false;
  }
  return true;
}

static int get_required(compiler *c, schema_node *node)
{
  const json_t *v = json_object_get(node->source, "required");
  if (v == NULL)
    return MVM_OK;
  if (!is_string_array(v))
    return invalid_keyword(c, node, "required",
                           "an array of property names");
  node->required = v;
  return MVM_OK;
}

/* Adds the dependencies of one keyword: dependentRequired (arrays of
 * names), dependentSchemas (schemas), or the older "dependencies" that
 * mixes both. */
static int add_dependents(compiler *c, schema_node *node, const char *keyword,
                          bool names, bool schemas, int depth)
{
  const json_t *v = json_object_get(node->source, keyword);
  if (v == NULL)
    return MVM_OK;
  if (!json_is_object(v))
    return invalid_keyword(c, node, keyword, "an object");

  size_t n = node->ndependents + json_object_size(v);
  schema_dependent *d = realloc(node->dependents, (n + 1) * sizeof *d);
  if (d == NULL)
    return MVM_ENOMEM;
  node->dependents = d;

  char *base = NULL;
  int rc = child_location(node->location, keyword, -1, &base);
  const char *key;
  const json_t *sub;
  json_object_foreach((json_t *)v, key, sub) {
    if (rc)
      break;
    schema_dependent *dep = &node->dependents[node->ndependents];
    memset(dep, 0, sizeof *dep);
    dep->keyword = keyword;
    dep->name = key;
    if (names && is_string_array(sub))
      dep->required = sub;
    else if (schemas && (json_is_object(sub) || json_is_boolean(sub)))
      rc = compile_child(c, sub, base, key, -1, depth, &dep->schema);
    else
      rc = invalid_keyword(c, node, keyword,
                           names && schemas
                               ? "an object of name arrays or schemas"
                           : names ? "an object of property name arrays"
                                   : "an object of schemas");
    if (rc == MVM_OK)
      node->ndependents++;
  }
  free(base);
  return rc;
}

static int get_defs(compiler *c, schema_node *node, int depth)
{
  const json_t *v = json_object_get(node->source, "$defs");
  if (v == NULL)
    return MVM_OK;
  if (!json_is_object(v))
    return invalid_keyword(c, node, "$defs", "an object of schemas");

  char *base = NULL;
  int rc = child_location(node->location, "$defs", -1, &base);
  const char *key;
  const json_t *sub;
  json_object_foreach((json_t *)v, key, sub) {
    schema_node *unused;
    if (rc)
      break;
    rc = compile_child(c, sub, base, key, -1, depth, &unused);
  }
  free(base);
  return rc;
}

/* ---------------------------------------------------------- array keywords */

/* "items" is one schema in 2020-12. The array form of earlier drafts is
 * read as prefixItems, with "additionalItems" for the rest, so draft-07
 * tool schemas keep their meaning. */
static int get_items(compiler *c, schema_node *node, int depth)
{
  const json_t *items = json_object_get(node->source, "items");
  int rc;

  if (json_is_array(items)) {
    if (json_object_get(node->source, "prefixItems") != NULL)
      return invalid_keyword(c, node, "items",
                             "a schema when prefixItems is present");
    rc = get_schema_list(c, node, "items", depth, &node->prefix_items);
    if (rc == MVM_OK)
      rc = get_schema(c, node, "additionalItems", depth, &node->items);
    return rc;
  }
  rc = get_schema_list(c, node, "prefixItems", depth, &node->prefix_items);
  if (rc == MVM_OK)
    rc = get_schema(c, node, "items", depth, &node->items);
  return rc;
}

static int get_string(compiler *c, const schema_node *node,
                      const char *keyword, const char **out)
{
  const json_t *v = json_object_get(node->source, keyword);
  if (v == NULL)
    return MVM_OK;
  if (!json_is_string(v))
    return invalid_keyword(c, node, keyword, "a string");
  *out = json_string_value(v);
  return MVM_OK;
}

/* Rejects keywords whose meaning mvm does not implement, because ignoring
 * them would accept values the schema author meant to reject. */
static int check_unsupported(compiler *c, const schema_node *node, int depth)
{
  static const char *const keywords[] = {
      "unevaluatedProperties", "unevaluatedItems", "$dynamicRef",
      "$recursiveRef",
  };
  for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
    if (json_object_get(node->source, keywords[i]) != NULL)
      return mvm_error_set(c->err, MVM_EUNSUPPORTED, WHERE,
                           "the schema keyword %s at %s is not supported; "
                           "use additionalProperties or items instead",
                           keywords[i], node->location);
  }
  if (depth > 0 && json_object_get(node->source, "$id") != NULL)
    return mvm_error_set(c->err, MVM_EUNSUPPORTED, WHERE,
                         "the embedded $id at %s is not supported; move the "
                         "subschema into $defs without an $id",
                         node->location);
  return MVM_OK;
}

static int get_applicators(compiler *c, schema_node *node, int depth)
{
  int rc = get_schema_list(c, node, "allOf", depth, &node->all_of);
  if (rc == MVM_OK)
    rc = get_schema_list(c, node, "anyOf", depth, &node->any_of);
  if (rc == MVM_OK)
    rc = get_schema_list(c, node, "oneOf", depth, &node->one_of);
  if (rc == MVM_OK)
    rc = get_schema(c, node, "not", depth, &node->not_schema);
  if (rc == MVM_OK)
    rc = get_schema(c, node, "if", depth, &node->if_schema);
  if (rc == MVM_OK)
    rc = get_schema(c, node, "then", depth, &node->then_schema);
  if (rc == MVM_OK)
    rc = get_schema(c, node, "else", depth, &node->else_schema);
  if (rc == MVM_OK)
    rc = get_string(c, node, "$ref", &node->ref_text);
  if (rc == MVM_OK && node->ref_text != NULL) {
    if (c->npending == c->pending_cap) {
      size_t cap = c->pending_cap ? c->pending_cap * 2 : 16;
      schema_node **p = realloc(c->pending, cap * sizeof *p);
      if (p == NULL)
        return MVM_ENOMEM;
      c->pending = p;
      c->pending_cap = cap;
    }
    c->pending[c->npending++] = node;
  }
  return rc;
}

static int get_value_keywords(compiler *c, schema_node *node)
{
  int rc = get_types(c, node);
  if (rc == MVM_OK)
    rc = get_number(c, node, "minimum", &node->minimum);
  if (rc == MVM_OK)
    rc = get_number(c, node, "maximum", &node->maximum);
  if (rc == MVM_OK)
    rc = get_number(c, node, "exclusiveMinimum", &node->exclusive_minimum);
  if (rc == MVM_OK)
    rc = get_number(c, node, "exclusiveMaximum", &node->exclusive_maximum);
  if (rc == MVM_OK)
    rc = get_number(c, node, "multipleOf", &node->multiple_of);
  if (rc == MVM_OK && node->multiple_of != NULL &&
      json_number_value(node->multiple_of) <= 0)
    rc = invalid_keyword(c, node, "multipleOf", "a number greater than 0");
  if (rc == MVM_OK)
    rc = get_count(c, node, "minLength", &node->min_length);
  if (rc == MVM_OK)
    rc = get_count(c, node, "maxLength", &node->max_length);
  if (rc == MVM_OK)
    rc = get_string(c, node, "format", &node->format);

  const json_t *pattern = json_object_get(node->source, "pattern");
  if (rc == MVM_OK && pattern != NULL && !json_is_string(pattern))
    rc = invalid_keyword(c, node, "pattern", "a string");
  if (rc == MVM_OK && pattern != NULL)
    rc = compile_regex(c, node, "pattern", json_string_value(pattern),
                       json_string_length(pattern), &node->pattern);

  if (rc == MVM_OK)
    rc = get_count(c, node, "minItems", &node->min_items);
  if (rc == MVM_OK)
    rc = get_count(c, node, "maxItems", &node->max_items);
  if (rc == MVM_OK)
    rc = get_count(c, node, "minContains", &node->min_contains);
  if (rc == MVM_OK)
    rc = get_count(c, node, "maxContains", &node->max_contains);
  if (rc == MVM_OK)
    rc = get_count(c, node, "minProperties", &node->min_properties);
  if (rc == MVM_OK)
    rc = get_count(c, node, "maxProperties", &node->max_properties);

  const json_t *unique = json_object_get(node->source, "uniqueItems");
  if (rc == MVM_OK && unique != NULL && !json_is_boolean(unique))
    rc = invalid_keyword(c, node, "uniqueItems", "true or false");
  node->unique_items = json_is_true(unique);

  const json_t *values = json_object_get(node->source, "enum");
  if (rc == MVM_OK && values != NULL && !json_is_array(values))
    rc = invalid_keyword(c, node, "enum", "an array");
  node->enum_values = values;
  node->const_value = json_object_get(node->source, "const");
  if (rc == MVM_OK)
    rc = get_required(c, node);
  return rc;
}

static int get_structure(compiler *c, schema_node *node, int depth)
{
  int rc = get_defs(c, node, depth);
  if (rc == MVM_OK)
    rc = get_properties(c, node, depth);
  if (rc == MVM_OK)
    rc = get_pattern_properties(c, node, depth);
  if (rc == MVM_OK)
    rc = get_schema(c, node, "additionalProperties", depth,
                    &node->additional_properties);
  if (rc == MVM_OK)
    rc = get_schema(c, node, "propertyNames", depth, &node->property_names);
  if (rc == MVM_OK)
    rc = add_dependents(c, node, "dependentRequired", true, false, depth);
  if (rc == MVM_OK)
    rc = add_dependents(c, node, "dependentSchemas", false, true, depth);
  if (rc == MVM_OK)
    rc = add_dependents(c, node, "dependencies", true, true, depth);
  if (rc == MVM_OK)
    rc = get_items(c, node, depth);
  if (rc == MVM_OK)
    rc = get_schema(c, node, "contains", depth, &node->contains);
  return rc;
}

static int compile_node(compiler *c, const json_t *json, const char *location,
                        int depth, schema_node **out)
{
  schema_node *node = NULL;
  int rc;

  if (!json_is_object(json) && !json_is_boolean(json))
    return mvm_error_set(c->err, MVM_EINVAL, WHERE,
                         "the schema at %s is %s; a schema must be an "
                         "object or a boolean",
                         location, json_is_null(json) ? "null"
                                   : json_is_array(json) ? "an array"
                                   : json_is_string(json) ? "a string"
                                                          : "a number");
  node = find_by_source(c->s, json);
  if (node != NULL) {
    *out = node;
    return MVM_OK;
  }
  if (depth > c->s->opts.max_depth)
    return mvm_error_set(c->err, MVM_ELIMIT, WHERE,
                         "the schema nests deeper than %d levels at %s; "
                         "flatten it with $defs and $ref",
                         c->s->opts.max_depth, location);

  rc = new_node(c, json, location, &node);
  if (rc)
    return rc;
  *out = node;
  if (json_is_boolean(json)) {
    node->boolean = json_is_true(json);
    return MVM_OK;
  }

  rc = check_unsupported(c, node, depth);
  if (rc == MVM_OK)
    rc = get_value_keywords(c, node);
  if (rc == MVM_OK)
    rc = get_structure(c, node, depth);
  if (rc == MVM_OK)
    rc = get_applicators(c, node, depth);
  return rc;
}

/* ------------------------------------------------------------ references */

static int hex_value(char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Percent-decodes a URI fragment into *out (malloc'd). */
static int decode_fragment(const char *text, char **out)
{
  size_t len = strlen(text);
  char *buf = malloc(len + 1);
  size_t n = 0;

  if (buf == NULL)
    return MVM_ENOMEM;
  for (size_t i = 0; i < len; i++) {
    if (text[i] != '%') {
      buf[n++] = text[i];
      continue;
    }
    int hi = i + 1 < len ? hex_value(text[i + 1]) : -1;
    int lo = i + 2 < len ? hex_value(text[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
      free(buf);
      return MVM_EINVAL;
    }
    buf[n++] = (char)(hi * 16 + lo);
    i += 2;
  }
  buf[n] = '\0';
  *out = buf;
  return MVM_OK;
}

/* Reads the next RFC 6901 reference token of *pointer (after its '/') into
 * token, unescaping ~0 and ~1. Returns false on a bad escape. */
static bool next_token(const char **pointer, char *token)
{
  const char *p = *pointer + 1;
  size_t n = 0;

  while (*p != '\0' && *p != '/') {
    if (*p == '~') {
      if (p[1] != '0' && p[1] != '1')
        return false;
      token[n++] = p[1] == '0' ? '~' : '/';
      p += 2;
      continue;
    }
    token[n++] = *p++;
  }
  token[n] = '\0';
  *pointer = p;
  return true;
}

static const json_t *array_member(const json_t *array, const char *token)
{
  char *end;

  if (token[0] < '0' || token[0] > '9' || (token[0] == '0' && token[1]))
    return NULL;
  unsigned long long index = strtoull(token, &end, 10);
  if (*end != '\0' || index >= json_array_size(array))
    return NULL;
  return json_array_get(array, (size_t)index);
}

/* Finds the value a JSON pointer names inside document, or NULL. */
static const json_t *resolve_pointer(const json_t *document,
                                     const char *pointer, bool *bad_escape)
{
  const json_t *at = document;
  char *token = malloc(strlen(pointer) + 1);

  *bad_escape = false;
  if (token == NULL)
    return NULL;
  while (at != NULL && *pointer == '/') {
    if (!next_token(&pointer, token)) {
      *bad_escape = true;
      at = NULL;
    } else if (json_is_object(at)) {
      at = json_object_get(at, token);
    } else if (json_is_array(at)) {
      at = array_member(at, token);
    } else {
      at = NULL;
    }
  }
  free(token);
  return at;
}

/* Finds the subschema whose "$anchor" is name, searching at most `levels`
 * levels deep. */
static const json_t *find_anchor(const json_t *at, const char *name,
                                 int levels)
{
  const json_t *found = NULL;

  if (levels < 0)
    return NULL;
  if (json_is_object(at)) {
    const json_t *anchor = json_object_get(at, "$anchor");
    if (json_is_string(anchor) && strcmp(json_string_value(anchor), name) == 0)
      return at;
    const char *key;
    const json_t *sub;
    json_object_foreach((json_t *)at, key, sub) {
      if (strcmp(key, "enum") == 0 || strcmp(key, "const") == 0)
        continue;
      found = find_anchor(sub, name, levels - 1);
      if (found != NULL)
        return found;
    }
  } else if (json_is_array(at)) {
    size_t i;
    const json_t *sub;
    json_array_foreach(at, i, sub) {
      found = find_anchor(sub, name, levels - 1);
      if (found != NULL)
        return found;
    }
  }
  return NULL;
}

/* Returns the fragment of a reference within this document, or NULL when
 * it names another document. "#..." always qualifies, and so does
 * "<root $id>#..." or the root $id itself. */
static const char *local_fragment(const json_t *document, const char *ref)
{
  if (ref[0] == '#')
    return ref + 1;

  const json_t *id = json_object_get(document, "$id");
  if (!json_is_string(id))
    return NULL;
  size_t n = strlen(json_string_value(id));
  if (n > 0 && json_string_value(id)[n - 1] == '#')
    n--;
  if (strncmp(ref, json_string_value(id), n) != 0)
    return NULL;
  if (ref[n] == '\0')
    return ref + n;
  return ref[n] == '#' ? ref + n + 1 : NULL;
}

static int resolve_ref(compiler *c, schema_node *node)
{
  const json_t *document = c->s->document;
  const char *fragment = local_fragment(document, node->ref_text);
  char *decoded = NULL;
  char *location = NULL;
  const json_t *target = NULL;
  bool bad_escape = false;
  int rc;

  if (fragment == NULL)
    return mvm_error_set(c->err, MVM_EUNSUPPORTED, WHERE,
                         "the $ref \"%s\" at %s names another document; "
                         "only references within the schema (\"#\", "
                         "\"#/$defs/name\") are supported",
                         node->ref_text, node->location);
  rc = decode_fragment(fragment, &decoded);
  if (rc == MVM_EINVAL)
    return mvm_error_set(c->err, rc, WHERE,
                         "the $ref \"%s\" at %s has an invalid percent "
                         "escape; write %%25 for a literal %%",
                         node->ref_text, node->location);
  if (rc)
    return rc;

  if (decoded[0] == '\0' || decoded[0] == '/')
    target = resolve_pointer(document, decoded, &bad_escape);
  else
    target = find_anchor(document, decoded, c->s->opts.max_depth * 2);
  if (target == NULL) {
    rc = mvm_error_set(c->err, MVM_EINVAL, WHERE,
                       "the $ref \"%s\" at %s does not resolve%s; point it "
                       "at a subschema of this document",
                       node->ref_text, node->location,
                       bad_escape ? " (a ~ must be followed by 0 or 1)" : "");
    goto out;
  }

  node->ref = find_by_source(c->s, target);
  if (node->ref != NULL)
    goto out;
  location = malloc(strlen(decoded) + 2);
  if (location == NULL) {
    rc = MVM_ENOMEM;
    goto out;
  }
  location[0] = '#';
  strcpy(location + 1, decoded);
  rc = compile_node(c, target, location, 1, &node->ref);
out:
  free(location);
  free(decoded);
  return rc;
}

/* ---------------------------------------------------------- cycle check */

static int check_cycles(compiler *c, schema_node *node);

static int check_list(compiler *c, const schema_list *list)
{
  for (size_t i = 0; i < list->count; i++) {
    int rc = check_cycles(c, list->items[i]);
    if (rc)
      return rc;
  }
  return MVM_OK;
}

/* Follows the keywords that apply a subschema to the same instance ($ref,
 * allOf, anyOf, oneOf, not, if/then/else, dependentSchemas). A loop along
 * them would never reach a smaller part of the instance, so validation
 * would never end: such a schema is rejected. Loops through properties or
 * items are fine, because each step goes one level into the instance. */
static int check_cycles(compiler *c, schema_node *node)
{
  if (node == NULL || node->mark == 2)
    return MVM_OK;
  if (node->mark == 1)
    return mvm_error_set(c->err, MVM_EINVAL, WHERE,
                         "the schema at %s refers to itself without reading "
                         "into the value, so validation would never end; "
                         "break the $ref loop",
                         node->location);
  node->mark = 1;

  int rc = check_cycles(c, node->ref);
  if (rc == MVM_OK)
    rc = check_list(c, &node->all_of);
  if (rc == MVM_OK)
    rc = check_list(c, &node->any_of);
  if (rc == MVM_OK)
    rc = check_list(c, &node->one_of);
  if (rc == MVM_OK)
    rc = check_cycles(c, node->not_schema);
  if (rc == MVM_OK)
    rc = check_cycles(c, node->if_schema);
  if (rc == MVM_OK)
    rc = check_cycles(c, node->then_schema);
  if (rc == MVM_OK)
    rc = check_cycles(c, node->else_schema);
  for (size_t i = 0; rc == MVM_OK && i < node->ndependents; i++)
    rc = check_cycles(c, node->dependents[i].schema);
  node->mark = 2;
  return rc;
}

/* ----------------------------------------------------------- public API */

static void set_defaults(const mvm_schema_options *opts, mvm_schema *s)
{
  if (opts != NULL)
    s->opts = *opts;
  if (s->opts.max_depth <= 0)
    s->opts.max_depth = MVM_SCHEMA_DEFAULT_MAX_DEPTH;
  if (s->opts.max_nodes == 0)
    s->opts.max_nodes = MVM_SCHEMA_DEFAULT_MAX_NODES;
  if (s->opts.max_pattern == 0)
    s->opts.max_pattern = MVM_SCHEMA_DEFAULT_MAX_PATTERN;
  if (s->opts.match_limit == 0)
    s->opts.match_limit = MVM_SCHEMA_DEFAULT_MATCH_LIMIT;
  if (s->opts.max_steps == 0)
    s->opts.max_steps = MVM_SCHEMA_DEFAULT_MAX_STEPS;
}

int mvm_schema_compile_opts(const json_t *schema,
                            const mvm_schema_options *opts, mvm_schema **out,
                            mvm_error *err)
{
  compiler c = {.err = err};
  int rc;

  if (schema == NULL || out == NULL)
    return mvm_error_set(err, MVM_EINVAL, WHERE,
                         "no schema given; pass a JSON object or boolean");
  c.s = calloc(1, sizeof *c.s);
  if (c.s == NULL)
    return MVM_ENOMEM;
  set_defaults(opts, c.s);
  c.s->document = json_incref((json_t *)schema);
  c.s->match_context = pcre2_match_context_create(NULL);
  if (c.s->match_context == NULL) {
    rc = MVM_ENOMEM;
    goto out;
  }
  pcre2_set_match_limit(c.s->match_context, c.s->opts.match_limit);
  pcre2_set_depth_limit(c.s->match_context, c.s->opts.match_limit);

  rc = compile_node(&c, schema, "#", 0, &c.s->root);
  /* Resolving one reference may compile a new subtree with more of them,
   * which land at the end of the pending list. */
  for (size_t i = 0; rc == MVM_OK && i < c.npending; i++)
    rc = resolve_ref(&c, c.pending[i]);
  for (size_t i = 0; rc == MVM_OK && i < c.s->nnodes; i++)
    rc = check_cycles(&c, c.s->nodes[i]);

out:
  free(c.pending);
  if (rc == MVM_ENOMEM)
    mvm_error_set(err, rc, WHERE, "out of memory compiling the schema");
  if (rc) {
    mvm_schema_free(c.s);
    return rc;
  }
  *out = c.s;
  return MVM_OK;
}

int mvm_schema_compile(const json_t *schema, mvm_schema **out,
                       mvm_error *err)
{
  return mvm_schema_compile_opts(schema, NULL, out, err);
}

int mvm_schema_check(const json_t *schema, const json_t *instance,
                     mvm_error *err)
{
  mvm_schema *s = NULL;
  int rc = mvm_schema_compile(schema, &s, err);
  if (rc)
    return rc;
  rc = mvm_schema_validate(s, instance, err);
  mvm_schema_free(s);
  return rc;
}
