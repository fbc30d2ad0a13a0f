/* settings.h - what a run uses: model spec, policy, MCP servers, built-in
 * tools and state directory, resolved from flags, then environment
 * variables, then a config file, then the embedded defaults, in that order
 * of precedence.
 *
 * Environment: MVM_MODEL, MVM_POLICY, MVM_MCP_CONFIG, MVM_MODEL_CONFIG,
 * MVM_BUILTINS, MVM_STATE_DIR, MVM_CONFIG (the config file itself). The
 * config file is --config, else $MVM_CONFIG, else
 * $XDG_CONFIG_HOME/mvm/config.json (or ~/.config/mvm/config.json) when it
 * exists. It is a JSON object with the keys "model", "policy",
 * "mcp_config", "model_config", "builtins" and "state_dir"; relative paths
 * in it are taken from the file's own directory.
 *
 * Embedded defaults: the model is openai:gpt-4.1-mini when OPENAI_API_KEY
 * is set, else anthropic:claude-sonnet-4-5 when ANTHROPIC_API_KEY is set,
 * else the demo recording; MCP servers and policy are the demo's. The
 * builtins file has no default, so a run offers no sandboxed built-in
 * tool unless one is given. */
#ifndef MVM_RUNTIME_SETTINGS_H
#define MVM_RUNTIME_SETTINGS_H

#include <stdbool.h>

#include "mvm.h"

#define MVM_DEFAULT_OPENAI_MODEL "openai:gpt-4.1-mini"
#define MVM_DEFAULT_ANTHROPIC_MODEL "anthropic:claude-sonnet-4-5"
/* The policy name that turns the monitor off; runs are marked unsafe. */
#define MVM_POLICY_PERMISSIVE "permissive"

/* Values given on the command line; NULL when absent. Borrowed. */
typedef struct mvm_settings_flags {
  const char *config;
  const char *model;
  const char *policy;
  const char *mcp_config;
  const char *model_config;
  const char *builtins;
  const char *state_dir;
} mvm_settings_flags;

/* One resolved setting: its value (owned, NULL when unset) and where it
 * came from ("--model", "MVM_MODEL", "config file", "default"). */
typedef struct mvm_setting {
  char *value;
  const char *origin;
} mvm_setting;

typedef struct mvm_settings {
  char *config_path; /* the config file read, or NULL */
  mvm_setting model;
  mvm_setting policy;
  mvm_setting mcp_config;
  mvm_setting model_config;
  mvm_setting builtins; /* the builtins file (runtime/builtins.h) */
  mvm_setting state_dir;
  bool demo_model;   /* the model is the demo recording */
  bool demo_servers; /* the MCP servers are the demo's */
  bool demo_policy;  /* the policy is the demo's */
} mvm_settings;

/* Resolves every setting. Fails with MVM_ECONFIG for an unreadable or
 * invalid config file (naming the file and the key), MVM_ENOTFOUND when no
 * state directory can be found. Release with mvm_settings_free. */
int mvm_settings_resolve(const mvm_settings_flags *flags, mvm_settings *out,
                         mvm_error *err);
void mvm_settings_free(mvm_settings *settings);

/* Writes one line per setting with its origin, for `mvm run --explain` and
 * the manifest, as a JSON object {"model": {"value", "origin"}, ...}. */
json_t *mvm_settings_to_json(const mvm_settings *settings);

#endif
