// The relay in workerd: destinations on loopback receivers, Meta's bytes
// signed as Meta signs them, Standard Webhooks events checked with the
// official `standardwebhooks` library, retries, dead letters, 410, replay.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHmac } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { fixture, FakeGraph, eventually, useWorker, migrationStatements } from "./helpers.mjs";

/** A receiver on loopback that records what it gets and answers from a script. */
async function receiver(listenOn = 0) {
  const got = [];
  const script = [];
  const held = [];
  let hang = false;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      got.push({ headers: req.headers, body });
      if (hang) return held.push(res); // answers only when released
      const next = script.shift() ?? { status: 200 };
      res.writeHead(next.status, next.headers ?? {});
      res.end("ok");
    });
  });
  await new Promise((r) => server.listen(listenOn, "127.0.0.1", r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    answer: (...answers) => script.push(...answers),
    hang: (on = true) => (hang = on),
    release: () => {
      hang = false;
      for (const res of held.splice(0)) { res.writeHead(200); res.end("ok"); }
    },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

/** A suite's receivers: `open()` starts one; all are closed after the suite. */
function useReceivers() {
  const opened = [];
  after(() => Promise.all(opened.map((r) => r.close())));
  return async (port) => {
    const r = await receiver(port);
    opened.push(r);
    return r;
  };
}

const graph = new FakeGraph();
/** The worker's outbound fetch: receivers on loopback are real, Graph is fake. */
const outbound = async (req) => {
  if (new URL(req.url).hostname !== "127.0.0.1") return graph.handler(req);
  const body = req.method === "GET" ? undefined : Buffer.from(await req.arrayBuffer());
  const res = await fetch(req.url, { method: req.method, headers: Object.fromEntries(req.headers), body });
  return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
};

async function destination(w, body) {
  const [status, json] = await w.send("/v1/destinations", body);
  assert.equal(status, 201, JSON.stringify(json));
  assert.ok(json.secret);
  return json;
}

/** The events of `type` receiver `r` has got, each verified with `secret`. */
function eventsOf(r, secret, type) {
  const wh = new Webhook(secret);
  return r.got.map((g) => wh.verify(g.body.toString(), g.headers)).filter((e) => e.type === type);
}

/** The message ids of the `message.received` events receiver `r` has got. */
function receivedIds(r, secret) {
  return eventsOf(r, secret, "message.received").map((e) => e.data.id);
}

/** Writes destination `row` back to D1 as another isolate would, behind this isolate's cache. */
async function putBack(w, row) {
  const cols = Object.keys(row);
  await w.db
    .prepare(`INSERT INTO destinations (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`)
    .bind(...cols.map((c) => row[c]))
    .run();
}

async function post(w, body) {
  const res = await w.post(body);
  assert.equal(res.status, 200, await res.text());
}

function text(id, body = "hello", { pnid, at = Math.floor(Date.now() / 1000) } = {}) {
  const v = JSON.parse(fixture("text"));
  const m = v.entry[0].changes[0].value.messages[0];
  m.id = id;
  m.timestamp = String(at);
  m.text = { body };
  if (pnid) v.entry[0].changes[0].value.metadata.phone_number_id = pnid;
  return Buffer.from(JSON.stringify(v));
}

describe("the relay", () => {
  let w;
  useWorker({ outboundService: outbound, each: () => graph.reset() }, (x) => (w = x));
  const open = useReceivers();

  it("forwards Meta's exact bytes, signed so a Meta webhook consumer verifies them", async () => {
    const r = await open();
    const d = await destination(w, { url: r.url, format: "meta", description: "CRM" });
    assert.match(d.secret, /^[0-9a-f]{32}$/);
    const [, shown] = await w.api(`/v1/destinations/${d.id}`);
    assert.equal(shown.secret, undefined, "the secret is shown once");
    const body = Buffer.from(fixture("text"));
    await post(w, body);
    await eventually(() => r.got.length === 1);
    const { headers, body: got } = r.got[0];
    assert.deepEqual(got, body, "the exact bytes");
    const expected = "sha256=" + createHmac("sha256", d.secret).update(got).digest("hex");
    assert.equal(headers["x-hub-signature-256"], expected);
    await eventually(async () => (await w.api(`/v1/destinations/${d.id}/deliveries?state=delivered`))[1].data.length === 1);
    const [, stats] = await w.api(`/v1/destinations/${d.id}`);
    assert.equal(stats.stats.delivered, 1);
    assert.equal(typeof stats.stats.p50_ms, "number");
  });

  it("cuts a Meta body to the destination's channels and signs the bytes it sends", async () => {
    const r = await open();
    const d = await destination(w, { url: r.url, format: "meta", filter: { channels: ["106540352242923"] } });
    await post(w, Buffer.from(fixture("multi_entry")));
    await post(w, text("wamid.relay.other"));
    await eventually(() => r.got.length >= 1);
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(r.got.length, 1, "the delivery for another channel is not forwarded");
    const { headers, body } = r.got[0];
    assert.equal(headers["x-hub-signature-256"], "sha256=" + createHmac("sha256", d.secret).update(body).digest("hex"));
    const sent = JSON.parse(body);
    const pnids = sent.entry.flatMap((e) => e.changes.map((c) => c.value?.metadata?.phone_number_id));
    assert.ok(pnids.length > 0 && pnids.every((p) => p === "106540352242923"), JSON.stringify(pnids));
  });

  it("sends one Standard Webhooks event per item, verified by the official library, once however often Meta redelivers", async () => {
    const r = await open();
    const d = await destination(w, { url: r.url, format: "events" });
    assert.match(d.secret, /^whsec_/);
    const body = text("wamid.relay.storm", "storm");
    await Promise.all(Array.from({ length: 20 }, () => w.post(body).then((res) => res.arrayBuffer())));
    await eventually(() => r.got.length >= 2);
    await new Promise((res) => setTimeout(res, 500));
    const wh = new Webhook(d.secret);
    const events = r.got.map(({ headers, body: b }) => wh.verify(b.toString(), {
      "webhook-id": headers["webhook-id"],
      "webhook-timestamp": headers["webhook-timestamp"],
      "webhook-signature": headers["webhook-signature"],
    }));
    const types = events.map((e) => e.type).sort();
    assert.deepEqual(types, ["contact.updated", "message.received"], "one forward per item and destination");
    const received = events.find((e) => e.type === "message.received");
    assert.equal(received.data.id, "wamid.relay.storm");
    assert.equal(received.data.text.body, "storm");
    assert.match(received.id, /^evt_/);
    const ids = new Set(r.got.map((g) => g.headers["webhook-id"]));
    assert.equal(ids.size, 2);
    assert.throws(() => wh.verify(r.got[0].body.toString() + " ", {
      "webhook-id": r.got[0].headers["webhook-id"],
      "webhook-timestamp": r.got[0].headers["webhook-timestamp"],
      "webhook-signature": r.got[0].headers["webhook-signature"],
    }), "a changed body does not verify");
  });

  it("retries a receiver that answers 500 twice, then delivers once", async () => {
    const r = await open();
    r.answer({ status: 500 }, { status: 503, headers: { "Retry-After": "1" } });
    const d = await destination(w, { url: r.url, format: "meta" });
    await post(w, text("wamid.relay.retry"));
    await eventually(() => r.got.length === 1);
    // The first retry comes from the queue after ~5 s.
    await eventually(() => r.got.length === 2, 30000);
    const [, retrying] = await w.api(`/v1/destinations/${d.id}/deliveries?state=retrying`);
    assert.equal(retrying.data.length, 1);
    assert.equal(retrying.data[0].last_status, 503);
    assert.equal(retrying.data[0].attempts, 2);
    // The next is five minutes later, ±20 % jitter: the cron, as of seven
    // minutes on, sends it.
    await w.cron(Date.now() + 7 * 60 * 1000);
    // The sweep puts it back on the queue; its consumer sends it.
    await eventually(() => r.got.length === 3, 30000);
    const [, delivered] = await w.api(`/v1/destinations/${d.id}/deliveries?state=delivered`);
    assert.equal(delivered.data.length, 1);
    assert.equal(delivered.data[0].attempts, 3);
    assert.deepEqual(r.got[2].body, r.got[0].body);
  });

  it("disables a destination that answers 410 Gone, and says why", async () => {
    const r = await open();
    r.answer({ status: 410 });
    const d = await destination(w, { url: r.url, format: "meta" });
    await post(w, text("wamid.relay.gone"));
    await eventually(async () => (await w.api(`/v1/destinations/${d.id}`))[1].enabled === false);
    const [, shown] = await w.api(`/v1/destinations/${d.id}`);
    assert.match(shown.disabled_reason, /410/);
    await post(w, text("wamid.relay.after-gone"));
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(r.got.length, 1, "nothing more goes to a disabled destination");
  });

  it("disables a destination that has failed for five days without a delivery, and says why", async () => {
    const r = await open();
    r.answer({ status: 500 }, { status: 500 });
    const d = await destination(w, { url: r.url, format: "meta" });
    const day = 24 * 3600 * 1000;
    // Failing for four days: a failure keeps it enabled.
    await w.db.prepare("UPDATE destinations SET failing_since = ?2 WHERE id = ?1").bind(d.id, Date.now() - 4 * day).run();
    await post(w, text("wamid.relay.failing-4"));
    await eventually(() => r.got.length === 1);
    await eventually(async () => (await w.api(`/v1/destinations/${d.id}/deliveries?state=retrying`))[1].data.length === 1);
    assert.equal((await w.api(`/v1/destinations/${d.id}`))[1].enabled, true);
    // Failing since five days and a minute: the next failure disables it.
    await w.db.prepare("UPDATE destinations SET failing_since = ?2 WHERE id = ?1").bind(d.id, Date.now() - 5 * day - 60_000).run();
    await post(w, text("wamid.relay.failing-5"));
    await eventually(async () => (await w.api(`/v1/destinations/${d.id}`))[1].enabled === false);
    const [, shown] = await w.api(`/v1/destinations/${d.id}`);
    assert.match(shown.disabled_reason, /five days/);
    // A delivery resets the streak: re-enabled, it starts again from zero.
    assert.equal((await w.send(`/v1/destinations/${d.id}`, { enabled: true }, {}, "PATCH"))[0], 200);
    await post(w, text("wamid.relay.recovered"));
    await eventually(async () => (await w.db.prepare("SELECT failing_since FROM destinations WHERE id = ?1").bind(d.id).first()).failing_since === null);
    assert.equal((await w.api(`/v1/destinations/${d.id}`))[1].enabled, true);
  });

  it("keeps a refused forward as a dead letter, retries it on request, and replays a window", async () => {
    const r = await open();
    r.answer({ status: 400 });
    const d = await destination(w, { url: r.url, format: "events", filter: { items: "messages" } });
    const since = Math.floor(Date.now() / 1000) - 1;
    await post(w, text("wamid.relay.dead"));
    await eventually(async () => (await w.api(`/v1/destinations/${d.id}/deliveries?state=dead`))[1].data.length >= 1);
    const [, dead] = await w.api(`/v1/destinations/${d.id}/deliveries?state=dead`);
    assert.equal(dead.data.length, 1, "only the refused one is dead");
    assert.equal(dead.data[0].last_status, 400);
    const deadId = dead.data[0].id;
    await eventually(() => r.got.length >= 2);
    const [s1] = await w.send(`/v1/destinations/${d.id}/deliveries/${deadId}/retry`, {});
    assert.equal(s1, 202);
    await eventually(() => r.got.filter((g) => g.headers["webhook-id"] === deadId).length === 2);
    assert.equal((await w.send(`/v1/destinations/${d.id}/deliveries/${deadId}/retry`, {}))[0], 404, "a delivered one is not retried");
    const wh = new Webhook(d.secret);
    const verify = ({ headers, body }) => wh.verify(body.toString(), headers);
    // A receiver that was down catches up by replay, with the same ids.
    const before = r.got.length;
    const [s2, replayed] = await w.send(`/v1/destinations/${d.id}/replay`, { since, until: Math.floor(Date.now() / 1000) + 1 });
    assert.equal(s2, 202, JSON.stringify(replayed));
    assert.ok(replayed.queued >= 1);
    await eventually(() => r.got.length >= before + replayed.queued);
    const replayedTypes = r.got.slice(before).map((g) => verify(g).type);
    assert.ok(replayedTypes.includes("message.received"), `${replayedTypes}`);
    const earlier = new Set(r.got.slice(0, before).map((g) => g.headers["webhook-id"]));
    assert.ok(r.got.slice(before).every((g) => earlier.has(g.headers["webhook-id"])), "replays keep their webhook-ids");
    const [bad] = await w.send(`/v1/destinations/${d.id}/replay`, { since: 10, until: 5 });
    assert.equal(bad, 400);
  });

  it("catches a receiver up when it comes back after being down", async () => {
    // A port nobody listens on: every attempt is a refused connection.
    const probe = await receiver();
    const port = Number(new URL(probe.url).port);
    await probe.close();
    const d = await destination(w, { url: `http://127.0.0.1:${port}/hook`, format: "events", filter: { items: "messages" } });
    const ids = ["wamid.relay.down.1", "wamid.relay.down.2", "wamid.relay.down.3"];
    // One second for all three, so the contact is seen once (contact.updated
    // is one event per time the contact was last seen).
    const at = Math.floor(Date.now() / 1000);
    for (const id of ids) await post(w, text(id, "hello", { at }));
    // Three messages and the contact: four forwards, each failing.
    const all = async (state) => (await w.api(`/v1/destinations/${d.id}/deliveries?state=${state}`))[1].data;
    await eventually(async () => (await all("retrying")).length === 4, 20000);
    assert.ok((await all("retrying")).every((f) => f.attempts >= 1 && f.last_error), "each tried and kept");
    const r = await open(port);
    // Back up: the next retries (the cron, as of when they are due) deliver each once.
    await w.cron(Date.now() + 7 * 60 * 1000);
    await eventually(async () => (await all("delivered")).length === 4, 20000);
    const wh = new Webhook(d.secret);
    const events = r.got.map(({ headers, body }) => wh.verify(body.toString(), headers));
    assert.equal(events.length, 4, "each once");
    const got = events.filter((e) => e.type === "message.received").map((e) => e.data.id).sort();
    assert.deepEqual(got, ids);
  });

  it("answers Meta at once while a receiver hangs", async () => {
    const r = await open();
    r.hang();
    await destination(w, { url: r.url, format: "meta" });
    const started = Date.now();
    await post(w, text("wamid.relay.hang"));
    assert.ok(Date.now() - started < 5000, "the ack does not wait for the receiver");
    await eventually(() => r.got.length === 1);
    r.release();
  });

  it("turns wa-edge's own sends into message.sent events", async () => {
    const r = await open();
    const d = await destination(w, { url: r.url, format: "events", filter: { fields: ["messages"] } });
    await post(w, text("wamid.relay.window"));
    await eventually(() => r.got.length >= 2);
    const [status, sent] = await w.send("/v1/messages", { to: "16505551234", type: "text", text: { body: "reply" } });
    assert.equal(status, 202);
    await eventually(() => eventsOf(r, d.secret, "message.sent").length > 0);
    const [ev] = eventsOf(r, d.secret, "message.sent");
    assert.equal(ev.data.id, sent.id);
    assert.equal(ev.data.direction, "out");
  });

  it("keeps nothing for the relay while no destination exists, and everything once one does", async () => {
    const relayRows = async () => {
      const n = async (t) => (await w.db.prepare(`SELECT count(*) AS n FROM ${t}`).first()).n;
      return { deliveries: await n("deliveries"), people: await n("delivery_contacts"), events: await n("relay_events"), forwards: await n("forwards") };
    };
    const since = Math.floor(Date.now() / 1000) - 1;
    await post(w, text("wamid.relay.nodest"));
    const graphSent = graph.sent;
    const [status] = await w.send("/v1/messages", { to: "16505551234", type: "text", text: { body: "reply" } });
    assert.equal(status, 202);
    await eventually(async () => (await w.db.prepare("SELECT state FROM outbox").first())?.state === "sent");
    assert.equal(graph.sent, graphSent + 1);
    assert.equal((await w.counts()).messages, 2, "the delivery and the send are stored as ever");
    assert.deepEqual(await relayRows(), { deliveries: 0, people: 0, events: 0, forwards: 0 });

    // A destination, even a disabled one, starts the keeping.
    const r = await open();
    const d = await destination(w, { url: r.url, format: "events", enabled: false });
    await post(w, text("wamid.relay.kept"));
    const kept = await relayRows();
    assert.equal(kept.deliveries, 1);
    assert.ok(kept.people >= 1 && kept.events >= 1, JSON.stringify(kept));
    assert.equal(kept.forwards, 0, "a disabled destination gets no forwards");
    assert.equal(r.got.length, 0);

    // Turned on and replayed, it gets what was kept since it existed.
    assert.equal((await w.send(`/v1/destinations/${d.id}`, { enabled: true }, {}, "PATCH"))[0], 200);
    const [s2, replayed] = await w.send(`/v1/destinations/${d.id}/replay`, { since, until: Math.floor(Date.now() / 1000) + 1 });
    assert.equal(s2, 202, JSON.stringify(replayed));
    await eventually(() => r.got.length === replayed.queued);
    assert.deepEqual(receivedIds(r, d.secret), ["wamid.relay.kept"]);
  });

  it("forwards the next delivery after another isolate adds a destination, not once the cache expires", async () => {
    const r = await open();
    const d = await destination(w, { url: r.url, format: "events" });
    const row = await w.db.prepare("SELECT * FROM destinations WHERE id = ?").bind(d.id).first();
    const version = async () =>
      (await w.db.prepare("SELECT value FROM settings WHERE name = 'destinations_version'").first()).value;
    // As another isolate would see it: the destination gone, and this
    // isolate's cache, loaded by the next delivery, holding none.
    await w.db.prepare("DELETE FROM destinations WHERE id = ?").bind(d.id).run();
    await post(w, text("wamid.relay.unseen"));
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM deliveries").first()).n, 0, "no one to keep it for");
    // Added again through another isolate: this one's cache still says none.
    await putBack(w, row);
    // A delivery that writes nothing of its own is kept for it too.
    await post(w, Buffer.from(JSON.stringify({ object: "whatsapp_business_account", entry: [] })));
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM deliveries").first()).n, 1, "kept");
    await post(w, text("wamid.relay.seen"));
    // One event a request: the message's and its contact's come in either order.
    const received = () => receivedIds(r, d.secret);
    await eventually(() => received().length >= 1);
    assert.deepEqual(received(), ["wamid.relay.seen"]);
    assert.equal((await w.counts()).messages, 2, "each stored once");

    // A forward's outcome moves no version, so it trips no delivery; what
    // a destination is sent, or whether it is, does.
    const before = await version();
    await w.db.prepare("UPDATE destinations SET failing_since = 1, updated_at = 2 WHERE id = ?").bind(d.id).run();
    assert.equal(await version(), before);
    await w.db.prepare("UPDATE destinations SET enabled = 0 WHERE id = ?").bind(d.id).run();
    assert.notEqual(await version(), before);
  });

  it("sends the events of wa-edge's own sends to a destination another isolate added, at once", async () => {
    const r = await open();
    const d = await destination(w, { url: r.url, format: "events" });
    const row = await w.db.prepare("SELECT * FROM destinations WHERE id = ?").bind(d.id).first();
    // Gone through another isolate; the next delivery loads this isolate's
    // cache with no destination (and opens the customer's window).
    await w.db.prepare("DELETE FROM destinations WHERE id = ?").bind(d.id).run();
    await post(w, text("wamid.relay.before_send"));
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM deliveries").first()).n, 0, "the cache holds none");
    await putBack(w, row);
    const sentBefore = graph.sent;
    const [status, sent] = await w.send("/v1/messages", { to: "16505551234", type: "text", text: { body: "reply" } });
    assert.equal(status, 202);
    const wh = new Webhook(d.secret);
    await eventually(() => r.got.length >= 1);
    const events = r.got.map((g) => wh.verify(g.body.toString(), g.headers));
    assert.deepEqual(events.map((e) => [e.type, e.data.id]), [["message.sent", sent.id]]);
    assert.equal(graph.sent, sentBefore + 1, "sent once, however often its record was refused");
    assert.equal((await w.outbox(sent.id)).state, "sent");
  });

  it("never keeps or forwards the bytes of a redelivery that names an erased person", async () => {
    const meta = await open();
    const evs = await open();
    await destination(w, { url: meta.url, format: "meta" });
    const e = await destination(w, { url: evs.url, format: "events", filter: { items: "messages" } });
    const old = Math.floor(Date.now() / 1000) - 60;
    const first = text("wamid.relay.gone", "my address is 1 Main St", { at: old });
    await post(w, first);
    await eventually(() => meta.got.length === 1 && evs.got.length >= 1);
    assert.equal((await w.fetch("/v1/contacts/16505551234", { method: "DELETE", headers: { Authorization: "Bearer e2e-admin-token" } })).status, 204);
    const kept = async () => (await w.db.prepare("SELECT raw FROM deliveries").all()).results.map((r) => r.raw);
    assert.deepEqual(await kept(), [], "erasure removed the kept body");

    // Meta redelivers the old message batched with someone else's new one.
    const v = JSON.parse(first.toString());
    const value = v.entry[0].changes[0].value;
    value.contacts.push({ profile: { name: "Other" }, wa_id: "447700900123" });
    value.messages.push({ ...value.messages[0], id: "wamid.relay.other", from: "447700900123", timestamp: String(old + 120), text: { body: "hi" } });
    const before = evs.got.length;
    await post(w, Buffer.from(JSON.stringify(v)));
    const wh = new Webhook(e.secret);
    await eventually(() => evs.got.slice(before).some((g) => wh.verify(g.body.toString(), g.headers).data?.id === "wamid.relay.other"));
    await new Promise((r) => setTimeout(r, 300));
    const since = evs.got.slice(before).map((g) => wh.verify(g.body.toString(), g.headers));
    assert.ok(since.every((ev) => !JSON.stringify(ev).includes("16505551234")), "no event names them");
    assert.equal(meta.got.length, 1, "Meta's bytes, which carry them, are not forwarded again");
    assert.deepEqual(await kept(), [], "nor kept");
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM messages WHERE wa_id = '16505551234'").first()).n, 0);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM messages WHERE id = 'wamid.relay.other'").first()).n, 1);
  });

  it("never forwards again an erased person's malformed message, which only its content hash identifies", async () => {
    const meta = await open();
    await destination(w, { url: meta.url, format: "meta" });
    // A message of a type WhatsApp does not send (an empty one is implied
    // from the content; this one cannot be): kept as a malformed_message
    // event dated by its receipt, the only item of its delivery.
    const v = JSON.parse(text("wamid.relay.odd", "my card is 4111").toString());
    v.entry[0].changes[0].value.messages[0].type = "Text!";
    delete v.entry[0].changes[0].value.contacts;
    const odd = Buffer.from(JSON.stringify(v));
    await post(w, odd);
    await eventually(() => meta.got.length === 1);
    const events = async () => (await w.db.prepare("SELECT kind FROM events").all()).results.map((r) => r.kind);
    assert.deepEqual(await events(), ["malformed_message"]);
    assert.equal((await w.counts()).messages, 0);

    assert.equal((await w.fetch("/v1/contacts/16505551234", { method: "DELETE", headers: { Authorization: "Bearer e2e-admin-token" } })).status, 204);
    assert.deepEqual(await events(), []);

    // Meta redelivers it a second later: by the receipt's clock, which
    // dates it, it is newer than the erasure.
    await new Promise((r) => setTimeout(r, 1100));
    await post(w, odd);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(meta.got.length, 1, "Meta's bytes, which carry them, are not forwarded again");
    assert.deepEqual(await events(), [], "nor is the event stored again");
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM deliveries").first()).n, 0, "nor the body kept");
  });

  it("refuses destinations a careless operator might set up", async () => {
    for (const [body, field] of [
      [{ url: "http://crm.example.com/hook" }, "url"],
      [{ url: "https://crm.example.com/hook", format: "xml" }, "format"],
      [{ url: "https://crm.example.com/hook", filter: { items: "everything" } }, "filter.items"],
      [{ url: "https://crm.example.com/hook", secret: "mine" }, "secret"],
    ]) {
      const [status, json] = await w.send("/v1/destinations", body);
      assert.equal(status, 400, JSON.stringify(body));
      assert.ok(json.error.message.startsWith(field), json.error.message);
    }
    assert.equal((await w.api("/v1/destinations", null))[0], 401);
    const [, list] = await w.api("/v1/destinations");
    assert.equal(list.data.length, 0, "nothing was stored");
    assert.equal((await w.send("/v1/destinations/dst_nope/replay", { since: 0 }))[0], 404);
  });
});

describe("migrating a deployment that has destinations to versioned destinations", () => {
  let w;
  useWorker({ outboundService: outbound, migrations: (f) => f < "0015", reset: false }, (x) => (w = x));
  const open = useReceivers();

  it("forwards to the destinations it had, and a change made through another isolate holds at once", async () => {
    const r = await open();
    const d = await destination(w, { url: r.url, format: "events" });
    await w.db.batch(migrationStatements((f) => f >= "0015").map((sql) => w.db.prepare(sql)));
    const version = async () =>
      (await w.db.prepare("SELECT value FROM settings WHERE name = 'destinations_version'").first()).value;
    assert.equal(await version(), "0");

    await post(w, text("wamid.migrated.1"));
    // One event a request: the message's and its contact's come in either order.
    const received = () => receivedIds(r, d.secret);
    await eventually(() => received().length >= 1);
    assert.deepEqual(received(), ["wamid.migrated.1"]);

    // Disabled as another isolate would: this one's cache still has it on.
    const forwards = async () => (await w.db.prepare("SELECT count(*) AS n FROM forwards").first()).n;
    const before = await forwards();
    await w.db.prepare("UPDATE destinations SET enabled = 0, disabled_reason = 'paused' WHERE id = ?").bind(d.id).run();
    assert.notEqual(await version(), "0");
    await post(w, text("wamid.migrated.2"));
    assert.equal(await forwards(), before, "a disabled destination gets no forwards");
    assert.equal((await w.counts()).messages, 2);
  });
});

describe("a delivery refused for changed destinations leaves nothing behind in R2", () => {
  let w;
  useWorker({ outboundService: outbound, r2Buckets: ["MEDIA"] }, (x) => (w = x));
  const open = useReceivers();

  it("deletes the body a refused try kept when the next, with the destination gone, does not", async () => {
    const r = await open();
    const d = await destination(w, { url: r.url, format: "meta" });
    await post(w, text("wamid.r2.warm"));
    await eventually(() => r.got.length === 1);
    // Deleted through another isolate: this one's cache still has it.
    await w.db.prepare("DELETE FROM destinations WHERE id = ?").bind(d.id).run();
    await post(w, text("wamid.r2.big", "x".repeat(600 * 1024)));
    const bucket = await w.mf.getR2Bucket("MEDIA");
    const keys = (await bucket.list()).objects.map((o) => o.key);
    assert.ok(keys.length >= 1, "the message's own long body is in R2");
    for (const k of keys) {
      let named = 0;
      for (const t of ["messages", "statuses", "events", "deliveries"]) {
        named += (await w.db.prepare(`SELECT count(*) AS n FROM ${t} WHERE raw_ref = ?`).bind(`r2:${k}`).first()).n;
      }
      assert.equal(named, 1, `${k} is named by a row`);
    }
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM deliveries").first()).n, 1, "only the first was kept");
  });
});

describe("a send whose record cannot be guarded", () => {
  let w;
  useWorker({ outboundService: outbound, each: () => graph.reset() }, (x) => (w = x));
  const open = useReceivers();

  it("is recorded once, with its events, all the same", async () => {
    const r = await open();
    const d = await destination(w, { url: r.url, format: "events", filter: { fields: ["messages"] } });
    await post(w, text("wamid.relay.unguarded"));
    await eventually(() => r.got.length >= 1);
    // The guard's table gone (a schema behind the code): every guarded
    // try fails, and the record still lands, unguarded.
    await w.db.prepare("DROP TABLE delivery_guard").run();
    const sentBefore = graph.sent;
    const [status, sent] = await w.send("/v1/messages", { to: "16505551234", type: "text", text: { body: "reply" } });
    assert.equal(status, 202);
    await eventually(async () => (await w.outbox(sent.id))?.state === "sent");
    assert.equal(graph.sent, sentBefore + 1, "sent once");
    await eventually(() => eventsOf(r, d.secret, "message.sent").length > 0);
    assert.deepEqual(eventsOf(r, d.secret, "message.sent").map((e) => e.data.id), [sent.id]);
  });
});

describe("the relay's retention", () => {
  let w;
  useWorker({ r2Buckets: ["MEDIA"], outboundService: outbound, each: () => graph.reset() }, (x) => (w = x));

  it("drops kept bodies past RAW_RETENTION_DAYS, their R2 objects and the people they name, and nothing younger", async () => {
    const day = 86_400_000;
    // Bodies are kept while a destination exists; a disabled one sends nothing.
    await destination(w, { url: "http://127.0.0.1:9/hook", format: "meta", enabled: false });
    await post(w, text("wamid.retention.big", "\u00e9".repeat(400_000)));
    await post(w, text("wamid.retention.small", "short"));
    const bucket = await w.mf.getR2Bucket("MEDIA");
    const keys = async () => (await bucket.list()).objects.map((o) => o.key).sort();
    const kept = async () => {
      const n = async (t) => (await w.db.prepare(`SELECT count(*) AS n FROM ${t}`).first()).n;
      return { deliveries: await n("deliveries"), people: await n("delivery_contacts"), events: await n("relay_events") };
    };
    const before = await keys();
    assert.equal(before.filter((k) => k.startsWith("raw/delivery:")).length, 1, JSON.stringify(before));
    assert.equal(before.filter((k) => k.startsWith("raw/message:")).length, 1, "the long message's own JSON");
    const fresh = await kept();
    assert.equal(fresh.deliveries, 2);
    assert.equal(fresh.people, 2);
    assert.ok(fresh.events >= 2, JSON.stringify(fresh));

    // Six days on (the default keeps seven), everything stays.
    await w.cron(Date.now() + 6 * day);
    assert.deepEqual(await kept(), fresh);
    assert.deepEqual(await keys(), before);

    // Eight days on, the kept bodies go, the one in R2 with its object; the
    // conversation itself (the messages and the long one's JSON) stays.
    await w.cron(Date.now() + 8 * day);
    assert.deepEqual(await kept(), { deliveries: 0, people: 0, events: 0 });
    assert.deepEqual(await keys(), before.filter((k) => !k.startsWith("raw/delivery:")));
    assert.equal((await w.counts()).messages, 2);
    const [status, m] = await w.api("/v1/messages/wamid.retention.big");
    assert.equal(status, 200, JSON.stringify(m));
    assert.equal(m.text.body.length, 400_000);
  });
});

describe("replaying more than one call holds", () => {
  let w;
  useWorker({ outboundService: outbound, each: () => graph.reset() }, (x) => (w = x));

  it("goes on after the last event read, even when a whole call's worth arrived in one millisecond", async () => {
    // One delivery of 2,100 statuses: 2,100 events with the same receipt time.
    const v = JSON.parse(fixture("status_delivered"));
    const value = v.entry[0].changes[0].value;
    const one = value.statuses[0];
    value.statuses = Array.from({ length: 2100 }, (_, i) => ({ ...one, id: `wamid.replay.${i}` }));
    // A receiver that is not there: the forwards are made, then retried later.
    const d = await destination(w, { url: "http://127.0.0.1:9/hook", format: "events", filter: { items: "statuses" } });
    await post(w, Buffer.from(JSON.stringify(v)));
    const since = Math.floor(Date.now() / 1000) - 5;
    const until = Math.floor(Date.now() / 1000) + 1;
    const replay = async (body) => {
      const [status, json] = await w.send(`/v1/destinations/${d.id}/replay`, body);
      assert.equal(status, 202, JSON.stringify(json));
      return json;
    };
    const first = await replay({ since, until });
    assert.equal(first.queued, 2000);
    assert.equal(first.more, true);
    assert.match(first.after, /^\d+:evt_[0-9a-f]+$/);
    const second = await replay({ since: first.next_since, until, after: first.after });
    assert.deepEqual([second.queued, second.more, second.after], [100, false, null]);
    const n = (await w.db.prepare("SELECT count(DISTINCT source) AS n FROM forwards WHERE destination_id = ?1").bind(d.id).first()).n;
    assert.equal(n, 2100, "every event once");

    for (const after of ["nope", "12:", ":evt_1", "-1:evt_1", 12, "1:evt_1'--"]) {
      const [status, json] = await w.send(`/v1/destinations/${d.id}/replay`, { since, after });
      assert.equal(status, 400, `${after}: ${JSON.stringify(json)}`);
      assert.match(json.error.message, /^after:/);
    }
  });
});
