/* types.h - the verifier's static types and the parsed opcode table.
 *
 * A static type is a set of atoms, one bit each, so a union is a bitwise
 * OR and "found fits expected" is a subset test. Three atoms refine JSON
 * shapes: a reply and a tool result are maps, a list of tool calls is a
 * list, so an operand that accepts a map also accepts a reply or a result.
 * The UNSET atom marks a register that may hold nothing on some path. */
#ifndef MVM_VM_TYPES_H
#define MVM_VM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm.h"
#include "vm/opcodes.h"

enum {
  MVM_T_NULL = 1u << 0,
  MVM_T_BOOL = 1u << 1,
  MVM_T_INT = 1u << 2,
  MVM_T_FLOAT = 1u << 3,
  MVM_T_STR = 1u << 4,
  MVM_T_LIST = 1u << 5,
  MVM_T_MAP = 1u << 6,
  MVM_T_REPLY = 1u << 7,
  MVM_T_CALLS = 1u << 8,
  MVM_T_RESULT = 1u << 9,
  MVM_T_HISTORY = 1u << 10,
  MVM_T_MODEL = 1u << 11,
  MVM_T_TOOL = 1u << 12,
  MVM_T_TOOLSET = 1u << 13,
  MVM_T_UNSET = 1u << 14
};

#define MVM_T_NUM (MVM_T_INT | MVM_T_FLOAT)
#define MVM_T_JSON                                                            \
  (MVM_T_NULL | MVM_T_BOOL | MVM_T_NUM | MVM_T_STR | MVM_T_LIST |             \
   MVM_T_MAP | MVM_T_REPLY | MVM_T_CALLS | MVM_T_RESULT)
#define MVM_T_ANY                                                             \
  (MVM_T_JSON | MVM_T_HISTORY | MVM_T_MODEL | MVM_T_TOOL | MVM_T_TOOLSET)

/* Parses a type name or a '|'-separated union of names
 * ("str|list|map"). With `accept`, a name includes its refinements (map
 * includes reply and result, list includes calls): the set an operand
 * accepts. Without, it is exactly the named atoms: the type a register
 * gets. Returns 0 for an unknown name. */
uint32_t mvm_type_parse(const char *text, size_t len, bool accept);

/* Writes a type as names joined by '|', using the short names json, any
 * and num where they fit. Returns buf. */
char *mvm_type_format(uint32_t type, char *buf, size_t size);

/* The static type of a JSON value: its atom, never a refinement. */
uint32_t mvm_type_of_json(const json_t *json);

/* True when a JSON value belongs to one of the atoms of a JSON type. A
 * reply, result or calls atom is checked by shape: an object with "text"
 * and "tool_calls", an object with "content", an array of objects with
 * "name". */
bool mvm_type_check_json(uint32_t type, const json_t *json);

/* ------------------------------------------------------------- opcodes */

#define MVM_MAX_OPERANDS 6

/* One operand of an opcode, parsed from its KIND:NAME[:TYPE] item. */
typedef struct mvm_opnd_info {
  char kind;        /* w r u x l s o m t p q y k h f n e j */
  const char *name; /* for docs: "dst", "history", ... */
  uint32_t accept;  /* r, u, x: the types accepted */
  uint32_t type;    /* w, u: the type written, when fixed */
  int same_as;      /* w: written with the type of this operand, or -1 */
  bool from_type;   /* w: written with the type a `y` operand names */
  bool from_query;  /* w: written with a `q` operand's type or null */
  char type_text[48];
} mvm_opnd_info;

typedef struct mvm_op_info {
  const char *mnemonic;
  const char *stem;
  int group;
  int effect; /* an mvm_effect_kind, or MVM_OP_EFFECT_NONE */
  bool checked;
  const char *summary;
  const char *spec;
  unsigned nopnd;
  bool has_fail; /* the last operand is an optional failure label */
  mvm_opnd_info opnd[MVM_MAX_OPERANDS];
} mvm_op_info;

/* Returns the parsed description of an opcode (MVM_OP_*), or NULL for a
 * value outside the list. The table is built on first use and never
 * freed. */
const mvm_op_info *mvm_op_info_get(int op);

/* Looks up a mnemonic; returns the opcode or -1. */
int mvm_op_find(const char *mnemonic, size_t len);

/* Returns the name of an instruction group ("model invocation"). */
const char *mvm_op_group_name(int group);

#endif
