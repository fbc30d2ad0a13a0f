/* opcodes.h - the instruction set: one list, from which the opcode enum,
 * the assembler's table, the verifier's operand types, the disassembler
 * and docs/isa.md are all built.
 *
 * X(ID, stem, mnemonic, group, effect, checked, operands, summary):
 *  - ID: the enum name, MVM_OP_<ID>; stem: the C name of the function that
 *    executes it, exec_<stem>, in src/vm/exec_*.c next to its documentation;
 *  - group: MVM_GROUP_* below;
 *  - effect: the mvm_effect_kind the instruction asks the monitor about,
 *    without its MVM_EFFECT_ prefix, or NONE; checked: 1 when the monitor
 *    decides the effect before the instruction runs;
 *  - operands: space-separated KIND:NAME[:TYPE] items, in source order:
 *      w  register written, TYPE is its static type, or @N for the type of
 *         operand N (0-based), @type for the type named by a `y` operand,
 *         @query for the type a `q` operand asks for (or null)
 *      r  value read: a register or a literal, TYPE is the accepted type
 *      u  register read and written back, TYPE is both
 *      x  register read and then unset, TYPE is the accepted type
 *      l  jump target label;  s  subroutine label;  o  optional failure
 *         label, taken when the instruction fails (see docs/isa.md)
 *      m  declared model name;  t  declared tool "server.tool";
 *      p  declared tool pattern;  q  quarantined query output type;
 *      y  static type name;  k  memory key string;  h  field path string;
 *      f  format string;  n  integer literal >= 0;  e  message role;
 *      j  JSON Schema object literal
 *  - summary: one line for docs/isa.md and `mvm disasm --isa`.
 * Types: null bool int float num str list map json reply calls result
 * history model tool toolset any (see src/vm/types.h).
 */
#ifndef MVM_VM_OPCODES_H
#define MVM_VM_OPCODES_H

#include "mvm.h"

/* The effect column: NONE or an mvm_effect_kind name without its prefix. */
enum {
  MVM_OP_EFFECT_NONE = -1,
#define MVM_X_ENUM(name, value, text) MVM_OP_EFFECT_##name = value,
  MVM_EFFECT_LIST(MVM_X_ENUM)
#undef MVM_X_ENUM
};

#define MVM_GROUP_LIST(X)                                                     \
  X(MODEL_LIFE, "model lifecycle")                                            \
  X(MODEL_CALL, "model invocation")                                           \
  X(PARSE, "output parsing")                                                  \
  X(TOOL, "tool lifecycle and invocation")                                    \
  X(MEMORY, "memory and history")                                             \
  X(USER, "user I/O")                                                         \
  X(CONTROL, "control flow")                                                  \
  X(DATA, "data")                                                             \
  X(LABEL, "labels")

#define MVM_OPCODE_LIST(X)                                                    \
  /* model lifecycle */                                                       \
  X(MODEL_LOAD, model_load, "model.load", MODEL_LIFE, MODEL_LOAD, 1,          \
    "w:dst:model m:name o:fail",                                              \
    "bind a declared model to the host's adapter and load it")                \
  X(MODEL_UNLOAD, model_unload, "model.unload", MODEL_LIFE, NONE, 0,          \
    "x:model:model", "release a loaded model; the register becomes unset")    \
  /* model invocation */                                                      \
  X(MODEL_CALL, model_call, "model.call", MODEL_CALL, MODEL_CALL, 1,          \
    "w:dst:reply r:model:model r:history:history r:tools:toolset o:fail",     \
    "send the history to the model, offering the tools; get its reply")       \
  X(MODEL_QUERY, model_query, "model.query", MODEL_CALL, MODEL_QUERY, 1,      \
    "w:dst:@query r:model:model r:prompt:str r:data:json q:type o:fail",      \
    "quarantined query: no tools, output of the declared type, else null")    \
  /* output parsing */                                                        \
  X(REPLY_TEXT, reply_text, "reply.text", PARSE, NONE, 0,                     \
    "w:dst:str r:reply:reply", "the text of a model reply")                   \
  X(REPLY_CALLS, reply_calls, "reply.calls", PARSE, NONE, 0,                  \
    "w:dst:calls r:reply:reply", "the tool calls of a model reply")           \
  X(RESULT_TEXT, result_text, "result.text", PARSE, NONE, 0,                  \
    "w:dst:str r:result:result", "the text content of a tool result")         \
  X(RESULT_DATA, result_data, "result.data", PARSE, NONE, 0,                  \
    "w:dst:json r:result:result o:fail",                                      \
    "the structured content of a tool result")                                \
  X(RESULT_ERROR, result_error, "result.error", PARSE, NONE, 0,               \
    "w:dst:bool r:result:result",                                             \
    "whether a tool result is an error (a denial is one)")                    \
  X(JSON_PARSE, json_parse, "json.parse", PARSE, NONE, 0,                     \
    "w:dst:json r:text:str o:fail", "parse JSON text")                        \
  X(JSON_CHECK, json_check, "json.check", PARSE, NONE, 0,                     \
    "w:dst:json r:value:json j:schema o:fail",                                \
    "copy a value that matches a JSON Schema")                                \
  X(JSON_DUMP, json_dump, "json.dump", PARSE, NONE, 0,                        \
    "w:dst:str r:value:json", "serialize a value as compact JSON text")       \
  X(GET, get, "get", PARSE, NONE, 0,                                          \
    "w:dst:json r:value:json h:path o:fail",                                  \
    "read a field by path, e.g. \"a.b[0].c\"")                                \
  X(AS, as, "as", PARSE, NONE, 0, "w:dst:@type r:value:json y:type o:fail",   \
    "copy a value whose runtime type is the given type")                      \
  /* tools */                                                                 \
  X(TOOL_LOAD, tool_load, "tool.load", TOOL, TOOL_LOAD, 1,                    \
    "w:dst:tool t:name o:fail", "load one declared tool")                     \
  X(TOOLS_LOAD, tools_load, "tools.load", TOOL, TOOL_LOAD, 1,                 \
    "w:dst:toolset p:pattern o:fail",                                         \
    "load every tool matching a declared pattern that the monitor allows")    \
  X(TOOLS_NEW, tools_new, "tools.new", TOOL, NONE, 0, "w:dst:toolset",        \
    "an empty toolset")                                                       \
  X(TOOLS_ADD, tools_add, "tools.add", TOOL, NONE, 0,                         \
    "u:set:toolset r:tool:tool", "add a loaded tool to a toolset")            \
  X(TOOL_CALL, tool_call, "tool.call", TOOL, TOOL_CALL, 1,                    \
    "w:dst:result r:tool:tool r:args:map o:fail",                             \
    "call a tool; a denial gives a denied result, not a failure")             \
  X(DISPATCH, dispatch, "dispatch", TOOL, TOOL_CALL, 1,                       \
    "u:history:history r:reply:reply r:tools:toolset",                        \
    "run each tool call of a reply, appending the results to the history")    \
  /* memory and history */                                                    \
  X(HIST_NEW, hist_new, "hist.new", MEMORY, NONE, 0, "w:dst:history",         \
    "an empty history")                                                       \
  X(HIST_ADD, hist_add, "hist.add", MEMORY, NONE, 0,                          \
    "u:history:history e:role r:content:json",                                \
    "append a message with a role")                                           \
  X(HIST_REPLY, hist_reply, "hist.reply", MEMORY, NONE, 0,                    \
    "u:history:history r:reply:reply",                                        \
    "append a model reply as an assistant message")                           \
  X(HIST_TRIM, hist_trim, "hist.trim", MEMORY, NONE, 0,                       \
    "u:history:history n:messages",                                           \
    "keep at most N messages, dropping the oldest non-system ones")           \
  X(HIST_TRIM_CHARS, hist_trim_chars, "hist.trim_chars", MEMORY, NONE, 0,     \
    "u:history:history n:chars",                                              \
    "keep at most N characters of content, dropping the oldest messages")     \
  X(MEM_STORE, mem_store, "mem.store", MEMORY, MEMORY_WRITE, 1,               \
    "k:key r:value:json o:fail", "store a value and its label in memory")     \
  X(MEM_LOAD, mem_load, "mem.load", MEMORY, NONE, 0,                          \
    "w:dst:json k:key o:fail", "load a stored value with its label")          \
  /* user I/O */                                                              \
  X(USER_SHOW, user_show, "user.show", USER, USER_SHOW, 1,                    \
    "r:value:json o:fail", "show a value to the user")                        \
  X(USER_ASK, user_ask, "user.ask", USER, USER_ASK, 1,                        \
    "w:dst:str r:prompt:str o:fail", "ask the user a question")               \
  X(USER_CONFIRM, user_confirm, "user.confirm", USER, USER_ASK, 1,            \
    "w:dst:bool r:prompt:str o:fail", "ask the user a yes/no question")       \
  /* control flow */                                                          \
  X(JMP, jmp, "jmp", CONTROL, NONE, 0, "l:target", "jump")                    \
  X(JT, jt, "jt", CONTROL, NONE, 0, "r:cond:bool l:target",                   \
    "jump if true")                                                           \
  X(JF, jf, "jf", CONTROL, NONE, 0, "r:cond:bool l:target",                   \
    "jump if false")                                                          \
  X(JEQ, jeq, "jeq", CONTROL, NONE, 0, "r:a:json r:b:json l:target",          \
    "jump if equal")                                                          \
  X(JNE, jne, "jne", CONTROL, NONE, 0, "r:a:json r:b:json l:target",          \
    "jump if not equal")                                                      \
  X(JEMPTY, jempty, "jempty", CONTROL, NONE, 0,                               \
    "r:value:null|str|list|map|history l:target",                             \
    "jump if null, or an empty string, list, map or history")                 \
  X(JNULL, jnull, "jnull", CONTROL, NONE, 0, "r:value:json l:target",         \
    "jump if null; after it the value is known not to be null")               \
  X(CALL, call, "call", CONTROL, NONE, 0, "s:target",                         \
    "call a subroutine")                                                      \
  X(RET, ret, "ret", CONTROL, NONE, 0, "", "return from a subroutine")        \
  X(HALT, halt, "halt", CONTROL, NONE, 0, "r:result:json",                    \
    "stop the run with a result")                                             \
  X(FAIL, fail, "fail", CONTROL, NONE, 0, "r:message:json",                   \
    "stop the run with a failure message")                                    \
  /* data */                                                                  \
  X(MOV, mov, "mov", DATA, NONE, 0, "w:dst:@1 r:src:any",                     \
    "copy a value or a literal")                                              \
  X(FMT, fmt, "fmt", DATA, NONE, 0, "w:dst:str f:format",                     \
    "format a string, replacing {reg} with register values")                  \
  X(EQ, eq, "eq", DATA, NONE, 0, "w:dst:bool r:a:json r:b:json",              \
    "compare for equality")                                                   \
  X(NE, ne, "ne", DATA, NONE, 0, "w:dst:bool r:a:json r:b:json",              \
    "compare for inequality")                                                 \
  X(LT, lt, "lt", DATA, NONE, 0, "w:dst:bool r:a:num r:b:num",                \
    "compare numbers: less than")                                             \
  X(LE, le, "le", DATA, NONE, 0, "w:dst:bool r:a:num r:b:num",                \
    "compare numbers: less than or equal")                                    \
  X(NOT, not, "not", DATA, NONE, 0, "w:dst:bool r:value:bool", "negate")      \
  X(ADD, add, "add", DATA, NONE, 0, "w:dst:int r:a:int r:b:int",              \
    "add integers")                                                           \
  X(SUB, sub, "sub", DATA, NONE, 0, "w:dst:int r:a:int r:b:int",              \
    "subtract integers")                                                      \
  X(LEN, len, "len", DATA, NONE, 0,                                           \
    "w:dst:int r:value:str|list|map|history",                                 \
    "length of a string (characters), list, map or history")                  \
  X(LIST_NEW, list_new, "list.new", DATA, NONE, 0, "w:dst:list",              \
    "an empty list")                                                          \
  X(LIST_PUSH, list_push, "list.push", DATA, NONE, 0,                         \
    "u:list:list r:value:json", "append a value to a list")                   \
  X(LIST_GET, list_get, "list.get", DATA, NONE, 0,                            \
    "w:dst:json r:list:list r:index:int o:fail", "read a list item")          \
  X(MAP_NEW, map_new, "map.new", DATA, NONE, 0, "w:dst:map",                  \
    "an empty map")                                                           \
  X(MAP_SET, map_set, "map.set", DATA, NONE, 0,                               \
    "u:map:map r:key:str r:value:json", "set a map entry")                    \
  X(MAP_GET, map_get, "map.get", DATA, NONE, 0,                               \
    "w:dst:json r:map:map r:key:str o:fail", "read a map entry")              \
  /* labels */                                                                \
  X(ENDORSE, endorse, "endorse", LABEL, ENDORSE, 1,                           \
    "w:dst:@1 r:value:json o:fail",                                           \
    "copy a value without its integrity sources, if the monitor allows")      \
  X(DECLASSIFY, declassify, "declassify", LABEL, DECLASSIFY, 1,               \
    "w:dst:@1 r:value:json r:readers:list o:fail",                            \
    "copy a value readable by more readers, if the monitor allows")

typedef enum mvm_opcode {
#define MVM_X_ENUM(id, stem, mn, group, effect, checked, ops, summary)        \
  MVM_OP_##id,
  MVM_OPCODE_LIST(MVM_X_ENUM)
#undef MVM_X_ENUM
  MVM_OP_COUNT
} mvm_opcode;

typedef enum mvm_op_group {
#define MVM_X_ENUM(id, text) MVM_GROUP_##id,
  MVM_GROUP_LIST(MVM_X_ENUM)
#undef MVM_X_ENUM
  MVM_GROUP_COUNT
} mvm_op_group;

#endif
