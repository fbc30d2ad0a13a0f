/* cmd_verify.c - `mvm verify FILE`: assemble and verify a program, print
 * every diagnostic, and report where untrusted data may reach a tool
 * call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mvm.h"

static const char usage[] =
    "usage: mvm verify FILE [--strict] [--taint] [--json]\n"
    "\n"
    "Assembles and verifies the program in FILE: types of every register\n"
    "at every instruction, registers read before they are set, undeclared\n"
    "models and tools, missing labels and subroutines, control falling off\n"
    "the end, invalid json.check schemas, and unreachable code (a\n"
    "warning). Every diagnostic goes to stderr as\n"
    "file:line:col: error|warning: message.\n"
    "\n"
    "  --strict  treat warnings (unreachable code) as errors\n"
    "  --taint   list where data that may be untrusted (from a tool\n"
    "            result, a model reply that saw one, or memory) reaches a\n"
    "            tool call; without it only their number is printed\n"
    "  --json    print {\"ok\", \"diagnostics\", \"taint\"} on stdout\n"
    "  --help    show this text\n"
    "\n"
    "Exit codes: 0 verified, 3 assembly or verification errors, 10 the\n"
    "file cannot be read.\n";

static json_t *diags_json(const mvm_diags *diags)
{
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < mvm_diags_count(diags); i++) {
    const mvm_diag *d = mvm_diags_get(diags, i);
    json_array_append_new(
        arr, json_pack("{s:s,s:s,s:I,s:I,s:s}", "severity",
                       d->severity == MVM_DIAG_ERROR ? "error" : "warning",
                       "file", d->file, "line", (json_int_t)d->line, "col",
                       (json_int_t)d->col, "message", d->message));
  }
  return arr;
}

static void print_taint(const char *path, const json_t *taint)
{
  size_t i;
  const json_t *f;

  json_array_foreach(taint, i, f) {
    printf("%s:%lld:%lld: taint: '%s': %s\n", path,
           (long long)json_integer_value(json_object_get(f, "line")),
           (long long)json_integer_value(json_object_get(f, "col")),
           json_string_value(json_object_get(f, "instruction")),
           json_string_value(json_object_get(f, "reason")));
  }
}

int mvm_cli_verify(int argc, char **argv)
{
  const char *path = NULL;
  mvm_verify_opts opts = {false};
  bool show_taint = false;
  bool as_json = false;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      return MVM_EXIT_OK;
    }
    if (strcmp(argv[i], "--strict") == 0) {
      opts.strict = true;
    } else if (strcmp(argv[i], "--taint") == 0) {
      show_taint = true;
    } else if (strcmp(argv[i], "--json") == 0) {
      as_json = true;
    } else if (argv[i][0] == '-' || path != NULL) {
      fprintf(stderr, "mvm verify: unexpected argument '%s'\n%s", argv[i],
              usage);
      return MVM_EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (path == NULL) {
    fprintf(stderr, "mvm verify: missing FILE\n%s", usage);
    return MVM_EXIT_USAGE;
  }

  mvm_diags *diags = NULL;
  mvm_program *program = NULL;
  json_t *taint = NULL;
  mvm_error err;
  int rc;

  mvm_error_clear(&err);
  rc = mvm_diags_new(&diags);
  if (rc == MVM_OK)
    rc = mvm_asm_file(path, diags, &program, &err);
  if (rc == MVM_OK)
    rc = mvm_verify(program, &opts, diags, &err);
  if (rc == MVM_OK)
    rc = mvm_verify_taint_report(program, &taint, &err);

  if (mvm_diags_count(diags) > 0) {
    char *text = mvm_diags_format(diags);
    fputs(text ? text : "mvm verify: out of memory\n", stderr);
    free(text);
  } else if (rc) {
    fprintf(stderr, "mvm verify: %s\n", err.msg);
  }

  if (as_json) {
    json_t *out = json_pack("{s:b,s:o,s:O?}", "ok", rc == MVM_OK,
                            "diagnostics", diags_json(diags), "taint",
                            taint);
    json_dumpf(out, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(out);
  } else if (rc == MVM_OK) {
    printf("%s: verified, %zu taint finding%s%s\n", path,
           json_array_size(taint), json_array_size(taint) == 1 ? "" : "s",
           json_array_size(taint) && !show_taint ? " (see --taint)" : "");
    if (show_taint)
      print_taint(path, taint);
  }
  json_decref(taint);
  mvm_program_free(program);
  mvm_diags_free(diags);
  return mvm_cli_exit_code(rc);
}
