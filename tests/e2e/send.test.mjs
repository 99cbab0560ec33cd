// The send API and the outbox in workerd, against a fake Graph API.
import { describe, it, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker, fixture, FakeGraph, graphError, eventually, ACCESS_TOKEN,
} from "./helpers.mjs";

const PNID = "106540352242922";
const CUSTOMER = "16505551234";
const text = (body = "Your order shipped", extra = {}) => ({
  to: CUSTOMER, type: "text", text: { body }, ...extra,
});
const template = {
  to: CUSTOMER,
  type: "template",
  template: {
    name: "order_update",
    language: { code: "en_US" },
    components: [{ type: "body", parameters: [{ type: "text", text: "A-1042" }] }],
  },
};

async function settled(w, id) {
  return eventually(async () => {
    const row = await w.outbox(id);
    return row && ["sent", "failed"].includes(row.state) ? row : null;
  });
}

async function openWindow(w, from = CUSTOMER, ts = Math.floor(Date.now() / 1000) - 60) {
  const v = JSON.parse(fixture("text"));
  const value = v.entry[0].changes[0].value;
  value.contacts[0].wa_id = from;
  Object.assign(value.messages[0], { from, timestamp: String(ts), id: `wamid.in.${from}.${ts}` });
  const res = await w.post(Buffer.from(JSON.stringify(v)));
  assert.equal(res.status, 200);
  await res.arrayBuffer();
}

describe("POST /v1/messages", () => {
  const graph = new FakeGraph();
  let w;
  before(async () => (w = await startWorker({ outboundService: graph.handler })));
  after(() => w.close());
  beforeEach(async () => {
    await w.reset();
    graph.reset();
  });

  it("queues a text inside the window and sends it to Graph with the right path, headers and body", async () => {
    await openWindow(w);
    const [status, answer] = await w.send("/v1/messages", text());
    assert.equal(status, 202);
    assert.equal(answer.status, "queued");
    assert.match(answer.id, /^out_[0-9a-f]{32}$/);
    const row = await settled(w, answer.id);
    assert.equal(row.state, "sent");
    assert.equal(graph.requests.length, 1);
    const r = graph.requests[0];
    assert.equal(r.method, "POST");
    assert.equal(r.host, "graph.test");
    assert.equal(r.path, `/v23.0/${PNID}/messages`);
    assert.equal(r.headers.authorization, `Bearer ${ACCESS_TOKEN}`);
    assert.equal(r.headers["content-type"], "application/json");
    assert.deepEqual(r.body, {
      messaging_product: "whatsapp", recipient_type: "individual",
      to: CUSTOMER, type: "text", text: { body: "Your order shipped" },
      biz_opaque_callback_data: answer.id,
    });
    const [, m] = await w.api(`/v1/messages/${answer.id}`);
    assert.equal(m.id, answer.id);
    assert.equal(m.wamid, row.wamid);
    assert.equal(m.direction, "out");
    assert.equal(m.from, PNID);
    assert.equal(m.to, CUSTOMER);
    assert.equal(m.status, "accepted");
    assert.equal(m.text.body, "Your order shipped");
  });

  it("attaches later status webhooks to the sent message and shows it in the contact's history", async () => {
    await openWindow(w);
    const [, answer] = await w.send("/v1/messages", text());
    const { wamid } = await settled(w, answer.id);
    const status = JSON.parse(fixture("status_delivered"));
    status.entry[0].changes[0].value.statuses[0].id = wamid;
    await (await w.post(Buffer.from(JSON.stringify(status)))).arrayBuffer();
    const [, m] = await w.api(`/v1/messages/${wamid}`);
    assert.equal(m.id, answer.id);
    assert.equal(m.status, "delivered");
    const [, history] = await w.api(`/v1/contacts/${CUSTOMER}/messages`);
    assert.deepEqual(history.data.map((x) => x.direction).sort(), ["in", "out"]);
  });

  it("refuses a free-form message outside the 24-hour window with 409, but sends a template", async () => {
    await openWindow(w, CUSTOMER, Math.floor(Date.now() / 1000) - 25 * 3600);
    const [status, body] = await w.send("/v1/messages", text());
    assert.equal(status, 409);
    assert.equal(body.error.code, "outside_window");
    const [tStatus, t] = await w.send("/v1/messages", template);
    assert.equal(tStatus, 202);
    assert.equal((await settled(w, t.id)).state, "sent");
    assert.equal(graph.requests.length, 1);
    assert.equal(graph.requests[0].body.type, "template");
  });

  it("refuses free-form messages to a contact who never wrote", async () => {
    const [status, body] = await w.send("/v1/messages", text("hi", { to: "447700900999" }));
    assert.equal(status, 409);
    assert.equal(body.error.code, "outside_window");
  });

  it("validates locally with 400s that name the field", async () => {
    await openWindow(w);
    const cases = [
      [{ ...text(), to: undefined }, "to"],
      [text("x".repeat(4097)), "text.body"],
      [{ to: CUSTOMER, type: "hologram", hologram: {} }, "type"],
      [{ to: CUSTOMER, type: "image", image: {} }, "image"],
      [{ to: CUSTOMER, type: "interactive", interactive: { type: "button", body: { text: "Pick" },
        action: { buttons: [1, 2, 3, 4].map((i) => ({ type: "reply", reply: { id: `b${i}`, title: `B${i}` } })) } } },
        "interactive.action.buttons"],
      [{ to: CUSTOMER, type: "interactive", interactive: { type: "button", body: { text: "Pick" },
        action: { buttons: [{ type: "reply", reply: { id: "b1", title: "A title longer than twenty" } }] } } },
        "interactive.action.buttons[0].reply.title"],
      [{ ...template, template: { ...template.template, components: [{ type: "body", parameters: [{ type: "text" }] }] } },
        "template.components[0].parameters[0].text"],
    ];
    for (const [payload, field] of cases) {
      const [status, body] = await w.send("/v1/messages", payload);
      assert.equal(status, 400, field);
      assert.equal(body.error.code, "invalid_message", field);
      assert.ok(body.error.message.startsWith(field), `${body.error.message} names ${field}`);
    }
    const [status, body] = await w.send("/v1/messages", "{not json");
    assert.equal(status, 400);
    assert.equal(body.error.code, "invalid_json");
    assert.equal(graph.requests.length, 0);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM outbox").first()).n, 0);
  });

  it("returns the first result for a repeated Idempotency-Key and sends once", async () => {
    await openWindow(w);
    const key = { "Idempotency-Key": "order-1042-shipped" };
    const [s1, first] = await w.send("/v1/messages", text(), key);
    await settled(w, first.id);
    const [s2, again] = await w.send("/v1/messages", text(), key);
    assert.equal(s1, 202);
    assert.equal(s2, 202);
    assert.equal(again.id, first.id);
    assert.equal(again.status, "accepted", "shown as GET /v1/messages/{id} shows it");
    const [s3, conflict] = await w.send("/v1/messages", text("something else"), key);
    assert.equal(s3, 409);
    assert.equal(conflict.error.code, "idempotency_key_reused");
    assert.equal(graph.requests.length, 1);
  });

  it("sends once when 10 requests with one Idempotency-Key race", async () => {
    await openWindow(w);
    const key = { "Idempotency-Key": "race" };
    const answers = await Promise.all(Array.from({ length: 10 }, () => w.send("/v1/messages", text(), key)));
    const ids = new Set(answers.map(([, a]) => a.id));
    assert.equal(ids.size, 1);
    await settled(w, [...ids][0]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(graph.requests.length, 1);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM messages WHERE direction = 'out'").first()).n, 1);
  });

  it("keeps one caller's Idempotency-Keys apart from another's, and honours keys stored before they were", async () => {
    await openWindow(w);
    const keyed = async (name) => {
      const [status, k] = await w.send("/v1/keys", { name, scopes: ["send"] });
      assert.equal(status, 201);
      return (h = {}) => ({ Authorization: `Bearer ${k.key}`, ...h });
    };
    const [a, b] = [await keyed("shop"), await keyed("crm")];
    const order = { "Idempotency-Key": "order-1042" };
    const [sa, first] = await w.send("/v1/messages", text("From the shop"), a(order));
    // Another system numbering its keys the same way: its own message, sent.
    const [sb, other] = await w.send("/v1/messages", text("From the CRM"), b(order));
    assert.deepEqual([sa, sb], [202, 202]);
    assert.notEqual(other.id, first.id, "nothing of the shop's send is shown to the CRM");
    await settled(w, first.id);
    await settled(w, other.id);
    const [, again] = await w.send("/v1/messages", text("From the shop"), a(order));
    assert.equal(again.id, first.id, "the shop's retry is its first send");
    assert.deepEqual(graph.requests.map((r) => r.body.text.body).sort(), ["From the CRM", "From the shop"]);

    // A send stored under the shared form a release before wrote: any
    // caller's retry with that key still finds it, so it is not sent twice.
    const [, old] = await w.send("/v1/messages", text("Before"), { "Idempotency-Key": "old-1" });
    await settled(w, old.id);
    await w.db.prepare("UPDATE outbox SET dedupe_key = ?1 WHERE id = ?2").bind(`idem:${PNID}:old-1`, old.id).run();
    const [, retried] = await w.send("/v1/messages", text("Before"), b({ "Idempotency-Key": "old-1" }));
    assert.equal(retried.id, old.id);
    assert.equal(graph.requests.length, 3);
  });
});

describe("outbox retries", () => {
  const graph = new FakeGraph();
  let w;
  before(async () => (w = await startWorker({ outboundService: graph.handler })));
  after(() => w.close());
  beforeEach(async () => {
    await w.reset();
    graph.reset();
    await openWindow(w);
  });

  async function waitState(id, state) {
    return eventually(async () => {
      const row = await w.outbox(id);
      return row?.state === state && row.attempts > 0 ? row : null;
    });
  }

  it("backs off after a 429, honouring Retry-After, then sends once", async () => {
    graph.respond({ status: 429, body: graphError(130429, "Rate limit hit"), headers: { "Retry-After": "120" } });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await waitState(id, "queued");
    assert.equal(row.attempts, 1);
    assert.equal(row.last_error_code, 130429);
    const wait = row.next_attempt_at - row.updated_at;
    assert.ok(wait >= 120_000, `waits at least Retry-After (${wait} ms)`);
    // A cron run before the retry time sends nothing.
    await w.cron(row.updated_at + 1000);
    assert.equal(graph.requests.length, 1);
    // One after it sends, once.
    await w.cron(row.next_attempt_at + 1000);
    const done = await settled(w, id);
    assert.equal(done.state, "sent");
    assert.equal(done.attempts, 2);
    await w.cron(row.next_attempt_at + 600_000);
    assert.equal(graph.requests.length, 2);
  });

  it("sends a retry when it is due through the OUTBOX queue, without waiting for the cron", async () => {
    graph.respond({ status: 429, body: graphError(130429, "Rate limit hit"), headers: { "Retry-After": "31" } });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await waitState(id, "queued");
    const due = row.next_attempt_at;
    const done = await eventually(async () => {
      const r = await w.outbox(id);
      return r.state === "sent" ? r : null;
    }, 60000);
    assert.equal(done.attempts, 2);
    assert.ok(done.updated_at >= due, "not before it was due");
    assert.ok(done.updated_at - due < 10000, `sent ${done.updated_at - due} ms after due, not at a cron minute`);
    assert.equal(graph.requests.length, 2);
  });

  it("retries a 500 from the cron", async () => {
    graph.respond({ status: 500, body: { error: { message: "Internal" } } });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await waitState(id, "queued");
    assert.equal(row.next_attempt_at - row.updated_at, 30_000);
    await w.cron(row.next_attempt_at);
    assert.equal((await settled(w, id)).state, "sent");
    assert.equal(graph.requests.length, 2);
  });

  it("does not retry 131047 and records the reason", async () => {
    graph.respond({ status: 400, body: graphError(131047, "Re-engagement message", {
      error_data: { messaging_product: "whatsapp", details: "More than 24 hours have passed since the recipient last replied." },
    }) });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await settled(w, id);
    assert.equal(row.state, "failed");
    assert.equal(row.last_error_code, 131047);
    await w.cron(Date.now() + 3_600_000);
    assert.equal(graph.requests.length, 1);
    const [, m] = await w.api(`/v1/messages/${id}`);
    assert.equal(m.status, "failed");
    assert.equal(m.error.code, 131047);
    assert.match(m.error.message, /24 hours/);
  });

  it("fails on an expired token and flags the channel", async () => {
    graph.respond({ status: 401, body: graphError(190, "Error validating access token") });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await settled(w, id);
    assert.equal(row.state, "failed");
    assert.equal(row.last_error_code, 190);
    const alert = await w.db.prepare("SELECT * FROM channel_alerts WHERE phone_number_id = ?1").bind(PNID).first();
    assert.ok(alert, "channel flagged");
    assert.match(alert.error, /access token/);
  });

  it("gives up after the documented number of attempts", async () => {
    for (let i = 0; i < 8; i++) graph.respond({ status: 503, body: graphError(131000, "Something went wrong") });
    const [, { id }] = await w.send("/v1/messages", text());
    let row = await waitState(id, "queued");
    for (let i = 0; i < 10 && row.state === "queued"; i++) {
      await w.cron(row.next_attempt_at);
      row = await w.outbox(id);
    }
    assert.equal(row.state, "failed");
    assert.equal(row.attempts, 8);
    assert.match(row.last_error, /gave up after 8 attempts/);
    assert.equal(graph.requests.length, 8);
  });

  it("sends to different people in parallel, and one person's messages one at a time in order", async () => {
    const others = ["16505550001", "16505550002", "16505550003", "16505550004"];
    for (const c of [CUSTOMER, ...others]) await openWindow(w, c);
    // Every first attempt fails, so all come due together for one cron run.
    const bodies = [...others.map((c) => ({ ...text(`to ${c}`), to: c })),
      text("first"), text("second"), text("third")];
    for (let i = 0; i < bodies.length; i++) graph.respond({ status: 500, body: graphError(2, "Service temporarily unavailable") });
    const ids = [];
    for (const b of bodies) {
      const [status, { id }] = await w.send("/v1/messages", b);
      assert.equal(status, 202);
      ids.push(id);
      await waitState(id, "queued");
    }
    let inflight = 0;
    let most = 0;
    const perCustomer = new Map();
    const order = [];
    graph.on("POST", /\/messages$/, async (rec) => {
      inflight++;
      most = Math.max(most, inflight);
      const mine = (perCustomer.get(rec.body.to) ?? 0) + 1;
      perCustomer.set(rec.body.to, mine);
      assert.equal(mine, 1, "one request at a time to one person");
      if (rec.body.to === CUSTOMER) order.push(rec.body.text.body);
      await new Promise((r) => setTimeout(r, 300));
      perCustomer.set(rec.body.to, mine - 1);
      inflight--;
      return { status: 200, body: { messaging_product: "whatsapp", messages: [{ id: `wamid.par.${graph.requests.length}` }] } };
    });
    const due = Math.max(...(await Promise.all(ids.map((id) => w.outbox(id)))).map((r) => r.next_attempt_at));
    await w.cron(due);
    for (const id of ids) assert.equal((await settled(w, id)).state, "sent");
    assert.ok(most >= 4, `at most ${most} in flight`);
    assert.ok(most <= 4, "one number's share of parallel sends is four");
    assert.deepEqual(order, ["first", "second", "third"]);
  });

  it("sends at most once when cron runs race", async () => {
    graph.respond({ status: 500, body: graphError(2, "Service temporarily unavailable") });
    const [, { id }] = await w.send("/v1/messages", text());
    const row = await waitState(id, "queued");
    await Promise.all(Array.from({ length: 5 }, () => w.cron(row.next_attempt_at)));
    await settled(w, id);
    assert.equal(graph.requests.length, 2);
  });
});

describe("360dialog provider", () => {
  it("sends to {D360_API_BASE}/messages with the D360-API-KEY header", async () => {
    const graph = new FakeGraph();
    const w = await startWorker({
      outboundService: graph.handler,
      bindings: { WHATSAPP_PROVIDER: "360dialog", WHATSAPP_ACCESS_TOKEN: "d360-key", D360_API_BASE: "http://d360.test" },
    });
    try {
      await openWindow(w);
      const [, { id }] = await w.send("/v1/messages", text());
      assert.equal((await settled(w, id)).state, "sent");
      const r = graph.requests[0];
      assert.equal(r.host, "d360.test");
      assert.equal(r.path, "/messages");
      assert.equal(r.headers["d360-api-key"], "d360-key");
      assert.equal(r.headers.authorization, undefined);
      assert.equal(r.body.text.body, "Your order shipped");
    } finally {
      await w.close();
    }
  });
});
