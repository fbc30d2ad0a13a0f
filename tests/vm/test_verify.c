/* test_verify.c - the verifier: the opcode table, types, definite
 * assignment, narrowing, subroutines, control flow rules and the taint
 * report. */
#include "vmtest.h"

#include "vm/program.h"
#include "vm/types.h"

/* Asserts that src fails verification with a message containing want. */
static void expect_error(const char *src, const char *want)
{
  int rc = MVM_OK;
  char *text = vmtest_errors(src, false, &rc);
  if (strstr(text, want) == NULL)
    fprintf(stderr, "expected \"%s\" in:\n%s", want, text);
  assert_int_equal(rc, MVM_EVERIFY);
  assert_non_null(strstr(text, want));
  free(text);
}

/* The type the verifier gives the register written at instruction i. */
static const char *written(const mvm_program *p, size_t i, char *buf)
{
  return mvm_type_format(p->written_type[i], buf, 64);
}

static void opcode_table_parses(void **state)
{
  for (int op = 0; op < MVM_OP_COUNT; op++) {
    const mvm_op_info *info = mvm_op_info_get(op);
    assert_non_null(info);
    assert_non_null(info->summary);
    assert_true(strlen(info->summary) > 0);
    assert_int_equal(mvm_op_find(info->mnemonic, strlen(info->mnemonic)),
                     op);
    /* An effect is always decided by the monitor, and only an effect. */
    assert_int_equal(info->checked, info->effect >= 0);
  }
  assert_int_equal(mvm_op_find("nope", 4), -1);
}

static void type_names_round_trip(void **state)
{
  char buf[64];
  assert_int_equal(mvm_type_parse("str|int", 7, false),
                   MVM_T_STR | MVM_T_INT);
  assert_int_equal(mvm_type_parse("map", 3, true),
                   MVM_T_MAP | MVM_T_REPLY | MVM_T_RESULT);
  assert_int_equal(mvm_type_parse("list", 4, true), MVM_T_LIST | MVM_T_CALLS);
  assert_int_equal(mvm_type_parse("bogus", 5, true), 0);
  assert_string_equal(mvm_type_format(MVM_T_JSON, buf, sizeof buf), "json");
  assert_string_equal(mvm_type_format(MVM_T_ANY, buf, sizeof buf), "any");
  assert_string_equal(mvm_type_format(MVM_T_NUM | MVM_T_NULL, buf,
                                      sizeof buf),
                      "num|null");
}

static void types_flow_through_instructions(void **state)
{
  char buf[64];
  mvm_program *p = vmtest_build(".model main\n.tools t.*\n"
                                "  model.load %m, main\n"
                                "  tools.load %ts, t.*\n"
                                "  hist.new %h\n"
                                "  model.call %r, %m, %h, %ts\n"
                                "  reply.calls %c, %r\n"
                                "  reply.text %s, %r\n"
                                "  mov %copy, %r\n"
                                "  mov %lit, [1]\n"
                                "  len %n, %c\n"
                                "  halt %s\n");

  assert_string_equal(written(p, 0, buf), "model");
  assert_string_equal(written(p, 1, buf), "toolset");
  assert_string_equal(written(p, 2, buf), "history");
  assert_string_equal(written(p, 3, buf), "reply");
  assert_string_equal(written(p, 4, buf), "calls");
  assert_string_equal(written(p, 5, buf), "str");
  assert_string_equal(written(p, 6, buf), "reply");
  assert_string_equal(written(p, 7, buf), "list");
  assert_string_equal(written(p, 8, buf), "int");
  mvm_program_free(p);
}

static void refinements_are_accepted_as_base(void **state)
{
  /* A reply is a map and calls are a list. */
  mvm_program *p = vmtest_build(".model main\n"
                                "  model.load %m, main\n"
                                "  hist.new %h\n  tools.new %ts\n"
                                "  model.call %r, %m, %h, %ts\n"
                                "  map.get %t, %r, \"text\"\n"
                                "  reply.calls %c, %r\n"
                                "  list.push %c, 1\n"
                                "  halt %t\n");
  char buf[64];
  /* After list.push the register is a plain list. */
  assert_string_equal(written(p, 6, buf), "list");
  mvm_program_free(p);

  expect_error(".model main\n  model.load %m, main\n"
               "  mov %x, {}\n  reply.text %s, %x\n  halt %s\n",
               "'reply.text' operand 'reply' (%x): expected reply, found "
               "map");
}

static void join_at_merge_points(void **state)
{
  char buf[64];
  mvm_program *p = vmtest_build("  mov %c, true\n"
                                "  jt %c, a\n"
                                "  mov %x, 1\n"
                                "  jmp done\n"
                                "a:\n  mov %x, \"one\"\n"
                                "done:\n  mov %y, %x\n"
                                "  halt %y\n");
  assert_string_equal(written(p, 5, buf), "int|str");
  mvm_program_free(p);
}

static void jnull_narrows_both_ways(void **state)
{
  char buf[64];
  mvm_program *p = vmtest_build(".model main\n"
                                "  model.load %m, main\n"
                                "  model.query %q, %m, \"?\", 1, bool\n"
                                "  jnull %q, none\n"
                                "  mov %b, %q\n"
                                "  jt %b, yes\n"
                                "  halt 0\n"
                                "yes:\n  halt 1\n"
                                "none:\n  mov %n, %q\n  halt %n\n");
  assert_string_equal(written(p, 1, buf), "null|bool");
  assert_string_equal(written(p, 3, buf), "bool");
  assert_string_equal(written(p, 7, buf), "null");
  mvm_program_free(p);
}

static void as_narrows_on_success_only(void **state)
{
  char buf[64];
  mvm_program *p = vmtest_build("  json.parse %v, \"3\"\n"
                                "  as %n, %v, int, bad\n"
                                "  add %n, %n, 1\n"
                                "  halt %n\n"
                                "bad:\n  halt %v\n");
  assert_string_equal(written(p, 0, buf), "json");
  assert_string_equal(written(p, 1, buf), "int");
  mvm_program_free(p);

  /* On the failure branch %n was never written. */
  expect_error("  json.parse %v, \"3\"\n  as %n, %v, int, bad\n"
               "  halt %n\nbad:\n  halt %n\n",
               "test.mvs:5:8: error: 'halt' reads %n, which holds no value "
               "here on any path");
}

static void loop_reaches_fixpoint(void **state)
{
  char buf[64];
  /* %x is int on the first pass and str after the loop body. */
  mvm_program *p = vmtest_build("  mov %x, 1\n  mov %i, 0\n"
                                "loop:\n  lt %more, %i, 3\n"
                                "  jf %more, out\n"
                                "  mov %x, \"s\"\n"
                                "  add %i, %i, 1\n"
                                "  jmp loop\n"
                                "out:\n  mov %y, %x\n  halt %y\n");
  assert_string_equal(written(p, 7, buf), "int|str");
  mvm_program_free(p);
}

static void subroutine_state_flows_back(void **state)
{
  char buf[64];
  mvm_program *p = vmtest_build("  call init\n"
                                "  mov %y, %x\n"
                                "  halt %y\n"
                                "init:\n  mov %x, \"set\"\n  ret\n");
  assert_string_equal(written(p, 1, buf), "str");
  mvm_program_free(p);

  /* A subroutine called from two places joins both callers' states. */
  expect_error("  mov %x, 1\n  call f\n  mov %x, \"s\"\n  call f\n"
               "  halt %x\nf:\n  add %y, %x, 1\n  ret\n",
               "'add' operand 'a' (%x): expected int, found int|str");
}

static void nested_calls_and_ret_edges(void **state)
{
  mvm_program *p = vmtest_build("  call outer\n  halt %z\n"
                                "outer:\n  call inner\n  mov %z, %w\n"
                                "  ret\n"
                                "inner:\n  mov %w, 2\n  ret\n");
  assert_true(p->verified);
  for (size_t i = 0; i < p->ninsns; i++)
    assert_true(p->reachable[i]);
  mvm_program_free(p);
}

static void unreachable_is_warning_unless_strict(void **state)
{
  const char *src = "  halt 1\n  mov %x, 2\n  halt %x\n";
  int rc = MVM_OK;

  char *text = vmtest_errors(src, false, &rc);
  assert_int_equal(rc, MVM_OK);
  assert_string_equal(text,
                      "test.mvs:2:3: warning: unreachable code: 'mov' and "
                      "the instruction after it never run\n"
                      "      mov %x, 2\n      ^\n");
  free(text);

  text = vmtest_errors(src, true, &rc);
  assert_int_equal(rc, MVM_EVERIFY);
  assert_non_null(strstr(text, "test.mvs:2:3: error: unreachable code"));
  free(text);
}

static void every_rule_has_a_message(void **state)
{
  expect_error("  jmp nowhere\n", "'jmp' jumps to label 'nowhere', which "
                                  "does not exist");
  expect_error("  call sub\n  halt 1\n", "'call' to subroutine 'sub'");
  expect_error("  model.load %m, ghost\n  halt 1\n",
               "model 'ghost' is not declared; add '.model ghost'");
  expect_error(".tools a.*\n  tool.load %t, b.x\n  halt 1\n",
               "tool 'b.x' is not declared");
  expect_error(".tools a.*\n  tools.load %t, a.b*\n  halt 1\n",
               "tool pattern 'a.b*' is not declared");
  expect_error("  mov %x, 1\n", "control falls off the end of the program "
                                "after 'mov'");
  expect_error("  ret\n", "'ret' is reachable from the program entry");
  expect_error("  halt %nope\n", "'halt' reads %nope, which holds no value");
  expect_error("  not %b, 1\n  halt %b\n",
               "'not' operand 'value': expected bool, found int (a literal)");
  expect_error("; only a comment\n", "program has no instructions");
  expect_error("  hist.new %h\n  fmt %s, \"{h}\"\n  halt %s\n",
               "'fmt' placeholder {h} (%h): expected json, found history");
}

static void tool_patterns_match_declarations(void **state)
{
  mvm_program *p = vmtest_build(".tools web.*\n.tool fs.read_file\n"
                                "  tool.load %a, web.fetch\n"
                                "  tool.load %b, fs.read_file\n"
                                "  halt 1\n");
  mvm_program_free(p);

  assert_true(mvm_pattern_match("*", "a.b"));
  assert_true(mvm_pattern_match("a.*", "a.b.c"));
  assert_true(mvm_pattern_match("*.read*", "fs.read_file"));
  assert_false(mvm_pattern_match("a.*", "ab.c"));
  assert_false(mvm_pattern_match("a.b", "a.bc"));
  assert_true(mvm_pattern_match("a**b", "ab"));
}

static void verify_sets_verified_and_vm_requires_it(void **state)
{
  mvm_program *p = NULL;
  mvm_vm *vm = NULL;
  mvm_error err;
  const char *src = "  halt 1\n";

  assert_int_equal(mvm_asm("t", src, strlen(src), NULL, &p, &err), MVM_OK);
  assert_int_equal(mvm_vm_new(p, &vm, &err), MVM_ESTATE);
  assert_null(vm);
  assert_int_equal(mvm_verify(p, NULL, NULL, &err), MVM_OK);
  assert_int_equal(mvm_vm_new(p, &vm, &err), MVM_OK);
  mvm_vm_free(vm);
  mvm_program_free(p);
}

static void taint_report_for_agent(void **state)
{
  mvm_program *p = NULL;
  json_t *report = NULL;
  mvm_error err;

  assert_int_equal(mvm_asm_file(mvm_test_path("lib/agent.mvs"), NULL, &p,
                                &err),
                   MVM_OK);
  assert_int_equal(mvm_verify_taint_report(p, &report, &err), MVM_ESTATE);
  assert_int_equal(mvm_verify(p, NULL, NULL, &err), MVM_OK);
  assert_int_equal(mvm_verify_taint_report(p, &report, &err), MVM_OK);

  /* Dispatch runs tool calls chosen by a model that read tool results. */
  assert_int_equal(json_array_size(report), 1);
  json_t *f = json_array_get(report, 0);
  assert_string_equal(json_string_value(json_object_get(f, "instruction")),
                      "dispatch");
  assert_string_equal(json_string_value(json_object_get(f, "effect")),
                      "tool.call");
  assert_string_equal(json_string_value(json_object_get(f, "register")),
                      "reply");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(f, "source"), "instruction")),
                      "dispatch");
  json_decref(report);
  mvm_program_free(p);
}

static json_t *taint_of(const char *src)
{
  mvm_program *p = vmtest_build(src);
  json_t *report = NULL;
  assert_int_equal(mvm_verify_taint_report(p, &report, NULL), MVM_OK);
  mvm_program_free(p);
  return report;
}

static void taint_through_data_and_branches(void **state)
{
  /* Arguments built from a tool result. */
  json_t *r = taint_of(".tool t.echo\n  tool.load %t, t.echo\n"
                       "  tool.call %r, %t, {\"text\": \"a\"}\n"
                       "  result.text %s, %r\n"
                       "  map.new %args\n  map.set %args, \"text\", %s\n"
                       "  tool.call %r2, %t, %args\n  halt 1\n");
  assert_int_equal(json_array_size(r), 1);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(r, 0), "register")),
                      "args");
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(json_array_get(r, 0), "source"),
                       "line")),
                   3);
  json_decref(r);

  /* A call decided after a branch on a tool result. */
  r = taint_of(".tool t.echo\n  tool.load %t, t.echo\n"
               "  tool.call %r, %t, {\"text\": \"a\"}\n"
               "  result.error %e, %r\n  jt %e, out\n"
               "  tool.call %r2, %t, {\"text\": \"b\"}\n"
               "out:\n  halt 1\n");
  assert_int_equal(json_array_size(r), 1);
  assert_null(json_object_get(json_array_get(r, 0), "register"));
  assert_non_null(strstr(json_string_value(json_object_get(
                              json_array_get(r, 0), "reason")),
                          "after a branch"));
  json_decref(r);

  /* Endorsing removes the taint; trusted literals have none. */
  r = taint_of(".tool t.echo\n  tool.load %t, t.echo\n"
               "  tool.call %r, %t, {\"text\": \"a\"}\n"
               "  result.text %s, %r\n  endorse %s, %s\n"
               "  map.new %args\n  map.set %args, \"text\", %s\n"
               "  tool.call %r2, %t, %args\n  halt 1\n");
  assert_int_equal(json_array_size(r), 0);
  json_decref(r);

  /* Memory may hold untrusted data from an earlier run. */
  r = taint_of(".tool t.echo\n  tool.load %t, t.echo\n"
               "  mem.load %m, \"k\", none\n"
               "  map.new %args\n  map.set %args, \"text\", %m\n"
               "  tool.call %r2, %t, %args\n  halt 1\n"
               "none:\n  halt 0\n");
  assert_int_equal(json_array_size(r), 1);
  json_decref(r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(opcode_table_parses),
      cmocka_unit_test(type_names_round_trip),
      cmocka_unit_test(types_flow_through_instructions),
      cmocka_unit_test(refinements_are_accepted_as_base),
      cmocka_unit_test(join_at_merge_points),
      cmocka_unit_test(jnull_narrows_both_ways),
      cmocka_unit_test(as_narrows_on_success_only),
      cmocka_unit_test(loop_reaches_fixpoint),
      cmocka_unit_test(subroutine_state_flows_back),
      cmocka_unit_test(nested_calls_and_ret_edges),
      cmocka_unit_test(unreachable_is_warning_unless_strict),
      cmocka_unit_test(every_rule_has_a_message),
      cmocka_unit_test(tool_patterns_match_declarations),
      cmocka_unit_test(verify_sets_verified_and_vm_requires_it),
      cmocka_unit_test(taint_report_for_agent),
      cmocka_unit_test(taint_through_data_and_branches),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
