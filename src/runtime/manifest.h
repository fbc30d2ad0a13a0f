/* manifest.h - the run manifest: one JSON file per run that says what the
 * run was and what it did, so it can be checked afterwards against the
 * audit log.
 *
 * Fields: format, run_id, started_at, ended_at, duration_s, status,
 * error, program {path, hash, models, tools}, settings, models [{name,
 * spec, identity}], tools [{tool, description_sha256, schema_sha256,
 * annotations}], policy {path, sha256, permissive}, decisions [...],
 * counts {steps, model_calls, tool_calls, allowed, denied, asked,
 * input_tokens, output_tokens, cost_usd}, answer {text, label}, audit
 * {path, head_seq, head_hash}. */
#ifndef MVM_RUNTIME_MANIFEST_H
#define MVM_RUNTIME_MANIFEST_H

#include "mvm.h"

#define MVM_MANIFEST_FORMAT "mvm-manifest/1"

/* Returns the SHA-256 of a tool's description and of its canonical input
 * schema as 64 hex digits each, the form pinning and manifests use. */
int mvm_tool_hashes(const json_t *tool, char description_hex[65],
                    char schema_hex[65], mvm_error *err);

/* Returns the SHA-256 of bytes as 64 hex digits. */
void mvm_sha256_hex(const void *data, size_t len, char out[65]);

/* Writes the hex SHA-256 of the file at path into out. Returns 0, or -1
 * when the file cannot be opened or read. */
int mvm_sha256_file_hex(const char *path, char out[65]);

/* Writes `manifest` (borrowed) to path through a temporary file and a
 * rename, indented for people. Fails with MVM_EIO naming the path. */
int mvm_manifest_write(const char *path, const json_t *manifest,
                       mvm_error *err);

/* Makes a run id from the UTC time and random bytes:
 * "20261204T133700Z-1a2b3c4d". */
void mvm_run_id_new(char out[32]);

#endif
