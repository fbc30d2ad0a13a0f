/* settings.c - flags, environment, config file, defaults. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "runtime/settings.h"
#include "store/paths.h"

#define CONFIG_MAX_BYTES (256u * 1024)

static const char *const config_keys[] = {"model", "policy", "mcp_config",
                                          "model_config", "builtins",
                                          "state_dir", NULL};

static const char *env_nonempty(const char *name)
{
  const char *v = getenv(name);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

static int set_value(mvm_setting *s, const char *value, const char *origin,
                     mvm_error *err)
{
  free(s->value);
  s->value = strdup(value);
  s->origin = origin;
  if (s->value == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "settings", "out of memory");
  return MVM_OK;
}

/* Finds the config file: flag, environment, then the XDG location when
 * the file exists there. *path NULL means none. */
static int find_config(const mvm_settings_flags *flags, char **path,
                       mvm_error *err)
{
  const char *given = flags->config ? flags->config : env_nonempty("MVM_CONFIG");
  char buf[4096];

  *path = NULL;
  if (given != NULL) {
    *path = strdup(given);
    return *path ? MVM_OK
                 : mvm_error_set(err, MVM_ENOMEM, "settings", "out of memory");
  }

  const char *xdg = env_nonempty("XDG_CONFIG_HOME");
  const char *home = env_nonempty("HOME");
  if (xdg != NULL && xdg[0] == '/')
    snprintf(buf, sizeof buf, "%s/mvm/config.json", xdg);
  else if (home != NULL)
    snprintf(buf, sizeof buf, "%s/.config/mvm/config.json", home);
  else
    return MVM_OK;

  if (access(buf, F_OK) != 0)
    return MVM_OK;
  *path = strdup(buf);
  return *path ? MVM_OK
               : mvm_error_set(err, MVM_ENOMEM, "settings", "out of memory");
}

/* Makes a path from the config file absolute against the file's folder.
 * Values with a colon are model specs ("replay:FILE" included) and the
 * policy name "permissive": both are kept as written. */
static int config_path_value(const char *config_path, const char *value,
                             char **out)
{
  if (value[0] == '/' || strchr(value, ':') != NULL ||
      strcmp(value, MVM_POLICY_PERMISSIVE) == 0) {
    *out = strdup(value);
    return *out ? MVM_OK : MVM_ENOMEM;
  }

  char *copy = strdup(config_path);
  if (copy == NULL)
    return MVM_ENOMEM;
  int n = asprintf(out, "%s/%s", dirname(copy), value);
  free(copy);
  return n < 0 ? MVM_ENOMEM : MVM_OK;
}

static int read_config(const char *path, json_t **doc, mvm_error *err)
{
  mvm_json_limits limits = {CONFIG_MAX_BYTES, 16};
  int rc = mvm_json_load_file(path, &limits, doc, err);

  if (rc) {
    char why[MVM_ERROR_MSG_MAX];
    snprintf(why, sizeof why, "%s", err->msg);
    return mvm_error_set(err, MVM_ECONFIG, "settings",
                         "cannot read the config file: %.400s", why);
  }
  if (!json_is_object(*doc))
    return mvm_error_set(err, MVM_ECONFIG, "settings",
                         "config file '%s' must hold a JSON object", path);

  const char *key;
  json_t *value;
  json_object_foreach(*doc, key, value)
  {
    size_t i;
    for (i = 0; config_keys[i] != NULL; i++) {
      if (strcmp(key, config_keys[i]) == 0)
        break;
    }
    if (config_keys[i] == NULL)
      return mvm_error_set(err, MVM_ECONFIG, "settings",
                           "config file '%s': unknown key '%s'; valid keys: "
                           "model, policy, mcp_config, model_config, "
                           "builtins, state_dir",
                           path, key);
    if (!json_is_string(value))
      return mvm_error_set(err, MVM_ECONFIG, "settings",
                           "config file '%s': key '%s' must be a string",
                           path, key);
  }
  return MVM_OK;
}

/* Applies one setting from its four sources, highest first. */
static int resolve_one(mvm_setting *s, const char *flag, const char *flag_name,
                       const char *env_name, const json_t *doc,
                       const char *config_path, const char *key,
                       mvm_error *err)
{
  const char *env = env_nonempty(env_name);

  if (flag != NULL)
    return set_value(s, flag, flag_name, err);
  if (env != NULL)
    return set_value(s, env, env_name, err);

  const char *cfg = doc ? json_string_value(json_object_get(doc, key)) : NULL;
  if (cfg == NULL)
    return MVM_OK;

  char *abs = NULL;
  if (config_path_value(config_path, cfg, &abs))
    return mvm_error_set(err, MVM_ENOMEM, "settings", "out of memory");
  free(s->value);
  s->value = abs;
  s->origin = "config file";
  return MVM_OK;
}

int mvm_settings_resolve(const mvm_settings_flags *flags, mvm_settings *out,
                         mvm_error *err)
{
  mvm_settings s;
  json_t *doc = NULL;
  int rc;

  memset(&s, 0, sizeof s);
  rc = find_config(flags, &s.config_path, err);
  if (rc == MVM_OK && s.config_path != NULL)
    rc = read_config(s.config_path, &doc, err);

  if (rc == MVM_OK)
    rc = resolve_one(&s.model, flags->model, "--model", "MVM_MODEL", doc,
                     s.config_path, "model", err);
  if (rc == MVM_OK)
    rc = resolve_one(&s.policy, flags->policy, "--policy", "MVM_POLICY", doc,
                     s.config_path, "policy", err);
  if (rc == MVM_OK)
    rc = resolve_one(&s.mcp_config, flags->mcp_config, "--mcp-config",
                     "MVM_MCP_CONFIG", doc, s.config_path, "mcp_config",
                     err);
  if (rc == MVM_OK)
    rc = resolve_one(&s.model_config, flags->model_config, "--model-config",
                     "MVM_MODEL_CONFIG", doc, s.config_path, "model_config",
                     err);
  if (rc == MVM_OK)
    rc = resolve_one(&s.builtins, flags->builtins, "--builtins",
                     "MVM_BUILTINS", doc, s.config_path, "builtins", err);
  if (rc == MVM_OK)
    rc = resolve_one(&s.state_dir, flags->state_dir, "--state-dir",
                     "MVM_STATE_DIR", doc, s.config_path, "state_dir", err);
  json_decref(doc);
  if (rc)
    goto fail;

  /* Embedded defaults. */
  if (s.model.value == NULL) {
    if (env_nonempty("OPENAI_API_KEY") != NULL)
      rc = set_value(&s.model, MVM_DEFAULT_OPENAI_MODEL,
                     "default (OPENAI_API_KEY is set)", err);
    else if (env_nonempty("ANTHROPIC_API_KEY") != NULL)
      rc = set_value(&s.model, MVM_DEFAULT_ANTHROPIC_MODEL,
                     "default (ANTHROPIC_API_KEY is set)", err);
    else
      s.demo_model = true;
  }
  s.demo_servers = s.mcp_config.value == NULL;
  s.demo_policy = s.policy.value == NULL;
  if (rc == MVM_OK && s.state_dir.value == NULL) {
    char dir[4096];
    rc = mvm_state_dir(dir, sizeof dir, err);
    if (rc == MVM_OK)
      rc = set_value(&s.state_dir, dir, "default", err);
  }
  if (rc)
    goto fail;

  *out = s;
  return MVM_OK;

fail:
  mvm_settings_free(&s);
  return rc;
}

void mvm_settings_free(mvm_settings *s)
{
  free(s->config_path);
  free(s->model.value);
  free(s->policy.value);
  free(s->mcp_config.value);
  free(s->model_config.value);
  free(s->builtins.value);
  free(s->state_dir.value);
  memset(s, 0, sizeof *s);
}

static json_t *setting_json(const mvm_setting *s, const char *demo_value)
{
  if (s->value == NULL && demo_value != NULL)
    return json_pack("{s:s, s:s}", "value", demo_value, "origin",
                     "default (demo)");
  return json_pack("{s:s?, s:s?}", "value", s->value, "origin", s->origin);
}

json_t *mvm_settings_to_json(const mvm_settings *s)
{
  return json_pack("{s:s?, s:o, s:o, s:o, s:o, s:o, s:o}", "config_file",
                   s->config_path, "model",
                   setting_json(&s->model,
                                s->demo_model ? "demo recording" : NULL),
                   "policy",
                   setting_json(&s->policy,
                                s->demo_policy ? "demo policy" : NULL),
                   "mcp_config",
                   setting_json(&s->mcp_config, s->demo_servers
                                                    ? "demo filesystem server"
                                                    : NULL),
                   "model_config", setting_json(&s->model_config, NULL),
                   "builtins", setting_json(&s->builtins, NULL),
                   "state_dir", setting_json(&s->state_dir, NULL));
}
