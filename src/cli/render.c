/* render.c - a run's events for a person or for another program. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/render.h"

#define ARG_PREVIEW 100
#define RESULT_PREVIEW 100

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

static void draw_status(mvm_render *r)
{
  /* The status line shares the terminal with stdout: drawing it while
   * streamed text is mid-line would erase that text. */
  if (!r->status || r->in_text)
    return;
  clear_status(r);
  fprintf(r->err, "%s[%llu model calls | %llu tool calls", color(r, C_DIM),
          (unsigned long long)r->model_calls,
          (unsigned long long)r->tool_calls);
  if (r->denied)
    fprintf(r->err, " (%llu denied)", (unsigned long long)r->denied);
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

static void on_text(mvm_render *r, const json_t *ev)
{
  const char *text = json_string_value(json_object_get(ev, "text"));
  if (text == NULL || text[0] == '\0' || !r->stream)
    return;
  clear_status(r);
  fputs(text, r->out);
  fflush(r->out);
  r->in_text = text[strlen(text) - 1] != '\n';
}

static void report_hidden(mvm_render *r)
{
  if (r->quiet || r->json)
    return;
  if (r->hidden_tools != r->hidden_shown) {
    end_text(r);
    clear_status(r);
    fprintf(r->err, "%s  %llu tools not offered to the model: no rule of the "
                    "policy allows them (--trace=policy lists them)%s\n",
            color(r, C_DIM),
            (unsigned long long)(r->hidden_tools - r->hidden_shown),
            color(r, C_RESET));
    r->hidden_shown = r->hidden_tools;
  }
  if (r->unpinned_tools != r->unpinned_shown) {
    end_text(r);
    clear_status(r);
    fprintf(r->err, "%s  %llu tools not offered to the model because their "
                    "identity is not approved yet: run 'mvm approve POLICY' "
                    "to pin them%s\n",
            color(r, C_YELLOW),
            (unsigned long long)(r->unpinned_tools - r->unpinned_shown),
            color(r, C_RESET));
    r->unpinned_shown = r->unpinned_tools;
  }
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
  r->tool_calls++;
  if (r->quiet)
    return;
  end_text(r);
  clear_status(r);
  fprintf(r->err, "%s  -> %s%s ", color(r, C_BOLD),
          json_string_value(json_object_get(ev, "tool")), color(r, C_RESET));
  preview(r->err, json_object_get(ev, "arguments"), ARG_PREVIEW);
  fputc('\n', r->err);
}

static void on_decision(mvm_render *r, const json_t *ev)
{
  const char *verdict = json_string_value(json_object_get(ev, "verdict"));
  bool denied = verdict != NULL && strcmp(verdict, "allow") != 0;

  const char *effect = json_string_value(json_object_get(ev, "effect"));
  bool tool_call = effect != NULL && strcmp(effect, "tool.call") == 0;
  bool tool_load = effect != NULL && strcmp(effect, "tool.load") == 0;

  /* A tool the policy does not allow is simply not offered to the model;
   * one line sums those up before the model is called. */
  if (tool_load) {
    const char *why = json_string_value(json_object_get(ev, "reason"));
    if (denied && why != NULL && strstr(why, "not pinned") != NULL)
      r->unpinned_tools++;
    else if (denied)
      r->hidden_tools++;
    return;
  }
  if (denied)
    r->denied++;
  /* Allowed effects other than tool calls would only repeat the rule. */
  if (!denied && (r->quiet || !tool_call))
    return;
  end_text(r);
  clear_status(r);
  const char *rule = json_string_value(json_object_get(ev, "rule"));
  const char *reason = json_string_value(json_object_get(ev, "reason"));
  const char *target = json_string_value(json_object_get(ev, "target"));
  if (rule == NULL)
    rule = "?";
  if (reason == NULL)
    reason = "";
  /* Most reasons already start with the rule's location. */
  bool named = strncmp(reason, rule, strlen(rule)) == 0;
  if (denied)
    fprintf(r->err, "%s  DENIED %s %s%s%s: %s%s\n", color(r, C_RED),
            effect ? effect : "?", target ? target : "",
            named ? "" : " by ", named ? "" : rule, reason,
            color(r, C_RESET));
  else
    fprintf(r->err, "%s     allowed by %s%s\n", color(r, C_DIM),
            json_string_value(json_object_get(ev, "rule")),
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
    fputs(text, r->out);
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

  if (strcmp(kind, "decision") != 0)
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
  if (r->json || r->quiet)
    return;
  end_text(r);
  clear_status(r);
  fprintf(r->err, "%s[%llu model calls | %llu tool calls", color(r, C_DIM),
          (unsigned long long)r->model_calls,
          (unsigned long long)r->tool_calls);
  if (r->denied)
    fprintf(r->err, " (%llu denied)", (unsigned long long)r->denied);
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
