/* test_labels.c - a value derived from an untrusted tool result stays
 * untrusted through every data instruction, history, memory, model calls
 * and branches. Only an allowed endorse removes the taint. */
#include "vmtest.h"

/* Every case starts with %u: the untrusted text of a tool result, %r the
 * result itself, %m a loaded model and %ts an empty toolset. The case
 * leaves its value in %out. */
static const char prelude[] =
    ".model main\n.tool t.echo\n"
    "  model.load %m, main\n"
    "  tools.new %ts\n"
    "  tool.load %t, t.echo\n"
    "  tool.call %r, %t, {\"text\": \"[1, {\\\"k\\\": \\\"v\\\"}]\"}\n"
    "  result.text %u, %r\n";

struct label_case {
  const char *name;
  const char *code;
  bool untrusted; /* whether %out must carry the tool's source */
};

static const struct label_case cases[] = {
    {"mov", "  mov %out, %u\n", true},
    {"fmt", "  fmt %out, \"seen {u}\"\n", true},
    {"eq", "  eq %out, %u, \"a\"\n", true},
    {"ne", "  ne %out, \"a\", %u\n", true},
    {"lt", "  len %n, %u\n  lt %out, 1, %n\n", true},
    {"le", "  len %n, %u\n  le %out, %n, 100\n", true},
    {"not", "  eq %b, %u, \"a\"\n  not %out, %b\n", true},
    {"add", "  len %n, %u\n  add %out, 1, %n\n", true},
    {"sub", "  len %n, %u\n  sub %out, %n, 1\n", true},
    {"len", "  len %out, %u\n", true},
    {"list.push", "  list.new %out\n  list.push %out, %u\n", true},
    {"list.get", "  list.new %l\n  list.push %l, %u\n"
                 "  list.get %out, %l, 0\n",
     true},
    {"list.get by index", "  list.new %l\n  list.push %l, \"clean\"\n"
                          "  len %n, %u\n  sub %i, %n, %n\n"
                          "  list.get %out, %l, %i\n",
     true},
    {"map.set value", "  map.new %out\n  map.set %out, \"k\", %u\n", true},
    {"map.set key", "  map.new %out\n  map.set %out, %u, 1\n", true},
    {"map.get", "  map.new %mp\n  map.set %mp, \"k\", %u\n"
                "  map.get %out, %mp, \"k\"\n",
     true},
    {"json.parse", "  json.parse %out, %u\n", true},
    {"json.dump", "  json.parse %j, %u\n  json.dump %out, %j\n", true},
    {"get", "  json.parse %j, %u\n  get %out, %j, \"[1].k\"\n", true},
    {"as", "  json.parse %j, %u\n  as %out, %j, list\n", true},
    {"result.text", "  result.text %out, %r\n", true},
    {"result.error", "  result.error %out, %r\n", true},
    {"result.data", "  map.new %out\n  result.data %out, %r, none\n"
                    "none:\n  mov %out, %out\n",
     true},
    {"hist.add then model.call", "  hist.new %h\n"
                                 "  hist.add %h, user, %u\n"
                                 "  model.call %rp, %m, %h, %ts\n"
                                 "  reply.text %out, %rp\n",
     true},
    {"hist.reply", "  hist.new %h\n  hist.add %h, user, %u\n"
                   "  model.call %rp, %m, %h, %ts\n"
                   "  hist.new %h2\n  hist.reply %h2, %rp\n"
                   "  model.call %rp2, %m, %h2, %ts\n"
                   "  reply.calls %out, %rp2\n",
     true},
    {"hist.trim keeps labels", "  hist.new %h\n  hist.add %h, user, %u\n"
                               "  hist.add %h, user, \"clean\"\n"
                               "  hist.trim %h, 5\n"
                               "  model.call %rp, %m, %h, %ts\n"
                               "  reply.text %out, %rp\n",
     true},
    {"hist.trim drops labels", "  hist.new %h\n  hist.add %h, user, %u\n"
                               "  hist.add %h, user, \"clean\"\n"
                               "  hist.trim %h, 1\n"
                               "  model.call %rp, %m, %h, %ts\n"
                               "  reply.text %out, %rp\n",
     false},
    {"model.query", "  model.query %out, %m, \"?\", %u, bool\n", true},
    {"mem.store and mem.load", "  mem.store \"k\", %u\n"
                               "  mem.load %out, \"k\"\n",
     true},
    {"jeq", "  jeq %u, \"x\", a\n  mov %out, \"clean\"\n  jmp done\n"
            "a:\n  mov %out, \"other\"\ndone:\n  mov %out, %out\n",
     true},
    {"jne", "  jne %u, \"x\", a\n  mov %out, 1\n  jmp done\n"
            "a:\n  mov %out, 2\ndone:\n  mov %out, %out\n",
     true},
    {"jt", "  eq %b, %u, \"x\"\n  jt %b, a\na:\n  mov %out, \"clean\"\n",
     true},
    {"jf", "  eq %b, %u, \"x\"\n  jf %b, a\na:\n  mov %out, \"clean\"\n",
     true},
    {"jempty", "  jempty %u, a\na:\n  mov %out, \"clean\"\n", true},
    {"jnull", "  json.parse %j, %u\n  jnull %j, a\na:\n"
              "  mov %out, \"clean\"\n",
     true},
    {"failure branch", "  json.parse %j, %u, a\na:\n"
                       "  mov %out, \"clean\"\n",
     true},
    {"branch taints history", "  hist.new %h\n  jempty %u, a\na:\n"
                              "  hist.add %h, user, \"clean\"\n"
                              "  model.call %rp, %m, %h, %ts\n"
                              "  reply.text %out, %rp\n",
     true},
    {"call and ret", "  call f\n  jmp done\nf:\n  mov %out, %u\n  ret\n"
                     "done:\n  mov %out, %out\n",
     true},
    {"clean literal", "  mov %out, \"clean\"\n", false},
    {"clean data", "  mov %a, 2\n  add %out, %a, 3\n", false},
    {"endorse", "  endorse %out, %u\n", false},
};

static const char replies[] =
    "[{\"text\": \"r1\"}, {\"text\": \"r2\"}, {\"text\": \"r3\"}]";

static void label_case_run(const struct label_case *c)
{
  char src[4096];
  vmtest_env env;
  mvm_label *label = NULL;
  json_t *result = NULL;
  mvm_error err;

  snprintf(src, sizeof src, "%s%s  halt %%out\n", prelude, c->code);
  vmtest_env_init(&env, replies);
  int rc = vmtest_run(src, &env, NULL, &result, &label, &err);
  if (rc != MVM_OK)
    fprintf(stderr, "case '%s': %s\n", c->name, err.msg);
  assert_int_equal(rc, MVM_OK);

  bool untrusted = vmtest_has_source(label, "tool:t.echo");
  if (untrusted != c->untrusted)
    fprintf(stderr, "case '%s': the result is %s\n", c->name,
            untrusted ? "untrusted" : "trusted");
  assert_int_equal(untrusted, c->untrusted);
  json_decref(result);
  mvm_label_unref(label);
  vmtest_env_free(&env);
}

static void every_case_propagates(void **state)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    label_case_run(&cases[i]);
}

/* The model call itself is decided with the history's label. */
static void model_call_effect_carries_label(void **state)
{
  char src[2048];
  vmtest_env env;
  mvm_error err;

  snprintf(src, sizeof src, "%s  hist.new %%h\n  hist.add %%h, user, %%u\n"
                            "  model.call %%rp, %%m, %%h, %%ts\n"
                            "  halt 1\n",
           prelude);
  vmtest_env_init(&env, replies);
  env.use_monitor = true;
  assert_int_equal(vmtest_run(src, &env, NULL, NULL, NULL, &err), MVM_OK);

  /* model.load, tool.load, tool.call, then the model call. */
  json_t *call = json_array_get(env.monitor.checks, 3);
  assert_non_null(call);
  assert_string_equal(json_string_value(json_object_get(call, "effect")),
                      "model.call");
  json_t *integrity = json_object_get(json_object_get(call, "args_label"),
                                      "integrity");
  assert_string_equal(json_string_value(json_array_get(integrity, 0)),
                      "tool:t.echo");
  vmtest_env_free(&env);
}

/* After a branch on untrusted data every effect's context carries it. */
static void branch_taints_effect_context(void **state)
{
  char src[2048];
  vmtest_env env;
  mvm_error err;

  snprintf(src, sizeof src, "%s  jempty %%u, a\na:\n"
                            "  tool.call %%r2, %%t, {\"text\": \"x\"}\n"
                            "  halt 1\n",
           prelude);
  vmtest_env_init(&env, replies);
  env.use_monitor = true;
  assert_int_equal(vmtest_run(src, &env, NULL, NULL, NULL, &err), MVM_OK);

  json_t *first = json_array_get(env.monitor.checks, 2);
  json_t *second = json_array_get(env.monitor.checks, 3);
  assert_string_equal(json_string_value(json_object_get(second, "effect")),
                      "tool.call");
  assert_int_equal(json_array_size(json_object_get(
                       json_object_get(first, "context_label"), "integrity")),
                   0);
  assert_string_equal(json_string_value(json_array_get(
                          json_object_get(json_object_get(second,
                                                          "context_label"),
                                          "integrity"),
                          0)),
                      "tool:t.echo");
  vmtest_env_free(&env);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_case_propagates),
      cmocka_unit_test(model_call_effect_carries_label),
      cmocka_unit_test(branch_taints_effect_context),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
