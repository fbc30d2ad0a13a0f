/* cmd_policy.c - `mvm policy check` and `mvm policy explain`: tools for
 * policy authors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "cli/cli.h"
#include "monitor/policy.h"
#include "mvm.h"

static const char usage[] =
    "usage: mvm policy check POLICY [--json]\n"
    "       mvm policy explain POLICY EFFECTS.json [--json] [--lock FILE]\n"
    "                          [--no-user]\n"
    "\n"
    "check    parses POLICY and reports the first error as\n"
    "         file:line:col: message, with the line and a caret under the\n"
    "         column; on success prints the counts of rules, tool\n"
    "         declarations and budgets, the sinks' readers, and warnings\n"
    "         (rules that never apply, settings that weaken the policy).\n"
    "explain  decides the effects in EFFECTS.json, one JSON object or an\n"
    "         array of them decided in order as one run, and prints each\n"
    "         verdict with its rule, reason and the rules considered. An\n"
    "         effect is {\"effect\": \"tool.call\", \"target\": \"mail.send\",\n"
    "         \"args\": {...}, \"args_label\", \"arg_labels\", "
    "\"context_label\",\n"
    "         \"identity\", \"detail\", \"outcome\"}; labels are\n"
    "         {\"integrity\": [sources], \"readers\": [names] or \"*\"}.\n"
    "         The lock file is read but never written.\n"
    "\n"
    "POLICY may be 'permissive', the built-in policy that allows every\n"
    "effect; it is unsafe and only for trying things out.\n"
    "\n"
    "options:\n"
    "  --json      print JSON: the summary (check) or the decisions "
    "(explain)\n"
    "  --lock FILE the lock file of pinned tools and models (default\n"
    "              POLICY.lock)\n"
    "  --no-user   treat 'ask' as 'deny', as in a run with no terminal\n"
    "  -h, --help  print this help\n"
    "\n"
    "Exit codes: 0 valid policy (check) or every effect allowed (explain),\n"
    "2 bad command line, 4 invalid policy or effects file, 5 an effect was\n"
    "denied or needs confirmation (explain), 10 a file cannot be read.\n";

static int load_policy(const char *path, mvm_policy **out, mvm_error *err)
{
  if (strcmp(path, "permissive") == 0)
    return mvm_policy_permissive(out, err);
  return mvm_policy_load_file(path, out, err);
}

/* Prints the source line named by "file:line:col:" at the start of msg,
 * with a caret under the column. */
static void print_source_line(const char *path, const char *msg)
{
  size_t plen = strlen(path);
  unsigned line = 0;
  unsigned col = 0;

  if (strncmp(msg, path, plen) != 0 ||
      sscanf(msg + plen, ":%u:%u:", &line, &col) != 2 || line == 0)
    return;
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return;
  char buf[MVM_POLICY_MAX_LINE + 2];
  unsigned n = 0;
  while (fgets(buf, sizeof buf, f) != NULL) {
    if (++n < line)
      continue;
    buf[strcspn(buf, "\r\n")] = '\0';
    fprintf(stderr, "  %s\n  ", buf);
    for (unsigned i = 1; i < col && buf[i - 1] != '\0'; i++)
      fputc(buf[i - 1] == '\t' ? '\t' : ' ', stderr);
    fprintf(stderr, "^\n");
    break;
  }
  fclose(f);
}

static int policy_error(const char *path, const mvm_error *err)
{
  fprintf(stderr, "mvm policy: %s\n", err->msg);
  print_source_line(path, err->msg);
  if (err->code == MVM_ENOTFOUND || err->code == MVM_EIO)
    return MVM_EXIT_IO;
  if (err->code == MVM_EPARSE || err->code == MVM_ELIMIT)
    return MVM_EXIT_CONFIG;
  return mvm_cli_exit_code(err->code);
}

static void print_summary(const char *path, const json_t *s)
{
  const json_t *sinks = json_object_get(s, "sinks");
  const json_t *budgets = json_object_get(s, "budgets");
  const json_t *warnings = json_object_get(s, "warnings");
  size_t i;
  const json_t *v;
  const char *key;

  if (json_is_true(json_object_get(s, "permissive"))) {
    printf("%s: the built-in permissive policy: every effect is allowed "
           "and nothing is checked (UNSAFE)\n", path);
    return;
  }
  printf("%s: valid: %lld rules, %lld tool declarations, pin %s\n", path,
         (long long)json_integer_value(json_object_get(s, "rules")),
         (long long)json_integer_value(json_object_get(s, "tools")),
         json_string_value(json_object_get(s, "pin")));
  json_array_foreach(budgets, i, v) {
    const char *pattern = json_string_value(json_object_get(v, "pattern"));
    printf("  budget %s%s%s: %g (line %lld)\n",
           json_string_value(json_object_get(v, "kind")),
           pattern ? " " : "", pattern ? pattern : "",
           json_number_value(json_object_get(v, "limit")),
           (long long)json_integer_value(json_object_get(v, "line")));
  }
  char *user = json_dumps(json_object_get(sinks, "user"), JSON_ENCODE_ANY);
  char *mem = json_dumps(json_object_get(sinks, "memory"), JSON_ENCODE_ANY);
  printf("  readers of the user: %s; of memory: %s\n", user ? user : "?",
         mem ? mem : "?");
  free(user);
  free(mem);
  json_object_foreach((json_t *)json_object_get(sinks, "providers"), key,
                      v) {
    char *r = json_dumps(v, JSON_ENCODE_ANY);
    printf("  readers of provider %s: %s\n", key, r ? r : "?");
    free(r);
  }
  json_array_foreach(warnings, i, v) {
    fprintf(stderr, "%s:%lld: warning: %s\n", path,
            (long long)json_integer_value(json_object_get(v, "line")),
            json_string_value(json_object_get(v, "message")));
  }
}

static int run_check(const char *path, bool as_json)
{
  mvm_policy *policy = NULL;
  json_t *summary = NULL;
  mvm_error err;
  int rc;

  mvm_error_clear(&err);
  rc = load_policy(path, &policy, &err);
  if (rc)
    return policy_error(path, &err);
  rc = mvm_policy_summary(policy, &summary, &err);
  mvm_policy_free(policy);
  if (rc) {
    fprintf(stderr, "mvm policy: %s\n", err.msg);
    return mvm_cli_exit_code(rc);
  }
  if (as_json)
    json_dumpf(summary, stdout, JSON_INDENT(2));
  else
    print_summary(path, summary);
  if (as_json)
    printf("\n");
  json_decref(summary);
  return MVM_EXIT_OK;
}

static void print_decision(size_t index, const json_t *d)
{
  const json_t *trace = json_object_get(d, "trace");
  const json_t *label = json_object_get(d, "result_label");
  const char *target = json_string_value(json_object_get(d, "target"));
  size_t i;
  const json_t *v;

  printf("%zu. %s%s%s: %s\n", index + 1,
         json_string_value(json_object_get(d, "effect")), target ? " " : "",
         target ? target : "",
         json_string_value(json_object_get(d, "verdict")));
  printf("   rule:   %s\n", json_string_value(json_object_get(d, "rule")));
  printf("   reason: %s\n", json_string_value(json_object_get(d, "reason")));
  json_array_foreach(trace, i, v) {
    printf("   %s %s\n", i == 0 ? "trace: " : "       ",
           json_string_value(v));
  }
  if (label != NULL) {
    char *text = json_dumps(label, JSON_COMPACT);
    printf("   result label: %s\n", text ? text : "?");
    free(text);
  }
}

static int run_explain(const char *path, const char *effects_path,
                       const mvm_policy_monitor_config *cfg, bool as_json)
{
  mvm_policy *policy = NULL;
  json_t *effects = NULL;
  json_t *decisions = NULL;
  mvm_error err;
  int rc;
  int exit_code = MVM_EXIT_OK;

  mvm_error_clear(&err);
  rc = load_policy(path, &policy, &err);
  if (rc)
    return policy_error(path, &err);
  rc = mvm_json_load_file(effects_path, NULL, &effects, &err);
  if (rc) {
    fprintf(stderr, "mvm policy: %s\n", err.msg);
    mvm_policy_free(policy);
    return rc == MVM_EPARSE ? MVM_EXIT_CONFIG : mvm_cli_exit_code(rc);
  }
  rc = mvm_policy_explain(policy, effects, cfg, &decisions, &err);
  json_decref(effects);
  mvm_policy_free(policy);
  if (rc) {
    fprintf(stderr, "mvm policy: %s: %s\n", effects_path, err.msg);
    return rc == MVM_EINVAL ? MVM_EXIT_CONFIG : mvm_cli_exit_code(rc);
  }

  size_t i;
  const json_t *d;
  json_array_foreach(decisions, i, d) {
    const char *v = json_string_value(json_object_get(d, "verdict"));
    if (strcmp(v, "allow") != 0)
      exit_code = MVM_EXIT_DENIED;
    if (!as_json)
      print_decision(i, d);
  }
  if (as_json) {
    json_dumpf(decisions, stdout, JSON_INDENT(2));
    printf("\n");
  }
  json_decref(decisions);
  return exit_code;
}

/* Names what is missing or wrong on a bad policy command line, with the
 * usage line of the subcommand, instead of the whole help. */
static int report_usage_error(const char *const *args, size_t nargs)
{
  const char *hint = "run 'mvm policy --help' for the options";

  if (nargs == 0) {
    fprintf(stderr, "mvm policy: missing subcommand 'check' or 'explain'\n"
                    "usage: mvm policy check POLICY\n"
                    "       mvm policy explain POLICY EFFECTS.json\n%s\n",
            hint);
  } else if (strcmp(args[0], "check") == 0) {
    fprintf(stderr, "mvm policy check: %s\nusage: mvm policy check POLICY "
                    "[--json]\n%s\n",
            nargs < 2 ? "missing POLICY" : "too many arguments", hint);
  } else if (strcmp(args[0], "explain") == 0) {
    fprintf(stderr, "mvm policy explain: %s\nusage: mvm policy explain "
                    "POLICY EFFECTS.json [--json] [--lock FILE] "
                    "[--no-user]\n%s\n",
            nargs < 2 ? "missing POLICY and EFFECTS.json"
                      : "missing EFFECTS.json, the effects to decide",
            hint);
  } else {
    fprintf(stderr, "mvm policy: unknown subcommand '%s'; expected 'check' "
                    "or 'explain'\n%s\n",
            args[0], hint);
  }
  return MVM_EXIT_USAGE;
}

int mvm_cli_policy(int argc, char **argv)
{
  const char *args[3] = {NULL, NULL, NULL};
  size_t nargs = 0;
  bool as_json = false;
  mvm_policy_monitor_config cfg;

  mvm_policy_monitor_config_init(&cfg);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      return MVM_EXIT_OK;
    }
    if (strcmp(argv[i], "--json") == 0) {
      as_json = true;
    } else if (strcmp(argv[i], "--no-user") == 0) {
      cfg.no_user = true;
    } else if (strcmp(argv[i], "--lock") == 0 && i + 1 < argc) {
      cfg.lock_path = argv[++i];
    } else if (argv[i][0] == '-' || nargs == 3) {
      fprintf(stderr, "mvm policy: unexpected argument '%s'\n%s", argv[i],
              usage);
      return MVM_EXIT_USAGE;
    } else {
      args[nargs++] = argv[i];
    }
  }
  if (nargs == 2 && strcmp(args[0], "check") == 0)
    return run_check(args[1], as_json);
  if (nargs == 3 && strcmp(args[0], "explain") == 0)
    return run_explain(args[1], args[2], &cfg, as_json);
  return report_usage_error(args, nargs);
}
