/* query.h - the quarantined query's request and the typed reading of its
 * output.
 *
 * The request names the shape {"answer": X} in response_format, because
 * providers accept an object at the root of a response schema more
 * readily than a bare boolean or string. Parsing also takes X alone, or
 * the bare text for bool, int and enum. */
#ifndef MVM_VM_QUERY_H
#define MVM_VM_QUERY_H

#include "mvm.h"

/* Builds the request for a query of `type` ("bool", "int", "enum",
 * "schema"; `spec` is the enum list or the schema, else NULL) about
 * `data` with `prompt`, and the effect detail {"type", "values" (enum),
 * "schema" (schema)}. The request has no tools. Both are new references.
 * Fails only with MVM_ENOMEM. */
int mvm_query_request(const char *type, const json_t *spec,
                      const json_t *prompt, const json_t *data,
                      json_t **request, json_t **detail);

/* Reads the model's reply text as the type. *out is the typed value (a
 * new reference), or NULL when the text does not give one. Fails only
 * with MVM_ENOMEM. */
int mvm_query_parse(const char *type, const json_t *spec, const char *text,
                    json_t **out);

#endif
