/* term.h - the terminal as the VM's user: questions, confirmations and
 * output, with a plain mode when standard input or output is not a
 * terminal. */
#ifndef MVM_CLI_TERM_H
#define MVM_CLI_TERM_H

#include <stdbool.h>
#include <stdio.h>

#include "mvm.h"

typedef struct mvm_term {
  FILE *out;        /* where shown values go (stdout) */
  bool interactive; /* a person can answer on /dev/tty */
  bool quiet_show;  /* values are reported through events, not printed */
} mvm_term;

/* Sets up `term` for this process: interactive when /dev/tty opens and
 * stdin is a terminal, unless `no_input` is set. */
void mvm_term_init(mvm_term *term, bool no_input);

/* Returns the user adapter for `term`; the term must outlive the VM. */
mvm_user mvm_term_user(mvm_term *term);

#endif
