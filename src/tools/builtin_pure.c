/* builtin_pure.c - the deterministic "std" tools. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/builtin_pure.h"

typedef json_t *(*pure_fn)(const json_t *args);

struct pure_tool {
  const char *name;
  const char *description;
  const char *schema; /* inputSchema as JSON text */
  pure_fn run;
};

static json_t *text_result(const char *text, json_t *structured)
{
  json_t *r = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text",
                        "text", text, "isError", 0);
  if (r != NULL && structured != NULL &&
      json_object_set(r, "structuredContent", structured)) {
    json_decref(r);
    r = NULL;
  }
  json_decref(structured);
  return r;
}

static json_t *error_result(const char *text)
{
  return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
                   text, "isError", 1);
}

/* Checks that args has exactly the listed keys, each of its JSON type;
 * returns an error result, or NULL when they match. */
static json_t *check_args(const json_t *args, const char *const *keys,
                          const json_type *types, size_t n)
{
  char msg[256];
  const char *key;
  json_t *val;

  json_object_foreach((json_t *)args, key, val) {
    size_t i;
    for (i = 0; i < n && strcmp(keys[i], key) != 0; i++)
      ;
    if (i == n) {
      snprintf(msg, sizeof msg, "unknown argument '%.100s'", key);
      return error_result(msg);
    }
  }
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_object_get(args, keys[i]);
    if (v != NULL && json_typeof(v) == types[i])
      continue;
    snprintf(msg, sizeof msg, "argument '%s' must be %s", keys[i],
             types[i] == JSON_STRING ? "a string" : "an integer");
    return error_result(msg);
  }
  return NULL;
}

static json_t *text_arg(const json_t *args, json_t **error)
{
  static const char *const keys[] = {"text"};
  static const json_type types[] = {JSON_STRING};
  *error = check_args(args, keys, types, 1);
  return json_object_get(args, "text");
}

static json_t *run_echo(const json_t *args)
{
  json_t *err = NULL;
  json_t *text = text_arg(args, &err);
  if (err != NULL)
    return err;
  return text_result(json_string_value(text),
                     json_pack("{s:O}", "text", text));
}

/* Changes ASCII letters only; other characters pass through. */
static json_t *run_upper(const json_t *args)
{
  json_t *err = NULL;
  json_t *text = text_arg(args, &err);
  if (err != NULL)
    return err;

  char *s = strdup(json_string_value(text));
  if (s == NULL)
    return NULL;
  for (char *p = s; *p != '\0'; p++) {
    if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
  }
  json_t *r = text_result(s, json_pack("{s:s}", "text", s));
  free(s);
  return r;
}

static json_t *run_length(const json_t *args)
{
  json_t *err = NULL;
  json_t *text = text_arg(args, &err);
  if (err != NULL)
    return err;

  const char *s = json_string_value(text);
  size_t n = 0;
  for (size_t i = 0; i < json_string_length(text); i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      n++;
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%zu", n);
  return text_result(buf, json_pack("{s:I}", "length", (json_int_t)n));
}

static json_t *run_add(const json_t *args)
{
  static const char *const keys[] = {"a", "b"};
  static const json_type types[] = {JSON_INTEGER, JSON_INTEGER};
  json_t *err = check_args(args, keys, types, 2);
  json_int_t sum;
  char buf[32];

  if (err != NULL)
    return err;
  if (__builtin_add_overflow(json_integer_value(json_object_get(args, "a")),
                             json_integer_value(json_object_get(args, "b")),
                             &sum))
    return error_result("the sum overflows a 64-bit integer");
  snprintf(buf, sizeof buf, "%lld", (long long)sum);
  return text_result(buf, json_pack("{s:I}", "sum", sum));
}

static const struct pure_tool tools[] = {
    {"echo", "Returns the text it is given.",
     "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\","
     "\"description\":\"text to return\"}},\"required\":[\"text\"],"
     "\"additionalProperties\":false}",
     run_echo},
    {"upper", "Returns the text with ASCII letters in upper case.",
     "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},"
     "\"required\":[\"text\"],\"additionalProperties\":false}",
     run_upper},
    {"length", "Counts the characters (Unicode code points) of a text.",
     "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},"
     "\"required\":[\"text\"],\"additionalProperties\":false}",
     run_length},
    {"add", "Adds two integers.",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
     "\"b\":{\"type\":\"integer\"}},\"required\":[\"a\",\"b\"],"
     "\"additionalProperties\":false}",
     run_add},
};
#define TOOL_COUNT (sizeof tools / sizeof tools[0])

static int pure_list(void *self, json_t **out, mvm_error *err)
{
  json_t *list = json_array();

  for (size_t i = 0; list != NULL && i < TOOL_COUNT; i++) {
    json_t *schema = json_loads(tools[i].schema, 0, NULL);
    json_t *t = json_pack("{s:s,s:s,s:o}", "name", tools[i].name,
                          "description", tools[i].description,
                          "inputSchema", schema);
    if (t == NULL || json_array_append_new(list, t)) {
      json_decref(list);
      list = NULL;
    }
  }
  if (list == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "tool:std", "out of memory");
  *out = list;
  return MVM_OK;
}

static int pure_call(void *self, const char *name, const json_t *args,
                     const mvm_tool_call_opts *opts, json_t **result,
                     mvm_error *err)
{
  for (size_t i = 0; i < TOOL_COUNT; i++) {
    if (strcmp(tools[i].name, name) != 0)
      continue;
    json_t *r = json_is_object(args)
                    ? tools[i].run(args)
                    : error_result("arguments must be a JSON object");
    if (r == NULL)
      return mvm_error_set(err, MVM_ENOMEM, "tool:std", "out of memory");
    *result = r;
    return MVM_OK;
  }
  return mvm_error_set(err, MVM_ENOTFOUND, "tool:std",
                       "server 'std' has no tool '%s'; it has echo, upper, "
                       "length and add", name);
}

static void pure_close(void *self)
{
}

static const mvm_tool_ops pure_ops = {
    .kind = "builtin",
    .list = pure_list,
    .call = pure_call,
    .close = pure_close,
};

int mvm_builtin_pure_new(mvm_toolbox *out, mvm_error *err)
{
  (void)err;
  out->server = MVM_BUILTIN_PURE_SERVER;
  out->ops = &pure_ops;
  out->self = NULL;
  return MVM_OK;
}
