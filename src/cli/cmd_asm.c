/* cmd_asm.c - `mvm asm FILE`: assemble a program and print a summary or
 * its encoded form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mvm.h"

static const char usage[] =
    "usage: mvm asm FILE [--json]\n"
    "\n"
    "Assembles the program in FILE and reports every syntax error as\n"
    "file:line:col: message, with the source line and a caret. Prints a\n"
    "summary: instructions, registers, declared models and tools, and the\n"
    "program hash (SHA-256 of the canonical listing).\n"
    "\n"
    "  --json   print the encoded program as JSON instead of the summary\n"
    "  --help   show this text\n"
    "\n"
    "Types and control flow are checked by 'mvm verify'. Exit codes: 0\n"
    "assembled, 3 syntax errors, 10 the file cannot be read.\n";

static void print_summary(const mvm_program *program, const char *path)
{
  json_t *m = NULL;
  if (mvm_program_manifest(program, &m, NULL) != MVM_OK)
    return;

  printf("%s: %lld instructions, %lld registers\n", path,
         (long long)json_integer_value(json_object_get(m, "instructions")),
         (long long)json_integer_value(json_object_get(m, "registers")));
  const char *lists[] = {"models", "tools", "tool_patterns"};
  for (size_t i = 0; i < 3; i++) {
    json_t *arr = json_object_get(m, lists[i]);
    size_t k;
    json_t *item;
    printf("  %s:", lists[i]);
    json_array_foreach(arr, k, item) printf(" %s", json_string_value(item));
    printf("%s\n", json_array_size(arr) ? "" : " none");
  }
  printf("  hash: %s\n", mvm_program_hash(program));
  json_decref(m);
}

int mvm_cli_asm(int argc, char **argv)
{
  const char *path = NULL;
  bool as_json = false;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      return MVM_EXIT_OK;
    }
    if (strcmp(argv[i], "--json") == 0) {
      as_json = true;
    } else if (argv[i][0] == '-' || path != NULL) {
      fprintf(stderr, "mvm asm: unexpected argument '%s'\n%s", argv[i],
              usage);
      return MVM_EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (path == NULL) {
    fprintf(stderr, "mvm asm: missing FILE\n%s", usage);
    return MVM_EXIT_USAGE;
  }

  mvm_diags *diags = NULL;
  mvm_program *program = NULL;
  mvm_error err;
  int rc;

  mvm_error_clear(&err);
  rc = mvm_diags_new(&diags);
  if (rc == MVM_OK)
    rc = mvm_asm_file(path, diags, &program, &err);
  if (mvm_diags_count(diags) > 0) {
    char *text = mvm_diags_format(diags);
    fputs(text ? text : "mvm asm: out of memory\n", stderr);
    free(text);
  } else if (rc) {
    fprintf(stderr, "mvm asm: %s\n", err.msg);
  }

  if (rc == MVM_OK && as_json) {
    json_t *encoded = NULL;
    rc = mvm_program_to_json(program, &encoded, &err);
    if (rc == MVM_OK)
      json_dumpf(encoded, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (rc == MVM_OK)
      putchar('\n');
    json_decref(encoded);
  } else if (rc == MVM_OK) {
    print_summary(program, path);
  }
  mvm_program_free(program);
  mvm_diags_free(diags);
  return mvm_cli_exit_code(rc);
}
