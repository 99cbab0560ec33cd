//! The `outbox` table (and the `messages` rows of outbound messages, written
//! with it): queueing, claiming attempts, recording outcomes, resolving
//! rows from status webhooks, and the counts the send checks need.

use super::{Arg, Stmt};
use crate::cols;
use crate::outbound::outbox::{
    Attempt, Claim, Claimed, Next, Resolution, State, LEASE_MS, OPTED_OUT,
};
use crate::outbound::send::{Enqueue, IdempotencyKey};
use serde_json::{json, Value};

// One JSON row per outbox row: id, channel, recipient, kind, payload,
// source, dedupe key, request hash, contact key (3).
const INSERT_OUTBOX: &str = concat!(
    "INSERT INTO outbox (id, phone_number_id, recipient, kind, payload, state, next_attempt_at, ",
    "source, dedupe_key, request_hash, contact_id, created_at, updated_at) SELECT ",
    cols!(0, 1, 2, 3, 4),
    ", 'queued', ?2, ",
    cols!(5, 6, 7),
    ", ",
    crate::contact_at!("8", "9", "10", "11"),
    ", ?2, ?2 FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING"
);

// The message row exists only when its outbox row won its dedupe key (ids
// are fresh, so a lost key leaves no row with this id).
// Row: id, channel, type, text, context id, payload, key (3), scope,
// media id.
const INSERT_OUT_MESSAGES: &str = concat!(
    "INSERT INTO messages (id, wamid, direction, phone_number_id, contact_id, wa_id, user_id, ",
    "type, timestamp, text, context_id, raw, media_id, received_at) SELECT ",
    cols!(0),
    ", NULL, 'out', ",
    cols!(1),
    ", ",
    crate::contact_at!("6", "7", "8", "9"),
    ", ",
    cols!(7, 8, 2),
    ", ?2 / 1000, ",
    cols!(3, 4, 5, 10),
    ", ?2 FROM json_each(?1) WHERE EXISTS (SELECT 1 FROM outbox o ",
    "WHERE o.id = json_extract(value, '$[0]')) ON CONFLICT DO NOTHING"
);

/// Statements that store `rows` (and, for messages, their `messages` rows)
/// at `now_ms`, as bulk statements whatever their number. A dedupe key
/// already taken makes a row's statements no-ops.
pub fn enqueue_statements(rows: &[Enqueue], now_ms: i64) -> Vec<Stmt> {
    let mut out = Vec::new();
    crate::db::bulk(
        &mut out,
        INSERT_OUTBOX,
        rows.iter().map(|e| {
            let [c, w, u] = e.contact.json();
            json!([
                e.id,
                e.phone_number_id,
                e.recipient,
                e.kind,
                e.payload.to_string(),
                e.source,
                e.dedupe_key,
                e.request_hash,
                c,
                w,
                u,
                e.contact.scope
            ])
        }),
        now_ms,
    );
    crate::db::bulk(
        &mut out,
        INSERT_OUT_MESSAGES,
        rows.iter().filter(|e| e.kind == "message").map(|e| {
            let text = e
                .payload
                .pointer("/text/body")
                .or_else(|| e.payload.pointer("/interactive/body/text"))
                .and_then(Value::as_str);
            let [c, w, u] = e.contact.json();
            json!([
                e.id,
                e.phone_number_id,
                e.payload
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown"),
                text,
                e.payload
                    .pointer("/context/message_id")
                    .and_then(Value::as_str),
                e.payload.to_string(),
                c,
                w,
                u,
                e.contact.scope,
                crate::whatsapp::message::media_id(&e.payload)
            ])
        }),
        now_ms,
    );
    out
}

/// The outbox row holding an `Idempotency-Key`: under its caller's dedupe
/// key, else under the shared form rows stored before keys were per caller.
pub fn by_idempotency_key(key: &IdempotencyKey) -> Stmt {
    Stmt::new(
        "SELECT id, state, request_hash FROM outbox WHERE dedupe_key IN (?1, ?2) \
ORDER BY dedupe_key = ?1 DESC LIMIT 1",
        vec![key.dedupe_key().into(), key.shared_dedupe_key().into()],
    )
}

/// The statements of one attempt run, as one batch: fail due rows whose
/// recipient opted out on that channel (confirmations and read receipts
/// exempt), then claim up to `limit` due rows. The second statement returns
/// the rows this caller won.
pub fn claim(which: &Claim, now_ms: i64, limit: i64) -> [Stmt; 2] {
    let ids: Arg = match which {
        Claim::Due => Arg::Null,
        Claim::Ids(ids) => Value::from(ids.to_vec()).to_string().into(),
    };
    const OPTED_OUT_SQL: &str = "UPDATE outbox SET state = 'failed', last_error = ?3, \
last_error_code = NULL, updated_at = ?2 WHERE state = 'queued' AND next_attempt_at <= ?2 \
AND (?1 IS NULL OR id IN (SELECT value FROM json_each(?1))) \
AND kind = 'message' AND source NOT IN ('opt_out', 'opt_in') \
AND EXISTS (SELECT 1 FROM opt_outs o WHERE o.phone_number_id = outbox.phone_number_id \
AND o.contact_id = outbox.contact_id AND o.opted_out = 1)";
    const CLAIM_SQL: &str = "UPDATE outbox SET state = 'sending', attempts = attempts + 1, \
lease_until = ?2 + ?3, updated_at = ?2 WHERE id IN (SELECT id FROM outbox \
WHERE state = 'queued' AND next_attempt_at <= ?2 \
AND (?1 IS NULL OR id IN (SELECT value FROM json_each(?1))) \
ORDER BY next_attempt_at LIMIT ?4) \
RETURNING id, phone_number_id, kind, payload, attempts, \
coalesce(contact_id, recipient) AS recipient, created_at, rowid AS seq";
    [
        Stmt::new(
            OPTED_OUT_SQL,
            vec![ids.clone(), now_ms.into(), OPTED_OUT.into()],
        ),
        Stmt::new(
            CLAIM_SQL,
            vec![ids, now_ms.into(), LEASE_MS.into(), limit.into()],
        ),
    ]
}

/// Rows whose sender vanished mid-attempt: a message's outcome is unknown
/// (Graph may have accepted it), a read receipt is simply failed.
pub fn expire_leases(now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE outbox SET state = CASE kind WHEN 'message' THEN 'unknown' ELSE 'failed' END, \
updated_at = ?1, last_error = 'delivery outcome unknown: the attempt was interrupted; \
not resent to avoid a duplicate' WHERE state = 'sending' AND lease_until < ?1",
        vec![now_ms.into()],
    )
}

// Records a run's results: each row's state, wamid, next attempt, error and
// decision time, from one JSON array (see [`record`]).
const RECORD_UPDATE: &str =
    "UPDATE outbox SET state = j.state, wamid = coalesce(j.wamid, outbox.wamid), \
next_attempt_at = coalesce(j.at, outbox.next_attempt_at), \
attempts = outbox.attempts - coalesce(j.released, 0), \
last_error = CASE WHEN j.released = 1 THEN outbox.last_error ELSE j.error END, \
last_error_code = CASE WHEN j.released = 1 THEN outbox.last_error_code ELSE j.code END, \
updated_at = coalesce(j.updated_at, ?2) FROM (SELECT json_extract(value, '$[0]') AS id, \
json_extract(value, '$[1]') AS state, json_extract(value, '$[2]') AS wamid, \
json_extract(value, '$[3]') AS at, json_extract(value, '$[4]') AS error, \
json_extract(value, '$[5]') AS code, json_extract(value, '$[6]') AS released, \
json_extract(value, '$[7]') AS updated_at \
FROM json_each(?1)) AS j \
WHERE outbox.id = j.id AND outbox.state IN ('sending', 'unknown')";

// Links an outbound message row to the wamid Graph gave it.
const RECORD_LINK: &str = "UPDATE OR IGNORE messages SET wamid = j.wamid \
FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[2]') AS wamid \
FROM json_each(?1)) AS j WHERE messages.id = j.id AND j.wamid IS NOT NULL \
AND messages.wamid IS NULL";

// Flags channels whose credential Graph refused.
const RECORD_ALERTS: &str = "INSERT INTO channel_alerts (phone_number_id, auth_failed_at, error) \
SELECT json_extract(value, '$[0]'), ?2, json_extract(value, '$[1]') FROM json_each(?1) WHERE true \
ON CONFLICT (phone_number_id) DO UPDATE SET auth_failed_at = excluded.auth_failed_at, \
error = excluded.error";

/// The statements recording a run's attempts, as bulk statements: at most
/// three whatever the number of rows.
pub fn record(results: &[Attempt], now_ms: i64) -> Vec<Stmt> {
    if results.is_empty() {
        return Vec::new();
    }
    let rows: Vec<Value> = results
        .iter()
        .map(|a| (&a.id, &a.next, a.decided))
        .map(|(id, next, at)| match next {
            Next::Sent { wamid } => {
                let wamid = (!wamid.is_empty()).then_some(wamid.as_str());
                json!([id, State::Sent.as_str(), wamid, null, null, null, null, at])
            }
            Next::RetryAt { at_ms, error, code } => {
                json!([
                    id,
                    State::Queued.as_str(),
                    null,
                    at_ms,
                    error,
                    code,
                    null,
                    at
                ])
            }
            Next::Failed { error, code, .. } => {
                json!([
                    id,
                    State::Failed.as_str(),
                    null,
                    null,
                    error,
                    code,
                    null,
                    at
                ])
            }
            Next::Unknown { error } => {
                json!([
                    id,
                    State::Unknown.as_str(),
                    null,
                    null,
                    error,
                    null,
                    null,
                    at
                ])
            }
            Next::Released => json!([id, State::Queued.as_str(), null, now_ms, null, null, 1, at]),
        })
        .collect();
    let rows = Value::from(rows).to_string();
    let mut out = vec![
        Stmt::new(RECORD_UPDATE, vec![rows.clone().into(), now_ms.into()]),
        Stmt::new(RECORD_LINK, vec![rows.into()]),
    ];
    let alerts: Vec<Value> = results
        .iter()
        .filter_map(|a| match &a.next {
            Next::Failed {
                error, auth: true, ..
            } => Some(json!([a.phone_number_id, error])),
            _ => None,
        })
        .collect();
    if !alerts.is_empty() {
        out.push(Stmt::new(
            RECORD_ALERTS,
            vec![Value::from(alerts).to_string().into(), now_ms.into()],
        ));
    }
    out
}

/// Resolves rows from the statuses that name them, one bulk statement per
/// table: rows whose outcome was unknown, whose answer has not been recorded
/// yet, or that wait for a retry (Graph had the message after all: it is not
/// sent again). A status names a row only on the row's own channel.
pub fn resolve(resolutions: &[Resolution], now_ms: i64) -> Vec<Stmt> {
    // The highest-ranked status per row decides it.
    let mut best: std::collections::BTreeMap<&str, &Resolution> = Default::default();
    for r in resolutions {
        let keep = best
            .get(r.outbox_id.as_str())
            .is_none_or(|b| r.rank > b.rank);
        if keep {
            best.insert(&r.outbox_id, r);
        }
    }
    if best.is_empty() {
        return Vec::new();
    }
    let rows = Value::from(
        best.values()
            .map(|r| json!([r.outbox_id, r.phone_number_id, r.wamid, r.status]))
            .collect::<Vec<_>>(),
    )
    .to_string();
    const UPDATE: &str = "UPDATE outbox SET state = CASE WHEN j.status = 'failed' THEN 'failed' \
ELSE 'sent' END, wamid = j.wamid, last_error = CASE WHEN j.status = 'failed' \
THEN 'failed: reported by a status webhook' ELSE NULL END, updated_at = ?2 \
FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS pnid, \
json_extract(value, '$[2]') AS wamid, json_extract(value, '$[3]') AS status \
FROM json_each(?1)) AS j WHERE outbox.id = j.id AND outbox.phone_number_id = j.pnid \
AND outbox.kind = 'message' AND outbox.state IN ('unknown', 'sending', 'queued')";
    const LINK: &str = "UPDATE OR IGNORE messages SET wamid = j.wamid \
FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS pnid, \
json_extract(value, '$[2]') AS wamid FROM json_each(?1)) AS j \
WHERE messages.id = j.id AND messages.phone_number_id = j.pnid AND messages.wamid IS NULL";
    vec![
        Stmt::new(UPDATE, vec![rows.clone().into(), now_ms.into()]),
        Stmt::new(LINK, vec![rows.into()]),
    ]
}

/// Ids of rows due at `now_ms` (for tests and tools).
pub fn due(now_ms: i64, limit: i64) -> Stmt {
    Stmt::new(
        "SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?1 \
ORDER BY next_attempt_at LIMIT ?2",
        vec![now_ms.into(), limit.into()],
    )
}

/// Reads a row returned by [`claim`]; `None` for a row without an id.
pub fn claimed(row: &Value) -> Option<Claimed> {
    let text = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
    let number = |k: &str| {
        row.get(k)
            .and_then(|a| a.as_i64().or_else(|| a.as_f64().map(|f| f as i64)))
    };
    Some(Claimed {
        id: text("id")?,
        phone_number_id: text("phone_number_id").unwrap_or_default(),
        kind: text("kind").unwrap_or_else(|| "message".into()),
        payload: text("payload")
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or(Value::Null),
        attempt: number("attempts").unwrap_or(1),
        recipient: text("recipient").unwrap_or_default(),
        queued_at: number("created_at").unwrap_or(0),
        seq: number("seq").unwrap_or(0),
    })
}
