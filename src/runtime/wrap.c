/* wrap.c - interruption and counting around models and toolboxes. */
#include <string.h>

#include "runtime/wrap.h"

/* The stream a wrapped call hands down: the caller's stream plus the
 * interruption flag. */
struct chained_stream {
  const mvm_model_stream *outer;
  volatile sig_atomic_t *interrupted;
};

bool mvm_wrap_flag_set(void *ctx)
{
  volatile sig_atomic_t *flag = ctx;
  return flag != NULL && *flag;
}

static void chained_text(void *ctx, const char *text, size_t len)
{
  struct chained_stream *c = ctx;
  if (c->outer != NULL && c->outer->on_text != NULL)
    c->outer->on_text(c->outer->ctx, text, len);
}

static bool chained_cancelled(void *ctx)
{
  struct chained_stream *c = ctx;
  if (c->interrupted != NULL && *c->interrupted)
    return true;
  return c->outer != NULL && c->outer->cancelled != NULL &&
         c->outer->cancelled(c->outer->ctx);
}

static int model_identity(void *self, json_t **out, mvm_error *err)
{
  mvm_wrapped_model *w = self;
  return w->inner.ops->identity(w->inner.self, out, err);
}

static int model_call(void *self, const json_t *request,
                      const mvm_model_stream *stream, json_t **reply,
                      mvm_error *err)
{
  mvm_wrapped_model *w = self;
  struct chained_stream c = {stream, w->interrupted};
  mvm_model_stream s = {chained_text, chained_cancelled, &c};

  if (w->interrupted != NULL && *w->interrupted)
    return mvm_error_set(err, MVM_ECANCELLED, "run",
                         "interrupted before the model call");
  return w->inner.ops->call(w->inner.self, request, &s, reply, err);
}

static void model_close(void *self)
{
  (void)self;
}

static const mvm_model_ops wrapped_model_ops = {
    .kind = "wrapped",
    .identity = model_identity,
    .call = model_call,
    .close = model_close,
};

void mvm_wrap_model(mvm_wrapped_model *w, mvm_model inner,
                    volatile sig_atomic_t *interrupted)
{
  w->inner = inner;
  w->interrupted = interrupted;
  w->model.ops = &wrapped_model_ops;
  w->model.self = w;
}

void mvm_wrap_model_close(mvm_wrapped_model *w)
{
  if (w->inner.ops != NULL)
    w->inner.ops->close(w->inner.self);
  memset(w, 0, sizeof *w);
}

static int box_list(void *self, json_t **tools, mvm_error *err)
{
  mvm_wrapped_toolbox *w = self;

  if (w->interrupted != NULL && *w->interrupted)
    return mvm_error_set(err, MVM_ECANCELLED, "run",
                         "interrupted before listing the tools of %s",
                         w->inner.server);
  return w->inner.ops->list(w->inner.self, tools, err);
}

static int box_call(void *self, const char *name, const json_t *args,
                    const mvm_tool_call_opts *opts, json_t **result,
                    mvm_error *err)
{
  mvm_wrapped_toolbox *w = self;

  if (w->interrupted != NULL && *w->interrupted)
    return mvm_error_set(err, MVM_ECANCELLED, "run",
                         "interrupted before the call to %s.%s",
                         w->inner.server, name);
  w->calls++;

  /* The adapter polls the progress stream's cancelled(), so an interrupt
   * cancels the call in flight (MCP sends notifications/cancelled). */
  mvm_tool_call_opts chained = {0};
  if (opts != NULL)
    chained = *opts;
  struct chained_stream c = {chained.progress, w->interrupted};
  mvm_model_stream s = {chained_text, chained_cancelled, &c};
  chained.progress = &s;
  return w->inner.ops->call(w->inner.self, name, args, &chained, result, err);
}

static void box_close(void *self)
{
  (void)self;
}

static const mvm_tool_ops wrapped_tool_ops = {
    .kind = "wrapped",
    .list = box_list,
    .call = box_call,
    .close = box_close,
};

void mvm_wrap_toolbox(mvm_wrapped_toolbox *w, mvm_toolbox inner,
                      volatile sig_atomic_t *interrupted)
{
  w->inner = inner;
  w->interrupted = interrupted;
  w->calls = 0;
  w->box.server = inner.server;
  w->box.ops = &wrapped_tool_ops;
  w->box.self = w;
}

void mvm_wrap_toolbox_close(mvm_wrapped_toolbox *w)
{
  if (w->inner.ops != NULL)
    w->inner.ops->close(w->inner.self);
  memset(w, 0, sizeof *w);
}
