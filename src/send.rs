//! Queueing outbound messages: the send API's request handling and the
//! outbox statements shared by API sends and rule replies.

use crate::api::ApiError;
use crate::outbound;
use crate::outbox::{Next, LEASE_MS};
use crate::store::{Arg, Stmt};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Largest `POST /v1/messages` body.
pub const MAX_SEND_BODY: usize = 64 * 1024;

/// A validated `POST /v1/messages` request.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    /// The channel (`from`), when the caller chose one.
    pub from: Option<String>,
    /// The recipient's canonical wa_id (see [`crate::phone`]).
    pub to: String,
    /// Graph's message object, without `from`.
    pub message: Value,
}

/// Parses and validates a send request body.
pub fn parse(body: &[u8]) -> Result<SendRequest, ApiError> {
    let mut message: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, "invalid_json", format!("The body is not JSON: {e}.")))?;
    let from = match message.as_object_mut().and_then(|o| o.remove("from")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(_) => {
            return Err(ApiError::new(
                400,
                "invalid_message",
                "from: must be the phone number id of a channel",
            ))
        }
    };
    outbound::validate(&message, true)
        .map_err(|e| ApiError::new(400, "invalid_message", e.to_string()))?;
    let to = crate::phone::canonical_wa_id(&outbound::recipient(&message).unwrap_or_default());
    Ok(SendRequest { from, to, message })
}

/// Fingerprint of a request body, to tell a retried request from a
/// different one reusing an `Idempotency-Key`.
pub fn request_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// A fresh outbox id from 16 random bytes.
pub fn new_id(random: [u8; 16]) -> String {
    format!("out_{}", hex::encode(random))
}

/// An outbox row to create.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueue {
    pub id: String,
    pub phone_number_id: String,
    pub wa_id: String,
    /// `message` or `mark_read`.
    pub kind: &'static str,
    /// What to POST (a message object with `to`, or the wamid to mark read).
    pub payload: Value,
    /// `api`, `rule:<id>`, `opt_out`, ...
    pub source: String,
    pub dedupe_key: Option<String>,
    pub request_hash: Option<String>,
}

const INSERT_OUTBOX: &str =
    "INSERT INTO outbox (id, phone_number_id, wa_id, kind, payload, state, \
next_attempt_at, source, dedupe_key, request_hash, created_at, updated_at) \
VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8, ?9, ?6, ?6) ON CONFLICT DO NOTHING";

// The message row exists only when this call's outbox row won its dedupe key.
const INSERT_OUT_MESSAGE: &str = "INSERT INTO messages (id, wamid, direction, phone_number_id, \
wa_id, type, timestamp, text, context_id, raw, received_at) \
SELECT ?1, NULL, 'out', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 \
WHERE EXISTS (SELECT 1 FROM outbox WHERE id = ?1) ON CONFLICT DO NOTHING";

impl Enqueue {
    /// Statements that store the row (and, for a message, its `messages`
    /// row) at `now_ms`. A dedupe key already taken makes both no-ops.
    pub fn statements(&self, now_ms: i64) -> Vec<Stmt> {
        let mut out = vec![Stmt::new(
            INSERT_OUTBOX,
            vec![
                self.id.as_str().into(),
                self.phone_number_id.as_str().into(),
                self.wa_id.as_str().into(),
                self.kind.into(),
                self.payload.to_string().into(),
                now_ms.into(),
                self.source.as_str().into(),
                self.dedupe_key.clone().into(),
                self.request_hash.clone().into(),
            ],
        )];
        if self.kind == "message" {
            let kind = self.payload["type"].as_str().unwrap_or("unknown");
            let text = self
                .payload
                .pointer("/text/body")
                .or_else(|| self.payload.pointer("/interactive/body/text"))
                .and_then(Value::as_str);
            out.push(Stmt::new(
                INSERT_OUT_MESSAGE,
                vec![
                    self.id.as_str().into(),
                    self.phone_number_id.as_str().into(),
                    self.wa_id.as_str().into(),
                    kind.into(),
                    (now_ms / 1000).into(),
                    text.into(),
                    self.payload
                        .pointer("/context/message_id")
                        .and_then(Value::as_str)
                        .into(),
                    self.payload.to_string().into(),
                    now_ms.into(),
                ],
            ));
        }
        out
    }
}

/// The outbox row holding an `Idempotency-Key`.
pub fn by_dedupe_key(key: &str) -> Stmt {
    Stmt::new(
        "SELECT id, state, request_hash FROM outbox WHERE dedupe_key = ?1",
        vec![key.into()],
    )
}

/// The last inbound message time of a contact on a channel.
pub fn window_lookup(wa_id: &str, phone_number_id: &str) -> Stmt {
    Stmt::new(
        "SELECT last_inbound_at FROM windows WHERE wa_id = ?1 AND phone_number_id = ?2",
        vec![wa_id.into(), phone_number_id.into()],
    )
}

/// Whether a contact has opted out.
pub fn opt_out_lookup(wa_id: &str) -> Stmt {
    Stmt::new(
        "SELECT opted_out FROM contacts WHERE wa_id = ?1 AND opted_out = 1",
        vec![wa_id.into()],
    )
}

/// Claims a row for one attempt; returns it only if this caller won it.
pub fn claim(id: &str, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, lease_until = ?2 + ?3, \
updated_at = ?2 WHERE id = ?1 AND state = 'queued' AND next_attempt_at <= ?2 \
RETURNING id, phone_number_id, kind, payload, attempts",
        vec![id.into(), now_ms.into(), LEASE_MS.into()],
    )
}

/// Ids of rows due for an attempt, oldest first.
pub fn due(now_ms: i64, limit: i64) -> Stmt {
    Stmt::new(
        "SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?1 \
ORDER BY next_attempt_at LIMIT ?2",
        vec![now_ms.into(), limit.into()],
    )
}

/// Fails rows whose sender vanished mid-attempt: Graph may have accepted
/// them, so they are not sent again.
pub fn expire_leases(now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE outbox SET state = 'failed', updated_at = ?1, \
last_error = 'delivery outcome unknown: the attempt was interrupted; not resent to avoid a duplicate' \
WHERE state = 'sending' AND lease_until < ?1",
        vec![now_ms.into()],
    )
}

/// Records an attempt's result.
pub fn record(id: &str, phone_number_id: &str, next: &Next, now_ms: i64) -> Vec<Stmt> {
    match next {
        Next::Sent { wamid } => {
            let wamid: Arg = (!wamid.is_empty()).then(|| wamid.clone()).into();
            vec![
                Stmt::new(
                    "UPDATE outbox SET state = 'sent', wamid = ?2, last_error = NULL, \
last_error_code = NULL, updated_at = ?3 WHERE id = ?1",
                    vec![id.into(), wamid.clone(), now_ms.into()],
                ),
                Stmt::new(
                    "UPDATE messages SET wamid = ?2 WHERE id = ?1 AND ?2 IS NOT NULL",
                    vec![id.into(), wamid],
                ),
            ]
        }
        Next::RetryAt { at_ms, error, code } => vec![Stmt::new(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, last_error = ?3, \
last_error_code = ?4, updated_at = ?5 WHERE id = ?1",
            vec![
                id.into(),
                (*at_ms).into(),
                error.as_str().into(),
                (*code).into(),
                now_ms.into(),
            ],
        )],
        Next::Failed { error, code, auth } => {
            let mut out = vec![Stmt::new(
                "UPDATE outbox SET state = 'failed', last_error = ?2, last_error_code = ?3, \
updated_at = ?4 WHERE id = ?1",
                vec![
                    id.into(),
                    error.as_str().into(),
                    (*code).into(),
                    now_ms.into(),
                ],
            )];
            if *auth {
                out.push(Stmt::new(
                    "INSERT INTO channel_alerts (phone_number_id, auth_failed_at, error) \
VALUES (?1, ?2, ?3) ON CONFLICT (phone_number_id) DO UPDATE SET \
auth_failed_at = excluded.auth_failed_at, error = excluded.error",
                    vec![phone_number_id.into(), now_ms.into(), error.as_str().into()],
                ));
            }
            out
        }
    }
}
