/* cmd_disasm.c - `mvm disasm FILE`: the canonical listing of a program,
 * and `mvm disasm --isa`: the instruction set reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mvm.h"

static const char usage[] =
    "usage: mvm disasm FILE [--plain]\n"
    "       mvm disasm --isa\n"
    "\n"
    "Prints the canonical listing of the program in FILE: directives,\n"
    "labels and instructions, each followed by a comment with its index,\n"
    "its resolved jump targets (label=index) and the verified type of the\n"
    "register it writes. The listing assembles back to the same program.\n"
    "A program that fails verification is listed without types, with the\n"
    "diagnostics on stderr, and the exit code is 3.\n"
    "\n"
    "  --plain  no comments: the text the program hash is computed over\n"
    "  --isa    print the instruction set reference (docs/isa.md)\n"
    "  --help   show this text\n";

int mvm_cli_disasm(int argc, char **argv)
{
  const char *path = NULL;
  unsigned flags = MVM_DISASM_COMMENTS;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      return MVM_EXIT_OK;
    }
    if (strcmp(argv[i], "--isa") == 0) {
      char *isa = mvm_isa_markdown();
      if (isa == NULL) {
        fprintf(stderr, "mvm disasm: out of memory\n");
        return MVM_EXIT_FAIL;
      }
      fputs(isa, stdout);
      free(isa);
      return MVM_EXIT_OK;
    }
    if (strcmp(argv[i], "--plain") == 0) {
      flags = 0;
    } else if (argv[i][0] == '-' || path != NULL) {
      fprintf(stderr, "mvm disasm: unexpected argument '%s'\n%s", argv[i],
              usage);
      return MVM_EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (path == NULL) {
    fprintf(stderr, "mvm disasm: missing FILE\n%s", usage);
    return MVM_EXIT_USAGE;
  }

  mvm_diags *diags = NULL;
  mvm_program *program = NULL;
  mvm_error err;
  int rc;
  int vrc = MVM_OK;

  mvm_error_clear(&err);
  rc = mvm_diags_new(&diags);
  if (rc == MVM_OK)
    rc = mvm_asm_file(path, diags, &program, &err);
  if (rc == MVM_OK)
    vrc = mvm_verify(program, NULL, diags, &err);

  if (mvm_diags_count(diags) > 0) {
    char *text = mvm_diags_format(diags);
    fputs(text ? text : "mvm disasm: out of memory\n", stderr);
    free(text);
  } else if (rc) {
    fprintf(stderr, "mvm disasm: %s\n", err.msg);
  }
  if (rc == MVM_OK) {
    char *listing = mvm_disasm(program, flags);
    if (listing != NULL)
      fputs(listing, stdout);
    else
      rc = MVM_ENOMEM;
    free(listing);
  }
  mvm_program_free(program);
  mvm_diags_free(diags);
  return mvm_cli_exit_code(rc ? rc : vrc);
}
