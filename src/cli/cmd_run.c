/* cmd_run.c - `mvm run`: an agent on a task, or a program file, under a
 * policy, with the audit log and a run manifest. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "cli/cli.h"
#include "cli/render.h"
#include "cli/term.h"
#include "mvm.h"
#include "runtime/agent.h"
#include "tools/mcp_stdio.h"

static const char usage[] =
    "usage: mvm run TASK [OPTIONS]\n"
    "       mvm run FILE.mvs [--input TEXT | --input-json JSON] [OPTIONS]\n"
    "\n"
    "Runs the standard agent program on TASK, or the program in FILE.mvs,\n"
    "under a policy. Model text streams to stdout; tool calls, decisions\n"
    "and a status line go to stderr. Every decision is appended to the\n"
    "audit log, and a manifest of the run is written at the end.\n"
    "\n"
    "With nothing configured, the run uses the built-in demo: a recording\n"
    "of a model that obeys an injected instruction, the npm MCP filesystem\n"
    "server on a demo inbox, and the demo policy.\n"
    "\n"
    "options (each also set by the environment variable shown, or by the\n"
    "config file; the flag wins, then the variable, then the file):\n"
    "  --model SPEC         the model: openai:MODEL, anthropic:MODEL,\n"
    "                       openai-compatible:URL#MODEL or replay:FILE\n"
    "                       (MVM_MODEL; default: openai:gpt-4.1-mini when\n"
    "                       OPENAI_API_KEY is set, anthropic:claude-sonnet-4-5\n"
    "                       when ANTHROPIC_API_KEY is set, else the demo)\n"
    "  --model NAME=SPEC    bind the program's model NAME (repeatable)\n"
    "  --policy FILE        the policy (MVM_POLICY); 'permissive' turns the\n"
    "                       monitor off and marks the run unsafe\n"
    "  --mcp-config FILE    MCP servers, in the mcpServers JSON shape of\n"
    "                       desktop agent clients (MVM_MCP_CONFIG)\n"
    "  --model-config FILE  model endpoints, keys, timeouts and prices\n"
    "                       (MVM_MODEL_CONFIG)\n"
    "  --builtins FILE      built-in file, fetch and command tools and\n"
    "                       their sandbox limits (MVM_BUILTINS; default\n"
    "                       none; see docs/sandbox.md)\n"
    "  --config FILE        config file (MVM_CONFIG; default\n"
    "                       $XDG_CONFIG_HOME/mvm/config.json)\n"
    "  --state-dir DIR      audit log, run manifests and the demo\n"
    "                       (MVM_STATE_DIR; default $XDG_STATE_HOME/mvm)\n"
    "\n"
    "  --input TEXT         the input of FILE.mvs (a TASK run takes the\n"
    "                       task itself as its input)\n"
    "  --input-json JSON    the input of FILE.mvs as a JSON value\n"
    "  --record FILE        also write the model's replies to a replay file\n"
    "  --steps N            instruction budget (default 1000000)\n"
    "  --json               one JSON event per line on stdout instead of\n"
    "                       text: model text, tool calls, decisions,\n"
    "                       results, the answer, and a last run_end event\n"
    "                       (docs/events.md)\n"
    "  --quiet              no tool and decision lines on stderr\n"
    "  --no-input           never ask the user: confirmations are 'no'\n"
    "  --trace=LIST         trace categories on stderr: vm, policy, mcp,\n"
    "                       http, model, sandbox, audit, tool, or all\n"
    "  --result             print the halt value and its label:\n"
    "                       result: JSON [label]\n"
    "  --effects            print every decision: effect, target, verdict\n"
    "                       and labels\n"
    "  --help               show this text\n"
    "\n"
    "Ctrl-C stops the run: the model and tool calls in progress are\n"
    "cancelled, the servers are stopped, and the audit log and the manifest\n"
    "are written. A second Ctrl-C kills the MCP servers and exits at once:\n"
    "the audit log keeps every decision made so far, but the run gets no\n"
    "manifest and no end record.\n"
    "\n"
    "Exit codes: 0 done, 1 the program failed, 2 bad command line or\n"
    "input, 3 invalid program, 4 bad configuration or policy, 5 stopped by\n"
    "a denial, 6 budget or limit, 7 model error, 8 tool server error,\n"
    "10 file error, 130 interrupted.\n";

struct run_opts {
  mvm_agent_options agent;
  const char *target; /* TASK or FILE.mvs */
  const char *input;
  bool input_is_json;
  bool json_events;
  bool quiet;
  bool no_input;
  bool print_result;
  bool print_effects;
};

static volatile sig_atomic_t interrupted;

/* The first Ctrl-C stops the run cleanly: the audit log and the manifest
 * are written, and the servers are shut down. A second one kills the
 * servers' process groups, which the terminal's SIGINT does not reach,
 * then ends mvm by SIGINT at once. Only async-signal-safe calls here. */
static void on_sigint(int sig)
{
  static const char first[] =
      "\nmvm: interrupting: stopping the model and tool calls in progress "
      "(Ctrl-C again to exit at once, without a manifest)\n";
  static const char second[] = "\nmvm: killed the MCP servers; exiting "
                               "without a manifest\n";

  if (interrupted) {
    mvm_mcp_stdio_kill_all();
    (void)!write(STDERR_FILENO, second, sizeof second - 1);
    /* SIGINT is blocked in its own handler, so the raised one ends mvm
     * when the handler returns. */
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  interrupted = 1;
  (void)!write(STDERR_FILENO, first, sizeof first - 1);
}

/* Matches --name=VALUE or --name VALUE, advancing *i past the value. */
static bool match_option(int argc, char **argv, int *i, const char *name,
                         const char **value)
{
  size_t n = strlen(name);

  if (strncmp(argv[*i], name, n) != 0)
    return false;
  if (argv[*i][n] == '=') {
    *value = argv[*i] + n + 1;
    return true;
  }
  if (argv[*i][n] == '\0' && *i + 1 < argc) {
    *value = argv[++*i];
    return true;
  }
  return false;
}

/* NAME=SPEC binds a named model; a spec alone is the run's model. A spec
 * has its colon before any '=' ("replay:/a=b" is a spec). */
static bool is_binding(const char *v)
{
  const char *eq = strchr(v, '=');
  const char *colon = strchr(v, ':');
  return eq != NULL && eq != v && (colon == NULL || eq < colon);
}

static bool ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s);
  size_t k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int parse_steps(const char *text, uint64_t *out)
{
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v == 0 ||
      text[0] == '-')
    return MVM_EINVAL;
  *out = v;
  return MVM_OK;
}

static int usage_error(const char *fmt, const char *value)
{
  fprintf(stderr, "mvm run: ");
  fprintf(stderr, fmt, value);
  fprintf(stderr, "; run 'mvm run --help'\n");
  return MVM_EXIT_USAGE;
}

static int parse_option(int argc, char **argv, int *i, struct run_opts *o)
{
  mvm_settings_flags *f = &o->agent.flags;
  const char *v = NULL;

  if (match_option(argc, argv, i, "--model-config", &v)) {
    f->model_config = v;
  } else if (match_option(argc, argv, i, "--model", &v)) {
    if (!is_binding(v)) {
      f->model = v;
    } else if (o->agent.nmodel_binds == MVM_AGENT_MAX_MODEL_BINDS) {
      return usage_error("too many --model NAME=SPEC options, at most 16%s",
                         "");
    } else {
      o->agent.model_binds[o->agent.nmodel_binds++] = v;
    }
  } else if (match_option(argc, argv, i, "--policy", &v)) {
    f->policy = v;
  } else if (match_option(argc, argv, i, "--mcp-config", &v)) {
    f->mcp_config = v;
  } else if (match_option(argc, argv, i, "--builtins", &v)) {
    f->builtins = v;
  } else if (match_option(argc, argv, i, "--config", &v)) {
    f->config = v;
  } else if (match_option(argc, argv, i, "--state-dir", &v)) {
    f->state_dir = v;
  } else if (match_option(argc, argv, i, "--input-json", &v)) {
    o->input = v;
    o->input_is_json = true;
  } else if (match_option(argc, argv, i, "--input", &v)) {
    o->input = v;
    o->input_is_json = false;
  } else if (match_option(argc, argv, i, "--record", &v)) {
    o->agent.record_path = v;
  } else if (match_option(argc, argv, i, "--steps", &v)) {
    if (parse_steps(v, &o->agent.max_steps))
      return usage_error("--steps needs a positive integer, got '%s'", v);
  } else if (match_option(argc, argv, i, "--trace", &v)) {
    uint32_t mask = 0;
    mvm_error err;
    if (mvm_trace_parse(v, &mask, &err))
      return usage_error("%s", err.msg);
    mvm_trace_set(mask);
  } else if (strcmp(argv[*i], "--json") == 0) {
    o->json_events = true;
  } else if (strcmp(argv[*i], "--quiet") == 0) {
    o->quiet = true;
  } else if (strcmp(argv[*i], "--no-input") == 0) {
    o->no_input = true;
  } else if (strcmp(argv[*i], "--result") == 0) {
    o->print_result = true;
  } else if (strcmp(argv[*i], "--effects") == 0) {
    o->print_effects = true;
  } else {
    return usage_error("unknown option '%s'", argv[*i]);
  }
  return MVM_EXIT_OK;
}

static int parse_args(int argc, char **argv, struct run_opts *o)
{
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1] != '\0') {
      int rc = parse_option(argc, argv, &i, o);
      if (rc)
        return rc;
    } else if (o->target == NULL) {
      o->target = argv[i];
    } else {
      return usage_error("unexpected argument '%s': quote a task that has "
                         "spaces",
                         argv[i]);
    }
  }
  if (o->target == NULL)
    return usage_error("missing TASK or FILE.mvs%s", "");
  if (ends_with(o->target, ".mvs"))
    o->agent.program_path = o->target;
  else if (o->input != NULL)
    return usage_error("--input goes with FILE.mvs; for a task, write it "
                       "as the argument (got '%s')",
                       o->target);
  return MVM_EXIT_OK;
}

static int make_input(const struct run_opts *o, json_t **input,
                      mvm_error *err)
{
  const char *text = o->agent.program_path ? o->input : o->target;

  *input = NULL;
  if (text == NULL)
    return MVM_OK;
  if (o->input_is_json)
    return mvm_json_parse(text, strlen(text), NULL, "--input-json", input,
                          err);
  *input = json_string(text);
  if (*input == NULL)
    return mvm_error_set(err, MVM_EINVAL, "run",
                         "the input is not valid UTF-8 text");
  return MVM_OK;
}

static void notice_line(void *ctx, const char *line)
{
  mvm_render_notice(ctx, "%s", line);
}

static void print_effects(const mvm_agent_result *res)
{
  size_t i;
  const json_t *d;
  json_array_foreach(res->decisions, i, d)
  {
    mvm_label *args = NULL;
    mvm_label *context = NULL;
    char abuf[256];
    char cbuf[256];
    const json_t *target = json_object_get(d, "target");
    mvm_label_from_json(json_object_get(d, "args_label"), &args, NULL);
    mvm_label_from_json(json_object_get(d, "context_label"), &context, NULL);
    printf("effect: %s %s %s args=%s context=%s\n",
           json_string_value(json_object_get(d, "effect")),
           json_is_string(target) ? json_string_value(target) : "-",
           json_string_value(json_object_get(d, "verdict")),
           mvm_label_format(args, abuf, sizeof abuf),
           mvm_label_format(context, cbuf, sizeof cbuf));
    mvm_label_unref(args);
    mvm_label_unref(context);
  }
}

static void report(const struct run_opts *o, mvm_render *r,
                   const mvm_agent_result *res)
{
  if (res->diagnostics != NULL)
    fputs(res->diagnostics, stderr);
  if (o->print_result && res->status == MVM_OK) {
    char *text = json_dumps(res->answer, JSON_COMPACT | JSON_SORT_KEYS |
                                             JSON_ENCODE_ANY);
    char lbuf[256];
    printf("result: %s [%s]\n", text ? text : "?",
           mvm_label_format(res->answer_label, lbuf, sizeof lbuf));
    free(text);
  }
  if (o->print_effects)
    print_effects(res);

  if (o->json_events) {
    mvm_render_finish(r);
    mvm_render_emit(
        r, json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:b}",
                     "event", "run_end", "run_id", res->run_id, "status",
                     mvm_status_name(res->status), "error",
                     res->status ? res->error.msg : NULL, "manifest",
                     res->manifest_path[0] ? res->manifest_path : NULL,
                     "audit", res->audit_path[0] ? res->audit_path : NULL,
                     "audit_head", res->audit_head[0] ? res->audit_head : NULL,
                     "denied", (json_int_t)res->denied, "permissive",
                     res->permissive));
    return;
  }

  /* Assembler and verifier errors are already printed as diagnostics. */
  if (res->status && res->status != MVM_ESYNTAX &&
      res->status != MVM_EVERIFY)
    fprintf(stderr, "mvm run: %s\n", res->error.msg);
  mvm_render_finish(r);
  if (o->quiet)
    return;
  if (res->manifest_path[0] != '\0')
    fprintf(stderr, "mvm: run %s%s; manifest %s\n", res->run_id,
            res->permissive ? " (UNSAFE: monitor off)" : "",
            res->manifest_path);
  if (res->audit_path[0] != '\0') {
    char db[PATH_MAX + 64];
    fprintf(stderr, "mvm: audit log %s (%s audit show --db %s --run %s)\n",
            res->audit_path, mvm_cli_self(),
            mvm_cli_shell_word(res->audit_path, db, sizeof db), res->run_id);
  }
}

/* Tells the renderer the run's policy file, which its hints name. The
 * settings are resolved again by the run, which reports any error. */
static void render_policy(mvm_render *r, const mvm_settings_flags *flags)
{
  mvm_settings settings;
  mvm_error err;

  if (mvm_settings_resolve(flags, &settings, &err) != MVM_OK)
    return;
  mvm_render_set_policy(r, settings.policy.value);
  mvm_settings_free(&settings);
}

int mvm_cli_run(int argc, char **argv)
{
  struct run_opts o;
  mvm_render render;
  mvm_term term;
  mvm_user user;
  mvm_agent_hooks hooks;
  mvm_agent_result res;
  json_t *input = NULL;
  mvm_error err;
  int rc;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      return MVM_EXIT_OK;
    }
  }
  rc = parse_args(argc, argv, &o);
  if (rc)
    return rc;
  rc = make_input(&o, &input, &err);
  if (rc) {
    fprintf(stderr, "mvm run: %s\n", err.msg);
    return MVM_EXIT_USAGE;
  }
  o.agent.input = input;

  mvm_render_init(&render, o.json_events, o.quiet);
  render_policy(&render, &o.agent.flags);
  mvm_log_set_sink(mvm_render_log, &render);
  mvm_term_init(&term, o.no_input);
  term.quiet_show = true; /* the renderer shows answers from the events */
  user = mvm_term_user(&term);
  memset(&hooks, 0, sizeof hooks);
  hooks.on_event = mvm_render_event;
  hooks.event_ctx = &render;
  hooks.notice = notice_line;
  hooks.notice_ctx = &render;
  hooks.user = &user;
  hooks.interrupted = &interrupted;

  signal(SIGINT, on_sigint);
  signal(SIGPIPE, SIG_IGN);
  rc = mvm_agent_run(&o.agent, &hooks, &res);
  signal(SIGINT, SIG_DFL);

  report(&o, &render, &res);
  mvm_log_set_sink(NULL, NULL);
  mvm_agent_result_free(&res);
  json_decref(input);
  return res.bad_input ? MVM_EXIT_USAGE : mvm_cli_exit_code(rc);
}
