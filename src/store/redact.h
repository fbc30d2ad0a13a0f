/* redact.h - removing secrets from JSON values and strings before they are
 * stored.
 *
 * Two rules apply. Every occurrence of a registered secret inside a string
 * or an object key is replaced by a marker. The whole value of a field
 * whose name is a well-known carrier of secrets (authorization, api_key,
 * x-api-key, password, token and the others mvm_redact_secret_field lists)
 * is replaced by a marker, whatever its type.
 *
 * A marker is "[redacted:sha256:" + the first 8 hex digits of the SHA-256
 * of the removed bytes + "]", so two records can be seen to hold the same
 * secret. The 32 bits it keeps let someone who can guess a weak secret
 * confirm the guess; it never lets them recover a strong one.
 *
 * Only exact byte matches are found: a secret that was encoded (base64,
 * URL escapes, split across strings) before reaching the redactor passes
 * through unchanged. */
#ifndef MVM_STORE_REDACT_H
#define MVM_STORE_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "mvm.h"

#define MVM_REDACT_MAX_SECRETS 2048
#define MVM_REDACT_MIN_SECRET_BYTES 4
#define MVM_REDACT_MAX_SECRET_BYTES 4096
/* Nesting depth of the JSON values the redactor walks. */
#define MVM_REDACT_MAX_DEPTH 128
/* "[redacted:sha256:1a2b3c4d]" and its NUL. */
#define MVM_REDACT_MARKER_SIZE 27

typedef struct mvm_redactor mvm_redactor;

/* Creates a redactor with no secrets; release it with mvm_redactor_free,
 * which also wipes the secrets from memory. */
int mvm_redactor_new(mvm_redactor **out, mvm_error *err);
void mvm_redactor_free(mvm_redactor *r);

/* Registers a secret (copied; len bytes, may hold any byte). Adding one
 * already registered does nothing. Fails with MVM_EINVAL when it is
 * shorter than MVM_REDACT_MIN_SECRET_BYTES (so short it would mangle
 * ordinary text), MVM_ELIMIT when it is longer than
 * MVM_REDACT_MAX_SECRET_BYTES or MVM_REDACT_MAX_SECRETS are registered. */
int mvm_redactor_add(mvm_redactor *r, const void *secret, size_t len,
                     mvm_error *err);

/* Returns the number of registered secrets. */
size_t mvm_redactor_count(const mvm_redactor *r);

/* Makes a redacted copy of `in` in *out (a new reference). When nothing
 * in `in` needs redacting, *out is `in` itself with one more reference,
 * so a caller that changes *out must check for that first. r may be NULL,
 * in which case only the secret-field rule applies. Fails with
 * MVM_ELIMIT when `in` nests deeper than MVM_REDACT_MAX_DEPTH, MVM_ENOMEM
 * when out of memory. */
int mvm_redactor_json(const mvm_redactor *r, const json_t *in, json_t **out,
                      mvm_error *err);

/* Makes a redacted copy of the string in[0..len) in *out, a malloc'd,
 * NUL-terminated string of *out_len bytes (out_len may be NULL). r may be
 * NULL, giving a plain copy. Fails only with MVM_ENOMEM. */
int mvm_redactor_string(const mvm_redactor *r, const char *in, size_t len,
                        char **out, size_t *out_len, mvm_error *err);

/* True when `key` names a field whose value is always redacted. The test
 * ignores case, '-' and '_', so "X-Api-Key" and "api_key" both match. */
bool mvm_redact_secret_field(const char *key);

/* Writes the marker for the bytes value[0..len). */
void mvm_redact_marker(const void *value, size_t len,
                       char out[MVM_REDACT_MARKER_SIZE]);

#endif
