/* manifest.c - hashes, run ids and the manifest file. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "runtime/manifest.h"

void mvm_sha256_hex(const void *data, size_t len, char out[65])
{
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, data, len);
  sodium_bin2hex(out, 65, hash, sizeof hash);
}

int mvm_sha256_file_hex(const char *path, char out[65])
{
  crypto_hash_sha256_state state;
  unsigned char hash[crypto_hash_sha256_BYTES];
  unsigned char chunk[8192];
  size_t n;
  FILE *f = fopen(path, "rb");

  if (f == NULL)
    return -1;
  crypto_hash_sha256_init(&state);
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    crypto_hash_sha256_update(&state, chunk, n);
  bool failed = ferror(f) != 0;
  fclose(f);
  if (failed)
    return -1;
  crypto_hash_sha256_final(&state, hash);
  sodium_bin2hex(out, 65, hash, sizeof hash);
  return 0;
}

int mvm_tool_hashes(const json_t *tool, char description_hex[65],
                    char schema_hex[65], mvm_error *err)
{
  const char *description =
      json_string_value(json_object_get(tool, "description"));
  const json_t *schema = json_object_get(tool, "inputSchema");

  if (description == NULL)
    description = "";
  mvm_sha256_hex(description, strlen(description), description_hex);

  char *text = mvm_json_dump_canonical(schema ? schema : json_null());
  if (text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "manifest", "out of memory");
  mvm_sha256_hex(text, strlen(text), schema_hex);
  free(text);
  return MVM_OK;
}

int mvm_manifest_write(const char *path, const json_t *manifest,
                       mvm_error *err)
{
  char tmp[4200];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (n < 0 || (size_t)n >= sizeof tmp)
    return mvm_error_set(err, MVM_ELIMIT, "manifest", "path too long: %s",
                         path);

  char *text = json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "manifest", "out of memory");

  int rc = MVM_OK;
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    rc = mvm_error_set(err, MVM_EIO, "manifest", "cannot create '%s': %s",
                       tmp, strerror(errno));
  } else {
    bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    if (fclose(f) != 0)
      ok = false;
    if (!ok || rename(tmp, path) != 0) {
      rc = mvm_error_set(err, MVM_EIO, "manifest", "cannot write '%s': %s",
                         path, strerror(errno));
      unlink(tmp);
    }
  }
  free(text);
  return rc;
}

void mvm_run_id_new(char out[32])
{
  time_t now = time(NULL);
  struct tm tm;
  char stamp[20];
  unsigned char rnd[4];
  char hex[9];

  gmtime_r(&now, &tm);
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  randombytes_buf(rnd, sizeof rnd);
  sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
  snprintf(out, 32, "%s-%s", stamp, hex);
}
