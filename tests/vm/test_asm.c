/* test_asm.c - the assembler: syntax, operand forms, messages, limits,
 * the canonical listing and the program hash. */
#include "vmtest.h"

#include "vm/program.h"

static mvm_program *assemble(const char *src)
{
  mvm_program *p = NULL;
  mvm_error err;
  int rc = mvm_asm("t.mvs", src, strlen(src), NULL, &p, &err);
  if (rc != MVM_OK)
    fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, MVM_OK);
  return p;
}

/* Returns the formatted messages of a program that must not assemble. */
static char *asm_errors(const char *src, size_t len)
{
  mvm_diags *diags = NULL;
  mvm_program *p = NULL;
  mvm_error err;

  assert_int_equal(mvm_diags_new(&diags), MVM_OK);
  assert_int_equal(mvm_asm("t.mvs", src, len, diags, &p, &err),
                   MVM_ESYNTAX);
  assert_null(p);
  assert_int_equal(err.code, MVM_ESYNTAX);
  char *text = mvm_diags_format(diags);
  mvm_diags_free(diags);
  return text;
}

static void directives_and_registers(void **state)
{
  mvm_program *p = assemble(".model main\n"
                            ".tool std.echo\n"
                            ".tools web.*\n"
                            ".input %task str\n"
                            "  mov %x, %task   ; copy\n"
                            "  halt %x # done\n");

  assert_int_equal(p->models.len, 1);
  assert_string_equal(p->models.items[0].name, "main");
  assert_int_equal(p->tools.len, 1);
  assert_string_equal(p->tools.items[0].name, "std.echo");
  assert_int_equal(p->patterns.len, 1);
  assert_string_equal(p->patterns.items[0].name, "web.*");
  assert_int_equal(p->input_reg, 0);
  assert_string_equal(p->regs[0], "task");
  assert_int_equal(p->ninsns, 2);
  assert_int_equal(p->nregs, 2);
  assert_int_equal(p->insns[1].line, 6);
  mvm_program_free(p);
}

static void literals_of_every_json_type(void **state)
{
  mvm_program *p = assemble(
      "  mov %a, null\n  mov %b, true\n  mov %c, -12\n  mov %d, 2.5\n"
      "  mov %e, \"s \\\"q\\\" \\u00e9 ; not a comment\"\n"
      "  mov %f, [1, [2, \"]\"], {\"k\": \"}\"}]\n"
      "  mov %g, {\"x\": {\"y\": [true]}}\n  halt %a\n");

  assert_true(json_is_null(p->insns[0].opnd[1].value));
  assert_true(json_is_true(p->insns[1].opnd[1].value));
  assert_int_equal(json_integer_value(p->insns[2].opnd[1].value), -12);
  assert_true(json_is_real(p->insns[3].opnd[1].value));
  assert_string_equal(json_string_value(p->insns[4].opnd[1].value),
                      "s \"q\" \xc3\xa9 ; not a comment");
  assert_int_equal(json_array_size(p->insns[5].opnd[1].value), 3);
  assert_true(json_is_object(p->insns[6].opnd[1].value));
  mvm_program_free(p);
}

static void labels_mark_next_instruction(void **state)
{
  mvm_program *p = assemble("start:\n  mov %x, 1\nmid: mov %y, 2\n"
                            "\nend:\n\n  halt %x\n");

  assert_int_equal(p->labels.len, 3);
  assert_int_equal(p->labels.items[0].index, 0);
  assert_int_equal(p->labels.items[1].index, 1);
  assert_int_equal(p->labels.items[2].index, 2);
  mvm_program_free(p);
}

static void path_and_format_parts(void **state)
{
  mvm_program *p = assemble("  mov %doc, {}\n"
                            "  get %v, %doc, \"a.b[12].c\"\n"
                            "  get %w, %doc, \"[\\\"x\\\"][0]\"\n"
                            "  fmt %s, \"{{x}} {doc}-{v}!\"\n"
                            "  halt %s\n");
  const json_t *path = p->insns[1].opnd[2].parts;
  const json_t *path2 = p->insns[2].opnd[2].parts;
  const json_t *fmt = p->insns[3].opnd[1].parts;

  assert_int_equal(json_array_size(path), 4);
  assert_string_equal(json_string_value(json_array_get(path, 0)), "a");
  assert_string_equal(json_string_value(json_array_get(path, 1)), "b");
  assert_int_equal(json_integer_value(json_array_get(path, 2)), 12);
  assert_string_equal(json_string_value(json_array_get(path, 3)), "c");
  assert_int_equal(json_array_size(path2), 2);
  assert_string_equal(json_string_value(json_array_get(path2, 0)), "x");

  /* "{x} ", %doc, "-", %v, "!" */
  assert_int_equal(json_array_size(fmt), 5);
  assert_string_equal(json_string_value(json_array_get(fmt, 0)), "{x} ");
  assert_int_equal(json_integer_value(json_array_get(fmt, 1)), 0);
  assert_string_equal(json_string_value(json_array_get(fmt, 2)), "-");
  assert_int_equal(json_integer_value(json_array_get(fmt, 3)), 1);
  mvm_program_free(p);
}

static void optional_failure_label(void **state)
{
  mvm_program *p = assemble("  json.parse %v, \"1\"\n"
                            "  json.parse %w, \"2\", bad\n"
                            "  halt %v\nbad:\n  halt null\n");

  assert_int_equal(p->insns[0].nopnd, 2);
  assert_int_equal(p->insns[1].nopnd, 3);
  assert_string_equal(p->insns[1].opnd[2].text, "bad");
  mvm_program_free(p);
}

static void query_types(void **state)
{
  mvm_program *p = assemble(
      ".model m\n  model.load %m, m\n"
      "  model.query %a, %m, \"q\", 1, bool\n"
      "  model.query %b, %m, \"q\", 1, int\n"
      "  model.query %c, %m, \"q\", 1, enum [\"x\", \"y\"]\n"
      "  model.query %d, %m, \"q\", 1, schema {\"type\": \"object\"}\n"
      "  halt %a\n");

  assert_string_equal(p->insns[1].opnd[4].text, "bool");
  assert_string_equal(p->insns[3].opnd[4].text, "enum");
  assert_int_equal(json_array_size(p->insns[3].opnd[4].value), 2);
  assert_string_equal(p->insns[4].opnd[4].text, "schema");
  assert_true(json_is_object(p->insns[4].opnd[4].value));
  mvm_program_free(p);
}

static void error_has_position_and_caret(void **state)
{
  const char *src = "  mov %x, 1\n  frobnicate %x\n  halt %x\n";
  char *text = asm_errors(src, strlen(src));

  assert_string_equal(text,
                      "t.mvs:2:3: error: unknown instruction 'frobnicate'; "
                      "docs/isa.md lists the instruction set\n"
                      "      frobnicate %x\n"
                      "      ^\n");
  free(text);
}

static void all_errors_are_reported(void **state)
{
  const char *src = "  bogus\n  mov %x\n  mov 1, 2\n  halt %x\n";
  char *text = asm_errors(src, strlen(src));

  assert_non_null(strstr(text, "t.mvs:1:3: error: unknown instruction"));
  assert_non_null(strstr(text, "t.mvs:2:9: error: 'mov' takes 2 operands"));
  assert_non_null(strstr(text, "t.mvs:3:7: error: expected a register"));
  free(text);
}

static void stops_after_fifty_errors(void **state)
{
  char src[2048];
  size_t n = 0;
  for (int i = 0; i < 60; i++)
    n += (size_t)snprintf(src + n, sizeof src - n, "  bogus%d\n", i);

  char *text = asm_errors(src, n);
  assert_non_null(strstr(text, "t.mvs:50:3: error: unknown instruction "
                               "'bogus49'"));
  assert_null(strstr(text, "'bogus50'"));
  assert_non_null(strstr(text, "t.mvs: error: stopped after 50 errors"));
  free(text);
}

static void caret_keeps_tabs(void **state)
{
  const char *src = "\tmov\t%x, nope\n\thalt %x\n";
  char *text = asm_errors(src, strlen(src));

  assert_non_null(strstr(text, "    \tmov\t%x, nope\n    \t   \t    ^\n"));
  free(text);
}

static void crlf_line_ends(void **state)
{
  mvm_program *p = assemble("  mov %x, 1\r\n  halt %x\r\n");
  assert_int_equal(p->ninsns, 2);
  mvm_program_free(p);
}

static void source_size_limit(void **state)
{
  size_t len = MVM_ASM_MAX_SOURCE_BYTES + 1;
  char *src = malloc(len);
  assert_non_null(src);
  memset(src, '\n', len);

  char *text = asm_errors(src, len);
  assert_non_null(strstr(text, "over the limit of 1048576 bytes"));
  free(text);
  free(src);
}

static void register_limit(void **state)
{
  size_t cap = (MVM_ASM_MAX_REGISTERS + 2) * 24;
  char *src = malloc(cap);
  size_t n = 0;
  assert_non_null(src);
  for (int i = 0; i <= MVM_ASM_MAX_REGISTERS; i++)
    n += (size_t)snprintf(src + n, cap - n, "  mov %%r%d, 1\n", i);

  char *text = asm_errors(src, n);
  assert_non_null(strstr(text, "t.mvs:1025:7: error: too many registers: "
                               "the limit is 1024"));
  free(text);
  free(src);
}

static void instruction_limit(void **state)
{
  size_t count = MVM_ASM_MAX_INSNS + 1;
  char *src = malloc(count * 8 + 1);
  assert_non_null(src);
  for (size_t i = 0; i < count; i++)
    memcpy(src + i * 8, "  jmp a\n", 8);

  char *text = asm_errors(src, count * 8);
  assert_non_null(strstr(text, "too many instructions: the limit is 65536"));
  free(text);
  free(src);
}

static void declaration_limit(void **state)
{
  size_t cap = (MVM_ASM_MAX_DECLS + 2) * 24;
  char *src = malloc(cap);
  size_t n = 0;
  assert_non_null(src);
  for (int i = 0; i <= MVM_ASM_MAX_DECLS; i++)
    n += (size_t)snprintf(src + n, cap - n, ".model m%d\n", i);

  char *text = asm_errors(src, n);
  assert_non_null(strstr(text, "too many model declarations: the limit is "
                               "256"));
  free(text);
  free(src);
}

static void name_length_limit(void **state)
{
  char src[512];
  char name[MVM_ASM_MAX_NAME + 2];
  memset(name, 'm', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  snprintf(src, sizeof src, ".model %s\n  halt 1\n", name);

  char *text = asm_errors(src, strlen(src));
  assert_non_null(strstr(text, "model name is longer than 128 characters"));
  free(text);
}

static void literal_depth_limit(void **state)
{
  char src[256] = "  mov %x, ";
  size_t n = strlen(src);
  for (int i = 0; i < 40; i++)
    src[n++] = '[';
  for (int i = 0; i < 40; i++)
    src[n++] = ']';
  memcpy(src + n, "\n  halt %x\n", 12);

  char *text = asm_errors(src, strlen(src));
  assert_non_null(strstr(text, "nests deeper than 32 levels"));
  free(text);
}

static void listing_assembles_back(void **state)
{
  const char *src = ".model main\n.tools std.*\n.input %task str\n"
                    "start: mov %x, {\"b\": 1, \"a\": [true, null]}\n"
                    "  get %y, %x, \"a[0]\", bad\n"
                    "  fmt %s, \"{{lit}} {task}\"\n"
                    "  hist.new %h\n  hist.add %h, user, %s\n"
                    "  hist.trim %h, 10\n"
                    "  model.load %m, main\n"
                    "  model.query %q, %m, \"?\", %s, enum [\"a\", \"b\"]\n"
                    "  jmp start\nbad:\n  halt %y\n";
  mvm_program *p = assemble(src);
  char *listing = mvm_disasm(p, 0);
  assert_non_null(listing);

  mvm_program *q = assemble(listing);
  char *again = mvm_disasm(q, 0);
  assert_string_equal(listing, again);
  assert_string_equal(mvm_program_hash(p), mvm_program_hash(q));
  free(again);
  free(listing);
  mvm_program_free(q);
  mvm_program_free(p);
}

static void hash_ignores_layout_not_code(void **state)
{
  mvm_program *a = assemble("  mov %x, 1\n  halt %x\n");
  mvm_program *b = assemble("; a comment\n\n   mov   %x,1   # trailing\n"
                            "\thalt %x\n");
  mvm_program *c = assemble("  mov %x, 2\n  halt %x\n");

  assert_int_equal(strlen(mvm_program_hash(a)), strlen("sha256:") + 64);
  assert_string_equal(mvm_program_hash(a), mvm_program_hash(b));
  assert_string_not_equal(mvm_program_hash(a), mvm_program_hash(c));
  mvm_program_free(a);
  mvm_program_free(b);
  mvm_program_free(c);
}

static void encoded_form(void **state)
{
  mvm_program *p = assemble("loop:\n  mov %x, 1\n  jmp loop\n");
  json_t *json = NULL;

  assert_int_equal(mvm_program_to_json(p, &json, NULL), MVM_OK);
  json_t *code = json_object_get(json, "code");
  assert_int_equal(json_array_size(code), 2);
  json_t *jmp = json_array_get(code, 1);
  assert_string_equal(json_string_value(json_object_get(jmp, "mnemonic")),
                      "jmp");
  json_t *op = json_array_get(json_object_get(jmp, "operands"), 0);
  assert_string_equal(json_string_value(json_object_get(op, "label")),
                      "loop");
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(json, "labels"), "loop")),
                   0);
  json_decref(json);
  mvm_program_free(p);
}

static void file_not_found(void **state)
{
  mvm_program *p = NULL;
  mvm_error err;
  assert_int_equal(mvm_asm_file("/nonexistent/x.mvs", NULL, &p, &err),
                   MVM_ENOTFOUND);
  assert_null(p);
  assert_non_null(strstr(err.msg, "/nonexistent/x.mvs"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(directives_and_registers),
      cmocka_unit_test(literals_of_every_json_type),
      cmocka_unit_test(labels_mark_next_instruction),
      cmocka_unit_test(path_and_format_parts),
      cmocka_unit_test(optional_failure_label),
      cmocka_unit_test(query_types),
      cmocka_unit_test(error_has_position_and_caret),
      cmocka_unit_test(all_errors_are_reported),
      cmocka_unit_test(stops_after_fifty_errors),
      cmocka_unit_test(caret_keeps_tabs),
      cmocka_unit_test(crlf_line_ends),
      cmocka_unit_test(source_size_limit),
      cmocka_unit_test(register_limit),
      cmocka_unit_test(instruction_limit),
      cmocka_unit_test(declaration_limit),
      cmocka_unit_test(name_length_limit),
      cmocka_unit_test(literal_depth_limit),
      cmocka_unit_test(listing_assembles_back),
      cmocka_unit_test(hash_ignores_layout_not_code),
      cmocka_unit_test(encoded_form),
      cmocka_unit_test(file_not_found),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
