/* cli.h - the mvm command line: one function per command, in cmd_*.c.
 *
 * Each command takes the arguments after its name (argv[0] is the command
 * name) and returns an exit code from the list below, which `mvm --help`
 * documents. Commands print to stdout and stderr; libraries never do. */
#ifndef MVM_CLI_H
#define MVM_CLI_H

#include <stdbool.h>
#include <stddef.h>

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

/* Records main's argv[0], which mvm_cli_self uses. */
void mvm_cli_set_argv0(const char *argv0);

/* Returns the name hints use for this mvm binary, so that a printed
 * command runs as is. It is "mvm" when argv[0] has a slash and the first
 * "mvm" on PATH is the same file. Otherwise it is argv[0] as invoked
 * ("build/release/mvm"), quoted for the shell when needed. */
const char *mvm_cli_self(void);

/* True when a decision's reason already names its rule as a whole word
 * (the reason "denied by default: ..." names the rule "default"), so a
 * message showing both need not repeat it. */
bool mvm_cli_reason_names_rule(const char *reason, const char *rule);

/* Writes s into buf as one POSIX shell word: unchanged when every
 * character is literal to the shell, else in single quotes. Cut to fit
 * size. Returns buf. */
const char *mvm_cli_shell_word(const char *s, char *buf, size_t size);

#endif
