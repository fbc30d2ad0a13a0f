/* main.c - the mvm command line: dispatch to the commands in cmd_*.c. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "mvm.h"

struct command {
  const char *name;
  mvm_cli_command run;
  const char *summary;
};

/* Each command's file adds its entry here. */
static const struct command commands[] = {
    {"asm", mvm_cli_asm, "assemble a program and print its summary"},
    {"verify", mvm_cli_verify, "check a program's types and control flow"},
    {"disasm", mvm_cli_disasm, "list a program, or the instruction set"},
    {"run", mvm_cli_run, "run a program"},
    {"audit", mvm_cli_audit, "verify or show the audit log"},
    {"policy", mvm_cli_policy, "check a policy, or explain its decisions"},
    {"approve", mvm_cli_approve, "review and pin changed tools and models"},
    {"tools", mvm_cli_tools, "list MCP servers' tools, or call one"},
    {NULL, NULL, NULL},
};

static void print_help(FILE *out)
{
  fprintf(out, "usage: mvm COMMAND [ARGS...]\n\ncommands:\n");
  for (const struct command *c = commands; c->name != NULL; c++)
    fprintf(out, "  %-10s %s\n", c->name, c->summary);
  fprintf(out,
          "\n'mvm COMMAND --help' describes one command.\n"
          "\nexit codes:\n"
          "  0    success\n"
          "  1    the program ran and failed, or a check failed\n"
          "  2    bad command line\n"
          "  3    assembly or verification error\n"
          "  4    invalid configuration or policy\n"
          "  5    the run stopped on a policy denial\n"
          "  6    a budget or limit ran out\n"
          "  7    model provider error\n"
          "  8    tool server failed to start, crashed or hung\n"
          "  9    audit log verification failed\n"
          "  10   file or system error\n"
          "  130  interrupted (Ctrl-C)\n");
}

int mvm_cli_exit_code(int status)
{
  switch (status) {
  case MVM_OK:
    return MVM_EXIT_OK;
  case MVM_ESYNTAX:
  case MVM_EVERIFY:
    return MVM_EXIT_ASM;
  case MVM_ECONFIG:
  case MVM_EPIN:
    return MVM_EXIT_CONFIG;
  case MVM_EDENIED:
    return MVM_EXIT_DENIED;
  case MVM_EBUDGET:
  case MVM_ELIMIT:
    return MVM_EXIT_BUDGET;
  case MVM_EMODEL:
    return MVM_EXIT_MODEL;
  case MVM_ETOOL:
  case MVM_EPROTOCOL:
  case MVM_ETIMEOUT:
  case MVM_ESANDBOX:
    return MVM_EXIT_TOOL;
  case MVM_ETAMPER:
    return MVM_EXIT_TAMPER;
  case MVM_EIO:
  case MVM_ENOTFOUND:
    return MVM_EXIT_IO;
  case MVM_ECANCELLED:
    return MVM_EXIT_INTERRUPT;
  default:
    return MVM_EXIT_FAIL;
  }
}

int main(int argc, char **argv)
{
  /* The character type comes from the environment, so that libcurl can
   * convert international host names in URLs that policies check. Number
   * formatting stays in the C locale, which JSON needs. */
  setlocale(LC_CTYPE, "");
  mvm_cli_set_argv0(argv[0]);

  if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    print_help(argc < 2 ? stderr : stdout);
    return argc < 2 ? MVM_EXIT_USAGE : MVM_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("mvm %s\n", MVM_VERSION);
    return MVM_EXIT_OK;
  }

  for (const struct command *c = commands; c->name != NULL; c++) {
    if (strcmp(argv[1], c->name) == 0)
      return c->run(argc - 1, argv + 1);
  }
  fprintf(stderr, "mvm: unknown command '%s'; run 'mvm --help' for the list\n",
          argv[1]);
  return MVM_EXIT_USAGE;
}
