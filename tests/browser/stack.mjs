// The stack the browser tests drive: the built worker under `wrangler dev`
// (local D1 with the migrations applied, the console's assets, secrets from
// a temporary env file), a fake Graph API on loopback, and headless
// Chromium (Debian's package, driven by playwright-core).
import { spawn, execFile } from "node:child_process";
import { createServer } from "node:http";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync, cpSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");

export const SECRET = "browser-app-secret";
export const ADMIN_TOKEN = "browser-admin-token";
export const CHANNEL = "106540352242922";
export const WABA = "102290129340398";

/** A port nobody listens on yet. */
async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** A 2x2 PNG, the image a customer sends. */
export const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==",
  "base64",
);

/**
 * A fake Graph API: sends get wamids, the business profile and templates
 * are kept and changed as Graph would, media ids resolve to PNG bytes. Every
 * request is recorded.
 */
export class FakeGraph {
  constructor() {
    this.requests = [];
    this.sent = 0;
    this.profile = {
      about: "Fresh bread daily", address: "Torstraße 1, Berlin", description: "A bakery.",
      email: "hello@bakery.test", vertical: "RETAIL", websites: ["https://bakery.test"],
      profile_picture_url: null, messaging_product: "whatsapp",
    };
    this.templates = [
      { id: "t1", name: "order_update", language: "en_US", category: "UTILITY", status: "APPROVED",
        components: [{ type: "BODY", text: "Hello {{1}}, your order {{2}} is on its way.",
          example: { body_text: [["Ana", "A-1"]] } }] },
    ];
  }

  async start() {
    this.server = createServer((req, res) => this.#answer(req, res));
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.base = `http://127.0.0.1:${this.server.address().port}`;
    this.profile.profile_picture_url = `${this.base}/pictures/bakery.png`;
    return this;
  }

  close() {
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(r));
  }

  /** The message sends (not read receipts) Graph received. */
  messages() {
    return this.requests.filter((r) => r.method === "POST" && r.path.endsWith("/messages") && r.body?.type);
  }

  async #answer(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url, this.base);
    let body = null;
    try { body = raw.length ? JSON.parse(raw.toString("utf8")) : null; } catch { body = null; }
    const record = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), body, headers: req.headers };
    this.requests.push(record);
    const json = (status, value) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(value));
    };
    const p = url.pathname.replace(/^\/v[0-9.]+\//, "/");
    if (req.method === "POST" && p.endsWith("/messages")) {
      if (body?.status === "read") return json(200, { success: true });
      // A reply that asks for it is refused as Graph refuses an undeliverable one.
      if (body?.text?.body?.includes("[undeliverable]")) {
        return json(400, { error: { message: "(#131026) Message undeliverable", type: "OAuthException", code: 131026,
          error_data: { messaging_product: "whatsapp", details: "Message undeliverable" } } });
      }
      this.sent += 1;
      return json(200, { messaging_product: "whatsapp", contacts: [{ input: body?.to, wa_id: body?.to }],
        messages: [{ id: `wamid.fake.${this.sent}` }] });
    }
    if (p.endsWith("/whatsapp_business_profile")) {
      if (req.method === "POST") {
        Object.assign(this.profile, Object.fromEntries(Object.entries(body ?? {}).filter(([k]) => k !== "messaging_product")));
        return json(200, { success: true });
      }
      return json(200, { data: [this.profile] });
    }
    if (p.endsWith("/message_templates")) {
      if (req.method === "POST") {
        const made = { id: `t${this.templates.length + 1}`, status: "PENDING", ...body };
        this.templates.push(made);
        return json(200, { id: made.id, status: "PENDING", category: body?.category });
      }
      if (req.method === "DELETE") {
        this.templates = this.templates.filter((t) => t.name !== url.searchParams.get("name"));
        return json(200, { success: true });
      }
      return json(200, { data: this.templates, paging: { cursors: {} } });
    }
    if (p.endsWith("/subscribed_apps")) {
      if (req.method === "POST") return json(200, { success: true });
      return json(200, { data: [{ whatsapp_business_api_data: { id: "1", name: "wa-edge app" } }] });
    }
    if (p.endsWith("/register")) return json(200, { success: true });
    if (req.method === "POST" && /^\/[0-9]+\/media$/.test(p)) {
      this.uploads = (this.uploads ?? 0) + 1;
      return json(200, { id: `77000000000000${this.uploads}` });
    }
    if (p.startsWith("/pictures/") || p.startsWith("/media-bytes/")) {
      res.writeHead(200, { "Content-Type": "image/png", "Content-Length": PNG.length });
      return res.end(PNG);
    }
    const media = p.match(/^\/([0-9]{6,})$/);
    if (req.method === "GET" && media) {
      return json(200, { url: `${this.base}/media-bytes/${media[1]}`, mime_type: "image/png",
        file_size: PNG.length, id: media[1], messaging_product: "whatsapp" });
    }
    return json(404, { error: { message: "Unknown path", type: "OAuthException", code: 100 } });
  }
}

/** `body` signed as Meta signs it. */
export function sign(body) {
  return "sha256=" + createHmac("sha256", SECRET).update(body).digest("hex");
}

/**
 * Starts `wrangler dev` on a private copy of build/ through a config
 * without the [build] step, with local D1 state in a temporary directory.
 */
export async function startWorker(graphBase) {
  const work = mkdtempSync(join(tmpdir(), "wa-edge-browser-"));
  mkdirSync(join(work, "build"));
  for (const f of ["index.js", "index_bg.wasm"]) cpSync(join(root, "build", f), join(work, "build", f));
  cpSync(join(root, "build", "console"), join(work, "build", "console"), { recursive: true });
  let config = readFileSync(join(root, "wrangler.toml"), "utf8")
    .replace(/^\[build\]\n[\s\S]*?(?=^\[)/m, "")
    .replace(/^main\s*=.*$/m, `main = "${work}/build/index.js"`)
    .replace(/^migrations_dir\s*=.*$/m, `migrations_dir = "${root}/migrations"`)
    .replace(/^directory\s*=.*$/m, `directory = "${work}/build/console"`)
    .replace(/^(\w+_API_BASE)\s*=.*$/gm, `$1 = "${graphBase}"`)
    .replace(/^WHATSAPP_PHONE_NUMBER_ID\s*=.*$/m, `WHATSAPP_PHONE_NUMBER_ID = "${CHANNEL}"`)
    .replace(/^WHATSAPP_BUSINESS_ACCOUNT_ID\s*=.*$/m, `WHATSAPP_BUSINESS_ACCOUNT_ID = "${WABA}"`);
  writeFileSync(join(work, "wrangler.toml"), config);
  writeFileSync(join(work, "test.env"), [
    `WHATSAPP_APP_SECRET=${SECRET}`, "WHATSAPP_VERIFY_TOKEN=browser-verify", `ADMIN_TOKEN=${ADMIN_TOKEN}`,
    "WHATSAPP_ACCESS_TOKEN=browser-access-token", `GRAPH_API_BASE=${graphBase}`, `D360_API_BASE=${graphBase}`,
  ].join("\n"));
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
  const cfg = ["-c", join(work, "wrangler.toml"), "--persist-to", join(work, "state")];
  await promisify(execFile)(wrangler, ["d1", "migrations", "apply", "DB", "--local", ...cfg], { env, cwd: work });
  const port = await freePort();
  const log = [];
  const child = spawn(wrangler, ["dev", ...cfg, "--local", "--env-file", join(work, "test.env"),
    "--ip", "127.0.0.1", "--port", String(port), "--log-level", "warn", "--show-interactive-dev-session=false"],
  { env, cwd: work, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d) => log.push(d.toString()));
  child.stderr.on("data", (d) => log.push(d.toString()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${log.join("")}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`wrangler dev did not answer in 90 s:\n${log.join("")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const sql = async (command) => {
    const { stdout } = await promisify(execFile)(wrangler,
      ["d1", "execute", "DB", "--local", ...cfg, "--json", "--command", command], { env, cwd: work });
    return JSON.parse(stdout)[0].results;
  };
  return {
    base,
    log,
    sql,
    /** POSTs a signed webhook delivery. */
    async post(delivery) {
      const body = JSON.stringify(delivery);
      const res = await fetch(`${base}/webhook`, {
        method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature-256": sign(body) }, body });
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
    },
    /** Calls the API with the admin token. */
    async api(path, init = {}) {
      const res = await fetch(`${base}${path}`, { ...init,
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json", ...(init.headers ?? {}) } });
      const text = await res.text();
      return [res.status, text ? JSON.parse(text) : null];
    },
    async close() {
      try { process.kill(-child.pid, "SIGTERM"); } catch { /* gone */ }
      await new Promise((r) => setTimeout(r, 300));
      try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium: Debian's package, or CHROMIUM_PATH. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/** Meta's notification around one `value`. */
export function delivery(value) {
  return { object: "whatsapp_business_account", entry: [{ id: WABA, changes: [{ field: "messages", value: {
    messaging_product: "whatsapp", metadata: { display_phone_number: "15550783881", phone_number_id: CHANNEL }, ...value } }] }] };
}

/** A customer's message of `type` with `content`, sent `ageS` seconds ago. */
export function inbound(id, type, content, { from = "16505551234", name = "Sheena Nelson", ageS = 0, context } = {}) {
  const message = { from, id, timestamp: String(Math.floor(Date.now() / 1000) - ageS), type, [type]: content };
  if (context) message.context = context;
  return delivery({ contacts: [{ profile: { name }, wa_id: from }], messages: [message] });
}

/** Graph's status update for an outbound wamid. */
export function status(wamid, state, recipient = "16505551234") {
  return delivery({ statuses: [{ id: wamid, status: state, timestamp: String(Math.floor(Date.now() / 1000)),
    recipient_id: recipient }] });
}
