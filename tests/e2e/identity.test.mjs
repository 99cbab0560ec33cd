// Customers known by a BSUID, with or without a phone number; coexistence
// echoes and history; calls and groups; and the migration to contacts as
// people, in workerd against a fake Graph API.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join, dirname } from "node:path";
import { fixture, FakeGraph, eventually, useWorker, migrationStatements } from "./helpers.mjs";

const PNID = "106540352242922";
const PHONE = "16505551234";
const BSUID = "US.13491208655302741918";
let seq = 0;

/** A text from a customer named by `from` (phone), `user` (BSUID), or both;
 * `waba`/`pnid` put it under another business account and number. */
function text(body, { from, user, username, waba, pnid, ts = Math.floor(Date.now() / 1000) } = {}) {
  const v = JSON.parse(fixture("text"));
  if (waba) v.entry[0].id = waba;
  const value = v.entry[0].changes[0].value;
  if (pnid) value.metadata.phone_number_id = pnid;
  const contact = { profile: { name: "Sheena Nelson", ...(username ? { username } : {}) } };
  if (from) contact.wa_id = from;
  if (user) contact.user_id = user;
  value.contacts = [contact];
  const m = { id: `wamid.identity.${++seq}`, timestamp: String(ts), type: "text", text: { body } };
  if (from) m.from = from;
  if (user) m.from_user_id = user;
  value.messages = [m];
  return { body: Buffer.from(JSON.stringify(v)), id: m.id };
}

async function post(w, body) {
  const res = await w.post(body);
  assert.equal(res.status, 200, await res.text());
}

const hoursRule = { priority: 1, match: { keyword: "hours" }, reply: { type: "text", text: { body: "9-17" } } };

describe("customers known by a BSUID", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph }, (x) => (w = x));
  const sent = () => graph.requests.filter((r) => r.body?.type === "text");

  it("answers a BSUID-only customer with recipient, and their later phone joins one history", async () => {
    assert.equal((await w.send("/v1/rules", hoursRule))[0], 201);
    const first = text("hours", { user: BSUID, username: "@realsheenanelson" });
    await post(w, first.body);
    await eventually(() => sent().length === 1);
    assert.equal(sent()[0].body.recipient, BSUID);
    assert.equal(sent()[0].body.to, undefined);

    const [, m] = await w.api(`/v1/messages/${first.id}`);
    assert.equal(m.from, null);
    assert.equal(m.from_user_id, BSUID);
    assert.equal(m.username, "@realsheenanelson");
    const [, c] = await w.api(`/v1/contacts/${BSUID}`);
    assert.match(c.id, /^ct_[0-9a-f]{24}$/);
    assert.equal(c.wa_id, null);
    assert.equal(c.username, "@realsheenanelson");

    // Later the same person writes with their number too: linked, one history.
    const second = text("thanks", { from: PHONE, user: BSUID });
    await post(w, second.body);
    const [, byPhone] = await w.api(`/v1/contacts/+1 650 555 1234`);
    assert.equal(byPhone.id, c.id);
    assert.equal(byPhone.wa_id, PHONE);
    assert.equal(byPhone.user_id, BSUID);
    const [, history] = await w.api(`/v1/contacts/${c.id}/messages`);
    const ids = history.data.map((x) => x.id);
    assert.ok(ids.includes(first.id) && ids.includes(second.id), JSON.stringify(ids));
    assert.ok(history.data.every((x) => x.contact_id === c.id));
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM contacts").first()).n, 1);
  });

  it("links a phone-only contact to the BSUID it later shows, and finds it by either", async () => {
    await post(w, text("hello", { from: PHONE }).body);
    const [, before] = await w.api(`/v1/contacts/${PHONE}`);
    await post(w, text("again", { from: PHONE, user: BSUID }).body);
    await post(w, text("now without a number", { user: BSUID }).body);
    const [, after] = await w.api(`/v1/contacts/${BSUID}`);
    assert.equal(after.id, before.id);
    const [, msgs] = await w.api(`/v1/contacts/${PHONE}/messages`);
    assert.equal(msgs.data.length, 3);
  });

  it("keeps a recycled number's new owner apart and records the conflict", async () => {
    await post(w, text("hi", { from: PHONE, user: BSUID }).body);
    await post(w, text("hi, new owner of this number", { from: PHONE, user: "US.555" }).body);
    const contacts = (await w.db.prepare("SELECT id, wa_id, user_id FROM contacts ORDER BY user_id").all()).results;
    assert.equal(contacts.length, 2, JSON.stringify(contacts));
    assert.deepEqual(contacts.map((c) => [c.wa_id, c.user_id]), [[PHONE, BSUID], [null, "US.555"]]);
    const [, events] = await w.api("/v1/events?kind=identity_conflict");
    assert.equal(events.data.length, 1);
    assert.deepEqual(
      [events.data[0].summary.wa_id_contact, events.data[0].summary.user_id_contact],
      [contacts[0].id, null],
    );
  });

  it("sends to a BSUID, to a contact id, and keeps the window and STOP for BSUID-only contacts", async () => {
    const outside = await w.send("/v1/messages", { to: BSUID, type: "text", text: { body: "x" } });
    assert.equal(outside[0], 409, "no window with someone who never wrote");
    assert.equal(outside[1].error.code, "outside_window");
    await post(w, text("hello", { user: BSUID }).body);
    const [, c] = await w.api(`/v1/contacts/${BSUID}`);
    const [s1, r1] = await w.send("/v1/messages", { contact: c.id, type: "text", text: { body: "by id" } });
    assert.equal(s1, 202, JSON.stringify(r1));
    const [s2] = await w.send("/v1/messages", { recipient: BSUID, type: "text", text: { body: "by bsuid" } });
    assert.equal(s2, 202);
    await eventually(() => sent().length === 2);
    assert.ok(sent().every((r) => r.body.recipient === BSUID && r.body.to === undefined));
    const [, outbound] = await w.api(`/v1/messages/${r1.id}`);
    assert.equal(outbound.contact_id, c.id);
    assert.equal(outbound.to_user_id, BSUID);
    // A status naming only the BSUID attaches to the message.
    const row = await w.outbox(r1.id);
    const status = JSON.parse(fixture("status_recipient_user_id"));
    Object.assign(status.entry[0].changes[0].value.statuses[0], { id: row.wamid, timestamp: String(Math.floor(Date.now() / 1000)) });
    await post(w, Buffer.from(JSON.stringify(status)));
    const [, delivered] = await w.api(`/v1/messages/${r1.id}`);
    assert.equal(delivered.status, "delivered");
    assert.equal(delivered.statuses.at(-1).recipient_user_id, BSUID);

    await post(w, text("STOP", { user: BSUID }).body);
    const [s3, r3] = await w.send("/v1/messages", { to: BSUID, type: "text", text: { body: "after stop" } });
    assert.equal(s3, 409);
    assert.equal(r3.error.code, "opted_out");
    const [s4, r4] = await w.send("/v1/messages", { contact: "ct_000000000000000000000000", type: "text", text: { body: "x" } });
    assert.equal(s4, 404);
    assert.equal(r4.error.code, "unknown_contact");
  });

  it("moves a contact to its new number and BSUID when Meta says they changed", async () => {
    await post(w, text("hello", { from: PHONE }).body);
    const [, before] = await w.api(`/v1/contacts/${PHONE}`);
    await post(w, Buffer.from(fixture("user_changed_number")));
    const [, after] = await w.api("/v1/contacts/12195555358");
    assert.equal(after.id, before.id);
    assert.equal(after.user_id, "US.24680135792468013579");
    assert.equal((await w.api(`/v1/contacts/${PHONE}`))[0], 404, "the old number is free");
    await post(w, Buffer.from(fixture("user_changed_user_id")));
    // Meta's notice names the old BSUID as its sender; a contact without it is unchanged.
    await post(w, Buffer.from(fixture("user_changed_number")));
    const [, again] = await w.api(`/v1/contacts/${before.id}`);
    assert.equal(again.wa_id, "12195555358", "a redelivered notice changes nothing");
    const [, msgs] = await w.api(`/v1/contacts/${before.id}/messages`);
    assert.equal(msgs.data.length, 3, "history kept, and the notices in it");
  });
});

describe("one person, several businesses and several deliveries", () => {
  let w;
  useWorker({}, (x) => (w = x));

  it("links another business's BSUID of the same number to the same person, opt-outs included", async () => {
    await post(w, text("hi A", { from: PHONE, user: BSUID }).body);
    // The same customer writes to a number of another business portfolio:
    // Meta gives them another BSUID there.
    await post(w, text("hi B", { from: PHONE, user: "US.2222222", waba: "999000111", pnid: "pnB" }).body);
    await post(w, text("STOP", { user: "US.2222222", waba: "999000111", pnid: "pnB" }).body);
    const [, a] = await w.api(`/v1/contacts/${PHONE}`);
    const [, b] = await w.api("/v1/contacts/US.2222222");
    assert.equal(a.id, b.id, "one person");
    assert.deepEqual(b.opted_out_channels, ["pnB"], "the STOP on B is theirs");
    assert.equal((await w.api("/v1/events?kind=identity_conflict"))[1].data.length, 0);
    const ids = (await w.db.prepare("SELECT user_id, scope FROM contact_user_ids ORDER BY user_id").all()).results;
    assert.deepEqual(ids, [{ user_id: "US.13491208655302741918", scope: "102290129340398" }, { user_id: "US.2222222", scope: "999000111" }]);
  });

  it("merges a number-only and a BSUID-only contact when a message shows them together", async () => {
    const byPhone = text("first, by number", { from: PHONE });
    const byUser = text("then by username", { user: BSUID });
    await post(w, byPhone.body);
    await post(w, byUser.body);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM contacts").first()).n, 2);
    await post(w, text("now both", { from: PHONE, user: BSUID }).body);
    const [, c] = await w.api(`/v1/contacts/${BSUID}`);
    assert.equal(c.wa_id, PHONE);
    const [, history] = await w.api(`/v1/contacts/${c.id}/messages`);
    assert.equal(history.data.length, 3, "one history");
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM contacts").first()).n, 1);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM windows").first()).n, 1);
    const [, merged] = await w.api("/v1/events?kind=contacts_merged");
    assert.equal(merged.data.length, 1);
    assert.equal(merged.data[0].summary.kept, c.id);
    // The same three in one delivery give the same result.
    await w.reset();
    const all = JSON.parse(byPhone.body.toString());
    const value = all.entry[0].changes[0].value;
    for (const t of [byUser, text("now both", { from: PHONE, user: BSUID })]) {
      const v = JSON.parse(t.body.toString()).entry[0].changes[0].value;
      value.messages.push(...v.messages);
      value.contacts.push(...v.contacts);
    }
    await post(w, Buffer.from(JSON.stringify(all)));
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM contacts").first()).n, 1);
    assert.equal((await w.api("/v1/events?kind=identity_conflict"))[1].data.length, 0);
  });

  it("survives two number-change notices to one new number in one delivery", async () => {
    await post(w, text("a", { from: "16505550001" }).body);
    await post(w, text("b", { from: "16505550002" }).body);
    const v = JSON.parse(fixture("user_changed_number"));
    const m = v.entry[0].changes[0].value.messages[0];
    const second = { ...m, id: `${m.id}.2`, from: "16505550002", system: { ...m.system, user_id: "US.99" } };
    v.entry[0].changes[0].value.messages = [{ ...m, from: "16505550001" }, second];
    await post(w, Buffer.from(JSON.stringify(v)));
    const holders = (await w.db.prepare("SELECT count(*) AS n FROM contacts WHERE wa_id = '12195555358'").first()).n;
    assert.equal(holders, 1, "one of them took it, no one else");
  });
});

describe("erasing a contact known by a BSUID", () => {
  let w;
  useWorker({}, (x) => (w = x));

  it("removes everything under its BSUID and number, and a redelivery does not bring it back", async () => {
    const first = text("hello", { from: PHONE, user: BSUID });
    const later = text("only my username now", { user: BSUID });
    await post(w, first.body);
    await post(w, later.body);
    await post(w, Buffer.from(fixture("status_recipient_user_id")));
    await post(w, Buffer.from(fixture("call_terminate")));
    const other = text("someone else", { from: "447700900123", user: "US.424242" });
    await post(w, other.body);
    const [, c] = await w.api(`/v1/contacts/${BSUID}`);
    const res = await w.fetch(`/v1/contacts/${BSUID}`, {
      method: "DELETE", headers: { Authorization: "Bearer e2e-admin-token" },
    });
    assert.equal(res.status, 204);
    for (const [table, where, arg] of [
      ["messages", "contact_id = ?1", c.id], ["contacts", "id = ?1", c.id], ["windows", "contact_id = ?1", c.id],
      ["statuses", "recipient_user_id = ?1", BSUID], ["events", "instr(raw, ?1) > 0", BSUID],
      ["events", "instr(raw, ?1) > 0", PHONE], ["event_contacts", "identifier = ?1", BSUID],
    ]) {
      const n = (await w.db.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).bind(arg).first()).n;
      assert.equal(n, 0, `${table} still names them`);
    }
    const keys = (await w.db.prepare("SELECT key FROM erased").all()).results.map((r) => r.key);
    assert.equal(keys.length, 2, "one tombstone per identifier");
    assert.ok(!JSON.stringify(keys).includes(BSUID) && !JSON.stringify(keys).includes(PHONE));
    // Meta redelivers: nothing comes back, by number or by BSUID alone.
    await post(w, first.body);
    await post(w, later.body);
    await post(w, Buffer.from(fixture("call_terminate")));
    assert.equal((await w.api(`/v1/contacts/${BSUID}`))[0], 404);
    assert.equal((await w.api(`/v1/contacts/${PHONE}`))[0], 404);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM messages").first()).n, 1, "the other customer stays");
    assert.equal((await w.api("/v1/contacts/447700900123"))[0], 200);
  });

  it("also tombstones a number the contact changed from", async () => {
    const old = text("from my old number", { from: PHONE });
    await post(w, old.body);
    await post(w, Buffer.from(fixture("user_changed_number")));
    const res = await w.fetch("/v1/contacts/12195555358", {
      method: "DELETE", headers: { Authorization: "Bearer e2e-admin-token" },
    });
    assert.equal(res.status, 204);
    await post(w, old.body);
    assert.equal((await w.api(`/v1/contacts/${PHONE}`))[0], 404, "the old number's message does not come back");
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM messages").first()).n, 0);
  });
});

describe("coexistence: echoes and history", () => {
  const graph = new FakeGraph();
  let w;
  useWorker({ graph }, (x) => (w = x));

  it("stores echoes and history in the conversation and triggers nothing", async () => {
    const anyRule = { priority: 1, match: { any: true }, reply: { type: "text", text: { body: "auto" } } };
    assert.equal((await w.send("/v1/rules", anyRule))[0], 201);
    for (const name of ["echo_text", "echo_edit", "echo_revoke", "history_phase", "history_media"]) {
      await post(w, Buffer.from(fixture(name)));
    }
    const [, c] = await w.api(`/v1/contacts/${PHONE}`);
    assert.equal(c.user_id, BSUID);
    assert.equal(c.last_seen > 0, true, "the backfill's customer messages count as seen");
    const [, msgs] = await w.api(`/v1/contacts/${PHONE}/messages?limit=50`);
    const origins = msgs.data.map((m) => `${m.origin}:${m.direction}`).sort();
    assert.deepEqual(origins, ["echo:out", "echo:out", "echo:out", "history:in", "history:out"]);
    const image = msgs.data.find((m) => m.type === "image");
    assert.equal(image.image.id, "24230790383178626", "the media webhook filled the history image in");
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM windows").first()).n, 0);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM outbox").first()).n, 0, "no rule answered");
    // Redeliveries change nothing.
    const before = await w.snapshot();
    for (const name of ["echo_text", "history_phase", "history_media"]) await post(w, Buffer.from(fixture(name)));
    assert.deepEqual(await w.snapshot(), before);
    const [, progress] = await w.api("/v1/events?kind=history");
    assert.equal(progress.data[0].summary.progress, 55);
  });

  it("keeps the name the business saved in the WhatsApp Business app", async () => {
    await post(w, Buffer.from(fixture("smb_app_state_sync")));
    const [, c] = await w.api("/v1/contacts/16505551299");
    assert.equal(c.saved_name, "Pablo Morales");
    assert.equal(c.last_seen, null, "a saved name is not the customer writing");
  });
});

describe("every 2026 shape", () => {
  let w;
  useWorker({}, (x) => (w = x));
  const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures");
  const names = readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));

  it("stores every fixture and shows each item through the API", async () => {
    for (const name of names) {
      await post(w, Buffer.from(fixture(name)));
      const value = JSON.parse(fixture(name)).entry?.[0]?.changes?.[0]?.value ?? {};
      for (const m of [...(value.messages ?? []), ...(value.message_echoes ?? [])]) {
        const [status, shown] = await w.api(`/v1/messages/${encodeURIComponent(m.id)}`);
        if (status === 200) assert.equal(shown.id, m.id, name);
        else assert.ok(value.messages?.length > 1 || name.startsWith("malformed") || name === "no_from_message", `${name}: ${m.id} ${status}`);
      }
    }
    const kinds = new Set((await w.db.prepare("SELECT DISTINCT kind FROM events").all()).results.map((r) => r.kind));
    for (const k of ["calls", "history", "smb_app_state_sync", "group_lifecycle_update", "group_participants_update",
      "template_category_update", "account_alerts", "security", "metadata_missing"]) {
      assert.ok(kinds.has(k), `${k} not stored: ${[...kinds]}`);
    }
    const [, calls] = await w.api("/v1/events?kind=calls");
    assert.ok(calls.data.some((e) => e.summary.event === "terminate" && e.summary.duration === 120));
    const [, group] = await w.api(`/v1/messages/${encodeURIComponent(JSON.parse(fixture("group_message")).entry[0].changes[0].value.messages[0].id)}`);
    assert.match(group.group_id, /^Y2Fw/);
  });
});

describe("migrating contacts to people", () => {
  let w;
  useWorker({ migrations: (f) => f < "0005", reset: false }, (x) => (w = x));

  it("gives every contact an id and keeps its messages, window, opt-out and outbox rows", async () => {
    const t = 1_700_000_000;
    await w.db.batch([
      w.db.prepare("INSERT INTO contacts (wa_id, profile_name, phone_number_id, first_seen, last_seen, updated_at, last_wa_id) VALUES ('5511987654321', 'Ana', ?1, ?2, ?2, ?2, '551187654321')").bind(PNID, t),
      w.db.prepare("INSERT INTO messages (id, wamid, direction, phone_number_id, wa_id, type, timestamp, text, raw, received_at) VALUES ('wamid.old', 'wamid.old', 'in', ?1, '5511987654321', 'text', ?2, 'olá', '{}', ?2)").bind(PNID, t),
      w.db.prepare("INSERT INTO messages (id, direction, phone_number_id, wa_id, type, timestamp, raw, received_at) VALUES ('out_old', 'out', ?1, '447700900123', 'text', ?2, '{}', ?2)").bind(PNID, t),
      w.db.prepare("INSERT INTO windows (wa_id, phone_number_id, last_inbound_at, updated_at) VALUES ('5511987654321', ?1, ?2, ?2)").bind(PNID, t),
      w.db.prepare("INSERT INTO opt_outs (phone_number_id, wa_id, opted_out, changed_at, updated_at) VALUES (?1, '5511987654321', 1, ?2, ?2)").bind(PNID, t),
      w.db.prepare("INSERT INTO outbox (id, phone_number_id, wa_id, payload, state, next_attempt_at, source, created_at, updated_at) VALUES ('out_old', ?1, '447700900123', '{}', 'sent', 1, 'api', 1, 1)").bind(PNID),
      w.db.prepare("INSERT INTO event_contacts (wa_id, event_id) VALUES ('5511987654321', 'ev1')"),
    ]);
    await w.db.batch(migrationStatements((f) => f >= "0005").map((sql) => w.db.prepare(sql)));

    const [status, c] = await w.api("/v1/contacts/+55 11 98765-4321");
    assert.equal(status, 200);
    assert.match(c.id, /^ct_[0-9a-f]{24}$/);
    assert.equal(c.profile_name, "Ana");
    assert.deepEqual(c.opted_out_channels, [PNID]);
    const [, msgs] = await w.api(`/v1/contacts/${c.id}/messages`);
    assert.deepEqual(msgs.data.map((m) => [m.id, m.contact_id, m.from]), [["wamid.old", c.id, "5511987654321"]]);
    // A number known only from a send became a contact, and its outbox row names it.
    const [, other] = await w.api("/v1/contacts/447700900123");
    assert.equal(other.last_seen, null);
    const row = await w.outbox("out_old");
    assert.equal(row.contact_id, other.id);
    assert.equal(row.recipient, "447700900123");
    const win = await w.db.prepare("SELECT contact_id FROM windows").first();
    assert.equal(win.contact_id, c.id);
    const named = await w.db.prepare("SELECT identifier FROM event_contacts").first();
    assert.equal(named.identifier, "5511987654321");
  });
});
