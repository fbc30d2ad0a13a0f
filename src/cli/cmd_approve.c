/* cmd_approve.c - `mvm approve`: review the tools and models a run found
 * unpinned or changed, and pin the approved ones in the lock file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "cli/term.h"
#include "monitor/lock.h"
#include "mvm.h"

static const char usage[] =
    "usage: mvm approve POLICY [--lock FILE] [--list] [--yes] [NAME...]\n"
    "\n"
    "A run under POLICY pins every tool and model it loads in the lock\n"
    "file next to the policy (POLICY.lock). A tool whose description or\n"
    "input schema changed since it was pinned, a new tool with the same\n"
    "name as another server's tool, and, with 'pin ask', any tool or model\n"
    "not pinned yet, is refused and listed in the lock file as waiting\n"
    "for approval. This command shows each waiting entry, how it differs\n"
    "from the pinned one, and asks whether to pin it. The lock file is\n"
    "replaced atomically.\n"
    "\n"
    "  NAME...      only these entries (\"server.tool\" or\n"
    "               \"provider:model\"); default all waiting entries\n"
    "  --lock FILE  the lock file (default POLICY.lock)\n"
    "  --list       show the waiting entries and change nothing\n"
    "  --yes        approve every entry shown without asking\n"
    "  -h, --help   print this help\n"
    "\n"
    "Without --yes the questions go to the terminal (/dev/tty); with no\n"
    "terminal nothing is approved.\n"
    "\n"
    "Exit codes: 0 done (or nothing waiting), 1 some entries are still\n"
    "waiting (--list, or declined), 2 bad command line, 4 invalid lock\n"
    "file, 10 the lock file cannot be read or written.\n";

static bool selected(const char *key, char **names, size_t n)
{
  if (n == 0)
    return true;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(names[i], key) == 0)
      return true;
  }
  return false;
}

/* Shows one waiting entry and pins it when --yes is given or the user
 * confirms. */
static int review(json_t *doc, mvm_lock_section section, const char *key,
                  bool list, bool yes, const mvm_user *user,
                  bool *approved, bool *waiting)
{
  mvm_buf text;
  mvm_error err;
  bool ok = yes;
  int rc;

  mvm_buf_init(&text, 0);
  rc = mvm_lock_describe(doc, section, key, &text);
  if (rc == MVM_OK)
    fputs(text.data ? text.data : "", stdout);
  mvm_buf_free(&text);
  if (rc)
    return rc;
  if (list) {
    *waiting = true;
    return MVM_OK;
  }
  if (!yes) {
    char prompt[300];
    snprintf(prompt, sizeof prompt, "Pin %s '%s'?",
             section == MVM_LOCK_TOOLS ? "tool" : "model", key);
    mvm_error_clear(&err);
    if (user->ops->confirm(user->self, prompt, &ok, &err) != MVM_OK) {
      fprintf(stderr, "mvm approve: %s; use --yes to approve without "
              "asking\n", err.msg);
      ok = false;
    }
  }
  if (!ok) {
    printf("    left waiting\n");
    *waiting = true;
    return MVM_OK;
  }
  rc = mvm_lock_approve(doc, section, key, &err);
  if (rc == MVM_OK) {
    printf("    pinned\n");
    *approved = true;
  }
  return rc;
}

int mvm_cli_approve(int argc, char **argv)
{
  const char *policy = NULL;
  const char *lock = NULL;
  char **names = calloc((size_t)argc + 1, sizeof *names);
  size_t nnames = 0;
  bool list = false;
  bool yes = false;
  char *lock_buf = NULL;
  json_t *doc = NULL;
  mvm_error err;
  int code = MVM_EXIT_OK;

  if (names == NULL) {
    fprintf(stderr, "mvm approve: out of memory\n");
    return MVM_EXIT_FAIL;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      goto out;
    }
    if (strcmp(argv[i], "--list") == 0) {
      list = true;
    } else if (strcmp(argv[i], "--yes") == 0) {
      yes = true;
    } else if (strcmp(argv[i], "--lock") == 0 && i + 1 < argc) {
      lock = argv[++i];
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "mvm approve: unexpected argument '%s'\n%s", argv[i],
              usage);
      code = MVM_EXIT_USAGE;
      goto out;
    } else if (policy == NULL) {
      policy = argv[i];
    } else {
      names[nnames++] = argv[i];
    }
  }
  if (policy == NULL) {
    fprintf(stderr, "mvm approve: missing POLICY\n%s", usage);
    code = MVM_EXIT_USAGE;
    goto out;
  }
  if (lock == NULL) {
    if (asprintf(&lock_buf, "%s.lock", policy) < 0) {
      fprintf(stderr, "mvm approve: out of memory\n");
      code = MVM_EXIT_FAIL;
      goto out;
    }
    lock = lock_buf;
  }

  mvm_error_clear(&err);
  int rc = mvm_lock_load(lock, &doc, &err);
  if (rc) {
    fprintf(stderr, "mvm approve: %s\n", err.msg);
    code = mvm_cli_exit_code(rc);
    goto out;
  }

  mvm_term term;
  mvm_term_init(&term, false);
  mvm_user user = mvm_term_user(&term);
  bool approved = false;
  bool waiting = false;
  size_t shown = 0;
  for (int s = MVM_LOCK_TOOLS; rc == MVM_OK && s <= MVM_LOCK_MODELS; s++) {
    /* Approving removes entries from the pending object, so iterate over
     * a copy of its keys. */
    json_t *pending = json_deep_copy(mvm_lock_pending(doc, s));
    const char *key;
    json_t *v;
    json_object_foreach(pending, key, v) {
      if (!selected(key, names, nnames))
        continue;
      shown++;
      rc = review(doc, s, key, list, yes, &user, &approved, &waiting);
      if (rc)
        break;
    }
    json_decref(pending);
  }
  if (rc) {
    fprintf(stderr, "mvm approve: %s\n", mvm_status_text(rc));
    code = mvm_cli_exit_code(rc);
    goto out;
  }
  if (shown == 0)
    printf("nothing in %s is waiting for approval\n", lock);
  if (approved) {
    rc = mvm_lock_save(lock, doc, &err);
    if (rc) {
      fprintf(stderr, "mvm approve: %s\n", err.msg);
      code = mvm_cli_exit_code(rc);
      goto out;
    }
    printf("updated %s\n", lock);
  }
  if (waiting)
    code = MVM_EXIT_FAIL;

out:
  json_decref(doc);
  free(lock_buf);
  free(names);
  return code;
}
