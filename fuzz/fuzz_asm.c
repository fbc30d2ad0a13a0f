/* fuzz_asm.c - the assembler and verifier on arbitrary bytes, and a short
 * run of every program that verifies.
 *
 * Besides crashes and sanitizer reports, it checks two properties: the
 * canonical listing of any program that assembles assembles back to the
 * same listing, and a verified program never trips an interpreter
 * assertion (the interpreter asserts what the verifier proved). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mvm.h"
#include "tools/builtin_pure.h"

/* A model that always replies with text "true" and one call of
 * std.echo, so runs reach dispatch and the quarantined query parser. */
static int fake_identity(void *self, json_t **out, mvm_error *err)
{
  *out = json_pack("{s:s}", "provider", "fuzz");
  return *out ? MVM_OK : MVM_ENOMEM;
}

static int fake_call(void *self, const json_t *request,
                     const mvm_model_stream *stream, json_t **reply,
                     mvm_error *err)
{
  *reply = json_pack("{s:s,s:[{s:s,s:s,s:{s:s}}]}", "text", "true",
                     "tool_calls", "id", "c1", "name", "std__echo",
                     "arguments", "text", "x");
  return *reply ? MVM_OK : MVM_ENOMEM;
}

static void fake_close(void *self)
{
}

static const mvm_model_ops fake_ops = {"fuzz", fake_identity, fake_call,
                                       fake_close};

/* Runs a verified program for a few hundred steps with every model bound
 * to the fake and the "std" tools. */
static void run_briefly(const mvm_program *p, const json_t *manifest)
{
  mvm_vm *vm = NULL;
  mvm_model model = {&fake_ops, NULL};
  mvm_toolbox std;
  mvm_vm_limits limits = {.max_steps = 300, .max_history = 50,
                          .max_value_bytes = 65536};
  json_t *input = json_string("fuzz");
  size_t i;
  json_t *name;

  if (mvm_vm_new(p, &vm, NULL) != MVM_OK)
    abort();
  json_array_foreach(json_object_get(manifest, "models"), i, name)
    mvm_vm_bind_model(vm, json_string_value(name), &model, NULL);
  mvm_builtin_pure_new(&std, NULL);
  mvm_vm_add_toolbox(vm, &std, NULL);
  mvm_vm_set_limits(vm, &limits);
  mvm_vm_run(vm, input, NULL, NULL, NULL, NULL);
  json_decref(input);
  mvm_vm_free(vm);
}

static void check_round_trip(const mvm_program *p)
{
  char *listing = mvm_disasm(p, 0);
  mvm_program *again = NULL;

  if (listing == NULL)
    return;
  if (mvm_asm("listing", listing, strlen(listing), NULL, &again, NULL) !=
      MVM_OK) {
    fprintf(stderr, "the listing does not assemble:\n%s", listing);
    abort();
  }
  char *second = mvm_disasm(again, 0);
  if (second != NULL && strcmp(listing, second) != 0) {
    fprintf(stderr, "the listing changed:\n%s\n---\n%s", listing, second);
    abort();
  }
  free(second);
  mvm_program_free(again);
  free(listing);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  mvm_diags *diags = NULL;
  mvm_program *p = NULL;
  mvm_verify_opts opts = {size % 2 == 0};

  if (mvm_diags_new(&diags) != MVM_OK)
    return 0;
  if (mvm_asm("fuzz.mvs", (const char *)data, size, diags, &p, NULL) ==
      MVM_OK) {
    check_round_trip(p);
    if (mvm_verify(p, &opts, diags, NULL) == MVM_OK) {
      json_t *taint = NULL;
      json_t *manifest = NULL;
      char *listing = mvm_disasm(p, MVM_DISASM_COMMENTS);
      mvm_verify_taint_report(p, &taint, NULL);
      if (mvm_program_manifest(p, &manifest, NULL) == MVM_OK)
        run_briefly(p, manifest);
      free(listing);
      json_decref(taint);
      json_decref(manifest);
    }
  }
  char *text = mvm_diags_format(diags);
  free(text);
  mvm_program_free(p);
  mvm_diags_free(diags);
  return 0;
}
