/* mcp_stdio.h - the MCP stdio transport: a server as a child process.
 *
 * The child is started with fork and execve from an explicit argv and
 * environment, never through a shell, in a process group of its own. Its
 * stdin receives one JSON message per line; its stdout is split into
 * lines, and each line that starts with '{' or '[' is a message. Other
 * stdout lines are logged as noise and skipped. Its stderr is logged line
 * by line under "mcp:SERVER", at most stderr_lines_per_s lines a second.
 *
 * A stdout line longer than max_message_bytes is dropped up to its
 * newline: recv reports it once as MVM_ELIMIT, naming the limit and the
 * server, and the next message is read normally.
 *
 * When stdout reaches end of file, the child is reaped and every later
 * send or recv fails with MVM_EIO, giving its exit status and its last
 * stderr lines: the newest of the last 1 KiB of stderr that fit in the
 * error message. Writes never raise SIGPIPE in mvm.
 *
 * close() shuts down as MCP's lifecycle asks: it closes the child's stdin,
 * waits up to close_grace_ms, sends SIGTERM to the child's process group,
 * waits up to term_grace_ms, then sends SIGKILL and reaps the child, so no
 * zombie is left.
 *
 * When mvm dies without close(), the child gets SIGKILL from the kernel
 * (PR_SET_PDEATHSIG). Linux sends it when the thread that started the
 * child exits, so open a transport on a thread that lives as long as it.
 * Other processes in the server's group do not get that signal: a
 * signal handler that ends mvm calls mvm_mcp_stdio_kill_all for them.
 *
 * NOTE: the transport reads stderr only inside send and recv, so a server
 * that writes more than a pipe's capacity (64 KiB on Linux) to stderr
 * while the client is idle blocks until the next call.
 */
#ifndef MVM_TOOLS_MCP_STDIO_H
#define MVM_TOOLS_MCP_STDIO_H

#include <stddef.h>
#include <sys/types.h>

#include "mvm.h"
#include "tools/mcp_transport.h"

#define MVM_MCP_STDIO_DEFAULT_MAX_MESSAGE (8u * 1024 * 1024)
#define MVM_MCP_STDIO_DEFAULT_CLOSE_GRACE_MS 2000
#define MVM_MCP_STDIO_DEFAULT_TERM_GRACE_MS 2000
#define MVM_MCP_STDIO_DEFAULT_WRITE_TIMEOUT_MS 10000
#define MVM_MCP_STDIO_DEFAULT_STDERR_LINES_PER_S 20
/* Longer stderr lines are cut before they are logged. */
#define MVM_MCP_STDIO_MAX_STDERR_LINE 2048

typedef struct mvm_mcp_stdio_opts {
  const char *server;          /* name in logs and errors; required */
  const char *const *argv;     /* NULL-terminated; argv[0] is looked up in
                                  mvm's own PATH when it has no '/' */
  const char *const *envp;     /* the child's whole environment, "K=V"
                                  strings, NULL-terminated; NULL: empty */
  const char *cwd;             /* NULL: mvm's working directory */
  size_t max_message_bytes;    /* 0: MVM_MCP_STDIO_DEFAULT_MAX_MESSAGE */
  int close_grace_ms;          /* 0: the default above */
  int term_grace_ms;           /* 0: the default above */
  int write_timeout_ms;        /* a send that cannot write for this long
                                  fails with MVM_ETIMEOUT; 0: the default */
  unsigned stderr_lines_per_s; /* 0: the default above */
} mvm_mcp_stdio_opts;

/* Starts the server and returns its transport in *out, which the caller
 * closes with (*out)->ops->close(*out). Everything in opts is copied.
 * Fails with MVM_EINVAL for a missing server name or argv, MVM_ENOTFOUND
 * when the command or cwd does not exist, MVM_EIO when the process cannot
 * be started, naming the server and the command. */
int mvm_mcp_stdio_open(const mvm_mcp_stdio_opts *opts, mvm_mcp_transport **out,
                       mvm_error *err);

/* Returns the child's process id, or 0 once it has been reaped or when t
 * is not a stdio transport. */
pid_t mvm_mcp_stdio_pid(const mvm_mcp_transport *t);

/* Sends SIGKILL to the process group of every stdio server that has not
 * been closed, for a signal handler that is about to end mvm (a second
 * Ctrl-C). Async-signal-safe. The transports stay open, and their next
 * calls find the servers dead. */
void mvm_mcp_stdio_kill_all(void);

#endif
