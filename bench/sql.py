"""D1's side of a delivery, replayed in SQLite: the statements wa-edge's
batch runs for each body of a bench/bodies.py file (printed by
`BENCH_STATEMENTS=<file> cargo bench --bench cpu`, without the erasure
guard) and the two INSERT OR IGNOREs bench/peer runs for the same body,
each against its own schema (migrations/, bench/peer/schema.sql) in a
file database, one transaction per delivery.

Each is timed twice: preparing every statement afresh, as local D1
(Miniflare's D1 object) does, and from a prepared-statement cache. Their
difference is the cost of compiling the SQL. Rounds alternate wa-edge and
the peer, and the fastest round of each counts.

usage: sql.py STATEMENTS.jsonl BODIES.tsv MIGRATIONS_DIR PEER_SCHEMA
prints one RESULT line per worker, with both modes' times."""
import glob
import json
import os
import sqlite3
import sys
import tempfile
import time

statements_file, bodies_file, migrations, peer_schema = sys.argv[1:5]
wa_batches = [json.loads(line) for line in open(statements_file)]

PEER_MESSAGE = ("INSERT OR IGNORE INTO messages (wamid, phone_number_id, from_id, type, timestamp, body) "
                "VALUES (?, ?, ?, ?, ?, ?)")
PEER_STATUS = ("INSERT OR IGNORE INTO statuses (wamid, status, timestamp, recipient_id, body) "
               "VALUES (?, ?, ?, ?, ?)")


def integer(x):
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def peer_batch(body):
    """bench/peer/src/index.js's statements for one body."""
    out = []
    for entry in body.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") != "messages":
                continue
            pnid = (value.get("metadata") or {}).get("phone_number_id")
            for m in value.get("messages") or []:
                if not isinstance(m.get("id"), str):
                    continue
                out.append([PEER_MESSAGE, [m.get("id"), pnid, m.get("from"), m.get("type"),
                                           integer(m.get("timestamp")), json.dumps(m, separators=(",", ":"))]])
            for s in value.get("statuses") or []:
                if not isinstance(s.get("id"), str) or not isinstance(s.get("status"), str):
                    continue
                out.append([PEER_STATUS, [s.get("id"), s.get("status"), integer(s.get("timestamp")),
                                          s.get("recipient_id"), json.dumps(s, separators=(",", ":"))]])
    return out


peer_batches = [peer_batch(json.loads(line.rstrip("\n").split("\t", 2)[2])) for line in open(bodies_file)]
assert len(peer_batches) == len(wa_batches), "one batch per body"


def fresh_db(schema_files, cached):
    fd, path = tempfile.mkstemp(suffix=".sqlite")
    os.close(fd)
    db = sqlite3.connect(path, isolation_level=None, cached_statements=128 if cached else 0)
    db.execute("PRAGMA journal_mode=WAL")
    for f in schema_files:
        db.executescript(open(f).read())
    return db, path


def run(batches, schema_files, cached):
    db, path = fresh_db(schema_files, cached)
    start = time.perf_counter()
    for batch in batches:
        db.execute("BEGIN")
        for sql, args in batch:
            db.execute(sql, args).fetchall()
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    for f in glob.glob(path + "*"):
        os.remove(f)
    return elapsed / len(batches) * 1e6


schemas = {"wa": sorted(glob.glob(os.path.join(migrations, "*.sql"))), "peer": [peer_schema]}
work = {"wa": wa_batches, "peer": peer_batches}
best = {}
for _ in range(3):
    for who in ("wa", "peer"):
        for cached in (False, True):
            us = run(work[who], schemas[who], cached)
            key = (who, cached)
            best[key] = min(best.get(key, us), us)
for who in ("wa", "peer"):
    batches = work[who]
    n = len(batches)
    stmts = sum(len(b) for b in batches) / n
    sql_kb = sum(len(s) for b in batches for s, _ in b) / n / 1024
    args_kb = sum(len(str(a)) for b in batches for _, args in b for a in args if a is not None) / n / 1024
    fresh, cached = best[(who, False)], best[(who, True)]
    print(f"RESULT who={who} deliveries={n} statements={stmts:.1f} sql_kb={sql_kb:.2f} args_kb={args_kb:.2f} "
          f"fresh_us={fresh:.0f} cached_us={cached:.0f} compile_us={max(fresh - cached, 0):.0f}")
