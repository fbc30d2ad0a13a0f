/* guard.h - the monitor a run uses: a policy monitor wrapped so that every
 * decision and every outcome goes to the audit log and the run manifest.
 *
 * The guard fails closed: when a decision cannot be written to the audit
 * log, the effect is denied, and the run can read why with
 * mvm_guard_audit_error. */
#ifndef MVM_RUNTIME_GUARD_H
#define MVM_RUNTIME_GUARD_H

#include <stdint.h>

#include "mvm.h"
#include "store/audit.h"

typedef struct mvm_guard {
  mvm_monitor inner;  /* the policy monitor (borrowed) */
  mvm_audit *audit;   /* borrowed; NULL: no audit log */
  const char *run_id; /* borrowed */
  json_t *decisions;  /* owned: one object per decision, for the manifest */
  uint64_t allowed;
  uint64_t denied; /* denied effects other than tool loads */
  uint64_t hidden; /* tool loads denied: tools not offered to the model */
  uint64_t asked;
  mvm_error audit_err; /* the first audit failure, code MVM_OK if none */
} mvm_guard;

/* Sets up a guard over `inner`. Fails with MVM_ENOMEM. */
int mvm_guard_init(mvm_guard *guard, const mvm_monitor *inner,
                   mvm_audit *audit, const char *run_id, mvm_error *err);

/* Releases what the guard owns. */
void mvm_guard_free(mvm_guard *guard);

/* Returns the monitor to give the VM; valid while the guard lives. */
mvm_monitor mvm_guard_monitor(mvm_guard *guard);

/* Returns the first audit failure, or NULL when every write succeeded. */
const mvm_error *mvm_guard_audit_error(const mvm_guard *guard);

#endif
