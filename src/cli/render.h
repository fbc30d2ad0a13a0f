/* render.h - shows a run's events to a person, or writes them as JSON
 * lines for another program.
 *
 * Human form: on a terminal, model text streams to stdout as it arrives;
 * when stdout is a pipe it gets only the values the program shows the
 * user (the answer), while each reply's text goes to stderr as a line.
 * Tool calls, decisions and results go to stderr as one line each. Tools
 * the policy does not let the program load are summed up in a line per
 * reason. On a terminal, stderr also carries a status line (model calls,
 * tool calls, denials, tokens, cost, elapsed) redrawn in place.
 * JSON form (--json): one JSON object per line on stdout, every event the
 * VM reports plus "notice" and "run_end". */
#ifndef MVM_CLI_RENDER_H
#define MVM_CLI_RENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mvm.h"

typedef struct mvm_render {
  bool json;     /* JSON lines instead of the human form */
  bool color;    /* ANSI colors on stderr */
  bool status;   /* redraw a status line on stderr */
  bool quiet;    /* human form without the tool lines */
  bool stream;   /* stdout is a terminal: model text streams to it */
  char *last_text; /* the last model reply's text, owned */
  FILE *out;     /* stdout */
  FILE *err;     /* stderr */
  double start;  /* monotonic seconds at the start of the run */
  bool in_text;  /* model text is mid-line on out */
  bool status_shown;
  bool events_seen; /* the program started: the VM reported an event */
  char *policy_path; /* the run's policy file, owned; NULL: unknown */
  /* Tool loads denied since the last summary, as {"target", "rule"}:
   * tools not offered to the model. Owned. */
  json_t *hidden;
  uint64_t model_calls;  /* model replies, and allowed model.query */
  uint64_t tool_calls;   /* tool calls allowed, as the manifest counts */
  uint64_t tool_denied;  /* tool calls denied, by the policy or the VM */
  uint64_t model_denied; /* model.call and model.query denied */
  uint64_t other_denied; /* other effects denied, tool loads aside */
  uint64_t input_tokens;
  uint64_t output_tokens;
  double cost_usd;
  bool cost_known;
} mvm_render;

/* Sets up a renderer: JSON or human, with colors and a status line when
 * stderr is a terminal. */
void mvm_render_init(mvm_render *r, bool json, bool quiet);

/* Names the run's policy file (copied), so that the summary of tools not
 * offered can read the pins waiting in its lock file (POLICY.lock) and
 * name the file in 'mvm approve POLICY'. NULL or "permissive": none. */
void mvm_render_set_policy(mvm_render *r, const char *policy_path);

/* The VM's event hook; ctx is the mvm_render. */
void mvm_render_event(void *ctx, const json_t *event);

/* Writes a line of information about the run (settings, notices): a
 * "notice" event in JSON form, "mvm: TEXT" on stderr otherwise. */
void mvm_render_notice(mvm_render *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Emits a run-level event (steals `event`), clearing the status line. */
void mvm_render_emit(mvm_render *r, json_t *event);

/* Clears the status line and prints the final summary line on stderr,
 * unless the program never started (no event was reported). Releases
 * what the renderer owns. */
void mvm_render_finish(mvm_render *r);

/* A log sink (mvm_log_set_sink) that keeps log lines off the status line
 * and off a line of streamed text; ctx is the mvm_render. */
void mvm_render_log(void *ctx, int level, const char *where,
                    const char *line);

/* Monotonic clock in seconds. */
double mvm_render_now(void);

#endif
