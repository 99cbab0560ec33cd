// build.mjs — builds the console into build/console/ for Workers static assets:
// src/main.js bundled and minified to app.js, style.css minified, index.html
// and the favicon copied. Prints one line of gzip sizes; exits non-zero on error.
import * as esbuild from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const out = join(root, "build", "console");

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#25d366"/><path d="M9 23.5l1.2-3.6A7.5 7.5 0 1 1 13 22.6z" fill="#fff"/><circle cx="16" cy="16" r="1.6" fill="#25d366"/><circle cx="12" cy="16" r="1.6" fill="#25d366"/><circle cx="20" cy="16" r="1.6" fill="#25d366"/></svg>\n`;

try {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: [join(here, "src", "main.js")],
    outfile: join(out, "app.js"),
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2020",
    sourcemap: false,
    legalComments: "none",
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "silent",
  });
  const css = await esbuild.transform(readFileSync(join(here, "style.css"), "utf8"), {
    loader: "css",
    minify: true,
    target: ["chrome90", "firefox90", "safari14"],
    logLevel: "silent",
  });
  writeFileSync(join(out, "style.css"), css.code);
  writeFileSync(join(out, "index.html"), readFileSync(join(here, "index.html")));
  writeFileSync(join(out, "favicon.svg"), FAVICON);

  const files = ["app.js", "style.css", "index.html", "favicon.svg"];
  const sizes = files.map((f) => [f, gzipSync(readFileSync(join(out, f)), { level: 9 }).length]);
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  const total = sizes.reduce((s, [, n]) => s + n, 0);
  console.log(`build/console gzip: ${sizes.map(([f, n]) => `${f} ${kb(n)}`).join(", ")}; total ${kb(total)}`);
} catch (e) {
  const errors = e && Array.isArray(e.errors) && e.errors.length ? e.errors : null;
  if (errors)
    for (const m of errors) console.error(`${m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : ""}${m.text}`);
  else console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
}
