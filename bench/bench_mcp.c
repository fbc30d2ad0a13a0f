/* bench_mcp.c - the round trip of one tools/call through mvm's MCP client
 * over stdio, against the echo tool of @modelcontextprotocol/
 * server-everything.
 *
 * Usage: bench_mcp [CALLS [WARMUP]] (defaults 1000 and 100). Starts the
 * server with `node` from PATH, makes WARMUP calls, then times CALLS calls
 * one after another and prints the median, p99, mean and minimum in
 * microseconds, and the time from spawning the server to the end of
 * initialize.
 * bench/mcp_roundtrip.sh runs it beside the TypeScript SDK's client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp_support.h"
#include "mvm.h"
#include "tools/mcp_client.h"

static double now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b)
{
  double x = *(const double *)a;
  double y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Returns the value at fraction q of a sorted array, nearest rank. */
static double quantile(const double *sorted, int n, double q)
{
  int i = (int)(q * n + 0.5) - 1;
  if (i < 0)
    i = 0;
  if (i >= n)
    i = n - 1;
  return sorted[i];
}

static int echo_once(mvm_mcp_client *c, const json_t *args, mvm_error *err)
{
  json_t *result = NULL;
  int rc = mvm_mcp_client_call_tool(c, "echo", args, NULL, &result, err);

  if (rc == MVM_OK && json_is_true(json_object_get(result, "isError")))
    rc = mvm_error_set(err, MVM_ETOOL, "bench", "echo returned isError");
  json_decref(result);
  return rc;
}

int main(int argc, char **argv)
{
  int calls = argc > 1 ? atoi(argv[1]) : 1000;
  int warmup = argc > 2 ? atoi(argv[2]) : 100;
  json_t *args = json_pack("{s:s}", "message", "hello from the benchmark");
  mvm_mcp_client *c = NULL;
  mvm_error err = {0};
  double *us;
  double start;
  double total = 0;
  int rc;

  if (calls < 1 || warmup < 0) {
    fprintf(stderr, "usage: bench_mcp [CALLS [WARMUP]]\n");
    return 2;
  }
  us = calloc((size_t)calls, sizeof *us);
  if (us == NULL || args == NULL)
    return 1;

  start = now_us();
  rc = mcp_test_open_everything(NULL, &c, &err);
  if (rc) {
    fprintf(stderr, "bench_mcp: %s\n", err.msg);
    return 1;
  }
  printf("mvm C client: spawn + initialize %.1f ms\n",
         (now_us() - start) / 1e3);

  for (int i = 0; i < warmup && rc == MVM_OK; i++)
    rc = echo_once(c, args, &err);
  for (int i = 0; i < calls && rc == MVM_OK; i++) {
    double t0 = now_us();
    rc = echo_once(c, args, &err);
    us[i] = now_us() - t0;
    total += us[i];
  }
  mvm_mcp_client_close(c);
  json_decref(args);
  if (rc) {
    fprintf(stderr, "bench_mcp: %s\n", err.msg);
    free(us);
    return 1;
  }

  qsort(us, (size_t)calls, sizeof *us, compare_double);
  printf("mvm C client: %d echo calls after %d warm-up: median %.0f us, "
         "p99 %.0f us, mean %.0f us, min %.0f us\n",
         calls, warmup, quantile(us, calls, 0.5), quantile(us, calls, 0.99),
         total / calls, us[0]);
  free(us);
  return 0;
}
