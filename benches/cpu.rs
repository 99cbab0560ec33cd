//! CPU per delivery: the pure pipeline a webhook delivery runs before its
//! one D1 batch (signature, parse and plan, the relay's events, the
//! statements, the relay's part: the body's key, the kept body, events and
//! forwards), timed natively for four shapes of delivery. It times the
//! relay's part as when a destination exists (a disabled one, so no
//! forwards); with none, `edge::store` skips it. Run by
//! `make bench` (`cargo bench --bench cpu`), which writes the table into
//! docs/BENCHMARKS.md; nothing here asserts a time.
//!
//! Each shape is run until a time budget is spent, and the median of the
//! runs is printed as one `RESULT` line per shape (µs, and µs per KB of
//! body). `make bench` runs it natively and as wasm under V8 (WASI in Node,
//! the engine workerd runs wasm with) to measure the wasm-vs-native factor.
//! With `BENCH_STATEMENTS=<bodies file>` it prints each body's statements
//! instead, for `bench/sql.py`: as the race's worker makes them, with no
//! destination, so without the relay's part.

use std::hint::black_box;
use std::time::{Duration, Instant};
use wa_edge::db::ingest::{delivery_writes, Spill, SpillTo, Writes};

/// How the bench spills long bodies: into rows, as with no R2 bucket bound.
const ROWS: Spill = Spill {
    to: SpillTo::Rows,
    tag: "0123456789abcdef0123456789abcdef",
};
use wa_edge::db::relay::{keep_delivery, Kept};
use wa_edge::db::Arg;
use wa_edge::inbound::ingest::{plan, Delivery, Plan};
use wa_edge::relay::{events, route};
use wa_edge::whatsapp::webhook::signature;

const SECRET: &[u8] = b"bench-app-secret";
const RECEIVED_AT: i64 = 1_800_000_000;

/// Meta's notification around `value` (compact JSON, as Meta sends it).
fn wrap(value: String) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},{value}}},"field":"messages"}}]}}]}}"#
    )
    .into_bytes()
}

/// `n` text messages from a pool of 50 returning customers, with non-ASCII
/// text escaped as `\uXXXX` the way Meta sends it.
fn messages(n: usize, text_len: usize) -> Vec<u8> {
    let words =
        "Gr\\u00fc\\u00dfe, ich h\\u00e4tte gern eine Lieferung nach M\\u00fcnchen \\ud83d\\ude9a ";
    // Whole phrases only, so no escape is cut in half.
    let text = words.repeat(text_len / words.len() + 1);
    let contacts: Vec<String> = (0..n.min(50))
        .map(|i| format!(r#"{{"profile":{{"name":"Kunde {i}"}},"wa_id":"49151000{i:05}"}}"#))
        .collect();
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"from":"49151000{:05}","id":"wamid.HBgLNDkxNTEwMDAwMDAVAgASGBQz{i:012}RjQ1MEQ2QjVBMUFEAA==","timestamp":"1799999000","type":"text","text":{{"body":"{text}"}}}}"#,
                i % 50
            )
        })
        .collect();
    wrap(format!(
        r#""contacts":[{}],"messages":[{}]"#,
        contacts.join(","),
        items.join(",")
    ))
}

/// `n` statuses (sent, delivered, read in turn) with pricing, as Graph reports them.
fn statuses(n: usize) -> Vec<u8> {
    let states = ["sent", "delivered", "read"];
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"id":"wamid.HBgLNDkxNTEwMDAwMDAVAgARGBIz{i:012}QzRFQzAA","status":"{}","timestamp":"1799999100","recipient_id":"49151000{:05}","conversation":{{"id":"c0ffee{i:08}","origin":{{"type":"service"}}}},"pricing":{{"billable":true,"pricing_model":"PMP","category":"service","type":"regular"}}}}"#,
                states[i % 3],
                i % 50
            )
        })
        .collect();
    wrap(format!(r#""statuses":[{}]"#, items.join(",")))
}

/// A delivery's statements: its rows, then the relay's part when `events`
/// are given, as `edge::store` builds them when destinations exist and
/// none takes the delivery.
fn statements(body: &[u8], plan: &Plan, events: Option<&[events::Event]>) -> Writes {
    let now = RECEIVED_AT * 1000;
    let mut writes = delivery_writes(plan, &[], Vec::new(), now, ROWS);
    let Some(events) = events else {
        return writes;
    };
    let id = route::delivery_id(body);
    let forwards = route::for_delivery(Some((&id, body)), events, &[]);
    let kept = Kept {
        id: &id,
        channel: None,
        body,
    };
    keep_delivery(
        &mut writes,
        ROWS,
        Some(&kept),
        plan,
        (events, &forwards),
        now,
    );
    writes
}

/// One run of the pipeline: the relay events and D1 statements it made,
/// and how many items it stored as messages or statuses.
fn pipeline(body: &[u8], header: &str, secrets: &[Vec<u8>]) -> (usize, usize, usize) {
    let verified = signature::verify(Some(header), body, secrets).is_ok();
    let plan = plan(body, &Delivery::app(RECEIVED_AT));
    let events = events::of_plan(&plan);
    let writes = statements(body, &plan, Some(&events));
    let counts = plan.counts();
    assert!(verified, "the bench signs its own bodies");
    (
        events.len(),
        writes.statements.len(),
        counts.messages + counts.statuses,
    )
}

/// The median time of runs of `f` within `budget` (at least 5 runs).
fn median<T>(budget: Duration, mut f: impl FnMut() -> T) -> Duration {
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed() < budget && times.len() < 2000) {
        let t = Instant::now();
        black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// `BENCH_STATEMENTS=<file>`: the D1 statements (SQL and arguments, one
/// JSON array per line) of each body of a `bench/bodies.py` file, for
/// `bench/sql.py` to replay in SQLite.
fn dump_statements(path: &str) {
    let bodies = std::fs::read_to_string(path).expect("a bench/bodies.py file");
    for line in bodies.lines() {
        let Some(body) = line.splitn(3, '\t').nth(2) else {
            continue;
        };
        let body = body.as_bytes();
        let parsed = plan(body, &Delivery::app(RECEIVED_AT));
        let writes = statements(body, &parsed, None);
        let batch: Vec<serde_json::Value> = writes
            .statements
            .iter()
            .map(|st| {
                let args: Vec<serde_json::Value> = st
                    .args
                    .iter()
                    .map(|a| match a {
                        Arg::Null => serde_json::Value::Null,
                        Arg::Int(i) => (*i).into(),
                        Arg::Text(t) => t.as_str().into(),
                    })
                    .collect();
                serde_json::json!([st.sql, args])
            })
            .collect();
        println!("{}", serde_json::Value::Array(batch));
    }
}

fn main() {
    if let Ok(path) = std::env::var("BENCH_STATEMENTS") {
        return dump_statements(&path);
    }
    let secrets = vec![SECRET.to_vec()];
    let big = {
        // About 3 MB: Meta's largest deliveries are history backfills; 1000
        // messages of ~3 KB text each stand in for one.
        messages(1000, 2900)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("2KB", messages(1, 1500)),
        ("100_messages", messages(100, 200)),
        ("1000_statuses", statuses(1000)),
        ("3MB", big),
    ];
    // `BENCH_ONLY=1000_statuses` runs one shape (for a profiler).
    let only = std::env::var("BENCH_ONLY").ok();
    for (name, body) in &cases {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let header = signature::sign(body, SECRET);
        let budget = Duration::from_millis(1500);
        let total = median(budget, || pipeline(body, &header, &secrets));
        // Where the time goes: each stage on its own.
        let stage = Duration::from_millis(400);
        let sig = median(stage, || {
            signature::verify(Some(&header), body, &secrets).is_ok()
        });
        let parsed = plan(body, &Delivery::app(RECEIVED_AT));
        let plan_t = median(stage, || {
            plan(body, &Delivery::app(RECEIVED_AT)).counts().messages
        });
        let key_t = median(stage, || route::delivery_id(body).len());
        let events_t = median(stage, || events::of_plan(&parsed).len());
        let made = events::of_plan(&parsed);
        let writes_t = median(stage, || {
            statements(body, &parsed, Some(&made)).statements.len()
        });
        let (events, statements, items) = pipeline(body, &header, &secrets);
        let kb = body.len() as f64 / 1024.0;
        let us = total.as_secs_f64() * 1e6;
        println!(
            "RESULT name={name} kb={kb:.1} items={items} us={us:.0} us_per_kb={:.2} signature_us={:.0} key_us={:.0} plan_us={:.0} events_us={:.0} writes_us={:.0} events={events} statements={statements} bytes={}",
            us / kb,
            sig.as_secs_f64() * 1e6,
            key_t.as_secs_f64() * 1e6,
            plan_t.as_secs_f64() * 1e6,
            events_t.as_secs_f64() * 1e6,
            writes_t.as_secs_f64() * 1e6,
            body.len(),
        );
    }
}
