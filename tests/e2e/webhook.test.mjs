// The webhook receiver in workerd: verification, authentication, limits,
// storage of every notification shape, and exactly-once storage.
import { describe, it, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startWorker, fixture, sign, VERIFY_TOKEN, SECRET } from "./helpers.mjs";

const MESSAGE_FIXTURES = [
  "text", "text_reply", "text_forwarded", "image", "audio_voice", "video", "document", "sticker",
  "location", "contacts", "interactive_button_reply", "interactive_list_reply",
  "interactive_nfm_reply", "button", "reaction", "unreaction", "order", "system", "referral",
  "unsupported", "unknown_type",
];

describe("GET /webhook verification", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.close());

  it("echoes the challenge as text/plain for the right token", async () => {
    const res = await w.fetch(
      `/webhook?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`,
    );
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/plain/);
    assert.equal(await res.text(), "1158201444");
  });

  it("answers as text for a server: nosniff, no-store, never HTML, even for a hostile challenge", async () => {
    const hostile = encodeURIComponent("<script>alert(1)</script>");
    const answers = [
      await w.fetch(`/webhook?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=${hostile}`),
      await w.fetch(`/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=${hostile}`),
      await w.post(fixture("text"), { signature: null }),
      await w.post(fixture("text")),
      await w.fetch("/webhook/360dialog/106540352242922", { method: "POST", body: "{}" }),
    ];
    for (const res of answers) {
      const body = await res.text();
      const where = `${res.status} ${body.slice(0, 40)}`;
      assert.match(res.headers.get("content-type"), /^(text\/plain|application\/json)/, where);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff", where);
      assert.equal(res.headers.get("cache-control"), "no-store", where);
      // The page headers guard what a browser renders; these answers are plain text and JSON.
      assert.equal(res.headers.get("content-security-policy"), null, where);
    }
    assert.deepEqual(answers.map((r) => r.status), [200, 403, 401, 200, 401]);
  });

  it("answers 403 for a wrong token, a wrong mode or a missing part", async () => {
    for (const q of [
      `hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`,
      `hub.mode=unsubscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1`,
      `hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1`,
      `hub.mode=subscribe&hub.challenge=1`,
      ``,
    ]) {
      const res = await w.fetch(`/webhook?${q}`);
      assert.equal(res.status, 403, q);
      await res.arrayBuffer();
    }
  });
});

describe("POST /webhook authentication and limits", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.close());
  beforeEach(() => w.reset());

  const empty = { messages: 0, statuses: 0, contacts: 0, events: 0 };

  it("stores a correctly signed delivery and answers 200 with counts", async () => {
    const res = await w.post(fixture("text"));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { messages: 1, statuses: 0, contacts: 1, events: 0 });
    assert.deepEqual(await w.counts(), { ...empty, messages: 1, contacts: 1 });
  });

  it("rejects a missing signature with 401 and stores nothing", async () => {
    const res = await w.post(fixture("text"), { signature: null });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error.code, "invalid_signature");
    assert.deepEqual(await w.counts(), empty);
  });

  it("rejects a signature made with another secret with 401 and stores nothing", async () => {
    const res = await w.post(fixture("text"), { secret: "not-the-secret" });
    assert.equal(res.status, 401);
    assert.deepEqual(await w.counts(), empty);
  });

  it("rejects a malformed signature header with 401", async () => {
    for (const signature of ["sha1=abc", "sha256=xyz", "garbage"]) {
      const res = await w.post(fixture("text"), { signature });
      assert.equal(res.status, 401, signature);
      await res.arrayBuffer();
    }
    assert.deepEqual(await w.counts(), empty);
  });

  it("rejects a body signed for different bytes (re-serialised JSON)", async () => {
    const wire = fixture("wire_escaped.body");
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(wire.toString())));
    const res = await w.post(reserialised, { signature: sign(wire) });
    assert.equal(res.status, 401);
    const ok = await w.post(wire);
    assert.equal(ok.status, 200);
    const [, m] = await w.api(
      "/v1/messages/wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA50",
    );
    assert.equal(m.text.body, "Grüße aus Köln 👋 — see https://example.com/a/b");
  });

  it("answers 415 to a non-JSON content type and stores nothing", async () => {
    const body = fixture("text");
    for (const ct of ["text/plain", "application/x-www-form-urlencoded"]) {
      const res = await w.post(body, { headers: { "Content-Type": ct } });
      assert.equal(res.status, 415, ct);
      assert.equal((await res.json()).error.code, "unsupported_media_type");
    }
    const withCharset = await w.post(body, {
      headers: { "Content-Type": "application/json; charset=utf-8" },
    });
    assert.equal(withCharset.status, 200);
  });

  it("answers 413 to a body over 4 MiB declared by Content-Length", async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const res = await w.post(big);
    assert.equal(res.status, 413);
    assert.equal((await res.json()).error.code, "payload_too_large");
    assert.deepEqual(await w.counts(), empty);
  });

  it("answers 413 to a streamed body that grows past 4 MiB", async () => {
    const chunk = new Uint8Array(256 * 1024).fill(0x20);
    let sent = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (sent >= 24) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const res = await w.fetch("/webhook", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Hub-Signature-256": sign("x") },
      body: stream,
      duplex: "half",
    });
    assert.equal(res.status, 413);
    await res.arrayBuffer();
    assert.deepEqual(await w.counts(), empty);
  });

  it("stores a signed non-JSON body as a dead letter, answers 200 and shows it in the API", async () => {
    const body = Buffer.from('{"object":"whatsapp_business_account","entry":[');
    const res = await w.post(body);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { messages: 0, statuses: 0, contacts: 0, events: 1 });
    const [status, page] = await w.api("/v1/events?kind=dead_letter");
    assert.equal(status, 200);
    assert.equal(page.data.length, 1);
    assert.equal(page.data[0].raw, body.toString());
    assert.equal(page.data[0].raw_encoding, "text");
    // Redelivery of the same broken body is one dead letter, not two.
    await (await w.post(body)).arrayBuffer();
    assert.equal((await w.counts()).events, 1);
  });

  it("answers 405 to other methods", async () => {
    const res = await w.fetch("/webhook", { method: "PUT" });
    assert.equal(res.status, 405);
    assert.equal((await res.json()).error.code, "method_not_allowed");
  });
});

describe("POST /webhook with rotated secrets", () => {
  it("accepts either secret of a comma-separated list", async () => {
    const w = await startWorker({ bindings: { WHATSAPP_APP_SECRET: `new-secret,${SECRET}` } });
    try {
      assert.equal((await w.post(fixture("text"), { secret: "new-secret" })).status, 200);
      assert.equal((await w.post(fixture("image"), { secret: SECRET })).status, 200);
      assert.equal((await w.post(fixture("video"), { secret: "old" })).status, 401);
      assert.equal((await w.counts()).messages, 2);
    } finally {
      await w.close();
    }
  });

  it("fails closed with an opaque 500 when no secret is configured", async () => {
    const w = await startWorker({ bindings: { WHATSAPP_APP_SECRET: "" } });
    try {
      const res = await w.post(fixture("text"));
      assert.equal(res.status, 500);
      const body = await res.json();
      assert.equal(body.error.code, "internal_error");
      assert.doesNotMatch(body.error.message, /SECRET/);
      assert.equal((await w.counts()).messages, 0);
    } finally {
      await w.close();
    }
  });
});

describe("POST /webhook with a large body (hashed by WebCrypto)", () => {
  // Bodies of 32 KB and more are signed-checked and keyed by the runtime's
  // WebCrypto; smaller ones in wasm. Both must agree with Meta's signature.
  const statuses = (n, tag) => {
    const items = Array.from({ length: n }, (_, i) => ({
      id: `wamid.LARGE${tag}${String(i).padStart(6, "0")}`,
      status: "delivered",
      timestamp: "1739321100",
      recipient_id: "16505551234",
      conversation: { id: `c${i}`, origin: { type: "service" } },
    }));
    return JSON.stringify({
      object: "whatsapp_business_account",
      entry: [{ id: "102290129340398", changes: [{ field: "messages", value: {
        messaging_product: "whatsapp",
        metadata: { display_phone_number: "15550783881", phone_number_id: "106540352242922" },
        statuses: items,
      } }] }],
    });
  };

  it("stores a correctly signed one under the SHA-256 of its bytes, under either secret", async () => {
    const w = await startWorker({ bindings: { WHATSAPP_APP_SECRET: `new-secret,${SECRET}` } });
    try {
      // Bodies are kept while a destination exists.
      assert.equal((await w.send("/v1/destinations", { url: "http://127.0.0.1:9/hook", enabled: false }))[0], 201);
      const big = statuses(500, "A");
      assert.ok(big.length > 64 * 1024, `${big.length} bytes`);
      assert.equal((await w.post(big, { secret: SECRET })).status, 200);
      const other = statuses(500, "B");
      assert.equal((await w.post(other, { secret: "new-secret" })).status, 200);
      assert.equal((await w.counts()).statuses, 1000);
      const { createHash } = await import("node:crypto");
      const { results } = await w.db.prepare("SELECT id FROM deliveries ORDER BY id").all();
      const ids = results.map((r) => r.id);
      const want = [big, other].map((b) => createHash("sha256").update(b).digest("hex")).sort();
      assert.deepEqual(ids, want);
      // Its redelivery is the same delivery.
      assert.equal((await w.post(big)).status, 200);
      assert.equal((await w.db.prepare("SELECT count(*) AS n FROM deliveries").first()).n, 2);
    } finally {
      await w.close();
    }
  });

  it("refuses one whose signature is wrong, or made for other bytes, and stores nothing", async () => {
    const w = await startWorker();
    try {
      // With a destination, a stored delivery would also be kept.
      assert.equal((await w.send("/v1/destinations", { url: "http://127.0.0.1:9/hook", enabled: false }))[0], 201);
      const big = statuses(500, "C");
      const forged = sign(big, "not-the-secret");
      const otherBytes = sign(`${big} `);
      for (const signature of [forged, otherBytes, `sha256=${"0".repeat(64)}`, "sha256=zz", null]) {
        const res = await w.post(big, { signature });
        assert.equal(res.status, 401, String(signature));
        assert.equal((await res.json()).error.code, "invalid_signature");
      }
      // One byte changed after signing.
      const tampered = big.replace("LARGEC000499", "LARGEC000498");
      assert.equal((await w.post(tampered, { signature: sign(big) })).status, 401);
      assert.equal((await w.counts()).statuses, 0);
      assert.equal((await w.db.prepare("SELECT count(*) AS n FROM deliveries").first()).n, 0);
    } finally {
      await w.close();
    }
  });
});

describe("storing every notification shape", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.close());
  beforeEach(() => w.reset());

  it("stores each message type with its content readable through the API", async () => {
    for (const name of MESSAGE_FIXTURES) {
      const body = fixture(name);
      const res = await w.post(body);
      assert.equal(res.status, 200, name);
      await res.arrayBuffer();
      const sent = JSON.parse(body).entry[0].changes[0].value.messages[0];
      const [status, m] = await w.api(`/v1/messages/${encodeURIComponent(sent.id)}`);
      assert.equal(status, 200, name);
      assert.equal(m.id, sent.id, name);
      assert.equal(m.direction, "in", name);
      if (name === "unknown_type") {
        // A type this version does not model is shown as unsupported, naming it.
        assert.equal(m.type, "unsupported", name);
        assert.deepEqual(m.unsupported, { type: sent.type }, name);
      } else {
        assert.equal(m.type, sent.type, name);
      }
      assert.equal(m.from, sent.from, name);
      assert.equal(m.to, "106540352242922", name);
      assert.equal(m.timestamp, Number(sent.timestamp), name);
      assert.equal(m.status, "received", name);
      if (sent[sent.type] !== undefined) assert.deepEqual(m[sent.type], sent[sent.type], name);
      if (sent.context) assert.deepEqual(m.context, sent.context, name);
      if (sent.referral) assert.deepEqual(m.referral, sent.referral, name);
      if (sent.errors) assert.deepEqual(m.errors, sent.errors, name);
    }
    assert.equal((await w.counts()).messages, MESSAGE_FIXTURES.length);
  });

  it("stores other webhook fields as typed events", async () => {
    for (const name of ["template_status_update", "phone_number_quality_update",
      "account_update", "user_preferences", "messages_errors"]) {
      assert.equal((await w.post(fixture(name))).status, 200, name);
    }
    const [, all] = await w.api("/v1/events");
    assert.equal(all.data.length, 5);
    const [, templates] = await w.api("/v1/events?kind=message_template_status_update");
    assert.equal(templates.data.length, 1);
    const t = templates.data[0];
    assert.equal(t.reference, "594425479261596");
    assert.equal(t.summary.event, "REJECTED");
    assert.equal(t.summary.reason, "INVALID_FORMAT");
    assert.equal(t.raw.field, "message_template_status_update");
    assert.equal(t.waba_id, "102290129340398");
  });

  it("stores every item of a multi-entry, multi-change batch", async () => {
    const res = await w.post(fixture("multi_entry"));
    assert.deepEqual(await res.json(), { messages: 3, statuses: 1, contacts: 3, events: 1 });
    assert.deepEqual(await w.counts(), { messages: 3, statuses: 1, contacts: 3, events: 1 });
    const [, ana] = await w.api("/v1/contacts/5511987654321");
    assert.equal(ana.profile_name, "Ana Souza");
    assert.equal(ana.phone_number_id, "106540352242923");
  });

  it("stores a delivery of 1000 updates in one go", async () => {
    const root = JSON.parse(fixture("text"));
    const value = root.entry[0].changes[0].value;
    const template = value.messages[0];
    value.messages = Array.from({ length: 700 }, (_, i) => ({
      ...template, id: `wamid.bulk.${i}`, from: `4477009${String(i).padStart(5, "0")}`,
    }));
    value.contacts = value.messages.map((m) => ({ wa_id: m.from, profile: { name: `Customer ${m.from.slice(-3)}` } }));
    value.statuses = Array.from({ length: 300 }, (_, i) => ({
      id: `wamid.bulkout.${i}`, status: "delivered", timestamp: "1739321031", recipient_id: "16505551234",
    }));
    const body = Buffer.from(JSON.stringify(root));
    const res = await w.post(body);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { messages: 700, statuses: 300, contacts: 700, events: 0 });
    assert.deepEqual(await w.counts(), { messages: 700, statuses: 300, contacts: 700, events: 0 });
    const again = await w.post(body);
    assert.equal(again.status, 200);
    await again.arrayBuffer();
    assert.deepEqual(await w.counts(), { messages: 700, statuses: 300, contacts: 700, events: 0 });
  });

  it("keeps the good items of a batch with malformed ones, and the bad ones as events", async () => {
    const res = await w.post(fixture("malformed_item"));
    assert.equal(res.status, 200);
    const counts = await w.counts();
    assert.equal(counts.messages, 2);
    assert.equal(counts.statuses, 0);
    const [, bad] = await w.api("/v1/events?kind=malformed_message");
    assert.equal(bad.data.length, 1);
    assert.equal(bad.data[0].raw.text.body, "no id");
  });

  it("stores JSON that is not a WhatsApp notification as an unrecognized event", async () => {
    const res = await w.post(Buffer.from('{"object":"page","entry":[]}'));
    assert.equal(res.status, 200);
    const [, page] = await w.api("/v1/events?kind=unrecognized_payload");
    assert.equal(page.data.length, 1);
    assert.equal(page.data[0].raw.object, "page");
  });
});

describe("exactly once", () => {
  let w;
  before(async () => (w = await startWorker()));
  after(() => w.close());
  beforeEach(() => w.reset());

  it("redelivering the same body changes nothing", async () => {
    await (await w.post(fixture("multi_entry"))).arrayBuffer();
    const first = await w.snapshot();
    for (let i = 0; i < 3; i++) await (await w.post(fixture("multi_entry"))).arrayBuffer();
    assert.deepEqual(await w.snapshot(), first);
  });

  it("20 concurrent copies of one delivery leave the rows of one", async () => {
    await (await w.post(fixture("multi_entry"))).arrayBuffer();
    const once = await w.snapshot();
    await w.reset();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => w.post(fixture("multi_entry"))),
    );
    for (const r of responses) {
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    assert.deepEqual(await w.snapshot(), once);
  });

  it("the same items re-batched differently leave the same rows", async () => {
    await (await w.post(fixture("multi_entry"))).arrayBuffer();
    const batched = await w.snapshot();
    await w.reset();
    // Each change delivered on its own, in reverse order, pretty-printed differently.
    const root = JSON.parse(fixture("multi_entry"));
    const singles = root.entry.flatMap((entry) =>
      entry.changes.map((change) => ({ object: root.object, entry: [{ id: entry.id, changes: [change] }] })),
    );
    for (const single of singles.reverse()) {
      await (await w.post(Buffer.from(JSON.stringify(single, null, 1)))).arrayBuffer();
    }
    assert.deepEqual(await w.snapshot(), batched);
  });

  it("out-of-order statuses never move a message backwards", async () => {
    for (const name of ["status_read", "status_delivered", "status_sent"]) {
      await (await w.post(fixture(name))).arrayBuffer();
    }
    const id = JSON.parse(fixture("status_sent")).entry[0].changes[0].value.statuses[0].id;
    const [status, m] = await w.api(`/v1/messages/${id}`);
    assert.equal(status, 200);
    assert.equal(m.status, "read");
    assert.deepEqual(m.statuses.map((s) => s.status), ["sent", "delivered", "read"]);
    assert.equal(m.statuses[0].pricing.category, "service");
    assert.equal(m.statuses[0].conversation.category, "service");
    assert.equal(m.to, "16505551234");
  });

  it("a failed status is recorded with its error", async () => {
    await (await w.post(fixture("status_failed"))).arrayBuffer();
    const id = JSON.parse(fixture("status_failed")).entry[0].changes[0].value.statuses[0].id;
    const [, m] = await w.api(`/v1/messages/${id}`);
    assert.equal(m.status, "failed");
    assert.equal(m.statuses[0].errors[0].code, 131047);
  });

  it("an unknown status is kept in the history without displacing a known one", async () => {
    const body = (status, ts) => {
      const v = JSON.parse(fixture("status_sent"));
      Object.assign(v.entry[0].changes[0].value.statuses[0], { status, timestamp: ts });
      return Buffer.from(JSON.stringify(v));
    };
    await (await w.post(body("delivered", "100"))).arrayBuffer();
    await (await w.post(body("teleported", "200"))).arrayBuffer();
    const id = JSON.parse(fixture("status_sent")).entry[0].changes[0].value.statuses[0].id;
    const [, m] = await w.api(`/v1/messages/${id}`);
    assert.equal(m.status, "delivered");
    assert.deepEqual(m.statuses.map((s) => s.status), ["delivered", "teleported"]);
  });

  it("a late redelivery of an older message does not roll back the contact's name", async () => {
    const withName = (name, id, ts) => {
      const v = JSON.parse(fixture("text"));
      const value = v.entry[0].changes[0].value;
      value.contacts[0].profile.name = name;
      Object.assign(value.messages[0], { id, timestamp: ts });
      return Buffer.from(JSON.stringify(v));
    };
    await (await w.post(withName("New Name", "wamid.new", "2000"))).arrayBuffer();
    await (await w.post(withName("Old Name", "wamid.old", "1000"))).arrayBuffer();
    const [, c] = await w.api("/v1/contacts/16505551234");
    assert.equal(c.profile_name, "New Name");
    assert.equal(c.first_seen, 1000);
    assert.equal(c.last_seen, 2000);
  });
});

describe("D1 round trips per delivery", () => {
  // The webhook.stored log line says how many D1 round trips a delivery
  // made (requests are sent one at a time here, so the figure is exact).
  const tripsOf = (logs) =>
    logs.join("").split("\n").filter((l) => l.includes('"event":"webhook.stored"'))
      .map((l) => Number(/"d1_round_trips":(\d+)/.exec(l)?.[1]));
  const renamed = (name, wamid, from) => {
    const body = JSON.parse(fixture(name));
    const value = body.entry[0].changes[0].value;
    if (value.messages) Object.assign(value.messages[0], { id: wamid, from });
    if (value.contacts) value.contacts[0].wa_id = from;
    if (value.statuses) value.statuses[0].id = wamid;
    return Buffer.from(JSON.stringify(body));
  };
  const settle = () => new Promise((r) => setTimeout(r, 200));

  it("makes one when nothing needs a lookup, checks erasure inside that one batch, and skips the batch for someone known erased", async () => {
    const w = await startWorker();
    try {
      const post = async (body) => assert.equal((await w.post(body)).status, 200);
      // The isolate's first delivery also reads the salt, the rules and the
      // destinations, and keeps them.
      await post(renamed("text", "wamid.trips.1", "16505551234"));
      await post(renamed("text", "wamid.trips.2", "16505551234"));
      await post(renamed("status_delivered", "wamid.trips.3"));
      await post(renamed("image", "wamid.trips.4", "447700900123"));
      await settle();
      const warm = tripsOf(w.logs).slice(1);
      assert.deepEqual(warm, [1, 1, 1]);

      // Erase the first customer; Meta redelivers their old message. The
      // isolate that erased them knows their tombstones, so the delivery
      // skips the batch its guard would refuse: the tombstones are read,
      // and nothing is stored (with no destination, nothing is left to
      // write: no batch at all).
      const res = await w.fetch("/v1/contacts/16505551234", {
        method: "DELETE", headers: { Authorization: "Bearer e2e-admin-token" },
      });
      assert.equal(res.status, 204);
      const before = tripsOf(w.logs).length;
      await post(renamed("text", "wamid.trips.1", "16505551234"));
      await post(renamed("image", "wamid.trips.5", "447700900123"));
      // They write again: a new contact, whose every delivery names a
      // tombstoned number; read the tombstones and write, two round trips,
      // not a refused batch first.
      // A second after the erasure, so their messages are dated after it.
      await new Promise((r) => setTimeout(r, 1100));
      const now = String(Math.floor(Date.now() / 1000));
      const back = (wamid) => {
        const body = JSON.parse(renamed("text", wamid, "16505551234").toString());
        body.entry[0].changes[0].value.messages[0].timestamp = now;
        return Buffer.from(JSON.stringify(body));
      };
      await post(back("wamid.trips.back.1"));
      await post(back("wamid.trips.back.2"));
      await settle();
      assert.deepEqual(tripsOf(w.logs).slice(before), [1, 1, 2, 2]);
      const n = async (sql) => (await w.db.prepare(sql).first()).n;
      assert.equal(await n("SELECT count(*) AS n FROM messages WHERE wa_id = '16505551234'"), 2);
      assert.equal(await n("SELECT count(*) AS n FROM messages WHERE id = 'wamid.trips.1'"), 0);
      assert.equal(await n("SELECT count(*) AS n FROM delivery_guard"), 0);
      assert.equal(await n("SELECT count(*) AS n FROM messages WHERE wa_id = '447700900123'"), 2);
    } finally {
      await w.close();
    }
  });

  it("when the isolate's cache expires under load, one delivery reloads it and the others use what it kept", async () => {
    const w = await startWorker();
    try {
      await (await w.post(renamed("text", "wamid.expiry.warm", "16505550999"))).arrayBuffer();
      // The rules and the destinations live 15 s in an isolate (the salt
      // for good). Then sixteen deliveries arrive together: one of them
      // reloads each, the rest are written with what was kept, so the
      // isolate makes 2 reads and 16 batches, not 16 of each. Each line
      // counts the isolate's round trips while its request ran, so the
      // last to finish counts nearly all of them.
      await new Promise((r) => setTimeout(r, 15_100));
      const before = tripsOf(w.logs).length;
      const bodies = Array.from({ length: 16 }, (_, i) =>
        renamed("text", `wamid.expiry.${i}`, `1650555${String(1000 + i)}`));
      const answers = await Promise.all(bodies.map((b) => w.post(b)));
      assert.deepEqual(answers.map((r) => r.status), Array(16).fill(200));
      await settle();
      const trips = tripsOf(w.logs).slice(before);
      assert.equal(trips.length, 16);
      // On the direct path they overlapped (one at a time, no line would
      // count more than 3). Write shards batch them, so there each line
      // counts its group's trips in the shard's isolate.
      const sharded = Number(process.env.WA_EDGE_SHARDS ?? 1) > 1;
      if (!sharded) assert.ok(Math.max(...trips) >= 6, JSON.stringify(trips));
      // The reloads were not repeated.
      assert.ok(Math.max(...trips) <= 16 + 2, JSON.stringify(trips));
      const n = (await w.db.prepare("SELECT count(*) AS n FROM messages WHERE id LIKE 'wamid.expiry.%'").first()).n;
      assert.equal(n, 17);
    } finally {
      await w.close();
    }
  });
});
