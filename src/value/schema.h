/* schema.h - JSON Schema (draft 2020-12) validation over jansson values.
 *
 * A schema is compiled once into a tree of nodes (patterns compiled with
 * PCRE2, $ref resolved to nodes) and can then validate any number of
 * instances. docs/schema.md lists the supported keywords, formats and
 * limits.
 *
 * Ownership: mvm_schema_compile returns a schema the caller releases with
 * mvm_schema_free. The compiled schema keeps a reference to the schema
 * document, so the caller must not modify that document while the compiled
 * schema exists. Validation only reads the instance. */
#ifndef MVM_VALUE_SCHEMA_H
#define MVM_VALUE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm.h"

/* Default limits. Each is a distinct MVM_ELIMIT error when crossed. */
#define MVM_SCHEMA_DEFAULT_MAX_DEPTH 64       /* schema nesting levels */
#define MVM_SCHEMA_DEFAULT_MAX_NODES 10000    /* compiled subschemas */
#define MVM_SCHEMA_DEFAULT_MAX_PATTERN 1024   /* bytes in one pattern */
#define MVM_SCHEMA_DEFAULT_MATCH_LIMIT 100000 /* PCRE2 match limit */
#define MVM_SCHEMA_DEFAULT_MAX_ERRORS 100     /* errors collected */
#define MVM_SCHEMA_DEFAULT_MAX_STEPS 1000000  /* subschemas applied */
#define MVM_SCHEMA_MAX_EVAL_DEPTH 1000        /* nested subschemas */

typedef struct mvm_schema mvm_schema;

/* Compile options. A zeroed struct gives the defaults. */
typedef struct mvm_schema_options {
  /* true: "format" is only an annotation and never fails validation.
   * Default (false): the known formats are assertions. */
  bool format_annotation_only;
  int max_depth;         /* 0: MVM_SCHEMA_DEFAULT_MAX_DEPTH */
  size_t max_nodes;      /* 0: MVM_SCHEMA_DEFAULT_MAX_NODES */
  size_t max_pattern;    /* 0: MVM_SCHEMA_DEFAULT_MAX_PATTERN */
  uint32_t match_limit;  /* 0: MVM_SCHEMA_DEFAULT_MATCH_LIMIT */
  /* Subschemas one validation may apply before it fails with MVM_ELIMIT,
   * which bounds schemas like nested allOf [$ref a, $ref a] that double the
   * work at each level. 0: MVM_SCHEMA_DEFAULT_MAX_STEPS. */
  unsigned long max_steps;
} mvm_schema_options;

/* Compiles a JSON Schema (an object or a boolean) with default options.
 * On success *out is a new compiled schema. Fails with MVM_EINVAL when a
 * keyword has a value of the wrong kind, a pattern does not compile or a
 * $ref does not resolve; MVM_EUNSUPPORTED for a keyword or reference form
 * mvm does not implement (remote references, unevaluatedProperties, ...);
 * MVM_ELIMIT when a limit is crossed; MVM_ENOMEM. err names the schema
 * location ("#/properties/a/pattern") and the fix. */
int mvm_schema_compile(const json_t *schema, mvm_schema **out,
                       mvm_error *err);

/* Same as mvm_schema_compile with explicit options (may be NULL). */
int mvm_schema_compile_opts(const json_t *schema,
                            const mvm_schema_options *opts, mvm_schema **out,
                            mvm_error *err);

/* Validates instance against a compiled schema. Returns MVM_OK when it
 * matches, MVM_ESCHEMA with the first mismatch in err, e.g.
 * "/amount: maximum: 5000 is greater than the maximum 1000
 * (at #/properties/amount/maximum)". MVM_ELIMIT when a pattern hits the
 * match limit or the evaluation nests too deep, MVM_ENOMEM. */
int mvm_schema_validate(const mvm_schema *s, const json_t *instance,
                        mvm_error *err);

/* Validates and collects up to MVM_SCHEMA_DEFAULT_MAX_ERRORS mismatches.
 * *errors receives a new array (empty when the instance matches) of
 * objects {"instancePath", "keyword", "schemaPath", "message"}. Returns
 * MVM_OK or MVM_ESCHEMA as mvm_schema_validate does (err contains the first
 * mismatch); on any other failure *errors is untouched. */
int mvm_schema_validate_all(const mvm_schema *s, const json_t *instance,
                            json_t **errors, mvm_error *err);

/* Compiles schema, validates instance and frees the compiled schema.
 * Returns the compile or validation status. */
int mvm_schema_check(const json_t *schema, const json_t *instance,
                     mvm_error *err);

/* Releases a compiled schema. NULL is allowed. */
void mvm_schema_free(mvm_schema *s);

/* Compares two JSON values with JSON Schema equality: numbers by value
 * (1 equals 1.0), arrays by element, objects by member. */
bool mvm_schema_json_equal(const json_t *a, const json_t *b);

/* Compares two JSON numbers exactly, including int64 against double, so
 * 9007199254740993 is above 9007199254740992.0. Returns <0, 0 or >0. */
int mvm_schema_number_compare(const json_t *a, const json_t *b);

#endif
