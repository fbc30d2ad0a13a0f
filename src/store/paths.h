/* paths.h - where mvm keeps its state: the audit log and the databases of
 * memory and sessions.
 *
 * The state directory is $MVM_STATE_DIR when set and not empty, else
 * $XDG_STATE_HOME/mvm when XDG_STATE_HOME is an absolute path, else
 * $HOME/.local/state/mvm (the XDG Base Directory default), with HOME taken
 * from the password database when the variable is unset. */
#ifndef MVM_STORE_PATHS_H
#define MVM_STORE_PATHS_H

#include <stddef.h>

#include "mvm.h"

/* File names inside the state directory. */
#define MVM_AUDIT_FILE_NAME "audit.db"
#define MVM_STATE_DB_FILE_NAME "state.db"

/* Writes the state directory into buf (size bytes). Fails with MVM_ELIMIT
 * when the path does not fit, and MVM_ENOTFOUND when no home directory can
 * be found. The directory is not created. */
int mvm_state_dir(char *buf, size_t size, mvm_error *err);

/* Writes the default audit log path, <state dir>/audit.db, into buf.
 * Failures as for mvm_state_dir. */
int mvm_audit_default_path(char *buf, size_t size, mvm_error *err);

/* Writes the default path of the memory and session database,
 * <state dir>/state.db, into buf. Failures as for mvm_state_dir. */
int mvm_state_db_default_path(char *buf, size_t size, mvm_error *err);

/* Creates directory `path` and its missing parents with mode 0700, because
 * the state contains audit records and conversation histories. An existing
 * directory is left as it is. Fails with MVM_EIO naming the component
 * that could not be created. */
int mvm_state_dir_create(const char *path, mvm_error *err);

#endif
