/* price.h - token prices, the cost of each model call, and usage totals.
 *
 * A price table maps "provider:model" to a price per million input tokens
 * and per million output tokens, in US dollars. Its JSON form is
 *   {"format": "mvm-prices/1",
 *    "prices": {"openai:gpt-4.1-mini": {"input_per_mtok": 0.4,
 *                                       "output_per_mtok": 1.6}}}
 * A model the table does not list has an unknown cost (null), never zero.
 *
 * A meter adds up the usage and cost of every call made by the adapters
 * that share it. It is safe to use from several threads. Tables and meters
 * are owned by their creator and released with their *_free function. */
#ifndef MVM_MODELS_PRICE_H
#define MVM_MODELS_PRICE_H

#include <stdbool.h>
#include <stdint.h>

#include "mvm.h"

#define MVM_PRICES_FORMAT "mvm-prices/1"

typedef struct mvm_price_table mvm_price_table;

/* Builds a table from its JSON form. `what` names the source in messages.
 * Fails with MVM_ECONFIG naming the bad key. */
int mvm_price_table_parse(const json_t *doc, const char *what,
                          mvm_price_table **out, mvm_error *err);

/* Reads a table from a JSON file (MVM_ENOTFOUND, MVM_EIO, MVM_EPARSE or
 * MVM_ECONFIG on failure). */
int mvm_price_table_load(const char *path, mvm_price_table **out,
                         mvm_error *err);

/* Builds the table shipped with mvm. Its prices are copied from the
 * providers' published price lists and go stale; a user table replaces
 * it. */
int mvm_price_table_default(mvm_price_table **out, mvm_error *err);

/* Returns the shipped table's JSON text, a static string. */
const char *mvm_price_table_default_json(void);

void mvm_price_table_free(mvm_price_table *table);

/* Finds the prices of provider:model. An exact key wins. Otherwise the
 * longest key that is a prefix of the model followed by '-' matches, so
 * "openai:gpt-4.1-mini" prices the dated id "gpt-4.1-mini-2025-04-14".
 * Returns false when nothing matches. */
bool mvm_price_lookup(const mvm_price_table *table, const char *provider,
                      const char *model, double *input_per_mtok,
                      double *output_per_mtok);

/* Sets reply["cost_usd"] from reply["usage"] and the table, using
 * reply["model"] and then `fallback_model` to look up prices. The cost is
 * null when the model is not in the table, when table is NULL, or when the
 * provider did not report usage. Returns MVM_ENOMEM only. */
int mvm_price_apply(const mvm_price_table *table, const char *provider,
                    const char *fallback_model, json_t *reply);

/* Usage totals over the calls a meter has seen. cost_usd adds the known
 * costs only; unpriced_calls counts the calls whose cost was null. */
typedef struct mvm_model_totals {
  uint64_t calls;
  uint64_t input_tokens;
  uint64_t output_tokens;
  double cost_usd;
  uint64_t unpriced_calls;
} mvm_model_totals;

typedef struct mvm_model_meter mvm_model_meter;

/* Creates an empty meter. Returns MVM_ENOMEM on failure. */
int mvm_model_meter_new(mvm_model_meter **out);
void mvm_model_meter_free(mvm_model_meter *meter);

/* Adds one reply's usage and cost_usd. meter may be NULL. */
void mvm_model_meter_add(mvm_model_meter *meter, const json_t *reply);

/* Copies the totals so far into *out. */
void mvm_model_meter_totals(mvm_model_meter *meter, mvm_model_totals *out);

/* Returns totals as {"calls", "input_tokens", "output_tokens",
 * "cost_usd", "unpriced_calls"}, a new reference, or NULL on no memory. */
json_t *mvm_model_totals_to_json(const mvm_model_totals *totals);

#endif
