/* cli.h - the mvm command line: one function per command, in cmd_*.c.
 *
 * Each command takes the arguments after its name (argv[0] is the command
 * name) and returns an exit code from the list below, which `mvm --help`
 * documents. Commands print to stdout and stderr; libraries never do. */
#ifndef MVM_CLI_H
#define MVM_CLI_H

/* Exit codes. Stable: scripts depend on them. */
#define MVM_EXIT_OK 0       /* success */
#define MVM_EXIT_FAIL 1     /* the program ran and failed, or a check failed */
#define MVM_EXIT_USAGE 2    /* bad command line */
#define MVM_EXIT_ASM 3      /* assembly or verification error */
#define MVM_EXIT_CONFIG 4   /* invalid configuration or policy */
#define MVM_EXIT_DENIED 5   /* the run stopped on a policy denial */
#define MVM_EXIT_BUDGET 6   /* a budget or limit ran out */
#define MVM_EXIT_MODEL 7    /* model provider error */
#define MVM_EXIT_TOOL 8     /* tool server failed to start, crashed or hung */
#define MVM_EXIT_TAMPER 9   /* audit log verification failed */
#define MVM_EXIT_IO 10      /* file or system error */
#define MVM_EXIT_INTERRUPT 130 /* interrupted by SIGINT */

typedef int (*mvm_cli_command)(int argc, char **argv);

int mvm_cli_asm(int argc, char **argv);
int mvm_cli_verify(int argc, char **argv);
int mvm_cli_disasm(int argc, char **argv);
int mvm_cli_run(int argc, char **argv);
int mvm_cli_audit(int argc, char **argv);
int mvm_cli_policy(int argc, char **argv);
int mvm_cli_approve(int argc, char **argv);
int mvm_cli_tools(int argc, char **argv);

/* Maps a status code to the exit code above. */
int mvm_cli_exit_code(int status);

#endif
