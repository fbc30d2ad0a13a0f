/* test_interp.c - the interpreter with fake adapters: the agent loop,
 * tool dispatch, the monitor hook (allow, deny, ask), denial results,
 * limits, memory, user I/O, quarantined queries and label changes. */
#include "vmtest.h"

static json_t *check_at(vmtest_env *env, size_t i)
{
  return json_array_get(env->monitor.checks, i);
}

/* Finds the first monitor check of an effect kind, or NULL. */
static json_t *find_check(vmtest_env *env, const char *effect)
{
  size_t i;
  json_t *c;
  json_array_foreach(env->monitor.checks, i, c) {
    if (strcmp(json_string_value(json_object_get(c, "effect")), effect) == 0)
      return c;
  }
  return NULL;
}

static bool label_json_has(const json_t *label, const char *source)
{
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(label, "integrity"), i, s) {
    if (strcmp(json_string_value(s), source) == 0)
      return true;
  }
  return false;
}

static char *read_agent(void)
{
  FILE *f = fopen(mvm_test_path("lib/agent.mvs"), "rb");
  assert_non_null(f);
  char *text = calloc(1, 65536);
  assert_non_null(text);
  size_t n = fread(text, 1, 65535, f);
  assert_true(n > 0);
  fclose(f);
  return text;
}

static const char agent_replies[] =
    "[{\"text\": \"checking\", \"tool_calls\": [{\"id\": \"c1\", \"name\": "
    "\"t__echo\", \"arguments\": {\"text\": \"ping\"}}]},"
    " {\"text\": \"the echo said ping\", \"tool_calls\": []}]";

static void agent_runs_tool_loop(void **state)
{
  vmtest_env env;
  json_t *result = NULL;
  mvm_label *label = NULL;
  mvm_error err;
  char *agent = read_agent();

  vmtest_env_init(&env, agent_replies);
  assert_int_equal(vmtest_run(agent, &env, "say ping", &result, &label,
                              &err),
                   MVM_OK);
  assert_string_equal(json_string_value(result), "the echo said ping");
  /* The answer came from a model that read a tool result. */
  assert_true(vmtest_has_source(label, "tool:t.echo"));

  /* The tool got the model's arguments, under its real name. */
  assert_int_equal(json_array_size(env.tools.calls), 1);
  json_t *call = json_array_get(env.tools.calls, 0);
  assert_string_equal(json_string_value(json_object_get(call, "name")),
                      "echo");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(call, "args"), "text")),
                      "ping");

  /* First request: system and user messages, tools offered as t__x. */
  json_t *req1 = json_array_get(env.model.requests, 0);
  json_t *msgs = json_object_get(req1, "messages");
  assert_int_equal(json_array_size(msgs), 2);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(msgs, 0), "role")),
                      "system");
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(msgs, 1), "content")),
                      "say ping");
  json_t *tools = json_object_get(req1, "tools");
  assert_int_equal(json_array_size(tools), 2);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(tools, 0), "name")),
                      "t__echo");
  assert_non_null(json_object_get(json_array_get(tools, 0),
                                  "input_schema"));

  /* Second request: the assistant's tool call, then the tool result. */
  json_t *req2 = json_array_get(env.model.requests, 1);
  msgs = json_object_get(req2, "messages");
  assert_int_equal(json_array_size(msgs), 4);
  json_t *assistant = json_array_get(msgs, 2);
  assert_string_equal(json_string_value(json_object_get(assistant, "role")),
                      "assistant");
  assert_int_equal(json_array_size(json_object_get(assistant, "tool_calls")),
                   1);
  json_t *tool_msg = json_array_get(msgs, 3);
  assert_string_equal(json_string_value(json_object_get(tool_msg, "role")),
                      "tool");
  assert_string_equal(json_string_value(json_object_get(tool_msg,
                                                        "tool_call_id")),
                      "c1");
  assert_string_equal(json_string_value(json_object_get(tool_msg,
                                                        "content")),
                      "ping");

  json_decref(result);
  mvm_label_unref(label);
  free(agent);
  vmtest_env_free(&env);
}

static const char dispatch_prog[] =
    ".model main\n.tools t.*\n"
    "  model.load %m, main\n  tools.load %ts, t.*\n"
    "  hist.new %h\n  hist.add %h, user, \"go\"\n"
    "  model.call %r, %m, %h, %ts\n"
    "  hist.reply %h, %r\n"
    "  dispatch %h, %r, %ts\n"
    "  model.call %r2, %m, %h, %ts\n"
    "  reply.text %t, %r2\n"
    "  halt %t\n";

/* The content of the tool message at index i of the second request. */
static const char *tool_message(vmtest_env *env, size_t i)
{
  json_t *req = json_array_get(env->model.requests, 1);
  json_t *msg = json_array_get(json_object_get(req, "messages"), i);
  assert_string_equal(json_string_value(json_object_get(msg, "role")),
                      "tool");
  return json_string_value(json_object_get(msg, "content"));
}

static void dispatch_rejects_unoffered_and_bad_args(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;

  vmtest_env_init(&env,
                  "[{\"text\": \"\", \"tool_calls\": ["
                  "{\"id\": \"a\", \"name\": \"shell__exec\", "
                  "\"arguments\": {\"cmd\": \"rm\"}},"
                  "{\"id\": \"b\", \"name\": \"t__echo\", "
                  "\"arguments\": null, \"arguments_error\": \"bad json\"},"
                  "{\"name\": \"t__echo\", \"arguments\": {\"text\": "
                  "\"ok\"}}]},"
                  "{\"text\": \"done\"}]");
  assert_int_equal(vmtest_run(dispatch_prog, &env, NULL, &result, NULL,
                              &err),
                   MVM_OK);
  assert_string_equal(json_string_value(result), "done");

  /* Only the valid call reached the tool. */
  assert_int_equal(json_array_size(env.tools.calls), 1);
  assert_non_null(strstr(tool_message(&env, 2), "tool 'shell__exec' was "
                                                "not offered"));
  assert_non_null(strstr(tool_message(&env, 3), "are not a JSON object: "
                                                "bad json"));
  assert_string_equal(tool_message(&env, 4), "ok");

  /* A call without an id gets one, so its result can be matched. */
  json_t *req = json_array_get(env.model.requests, 1);
  json_t *msg = json_array_get(json_object_get(req, "messages"), 4);
  assert_string_equal(json_string_value(json_object_get(msg,
                                                        "tool_call_id")),
                      "call_2");
  json_decref(result);
  vmtest_env_free(&env);
}

static void dispatch_context_is_reply_label(void **state)
{
  vmtest_env env;
  mvm_error err;

  vmtest_env_init(&env,
                  "[{\"tool_calls\": [{\"id\": \"a\", \"name\": \"t__echo\","
                  " \"arguments\": {\"text\": \"x\"}}]},"
                  " {\"tool_calls\": [{\"id\": \"b\", \"name\": \"t__echo\","
                  " \"arguments\": {\"text\": \"y\"}}]}]");
  env.use_monitor = true;
  const char *src = ".model main\n.tools t.*\n"
                    "  model.load %m, main\n  tools.load %ts, t.*\n"
                    "  hist.new %h\n"
                    "  model.call %r, %m, %h, %ts\n"
                    "  hist.reply %h, %r\n  dispatch %h, %r, %ts\n"
                    "  model.call %r, %m, %h, %ts\n"
                    "  hist.reply %h, %r\n  dispatch %h, %r, %ts\n"
                    "  halt 1\n";
  assert_int_equal(vmtest_run(src, &env, NULL, NULL, NULL, &err), MVM_OK);

  /* The first call was decided by a model that saw nothing untrusted; the
   * second by one that had read the first result. */
  size_t seen = 0;
  size_t i;
  json_t *c;
  json_array_foreach(env.monitor.checks, i, c) {
    if (strcmp(json_string_value(json_object_get(c, "effect")),
               "tool.call") != 0)
      continue;
    json_t *ctx = json_object_get(c, "context_label");
    assert_int_equal(label_json_has(ctx, "tool:t.echo"), seen == 1);
    assert_int_equal(json_integer_value(json_object_get(c, "narg_labels")),
                     1);
    seen++;
  }
  assert_int_equal(seen, 2);
  vmtest_env_free(&env);
}

static const char call_prog[] =
    ".tool t.echo\n"
    "  tool.load %t, t.echo\n"
    "  tool.call %r, %t, {\"text\": \"hi\"}\n"
    "  halt %r\n";

static void denied_call_gives_typed_result(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;

  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  env.monitor.verdict[MVM_EFFECT_TOOL_CALL] = MVM_VERDICT_DENY;
  assert_int_equal(vmtest_run(call_prog, &env, NULL, &result, NULL, &err),
                   MVM_OK);

  assert_int_equal(json_array_size(env.tools.calls), 0);
  assert_true(json_is_true(json_object_get(result, "isError")));
  json_t *denied = json_object_get(result, "denied");
  assert_string_equal(json_string_value(json_object_get(denied, "tool")),
                      "t.echo");
  assert_string_equal(json_string_value(json_object_get(denied, "rule")),
                      "fake:tool.call");
  assert_string_equal(json_string_value(json_object_get(denied, "reason")),
                      "scripted verdict for t.echo");
  json_t *text = json_object_get(json_array_get(json_object_get(result,
                                                                "content"),
                                                0),
                                 "text");
  assert_string_equal(json_string_value(text),
                      "denied by policy: scripted verdict for t.echo (rule "
                      "fake:tool.call)");
  /* Only the allowed load was recorded. */
  assert_int_equal(json_array_size(env.monitor.records), 1);
  json_decref(result);
  vmtest_env_free(&env);
}

static void denied_dispatch_reaches_model(void **state)
{
  vmtest_env env;
  mvm_error err;

  vmtest_env_init(&env,
                  "[{\"tool_calls\": [{\"id\": \"a\", \"name\": \"t__echo\","
                  " \"arguments\": {\"text\": \"x\"}}]}, {\"text\": \"ok\"}]");
  env.use_monitor = true;
  env.monitor.verdict[MVM_EFFECT_TOOL_CALL] = MVM_VERDICT_DENY;
  assert_int_equal(vmtest_run(dispatch_prog, &env, NULL, NULL, NULL, &err),
                   MVM_OK);
  assert_int_equal(json_array_size(env.tools.calls), 0);
  assert_string_equal(tool_message(&env, 2),
                      "denied by policy: scripted verdict for t.echo (rule "
                      "fake:tool.call)");
  vmtest_env_free(&env);
}

static void denied_effect_stops_run(void **state)
{
  vmtest_env env;
  mvm_error err;

  vmtest_env_init(&env, "[{\"text\": \"hi\"}]");
  env.use_monitor = true;
  env.monitor.verdict[MVM_EFFECT_MODEL_CALL] = MVM_VERDICT_DENY;
  const char *src = ".model main\n  model.load %m, main\n  hist.new %h\n"
                    "  tools.new %ts\n  model.call %r, %m, %h, %ts\n"
                    "  halt 1\n";
  assert_int_equal(vmtest_run(src, &env, NULL, NULL, NULL, &err),
                   MVM_EDENIED);
  assert_string_equal(err.msg, "test.mvs:5: model.call: calling model "
                               "'main' is denied: scripted verdict for main "
                               "(rule fake:model.call)");
  assert_int_equal(json_array_size(env.model.requests), 0);
  vmtest_env_free(&env);
}

static void denied_effect_takes_failure_branch(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;

  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  env.monitor.verdict[MVM_EFFECT_MODEL_LOAD] = MVM_VERDICT_DENY;
  const char *src = ".model main\n  model.load %m, main, refused\n"
                    "  halt \"loaded\"\nrefused:\n  halt \"refused\"\n";
  assert_int_equal(vmtest_run(src, &env, NULL, &result, NULL, &err), MVM_OK);
  assert_string_equal(json_string_value(result), "refused");
  /* The identity was offered for pinning. */
  json_t *c = find_check(&env, "model.load");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(c, "identity"), "model")),
                      "fake-1");
  json_decref(result);
  vmtest_env_free(&env);
}

/* Runs call_prog with an ASK verdict and the user's answer. */
static json_t *run_ask(int confirm, bool user_present, size_t *tool_calls,
                       json_t **prompts)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;

  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  env.use_user = user_present;
  env.user.confirm = confirm;
  env.monitor.verdict[MVM_EFFECT_TOOL_CALL] = MVM_VERDICT_ASK;
  assert_int_equal(vmtest_run(call_prog, &env, NULL, &result, NULL, &err),
                   MVM_OK);
  *tool_calls = json_array_size(env.tools.calls);
  *prompts = json_incref(env.user.prompts);
  vmtest_env_free(&env);
  return result;
}

static void ask_yes_runs_the_call(void **state)
{
  size_t calls = 0;
  json_t *prompts = NULL;
  json_t *r = run_ask(1, true, &calls, &prompts);

  assert_int_equal(calls, 1);
  assert_false(json_is_true(json_object_get(r, "isError")));
  assert_int_equal(json_array_size(prompts), 1);
  const char *prompt = json_string_value(json_array_get(prompts, 0));
  assert_non_null(strstr(prompt, "Allow tool.call t.echo with "
                                 "{\"text\":\"hi\"}?"));
  assert_non_null(strstr(prompt, "scripted verdict for t.echo (rule "
                                 "fake:tool.call)"));
  json_decref(prompts);
  json_decref(r);
}

static void ask_no_denies(void **state)
{
  size_t calls = 0;
  json_t *prompts = NULL;
  json_t *r = run_ask(0, true, &calls, &prompts);

  assert_int_equal(calls, 0);
  const char *reason = json_string_value(json_object_get(
      json_object_get(r, "denied"), "reason"));
  assert_string_equal(reason, "the user declined: scripted verdict for "
                              "t.echo");
  json_decref(prompts);
  json_decref(r);
}

static void ask_without_user_denies(void **state)
{
  size_t calls = 0;
  json_t *prompts = NULL;

  /* A user adapter that reports no one present. */
  json_t *r = run_ask(-1, true, &calls, &prompts);
  assert_int_equal(calls, 0);
  assert_non_null(strstr(json_string_value(json_object_get(
                             json_object_get(r, "denied"), "reason")),
                         "no user to confirm"));
  json_decref(prompts);
  json_decref(r);

  /* No user adapter at all. */
  r = run_ask(1, false, &calls, &prompts);
  assert_int_equal(calls, 0);
  assert_int_equal(json_array_size(prompts), 0);
  assert_non_null(strstr(json_string_value(json_object_get(
                             json_object_get(r, "denied"), "reason")),
                         "no user to confirm"));
  json_decref(prompts);
  json_decref(r);
}

static void monitor_failure_denies(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;

  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  env.monitor.check_status = MVM_EIO;
  const char *src = ".tool t.echo\n  tool.load %t, t.echo, refused\n"
                    "  halt 1\nrefused:\n  halt 0\n";
  assert_int_equal(vmtest_run(src, &env, NULL, &result, NULL, &err), MVM_OK);
  assert_int_equal(json_integer_value(result), 0);
  json_decref(result);
  vmtest_env_free(&env);
}

static void record_gets_outcomes(void **state)
{
  vmtest_env env;
  mvm_error err;

  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  assert_int_equal(vmtest_run(call_prog, &env, NULL, NULL, NULL, &err),
                   MVM_OK);
  assert_int_equal(json_array_size(env.monitor.records), 2);
  json_t *rec = json_array_get(env.monitor.records, 1);
  assert_string_equal(json_string_value(json_object_get(rec, "effect")),
                      "tool.call");
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(
                                             json_object_get(rec, "outcome"),
                                             "content"),
                                         0),
                          "text")),
                      "hi");
  vmtest_env_free(&env);
}

static void result_label_comes_from_monitor(void **state)
{
  vmtest_env env;
  mvm_error err;
  mvm_label *label = NULL;

  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  env.monitor.with_result_label = true;
  env.monitor.result_source = "web";
  assert_int_equal(vmtest_run(call_prog, &env, NULL, NULL, &label, &err),
                   MVM_OK);
  assert_true(vmtest_has_source(label, "web"));
  assert_false(vmtest_has_source(label, "tool:t.echo"));
  mvm_label_unref(label);
  vmtest_env_free(&env);

  /* A tool the policy trusts gives a trusted result. */
  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  env.monitor.with_result_label = true;
  env.monitor.result_source = "";
  assert_int_equal(vmtest_run(call_prog, &env, NULL, NULL, &label, &err),
                   MVM_OK);
  assert_true(mvm_label_is_trusted(label));
  vmtest_env_free(&env);

  /* Without result_label every result is untrusted. */
  vmtest_env_init(&env, NULL);
  assert_int_equal(vmtest_run(call_prog, &env, NULL, NULL, &label, &err),
                   MVM_OK);
  assert_true(vmtest_has_source(label, "tool:t.echo"));
  mvm_label_unref(label);
  vmtest_env_free(&env);
}

static void default_monitor_records_effects(void **state)
{
  vmtest_env env;
  mvm_program *p = vmtest_build(call_prog);
  mvm_error err;

  vmtest_env_init(&env, NULL);
  mvm_vm *vm = vmtest_vm(p, &env);
  assert_int_equal(mvm_vm_run(vm, NULL, NULL, NULL, NULL, &err), MVM_OK);

  const json_t *effects = mvm_vm_effects(vm);
  assert_int_equal(json_array_size(effects), 2);
  json_t *call = json_array_get(effects, 1);
  assert_string_equal(json_string_value(json_object_get(call, "effect")),
                      "tool.call");
  assert_string_equal(json_string_value(json_object_get(call, "verdict")),
                      "allow");
  assert_non_null(json_object_get(call, "outcome"));

  /* A second run starts from scratch. */
  assert_int_equal(mvm_vm_run(vm, NULL, NULL, NULL, NULL, &err), MVM_OK);
  assert_int_equal(json_array_size(mvm_vm_effects(vm)), 2);
  assert_int_equal(env.tools.list_calls, 2);
  mvm_vm_free(vm);
  mvm_program_free(p);
  vmtest_env_free(&env);
}

static int run_with_limits(const char *src, const mvm_vm_limits *limits,
                           mvm_error *err)
{
  vmtest_env env;
  mvm_program *p = vmtest_build(src);

  vmtest_env_init(&env, NULL);
  mvm_vm *vm = vmtest_vm(p, &env);
  mvm_vm_set_limits(vm, limits);
  int rc = mvm_vm_run(vm, NULL, NULL, NULL, NULL, err);
  mvm_vm_free(vm);
  mvm_program_free(p);
  vmtest_env_free(&env);
  return rc;
}

static void step_budget_is_its_own_error(void **state)
{
  mvm_vm_limits limits = {.max_steps = 50};
  mvm_error err;

  assert_int_equal(run_with_limits("loop:\n  jmp loop\n", &limits, &err),
                   MVM_EBUDGET);
  assert_non_null(strstr(err.msg, "step budget of 50 instructions"));

  /* A program within the budget finishes. */
  assert_int_equal(run_with_limits("  mov %x, 1\n  halt %x\n", &limits,
                                   &err),
                   MVM_OK);
}

static void call_depth_is_its_own_error(void **state)
{
  mvm_vm_limits limits = {.max_call_depth = 5};
  mvm_error err;
  const char *deep = "  mov %n, 0\n  call f\n  halt %n\n"
                     "f:\n  add %n, %n, 1\n  lt %more, %n, 10\n"
                     "  jf %more, back\n  call f\nback:\n  ret\n";

  assert_int_equal(run_with_limits(deep, &limits, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "call depth limit of 5 nested calls"));
  limits.max_call_depth = 10;
  assert_int_equal(run_with_limits(deep, &limits, &err), MVM_OK);
}

static void history_and_value_limits(void **state)
{
  mvm_vm_limits limits = {.max_history = 3};
  mvm_error err;

  assert_int_equal(run_with_limits("  hist.new %h\n"
                                   "loop:\n  hist.add %h, user, \"x\"\n"
                                   "  jmp loop\n",
                                   &limits, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "the history has 3 messages, the limit"));

  limits = (mvm_vm_limits){.max_value_bytes = 64};
  assert_int_equal(run_with_limits("  mov %s, \"0123456789\"\n"
                                   "loop:\n  fmt %s, \"{s}{s}\"\n"
                                   "  jmp loop\n",
                                   &limits, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "over the value limit of 64 bytes"));
}

static void adapter_failures(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;

  /* tool.call without a failure label stops with the adapter's status. */
  vmtest_env_init(&env, NULL);
  env.tools.fail_status = MVM_ETIMEOUT;
  assert_int_equal(vmtest_run(call_prog, &env, NULL, NULL, NULL, &err),
                   MVM_ETIMEOUT);
  assert_non_null(strstr(err.msg, "calling tool 't.echo' failed: scripted "
                                  "failure"));
  vmtest_env_free(&env);

  /* In dispatch the failure becomes a result the model reads. */
  vmtest_env_init(&env,
                  "[{\"tool_calls\": [{\"id\": \"a\", \"name\": \"t__echo\","
                  " \"arguments\": {\"text\": \"x\"}}]}, {\"text\": \"ok\"}]");
  env.tools.fail_status = MVM_ETOOL;
  assert_int_equal(vmtest_run(dispatch_prog, &env, NULL, &result, NULL,
                              &err),
                   MVM_OK);
  assert_string_equal(tool_message(&env, 2),
                      "tool call failed: scripted failure");
  json_decref(result);
  vmtest_env_free(&env);

  /* A model failure stops the run with its status. */
  vmtest_env_init(&env, "[]");
  assert_int_equal(vmtest_run(dispatch_prog, &env, NULL, NULL, NULL, &err),
                   MVM_EMODEL);
  vmtest_env_free(&env);
}

static void collect_event(void *ctx, const json_t *event)
{
  json_array_append((json_t *)ctx, (json_t *)event);
}

static bool has_event(const json_t *events, const char *name)
{
  size_t i;
  json_t *e;
  json_array_foreach(events, i, e) {
    if (strcmp(json_string_value(json_object_get(e, "event")), name) == 0)
      return true;
  }
  return false;
}

static void events_report_the_run(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *events = json_array();
  char *agent = read_agent();
  mvm_program *p = vmtest_build(agent);

  vmtest_env_init(&env, agent_replies);
  mvm_vm *vm = vmtest_vm(p, &env);
  mvm_vm_set_event_hook(vm, collect_event, events);
  json_t *in = json_string("task");
  assert_int_equal(mvm_vm_run(vm, in, NULL, NULL, NULL, &err), MVM_OK);

  const char *names[] = {"text", "model_reply", "tool_call", "decision",
                         "tool_result", "answer", "halt"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    assert_true(has_event(events, names[i]));
  assert_true(mvm_vm_steps(vm) > 10);

  json_decref(in);
  json_decref(events);
  mvm_vm_free(vm);
  mvm_program_free(p);
  free(agent);
  vmtest_env_free(&env);
}

static void memory_keeps_labels(void **state)
{
  vmtest_env env;
  mvm_error err;
  mvm_label *label = NULL;
  json_t *result = NULL;
  const char *src = ".tool t.echo\n  tool.load %t, t.echo\n"
                    "  tool.call %r, %t, {\"text\": \"x\"}\n"
                    "  result.text %s, %r\n"
                    "  mem.store \"k\", %s\n"
                    "  mem.load %v, \"k\"\n"
                    "  halt %v\n";

  /* The VM's own memory. */
  vmtest_env_init(&env, NULL);
  assert_int_equal(vmtest_run(src, &env, NULL, &result, &label, &err),
                   MVM_OK);
  assert_string_equal(json_string_value(result), "x");
  assert_true(vmtest_has_source(label, "tool:t.echo"));
  json_decref(result);
  mvm_label_unref(label);
  vmtest_env_free(&env);

  /* A host's memory gets the label with the value. */
  vmtest_env_init(&env, NULL);
  env.use_memory = true;
  env.use_monitor = true;
  assert_int_equal(vmtest_run(src, &env, NULL, &result, &label, &err),
                   MVM_OK);
  assert_int_equal(env.memory.puts, 1);
  json_t *stored = json_object_get(env.memory.store, "k");
  assert_true(label_json_has(json_object_get(stored, "label"),
                             "tool:t.echo"));
  json_t *c = find_check(&env, "memory.write");
  assert_string_equal(json_string_value(json_object_get(c, "target")), "k");
  assert_true(label_json_has(json_object_get(c, "args_label"),
                             "tool:t.echo"));
  json_decref(result);
  mvm_label_unref(label);
  vmtest_env_free(&env);

  /* A denied write stops the run and stores nothing. */
  vmtest_env_init(&env, NULL);
  env.use_memory = true;
  env.use_monitor = true;
  env.monitor.verdict[MVM_EFFECT_MEMORY_WRITE] = MVM_VERDICT_DENY;
  assert_int_equal(vmtest_run(src, &env, NULL, NULL, NULL, &err),
                   MVM_EDENIED);
  assert_int_equal(env.memory.puts, 0);
  vmtest_env_free(&env);
}

static void user_io(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;
  const char *src = "  user.ask %name, \"Your name?\"\n"
                    "  user.confirm %ok, \"Sure?\"\n"
                    "  fmt %s, \"{name} {ok}\"\n"
                    "  user.show %s\n  halt %s\n";

  vmtest_env_init(&env, NULL);
  env.use_user = true;
  assert_int_equal(vmtest_run(src, &env, NULL, &result, NULL, &err), MVM_OK);
  assert_string_equal(json_string_value(result), "an answer true");
  assert_string_equal(json_string_value(json_array_get(env.user.shown, 0)),
                      "an answer true");
  assert_string_equal(json_string_value(json_array_get(env.user.prompts, 0)),
                      "Your name?");
  json_decref(result);
  vmtest_env_free(&env);

  /* No user: ask fails with MVM_EUNSUPPORTED. */
  vmtest_env_init(&env, NULL);
  assert_int_equal(vmtest_run(src, &env, NULL, NULL, NULL, &err),
                   MVM_EUNSUPPORTED);
  vmtest_env_free(&env);

  /* A denied USER_SHOW with a failure branch. */
  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  env.use_user = true;
  env.monitor.verdict[MVM_EFFECT_USER_SHOW] = MVM_VERDICT_DENY;
  assert_int_equal(vmtest_run("  user.show \"secret\", hidden\n  halt 1\n"
                              "hidden:\n  halt 0\n",
                              &env, NULL, &result, NULL, &err),
                   MVM_OK);
  assert_int_equal(json_integer_value(result), 0);
  assert_int_equal(json_array_size(env.user.shown), 0);
  json_decref(result);
  vmtest_env_free(&env);
}

static const char query_prog[] =
    ".model main\n"
    "  model.load %m, main\n"
    "  model.query %q, %m, \"Is it spam?\", {\"body\": \"win\"}, bool\n"
    "  endorse %e, %q\n"
    "  halt %e\n";

static void quarantined_query(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;

  vmtest_env_init(&env, "[{\"text\": \"{\\\"answer\\\": true}\"}]");
  env.use_monitor = true;
  assert_int_equal(vmtest_run(query_prog, &env, NULL, &result, NULL, &err),
                   MVM_OK);
  assert_true(json_is_true(result));

  /* No tools are offered, and the data is framed as untrusted. */
  json_t *req = json_array_get(env.model.requests, 0);
  assert_null(json_object_get(req, "tools"));
  assert_non_null(json_object_get(req, "response_format"));
  const char *user = json_string_value(json_object_get(
      json_array_get(json_object_get(req, "messages"), 1), "content"));
  assert_non_null(strstr(user, "Is it spam?\n\n<data>\n{\"body\":\"win\"}"));

  json_t *q = find_check(&env, "model.query");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(q, "detail"), "type")),
                      "bool");
  /* The literal data is trusted, so there is nothing to endorse. */
  assert_null(find_check(&env, "label.endorse"));
  json_decref(result);
  vmtest_env_free(&env);
}

static void endorse_passes_origin(void **state)
{
  vmtest_env env;
  mvm_error err;
  mvm_label *label = NULL;
  json_t *result = NULL;
  const char *src = ".model main\n.tool t.echo\n"
                    "  model.load %m, main\n  tool.load %t, t.echo\n"
                    "  tool.call %r, %t, {\"text\": \"mail\"}\n"
                    "  result.text %mail, %r\n"
                    "  model.query %q, %m, \"Spam?\", %mail, enum "
                    "[\"spam\", \"ham\"]\n"
                    "  endorse %e, %q\n"
                    "  halt %e\n";

  vmtest_env_init(&env, "[{\"text\": \"ham\"}]");
  env.use_monitor = true;
  assert_int_equal(vmtest_run(src, &env, NULL, &result, &label, &err),
                   MVM_OK);
  assert_string_equal(json_string_value(result), "ham");
  assert_true(mvm_label_is_trusted(label));

  json_t *e = find_check(&env, "label.endorse");
  json_t *detail = json_object_get(e, "detail");
  assert_string_equal(json_string_value(json_array_get(
                          json_object_get(detail, "drop"), 0)),
                      "tool:t.echo");
  json_t *origin = json_object_get(json_object_get(detail, "origin"),
                                   "quarantined");
  assert_string_equal(json_string_value(json_object_get(origin, "type")),
                      "enum");
  assert_true(json_is_true(json_object_get(origin, "valid")));
  json_decref(result);
  mvm_label_unref(label);
  vmtest_env_free(&env);

  /* A denied endorsement stops the run. */
  vmtest_env_init(&env, "[{\"text\": \"ham\"}]");
  env.use_monitor = true;
  env.monitor.verdict[MVM_EFFECT_ENDORSE] = MVM_VERDICT_DENY;
  assert_int_equal(vmtest_run(src, &env, NULL, NULL, NULL, &err),
                   MVM_EDENIED);
  assert_non_null(strstr(err.msg, "label.endorse is denied"));
  vmtest_env_free(&env);
}

static void malformed_query_output_is_null(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;

  vmtest_env_init(&env, "[{\"text\": \"Sure, sending the files now\"}]");
  assert_int_equal(vmtest_run(query_prog, &env, NULL, &result, NULL, &err),
                   MVM_OK);
  assert_true(json_is_null(result));
  json_decref(result);
  vmtest_env_free(&env);
}

static void declassify_adds_readers(void **state)
{
  vmtest_env env;
  mvm_error err;
  mvm_label *label = NULL;
  mvm_program *p = vmtest_build(".input %x str\n"
                                "  declassify %y, %x, [\"bob\"]\n"
                                "  halt %y\n");
  const char *alice[] = {"alice"};
  mvm_label *secret = NULL;
  json_t *in = json_string("s");

  assert_int_equal(mvm_label_new(NULL, 0, alice, 1, &secret), MVM_OK);
  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  mvm_vm *vm = vmtest_vm(p, &env);
  assert_int_equal(mvm_vm_run(vm, in, secret, NULL, &label, &err), MVM_OK);
  assert_true(mvm_label_readable_by(label, "alice"));
  assert_true(mvm_label_readable_by(label, "bob"));
  assert_false(mvm_label_readable_by(label, "eve"));
  json_t *c = find_check(&env, "label.declassify");
  assert_string_equal(json_string_value(json_array_get(
                          json_object_get(json_object_get(c, "detail"),
                                          "add_readers"),
                          0)),
                      "bob");
  mvm_label_unref(label);
  mvm_label_unref(secret);
  json_decref(in);
  mvm_vm_free(vm);
  mvm_program_free(p);
  vmtest_env_free(&env);
}

static void unloaded_model_cannot_be_called(void **state)
{
  vmtest_env env;
  mvm_error err;
  const char *src = ".model main\n  model.load %m, main\n  mov %copy, %m\n"
                    "  model.unload %m\n  hist.new %h\n  tools.new %ts\n"
                    "  model.call %r, %copy, %h, %ts\n  halt 1\n";

  vmtest_env_init(&env, "[{\"text\": \"x\"}]");
  assert_int_equal(vmtest_run(src, &env, NULL, NULL, NULL, &err),
                   MVM_ESTATE);
  assert_non_null(strstr(err.msg, "model 'main' is unloaded"));
  vmtest_env_free(&env);
}

static void input_is_checked(void **state)
{
  vmtest_env env;
  mvm_program *p = vmtest_build(".input %n int\n  halt %n\n");
  mvm_error err;
  json_t *text = json_string("x");
  json_t *num = json_integer(4);
  json_t *result = NULL;

  vmtest_env_init(&env, NULL);
  mvm_vm *vm = vmtest_vm(p, &env);
  assert_int_equal(mvm_vm_run(vm, NULL, NULL, NULL, NULL, &err),
                   MVM_EINVAL);
  assert_int_equal(mvm_vm_run(vm, text, NULL, NULL, NULL, &err),
                   MVM_EINVAL);
  assert_string_equal(err.msg,
                      "invalid input \"x\" for '.input %n int' in "
                      "'test.mvs': pass a value of type int as JSON with "
                      "mvm run --input-json VALUE");
  assert_int_equal(mvm_program_check_input(p, text, &err), MVM_EINVAL);
  assert_int_equal(mvm_program_check_input(p, num, &err), MVM_OK);
  assert_int_equal(mvm_vm_run(vm, num, NULL, &result, NULL, &err), MVM_OK);
  assert_int_equal(json_integer_value(result), 4);
  json_decref(result);
  json_decref(text);
  json_decref(num);
  mvm_vm_free(vm);
  mvm_program_free(p);
  vmtest_env_free(&env);
}

static void tools_load_skips_denied(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;

  vmtest_env_init(&env, NULL);
  env.use_monitor = true;
  env.monitor.verdict[MVM_EFFECT_TOOL_LOAD] = MVM_VERDICT_DENY;
  env.monitor.deny_target = "t.add";
  assert_int_equal(vmtest_run(".tools *\n  tools.load %ts, *\n"
                              "  hist.new %h\n  len %n, %h\n"
                              "  halt %n\n",
                              &env, NULL, &result, NULL, &err),
                   MVM_OK);
  /* Both tools were asked about; only echo was allowed. */
  assert_int_equal(json_array_size(env.monitor.checks), 2);
  assert_int_equal(json_array_size(env.monitor.records), 1);
  json_t *c = check_at(&env, 0);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(c, "identity"), "server")),
                      "t");
  json_decref(result);
  vmtest_env_free(&env);
}

static void json_check_validates(void **state)
{
  vmtest_env env;
  mvm_error err;
  json_t *result = NULL;
  const char *check = "  json.parse %v, %in\n"
                      "  json.check %c, %v, {\"type\": \"object\", "
                      "\"properties\": {\"n\": {\"type\": \"integer\"}}, "
                      "\"required\": [\"n\"]}, bad\n"
                      "  halt %c\nbad:\n  halt \"bad\"\n";
  char src[512];
  snprintf(src, sizeof src, ".input %%in str\n%s", check);

  vmtest_env_init(&env, NULL);
#if __has_include("value/schema.h")
  assert_int_equal(vmtest_run(src, &env, "{\"n\": 3}", &result, NULL,
                              &err),
                   MVM_OK);
  assert_int_equal(json_integer_value(json_object_get(result, "n")), 3);
  json_decref(result);
  assert_int_equal(vmtest_run(src, &env, "{\"n\": \"x\"}", &result, NULL,
                              &err),
                   MVM_OK);
  assert_string_equal(json_string_value(result), "bad");
#else
  /* Without the validator no value passes. */
  assert_int_equal(vmtest_run(src, &env, "{\"n\": 3}", &result, NULL,
                              &err),
                   MVM_OK);
  assert_string_equal(json_string_value(result), "bad");
#endif
  json_decref(result);
  vmtest_env_free(&env);
}

static void bind_errors(void **state)
{
  mvm_program *p = vmtest_build(".model main\n  halt 1\n");
  mvm_vm *vm = NULL;
  mvm_error err;
  vmfake_tools tools;
  vmfake_tools_init(&tools, "t");
  mvm_toolbox box = vmfake_tools_adapter(&tools);
  vmfake_model model;
  vmfake_model_init(&model, "[]");
  mvm_model m = vmfake_model_adapter(&model);

  assert_int_equal(mvm_vm_new(p, &vm, &err), MVM_OK);
  assert_int_equal(mvm_vm_bind_model(vm, "other", &m, &err), MVM_ENOTFOUND);
  assert_int_equal(mvm_vm_add_toolbox(vm, &box, &err), MVM_OK);
  assert_int_equal(mvm_vm_add_toolbox(vm, &box, &err), MVM_EINVAL);
  mvm_vm_free(vm);
  mvm_program_free(p);
  vmfake_tools_free(&tools);
  vmfake_model_free(&model);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(agent_runs_tool_loop),
      cmocka_unit_test(dispatch_rejects_unoffered_and_bad_args),
      cmocka_unit_test(dispatch_context_is_reply_label),
      cmocka_unit_test(denied_call_gives_typed_result),
      cmocka_unit_test(denied_dispatch_reaches_model),
      cmocka_unit_test(denied_effect_stops_run),
      cmocka_unit_test(denied_effect_takes_failure_branch),
      cmocka_unit_test(ask_yes_runs_the_call),
      cmocka_unit_test(ask_no_denies),
      cmocka_unit_test(ask_without_user_denies),
      cmocka_unit_test(monitor_failure_denies),
      cmocka_unit_test(record_gets_outcomes),
      cmocka_unit_test(result_label_comes_from_monitor),
      cmocka_unit_test(default_monitor_records_effects),
      cmocka_unit_test(step_budget_is_its_own_error),
      cmocka_unit_test(call_depth_is_its_own_error),
      cmocka_unit_test(history_and_value_limits),
      cmocka_unit_test(adapter_failures),
      cmocka_unit_test(events_report_the_run),
      cmocka_unit_test(memory_keeps_labels),
      cmocka_unit_test(user_io),
      cmocka_unit_test(quarantined_query),
      cmocka_unit_test(endorse_passes_origin),
      cmocka_unit_test(malformed_query_output_is_null),
      cmocka_unit_test(declassify_adds_readers),
      cmocka_unit_test(unloaded_model_cannot_be_called),
      cmocka_unit_test(input_is_checked),
      cmocka_unit_test(tools_load_skips_denied),
      cmocka_unit_test(json_check_validates),
      cmocka_unit_test(bind_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
