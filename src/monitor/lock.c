/* lock.c - reading, writing and comparing lock files of pinned tool and
 * model identities. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/json.h"
#include "monitor/lock.h"

static const char *const section_names[] = {"tools", "models"};

json_t *mvm_lock_new(void)
{
  return json_pack("{s:i,s:{},s:{},s:{s:{},s:{}}}", "version", 1, "tools",
                   "models", "pending", "tools", "models");
}

static int invalid(mvm_error *err, const char *path, const char *what)
{
  return mvm_error_set(err, MVM_ECONFIG, "lock", "'%s' is not a valid lock "
                       "file: %s; fix it or move it away and approve the "
                       "tools again with 'mvm approve'", path, what);
}

/* Checks the shape and fills in missing sections. */
static int check_doc(const char *path, json_t *doc, mvm_error *err)
{
  if (!json_is_object(doc))
    return invalid(err, path, "the top level is not an object");
  if (json_integer_value(json_object_get(doc, "version")) != 1)
    return invalid(err, path, "\"version\" is not 1");
  for (int s = 0; s < 2; s++) {
    json_t *sec = json_object_get(doc, section_names[s]);
    if (sec == NULL) {
      if (json_object_set_new(doc, section_names[s], json_object()))
        return mvm_error_set(err, MVM_ENOMEM, "lock", "out of memory");
    } else if (!json_is_object(sec)) {
      return invalid(err, path, "a section is not an object");
    }
    const char *key;
    json_t *entry;
    json_object_foreach(json_object_get(doc, section_names[s]), key, entry) {
      if (!json_is_object(entry))
        return invalid(err, path, "an entry is not an object");
    }
  }
  json_t *pending = json_object_get(doc, "pending");
  if (pending == NULL) {
    pending = json_pack("{s:{},s:{}}", "tools", "models");
    if (pending == NULL || json_object_set_new(doc, "pending", pending))
      return mvm_error_set(err, MVM_ENOMEM, "lock", "out of memory");
  }
  if (!json_is_object(pending))
    return invalid(err, path, "\"pending\" is not an object");
  for (int s = 0; s < 2; s++) {
    json_t *sec = json_object_get(pending, section_names[s]);
    if (sec == NULL && json_object_set_new(pending, section_names[s],
                                           json_object()))
      return mvm_error_set(err, MVM_ENOMEM, "lock", "out of memory");
    if (sec != NULL && !json_is_object(sec))
      return invalid(err, path, "a pending section is not an object");
  }
  return MVM_OK;
}

int mvm_lock_load(const char *path, json_t **doc, mvm_error *err)
{
  mvm_json_limits limits = {MVM_LOCK_MAX_BYTES, 16};
  json_t *d = NULL;
  struct stat st;
  int rc;

  if (stat(path, &st) != 0 && errno == ENOENT) {
    d = mvm_lock_new();
    if (d == NULL)
      return mvm_error_set(err, MVM_ENOMEM, "lock", "out of memory");
    *doc = d;
    return MVM_OK;
  }
  rc = mvm_json_load_file(path, &limits, &d, err);
  if (rc == MVM_EPARSE) {
    /* The parser's message is copied first: formatting err->msg into
     * itself would overlap. */
    char why[MVM_ERROR_MSG_MAX];
    snprintf(why, sizeof why, "%s", err != NULL ? err->msg : "");
    return mvm_error_set(err, MVM_ECONFIG, "lock", "'%s' is not a valid "
                         "lock file: %s", path, why);
  }
  if (rc)
    return rc;
  rc = check_doc(path, d, err);
  if (rc) {
    json_decref(d);
    return rc;
  }
  *doc = d;
  return MVM_OK;
}

int mvm_lock_save(const char *path, const json_t *doc, mvm_error *err)
{
  char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
  char *tmp = NULL;
  char *dircopy = NULL;
  int fd = -1;
  int rc = MVM_OK;

  if (text == NULL || asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
    free(text);
    return mvm_error_set(err, MVM_ENOMEM, "lock", "out of memory");
  }
  fd = mkstemp(tmp);
  if (fd < 0) {
    rc = mvm_error_set(err, MVM_EIO, "lock", "cannot create a temporary "
                       "file next to '%s': %s", path, strerror(errno));
    goto out;
  }
  size_t len = strlen(text);
  text[len] = '\n';
  size_t done = 0;
  while (done < len + 1) {
    ssize_t n = write(fd, text + done, len + 1 - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = mvm_error_set(err, MVM_EIO, "lock", "cannot write '%s': %s", tmp,
                         strerror(errno));
      goto out;
    }
    done += (size_t)n;
  }
  if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
    rc = mvm_error_set(err, MVM_EIO, "lock", "cannot flush '%s': %s", tmp,
                       strerror(errno));
    goto out;
  }
  close(fd);
  fd = -1;
  if (rename(tmp, path) != 0) {
    rc = mvm_error_set(err, MVM_EIO, "lock", "cannot replace '%s': %s",
                       path, strerror(errno));
    goto out;
  }
  /* The rename is durable once the directory is flushed too. */
  dircopy = strdup(path);
  if (dircopy != NULL) {
    int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }

out:
  if (fd >= 0)
    close(fd);
  if (rc && tmp != NULL)
    unlink(tmp);
  free(dircopy);
  free(tmp);
  free(text);
  return rc;
}

/* ------------------------------------------------------------- entries */

static void sha256_hex(const void *data, size_t len, char out[65])
{
  unsigned char h[crypto_hash_sha256_BYTES];

  crypto_hash_sha256(h, data, len);
  sodium_bin2hex(out, 65, h, sizeof h);
}

int mvm_lock_tool_entry(const char *target, const json_t *identity,
                        json_t **entry, mvm_error *err)
{
  const char *dot = strchr(target, '.');
  const char *server = json_string_value(json_object_get(identity, "server"));
  const char *name = json_string_value(json_object_get(identity, "name"));
  const json_t *desc = json_object_get(identity, "description");
  const json_t *schema = json_object_get(identity, "inputSchema");
  const char *dtext = json_is_string(desc) ? json_string_value(desc) : "";
  size_t dlen = json_is_string(desc) ? json_string_length(desc) : 0;
  char dhash[65];
  char shash[65];
  char *server_copy = NULL;
  char *canon = NULL;
  json_t *e = NULL;

  if (server == NULL) {
    server_copy = dot ? strndup(target, (size_t)(dot - target))
                      : strdup(target);
    server = server_copy;
  }
  if (name == NULL)
    name = dot ? dot + 1 : target;
  if (schema == NULL) {
    canon = strdup("{}");
  } else {
    canon = mvm_json_dump_canonical(schema);
  }
  if (server == NULL || canon == NULL)
    goto nomem;

  sha256_hex(dtext, dlen, dhash);
  sha256_hex(canon, strlen(canon), shash);
  e = json_pack("{s:s,s:s,s:s,s:s}", "server", server, "name", name,
                "description_sha256", dhash, "input_schema_sha256", shash);
  if (e == NULL)
    goto nomem;
  if (dlen <= MVM_LOCK_MAX_TEXT &&
      json_object_set_new(e, "description", json_stringn(dtext, dlen)))
    goto nomem;
  if (schema != NULL && strlen(canon) <= MVM_LOCK_MAX_TEXT &&
      json_object_set(e, "input_schema", (json_t *)schema))
    goto nomem;
  free(server_copy);
  free(canon);
  *entry = e;
  return MVM_OK;

nomem:
  json_decref(e);
  free(server_copy);
  free(canon);
  return mvm_error_set(err, MVM_ENOMEM, "lock", "out of memory");
}

int mvm_lock_model_entry(const json_t *identity, char **key, json_t **entry,
                         mvm_error *err)
{
  const char *provider =
      json_string_value(json_object_get(identity, "provider"));
  const char *model = json_string_value(json_object_get(identity, "model"));
  const char *endpoint =
      json_string_value(json_object_get(identity, "endpoint"));

  if (provider == NULL)
    return mvm_error_set(err, MVM_EINVAL, "lock", "the model identity has "
                         "no \"provider\"");
  json_t *e = json_pack("{s:s,s:s?,s:s?}", "provider", provider, "model",
                        model, "endpoint", endpoint);
  char *k = NULL;
  if (e == NULL || asprintf(&k, "%s:%s", provider, model ? model : "") < 0) {
    json_decref(e);
    return mvm_error_set(err, MVM_ENOMEM, "lock", "out of memory");
  }
  *key = k;
  *entry = e;
  return MVM_OK;
}

const json_t *mvm_lock_pinned(const json_t *doc, mvm_lock_section section,
                              const char *key)
{
  return json_object_get(json_object_get(doc, section_names[section]), key);
}

static bool field_differs(const json_t *a, const json_t *b, const char *f)
{
  const json_t *x = json_object_get(a, f);
  const json_t *y = json_object_get(b, f);

  if (x == NULL || y == NULL)
    return x != y;
  return !json_equal((json_t *)x, (json_t *)y);
}

bool mvm_lock_differs(mvm_lock_section section, const json_t *pinned,
                      const json_t *seen, char *buf, size_t size)
{
  static const char *const tool_fields[] = {
      "server", "name", "description_sha256", "input_schema_sha256"};
  static const char *const tool_words[] = {"server changed", "name changed",
                                           "description changed",
                                           "input schema changed"};
  static const char *const model_fields[] = {"provider", "model",
                                             "endpoint"};
  static const char *const model_words[] = {
      "provider changed", "model changed", "endpoint changed"};
  const char *const *fields = section == MVM_LOCK_TOOLS ? tool_fields
                                                        : model_fields;
  const char *const *words = section == MVM_LOCK_TOOLS ? tool_words
                                                       : model_words;
  size_t n = section == MVM_LOCK_TOOLS ? 4 : 3;
  size_t used = 0;
  bool differs = false;

  if (size > 0)
    buf[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (!field_differs(pinned, seen, fields[i]))
      continue;
    if (used < size)
      used += (size_t)snprintf(buf + used, size - used, "%s%s",
                               differs ? "; " : "", words[i]);
    differs = true;
  }
  return differs;
}

int mvm_lock_pin(json_t *doc, mvm_lock_section section, const char *key,
                 const json_t *entry)
{
  json_t *copy = json_deep_copy(entry);
  json_t *pinned = json_object_get(doc, section_names[section]);
  json_t *pending = json_object_get(json_object_get(doc, "pending"),
                                    section_names[section]);

  if (copy == NULL || pinned == NULL)
    goto nomem;
  json_object_del(copy, "reason");
  if (json_object_set_new(pinned, key, copy))
    return MVM_ENOMEM;
  if (pending != NULL)
    json_object_del(pending, key);
  return MVM_OK;

nomem:
  json_decref(copy);
  return MVM_ENOMEM;
}

int mvm_lock_set_pending(json_t *doc, mvm_lock_section section,
                         const char *key, const json_t *entry,
                         const char *reason)
{
  json_t *pending = json_object_get(json_object_get(doc, "pending"),
                                    section_names[section]);
  json_t *copy = json_deep_copy(entry);

  if (pending == NULL || copy == NULL ||
      json_object_set_new(copy, "reason", json_string(reason))) {
    json_decref(copy);
    return MVM_ENOMEM;
  }
  return json_object_set_new(pending, key, copy) ? MVM_ENOMEM : MVM_OK;
}

const json_t *mvm_lock_pending(const json_t *doc, mvm_lock_section section)
{
  return json_object_get(json_object_get(doc, "pending"),
                         section_names[section]);
}

int mvm_lock_approve(json_t *doc, mvm_lock_section section, const char *key,
                     mvm_error *err)
{
  const json_t *entry =
      json_object_get(mvm_lock_pending(doc, section), key);

  if (entry == NULL)
    return mvm_error_set(err, MVM_ENOTFOUND, "lock", "no %s '%s' is "
                         "waiting for approval", section == MVM_LOCK_TOOLS
                         ? "tool" : "model", key);
  json_incref((json_t *)entry);
  int rc = mvm_lock_pin(doc, section, key, entry);
  json_decref((json_t *)entry);
  if (rc)
    return mvm_error_set(err, MVM_ENOMEM, "lock", "out of memory");
  return MVM_OK;
}

/* ------------------------------------------------------------- describe */

static bool has_line(const char *text, const char *line, size_t len)
{
  const char *p = text;

  while (p != NULL && *p != '\0') {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (n == len && memcmp(p, line, len) == 0)
      return true;
    p = nl ? nl + 1 : NULL;
  }
  return false;
}

/* Lists lines of `a` missing from `b` with the given mark. */
static int lines_missing(mvm_buf *out, const char *a, const char *b,
                         char mark)
{
  const char *p = a;
  int rc = MVM_OK;

  while (rc == MVM_OK && p != NULL && *p != '\0') {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (!has_line(b, p, n))
      rc = mvm_buf_printf(out, "      %c %.*s\n", mark, (int)n, p);
    p = nl ? nl + 1 : NULL;
  }
  return rc;
}

static int describe_schema(mvm_buf *out, const json_t *old,
                           const json_t *new)
{
  const json_t *op = json_object_get(old, "properties");
  const json_t *np = json_object_get(new, "properties");
  const char *key;
  json_t *v;
  int rc = MVM_OK;

  json_object_foreach((json_t *)np, key, v) {
    const json_t *o = json_object_get(op, key);
    if (o == NULL)
      rc = mvm_buf_printf(out, "      + property '%s' added\n", key);
    else if (!json_equal((json_t *)o, v))
      rc = mvm_buf_printf(out, "      ~ property '%s' changed\n", key);
    if (rc)
      return rc;
  }
  json_object_foreach((json_t *)op, key, v) {
    if (json_object_get(np, key) == NULL)
      rc = mvm_buf_printf(out, "      - property '%s' removed\n", key);
    if (rc)
      return rc;
  }
  json_object_foreach((json_t *)new, key, v) {
    if (strcmp(key, "properties") != 0 &&
        !json_equal((json_t *)json_object_get(old, key), v))
      rc = mvm_buf_printf(out, "      ~ '%s' changed\n", key);
    if (rc)
      return rc;
  }
  return rc;
}

int mvm_lock_describe(const json_t *doc, mvm_lock_section section,
                      const char *key, mvm_buf *out)
{
  const json_t *e = json_object_get(mvm_lock_pending(doc, section), key);
  const json_t *old = mvm_lock_pinned(doc, section, key);
  const char *reason = json_string_value(json_object_get(e, "reason"));
  char diff[256];
  int rc;

  if (e == NULL)
    return MVM_ENOTFOUND;
  rc = mvm_buf_printf(out, "%s %s (%s)\n", section == MVM_LOCK_TOOLS
                      ? "tool" : "model", key, reason ? reason : "pending");
  if (rc == MVM_OK && section == MVM_LOCK_MODELS) {
    rc = mvm_buf_printf(out, "    provider %s, model %s, endpoint %s\n",
                        json_string_value(json_object_get(e, "provider")),
                        json_string_value(json_object_get(e, "model")),
                        json_string_value(json_object_get(e, "endpoint")));
  }
  if (rc || old == NULL)
    goto brief;
  if (mvm_lock_differs(section, old, e, diff, sizeof diff))
    rc = mvm_buf_printf(out, "    differs from the pinned one: %s\n", diff);
  if (rc == MVM_OK && section == MVM_LOCK_MODELS &&
      field_differs(old, e, "endpoint"))
    rc = mvm_buf_printf(out, "      - endpoint %s\n      + endpoint %s\n",
                        json_string_value(json_object_get(old, "endpoint")),
                        json_string_value(json_object_get(e, "endpoint")));
  if (rc == MVM_OK && section == MVM_LOCK_TOOLS &&
      field_differs(old, e, "description_sha256")) {
    const char *a = json_string_value(json_object_get(old, "description"));
    const char *b = json_string_value(json_object_get(e, "description"));
    rc = mvm_buf_printf(out, "    description:\n");
    if (rc == MVM_OK && a != NULL && b != NULL) {
      rc = lines_missing(out, a, b, '-');
      if (rc == MVM_OK)
        rc = lines_missing(out, b, a, '+');
    } else if (rc == MVM_OK) {
      rc = mvm_buf_printf(out, "      (text too long to keep; only the "
                          "hashes differ)\n");
    }
  }
  if (rc == MVM_OK && section == MVM_LOCK_TOOLS &&
      field_differs(old, e, "input_schema_sha256")) {
    rc = mvm_buf_printf(out, "    input schema:\n");
    if (rc == MVM_OK)
      rc = describe_schema(out, json_object_get(old, "input_schema"),
                           json_object_get(e, "input_schema"));
  }
  return rc;

brief:
  if (rc == MVM_OK && section == MVM_LOCK_TOOLS) {
    const char *d = json_string_value(json_object_get(e, "description"));
    rc = mvm_buf_printf(out, "    description: %.300s%s\n", d ? d : "(none)",
                        d && strlen(d) > 300 ? "..." : "");
  }
  return rc;
}
