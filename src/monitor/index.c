/* index.c - finding the rules for a target without scanning them all: a
 * string hash map, the pattern index built on it, and glob matching. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/policy_internal.h"

/* FNV-1a, 64 bits. */
static uint64_t hash_bytes(const char *s, size_t len)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static bool key_equal(const pol_map_entry *e, const char *key, size_t len)
{
  return strlen(e->key) == len && memcmp(e->key, key, len) == 0;
}

static pol_map_entry *slot_for(pol_map_entry *slots, size_t nslots,
                               const char *key, size_t len)
{
  size_t i = (size_t)hash_bytes(key, len) & (nslots - 1);
  while (slots[i].key != NULL && !key_equal(&slots[i], key, len))
    i = (i + 1) & (nslots - 1);
  return &slots[i];
}

static int grow(pol_map *map)
{
  size_t n = map->nslots ? map->nslots * 2 : 16;
  pol_map_entry *slots = calloc(n, sizeof *slots);

  if (slots == NULL)
    return MVM_ENOMEM;
  for (size_t i = 0; i < map->nslots; i++) {
    pol_map_entry *e = &map->slots[i];
    if (e->key != NULL)
      *slot_for(slots, n, e->key, strlen(e->key)) = *e;
  }
  free(map->slots);
  map->slots = slots;
  map->nslots = n;
  return MVM_OK;
}

int pol_map_add(pol_map *map, const char *key, size_t len, size_t id)
{
  /* Keeps the load factor under 1/2, so probes stay short. */
  if ((map->used + 1) * 2 > map->nslots && grow(map))
    return MVM_ENOMEM;

  pol_map_entry *e = slot_for(map->slots, map->nslots, key, len);
  if (e->key == NULL) {
    e->key = strndup(key, len);
    if (e->key == NULL)
      return MVM_ENOMEM;
    map->used++;
  }
  if (e->n == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 2;
    size_t *ids = realloc(e->ids, cap * sizeof *ids);
    if (ids == NULL)
      return MVM_ENOMEM;
    e->ids = ids;
    e->cap = cap;
  }
  e->ids[e->n++] = id;
  return MVM_OK;
}

const pol_map_entry *pol_map_find(const pol_map *map, const char *key,
                                  size_t len)
{
  if (map->nslots == 0)
    return NULL;
  const pol_map_entry *e = slot_for(map->slots, map->nslots, key, len);
  return e->key != NULL ? e : NULL;
}

void pol_map_free(pol_map *map)
{
  for (size_t i = 0; i < map->nslots; i++) {
    free(map->slots[i].key);
    free(map->slots[i].ids);
  }
  free(map->slots);
  memset(map, 0, sizeof *map);
}

/* Length of the part of a name before its first '.' or ':', or the
 * whole length when it has neither. */
static size_t head_len(const char *s)
{
  return strcspn(s, ".:");
}

int pol_index_add(pol_index *index, const char *pattern, size_t id)
{
  const char *star = strchr(pattern, '*');
  size_t head = head_len(pattern);

  if (star == NULL)
    return pol_map_add(&index->exact, pattern, strlen(pattern), id);
  if ((size_t)(star - pattern) > head && pattern[head] != '\0')
    return pol_map_add(&index->bucket, pattern, head, id);

  size_t *g = realloc(index->global, (index->nglobal + 1) * sizeof *g);
  if (g == NULL)
    return MVM_ENOMEM;
  index->global = g;
  index->global[index->nglobal++] = id;
  return MVM_OK;
}

void pol_index_free(pol_index *index)
{
  pol_map_free(&index->exact);
  pol_map_free(&index->bucket);
  free(index->global);
  memset(index, 0, sizeof *index);
}

int pol_index_each(const pol_index *index, const char *target,
                   pol_index_fn fn, void *ctx)
{
  const pol_map_entry *e;
  size_t head = head_len(target);
  int rc;

  e = pol_map_find(&index->exact, target, strlen(target));
  for (size_t i = 0; e != NULL && i < e->n; i++) {
    rc = fn(ctx, e->ids[i]);
    if (rc)
      return rc;
  }
  /* A bucket pattern has a separator right after its head, so it can
   * only match a target with the same head and a separator there. */
  if (target[head] != '\0') {
    e = pol_map_find(&index->bucket, target, head);
    for (size_t i = 0; e != NULL && i < e->n; i++) {
      rc = fn(ctx, e->ids[i]);
      if (rc)
        return rc;
    }
  }
  for (size_t i = 0; i < index->nglobal; i++) {
    rc = fn(ctx, index->global[i]);
    if (rc)
      return rc;
  }
  return MVM_OK;
}

bool pol_glob_match(const char *pattern, const char *text)
{
  const char *star = NULL;
  const char *resume = NULL;

  /* The classic greedy matcher with one backtrack point: linear in
   * practice, and at worst len(pattern) * len(text). */
  while (*text != '\0') {
    if (*pattern == '*') {
      star = pattern++;
      resume = text;
    } else if (*pattern == *text) {
      pattern++;
      text++;
    } else if (star != NULL) {
      pattern = star + 1;
      text = ++resume;
    } else {
      return false;
    }
  }
  while (*pattern == '*')
    pattern++;
  return *pattern == '\0';
}
