// Runs a wasm32-wasip1 program (the CPU bench) under Node's WASI, in V8:
// the engine workerd runs a worker's wasm with.
import { WASI } from "node:wasi";
import { readFileSync } from "node:fs";

const wasi = new WASI({ version: "preview1", args: ["cpu"], env: {} });
const module = await WebAssembly.compile(readFileSync(process.argv[2]));
wasi.start(await WebAssembly.instantiate(module, wasi.getImportObject()));
