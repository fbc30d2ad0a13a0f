/* price.c - price tables, per-call cost and the usage meter. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "models/price.h"

/* NOTE: standard-tier list prices in USD per million tokens, copied from
 * the providers' price pages as of late 2025. Prices change; users with
 * current numbers pass their own table (see docs/models.md). Cache and
 * batch discounts are not modelled, so a cost is an upper estimate when
 * they apply. */
static const char default_prices[] =
    "{\"format\": \"mvm-prices/1\",\n"
    " \"source\": \"OpenAI and Anthropic published list prices, standard "
    "tier, late 2025\",\n"
    " \"prices\": {\n"
    "  \"openai:gpt-4.1\": {\"input_per_mtok\": 2.0, "
    "\"output_per_mtok\": 8.0},\n"
    "  \"openai:gpt-4.1-mini\": {\"input_per_mtok\": 0.4, "
    "\"output_per_mtok\": 1.6},\n"
    "  \"openai:gpt-4.1-nano\": {\"input_per_mtok\": 0.1, "
    "\"output_per_mtok\": 0.4},\n"
    "  \"openai:gpt-4o\": {\"input_per_mtok\": 2.5, "
    "\"output_per_mtok\": 10.0},\n"
    "  \"openai:gpt-4o-mini\": {\"input_per_mtok\": 0.15, "
    "\"output_per_mtok\": 0.6},\n"
    "  \"anthropic:claude-opus-4-1\": {\"input_per_mtok\": 15.0, "
    "\"output_per_mtok\": 75.0},\n"
    "  \"anthropic:claude-opus-4\": {\"input_per_mtok\": 15.0, "
    "\"output_per_mtok\": 75.0},\n"
    "  \"anthropic:claude-sonnet-4-5\": {\"input_per_mtok\": 3.0, "
    "\"output_per_mtok\": 15.0},\n"
    "  \"anthropic:claude-sonnet-4\": {\"input_per_mtok\": 3.0, "
    "\"output_per_mtok\": 15.0},\n"
    "  \"anthropic:claude-haiku-4-5\": {\"input_per_mtok\": 1.0, "
    "\"output_per_mtok\": 5.0},\n"
    "  \"anthropic:claude-3-5-haiku\": {\"input_per_mtok\": 0.8, "
    "\"output_per_mtok\": 4.0}\n"
    " }}\n";

struct price {
  char *key; /* "provider:model" */
  double input_per_mtok;
  double output_per_mtok;
};

struct mvm_price_table {
  struct price *prices;
  size_t count;
};

struct mvm_model_meter {
  pthread_mutex_t lock;
  mvm_model_totals totals;
};

const char *mvm_price_table_default_json(void)
{
  return default_prices;
}

void mvm_price_table_free(mvm_price_table *table)
{
  if (table == NULL)
    return;
  for (size_t i = 0; i < table->count; i++)
    free(table->prices[i].key);
  free(table->prices);
  free(table);
}

static int read_price(const json_t *entry, const char *key, const char *what,
                      struct price *out, mvm_error *err)
{
  const json_t *in = json_object_get(entry, "input_per_mtok");
  const json_t *outp = json_object_get(entry, "output_per_mtok");

  if (strchr(key, ':') == NULL || key[0] == ':')
    return mvm_error_set(err, MVM_ECONFIG, "prices",
                         "%s: key '%s' must be \"provider:model\", for "
                         "example \"openai:gpt-4.1-mini\"",
                         what, key);
  if (!json_is_object(entry) || !json_is_number(in) || !json_is_number(outp) ||
      json_number_value(in) < 0 || json_number_value(outp) < 0)
    return mvm_error_set(err, MVM_ECONFIG, "prices",
                         "%s: '%s' must be an object with input_per_mtok "
                         "and output_per_mtok, numbers >= 0 (USD per "
                         "million tokens)",
                         what, key);

  out->key = strdup(key);
  if (out->key == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "prices", "out of memory");
  out->input_per_mtok = json_number_value(in);
  out->output_per_mtok = json_number_value(outp);
  return MVM_OK;
}

int mvm_price_table_parse(const json_t *doc, const char *what,
                          mvm_price_table **out, mvm_error *err)
{
  const json_t *format = json_object_get(doc, "format");
  const json_t *prices = json_object_get(doc, "prices");
  mvm_price_table *table = NULL;
  const char *key;
  json_t *entry;
  int rc = MVM_OK;

  if (!json_is_object(doc) || !json_is_string(format) ||
      strcmp(json_string_value(format), MVM_PRICES_FORMAT) != 0)
    return mvm_error_set(err, MVM_ECONFIG, "prices",
                         "%s must be an object with \"format\": \"%s\"",
                         what, MVM_PRICES_FORMAT);
  if (!json_is_object(prices))
    return mvm_error_set(err, MVM_ECONFIG, "prices",
                         "%s: field 'prices' must be an object mapping "
                         "\"provider:model\" to prices",
                         what);

  table = calloc(1, sizeof *table);
  if (table != NULL && json_object_size(prices) > 0)
    table->prices = calloc(json_object_size(prices), sizeof *table->prices);
  if (table == NULL ||
      (json_object_size(prices) > 0 && table->prices == NULL)) {
    rc = mvm_error_set(err, MVM_ENOMEM, "prices", "out of memory");
    goto out;
  }

  json_object_foreach((json_t *)prices, key, entry) {
    rc = read_price(entry, key, what, &table->prices[table->count], err);
    if (rc)
      goto out;
    table->count++;
  }
  *out = table;
  table = NULL;

out:
  mvm_price_table_free(table);
  return rc;
}

int mvm_price_table_load(const char *path, mvm_price_table **out,
                         mvm_error *err)
{
  json_t *doc = NULL;
  int rc = mvm_json_load_file(path, NULL, &doc, err);
  if (rc)
    return rc;
  rc = mvm_price_table_parse(doc, path, out, err);
  json_decref(doc);
  return rc;
}

int mvm_price_table_default(mvm_price_table **out, mvm_error *err)
{
  json_t *doc = NULL;
  int rc = mvm_json_parse(default_prices, strlen(default_prices), NULL,
                          "the built-in price table", &doc, err);
  if (rc)
    return rc;
  rc = mvm_price_table_parse(doc, "the built-in price table", out, err);
  json_decref(doc);
  return rc;
}

bool mvm_price_lookup(const mvm_price_table *table, const char *provider,
                      const char *model, double *input_per_mtok,
                      double *output_per_mtok)
{
  const struct price *best = NULL;
  size_t best_len = 0;
  size_t plen = strlen(provider);

  if (table == NULL || model == NULL || model[0] == '\0')
    return false;

  for (size_t i = 0; i < table->count; i++) {
    const char *key = table->prices[i].key;
    if (strncmp(key, provider, plen) != 0 || key[plen] != ':')
      continue;

    const char *kmodel = key + plen + 1;
    size_t klen = strlen(kmodel);
    if (strcmp(kmodel, model) == 0) {
      best = &table->prices[i];
      break;
    }
    if (strncmp(kmodel, model, klen) == 0 && model[klen] == '-' &&
        klen > best_len) {
      best = &table->prices[i];
      best_len = klen;
    }
  }
  if (best == NULL)
    return false;
  *input_per_mtok = best->input_per_mtok;
  *output_per_mtok = best->output_per_mtok;
  return true;
}

int mvm_price_apply(const mvm_price_table *table, const char *provider,
                    const char *fallback_model, json_t *reply)
{
  const json_t *usage = json_object_get(reply, "usage");
  const json_t *reported = json_object_get(usage, "reported");
  const char *model = json_string_value(json_object_get(reply, "model"));
  double in_price = 0;
  double out_price = 0;
  json_t *cost;

  bool known = json_is_object(usage) && !json_is_false(reported);
  if (known) {
    known = mvm_price_lookup(table, provider, model, &in_price, &out_price) ||
            mvm_price_lookup(table, provider, fallback_model, &in_price,
                             &out_price);
  }

  if (known) {
    double in_tok = (double)json_integer_value(
        json_object_get(usage, "input_tokens"));
    double out_tok = (double)json_integer_value(
        json_object_get(usage, "output_tokens"));
    cost = json_real((in_tok * in_price + out_tok * out_price) / 1e6);
  } else {
    cost = json_null();
  }
  if (cost == NULL || json_object_set_new(reply, "cost_usd", cost) != 0)
    return MVM_ENOMEM;
  return MVM_OK;
}

int mvm_model_meter_new(mvm_model_meter **out)
{
  mvm_model_meter *meter = calloc(1, sizeof *meter);
  if (meter == NULL)
    return MVM_ENOMEM;
  if (pthread_mutex_init(&meter->lock, NULL) != 0) {
    free(meter);
    return MVM_ENOMEM;
  }
  *out = meter;
  return MVM_OK;
}

void mvm_model_meter_free(mvm_model_meter *meter)
{
  if (meter == NULL)
    return;
  pthread_mutex_destroy(&meter->lock);
  free(meter);
}

void mvm_model_meter_add(mvm_model_meter *meter, const json_t *reply)
{
  if (meter == NULL)
    return;

  const json_t *usage = json_object_get(reply, "usage");
  const json_t *cost = json_object_get(reply, "cost_usd");
  json_int_t in_tok = json_integer_value(json_object_get(usage,
                                                         "input_tokens"));
  json_int_t out_tok = json_integer_value(json_object_get(usage,
                                                          "output_tokens"));

  pthread_mutex_lock(&meter->lock);
  meter->totals.calls++;
  if (in_tok > 0)
    meter->totals.input_tokens += (uint64_t)in_tok;
  if (out_tok > 0)
    meter->totals.output_tokens += (uint64_t)out_tok;
  if (json_is_number(cost))
    meter->totals.cost_usd += json_number_value(cost);
  else
    meter->totals.unpriced_calls++;
  pthread_mutex_unlock(&meter->lock);
}

void mvm_model_meter_totals(mvm_model_meter *meter, mvm_model_totals *out)
{
  if (meter == NULL) {
    memset(out, 0, sizeof *out);
    return;
  }
  pthread_mutex_lock(&meter->lock);
  *out = meter->totals;
  pthread_mutex_unlock(&meter->lock);
}

json_t *mvm_model_totals_to_json(const mvm_model_totals *totals)
{
  return json_pack("{sIsIsIsfsI}", "calls", (json_int_t)totals->calls,
                   "input_tokens", (json_int_t)totals->input_tokens,
                   "output_tokens", (json_int_t)totals->output_tokens,
                   "cost_usd", totals->cost_usd, "unpriced_calls",
                   (json_int_t)totals->unpriced_calls);
}
