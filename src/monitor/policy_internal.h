/* policy_internal.h - the parsed form of a policy, shared by the parser,
 * the evaluator and the monitor. Everything here is immutable once
 * mvm_policy_parse returns. */
#ifndef MVM_MONITOR_POLICY_INTERNAL_H
#define MVM_MONITOR_POLICY_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "base/buf.h"
#include "monitor/policy.h"

/* Locations are "file:line"; the file part is cut to fit. */
#define POL_LOC_MAX 96

/* ------------------------------------------------------------- index */

/* A hash map from a string to a list of statement numbers, used to find
 * the rules for a target without scanning every rule. */
typedef struct pol_map_entry {
  char *key;
  size_t *ids;
  size_t n;
  size_t cap;
} pol_map_entry;

typedef struct pol_map {
  pol_map_entry *slots;
  size_t nslots; /* a power of two, or 0 */
  size_t used;
} pol_map;

int pol_map_add(pol_map *map, const char *key, size_t len, size_t id);
const pol_map_entry *pol_map_find(const pol_map *map, const char *key,
                                  size_t len);
void pol_map_free(pol_map *map);

/* Rules or declarations indexed by pattern: exact names in `exact`,
 * patterns whose part before the first '.' or ':' is literal in
 * `bucket` under that part, every other pattern in `global`. */
typedef struct pol_index {
  pol_map exact;
  pol_map bucket;
  size_t *global;
  size_t nglobal;
} pol_index;

int pol_index_add(pol_index *index, const char *pattern, size_t id);
void pol_index_free(pol_index *index);

/* Calls fn for every statement whose pattern may match target, each at
 * most once but in no particular order; the caller still matches the
 * pattern. Stops early when fn returns non-zero and returns that. */
typedef int (*pol_index_fn)(void *ctx, size_t id);
int pol_index_each(const pol_index *index, const char *target,
                   pol_index_fn fn, void *ctx);

/* Matches a glob in which '*' stands for any bytes, every other byte for
 * itself. */
bool pol_glob_match(const char *pattern, const char *text);

/* ------------------------------------------------------------- checks */

typedef enum pol_check_kind {
  CK_REQUIRED,
  CK_FORBIDDEN,
  CK_TYPE,
  CK_MIN,
  CK_MAX,
  CK_ENUM,
  CK_PATTERN,
  CK_UNDER,
  CK_RELATIVE,
  CK_SCHEME,
  CK_HOST,
  CK_MAXLEN,
  CK_MAXITEMS,
  CK_MAXSIZE
} pol_check_kind;

/* JSON type bits for CK_TYPE. */
enum {
  JT_STRING = 1u << 0,
  JT_NUMBER = 1u << 1,
  JT_INTEGER = 1u << 2,
  JT_BOOLEAN = 1u << 3,
  JT_OBJECT = 1u << 4,
  JT_ARRAY = 1u << 5,
  JT_NULL = 1u << 6
};

typedef struct pol_check {
  pol_check_kind kind;
  unsigned types;   /* CK_TYPE */
  double number;    /* CK_MIN, CK_MAX */
  size_t limit;     /* CK_MAXLEN, CK_MAXITEMS, CK_MAXSIZE */
  json_t *values;   /* CK_ENUM: an array of JSON values */
  pcre2_code *re;   /* CK_PATTERN */
  char *text; /* CK_PATTERN source, CK_UNDER or CK_RELATIVE directory */
  char **items;     /* CK_SCHEME (lower case), CK_HOST (normalized) */
  size_t nitems;
} pol_check;

/* One "arg NAME CHECK..." line, or a `when arg ...` condition. */
typedef struct pol_argspec {
  char *name; /* NULL for "*": every argument the rule does not name */
  unsigned line;
  bool relative; /* CK_RELATIVE seen: `under` takes relative paths from
                    the `relative to` directory in that check's text */
  pol_check *checks;
  size_t nchecks;
} pol_argspec;

/* ------------------------------------------------------------- rules */

/* Effect bits for rules, one per mvm_effect_kind. */
#define EFF_BIT(kind) (1u << (kind))
#define EFF_MODELS                                                           \
  (EFF_BIT(MVM_EFFECT_MODEL_LOAD) | EFF_BIT(MVM_EFFECT_MODEL_CALL) |         \
   EFF_BIT(MVM_EFFECT_MODEL_QUERY))
#define EFF_TOOLS (EFF_BIT(MVM_EFFECT_TOOL_LOAD) | EFF_BIT(MVM_EFFECT_TOOL_CALL))

/* Types a quarantined query may produce (`quarantined bool, enum`). */
enum { QT_BOOL = 1u << 0, QT_INT = 1u << 1, QT_ENUM = 1u << 2,
       QT_SCHEMA = 1u << 3 };

/* Value types for `type` in endorse and declassify rules. */
enum {
  VT_NULL = 1u << 0,
  VT_BOOL = 1u << 1,
  VT_INT = 1u << 2,
  VT_FLOAT = 1u << 3,
  VT_STR = 1u << 4,
  VT_LIST = 1u << 5,
  VT_MAP = 1u << 6
};

typedef struct pol_rule {
  char loc[POL_LOC_MAX]; /* "file:line" */
  char text[128];        /* "allow tool 'a.b'", for reasons */
  mvm_verdict verdict;
  unsigned effects; /* EFF_BIT set */
  const char *effect_word; /* as written: "tool", "model.call", ... */
  char *pattern;    /* target glob; "*" when the rule names none */
  unsigned line;
  pol_argspec *args;
  size_t nargs;
  char **arg_names;    /* the names in args, borrowed, for "arg *" */
  size_t narg_names;
  size_t args_maxsize; /* 0: none */
  unsigned args_maxsize_line;
  /* endorse and declassify */
  bool quarantined;
  unsigned qtypes; /* 0: any quarantined type */
  unsigned vtypes; /* 0: any value type */
  char **from;     /* sources that may be dropped; NULL: any */
  size_t nfrom;
  char **to;       /* readers that may be added; NULL: any */
  size_t nto;
  char *reason;    /* the author's explanation, or NULL */
} pol_rule;

/* ------------------------------------------------------------- tools */

typedef enum pol_label_what {
  LBL_TRUSTED,
  LBL_UNTRUSTED,
  LBL_READERS,
  LBL_SECRET /* the value is redacted from the audit log; no label change */
} pol_label_what;

/* One `result ...` or `field NAME ...` line of a tool declaration. */
typedef struct pol_label_line {
  pol_label_what what;
  unsigned line;
  char *field;        /* NULL: the whole result */
  mvm_label *label;   /* the sources or readers the line adds */
  pol_argspec *when;  /* NULL: always */
} pol_label_line;

typedef enum pol_sink_kind {
  SINK_UNSET,
  SINK_LIST,     /* the readers in `readers` */
  SINK_EVERYONE, /* only public data may go there */
  SINK_NONE      /* nobody outside reads it: any data may go there */
} pol_sink_kind;

typedef struct pol_tooldecl {
  char *pattern;
  unsigned line;
  int consequential;   /* -1 unset, 0 readonly, 1 consequential */
  unsigned consequential_line;
  char **trusted_args;
  size_t ntrusted_args;
  unsigned trusted_line;
  mvm_verdict untrusted_verdict; /* DENY (default) or ASK */
  bool untrusted_set;
  unsigned untrusted_line;
  pol_sink_kind sink;
  char **sink_readers;
  size_t nsink_readers;
  char **sink_args;   /* arguments whose values are readers */
  size_t nsink_args;
  unsigned sink_line;
  pol_label_line *labels;
  size_t nlabels;
} pol_tooldecl;

/* ------------------------------------------------------------- sinks */

typedef struct pol_sink {
  char *name;       /* provider name; NULL for user and memory */
  pol_sink_kind kind;
  mvm_label *label; /* readers; NULL for SINK_EVERYONE */
  unsigned line;    /* 0: the default */
} pol_sink;

/* ------------------------------------------------------------- budgets */

typedef enum pol_budget_kind {
  BUDGET_CALLS,   /* tool calls, all or matching `pattern` */
  BUDGET_TOKENS,  /* input plus output tokens */
  BUDGET_COST,    /* USD */
  BUDGET_TIME     /* seconds since the run started */
} pol_budget_kind;

typedef struct pol_budget {
  pol_budget_kind kind;
  char *pattern; /* BUDGET_CALLS: NULL for every tool */
  double limit;
  unsigned line;
} pol_budget;

typedef enum pol_pin_mode { PIN_ASK, PIN_AUTO, PIN_OFF } pol_pin_mode;

struct mvm_policy {
  char *name;      /* as given to the parser */
  char *loc_name;  /* the last path component, for locations */
  char *path;      /* the file, or NULL */
  char *lock_path; /* path + ".lock", or NULL */
  bool permissive;
  pol_pin_mode pin;
  unsigned pin_line;
  unsigned version_line; /* 0: the policy has no `version` line */

  pol_rule *rules;
  size_t nrules;
  pol_index rule_index[MVM_EFFECT_COUNT];

  pol_tooldecl *tools;
  size_t ntools;
  pol_index tool_index;

  pol_budget *budgets;
  size_t nbudgets;

  pol_sink user;
  pol_sink memory;
  pol_sink *providers;
  size_t nproviders;
};

/* Writes "file:line" for a line of the policy. */
void pol_loc(const mvm_policy *policy, unsigned line, char *buf,
             size_t size);

/* Frees what a spec owns (strings, compiled patterns) and zeroes it. */
void pol_argspec_clear(pol_argspec *spec);
/* Clears n specs and frees the array. */
void pol_argspecs_free(pol_argspec *specs, size_t n);

/* ------------------------------------------------------------- checking */

/* PCRE2 limits per match, so a pattern with nested quantifiers cannot
 * stall a decision. Hitting a limit fails the check. */
#define POL_MATCH_LIMIT 100000
#define POL_DEPTH_LIMIT 10000

/* What pattern checks reuse between calls: a match data block and a match
 * context with the limits above. */
typedef struct pol_matcher {
  pcre2_match_data *match_data;
  pcre2_match_context *match_context;
} pol_matcher;

/* The result of a check: POL_UNKNOWN when the value cannot be checked
 * (a path that does not resolve, a URL that does not parse, a pattern
 * that hits the match limit, a value of the wrong JSON type). An allow
 * rule treats it as false, while a deny or ask rule and a label line that
 * restricts a result treat it as true, so that an undecided check never
 * loosens a decision. */
typedef enum pol_truth { POL_FALSE = 0, POL_TRUE = 1, POL_UNKNOWN = 2 }
    pol_truth;

/* Evaluates one argument spec against an arguments object, combining its
 * checks (and, for "*", the arguments) with a three-valued AND. On false
 * or unknown writes a sentence naming the argument and the value to
 * why[0..size), unless why is NULL. `named` lists the argument names the
 * rule mentions, for "*". matcher may be NULL (one is made per pattern
 * check). */
pol_truth pol_argspec_eval(const pol_argspec *spec, const json_t *args,
                           char *const *named, size_t nnamed,
                           const pol_matcher *matcher, char *why,
                           size_t size);

/* True when pol_argspec_eval returns POL_TRUE. */
bool pol_argspec_holds(const pol_argspec *spec, const json_t *args,
                       char *const *named, size_t nnamed,
                       const pol_matcher *matcher, char *why, size_t size);

/* Normalizes a host for comparison: lower case, no trailing dot, IDN as
 * punycode, IP literals in curl's canonical form. Returns a malloc'd
 * string, or NULL with the problem described in why when the host is
 * invalid. */
char *pol_url_normalize_host(const char *host, char *why, size_t size);

/* Parses url with curl's URL API and returns its scheme and normalized
 * host (malloc'd; *host NULL when the URL has none). Returns false with
 * why set when the URL does not parse. */
bool pol_url_parse(const char *url, size_t len, char **scheme, char **host,
                   char *why, size_t size);

/* True when a normalized host matches a list entry: equal, or "*.suffix"
 * matching any host that ends in ".suffix". */
bool pol_host_matches(const char *entry, const char *host);

#endif
