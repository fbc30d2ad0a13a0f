/* session.h - sessions and their message histories in SQLite, appended as
 * a run goes so that a killed run can be resumed with nothing lost.
 *
 * A session has an id, a state ("running", "finished" or "failed"), a JSON
 * object of metadata and an ordered history of messages, each a JSON
 * object (the neutral model message of mvm.h) with its label. Every
 * append is one transaction that stores the message and bumps the
 * session's message count, so after a crash the history is exactly the
 * messages whose append returned (with FULL sync, also after a power
 * loss).
 *
 * The store and every loaded session are owned by the caller:
 * mvm_session_store_close and mvm_session_free release them. */
#ifndef MVM_STORE_SESSION_H
#define MVM_STORE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "mvm.h"
#include "store/db.h"

#define MVM_SESSION_SCHEMA_VERSION 1
#define MVM_SESSION_ID_MAX 128
#define MVM_SESSION_STATE_MAX 16
#define MVM_SESSION_DEFAULT_MAX_MESSAGES 100000

#define MVM_SESSION_RUNNING "running"
#define MVM_SESSION_FINISHED "finished"
#define MVM_SESSION_FAILED "failed"

typedef struct mvm_session_store mvm_session_store;

typedef struct mvm_session_options {
  /* Database options. db.max_value_bytes caps one serialized message. */
  mvm_db_options db;
  /* Messages allowed in one session; 0 means
   * MVM_SESSION_DEFAULT_MAX_MESSAGES. */
  size_t max_messages;
} mvm_session_options;

/* A loaded session. */
typedef struct mvm_session {
  char id[MVM_SESSION_ID_MAX + 1];
  char state[MVM_SESSION_STATE_MAX];
  char created[MVM_DB_TIME_SIZE];
  char updated[MVM_DB_TIME_SIZE];
  json_t *meta;       /* an object */
  json_t *messages;   /* an array of `count` message objects, in order */
  mvm_label **labels; /* `count` labels; NULL is trusted and public */
  size_t count;
} mvm_session;

/* Opens the session store in the database at `path`. opts may be NULL for
 * the defaults. Failures as mvm_db_open. */
int mvm_session_store_open(const char *path, const mvm_session_options *opts,
                           mvm_session_store **out, mvm_error *err);

/* Closes the store; NULL is allowed. */
void mvm_session_store_close(mvm_session_store *store);

/* Creates session `id` (1 to MVM_SESSION_ID_MAX letters, digits, '.',
 * '_', ':' or '-') in state "running" with metadata `meta` (an object,
 * borrowed; NULL for {}). Fails with MVM_EINVAL for an invalid id or meta,
 * MVM_ESTATE when the session exists, otherwise as mvm_db_error. */
int mvm_session_create(mvm_session_store *store, const char *id,
                       const json_t *meta, mvm_error *err);

/* Appends message number `index` (0-based) to a session's history, with
 * its label (borrowed; NULL for trusted and public). `index` must equal
 * the number of messages already stored, so a resumed run cannot skip or
 * repeat a message. Fails with MVM_ENOTFOUND for an unknown session and
 * MVM_ESTATE when index is not the next one. Fails with MVM_EINVAL for a
 * message that is not an object, and MVM_ELIMIT for a message over the
 * size cap or a history at the message limit. Other failures are as
 * mvm_db_error. */
int mvm_session_append(mvm_session_store *store, const char *id,
                       uint64_t index, const json_t *message,
                       const mvm_label *label, mvm_error *err);

/* Sets a session's state to "running", "finished" or "failed". Fails with
 * MVM_EINVAL for another state, MVM_ENOTFOUND for an unknown session. */
int mvm_session_set_state(mvm_session_store *store, const char *id,
                          const char *state, mvm_error *err);

/* Loads a session with its whole history into *out (free with
 * mvm_session_free). Fails with MVM_ENOTFOUND for an unknown session.
 * Fails with MVM_ELIMIT when the history is longer than the message limit
 * or a message is over the size cap, and MVM_EPARSE when a stored message
 * or label is damaged or messages are missing. Other failures are as
 * mvm_db_error. */
int mvm_session_load(mvm_session_store *store, const char *id,
                     mvm_session **out, mvm_error *err);

/* Releases a loaded session; NULL is allowed. */
void mvm_session_free(mvm_session *session);

/* Deletes a session and its history. Sets *found (when found is not NULL)
 * to whether the session existed. */
int mvm_session_delete(mvm_session_store *store, const char *id, bool *found,
                       mvm_error *err);

/* Lists sessions, most recently updated first, as a new JSON array of
 * {"id", "state", "created", "updated", "messages"}. At most `limit`
 * entries (0: all). Failures as mvm_db_error. */
int mvm_session_list(mvm_session_store *store, size_t limit, json_t **out,
                     mvm_error *err);

#endif
