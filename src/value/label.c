/* label.c - information-flow labels: integrity sources and reader sets.
 *
 * A label keeps both sets sorted and free of duplicates, so join, equality
 * and the flow check are linear merges. The bottom label (trusted, readable
 * by everyone) is the NULL pointer and costs nothing to carry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mvm.h"

struct mvm_label {
  unsigned refs;
  bool everyone;   /* reader set is everyone; readers unused */
  size_t nsources; /* integrity: untrusted sources, sorted */
  char **sources;
  size_t nreaders; /* confidentiality: allowed readers, sorted */
  char **readers;
};

static int compare_strings(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

/* Copies, sorts and de-duplicates a string list. */
static int copy_set(const char *const *in, size_t n, char ***out,
                    size_t *nout)
{
  *out = NULL;
  *nout = 0;
  if (n == 0)
    return MVM_OK;

  char **v = calloc(n, sizeof *v);
  if (v == NULL)
    return MVM_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    v[i] = strdup(in[i]);
    if (v[i] == NULL) {
      free_strings(v, n);
      return MVM_ENOMEM;
    }
  }
  qsort(v, n, sizeof *v, compare_strings);

  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k > 0 && strcmp(v[k - 1], v[i]) == 0) {
      free(v[i]);
      continue;
    }
    v[k++] = v[i];
  }
  *out = v;
  *nout = k;
  return MVM_OK;
}

static int label_build(const char *const *sources, size_t nsources,
                       bool everyone, const char *const *readers,
                       size_t nreaders, mvm_label **out)
{
  if (nsources == 0 && everyone) {
    *out = NULL;
    return MVM_OK;
  }

  mvm_label *l = calloc(1, sizeof *l);
  if (l == NULL)
    return MVM_ENOMEM;
  l->refs = 1;
  l->everyone = everyone;

  int rc = copy_set(sources, nsources, &l->sources, &l->nsources);
  if (rc == MVM_OK && !everyone)
    rc = copy_set(readers, nreaders, &l->readers, &l->nreaders);
  if (rc) {
    mvm_label_unref(l);
    return rc;
  }
  *out = l;
  return MVM_OK;
}

int mvm_label_new(const char *const *sources, size_t nsources,
                  const char *const *readers, size_t nreaders,
                  mvm_label **out)
{
  return label_build(sources, nsources, readers == NULL, readers, nreaders,
                     out);
}

mvm_label *mvm_label_ref(mvm_label *label)
{
  if (label != NULL)
    __atomic_fetch_add(&label->refs, 1, __ATOMIC_RELAXED);
  return label;
}

void mvm_label_unref(mvm_label *label)
{
  if (label == NULL)
    return;
  if (__atomic_sub_fetch(&label->refs, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  free_strings(label->sources, label->nsources);
  free_strings(label->readers, label->nreaders);
  free(label);
}

/* Merges two sorted sets into a new list of borrowed pointers: the union
 * when `unite` is true, the intersection otherwise. */
static size_t merge_sets(char *const *a, size_t na, char *const *b, size_t nb,
                         bool unite, const char **out)
{
  size_t i = 0;
  size_t j = 0;
  size_t k = 0;

  while (i < na && j < nb) {
    int c = strcmp(a[i], b[j]);
    if (c == 0) {
      out[k++] = a[i];
      i++;
      j++;
    } else if (c < 0) {
      if (unite)
        out[k++] = a[i];
      i++;
    } else {
      if (unite)
        out[k++] = b[j];
      j++;
    }
  }
  while (unite && i < na)
    out[k++] = a[i++];
  while (unite && j < nb)
    out[k++] = b[j++];
  return k;
}

int mvm_label_join(const mvm_label *a, const mvm_label *b, mvm_label **out)
{
  if (a == NULL || a == b || mvm_label_equal(a, b)) {
    *out = mvm_label_ref((mvm_label *)b);
    return MVM_OK;
  }
  if (b == NULL) {
    *out = mvm_label_ref((mvm_label *)a);
    return MVM_OK;
  }

  const char **src = malloc((a->nsources + b->nsources + 1) * sizeof *src);
  const char **rd = malloc((a->nreaders + b->nreaders + 1) * sizeof *rd);
  if (src == NULL || rd == NULL) {
    free(src);
    free(rd);
    return MVM_ENOMEM;
  }

  size_t nsrc = merge_sets(a->sources, a->nsources, b->sources, b->nsources,
                           true, src);
  bool everyone = a->everyone && b->everyone;
  size_t nrd = 0;

  if (!everyone && a->everyone) {
    nrd = b->nreaders;
    memcpy(rd, b->readers, nrd * sizeof *rd);
  } else if (!everyone && b->everyone) {
    nrd = a->nreaders;
    memcpy(rd, a->readers, nrd * sizeof *rd);
  } else if (!everyone) {
    nrd = merge_sets(a->readers, a->nreaders, b->readers, b->nreaders, false,
                     rd);
  }

  int rc = label_build(src, nsrc, everyone, rd, nrd, out);
  free(src);
  free(rd);
  return rc;
}

bool mvm_label_is_trusted(const mvm_label *label)
{
  return label == NULL || label->nsources == 0;
}

bool mvm_label_is_public(const mvm_label *label)
{
  return label == NULL || label->everyone;
}

static bool sets_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
  if (na != nb)
    return false;
  for (size_t i = 0; i < na; i++) {
    if (strcmp(a[i], b[i]) != 0)
      return false;
  }
  return true;
}

bool mvm_label_equal(const mvm_label *a, const mvm_label *b)
{
  if (a == b)
    return true;
  if (a == NULL || b == NULL)
    return false;
  if (a->everyone != b->everyone)
    return false;
  if (!sets_equal(a->sources, a->nsources, b->sources, b->nsources))
    return false;
  return a->everyone ||
         sets_equal(a->readers, a->nreaders, b->readers, b->nreaders);
}

static bool set_contains(char *const *v, size_t n, const char *s)
{
  size_t lo = 0;
  size_t hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v[mid], s);
    if (c == 0)
      return true;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

bool mvm_label_readable_by(const mvm_label *label, const char *reader)
{
  if (label == NULL || label->everyone)
    return true;
  return set_contains(label->readers, label->nreaders, reader);
}

bool mvm_label_flows_to(const mvm_label *label, const mvm_label *sink)
{
  if (label == NULL || label->everyone)
    return true;
  /* The sink's readers are everyone, but the data is restricted. */
  if (sink == NULL || sink->everyone)
    return false;
  for (size_t i = 0; i < sink->nreaders; i++) {
    if (!set_contains(label->readers, label->nreaders, sink->readers[i]))
      return false;
  }
  return true;
}

size_t mvm_label_source_count(const mvm_label *label)
{
  return label == NULL ? 0 : label->nsources;
}

const char *mvm_label_source(const mvm_label *label, size_t i)
{
  if (label == NULL || i >= label->nsources)
    return NULL;
  return label->sources[i];
}

size_t mvm_label_reader_count(const mvm_label *label)
{
  if (label == NULL || label->everyone)
    return SIZE_MAX;
  return label->nreaders;
}

const char *mvm_label_reader(const mvm_label *label, size_t i)
{
  if (label == NULL || label->everyone || i >= label->nreaders)
    return NULL;
  return label->readers[i];
}

int mvm_label_endorse(const mvm_label *label, const char *const *sources,
                      size_t nsources, mvm_label **out)
{
  if (label == NULL) {
    *out = NULL;
    return MVM_OK;
  }

  const char **keep = malloc((label->nsources + 1) * sizeof *keep);
  if (keep == NULL)
    return MVM_ENOMEM;

  size_t k = 0;
  for (size_t i = 0; i < label->nsources; i++) {
    bool drop = false;
    for (size_t j = 0; j < nsources && !drop; j++)
      drop = strcmp(label->sources[i], sources[j]) == 0;
    if (!drop)
      keep[k++] = label->sources[i];
  }

  int rc = label_build(keep, k, label->everyone,
                       (const char *const *)label->readers, label->nreaders,
                       out);
  free(keep);
  return rc;
}

int mvm_label_declassify(const mvm_label *label, const char *const *readers,
                         size_t nreaders, mvm_label **out)
{
  if (label == NULL || label->everyone) {
    *out = mvm_label_ref((mvm_label *)label);
    return MVM_OK;
  }

  size_t n = label->nreaders + nreaders;
  const char **all = malloc((n + 1) * sizeof *all);
  if (all == NULL)
    return MVM_ENOMEM;
  memcpy(all, label->readers, label->nreaders * sizeof *all);
  memcpy(all + label->nreaders, readers, nreaders * sizeof *all);

  int rc = label_build((const char *const *)label->sources, label->nsources,
                       false, all, n, out);
  free(all);
  return rc;
}

json_t *mvm_label_to_json(const mvm_label *label)
{
  json_t *obj = json_object();
  json_t *integrity = json_array();
  json_t *readers = NULL;

  if (obj == NULL || integrity == NULL)
    goto fail;
  for (size_t i = 0; i < mvm_label_source_count(label); i++) {
    if (json_array_append_new(integrity, json_string(label->sources[i])))
      goto fail;
  }

  if (mvm_label_is_public(label)) {
    readers = json_string("*");
  } else {
    readers = json_array();
    for (size_t i = 0; readers != NULL && i < label->nreaders; i++) {
      if (json_array_append_new(readers, json_string(label->readers[i])))
        goto fail;
    }
  }
  if (readers == NULL)
    goto fail;

  if (json_object_set_new(obj, "integrity", integrity)) {
    integrity = NULL;
    goto fail;
  }
  integrity = NULL;
  if (json_object_set_new(obj, "readers", readers)) {
    readers = NULL;
    goto fail;
  }
  return obj;

fail:
  json_decref(readers);
  json_decref(integrity);
  json_decref(obj);
  return NULL;
}

/* Collects the strings of a JSON array into a borrowed list. */
static int strings_of(const json_t *arr, const char *field, const char ***out,
                      size_t *n, mvm_error *err)
{
  if (!json_is_array(arr))
    return mvm_error_set(err, MVM_EINVAL, "label",
                         "label field '%s' must be an array of strings",
                         field);

  size_t count = json_array_size(arr);
  const char **v = malloc((count + 1) * sizeof *v);
  if (v == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "label", "out of memory");

  for (size_t i = 0; i < count; i++) {
    const json_t *item = json_array_get(arr, i);
    if (!json_is_string(item)) {
      free(v);
      return mvm_error_set(err, MVM_EINVAL, "label",
                           "label field '%s' item %zu is not a string",
                           field, i);
    }
    v[i] = json_string_value(item);
  }
  *out = v;
  *n = count;
  return MVM_OK;
}

int mvm_label_from_json(const json_t *json, mvm_label **out, mvm_error *err)
{
  if (!json_is_object(json))
    return mvm_error_set(err, MVM_EINVAL, "label",
                         "a label must be an object with 'integrity' and "
                         "'readers'");

  const json_t *integ = json_object_get(json, "integrity");
  const json_t *rd = json_object_get(json, "readers");
  const char **src = NULL;
  const char **readers = NULL;
  size_t nsrc = 0;
  size_t nrd = 0;
  bool everyone = rd == NULL ||
                  (json_is_string(rd) && strcmp(json_string_value(rd), "*") == 0);
  int rc = MVM_OK;

  if (integ != NULL)
    rc = strings_of(integ, "integrity", &src, &nsrc, err);
  if (rc == MVM_OK && !everyone)
    rc = strings_of(rd, "readers", &readers, &nrd, err);
  if (rc == MVM_OK) {
    rc = label_build(src, nsrc, everyone, readers, nrd, out);
    if (rc)
      mvm_error_set(err, rc, "label", "out of memory");
  }
  free(src);
  free(readers);
  return rc;
}

char *mvm_label_format(const mvm_label *label, char *buf, size_t size)
{
  size_t used = 0;

#define APPEND(...)                                                            \
  do {                                                                         \
    if (used < size)                                                           \
      used += (size_t)snprintf(buf + used, size - used, __VA_ARGS__);          \
  } while (0)

  if (size == 0)
    return buf;
  buf[0] = '\0';

  if (mvm_label_is_trusted(label)) {
    APPEND("trusted");
  } else {
    APPEND("untrusted(");
    for (size_t i = 0; i < label->nsources; i++)
      APPEND("%s%s", i ? "," : "", label->sources[i]);
    APPEND(")");
  }

  if (mvm_label_is_public(label)) {
    APPEND("/public");
  } else {
    APPEND("/{");
    for (size_t i = 0; i < label->nreaders; i++)
      APPEND("%s%s", i ? "," : "", label->readers[i]);
    APPEND("}");
  }
#undef APPEND
  return buf;
}
