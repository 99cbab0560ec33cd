//! The relay's tables: destinations, the bodies and events kept for
//! forwarding and replay, and one forward per (source, destination) with
//! its state, attempts and last answer.

use super::ingest::{spill, Owner, Spill, Writes};
use super::{bulk, Arg, Stmt};
use crate::cols;
use crate::relay::destination::{body_json, Destination};
use crate::relay::events::Event;
use crate::relay::route::Forward;
use serde_json::{json, Value};

/// How long a claimed forward is someone's before it may be claimed again.
pub const LEASE_MS: i64 = 30_000;
/// A rotated secret stays valid this long.
pub const PREVIOUS_SECRET_MS: i64 = 24 * 3600 * 1000;

/// Every destination, oldest first, without secrets.
pub fn list() -> Stmt {
    Stmt::new(
        "SELECT id, body, enabled, disabled_reason FROM destinations ORDER BY created_at, id",
        vec![],
    )
}

/// One destination with its secrets (for signing).
pub fn get(id: &str) -> Stmt {
    Stmt::new(
        "SELECT id, body, enabled, disabled_reason, secret, previous_secret, previous_until \
FROM destinations WHERE id = ?1",
        vec![id.into()],
    )
}

/// Stores a new destination with its secret.
pub fn insert(d: &Destination, secret: &str, now_ms: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO destinations (id, body, secret, enabled, created_at, updated_at) \
VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        vec![
            d.id.as_str().into(),
            body_json(d).to_string().into(),
            secret.into(),
            d.enabled.into(),
            now_ms.into(),
        ],
    )
}

/// Stores a changed destination; re-enabling forgets the failing streak.
pub fn update(d: &Destination, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE destinations SET body = ?2, enabled = ?3, disabled_reason = ?4, \
failing_since = CASE WHEN ?3 = 1 THEN NULL ELSE failing_since END, updated_at = ?5 WHERE id = ?1",
        vec![
            d.id.as_str().into(),
            body_json(d).to_string().into(),
            d.enabled.into(),
            d.disabled_reason.as_deref().into(),
            now_ms.into(),
        ],
    )
}

/// Deletes a destination and its forwards.
pub fn delete(id: &str) -> [Stmt; 2] {
    [
        Stmt::new(
            "DELETE FROM forwards WHERE destination_id = ?1",
            vec![id.into()],
        ),
        Stmt::new("DELETE FROM destinations WHERE id = ?1", vec![id.into()]),
    ]
}

/// Replaces the secret; the old one stays valid for a day.
pub fn rotate(id: &str, secret: &str, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE destinations SET previous_secret = secret, previous_until = ?3, secret = ?2, \
updated_at = ?4 WHERE id = ?1",
        vec![
            id.into(),
            secret.into(),
            (now_ms + PREVIOUS_SECRET_MS).into(),
            now_ms.into(),
        ],
    )
}

/// A destination's last day: counts by state, delivered latencies and the
/// last error.
pub fn stats(id: &str, since_ms: i64) -> [Stmt; 3] {
    [
        Stmt::new(
            "SELECT state, count(*) AS n FROM forwards WHERE destination_id = ?1 \
AND updated_at >= ?2 GROUP BY state",
            vec![id.into(), since_ms.into()],
        ),
        Stmt::new(
            "SELECT latency_ms FROM forwards WHERE destination_id = ?1 AND state = 'delivered' \
AND updated_at >= ?2 AND latency_ms IS NOT NULL ORDER BY latency_ms LIMIT 10000",
            vec![id.into(), since_ms.into()],
        ),
        Stmt::new(
            "SELECT last_status, last_error, updated_at FROM forwards WHERE destination_id = ?1 \
AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
            vec![id.into()],
        ),
    ]
}

const INSERT_DELIVERY: &str = "INSERT INTO deliveries (id, raw, raw_encoding, raw_ref, channel, \
received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING";

const INSERT_DELIVERY_CONTACTS: &str = concat!(
    "INSERT INTO delivery_contacts (identifier, delivery_id) SELECT ",
    cols!(0, 1),
    " FROM json_each(?1) WHERE ?2 IS NOT NULL ON CONFLICT DO NOTHING"
);

/// Keeps a delivery's body (`raw` in `encoding`, as events keep theirs)
/// under `id`, and the identifiers it names.
pub fn store_delivery(
    writes: &mut Writes,
    how: Spill,
    stored: (&str, &str, &str),
    channel: Option<&str>,
    names: &[String],
    now_ms: i64,
) {
    let (id, raw, encoding) = stored;
    let mut parts = Writes::default();
    let owner = || Owner::Delivery(id.to_owned());
    let (raw, raw_ref) = spill(&mut parts, how, owner, raw);
    writes.statements.push(Stmt::new(
        INSERT_DELIVERY,
        vec![
            id.into(),
            raw.into(),
            encoding.into(),
            raw_ref.into(),
            channel.into(),
            now_ms.into(),
        ],
    ));
    bulk(
        &mut writes.statements,
        INSERT_DELIVERY_CONTACTS,
        names.iter().map(|n| json!([n, id])),
        now_ms,
    );
    writes.statements.append(&mut parts.statements);
    writes.blobs.append(&mut parts.blobs);
}

/// A delivery's relay part: its key, channel and body.
pub struct Kept<'a> {
    pub id: &'a str,
    pub channel: Option<&'a str>,
    pub body: &'a [u8],
}

/// Adds a delivery's relay statements to `writes`: the body kept (as JSON,
/// as text when it is a dead letter, or hex when it is not UTF-8, the
/// encodings its dead letter event has) for `meta` forwards and replay, with
/// the people it names for erasure, unless `kept` is `None`; its events;
/// its forwards.
pub fn keep_delivery(
    writes: &mut Writes,
    how: Spill,
    kept: Option<&Kept>,
    plan: &crate::inbound::ingest::Plan,
    (events, forwards): (&[Event], &[Forward]),
    now_ms: i64,
) {
    if let Some(kept) = kept {
        let (raw, encoding) = match std::str::from_utf8(kept.body) {
            Ok(text) if plan.is_dead_letter() => (std::borrow::Cow::Borrowed(text), "text"),
            Ok(text) => (std::borrow::Cow::Borrowed(text), "json"),
            Err(_) => (std::borrow::Cow::Owned(hex::encode(kept.body)), "hex"),
        };
        let names: Vec<String> = crate::erasure::named(plan).into_iter().collect();
        store_delivery(
            writes,
            how,
            (kept.id, &raw, encoding),
            kept.channel,
            &names,
            now_ms,
        );
    }
    store_events(&mut writes.statements, events, now_ms);
    create_forwards(&mut writes.statements, forwards, false, now_ms);
}

const INSERT_EVENTS: &str = concat!(
    "INSERT INTO relay_events (id, type, field, phone_number_id, statuses, ref, at, received_at) SELECT ",
    cols!(0, 1, 2, 3, 4, 5, 6),
    ", ?2 FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING"
);

/// Keeps events for `events` destinations and replay.
pub fn store_events(out: &mut Vec<Stmt>, events: &[Event], now_ms: i64) {
    bulk(
        out,
        INSERT_EVENTS,
        // The ref goes in as a JSON array, and is stored as its text.
        events.iter().map(|e| {
            (
                &e.id,
                &e.kind,
                &e.field,
                &e.phone_number_id,
                e.statuses.map(i64::from),
                &e.what,
                e.at,
            )
        }),
        now_ms,
    );
}

const INSERT_FORWARDS: &str = concat!(
    "INSERT INTO forwards (id, destination_id, source, state, next_attempt_at, created_at, updated_at) SELECT ",
    cols!(0, 1, 2),
    ", 'pending', ?2, ?2, ?2 FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING"
);

// A replay makes an existing forward pending again, with its id unchanged.
const REPLAY_FORWARDS: &str = concat!(
    "INSERT INTO forwards (id, destination_id, source, state, next_attempt_at, created_at, updated_at) SELECT ",
    cols!(0, 1, 2),
    ", 'pending', ?2, ?2, ?2 FROM json_each(?1) WHERE true ON CONFLICT (id) DO UPDATE SET ",
    "state = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, ",
    "updated_at = excluded.updated_at WHERE forwards.state != 'sending'"
);

/// Creates forwards; one that exists is left as it is (`replay` false) or
/// made pending again (`replay` true).
pub fn create_forwards(out: &mut Vec<Stmt>, rows: &[Forward], replay: bool, now_ms: i64) {
    bulk(
        out,
        if replay {
            REPLAY_FORWARDS
        } else {
            INSERT_FORWARDS
        },
        rows.iter()
            .map(|f| json!([f.id, f.destination_id, f.source])),
        now_ms,
    );
}

/// Claims forward `id` if it is due: it is this caller's until the lease
/// ends. Returns `id, destination_id, source, attempts` when won.
pub fn claim(id: &str, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE forwards SET state = 'sending', attempts = attempts + 1, lease_until = ?2 + ?3, \
updated_at = ?2 WHERE id = ?1 AND state IN ('pending', 'retrying') AND next_attempt_at <= ?2 \
RETURNING id, destination_id, source, attempts",
        vec![id.into(), now_ms.into(), LEASE_MS.into()],
    )
}

/// A kept delivery's body and its parts.
pub fn delivery_body(id: &str) -> [Stmt; 2] {
    [
        Stmt::new(
            "SELECT raw, raw_encoding, raw_ref FROM deliveries WHERE id = ?1",
            vec![id.into()],
        ),
        Stmt::new(
            concat!(
                "SELECT data FROM raw_parts WHERE owner = (SELECT ",
                crate::parts_owner!(),
                " FROM deliveries WHERE id = ?1 AND ",
                crate::parts_named!(),
                ") ORDER BY part"
            ),
            vec![id.into()],
        ),
    ]
}

/// A kept event.
pub fn event(id: &str) -> Stmt {
    Stmt::new(
        "SELECT id, type, field, phone_number_id, statuses, ref, at FROM relay_events WHERE id = ?1",
        vec![id.into()],
    )
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub id: String,
    pub destination_id: String,
    /// `delivered`, `retrying` or `dead`.
    pub state: &'static str,
    pub next_attempt_at: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: Option<i64>,
    /// Why to disable the destination (`410 Gone`).
    pub disable: Option<String>,
}

/// Records outcomes, keeps each destination's failing streak, and
/// disables a destination gone (`410`) or failing for
/// [`crate::relay::schedule::DISABLE_AFTER_MS`].
pub fn record(outcomes: &[Outcome], now_ms: i64) -> Vec<Stmt> {
    let mut out = Vec::new();
    for o in outcomes {
        out.push(Stmt::new(
            "UPDATE forwards SET state = ?2, next_attempt_at = ?3, last_status = ?4, last_error = ?5, \
latency_ms = ?6, lease_until = 0, updated_at = ?7 WHERE id = ?1",
            vec![
                o.id.as_str().into(),
                o.state.into(),
                o.next_attempt_at.into(),
                o.status.map(i64::from).into(),
                o.error.as_deref().into(),
                o.latency_ms.into(),
                now_ms.into(),
            ],
        ));
        let delivered = o.state == "delivered";
        out.push(Stmt::new(
            "UPDATE destinations SET failing_since = CASE WHEN ?2 = 1 THEN NULL \
ELSE coalesce(failing_since, ?3) END, updated_at = ?3 WHERE id = ?1",
            vec![
                o.destination_id.as_str().into(),
                delivered.into(),
                now_ms.into(),
            ],
        ));
        let reason: Arg = o.disable.as_deref().into();
        out.push(Stmt::new(
            "UPDATE destinations SET enabled = 0, disabled_reason = coalesce(?2, \
'failing for five days without a delivery') WHERE id = ?1 AND enabled = 1 \
AND (?2 IS NOT NULL OR failing_since <= ?3 - ?4)",
            vec![
                o.destination_id.as_str().into(),
                reason,
                now_ms.into(),
                crate::relay::schedule::DISABLE_AFTER_MS.into(),
            ],
        ));
    }
    out
}

/// The sweep: interrupted attempts become due again, and forwards due for
/// a while (their queue message lost, or never sent) are returned.
pub fn sweep(now_ms: i64, limit: i64) -> [Stmt; 2] {
    [
        Stmt::new(
            "UPDATE forwards SET state = 'retrying', next_attempt_at = ?1 WHERE state = 'sending' \
AND lease_until < ?1",
            vec![now_ms.into()],
        ),
        Stmt::new(
            "SELECT id FROM forwards WHERE state IN ('pending', 'retrying') AND next_attempt_at <= ?1 - 30000 \
ORDER BY next_attempt_at LIMIT ?2",
            vec![now_ms.into(), limit.into()],
        ),
    ]
}

/// Forwards of a destination, newest first, optionally in one `state`
/// (`pending` covers those being sent).
pub fn list_forwards(
    destination: &str,
    state: Option<&str>,
    page: &super::reads::PageArgs,
) -> Stmt {
    let (at, id) = match &page.after {
        Some((at, id)) => (Arg::Int(*at), Arg::Text(id.clone())),
        None => (Arg::Null, Arg::Null),
    };
    Stmt::new(
        "SELECT id, source, state, attempts, next_attempt_at, last_status, last_error, latency_ms, \
created_at, updated_at FROM forwards WHERE destination_id = ?1 AND (?2 IS NULL OR state = ?2 \
OR (?2 = 'pending' AND state = 'sending')) AND (?3 IS NULL OR updated_at < ?3 \
OR (updated_at = ?3 AND id < ?4)) ORDER BY updated_at DESC, id DESC LIMIT ?5",
        vec![
            destination.into(),
            state.into(),
            at,
            id,
            (page.limit + 1).into(),
        ],
    )
}

/// Makes a dead (or retrying) forward due now; returns its id when it was.
pub fn retry(destination: &str, id: &str, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE forwards SET state = 'pending', attempts = 0, next_attempt_at = ?3, updated_at = ?3 \
WHERE id = ?2 AND destination_id = ?1 AND state IN ('dead', 'retrying') RETURNING id",
        vec![destination.into(), id.into(), now_ms.into()],
    )
}

/// Makes up to `limit` dead forwards of a destination due now.
pub fn retry_dead(destination: &str, now_ms: i64, limit: i64) -> Stmt {
    Stmt::new(
        "UPDATE forwards SET state = 'pending', attempts = 0, next_attempt_at = ?2, updated_at = ?2 \
WHERE id IN (SELECT id FROM forwards WHERE destination_id = ?1 AND state = 'dead' LIMIT ?3) RETURNING id",
        vec![destination.into(), now_ms.into(), limit.into()],
    )
}

/// Where a replay that had `more` goes on: after the last row it read, by
/// receipt time and id (the order it reads in), so rows received in the
/// same millisecond are neither read twice nor skipped. Written as
/// `<received_at ms>:<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub received_at: i64,
    pub id: String,
}

impl After {
    /// The cursor after `row` (a `deliveries` or `relay_events` row).
    pub fn of_row(row: &Value) -> Option<After> {
        Some(After {
            received_at: row.get("received_at")?.as_f64()? as i64,
            id: row.get("id")?.as_str()?.to_owned(),
        })
    }

    /// Reads a cursor as [`After::to_text`] wrote it.
    pub fn parse(s: &str) -> Option<After> {
        let (at, id) = s.split_once(':')?;
        let digits = (1..=15).contains(&at.len()) && at.bytes().all(|b| b.is_ascii_digit());
        let received_at = at.parse().ok().filter(|_: &i64| digits)?;
        let ok = !id.is_empty()
            && id.len() <= 80
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| After {
            received_at,
            id: id.to_owned(),
        })
    }

    pub fn to_text(&self) -> String {
        format!("{}:{}", self.received_at, self.id)
    }

    fn args(after: Option<&After>) -> [Arg; 2] {
        match after {
            Some(a) => [Arg::Int(a.received_at), Arg::Text(a.id.clone())],
            None => [Arg::Null, Arg::Null],
        }
    }
}

/// Kept deliveries received in `[since_ms, until_ms]` (and past `after`),
/// oldest first, with their bodies (a spilled one is read apart).
pub fn deliveries_between(since_ms: i64, until_ms: i64, after: Option<&After>, limit: i64) -> Stmt {
    let [at, id] = After::args(after);
    Stmt::new(
        "SELECT id, raw, raw_encoding, raw_ref, received_at FROM deliveries WHERE received_at >= ?1 \
AND received_at <= ?2 AND (?4 IS NULL OR received_at > ?4 OR (received_at = ?4 AND id > ?5)) \
ORDER BY received_at, id LIMIT ?3",
        vec![since_ms.into(), until_ms.into(), limit.into(), at, id],
    )
}

/// Kept events received in `[since_ms, until_ms]` (and past `after`),
/// oldest first.
pub fn events_between(since_ms: i64, until_ms: i64, after: Option<&After>, limit: i64) -> Stmt {
    let [at, id] = After::args(after);
    Stmt::new(
        "SELECT id, type, field, phone_number_id, statuses, ref, at, received_at FROM relay_events \
WHERE received_at >= ?1 AND received_at <= ?2 AND (?4 IS NULL OR received_at > ?4 \
OR (received_at = ?4 AND id > ?5)) ORDER BY received_at, id LIMIT ?3",
        vec![since_ms.into(), until_ms.into(), limit.into(), at, id],
    )
}

/// Kept bodies past the retention whose bytes are in R2 (`id`, `raw_ref`),
/// at most `limit`: their objects go before their rows, so none is left
/// without a row that names it.
pub fn expired_in_r2(before_ms: i64, limit: i64) -> Stmt {
    Stmt::new(
        "SELECT id, raw_ref FROM deliveries WHERE received_at < ?1 AND raw_ref LIKE 'r2:%' \
ORDER BY received_at LIMIT ?2",
        vec![before_ms.into(), limit.into()],
    )
}

/// Which kept bodies [`prune`] drops: those past the retention, except the
/// ones in R2 whose objects are not among `removed` (the ids whose objects
/// are gone).
macro_rules! expired {
    () => {
        "received_at < ?1 AND (raw_ref IS NULL OR raw_ref NOT LIKE 'r2:%' \
OR id IN (SELECT value FROM json_each(?2)))"
    };
}

/// Drops what is older than the retention: kept bodies (and their parts and
/// the people they name; of those in R2, only the ones whose objects are in
/// `removed`), events, and finished forwards.
pub fn prune(before_ms: i64, removed: &[String]) -> [Stmt; 5] {
    let removed = Value::from(removed.to_vec()).to_string();
    let args = || vec![Arg::Int(before_ms), Arg::Text(removed.clone())];
    let arg = || vec![Arg::Int(before_ms)];
    [
        Stmt::new(
            concat!(
                "DELETE FROM raw_parts WHERE owner IN (SELECT ",
                crate::parts_owner!(),
                " FROM deliveries WHERE ",
                crate::parts_named!(),
                " AND ",
                expired!(),
                ")"
            ),
            args(),
        ),
        Stmt::new(
            concat!(
                "DELETE FROM delivery_contacts WHERE delivery_id IN (SELECT id FROM deliveries WHERE ",
                expired!(),
                ")"
            ),
            args(),
        ),
        Stmt::new(concat!("DELETE FROM deliveries WHERE ", expired!()), args()),
        Stmt::new("DELETE FROM relay_events WHERE received_at < ?1", arg()),
        Stmt::new(
            "DELETE FROM forwards WHERE state IN ('delivered', 'dead') AND updated_at < ?1",
            arg(),
        ),
    ]
}

/// Reads a destination row (as [`list`] and [`get`] return it).
pub fn destination_from_row(row: &Value) -> Option<Destination> {
    crate::relay::destination::from_row(
        row.get("id")?.as_str()?,
        row.get("body")?.as_str()?,
        row.get("enabled").and_then(Value::as_f64).unwrap_or(1.0) != 0.0,
        row.get("disabled_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
    )
}

/// Reads a kept event (as [`event`] and [`events_between`] return it).
pub fn event_from_row(row: &Value) -> Option<Event> {
    let text = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Event {
        id: text("id")?,
        kind: text("type")?,
        field: text("field")?,
        phone_number_id: text("phone_number_id"),
        statuses: row
            .get("statuses")
            .and_then(Value::as_f64)
            .map(|s| s != 0.0),
        what: crate::relay::events::Ref::from_json(&serde_json::from_str(&text("ref")?).ok()?)?,
        at: row.get("at").and_then(Value::as_f64).unwrap_or(0.0) as i64,
    })
}
