// mcp_sdk_roundtrip.mjs - the same measurement as bench/bench_mcp.c with
// the official TypeScript SDK client (@modelcontextprotocol/sdk): one
// tools/call to the echo tool of server-everything over stdio, timed one
// after another.
//
// Usage: node bench/mcp_sdk_roundtrip.mjs [CALLS [WARMUP]]
// (defaults 1000 and 100). Run from anywhere; the packages are read from
// node/node_modules of the source tree.
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const modules = path.join(root, "node", "node_modules", "@modelcontextprotocol");
const sdk = path.join(modules, "sdk", "dist", "esm", "client");
const { Client } = await import(path.join(sdk, "index.js"));
const { StdioClientTransport } = await import(path.join(sdk, "stdio.js"));
const server = path.join(modules, "server-everything", "dist", "index.js");

const calls = Number(process.argv[2] || 1000);
const warmup = Number(process.argv[3] || 100);
const args = { message: "hello from the benchmark" };

const start = performance.now();
const transport = new StdioClientTransport({
  command: process.execPath,
  args: [server, "stdio"],
  stderr: "ignore",
});
const client = new Client({ name: "mvm-bench", version: "1.0.0" });
await client.connect(transport);
console.log(`TypeScript SDK client: spawn + initialize ` +
            `${(performance.now() - start).toFixed(1)} ms`);

async function echoOnce() {
  const result = await client.callTool({ name: "echo", arguments: args });
  if (result.isError)
    throw new Error("echo returned isError");
}

for (let i = 0; i < warmup; i++)
  await echoOnce();
const us = [];
for (let i = 0; i < calls; i++) {
  const t0 = performance.now();
  await echoOnce();
  us.push((performance.now() - t0) * 1000);
}
await client.close();

us.sort((a, b) => a - b);
const rank = (q) => us[Math.min(us.length - 1,
                                Math.max(0, Math.round(q * us.length) - 1))];
const mean = us.reduce((a, b) => a + b, 0) / us.length;
console.log(`TypeScript SDK client: ${calls} echo calls after ${warmup} ` +
            `warm-up: median ${rank(0.5).toFixed(0)} us, ` +
            `p99 ${rank(0.99).toFixed(0)} us, mean ${mean.toFixed(0)} us, ` +
            `min ${us[0].toFixed(0)} us`);
