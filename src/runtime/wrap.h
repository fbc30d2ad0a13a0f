/* wrap.h - adapters around a run's models and toolboxes that stop work
 * when the run is interrupted, and count tool calls for the manifest.
 *
 * A wrapper owns the adapter it wraps: closing the wrapper closes it. */
#ifndef MVM_RUNTIME_WRAP_H
#define MVM_RUNTIME_WRAP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "mvm.h"

typedef struct mvm_wrapped_model {
  mvm_model inner;
  mvm_model model; /* what the VM gets */
  volatile sig_atomic_t *interrupted;
} mvm_wrapped_model;

typedef struct mvm_wrapped_toolbox {
  mvm_toolbox inner;
  mvm_toolbox box; /* what the VM gets */
  volatile sig_atomic_t *interrupted;
  uint64_t calls; /* calls that reached the adapter */
} mvm_wrapped_toolbox;

/* Returns true once the interruption flag at ctx (a volatile
 * sig_atomic_t *, may be NULL) is set: the cancelled() callback that MCP
 * clients get in mvm_mcp_client_opts. */
bool mvm_wrap_flag_set(void *ctx);

/* Wraps `inner` (ownership moves to w). `interrupted` may be NULL. */
void mvm_wrap_model(mvm_wrapped_model *w, mvm_model inner,
                    volatile sig_atomic_t *interrupted);
void mvm_wrap_model_close(mvm_wrapped_model *w);

void mvm_wrap_toolbox(mvm_wrapped_toolbox *w, mvm_toolbox inner,
                      volatile sig_atomic_t *interrupted);
void mvm_wrap_toolbox_close(mvm_wrapped_toolbox *w);

#endif
