// Starts the built worker (build/index.js) inside workerd through Miniflare,
// with a fresh local D1 database with the migrations applied.
import { Miniflare } from "miniflare";
import { before, after, beforeEach } from "node:test";
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const SECRET = "e2e-app-secret";
export const VERIFY_TOKEN = "e2e-verify-token";
export const ADMIN_TOKEN = "e2e-admin-token";
export const ACCESS_TOKEN = "e2e-access-token";

export function fixture(name) {
  return readFileSync(join(root, "tests", "fixtures", name.includes(".") ? name : `${name}.json`));
}

export function sign(body, secret = SECRET) {
  return "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
}

/** The statements of the migrations whose file names pass `keep`, in order. */
export function migrationStatements(keep = () => true) {
  const dir = join(root, "migrations");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql") && keep(f))
    .sort()
    .flatMap((f) =>
      readFileSync(join(dir, f), "utf8")
        .split("\n")
        .filter((l) => !l.trim().startsWith("--"))
        .join("\n")
        .split(";")
        .reduce(joinTriggerBodies, [])
        .map((s) => s.trim())
        .filter(Boolean),
    );
}

/** Re-joins the pieces of a `CREATE TRIGGER ... BEGIN ...; END` split on `;`. */
function joinTriggerBodies(out, piece) {
  const open = out.length > 0 && /\bCREATE TRIGGER\b/i.test(out.at(-1)) && !/\bEND\s*$/i.test(out.at(-1).trim());
  if (open) out[out.length - 1] += `;${piece}`;
  else out.push(piece);
  return out;
}

// A second worker bound to the same D1 database: tests read and reset state
// through it with ordinary (async) fetches instead of Miniflare's D1 proxy,
// whose synchronous calls proved flaky on a loaded machine.
const SQL_WORKER = `export default {
  async fetch(request, env) {
    const { statements } = await request.json();
    try {
      const results = await env.DB.batch(
        statements.map(([sql, params]) => env.DB.prepare(sql).bind(...params)));
      return Response.json(results.map((r) => r.results));
    } catch (e) {
      return new Response(String(e && e.message || e), { status: 500 });
    }
  },
};`;

/** A D1-like client (prepare/bind/first/all/run/batch) over the SQL worker. */
function sqlClient(fetcher) {
  const exec = async (statements) => {
    const res = await fetcher.fetch("http://sql.test/", {
      method: "POST",
      body: JSON.stringify({ statements }),
    });
    if (!res.ok) throw new Error(`SQL failed: ${await res.text()}`);
    return res.json();
  };
  const statement = (sql, params = []) => ({
    sql,
    params,
    bind: (...values) => statement(sql, values),
    all: async () => ({ results: (await exec([[sql, params]]))[0] }),
    first: async () => (await exec([[sql, params]]))[0][0] ?? null,
    run: async () => {
      await exec([[sql, params]]);
      return { success: true };
    },
  });
  return {
    prepare: (sql) => statement(sql),
    batch: async (statements) =>
      (await exec(statements.map((st) => [st.sql, st.params]))).map((results) => ({ results })),
  };
}

/** `bindings` without the names set to null (a test's way to unset one). */
function withoutNulls(bindings) {
  return Object.fromEntries(Object.entries(bindings).filter(([, v]) => v !== null));
}

/** Starts a worker. `bindings` override the default test configuration;
 * a binding set to null is left out; `writer: false` leaves out the
 * sharded write path's Durable Object binding. */
export async function startWorker({ bindings = {}, outboundService, r2Buckets, migrations = () => true, writer = true } = {}) {
  const logs = [];
  const database = `wa-edge-e2e-${randomUUID()}`;
  const compatibilityDate = "2026-05-01";
  const options = {
    unsafeTriggerHandlers: true,
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", (d) => logs.push(d.toString()));
      stderr.on("data", (d) => logs.push(d.toString()));
    },
    workers: [
      {
        name: "wa-edge",
        modules: true,
        scriptPath: join(root, "build", "index.js"),
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
        compatibilityDate,
        d1Databases: { DB: database },
        // The sharded write path's Durable Objects (used when SHARDS > 1).
        durableObjects: writer ? { WRITER: { className: "Writer", useSQLite: true } } : {},
        r2Buckets,
        queueProducers: { FORWARD: { queueName: `forward-${database}` }, OUTBOX: { queueName: `outbox-${database}` } },
        queueConsumers: {
          [`forward-${database}`]: { maxBatchSize: 10, maxBatchTimeout: 0.05 },
          [`outbox-${database}`]: { maxBatchSize: 25, maxBatchTimeout: 0.05 },
        },
        bindings: withoutNulls({
          WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
          WHATSAPP_APP_SECRET: SECRET,
          WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
          WHATSAPP_PHONE_NUMBER_ID: "106540352242922",
          ADMIN_TOKEN,
          GRAPH_API_BASE: "http://graph.test",
          GRAPH_API_VERSION: "v23.0",
          // Routine lines too, so tests can read what the worker did.
          LOG_LEVEL: "info",
          // `WA_EDGE_SHARDS=4 make test-e2e` runs every suite on the sharded path.
          ...(process.env.WA_EDGE_SHARDS ? { SHARDS: process.env.WA_EDGE_SHARDS } : {}),
          ...bindings,
        }),
        outboundService,
        // The console's files, behind the worker as in wrangler.toml.
        assets: {
          directory: join(root, "build", "console"),
          binding: "ASSETS",
          routerConfig: { invoke_user_worker_ahead_of_assets: true, has_user_worker: true },
        },
      },
      {
        name: "sql",
        modules: true,
        script: SQL_WORKER,
        compatibilityDate,
        d1Databases: { DB: database },
      },
    ],
  };
  const mf = new Miniflare(options);
  await mf.ready;
  const db = sqlClient(await mf.getWorker("sql"));
  await db.batch(migrationStatements(migrations).map((sql) => db.prepare(sql)));

  const call = (path, init = {}) => mf.dispatchFetch(`http://wa-edge.test${path}`, init);
  const api = async (path, token = ADMIN_TOKEN) => {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const res = await call(path, { headers });
    return [res.status, await res.json()];
  };
  const remove = async (path) => {
    const res = await call(path, { method: "DELETE", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    await res.arrayBuffer();
  };
  return {
    mf,
    db,
    logs,
    fetch: call,
    /** POSTs `body` to /webhook, signed with `secret` unless `signature` is given. */
    post(body, { secret = SECRET, signature, headers = {} } = {}) {
      const h = { "Content-Type": "application/json", ...headers };
      const sig = signature === undefined ? sign(body, secret) : signature;
      if (sig !== null) h["X-Hub-Signature-256"] = sig;
      return call("/webhook", { method: "POST", headers: h, body });
    },
    /** GETs an API path with the admin token and returns [status, json]. */
    api,
    /** Row counts of every table. */
    async counts() {
      const out = {};
      for (const t of ["messages", "statuses", "contacts", "events"]) {
        out[t] = (await db.prepare(`SELECT count(*) AS n FROM ${t}`).first()).n;
      }
      return out;
    },
    /** Every row of every table, for comparing whole states. */
    async snapshot() {
      const out = {};
      for (const [t, order] of [
        ["messages", "id"],
        ["statuses", "wamid, status"],
        ["contacts", "wa_id"],
        ["events", "id"],
      ]) {
        const { results } = await db.prepare(`SELECT * FROM ${t} ORDER BY ${order}`).all();
        out[t] = results.map(({ received_at, updated_at, ...rest }) => rest);
      }
      return out;
    },
    /** Runs the cron trigger as of `time` (ms since the epoch). */
    async cron(time = Date.now()) {
      // Through the worker itself: the assets router in front of it does not
      // pass /cdn-cgi/handler/scheduled on.
      const worker = await mf.getWorker("wa-edge");
      const result = await worker.scheduled({ cron: "* * * * *", scheduledTime: new Date(time) });
      if (result.outcome !== "ok") throw new Error(`scheduled handler failed: ${result.outcome}`);
    },
    /** The outbox row of an id. */
    outbox(id) {
      return db.prepare("SELECT * FROM outbox WHERE id = ?1").bind(id).first();
    },
    /** Sends JSON to an API path with the admin token; returns [status, json]. */
    async send(path, payload, headers = {}, method = "POST") {
      const res = await call(path, {
        method,
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json", ...headers },
        body: typeof payload === "string" ? payload : JSON.stringify(payload),
      });
      const text = await res.text();
      return [res.status, text ? JSON.parse(text) : null];
    },
    /** Empties every table. Rules and channels are deleted through the API
     * first, which also clears the worker's per-isolate caches of them. */
    async reset() {
      for (const r of (await api("/v1/rules"))[1].data) await remove(`/v1/rules/${r.id}`);
      for (const c of (await api("/v1/channels"))[1].data) await remove(`/v1/channels/${c.phone_number_id}`);
      for (const d of (await api("/v1/destinations"))[1].data) await remove(`/v1/destinations/${d.id}`);
      const tables = ["messages", "statuses", "contacts", "events", "outbox", "windows", "rules",
        "channel_alerts", "channels", "templates", "opt_outs", "raw_parts", "erased", "erased_events",
        "event_contacts", "contact_user_ids", "contact_merges", "destinations", "deliveries",
        "delivery_contacts", "relay_events", "forwards", "api_keys", "sessions", "sign_in_failures",
        "conversation_reads"];
      await db.batch(tables.map((t) => db.prepare(`DELETE FROM ${t}`)));
      logs.length = 0;
    },
    /** Restarts the worker with some bindings changed; D1 keeps its data. */
    async setBindings(changed) {
      const [main, ...rest] = options.workers;
      options.workers = [{ ...main, bindings: { ...main.bindings, ...changed } }, ...rest];
      await mf.setOptions(options);
    },
    close: () => mf.dispose(),
  };
}

/**
 * A stand-in for the Graph API (and 360dialog) on the worker's outbound
 * fetch. Records every request; answers from a script of responses, then 200
 * with a fresh wamid.
 */
export class FakeGraph {
  constructor() {
    this.requests = [];
    this.script = [];
    this.routes = [];
    this.sent = 0;
  }
  /** Answers requests whose method and URL match with `responder(request)`:
   * a Response, or `{ status, body, headers }`. Routes win over the script. */
  on(method, pattern, responder) {
    this.routes.push({ method, pattern, responder });
    return this;
  }
  reset() {
    this.requests.length = 0;
    this.script.length = 0;
    this.routes.length = 0;
  }
  /** Queues responses: `{ status, body, headers }` objects, used in order. */
  respond(...responses) {
    this.script.push(...responses);
    return this;
  }
  get handler() {
    return async (request) => {
      const url = new URL(request.url);
      const raw = Buffer.from(await request.arrayBuffer());
      const body = raw.toString("latin1");
      let parsed = null;
      try {
        parsed = body ? JSON.parse(body) : null;
      } catch {
        parsed = null;
      }
      const record = {
        method: request.method,
        url: request.url,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        host: url.host,
        headers: Object.fromEntries(request.headers),
        body: parsed,
        raw,
      };
      this.requests.push(record);
      const route = this.routes.find((r) => r.method === request.method && r.pattern.test(request.url));
      if (route) {
        const out = await route.responder(record);
        if (out instanceof Response) return out;
        return new Response(JSON.stringify(out.body ?? {}), {
          status: out.status ?? 200,
          headers: { "Content-Type": "application/json", ...(out.headers ?? {}) },
        });
      }
      const next = this.script.shift();
      if (next) {
        return new Response(JSON.stringify(next.body ?? {}), {
          status: next.status,
          headers: { "Content-Type": "application/json", ...(next.headers ?? {}) },
        });
      }
      this.sent++;
      const answer = parsed?.status === "read"
        ? { success: true }
        : {
            messaging_product: "whatsapp",
            contacts: [{ input: parsed?.to, wa_id: parsed?.to }],
            messages: [{ id: `wamid.fake${this.sent}`, message_status: "accepted" }],
          };
      return new Response(JSON.stringify(answer), {
        status: 200,
        headers: { "Content-Type": "application/json" },
      });
    };
  }
}

/** Graph's error body. */
export function graphError(code, message = "error", extra = {}) {
  return { error: { message, type: "OAuthException", code, fbtrace_id: "AbC", ...extra } };
}

/** Polls `probe` until it returns a truthy value or `ms` pass. */
export async function eventually(probe, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Registers the hooks of a describe block that runs one worker: started
 * before its tests with `options` (`graph`: a FakeGraph on the outbound
 * fetch), closed after them, and unless `reset` is false emptied (and the
 * graph reset) before each test, then `each(worker)` run. `set` receives the
 * worker.
 */
export function useWorker({ graph, reset = true, each, ...options } = {}, set) {
  let w;
  before(async () => {
    w = await startWorker({ outboundService: graph?.handler, ...options });
    set(w);
  });
  after(() => w.close());
  if (reset) {
    beforeEach(async () => {
      await w.reset();
      graph?.reset();
      if (each) await each(w);
    });
  }
}
