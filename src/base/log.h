/* log.h - internal logging calls; the sink and trace switches are public in
 * mvm.h. */
#ifndef MVM_BASE_LOG_H
#define MVM_BASE_LOG_H

#include <stdarg.h>

#include "mvm.h"

/* Emits one log line at `level` from `where` ("mcp:everything", ...). Lines
 * below the level set with mvm_log_set_level are dropped. Never log a
 * secret: keys and tokens must be masked by the caller. */
void mvm_log(int level, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mvm_log_v(int level, const char *where, const char *fmt, va_list ap);

/* Emits one trace line when `category` (MVM_TRACE_*) is switched on. */
void mvm_trace(int category, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
