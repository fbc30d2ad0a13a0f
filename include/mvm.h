/*
 * mvm.h - public interface of the mvm Model Virtual Machine.
 *
 * A host assembles a program, verifies it, binds the models and tools its
 * manifest declares to adapters, and runs it under a monitor that decides
 * every effect. The CLI in src/cli is the first such host.
 *
 * Ownership rules, for every type in this header:
 *  - A function named *_new, *_open, *_load or *_parse returns an object the
 *    caller owns and releases with the matching *_free or *_close.
 *  - A `const` pointer argument is borrowed for the duration of the call.
 *  - A `json_t *` returned through an out parameter is a new reference the
 *    caller must json_decref(). A `json_t *` argument is borrowed unless the
 *    comment says "steals".
 *  - An `mvm_label *` is immutable and reference counted: mvm_label_ref()
 *    adds a reference, mvm_label_unref() drops one. NULL is a valid label:
 *    trusted and readable by everyone.
 *  - On failure a function returns a non-zero mvm_status, fills the
 *    mvm_error it was given (if not NULL), and leaves its out parameters
 *    untouched.
 */
#ifndef MVM_H
#define MVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

/* Status codes. Values are stable and never reused; new codes go at the
 * end. mvm_status_name() gives the symbolic name, mvm_status_text() a
 * one-line description. */
#define MVM_STATUS_LIST(X)                                                    \
  X(MVM_OK, 0, "success")                                                     \
  X(MVM_ENOMEM, 1, "out of memory")                                          \
  X(MVM_EINVAL, 2, "invalid argument")                                       \
  X(MVM_ESYNTAX, 3, "assembly syntax error")                                 \
  X(MVM_EVERIFY, 4, "program failed verification")                           \
  X(MVM_ELIMIT, 5, "limit exceeded")                                         \
  X(MVM_EIO, 6, "input/output error")                                        \
  X(MVM_EDENIED, 7, "denied by policy")                                      \
  X(MVM_ETIMEOUT, 8, "timed out")                                            \
  X(MVM_EPROTOCOL, 9, "protocol error from peer")                            \
  X(MVM_EMODEL, 10, "model provider error")                                  \
  X(MVM_ETOOL, 11, "tool error")                                             \
  X(MVM_EBUDGET, 12, "budget exhausted")                                     \
  X(MVM_ECANCELLED, 13, "cancelled")                                         \
  X(MVM_EFAIL, 14, "program failed")                                         \
  X(MVM_ENOTFOUND, 15, "not found")                                          \
  X(MVM_EPARSE, 16, "parse error")                                           \
  X(MVM_ECONFIG, 17, "invalid configuration")                                \
  X(MVM_ESANDBOX, 18, "sandbox setup failed")                                \
  X(MVM_ESCHEMA, 19, "value does not match schema")                          \
  X(MVM_ETAMPER, 20, "audit log integrity check failed")                     \
  X(MVM_EPIN, 21, "identity differs from the pinned one")                    \
  X(MVM_ESTATE, 22, "invalid state for this operation")                      \
  X(MVM_EUNSUPPORTED, 23, "not supported")

typedef enum mvm_status {
#define MVM_X_ENUM(name, value, text) name = value,
  MVM_STATUS_LIST(MVM_X_ENUM)
#undef MVM_X_ENUM
} mvm_status;

/* Returns the symbolic name of a status ("MVM_EDENIED"), or "MVM_E?" for a
 * value outside the list. Never NULL. */
const char *mvm_status_name(int status);

/* Returns a one-line description of a status. Never NULL. */
const char *mvm_status_text(int status);

/* An error record: the status, a one-line message that names the value and
 * the fix, and the place it arose ("asm", "mcp:filesystem", ...). */
#define MVM_ERROR_MSG_MAX 512
#define MVM_ERROR_WHERE_MAX 64
typedef struct mvm_error {
  int code;
  char where[MVM_ERROR_WHERE_MAX];
  char msg[MVM_ERROR_MSG_MAX];
} mvm_error;

/* Fills err (if not NULL) and returns code, so a caller can write
 * `return mvm_error_set(err, MVM_EINVAL, "asm", "...", ...);`. A message
 * longer than the buffer is cut and ends in "...". */
int mvm_error_set(mvm_error *err, int code, const char *where,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Clears err to MVM_OK with empty strings. */
void mvm_error_clear(mvm_error *err);

/* ---------------------------------------------------------------- labels */

/* An information-flow label. Integrity is the set of untrusted sources that
 * may have influenced a value (empty: trusted). Confidentiality is the set of
 * readers allowed to see it, or everyone. Labels are immutable and
 * reference counted; NULL is the bottom label: trusted, public. */
typedef struct mvm_label mvm_label;

/* Builds a label. `sources` lists integrity sources (may repeat; order does
 * not matter). `readers` lists allowed readers; readers == NULL means
 * everyone, while readers != NULL with nreaders == 0 means nobody. Returns
 * NULL in *out for the bottom label. */
int mvm_label_new(const char *const *sources, size_t nsources,
                  const char *const *readers, size_t nreaders,
                  mvm_label **out);
mvm_label *mvm_label_ref(mvm_label *label);
void mvm_label_unref(mvm_label *label);

/* Joins two labels: integrity sets unite, reader sets intersect. *out is a
 * new reference (possibly to a or b). */
int mvm_label_join(const mvm_label *a, const mvm_label *b, mvm_label **out);

bool mvm_label_is_trusted(const mvm_label *label);
bool mvm_label_is_public(const mvm_label *label);
bool mvm_label_equal(const mvm_label *a, const mvm_label *b);

/* True when `reader` is in the reader set, or the set is everyone. */
bool mvm_label_readable_by(const mvm_label *label, const char *reader);

/* True when every reader of `sink` may read `label`'s data, that is when
 * label's reader set contains sink's reader set. */
bool mvm_label_flows_to(const mvm_label *label, const mvm_label *sink);

size_t mvm_label_source_count(const mvm_label *label);
const char *mvm_label_source(const mvm_label *label, size_t i);
/* Returns SIZE_MAX when the reader set is everyone. */
size_t mvm_label_reader_count(const mvm_label *label);
const char *mvm_label_reader(const mvm_label *label, size_t i);

/* Returns a label without the given integrity sources (endorsement) or
 * with the given extra readers (declassification). Only the monitor decides
 * whether a program may do this; these functions only compute. */
int mvm_label_endorse(const mvm_label *label, const char *const *sources,
                      size_t nsources, mvm_label **out);
int mvm_label_declassify(const mvm_label *label, const char *const *readers,
                         size_t nreaders, mvm_label **out);

/* Serializes as {"integrity": [...], "readers": [...] | "*"}. */
json_t *mvm_label_to_json(const mvm_label *label);
int mvm_label_from_json(const json_t *json, mvm_label **out, mvm_error *err);

/* Writes a short text form, "trusted/public" or "untrusted(web)/{alice}",
 * into buf, cut to size. Returns buf. */
char *mvm_label_format(const mvm_label *label, char *buf, size_t size);

/* ---------------------------------------------------------------- logging */

/* Trace categories, switched on at run time (--trace=vm,policy,...). */
#define MVM_TRACE_LIST(X)                                                     \
  X(VM, 0, "vm")                                                             \
  X(POLICY, 1, "policy")                                                     \
  X(MCP, 2, "mcp")                                                           \
  X(HTTP, 3, "http")                                                         \
  X(MODEL, 4, "model")                                                       \
  X(SANDBOX, 5, "sandbox")                                                   \
  X(AUDIT, 6, "audit")                                                       \
  X(TOOL, 7, "tool")

enum mvm_trace_category {
#define MVM_X_ENUM(name, bit, text) MVM_TRACE_##name = bit,
  MVM_TRACE_LIST(MVM_X_ENUM)
#undef MVM_X_ENUM
};

enum mvm_log_level {
  MVM_LOG_TRACE = 0,
  MVM_LOG_DEBUG = 1,
  MVM_LOG_INFO = 2,
  MVM_LOG_WARN = 3,
  MVM_LOG_ERROR = 4
};

/* The library never writes to a terminal itself: it hands log lines to a
 * sink the host installs. With no sink, warnings and errors go to stderr. */
typedef void (*mvm_log_sink)(void *ctx, int level, const char *where,
                             const char *line);
void mvm_log_set_sink(mvm_log_sink sink, void *ctx);
void mvm_log_set_level(int level);

/* Parses "vm,policy" (or "all") into a trace mask. Unknown names are an
 * MVM_EINVAL error naming the first one and listing the valid ones. */
int mvm_trace_parse(const char *spec, uint32_t *mask, mvm_error *err);
void mvm_trace_set(uint32_t mask);
bool mvm_trace_on(int category);

/* ---------------------------------------------------------------- models */

/*
 * Model adapters speak one neutral JSON shape, whatever the provider.
 *
 * Request:
 *   {"messages": [{"role": "system"|"user"|"assistant"|"tool",
 *                  "content": "text",
 *                  "tool_calls": [{"id","name","arguments": {...}}],
 *                  "tool_call_id": "id", "name": "tool name"}],
 *    "tools": [{"name", "description", "input_schema": {...}}],
 *    "tool_choice": "auto"|"none"|"required"|{"name": "..."},
 *    "response_format": {JSON Schema} (optional),
 *    "max_tokens": n (optional), "temperature": x (optional)}
 *
 * Reply:
 *   {"text": "...", "tool_calls": [{"id", "name", "arguments": {...}}],
 *    "usage": {"input_tokens": n, "output_tokens": n},
 *    "stop_reason": "end"|"tool_calls"|"length"|"refusal"|"other",
 *    "model": "provider's model id"}
 * A tool call whose arguments are not valid JSON keeps "arguments": null and
 * adds "arguments_error": "message" and "arguments_raw": "text".
 */
typedef struct mvm_model_stream {
  /* Called with each text fragment as it arrives; may be NULL. */
  void (*on_text)(void *ctx, const char *text, size_t len);
  /* Returns true to cancel the call in progress; may be NULL. */
  bool (*cancelled)(void *ctx);
  void *ctx;
} mvm_model_stream;

typedef struct mvm_model_ops {
  const char *kind; /* "openai", "anthropic", "replay", ... */
  /* Returns {"provider", "model", "endpoint"}: what pinning records. */
  int (*identity)(void *self, json_t **out, mvm_error *err);
  int (*call)(void *self, const json_t *request,
              const mvm_model_stream *stream, json_t **reply,
              mvm_error *err);
  void (*close)(void *self);
} mvm_model_ops;

typedef struct mvm_model {
  const mvm_model_ops *ops;
  void *self;
} mvm_model;

/* ---------------------------------------------------------------- tools */

/*
 * Tool adapters speak MCP's shapes, whatever the tool:
 *  - list: an array of {"name", "description", "inputSchema",
 *    "outputSchema" (optional), "annotations" (optional)};
 *  - call: an MCP CallToolResult, {"content": [...],
 *    "structuredContent": {...} (optional), "isError": bool}.
 * A tool that ran and failed returns MVM_OK with "isError": true; a non-zero
 * status means the call could not be made (transport, protocol, timeout).
 */
typedef struct mvm_tool_call_opts {
  double timeout_s;             /* 0: the adapter's default */
  const mvm_model_stream *progress; /* on_text gets progress lines; may be NULL */
} mvm_tool_call_opts;

typedef struct mvm_tool_ops {
  const char *kind; /* "mcp-stdio", "mcp-http", "builtin", ... */
  int (*list)(void *self, json_t **tools, mvm_error *err);
  int (*call)(void *self, const char *name, const json_t *args,
              const mvm_tool_call_opts *opts, json_t **result,
              mvm_error *err);
  void (*close)(void *self);
} mvm_tool_ops;

typedef struct mvm_toolbox {
  const char *server; /* the server name tools are grouped under */
  const mvm_tool_ops *ops;
  void *self;
} mvm_toolbox;

/* ---------------------------------------------------------------- monitor */

/* Effects the monitor decides. Each has a stable name for policies, the
 * audit log and traces (mvm_effect_name). */
#define MVM_EFFECT_LIST(X)                                                    \
  X(MODEL_LOAD, 0, "model.load")                                             \
  X(MODEL_CALL, 1, "model.call")                                             \
  X(MODEL_QUERY, 2, "model.query")                                           \
  X(TOOL_LOAD, 3, "tool.load")                                               \
  X(TOOL_CALL, 4, "tool.call")                                               \
  X(USER_SHOW, 5, "user.show")                                               \
  X(USER_ASK, 6, "user.ask")                                                 \
  X(MEMORY_WRITE, 7, "memory.write")                                         \
  X(ENDORSE, 8, "label.endorse")                                             \
  X(DECLASSIFY, 9, "label.declassify")

typedef enum mvm_effect_kind {
#define MVM_X_ENUM(name, value, text) MVM_EFFECT_##name = value,
  MVM_EFFECT_LIST(MVM_X_ENUM)
#undef MVM_X_ENUM
  MVM_EFFECT_COUNT
} mvm_effect_kind;

const char *mvm_effect_name(int kind);

/* The label of one top-level argument of a call. */
typedef struct mvm_arg_label {
  const char *name;
  const mvm_label *label;
} mvm_arg_label;

/*
 * One effect to decide. Fields a kind does not use are NULL or 0:
 *  - target: model name, "server.tool", memory key, or NULL;
 *  - args: call arguments, the data shown, sent or stored;
 *  - args_label: join of the labels of everything in args;
 *  - arg_labels: per top-level argument labels (tool calls);
 *  - context_label: join of everything the deciding model saw, for calls a
 *    model chose (dispatch); the program's own label otherwise;
 *  - identity: for loads, the model identity or tool description to pin;
 *  - detail: endorse/declassify parameters, or a quarantined query's type.
 */
typedef struct mvm_effect {
  mvm_effect_kind kind;
  const char *target;
  const json_t *args;
  const mvm_label *args_label;
  const mvm_arg_label *arg_labels;
  size_t narg_labels;
  const mvm_label *context_label;
  const json_t *identity;
  const json_t *detail;
  uint64_t step; /* the instruction count when the effect was requested */
} mvm_effect;

typedef enum mvm_verdict {
  MVM_VERDICT_ALLOW = 0,
  MVM_VERDICT_DENY = 1,
  MVM_VERDICT_ASK = 2
} mvm_verdict;

#define MVM_RULE_MAX 128
#define MVM_REASON_MAX 512
typedef struct mvm_decision {
  mvm_verdict verdict;
  char rule[MVM_RULE_MAX];     /* the rule that decided, e.g. "policy.mvp:12" */
  char reason[MVM_REASON_MAX]; /* names the offending value or label */
  /* True when a budget (calls, tokens, cost, time) denied the effect, not
   * a rule; the VM then fails with MVM_EBUDGET instead of MVM_EDENIED. */
  bool budget;
  /* For a decision made by pinning, why the identity waits for approval:
   * "new", "changed" or "shadows SERVER.TOOL" (as in the lock file);
   * else "". Long names are cut to fit. */
  char pin[MVM_RULE_MAX];
} mvm_decision;

typedef struct mvm_monitor_ops {
  /* Decides an effect. A non-zero status is an internal failure, which the
   * VM treats as a deny. */
  int (*check)(void *self, const mvm_effect *effect, mvm_decision *out,
               mvm_error *err);
  /* Records what an allowed effect did (its result or error), for the
   * audit log. May be NULL. */
  int (*record)(void *self, const mvm_effect *effect,
                const mvm_decision *decision, const json_t *outcome,
                mvm_error *err);
  /* Gives the label of a tool's result: the source label the policy assigns
   * to that tool, which may depend on the call's arguments (a file path) and
   * on the result. `call` is the TOOL_CALL effect that was allowed. *out
   * NULL means trusted and public. May be NULL, in which case every tool
   * result is untrusted with source "tool:<server.tool>". */
  int (*result_label)(void *self, const mvm_effect *call,
                      const json_t *result, mvm_label **out, mvm_error *err);
  /* Gives the reader label of a sink (a model provider, the user, memory,
   * a tool): the readers a value must allow to flow there. May be NULL. */
  int (*sink_label)(void *self, mvm_effect_kind kind, const char *target,
                    mvm_label **out, mvm_error *err);
} mvm_monitor_ops;

typedef struct mvm_monitor {
  const mvm_monitor_ops *ops;
  void *self;
} mvm_monitor;

/* ---------------------------------------------------------------- user I/O */

typedef struct mvm_user_ops {
  /* Shows a value to the user. */
  int (*show)(void *self, const char *text, const mvm_label *label,
              mvm_error *err);
  /* Asks a question; *answer is a malloc'd string the caller frees. With no
   * user present, returns MVM_EUNSUPPORTED. */
  int (*ask)(void *self, const char *prompt, char **answer, mvm_error *err);
  /* Asks for a yes/no confirmation. With no user present, returns
   * MVM_EUNSUPPORTED, which user.confirm treats as "no". */
  int (*confirm)(void *self, const char *prompt, bool *yes, mvm_error *err);
} mvm_user_ops;

typedef struct mvm_user {
  const mvm_user_ops *ops;
  void *self;
} mvm_user;

/* ---------------------------------------------------------------- memory */

/* Named memory values with their labels, kept across runs by the store. */
typedef struct mvm_memory_ops {
  /* *value NULL when the key is absent (MVM_OK). */
  int (*get)(void *self, const char *key, json_t **value, mvm_label **label,
             mvm_error *err);
  int (*put)(void *self, const char *key, const json_t *value,
             const mvm_label *label, mvm_error *err);
} mvm_memory_ops;

typedef struct mvm_memory {
  const mvm_memory_ops *ops;
  void *self;
} mvm_memory;

/* ------------------------------------------------------ programs and the VM */

/*
 * A program is text assembly (docs/isa.md lists the instructions). The
 * host assembles it with mvm_asm, checks it with mvm_verify, binds the
 * models and tools its manifest declares, and runs it with mvm_vm_run
 * under a monitor that decides every effect.
 *
 * Ownership: the caller owns an mvm_program and frees it with
 * mvm_program_free after every VM built from it is freed. A VM borrows
 * every adapter given to it (models, toolboxes, monitor, user, memory):
 * it copies the small ops/self tables, never calls close(), and the host
 * keeps the adapters alive until mvm_vm_free.
 */
typedef struct mvm_program mvm_program;
typedef struct mvm_vm mvm_vm;

typedef enum mvm_diag_severity {
  MVM_DIAG_ERROR = 0,
  MVM_DIAG_WARNING = 1
} mvm_diag_severity;

/* One assembler or verifier message. Strings are owned by the list. */
typedef struct mvm_diag {
  mvm_diag_severity severity;
  const char *file;
  unsigned line;      /* 1-based; 0 when the message is about the file */
  unsigned col;       /* 1-based; 0 when no column applies */
  const char *message;
  const char *source; /* the source line without its line end, or NULL */
} mvm_diag;

typedef struct mvm_diags mvm_diags;

/* A list that collects messages; the caller frees it with
 * mvm_diags_free. */
int mvm_diags_new(mvm_diags **out);
void mvm_diags_free(mvm_diags *diags);
size_t mvm_diags_count(const mvm_diags *diags);
size_t mvm_diags_errors(const mvm_diags *diags);
/* Returns message i (borrowed), or NULL past the end. */
const mvm_diag *mvm_diags_get(const mvm_diags *diags, size_t i);

/* Formats every message as "file:line:col: error: message", then the
 * source line and a caret under the column. Returns a malloc'd string the
 * caller frees, or NULL on no memory. */
char *mvm_diags_format(const mvm_diags *diags);

/* Hard limits on program text; crossing one is an assembler error. */
#define MVM_ASM_MAX_SOURCE_BYTES (1024u * 1024)
#define MVM_ASM_MAX_LINE_BYTES 4096
#define MVM_ASM_MAX_INSNS 65536
#define MVM_ASM_MAX_REGISTERS 1024
#define MVM_ASM_MAX_DECLS 256
#define MVM_ASM_MAX_NAME 128

/* Assembles program text[0..len). `file` names the text in messages.
 * Every error goes to diags (may be NULL); err gets the first one. Fails
 * with MVM_ESYNTAX on any error, MVM_ENOMEM on no memory. *out is a new
 * program, not yet verified. */
int mvm_asm(const char *file, const char *text, size_t len, mvm_diags *diags,
            mvm_program **out, mvm_error *err);

/* Reads the file at `path` (at most MVM_ASM_MAX_SOURCE_BYTES) and
 * assembles it like mvm_asm, naming it `path` in messages. Fails with
 * MVM_ENOTFOUND or MVM_EIO when the file cannot be read, MVM_ESYNTAX on
 * assembler errors. */
int mvm_asm_file(const char *path, mvm_diags *diags, mvm_program **out,
                 mvm_error *err);

void mvm_program_free(mvm_program *program);

/* Returns, in *out, the assembled form as JSON: {"manifest": ...,
 * "registers": [names], "labels": {name: index}, "code": [{"index",
 * "line", "op" (opcode number), "mnemonic", "operands": [{"reg": i} |
 * {"value": literal} | {"name": text} | {"int": n} | {"label": name,
 * "target": index} | {"query": type, "spec": value}]}]}. */
int mvm_program_to_json(const mvm_program *program, json_t **out,
                        mvm_error *err);

typedef struct mvm_verify_opts {
  bool strict; /* report unreachable code as an error, not a warning */
} mvm_verify_opts;

/* Checks types, definite assignment, declarations and control flow (rules
 * in docs/architecture.md), collecting every message in diags (may be
 * NULL); err gets the first error. opts may be NULL. On success marks the
 * program verified, records each instruction's types for mvm_disasm and
 * computes the taint report. Fails with MVM_EVERIFY. */
int mvm_verify(mvm_program *program, const mvm_verify_opts *opts,
               mvm_diags *diags, mvm_error *err);

/* Returns, in *out, a new JSON array of the places where a value that may
 * be untrusted (derived from a tool result, a model reply that saw one, or
 * memory) reaches a consequential call (tool.call, dispatch), found by a
 * static analysis over the verifier's dataflow:
 *   [{"line", "col", "instruction", "effect", "register" (when a
 *     register carries the data), "reason",
 *     "source": {"line", "instruction"}}]
 * Fails with MVM_ESTATE when the program is not verified. */
int mvm_verify_taint_report(const mvm_program *program, json_t **out,
                            mvm_error *err);

/* Checks input against the program's `.input` declaration, as mvm_vm_run
 * does before it starts, so a host can reject a bad input before it opens
 * models and tools. Fails with MVM_EINVAL naming the value, the declared
 * type and how to pass one. A program without `.input` accepts any. */
int mvm_program_check_input(const mvm_program *program, const json_t *input,
                            mvm_error *err);

/* Returns, in *out, a new JSON object describing what the program may do:
 * {"file", "hash": "sha256:<hex>", "instructions", "registers",
 *  "models": [...], "tools": [...], "tool_patterns": [...],
 *  "input": {"register", "type"} | null, "effects": [effect names]}.
 * The hash is SHA-256 over the canonical listing (mvm_disasm without
 * comments), so whitespace and comments do not change it. */
int mvm_program_manifest(const mvm_program *program, json_t **out,
                         mvm_error *err);

/* Returns "sha256:<64 hex digits>" (borrowed). */
const char *mvm_program_hash(const mvm_program *program);

#define MVM_DISASM_COMMENTS 1u /* indexes, jump targets and types */

/* Returns the canonical listing of a program, which assembles back to the
 * same program: directives, labels and instructions, with (flag
 * MVM_DISASM_COMMENTS) each instruction's index, resolved jump targets and
 * the verified type of the register it writes. A malloc'd string, or NULL
 * on no memory. */
char *mvm_disasm(const mvm_program *program, unsigned flags);

/* Returns the instruction set reference (docs/isa.md) generated from the
 * opcode list, a malloc'd string, or NULL on no memory. */
char *mvm_isa_markdown(void);

/* Run limits. Zero fields take the defaults below. Reaching max_steps
 * fails the run with MVM_EBUDGET, every other limit with MVM_ELIMIT. */
typedef struct mvm_vm_limits {
  uint64_t max_steps;     /* instructions executed per run */
  unsigned max_call_depth; /* nested subroutine calls */
  size_t max_history;     /* messages in one history */
  size_t max_value_bytes; /* bytes of a string or JSON text the VM builds */
} mvm_vm_limits;

#define MVM_VM_DEFAULT_MAX_STEPS 1000000u
#define MVM_VM_DEFAULT_MAX_CALL_DEPTH 64u
#define MVM_VM_DEFAULT_MAX_HISTORY 4096u
#define MVM_VM_DEFAULT_MAX_VALUE_BYTES (16u * 1024 * 1024)

/*
 * Events the VM reports while it runs, one JSON object each, borrowed for
 * the duration of the call:
 *   {"event": "text", "model", "text"}           a model text fragment
 *   {"event": "model_reply", "model", "reply", "label"}
 *   {"event": "tool_call", "tool", "id", "arguments"}
 *   {"event": "decision", "effect", "target", "verdict", "rule", "reason"}
 *   {"event": "tool_result", "tool", "id", "result", "label"}
 *   {"event": "answer", "value", "text", "label"}  a user.show
 *   {"event": "halt", "value", "label"}
 * "label" is the mvm_label_to_json form.
 */
typedef void (*mvm_event_fn)(void *ctx, const json_t *event);

/* Creates a VM for a verified program. Fails with MVM_ESTATE when the
 * program has not passed mvm_verify. Free with mvm_vm_free. */
int mvm_vm_new(const mvm_program *program, mvm_vm **out, mvm_error *err);
void mvm_vm_free(mvm_vm *vm);

/* Binds a model the program declares (.model NAME) to an adapter. Fails
 * with MVM_ENOTFOUND when the program declares no such model. */
int mvm_vm_bind_model(mvm_vm *vm, const char *name, const mvm_model *model,
                      mvm_error *err);

/* Adds a toolbox; its tools are addressed as "server.tool". Fails with
 * MVM_EINVAL when a toolbox with the same server name is already bound. */
int mvm_vm_add_toolbox(mvm_vm *vm, const mvm_toolbox *box, mvm_error *err);

/* Sets the monitor. NULL (the default) allows every effect and records it
 * in a list the host reads with mvm_vm_effects. */
void mvm_vm_set_monitor(mvm_vm *vm, const mvm_monitor *monitor);

/* Sets the user. NULL (the default) means no user is present: user.ask
 * fails with MVM_EUNSUPPORTED, user.confirm returns false, and user.show
 * only reports an "answer" event. */
void mvm_vm_set_user(mvm_vm *vm, const mvm_user *user);

/* Sets the memory store. NULL (the default) gives an in-process store
 * that lives as long as the VM. */
void mvm_vm_set_memory(mvm_vm *vm, const mvm_memory *memory);

void mvm_vm_set_limits(mvm_vm *vm, const mvm_vm_limits *limits);
void mvm_vm_set_event_hook(mvm_vm *vm, mvm_event_fn fn, void *ctx);

/* Runs the program from its first instruction. `input` (borrowed, may be
 * NULL) goes into the register named by the program's .input directive,
 * with `input_label`. On halt, *result is a new reference to the halt
 * value and *result_label a new reference to its label (either out
 * pointer may be NULL). Fails with MVM_EFAIL (a fail instruction; err has
 * its message), MVM_EDENIED (a denied effect with no failure branch),
 * MVM_EBUDGET (step budget), MVM_ELIMIT (another limit), or an adapter's
 * status. A VM can run again; each run starts from fresh registers. */
int mvm_vm_run(mvm_vm *vm, const json_t *input, const mvm_label *input_label,
               json_t **result, mvm_label **result_label, mvm_error *err);

/* The effects the default monitor recorded during the last run, as an
 * array of {"effect", "target", "args", "args_label", "context_label",
 * "identity", "detail", "step"} (borrowed, valid until the next run). */
const json_t *mvm_vm_effects(const mvm_vm *vm);

/* The number of instructions the last run executed. */
uint64_t mvm_vm_steps(const mvm_vm *vm);

#ifdef __cplusplus
}
#endif

#endif /* MVM_H */
