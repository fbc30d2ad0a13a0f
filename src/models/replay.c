/* replay.c - the replay model and the recorder that writes replay files. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "base/log.h"
#include "models/reply.h"
#include "models/replay.h"

/* Fragments a replayed text is cut into, so callers see several on_text
 * calls as they would from a streamed provider reply. */
#define REPLAY_TEXT_PIECES 4

struct replay {
  char *path;     /* as given, for messages */
  char *endpoint; /* the absolute path, for the identity */
  char *model;
  json_t *replies; /* normalized replies */
  size_t next;
  size_t max_tool_calls;
  mvm_model_meter *meter; /* borrowed; may be NULL */
};

struct recorder {
  mvm_model inner;
  char *path;
  char *model;
  json_t *replies;
};

static int replay_identity(void *self, json_t **out, mvm_error *err)
{
  struct replay *r = self;
  json_t *id = json_pack("{ssssss}", "provider", "replay", "model", r->model,
                         "endpoint", r->endpoint);
  if (id == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "replay",
                         "out of memory building the identity of '%s'",
                         r->path);
  *out = id;
  return MVM_OK;
}

static int check_request(const json_t *request, const char *where,
                         mvm_error *err)
{
  if (!json_is_object(request) ||
      !json_is_array(json_object_get(request, "messages")))
    return mvm_error_set(err, MVM_EINVAL, where,
                         "the model request must be an object with a "
                         "'messages' array");
  return MVM_OK;
}

static int replay_call(void *self, const json_t *request,
                       const mvm_model_stream *stream, json_t **reply,
                       mvm_error *err)
{
  struct replay *r = self;
  int rc = check_request(request, "replay", err);
  if (rc)
    return rc;

  if (r->next >= json_array_size(r->replies))
    return mvm_error_set(err, MVM_EMODEL, "replay",
                         "replay file '%s' has no reply left (played %zu)",
                         r->path, r->next);

  json_t *next = json_array_get(r->replies, r->next);
  r->next++;
  mvm_trace(MVM_TRACE_MODEL, "replay '%s': reply %zu of %zu", r->path,
            r->next, json_array_size(r->replies));

  const json_t *text = json_object_get(next, "text");
  rc = mvm_reply_stream_text(stream, json_string_value(text),
                             json_string_length(text), REPLAY_TEXT_PIECES,
                             "replay", err);
  if (rc)
    return rc;

  json_t *copy = json_deep_copy(next);
  if (copy == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "replay",
                         "out of memory copying reply %zu of '%s'",
                         r->next - 1, r->path);
  mvm_model_meter_add(r->meter, copy);
  *reply = copy;
  return MVM_OK;
}

static void replay_close(void *self)
{
  struct replay *r = self;
  if (r == NULL)
    return;
  json_decref(r->replies);
  free(r->model);
  free(r->path);
  free(r->endpoint);
  free(r);
}

static const mvm_model_ops replay_ops = {
    .kind = "replay",
    .identity = replay_identity,
    .call = replay_call,
    .close = replay_close,
};

/* Checks the top-level shape and normalizes every reply into r. */
static int load_replies(struct replay *r, const json_t *doc, mvm_error *err)
{
  const json_t *format = json_object_get(doc, "format");
  const json_t *model = json_object_get(doc, "model");
  const json_t *replies = json_object_get(doc, "replies");
  size_t i;
  const json_t *reply;

  if (!json_is_object(doc))
    return mvm_error_set(err, MVM_EPARSE, "replay",
                         "replay file '%s' must contain a JSON object",
                         r->path);
  if (!json_is_string(format) ||
      strcmp(json_string_value(format), MVM_REPLAY_FORMAT) != 0)
    return mvm_error_set(err, MVM_EPARSE, "replay",
                         "replay file '%s': field 'format' must be \"%s\"",
                         r->path, MVM_REPLAY_FORMAT);
  if (!json_is_string(model))
    return mvm_error_set(err, MVM_EPARSE, "replay",
                         "replay file '%s': field 'model' must be a string "
                         "naming the recorded model",
                         r->path);
  if (!json_is_array(replies))
    return mvm_error_set(err, MVM_EPARSE, "replay",
                         "replay file '%s': field 'replies' must be an "
                         "array of replies",
                         r->path);

  r->model = strdup(json_string_value(model));
  r->replies = json_array();
  if (r->model == NULL || r->replies == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "replay",
                         "out of memory loading '%s'", r->path);

  json_array_foreach(replies, i, reply) {
    char what[MVM_ERROR_MSG_MAX / 2];
    json_t *norm = NULL;

    snprintf(what, sizeof what, "replay file '%s', reply %zu", r->path, i);
    int rc = mvm_reply_normalize(reply, what, r->model, r->max_tool_calls,
                                 &norm, err);
    if (rc) {
      if (err != NULL)
        snprintf(err->where, sizeof err->where, "replay");
      return rc;
    }
    if (json_array_append_new(r->replies, norm))
      return mvm_error_set(err, MVM_ENOMEM, "replay",
                           "out of memory loading '%s'", r->path);
  }
  return MVM_OK;
}

int mvm_replay_open(const char *path, mvm_model *out, mvm_error *err)
{
  return mvm_replay_open_config(path, NULL, out, err);
}

int mvm_replay_open_config(const char *path, const mvm_model_config *cfg,
                           mvm_model *out, mvm_error *err)
{
  json_t *doc = NULL;
  struct replay *r = calloc(1, sizeof *r);
  mvm_model_settings settings;
  int rc;

  if (r == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "replay",
                         "out of memory opening '%s'", path);
  mvm_model_settings_from(cfg, &settings);
  r->max_tool_calls = settings.max_tool_calls;
  r->meter = settings.meter;
  r->path = strdup(path);
  /* The identity names the file, not the spelling of its path, so a pin
   * made with a relative path still matches an absolute one. */
  r->endpoint = realpath(path, NULL);
  if (r->endpoint == NULL && r->path != NULL)
    r->endpoint = strdup(path);
  if (r->path == NULL || r->endpoint == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "replay",
                       "out of memory opening '%s'", path);
    goto out;
  }

  rc = mvm_json_load_file(path, NULL, &doc, err);
  if (rc) {
    if (err != NULL)
      snprintf(err->where, sizeof err->where, "replay");
    goto out;
  }
  rc = load_replies(r, doc, err);
  if (rc)
    goto out;

  mvm_trace(MVM_TRACE_MODEL, "replay '%s': %zu replies of model '%s'", path,
            json_array_size(r->replies), r->model);
  out->ops = &replay_ops;
  out->self = r;
  r = NULL;

out:
  json_decref(doc);
  replay_close(r);
  return rc;
}

/* ---------------------------------------------------------------- record */

/* Writes `text` to `path` through a temporary file in the same folder,
 * synced before the rename and followed by a sync of the folder. */
static int write_atomic(const char *path, const char *text, mvm_error *err)
{
  size_t len = strlen(text);
  char *tmp = NULL;
  char *dir_copy = NULL;
  int fd = -1;
  int rc = MVM_OK;

  if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
    tmp = NULL;
    rc = mvm_error_set(err, MVM_ENOMEM, "replay",
                       "out of memory writing '%s'", path);
    goto out;
  }

  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = mvm_error_set(err, MVM_EIO, "replay",
                       "cannot create '%s': %s; check that the folder "
                       "exists and is writable",
                       tmp, strerror(errno));
    goto out;
  }

  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, text + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = mvm_error_set(err, MVM_EIO, "replay", "cannot write '%s': %s",
                         tmp, strerror(errno));
      goto out;
    }
    done += (size_t)n;
  }
  if (fsync(fd) != 0) {
    rc = mvm_error_set(err, MVM_EIO, "replay", "cannot sync '%s': %s", tmp,
                       strerror(errno));
    goto out;
  }
  close(fd);
  fd = -1;

  if (rename(tmp, path) != 0) {
    rc = mvm_error_set(err, MVM_EIO, "replay",
                       "cannot rename '%s' to '%s': %s", tmp, path,
                       strerror(errno));
    goto out;
  }

  dir_copy = strdup(path);
  if (dir_copy != NULL) {
    int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }

out:
  if (fd >= 0)
    close(fd);
  if (rc && tmp != NULL)
    unlink(tmp);
  free(dir_copy);
  free(tmp);
  return rc;
}

static int recorder_save(struct recorder *rec, mvm_error *err)
{
  json_t *doc = json_pack("{sssssO}", "format", MVM_REPLAY_FORMAT, "model",
                          rec->model, "replies", rec->replies);
  if (doc == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "replay",
                         "out of memory writing '%s'", rec->path);

  char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(doc);
  if (text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "replay",
                         "out of memory writing '%s'", rec->path);

  int rc = write_atomic(rec->path, text, err);
  free(text);
  return rc;
}

static int recorder_identity(void *self, json_t **out, mvm_error *err)
{
  struct recorder *rec = self;
  return rec->inner.ops->identity(rec->inner.self, out, err);
}

static int recorder_call(void *self, const json_t *request,
                         const mvm_model_stream *stream, json_t **reply,
                         mvm_error *err)
{
  struct recorder *rec = self;
  json_t *got = NULL;

  int rc = rec->inner.ops->call(rec->inner.self, request, stream, &got, err);
  if (rc)
    return rc;

  json_t *copy = json_deep_copy(got);
  if (copy == NULL || json_array_append_new(rec->replies, copy)) {
    json_decref(got);
    return mvm_error_set(err, MVM_ENOMEM, "replay",
                         "out of memory recording to '%s'", rec->path);
  }
  rc = recorder_save(rec, err);
  if (rc) {
    json_decref(got);
    return rc;
  }
  *reply = got;
  return MVM_OK;
}

static void recorder_close(void *self)
{
  struct recorder *rec = self;
  if (rec == NULL)
    return;
  if (rec->inner.ops != NULL)
    rec->inner.ops->close(rec->inner.self);
  json_decref(rec->replies);
  free(rec->model);
  free(rec->path);
  free(rec);
}

static const mvm_model_ops recorder_ops = {
    .kind = "record",
    .identity = recorder_identity,
    .call = recorder_call,
    .close = recorder_close,
};

/* Takes the model id from the inner model's identity. */
static int recorder_model_name(struct recorder *rec, mvm_error *err)
{
  json_t *id = NULL;
  int rc = rec->inner.ops->identity(rec->inner.self, &id, err);
  if (rc)
    return rc;

  const char *model = json_string_value(json_object_get(id, "model"));
  rec->model = strdup(model ? model : "");
  json_decref(id);
  if (rec->model == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "replay",
                         "out of memory opening '%s'", rec->path);
  return MVM_OK;
}

int mvm_replay_record(mvm_model inner, const char *path, mvm_model *out,
                      mvm_error *err)
{
  struct recorder *rec = calloc(1, sizeof *rec);
  int rc;

  if (rec == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "replay",
                         "out of memory opening '%s'", path);
  rec->path = strdup(path);
  rec->replies = json_array();
  if (rec->path == NULL || rec->replies == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "replay",
                       "out of memory opening '%s'", path);
    goto out;
  }

  rec->inner = inner;
  rc = recorder_model_name(rec, err);
  if (rc == MVM_OK)
    rc = recorder_save(rec, err);
  rec->inner.ops = NULL; /* inner stays the caller's until success */
  if (rc)
    goto out;

  rec->inner = inner;
  out->ops = &recorder_ops;
  out->self = rec;
  rec = NULL;

out:
  recorder_close(rec);
  return rc;
}
