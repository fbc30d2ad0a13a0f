/* value.c - runtime values, labelled histories and toolsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value/value.h"

const char *mvm_value_kind_name(mvm_value_kind kind)
{
  switch (kind) {
  case MVM_VALUE_UNSET:
    return "unset";
  case MVM_VALUE_JSON:
    return "json";
  case MVM_VALUE_HISTORY:
    return "history";
  case MVM_VALUE_MODEL:
    return "model";
  case MVM_VALUE_TOOL:
    return "tool";
  case MVM_VALUE_TOOLSET:
    return "toolset";
  }
  return "?";
}

void mvm_value_init(mvm_value *v)
{
  memset(v, 0, sizeof *v);
  v->kind = MVM_VALUE_UNSET;
}

void mvm_value_clear(mvm_value *v)
{
  mvm_label_unref(v->label);
  json_decref(v->json);
  json_decref(v->origin);
  mvm_history_unref(v->history);
  mvm_toolset_unref(v->tools);
  mvm_value_init(v);
}

void mvm_value_copy(mvm_value *dst, const mvm_value *src)
{
  if (dst == src)
    return;

  mvm_value tmp = *src;
  mvm_label_ref(tmp.label);
  json_incref(tmp.json);
  json_incref(tmp.origin);
  mvm_history_ref(tmp.history);
  mvm_toolset_ref(tmp.tools);
  mvm_value_clear(dst);
  *dst = tmp;
}

void mvm_value_move(mvm_value *dst, mvm_value *src)
{
  if (dst == src)
    return;
  mvm_value_clear(dst);
  *dst = *src;
  mvm_value_init(src);
}

void mvm_value_set_json(mvm_value *v, json_t *json, const mvm_label *label)
{
  mvm_value_clear(v);
  v->kind = MVM_VALUE_JSON;
  v->json = json;
  v->label = mvm_label_ref((mvm_label *)label);
}

int mvm_value_join_label(mvm_value *v, const mvm_label *extra)
{
  if (extra == NULL)
    return MVM_OK;

  mvm_label *joined = NULL;
  int rc = mvm_label_join(v->label, extra, &joined);
  if (rc)
    return rc;
  mvm_label_unref(v->label);
  v->label = joined;
  return MVM_OK;
}

int mvm_value_label(const mvm_value *v, mvm_label **out)
{
  if (v->kind != MVM_VALUE_HISTORY || v->history == NULL) {
    *out = mvm_label_ref(v->label);
    return MVM_OK;
  }

  mvm_label *msgs = NULL;
  int rc = mvm_history_join_labels(v->history, &msgs);
  if (rc)
    return rc;
  rc = mvm_label_join(v->label, msgs, out);
  mvm_label_unref(msgs);
  return rc;
}

json_t *mvm_value_describe(const mvm_value *v)
{
  switch (v->kind) {
  case MVM_VALUE_JSON:
    return json_incref(v->json);
  case MVM_VALUE_HISTORY:
    return json_pack("{s:I}", "history",
                     (json_int_t)mvm_history_len(v->history));
  case MVM_VALUE_MODEL:
    return json_pack("{s:I}", "model", (json_int_t)v->model);
  case MVM_VALUE_TOOL:
  case MVM_VALUE_TOOLSET: {
    json_t *names = json_array();
    for (size_t i = 0; names != NULL && i < mvm_toolset_count(v->tools);
         i++) {
      const mvm_tool_entry *e = mvm_toolset_get(v->tools, i);
      if (json_array_append_new(names, json_string(e->full))) {
        json_decref(names);
        return NULL;
      }
    }
    return json_pack("{s:o}", "tools", names);
  }
  case MVM_VALUE_UNSET:
    break;
  }
  return json_pack("{s:b}", "unset", 1);
}

/* ------------------------------------------------------------- history */

struct history_item {
  json_t *msg;
  mvm_label *label;
};

struct mvm_history {
  unsigned refs;
  size_t len;
  size_t cap;
  struct history_item *items;
};

int mvm_history_new(mvm_history **out)
{
  mvm_history *h = calloc(1, sizeof *h);
  if (h == NULL)
    return MVM_ENOMEM;
  h->refs = 1;
  *out = h;
  return MVM_OK;
}

mvm_history *mvm_history_ref(mvm_history *h)
{
  if (h != NULL)
    h->refs++;
  return h;
}

void mvm_history_unref(mvm_history *h)
{
  if (h == NULL || --h->refs > 0)
    return;
  for (size_t i = 0; i < h->len; i++) {
    json_decref(h->items[i].msg);
    mvm_label_unref(h->items[i].label);
  }
  free(h->items);
  free(h);
}

size_t mvm_history_len(const mvm_history *h)
{
  return h == NULL ? 0 : h->len;
}

const json_t *mvm_history_message(const mvm_history *h, size_t i)
{
  return i < mvm_history_len(h) ? h->items[i].msg : NULL;
}

const mvm_label *mvm_history_message_label(const mvm_history *h, size_t i)
{
  return i < mvm_history_len(h) ? h->items[i].label : NULL;
}

static int history_reserve(mvm_history *h, size_t need)
{
  if (need <= h->cap)
    return MVM_OK;

  size_t cap = h->cap ? h->cap * 2 : 8;
  while (cap < need)
    cap *= 2;
  struct history_item *items = realloc(h->items, cap * sizeof *items);
  if (items == NULL)
    return MVM_ENOMEM;
  h->items = items;
  h->cap = cap;
  return MVM_OK;
}

/* Makes *h safe to change: clones it when someone else holds it. */
static int history_unshare(mvm_history **h)
{
  mvm_history *old = *h;
  if (old->refs == 1)
    return MVM_OK;

  mvm_history *copy = NULL;
  int rc = mvm_history_new(&copy);
  if (rc == MVM_OK)
    rc = history_reserve(copy, old->len);
  if (rc) {
    mvm_history_unref(copy);
    return rc;
  }
  for (size_t i = 0; i < old->len; i++) {
    copy->items[i].msg = json_incref(old->items[i].msg);
    copy->items[i].label = mvm_label_ref(old->items[i].label);
  }
  copy->len = old->len;
  mvm_history_unref(old);
  *h = copy;
  return MVM_OK;
}

int mvm_history_append(mvm_history **h, json_t *msg, const mvm_label *label)
{
  int rc = history_unshare(h);
  if (rc == MVM_OK)
    rc = history_reserve(*h, (*h)->len + 1);
  if (rc) {
    json_decref(msg);
    return rc;
  }

  struct history_item *item = &(*h)->items[(*h)->len++];
  item->msg = msg;
  item->label = mvm_label_ref((mvm_label *)label);
  return MVM_OK;
}

size_t mvm_utf8_length(const char *s, size_t len)
{
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      n++;
  }
  return n;
}

static size_t message_chars(const json_t *msg)
{
  const json_t *content = json_object_get(msg, "content");
  if (!json_is_string(content))
    return 0;
  return mvm_utf8_length(json_string_value(content),
                         json_string_length(content));
}

size_t mvm_history_chars(const mvm_history *h)
{
  size_t total = 0;
  for (size_t i = 0; i < mvm_history_len(h); i++)
    total += message_chars(h->items[i].msg);
  return total;
}

static bool message_has_role(const json_t *msg, const char *role)
{
  const char *r = json_string_value(json_object_get(msg, "role"));
  return r != NULL && strcmp(r, role) == 0;
}

/* Marks which messages trimming keeps; returns how many it keeps. */
static size_t trim_plan(const mvm_history *h, size_t max, size_t max_chars,
                        bool *keep)
{
  size_t count = h->len;
  size_t chars = 0;
  size_t last_other = SIZE_MAX;

  for (size_t i = 0; i < h->len; i++) {
    keep[i] = true;
    chars += message_chars(h->items[i].msg);
    if (!message_has_role(h->items[i].msg, "system"))
      last_other = i;
  }

  /* Oldest non-system messages go first; the newest one always stays. */
  for (size_t i = 0; i < h->len && (count > max || chars > max_chars);
       i++) {
    if (message_has_role(h->items[i].msg, "system") || i == last_other)
      continue;
    keep[i] = false;
    count--;
    chars -= message_chars(h->items[i].msg);
  }

  /* A tool result whose assistant message is gone is an orphan. */
  for (size_t i = 0; i < h->len; i++) {
    if (!keep[i] || message_has_role(h->items[i].msg, "system"))
      continue;
    if (!message_has_role(h->items[i].msg, "tool"))
      break;
    keep[i] = false;
    count--;
  }
  return count;
}

int mvm_history_trim(mvm_history **h, size_t max, size_t max_chars)
{
  if ((*h)->len == 0)
    return MVM_OK;

  bool *keep = calloc((*h)->len, sizeof *keep);
  if (keep == NULL)
    return MVM_ENOMEM;

  size_t kept = trim_plan(*h, max, max_chars, keep);
  int rc = MVM_OK;
  if (kept < (*h)->len)
    rc = history_unshare(h);
  if (rc == MVM_OK && kept < (*h)->len) {
    mvm_history *t = *h;
    size_t k = 0;
    for (size_t i = 0; i < t->len; i++) {
      if (keep[i]) {
        t->items[k++] = t->items[i];
        continue;
      }
      json_decref(t->items[i].msg);
      mvm_label_unref(t->items[i].label);
    }
    t->len = k;
  }
  free(keep);
  return rc;
}

int mvm_history_join_labels(const mvm_history *h, mvm_label **out)
{
  mvm_label *acc = NULL;

  for (size_t i = 0; i < mvm_history_len(h); i++) {
    mvm_label *next = NULL;
    int rc = mvm_label_join(acc, h->items[i].label, &next);
    if (rc) {
      mvm_label_unref(acc);
      return rc;
    }
    mvm_label_unref(acc);
    acc = next;
  }
  *out = acc;
  return MVM_OK;
}

json_t *mvm_history_messages(const mvm_history *h)
{
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < mvm_history_len(h); i++) {
    if (json_array_append(arr, h->items[i].msg)) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

json_t *mvm_history_to_json(const mvm_history *h)
{
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < mvm_history_len(h); i++) {
    json_t *label = mvm_label_to_json(h->items[i].label);
    json_t *item = json_pack("{s:O,s:o}", "message", h->items[i].msg,
                             "label", label);
    if (label == NULL || item == NULL ||
        json_array_append_new(arr, item)) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

int mvm_history_from_json(const json_t *json, mvm_history **out,
                          mvm_error *err)
{
  if (!json_is_array(json))
    return mvm_error_set(err, MVM_EINVAL, "history",
                         "a stored history must be an array of "
                         "{\"message\", \"label\"} objects");

  mvm_history *h = NULL;
  int rc = mvm_history_new(&h);
  if (rc)
    return mvm_error_set(err, rc, "history", "out of memory");

  size_t i;
  json_t *item;
  json_array_foreach(json, i, item) {
    json_t *msg = json_object_get(item, "message");
    json_t *label_json = json_object_get(item, "label");
    mvm_label *label = NULL;

    if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "role")))
      rc = mvm_error_set(err, MVM_EINVAL, "history",
                         "stored history item %zu has no message object "
                         "with a \"role\"", i);
    else if (label_json != NULL)
      rc = mvm_label_from_json(label_json, &label, err);
    if (rc == MVM_OK) {
      rc = mvm_history_append(&h, json_incref(msg), label);
      if (rc)
        mvm_error_set(err, rc, "history", "out of memory");
    }
    mvm_label_unref(label);
    if (rc)
      break;
  }
  if (rc) {
    mvm_history_unref(h);
    return rc;
  }
  *out = h;
  return MVM_OK;
}

/* ------------------------------------------------------------- toolsets */

struct mvm_toolset {
  unsigned refs;
  size_t len;
  size_t cap;
  mvm_tool_entry *items;
};

int mvm_toolset_new(mvm_toolset **out)
{
  mvm_toolset *ts = calloc(1, sizeof *ts);
  if (ts == NULL)
    return MVM_ENOMEM;
  ts->refs = 1;
  *out = ts;
  return MVM_OK;
}

mvm_toolset *mvm_toolset_ref(mvm_toolset *ts)
{
  if (ts != NULL)
    ts->refs++;
  return ts;
}

static void entry_free(mvm_tool_entry *e)
{
  free(e->server);
  free(e->name);
  free(e->full);
  json_decref(e->desc);
}

void mvm_toolset_unref(mvm_toolset *ts)
{
  if (ts == NULL || --ts->refs > 0)
    return;
  for (size_t i = 0; i < ts->len; i++)
    entry_free(&ts->items[i]);
  free(ts->items);
  free(ts);
}

size_t mvm_toolset_count(const mvm_toolset *ts)
{
  return ts == NULL ? 0 : ts->len;
}

const mvm_tool_entry *mvm_toolset_get(const mvm_toolset *ts, size_t i)
{
  return i < mvm_toolset_count(ts) ? &ts->items[i] : NULL;
}

const mvm_tool_entry *mvm_toolset_find_offered(const mvm_toolset *ts,
                                               const char *offered)
{
  for (size_t i = 0; i < mvm_toolset_count(ts); i++) {
    if (strcmp(ts->items[i].offered, offered) == 0)
      return &ts->items[i];
  }
  return NULL;
}

void mvm_tool_offered_name(const char *server, const char *tool, char *out)
{
  size_t n = 0;
  const char *parts[3] = {server, "__", tool};

  for (int p = 0; p < 3; p++) {
    for (const char *c = parts[p]; *c != '\0'; c++) {
      if (n == MVM_OFFERED_NAME_MAX)
        break;
      bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
      out[n++] = ok ? *c : '_';
    }
  }
  out[n] = '\0';
}

static int entry_copy(mvm_tool_entry *dst, const mvm_tool_entry *src)
{
  memset(dst, 0, sizeof *dst);
  dst->server = strdup(src->server);
  dst->name = strdup(src->name);
  dst->full = strdup(src->full);
  memcpy(dst->offered, src->offered, sizeof dst->offered);
  dst->desc = json_incref(src->desc);
  if (dst->server == NULL || dst->name == NULL || dst->full == NULL) {
    entry_free(dst);
    return MVM_ENOMEM;
  }
  return MVM_OK;
}

static int toolset_reserve(mvm_toolset *ts, size_t need)
{
  if (need <= ts->cap)
    return MVM_OK;

  size_t cap = ts->cap ? ts->cap * 2 : 8;
  while (cap < need)
    cap *= 2;
  mvm_tool_entry *items = realloc(ts->items, cap * sizeof *items);
  if (items == NULL)
    return MVM_ENOMEM;
  ts->items = items;
  ts->cap = cap;
  return MVM_OK;
}

static int toolset_unshare(mvm_toolset **ts)
{
  mvm_toolset *old = *ts;
  if (old->refs == 1)
    return MVM_OK;

  mvm_toolset *copy = NULL;
  int rc = mvm_toolset_new(&copy);
  if (rc == MVM_OK)
    rc = toolset_reserve(copy, old->len);
  for (size_t i = 0; rc == MVM_OK && i < old->len; i++) {
    rc = entry_copy(&copy->items[i], &old->items[i]);
    if (rc == MVM_OK)
      copy->len++;
  }
  if (rc) {
    mvm_toolset_unref(copy);
    return rc;
  }
  mvm_toolset_unref(old);
  *ts = copy;
  return MVM_OK;
}

/* Makes an offered name unique in ts by a numeric suffix, keeping it
 * within MVM_OFFERED_NAME_MAX characters. */
static void offered_make_unique(const mvm_toolset *ts, char *name)
{
  char base[MVM_OFFERED_NAME_MAX + 1];
  memcpy(base, name, sizeof base);

  for (unsigned n = 2; mvm_toolset_find_offered(ts, name) != NULL; n++) {
    char suffix[16];
    int slen = snprintf(suffix, sizeof suffix, "_%u", n);
    size_t keep = strlen(base);
    if (keep + (size_t)slen > MVM_OFFERED_NAME_MAX)
      keep = MVM_OFFERED_NAME_MAX - (size_t)slen;
    memcpy(name, base, keep);
    memcpy(name + keep, suffix, (size_t)slen + 1);
  }
}

int mvm_toolset_add(mvm_toolset **ts, const char *server, const char *name,
                    json_t *desc)
{
  for (size_t i = 0; i < (*ts)->len; i++) {
    if (strcmp((*ts)->items[i].server, server) == 0 &&
        strcmp((*ts)->items[i].name, name) == 0)
      return MVM_OK;
  }

  int rc = toolset_unshare(ts);
  if (rc == MVM_OK)
    rc = toolset_reserve(*ts, (*ts)->len + 1);
  if (rc)
    return rc;

  mvm_tool_entry e;
  memset(&e, 0, sizeof e);
  e.server = strdup(server);
  e.name = strdup(name);
  if (asprintf(&e.full, "%s.%s", server, name) < 0)
    e.full = NULL;
  if (e.server == NULL || e.name == NULL || e.full == NULL) {
    entry_free(&e);
    return MVM_ENOMEM;
  }
  e.desc = json_incref(desc);
  mvm_tool_offered_name(server, name, e.offered);
  offered_make_unique(*ts, e.offered);
  (*ts)->items[(*ts)->len++] = e;
  return MVM_OK;
}

json_t *mvm_toolset_offer(const mvm_toolset *ts)
{
  json_t *arr = json_array();

  for (size_t i = 0; arr != NULL && i < mvm_toolset_count(ts); i++) {
    const mvm_tool_entry *e = &ts->items[i];
    json_t *schema = json_object_get(e->desc, "inputSchema");
    const char *desc = json_string_value(json_object_get(e->desc,
                                                         "description"));
    json_t *tool;

    /* A tool without an input schema takes an object of any shape. */
    if (schema != NULL)
      json_incref(schema);
    else
      schema = json_pack("{s:s}", "type", "object");
    tool = json_pack("{s:s,s:s,s:o}", "name", e->offered, "description",
                     desc ? desc : "", "input_schema", schema);
    if (schema == NULL || tool == NULL || json_array_append_new(arr, tool)) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}
