/* audit_private.h - the audit log handle, shared by audit.c (writing) and
 * audit_verify.c (reading). */
#ifndef MVM_STORE_AUDIT_PRIVATE_H
#define MVM_STORE_AUDIT_PRIVATE_H

#include <sqlite3.h>

#include "store/audit.h"
#include "store/redact.h"

struct mvm_audit {
  sqlite3 *db;
  char *path;
  mvm_redactor *redactor;
  bool has_key;
  unsigned char key[MVM_AUDIT_KEY_BYTES];
  size_t max_body_bytes;
  size_t max_field_bytes;
  /* A batch holds the write lock, so the last record cannot change under
   * it: `tail` caches it from mvm_audit_begin on. */
  bool in_batch;
  uint64_t batch_count;
  mvm_audit_head tail;
  sqlite3_stmt *insert;
  sqlite3_stmt *set_head;
};

/* Points the head row at `head`, inside the caller's write transaction. */
int mvm_audit_write_head(mvm_audit *log, const mvm_audit_head *head,
                         mvm_error *err);

/* Reads the last record (seq 0 and a zero hash for an empty log). */
int mvm_audit_read_tail(mvm_audit *log, mvm_audit_head *tail,
                        mvm_error *err);

#endif
