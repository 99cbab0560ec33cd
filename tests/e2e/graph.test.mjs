// wa-edge under an existing bot: /graph/{version}/{pnid}/... spoken by a
// client written against Graph's documented request and response (not
// wa-edge's API), by a real Graph library (whatsapp-api-js), and API keys
// scoped per purpose.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { WhatsAppAPI } from "whatsapp-api-js";
import { Text } from "whatsapp-api-js/messages";
import { fixture, FakeGraph, graphError, eventually, useWorker, migrationStatements, ACCESS_TOKEN } from "./helpers.mjs";

const PNID = "106540352242922";
const CUSTOMER = "16505551234";
const STRANGER = "16505550199";
let seq = 0;

/** A Graph API client as Meta documents it: POST {base}/{version}/{phone-number-id}/messages. */
class GraphClient {
  constructor(w, token, version = "v23.0") {
    Object.assign(this, { w, token, version });
  }
  async post(pnid, edge, body, headers = {}) {
    const res = await this.w.fetch(`/graph/${this.version}/${pnid}/${edge}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  }
  text(to, body, pnid = PNID) {
    return this.post(pnid, "messages", {
      messaging_product: "whatsapp", recipient_type: "individual", to, type: "text", text: { body },
    });
  }
}

function inbound(w, { from = CUSTOMER, body = "hi" } = {}) {
  const v = JSON.parse(fixture("text"));
  const value = v.entry[0].changes[0].value;
  value.contacts[0].wa_id = from;
  Object.assign(value.messages[0], {
    from, id: `wamid.graph.in.${++seq}`, timestamp: String(Math.floor(Date.now() / 1000) - 5), text: { body },
  });
  return w.post(Buffer.from(JSON.stringify(v))).then((r) => r.arrayBuffer());
}

async function key(w, body) {
  const [status, json] = await w.send("/v1/keys", body);
  assert.equal(status, 201, JSON.stringify(json));
  return json;
}

const graph = new FakeGraph();
const sends = () => graph.requests.filter((r) => r.path.endsWith("/messages"));

describe("the Graph-compatible endpoint", () => {
  let w;
  useWorker({ graph, each: () => graph.reset() }, (x) => (w = x));

  it("sends text, template and media with a send key and answers in Graph's shape", async () => {
    const k = await key(w, { name: "bot", scopes: ["send"] });
    assert.match(k.key, /^wak_[0-9a-f]{64}$/);
    assert.deepEqual(k.scopes, ["send"]);
    await inbound(w);
    const client = new GraphClient(w, k.key);
    const text = await client.text(CUSTOMER, "Your order shipped");
    assert.equal(text.status, 200, JSON.stringify(text.body));
    assert.equal(text.body.messaging_product, "whatsapp");
    assert.deepEqual(text.body.contacts, [{ input: CUSTOMER, wa_id: CUSTOMER }]);
    assert.match(text.body.messages[0].id, /^wamid\.fake/);
    const upstream = sends()[0];
    assert.equal(upstream.path, `/v23.0/${PNID}/messages`);
    assert.equal(upstream.headers.authorization, `Bearer ${ACCESS_TOKEN}`, "the channel's credential, never the key");
    assert.match(upstream.body.biz_opaque_callback_data, /^out_/, "through the outbox, like any send");

    const template = await client.post(PNID, "messages", {
      messaging_product: "whatsapp", to: STRANGER, type: "template",
      template: { name: "order_update", language: { code: "en_US" } },
    });
    assert.equal(template.status, 200, JSON.stringify(template.body));
    const image = await client.post(PNID, "messages", {
      messaging_product: "whatsapp", to: CUSTOMER, type: "image",
      image: { link: "https://example.com/p.jpg", caption: "your parcel" },
      context: { message_id: "wamid.graph.in.1" }, biz_opaque_callback_data: "crm-7",
    });
    assert.equal(image.status, 200, JSON.stringify(image.body));
    const sent = sends()[2].body;
    assert.equal(sent.context.message_id, "wamid.graph.in.1");
    assert.match(sent.biz_opaque_callback_data, /^out_[0-9a-f]+\|crm-7$/, "the caller's callback data kept");

    // In the conversation like an API send.
    const [, history] = await w.api(`/v1/contacts/${CUSTOMER}/messages`);
    const outbound = history.data.filter((m) => m.direction === "out");
    assert.equal(outbound.length, 2);
    assert.ok(outbound.some((m) => m.wamid === text.body.messages[0].id || m.id === text.body.messages[0].id));
  });

  it("refuses as Graph does: 131047 outside the window, opt-out, 100 naming the field", async () => {
    const { key: send } = await key(w, { name: "bot", scopes: ["send"] });
    const client = new GraphClient(w, send);
    const closed = await client.text(STRANGER, "hello?");
    assert.equal(closed.status, 400);
    assert.equal(closed.body.error.code, 131047);
    assert.equal(closed.body.error.type, "OAuthException");
    assert.ok(closed.body.error.fbtrace_id);
    assert.match(closed.body.error.error_data.details, /24-hour/);

    await inbound(w, { body: "STOP" });
    await eventually(() => sends().length === 1); // the opt-out confirmation
    const stopped = await client.text(CUSTOMER, "one more thing");
    assert.equal(stopped.status, 400);
    assert.equal(stopped.body.error.code, 131050);

    const missing = await client.post(PNID, "messages", { messaging_product: "whatsapp", to: CUSTOMER, type: "text", text: {} });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 100);
    assert.match(missing.body.error.error_data.details, /^text\.body/);
    const noProduct = await client.post(PNID, "messages", { to: CUSTOMER, type: "text", text: { body: "x" } });
    assert.equal(noProduct.body.error.code, 100);
    assert.match(noProduct.body.error.error_data.details, /messaging_product/);
    assert.equal(sends().length, 1, "nothing refused reached Graph");
  });

  it("passes Graph's own refusal through, and answers a send Graph has not taken yet as queued, sent once", async () => {
    const { key: send } = await key(w, { name: "bot", scopes: ["send"] });
    await inbound(w);
    const client = new GraphClient(w, send);
    graph.respond({ status: 400, body: graphError(131026, "Message Undeliverable", { error_data: { details: "Unable to deliver" } }) });
    const refused = await client.text(CUSTOMER, "a");
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 131026);
    assert.equal(refused.body.error.fbtrace_id, "AbC", "Graph's own answer");

    graph.respond({ status: 503, body: graphError(131000, "Something went wrong") });
    const later = await client.text(CUSTOMER, "b");
    assert.equal(later.status, 202);
    const id = later.body.messages[0].id;
    assert.match(id, /^out_/);
    assert.equal(later.body.messages[0].message_status, "queued");
    const row = await w.outbox(id);
    assert.equal(row.state, "queued");
    await w.cron(row.next_attempt_at);
    await eventually(async () => (await w.outbox(id)).state === "sent");
    await w.cron(row.next_attempt_at + 3_600_000);
    assert.equal(sends().filter((r) => r.body.text?.body === "b").length, 2, "one failed attempt, one sent: never twice");
    const [, m] = await w.api(`/v1/messages/${id}`);
    assert.match(m.wamid, /^wamid\.fake/);
  });

  it("passes a read receipt and a media upload through to the channel's provider", async () => {
    const { key: send } = await key(w, { name: "bot", scopes: ["send"] });
    const client = new GraphClient(w, send);
    const read = await client.post(PNID, "messages", {
      messaging_product: "whatsapp", status: "read", message_id: "wamid.graph.in.x", typing_indicator: { type: "text" },
    });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, { success: true });
    assert.deepEqual(graph.requests[0].body.typing_indicator, { type: "text" });

    graph.on("POST", /\/media$/, () => ({ body: { id: "media-77" } }));
    const form = new FormData();
    form.set("messaging_product", "whatsapp");
    form.set("type", "image/jpeg");
    form.set("file", new Blob([Buffer.alloc(3000, 7)], { type: "image/jpeg" }), "p.jpg");
    const encoded = new Response(form);
    const bytes = Buffer.from(await encoded.arrayBuffer());
    const res = await w.fetch(`/graph/v23.0/${PNID}/media`, {
      method: "POST",
      headers: { Authorization: `Bearer ${send}`, "Content-Type": encoded.headers.get("content-type"), "Content-Length": String(bytes.length) },
      body: bytes,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: "media-77" });
    const up = graph.requests.find((r) => r.path.endsWith("/media"));
    assert.ok(up.raw.includes(Buffer.alloc(3000, 7)), "the file's bytes");
    assert.equal(up.headers.authorization, `Bearer ${ACCESS_TOKEN}`);

    const odd = new FormData();
    odd.set("messaging_product", "whatsapp");
    odd.set("file", new Blob([Buffer.alloc(10)], { type: "application/x-msdownload" }), "x.exe");
    const oddEncoded = new Response(odd);
    const oddBytes = Buffer.from(await oddEncoded.arrayBuffer());
    const refused = await w.fetch(`/graph/v23.0/${PNID}/media`, {
      method: "POST",
      headers: { Authorization: `Bearer ${send}`, "Content-Type": oddEncoded.headers.get("content-type"), "Content-Length": String(oddBytes.length) },
      body: oddBytes,
    });
    assert.equal(refused.status, 415);
    assert.equal((await refused.json()).error.code, 100);
  });

  it("works under whatsapp-api-js, pointed at wa-edge through its fetch hook", async () => {
    const { key: send } = await key(w, { name: "whatsapp-api-js", scopes: ["send"] });
    await inbound(w);
    const viaWaEdge = (url, init) => {
      const u = new URL(url);
      assert.equal(u.host, "graph.facebook.com");
      return w.fetch(`/graph${u.pathname}${u.search}`, init);
    };
    const api = new WhatsAppAPI({ token: send, secure: false, v: "v23.0", ponyfill: { fetch: viaWaEdge } });
    const answer = await api.sendMessage(PNID, CUSTOMER, new Text("sent by a Graph library"));
    assert.equal(answer.messaging_product, "whatsapp");
    assert.match(answer.messages[0].id, /^wamid\.fake/);
    assert.equal(sends()[0].body.text.body, "sent by a Graph library");
  });
});

describe("API keys", () => {
  let w;
  useWorker({ graph, each: () => graph.reset() }, (x) => (w = x));

  it("holds each key to its scopes and channels, and revokes at once", async () => {
    const send = await key(w, { name: "sender", scopes: ["send"], channels: [PNID] });
    const read = await key(w, { name: "reader", scopes: ["read"] });
    await inbound(w);
    const as = (k) => ({ Authorization: `Bearer ${k}` });
    // A send key cannot read.
    let res = await w.fetch("/v1/contacts", { headers: as(send.key) });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error.code, "forbidden");
    // A read key reads, but cannot send or configure.
    res = await w.fetch("/v1/contacts", { headers: as(read.key) });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).data.length, 1);
    const byReader = await new GraphClient(w, read.key).text(CUSTOMER, "x");
    assert.equal(byReader.status, 403);
    assert.equal(byReader.body.error.code, 10);
    res = await w.fetch("/v1/channels", { headers: as(read.key) });
    assert.equal(res.status, 403);
    await res.arrayBuffer();
    res = await w.fetch("/v1/keys", { method: "POST", headers: as(read.key), body: JSON.stringify({ name: "x", scopes: ["admin"] }) });
    assert.equal(res.status, 403, "a read key cannot mint an admin key");
    await res.arrayBuffer();
    // A key for one channel cannot send from another, on either front door.
    const other = await new GraphClient(w, send.key).text(CUSTOMER, "x", "106540352242923");
    assert.equal(other.status, 403);
    assert.match(other.body.error.error_data.details, /106540352242923/);
    res = await w.fetch("/v1/messages", {
      method: "POST", headers: { ...as(send.key), "Content-Type": "application/json" },
      body: JSON.stringify({ from: "106540352242923", to: CUSTOMER, type: "text", text: { body: "x" } }),
    });
    assert.equal(res.status, 403);
    await res.arrayBuffer();
    assert.equal(sends().length, 0);
    // Its own channel works, on both doors.
    assert.equal((await new GraphClient(w, send.key).text(CUSTOMER, "ok")).status, 200);
    res = await w.fetch("/v1/messages", {
      method: "POST", headers: { ...as(send.key), "Content-Type": "application/json" },
      body: JSON.stringify({ to: CUSTOMER, type: "text", text: { body: "ok too" } }),
    });
    assert.equal(res.status, 202);
    await res.arrayBuffer();

    // Listed without secrets, with their last use.
    const [, list] = await w.api("/v1/keys");
    assert.equal(list.data.length, 2);
    const shown = list.data.find((k) => k.id === send.id);
    assert.deepEqual(shown.channels, [PNID]);
    assert.equal(shown.key, undefined);
    assert.ok(!JSON.stringify(list).includes(send.key.slice(4, 20)));
    await eventually(async () => (await w.api("/v1/keys"))[1].data.find((k) => k.id === send.id).last_used_at > 0);
    const stored = await w.db.prepare("SELECT * FROM api_keys WHERE id = ?1").bind(send.id).first();
    assert.ok(!Object.values(stored).some((v) => String(v).includes(send.key)), "only a hash is stored");

    // Revoked: refused at once.
    const [deleted] = await w.send(`/v1/keys/${send.id}`, "", {}, "DELETE");
    assert.equal(deleted, 204);
    const revoked = await new GraphClient(w, send.key).text(CUSTOMER, "x");
    assert.equal(revoked.status, 401);
    assert.equal(revoked.body.error.code, 190);
    res = await w.fetch("/v1/messages/x", { headers: as(send.key) });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    assert.equal((await w.send(`/v1/keys/${send.id}`, "", {}, "DELETE"))[0], 404);
    assert.ok(!w.logs.join("").includes(send.key), "a key never reaches the log");
  });

  it("refuses malformed key bodies naming the field, and unknown keys", async () => {
    for (const [body, field] of [
      [{ name: "x", scopes: ["write"] }, "scopes"],
      [{ name: "x", scopes: ["read"], channels: [PNID] }, "channels"],
      [{ name: "", scopes: ["send"] }, "name"],
      [{ name: "x", scopes: ["send"], secret: "mine" }, "secret"],
    ]) {
      const [status, json] = await w.send("/v1/keys", body);
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(json.error.code, "invalid_key");
      assert.match(json.error.message, new RegExp(field));
    }
    const forged = `wak_${"0".repeat(64)}`;
    const res = await w.fetch("/v1/contacts", { headers: { Authorization: `Bearer ${forged}` } });
    assert.equal(res.status, 401);
    assert.match((await res.json()).error.message, /unknown or revoked/);
    const graphStyle = await new GraphClient(w, "EAAG-not-a-key").text(CUSTOMER, "x");
    assert.equal(graphStyle.status, 401);
    assert.equal(graphStyle.body.error.code, 190);
    const unknownPath = await w.fetch("/graph/v23.0/1/nothing", { method: "POST", headers: { Authorization: "Bearer e2e-admin-token" } });
    assert.equal(unknownPath.status, 404);
    assert.equal((await unknownPath.json()).error.code, 100);
  });
});

describe("migrating to API keys", () => {
  let w;
  // 0015 is there from the start: this release writes a delivery only with
  // the guard it adds.
  useWorker({ graph, migrations: (f) => f < "0007" || f >= "0015", reset: false }, (x) => (w = x));

  it("adds keys over a database written before them, which keeps everything it held", async () => {
    await inbound(w, { body: "before keys" });
    const [, before] = await w.api(`/v1/contacts/${CUSTOMER}/messages`);
    assert.equal(before.data.length, 1);
    const res = await w.fetch("/v1/keys", { headers: { Authorization: "Bearer e2e-admin-token" } });
    assert.equal(res.status, 500, "no keys table yet");
    await res.arrayBuffer();
    await w.db.batch(migrationStatements((f) => f >= "0007" && f < "0015").map((sql) => w.db.prepare(sql)));
    const k = await key(w, { name: "reader", scopes: ["read"] });
    const after = await w.fetch(`/v1/contacts/${CUSTOMER}/messages`, { headers: { Authorization: `Bearer ${k.key}` } });
    assert.equal(after.status, 200);
    assert.deepEqual((await after.json()).data.map((m) => m.text?.body), ["before keys"], "the old rows, read with a new key");
  });
});
