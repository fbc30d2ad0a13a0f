/* term.c - the terminal as the VM's user. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/term.h"

/* An answer longer than this is cut; the prompt says so. */
#define ANSWER_MAX 4096

void mvm_term_init(mvm_term *term, bool no_input)
{
  term->out = stdout;
  term->interactive = !no_input && isatty(STDIN_FILENO);
  term->quiet_show = false;
}

static int term_show(void *self, const char *text, const mvm_label *label,
                     mvm_error *err)
{
  mvm_term *term = self;

  if (term->quiet_show)
    return MVM_OK;
  fputs(text, term->out);
  if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
    fputc('\n', term->out);
  fflush(term->out);
  return MVM_OK;
}

/* Reads one line from /dev/tty, so a piped stdin never answers a prompt. */
static int read_tty_line(const char *prompt, char **line, mvm_error *err)
{
  FILE *tty = fopen("/dev/tty", "r+");
  if (tty == NULL)
    return mvm_error_set(err, MVM_EUNSUPPORTED, "user",
                         "no terminal to ask the user on");

  fprintf(tty, "%s", prompt);
  fflush(tty);

  char *buf = malloc(ANSWER_MAX);
  if (buf == NULL) {
    fclose(tty);
    return mvm_error_set(err, MVM_ENOMEM, "user", "out of memory");
  }
  if (fgets(buf, ANSWER_MAX, tty) == NULL) {
    free(buf);
    fclose(tty);
    return mvm_error_set(err, MVM_EUNSUPPORTED, "user",
                         "the terminal closed before an answer");
  }
  fclose(tty);
  buf[strcspn(buf, "\r\n")] = '\0';
  *line = buf;
  return MVM_OK;
}

static int term_ask(void *self, const char *prompt, char **answer,
                    mvm_error *err)
{
  mvm_term *term = self;

  if (!term->interactive)
    return mvm_error_set(err, MVM_EUNSUPPORTED, "user",
                         "no terminal: cannot ask '%s'", prompt);

  char *full = NULL;
  if (asprintf(&full, "\n? %s\n> ", prompt) < 0)
    return mvm_error_set(err, MVM_ENOMEM, "user", "out of memory");
  int rc = read_tty_line(full, answer, err);
  free(full);
  return rc;
}

static int term_confirm(void *self, const char *prompt, bool *yes,
                        mvm_error *err)
{
  mvm_term *term = self;

  if (!term->interactive)
    return mvm_error_set(err, MVM_EUNSUPPORTED, "user",
                         "no terminal to confirm on");

  char *full = NULL;
  if (asprintf(&full, "\n! %s\n  Allow? [y/N] ", prompt) < 0)
    return mvm_error_set(err, MVM_ENOMEM, "user", "out of memory");

  char *line = NULL;
  int rc = read_tty_line(full, &line, err);
  free(full);
  if (rc)
    return rc;
  *yes = strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 ||
         strcmp(line, "yes") == 0;
  free(line);
  return MVM_OK;
}

static const mvm_user_ops term_ops = {
    .show = term_show,
    .ask = term_ask,
    .confirm = term_confirm,
};

mvm_user mvm_term_user(mvm_term *term)
{
  mvm_user user = {&term_ops, term};
  return user;
}
