/* fuzz_config.c - the configuration files a user writes: an mcpServers
 * file, a builtins file and an mvm config file, from the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/json.h"
#include "runtime/builtins.h"
#include "runtime/settings.h"
#include "tools/mcp_config.h"

/* The builtins and settings loaders read files, so the input goes through
 * one temporary file per process, rewritten for each run. */
static char path[64];

static void write_input(const uint8_t *data, size_t size)
{
  if (path[0] == '\0') {
    snprintf(path, sizeof path, "/tmp/mvm-fuzz-config-%d.json", getpid());
  }
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    abort();
  if (size > 0 && fwrite(data, 1, size, f) != size)
    abort();
  fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  mvm_error err;
  json_t *doc = NULL;

  if (mvm_json_parse((const char *)data, size, NULL, "input", &doc, &err) ==
      MVM_OK) {
    mvm_mcp_config *cfg = NULL;
    if (mvm_mcp_config_parse(doc, "input", &cfg, &err) == MVM_OK)
      mvm_mcp_config_free(cfg);
    json_decref(doc);
  }

  write_input(data, size);
  mvm_builtins_config bcfg;
  if (mvm_builtins_load(path, &bcfg, &err) == MVM_OK)
    mvm_builtins_config_free(&bcfg);

  mvm_settings_flags flags = {.config = path, .state_dir = "/tmp"};
  mvm_settings settings;
  if (mvm_settings_resolve(&flags, &settings, &err) == MVM_OK)
    mvm_settings_free(&settings);
  return 0;
}
