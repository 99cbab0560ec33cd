//! The outbox: when to try an outbound message again, when to give up, and
//! the statements that claim and record attempts.
//!
//! Every outbound message is written to the D1 outbox before any attempt.
//! Attempts claim rows (`queued` → `sending`) with one conditional update, so
//! a cron run and a `wait_until` racing for the same rows cannot both send
//! one. The claim first fails rows whose recipient has opted out on that
//! channel since they were queued: STOP wins at send time.
//!
//! At most once: every message carries `biz_opaque_callback_data` naming its
//! row. An attempt whose outcome is unknown (see [`crate::whatsapp::graph::error`]), or
//! a row left in `sending` past its lease, becomes `unknown` and is never
//! resent; a status webhook carrying the row's callback data resolves it.
//! Read receipts are idempotent and are simply retried.

use crate::db::{Arg, Stmt};
use crate::whatsapp::graph::error::Outcome;
use serde_json::{json, Value};

/// Attempts before a retryable failure becomes final.
pub const MAX_ATTEMPTS: i64 = 8;
/// Delay before the second attempt; doubles with each attempt after that.
pub const BASE_DELAY_S: i64 = 30;
/// Longest delay between two attempts.
pub const MAX_DELAY_S: i64 = 3600;
/// How long a claimed row may stay in `sending`.
pub const LEASE_MS: i64 = 60_000;
/// Rows sent after a response (webhook or send API) in the same invocation;
/// the rest wait for the cron. With the cron's share this keeps every
/// invocation under the Free plan's 50 D1 queries and 50 subrequests.
pub const AFTER_RESPONSE_MAX: i64 = 10;
/// Rows one cron run attempts at most.
pub const CRON_BATCH: i64 = 25;
/// Seconds an attempt waits for Graph before its outcome is unknown (the
/// default and the largest value of `GRAPH_TIMEOUT_S`).
pub const SEND_TIMEOUT_S: u64 = 15;
/// A run starts no attempt later than this after it began; rows it claimed
/// but did not attempt go back to the queue. With [`SEND_TIMEOUT_S`] this
/// ends a run after a response inside the 30 s `wait_until` allows.
pub const RUN_DEADLINE_MS: i64 = 10_000;

/// Row states, as stored.
pub mod state {
    pub const QUEUED: &str = "queued";
    pub const SENDING: &str = "sending";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
    pub const UNKNOWN: &str = "unknown";
}

/// How an outbox state is shown to API callers (`GET /v1/messages/{id}`
/// and an Idempotency-Key replay alike), before Graph reports a status.
pub fn shown_state(state: Option<&str>) -> &'static str {
    match state {
        Some("sent") => "accepted",
        Some("failed") => "failed",
        Some("unknown") => "unknown",
        _ => "queued",
    }
}

/// `last_error` of a row refused at send time because the recipient opted out.
pub const OPTED_OUT: &str = "opted_out: the recipient opted out before the message was sent";

/// Delay after failed attempt number `attempt` (1-based), honouring the
/// server's `Retry-After` when it asks for longer.
pub fn backoff_s(attempt: i64, retry_after_s: Option<u64>) -> i64 {
    let exp = attempt.clamp(1, 20) - 1;
    let delay = (BASE_DELAY_S << exp).min(MAX_DELAY_S);
    let asked = retry_after_s.map_or(0, |s| s.min(86_400) as i64);
    delay.max(asked)
}

/// What to write to the outbox row after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Sent {
        wamid: String,
    },
    RetryAt {
        at_ms: i64,
        error: String,
        code: Option<i64>,
    },
    Failed {
        error: String,
        code: Option<i64>,
        auth: bool,
    },
    /// Graph may have accepted it: never resent, resolved by a status webhook.
    Unknown {
        error: String,
    },
    /// Claimed but not attempted (the run ran out of time): back to the
    /// queue, due at once, the attempt not counted.
    Released,
}

/// Decides the row's next state from attempt number `attempt` and its
/// outcome. `idempotent` rows (read receipts) may be retried after an
/// unknown outcome; messages never are.
pub fn next(attempt: i64, outcome: Outcome, now_ms: i64, idempotent: bool) -> Next {
    let retry = |reason: String, code, retry_after_s| {
        if attempt < MAX_ATTEMPTS {
            Next::RetryAt {
                at_ms: now_ms + backoff_s(attempt, retry_after_s) * 1000,
                error: reason,
                code,
            }
        } else {
            Next::Failed {
                error: format!("gave up after {attempt} attempts; last error {reason}"),
                code,
                auth: false,
            }
        }
    };
    match outcome {
        Outcome::Sent { wamid } => Next::Sent { wamid },
        Outcome::Retry {
            reason,
            code,
            retry_after_s,
        } => retry(reason, code, retry_after_s),
        Outcome::Unknown { reason } if idempotent => retry(reason, None, None),
        Outcome::Unknown { reason } => Next::Unknown {
            error: format!("delivery outcome unknown ({reason}); not resent to avoid a duplicate"),
        },
        Outcome::Failed { reason, code } => Next::Failed {
            error: reason,
            code,
            auth: false,
        },
        Outcome::AuthFailed { reason, code } => Next::Failed {
            error: reason,
            code,
            auth: true,
        },
    }
}

/// Longest `biz_opaque_callback_data` Graph accepts.
pub const MAX_CALLBACK_DATA: usize = 512;
/// Room left for a caller's own callback data beside the row id.
pub const MAX_CALLER_CALLBACK_DATA: usize = MAX_CALLBACK_DATA - 37;

/// The `biz_opaque_callback_data` sent with row `id`: the id, then the
/// caller's own value (if any) after a `|`.
pub fn callback_data(id: &str, callers: Option<&str>) -> String {
    match callers.filter(|c| !c.is_empty()) {
        Some(c) => format!("{id}|{c}"),
        None => id.to_owned(),
    }
}

/// The outbox id named by a status's `biz_opaque_callback_data`, if it
/// names one.
pub fn callback_id(data: &str) -> Option<&str> {
    let id = data.split('|').next()?;
    let hex = id.strip_prefix("out_")?;
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The message as sent for row `id`: Graph's message object with the row's
/// callback data (keeping the caller's own after it).
pub fn with_callback(message: &Value, id: &str) -> Value {
    let mut out = message.clone();
    if let Some(obj) = out.as_object_mut() {
        let callers = obj
            .get("biz_opaque_callback_data")
            .and_then(Value::as_str)
            .map(str::to_owned);
        obj.insert(
            "biz_opaque_callback_data".into(),
            json!(callback_data(id, callers.as_deref())),
        );
    }
    out
}

/// Which rows an attempt run may claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim<'a> {
    /// Any due row (the cron).
    Due,
    /// Only these rows (the ones a request just queued).
    Ids(&'a [String]),
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
AND o.wa_id = outbox.wa_id AND o.opted_out = 1)";
    const CLAIM_SQL: &str = "UPDATE outbox SET state = 'sending', attempts = attempts + 1, \
lease_until = ?2 + ?3, updated_at = ?2 WHERE id IN (SELECT id FROM outbox \
WHERE state = 'queued' AND next_attempt_at <= ?2 \
AND (?1 IS NULL OR id IN (SELECT value FROM json_each(?1))) \
ORDER BY next_attempt_at LIMIT ?4) \
RETURNING id, phone_number_id, kind, payload, attempts";
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

/// A claimed row.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: String,
    pub phone_number_id: String,
    /// `message` or `mark_read`.
    pub kind: String,
    pub payload: Value,
    /// This attempt's number (1-based).
    pub attempt: i64,
}

impl Claimed {
    /// Reads a row returned by [`claim`]; `None` for a row without an id.
    pub fn from_row(row: &Value) -> Option<Claimed> {
        let text = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Claimed {
            id: text("id")?,
            phone_number_id: text("phone_number_id").unwrap_or_default(),
            kind: text("kind").unwrap_or_else(|| "message".into()),
            payload: text("payload")
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or(Value::Null),
            attempt: row
                .get("attempts")
                .and_then(|a| a.as_i64().or_else(|| a.as_f64().map(|f| f as i64)))
                .unwrap_or(1),
        })
    }

    /// True for rows that may be retried after an unknown outcome.
    pub fn idempotent(&self) -> bool {
        self.kind == "mark_read"
    }
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

/// The statements recording a run's results (row id, channel, next state),
/// as bulk statements: at most three whatever the number of rows.
pub fn record(results: &[(String, String, Next)], now_ms: i64) -> Vec<Stmt> {
    if results.is_empty() {
        return Vec::new();
    }
    let rows: Vec<Value> = results
        .iter()
        .map(|(id, _, next)| match next {
            Next::Sent { wamid } => {
                let wamid = (!wamid.is_empty()).then_some(wamid.as_str());
                json!([id, state::SENT, wamid, null, null, null])
            }
            Next::RetryAt { at_ms, error, code } => {
                json!([id, state::QUEUED, null, at_ms, error, code])
            }
            Next::Failed { error, code, .. } => json!([id, state::FAILED, null, null, error, code]),
            Next::Unknown { error } => json!([id, state::UNKNOWN, null, null, error, null]),
            Next::Released => json!([id, state::QUEUED, null, now_ms, null, null, 1]),
        })
        .collect();
    let rows = Value::from(rows).to_string();
    const UPDATE: &str =
        "UPDATE outbox SET state = j.state, wamid = coalesce(j.wamid, outbox.wamid), \
next_attempt_at = coalesce(j.at, outbox.next_attempt_at), \
attempts = outbox.attempts - coalesce(j.released, 0), \
last_error = CASE WHEN j.released = 1 THEN outbox.last_error ELSE j.error END, \
last_error_code = CASE WHEN j.released = 1 THEN outbox.last_error_code ELSE j.code END, \
updated_at = ?2 FROM (SELECT json_extract(value, '$[0]') AS id, \
json_extract(value, '$[1]') AS state, json_extract(value, '$[2]') AS wamid, \
json_extract(value, '$[3]') AS at, json_extract(value, '$[4]') AS error, \
json_extract(value, '$[5]') AS code, json_extract(value, '$[6]') AS released \
FROM json_each(?1)) AS j \
WHERE outbox.id = j.id AND outbox.state IN ('sending', 'unknown')";
    const LINK: &str = "UPDATE OR IGNORE messages SET wamid = j.wamid \
FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[2]') AS wamid \
FROM json_each(?1)) AS j WHERE messages.id = j.id AND j.wamid IS NOT NULL \
AND messages.wamid IS NULL";
    let mut out = vec![
        Stmt::new(UPDATE, vec![rows.clone().into(), now_ms.into()]),
        Stmt::new(LINK, vec![rows.into()]),
    ];
    let alerts: Vec<Value> = results
        .iter()
        .filter_map(|(_, pnid, next)| match next {
            Next::Failed {
                error, auth: true, ..
            } => Some(json!([pnid, error])),
            _ => None,
        })
        .collect();
    if !alerts.is_empty() {
        out.push(Stmt::new(
            "INSERT INTO channel_alerts (phone_number_id, auth_failed_at, error) \
SELECT json_extract(value, '$[0]'), ?2, json_extract(value, '$[1]') FROM json_each(?1) WHERE true \
ON CONFLICT (phone_number_id) DO UPDATE SET auth_failed_at = excluded.auth_failed_at, \
error = excluded.error",
            vec![Value::from(alerts).to_string().into(), now_ms.into()],
        ));
    }
    out
}

/// A status webhook resolving a row by its callback data: the row's channel,
/// the message's wamid and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub outbox_id: String,
    pub phone_number_id: Option<String>,
    pub wamid: String,
    pub status: String,
    pub rank: i64,
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
