/* bench_monitor.c - latency of one policy decision as the policy grows.
 *
 * Usage: bench_monitor [DECISIONS]
 *   DECISIONS  timed decisions per policy size (default 200000)
 * For policies of 10, 100 and 1,000 rules it prints the median and the
 * 99th percentile of one check() of a tool call. Each generated policy
 * has one allow rule with three argument checks (a range, a type and an
 * anchored PCRE2 pattern) per tool, an unconditional deny for every tenth
 * tool, a pattern rule per server, and a tool declaration per server. The
 * calls go round-robin to every tool, with a label on the context, so
 * each decision runs the index lookup, the rule checks, the flow check
 * and the consequential-call check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "monitor/policy.h"

#define TOOLS_PER_SERVER 10

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
  double x = *(const double *)a;
  double y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Writes a policy with `rules` allow rules (plus denies, patterns and
 * declarations) into buf. */
static void make_policy(mvm_buf *buf, size_t rules)
{
  size_t servers = (rules + TOOLS_PER_SERVER - 1) / TOOLS_PER_SERVER;

  mvm_buf_printf(buf, "version 1\npin off\n");
  for (size_t i = 0; i < rules; i++) {
    mvm_buf_printf(buf,
                   "allow tool \"srv%zu.tool%zu\" {\n"
                   "  arg amount required type number min 0 max 1000\n"
                   "  arg name pattern '[a-z]{1,16}'\n"
                   "  arg * forbidden\n"
                   "}\n",
                   i / TOOLS_PER_SERVER, i);
    if (i % 10 == 9)
      mvm_buf_printf(buf, "deny tool \"srv%zu.tool%zu\"\n",
                     i / TOOLS_PER_SERVER, i);
  }
  for (size_t s = 0; s < servers; s++) {
    mvm_buf_printf(buf, "ask tool \"srv%zu.*\" {\n  arg amount min 900\n}\n",
                   s);
    mvm_buf_printf(buf, "tool \"srv%zu.*\" consequential {\n"
                        "  trusted-args amount\n  sink readers \"bank\"\n"
                        "}\n", s);
  }
}

static void bench(size_t rules, size_t decisions)
{
  mvm_buf text;
  mvm_policy *policy = NULL;
  mvm_monitor mon;
  mvm_error err;
  mvm_decision d;
  double *times = malloc(decisions * sizeof *times);
  char (*names)[48] = malloc(rules * sizeof *names);
  size_t allowed = 0;

  mvm_buf_init(&text, 0);
  make_policy(&text, rules);
  if (times == NULL || names == NULL ||
      mvm_policy_parse(text.data, text.len, "bench.policy", &policy,
                       &err) != MVM_OK ||
      mvm_policy_monitor_new(policy, NULL, &mon, &err) != MVM_OK) {
    fprintf(stderr, "bench_monitor: %s\n", err.msg);
    exit(1);
  }
  for (size_t i = 0; i < rules; i++)
    snprintf(names[i], sizeof names[i], "srv%zu.tool%zu",
             i / TOOLS_PER_SERVER, i);

  const char *src[] = {"web"};
  const char *readers[] = {"bank", "user"};
  mvm_label *context = NULL;
  mvm_label *args_label = NULL;
  mvm_label_new(src, 1, NULL, 0, &context);
  mvm_label_new(NULL, 0, readers, 2, &args_label);
  json_t *args = json_pack("{s:i,s:s}", "amount", 250, "name", "alice");
  mvm_arg_label arg_labels[] = {{"amount", NULL}, {"name", context}};

  for (size_t i = 0; i < decisions; i++) {
    mvm_effect e = {.kind = MVM_EFFECT_TOOL_CALL,
                    .target = names[i % rules],
                    .args = args,
                    .args_label = args_label,
                    .arg_labels = arg_labels,
                    .narg_labels = 2,
                    .context_label = context};
    double t0 = now_ns();
    mon.ops->check(mon.self, &e, &d, &err);
    times[i] = now_ns() - t0;
    allowed += d.verdict == MVM_VERDICT_ALLOW;
  }
  qsort(times, decisions, sizeof *times, by_value);
  printf("%5zu rules (%zu bytes of policy): median %.2f us, p99 %.2f us "
         "(%zu of %zu allowed)\n",
         rules, text.len, times[decisions / 2] / 1000.0,
         times[decisions * 99 / 100] / 1000.0, allowed, decisions);

  json_decref(args);
  mvm_label_unref(context);
  mvm_label_unref(args_label);
  mvm_policy_monitor_free(&mon);
  mvm_policy_free(policy);
  mvm_buf_free(&text);
  free(names);
  free(times);
}

int main(int argc, char **argv)
{
  size_t decisions = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
  static const size_t sizes[] = {10, 100, 1000};

  if (decisions == 0) {
    fprintf(stderr, "usage: bench_monitor [DECISIONS]\n");
    return 2;
  }
  for (size_t i = 0; i < 3; i++)
    bench(sizes[i], decisions);
  return 0;
}
