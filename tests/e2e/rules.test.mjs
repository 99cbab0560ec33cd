// Auto-reply rules and opt-out in workerd, against a fake Graph API.
import { describe, it, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startWorker, fixture, FakeGraph, eventually, ADMIN_TOKEN } from "./helpers.mjs";

const PNID = "106540352242922";
const CUSTOMER = "16505551234";
let seq = 0;

/** A signed-ready inbound message body. */
function inbound({ body, from = CUSTOMER, ts = Math.floor(Date.now() / 1000), id, type, extra } = {}) {
  const v = JSON.parse(fixture("text"));
  const value = v.entry[0].changes[0].value;
  value.contacts[0].wa_id = from;
  const m = value.messages[0];
  Object.assign(m, { from, timestamp: String(ts), id: id ?? `wamid.rule.${++seq}` });
  if (type) {
    delete m.text;
    m.type = type;
    Object.assign(m, extra);
  } else {
    m.text = { body };
  }
  return Buffer.from(JSON.stringify(v));
}

async function rule(w, body) {
  const [status, json] = await w.send("/v1/rules", body);
  assert.equal(status, 201, JSON.stringify(json));
  return json;
}

const hoursReply = { type: "text", text: { body: "We are open 9-17" } };

describe("auto-reply rules", () => {
  const graph = new FakeGraph();
  let w;
  before(async () => (w = await startWorker({ outboundService: graph.handler })));
  after(() => w.close());
  beforeEach(async () => {
    await w.reset();
    graph.reset();
  });

  const sentMessages = () => graph.requests.filter((r) => r.body?.type);

  it("answers a keyword with exactly the configured reply", async () => {
    const r = await rule(w, { priority: 10, match: { keyword: "hours" }, reply: hoursReply });
    assert.match(r.id, /^rule_/);
    const res = await w.post(inbound({ body: "  HOURS " }));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await eventually(() => graph.requests.length === 1);
    const req = graph.requests[0];
    assert.equal(req.path, `/v23.0/${PNID}/messages`);
    assert.equal(req.headers.authorization, "Bearer e2e-access-token");
    const [reply] = (await w.db.prepare("SELECT id FROM outbox WHERE kind = 'message'").all()).results;
    assert.deepEqual(req.body, {
      messaging_product: "whatsapp", recipient_type: "individual",
      to: CUSTOMER, type: "text", text: { body: "We are open 9-17" },
      biz_opaque_callback_data: reply.id,
    });
    // The reply is stored as an outbound message of the contact.
    const [, history] = await w.api(`/v1/contacts/${CUSTOMER}/messages`);
    const out = history.data.find((m) => m.direction === "out");
    assert.equal(out.text.body, "We are open 9-17");
  });

  it("does not answer a message that matches no rule", async () => {
    await rule(w, { priority: 10, match: { keyword: "hours" }, reply: hoursReply });
    await (await w.post(inbound({ body: "what are your hours?" }))).arrayBuffer();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(graph.requests.length, 0);
  });

  it("lets the first matching rule by priority answer", async () => {
    await rule(w, { priority: 20, match: { any: true }, reply: { type: "text", text: { body: "fallback" } } });
    await rule(w, { priority: 10, match: { contains: "price" }, reply: { type: "text", text: { body: "prices" } } });
    await rule(w, { priority: 5, match: { regex: "^order\\s+#?\\d+$" }, reply: { type: "text", text: { body: "order" } } });
    await (await w.post(inbound({ body: "What is the PRICE of this?" }))).arrayBuffer();
    await (await w.post(inbound({ body: "order #1042" }))).arrayBuffer();
    await (await w.post(inbound({ body: "hello" }))).arrayBuffer();
    await eventually(() => sentMessages().length === 3);
    assert.deepEqual(sentMessages().map((r) => r.body.text.body).sort(), ["fallback", "order", "prices"]);
  });

  it("matches button replies by id and message types", async () => {
    await rule(w, { priority: 1, match: { reply_id: "track-order" }, reply: { type: "text", text: { body: "tracking" } } });
    await rule(w, { priority: 2, match: { type: "image" }, reply: { type: "text", text: { body: "nice picture" } } });
    await (await w.post(inbound({ type: "interactive", extra: { interactive: { type: "button_reply", button_reply: { id: "track-order", title: "Track" } } } }))).arrayBuffer();
    await (await w.post(inbound({ type: "image", extra: { image: { id: "123", mime_type: "image/jpeg" } } }))).arrayBuffer();
    await eventually(() => sentMessages().length === 2);
    assert.deepEqual(sentMessages().map((r) => r.body.text.body).sort(), ["nice picture", "tracking"]);
  });

  it("greets only the first message of a new contact", async () => {
    await rule(w, { priority: 1, match: { first_message: true }, reply: { type: "text", text: { body: "welcome" } } });
    await (await w.post(inbound({ body: "hi", from: "447700900001" }))).arrayBuffer();
    await (await w.post(inbound({ body: "hi again", from: "447700900001" }))).arrayBuffer();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sentMessages().length, 1);
    assert.equal(sentMessages()[0].body.to, "447700900001");
  });

  it("sends one reply for 20 concurrent redeliveries", async () => {
    await rule(w, { priority: 10, match: { keyword: "hours" }, reply: hoursReply });
    const body = inbound({ body: "hours", id: "wamid.storm" });
    const responses = await Promise.all(Array.from({ length: 20 }, () => w.post(body)));
    for (const r of responses) {
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    await eventually(() => graph.requests.length >= 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(graph.requests.length, 1);
    // And a later redelivery still changes nothing.
    await (await w.post(body)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(graph.requests.length, 1);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM outbox").first()).n, 1);
  });

  it("marks the message read, with the typing indicator, when the rule asks", async () => {
    await rule(w, { priority: 10, match: { any: true }, reply: hoursReply, mark_read: true, typing: true });
    await (await w.post(inbound({ body: "anything", id: "wamid.readme" }))).arrayBuffer();
    await eventually(() => graph.requests.length === 2);
    const read = graph.requests.find((r) => r.body.status === "read");
    assert.deepEqual(read.body, {
      messaging_product: "whatsapp", status: "read", message_id: "wamid.readme", typing_indicator: { type: "text" },
    });
    // The read receipt goes first, so the indicator shows until the reply lands.
    assert.equal(graph.requests.indexOf(read), 0);
  });

  it("answers with the away message outside business hours, in the rule's time zone", async () => {
    await rule(w, {
      priority: 10,
      match: { any: true },
      reply: { type: "text", text: { body: "in hours" } },
      hours: {
        tz: "Europe/Berlin",
        open: [{ days: ["mon", "tue", "wed", "thu", "fri"], from: "09:00", to: "17:00" }],
        away: { type: "text", text: { body: "we are closed" } },
      },
    });
    // Wednesday 2026-07-15 07:30 UTC is 09:30 in Berlin (summer time): open.
    await (await w.post(inbound({ body: "a", ts: Date.UTC(2026, 6, 15, 7, 30) / 1000 }))).arrayBuffer();
    // The same day 15:30 UTC is 17:30 in Berlin: closed.
    await (await w.post(inbound({ body: "b", ts: Date.UTC(2026, 6, 15, 15, 30) / 1000 }))).arrayBuffer();
    // Saturday: closed.
    await (await w.post(inbound({ body: "c", ts: Date.UTC(2026, 6, 18, 10, 0) / 1000 }))).arrayBuffer();
    await eventually(() => sentMessages().length === 3);
    const byTo = sentMessages().map((r) => r.body.text.body);
    assert.deepEqual(byTo.sort(), ["in hours", "we are closed", "we are closed"]);
  });

  it("takes edits into effect at once and stops after a delete", async () => {
    const r = await rule(w, { priority: 10, match: { keyword: "hours" }, reply: hoursReply });
    const res = await w.fetch(`/v1/rules/${r.id}`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ priority: 10, match: { keyword: "hours" }, reply: { type: "text", text: { body: "New hours: 8-20" } } }),
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).id, r.id);
    await (await w.post(inbound({ body: "hours" }))).arrayBuffer();
    await eventually(() => sentMessages().length === 1);
    assert.equal(sentMessages()[0].body.text.body, "New hours: 8-20");
    const del = await w.fetch(`/v1/rules/${r.id}`, { method: "DELETE", headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(del.status, 204);
    const [getStatus] = await w.api(`/v1/rules/${r.id}`);
    assert.equal(getStatus, 404);
    await (await w.post(inbound({ body: "hours" }))).arrayBuffer();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sentMessages().length, 1);
  });

  it("refuses invalid rules with 400 naming the problem", async () => {
    const cases = [
      [{ priority: 1, match: {}, reply: hoursReply }, "match"],
      [{ priority: 1, match: { keyword: "a", any: true }, reply: hoursReply }, "match"],
      [{ priority: 1, match: { regex: "(" }, reply: hoursReply }, "match.regex"],
      [{ priority: 1, match: { any: true } }, "reply"],
      [{ priority: 1, match: { any: true }, reply: { type: "text", text: { body: "" } } }, "reply.text.body"],
      [{ priority: 1, match: { any: true }, reply: { ...hoursReply, to: "1" } }, "reply.to"],
      [{ priority: 1, match: { any: true }, reply: hoursReply, hours: { tz: "Mars/Olympus", open: [{ days: ["mon"], from: "09:00", to: "17:00" }] } }, "hours.tz"],
      [{ priority: 1, match: { any: true }, reply: hoursReply, hours: { tz: "UTC", open: [{ days: ["someday"], from: "09:00", to: "17:00" }] } }, "hours.open[0].days"],
      [{ priority: 1, match: { any: true }, reply: hoursReply, hours: { tz: "UTC", open: [{ days: ["mon"], from: "9am", to: "17:00" }] } }, "hours.open[0].from"],
      [{ match: { any: true }, reply: hoursReply }, "priority"],
    ];
    for (const [body, field] of cases) {
      const [status, json] = await w.send("/v1/rules", body);
      assert.equal(status, 400, field);
      assert.equal(json.error.code, "invalid_rule");
      assert.ok(json.error.message.includes(field), `${json.error.message} mentions ${field}`);
    }
    const [, list] = await w.api("/v1/rules");
    assert.equal(list.data.length, 0);
  });
});

describe("opt-out", () => {
  const graph = new FakeGraph();
  let w;
  before(async () => (w = await startWorker({ outboundService: graph.handler })));
  after(() => w.close());
  beforeEach(async () => {
    await w.reset();
    graph.reset();
  });

  const sentTexts = () => graph.requests.map((r) => r.body?.text?.body);

  it("STOP opts out with one confirmation; rules, API sends and templates stop until START", async () => {
    await rule(w, { priority: 10, match: { any: true }, reply: { type: "text", text: { body: "auto" } } });
    const now = Math.floor(Date.now() / 1000);
    await (await w.post(inbound({ body: "Stop", ts: now - 10 }))).arrayBuffer();
    await eventually(() => graph.requests.length === 1);
    assert.match(sentTexts()[0], /unsubscribed/);
    // Redelivery and a second STOP send no more confirmations.
    await (await w.post(inbound({ body: "STOP", ts: now - 9 }))).arrayBuffer();
    await (await w.post(inbound({ body: "hello?", ts: now - 8 }))).arrayBuffer();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(graph.requests.length, 1);
    const [tStatus, t] = await w.send("/v1/messages", {
      to: CUSTOMER, type: "template", template: { name: "promo", language: { code: "en" } },
    });
    assert.equal(tStatus, 409);
    assert.equal(t.error.code, "opted_out");
    // START opts back in, with a confirmation; then rules answer again.
    await (await w.post(inbound({ body: "start", ts: now - 5 }))).arrayBuffer();
    await eventually(() => graph.requests.length === 2);
    assert.match(sentTexts()[1], /subscribed again/);
    await (await w.post(inbound({ body: "hi", ts: now - 4 }))).arrayBuffer();
    await eventually(() => graph.requests.length === 3);
    assert.equal(sentTexts()[2], "auto");
    const [okStatus] = await w.send("/v1/messages", { to: CUSTOMER, type: "text", text: { body: "hi" } });
    assert.equal(okStatus, 202);
  });

  it("Meta's marketing stop in user_preferences opts out, and resume opts back in", async () => {
    const prefs = (value, ts) => {
      const v = JSON.parse(fixture("user_preferences"));
      Object.assign(v.entry[0].changes[0].value.user_preferences[0], { value, timestamp: ts });
      return Buffer.from(JSON.stringify(v));
    };
    await (await w.post(prefs("stop", 1000))).arrayBuffer();
    const tpl = { to: CUSTOMER, type: "template", template: { name: "promo", language: { code: "en" } } };
    assert.equal((await w.send("/v1/messages", tpl))[0], 409);
    // A late redelivery of an older resume does not undo the stop.
    await (await w.post(prefs("resume", 900))).arrayBuffer();
    assert.equal((await w.send("/v1/messages", tpl))[0], 409);
    await (await w.post(prefs("resume", 1100))).arrayBuffer();
    assert.equal((await w.send("/v1/messages", tpl))[0], 202);
  });
});
