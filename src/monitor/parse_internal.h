/* parse_internal.h - the tokenizer and parser state shared by lex.c,
 * parse.c and parse_body.c. */
#ifndef MVM_MONITOR_PARSE_INTERNAL_H
#define MVM_MONITOR_PARSE_INTERNAL_H

#include "monitor/policy_internal.h"

typedef enum pol_tok_kind {
  TOK_WORD,   /* a bare word: letters, digits and _ . - * : / @ + */
  TOK_STRING, /* "double quoted" with escapes, or 'single quoted' raw */
  TOK_LBRACE,
  TOK_RBRACE,
  TOK_COMMA
} pol_tok_kind;

typedef struct pol_tok {
  pol_tok_kind kind;
  unsigned col; /* 1-based byte column */
  char *text;   /* the word or the unescaped string; NULL for punctuation */
  size_t len;   /* bytes of text */
} pol_tok;

typedef enum pol_block {
  BLOCK_NONE,
  BLOCK_RULE,
  BLOCK_TOOL
} pol_block;

typedef struct pol_parser {
  mvm_policy *policy;
  mvm_error *err;
  unsigned line;
  pol_tok toks[MVM_POLICY_MAX_TOKENS];
  size_t ntoks;
  size_t pos;            /* next token */
  pol_block block;
  size_t block_id;       /* rule or tool index */
  unsigned block_line;
  size_t block_lines;
  size_t statements;
} pol_parser;

/* Splits one line (without its line end) into ps->toks. Fails with
 * MVM_EPARSE or MVM_ELIMIT, or MVM_ENOMEM. */
int pol_lex_line(pol_parser *ps, const char *line, size_t len);
void pol_lex_clear(pol_parser *ps);

/* Fills ps->err with "name:line:col: message" and returns code. col 0
 * means the end of the line. */
int pol_error(pol_parser *ps, int code, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Token access: the current token or NULL at the end of the line. */
const pol_tok *pol_peek(const pol_parser *ps);
const pol_tok *pol_next(pol_parser *ps);
bool pol_at_end(const pol_parser *ps);
/* True when the current token is the word w (and consumes it). */
bool pol_accept_word(pol_parser *ps, const char *w);
/* The column for errors about the current token (the line end if none). */
unsigned pol_col(const pol_parser *ps);

/* Reads a word or string, e.g. a name or a pattern. `what` names it in
 * the error. *out is borrowed from the token. */
int pol_expect_text(pol_parser *ps, const char *what, const char **out);
/* Fails unless the line has ended. */
int pol_expect_end(pol_parser *ps);
/* Reads a comma-separated list of words or strings into a new array of
 * copies. */
int pol_parse_list(pol_parser *ps, const char *what, char ***items,
                   size_t *n);
void pol_strings_free(char **items, size_t n);
/* Reads `everyone`, `none` or a list of readers. */
int pol_parse_readers(pol_parser *ps, pol_sink_kind *kind, char ***items,
                      size_t *n);
/* Builds the label of a reader set (NULL for everyone). */
int pol_readers_label(pol_sink_kind kind, char *const *items, size_t n,
                      mvm_label **out);
/* Reads a non-negative integer word (a size or count). */
int pol_parse_size(pol_parser *ps, const char *what, size_t *out);
/* Reads a decimal number word. */
int pol_parse_number(pol_parser *ps, const char *what, double *out);

/* Reads the checks after `arg NAME` into spec (parse_body.c). */
int pol_parse_argspec(pol_parser *ps, pol_argspec *spec);
/* Handles one line inside a rule or tool block (parse_body.c). */
int pol_parse_rule_line(pol_parser *ps);
int pol_parse_tool_line(pol_parser *ps);

#endif
