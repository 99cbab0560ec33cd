// The console's server side in workerd: sign-in and sessions (cookie, CSRF,
// expiry, sliding, rotation, the sign-in limit), the security headers, the
// inbox and read marks, and the rules' "try it".
import { describe, it, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { useWorker, fixture, ADMIN_TOKEN, startWorker, migrationStatements } from "./helpers.mjs";

const CHANNEL = "106540352242922";

/** A text message from `from` (named `name`) now, with id `wamid.<n>`. */
function text(n, { from = "16505551234", name = "Sheena Nelson", body = `message ${n}`, ts } = {}) {
  const v = JSON.parse(fixture("text"));
  const value = v.entry[0].changes[0].value;
  value.contacts[0].wa_id = from;
  value.contacts[0].profile.name = name;
  const timestamp = String(ts ?? Math.floor(Date.now() / 1000));
  Object.assign(value.messages[0], { id: `wamid.${n}`, timestamp, from, text: { body } });
  return Buffer.from(JSON.stringify(v));
}

async function signIn(w, token = ADMIN_TOKEN, ip = "198.51.100.7") {
  const res = await w.fetch("/v1/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip },
    body: JSON.stringify({ token }),
  });
  const body = await res.json();
  const setCookie = res.headers.get("Set-Cookie");
  const cookie = setCookie ? setCookie.split(";")[0] : null;
  return { status: res.status, body, setCookie, cookie, res };
}

/** A request made the way the console makes it: cookie, CSRF when given. */
async function asConsole(w, path, { cookie, csrf, method = "GET", body } = {}) {
  const headers = { Cookie: cookie };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await w.fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const textBody = await res.text();
  return [res.status, textBody ? JSON.parse(textBody) : null, res];
}

const RULE = { priority: 1, match: { keyword: "price" }, reply: { type: "text", text: { body: "9 EUR" } } };

describe("console sessions", () => {
  let w;
  useWorker({}, (x) => (w = x));

  it("signs in with the admin token: an HttpOnly, Secure, SameSite=Strict host cookie and a CSRF token", async () => {
    const s = await signIn(w);
    assert.equal(s.status, 201);
    assert.match(s.setCookie, /^__Host-wa_session=[0-9a-f]{64}; /);
    for (const part of ["Path=/", "HttpOnly", "Secure", "SameSite=Strict"]) {
      assert.ok(s.setCookie.split("; ").includes(part), part);
    }
    assert.match(s.body.csrf_token, /^[0-9a-f]{64}$/);
    assert.ok(s.body.expires_at > Date.now() + 11 * 3600e3);
    // Only the secret's hash is stored; neither the secret nor the token.
    const secret = s.cookie.split("=")[1];
    const rows = (await w.db.prepare("SELECT * FROM sessions").all()).results;
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(secret));
    assert.ok(!JSON.stringify(rows).includes(ADMIN_TOKEN));
    assert.ok(!w.logs.join("").includes(secret));
    // The session reads the API and tells the page its CSRF token.
    const [status, session] = await asConsole(w, "/v1/session", { cookie: s.cookie });
    assert.equal(status, 200);
    assert.equal(session.csrf_token, s.body.csrf_token);
    const [listed] = await asConsole(w, "/v1/conversations", { cookie: s.cookie });
    assert.equal(listed, 200);
  });

  it("refuses a wrong token, a non-JSON body and a malformed one, and stores no session", async () => {
    const wrong = await signIn(w, "not-the-token");
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.field, "token");
    assert.equal(wrong.setCookie, null);
    const form = await w.fetch("/v1/session", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: `token=${ADMIN_TOKEN}`,
    });
    assert.equal(form.status, 415);
    await form.arrayBuffer();
    for (const body of ["", "[]", "{}", '{"token": 1}', '{"token": "x", "extra": 1}', "{".repeat(9000)]) {
      const res = await w.fetch("/v1/session", { method: "POST", headers: { "Content-Type": "application/json" }, body });
      assert.ok([400, 413].includes(res.status), `${body.slice(0, 20)} → ${res.status}`);
      await res.arrayBuffer();
    }
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM sessions").first()).n, 0);
  });

  it("refuses, after 10 failed sign-ins from one address, even the right token from it, but not from another", async () => {
    for (let i = 0; i < 10; i++) assert.equal((await signIn(w, `guess-${i}`, "203.0.113.5")).status, 401);
    const limited = await signIn(w, ADMIN_TOKEN, "203.0.113.5");
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, "too_many_attempts");
    assert.ok(Number(limited.res.headers.get("Retry-After")) > 0);
    assert.equal(limited.setCookie, null);
    assert.equal((await signIn(w, ADMIN_TOKEN, "203.0.113.6")).status, 201);
    // A successful sign-in does not count against its address.
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM sign_in_failures WHERE ip = '203.0.113.6'").first()).n, 0);
    // The address is not written to the log.
    assert.ok(!w.logs.join("").includes("203.0.113.5"));
  });

  it("lets no more than 10 parallel guesses from one address through, and counts an IPv6 /64 as one", async () => {
    const guesses = await Promise.all(Array.from({ length: 25 }, (_, i) => signIn(w, `guess-${i}`, "203.0.113.8")));
    const statuses = guesses.map((g) => g.status);
    assert.equal(statuses.filter((s) => s === 401).length, 10, statuses.join(","));
    assert.equal(statuses.filter((s) => s === 429).length, 15);
    for (let i = 0; i < 10; i++) await signIn(w, `guess-${i}`, `2001:db8:7:7::${i + 1}`);
    assert.equal((await signIn(w, ADMIN_TOKEN, "2001:db8:7:7:ffff::1")).status, 429);
    assert.equal((await signIn(w, ADMIN_TOKEN, "2001:db8:7:8::1")).status, 201);
  });

  it("answers 401 to every console call without a session, with a forged cookie, or an expired one", async () => {
    const paths = ["/v1/session", "/v1/conversations", "/v1/channels", "/v1/rules", "/v1/events",
      "/v1/contacts", "/v1/destinations", "/v1/keys"];
    const forged = `__Host-wa_session=${randomBytes(32).toString("hex")}`;
    const s = await signIn(w);
    await w.db.prepare("UPDATE sessions SET expires_at = ?1").bind(Date.now() - 1).run();
    for (const cookie of [undefined, forged, "__Host-wa_session=nothex", s.cookie]) {
      for (const path of paths) {
        const res = await w.fetch(path, { headers: cookie ? { Cookie: cookie } : {} });
        assert.equal(res.status, 401, `${path} with ${cookie}`);
        await res.arrayBuffer();
      }
    }
    const [status] = await asConsole(w, "/v1/rules", { cookie: s.cookie, csrf: s.body.csrf_token, method: "POST", body: RULE });
    assert.equal(status, 401);
  });

  it("refuses a change made with the cookie but without the session's CSRF token, and changes nothing", async () => {
    const s = await signIn(w);
    for (const csrf of [undefined, "0".repeat(64), (await signIn(w)).body.csrf_token]) {
      const [status, body] = await asConsole(w, "/v1/rules", { cookie: s.cookie, csrf, method: "POST", body: RULE });
      assert.equal(status, 403, `csrf ${csrf}`);
      assert.equal(body.error.code, "csrf_failed");
    }
    const [, listed] = await asConsole(w, "/v1/rules", { cookie: s.cookie });
    assert.equal(listed.data.length, 0);
    const [made] = await asConsole(w, "/v1/rules", { cookie: s.cookie, csrf: s.body.csrf_token, method: "POST", body: RULE });
    assert.equal(made, 201);
    // Signing out needs it too.
    const [out] = await asConsole(w, "/v1/session/logout", { cookie: s.cookie, method: "POST" });
    assert.equal(out, 403);
  });

  it("keeps the bearer token working beside sessions, with no CSRF token", async () => {
    const [status] = await w.send("/v1/rules", RULE);
    assert.equal(status, 201);
    const [none, body] = await w.api("/v1/session");
    assert.equal(none, 401, "a bearer caller has no session to show");
    assert.equal(body.error.code, "unauthorized");
  });

  it("signs out: the cookie is cleared and refused afterwards", async () => {
    const s = await signIn(w);
    const [status, , res] = await asConsole(w, "/v1/session/logout", { cookie: s.cookie, csrf: s.body.csrf_token, method: "POST" });
    assert.equal(status, 204);
    assert.match(res.headers.get("Set-Cookie"), /^__Host-wa_session=; .*Max-Age=0/);
    assert.equal(res.headers.get("Clear-Site-Data"), '"cache"');
    const [after] = await asConsole(w, "/v1/conversations", { cookie: s.cookie });
    assert.equal(after, 401);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM sessions").first()).n, 0);
  });

  it("slides a used session's expiry forward", async () => {
    const s = await signIn(w);
    const old = Date.now() - 3600e3;
    await w.db.prepare("UPDATE sessions SET last_seen_at = ?1, expires_at = ?2").bind(old, Date.now() + 60e3).run();
    const [status] = await asConsole(w, "/v1/conversations", { cookie: s.cookie });
    assert.equal(status, 200);
    const row = await eventuallyRow(w, (r) => r.expires_at > Date.now() + 11 * 3600e3);
    assert.ok(row.last_seen_at > old);
  });

  it("puts the security headers on the console's pages, its files, the API and errors", async () => {
    for (const path of ["/", "/index.html", "/no-such-file", "/v1/conversations", "/healthz", "/v1/webhook"]) {
      const res = await w.fetch(path);
      await res.arrayBuffer();
      const csp = res.headers.get("Content-Security-Policy");
      assert.ok(csp, `${path} has a CSP`);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(res.headers.get("X-Frame-Options"), "DENY", path);
      assert.equal(res.headers.get("Referrer-Policy"), "no-referrer", path);
      assert.ok(res.headers.get("Cache-Control"), `${path} says how it may be cached`);
    }
    const api = await w.fetch("/v1/conversations", { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    await api.arrayBuffer();
    assert.equal(api.headers.get("Cache-Control"), "no-store");
    const page = await w.fetch("/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("Content-Type"), /text\/html/);
    assert.match(await page.text(), /<html|<!doctype/i);
  });
});

/** The one session row, once `ok(row)` holds. */
async function eventuallyRow(w, ok) {
  for (let i = 0; i < 200; i++) {
    const row = await w.db.prepare("SELECT * FROM sessions").first();
    if (row && ok(row)) return row;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("the session row never changed");
}

describe("console sessions and a rotated admin token", () => {
  it("ends every session when ADMIN_TOKEN changes", async () => {
    const first = await startWorker();
    try {
      const s = await signIn(first);
      assert.equal(s.status, 201);
      await first.setBindings({ ADMIN_TOKEN: "rotated-token" });
      const [status, body] = await asConsole(first, "/v1/conversations", { cookie: s.cookie });
      assert.equal(status, 401);
      assert.match(body.error.message, /admin token has changed/);
      assert.equal((await signIn(first, "rotated-token")).status, 201);
    } finally {
      await first.close();
    }
  });
});

describe("inbox", () => {
  let w;
  let s;
  useWorker({}, (x) => (w = x));
  beforeEach(async () => {
    s = await signIn(w);
  });
  const inbox = async (query = "") => {
    const [status, body] = await asConsole(w, `/v1/conversations${query}`, { cookie: s.cookie });
    assert.equal(status, 200, query);
    return body;
  };

  it("lists conversations by last activity with name, preview, unread count and window", async () => {
    const now = Math.floor(Date.now() / 1000);
    await (await w.post(text(1, { ts: now - 100, body: "first" }))).arrayBuffer();
    await (await w.post(text(2, { ts: now - 90, body: "Hola, ¿envían a Berlín? 🚚" }))).arrayBuffer();
    await (await w.post(text(3, { from: "447700900123", name: "Ana", ts: now - 30 * 3600, body: "old" }))).arrayBuffer();
    const { data, next_cursor } = await inbox();
    assert.equal(next_cursor, null);
    assert.equal(data.length, 2);
    const [sheena, ana] = data;
    assert.equal(sheena.contact.profile_name, "Sheena Nelson");
    assert.equal(sheena.contact.phone, "+16505551234");
    assert.equal(sheena.phone_number_id, CHANNEL);
    assert.equal(sheena.last_message.preview, "Hola, ¿envían a Berlín? 🚚");
    assert.equal(sheena.last_message.direction, "in");
    assert.equal(sheena.unread, 2);
    assert.equal(sheena.window.open, true);
    assert.equal(sheena.window.closes_at, now - 90 + 86400);
    assert.equal(ana.window.open, false);
    assert.equal(sheena.id, `${sheena.contact.id}/${CHANNEL}`);
  });

  it("marks a conversation read, and counts only what arrives afterwards", async () => {
    await (await w.post(text(1))).arrayBuffer();
    let [c] = (await inbox()).data;
    assert.equal(c.unread, 1);
    const [status] = await asConsole(w, `/v1/contacts/${c.contact.id}/read`, {
      cookie: s.cookie, csrf: s.body.csrf_token, method: "POST", body: { phone_number_id: CHANNEL } });
    assert.equal(status, 204);
    [c] = (await inbox()).data;
    assert.equal(c.unread, 0);
    assert.equal((await inbox("?unread=true")).data.length, 0);
    await new Promise((r) => setTimeout(r, 5));
    await (await w.post(text(2))).arrayBuffer();
    [c] = (await inbox("?unread=true")).data;
    assert.equal(c.unread, 1);
    // Unknown contact, missing channel, no CSRF.
    const mark = (id, body, csrf = s.body.csrf_token) =>
      asConsole(w, `/v1/contacts/${id}/read`, { cookie: s.cookie, csrf, method: "POST", body });
    assert.equal((await mark("ct_nobody", { phone_number_id: CHANNEL }))[0], 404);
    // No conversation on that number: nothing to mark, nothing stored.
    assert.equal((await mark(c.contact.id, { phone_number_id: "999" }))[0], 404);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM conversation_reads WHERE phone_number_id = '999'").first()).n, 0);
    const [bad, err] = await mark(c.contact.id, {});
    assert.equal(bad, 400);
    assert.equal(err.error.field, "phone_number_id");
    assert.equal((await mark(c.contact.id, { phone_number_id: CHANNEL }, null))[0], 403);
  });

  it("searches by name, number and message text, with LIKE's wildcards taken literally", async () => {
    await (await w.post(text(1, { body: "Do you ship to Berlin?" }))).arrayBuffer();
    await (await w.post(text(2, { from: "447700900123", name: "Ana Gómez", body: "100% sure" }))).arrayBuffer();
    const names = async (q) => (await inbox(`?q=${encodeURIComponent(q)}`)).data.map((c) => c.contact.profile_name);
    assert.deepEqual(await names("berlin"), ["Sheena Nelson"]);
    assert.deepEqual(await names("gómez"), ["Ana Gómez"]);
    assert.deepEqual(await names("4477009"), ["Ana Gómez"]);
    assert.deepEqual(await names("100%"), ["Ana Gómez"]);
    assert.deepEqual(await names("%"), ["Ana Gómez"]);
    assert.deepEqual(await names("_"), []);
    assert.equal((await names("")).length, 2);
  });

  it("filters by channel, pages with a cursor, and refuses bad filters", async () => {
    // One clock reading, so a second ticking between posts cannot tie two.
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 5; i++) {
      await (await w.post(text(i, { from: `1650555000${i}`, name: `P${i}`, ts: now - i }))).arrayBuffer();
    }
    assert.equal((await inbox(`?channel=${CHANNEL}`)).data.length, 5);
    assert.equal((await inbox("?channel=999")).data.length, 0);
    const first = await inbox("?limit=2");
    assert.deepEqual(first.data.map((c) => c.contact.profile_name), ["P0", "P1"]);
    const second = await inbox(`?limit=2&cursor=${first.next_cursor}`);
    assert.deepEqual(second.data.map((c) => c.contact.profile_name), ["P2", "P3"]);
    for (const q of ["?unread=maybe", "?limit=0", "?cursor=zz", `?q=${"a".repeat(101)}`]) {
      const [status, body] = await asConsole(w, `/v1/conversations${q}`, { cookie: s.cookie });
      assert.equal(status, 400, q);
      assert.equal(body.error.code, "invalid_request");
    }
  });

  it("shows an API send as the last message, queued", async () => {
    await (await w.post(text(1))).arrayBuffer();
    const [c] = (await inbox()).data;
    const [status] = await asConsole(w, "/v1/messages", {
      cookie: s.cookie, csrf: s.body.csrf_token, method: "POST",
      body: { contact: c.contact.id, type: "text", text: { body: "On its way" } } });
    assert.equal(status, 202);
    const [after] = (await inbox()).data;
    assert.equal(after.last_message.direction, "out");
    assert.equal(after.last_message.preview, "On its way");
    assert.ok(["queued", "sending", "sent", "failed", "unknown"].includes(after.last_message.status), after.last_message.status);
  });

  it("forgets a conversation's read mark when the contact is erased", async () => {
    await (await w.post(text(1))).arrayBuffer();
    const [c] = (await inbox()).data;
    await asConsole(w, `/v1/contacts/${c.contact.id}/read`, {
      cookie: s.cookie, csrf: s.body.csrf_token, method: "POST", body: { phone_number_id: CHANNEL } });
    const [erased] = await asConsole(w, `/v1/contacts/${c.contact.id}`, { cookie: s.cookie, csrf: s.body.csrf_token, method: "DELETE" });
    assert.equal(erased, 204);
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM conversation_reads").first()).n, 0);
    assert.equal((await inbox()).data.length, 0);
  });

  it("filters a contact's messages by channel", async () => {
    await (await w.post(text(1))).arrayBuffer();
    const [c] = (await inbox()).data;
    const thread = async (q) => (await asConsole(w, `/v1/contacts/${c.contact.id}/messages${q}`, { cookie: s.cookie }))[1].data;
    assert.equal((await thread(`?channel=${CHANNEL}`)).length, 1);
    assert.equal((await thread("?channel=999")).length, 0);
  });
});

describe("media limits", () => {
  let w;
  useWorker({}, (x) => (w = x));

  it("shows clients the table uploads are checked against", async () => {
    const [status, body] = await w.api("/v1/media/limits");
    assert.equal(status, 200);
    const sticker = body.kinds.find((k) => k.kind === "sticker");
    assert.deepEqual(sticker.types, ["image/webp"]);
    // One byte over the limit it shows is refused by the upload itself.
    const over = await w.fetch("/v1/media?filename=s.webp", {
      method: "POST", headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "image/webp" },
      body: Buffer.alloc(sticker.max_bytes + 1) });
    assert.equal(over.status, 413);
    await over.arrayBuffer();
  });
});

describe("rules: try it", () => {
  let w;
  useWorker({}, (x) => (w = x));

  it("names the rule that would answer a sample, or why none would", async () => {
    assert.match((await w.send("/v1/rules/try", { text: "price" }))[1].reason, /no rules/);
    const [, rule] = await w.send("/v1/rules", RULE);
    const [status, hit] = await w.send("/v1/rules/try", { text: "  PRICE " });
    assert.equal(status, 200);
    assert.equal(hit.rule.id, rule.id);
    assert.equal(hit.reply.text.body, "9 EUR");
    const [, miss] = await w.send("/v1/rules/try", { text: "hello" });
    assert.equal(miss.rule, null);
    // Nothing is sent or stored by trying.
    assert.equal((await w.db.prepare("SELECT count(*) AS n FROM outbox").first()).n, 0);
    for (const bad of ["[]", '{"type": ""}', '{"text": 5}', "nope"]) {
      assert.equal((await w.send("/v1/rules/try", bad))[0], 400, bad);
    }
  });

  it("names the field of an invalid rule", async () => {
    const [status, body] = await w.send("/v1/rules", { ...RULE, hours: { tz: "Mars/Olympus", open: [{ days: ["mon"], from: "09:00", to: "17:00" }] } });
    assert.equal(status, 400);
    assert.equal(body.error.field, "hours.tz");
  });
});

describe("migrating to the console", () => {
  let w;
  // 0015 is there from the start: this release writes a delivery only with
  // the guard it adds.
  useWorker({ migrations: (f) => f < "0008" || f >= "0015", reset: false }, (x) => (w = x));

  it("adds sessions and read marks over a database written before them, which keeps everything it held", async () => {
    await (await w.post(text(1, { body: "written before the console" }))).arrayBuffer();
    assert.equal((await signIn(w)).status, 500, "no sessions table yet");
    await w.db.batch(migrationStatements((f) => f >= "0008" && f < "0015").map((sql) => w.db.prepare(sql)));
    const s = await signIn(w);
    assert.equal(s.status, 201);
    const [status, inbox] = await asConsole(w, "/v1/conversations", { cookie: s.cookie });
    assert.equal(status, 200);
    assert.equal(inbox.data.length, 1);
    assert.equal(inbox.data[0].last_message.preview, "written before the console");
    assert.equal(inbox.data[0].unread, 1, "old messages count as unread until read");
    const [marked] = await asConsole(w, `/v1/contacts/${inbox.data[0].contact.id}/read`, {
      cookie: s.cookie, csrf: s.body.csrf_token, method: "POST", body: { phone_number_id: CHANNEL } });
    assert.equal(marked, 204);
    assert.equal((await asConsole(w, "/v1/conversations", { cookie: s.cookie }))[1].data[0].unread, 0);
  });
});
