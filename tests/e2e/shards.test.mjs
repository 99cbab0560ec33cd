// The sharded write path (SHARDS above 1): deliveries pass through their
// channel's Durable Object, which writes the deliveries waiting for it in
// one D1 batch. Every other suite also runs with WA_EDGE_SHARDS=4; these
// tests pin what only the sharded path has.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { startWorker, fixture } from "./helpers.mjs";

const CHANNELS = ["106540352242922", "106540352242923", "106540352242924", "106540352242925"];

/** The shard wa-edge gives a channel: the first four bytes of its SHA-256, mod n. */
const shardOf = (channel, n) => createHash("sha256").update(channel).digest().readUInt32BE(0) % n;

/** A text message from `from` on `channel`, or a delivered status when `from` is null. */
function item(channel, wamid, from) {
  const body = JSON.parse(fixture(from ? "text" : "status_delivered"));
  const value = body.entry[0].changes[0].value;
  value.metadata.phone_number_id = channel;
  if (value.messages) Object.assign(value.messages[0], { id: wamid, from });
  if (value.contacts) value.contacts[0].wa_id = from;
  if (value.statuses) value.statuses[0].id = wamid;
  return body;
}

const bytes = (body) => Buffer.from(JSON.stringify(body));

const stored = (logs) =>
  logs.join("").split("\n").filter((l) => l.includes('"event":"webhook.stored"')).map((l) => JSON.parse(l));

const count = async (w, sql, ...args) => (await w.db.prepare(sql).bind(...args).first()).n;

/** Posts `bodies` all at once; each must be answered 200. */
async function postAll(w, bodies) {
  for (const res of await Promise.all(bodies.map((b) => w.post(b)))) {
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  }
}

/** `n` text messages on `channel`, `wamid.<tag>.<i>`, each from its own sender `<prefix><i>`. */
const crowd = (channel, tag, prefix, n) =>
  Array.from({ length: n }, (_, i) => bytes(item(channel, `wamid.${tag}.${i}`, `${prefix}${String(i).padStart(4, "0")}`)));

/**
 * Nothing of `waId` is stored, all `n` messages `wamid.<tag>.*` are, and no
 * guard row stayed; answers the one delivery that was cut to nothing.
 */
async function storedAllBut(w, waId, tag, n) {
  assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE wa_id = ?", waId), 0);
  assert.equal(await count(w, "SELECT count(*) AS n FROM contacts WHERE wa_id = ?", waId), 0);
  assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id LIKE ?", `wamid.${tag}.%`), n);
  assert.equal(await count(w, "SELECT count(*) AS n FROM delivery_guard"), 0);
  const gone = stored(w.logs).filter((l) => l.messages === 0);
  assert.equal(gone.length, 1, JSON.stringify(gone));
  assert.equal(gone[0].statements, 0);
  return gone[0];
}

/** Erases the contact `waId` through the API. */
async function erase(w, waId) {
  const res = await w.fetch(`/v1/contacts/${waId}`, {
    method: "DELETE", headers: { Authorization: "Bearer e2e-admin-token" },
  });
  assert.equal(res.status, 204);
}

/** Meta delivers `body` again, twice: both are answered 200 and message `wamid` is stored once. */
async function storedOnceWhenDeliveredAgain(w, body, wamid) {
  assert.equal((await w.post(body)).status, 200);
  assert.equal((await w.post(body)).status, 200);
  assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id = ?", wamid), 1);
}

describe("sharded write path", () => {
  it("spreads channels over their shards and writes concurrent deliveries exactly once", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      // Bodies are kept while a destination exists: one deliveries row each.
      assert.equal((await w.send("/v1/destinations", { url: "http://127.0.0.1:9/hook", enabled: false }))[0], 201);
      const bodies = [];
      CHANNELS.forEach((channel, c) => {
        for (let i = 0; i < 10; i++) {
          bodies.push(bytes(item(channel, `wamid.shard.m.${c}.${i}`, `1650555${c}${String(i).padStart(3, "0")}`)));
          bodies.push(bytes(item(channel, `wamid.shard.s.${c}.${i}`, null)));
        }
      });
      // Every delivery twice, all at once: Meta's redelivery racing the first.
      const answers = await Promise.all([...bodies, ...bodies].map((b) => w.post(b)));
      for (const res of answers) {
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id LIKE 'wamid.shard.m.%'"), 40);
      assert.equal(await count(w, "SELECT count(DISTINCT wamid) AS n FROM statuses WHERE wamid LIKE 'wamid.shard.s.%'"), 40);
      assert.equal(await count(w, "SELECT count(*) AS n FROM statuses WHERE wamid LIKE 'wamid.shard.s.%'"), 40);
      assert.equal(await count(w, "SELECT count(*) AS n FROM contacts WHERE wa_id LIKE '1650555%'"), 40);
      assert.equal(await count(w, "SELECT count(*) AS n FROM deliveries"), bodies.length);

      const lines = stored(w.logs);
      assert.equal(lines.length, answers.length);
      const shards = new Set(lines.map((l) => l.shard));
      assert.deepEqual([...shards].sort(), [...new Set(CHANNELS.map((c) => shardOf(c, 4)))].sort());
      // Deliveries that waited for a batch in flight went in together.
      assert.ok(lines.some((l) => l.grouped > 1), "some batch held several deliveries");
      assert.ok(lines.every((l) => l.grouped <= 16));
    } finally {
      await w.close();
    }
  });

  it("keeps exactly-once when one delivery names two channels in different shards", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      const [a, b] = [CHANNELS[0], CHANNELS.find((c) => shardOf(c, 4) !== shardOf(CHANNELS[0], 4))];
      const both = item(a, "wamid.two.a", "16505550001");
      both.entry.push(item(b, "wamid.two.b", "16505550002").entry[0]);
      const onlyB = item(b, "wamid.two.b", "16505550002");
      const answers = await Promise.all([both, onlyB, both, onlyB].map((x) => w.post(bytes(x))));
      for (const res of answers) {
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id = 'wamid.two.a'"), 1);
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id = 'wamid.two.b'"), 1);
      assert.equal(await count(w, "SELECT count(*) AS n FROM contacts WHERE wa_id IN ('16505550001', '16505550002')"), 2);
      const shards = new Set(stored(w.logs).map((l) => l.shard));
      assert.deepEqual([...shards].sort(), [shardOf(a, 4), shardOf(b, 4)].sort());
    } finally {
      await w.close();
    }
  });

  it("shards a delivery of an odd shape by the channel it is stored for, not shard 0", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      const channel = CHANNELS.find((c) => shardOf(c, 4) !== 0);
      const body = item(channel, "wamid.odd.1", "16505550003");
      // An entry before it with no changes list, and a change with no value:
      // not Meta's exact shape, but the message is still ingested.
      body.entry.unshift({ id: "0", changes: null });
      body.entry[1].changes.unshift({ field: "messages", value: "not an object" });
      assert.equal((await w.post(bytes(body))).status, 200);
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id = 'wamid.odd.1' AND phone_number_id = ?", channel), 1);
      assert.deepEqual(stored(w.logs).map((l) => l.shard), [shardOf(channel, 4)]);
    } finally {
      await w.close();
    }
  });

  it("writes everyone else of a batch that names an erased person, and not them", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      const channel = CHANNELS[0];
      const erased = bytes(item(channel, "wamid.gone.1", "16505559999"));
      assert.equal((await w.post(erased)).status, 200);
      await erase(w, "16505559999");
      const others = crowd(channel, "kept", "1650555", 15);
      // The redelivery of the erased person's message waits among the others.
      await postAll(w, [...others.slice(0, 7), erased, ...others.slice(7)]);
      // The isolate that erased them knows their tombstones: their
      // delivery is written alone, cut before any batch (the tombstones
      // read, nothing left to write), and no group's batch is refused.
      const gone = await storedAllBut(w, "16505559999", "kept", 15);
      assert.equal(gone.grouped, 1, JSON.stringify(gone));
      assert.equal(gone.d1_round_trips, 1, JSON.stringify(gone));
      assert.ok(!/"event":"shard.group_split"/.test(w.logs.join("")), "no batch was refused");
    } finally {
      await w.close();
    }
  });

  it("writes everyone else of a batch that names someone another isolate erased, and not them", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      const channel = CHANNELS[0];
      // An erasure this isolate did not run: only D1's tombstone says so,
      // and only the batch's guard can find it.
      const salt = (await w.db.prepare("SELECT value FROM settings WHERE name = 'erasure_salt'").first()).value;
      const key = createHmac("sha256", salt).update("16505557777").digest("hex");
      await w.db.prepare("INSERT INTO erased (key, erased_at) VALUES (?, ?)").bind(key, 4102444800).run();
      const erased = bytes(item(channel, "wamid.elsewhere.1", "16505557777"));
      const others = crowd(channel, "near", "1650557", 15);
      await postAll(w, [...others.slice(0, 7), erased, ...others.slice(7)]);
      // Its batch tripped the guard: either a group's, written again one
      // by one, or its own when it reached the shard alone (which depends
      // on timing), then cut and written again without them.
      const gone = await storedAllBut(w, "16505557777", "near", 15);
      const split = /"event":"shard.group_split"/.test(w.logs.join(""));
      assert.ok(split || (gone.grouped === 1 && gone.d1_round_trips >= 2), JSON.stringify(gone));
      // Now the isolate knows: their next delivery refuses no batch.
      const before = w.logs.join("").split("shard.group_split").length;
      const again = crowd(channel, "near.again", "1650557", 8);
      await postAll(w, [...again.slice(0, 4), bytes(item(channel, "wamid.elsewhere.2", "16505557777")), ...again.slice(4)]);
      assert.equal(w.logs.join("").split("shard.group_split").length, before, "no batch was refused");
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE wa_id = '16505557777'"), 0);
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id LIKE 'wamid.near.again.%'"), 8);
    } finally {
      await w.close();
    }
  });

  it("writes a returning erased customer's deliveries alone, without refusing the batches of the others", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      const channel = CHANNELS[0];
      assert.equal((await w.post(bytes(item(channel, "wamid.was.1", "16505558888")))).status, 200);
      await erase(w, "16505558888");
      // They write again, after the erasure: a new contact.
      await new Promise((r) => setTimeout(r, 1100));
      const now = String(Math.floor(Date.now() / 1000));
      const back = (i) => {
        const body = item(channel, `wamid.back.${i}`, "16505558888");
        body.entry[0].changes[0].value.messages[0].timestamp = now;
        return bytes(body);
      };
      const others = crowd(channel, "mate", "1650556", 15);
      await postAll(w, [...others.slice(0, 5), back(1), ...others.slice(5, 10), back(2), ...others.slice(10), back(3)]);
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id LIKE 'wamid.back.%'"), 3);
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id = 'wamid.was.1'"), 0);
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id LIKE 'wamid.mate.%'"), 15);
      assert.ok(!/"event":"shard.group_split"/.test(w.logs.join("")), "no batch was refused");
      assert.ok(stored(w.logs).some((l) => l.grouped > 1), "the others were batched");
    } finally {
      await w.close();
    }
  });

  it("fails only the delivery D1 cannot take when it shares a batch with other channels' deliveries", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      // Four channels of one shard, so their deliveries wait for each other.
      const mates = [];
      for (let i = 0n; mates.length < 4; i++) {
        const c = String(BigInt(CHANNELS[0]) + i);
        if (shardOf(c, 4) === shardOf(CHANNELS[0], 4)) mates.push(c);
      }
      // A delivery D1 refuses whatever batch it is in.
      await w.db.prepare(
        "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.id LIKE 'wamid.poison.%' BEGIN SELECT RAISE(ABORT, 'poison'); END",
      ).run();
      const splits = () => w.logs.join("").split("\n").filter((l) => l.includes('"event":"shard.group_split"') && l.includes('"why":"d1_error"')).length;
      let rounds = 0;
      for (; rounds < 10 && splits() === 0; rounds++) {
        const others = Array.from({ length: 15 }, (_, i) =>
          bytes(item(mates[1 + (i % 3)], `wamid.mate.${rounds}.${i}`, `1650556${rounds}${String(i).padStart(3, "0")}`)));
        const poison = bytes(item(mates[0], `wamid.poison.${rounds}`, "16505558888"));
        const answers = await Promise.all([others[0], poison, ...others.slice(1)].map((b) => w.post(b)));
        const statuses = await Promise.all(answers.map(async (r) => (await r.arrayBuffer(), r.status)));
        assert.equal(statuses[1], 500, "the delivery D1 refuses fails");
        assert.deepEqual(statuses.filter((_, i) => i !== 1), Array(15).fill(200), `round ${rounds}`);
        assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id LIKE ?", `wamid.mate.${rounds}.%`), 15);
      }
      assert.ok(splits() > 0, "a refused batch held several deliveries");
      assert.equal(await count(w, "SELECT count(*) AS n FROM contacts WHERE wa_id = '16505558888'"), 0);
      // Once D1 takes it, Meta's redelivery is stored, once.
      await w.db.prepare("DROP TRIGGER poison").run();
      await storedOnceWhenDeliveredAgain(w, bytes(item(mates[0], "wamid.poison.0", "16505558888")), "wamid.poison.0");
    } finally {
      await w.close();
    }
  });

  it("takes no more big deliveries than its queue holds, answers 503 for the rest, and stores them when Meta delivers them again", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      // ~3.9 MB each, one channel, all at once: past the 32 MB a shard holds.
      const big = (n) => {
        const body = item(CHANNELS[0], `wamid.big.${n}.0`, "16505554444");
        const value = body.entry[0].changes[0].value;
        const first = value.messages[0];
        value.messages = Array.from({ length: 8 }, (_, i) => ({ ...first, id: `wamid.big.${n}.${i}`, text: { body: "x".repeat(490_000) } }));
        return bytes(body);
      };
      // The shard's first write holds D1 for a while (a trigger that counts
      // to ten million), so the others wait behind it, as under load.
      await w.db.prepare(
        "CREATE TRIGGER slow BEFORE INSERT ON messages WHEN NEW.id = 'wamid.big.slow.0' BEGIN " +
        "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000) SELECT x FROM c); END",
      ).run();
      const first = w.post(big("slow"));
      await new Promise((r) => setTimeout(r, 200));
      const bodies = Array.from({ length: 20 }, (_, n) => big(n));
      const answers = await Promise.all(bodies.map((b) => w.post(b)));
      assert.equal((await first).status, 200);
      const statuses = await Promise.all(answers.map(async (r) => {
        const text = await r.text();
        if (r.status === 503) assert.doesNotMatch(text, /shard|D1|sqlite|queue/i);
        return r.status;
      }));
      assert.ok(statuses.every((s) => s === 200 || s === 503), JSON.stringify(statuses));
      assert.ok(statuses.includes(503), "some were refused");
      assert.ok(statuses.includes(200), "the shard went on taking them");
      assert.match(w.logs.join(""), /"event":"shard.full"/);
      for (const [n, s] of statuses.entries()) {
        const stored = await count(w, "SELECT count(*) AS n FROM messages WHERE id LIKE ?", `wamid.big.${n}.%`);
        assert.equal(stored, s === 200 ? 8 : 0, `delivery ${n} answered ${s}`);
      }
      // Meta delivers the refused ones again, one at a time: each is taken.
      for (const [n, s] of statuses.entries()) {
        if (s === 503) assert.equal((await w.post(bodies[n])).status, 200);
      }
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id LIKE 'wamid.big.%'"), 168);
    } finally {
      await w.close();
    }
  });

  it("answers 500 and stores nothing when D1 refuses the batch, and the redelivery is stored once", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      const body = bytes(item(CHANNELS[1], "wamid.refused.1", "16505557777"));
      await w.db.prepare("ALTER TABLE messages RENAME TO messages_away").run();
      const refused = await w.post(body);
      assert.equal(refused.status, 500);
      const text = await refused.text();
      assert.doesNotMatch(text, /messages|sqlite|D1|shard/i);
      await w.db.prepare("ALTER TABLE messages_away RENAME TO messages").run();
      assert.equal(await count(w, "SELECT count(*) AS n FROM contacts WHERE wa_id = '16505557777'"), 0);
      await storedOnceWhenDeliveredAgain(w, body, "wamid.refused.1");
    } finally {
      await w.close();
    }
  });

  it("writes directly when SHARDS is not a number from 1 to 64, and says so", async () => {
    const w = await startWorker({ bindings: { SHARDS: "four" } });
    try {
      assert.equal((await w.post(bytes(item(CHANNELS[0], "wamid.bad.1", "16505551111")))).status, 200);
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id = 'wamid.bad.1'"), 1);
      const logs = w.logs.join("");
      assert.match(logs, /"event":"config.invalid".*"name":"SHARDS"|"name":"SHARDS".*"event":"config.invalid"/);
      assert.ok(stored(w.logs).every((l) => l.shard === undefined));
    } finally {
      await w.close();
    }
  });

  it("writes directly when the WRITER binding is missing, and says so", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" }, writer: false });
    try {
      assert.equal((await w.post(bytes(item(CHANNELS[0], "wamid.nodo.1", "16505552222")))).status, 200);
      assert.equal(await count(w, "SELECT count(*) AS n FROM messages WHERE id = 'wamid.nodo.1'"), 1);
      assert.match(w.logs.join(""), /"name":"WRITER"/);
    } finally {
      await w.close();
    }
  });

  it("is not reachable from outside: only the webhook talks to a shard", async () => {
    const w = await startWorker({ bindings: { SHARDS: "4" } });
    try {
      // With a destination, a stored delivery would also be kept.
      assert.equal((await w.send("/v1/destinations", { url: "http://127.0.0.1:9/hook", enabled: false }))[0], 201);
      for (const path of ["/deliveries", "/writer", "/shard-0"]) {
        const res = await w.fetch(path, { method: "POST", headers: { "X-Wa-Scope": "app", "X-Wa-Received-At": "1" }, body: "{}" });
        // No route: a 404, or a 405 where the console's pages answer GET only.
        assert.ok([404, 405].includes(res.status), `${path}: ${res.status}`);
        await res.arrayBuffer();
      }
      assert.equal(await count(w, "SELECT count(*) AS n FROM deliveries"), 0);
    } finally {
      await w.close();
    }
  });
});
