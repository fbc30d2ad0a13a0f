/* test_schema.c - JSON Schema keywords, error pointers and messages,
 * references, limits and the collected error list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mvm.h"
#include "value/schema.h"

/* One validation case. error is NULL when the instance must match;
 * otherwise it is the expected start of the message, "<pointer>:
 * <keyword>:", and location the schema location in "(at ...)". */
typedef struct schema_case {
  const char *schema;
  const char *instance;
  const char *error;
  const char *location;
} schema_case;

static json_t *load(const char *text)
{
  json_error_t jerr;
  json_t *json = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (json == NULL)
    fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
  return json;
}

static void run_case(const schema_case *c)
{
  json_t *schema = load(c->schema);
  json_t *instance = load(c->instance);
  mvm_schema *s = NULL;
  mvm_error err;

  mvm_error_clear(&err);
  if (mvm_schema_compile(schema, &s, &err) != MVM_OK)
    fail_msg("schema %s does not compile: %s", c->schema, err.msg);
  int rc = mvm_schema_validate(s, instance, &err);
  if (c->error == NULL) {
    if (rc != MVM_OK)
      fail_msg("%s against %s: expected a match, got %s", c->instance,
               c->schema, err.msg);
  } else {
    char expected_at[256];
    if (rc != MVM_ESCHEMA)
      fail_msg("%s against %s: expected MVM_ESCHEMA, got %d", c->instance,
               c->schema, rc);
    if (strncmp(err.msg, c->error, strlen(c->error)) != 0)
      fail_msg("%s against %s: message \"%s\" does not start with \"%s\"",
               c->instance, c->schema, err.msg, c->error);
    snprintf(expected_at, sizeof expected_at, "(at %s)", c->location);
    if (strstr(err.msg, expected_at) == NULL)
      fail_msg("%s against %s: message \"%s\" lacks \"%s\"", c->instance,
               c->schema, err.msg, expected_at);
  }
  mvm_schema_free(s);
  json_decref(instance);
  json_decref(schema);
}

static void run_cases(const schema_case *cases, size_t n)
{
  for (size_t i = 0; i < n; i++)
    run_case(&cases[i]);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void type_keyword(void **state)
{
  static const schema_case cases[] = {
      {"{\"type\":\"integer\"}", "1", NULL, NULL},
      {"{\"type\":\"integer\"}", "1.0", NULL, NULL},
      {"{\"type\":\"integer\"}", "-0.0", NULL, NULL},
      {"{\"type\":\"integer\"}", "1e300", NULL, NULL},
      {"{\"type\":\"integer\"}", "1.5", "(root): type: the value is a number",
       "#/type"},
      {"{\"type\":\"integer\"}", "\"1\"", "(root): type: the value is a string",
       "#/type"},
      {"{\"type\":\"number\"}", "1", NULL, NULL},
      {"{\"type\":\"number\"}", "2.5", NULL, NULL},
      {"{\"type\":\"number\"}", "null", "(root): type: the value is null",
       "#/type"},
      {"{\"type\":\"string\"}", "\"\"", NULL, NULL},
      {"{\"type\":\"string\"}", "[]", "(root): type:", "#/type"},
      {"{\"type\":\"boolean\"}", "false", NULL, NULL},
      {"{\"type\":\"boolean\"}", "0", "(root): type:", "#/type"},
      {"{\"type\":\"null\"}", "null", NULL, NULL},
      {"{\"type\":\"null\"}", "false", "(root): type:", "#/type"},
      {"{\"type\":\"object\"}", "{}", NULL, NULL},
      {"{\"type\":\"object\"}", "[]", "(root): type: the value is an array, "
                                      "not object",
       "#/type"},
      {"{\"type\":\"array\"}", "[]", NULL, NULL},
      {"{\"type\":[\"string\",\"null\"]}", "null", NULL, NULL},
      {"{\"type\":[\"string\",\"null\"]}", "\"x\"", NULL, NULL},
      {"{\"type\":[\"string\",\"null\"]}", "1",
       "(root): type: the value is an integer, not null or string",
       "#/type"},
      {"{\"properties\":{\"a\":{\"type\":\"integer\"}}}", "{\"a\":\"x\"}",
       "/a: type:", "#/properties/a/type"},
  };
  RUN(cases);
}

static void numeric_keywords(void **state)
{
  static const schema_case cases[] = {
      {"{\"properties\":{\"amount\":{\"maximum\":1000}}}",
       "{\"amount\":5000}",
       "/amount: maximum: 5000 is greater than the maximum 1000",
       "#/properties/amount/maximum"},
      {"{\"maximum\":1000}", "1000", NULL, NULL},
      {"{\"maximum\":1000}", "1000.0", NULL, NULL},
      {"{\"maximum\":1000}", "1000.5", "(root): maximum:", "#/maximum"},
      {"{\"maximum\":1.5}", "1", NULL, NULL},
      {"{\"maximum\":1.5}", "2", "(root): maximum:", "#/maximum"},
      {"{\"maximum\":9007199254740992}", "9007199254740993",
       "(root): maximum: 9007199254740993 is greater", "#/maximum"},
      {"{\"maximum\":9007199254740992.0}", "9007199254740993",
       "(root): maximum:", "#/maximum"},
      {"{\"minimum\":-2}", "-2", NULL, NULL},
      {"{\"minimum\":-2}", "-3", "(root): minimum: -3 is less than the "
                                 "minimum -2",
       "#/minimum"},
      {"{\"minimum\":1.1}", "1", "(root): minimum:", "#/minimum"},
      {"{\"minimum\":1}", "\"0\"", NULL, NULL},
      {"{\"exclusiveMinimum\":0}", "0.0001", NULL, NULL},
      {"{\"exclusiveMinimum\":0}", "0", "(root): exclusiveMinimum:",
       "#/exclusiveMinimum"},
      {"{\"exclusiveMaximum\":3.0}", "2.9999", NULL, NULL},
      {"{\"exclusiveMaximum\":3.0}", "3", "(root): exclusiveMaximum:",
       "#/exclusiveMaximum"},
      {"{\"multipleOf\":2}", "10", NULL, NULL},
      {"{\"multipleOf\":2}", "7", "(root): multipleOf: 7 is not a multiple "
                                  "of 2",
       "#/multipleOf"},
      {"{\"multipleOf\":2}", "4611686018427387905", "(root): multipleOf:",
       "#/multipleOf"},
      {"{\"multipleOf\":1.5}", "4.5", NULL, NULL},
      {"{\"multipleOf\":1.5}", "35", "(root): multipleOf:", "#/multipleOf"},
      {"{\"multipleOf\":0.0001}", "0.0075", NULL, NULL},
      {"{\"multipleOf\":0.0001}", "0.00751", "(root): multipleOf:",
       "#/multipleOf"},
      {"{\"multipleOf\":0.01}", "19.99", NULL, NULL},
      {"{\"multipleOf\":0.123456789}", "1e308", "(root): multipleOf:",
       "#/multipleOf"},
      {"{\"multipleOf\":1}", "1000000000000.5", "(root): multipleOf:",
       "#/multipleOf"},
  };
  RUN(cases);
}

static void string_keywords(void **state)
{
  static const schema_case cases[] = {
      {"{\"minLength\":2}", "\"ab\"", NULL, NULL},
      {"{\"minLength\":2}", "\"a\"", "(root): minLength: the string is 1 "
                                     "characters long",
       "#/minLength"},
      /* Two code points in five bytes: U+00E9 and U+1F600. */
      {"{\"maxLength\":2}", "\"\\u00e9\\ud83d\\ude00\"", NULL, NULL},
      {"{\"minLength\":3}", "\"\\u00e9\\ud83d\\ude00\"",
       "(root): minLength: the string is 2 characters", "#/minLength"},
      {"{\"maxLength\":1}", "\"\\u00e9\\u00e9\"", "(root): maxLength:",
       "#/maxLength"},
      {"{\"maxLength\":2.0}", "\"abc\"", "(root): maxLength:",
       "#/maxLength"},
      {"{\"pattern\":\"^a+$\"}", "\"aaa\"", NULL, NULL},
      {"{\"pattern\":\"^a+$\"}", "\"aab\"",
       "(root): pattern: \"aab\" does not match the pattern \"^a+$\"",
       "#/pattern"},
      /* Patterns are not anchored. */
      {"{\"pattern\":\"b\"}", "\"abc\"", NULL, NULL},
      {"{\"pattern\":\"^.$\"}", "\"\\u00e9\"", NULL, NULL},
      {"{\"pattern\":\"^\\\\p{L}+$\"}", "\"\\u00e9t\\u00e9\"", NULL, NULL},
      /* \d is ASCII only, as in ECMA-262: U+0663 is an Arabic-Indic 3. */
      {"{\"pattern\":\"^\\\\d$\"}", "\"3\"", NULL, NULL},
      {"{\"pattern\":\"^\\\\d$\"}", "\"\\u0663\"", "(root): pattern:",
       "#/pattern"},
      {"{\"pattern\":\"x\"}", "12", NULL, NULL},
      {"{\"properties\":{\"s\":{\"pattern\":\"^[0-9]+$\"}}}",
       "{\"s\":\"12a\"}", "/s: pattern:", "#/properties/s/pattern"},
  };
  RUN(cases);
}

static void format_keyword(void **state)
{
  static const schema_case cases[] = {
      {"{\"format\":\"date-time\"}", "\"2024-02-29T23:59:59Z\"", NULL, NULL},
      {"{\"format\":\"date-time\"}", "\"2024-02-29t23:59:59.123+05:30\"",
       NULL, NULL},
      {"{\"format\":\"date-time\"}", "\"2023-02-29T00:00:00Z\"",
       "(root): format: \"2023-02-29T00:00:00Z\" is not a valid date-time",
       "#/format"},
      {"{\"format\":\"date-time\"}", "\"2024-01-01T00:00:00\"",
       "(root): format:", "#/format"},
      {"{\"format\":\"date\"}", "\"2024-12-31\"", NULL, NULL},
      {"{\"format\":\"date\"}", "\"2024-13-01\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"date\"}", "\"2024-1-01\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"time\"}", "\"23:59:60Z\"", NULL, NULL},
      {"{\"format\":\"time\"}", "\"22:59:60Z\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"time\"}", "\"08:30:06-01:00\"", NULL, NULL},
      {"{\"format\":\"email\"}", "\"joe.bloggs@example.com\"", NULL, NULL},
      {"{\"format\":\"email\"}", "\"joe..bloggs@example.com\"",
       "(root): format:", "#/format"},
      {"{\"format\":\"email\"}", "\"no-at-sign\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"email\"}", "\"\\\"a b\\\"@example.com\"", NULL, NULL},
      {"{\"format\":\"email\"}", "\"x@[127.0.0.1]\"", NULL, NULL},
      {"{\"format\":\"email\"}", "\"x@[IPv6:::1]\"", NULL, NULL},
      {"{\"format\":\"uri\"}", "\"http://foo.bar/?baz=qux#quux\"", NULL,
       NULL},
      {"{\"format\":\"uri\"}", "\"urn:isbn:0451450523\"", NULL, NULL},
      {"{\"format\":\"uri\"}", "\"http://[::1]:8080/a\"", NULL, NULL},
      {"{\"format\":\"uri\"}", "\"//foo.bar/x\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"uri\"}", "\"http://a b.com/\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"uri\"}", "\"https://[@example.org/test.txt\"",
       "(root): format:", "#/format"},
      {"{\"format\":\"uuid\"}", "\"2eb8aa08-aa98-11ea-b4aa-73b441d16380\"",
       NULL, NULL},
      {"{\"format\":\"uuid\"}", "\"2eb8aa08aa9811eab4aa73b441d16380\"",
       "(root): format:", "#/format"},
      {"{\"format\":\"ipv4\"}", "\"192.168.0.1\"", NULL, NULL},
      {"{\"format\":\"ipv4\"}", "\"256.0.0.1\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"ipv4\"}", "\"087.10.0.1\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"ipv4\"}", "\"1.2.3\"", "(root): format:", "#/format"},
      {"{\"format\":\"ipv6\"}", "\"::1\"", NULL, NULL},
      {"{\"format\":\"ipv6\"}", "\"::ffff:192.168.0.1\"", NULL, NULL},
      {"{\"format\":\"ipv6\"}", "\"12345::\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"ipv6\"}", "\"fe80::1%eth0\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"hostname\"}", "\"www.example.com\"", NULL, NULL},
      {"{\"format\":\"hostname\"}", "\"-a.example.com\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"hostname\"}", "\"a_b.example.com\"", "(root): format:",
       "#/format"},
      {"{\"format\":\"hostname\"}", "\"a..b\"", "(root): format:",
       "#/format"},
      /* Unknown formats and non-strings pass. */
      {"{\"format\":\"color\"}", "\"not checked\"", NULL, NULL},
      {"{\"format\":\"email\"}", "12", NULL, NULL},
  };
  RUN(cases);
}

static void format_annotation_option(void **state)
{
  json_t *schema = load("{\"format\":\"email\"}");
  json_t *instance = load("\"no-at-sign\"");
  mvm_schema_options opts = {.format_annotation_only = true};
  mvm_schema *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_schema_compile_opts(schema, &opts, &s, &err), MVM_OK);
  assert_int_equal(mvm_schema_validate(s, instance, &err), MVM_OK);
  mvm_schema_free(s);
  json_decref(instance);
  json_decref(schema);
}

static void array_keywords(void **state)
{
  static const schema_case cases[] = {
      {"{\"items\":{\"type\":\"integer\"}}", "[1,2,3]", NULL, NULL},
      {"{\"items\":{\"type\":\"integer\"}}", "[1,2,3,\"x\"]",
       "/3: type:", "#/items/type"},
      {"{\"properties\":{\"items\":{\"items\":{\"properties\":{\"name\":"
       "{\"type\":\"string\"}}}}}}",
       "{\"items\":[{},{},{},{\"name\":1}]}", "/items/3/name: type:",
       "#/properties/items/items/properties/name/type"},
      {"{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
       "[\"a\",1,null]", NULL, NULL},
      {"{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
       "[\"a\",\"b\"]", "/1: type:", "#/prefixItems/1/type"},
      {"{\"prefixItems\":[{\"type\":\"string\"}],\"items\":false}",
       "[\"a\",2]", "/1: false: no value is allowed here", "#/items"},
      {"{\"prefixItems\":[{\"type\":\"string\"}],\"items\":false}", "[\"a\"]",
       NULL, NULL},
      /* The draft-07 array form of items reads as prefixItems. */
      {"{\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}",
       "[\"a\",1]", "/1: false:", "#/additionalItems"},
      {"{\"minItems\":2}", "[1]", "(root): minItems: the array has 1 items",
       "#/minItems"},
      {"{\"minItems\":2}", "[1,2]", NULL, NULL},
      {"{\"maxItems\":1}", "[1,2]", "(root): maxItems:", "#/maxItems"},
      {"{\"maxItems\":1}", "\"ab\"", NULL, NULL},
      {"{\"uniqueItems\":true}", "[1,2,3]", NULL, NULL},
      {"{\"uniqueItems\":true}", "[1,2,1.0]",
       "(root): uniqueItems: items 0 and 2 are equal", "#/uniqueItems"},
      {"{\"uniqueItems\":true}", "[{\"a\":[1]},{\"a\":[1.0]}]",
       "(root): uniqueItems:", "#/uniqueItems"},
      {"{\"uniqueItems\":true}", "[{\"a\":1},{\"a\":2}]", NULL, NULL},
      {"{\"uniqueItems\":true}", "[[1],[true]]", NULL, NULL},
      {"{\"uniqueItems\":false}", "[1,1]", NULL, NULL},
      {"{\"contains\":{\"const\":5}}", "[1,5]", NULL, NULL},
      {"{\"contains\":{\"const\":5}}", "[1,2]", "(root): contains: 0 items",
       "#/contains"},
      {"{\"contains\":{\"const\":5},\"maxContains\":1}", "[5,5]",
       "(root): maxContains:", "#/maxContains"},
      {"{\"contains\":{\"const\":5},\"minContains\":2}", "[5]",
       "(root): minContains:", "#/minContains"},
      {"{\"contains\":{\"const\":5},\"minContains\":0}", "[]", NULL, NULL},
  };
  RUN(cases);
}

static void object_keywords(void **state)
{
  static const schema_case cases[] = {
      {"{\"required\":[\"a\",\"b\"]}", "{\"a\":1,\"b\":2}", NULL, NULL},
      {"{\"required\":[\"a\",\"b\"]}", "{\"a\":1}",
       "(root): required: the required property \"b\" is missing",
       "#/required"},
      {"{\"required\":[\"a\"]}", "[]", NULL, NULL},
      {"{\"properties\":{\"a\":{\"type\":\"string\"}},"
       "\"additionalProperties\":false}",
       "{\"a\":\"x\",\"b\":1}",
       "/b: additionalProperties: the property \"b\" is not allowed",
       "#/additionalProperties"},
      {"{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"b\":\"x\"}",
       "/b: type:", "#/additionalProperties/type"},
      {"{\"additionalProperties\":false}", "{\"b\":1}", "/b: false:",
       "#/additionalProperties"},
      {"{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},"
       "\"additionalProperties\":false}",
       "{\"x-a\":\"1\"}", NULL, NULL},
      {"{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}}}",
       "{\"x-a\":1}", "/x-a: type:", "#/patternProperties/^x-/type"},
      {"{\"properties\":{\"a/b\":{\"type\":\"string\"},"
       "\"m~n\":{\"type\":\"string\"}}}",
       "{\"a/b\":1}", "/a~1b: type:", "#/properties/a~1b/type"},
      {"{\"properties\":{\"m~n\":{\"type\":\"string\"}}}", "{\"m~n\":1}",
       "/m~0n: type:", "#/properties/m~0n/type"},
      {"{\"minProperties\":1}", "{}", "(root): minProperties:",
       "#/minProperties"},
      {"{\"maxProperties\":1}", "{\"a\":1,\"b\":2}", "(root): maxProperties:",
       "#/maxProperties"},
      {"{\"maxProperties\":1}", "{\"a\":1}", NULL, NULL},
      {"{\"propertyNames\":{\"maxLength\":3}}", "{\"abc\":1}", NULL, NULL},
      {"{\"propertyNames\":{\"maxLength\":3}}", "{\"abcd\":1}",
       "/abcd: maxLength:", "#/propertyNames/maxLength"},
      {"{\"dependentRequired\":{\"card\":[\"billing\"]}}", "{\"card\":1}",
       "(root): dependentRequired: the property \"billing\" is required "
       "when \"card\" is present",
       "#/dependentRequired"},
      {"{\"dependentRequired\":{\"card\":[\"billing\"]}}", "{\"billing\":1}",
       NULL, NULL},
      {"{\"dependentSchemas\":{\"a\":{\"required\":[\"b\"]}}}", "{\"a\":1}",
       "(root): required:", "#/dependentSchemas/a/required"},
      {"{\"dependencies\":{\"a\":[\"b\"]}}", "{\"a\":1}",
       "(root): dependencies:", "#/dependencies"},
  };
  RUN(cases);
}

static void enum_const_keywords(void **state)
{
  static const schema_case cases[] = {
      {"{\"enum\":[\"red\",\"green\"]}", "\"red\"", NULL, NULL},
      {"{\"enum\":[\"red\",\"green\"]}", "\"blue\"",
       "(root): enum: \"blue\" is not one of [\"red\",\"green\"]", "#/enum"},
      {"{\"enum\":[1,null]}", "1.0", NULL, NULL},
      {"{\"enum\":[false]}", "0", "(root): enum:", "#/enum"},
      {"{\"enum\":[{\"a\":[1]}]}", "{\"a\":[1.0]}", NULL, NULL},
      {"{\"const\":2}", "2.0", NULL, NULL},
      {"{\"const\":2}", "3", "(root): const: 3 is not the constant 2",
       "#/const"},
      {"{\"const\":null}", "null", NULL, NULL},
      {"{\"const\":null}", "0", "(root): const:", "#/const"},
      {"{\"const\":[true]}", "[1]", "(root): const:", "#/const"},
  };
  RUN(cases);
}

static void applicator_keywords(void **state)
{
  static const schema_case cases[] = {
      {"{\"allOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "3", NULL,
       NULL},
      {"{\"allOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "1",
       "(root): minimum:", "#/allOf/1/minimum"},
      {"{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":2}]}", "\"x\"", NULL,
       NULL},
      {"{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":2}]}", "1",
       "(root): anyOf: the value matches none of the 2 schemas", "#/anyOf"},
      {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "1", NULL,
       NULL},
      {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "3",
       "(root): oneOf: the value matches both schema 0 and schema 1",
       "#/oneOf"},
      {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "1.5",
       "(root): oneOf: the value matches none", "#/oneOf"},
      {"{\"not\":{\"type\":\"string\"}}", "1", NULL, NULL},
      {"{\"not\":{\"type\":\"string\"}}", "\"x\"",
       "(root): not: the value matches the schema in not", "#/not"},
      {"{\"if\":{\"minimum\":10},\"then\":{\"multipleOf\":10},"
       "\"else\":{\"maximum\":5}}",
       "20", NULL, NULL},
      {"{\"if\":{\"minimum\":10},\"then\":{\"multipleOf\":10},"
       "\"else\":{\"maximum\":5}}",
       "15", "(root): multipleOf:", "#/then/multipleOf"},
      {"{\"if\":{\"minimum\":10},\"then\":{\"multipleOf\":10},"
       "\"else\":{\"maximum\":5}}",
       "7", "(root): maximum:", "#/else/maximum"},
      {"{\"then\":false}", "1", NULL, NULL},
      {"true", "{\"any\":[1]}", NULL, NULL},
      {"false", "null", "(root): false: no value is allowed here", "#"},
      {"{}", "\"anything\"", NULL, NULL},
      /* Unknown keywords are ignored. */
      {"{\"x-vendor\":{\"type\":\"string\"},\"description\":\"d\"}", "1",
       NULL, NULL},
  };
  RUN(cases);
}

static void ref_keyword(void **state)
{
  static const schema_case cases[] = {
      {"{\"$defs\":{\"pos\":{\"minimum\":0}},\"$ref\":\"#/$defs/pos\"}", "1",
       NULL, NULL},
      {"{\"$defs\":{\"pos\":{\"minimum\":0}},\"$ref\":\"#/$defs/pos\"}",
       "-1", "(root): minimum:", "#/$defs/pos/minimum"},
      /* $ref applies beside its sibling keywords. */
      {"{\"$defs\":{\"pos\":{\"minimum\":0}},\"$ref\":\"#/$defs/pos\","
       "\"maximum\":3}",
       "4", "(root): maximum:", "#/maximum"},
      /* A tree of nodes that refers to the root. */
      {"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
       "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}}}",
       "{\"name\":\"a\",\"children\":[{\"name\":\"b\",\"children\":[]}]}",
       NULL, NULL},
      {"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
       "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}}}",
       "{\"name\":\"a\",\"children\":[{\"children\":[{\"name\":3}]}]}",
       "/children/0/children/0/name: type:", "#/properties/name/type"},
      /* Escapes: %25 is '%', ~1 is '/', ~0 is '~'. */
      {"{\"$defs\":{\"a%b\":{\"type\":\"string\"}},"
       "\"$ref\":\"#/$defs/a%25b\"}",
       "1", "(root): type:", "#/$defs/a%b/type"},
      {"{\"$defs\":{\"a/b\":{\"type\":\"string\"}},"
       "\"$ref\":\"#/$defs/a~1b\"}",
       "1", "(root): type:", "#/$defs/a~1b/type"},
      {"{\"$defs\":{\"t~\":{\"type\":\"string\"}},"
       "\"$ref\":\"#/$defs/t~0\"}",
       "1", "(root): type:", "#/$defs/t~0/type"},
      /* A reference into an unknown keyword compiles the target on
       * demand. */
      {"{\"definitions\":{\"s\":{\"type\":\"string\"}},"
       "\"$ref\":\"#/definitions/s\"}",
       "1", "(root): type:", "#/definitions/s/type"},
      {"{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"type\":"
       "\"integer\"}},\"properties\":{\"x\":{\"$ref\":\"#/$defs/a\"}}}",
       "{\"x\":\"s\"}", "/x: type:", "#/$defs/b/type"},
      {"{\"$defs\":{\"n\":{\"$anchor\":\"num\",\"type\":\"number\"}},"
       "\"$ref\":\"#num\"}",
       "\"s\"", "(root): type:", "#/$defs/n/type"},
      {"{\"$id\":\"https://example.com/s\",\"$defs\":{\"n\":{\"type\":"
       "\"number\"}},\"$ref\":\"https://example.com/s#/$defs/n\"}",
       "\"s\"", "(root): type:", "#/$defs/n/type"},
  };
  RUN(cases);
}

/* A schema that must not compile: expected status and a message part. */
typedef struct bad_schema {
  const char *schema;
  int status;
  const char *message;
} bad_schema;

static void compile_errors(void **state)
{
  static const bad_schema cases[] = {
      {"1", MVM_EINVAL, "the schema at # is a number"},
      {"{\"type\":\"text\"}", MVM_EINVAL, "the schema keyword type at #"},
      {"{\"minimum\":\"1\"}", MVM_EINVAL,
       "the schema keyword minimum at # must be a number"},
      {"{\"minLength\":-1}", MVM_EINVAL,
       "the schema keyword minLength at # must be a non-negative integer"},
      {"{\"maxItems\":1.5}", MVM_EINVAL, "maxItems"},
      {"{\"multipleOf\":0}", MVM_EINVAL, "a number greater than 0"},
      {"{\"required\":[1]}", MVM_EINVAL, "required at #"},
      {"{\"properties\":{\"a\":3}}", MVM_EINVAL,
       "the schema at #/properties/a is a number"},
      {"{\"allOf\":[]}", MVM_EINVAL, "allOf at # must be a non-empty array"},
      {"{\"pattern\":\"(\"}", MVM_EINVAL,
       "the pattern at # is not a valid regular expression"},
      {"{\"patternProperties\":{\"[\":{}}}", MVM_EINVAL,
       "not a valid regular expression"},
      {"{\"uniqueItems\":1}", MVM_EINVAL, "uniqueItems"},
      {"{\"$ref\":\"#/$defs/missing\"}", MVM_EINVAL,
       "the $ref \"#/$defs/missing\" at # does not resolve"},
      {"{\"$ref\":\"#/$defs/a~2\",\"$defs\":{}}", MVM_EINVAL,
       "a ~ must be followed by 0 or 1"},
      {"{\"$ref\":\"#/a%zz\"}", MVM_EINVAL, "invalid percent escape"},
      {"{\"$ref\":\"other.json#/x\"}", MVM_EUNSUPPORTED,
       "names another document"},
      {"{\"unevaluatedProperties\":false}", MVM_EUNSUPPORTED,
       "unevaluatedProperties at # is not supported"},
      {"{\"properties\":{\"a\":{\"$id\":\"x\"}}}", MVM_EUNSUPPORTED,
       "embedded $id at #/properties/a"},
      {"{\"$ref\":\"#\"}", MVM_EINVAL,
       "the schema at # refers to itself without reading into the value"},
      {"{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/b\"}]},"
       "\"b\":{\"not\":{\"$ref\":\"#/$defs/a\"}}},\"$ref\":\"#/$defs/a\"}",
       MVM_EINVAL, "refers to itself"},
      {"{\"items\":[{}],\"prefixItems\":[{}]}", MVM_EINVAL,
       "items at # must be a schema when prefixItems is present"},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *schema = load(cases[i].schema);
    mvm_schema *s = NULL;
    mvm_error err;
    mvm_error_clear(&err);
    int rc = mvm_schema_compile(schema, &s, &err);
    if (rc != cases[i].status)
      fail_msg("%s: expected status %d, got %d (%s)", cases[i].schema,
               cases[i].status, rc, err.msg);
    if (strstr(err.msg, cases[i].message) == NULL)
      fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].schema, err.msg,
               cases[i].message);
    assert_null(s);
    json_decref(schema);
  }
}

static void self_reference_compiles_once(void **state)
{
  /* Each object refers to the root; compiling must not recurse forever. */
  json_t *schema = load("{\"properties\":{\"next\":{\"$ref\":\"#\"},"
                        "\"v\":{\"type\":\"integer\"}}}");
  json_t *deep = json_object();
  json_t *at = deep;
  mvm_schema *s = NULL;
  mvm_error err;

  for (int i = 0; i < 50; i++) {
    json_t *next = json_object();
    json_object_set_new(at, "next", next);
    at = next;
  }
  json_object_set_new(at, "v", json_string("x"));
  assert_int_equal(mvm_schema_compile(schema, &s, &err), MVM_OK);
  assert_int_equal(mvm_schema_validate(s, deep, &err), MVM_ESCHEMA);
  assert_non_null(strstr(err.msg, "/next/next/next/"));
  assert_non_null(strstr(err.msg, "/v: type:"));
  mvm_schema_free(s);
  json_decref(deep);
  json_decref(schema);
}

static void depth_limit(void **state)
{
  json_t *schema = load("{\"items\":{\"items\":{\"items\":{\"items\":"
                        "{}}}}}");
  mvm_schema_options opts = {.max_depth = 3};
  mvm_schema *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_schema_compile_opts(schema, &opts, &s, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "nests deeper than 3 levels at "
                                  "#/items/items/items/items"));
  opts.max_depth = 4;
  assert_int_equal(mvm_schema_compile_opts(schema, &opts, &s, &err), MVM_OK);
  mvm_schema_free(s);
  json_decref(schema);
}

static void node_limit(void **state)
{
  json_t *schema = load("{\"allOf\":[{},{},{}]}");
  mvm_schema_options opts = {.max_nodes = 3};
  mvm_schema *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_schema_compile_opts(schema, &opts, &s, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "more than 3 subschemas (at #/allOf/2)"));
  opts.max_nodes = 4;
  assert_int_equal(mvm_schema_compile_opts(schema, &opts, &s, &err), MVM_OK);
  mvm_schema_free(s);
  json_decref(schema);
}

static void pattern_length_limit(void **state)
{
  json_t *schema = load("{\"pattern\":\"abcdefgh\"}");
  mvm_schema_options opts = {.max_pattern = 7};
  mvm_schema *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_schema_compile_opts(schema, &opts, &s, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "the pattern at # is 8 bytes, over the "
                                  "limit of 7 bytes"));
  opts.max_pattern = 8;
  assert_int_equal(mvm_schema_compile_opts(schema, &opts, &s, &err), MVM_OK);
  mvm_schema_free(s);
  json_decref(schema);
}

static void pattern_match_limit(void **state)
{
  /* Nested quantifiers backtrack exponentially on a near-match. */
  json_t *schema = load("{\"pattern\":\"^(a+)+$\"}");
  json_t *instance = load("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"");
  mvm_schema *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_schema_compile(schema, &s, &err), MVM_OK);
  assert_int_equal(mvm_schema_validate(s, instance, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "hit the match limit"));
  mvm_schema_free(s);
  json_decref(instance);
  json_decref(schema);
}

static void step_limit(void **state)
{
  /* Each level applies the next twice: 2^20 applications in all. */
  char text[4096];
  size_t used = (size_t)snprintf(text, sizeof text, "{\"$defs\":{");
  for (int i = 0; i < 20; i++)
    used += (size_t)snprintf(text + used, sizeof text - used,
                             "\"d%d\":{\"allOf\":[{\"$ref\":\"#/$defs/d%d\"},"
                             "{\"$ref\":\"#/$defs/d%d\"}]},",
                             i, i + 1, i + 1);
  snprintf(text + used, sizeof text - used,
           "\"d20\":{}},\"$ref\":\"#/$defs/d0\"}");
  json_t *schema = load(text);
  json_t *instance = load("1");
  mvm_schema_options opts = {.max_steps = 10000};
  mvm_schema *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_schema_compile_opts(schema, &opts, &s, &err), MVM_OK);
  assert_int_equal(mvm_schema_validate(s, instance, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "more than 10000 subschemas"));
  mvm_schema_free(s);
  json_decref(instance);
  json_decref(schema);
}

static void validate_all_collects(void **state)
{
  json_t *schema = load("{\"type\":\"object\",\"required\":[\"id\"],"
                        "\"properties\":{\"n\":{\"maximum\":3},"
                        "\"s\":{\"type\":\"string\"}}}");
  json_t *instance = load("{\"n\":5,\"s\":1}");
  json_t *errors = NULL;
  mvm_schema *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_schema_compile(schema, &s, &err), MVM_OK);
  assert_int_equal(mvm_schema_validate_all(s, instance, &errors, &err),
                   MVM_ESCHEMA);
  assert_int_equal(json_array_size(errors), 3);

  json_t *first = json_array_get(errors, 0);
  assert_string_equal(json_string_value(json_object_get(first, "keyword")),
                      "required");
  assert_string_equal(
      json_string_value(json_object_get(first, "instancePath")), "");
  assert_string_equal(
      json_string_value(json_object_get(first, "schemaPath")), "#/required");
  assert_non_null(strstr(err.msg, "(root): required:"));

  bool saw_n = false;
  bool saw_s = false;
  for (size_t i = 1; i < 3; i++) {
    json_t *e = json_array_get(errors, i);
    const char *path = json_string_value(json_object_get(e, "instancePath"));
    const char *keyword = json_string_value(json_object_get(e, "keyword"));
    if (strcmp(path, "/n") == 0 && strcmp(keyword, "maximum") == 0)
      saw_n = true;
    if (strcmp(path, "/s") == 0 && strcmp(keyword, "type") == 0)
      saw_s = true;
  }
  assert_true(saw_n);
  assert_true(saw_s);
  json_decref(errors);

  json_t *good = load("{\"id\":1}");
  assert_int_equal(mvm_schema_validate_all(s, good, &errors, &err), MVM_OK);
  assert_int_equal(json_array_size(errors), 0);
  json_decref(errors);
  json_decref(good);
  mvm_schema_free(s);
  json_decref(instance);
  json_decref(schema);
}

static void check_one_shot(void **state)
{
  json_t *schema = load("{\"type\":\"string\"}");
  json_t *good = load("\"x\"");
  json_t *bad = load("1");
  mvm_error err;

  assert_int_equal(mvm_schema_check(schema, good, &err), MVM_OK);
  assert_int_equal(mvm_schema_check(schema, bad, &err), MVM_ESCHEMA);
  json_decref(bad);
  json_decref(good);
  json_decref(schema);
}

/* Rejecting an oneOf alternative must not leave its message behind. */
static void quiet_branches_leave_no_error(void **state)
{
  json_t *schema = load("{\"anyOf\":[{\"type\":\"string\"},{\"type\":"
                        "\"integer\"}]}");
  json_t *instance = load("3");
  mvm_schema *s = NULL;
  mvm_error err;

  assert_int_equal(mvm_schema_compile(schema, &s, &err), MVM_OK);
  mvm_error_clear(&err);
  assert_int_equal(mvm_schema_validate(s, instance, &err), MVM_OK);
  assert_string_equal(err.msg, "");
  mvm_schema_free(s);
  json_decref(instance);
  json_decref(schema);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(type_keyword),
      cmocka_unit_test(numeric_keywords),
      cmocka_unit_test(string_keywords),
      cmocka_unit_test(format_keyword),
      cmocka_unit_test(format_annotation_option),
      cmocka_unit_test(array_keywords),
      cmocka_unit_test(object_keywords),
      cmocka_unit_test(enum_const_keywords),
      cmocka_unit_test(applicator_keywords),
      cmocka_unit_test(ref_keyword),
      cmocka_unit_test(compile_errors),
      cmocka_unit_test(self_reference_compiles_once),
      cmocka_unit_test(depth_limit),
      cmocka_unit_test(node_limit),
      cmocka_unit_test(pattern_length_limit),
      cmocka_unit_test(pattern_match_limit),
      cmocka_unit_test(step_limit),
      cmocka_unit_test(validate_all_collects),
      cmocka_unit_test(check_one_shot),
      cmocka_unit_test(quiet_branches_leave_no_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
