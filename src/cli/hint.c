/* hint.c - the text of hints and denials: commands written so that they
 * run as printed from the user's shell, and decision reasons that need
 * their rule named. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char *argv0;

void mvm_cli_set_argv0(const char *name)
{
  argv0 = name;
}

/* Characters that a POSIX shell takes literally outside quotes. */
static bool shell_safe(const char *s)
{
  if (s[0] == '\0')
    return false;
  for (const char *p = s; *p != '\0'; p++) {
    if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
               "0123456789_-./:=@%+,",
               *p) == NULL)
      return false;
  }
  return true;
}

const char *mvm_cli_shell_word(const char *s, char *buf, size_t size)
{
  size_t n = 0;

  if (shell_safe(s)) {
    snprintf(buf, size, "%s", s);
    return buf;
  }
  /* Single quotes keep everything literal; a single quote itself becomes
   * '\'' (close, escaped quote, reopen). */
  if (size < 3) {
    if (size > 0)
      buf[0] = '\0';
    return buf;
  }
  buf[n++] = '\'';
  for (const char *p = s; *p != '\0' && n + 5 < size; p++) {
    if (*p == '\'') {
      memcpy(buf + n, "'\\''", 4);
      n += 4;
    } else {
      buf[n++] = *p;
    }
  }
  buf[n++] = '\'';
  buf[n] = '\0';
  return buf;
}

static bool word_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool mvm_cli_reason_names_rule(const char *reason, const char *rule)
{
  size_t n = strlen(rule);

  if (n == 0)
    return true;
  /* Only a whole word counts, so "ev.policy:12" does not name the rule
   * "ev.policy:1", nor "defaults" the rule "default". */
  for (const char *p = strstr(reason, rule); p != NULL;
       p = strstr(p + 1, rule)) {
    bool starts =
        p == reason || !(word_char(p[-1]) || p[-1] == '.' || p[-1] == '/');
    if (starts && !word_char(p[n]))
      return true;
  }
  return false;
}

/* True when the name "mvm" on PATH is the same file as `path`. */
static bool path_finds(const char *path)
{
  const char *dirs = getenv("PATH");
  char self[PATH_MAX];

  if (dirs == NULL || realpath(path, self) == NULL)
    return false;
  while (*dirs != '\0') {
    size_t len = strcspn(dirs, ":");
    char candidate[PATH_MAX];
    char resolved[PATH_MAX];
    /* An empty PATH entry is the working directory. */
    int n = snprintf(candidate, sizeof candidate, "%.*s/mvm", (int)len,
                     len > 0 ? dirs : ".");
    if (n > 0 && (size_t)n < sizeof candidate && access(candidate, X_OK) == 0) {
      /* The shell runs the first match, so only that one counts. */
      return realpath(candidate, resolved) != NULL &&
             strcmp(resolved, self) == 0;
    }
    dirs += len;
    if (*dirs == ':')
      dirs++;
  }
  return false;
}

const char *mvm_cli_self(void)
{
  static char self[PATH_MAX + 16];
  static bool done;

  if (done)
    return self;
  done = true;
  /* A name without a slash was found on PATH, so it runs as typed, and
   * so does a path unless PATH finds the same file as "mvm". */
  if (argv0 == NULL || (strchr(argv0, '/') != NULL && path_finds(argv0)))
    snprintf(self, sizeof self, "mvm");
  else
    mvm_cli_shell_word(argv0, self, sizeof self);
  return self;
}
