/* mcp_toolbox.c - an MCP client as an mvm_toolbox, and tool hashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/json.h"
#include "tools/mcp_client.h"

/* A transport reports a server that exited or closed its pipes as
 * MVM_EIO. To the VM that is a failed tool server, like a protocol error,
 * not a local file or system error. */
static int tool_status(int rc, mvm_error *err)
{
  if (rc != MVM_EIO)
    return rc;
  if (err != NULL)
    err->code = MVM_ETOOL;
  return MVM_ETOOL;
}

static int box_list(void *self, json_t **tools, mvm_error *err)
{
  return tool_status(mvm_mcp_client_list_tools(self, tools, err), err);
}

static int box_call(void *self, const char *name, const json_t *args,
                    const mvm_tool_call_opts *opts, json_t **result,
                    mvm_error *err)
{
  return tool_status(
      mvm_mcp_client_call_tool(self, name, args, opts, result, err), err);
}

static void box_close(void *self)
{
  mvm_mcp_client_close(self);
}

static const mvm_tool_ops stdio_box_ops = {
    .kind = "mcp-stdio",
    .list = box_list,
    .call = box_call,
    .close = box_close,
};

static const mvm_tool_ops http_box_ops = {
    .kind = "mcp-http",
    .list = box_list,
    .call = box_call,
    .close = box_close,
};

int mvm_mcp_toolbox_new(mvm_mcp_client *client, mvm_toolbox *out,
                        mvm_error *err)
{
  if (client == NULL)
    return mvm_error_set(err, MVM_EINVAL, "mcp", "no MCP client given");
  out->server = mvm_mcp_client_server(client);
  if (strcmp(mvm_mcp_client_transport_kind(client), "stdio") == 0)
    out->ops = &stdio_box_ops;
  else
    out->ops = &http_box_ops;
  out->self = client;
  return MVM_OK;
}

mvm_mcp_client *mvm_mcp_toolbox_client(const mvm_toolbox *box)
{
  if (box == NULL || (box->ops != &stdio_box_ops && box->ops != &http_box_ops))
    return NULL;
  return box->self;
}

int mvm_mcp_tool_hash(const json_t *tool, char *buf, size_t size)
{
  unsigned char digest[crypto_hash_sha256_BYTES];
  json_t *parts;
  char *text;

  if (size < 8 + 2 * crypto_hash_sha256_BYTES)
    return MVM_EINVAL;
  parts = json_pack("{s:O?, s:O?}", "description",
                    json_object_get(tool, "description"), "inputSchema",
                    json_object_get(tool, "inputSchema"));
  if (parts == NULL)
    return MVM_ENOMEM;
  text = mvm_json_dump_canonical(parts);
  json_decref(parts);
  if (text == NULL)
    return MVM_ENOMEM;

  crypto_hash_sha256(digest, (const unsigned char *)text, strlen(text));
  free(text);
  memcpy(buf, "sha256:", 7);
  sodium_bin2hex(buf + 7, size - 7, digest, sizeof digest);
  return MVM_OK;
}
