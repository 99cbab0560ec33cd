// Runs a wasm32-wasip1 program (the CPU bench) under Node's WASI, in V8:
// the engine workerd runs a worker's wasm with.
// Usage: node bench/wasi.mjs CPU.wasm [name:bytes ...]
import { WASI } from "node:wasi";
import { readFileSync } from "node:fs";

// BENCH_ONLY=<shape> runs one shape, as natively (for a profiler:
// `node --cpu-prof bench/wasi.mjs CPU.wasm`).
const env = process.env.BENCH_ONLY ? { BENCH_ONLY: process.env.BENCH_ONLY } : {};
const wasi = new WASI({ version: "preview1", args: ["cpu"], env, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(process.argv[2]));
wasi.start(await WebAssembly.instantiate(module, wasi.getImportObject()));

// Then WebCrypto's part (the worker hashes bodies of 32 KB and more with
// crypto.subtle, natively): for each `name:bytes` argument, the median time
// of the HMAC-SHA256 check and the SHA-256 key of a body that size.
const { subtle } = globalThis.crypto;
for (const arg of process.argv.slice(3)) {
  const [name, bytes] = arg.split(":");
  const body = new Uint8Array(Number(bytes)).map((_, i) => (i * 31) & 0xff);
  const secret = new TextEncoder().encode("bench-app-secret");
  const once = async () => {
    const key = await subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    await subtle.sign("HMAC", key, body);
    await subtle.digest("SHA-256", body);
  };
  const times = [];
  const start = performance.now();
  while (times.length < 5 || (performance.now() - start < 400 && times.length < 2000)) {
    const t = performance.now();
    await once();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`WEBCRYPTO name=${name} us=${Math.round(times[times.length >> 1] * 1000)}`);
}
