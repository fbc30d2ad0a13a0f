/* types.c - static types and the opcode table parsed from opcodes.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/types.h"

struct type_name {
  const char *name;
  uint32_t exact;
  uint32_t accept;
};

static const struct type_name type_names[] = {
    {"null", MVM_T_NULL, MVM_T_NULL},
    {"bool", MVM_T_BOOL, MVM_T_BOOL},
    {"int", MVM_T_INT, MVM_T_INT},
    {"float", MVM_T_FLOAT, MVM_T_FLOAT},
    {"num", MVM_T_NUM, MVM_T_NUM},
    {"str", MVM_T_STR, MVM_T_STR},
    {"list", MVM_T_LIST, MVM_T_LIST | MVM_T_CALLS},
    {"map", MVM_T_MAP, MVM_T_MAP | MVM_T_REPLY | MVM_T_RESULT},
    {"reply", MVM_T_REPLY, MVM_T_REPLY},
    {"calls", MVM_T_CALLS, MVM_T_CALLS},
    {"result", MVM_T_RESULT, MVM_T_RESULT},
    {"json", MVM_T_JSON, MVM_T_JSON},
    {"history", MVM_T_HISTORY, MVM_T_HISTORY},
    {"model", MVM_T_MODEL, MVM_T_MODEL},
    {"tool", MVM_T_TOOL, MVM_T_TOOL},
    {"toolset", MVM_T_TOOLSET, MVM_T_TOOLSET},
    {"any", MVM_T_ANY, MVM_T_ANY},
};
#define TYPE_NAME_COUNT (sizeof type_names / sizeof type_names[0])

uint32_t mvm_type_parse(const char *text, size_t len, bool accept)
{
  uint32_t type = 0;
  size_t i = 0;

  while (i <= len) {
    size_t end = i;
    while (end < len && text[end] != '|')
      end++;

    size_t k;
    for (k = 0; k < TYPE_NAME_COUNT; k++) {
      if (strlen(type_names[k].name) == end - i &&
          strncmp(type_names[k].name, text + i, end - i) == 0)
        break;
    }
    if (k == TYPE_NAME_COUNT)
      return 0;
    type |= accept ? type_names[k].accept : type_names[k].exact;
    i = end + 1;
  }
  return type;
}

char *mvm_type_format(uint32_t type, char *buf, size_t size)
{
  static const char *const atoms[] = {
      "null",  "bool",   "int",     "float", "str",  "list",    "map",
      "reply", "calls",  "result",  "history", "model", "tool", "toolset",
      "unset"};
  size_t used = 0;

  if (size == 0)
    return buf;
  buf[0] = '\0';

#define APPEND(s)                                                              \
  do {                                                                         \
    if (used < size)                                                           \
      used += (size_t)snprintf(buf + used, size - used, "%s%s",                \
                               used ? "|" : "", s);                            \
  } while (0)

  if ((type & MVM_T_ANY) == MVM_T_ANY) {
    APPEND("any");
    type &= ~(uint32_t)MVM_T_ANY;
  } else if ((type & MVM_T_JSON) == MVM_T_JSON) {
    APPEND("json");
    type &= ~(uint32_t)MVM_T_JSON;
  }
  if ((type & MVM_T_NUM) == MVM_T_NUM) {
    APPEND("num");
    type &= ~(uint32_t)MVM_T_NUM;
  }
  for (unsigned bit = 0; bit < sizeof atoms / sizeof atoms[0]; bit++) {
    if (type & (1u << bit))
      APPEND(atoms[bit]);
  }
#undef APPEND
  if (buf[0] == '\0')
    snprintf(buf, size, "nothing");
  return buf;
}

uint32_t mvm_type_of_json(const json_t *json)
{
  switch (json_typeof(json)) {
  case JSON_NULL:
    return MVM_T_NULL;
  case JSON_TRUE:
  case JSON_FALSE:
    return MVM_T_BOOL;
  case JSON_INTEGER:
    return MVM_T_INT;
  case JSON_REAL:
    return MVM_T_FLOAT;
  case JSON_STRING:
    return MVM_T_STR;
  case JSON_ARRAY:
    return MVM_T_LIST;
  case JSON_OBJECT:
    return MVM_T_MAP;
  }
  return 0;
}

static bool looks_like_calls(const json_t *json)
{
  size_t i;
  const json_t *item;

  if (!json_is_array(json))
    return false;
  json_array_foreach(json, i, item) {
    if (!json_is_string(json_object_get(item, "name")))
      return false;
  }
  return true;
}

bool mvm_type_check_json(uint32_t type, const json_t *json)
{
  if (json == NULL)
    return false;
  if (type & mvm_type_of_json(json))
    return true;
  if ((type & MVM_T_REPLY) && json_is_object(json) &&
      json_is_string(json_object_get(json, "text")) &&
      looks_like_calls(json_object_get(json, "tool_calls")))
    return true;
  if ((type & MVM_T_RESULT) && json_is_object(json) &&
      json_is_array(json_object_get(json, "content")))
    return true;
  return (type & MVM_T_CALLS) && looks_like_calls(json);
}

/* ------------------------------------------------------------- opcodes */

static mvm_op_info op_table[MVM_OP_COUNT];
static pthread_once_t op_table_once = PTHREAD_ONCE_INIT;
static bool op_table_ok;

static const char *const group_names[] = {
#define MVM_X_NAME(id, text) [MVM_GROUP_##id] = text,
    MVM_GROUP_LIST(MVM_X_NAME)
#undef MVM_X_NAME
};

/* Parses one KIND:NAME[:TYPE] item into info. Returns false when the item
 * is malformed, which a unit test rules out for the whole list. */
static bool parse_operand(const char *item, size_t len, mvm_opnd_info *info)
{
  static char names[MVM_OP_COUNT * MVM_MAX_OPERANDS][24];
  static size_t used;
  const char *colon = memchr(item, ':', len);

  memset(info, 0, sizeof *info);
  info->same_as = -1;
  if (len < 3 || item[1] != ':' || used == sizeof names / sizeof names[0])
    return false;
  info->kind = item[0];

  const char *name = item + 2;
  const char *end = item + len;
  colon = memchr(name, ':', (size_t)(end - name));
  size_t nlen = (size_t)((colon ? colon : end) - name);
  if (nlen == 0 || nlen >= sizeof names[0])
    return false;
  memcpy(names[used], name, nlen);
  names[used][nlen] = '\0';
  info->name = names[used++];

  if (colon == NULL)
    return strchr("wrux", info->kind) == NULL;

  const char *type = colon + 1;
  size_t tlen = (size_t)(end - type);
  if (tlen >= sizeof info->type_text)
    return false;
  memcpy(info->type_text, type, tlen);
  info->type_text[tlen] = '\0';

  if (info->kind == 'w' && type[0] == '@') {
    if (strcmp(info->type_text, "@type") == 0)
      info->from_type = true;
    else if (strcmp(info->type_text, "@query") == 0)
      info->from_query = true;
    else if (tlen == 2 && type[1] >= '0' && type[1] <= '9')
      info->same_as = type[1] - '0';
    else
      return false;
    return true;
  }
  info->accept = mvm_type_parse(type, tlen, true);
  info->type = mvm_type_parse(type, tlen, false);
  return info->accept != 0;
}

static bool parse_spec(mvm_op_info *info)
{
  const char *p = info->spec;

  while (*p != '\0') {
    while (*p == ' ')
      p++;
    if (*p == '\0')
      break;

    size_t len = strcspn(p, " ");
    if (info->nopnd == MVM_MAX_OPERANDS ||
        !parse_operand(p, len, &info->opnd[info->nopnd]))
      return false;
    info->nopnd++;
    p += len;
  }
  for (unsigned i = 0; i < info->nopnd; i++) {
    /* Only the last operand may be the optional failure label. */
    if (info->opnd[i].kind == 'o' && i + 1 != info->nopnd)
      return false;
  }
  info->has_fail = info->nopnd > 0 &&
                   info->opnd[info->nopnd - 1].kind == 'o';
  return true;
}

static void build_op_table(void)
{
#define MVM_X_INFO(id, stem_, mn, group_, effect_, checked_, ops, text)       \
  op_table[MVM_OP_##id].mnemonic = mn;                                         \
  op_table[MVM_OP_##id].stem = #stem_;                                         \
  op_table[MVM_OP_##id].group = MVM_GROUP_##group_;                            \
  op_table[MVM_OP_##id].effect = MVM_OP_EFFECT_##effect_;                      \
  op_table[MVM_OP_##id].checked = checked_;                                    \
  op_table[MVM_OP_##id].summary = text;                                        \
  op_table[MVM_OP_##id].spec = ops;
  MVM_OPCODE_LIST(MVM_X_INFO)
#undef MVM_X_INFO

  op_table_ok = true;
  for (int op = 0; op < MVM_OP_COUNT; op++) {
    if (!parse_spec(&op_table[op]))
      op_table_ok = false;
  }
}

const mvm_op_info *mvm_op_info_get(int op)
{
  pthread_once(&op_table_once, build_op_table);
  if (!op_table_ok || op < 0 || op >= MVM_OP_COUNT)
    return NULL;
  return &op_table[op];
}

int mvm_op_find(const char *mnemonic, size_t len)
{
  for (int op = 0; op < MVM_OP_COUNT; op++) {
    const mvm_op_info *info = mvm_op_info_get(op);
    if (info != NULL && strlen(info->mnemonic) == len &&
        strncmp(info->mnemonic, mnemonic, len) == 0)
      return op;
  }
  return -1;
}

const char *mvm_op_group_name(int group)
{
  if (group < 0 || group >= MVM_GROUP_COUNT)
    return "?";
  return group_names[group];
}
