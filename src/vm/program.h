/* program.h - the assembled program shared by the assembler, verifier,
 * disassembler and interpreter, and the diagnostics list.
 *
 * The program owns everything it points to; mvm_program_free releases it.
 * Operand strings and JSON values are never changed after assembly. */
#ifndef MVM_VM_PROGRAM_H
#define MVM_VM_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm.h"
#include "vm/types.h"

/* How an operand was written in the source. */
typedef enum mvm_operand_form {
  MVM_FORM_REG,     /* %name: reg */
  MVM_FORM_LITERAL, /* a JSON literal: value */
  MVM_FORM_NAME,    /* a label, model, tool, pattern, role or type: text */
  MVM_FORM_STRING,  /* a string literal for k, h, f: text and value */
  MVM_FORM_INT,     /* an integer literal for n: number */
  MVM_FORM_QUERY,   /* a query type: text ("bool", "int", "enum",
                       "schema") and value (the list or the schema) */
  MVM_FORM_SCHEMA   /* a JSON Schema object: value */
} mvm_operand_form;

typedef struct mvm_operand {
  mvm_operand_form form;
  uint32_t col;     /* 1-based source column */
  uint32_t reg;     /* MVM_FORM_REG */
  json_t *value;    /* literal, string, enum list or schema */
  char *text;       /* names and string literal text */
  uint64_t number;  /* MVM_FORM_INT */
  int32_t target;   /* labels: resolved instruction index, -1 if missing */
  uint32_t type;    /* y: the named type; q: the output type */
  json_t *parts;    /* f: [text or register index ...]; h: [key or index] */
} mvm_operand;

typedef struct mvm_insn {
  int op;
  uint32_t line;
  uint32_t col;
  unsigned nopnd; /* operands written; the failure label may be missing */
  mvm_operand opnd[MVM_MAX_OPERANDS];
} mvm_insn;

/* A declaration (.model, .tool, .tools) or a code label. */
typedef struct mvm_decl {
  char *name;
  uint32_t line;
  uint32_t col;
  uint32_t index; /* labels: the instruction the label marks */
} mvm_decl;

typedef struct mvm_decls {
  mvm_decl *items;
  size_t len;
  size_t cap;
} mvm_decls;

struct mvm_program {
  char *file;
  char *source; /* a copy of the text, for source lines in messages */
  size_t source_len;

  mvm_insn *insns;
  size_t ninsns;
  size_t insn_cap;

  char **regs; /* register names without the '%' */
  size_t nregs;
  size_t reg_cap;

  mvm_decls models;
  mvm_decls tools;
  mvm_decls patterns;
  mvm_decls labels;

  int32_t input_reg; /* -1 without an .input directive */
  uint32_t input_type;
  uint32_t input_line;

  bool verified;
  uint32_t *written_type; /* per instruction, after verification */
  bool *reachable;        /* per instruction, after verification */
  json_t *taint;          /* the taint report, after verification */
  char hash[80];          /* "sha256:" and 64 hex digits */
};

/* Returns the text of source line `line` (1-based) and its length,
 * without the line end; NULL when out of range. */
const char *mvm_program_source_line(const mvm_program *p, unsigned line,
                                    size_t *len);

/* Looks up a declaration by exact name; returns its index or -1. */
int mvm_decls_find(const mvm_decls *d, const char *name);

/* Appends a declaration (copies name). */
int mvm_decls_add(mvm_decls *d, const char *name, size_t len, uint32_t line,
                  uint32_t col, uint32_t index);

void mvm_decls_free(mvm_decls *d);

/* True when "server.tool" matches a pattern: '*' matches any run of
 * characters, everything else itself. */
bool mvm_pattern_match(const char *pattern, const char *name);

/* Adds a message to diags (may be NULL) with the source line of `line`
 * taken from the program text. Returns MVM_OK or MVM_ENOMEM. */
int mvm_diags_add(mvm_diags *diags, const mvm_program *p, int severity,
                  unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Computes the program hash over the canonical listing into p->hash. */
int mvm_program_compute_hash(mvm_program *p);

#endif
