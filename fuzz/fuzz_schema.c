/* fuzz_schema.c - the JSON Schema compiler and validator on arbitrary
 * bytes. The input is split at its first newline into schema text and
 * instance text; both go through mvm_json_parse as outside input would.
 *
 * Besides crashes and sanitizer reports, it checks that the first-error
 * and collect-all validators agree: both match, or both fail with the same
 * first message and a non-empty error list. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "mvm.h"
#include "value/schema.h"

static void check_agreement(const mvm_schema *s, const json_t *instance)
{
  mvm_error first;
  mvm_error all;
  json_t *errors = NULL;

  mvm_error_clear(&first);
  mvm_error_clear(&all);
  int rc = mvm_schema_validate(s, instance, &first);
  int rc_all = mvm_schema_validate_all(s, instance, &errors, &all);

  if (rc == MVM_ELIMIT || rc_all == MVM_ELIMIT || rc == MVM_ENOMEM ||
      rc_all == MVM_ENOMEM) {
    /* Collecting applies more subschemas, so it may hit the step limit
     * where the first-error run stopped early. */
  } else if (rc != rc_all) {
    fprintf(stderr, "validate %d (%s) but validate_all %d (%s)\n", rc,
            first.msg, rc_all, all.msg);
    abort();
  } else if (rc == MVM_ESCHEMA &&
             (json_array_size(errors) == 0 || strcmp(first.msg, all.msg))) {
    fprintf(stderr, "first error \"%s\", collected \"%s\" (%zu)\n",
            first.msg, all.msg, json_array_size(errors));
    abort();
  } else if (rc == MVM_OK && json_array_size(errors) != 0) {
    fprintf(stderr, "a match with %zu collected errors\n",
            json_array_size(errors));
    abort();
  }
  json_decref(errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  const char *split = memchr(text, '\n', size);
  mvm_json_limits limits = {.max_bytes = 64 * 1024, .max_depth = 32};
  mvm_schema_options opts = {.max_nodes = 2000,
                             .match_limit = 10000,
                             .max_steps = 20000};
  json_t *schema = NULL;
  json_t *instance = NULL;
  mvm_schema *s = NULL;
  mvm_error err;

  if (split == NULL)
    return 0;
  if (mvm_json_parse(text, (size_t)(split - text), &limits, "schema",
                     &schema, &err) != MVM_OK)
    goto out;
  if (mvm_json_parse(split + 1, size - (size_t)(split - text) - 1, &limits,
                     "instance", &instance, &err) != MVM_OK)
    goto out;
  if (mvm_schema_compile_opts(schema, &opts, &s, &err) != MVM_OK)
    goto out;
  check_agreement(s, instance);
  /* A schema is also an instance of itself, which reaches more keywords
   * with object-shaped values. */
  check_agreement(s, schema);
out:
  mvm_schema_free(s);
  json_decref(instance);
  json_decref(schema);
  return 0;
}
