// The read API and health check in workerd, and what reaches the log.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker, fixture, ADMIN_TOKEN, ACCESS_TOKEN, SECRET, VERIFY_TOKEN, FakeGraph, eventually, graphError,
} from "./helpers.mjs";

/** A text message from `from` with id `wamid.<n>` at time `ts`. */
function text(n, ts, from = "16505551234", body = `message number ${n}`) {
  const v = JSON.parse(fixture("text"));
  const value = v.entry[0].changes[0].value;
  value.contacts[0].wa_id = from;
  Object.assign(value.messages[0], { id: `wamid.${n}`, timestamp: String(ts), from, text: { body } });
  return Buffer.from(JSON.stringify(v));
}

describe("read API", () => {
  let w;
  before(async () => {
    w = await startWorker();
    for (let i = 1; i <= 5; i++) await (await w.post(text(i, 1000 + i))).arrayBuffer();
    // Two messages share a timestamp: the cursor must still page through both.
    await (await w.post(text(6, 1005))).arrayBuffer();
    await (await w.post(text(7, 1500, "447700900123"))).arrayBuffer();
    await (await w.post(fixture("template_status_update"))).arrayBuffer();
  });
  after(() => w.close());

  it("refuses requests without the bearer token or with a wrong one", async () => {
    for (const path of ["/v1/contacts", "/v1/events", "/v1/messages/wamid.1",
      "/v1/contacts/16505551234", "/v1/contacts/16505551234/messages"]) {
      const [status, body] = await w.api(path, null);
      assert.equal(status, 401, path);
      assert.equal(body.error.code, "unauthorized");
      const [wrong] = await w.api(path, "not-the-token");
      assert.equal(wrong, 401, path);
    }
  });

  it("returns one message with its content and status", async () => {
    const [status, m] = await w.api("/v1/messages/wamid.3");
    assert.equal(status, 200);
    assert.equal(m.text.body, "message number 3");
    assert.equal(m.timestamp, 1003);
    assert.equal(m.from, "16505551234");
    assert.deepEqual(m.statuses, []);
  });

  it("answers 401 before 404 or 405 under /v1, so paths are not revealed", async () => {
    for (const [method, path] of [["GET", "/v1/nothing"], ["DELETE", "/v1/contacts"], ["GET", "/v1"]]) {
      const res = await w.fetch(path, { method });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal((await res.json()).error.code, "unauthorized");
    }
    const lower = await w.fetch("/v1/contacts", { headers: { Authorization: `bearer ${ADMIN_TOKEN}` } });
    assert.equal(lower.status, 200, "the Bearer scheme is case-insensitive");
    await lower.arrayBuffer();
  });

  it("answers 404 for an unknown message, contact or route", async () => {
    for (const path of ["/v1/messages/wamid.nope", "/v1/contacts/999", "/v1/nothing"]) {
      const [status, body] = await w.api(path);
      assert.equal(status, 404, path);
      assert.equal(body.error.code, "not_found");
      assert.equal(typeof body.error.message, "string");
    }
  });

  it("lists contacts most recently seen first", async () => {
    const [status, page] = await w.api("/v1/contacts");
    assert.equal(status, 200);
    assert.deepEqual(page.data.map((c) => c.wa_id), ["447700900123", "16505551234"]);
    const sheena = page.data[1];
    assert.equal(sheena.profile_name, "Sheena Nelson");
    assert.equal(sheena.phone_number_id, "106540352242922");
    assert.equal(sheena.first_seen, 1001);
    assert.equal(sheena.last_seen, 1005);
    assert.equal(page.next_cursor, null);
  });

  it("pages through a contact's messages newest first without gaps or repeats", async () => {
    const seen = [];
    let cursor = "";
    for (let i = 0; i < 10; i++) {
      const [status, page] = await w.api(
        `/v1/contacts/16505551234/messages?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
      );
      assert.equal(status, 200);
      seen.push(...page.data.map((m) => m.id));
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    assert.deepEqual(seen, ["wamid.6", "wamid.5", "wamid.4", "wamid.3", "wamid.2", "wamid.1"]);
  });

  it("rejects an invalid limit or cursor with 400", async () => {
    for (const q of ["limit=0", "limit=500", "limit=abc", "cursor=zz"]) {
      const [status, body] = await w.api(`/v1/contacts?${q}`);
      assert.equal(status, 400, q);
      assert.equal(body.error.code, "invalid_request");
    }
  });

  it("filters events by kind", async () => {
    const [, none] = await w.api("/v1/events?kind=account_update");
    assert.equal(none.data.length, 0);
    const [, some] = await w.api("/v1/events?kind=message_template_status_update");
    assert.equal(some.data.length, 1);
  });

  it("reports health when D1 answers", async () => {
    const res = await w.fetch("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
  });
});

describe("logs", () => {
  it("name event kinds and counts, never bodies, phone numbers, tokens or secrets", async () => {
    const graph = new FakeGraph();
    const w = await startWorker({ outboundService: graph.handler });
    try {
      const replyText = "private reply about your account";
      await w.send("/v1/rules", { priority: 1, match: { any: true }, reply: { type: "text", text: { body: replyText } } });
      graph.respond({ status: 429, body: graphError(130429, "Rate limit hit"), headers: { "Retry-After": "1" } });
      const secretBody = "my card number is 4111 1111 1111 1111";
      await (await w.post(text(1, 1000, "5215512345678", secretBody))).arrayBuffer();
      await (await w.post(fixture("multi_entry"))).arrayBuffer();
      await (await w.post(fixture("text"), { secret: "wrong" })).arrayBuffer();
      await (await w.post(Buffer.from("{not json"))).arrayBuffer();
      await (await w.fetch(`/webhook?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=9`)).arrayBuffer();
      await w.api("/v1/contacts");
      await w.api("/v1/contacts", "guess");
      await w.send("/v1/messages", { to: "5215512345678", type: "text", text: { body: "api text 9876" } });
      await eventually(() => graph.requests.length >= 3);
      // Let workerd flush its stdout.
      await new Promise((r) => setTimeout(r, 200));
      const log = w.logs.join("");
      assert.match(log, /webhook\.stored/);
      assert.match(log, /webhook\.unauthenticated/);
      assert.match(log, /outbox\.attempt/);
      for (const forbidden of [
        secretBody, "4111", "5215512345678", "16505551234", "919876543210", "Sheena",
        "first", SECRET, ADMIN_TOKEN, ACCESS_TOKEN, VERIFY_TOKEN, "guess", "{not json",
        replyText, "api text", "525512345678", "Rate limit hit",
      ]) {
        assert.ok(!log.includes(forbidden), `log contains ${forbidden}`);
      }
    } finally {
      await w.close();
    }
  });

  for (const [label, level] of [["LOG_LEVEL=warn", "warn"], ["LOG_LEVEL unset (the default)", null]])
  it(`writes only failures and refusals with ${label}`, async () => {
    const w = await startWorker({ bindings: { LOG_LEVEL: level } });
    try {
      await (await w.post(fixture("text"))).arrayBuffer();
      await (await w.fetch(`/webhook?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=9`)).arrayBuffer();
      await (await w.post(fixture("text"), { secret: "wrong" })).arrayBuffer();
      await new Promise((r) => setTimeout(r, 200));
      const log = w.logs.join("");
      assert.match(log, /webhook\.unauthenticated/);
      assert.doesNotMatch(log, /webhook\.stored|webhook\.verified/);
      // What was not logged was still done.
      assert.equal((await w.counts()).messages, 1);
    } finally {
      await w.close();
    }
  });
});
