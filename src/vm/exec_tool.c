/* exec_tool.c - tool lifecycle and invocation: load, toolsets, call and
 * dispatch of a reply's tool calls.
 *
 * A tool result's label is the join of three labels: the arguments', the
 * context's that decided the call, and the one the monitor's
 * result_label() gives the tool. A monitor without result_label() makes
 * every result untrusted with source "tool:<server.tool>". A denied call
 * never reaches the tool. It gives a CallToolResult with "isError": true
 * and a "denied" object naming the rule and the reason, which the program
 * or the model reads like any other result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "vm/vm_internal.h"

/* ------------------------------------------------------------- loading */

/* The identity TOOL_LOAD pins: the tool's description plus "server". */
static json_t *tool_identity(const char *server, const json_t *desc)
{
  json_t *id = json_copy((json_t *)desc);
  if (id != NULL &&
      json_object_set_new(id, "server", json_string(server))) {
    json_decref(id);
    return NULL;
  }
  return id;
}

/* Asks the monitor whether a listed tool may load. */
static int decide_load(mvm_vm *vm, const mvm_insn *in, const char *server,
                       const json_t *desc, bool *allowed,
                       mvm_decision *d)
{
  const char *name = json_string_value(json_object_get(desc, "name"));
  char *full = NULL;
  json_t *identity = tool_identity(server, desc);
  int rc = MVM_ENOMEM;

  if (identity != NULL && asprintf(&full, "%s.%s", server, name) >= 0) {
    mvm_effect e = {.kind = MVM_EFFECT_TOOL_LOAD, .target = full,
                    .context_label = vm->pc_label, .identity = identity};
    rc = mvm_vm_decide(vm, &e, d, allowed);
    if (rc == MVM_OK && *allowed)
      mvm_vm_record(vm, &e, d, identity);
  } else {
    full = NULL;
  }
  free(full);
  json_decref(identity);
  if (rc)
    return mvm_vm_abort(vm, in, rc, "out of memory");
  return MVM_OK;
}

static const json_t *find_tool(const json_t *list, const char *name)
{
  size_t i;
  const json_t *t;

  json_array_foreach(list, i, t) {
    const char *n = json_string_value(json_object_get(t, "name"));
    if (n != NULL && strcmp(n, name) == 0)
      return t;
  }
  return NULL;
}

/* tool.load %dst, server.tool [, fail]
 * %dst = a handle to the tool, after listing the server's tools (once per
 * run) and the monitor allowing TOOL_LOAD with identity = the tool's
 * name, description and inputSchema, plus "server". No toolbox for the
 * server, or no such tool, fails with MVM_ENOTFOUND; a denial fails with
 * MVM_EDENIED. */
int mvm_exec_tool_load(mvm_vm *vm, const mvm_insn *in)
{
  const char *full = in->opnd[1].text;
  const char *dot = strchr(full, '.');
  char *server = strndup(full, (size_t)(dot - full));
  const char *name = dot + 1;
  mvm_toolbox_slot *slot = NULL;
  const json_t *list = NULL;
  mvm_toolset *ts = NULL;
  mvm_decision d;
  bool allowed = false;
  int rc;

  if (server == NULL)
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  rc = mvm_vm_tool_list(vm, in, server, &slot, &list);
  if (rc || slot == NULL) {
    free(server);
    return rc;
  }

  const json_t *desc = find_tool(list, name);
  if (desc == NULL) {
    rc = mvm_vm_fail(vm, in, MVM_ENOTFOUND, "server '%s' has no tool '%s'",
                     server, name);
    free(server);
    return rc;
  }
  rc = decide_load(vm, in, server, desc, &allowed, &d);
  if (rc == MVM_OK && !allowed)
    rc = mvm_vm_fail(vm, in, mvm_vm_denial_status(&d), "loading tool '%s' is denied: %s "
                     "(rule %s)", full, d.reason, d.rule);
  if (rc || !allowed) {
    free(server);
    return rc;
  }

  rc = mvm_toolset_new(&ts);
  if (rc == MVM_OK)
    rc = mvm_toolset_add(&ts, server, name, (json_t *)desc);
  free(server);
  if (rc) {
    mvm_toolset_unref(ts);
    return mvm_vm_abort(vm, in, rc, "out of memory");
  }

  mvm_value v;
  mvm_value_init(&v);
  v.kind = MVM_VALUE_TOOL;
  v.tools = ts;
  return mvm_vm_write(vm, in, 0, &v);
}

/* Adds every tool of one server that matches the pattern and that the
 * monitor lets load. */
static int load_matching(mvm_vm *vm, const mvm_insn *in,
                         mvm_toolbox_slot *slot, const char *pattern,
                         mvm_toolset **ts)
{
  const json_t *list = NULL;
  mvm_toolbox_slot *found = NULL;
  size_t i;
  const json_t *desc;
  int rc = mvm_vm_tool_list(vm, in, slot->server, &found, &list);

  if (rc || found == NULL)
    return rc;
  json_array_foreach(list, i, desc) {
    const char *name = json_string_value(json_object_get(desc, "name"));
    char *full = NULL;
    bool allowed = false;
    mvm_decision d;

    if (name == NULL) {
      mvm_log(MVM_LOG_WARN, "vm", "server '%s' listed tool %zu without a "
              "name; skipped", slot->server, i);
      continue;
    }
    if (asprintf(&full, "%s.%s", slot->server, name) < 0)
      return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
    bool match = mvm_pattern_match(pattern, full);
    free(full);
    if (!match)
      continue;

    rc = decide_load(vm, in, slot->server, desc, &allowed, &d);
    if (rc == MVM_OK && allowed &&
        mvm_toolset_add(ts, slot->server, name, (json_t *)desc))
      rc = mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
    if (rc)
      return rc;
  }
  return MVM_OK;
}

/* Whether a pattern can match tools of a server: when the part before
 * its first '.' has no '*', it names the only server it can match. */
static bool pattern_may_cover(const char *pattern, const char *server)
{
  const char *dot = strchr(pattern, '.');
  size_t n = dot ? (size_t)(dot - pattern) : strlen(pattern);

  if (dot == NULL || memchr(pattern, '*', n) != NULL)
    return true;
  return strlen(server) == n && strncmp(pattern, server, n) == 0;
}

/* tools.load %dst, pattern [, fail]
 * %dst = a toolset of every tool of the bound toolboxes whose
 * "server.tool" name matches the declared pattern ('*' matches any
 * characters) and whose TOOL_LOAD the monitor allows; a denied tool is
 * left out, not an error. A server whose tool listing fails fails the
 * instruction with the adapter's status. */
int mvm_exec_tools_load(mvm_vm *vm, const mvm_insn *in)
{
  const char *pattern = in->opnd[1].text;
  mvm_toolset *ts = NULL;
  int rc = mvm_toolset_new(&ts);

  if (rc)
    return mvm_vm_abort(vm, in, rc, "out of memory");
  for (size_t i = 0; i < vm->nboxes; i++) {
    size_t next = vm->next;
    if (!pattern_may_cover(pattern, vm->boxes[i].server))
      continue;
    rc = load_matching(vm, in, &vm->boxes[i], pattern, &ts);
    /* A failure that took the failure branch stops loading too. */
    if (rc || vm->next != next) {
      mvm_toolset_unref(ts);
      return rc;
    }
  }

  mvm_value v;
  mvm_value_init(&v);
  v.kind = MVM_VALUE_TOOLSET;
  v.tools = ts;
  return mvm_vm_write(vm, in, 0, &v);
}

/* tools.new %dst
 * %dst = an empty toolset; a model offered it gets no tools. */
int mvm_exec_tools_new(mvm_vm *vm, const mvm_insn *in)
{
  mvm_toolset *ts = NULL;
  if (mvm_toolset_new(&ts))
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");

  mvm_value v;
  mvm_value_init(&v);
  v.kind = MVM_VALUE_TOOLSET;
  v.tools = ts;
  return mvm_vm_write(vm, in, 0, &v);
}

/* tools.add %set, %tool
 * %set = %set with the tool added (a tool already in it stays once). */
int mvm_exec_tools_add(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {0, 1};
  mvm_value scratch;
  const mvm_value *tool = mvm_vm_arg(vm, in, 1, &scratch);
  const mvm_tool_entry *e = mvm_toolset_get(tool->tools, 0);
  mvm_label *label = NULL;
  mvm_value set;

  mvm_value_init(&set);
  mvm_value_copy(&set, &vm->regs[in->opnd[0].reg]);
  int rc = mvm_toolset_add(&set.tools, e->server, e->name, e->desc);
  if (rc == MVM_OK)
    rc = mvm_vm_join_args(vm, in, ks, 2, &label);
  if (rc == MVM_OK) {
    mvm_label_unref(set.label);
    set.label = label;
  } else {
    mvm_value_clear(&set);
    return mvm_vm_abort(vm, in, rc, "out of memory");
  }
  return mvm_vm_write(vm, in, 0, &set);
}

/* ------------------------------------------------------------- calling */

/* A CallToolResult that is an error the VM produced: {"content": [text],
 * "isError": true, <key>: <info>}. Steals info. */
static json_t *error_result(const char *text, const char *key, json_t *info)
{
  return json_pack("{s:[{s:s,s:s}],s:b,s:o}", "content", "type", "text",
                   "text", text, "isError", 1, key, info);
}

static json_t *denied_result(const char *tool, const mvm_decision *d)
{
  char text[MVM_REASON_MAX + MVM_RULE_MAX + 64];
  snprintf(text, sizeof text, "denied by policy: %s (rule %s)", d->reason,
           d->rule);
  return error_result(text, "denied",
                      json_pack("{s:s,s:s,s:s}", "tool", tool, "rule",
                                d->rule, "reason", d->reason));
}

/* The label of a tool's result before the call's labels join in. */
static int source_label(mvm_vm *vm, const mvm_effect *e,
                        const json_t *result, mvm_label **out)
{
  if (vm->has_monitor && vm->monitor.ops->result_label != NULL) {
    mvm_error merr;
    mvm_error_clear(&merr);
    int rc = vm->monitor.ops->result_label(vm->monitor.self, e, result, out,
                                           &merr);
    if (rc == MVM_OK)
      return MVM_OK;
    mvm_log(MVM_LOG_WARN, "vm", "monitor result_label() failed for %s: "
            "%s; labelling the result untrusted", e->target, merr.msg);
  }

  char source[MVM_OFFERED_NAME_MAX * 4];
  const char *sources[1] = {source};
  snprintf(source, sizeof source, "tool:%s", e->target);
  return mvm_label_new(sources, 1, NULL, 0, out);
}

static mvm_toolbox_slot *box_of(mvm_vm *vm, const char *server)
{
  for (size_t i = 0; i < vm->nboxes; i++) {
    if (strcmp(vm->boxes[i].server, server) == 0)
      return &vm->boxes[i];
  }
  return NULL;
}

/* The outcome of one tool call. */
typedef struct call_outcome {
  json_t *result;   /* always set on MVM_OK */
  mvm_label *label; /* the result's label */
  int adapter_rc;   /* non-zero when the adapter could not make the call */
  char adapter_msg[MVM_ERROR_MSG_MAX];
} call_outcome;

static void outcome_clear(call_outcome *o)
{
  json_decref(o->result);
  mvm_label_unref(o->label);
  memset(o, 0, sizeof *o);
}

/* Calls the adapter for an allowed effect and labels the result. */
static int invoke(mvm_vm *vm, const mvm_tool_entry *tool,
                  const mvm_effect *e, const mvm_decision *d,
                  call_outcome *o)
{
  mvm_toolbox_slot *box = box_of(vm, tool->server);
  mvm_tool_call_opts opts = {0, NULL};
  mvm_error terr;
  json_t *result = NULL;
  mvm_label *src = NULL;
  int rc;

  mvm_error_clear(&terr);
  rc = box->box.ops->call(box->box.self, tool->name, e->args, &opts, &result,
                          &terr);
  if (rc == MVM_OK && !json_is_object(result)) {
    rc = MVM_EPROTOCOL;
    snprintf(terr.msg, sizeof terr.msg, "the result is not an object");
  }
  if (rc == MVM_OK && !json_is_array(json_object_get(result, "content")) &&
      json_object_set_new(result, "content", json_array()))
    rc = MVM_ENOMEM;
  if (rc == MVM_ENOMEM) {
    json_decref(result);
    return rc;
  }

  if (rc) {
    char text[MVM_ERROR_MSG_MAX + 64];
    json_decref(result);
    o->adapter_rc = rc;
    snprintf(o->adapter_msg, sizeof o->adapter_msg, "%s", terr.msg);
    snprintf(text, sizeof text, "tool call failed: %s", terr.msg);
    result = error_result(text, "error",
                          json_pack("{s:s,s:s}", "status",
                                    mvm_status_name(rc), "message",
                                    terr.msg));
    if (result == NULL)
      return MVM_ENOMEM;
  }

  rc = source_label(vm, e, result, &src);
  if (rc == MVM_OK) {
    mvm_label *joined = NULL;
    rc = mvm_label_join(o->label, src, &joined);
    mvm_label_unref(o->label);
    o->label = joined;
  }
  mvm_label_unref(src);
  mvm_vm_record(vm, e, d, result);
  o->result = result;
  return rc;
}

/* Runs one tool call: the monitor decides TOOL_CALL, then the adapter
 * runs it unless denied. o->label starts as the join of the arguments'
 * and the context's labels. Fails only on no memory. */
static int run_tool_call(mvm_vm *vm, const mvm_tool_entry *tool,
                         const char *id, const json_t *args,
                         const mvm_label *args_label,
                         const mvm_label *context, call_outcome *o)
{
  size_t nargs = json_object_size(args);
  mvm_arg_label *arg_labels = calloc(nargs + 1, sizeof *arg_labels);
  mvm_decision d;
  bool allowed = false;
  const char *key;
  json_t *val;
  size_t n = 0;
  int rc;

  memset(o, 0, sizeof *o);
  if (arg_labels == NULL)
    return MVM_ENOMEM;
  /* A map carries one label, so every argument gets the map's. */
  json_object_foreach((json_t *)args, key, val) {
    arg_labels[n].name = key;
    arg_labels[n++].label = args_label;
  }

  mvm_effect e = {.kind = MVM_EFFECT_TOOL_CALL, .target = tool->full,
                  .args = args, .args_label = args_label,
                  .arg_labels = arg_labels, .narg_labels = n,
                  .context_label = context};
  mvm_vm_event(vm, json_pack("{s:s,s:s,s:s?,s:O}", "event", "tool_call",
                             "tool", tool->full, "id", id, "arguments",
                             args));
  rc = mvm_label_join(args_label, context, &o->label);
  if (rc == MVM_OK)
    rc = mvm_vm_decide(vm, &e, &d, &allowed);
  if (rc == MVM_OK && allowed) {
    rc = invoke(vm, tool, &e, &d, o);
  } else if (rc == MVM_OK) {
    o->result = denied_result(tool->full, &d);
    rc = o->result ? MVM_OK : MVM_ENOMEM;
  }
  free(arg_labels);

  if (rc == MVM_OK)
    mvm_vm_event(vm, json_pack("{s:s,s:s,s:s?,s:O,s:o}", "event",
                               "tool_result", "tool", tool->full, "id", id,
                               "result", o->result, "label",
                               mvm_vm_label_json(o->label)));
  return rc;
}

/* tool.call %dst, %tool, %args [, fail]
 * %dst = the tool's CallToolResult for the arguments map. The monitor
 * decides TOOL_CALL first, with the map's label on every argument and the
 * pc label as context. A denial gives the denied result described at the
 * top of this file, and the tool is never called. An adapter that cannot
 * make the call (transport, protocol, timeout) fails with its status. A
 * tool that ran and failed gives a result with "isError": true. */
int mvm_exec_tool_call(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {1, 2};
  mvm_value scratch;
  const mvm_value *tool = mvm_vm_arg(vm, in, 1, &scratch);
  const mvm_tool_entry *entry = mvm_toolset_get(tool->tools, 0);
  mvm_label *args_label = NULL;
  call_outcome o;
  int rc;

  memset(&o, 0, sizeof o);
  rc = mvm_vm_join_args(vm, in, ks, 2, &args_label);
  if (rc == MVM_OK)
    rc = run_tool_call(vm, entry, NULL, mvm_vm_arg_json(vm, in, 2),
                       args_label, vm->pc_label, &o);
  mvm_label_unref(args_label);
  /* Whether the call failed is information from the tool, so taking or
   * skipping the failure branch carries the result's label. */
  if (rc == MVM_OK && mvm_vm_fail_target(in) >= 0 && o.label != NULL)
    rc = mvm_vm_join_pc(vm, o.label);
  if (rc) {
    outcome_clear(&o);
    return mvm_vm_abort(vm, in, rc, "out of memory");
  }
  if (o.adapter_rc) {
    rc = mvm_vm_fail(vm, in, o.adapter_rc, "calling tool '%s' failed: %s",
                     entry->full, o.adapter_msg);
    outcome_clear(&o);
    return rc;
  }

  rc = mvm_vm_write_json(vm, in, 0, o.result, o.label);
  o.result = NULL;
  outcome_clear(&o);
  return rc;
}

/* ------------------------------------------------------------- dispatch */

static int append_message(mvm_vm *vm, const mvm_insn *in, mvm_value *hist,
                          json_t *msg, const mvm_label *label)
{
  if (msg == NULL)
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  if (mvm_history_len(hist->history) >= vm->limits.max_history) {
    json_decref(msg);
    return mvm_vm_abort(vm, in, MVM_ELIMIT,
                        "the history has %zu messages, the limit; trim it "
                        "with hist.trim", vm->limits.max_history);
  }
  if (mvm_history_append(&hist->history, msg, label))
    return mvm_vm_abort(vm, in, MVM_ENOMEM, "out of memory");
  return MVM_OK;
}

/* Runs one tool call of a reply and appends its tool message. */
static int dispatch_one(mvm_vm *vm, const mvm_insn *in, mvm_value *hist,
                        const mvm_toolset *tools, const json_t *call,
                        size_t index, const mvm_label *label)
{
  const char *name = json_string_value(json_object_get(call, "name"));
  const char *id = json_string_value(json_object_get(call, "id"));
  const json_t *args = json_object_get(call, "arguments");
  const mvm_tool_entry *tool = name ? mvm_toolset_find_offered(tools, name)
                                    : NULL;
  char fallback_id[32];
  call_outcome o;
  int rc = MVM_OK;

  memset(&o, 0, sizeof o);
  if (id == NULL) {
    snprintf(fallback_id, sizeof fallback_id, "call_%zu", index);
    id = fallback_id;
  }

  char text[512];
  if (tool == NULL || !json_is_object(args)) {
    const char *parse_error = json_string_value(
        json_object_get(call, "arguments_error"));
    const char *dot = name != NULL ? strchr(name, '.') : NULL;
    char wire[300];
    if (dot != NULL)
      snprintf(wire, sizeof wire, "%.*s__%s", (int)(dot - name), name,
               dot + 1);
    if (tool == NULL && dot != NULL &&
        mvm_toolset_find_offered(tools, wire) != NULL)
      snprintf(text, sizeof text, "tool '%s' was not offered under that "
               "name; it is offered as '%s'", name, wire);
    else if (tool == NULL)
      snprintf(text, sizeof text, "tool '%s' was not offered; use one of "
               "the tools listed in the request", name ? name : "");
    else
      snprintf(text, sizeof text, "the arguments of '%s' are not a JSON "
               "object%s%s", name, parse_error ? ": " : "",
               parse_error ? parse_error : "");
    /* The VM rejects the call before any monitor decides on it. The
     * events still show the call the model requested and its label, so
     * the host can audit it. */
    mvm_vm_event(vm, json_pack("{s:s,s:s,s:s,s:O?,s:O*}", "event",
                               "tool_call", "tool", name ? name : "", "id",
                               id, "arguments", args, "arguments_raw",
                               json_object_get(call, "arguments_raw")));
    mvm_vm_event(vm, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o*}", "event",
                               "decision", "effect", "tool.call", "target",
                               name ? name : "", "verdict", "deny", "rule",
                               tool ? "vm.invalid-arguments"
                                    : "vm.not-offered",
                               "reason", text, "context_label",
                               mvm_label_to_json(label)));
    o.result = error_result(text, "error",
                            json_pack("{s:s,s:s}", "status",
                                      tool ? "invalid_arguments"
                                           : "not_offered",
                                      "message", text));
    o.label = mvm_label_ref((mvm_label *)label);
    rc = o.result ? MVM_OK : MVM_ENOMEM;
  } else {
    rc = run_tool_call(vm, tool, id, args, label, label, &o);
  }
  if (rc) {
    outcome_clear(&o);
    return mvm_vm_abort(vm, in, rc, "out of memory");
  }

  char *content = mvm_vm_result_text(o.result);
  json_t *msg = content ? json_pack("{s:s,s:s,s:s,s:s}", "role", "tool",
                                    "tool_call_id", id, "name",
                                    name ? name : "", "content", content)
                        : NULL;
  free(content);
  rc = append_message(vm, in, hist, msg, o.label);
  outcome_clear(&o);
  return rc;
}

/* dispatch %history, %reply, %tools
 * Runs every tool call of %reply in order and appends one tool message
 * per call to %history ({"role": "tool", "tool_call_id", "name",
 * "content": the result's text}), labelled with the result's label. Each
 * call is decided separately by the monitor with the reply's label (and
 * the pc label) as both the arguments' label and the context, because the
 * model chose them after reading everything in that label. Four cases
 * become an error result the model reads: a name not in %tools,
 * arguments that are not an object, a denial, and an adapter that cannot
 * make the call. Only running out of memory or the history limit
 * (MVM_ELIMIT) stops the run. Append the reply first (hist.reply),
 * because providers expect the assistant message before its tool
 * results. */
int mvm_exec_dispatch(mvm_vm *vm, const mvm_insn *in)
{
  static const unsigned ks[] = {1, 2};
  mvm_value scratch;
  const mvm_value *tools = mvm_vm_arg(vm, in, 2, &scratch);
  const json_t *calls = json_object_get(mvm_vm_arg_json(vm, in, 1),
                                        "tool_calls");
  mvm_label *context = NULL;
  mvm_label *label = NULL;
  mvm_value hist;
  int rc;

  mvm_value_init(&hist);
  rc = mvm_vm_join_args(vm, in, ks, 2, &context);
  if (rc == MVM_OK)
    rc = mvm_label_join(context, vm->pc_label, &label);
  mvm_label_unref(context);
  if (rc)
    return mvm_vm_abort(vm, in, rc, "out of memory");

  mvm_value_copy(&hist, &vm->regs[in->opnd[0].reg]);
  for (size_t i = 0; rc == MVM_OK && i < json_array_size(calls); i++)
    rc = dispatch_one(vm, in, &hist, tools->tools, json_array_get(calls, i),
                      i, label);
  mvm_label_unref(label);
  if (rc) {
    mvm_value_clear(&hist);
    return rc;
  }
  return mvm_vm_write(vm, in, 0, &hist);
}
