/* test_isa_doc.c - the committed docs/isa.md is the text generated from
 * the opcode list, and it documents every instruction. */
#include "vmtest.h"

#include "vm/types.h"

static char *read_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  char *text = malloc((size_t)n + 1);
  assert_non_null(text);
  assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
  text[n] = '\0';
  fclose(f);
  return text;
}

static void committed_doc_is_current(void **state)
{
  char *committed = read_file(mvm_test_path("docs/isa.md"));
  char *generated = mvm_isa_markdown();

  assert_non_null(generated);
  if (strcmp(committed, generated) != 0)
    fprintf(stderr, "docs/isa.md is out of date; regenerate it with "
                    "`mvm disasm --isa > docs/isa.md`\n");
  assert_string_equal(committed, generated);
  free(generated);
  free(committed);
}

static void doc_lists_every_instruction(void **state)
{
  char *doc = mvm_isa_markdown();
  char needle[64];

  assert_non_null(strstr(doc, "generated, do not edit; regenerate with"));
  for (int op = 0; op < MVM_OP_COUNT; op++) {
    snprintf(needle, sizeof needle, "| `%s", mvm_op_info_get(op)->mnemonic);
    assert_non_null(strstr(doc, needle));
  }
  for (int g = 0; g < MVM_GROUP_COUNT; g++) {
    snprintf(needle, sizeof needle, "## %s\n", mvm_op_group_name(g));
    assert_non_null(strstr(doc, needle));
  }
  free(doc);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(committed_doc_is_current),
      cmocka_unit_test(doc_lists_every_instruction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
