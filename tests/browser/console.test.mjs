// The console in real headless Chromium against the worker under
// `wrangler dev`, with a fake Graph on loopback: what a support agent does
// in a day, from signing in to signing out. With SCREENSHOTS=1 it also
// writes docs/screenshots/ (`make screenshots`).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  FakeGraph, startWorker, launchBrowser, inbound, status, ADMIN_TOKEN, CHANNEL, PNG,
} from "./stack.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const shots = process.env.SCREENSHOTS === "1" ? join(root, "docs", "screenshots") : null;
const WAIT = { timeout: 15_000 };

describe("console in Chromium", () => {
  let graph;
  let worker;
  let browser;
  let page;
  const errors = [];

  before(async () => {
    graph = await new FakeGraph().start();
    worker = await startWorker(graph.base);
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    // Any CSP violation or script error fails the run at the end.
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    if (shots) mkdirSync(shots, { recursive: true });
    // The day's traffic, by signed webhook: a customer writing now (text,
    // then a photo), and one who wrote 30 hours ago.
    await worker.post(inbound("wamid.in.1", "text", { body: "Hi! Do you *deliver* to Kreuzberg? 🥐" }, { ageS: 60 }));
    await worker.post(inbound("wamid.in.2", "image", { id: "900000000000001", mime_type: "image/png", caption: "This one" }, { ageS: 30 }));
    await worker.post(inbound("wamid.in.3", "text", { body: "Are you open on Sunday?" },
      { from: "447700900123", name: "Ana Gómez", ageS: 30 * 3600 }));
  });

  after(async () => {
    await browser?.close();
    await worker?.close();
    await graph?.close();
  });

  const testid = (id) => page.locator(`[data-testid="${id}"]`);
  const shot = async (name) => {
    if (shots) await page.screenshot({ path: join(shots, `${name}.png`) });
  };

  it("refuses a wrong token, then signs in with the right one", async () => {
    await page.goto(`${worker.base}/`);
    await page.locator('input[name="token"]').fill("not-the-token");
    await testid("signin-submit").click();
    await testid("signin-error").waitFor(WAIT);
    assert.match(await testid("signin-error").innerText(), /not the admin token/);
    await page.locator('input[name="token"]').fill(ADMIN_TOKEN);
    await testid("signin-submit").click();
    await testid("conversation").first().waitFor(WAIT);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === "__Host-wa_session");
    assert.ok(session, "the session cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, "Strict");
    assert.equal(await page.evaluate(() => document.cookie), "", "the page cannot read it");
  });

  it("lists the conversations that arrived by webhook, newest first, with unread counts and windows", async () => {
    const rows = testid("conversation");
    await rows.nth(1).waitFor(WAIT);
    assert.equal(await rows.count(), 2);
    const first = rows.nth(0);
    assert.match(await first.innerText(), /Sheena Nelson/);
    assert.match(await first.innerText(), /This one/);
    assert.equal(await first.locator('[data-testid="unread"]').innerText(), "2");
    assert.match(await first.locator('[data-testid="window"]').innerText(), /Open/);
    assert.match(await rows.nth(1).innerText(), /Ana Gómez/);
    assert.match(await rows.nth(1).locator('[data-testid="window"]').innerText(), /Closed/);
    // Search by text narrows the list.
    await testid("search").fill("sunday");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="conversation"]').length === 1, null, WAIT);
    assert.match(await rows.first().innerText(), /Ana Gómez/);
    await testid("search").fill("");
    await rows.nth(1).waitFor(WAIT);
    await shot("inbox");
  });

  it("shows a new message without a reload", async () => {
    await worker.post(inbound("wamid.in.4", "text", { body: "Hello from a new customer" },
      { from: "4915112345678", name: "Jonas" }));
    await page.locator('[data-testid="conversation"]', { hasText: "Jonas" }).waitFor(WAIT);
  });

  it("opens a conversation: formatted text, the photo through the media proxy, and the contact panel", async () => {
    await page.locator('[data-testid="conversation"]', { hasText: "Sheena Nelson" }).click();
    const text = page.locator('[data-testid="message"][data-type="text"]').first();
    await text.waitFor(WAIT);
    assert.equal(await text.locator("strong, b").first().innerText(), "deliver");
    const img = page.locator('img[data-testid="media-image"]');
    await img.waitFor(WAIT);
    await page.waitForFunction(() => {
      const i = document.querySelector('img[data-testid="media-image"]');
      return i && i.complete && i.naturalWidth === 2;
    }, null, WAIT);
    assert.ok(graph.requests.some((r) => r.path.startsWith("/media-bytes/900000000000001")));
    await img.click();
    await page.locator(".lightbox img, [data-testid=lightbox] img").waitFor(WAIT);
    await page.keyboard.press("Escape");
    await testid("lightbox").waitFor({ ...WAIT, state: "detached" });
    const panel = testid("contact-panel");
    assert.match(await panel.innerText(), /\+16505551234/);
    assert.match(await panel.innerText(), /Sheena Nelson/);
    // Opening it marked it read.
    await page.waitForFunction(() => !document.querySelector('[data-testid="conversation"].active [data-testid="unread"], [data-testid="conversation"][aria-current] [data-testid="unread"]'), null, WAIT);
  });

  it("replies inside the window and shows the ticks the status webhooks bring", async () => {
    await testid("reply-text").fill("Yes, we deliver to Kreuzberg tomorrow.");
    await testid("reply-send").click();
    const mine = page.locator('[data-testid="message"][data-direction="out"]', { hasText: "Kreuzberg tomorrow" });
    await mine.waitFor(WAIT);
    // Graph got it once.
    const deadline = Date.now() + 15_000;
    while (!graph.messages().some((m) => m.body.text?.body === "Yes, we deliver to Kreuzberg tomorrow.")) {
      assert.ok(Date.now() < deadline, "Graph never received the reply");
      await new Promise((r) => setTimeout(r, 100));
    }
    const sent = graph.messages().filter((m) => m.body.text?.body === "Yes, we deliver to Kreuzberg tomorrow.");
    assert.equal(sent.length, 1);
    assert.equal(sent[0].body.to, "16505551234");
    const wamid = `wamid.fake.${graph.sent}`;
    // Graph's 200: accepted; then the status webhooks move it on.
    await page.locator('[data-testid="message"][data-direction="out"][data-status="accepted"]').waitFor(WAIT);
    await worker.post(status(wamid, "sent"));
    await page.locator('[data-testid="message"][data-direction="out"][data-status="sent"]').waitFor(WAIT);
    await worker.post(status(wamid, "delivered"));
    await page.locator('[data-testid="message"][data-direction="out"][data-status="delivered"]').waitFor(WAIT);
    await worker.post(status(wamid, "read"));
    await page.locator('[data-testid="message"][data-direction="out"][data-status="read"]').waitFor(WAIT);
    assert.match(await mine.locator('[data-testid="ticks"]').innerText(), /✓✓/);
    await shot("conversation");
  });

  it("locks the reply box outside the window and sends an approved template instead", async () => {
    // Templates come from Graph's list.
    const [synced] = await worker.api(`/v1/channels/${CHANNEL}/templates/sync`, { method: "POST" });
    assert.equal(synced, 200);
    await page.goto(`${worker.base}/#/inbox`);
    await page.locator('[data-testid="conversation"]', { hasText: "Ana Gómez" }).click();
    await testid("window-closed").waitFor(WAIT);
    assert.equal(await testid("reply-text").count(), 0, "no free text outside the window");
    const option = await testid("template-select").locator("option", { hasText: "order_update" }).getAttribute("value");
    await testid("template-select").selectOption(option);
    const params = testid("template-param");
    await params.nth(1).waitFor(WAIT);
    await params.nth(0).fill("Ana");
    await params.nth(1).fill("B-42");
    await page.waitForFunction(() => /Hello Ana, your order B-42 is on its way/
      .test(document.querySelector('[data-testid="template-preview"]')?.textContent ?? ""), null, WAIT);
    await testid("template-send").click();
    await page.locator('[data-testid="message"][data-direction="out"]').first().waitFor(WAIT);
    const deadline = Date.now() + 15_000;
    let template;
    while (!(template = graph.messages().find((m) => m.body.type === "template"))) {
      assert.ok(Date.now() < deadline, "Graph never received the template");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(template.body.to, "447700900123");
    assert.equal(template.body.template.name, "order_update");
    assert.deepEqual(template.body.template.components[0].parameters.map((p) => p.text), ["Ana", "B-42"]);
  });

  it("refuses an over-long profile description with the API's message next to the field", async () => {
    await page.goto(`${worker.base}/#/channels/${CHANNEL}`);
    await testid("sync-profile").click();
    await page.locator('textarea[name="description"]').waitFor(WAIT);
    await page.waitForFunction(() => document.querySelector('textarea[name="description"]').value === "A bakery.", null, WAIT);
    // The photo comes through the worker, as the CSP allows only the console's own origin.
    await page.waitForFunction(() => {
      const i = document.querySelector('img[data-testid="profile-photo"]');
      return i && i.complete && i.naturalWidth === 2;
    }, null, WAIT);
    assert.ok(graph.requests.some((r) => r.path === "/pictures/bakery.png" && !r.headers.authorization),
      "fetched without the channel's token");
    await page.locator('textarea[name="description"]').fill("x".repeat(513));
    await testid("profile-save").click();
    const error = page.locator('[data-field-error="description"], [data-testid="error-description"]');
    await error.waitFor(WAIT);
    assert.match(await error.innerText(), /512/);
    assert.equal(graph.requests.filter((r) => r.method === "POST" && r.path.endsWith("whatsapp_business_profile")).length, 0);
    // A valid one is saved through Graph.
    await page.locator('textarea[name="description"]').fill("The best bakery in Berlin.");
    await testid("profile-save").click();
    await testid("notice").waitFor(WAIT);
    assert.equal(graph.profile.description, "The best bakery in Berlin.");
  });

  it("submits a template with a live preview, and syncs its status", async () => {
    await page.goto(`${worker.base}/#/templates`);
    await testid("template-row").first().waitFor(WAIT);
    await page.locator('input[name="name"]').fill("pickup_ready");
    await page.locator('select[name="category"]').selectOption("UTILITY");
    await page.locator('input[name="language"]').fill("en_US");
    await page.locator('textarea[name="body"]').fill("Hi {{1}}, your order is ready for pickup.");
    await page.locator('input[name="body_example.0"]').fill("Ana");
    await page.waitForFunction(() => /Hi Ana, your order is ready/
      .test(document.querySelector('[data-testid="template-form-preview"]')?.textContent ?? ""), null, WAIT);
    await testid("template-submit").click();
    await page.locator('[data-testid="template-row"]', { hasText: "pickup_ready" }).waitFor(WAIT);
    const created = graph.requests.find((r) => r.method === "POST" && r.path.endsWith("/message_templates"));
    assert.equal(created.body.name, "pickup_ready");
    // Meta approves it; a sync shows the new status.
    graph.templates.find((t) => t.name === "pickup_ready").status = "APPROVED";
    await testid("templates-sync").click();
    await page.locator('[data-testid="template-row"]', { hasText: "pickup_ready" }).filter({ hasText: /APPROVED/i }).waitFor(WAIT);
    await shot("templates");
  });

  it("creates an auto-reply rule, tries it, and sees it answer a customer", async () => {
    await page.goto(`${worker.base}/#/rules`);
    await page.locator('select[name="match_kind"]').waitFor(WAIT);
    await page.locator('select[name="match_kind"]').selectOption("keyword");
    await page.locator('input[name="match_value"]').fill("hours");
    await page.locator('select[name="reply_kind"]').selectOption("text");
    await page.locator('textarea[name="reply_text"], input[name="reply_text"]').fill("We are open 7:00–18:00.");
    await testid("rule-save").click();
    await testid("rule-row").first().waitFor(WAIT);
    await testid("try-text").fill("HOURS");
    await testid("try-run").click();
    await page.waitForFunction(() => /open 7:00/.test(document.querySelector('[data-testid="try-result"]')?.textContent ?? ""), null, WAIT);
    await shot("rules");
    const before = graph.messages().length;
    await worker.post(inbound("wamid.in.5", "text", { body: "hours" }, { from: "4915112345678", name: "Jonas" }));
    const deadline = Date.now() + 15_000;
    while (!graph.messages().slice(before).some((m) => m.body.text?.body === "We are open 7:00–18:00.")) {
      assert.ok(Date.now() < deadline, "the rule never answered");
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.goto(`${worker.base}/#/inbox`);
    await page.locator('[data-testid="conversation"]', { hasText: "Jonas" }).click();
    await page.locator('[data-testid="message"][data-direction="out"]', { hasText: "open 7:00" }).waitFor(WAIT);
  });

  it("disables a rule with its switch, after which it answers nothing", async () => {
    await page.goto(`${worker.base}/#/rules`);
    const toggle = page.locator('input[data-testid="rule-enabled"], [data-testid="rule-enabled"] input').first();
    await toggle.waitFor(WAIT);
    assert.equal(await toggle.isChecked(), true);
    await toggle.uncheck();
    const deadline = Date.now() + 15_000;
    while ((await worker.api("/v1/rules"))[1].data[0].enabled !== false) {
      assert.ok(Date.now() < deadline, "the rule was never disabled");
      await new Promise((r) => setTimeout(r, 100));
    }
    await testid("try-text").fill("hours");
    await testid("try-run").click();
    await page.waitForFunction(() => /No enabled rule/.test(document.querySelector('[data-testid="try-result"]')?.textContent ?? ""), null, WAIT);
  });

  it("registers a number with its PIN, refusing a PIN that is not six digits", async () => {
    await page.goto(`${worker.base}/#/channels/${CHANNEL}`);
    await page.locator('input[name="pin"]').fill("12");
    await testid("register-submit").click();
    await page.locator('[data-field-error="pin"], [data-testid="form-error"]').first().waitFor(WAIT);
    assert.equal(graph.requests.filter((r) => r.path.endsWith("/register")).length, 0);
    await page.locator('input[name="pin"]').fill("123456");
    await testid("register-submit").click();
    const deadline = Date.now() + 15_000;
    while (!graph.requests.some((r) => r.path.endsWith("/register"))) {
      assert.ok(Date.now() < deadline, "Graph never got the registration");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(graph.requests.find((r) => r.path.endsWith("/register")).body.pin, "123456");
  });

  it("deletes a template after confirmation", async () => {
    await page.goto(`${worker.base}/#/templates`);
    const row = page.locator('[data-testid="template-row"]', { hasText: "pickup_ready" });
    await row.waitFor(WAIT);
    await row.locator('[data-testid="template-delete"]').click();
    await page.locator('[data-testid="template-delete-confirm"]').click();
    await row.waitFor({ state: "detached", ...WAIT });
    assert.ok(graph.requests.some((r) => r.method === "DELETE" && r.query.name === "pickup_ready"));
  });

  it("erases a contact after confirmation", async () => {
    await page.goto(`${worker.base}/#/inbox`);
    await page.locator('[data-testid="conversation"]', { hasText: "Jonas" }).click();
    await testid("erase").click();
    await testid("erase-confirm").click();
    await page.waitForFunction(() => ![...document.querySelectorAll('[data-testid="conversation"]')]
      .some((c) => c.textContent.includes("Jonas")), null, WAIT);
    const [status] = await worker.api("/v1/contacts/4915112345678");
    assert.equal(status, 404);
  });

  it("renders every kind of message a customer sends, with reactions, quotes and a raw fallback", async () => {
    const from = "5511987654321";
    const who = { from, name: "Mila" };
    await worker.post(inbound("wamid.m.1", "location", { latitude: 52.52, longitude: 13.405, name: "Bakery", address: "Torstraße 1" }, { ...who, ageS: 50 }));
    await worker.post(inbound("wamid.m.2", "document", { id: "900000000000002", filename: "invoice.pdf", mime_type: "application/pdf" }, { ...who, ageS: 40 }));
    await worker.post(inbound("wamid.m.3", "contacts", [{ name: { formatted_name: "Jonas Weber" }, phones: [{ phone: "+49 151 1234567" }] }], { ...who, ageS: 30 }));
    await worker.post(inbound("wamid.m.4", "interactive", { type: "button_reply", button_reply: { id: "yes", title: "Yes, please" } }, { ...who, ageS: 20 }));
    await worker.post(inbound("wamid.m.5", "text", { body: "About this one <img src=x onerror=alert(1)>" }, { ...who, ageS: 15, context: { from, id: "wamid.m.1" } }));
    await worker.post(inbound("wamid.m.6", "reaction", { message_id: "wamid.m.5", emoji: "❤️" }, { ...who, ageS: 10 }));
    await worker.post(inbound("wamid.m.7", "hologram_2027", { depth: 3 }, { ...who, ageS: 5 }));
    await page.goto(`${worker.base}/#/inbox`);
    await page.locator('[data-testid="conversation"]', { hasText: "Mila" }).click();
    await page.locator('[data-testid="location-link"]').waitFor(WAIT);
    assert.match(await page.locator('[data-testid="location-link"]').getAttribute("href"), /^https:\/\/www\.openstreetmap\.org\/.*mlat=52\.52/);
    assert.match(await testid("media-document").innerText(), /invoice\.pdf/);
    assert.match(await testid("shared-contact").innerText(), /Jonas Weber/);
    assert.match(await testid("interactive-reply").innerText(), /Yes, please/);
    // The reply quotes its context; the reaction sits on the message it reacts to.
    const reply = page.locator('[data-testid="message"]', { hasText: "About this one" });
    assert.match(await reply.locator('[data-testid="quote"]').innerText(), /Bakery/);
    assert.equal(await reply.locator('[data-testid="reaction"]').innerText(), "❤️");
    assert.equal(await page.locator('[data-testid="message"][data-type="reaction"]').count(), 0);
    // Markup in a message is text, never HTML.
    assert.equal(await reply.locator("img").count(), 0);
    assert.match(await reply.innerText(), /<img src=x onerror=alert\(1\)>/);
    // An unknown type is labelled, with its raw JSON behind "Show more".
    const odd = page.locator('[data-testid="unsupported"]');
    assert.match(await odd.innerText(), /hologram_2027/);
    await testid("show-raw").click();
    await testid("raw-json").waitFor(WAIT);
    assert.match(await testid("raw-json").innerText(), /"depth": 3/);
  });

  it("sends a photo within WhatsApp's limits, refuses a file it would not take, and shows Graph's reason for a failure", async () => {
    await page.goto(`${worker.base}/#/inbox`);
    await page.locator('[data-testid="conversation"]', { hasText: "Mila" }).click();
    await testid("reply-text").waitFor(WAIT);
    await testid("reply-file").setInputFiles({ name: "virus.exe", mimeType: "application/x-msdownload", buffer: Buffer.from("MZ") });
    await page.getByText(/WhatsApp does not take/).waitFor(WAIT);
    await testid("reply-file").setInputFiles({ name: "cake.png", mimeType: "image/png", buffer: PNG });
    await testid("reply-send").click();
    const deadline = Date.now() + 15_000;
    let photo;
    while (!(photo = graph.messages().find((m) => m.body.type === "image" && m.body.to === "5511987654321"))) {
      assert.ok(Date.now() < deadline, "Graph never received the photo");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(photo.body.image.id, /^77/);
    // Graph refuses the next one: the bubble says why.
    await testid("reply-text").fill("Your order [undeliverable]");
    await testid("reply-send").click();
    const failed = page.locator('[data-testid="message"][data-direction="out"][data-status="failed"]', { hasText: "undeliverable" });
    await failed.waitFor(WAIT);
    assert.match(await failed.locator('[data-testid="message-error"]').innerText(), /undeliverable/i);
  });

  it("checks a channel's subscription and shows webhook events with their raw JSON", async () => {
    await page.goto(`${worker.base}/#/channels/${CHANNEL}`);
    await testid("check-subscription").click();
    await testid("subscription-status").waitFor(WAIT);
    assert.match(await testid("subscription-status").innerText(), /subscribed/i);
    // Meta's template status update is kept as an event.
    await worker.post(JSON.parse(readFileSync(join(root, "tests", "fixtures", "template_status_update.json"), "utf8")));
    await page.goto(`${worker.base}/#/events`);
    const row = testid("event-row").first();
    await row.waitFor(WAIT);
    await row.locator("button").first().click();
    await row.locator('[data-testid="event-raw"]').waitFor(WAIT);
    assert.match(await row.locator('[data-testid="event-raw"]').innerText(), /whatsapp_business_account|messaging_product|"kind"|\{/);
  });

  it("signs out, and the session is refused afterwards", async () => {
    const cookie = (await page.context().cookies()).find((c) => c.name === "__Host-wa_session");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.locator('input[name="token"]').waitFor(WAIT);
    const status = await page.evaluate(async () => (await fetch("/v1/conversations")).status);
    assert.equal(status, 401);
    // The old cookie, replayed, is refused too.
    const replay = await fetch(`${worker.base}/v1/conversations`, { headers: { Cookie: `${cookie.name}=${cookie.value}` } });
    assert.equal(replay.status, 401);
  });

  it("raised no script error or CSP violation on any screen", () => {
    assert.deepEqual(errors.filter((e) => !/401|Unauthorized|status of 4\d\d/.test(e)), []);
  });
});

describe("console on a phone-sized screen", () => {
  it("shows the inbox as one column and the thread after a tap", async () => {
    const graph = await new FakeGraph().start();
    const worker = await startWorker(graph.base);
    const browser = await launchBrowser();
    try {
      await worker.post(inbound("wamid.p.1", "text", { body: "Hi from my phone" }));
      const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
      const page = await context.newPage();
      await page.goto(`${worker.base}/`);
      await page.locator('input[name="token"]').fill(ADMIN_TOKEN);
      await page.locator('[data-testid="signin-submit"]').click();
      const row = page.locator('[data-testid="conversation"]').first();
      await row.waitFor(WAIT);
      const box = await row.boundingBox();
      assert.ok(box.width > 300, `the list fills the screen (${box.width}px)`);
      await row.tap();
      await page.locator('[data-testid="message"]').first().waitFor(WAIT);
      const reply = await page.locator('[data-testid="reply-text"]').boundingBox();
      assert.ok(reply && reply.x >= 0 && reply.x + reply.width <= 360, "the reply box fits");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(overflow <= 360, `no sideways scrolling (${overflow}px)`);
      if (shots) await page.screenshot({ path: join(shots, "phone.png") });
    } finally {
      await browser.close();
      await worker.close();
      await graph.close();
    }
  });
});
