/* audit_hash.c - the record hash, hex forms of hashes, and MAC key files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "store/audit.h"

/* Largest key file accepted, which leaves room for line endings after the
 * key in hex. */
#define KEY_FILE_MAX_BYTES 256

static const char hash_domain[] = "mvm-audit-v1";

static void put_u64(crypto_hash_sha256_state *st, uint64_t v)
{
  unsigned char be[8];
  for (int i = 7; i >= 0; i--) {
    be[i] = (unsigned char)(v & 0xff);
    v >>= 8;
  }
  crypto_hash_sha256_update(st, be, sizeof be);
}

static void put_field(crypto_hash_sha256_state *st, const char *s, size_t len)
{
  put_u64(st, len);
  crypto_hash_sha256_update(st, (const unsigned char *)s, len);
}

void mvm_audit_record_hash(const unsigned char prev[MVM_AUDIT_HASH_BYTES],
                           uint64_t seq, const char *run_id, size_t run_len,
                           const char *time, size_t time_len,
                           const char *kind, size_t kind_len,
                           const char *body, size_t body_len,
                           unsigned char out[MVM_AUDIT_HASH_BYTES])
{
  crypto_hash_sha256_state st;

  crypto_hash_sha256_init(&st);
  /* The domain string and its NUL keep these hashes apart from any other
   * SHA-256 use of the same bytes. */
  crypto_hash_sha256_update(&st, (const unsigned char *)hash_domain,
                            sizeof hash_domain);
  crypto_hash_sha256_update(&st, prev, MVM_AUDIT_HASH_BYTES);
  put_u64(&st, seq);
  put_field(&st, run_id, run_len);
  put_field(&st, time, time_len);
  put_field(&st, kind, kind_len);
  put_field(&st, body, body_len);
  crypto_hash_sha256_final(&st, out);
}

void mvm_audit_hash_to_hex(const unsigned char hash[MVM_AUDIT_HASH_BYTES],
                           char out[MVM_AUDIT_HEX_SIZE])
{
  sodium_bin2hex(out, MVM_AUDIT_HEX_SIZE, hash, MVM_AUDIT_HASH_BYTES);
}

static int parse_hex(const char *text, size_t len, unsigned char *out,
                     size_t out_len)
{
  size_t bin_len = 0;

  if (len != out_len * 2)
    return -1;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
               (c >= 'A' && c <= 'F');
    if (!hex)
      return -1;
  }
  if (sodium_hex2bin(out, out_len, text, len, NULL, &bin_len, NULL) != 0 ||
      bin_len != out_len)
    return -1;
  return 0;
}

int mvm_audit_hash_from_hex(const char *text,
                            unsigned char hash[MVM_AUDIT_HASH_BYTES],
                            mvm_error *err)
{
  if (parse_hex(text, strlen(text), hash, MVM_AUDIT_HASH_BYTES) != 0)
    return mvm_error_set(err, MVM_EINVAL, "audit",
                         "head hash '%.80s' is invalid; give the 64 hex "
                         "digits that 'mvm audit verify' printed",
                         text);
  return MVM_OK;
}

int mvm_audit_key_load(const char *path,
                       unsigned char key[MVM_AUDIT_KEY_BYTES],
                       mvm_error *err)
{
  char text[KEY_FILE_MAX_BYTES + 1];
  struct stat st;
  ssize_t n;
  int rc = MVM_OK;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return mvm_error_set(err, errno == ENOENT ? MVM_ENOTFOUND : MVM_EIO,
                         "audit", "cannot open key file '%s': %s", path,
                         strerror(errno));
  if (fstat(fd, &st) != 0) {
    rc = mvm_error_set(err, MVM_EIO, "audit", "cannot stat key file '%s': %s",
                       path, strerror(errno));
    goto out;
  }
  if ((st.st_mode & 077) != 0) {
    rc = mvm_error_set(err, MVM_EINVAL, "audit",
                       "key file '%s' has mode %04o, so other users may "
                       "read it; run 'chmod 600 %s'",
                       path, (unsigned)(st.st_mode & 07777), path);
    goto out;
  }

  n = read(fd, text, sizeof text);
  if (n < 0) {
    rc = mvm_error_set(err, MVM_EIO, "audit", "cannot read key file '%s': %s",
                       path, strerror(errno));
    goto out;
  }
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
    n--;
  if (n > KEY_FILE_MAX_BYTES ||
      parse_hex(text, (size_t)n, key, MVM_AUDIT_KEY_BYTES) != 0)
    rc = mvm_error_set(err, MVM_EINVAL, "audit",
                       "key file '%s' must hold %d hex digits and a "
                       "newline; make one with 'mvm audit keygen'",
                       path, MVM_AUDIT_KEY_BYTES * 2);

out:
  sodium_memzero(text, sizeof text);
  close(fd);
  return rc;
}

int mvm_audit_key_create(const char *path, mvm_error *err)
{
  unsigned char key[MVM_AUDIT_KEY_BYTES];
  char text[MVM_AUDIT_KEY_BYTES * 2 + 2];
  int rc = MVM_OK;

  if (sodium_init() < 0)
    return mvm_error_set(err, MVM_EIO, "audit",
                         "cannot initialize libsodium to make a key");

  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return mvm_error_set(err, MVM_EIO, "audit",
                         "cannot create key file '%s': %s", path,
                         strerror(errno));

  crypto_auth_keygen(key);
  sodium_bin2hex(text, sizeof text, key, sizeof key);
  text[MVM_AUDIT_KEY_BYTES * 2] = '\n';
  size_t len = MVM_AUDIT_KEY_BYTES * 2 + 1;
  if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
    rc = mvm_error_set(err, MVM_EIO, "audit",
                       "cannot write key file '%s': %s", path,
                       strerror(errno));
  if (close(fd) != 0 && rc == MVM_OK)
    rc = mvm_error_set(err, MVM_EIO, "audit",
                       "cannot write key file '%s': %s", path,
                       strerror(errno));
  sodium_memzero(key, sizeof key);
  sodium_memzero(text, sizeof text);
  if (rc)
    unlink(path);
  return rc;
}
