// Trust, tried the way an attacker or a careless operator would: the token
// cannot be walked around, a channel speaks only for itself, nothing is sent
// twice or after STOP, nothing acknowledged is lost, erasure forgets.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import {
  startWorker, useWorker, fixture, FakeGraph, graphError, eventually, ADMIN_TOKEN, migrationStatements,
} from "./helpers.mjs";

const PNID = "106540352242922";
const OTHER_PN = "200000000000001";
const D360_PN = "200000000000002";
const CUSTOMER = "16505551234";
const now = () => Math.floor(Date.now() / 1000);
const basic = (userPass) => "Basic " + Buffer.from(userPass).toString("base64");
const secrets = {
  TOKEN_SHOP_A: "token-for-shop-a",
  D360_KEY_SHOP_B: "d360-key-for-shop-b",
  D360_HOOK_SHOP_B: "hookuser:hookpass",
  D360_API_BASE: "http://d360.test",
};
const otherChannel = {
  phone_number_id: OTHER_PN, provider: "meta", credential_secret: "TOKEN_SHOP_A", waba_id: "300000000000001",
};
const d360Channel = {
  phone_number_id: D360_PN, provider: "360dialog", credential_secret: "D360_KEY_SHOP_B",
  webhook_auth_secret: "D360_HOOK_SHOP_B",
};

let seq = 0;
/** An inbound text message body to `pn` from `from`. */
function inbound({ pn = PNID, from = CUSTOMER, body = "hello", ts = now(), id } = {}) {
  const v = JSON.parse(fixture("text"));
  const value = v.entry[0].changes[0].value;
  value.metadata = { display_phone_number: "15550783881", phone_number_id: pn };
  value.contacts[0].wa_id = from;
  Object.assign(value.messages[0], { from, timestamp: String(ts), id: id ?? `wamid.trust.${++seq}`, text: { body } });
  return Buffer.from(JSON.stringify(v));
}

/** A status webhook for `wamid`, optionally carrying callback data. */
function statusFor({ wamid, status = "delivered", callback, pn = PNID }) {
  const v = JSON.parse(fixture("status_delivered"));
  const value = v.entry[0].changes[0].value;
  value.metadata.phone_number_id = pn;
  Object.assign(value.statuses[0], { id: wamid, status, timestamp: String(now()), recipient_id: CUSTOMER });
  if (callback) value.statuses[0].biz_opaque_callback_data = callback;
  return Buffer.from(JSON.stringify(v));
}

async function posted(w, body, opts) {
  const res = await w.post(body, opts);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

const text = (body = "Your order shipped", extra = {}) => ({ to: CUSTOMER, type: "text", text: { body }, ...extra });

async function settledState(w, id, states = ["sent", "failed", "unknown"]) {
  return eventually(async () => {
    const row = await w.outbox(id);
    return row && states.includes(row.state) && row.attempts > 0 ? row : null;
  });
}

const messageRequests = (graph) => graph.requests.filter((r) => r.body?.type);

describe("one router, one token check", () => {
  let w;
  useWorker({ reset: false }, (x) => (w = x));

  it("serves no percent-encoded spelling of /v1 without the token", async () => {
    for (const [method, path] of [
      ["GET", "/%76%31/contacts"], ["GET", "/v%31/contacts"], ["GET", "/%76%31/channels"],
      ["POST", "/%76%31/messages"], ["GET", "/%76%31/events"], ["DELETE", `/%76%31/contacts/${CUSTOMER}`],
    ]) {
      const res = await w.fetch(path, { method, headers: { "Content-Type": "application/json" }, body: method === "POST" ? "{}" : undefined });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="wa-edge"');
      assert.equal((await res.json()).error.code, "unauthorized");
    }
    // With the token, the encoded spelling is the same route.
    const [status, body] = await w.api("/%76%31/contacts");
    assert.equal(status, 200);
    assert.ok(Array.isArray(body.data));
  });

  it("answers 404 for non-canonical spellings and 405 with Allow", async () => {
    for (const path of ["//v1/contacts", "/v1//contacts", "/v1/contacts%2F1", "/V1/contacts", "/v1/contacts/%FF"]) {
      const res = await w.fetch(path, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(res.status, 404, path);
      await res.arrayBuffer();
    }
    const res = await w.fetch("/v1/events", { method: "POST", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
    const hook = await w.fetch("/webhook", { method: "PUT" });
    assert.equal(hook.status, 405);
    assert.equal(hook.headers.get("allow"), "GET, HEAD, POST");
    await hook.arrayBuffer();
    const unsigned = await w.post("{}", { signature: null });
    assert.equal(unsigned.status, 401);
    assert.ok(unsigned.headers.get("www-authenticate"));
    await unsigned.arrayBuffer();
  });
});

describe("secret names name secrets", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph, bindings: secrets }, (x) => (w = x));

  it("refuses a channel that names the admin token, the app secret or any setting", async () => {
    for (const [field, name] of [
      ["credential_secret", "ADMIN_TOKEN"], ["credential_secret", "WHATSAPP_APP_SECRET"],
      ["credential_secret", "whatsapp_verify_token"], ["credential_secret", "GRAPH_API_BASE"],
      ["webhook_auth_secret", "ADMIN_TOKEN"], ["webhook_auth_secret", "WHATSAPP_ACCESS_TOKEN"],
    ]) {
      const [status, body] = await w.send("/v1/channels", { ...d360Channel, [field]: name });
      assert.equal(status, 400, `${field}=${name}`);
      assert.equal(body.error.code, "invalid_channel");
      assert.ok(body.error.message.startsWith(`${field}:`), body.error.message);
    }
    const stored = (await w.api("/v1/channels"))[1].data.filter((c) => c.source === "api");
    assert.equal(stored.length, 0, "nothing was stored");
    assert.equal((await w.send("/v1/channels", d360Channel))[0], 201);
    const [shared, sharedBody] = await w.send("/v1/channels", { ...d360Channel, phone_number_id: "200000000000003" });
    assert.equal(shared, 409, "one webhook credential per number");
    assert.equal(sharedBody.error.code, "webhook_secret_taken");
    assert.ok(sharedBody.error.message.startsWith("webhook_auth_secret:"));
    const [status, body] = await w.send(`/v1/channels/${D360_PN}`, { webhook_auth_secret: "ADMIN_TOKEN" }, {}, "PATCH");
    assert.equal(status, 400);
    assert.ok(body.error.message.startsWith("webhook_auth_secret:"));
    // The registration call still sends the channel's own credential only.
    await w.send(`/v1/channels/${D360_PN}/webhook`, { url: `https://wa.example.com/webhook/360dialog/${D360_PN}` });
    assert.ok(graph.requests.every((r) => !JSON.stringify(r.body ?? {}).includes(Buffer.from(ADMIN_TOKEN).toString("base64"))));
  });
});

describe("a 360dialog path speaks for its own number only", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({
    graph, bindings: secrets,
    each: async () => {
      assert.equal((await w.send("/v1/channels", d360Channel))[0], 201);
      assert.equal((await w.send("/v1/rules", { priority: 1, match: { any: true }, reply: { type: "text", text: { body: "auto" } } }))[0], 201);
    },
  }, (x) => (w = x));

  const via360 = (body) => w.fetch(`/webhook/360dialog/${D360_PN}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: basic(secrets.D360_HOOK_SHOP_B) },
    body,
  });

  it("keeps another number's traffic as a foreign_channel event with no effect", async () => {
    // Shop B's credential, the default Meta number's id, and a STOP.
    const res = await via360(inbound({ pn: PNID, body: "STOP" }));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const counts = await w.counts();
    assert.equal(counts.messages, 0);
    assert.equal(counts.contacts, 0);
    const inboundCount = async () =>
      (await w.db.prepare("SELECT count(*) AS n FROM messages WHERE direction = 'in'").first()).n;
    const [, events] = await w.api("/v1/events?kind=foreign_channel");
    assert.equal(events.data.length, 1);
    assert.equal(events.data[0].raw.value.metadata.phone_number_id, PNID);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM windows").first()).n, 0);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM opt_outs").first()).n, 0);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM outbox").first()).n, 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(graph.requests.length, 0, "no reply with anyone's token");
    // Its own number's traffic is stored and answered.
    const own = await via360(inbound({ pn: D360_PN }));
    assert.equal(own.status, 200);
    await own.arrayBuffer();
    assert.equal(await inboundCount(), 1);
    await eventually(() => messageRequests(graph).length === 1);
    assert.equal(graph.requests[0].headers["d360-api-key"], secrets.D360_KEY_SHOP_B);
  });

  it("does not let a status on its path report on another number's message", async () => {
    await posted(w, inbound({ id: "wamid.of.default" }));
    const status = JSON.parse(statusFor({ wamid: "wamid.of.default", status: "failed", pn: D360_PN }));
    const res = await via360(Buffer.from(JSON.stringify(status)));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const n = (await w.db.prepare("SELECT count(*) AS n FROM statuses WHERE wamid = 'wamid.of.default'").first()).n;
    assert.equal(n, 0);
    const [, m] = await w.api("/v1/messages/wamid.of.default");
    assert.equal(m.status, "received");
  });

  it("keeps account-level changes as events but changes no template", async () => {
    await w.db.prepare("INSERT INTO templates (id, waba_id, name, language, status, updated_at) VALUES ('594425479261596', '102290129340398', 'order_update', 'en_US', 'APPROVED', 1)").run();
    const res = await via360(fixture("template_status_update"));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const t = await w.db.prepare("SELECT status FROM templates WHERE id = '594425479261596'").first();
    assert.equal(t.status, "APPROVED");
    const [, events] = await w.api("/v1/events?kind=message_template_status_update");
    assert.equal(events.data.length, 1);
  });
});

describe("at most once", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({
    graph, bindings: { GRAPH_TIMEOUT_S: "1" },
    each: async () => {
      await posted(w, inbound({ ts: now() - 60 }));
    },
  }, (x) => (w = x));

  it("names the outbox row in biz_opaque_callback_data and keeps the caller's own", async () => {
    const [, { id }] = await w.send("/v1/messages", text("x", { biz_opaque_callback_data: "crm-42" }));
    await settledState(w, id);
    assert.equal(messageRequests(graph)[0].body.biz_opaque_callback_data, `${id}|crm-42`);
  });

  for (const [name, answer] of [
    ["a 2xx without a message id", { status: 200, body: { messaging_product: "whatsapp" } }],
    ["a 502 page from a gateway", { status: 502, body: "<html>Bad gateway</html>" }],
  ]) {
    it(`leaves ${name} unknown, never resends it, and resolves it from its status webhook`, async () => {
      graph.respond(answer);
      const [, { id }] = await w.send("/v1/messages", text());
      const row = await settledState(w, id);
      assert.equal(row.state, "unknown");
      let [, m] = await w.api(`/v1/messages/${id}`);
      assert.equal(m.status, "unknown");
      await w.cron(Date.now() + 7_200_000);
      assert.equal(messageRequests(graph).length, 1, "not resent");
      // Graph did send it: the status webhook names the row.
      await posted(w, statusFor({ wamid: "wamid.lost.1", callback: id }));
      const resolved = await w.outbox(id);
      assert.equal(resolved.state, "sent");
      assert.equal(resolved.wamid, "wamid.lost.1");
      [, m] = await w.api(`/v1/messages/${id}`);
      assert.equal(m.wamid, "wamid.lost.1");
      assert.equal(m.status, "delivered");
    });
  }

  it("leaves a send Graph did not answer in time unknown", async () => {
    graph.on("POST", /\/messages$/, async () => {
      await new Promise((r) => setTimeout(r, 3000));
      return { status: 200, body: { messages: [{ id: "wamid.late" }] } };
    });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await settledState(w, id);
    assert.equal(row.state, "unknown");
    assert.match(row.last_error, /no answer within 1 s/);
    await w.cron(Date.now() + 7_200_000);
    assert.equal(messageRequests(graph).length, 1);
  });

  it("does not let a status on another channel resolve a row", async () => {
    graph.respond({ status: 200, body: {} });
    const [, { id }] = await w.send("/v1/messages", text());
    await settledState(w, id);
    await posted(w, statusFor({ wamid: "wamid.forged", callback: id, pn: OTHER_PN }));
    assert.equal((await w.outbox(id)).state, "unknown");
  });

  it("does not resend a row waiting for a retry once a status shows Graph had it", async () => {
    graph.respond({ status: 500, body: graphError(131000, "Something went wrong") });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await settledState(w, id, ["queued"]);
    await posted(w, statusFor({ wamid: "wamid.had.it", callback: id }));
    assert.equal((await w.outbox(id)).state, "sent");
    await w.cron(row.next_attempt_at + 1000);
    assert.equal(messageRequests(graph).length, 1);
  });

  it("retries a 500 that carries Graph's error object", async () => {
    graph.respond({ status: 500, body: graphError(131000, "Something went wrong") });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await settledState(w, id, ["queued"]);
    await w.cron(row.next_attempt_at);
    assert.equal((await settledState(w, id)).state, "sent");
    assert.equal(messageRequests(graph).length, 2);
  });
});

describe("a connection that fails", () => {
  let w;
  before(async () => {
    // A port nothing listens on.
    const server = createServer();
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const port = server.address().port;
    await new Promise((r) => server.close(r));
    w = await startWorker({ bindings: { GRAPH_API_BASE: `http://127.0.0.1:${port}` } });
  });
  after(() => w.close());

  // workerd reports a refused connection as "Network connection lost.", the
  // same words as a connection lost after the request was written, so the
  // outcome cannot be known and the row is never resent blindly.
  it("is unknown and never resent, since the runtime cannot say whether Graph saw it", async () => {
    await posted(w, inbound({ ts: now() - 60 }));
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await settledState(w, id, ["queued", "unknown", "failed"]);
    assert.equal(row.state, "unknown", row.last_error);
    assert.equal(row.attempts, 1);
    await w.cron(Date.now() + 7_200_000);
    assert.equal((await w.outbox(id)).attempts, 1);
  });
});

describe("STOP wins at send time, per channel", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({
    graph, bindings: secrets,
    each: async () => {
      await posted(w, inbound({ ts: now() - 60 }));
    },
  }, (x) => (w = x));

  it("fails a send waiting on a 429 when the customer writes STOP meanwhile", async () => {
    graph.respond({ status: 429, body: graphError(130429, "Rate limit hit"), headers: { "Retry-After": "60" } });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await settledState(w, id, ["queued"]);
    await posted(w, inbound({ body: "STOP" }));
    await eventually(() => messageRequests(graph).some((r) => r.body.text?.body.includes("unsubscribed")));
    await w.cron(row.next_attempt_at + 1000);
    const done = await w.outbox(id);
    assert.equal(done.state, "failed");
    assert.match(done.last_error, /^opted_out/);
    const originals = messageRequests(graph).filter((r) => r.body.text?.body === "Your order shipped");
    assert.equal(originals.length, 1, "only the throttled attempt reached Graph");
  });

  it("keeps a STOP to one number from silencing another", async () => {
    assert.equal((await w.send("/v1/channels", otherChannel))[0], 201);
    await posted(w, inbound({ body: "STOP" }));
    await posted(w, inbound({ pn: OTHER_PN, ts: now() - 30 }));
    const [blocked, b] = await w.send("/v1/messages", text());
    assert.equal(blocked, 409);
    assert.equal(b.error.code, "opted_out");
    const [ok] = await w.send("/v1/messages", { ...text(), from: OTHER_PN });
    assert.equal(ok, 202);
    const [, contact] = await w.api(`/v1/contacts/${CUSTOMER}`);
    assert.deepEqual(contact.opted_out_channels, [PNID]);
  });

  it("answers a rule limited to a channel only on that number", async () => {
    assert.equal((await w.send("/v1/channels", otherChannel))[0], 201);
    const [status] = await w.send("/v1/rules", {
      priority: 1, channel: OTHER_PN, match: { keyword: "price" }, reply: { type: "text", text: { body: "10 EUR" } },
    });
    assert.equal(status, 201);
    await posted(w, inbound({ body: "price" }));
    await posted(w, inbound({ pn: OTHER_PN, body: "price" }));
    await eventually(() => messageRequests(graph).length >= 1);
    await new Promise((r) => setTimeout(r, 200));
    const replies = messageRequests(graph);
    assert.equal(replies.length, 1);
    assert.equal(replies[0].path, `/v23.0/${OTHER_PN}/messages`);
  });
});

describe("time from the payload is bounded", () => {
  let w;
  useWorker({}, (x) => (w = x));

  it("lets START undo a STOP dated in the year 2286", async () => {
    await posted(w, inbound({ body: "STOP", ts: 9_999_999_999 }));
    let [, c] = await w.api(`/v1/contacts/${CUSTOMER}`);
    assert.equal(c.opted_out, true);
    assert.ok(c.last_seen <= now() + 1, "last_seen is the receipt time");
    await new Promise((r) => setTimeout(r, 1100));
    await posted(w, inbound({ body: "START" }));
    [, c] = await w.api(`/v1/contacts/${CUSTOMER}`);
    assert.equal(c.opted_out, false);
    const window = await w.db.prepare("SELECT last_inbound_at FROM windows").first();
    assert.ok(window.last_inbound_at <= now() + 1, `window clamped: ${window.last_inbound_at}`);
    const [, m] = await w.api(`/v1/contacts/${CUSTOMER}/messages`);
    assert.ok(m.data.some((x) => x.timestamp === 9_999_999_999), "the raw value is kept");
  });
});

describe("time from the payload cannot break a rule", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph }, (x) => (w = x));

  it("answers a message dated before 1970 under a business-hours rule instead of failing the delivery", async () => {
    await w.send("/v1/rules", {
      priority: 1, match: { any: true }, reply: { type: "text", text: { body: "open" } },
      hours: { tz: "Europe/Berlin", open: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], from: "00:00", to: "23:59" }],
        away: { type: "text", text: { body: "closed" } } },
    });
    const answer = await posted(w, inbound({ ts: -9_000_000_000_000 }));
    assert.equal(answer.messages, 1);
    await eventually(() => messageRequests(graph).length === 1);
    assert.equal((await w.fetch("/healthz")).status, 200);
  });
});

describe("nothing acknowledged is lost, whatever its size", () => {
  for (const [name, r2Buckets] of [["split across rows", undefined], ["kept in R2", ["MEDIA"]]]) {
    describe(name, () => {
      let w;
      useWorker({ r2Buckets }, (x) => (w = x));

      it("stores a 3.5 MB signed non-JSON body and reads it back byte for byte", async () => {
        const body = Buffer.from("not json ".repeat(400_000).slice(0, 3_500_000));
        const answer = await posted(w, body);
        assert.equal(answer.events, 1);
        const [, events] = await w.api("/v1/events?kind=dead_letter");
        const res = await w.fetch(events.data[0].raw_url, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
        assert.equal(res.status, 200);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(body));
        // A redelivery changes nothing.
        await posted(w, body);
        assert.equal((await w.counts()).events, 1);
      });

      it("stores a 1.5 MB body that is not UTF-8 and reads back its bytes", async () => {
        const body = Buffer.alloc(1_500_000, 0xff);
        body.write("\u00e9\u00e8", 0, "latin1");
        await posted(w, body);
        const [, events] = await w.api("/v1/events?kind=dead_letter");
        assert.equal(events.data[0].raw_encoding, "hex");
        const res = await w.fetch(events.data[0].raw_url, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
        assert.equal(res.headers.get("content-type"), "application/octet-stream");
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(body));
      });

      it("stores a message with a 1.5 MB text and shows all of it", async () => {
        const long = "\u00e9".repeat(750_000);
        const id = "wamid.huge.text";
        const body = inbound({ id, body: long });
        const answer = await posted(w, body);
        assert.equal(answer.messages, 1);
        const [status, m] = await w.api(`/v1/messages/${id}`);
        assert.equal(status, 200);
        assert.equal(m.text.body, long);
      });
    });
  }
});

describe("a bounded D1 budget per delivery", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph }, (x) => (w = x));

  it("stores 1000 messages with an any + mark_read rule, sends a bounded first share, the OUTBOX queue the rest", async () => {
    await w.send("/v1/rules", { priority: 1, match: { any: true }, mark_read: true, reply: { type: "text", text: { body: "Thanks" } } });
    const v = JSON.parse(inbound());
    const value = v.entry[0].changes[0].value;
    const template = value.messages[0];
    value.messages = Array.from({ length: 1000 }, (_, i) => ({
      ...template, id: `wamid.bulk.${i}`, from: `1650555${String(i % 300).padStart(4, "0")}`,
      timestamp: String(now() - 1000 + i),
    }));
    const answer = await posted(w, Buffer.from(JSON.stringify(v)));
    assert.equal(answer.messages, 1000);
    const stored = await w.db.prepare("SELECT count(*) AS n FROM messages WHERE direction = 'in'").first();
    assert.equal(stored.n, 1000);
    const queued = (await w.db.prepare("SELECT count(*) AS n FROM outbox").first()).n;
    assert.equal(queued, 2000, "a read receipt and a reply per message");
    // The webhook's own invocation sends 10; the rest go on the OUTBOX
    // queue, whose consumer sends 25 a batch, each batch its own bounded
    // invocation: everything arrives without a cron run.
    await eventually(() => graph.requests.length === 2000, 90000);
    const sentTwice = new Set();
    for (const r of graph.requests) {
      const key = JSON.stringify(r.body);
      assert.ok(!sentTwice.has(key), "nothing sent twice");
      sentTwice.add(key);
    }
  });
});

describe("template status moves forward in time only", () => {
  let w;
  useWorker({}, (x) => (w = x));

  it("ignores a late redelivered APPROVED after a newer PAUSED", async () => {
    const update = (event, time) => {
      const v = JSON.parse(fixture("template_status_update"));
      v.entry[0].time = time;
      v.entry[0].changes[0].value.event = event;
      return Buffer.from(JSON.stringify(v));
    };
    await posted(w, update("PAUSED", now() - 10));
    await posted(w, update("APPROVED", now() - 100));
    const t = await w.db.prepare("SELECT status FROM templates").first();
    assert.equal(t.status, "PAUSED");
    await posted(w, update("APPROVED", now()));
    assert.equal((await w.db.prepare("SELECT status FROM templates").first()).status, "APPROVED");
  });
});

describe("erasure", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph }, (x) => (w = x));

  it("removes a contact and everything that names them, and redeliveries do not bring them back", async () => {
    const first = inbound({ ts: now() - 120, body: "my address is 1 Main St" });
    await posted(w, first);
    const [, { id }] = await w.send("/v1/messages", text("We ship tomorrow"));
    await settledState(w, id);
    await posted(w, fixture("user_preferences"));
    const other = inbound({ from: "447700900123", ts: now() - 60 });
    await posted(w, other);
    // A text dead letter that quotes the number, and a message of a type
    // that would break a JSON path.
    await posted(w, Buffer.from(`customer ${CUSTOMER} called`));
    const odd = JSON.parse(inbound({ id: "wamid.odd.type" }));
    odd.entry[0].changes[0].value.messages[0].type = "";
    await posted(w, Buffer.from(JSON.stringify(odd)));

    const contactId = (await w.api(`/v1/contacts/${CUSTOMER}`))[1].id;
    assert.match(contactId, /^ct_[0-9a-f]{24}$/);
    const res = await w.fetch("/v1/contacts/+1%20650-555-1234", {
      method: "DELETE", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(res.status, 204);
    assert.equal((await w.api(`/v1/contacts/${CUSTOMER}`))[0], 404);
    for (const [table, where, arg] of [
      ["messages", "wa_id = ?1", CUSTOMER], ["outbox", "recipient = ?1", CUSTOMER],
      ["messages", "contact_id = ?1", contactId], ["outbox", "contact_id = ?1", contactId],
      ["windows", "contact_id = ?1", contactId], ["opt_outs", "contact_id = ?1", contactId],
      ["statuses", "recipient_id = ?1", CUSTOMER], ["events", "instr(raw, ?1) > 0", CUSTOMER],
    ]) {
      const n = (await w.db.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).bind(arg).first()).n;
      assert.equal(n, 0, `${table} still names them`);
    }
    const tombstone = await w.db.prepare("SELECT * FROM erased").all();
    assert.equal(tombstone.results.length, 1);
    assert.ok(!JSON.stringify(tombstone.results).includes(CUSTOMER), "the tombstone holds no number");
    // The other customer is untouched.
    assert.equal((await w.api("/v1/contacts/447700900123"))[0], 200);

    // Meta redelivers the old webhooks: nothing comes back.
    await posted(w, first);
    await posted(w, fixture("user_preferences"));
    assert.equal((await w.api(`/v1/contacts/${CUSTOMER}`))[0], 404);
    for (const table of ["events", "raw_parts"]) {
      const left = await w.db.prepare(`SELECT count(*) AS n FROM ${table} WHERE instr(${table === "events" ? "raw" : "data"}, ?1) > 0`).bind(CUSTOMER).first();
      assert.equal(left.n, 0, `${table} names them again`);
    }
    // The person writes again later: a new contact.
    await posted(w, inbound({ body: "hi again", ts: now() + 1 }));
    const [status, again] = await w.api(`/v1/contacts/${CUSTOMER}/messages`);
    assert.equal(status, 200);
    assert.equal(again.data.length, 1);
    assert.equal(again.data[0].text.body, "hi again");
  });
});

describe("erasure and the statuses of messages sent before it", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph }, (x) => (w = x));

  const sent = async (body) => {
    const [status, json] = await w.send("/v1/messages", text(body));
    assert.equal(status, 202, JSON.stringify(json));
    await eventually(async () => (await w.outbox(json.id))?.state === "sent");
    return (await w.outbox(json.id)).wamid;
  };
  const statusRows = async () => (await w.db.prepare("SELECT wamid, status FROM statuses ORDER BY wamid, status").all()).results;

  it("keeps out a delivered or read that arrives after the erasure for a message it erased, and keeps those of new ones", async () => {
    // Bodies are kept while a destination exists: a disabled one keeps them.
    assert.equal((await w.send("/v1/destinations", { url: "http://127.0.0.1:9/hook", enabled: false }))[0], 201);
    await posted(w, inbound({ ts: now() - 60 }));
    const before = await sent("your order 1234 ships to 1 Main St");
    assert.ok(before);
    const res = await w.fetch(`/v1/contacts/${CUSTOMER}`, { method: "DELETE", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 204);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM deliveries").first()).n, 0);

    // Their phone comes online a second later: Meta reports the old
    // message delivered and read, dated after the erasure.
    await new Promise((r) => setTimeout(r, 1100));
    await posted(w, statusFor({ wamid: before }));
    await posted(w, statusFor({ wamid: before, status: "read" }));
    assert.deepEqual(await statusRows(), [], "no status names them again");
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM deliveries").first()).n, 0, "nor is the body kept");
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM relay_events").first()).n, 0);
    assert.equal((await w.api(`/v1/messages/${before}`))[0], 404);

    // They come back and are answered: that message's statuses are theirs.
    await posted(w, inbound({ body: "hi again", ts: now() + 1 }));
    const after = await sent("welcome back");
    await posted(w, statusFor({ wamid: after }));
    assert.deepEqual(await statusRows(), [{ wamid: after, status: "delivered" }]);
    const [, m] = await w.api(`/v1/messages/${after}`);
    assert.equal(m.status, "delivered");
  });
});

describe("a wamid another channel already stored reaches none of that channel's bodies", () => {
  for (const [name, r2Buckets] of [["split across rows", undefined], ["kept in R2", ["MEDIA"]]]) {
    describe(name, () => {
      let w;
      useWorker({
        r2Buckets, bindings: secrets,
        each: async () => assert.equal((await w.send("/v1/channels", d360Channel))[0], 201),
      }, (x) => (w = x));
      const via360 = async (body) => {
        const res = await w.fetch(`/webhook/360dialog/${D360_PN}`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: basic(secrets.D360_HOOK_SHOP_B) },
          body,
        });
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      };
      // Every spilled body as it lies: raw_parts rows and R2 objects.
      const stored = async () => {
        const parts = (await w.db.prepare("SELECT owner, part, length(data) AS n FROM raw_parts ORDER BY owner, part").all()).results;
        if (!r2Buckets) return { parts };
        const bucket = await w.mf.getR2Bucket("MEDIA");
        const objects = [];
        for (const o of (await bucket.list()).objects) objects.push([o.key, await (await bucket.get(o.key)).text()]);
        return { parts, objects: objects.sort() };
      };

      it("keeps the first channel's long message as it came, and nothing of the other's", async () => {
        const id = "wamid.shared.long";
        const mine = "\u00e9".repeat(400_000);
        await posted(w, inbound({ id, body: mine }));
        const before = await stored();
        assert.ok(before.parts.length + (before.objects?.length ?? 0) > 0, "the body was spilled");
        // Shop B's own number, Shop A's wamid, and a longer body (more parts
        // than the first one has).
        await via360(inbound({ pn: D360_PN, id, from: "447700900123", body: "x".repeat(2_000_000) }));
        const [, m] = await w.api(`/v1/messages/${id}`);
        assert.equal(m.phone_number_id, PNID);
        assert.equal(m.text.body, mine, "the stored body is the first channel's");
        assert.deepEqual(await stored(), before, "nothing added or overwritten, nothing left behind");
        // A redelivery of the first body changes nothing either.
        await posted(w, inbound({ id, body: mine }));
        assert.deepEqual(await stored(), before);
      });

      it("does not let another channel's history fill in this channel's history message", async () => {
        const id = "wamid.QyNUEHBgLMTY0NjcwNDM1OTUVAgARGBI1Rj3NEYxMzAzMzQ5MkEA";
        await posted(w, fixture("history_phase"));
        const theirs = JSON.parse(fixture("history_media"));
        theirs.entry[0].changes[0].value.metadata.phone_number_id = D360_PN;
        await via360(Buffer.from(JSON.stringify(theirs)));
        let [, m] = await w.api(`/v1/messages/${id}`);
        assert.equal(m.phone_number_id, PNID);
        assert.equal(m.image.id, undefined, "not filled in from another channel");
        await posted(w, fixture("history_media"));
        [, m] = await w.api(`/v1/messages/${id}`);
        assert.equal(m.image.id, "24230790383178626", "its own channel's backfill fills it in");
      });
    });
  }
});

describe("erasure with bodies kept for the relay and raw bodies in R2", () => {
  let w;
  useWorker({ r2Buckets: ["MEDIA"] }, (x) => (w = x));

  it("keeps nothing of a cut redelivery: no kept body, no R2 object", async () => {
    // Bodies are kept while a destination exists.
    assert.equal((await w.send("/v1/destinations", { url: "http://127.0.0.1:9/hook", enabled: false }))[0], 201);
    const big = inbound({ id: "wamid.erased.big", ts: now() - 120, body: "\u00e9".repeat(400_000) });
    await posted(w, big);
    // A malformed message: its event is dated by receipt, not by the item.
    const odd = JSON.parse(inbound({ id: "wamid.erased.odd", ts: now() - 110 }));
    odd.entry[0].changes[0].value.messages[0].type = "Text!";
    delete odd.entry[0].changes[0].value.contacts;
    const oddBody = Buffer.from(JSON.stringify(odd));
    await posted(w, oddBody);
    const bucket = await w.mf.getR2Bucket("MEDIA");
    const keys = async () => (await bucket.list()).objects.map((o) => o.key).sort();
    assert.ok((await keys()).length >= 2, "the message's raw JSON and the kept body are in R2");
    const naming = async () => (await w.db.prepare("SELECT count(*) AS n FROM deliveries WHERE raw_ref IS NOT NULL OR instr(raw, ?1) > 0").bind(CUSTOMER).first()).n;
    assert.equal(await naming(), 2);

    const res = await w.fetch(`/v1/contacts/${CUSTOMER}`, { method: "DELETE", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 204);
    assert.deepEqual(await keys(), []);
    assert.equal(await naming(), 0);

    // Meta redelivers both, a second later (the malformed one is dated by
    // its receipt, so newer than the erasure): nothing of them is kept, in
    // D1 or in R2.
    await new Promise((r) => setTimeout(r, 1100));
    await posted(w, big);
    await posted(w, oddBody);
    assert.equal(await naming(), 0, "no kept body names them");
    assert.deepEqual(await keys(), [], "the tripped attempt's R2 objects are gone");
    assert.equal((await w.counts()).messages, 0);
    // Someone else's big message is kept as ever.
    await posted(w, inbound({ id: "wamid.other.big", from: "447700900123", body: "\u00e9".repeat(400_000) }));
    assert.equal((await keys()).length, 2);
  });

  it("erases an event, and its kept body, naming them past the people its index lists", async () => {
    assert.equal((await w.send("/v1/destinations", { url: "http://127.0.0.1:9/hook", enabled: false }))[0], 201);
    await posted(w, inbound({ ts: now() - 60 }));
    // 1000 other people first, then them: past the 1000 the index lists.
    const people = Array.from({ length: 1000 }, (_, i) => ({ wa_id: `1555${String(i).padStart(7, "0")}` }));
    people.push({ wa_id: CUSTOMER });
    const crowd = { object: "whatsapp_business_account", entry: [{ id: "102290129340398", changes: [{ field: "future_field", value: { people } }] }] };
    await posted(w, Buffer.from(JSON.stringify(crowd)));
    // One naming a longer number that holds theirs, and not them: it stays.
    const longer = `44${CUSTOMER}`;
    const others = structuredClone(crowd);
    others.entry[0].changes[0].value.people[1000] = { wa_id: longer };
    await posted(w, Buffer.from(JSON.stringify(others)));
    const naming = async (table, who = `"${CUSTOMER}"`) => (await w.db.prepare(`SELECT count(*) AS n FROM ${table} WHERE instr(raw, ?1) > 0`).bind(who).first()).n;
    assert.equal(await naming("events"), 1);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM event_contacts WHERE identifier = ?1").bind(CUSTOMER).first()).n, 0, "not listed");
    const res = await w.fetch(`/v1/contacts/${CUSTOMER}`, { method: "DELETE", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 204);
    assert.equal(await naming("events"), 0, "the event is erased");
    assert.equal(await naming("deliveries"), 0, "its kept body too");
    assert.equal(await naming("events", longer), 1, "the other crowd stays");
    assert.equal(await naming("deliveries", longer), 1);
  });

  it("erases the kept body of a dead letter that names them, and keeps one that does not", async () => {
    assert.equal((await w.send("/v1/destinations", { url: "http://127.0.0.1:9/hook", enabled: false }))[0], 201);
    await posted(w, inbound({ ts: now() - 60 }));
    await posted(w, Buffer.from(`customer ${CUSTOMER} called`));
    await posted(w, Buffer.from("nobody named here"));
    const kept = async (text) => (await w.db.prepare("SELECT count(*) AS n FROM deliveries WHERE instr(raw, ?1) > 0").bind(text).first()).n;
    assert.equal(await kept(`customer ${CUSTOMER}`), 1, "the dead letter's body is kept for the relay");
    // As a release before kept them, labelled JSON: the migration relabels them.
    const labels = async () => (await w.db.prepare("SELECT raw_encoding AS e, count(*) AS n FROM deliveries GROUP BY e ORDER BY e").all()).results;
    assert.deepEqual(await labels(), [{ e: "json", n: 1 }, { e: "text", n: 2 }]);
    await w.db.prepare("UPDATE deliveries SET raw_encoding = 'json'").run();
    await w.db.batch(migrationStatements((f) => f >= "0012").map((sql) => w.db.prepare(sql)));
    assert.deepEqual(await labels(), [{ e: "json", n: 1 }, { e: "text", n: 2 }]);
    const res = await w.fetch(`/v1/contacts/${CUSTOMER}`, { method: "DELETE", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 204);
    assert.equal(await kept(CUSTOMER), 0, "no kept body names them");
    assert.equal(await kept("nobody named here"), 1, "a dead letter naming no one stays");
  });
});

describe("erasure takes the media a person was sent, and the proxy serves it no more", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph, r2Buckets: ["MEDIA"] }, (x) => (w = x));

  const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  const OTHER = "447700900123";
  const sendImage = async (to, media) => {
    await posted(w, inbound({ from: to, ts: now() - 60 }));
    const [status, { id }] = await w.send("/v1/messages", { to, type: "image", image: { id: media } });
    assert.equal(status, 202);
    await settledState(w, id);
  };
  const serves = (media, path) => {
    graph.on("GET", new RegExp(`/v23\\.0/${media}`), () =>
      ({ body: { url: `http://media.test/${path}`, mime_type: "image/jpeg", file_size: 3, id: media } }));
  };
  const erase = async (who) => {
    const res = await w.fetch(`/v1/contacts/${who}`, { method: "DELETE", headers: auth });
    assert.equal(res.status, 204);
  };

  it("deletes the kept copy of an image sent to them by id once no one else's message names it", async () => {
    const MEDIA = "4000000000000001";
    await sendImage(CUSTOMER, MEDIA);
    await sendImage(OTHER, MEDIA);
    serves(MEDIA, "sent");
    graph.on("GET", /media\.test\/sent/, () => new Response("img", { headers: { "Content-Type": "image/jpeg" } }));
    const first = await w.fetch(`/v1/media/${MEDIA}`, { headers: auth });
    assert.equal(first.status, 200);
    assert.equal(await first.text(), "img");
    const bucket = await w.mf.getR2Bucket("MEDIA");
    assert.notEqual(await bucket.head(`media/${MEDIA}`), null, "kept in R2");

    // One upload sent to two people: erasing one keeps the other's copy.
    await erase(CUSTOMER);
    assert.notEqual(await bucket.head(`media/${MEDIA}`), null, "still the other's");
    graph.reset();
    const kept = await w.fetch(`/v1/media/${MEDIA}`, { headers: auth });
    assert.equal(await kept.text(), "img");
    assert.equal(graph.requests.length, 0, "served from R2");

    await erase(OTHER);
    assert.equal(await bucket.head(`media/${MEDIA}`), null, "erasure deleted the copy");
    const after = await w.fetch(`/v1/media/${MEDIA}`, { headers: auth });
    assert.equal(after.status, 404);
    await after.arrayBuffer();
    assert.equal(graph.requests.length, 0, "nothing was fetched again");
    assert.equal(await bucket.head(`media/${MEDIA}`), null);
  });

  it("deletes the copy when everyone a shared upload was sent to is erased at once", async () => {
    const MEDIA = "4000000000000003";
    const people = ["447700900124", "447700900125", "447700900126", "447700900127", "447700900128", "447700900129"];
    for (const p of people) await sendImage(p, MEDIA);
    serves(MEDIA, "both");
    graph.on("GET", /media\.test\/both/, () => new Response("img", { headers: { "Content-Type": "image/jpeg" } }));
    const first = await w.fetch(`/v1/media/${MEDIA}`, { headers: auth });
    assert.equal(await first.text(), "img");
    const bucket = await w.mf.getR2Bucket("MEDIA");
    assert.notEqual(await bucket.head(`media/${MEDIA}`), null, "kept in R2");
    // Each erasure reads the others' messages as still naming the media.
    await Promise.all(people.map(erase));
    const left = await w.db.prepare("SELECT count(*) AS n FROM messages WHERE media_id = ?").bind(MEDIA).first();
    assert.equal(left.n, 0, "no message names it");
    assert.equal(await bucket.head(`media/${MEDIA}`), null, "and no copy is left");
    const pending = await w.db.prepare("SELECT count(*) AS n FROM erased_objects").first();
    assert.equal(pending.n, 0, "each second pass went through, so nothing is left for the cron");
  });

  it("has the cron finish what a failed second pass left in R2, and keep media a message still names", async () => {
    const bucket = await w.mf.getR2Bucket("MEDIA");
    const NAMED = "4000000000000009";
    await sendImage(OTHER, NAMED);
    // What erasures recorded and their second pass could not delete (R2 or
    // D1 refused it): an unshared copy, a copy someone's message names, and
    // one recorded too recently to be due.
    const t = Date.now();
    const rows = [["4000000000000008", t], [NAMED, t], ["4000000000000007", t + 120_000]];
    for (const [media, at] of rows) {
      await bucket.put(`media/${media}`, "x");
      await w.db.prepare("INSERT INTO erased_objects (media_id, at) VALUES (?, ?)").bind(media, at).run();
    }
    await w.cron(t + 90_000);
    assert.equal(await bucket.head("media/4000000000000008"), null, "deleted");
    assert.notEqual(await bucket.head(`media/${NAMED}`), null, "a stored message names it: kept");
    assert.notEqual(await bucket.head("media/4000000000000007"), null, "not due yet");
    const left = (await w.db.prepare("SELECT media_id FROM erased_objects ORDER BY media_id").all()).results.map((r) => r.media_id);
    assert.deepEqual(left, ["4000000000000007"]);
    await w.cron(t + 300_000);
    assert.equal(await bucket.head("media/4000000000000007"), null, "deleted once due");
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM erased_objects").first()).n, 0);
  });

  it("keeps no copy of media whose person is erased while it downloads", async () => {
    const MEDIA = "4000000000000002";
    await sendImage(CUSTOMER, MEDIA);
    serves(MEDIA, "slow");
    // The person is erased after the proxy looked the media up, before the
    // bytes are kept.
    graph.on("GET", /media\.test\/slow/, async () => {
      await erase(CUSTOMER);
      return new Response("img", { headers: { "Content-Type": "image/jpeg" } });
    });
    const res = await w.fetch(`/v1/media/${MEDIA}`, { headers: auth });
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    assert.equal(await (await w.mf.getR2Bucket("MEDIA")).head(`media/${MEDIA}`), null);
  });
});

describe("migrating a deployment with kept media to erasure's recorded second pass", () => {
  let w;
  useWorker({ r2Buckets: ["MEDIA"], migrations: (f) => f < "0016", reset: false }, (x) => (w = x));

  it("erases media stored before the migration and leaves nothing for the cron", async () => {
    // An image a customer sent, stored and kept in R2 on the schema before.
    const MEDIA = "4000000000000016";
    const v = JSON.parse(fixture("image"));
    const value = v.entry[0].changes[0].value;
    value.contacts[0].wa_id = CUSTOMER;
    Object.assign(value.messages[0], { from: CUSTOMER, timestamp: String(now() - 60), id: "wamid.trust.migrated.image" });
    value.messages[0].image.id = MEDIA;
    await posted(w, Buffer.from(JSON.stringify(v)));
    const bucket = await w.mf.getR2Bucket("MEDIA");
    await bucket.put(`media/${MEDIA}`, "img");

    const n = async (sql) => (await w.db.prepare(sql).first()).n;
    assert.equal(await n("SELECT count(*) AS n FROM messages WHERE media_id = '4000000000000016'"), 1);

    await w.db.batch(migrationStatements((f) => f >= "0016").map((sql) => w.db.prepare(sql)));
    const res = await w.fetch(`/v1/contacts/${CUSTOMER}`, {
      method: "DELETE", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(res.status, 204);
    assert.equal(await bucket.head(`media/${MEDIA}`), null, "the copy is gone");
    assert.equal(await n("SELECT count(*) AS n FROM messages WHERE media_id = '4000000000000016'"), 0);
    assert.equal(await n("SELECT count(*) AS n FROM erased_objects"), 0, "the second pass went through");
    await w.cron(Date.now() + 120_000);
    assert.equal(await n("SELECT count(*) AS n FROM erased_objects"), 0);
  });
});

describe("migrating a deployment that already erased someone to the in-batch erasure check", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph, migrations: (f) => f < "0009", reset: false }, (x) => (w = x));

  it("keeps the salt it had, so the old tombstones still keep redeliveries out", async () => {
    // Erased before the guard existed; the message comes back after the
    // migration (this release's deliveries need the schema it ships with,
    // so none is posted before).
    const old = inbound({ ts: now() - 120, body: "before the guard" });
    const res = await w.fetch(`/v1/contacts/${CUSTOMER}`, {
      method: "DELETE", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(res.status, 204);
    const salt = async () => (await w.db.prepare("SELECT value FROM settings WHERE name = 'erasure_salt'").all()).results;
    const before = await salt();
    assert.equal(before.length, 1, "erasure made the salt");

    await w.db.batch(migrationStatements((f) => f >= "0009").map((sql) => w.db.prepare(sql)));
    assert.deepEqual(await salt(), before, "the migration keeps the salt the tombstones were made with");

    await posted(w, old);
    assert.equal((await w.api(`/v1/contacts/${CUSTOMER}`))[0], 404, "the redelivery is still kept out");
    const n = async (sql) => (await w.db.prepare(sql).first()).n;
    assert.equal(await n(`SELECT count(*) AS n FROM messages WHERE wa_id = '${CUSTOMER}'`), 0);
    assert.equal(await n("SELECT count(*) AS n FROM delivery_guard"), 0);
    await posted(w, inbound({ from: "447700900123", body: "after the guard" }));
    assert.equal((await w.api("/v1/contacts/447700900123"))[0], 200);
  });
});

describe("migrating split bodies to owners their rows name", () => {
  let w;
  useWorker({}, (x) => (w = x));

  it("reads back a message and a dead letter split before the migration, byte for byte", async () => {
    const long = "\u00e9".repeat(400_000);
    await posted(w, inbound({ id: "wamid.split.before", body: long }));
    const letter = Buffer.from("not json ".repeat(100_000));
    await posted(w, letter);
    // As a release before it wrote them: a bare 'parts', owners by row key.
    await w.db.batch([
      "UPDATE raw_parts SET owner = substr(owner, 1, instr(owner, '~') - 1)",
      "UPDATE messages SET raw_ref = 'parts' WHERE raw_ref LIKE 'parts:%'",
      "UPDATE events SET raw_ref = 'parts' WHERE raw_ref LIKE 'parts:%'",
    ].map((sql) => w.db.prepare(sql)));
    await w.db.batch(migrationStatements((f) => f >= "0010").map((sql) => w.db.prepare(sql)));
    const [, m] = await w.api("/v1/messages/wamid.split.before");
    assert.equal(m.text.body, long);
    const [, events] = await w.api("/v1/events?kind=dead_letter");
    const res = await w.fetch(events.data[0].raw_url, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(letter));
  });
});

describe("bad input gets a clear 4xx, and the worker survives errors", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph }, (x) => (w = x));

  it("refuses an Idempotency-Key over 255 characters instead of ignoring it", async () => {
    await posted(w, inbound({ ts: now() - 60 }));
    const [status, body] = await w.send("/v1/messages", text(), { "Idempotency-Key": "k".repeat(256) });
    assert.equal(status, 400);
    assert.equal(body.error.code, "invalid_idempotency_key");
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM outbox").first()).n, 0);
  });

  it("serves the next request normally after one that failed inside the handler", async () => {
    await w.db.prepare("ALTER TABLE messages RENAME TO messages_away").run();
    try {
      const res = await w.post(inbound());
      assert.equal(res.status, 500);
      const body = await res.json();
      assert.deepEqual(body, { error: { code: "internal_error", message: "Something went wrong on our side." } });
    } finally {
      await w.db.prepare("ALTER TABLE messages_away RENAME TO messages").run();
    }
    const ok = await w.post(inbound());
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    for (const path of ["/%", "/v1/%zz", "/webhook?hub.mode=%", `/${"a".repeat(10_000)}`]) {
      const res = await w.fetch(path);
      assert.ok(res.status < 500, `${path}: ${res.status}`);
      await res.arrayBuffer();
    }
    assert.equal((await w.fetch("/healthz")).status, 200);
  });
});

describe("migrating a deployment that predates per-channel opt-outs", () => {
  let w;
  useWorker({ migrations: (f) => f < "0004", reset: false }, (x) => (w = x));

  it("keeps a global STOP for every channel the contact wrote to, every outbox row, and indexes old events by number", async () => {
    const t = 1_700_000_000;
    await w.db.batch([
      w.db.prepare("INSERT INTO contacts (wa_id, phone_number_id, first_seen, last_seen, updated_at, opted_out, opt_changed_at) VALUES ('111', 'pnA', ?1, ?1, ?1, 1, ?1)").bind(t),
      w.db.prepare("INSERT INTO contacts (wa_id, phone_number_id, first_seen, last_seen, updated_at, opted_out, opt_changed_at) VALUES ('222', 'pnA', ?1, ?1, ?1, 0, ?1)").bind(t),
      w.db.prepare("INSERT INTO contacts (wa_id, phone_number_id, first_seen, last_seen, updated_at) VALUES ('333', 'pnA', ?1, ?1, ?1)").bind(t),
      w.db.prepare("INSERT INTO windows (wa_id, phone_number_id, last_inbound_at) VALUES ('111', 'pnA', ?1), ('111', 'pnB', ?1)").bind(t),
      w.db.prepare("INSERT INTO outbox (id, phone_number_id, wa_id, payload, state, next_attempt_at, source, created_at, updated_at) VALUES ('out_1', 'pnA', '111', '{}', 'sent', 1, 'api', 1, 1)"),
      w.db.prepare("INSERT INTO events (id, kind, raw, raw_encoding, received_at) VALUES ('ev1', 'user_preferences', '{\"value\":{\"user_preferences\":[{\"wa_id\":\"111\"}]}}', 'json', 1), ('ev2', 'dead_letter', '{oops', 'text', 1)"),
    ]);
    await w.db.batch(migrationStatements((f) => f >= "0004").map((sql) => w.db.prepare(sql)));
    const opts = (await w.db.prepare("SELECT o.phone_number_id, c.wa_id, o.opted_out FROM opt_outs o JOIN contacts c ON c.id = o.contact_id ORDER BY c.wa_id, o.phone_number_id").all()).results;
    assert.deepEqual(opts, [
      { phone_number_id: "pnA", wa_id: "111", opted_out: 1 },
      { phone_number_id: "pnB", wa_id: "111", opted_out: 1 },
      { phone_number_id: "pnA", wa_id: "222", opted_out: 0 },
    ]);
    // Events stored before the migration are found by the numbers they name.
    const named = (await w.db.prepare("SELECT identifier AS wa_id, event_id FROM event_contacts").all()).results;
    assert.deepEqual(named, [{ wa_id: "111", event_id: "ev1" }]);
    const row = await w.db.prepare("SELECT id, state, payload FROM outbox").first();
    assert.deepEqual(row, { id: "out_1", state: "sent", payload: "{}" });
    await w.db.prepare("UPDATE outbox SET state = 'unknown'").run();
    // Every contact got an id; the API finds it by that id.
    const { id } = await w.db.prepare("SELECT id FROM contacts WHERE wa_id = '111'").first();
    const [, c] = await w.api(`/v1/contacts/${id}`);
    assert.equal(c.wa_id, "111");
    assert.deepEqual(c.opted_out_channels.sort(), ["pnA", "pnB"]);
  });
});
