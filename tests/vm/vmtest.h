/* vmtest.h - helpers shared by the VM tests: assemble and verify a
 * program from text, and run it with fake adapters. */
#ifndef MVM_TEST_VMTEST_H
#define MVM_TEST_VMTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mvm.h"
#include "support.h"
#include "vmfake.h"

/* Assembles and verifies src; fails the test with the diagnostics when
 * either step fails. */
static inline mvm_program *vmtest_build(const char *src)
{
  mvm_diags *diags = NULL;
  mvm_program *p = NULL;
  mvm_error err;
  int rc;

  assert_int_equal(mvm_diags_new(&diags), MVM_OK);
  rc = mvm_asm("test.mvs", src, strlen(src), diags, &p, &err);
  if (rc == MVM_OK)
    rc = mvm_verify(p, NULL, diags, &err);
  if (rc != MVM_OK) {
    char *text = mvm_diags_format(diags);
    fprintf(stderr, "%s", text ? text : err.msg);
    free(text);
  }
  mvm_diags_free(diags);
  assert_int_equal(rc, MVM_OK);
  return p;
}

/* Assembles and verifies src expecting failure; returns the formatted
 * diagnostics (malloc'd) and the status in *rc. */
static inline char *vmtest_errors(const char *src, bool strict, int *rc)
{
  mvm_diags *diags = NULL;
  mvm_program *p = NULL;
  mvm_verify_opts opts = {strict};
  mvm_error err;

  assert_int_equal(mvm_diags_new(&diags), MVM_OK);
  *rc = mvm_asm("test.mvs", src, strlen(src), diags, &p, &err);
  if (*rc == MVM_OK)
    *rc = mvm_verify(p, &opts, diags, &err);
  char *text = mvm_diags_format(diags);
  mvm_diags_free(diags);
  mvm_program_free(p);
  assert_non_null(text);
  return text;
}

/* Fake adapters for one run, all bound by vmtest_vm. */
typedef struct vmtest_env {
  vmfake_model model;
  vmfake_tools tools;
  vmfake_monitor monitor;
  vmfake_user user;
  vmfake_memory memory;
  bool use_monitor; /* false: the VM's default recording monitor */
  bool use_user;
  bool use_memory;
} vmtest_env;

static inline void vmtest_env_init(vmtest_env *env, const char *replies)
{
  memset(env, 0, sizeof *env);
  vmfake_model_init(&env->model, replies ? replies : "[]");
  vmfake_tools_init(&env->tools, "t");
  vmfake_monitor_init(&env->monitor);
  vmfake_user_init(&env->user, "an answer", 1);
  vmfake_memory_init(&env->memory);
}

static inline void vmtest_env_free(vmtest_env *env)
{
  vmfake_model_free(&env->model);
  vmfake_tools_free(&env->tools);
  vmfake_monitor_free(&env->monitor);
  vmfake_user_free(&env->user);
  vmfake_memory_free(&env->memory);
}

/* Creates a VM for p with the env's adapters; binds model "main" when the
 * program declares it. */
static inline mvm_vm *vmtest_vm(const mvm_program *p, vmtest_env *env)
{
  mvm_vm *vm = NULL;
  mvm_error err;
  mvm_model model = vmfake_model_adapter(&env->model);
  mvm_toolbox box = vmfake_tools_adapter(&env->tools);
  mvm_monitor mon = vmfake_monitor_adapter(&env->monitor);
  mvm_user user = vmfake_user_adapter(&env->user);
  mvm_memory mem = vmfake_memory_adapter(&env->memory);

  assert_int_equal(mvm_vm_new(p, &vm, &err), MVM_OK);
  (void)mvm_vm_bind_model(vm, "main", &model, &err);
  assert_int_equal(mvm_vm_add_toolbox(vm, &box, &err), MVM_OK);
  if (env->use_monitor)
    mvm_vm_set_monitor(vm, &mon);
  if (env->use_user)
    mvm_vm_set_user(vm, &user);
  if (env->use_memory)
    mvm_vm_set_memory(vm, &mem);
  return vm;
}

/* Runs src with input text (may be NULL); returns the status and, on
 * success, the result and its label. */
static inline int vmtest_run(const char *src, vmtest_env *env,
                             const char *input, json_t **result,
                             mvm_label **label, mvm_error *err)
{
  mvm_program *p = vmtest_build(src);
  mvm_vm *vm = vmtest_vm(p, env);
  json_t *in = input ? json_string(input) : NULL;

  int rc = mvm_vm_run(vm, in, NULL, result, label, err);
  json_decref(in);
  mvm_vm_free(vm);
  mvm_program_free(p);
  return rc;
}

/* True when label has integrity source `source`. */
static inline bool vmtest_has_source(const mvm_label *label,
                                     const char *source)
{
  for (size_t i = 0; i < mvm_label_source_count(label); i++) {
    if (strcmp(mvm_label_source(label, i), source) == 0)
      return true;
  }
  return false;
}

#endif
