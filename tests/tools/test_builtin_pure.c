/* test_builtin_pure.c - the deterministic "std" tools: listing, results,
 * argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tools/builtin_pure.h"

static json_t *call(const char *name, const char *args_json, int *rc)
{
  mvm_toolbox box;
  mvm_error err;
  json_t *args = json_loads(args_json, JSON_DECODE_ANY, NULL);
  json_t *result = NULL;

  assert_int_equal(mvm_builtin_pure_new(&box, &err), MVM_OK);
  *rc = box.ops->call(box.self, name, args, NULL, &result, &err);
  json_decref(args);
  return result;
}

static const char *text_of(const json_t *result)
{
  return json_string_value(json_object_get(
      json_array_get(json_object_get(result, "content"), 0), "text"));
}

static void lists_tools_with_schemas(void **state)
{
  mvm_toolbox box;
  mvm_error err;
  json_t *list = NULL;

  assert_int_equal(mvm_builtin_pure_new(&box, &err), MVM_OK);
  assert_string_equal(box.server, "std");
  assert_int_equal(box.ops->list(box.self, &list, &err), MVM_OK);
  assert_int_equal(json_array_size(list), 4);

  size_t i;
  json_t *t;
  json_array_foreach(list, i, t) {
    json_t *schema = json_object_get(t, "inputSchema");
    assert_string_equal(json_string_value(json_object_get(schema, "type")),
                        "object");
    assert_true(json_is_array(json_object_get(schema, "required")));
    assert_true(json_is_false(json_object_get(schema,
                                              "additionalProperties")));
    assert_true(strlen(json_string_value(json_object_get(t,
                                                         "description"))) >
                0);
  }
  json_decref(list);
  box.ops->close(box.self);
}

static void tools_compute(void **state)
{
  int rc;
  json_t *r = call("echo", "{\"text\": \"hi\"}", &rc);
  assert_int_equal(rc, MVM_OK);
  assert_string_equal(text_of(r), "hi");
  assert_false(json_is_true(json_object_get(r, "isError")));
  json_decref(r);

  r = call("upper", "{\"text\": \"abc \xc3\xa9\"}", &rc);
  assert_string_equal(text_of(r), "ABC \xc3\xa9");
  json_decref(r);

  r = call("length", "{\"text\": \"h\xc3\xa9llo\"}", &rc);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(r, "structuredContent"), "length")),
                   5);
  json_decref(r);

  r = call("add", "{\"a\": 40, \"b\": 2}", &rc);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(r, "structuredContent"), "sum")),
                   42);
  assert_string_equal(text_of(r), "42");
  json_decref(r);
}

static void bad_arguments_are_error_results(void **state)
{
  struct {
    const char *tool;
    const char *args;
    const char *message;
  } cases[] = {
      {"echo", "{}", "argument 'text' must be a string"},
      {"echo", "{\"text\": 3}", "argument 'text' must be a string"},
      {"echo", "{\"text\": \"a\", \"x\": 1}", "unknown argument 'x'"},
      {"add", "{\"a\": 1, \"b\": \"2\"}", "argument 'b' must be an integer"},
      {"add", "{\"a\": 9223372036854775807, \"b\": 1}",
       "the sum overflows a 64-bit integer"},
      {"upper", "[1]", "arguments must be a JSON object"},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc;
    json_t *r = call(cases[i].tool, cases[i].args, &rc);
    assert_int_equal(rc, MVM_OK);
    assert_true(json_is_true(json_object_get(r, "isError")));
    assert_string_equal(text_of(r), cases[i].message);
    json_decref(r);
  }
}

static void unknown_tool_is_not_found(void **state)
{
  int rc;
  json_t *r = call("now", "{}", &rc);
  assert_int_equal(rc, MVM_ENOTFOUND);
  assert_null(r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lists_tools_with_schemas),
      cmocka_unit_test(tools_compute),
      cmocka_unit_test(bad_arguments_are_error_results),
      cmocka_unit_test(unknown_tool_is_not_found),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
