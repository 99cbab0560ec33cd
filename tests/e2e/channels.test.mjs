// Channels on two providers, 360dialog inbound, onboarding, profile,
// templates, media and messaging limits, in workerd against fake APIs.
import { describe, it, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startWorker, fixture, FakeGraph, eventually, ADMIN_TOKEN, sign, migrationStatements } from "./helpers.mjs";

const META_PN = "200000000000001";
const D360_PN = "200000000000002";
const WABA = "300000000000001";
const secrets = {
  TOKEN_SHOP_A: "token-for-shop-a",
  D360_KEY_SHOP_B: "d360-key-for-shop-b",
  D360_HOOK_SHOP_B: "hookuser:hookpass",
  D360_API_BASE: "http://d360.test",
};
const basic = (userPass) => "Basic " + Buffer.from(userPass).toString("base64");

const metaChannel = {
  phone_number_id: META_PN, waba_id: WABA, display_phone_number: "15550000001",
  name: "Shop A", provider: "meta", credential_secret: "TOKEN_SHOP_A",
};
const d360Channel = {
  phone_number_id: D360_PN, waba_id: "300000000000002", display_phone_number: "15550000002",
  name: "Shop B", provider: "360dialog", credential_secret: "D360_KEY_SHOP_B",
  webhook_auth_secret: "D360_HOOK_SHOP_B",
};

let seq = 0;
function inbound({ pn, from = "16505551234", body = "hello", ts = Math.floor(Date.now() / 1000), id } = {}) {
  const v = JSON.parse(fixture("text"));
  const value = v.entry[0].changes[0].value;
  value.metadata = { display_phone_number: "1555", phone_number_id: pn };
  value.contacts[0].wa_id = from;
  Object.assign(value.messages[0], { from, timestamp: String(ts), id: id ?? `wamid.ch.${++seq}`, text: { body } });
  return Buffer.from(JSON.stringify(v));
}

describe("channels", () => {
  const graph = new FakeGraph();
  let w;
  before(async () => (w = await startWorker({ outboundService: graph.handler, bindings: secrets })));
  after(() => w.close());
  beforeEach(async () => {
    await w.reset();
    graph.reset();
    assert.equal((await w.send("/v1/channels", metaChannel))[0], 201);
    assert.equal((await w.send("/v1/channels", d360Channel))[0], 201);
  });

  it("lists channels with their webhook URLs and never stores a credential", async () => {
    const [status, list] = await w.api("/v1/channels");
    assert.equal(status, 200);
    const byId = Object.fromEntries(list.data.map((c) => [c.phone_number_id, c]));
    assert.equal(byId[META_PN].webhook_url, "/webhook");
    assert.equal(byId[D360_PN].webhook_url, `/webhook/360dialog/${D360_PN}`);
    // The environment's number is listed too, and is changed in wrangler.toml.
    const envPn = "106540352242922";
    assert.equal(byId[envPn].source, "environment");
    assert.equal(byId[META_PN].source, "api");
    assert.equal((await w.api(`/v1/channels/${envPn}`))[1].source, "environment");
    for (const method of ["PATCH", "DELETE"]) {
      const [code, body] = await w.send(`/v1/channels/${envPn}`, { name: "x" }, {}, method);
      assert.equal(code, 409, method);
      assert.equal(body.error.code, "configured_in_environment");
    }
    const rows = await w.db.prepare("SELECT body FROM channels").all();
    const stored = JSON.stringify(rows.results);
    for (const value of Object.values(secrets)) assert.ok(!stored.includes(value), "credential stored");
  });

  it("validates channels and patches them", async () => {
    for (const [body, needle] of [
      [{ ...metaChannel, phone_number_id: "abc" }, "phone_number_id"],
      [{ ...metaChannel, phone_number_id: "9", provider: "twilio" }, "provider"],
      [{ ...metaChannel, phone_number_id: "9", credential_secret: "EAAG token with spaces" }, "credential_secret"],
      [{ ...d360Channel, phone_number_id: "9", webhook_auth_secret: undefined }, "webhook_auth_secret"],
      [{ ...metaChannel, phone_number_id: "9", tier: "500" }, "tier"],
    ]) {
      const [status, json] = await w.send("/v1/channels", body);
      assert.equal(status, 400, needle);
      assert.equal(json.error.code, "invalid_channel");
      assert.ok(json.error.message.includes(needle), json.error.message);
    }
    const [dup] = await w.send("/v1/channels", metaChannel);
    assert.equal(dup, 409);
    const [pStatus, patched] = await w.send(`/v1/channels/${META_PN}`, { name: "Shop A (EU)", tier: "1k" }, {}, "PATCH");
    assert.equal(pStatus, 200);
    assert.equal(patched.name, "Shop A (EU)");
    assert.equal(patched.tier, "1k");
    assert.equal(patched.credential_secret, "TOKEN_SHOP_A");
    const [del] = await w.send(`/v1/channels/${D360_PN}`, null, {}, "DELETE");
    assert.equal(del, 204);
    assert.equal((await w.api(`/v1/channels/${D360_PN}`))[0], 404);
  });

  it("receives on two providers and replies through each channel's provider and credential", async () => {
    await w.send("/v1/rules", { priority: 1, match: { any: true }, reply: { type: "text", text: { body: "thanks" } } });
    const metaRes = await w.post(inbound({ pn: META_PN, from: "16505550001" }));
    assert.equal(metaRes.status, 200);
    const d360Res = await w.fetch(`/webhook/360dialog/${D360_PN}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: basic(secrets.D360_HOOK_SHOP_B) },
      body: inbound({ pn: D360_PN, from: "16505550002" }),
    });
    assert.equal(d360Res.status, 200);
    await eventually(() => graph.requests.length === 2);
    const meta = graph.requests.find((r) => r.host === "graph.test");
    assert.equal(meta.path, `/v23.0/${META_PN}/messages`);
    assert.equal(meta.headers.authorization, "Bearer token-for-shop-a");
    assert.equal(meta.body.to, "16505550001");
    const d360 = graph.requests.find((r) => r.host === "d360.test");
    assert.equal(d360.path, "/messages");
    assert.equal(d360.headers["d360-api-key"], "d360-key-for-shop-b");
    assert.equal(d360.body.to, "16505550002");
  });

  it("rejects a 360dialog delivery with a wrong or missing header and stores nothing", async () => {
    for (const headers of [{}, { Authorization: basic("hookuser:wrong") }, { Authorization: "Bearer x" }]) {
      const res = await w.fetch(`/webhook/360dialog/${D360_PN}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: inbound({ pn: D360_PN }),
      });
      assert.equal(res.status, 401);
      await res.arrayBuffer();
    }
    // A Meta channel has no 360dialog path, even with a valid-looking header.
    const res = await w.fetch(`/webhook/360dialog/${META_PN}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: basic(secrets.D360_HOOK_SHOP_B) },
      body: inbound({ pn: META_PN }),
    });
    assert.equal(res.status, 401);
    assert.equal((await w.counts()).messages, 0);
  });

  it("sends through the channel named by from", async () => {
    await w.post(inbound({ pn: D360_PN, from: "16505550009" }), {}).then((r) => r.arrayBuffer());
    // The delivery above came through /webhook (Meta-signed) for a 360dialog number:
    // routing is by metadata.phone_number_id, whichever path it arrived on.
    const [status, sent] = await w.send("/v1/messages", {
      from: D360_PN, to: "16505550009", type: "text", text: { body: "from shop b" },
    });
    assert.equal(status, 202);
    await eventually(async () => (await w.outbox(sent.id))?.state === "sent");
    assert.equal(graph.requests[0].host, "d360.test");
    const [unknown, err] = await w.send("/v1/messages", { from: "999", to: "16505550009", type: "text", text: { body: "x" } });
    assert.equal(unknown, 409);
    assert.equal(err.error.code, "unknown_channel");
  });

  it("registers the 360dialog webhook after validating the URL", async () => {
    for (const url of ["http://hooks.example.com/x", "https://hooks.example.com:8443/x", "https://my_hooks.example.com/x"]) {
      const [status, json] = await w.send(`/v1/channels/${D360_PN}/webhook`, { url });
      assert.equal(status, 400, url);
      assert.match(json.error.message, /^url:/);
    }
    assert.equal(graph.requests.length, 0);
    const url = `https://wa.example.com/webhook/360dialog/${D360_PN}`;
    const [status, json] = await w.send(`/v1/channels/${D360_PN}/webhook`, { url });
    assert.equal(status, 200, JSON.stringify(json));
    const r = graph.requests[0];
    assert.equal(r.method, "POST");
    assert.equal(r.url, "http://d360.test/v1/configs/webhook");
    assert.equal(r.headers["d360-api-key"], "d360-key-for-shop-b");
    assert.deepEqual(r.body, { url, headers: { Authorization: basic(secrets.D360_HOOK_SHOP_B) } });
    const [metaStatus] = await w.send(`/v1/channels/${META_PN}/webhook`, { url });
    assert.equal(metaStatus, 409);
  });

  it("onboards a Meta number: phone numbers, register with PIN, subscription", async () => {
    graph.on("GET", /\/phone_numbers/, () => ({ body: { data: [{ id: META_PN, display_phone_number: "+1 555-000-0001", quality_rating: "GREEN" }] } }));
    graph.on("GET", /\/subscribed_apps/, () => ({ body: { data: [] } }));
    graph.on("POST", /\/subscribed_apps/, () => ({ body: { success: true } }));
    graph.on("POST", /\/register/, () => ({ body: { success: true } }));
    const [, numbers] = await w.api(`/v1/channels/${META_PN}/phone_numbers`);
    assert.equal(numbers.data[0].quality_rating, "GREEN");
    assert.equal(graph.requests[0].path, `/v23.0/${WABA}/phone_numbers`);
    const [, before] = await w.api(`/v1/channels/${META_PN}/subscription`);
    assert.equal(before.subscribed, false);
    const [subStatus, sub] = await w.send(`/v1/channels/${META_PN}/subscription`, {});
    assert.equal(subStatus, 200);
    assert.equal(sub.subscribed, true);
    assert.equal(graph.requests.at(-1).path, `/v23.0/${WABA}/subscribed_apps`);
    const [badPin] = await w.send(`/v1/channels/${META_PN}/register`, { pin: "12ab" });
    assert.equal(badPin, 400);
    const [okPin] = await w.send(`/v1/channels/${META_PN}/register`, { pin: "123456" });
    assert.equal(okPin, 200);
    assert.deepEqual(graph.requests.at(-1).body, { messaging_product: "whatsapp", pin: "123456" });
    assert.equal(graph.requests.at(-1).headers.authorization, "Bearer token-for-shop-a");
  });

  it("reads and updates the business profile with local validation", async () => {
    let profile = { about: "Hi", email: "old@example.com", websites: ["https://example.com"], vertical: "RETAIL" };
    graph.on("GET", /whatsapp_business_profile/, () => ({ body: { data: [profile] } }));
    graph.on("POST", /whatsapp_business_profile/, (r) => {
      const { messaging_product, ...fields } = r.body;
      profile = { ...profile, ...fields };
      return { body: { success: true } };
    });
    const [, got] = await w.api(`/v1/channels/${META_PN}/profile`);
    assert.equal(got.profile.email, "old@example.com");
    assert.equal(typeof got.synced_at, "number");
    const row = await w.db.prepare("SELECT profile FROM channels WHERE phone_number_id = ?1").bind(META_PN).first();
    assert.equal(JSON.parse(row.profile).email, "old@example.com");
    for (const [patch, field] of [
      [{ email: "not-an-email" }, "email"],
      [{ address: "x".repeat(257) }, "address"],
      [{ description: "x".repeat(513) }, "description"],
      [{ vertical: "SPACESHIPS" }, "vertical"],
      [{ websites: ["https://a.com", "https://b.com", "https://c.com"] }, "websites"],
      [{ websites: ["ftp://a.com"] }, "websites[0]"],
      [{ colour: "red" }, "colour"],
    ]) {
      const [status, json] = await w.send(`/v1/channels/${META_PN}/profile`, patch, {}, "PATCH");
      assert.equal(status, 400, field);
      assert.equal(json.error.code, "invalid_profile");
      assert.ok(json.error.message.startsWith(field), json.error.message);
    }
    const [status, updated] = await w.send(`/v1/channels/${META_PN}/profile`, { email: "hello@example.com", vertical: "APPAREL" }, {}, "PATCH");
    assert.equal(status, 200);
    assert.equal(updated.profile.email, "hello@example.com");
    const post = graph.requests.find((r) => r.method === "POST");
    assert.equal(post.path, `/v23.0/${META_PN}/whatsapp_business_profile`);
    assert.equal(post.body.messaging_product, "whatsapp");
  });

  it("syncs templates across two pages and lists them by name and status", async () => {
    graph.on("GET", /message_templates/, (r) => {
      if (!r.query.after) {
        return { body: {
          data: [
            { id: "t1", name: "order_update", language: "en_US", status: "APPROVED", category: "UTILITY", components: [{ type: "BODY", text: "Order {{1}}" }] },
            { id: "t2", name: "promo_summer", language: "en_US", status: "PENDING", category: "MARKETING", components: [] },
          ],
          paging: { cursors: { before: "b1", after: "c1" }, next: "http://graph.test/next" },
        } };
      }
      assert.equal(r.query.after, "c1");
      return { body: {
        data: [{ id: "t3", name: "promo_winter", language: "de", status: "REJECTED", rejected_reason: "PROMOTIONAL", category: "MARKETING", components: [] }],
        paging: { cursors: { before: "c1", after: "c2" } },
      } };
    });
    const [status, sync] = await w.send(`/v1/channels/${META_PN}/templates/sync`, {});
    assert.equal(status, 200, JSON.stringify(sync));
    assert.equal(sync.synced, 3);
    assert.equal(sync.next, null, "nothing left to fetch");
    assert.equal(graph.requests.length, 2);
    const [, all] = await w.api(`/v1/channels/${META_PN}/templates`);
    assert.deepEqual(all.data.map((t) => t.name), ["order_update", "promo_summer", "promo_winter"]);
    const [, promos] = await w.api(`/v1/channels/${META_PN}/templates?name=promo`);
    assert.equal(promos.data.length, 2);
    const [, rejected] = await w.api(`/v1/channels/${META_PN}/templates?status=rejected`);
    assert.equal(rejected.data.length, 1);
    assert.equal(rejected.data[0].rejected_reason, "PROMOTIONAL");
    assert.equal(all.data[0].components[0].text, "Order {{1}}");

    // Sends are checked against the synced templates.
    const send = (name, params) => w.send("/v1/messages", {
      from: META_PN, to: "16505551234", type: "template",
      template: { name, language: { code: "en_US" }, components: [{ type: "body", parameters: params }] },
    });
    const [missing, missingJson] = await send("order_update", []);
    assert.equal(missing, 400);
    assert.equal(missingJson.error.message, "template.components: order_update (en_US) needs 1 body parameter(s); got 0");
    const [pending, pendingJson] = await send("promo_summer", []);
    assert.equal(pending, 409);
    assert.equal(pendingJson.error.code, "template_not_approved");
    assert.equal((await send("order_update", [{ type: "text", text: "A-1" }]))[0], 202);

    // A status webhook for t2 updates the same row.
    const hook = JSON.parse(fixture("template_status_update"));
    hook.entry[0].id = WABA;
    // Decided after the sync above: a status older than the stored one changes nothing.
    hook.entry[0].time = Math.floor(Date.now() / 1000) + 1;
    Object.assign(hook.entry[0].changes[0].value, {
      message_template_id: "t2", message_template_name: "promo_summer", message_template_language: "en_US",
      event: "REJECTED", reason: "INCORRECT_CATEGORY",
    });
    assert.equal((await w.post(Buffer.from(JSON.stringify(hook)))).status, 200);
    const [, after] = await w.api(`/v1/channels/${META_PN}/templates?name=promo_summer`);
    assert.equal(after.data[0].status, "REJECTED");
    assert.equal(after.data[0].rejected_reason, "INCORRECT_CATEGORY");
  });

  it("answers where to go on when a WABA has more template pages than one sync follows", async () => {
    // 45 pages of one template each; page n+1 is after cursor `p<n>`.
    graph.on("GET", /message_templates/, (r) => {
      const n = r.query.after ? Number(r.query.after.slice(1)) + 1 : 1;
      const body = { data: [{ id: `t${n}`, name: `tpl_${n}`, language: "en_US", status: "APPROVED", category: "UTILITY", components: [] }] };
      if (n < 45) body.paging = { cursors: { after: `p${n}` }, next: "http://graph.test/next" };
      return { body };
    });
    const [status, first] = await w.send(`/v1/channels/${META_PN}/templates/sync`, {});
    assert.equal(status, 200);
    assert.deepEqual([first.synced, first.next, graph.requests.length], [40, "p40", 40]);
    const syncedAt = async () => (await w.db.prepare("SELECT templates_synced_at AS t FROM channels WHERE phone_number_id = ?1").bind(META_PN).first()).t;
    assert.equal(await syncedAt(), null, "a partial sync is not the channel's sync");
    for (const bad of ["a%20b", "x".repeat(2049)]) {
      const [s400, err] = await w.send(`/v1/channels/${META_PN}/templates/sync?after=${bad}`, {});
      assert.equal(s400, 400);
      assert.equal(err.error.field, "after");
    }
    assert.equal(graph.requests.length, 40, "a bad cursor reaches no one");
    const [, rest] = await w.send(`/v1/channels/${META_PN}/templates/sync?after=${first.next}`, {});
    assert.deepEqual([rest.synced, rest.next], [5, null]);
    assert.equal(await syncedAt(), rest.synced_at);
    assert.equal(graph.requests[40].query.after, "p40");
    const [, all] = await w.api(`/v1/channels/${META_PN}/templates`);
    assert.equal(all.data.length, 45);
  });

  it("validates template submissions before Graph sees them, and deletes", async () => {
    const good = {
      name: "order_shipped", category: "UTILITY", language: "en_US",
      components: [
        { type: "HEADER", format: "TEXT", text: "Order {{1}}", example: { header_text: ["A-1"] } },
        { type: "BODY", text: "Hi {{1}}, order {{2}} shipped.", example: { body_text: [["Ann", "A-1"]] } },
        { type: "FOOTER", text: "Shop A" },
        { type: "BUTTONS", buttons: [{ type: "QUICK_REPLY", text: "Thanks" }, { type: "URL", text: "Track", url: "https://shop.example.com/t" }] },
      ],
    };
    const cases = [
      [{ ...good, name: "Order Shipped" }, "name"],
      [{ ...good, category: "PROMO" }, "category"],
      [{ ...good, language: "english" }, "language"],
      [{ ...good, components: [{ type: "BODY", text: "Hi {{1}} and {{3}}", example: { body_text: [["a", "b"]] } }] }, "components[0].text"],
      [{ ...good, components: [{ type: "BODY", text: "Hi {{1}}" }] }, "components[0].example.body_text"],
      [{ ...good, components: [{ type: "BODY", text: "Hi" }, { type: "BUTTONS", buttons: [
        { type: "QUICK_REPLY", text: "a" }, { type: "QUICK_REPLY", text: "b" }, { type: "QUICK_REPLY", text: "c" }, { type: "QUICK_REPLY", text: "d" }] }] }, "components[1].buttons"],
      [{ ...good, components: [{ type: "BODY", text: "Hi" }, { type: "BUTTONS", buttons: [{ type: "QUICK_REPLY", text: "x".repeat(21) }] }] }, "components[1].buttons[0].text"],
      [{ ...good, components: [{ type: "BODY", text: "Hi" }, { type: "BUTTONS", buttons: [
        { type: "URL", text: "a", url: "https://a.com" }, { type: "URL", text: "b", url: "https://b.com" }] }] }, "components[1].buttons"],
      [{ ...good, components: [{ type: "FOOTER", text: "f" }] }, "components"],
    ];
    for (const [body, field] of cases) {
      const [status, json] = await w.send(`/v1/channels/${META_PN}/templates`, body);
      assert.equal(status, 400, field);
      assert.equal(json.error.code, "invalid_template");
      assert.ok(json.error.message.startsWith(field), `${json.error.message} starts with ${field}`);
    }
    assert.equal(graph.requests.length, 0);
    graph.on("POST", /message_templates/, () => ({ body: { id: "t9", status: "PENDING", category: "UTILITY" } }));
    graph.on("DELETE", /message_templates/, () => ({ body: { success: true } }));
    const [status, created] = await w.send(`/v1/channels/${META_PN}/templates`, good);
    assert.equal(status, 201);
    assert.equal(created.status, "PENDING");
    assert.deepEqual(graph.requests[0].body, good);
    assert.equal(graph.requests[0].path, `/v23.0/${WABA}/message_templates`);
    const [, listed] = await w.api(`/v1/channels/${META_PN}/templates?status=PENDING`);
    assert.equal(listed.data[0].id, "t9");
    const [del] = await w.send(`/v1/channels/${META_PN}/templates/order_shipped`, null, {}, "DELETE");
    assert.equal(del, 204);
    assert.equal(graph.requests.at(-1).query.name, "order_shipped");
    assert.equal((await w.api(`/v1/channels/${META_PN}/templates`))[1].data.length, 0);
  });

  it("merges a contact's differing wa_id forms into one contact", async () => {
    // Brazil with and without the ninth digit, Mexico with and without 521.
    for (const [from, ts] of [["551187654321", 1000], ["5511987654321", 1001], ["5215512345678", 1002], ["525512345678", 1003]]) {
      await (await w.post(inbound({ pn: META_PN, from, ts }))).arrayBuffer();
    }
    const [, contacts] = await w.api("/v1/contacts");
    assert.deepEqual(contacts.data.map((c) => c.wa_id).sort(), ["525512345678", "5511987654321"]);
    const br = contacts.data.find((c) => c.wa_id === "5511987654321");
    assert.equal(br.phone, "+5511987654321");
    const [, history] = await w.api("/v1/contacts/5511987654321/messages");
    assert.equal(history.data.length, 2);
    // The old form finds the same contact.
    const [status, same] = await w.api("/v1/contacts/551187654321");
    assert.equal(status, 200);
    assert.equal(same.wa_id, "5511987654321");
  });

  it("enforces the messaging tier and test-number recipients for template sends", async () => {
    const tpl = (to) => ({ from: META_PN, to, type: "template", template: { name: "hello", language: { code: "en" } } });
    const now = Date.now();
    const stmts = [];
    for (let i = 0; i < 250; i++) {
      const number = `4477009${String(i).padStart(5, "0")}`;
      const contact = `ct_${String(i).padStart(24, "0")}`;
      stmts.push(w.db.prepare("INSERT INTO contacts (id, wa_id, updated_at) VALUES (?1, ?2, 0)").bind(contact, number));
      stmts.push(w.db.prepare(
        "INSERT INTO outbox (id, phone_number_id, recipient, contact_id, kind, payload, state, next_attempt_at, source, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'message', ?5, 'sent', ?6, 'api', ?6, ?6)",
      ).bind(`seed${i}`, META_PN, number, contact, JSON.stringify({ type: "template" }), now - 1000));
    }
    await w.db.batch(stmts);
    const [limited, json] = await w.send("/v1/messages", tpl("16505559999"));
    assert.equal(limited, 429);
    assert.equal(json.error.code, "messaging_limit_reached");
    assert.match(json.error.message, /250/);
    // Someone already counted today can still be messaged.
    assert.equal((await w.send("/v1/messages", tpl("447700900000")))[0], 202);
    // A higher tier lifts it.
    await w.send(`/v1/channels/${META_PN}`, { tier: "1k" }, {}, "PATCH");
    assert.equal((await w.send("/v1/messages", tpl("16505559999")))[0], 202);
    // A test number only reaches its listed recipients.
    await w.send(`/v1/channels/${META_PN}`, { test_number: true, test_recipients: ["+1 650 555 0000"] }, {}, "PATCH");
    const [testStatus, testJson] = await w.send("/v1/messages", tpl("16505559998"));
    assert.equal(testStatus, 403);
    assert.equal(testJson.error.code, "recipient_not_allowed");
    assert.equal((await w.send("/v1/messages", tpl("16505550000")))[0], 202);
  });
});

describe("media", () => {
  const graph = new FakeGraph();
  const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
  let w;
  before(async () => (w = await startWorker({ outboundService: graph.handler, r2Buckets: ["MEDIA"] })));
  after(() => w.close());
  beforeEach(() => graph.reset());

  const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  // A customer's document naming media `id`, received on `pn`.
  let docs = 0;
  const received = async (id, pn = "106540352242922") => {
    const v = JSON.parse(fixture("document"));
    const value = v.entry[0].changes[0].value;
    value.metadata.phone_number_id = pn;
    Object.assign(value.messages[0], { id: `wamid.media.${++docs}`, document: { ...value.messages[0].document, id } });
    const res = await w.post(Buffer.from(JSON.stringify(v)));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  };
  const keptInR2 = async (id) => (await w.mf.getR2Bucket("MEDIA")).head(`media/${id}`);

  it("streams inbound media from Graph and keeps it in R2", async () => {
    await received("1003383421387256");
    graph.on("GET", /\/v23\.0\/1003383421387256/, (r) => {
      assert.equal(r.query.phone_number_id, "106540352242922");
      return { body: { url: "http://media.test/file?sig=1", mime_type: "image/jpeg", file_size: bytes.length, id: "1003383421387256" } };
    });
    graph.on("GET", /media\.test/, (r) => {
      assert.equal(r.headers.authorization, "Bearer e2e-access-token");
      return new Response(bytes, { headers: { "Content-Type": "image/jpeg" } });
    });
    const res = await w.fetch("/v1/media/1003383421387256", { headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/jpeg");
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    // Served from R2 the second time, with Graph down.
    graph.reset();
    graph.on("GET", /.*/, () => ({ status: 500, body: {} }));
    const again = await w.fetch("/v1/media/1003383421387256", { headers: auth });
    assert.equal(again.status, 200);
    assert.deepEqual(Buffer.from(await again.arrayBuffer()), bytes);
  });

  it("streams media whose size Graph gives past any WhatsApp carries without keeping it, and goes on serving", async () => {
    const id = "1003383421387299";
    await received(id);
    // 2^53: past what a runtime's stream length can be, and past 100 MB.
    graph.on("GET", new RegExp(`/v23\\.0/${id}`), () =>
      ({ body: { url: `http://media.test/${id}`, mime_type: "image/jpeg", file_size: 9007199254740992, id } }));
    // Chunked: no Content-Length, so Graph's size is all there is.
    const chunked = () => new Response(new ReadableStream({ start(c) { c.enqueue(bytes); c.close(); } }), { headers: { "Content-Type": "image/jpeg" } });
    graph.on("GET", new RegExp(`media\\.test/${id}`), chunked);
    for (let i = 0; i < 2; i++) {
      const res = await w.fetch(`/v1/media/${id}`, { headers: auth });
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
      assert.equal(await keptInR2(id), null, "not kept under a length it does not have");
    }
    assert.equal((await w.fetch("/webhook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")).status, 403);
  });

  it("serves a document a customer sent as an attachment that runs nothing, whatever its type says", async () => {
    const hostile = "<script>alert(document.cookie)</script>";
    for (const [id, mime] of [["2000000000000001", "text/html"], ["2000000000000002", "image/svg+xml"], ["2000000000000003", "text/javascript"]]) {
      await received(id);
      graph.on("GET", new RegExp(`/v23\\.0/${id}`), () =>
        ({ body: { url: `http://media.test/${id}`, mime_type: mime, file_size: hostile.length, id } }));
      graph.on("GET", new RegExp(`media\\.test/${id}`), () =>
        new Response(hostile, { headers: { "Content-Type": mime } }));
      const res = await w.fetch(`/v1/media/${id}`, { headers: auth });
      assert.equal(res.status, 200, mime);
      assert.equal(res.headers.get("content-type"), "application/octet-stream", mime);
      assert.equal(res.headers.get("content-disposition"), "attachment", mime);
      assert.match(res.headers.get("content-security-policy"), /sandbox/, mime);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      await res.arrayBuffer();
      // Kept in R2 and served from there the same way.
      const again = await w.fetch(`/v1/media/${id}`, { headers: auth });
      assert.equal(again.headers.get("content-type"), "application/octet-stream");
      assert.match(again.headers.get("content-security-policy"), /sandbox/);
      await again.arrayBuffer();
    }
  });

  it("serves only media a stored message names, through that message's channel", async () => {
    graph.on("GET", /.*/, () => ({ body: { url: "http://media.test/any", mime_type: "image/jpeg", file_size: 3, id: "x" } }));
    // An id no stored message names: 404 before Graph is asked or R2 written.
    for (const path of ["/v1/media/3000000000000001", "/v1/media/3000000000000001?channel=106540352242922"]) {
      const res = await w.fetch(path, { headers: auth });
      assert.equal(res.status, 404, path);
      assert.equal((await res.json()).error.code, "not_found");
    }
    assert.equal(graph.requests.length, 0);
    assert.equal(await keptInR2("3000000000000001"), null);
    // Named by a message on one channel: another channel cannot be asked for it.
    await received("3000000000000002");
    const other = await w.fetch("/v1/media/3000000000000002?channel=200000000000009", { headers: auth });
    assert.equal(other.status, 404);
    await other.arrayBuffer();
    assert.equal(graph.requests.length, 0);
    assert.equal(await keptInR2("3000000000000002"), null);
    graph.reset();
    graph.on("GET", /\/v23\.0\/3000000000000002/, (r) => {
      assert.equal(r.query.phone_number_id, "106540352242922");
      return { body: { url: "http://media.test/named", mime_type: "image/jpeg", file_size: 3, id: "3000000000000002" } };
    });
    graph.on("GET", /media\.test\/named/, () => new Response("abc", { headers: { "Content-Type": "image/jpeg" } }));
    const named = await w.fetch("/v1/media/3000000000000002?channel=106540352242922", { headers: auth });
    assert.equal(named.status, 200);
    assert.equal(await named.text(), "abc");
    assert.notEqual(await keptInR2("3000000000000002"), null);
  });

  it("fetches media through a channel naming it that has a credential, whichever came first", async () => {
    // 200000000000077 is no channel of this worker: no credential to fetch with.
    const stranger = "200000000000077";
    for (const [id, order] of [["6000000000000001", [stranger, "106540352242922"]], ["6000000000000002", ["106540352242922", stranger]]]) {
      for (const pn of order) await received(id, pn);
      graph.on("GET", new RegExp(`/v23\\.0/${id}`), (r) => {
        assert.equal(r.query.phone_number_id, "106540352242922");
        return { body: { url: `http://media.test/${id}`, mime_type: "image/jpeg", file_size: 3, id } };
      });
      graph.on("GET", new RegExp(`media\\.test/${id}`), () => new Response("abc", { headers: { "Content-Type": "image/jpeg" } }));
      const res = await w.fetch(`/v1/media/${id}`, { headers: auth });
      assert.equal(res.status, 200, id);
      assert.equal(await res.text(), "abc");
    }
    const only = await w.fetch(`/v1/media/6000000000000001?channel=${stranger}`, { headers: auth });
    assert.equal(only.status, 200, "kept in R2 now, whichever channel is asked for among those naming it");
    await only.arrayBuffer();
  });

  it("serves media sent before outbound rows recorded it, in the message or its header, once migrated", async () => {
    // As the release before 0011 wrote them: outbound rows without media_id.
    const sent = [
      ["out_h0", "image", { type: "image", image: { id: "5000000000000000" } }],
      ["out_h0b", "image", { type: "image", image: { link: "https://example.com/a.jpg" } }],
      ["out_h1", "interactive", { type: "interactive", interactive: { type: "button", header: { type: "document", document: { id: "5000000000000001" } }, body: { text: "Invoice" } } }],
      ["out_h2", "template", { type: "template", template: { name: "t", language: { code: "en" }, components: [
        { type: "body", parameters: [{ type: "text", text: "A" }] }, "odd",
        { type: "header", parameters: ["odd", { type: "image", image: { id: "5000000000000002" } }] }] } }],
      ["out_h3", "template", "not json"],
    ];
    for (const [id, type, raw] of sent) {
      await w.db.prepare("INSERT INTO messages (id, direction, phone_number_id, contact_id, wa_id, type, timestamp, raw, received_at) VALUES (?1, 'out', '106540352242922', 'ct_0123456789abcdef01234567', '16505551234', ?2, 1, ?3, 1)")
        .bind(id, type, typeof raw === "string" ? raw : JSON.stringify(raw)).run();
    }
    const res = await w.fetch("/v1/media/5000000000000001", { headers: auth });
    assert.equal(res.status, 404, "not named before the migration");
    await res.arrayBuffer();
    await w.db.batch(migrationStatements((f) => f >= "0011").map((sql) => w.db.prepare(sql)));
    const ids = (await w.db.prepare("SELECT id, media_id FROM messages WHERE id LIKE 'out_h%' ORDER BY id").all()).results;
    assert.deepEqual(ids.map((r) => [r.id, r.media_id]), [
      ["out_h0", "5000000000000000"], ["out_h0b", null],
      ["out_h1", "5000000000000001"], ["out_h2", "5000000000000002"], ["out_h3", null],
    ]);
    graph.on("GET", /\/v23\.0\/5000000000000001/, () => ({ body: { url: "http://media.test/h1", mime_type: "application/pdf", file_size: 3, id: "5000000000000001" } }));
    graph.on("GET", /media\.test\/h1/, () => new Response("pdf", { headers: { "Content-Type": "application/pdf" } }));
    const served = await w.fetch("/v1/media/5000000000000001", { headers: auth });
    assert.equal(served.status, 200);
    assert.equal(await served.text(), "pdf");
  });

  it("refuses uploads over WhatsApp's size limit or of an unsupported type, and uploads the rest", async () => {
    const post = (body, type) => w.fetch("/v1/media?filename=s.webp", {
      method: "POST", headers: { ...auth, "Content-Type": type }, body,
    });
    const big = await post(Buffer.alloc(100 * 1024 + 1), "image/webp");
    assert.equal(big.status, 413);
    assert.match((await big.json()).error.message, /sticker media is limited to 102400 bytes/);
    const odd = await post(Buffer.alloc(10), "application/x-msdownload");
    assert.equal(odd.status, 415);
    await odd.arrayBuffer();
    assert.equal(graph.requests.length, 0);
    graph.on("POST", /\/media$/, () => ({ body: { id: "media-42" } }));
    const ok = await post(bytes.subarray(0, 5000), "image/webp");
    assert.equal(ok.status, 201);
    assert.deepEqual(await ok.json(), { id: "media-42", type: "sticker", mime_type: "image/webp", size: 5000 });
    const r = graph.requests[0];
    assert.equal(r.path, "/v23.0/106540352242922/media");
    assert.match(r.headers["content-type"], /^multipart\/form-data; boundary=/);
    assert.ok(r.raw.includes(bytes.subarray(0, 5000)), "file bytes sent");
    assert.ok(r.raw.toString("latin1").includes('name="messaging_product"\r\n\r\nwhatsapp'));
  });
});
