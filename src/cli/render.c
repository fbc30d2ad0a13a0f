/* render.c - a run's events for a person or for another program. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/render.h"
#include "tools/builtin_pure.h"

#define ARG_PREVIEW 100
#define RESULT_PREVIEW 100
/* Tools named in a summary line of tools not offered; more are counted. */
#define NAMES_SHOWN 5

#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BOLD "\033[1m"
#define C_RESET "\033[0m"

double mvm_render_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mvm_render_init(mvm_render *r, bool json, bool quiet)
{
  memset(r, 0, sizeof *r);
  r->json = json;
  r->quiet = quiet;
  r->out = stdout;
  r->err = stderr;
  r->color = !json && isatty(STDERR_FILENO) && getenv("NO_COLOR") == NULL;
  r->status = !json && isatty(STDERR_FILENO);
  r->stream = !json && isatty(STDOUT_FILENO);
  r->start = mvm_render_now();
  r->hidden = json_array();
}

void mvm_render_set_policy(mvm_render *r, const char *policy_path)
{
  free(r->policy_path);
  r->policy_path = NULL;
  if (policy_path != NULL && strcmp(policy_path, "permissive") != 0)
    r->policy_path = strdup(policy_path);
}

static const char *color(const mvm_render *r, const char *code)
{
  return r->color ? code : "";
}

static void clear_status(mvm_render *r)
{
  if (r->status_shown) {
    fputs("\r\033[K", r->err);
    r->status_shown = false;
  }
}

/* Ends a line of streamed model text before anything else is printed. */
static void end_text(mvm_render *r)
{
  if (r->in_text) {
    fputc('\n', r->out);
    fflush(r->out);
    r->in_text = false;
  }
}

/* Writes BEFORE, "N THING" (with an "s" unless N is 1), then AFTER. */
static void print_count(FILE *f, const char *before, uint64_t n,
                        const char *thing, const char *after)
{
  fprintf(f, "%s%llu %s%s%s", before, (unsigned long long)n, thing,
          n == 1 ? "" : "s", after);
}

/* Writes the counts the status and final lines share: model and tool
 * calls, then the denials of each kind that occurred. */
static void print_calls(mvm_render *r)
{
  print_count(r->err, "[", r->model_calls, "model call", "");
  print_count(r->err, " | ", r->tool_calls, "tool call", "");
  if (r->tool_denied)
    print_count(r->err, " | ", r->tool_denied, "tool call", " denied");
  if (r->model_denied)
    print_count(r->err, " | ", r->model_denied, "model call", " denied");
  if (r->other_denied)
    print_count(r->err, " | ", r->other_denied, "other effect", " denied");
}

static void draw_status(mvm_render *r)
{
  /* The status line shares the terminal with stdout: drawing it while
   * streamed text is mid-line would erase that text. */
  if (!r->status || r->in_text)
    return;
  clear_status(r);
  fputs(color(r, C_DIM), r->err);
  print_calls(r);
  fprintf(r->err, " | %llu tokens",
          (unsigned long long)(r->input_tokens + r->output_tokens));
  if (r->cost_known)
    fprintf(r->err, " | $%.4f", r->cost_usd);
  fprintf(r->err, " | %.1f s]%s", mvm_render_now() - r->start,
          color(r, C_RESET));
  fflush(r->err);
  r->status_shown = true;
}

/* Writes a compact, cut preview of a JSON value. */
static void preview(FILE *f, const json_t *value, size_t max)
{
  char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
  if (text == NULL)
    return;
  size_t len = strlen(text);
  for (size_t i = 0; i < len && i < max; i++)
    fputc(text[i] == '\n' ? ' ' : text[i], f);
  if (len > max)
    fputs("...", f);
  free(text);
}

/* The text of a tool result's first text content, for a one-line view. */
static const char *result_text(const json_t *result)
{
  const json_t *content = json_object_get(result, "content");
  size_t i;
  const json_t *item;
  json_array_foreach(content, i, item)
  {
    const char *t = json_string_value(json_object_get(item, "text"));
    if (t != NULL)
      return t;
  }
  return NULL;
}

static void label_text(const json_t *label, char *buf, size_t size)
{
  mvm_label *l = NULL;
  if (label == NULL || mvm_label_from_json(label, &l, NULL) != MVM_OK) {
    snprintf(buf, size, "?");
    return;
  }
  mvm_label_format(l, buf, size);
  mvm_label_unref(l);
}

/* Writes model or program text for a person to read. Control characters
 * other than newline and tab are written in caret notation (ESC as "^[",
 * CR as "^M"), and C1 controls (U+0080 to U+009F) as "<U+009B>". So text
 * steered by an injection cannot move the cursor, erase the DENIED lines
 * or set the terminal title. --json output keeps the exact text. */
static void write_text(FILE *f, const char *text)
{
  const unsigned char *s = (const unsigned char *)text;

  for (size_t i = 0; s[i] != '\0'; i++) {
    unsigned char c = s[i];
    if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f && c != 0xc2)) {
      fputc(c, f);
    } else if (c == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
      fprintf(f, "<U+%04X>", (unsigned)s[i + 1]);
      i++;
    } else if (c == 0xc2) {
      fputc(c, f);
    } else {
      fputc('^', f);
      fputc(c == 0x7f ? '?' : c + 0x40, f);
    }
  }
}

static void on_text(mvm_render *r, const json_t *ev)
{
  const char *text = json_string_value(json_object_get(ev, "text"));
  if (text == NULL || text[0] == '\0' || !r->stream)
    return;
  clear_status(r);
  write_text(r->out, text);
  fflush(r->out);
  r->in_text = text[strlen(text) - 1] != '\n';
}

/* Reasons for not offering a tool to the model. The pin reasons come from
 * the decision's "pin" field, which the monitor fills with the reason it
 * stores in the lock file: "new", "changed" or "shadows KEY". */
enum hidden_kind {
  HIDDEN_NO_RULE,  /* no rule allows loading it (the rule "default") */
  HIDDEN_CHANGED,  /* it differs from its pinned identity */
  HIDDEN_SHADOWS,  /* unpinned, with the name of another server's tool */
  HIDDEN_UNPINNED, /* unpinned, and no user confirmed pinning it */
  HIDDEN_OTHER,    /* a deny rule or a budget */
  HIDDEN_KINDS
};

static enum hidden_kind hidden_kind(const json_t *load, const char **shadowed)
{
  const char *rule = json_string_value(json_object_get(load, "rule"));
  const char *why = json_string_value(json_object_get(load, "pin"));

  *shadowed = NULL;
  if (why == NULL)
    return rule != NULL && strcmp(rule, "default") == 0 ? HIDDEN_NO_RULE
                                                        : HIDDEN_OTHER;
  if (strcmp(why, "changed") == 0)
    return HIDDEN_CHANGED;
  if (strncmp(why, "shadows ", 8) == 0) {
    *shadowed = why + 8;
    return HIDDEN_SHADOWS;
  }
  if (strcmp(why, "new") == 0)
    return HIDDEN_UNPINNED;
  return HIDDEN_OTHER;
}

/* Writes one summary line: "N tools not offered to the model", the
 * reason (`one` when N is 1, else `many`), the first tools' names when
 * `names` is set, and the hint. */
static void print_hidden_line(mvm_render *r, const char *colour, size_t n,
                              const char *one, const char *many,
                              const json_t *names, const char *hint)
{
  fprintf(r->err, "%s  %zu tool%s not offered to the model%s", colour, n,
          n == 1 ? "" : "s", n == 1 ? one : many);
  for (size_t i = 0; i < json_array_size(names) && i < NAMES_SHOWN; i++)
    fprintf(r->err, "%s%s", i == 0 ? ": " : ", ",
            json_string_value(json_array_get(names, i)));
  if (json_array_size(names) > NAMES_SHOWN)
    fprintf(r->err, " and %zu more", json_array_size(names) - NAMES_SHOWN);
  fprintf(r->err, "%s%s\n", hint, color(r, C_RESET));
}

/* Sums up the tool loads denied since the last summary, a line for each
 * reason. */
static void report_hidden(mvm_render *r)
{
  size_t count[HIDDEN_KINDS] = {0};
  json_t *names[HIDDEN_KINDS] = {NULL};
  char approve[1200] = "";
  char hint[1400];
  size_t i;
  json_t *load;

  if (json_array_size(r->hidden) == 0)
    return;
  if (r->quiet || r->json) {
    json_array_clear(r->hidden);
    return;
  }
  json_array_foreach(r->hidden, i, load) {
    const char *shadowed = NULL;
    enum hidden_kind kind = hidden_kind(load, &shadowed);
    const char *target = json_string_value(json_object_get(load, "target"));
    char name[600];
    /* The std tools are bound in every run; a policy that does not allow
     * them is the common case, not news. */
    if (kind == HIDDEN_NO_RULE && target != NULL &&
        strncmp(target, MVM_BUILTIN_PURE_SERVER ".",
                strlen(MVM_BUILTIN_PURE_SERVER ".")) == 0)
      continue;
    if (shadowed != NULL)
      snprintf(name, sizeof name, "%s (shadows %s)", target, shadowed);
    else
      snprintf(name, sizeof name, "%s", target ? target : "?");
    count[kind]++;
    if (names[kind] == NULL)
      names[kind] = json_array();
    json_array_append_new(names[kind], json_string(name));
  }
  json_array_clear(r->hidden);

  if (r->policy_path != NULL) {
    char word[1024];
    snprintf(approve, sizeof approve, "%s approve %s", mvm_cli_self(),
             mvm_cli_shell_word(r->policy_path, word, sizeof word));
  }
  end_text(r);
  clear_status(r);
  if (count[HIDDEN_NO_RULE])
    print_hidden_line(r, color(r, C_DIM), count[HIDDEN_NO_RULE],
                      ": no rule of the policy allows it",
                      ": no rule of the policy allows them", NULL,
                      " (--trace=policy lists the decisions)");
  if (count[HIDDEN_CHANGED]) {
    snprintf(hint, sizeof hint, "; to review the change and pin what is "
             "new, run '%s'", approve);
    print_hidden_line(r, color(r, C_YELLOW), count[HIDDEN_CHANGED],
                      " because it differs from its pinned identity (its "
                      "description or input schema changed)",
                      " because they differ from their pinned identities "
                      "(their descriptions or input schemas changed)",
                      names[HIDDEN_CHANGED], hint);
  }
  if (count[HIDDEN_SHADOWS]) {
    snprintf(hint, sizeof hint, "; if the tools of both servers are "
             "wanted, run '%s'", approve);
    print_hidden_line(r, color(r, C_YELLOW), count[HIDDEN_SHADOWS],
                      " because it is not pinned and has the name of "
                      "another server's tool",
                      " because they are not pinned and have the names of "
                      "other servers' tools",
                      names[HIDDEN_SHADOWS], hint);
  }
  if (count[HIDDEN_UNPINNED]) {
    snprintf(hint, sizeof hint, ": run '%s' to review and pin the tools",
             approve);
    print_hidden_line(r, color(r, C_YELLOW), count[HIDDEN_UNPINNED],
                      " because its identity is not approved yet",
                      " because their identity is not approved yet", NULL,
                      hint);
  }
  if (count[HIDDEN_OTHER])
    print_hidden_line(r, color(r, C_DIM), count[HIDDEN_OTHER],
                      ": the policy denies loading it",
                      ": the policy denies loading them", NULL,
                      " (--trace=policy shows why)");
  for (int k = 0; k < HIDDEN_KINDS; k++)
    json_decref(names[k]);
}

static void on_model_reply(mvm_render *r, const json_t *ev)
{
  const json_t *usage = json_object_get(json_object_get(ev, "reply"), "usage");
  const json_t *cost =
      json_object_get(json_object_get(ev, "reply"), "cost_usd");

  r->model_calls++;
  r->input_tokens +=
      (uint64_t)json_integer_value(json_object_get(usage, "input_tokens"));
  r->output_tokens +=
      (uint64_t)json_integer_value(json_object_get(usage, "output_tokens"));
  if (json_is_number(cost)) {
    r->cost_usd += json_number_value(cost);
    r->cost_known = true;
  }
  end_text(r);

  const char *text =
      json_string_value(json_object_get(json_object_get(ev, "reply"), "text"));
  free(r->last_text);
  r->last_text = text ? strdup(text) : NULL;
  if (!r->stream && !r->quiet && !r->json && text != NULL && text[0] != '\0') {
    json_t *s = json_string(text);
    fprintf(r->err, "%s  model: ", color(r, C_DIM));
    preview(r->err, s, RESULT_PREVIEW);
    fprintf(r->err, "%s\n", color(r, C_RESET));
    json_decref(s);
  }
}

static void on_tool_call(mvm_render *r, const json_t *ev)
{
  if (r->quiet)
    return;
  end_text(r);
  clear_status(r);
  fprintf(r->err, "%s  -> %s%s ", color(r, C_BOLD),
          json_string_value(json_object_get(ev, "tool")), color(r, C_RESET));
  preview(r->err, json_object_get(ev, "arguments"), ARG_PREVIEW);
  fputc('\n', r->err);
}

static bool is_effect(const char *effect, const char *name)
{
  return effect != NULL && strcmp(effect, name) == 0;
}

/* Counts a decision for the status line. Tool calls count when allowed,
 * as the manifest counts the calls that reached a server; model.call
 * counts at its reply. */
static void count_decision(mvm_render *r, const char *effect, bool denied)
{
  if (is_effect(effect, "tool.call")) {
    if (denied)
      r->tool_denied++;
    else
      r->tool_calls++;
  } else if (is_effect(effect, "model.call") ||
             is_effect(effect, "model.query")) {
    /* NOTE: no event reports a model.query's reply, so an allowed query
     * counts here even when the provider then fails, and its tokens are
     * missing from the status line. */
    if (denied)
      r->model_denied++;
    else if (is_effect(effect, "model.query"))
      r->model_calls++;
  } else if (denied) {
    r->other_denied++;
  }
}

static void on_decision(mvm_render *r, const json_t *ev)
{
  const char *verdict = json_string_value(json_object_get(ev, "verdict"));
  bool denied = verdict != NULL && strcmp(verdict, "allow") != 0;
  const char *effect = json_string_value(json_object_get(ev, "effect"));
  const char *rule = json_string_value(json_object_get(ev, "rule"));
  const char *reason = json_string_value(json_object_get(ev, "reason"));
  const char *target = json_string_value(json_object_get(ev, "target"));

  /* A tool the policy does not allow is simply not offered to the model;
   * lines sum those up, by reason, before the model is called. */
  if (is_effect(effect, "tool.load")) {
    if (denied)
      json_array_append_new(
          r->hidden,
          json_pack("{s:s, s:s, s:O*}", "target", target ? target : "",
                    "rule", rule ? rule : "", "pin",
                    json_object_get(ev, "pin")));
    return;
  }
  count_decision(r, effect, denied);
  /* Allowed effects other than tool calls would only repeat the rule. */
  if (!denied && (r->quiet || !is_effect(effect, "tool.call")))
    return;
  end_text(r);
  clear_status(r);
  if (rule == NULL)
    rule = "?";
  if (reason == NULL)
    reason = "";
  bool named = mvm_cli_reason_names_rule(reason, rule);
  if (denied)
    fprintf(r->err, "%s  DENIED %s %s%s%s: %s%s\n", color(r, C_RED),
            effect ? effect : "?", target ? target : "",
            named ? "" : " by ", named ? "" : rule, reason,
            color(r, C_RESET));
  else
    fprintf(r->err, "%s     allowed by %s%s\n", color(r, C_DIM), rule,
            color(r, C_RESET));
}

static void on_tool_result(mvm_render *r, const json_t *ev)
{
  const json_t *result = json_object_get(ev, "result");
  char label[256];

  if (r->quiet)
    return;
  clear_status(r);
  label_text(json_object_get(ev, "label"), label, sizeof label);
  bool error = json_is_true(json_object_get(result, "isError"));
  fprintf(r->err, "%s  <- %s%s [%s]: ", color(r, error ? C_YELLOW : C_DIM),
          json_string_value(json_object_get(ev, "tool")),
          error ? " (error)" : "", label);
  const char *text = result_text(result);
  if (text != NULL) {
    json_t *s = json_string(text);
    preview(r->err, s, RESULT_PREVIEW);
    json_decref(s);
  } else {
    preview(r->err, result, RESULT_PREVIEW);
  }
  fprintf(r->err, "%s\n", color(r, C_RESET));
}

static void on_answer(mvm_render *r, const json_t *ev)
{
  const char *text = json_string_value(json_object_get(ev, "text"));
  end_text(r);
  clear_status(r);
  if (text == NULL)
    return;
  /* Text streamed to a terminal is not shown twice. */
  bool streamed = r->stream && r->last_text != NULL &&
                  strcmp(r->last_text, text) == 0;
  if (!streamed) {
    write_text(r->out, text);
    if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
      fputc('\n', r->out);
    fflush(r->out);
  }
}

void mvm_render_event(void *ctx, const json_t *event)
{
  mvm_render *r = ctx;
  const char *kind = json_string_value(json_object_get(event, "event"));
  if (r->json) {
    if (kind != NULL && strcmp(kind, "model_reply") == 0)
      on_model_reply(r, event);
    char *line =
        json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (line != NULL) {
      fprintf(r->out, "%s\n", line);
      fflush(r->out);
      free(line);
    }
    return;
  }
  if (kind == NULL)
    return;

  r->events_seen = true;
  /* The tool loads come first in a run; the first other event, a model
   * load's decision included, closes their summary. */
  const char *effect = json_string_value(json_object_get(event, "effect"));
  if (strcmp(kind, "decision") != 0 || effect == NULL ||
      strcmp(effect, "tool.load") != 0)
    report_hidden(r);
  if (strcmp(kind, "text") == 0)
    on_text(r, event);
  else if (strcmp(kind, "model_reply") == 0)
    on_model_reply(r, event);
  else if (strcmp(kind, "tool_call") == 0)
    on_tool_call(r, event);
  else if (strcmp(kind, "decision") == 0)
    on_decision(r, event);
  else if (strcmp(kind, "tool_result") == 0)
    on_tool_result(r, event);
  else if (strcmp(kind, "answer") == 0)
    on_answer(r, event);
  draw_status(r);
}

void mvm_render_notice(mvm_render *r, const char *fmt, ...)
{
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);

  if (r->json) {
    mvm_render_emit(r, json_pack("{s:s, s:s}", "event", "notice", "text",
                                 line));
    return;
  }
  end_text(r);
  clear_status(r);
  fprintf(r->err, "mvm: %s\n", line);
  fflush(r->err);
}

void mvm_render_emit(mvm_render *r, json_t *event)
{
  if (event == NULL)
    return;
  if (r->json) {
    char *line =
        json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (line != NULL) {
      fprintf(r->out, "%s\n", line);
      fflush(r->out);
      free(line);
    }
  }
  json_decref(event);
}

void mvm_render_finish(mvm_render *r)
{
  free(r->last_text);
  r->last_text = NULL;
  free(r->policy_path);
  r->policy_path = NULL;
  json_decref(r->hidden);
  r->hidden = NULL;
  if (r->json || r->quiet)
    return;
  end_text(r);
  clear_status(r);
  /* A run that stopped before its program started (an invalid config
   * file, a server that did not start) has nothing to count. */
  if (!r->events_seen)
    return;
  fputs(color(r, C_DIM), r->err);
  print_calls(r);
  fprintf(r->err, " | %llu tokens in, %llu out",
          (unsigned long long)r->input_tokens,
          (unsigned long long)r->output_tokens);
  if (r->cost_known)
    fprintf(r->err, " | $%.4f", r->cost_usd);
  fprintf(r->err, " | %.2f s]%s\n", mvm_render_now() - r->start,
          color(r, C_RESET));
  fflush(r->err);
}

void mvm_render_log(void *ctx, int level, const char *where, const char *line)
{
  mvm_render *r = ctx;
  static const char *const names[] = {"trace", "debug", "info", "warning",
                                      "error"};
  const char *name = level >= 0 && level <= MVM_LOG_ERROR ? names[level]
                                                          : "log";

  end_text(r);
  clear_status(r);
  if (level == MVM_LOG_TRACE)
    fprintf(r->err, "mvm: trace: %s: %s\n", where, line);
  else
    fprintf(r->err, "mvm: %s: %s: %s\n", name, where, line);
  fflush(r->err);
}
