/* schema_internal.h - compiled JSON Schema nodes, shared by the compiler
 * (schema.c), the validator (schema_validate.c), number comparison
 * (schema_number.c) and the format checks (schema_format.c). */
#ifndef MVM_VALUE_SCHEMA_INTERNAL_H
#define MVM_VALUE_SCHEMA_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "base/buf.h"
#include "value/schema.h"

/* Bits of schema_node.types, one per JSON Schema type name. */
enum {
  SCHEMA_NULL = 1u << 0,
  SCHEMA_BOOLEAN = 1u << 1,
  SCHEMA_OBJECT = 1u << 2,
  SCHEMA_ARRAY = 1u << 3,
  SCHEMA_NUMBER = 1u << 4,
  SCHEMA_STRING = 1u << 5,
  SCHEMA_INTEGER = 1u << 6,
};

typedef struct schema_node schema_node;

/* A compiled regular expression with its source text for messages. */
typedef struct schema_regex {
  pcre2_code *code;
  const char *text; /* borrowed from the schema document */
} schema_regex;

typedef struct schema_property {
  const char *name; /* borrowed from the schema document */
  schema_node *schema;
} schema_property;

typedef struct schema_pattern_property {
  schema_regex regex;
  schema_node *schema;
} schema_pattern_property;

typedef struct schema_dependent {
  const char *keyword;    /* dependentRequired, dependentSchemas, ... */
  const char *name;       /* the property that triggers the dependency */
  const json_t *required; /* dependentRequired: array of names, or NULL */
  schema_node *schema;    /* dependentSchemas, or NULL */
} schema_dependent;

typedef struct schema_list {
  schema_node **items;
  size_t count;
} schema_list;

/* One compiled subschema. json_t pointers and strings are borrowed from the
 * schema document that mvm_schema keeps a reference to. An absent keyword
 * is NULL, or -1 for counts. */
struct schema_node {
  const json_t *source;
  char *location; /* "#/properties/a", owned */
  int boolean;    /* -1: an object schema; 0: false; 1: true */
  unsigned types; /* 0: no "type" keyword */

  const json_t *minimum;
  const json_t *maximum;
  const json_t *exclusive_minimum;
  const json_t *exclusive_maximum;
  const json_t *multiple_of;

  long long min_length;
  long long max_length;
  schema_regex pattern;
  const char *format;

  schema_list prefix_items;
  schema_node *items;
  schema_node *contains;
  long long min_contains;
  long long max_contains;
  long long min_items;
  long long max_items;
  bool unique_items;

  schema_property *properties;
  size_t nproperties;
  schema_pattern_property *pattern_properties;
  size_t npattern_properties;
  schema_node *additional_properties;
  const json_t *required;
  long long min_properties;
  long long max_properties;
  schema_node *property_names;
  schema_dependent *dependents;
  size_t ndependents;

  const json_t *enum_values;
  const json_t *const_value;
  schema_list all_of;
  schema_list any_of;
  schema_list one_of;
  schema_node *not_schema;
  schema_node *if_schema;
  schema_node *then_schema;
  schema_node *else_schema;
  schema_node *ref;
  const char *ref_text;

  int mark; /* cycle check state while compiling */
};

struct mvm_schema {
  json_t *document; /* a reference to the compiled schema */
  schema_node *root;
  schema_node **nodes; /* every node, for lookup and release */
  size_t nnodes;
  size_t cap;
  schema_node **by_source; /* hash of source pointer -> node */
  size_t by_source_cap;
  pcre2_match_context *match_context;
  mvm_schema_options opts;
};

/* Checks whether value is a whole multiple of divisor (> 0): exactly for
 * whole numbers, within a few units in the last place otherwise. */
bool mvm_schema_is_multiple(const json_t *value, const json_t *divisor);

/* Appends "/" and key escaped as an RFC 6901 reference token (~0, ~1). */
int mvm_schema_append_token(mvm_buf *buf, const char *key, size_t len);

/* Appends to out the PCRE2 form of the ECMA-262 pattern text[0..len)
 * (schema_regex.c lists what changes). Returns MVM_OK or MVM_ENOMEM. */
int mvm_schema_regex_translate(const char *text, size_t len, mvm_buf *out);

/* Checks text[0..len) against a named format. Returns true when the format
 * is unknown, or known and the text matches it. */
bool mvm_schema_format_check(const char *format, const char *text,
                             size_t len);

#endif
