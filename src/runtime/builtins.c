/* builtins.c - the builtins file: parsing into the three tool configs,
 * and opening their toolboxes. */
#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "runtime/builtins.h"
#include "tools/builtin_pure.h"

#define WHERE "builtins"
#define MAX_DEPTH 16
#define MAX_SERVER_NAME 64
/* Maximum uid or gid, because (uid_t)-1 means "unchanged" to the
 * kernel. */
#define MAX_ID 4294967294L

/* Kinds of key value, each with its check and its C type. */
enum field_kind {
  F_SERVER,   /* const char *: a toolbox name */
  F_STRING,   /* const char * */
  F_PATH,     /* const char *: absolute, or relative to the file */
  F_BOOL,     /* bool */
  F_SIZE,     /* size_t, 1 or more */
  F_INT,      /* int, 0 or more */
  F_U64,      /* uint64_t, 0 or more */
  F_SECONDS,  /* double, above 0 and at most MVM_BUILTINS_MAX_TIMEOUT_S */
  F_LIST,     /* const char *const *: NULL-terminated strings */
  F_ABS_LIST, /* the same, each an absolute path */
  F_RESOLVER, /* mvm_sandbox_resolver */
  F_MODE,     /* mvm_sandbox_mode */
  F_ID,       /* long: MVM_EXEC_ID_AUTO, MVM_EXEC_ID_KEEP or an id */
  F_ROOTS,    /* the roots and nroots of mvm_builtin_fs_config */
  F_LIMITS    /* mvm_sandbox_rlimits */
};

/* One key of a JSON object and the struct field it sets. */
struct field {
  const char *name;
  enum field_kind kind;
  size_t offset;
};

#define FS(name, kind) {#name, kind, offsetof(mvm_builtin_fs_config, name)}
#define FETCH(name, kind)                                                    \
  {#name, kind, offsetof(mvm_builtin_fetch_config, name)}
#define EXEC(name, kind)                                                     \
  {#name, kind, offsetof(mvm_builtin_exec_config, name)}
#define ROOT(name, kind) {#name, kind, offsetof(mvm_builtin_fs_root, name)}
#define LIMIT(name) {#name, F_U64, offsetof(mvm_sandbox_rlimits, name)}

static const struct field fs_fields[] = {
    FS(server, F_SERVER),
    FS(roots, F_ROOTS),
    FS(no_symlinks, F_BOOL),
    FS(resolver, F_RESOLVER),
    FS(max_read_bytes, F_SIZE),
    FS(max_write_bytes, F_SIZE),
    FS(max_list_entries, F_SIZE),
    {NULL, F_STRING, 0},
};

static const struct field root_fields[] = {
    ROOT(name, F_STRING),
    ROOT(path, F_PATH),
    ROOT(read_only, F_BOOL),
    {NULL, F_STRING, 0},
};

static const struct field fetch_fields[] = {
    FETCH(server, F_SERVER),
    FETCH(schemes, F_LIST),
    FETCH(hosts, F_LIST),
    FETCH(allow_nets, F_LIST),
    FETCH(max_bytes, F_SIZE),
    FETCH(max_header_bytes, F_SIZE),
    FETCH(max_url_bytes, F_SIZE),
    FETCH(timeout_s, F_SECONDS),
    FETCH(connect_timeout_s, F_SECONDS),
    FETCH(max_redirects, F_INT),
    {NULL, F_STRING, 0},
};

static const struct field exec_fields[] = {
    EXEC(server, F_SERVER),
    EXEC(root, F_PATH),
    EXEC(read_paths, F_ABS_LIST),
    EXEC(write_paths, F_ABS_LIST),
    EXEC(env, F_LIST),
    EXEC(pass_env, F_LIST),
    EXEC(commands, F_ABS_LIST),
    EXEC(search_path, F_STRING),
    EXEC(timeout_s, F_SECONDS),
    EXEC(kill_grace_ms, F_INT),
    EXEC(max_stdout, F_SIZE),
    EXEC(max_stderr, F_SIZE),
    EXEC(max_stdin, F_SIZE),
    EXEC(max_argv_bytes, F_SIZE),
    EXEC(limits, F_LIMITS),
    EXEC(allow_network, F_BOOL),
    EXEC(uid, F_ID),
    EXEC(gid, F_ID),
    EXEC(landlock, F_MODE),
    EXEC(seccomp, F_MODE),
    EXEC(namespaces, F_MODE),
    {NULL, F_STRING, 0},
};

static const struct field limit_fields[] = {
    LIMIT(cpu_s),   LIMIT(as_bytes), LIMIT(fsize_bytes),
    LIMIT(nofile),  LIMIT(nproc),    {NULL, F_STRING, 0},
};

struct parser {
  mvm_builtins_config *cfg;
  mvm_error *err;
};

/* ---------------------------------------------------------------- errors */

static int key_error(struct parser *p, const char *key, const char *expected)
{
  return mvm_error_set(p->err, MVM_ECONFIG, WHERE,
                       "builtins file '%s': key '%s' must be %s",
                       p->cfg->path, key, expected);
}

static int oom(struct parser *p)
{
  return mvm_error_set(p->err, MVM_ENOMEM, WHERE,
                       "out of memory reading builtins file '%s'",
                       p->cfg->path);
}

/* Writes the key names of a field table as "a, b, c". */
static void join_names(const struct field *fields, char *out, size_t size)
{
  size_t used = 0;

  out[0] = '\0';
  for (const struct field *f = fields; f->name != NULL; f++) {
    int k = snprintf(out + used, size - used, "%s%s", used ? ", " : "",
                     f->name);
    if (k < 0 || (size_t)k >= size - used)
      return;
    used += (size_t)k;
  }
}

static int unknown_key(struct parser *p, const char *key,
                       const struct field *fields)
{
  char valid[512];

  join_names(fields, valid, sizeof valid);
  return mvm_error_set(p->err, MVM_ECONFIG, WHERE,
                       "builtins file '%s': unknown key '%s'; valid keys: %s",
                       p->cfg->path, key, valid);
}

static int missing_key(struct parser *p, const char *key, const char *hint)
{
  return mvm_error_set(p->err, MVM_ECONFIG, WHERE,
                       "builtins file '%s': key '%s' is missing; %s",
                       p->cfg->path, key, hint);
}

/* ---------------------------------------------------------------- values */

/* Takes ownership of ptr until mvm_builtins_config_free. */
static int keep(struct parser *p, void *ptr)
{
  mvm_builtins_config *c = p->cfg;

  if (ptr == NULL)
    return oom(p);
  if (c->nowned == MVM_BUILTINS_MAX_OWNED) {
    free(ptr);
    return mvm_error_set(p->err, MVM_ELIMIT, WHERE,
                           "builtins file '%s' has more lists and paths than "
                         "the maximum of %d",
                         c->path, MVM_BUILTINS_MAX_OWNED);
  }
  c->owned[c->nowned++] = ptr;
  return MVM_OK;
}

static bool valid_server_name(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > MAX_SERVER_NAME)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!isalnum(c) && c != '_' && c != '-')
      return false;
  }
  return true;
}

/* Makes a relative path absolute against the file's directory. */
static int resolve_path(struct parser *p, const char *key, const char *value,
                        const char **out)
{
  char dir[PATH_MAX];
  char *copy;
  char *joined = NULL;

  if (value[0] == '\0')
    return key_error(p, key, "a non-empty path");
  if (value[0] == '/') {
    *out = value;
    return MVM_OK;
  }
  copy = strdup(p->cfg->path);
  if (copy == NULL)
    return oom(p);
  if (realpath(dirname(copy), dir) == NULL) {
    free(copy);
    return mvm_error_set(p->err, MVM_ECONFIG, WHERE,
                         "builtins file '%s': key '%s': cannot resolve the "
                         "file's directory for the relative path '%s'; give "
                         "an absolute path",
                         p->cfg->path, key, value);
  }
  free(copy);
  if (asprintf(&joined, "%s/%s", dir, value) < 0)
    return oom(p);
  *out = joined;
  return keep(p, joined);
}

static int parse_list(struct parser *p, const char *key, const json_t *value,
                      bool absolute, const char *const **out)
{
  size_t n = json_array_size(value);
  const char **list;

  if (!json_is_array(value))
    return key_error(p, key, absolute ? "an array of absolute paths"
                                      : "an array of strings");
  if (n > MVM_BUILTINS_MAX_LIST)
    return mvm_error_set(p->err, MVM_ECONFIG, WHERE,
                         "builtins file '%s': key '%s' has %zu entries; at "
                         "most %d are allowed",
                         p->cfg->path, key, n, MVM_BUILTINS_MAX_LIST);
  list = calloc(n + 1, sizeof *list);
  int rc = keep(p, list);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(value, i));
    if (s == NULL || (absolute && s[0] != '/')) {
      char entry[300];
      snprintf(entry, sizeof entry, "%.255s[%zu]", key, i);
      return key_error(p, entry, absolute ? "an absolute path" : "a string");
    }
    list[i] = s;
  }
  *out = list;
  return MVM_OK;
}

static int parse_integer(struct parser *p, const char *key,
                         const json_t *value, json_int_t min, json_int_t max,
                         const char *expected, json_int_t *out)
{
  if (!json_is_integer(value))
    return key_error(p, key, expected);
  json_int_t v = json_integer_value(value);
  if (v < min || v > max)
    return key_error(p, key, expected);
  *out = v;
  return MVM_OK;
}

/* Matches a word of an enumeration; words[i] gives values[i]. */
static int parse_word(struct parser *p, const char *key, const json_t *value,
                      const char *const *words, const int *values,
                      const char *expected, int *out)
{
  const char *s = json_string_value(value);

  for (size_t i = 0; s != NULL && words[i] != NULL; i++) {
    if (strcmp(s, words[i]) == 0) {
      *out = values[i];
      return MVM_OK;
    }
  }
  return key_error(p, key, expected);
}

static int parse_id(struct parser *p, const char *key, const json_t *value,
                    long *out)
{
  static const char expected[] = "\"auto\", \"keep\" or an id from 0 to "
                             "4294967294";
  const char *s = json_string_value(value);
  json_int_t v = 0;

  if (s != NULL && strcmp(s, "auto") == 0) {
    *out = MVM_EXEC_ID_AUTO;
    return MVM_OK;
  }
  if (s != NULL && strcmp(s, "keep") == 0) {
    *out = MVM_EXEC_ID_KEEP;
    return MVM_OK;
  }
  int rc = parse_integer(p, key, value, 0, MAX_ID, expected, &v);
  if (rc == MVM_OK)
    *out = (long)v;
  return rc;
}

static int parse_object(struct parser *p, const char *prefix,
                        const json_t *obj, const struct field *fields,
                        void *base);

static int parse_roots(struct parser *p, const char *key, const json_t *value,
                       mvm_builtin_fs_config *fs)
{
  size_t n = json_array_size(value);
  char expected[64];

  snprintf(expected, sizeof expected, "an array of 1 to %d root objects",
           MVM_BUILTIN_FS_MAX_ROOTS);
  if (!json_is_array(value) || n == 0 || n > MVM_BUILTIN_FS_MAX_ROOTS)
    return key_error(p, key, expected);

  for (size_t i = 0; i < n; i++) {
    mvm_builtin_fs_root *root = &p->cfg->roots[i];
    char prefix[300];
    char sub[340];
    int rc;

    snprintf(prefix, sizeof prefix, "%.255s[%zu]", key, i);
    rc = parse_object(p, prefix, json_array_get(value, i), root_fields, root);
    if (rc)
      return rc;
    if (root->name == NULL || root->path == NULL) {
      snprintf(sub, sizeof sub, "%s.%s", prefix,
               root->name == NULL ? "name" : "path");
      return missing_key(p, sub, "each root needs a name and a path");
    }
  }
  fs->roots = p->cfg->roots;
  fs->nroots = n;
  return MVM_OK;
}

static int parse_field(struct parser *p, const char *key, const json_t *value,
                       const struct field *f, void *base)
{
  static const char *const resolvers[] = {"auto", "openat2", "walk", NULL};
  static const int resolver_values[] = {
      MVM_RESOLVER_AUTO, MVM_RESOLVER_OPENAT2, MVM_RESOLVER_WALK};
  static const char *const modes[] = {"required", "if_available", "off",
                                      NULL};
  static const int mode_values[] = {
      MVM_SANDBOX_REQUIRED, MVM_SANDBOX_IF_AVAILABLE, MVM_SANDBOX_OFF};
  char *at = (char *)base + f->offset;
  const char *s = json_string_value(value);
  json_int_t v = 0;
  int word = 0;
  int rc = MVM_OK;

  switch (f->kind) {
  case F_SERVER:
    if (s == NULL || !valid_server_name(s))
      return key_error(p, key, "a server name of 1 to 64 letters, digits, "
                               "'_' or '-'");
    if (strcmp(s, MVM_BUILTIN_PURE_SERVER) == 0)
      return key_error(p, key, "a server name other than '"
                               MVM_BUILTIN_PURE_SERVER "', which is "
                               "reserved for mvm's std tools");
    *(const char **)at = s;
    break;
  case F_STRING:
    if (s == NULL)
      return key_error(p, key, "a string");
    *(const char **)at = s;
    break;
  case F_PATH:
    if (s == NULL)
      return key_error(p, key, "a path string");
    rc = resolve_path(p, key, s, (const char **)at);
    break;
  case F_BOOL:
    if (!json_is_boolean(value))
      return key_error(p, key, "true or false");
    *(bool *)at = json_is_true(value);
    break;
  case F_SIZE:
    rc = parse_integer(p, key, value, 1, LLONG_MAX,
                       "a positive integer", &v);
    if (rc == MVM_OK)
      *(size_t *)at = (size_t)v;
    break;
  case F_INT:
    rc = parse_integer(p, key, value, 0, INT_MAX,
                       "an integer from 0 to 2147483647", &v);
    if (rc == MVM_OK)
      *(int *)at = (int)v;
    break;
  case F_U64:
    rc = parse_integer(p, key, value, 0, LLONG_MAX,
                       "an integer of 0 or more (0 keeps the inherited "
                       "limit)",
                       &v);
    if (rc == MVM_OK)
      *(uint64_t *)at = (uint64_t)v;
    break;
  case F_SECONDS:
    if (!json_is_number(value) || json_number_value(value) <= 0 ||
        json_number_value(value) > MVM_BUILTINS_MAX_TIMEOUT_S)
      return key_error(p, key, "a number of seconds above 0 and at most "
                               "86400");
    *(double *)at = json_number_value(value);
    break;
  case F_LIST:
  case F_ABS_LIST:
    rc = parse_list(p, key, value, f->kind == F_ABS_LIST,
                    (const char *const **)at);
    break;
  case F_RESOLVER:
    rc = parse_word(p, key, value, resolvers, resolver_values,
                    "one of \"auto\", \"openat2\", \"walk\"", &word);
    if (rc == MVM_OK)
      *(mvm_sandbox_resolver *)at = (mvm_sandbox_resolver)word;
    break;
  case F_MODE:
    rc = parse_word(p, key, value, modes, mode_values,
                    "one of \"required\", \"if_available\", \"off\"", &word);
    if (rc == MVM_OK)
      *(mvm_sandbox_mode *)at = (mvm_sandbox_mode)word;
    break;
  case F_ID:
    rc = parse_id(p, key, value, (long *)at);
    break;
  case F_ROOTS:
    rc = parse_roots(p, key, value, base);
    break;
  case F_LIMITS:
    rc = parse_object(p, key, value, limit_fields, at);
    break;
  }
  return rc;
}

/* Sets the fields of `base` from the keys of `obj`, each checked against
 * the table. `prefix` names the object in messages ("files"). */
static int parse_object(struct parser *p, const char *prefix,
                        const json_t *obj, const struct field *fields,
                        void *base)
{
  const char *name;
  json_t *value;

  if (!json_is_object(obj))
    return key_error(p, prefix, "an object");
  json_object_foreach((json_t *)obj, name, value)
  {
    char key[256];
    const struct field *f = fields;

    snprintf(key, sizeof key, "%s.%s", prefix, name);
    while (f->name != NULL && strcmp(f->name, name) != 0)
      f++;
    if (f->name == NULL)
      return unknown_key(p, key, fields);
    int rc = parse_field(p, key, value, f, base);
    if (rc)
      return rc;
  }
  return MVM_OK;
}

/* ---------------------------------------------------------------- file */

static int parse_sections(struct parser *p, const json_t *doc)
{
  mvm_builtins_config *c = p->cfg;
  const char *name;
  json_t *value;
  int rc = MVM_OK;

  if (!json_is_object(doc))
    return mvm_error_set(p->err, MVM_ECONFIG, WHERE,
                         "builtins file '%s' must contain a JSON object with "
                         "the sections files, fetch and exec",
                         c->path);
  json_object_foreach((json_t *)doc, name, value)
  {
    if (strcmp(name, "files") == 0) {
      c->has_files = true;
      rc = parse_object(p, name, value, fs_fields, &c->files);
    } else if (strcmp(name, "fetch") == 0) {
      c->has_fetch = true;
      rc = parse_object(p, name, value, fetch_fields, &c->fetch);
    } else if (strcmp(name, "exec") == 0) {
      c->has_exec = true;
      rc = parse_object(p, name, value, exec_fields, &c->exec);
    } else {
      rc = mvm_error_set(p->err, MVM_ECONFIG, WHERE,
                         "builtins file '%s': unknown key '%s'; valid keys: "
                         "files, fetch, exec",
                         c->path, name);
    }
    if (rc)
      return rc;
  }
  return MVM_OK;
}

/* Checks what a key alone cannot: required keys and distinct names. */
static int check_sections(struct parser *p)
{
  mvm_builtins_config *c = p->cfg;
  const char *servers[MVM_BUILTINS_MAX_BOXES];
  size_t n = 0;

  if (c->has_files && c->files.nroots == 0)
    return missing_key(p, "files.roots",
                       "list the directories the file tools may use, as "
                       "[{\"name\": ..., \"path\": ...}]");
  if (c->has_exec && c->exec.root == NULL)
    return missing_key(p, "exec.root",
                       "give the directory commands may write to");

  if (c->has_files)
    servers[n++] = c->files.server;
  if (c->has_fetch)
    servers[n++] = c->fetch.server;
  if (c->has_exec)
    servers[n++] = c->exec.server;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = i + 1; j < n; j++) {
      if (strcmp(servers[i], servers[j]) == 0)
        return mvm_error_set(p->err, MVM_ECONFIG, WHERE,
                             "builtins file '%s': two sections use the "
                             "server name '%s'; give each its own "
                             "\"server\"",
                             c->path, servers[i]);
    }
  }
  return MVM_OK;
}

static int read_file(const char *path, json_t **doc, mvm_error *err)
{
  mvm_json_limits limits = {MVM_BUILTINS_MAX_BYTES, MAX_DEPTH};
  int rc = mvm_json_load_file(path, &limits, doc, err);
  char msg[MVM_ERROR_MSG_MAX];

  if (rc == MVM_OK || rc == MVM_ENOMEM)
    return rc;
  /* The message is copied because it is formatted into err again. */
  snprintf(msg, sizeof msg, "%s", err->msg);
  if (rc == MVM_ENOTFOUND || rc == MVM_EIO)
    return mvm_error_set(err, rc, WHERE, "cannot read the builtins file: %s",
                         msg);
  return mvm_error_set(err, MVM_ECONFIG, WHERE,
                       "invalid builtins file: %s", msg);
}

int mvm_builtins_load(const char *path, mvm_builtins_config *out,
                      mvm_error *err)
{
  struct parser p = {out, err};
  int rc;

  memset(out, 0, sizeof *out);
  mvm_builtin_fs_config_init(&out->files);
  mvm_builtin_fetch_config_init(&out->fetch);
  mvm_builtin_exec_config_init(&out->exec);
  out->path = strdup(path);
  if (out->path == NULL)
    return mvm_error_set(err, MVM_ENOMEM, WHERE,
                         "out of memory reading builtins file '%s'", path);

  rc = read_file(path, &out->doc, err);
  if (rc == MVM_OK)
    rc = parse_sections(&p, out->doc);
  if (rc == MVM_OK)
    rc = check_sections(&p);
  if (rc)
    mvm_builtins_config_free(out);
  return rc;
}

void mvm_builtins_config_free(mvm_builtins_config *config)
{
  for (size_t i = config->nowned; i > 0; i--)
    free(config->owned[i - 1]);
  json_decref(config->doc);
  free(config->path);
  memset(config, 0, sizeof *config);
}

/* ---------------------------------------------------------------- open */

/* Names the file and the section in an error from a toolbox constructor,
 * keeping its status. */
static int section_error(const char *path, const char *section, int rc,
                         mvm_error *err)
{
  char msg[MVM_ERROR_MSG_MAX];

  snprintf(msg, sizeof msg, "%s", err->msg);
  return mvm_error_set(err, rc, WHERE, "builtins file '%s', section '%s': %s",
                       path, section, msg);
}

static void append(char *out, size_t size, const char *text)
{
  size_t used = strlen(out);

  if (used < size)
    snprintf(out + used, size - used, "%s%s", used ? ", " : "", text);
}

static int open_sections(const mvm_builtins_config *c, mvm_toolbox *boxes,
                         size_t *n, char *summary, size_t size,
                         mvm_error *err)
{
  int rc = MVM_OK;

  if (c->has_files) {
    rc = mvm_builtin_fs_new(&c->files, &boxes[*n], err);
    if (rc)
      return section_error(c->path, "files", rc, err);
    append(summary, size, boxes[(*n)++].server);
  }
  if (c->has_fetch) {
    rc = mvm_builtin_fetch_new(&c->fetch, &boxes[*n], err);
    if (rc)
      return section_error(c->path, "fetch", rc, err);
    append(summary, size, boxes[(*n)++].server);
  }
  if (c->has_exec) {
    char line[256];
    char text[320];

    rc = mvm_builtin_exec_new(&c->exec, &boxes[*n], err);
    if (rc)
      return section_error(c->path, "exec", rc, err);
    mvm_toolbox *exec = &boxes[(*n)++];
    rc = mvm_builtin_exec_describe(exec, NULL, line, sizeof line, err);
    if (rc)
      return rc;
    snprintf(text, sizeof text, "%s (%s)", exec->server, line);
    append(summary, size, text);
  }
  return MVM_OK;
}

int mvm_builtins_open_summary(const char *path, mvm_toolbox *boxes,
                              size_t max, size_t *n, char *summary,
                              size_t size, mvm_error *err)
{
  mvm_builtins_config c;
  char line[1024] = "";
  int rc;

  *n = 0;
  rc = mvm_builtins_load(path, &c, err);
  if (rc)
    return rc;

  size_t requested = (size_t)c.has_files + c.has_fetch + c.has_exec;
  if (requested > max)
    rc = mvm_error_set(err, MVM_ELIMIT, WHERE,
                       "builtins file '%s' opens %zu toolboxes, but only %zu "
                       "more fit in this run",
                       path, requested, max);
  if (rc == MVM_OK)
    rc = open_sections(&c, boxes, n, line, sizeof line, err);
  if (rc) {
    for (size_t i = *n; i > 0; i--)
      boxes[i - 1].ops->close(boxes[i - 1].self);
    *n = 0;
  }
  mvm_builtins_config_free(&c);
  if (rc == MVM_OK && summary != NULL && size > 0)
    snprintf(summary, size, "%s", *n ? line : "no toolboxes");
  return rc;
}

int mvm_builtins_open(const char *path, mvm_toolbox *boxes, size_t max,
                      size_t *n, mvm_error *err)
{
  return mvm_builtins_open_summary(path, boxes, max, n, NULL, 0, err);
}
