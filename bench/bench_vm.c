/* bench_vm.c - speed of the assembler, the verifier and the interpreter.
 *
 * Usage: bench_vm [STEPS [RUNS]]
 *   STEPS  instructions of the data loop (default 3000000)
 *   RUNS   runs of the agent loop with a fake model and tools (default
 *          2000)
 * Prints one line per measurement. Run from the source tree so that
 * lib/agent.mvs is found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mvm.h"
#include "vmfake.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  char *text = malloc(1 << 20);
  *len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
  fclose(f);
  if (text != NULL)
    text[*len] = '\0';
  return text;
}

static mvm_program *build(const char *name, const char *text, size_t len)
{
  mvm_program *p = NULL;
  mvm_error err;
  if (mvm_asm(name, text, len, NULL, &p, &err) != MVM_OK ||
      mvm_verify(p, NULL, NULL, &err) != MVM_OK) {
    fprintf(stderr, "bench_vm: %s\n", err.msg);
    exit(1);
  }
  return p;
}

/* Assembles and verifies lib/agent.mvs many times. */
static void bench_compile(const char *agent, size_t len)
{
  const int rounds = 2000;
  double t0 = now();
  for (int i = 0; i < rounds; i++)
    mvm_program_free(build("agent.mvs", agent, len));
  double dt = now() - t0;
  printf("assemble+verify lib/agent.mvs: %.1f us per program (%d rounds)\n",
         dt / rounds * 1e6, rounds);
}

/* A loop of add, lt and jt: three instructions per iteration. */
static void bench_loop(long steps)
{
  char src[256];
  snprintf(src, sizeof src,
           "  mov %%i, 0\nloop:\n  add %%i, %%i, 1\n"
           "  lt %%more, %%i, %ld\n  jt %%more, loop\n  halt %%i\n",
           steps / 3);
  mvm_program *p = build("loop.mvs", src, strlen(src));
  mvm_vm *vm = NULL;
  mvm_error err;
  mvm_vm_limits limits = {.max_steps = (uint64_t)steps + 10};

  mvm_vm_new(p, &vm, &err);
  mvm_vm_set_limits(vm, &limits);
  double t0 = now();
  int rc = mvm_vm_run(vm, NULL, NULL, NULL, NULL, &err);
  double dt = now() - t0;
  if (rc) {
    fprintf(stderr, "bench_vm: %s\n", err.msg);
    exit(1);
  }
  printf("data loop: %.1f million instructions/s (%llu instructions in "
         "%.3f s)\n",
         (double)mvm_vm_steps(vm) / dt / 1e6,
         (unsigned long long)mvm_vm_steps(vm), dt);
  mvm_vm_free(vm);
  mvm_program_free(p);
}

/* The standard agent: one tool call, then an answer, with fakes. */
static void bench_agent(const char *agent, size_t len, int runs)
{
  static const char replies[] =
      "[{\"text\": \"x\", \"tool_calls\": [{\"id\": \"c1\", \"name\": "
      "\"t__echo\", \"arguments\": {\"text\": \"ping\"}}]},"
      " {\"text\": \"done\"}]";
  mvm_program *p = build("agent.mvs", agent, len);
  vmfake_model model;
  vmfake_tools tools;
  mvm_error err;
  uint64_t steps = 0;

  vmfake_tools_init(&tools, "t");
  double t0 = now();
  for (int i = 0; i < runs; i++) {
    mvm_vm *vm = NULL;
    vmfake_model_init(&model, replies);
    mvm_model m = vmfake_model_adapter(&model);
    mvm_toolbox box = vmfake_tools_adapter(&tools);
    json_t *input = json_string("task");

    mvm_vm_new(p, &vm, &err);
    mvm_vm_bind_model(vm, "main", &m, &err);
    mvm_vm_add_toolbox(vm, &box, &err);
    if (mvm_vm_run(vm, input, NULL, NULL, NULL, &err) != MVM_OK) {
      fprintf(stderr, "bench_vm: %s\n", err.msg);
      exit(1);
    }
    steps += mvm_vm_steps(vm);
    json_decref(input);
    mvm_vm_free(vm);
    vmfake_model_free(&model);
    json_array_clear(tools.calls);
  }
  double dt = now() - t0;
  printf("agent run (2 model calls, 1 tool call, fakes): %.1f us per run, "
         "%.0f instructions per run (%d runs)\n",
         dt / runs * 1e6, (double)steps / runs, runs);
  vmfake_tools_free(&tools);
  mvm_program_free(p);
}

int main(int argc, char **argv)
{
  long steps = argc > 1 ? atol(argv[1]) : 3000000;
  int runs = argc > 2 ? atoi(argv[2]) : 2000;
  size_t len = 0;
  char *agent = read_file("lib/agent.mvs", &len);

  if (agent == NULL || steps < 3 || runs < 1) {
    fprintf(stderr, "usage: bench_vm [STEPS [RUNS]], run from the source "
                    "tree\n");
    return 2;
  }
  bench_compile(agent, len);
  bench_loop(steps);
  bench_agent(agent, len, runs);
  free(agent);
  return 0;
}
