//! Queueing outbound messages: the send API's request handling and the
//! outbox statements shared by API sends and rule replies.

use crate::api::ApiError;
use crate::cols;
use crate::db::Stmt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Largest `POST /v1/messages` body.
pub const MAX_SEND_BODY: usize = 64 * 1024;

/// A validated `POST /v1/messages` request.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    /// The channel (`from`), when the caller chose one.
    pub from: Option<String>,
    /// The recipient's canonical wa_id (see [`crate::whatsapp::phone`]).
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
    crate::whatsapp::message::validate(&message, true)
        .map_err(|e| ApiError::new(400, "invalid_message", e.to_string()))?;
    let to = crate::whatsapp::phone::canonical_wa_id(
        &crate::whatsapp::message::recipient(&message).unwrap_or_default(),
    );
    Ok(SendRequest { from, to, message })
}

/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The outbox dedupe key of an `Idempotency-Key` header: none without the
/// header, 400 for an empty, over-long or non-printable one (silently
/// ignoring it would send twice).
pub fn idempotency_key(header: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(key) = header else {
        return Ok(None);
    };
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(ApiError::new(
            400,
            "invalid_idempotency_key",
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters."
            ),
        ));
    }
    Ok(Some(format!("idem:{key}")))
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

// One JSON row per outbox row: id, channel, wa_id, kind, payload, source,
// dedupe key, request hash.
const INSERT_OUTBOX: &str = concat!(
    "INSERT INTO outbox (id, phone_number_id, wa_id, kind, payload, state, next_attempt_at, ",
    "source, dedupe_key, request_hash, created_at, updated_at) SELECT ",
    cols!(0, 1, 2, 3, 4),
    ", 'queued', ?2, ",
    cols!(5, 6, 7),
    ", ?2, ?2 FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING"
);

// The message row exists only when its outbox row won its dedupe key (ids
// are fresh, so a lost key leaves no row with this id).
const INSERT_OUT_MESSAGES: &str = concat!(
    "INSERT INTO messages (id, wamid, direction, phone_number_id, wa_id, type, timestamp, ",
    "text, context_id, raw, received_at) SELECT ",
    cols!(0),
    ", NULL, 'out', ",
    cols!(1, 2, 3),
    ", ?2 / 1000, ",
    cols!(4, 5, 6),
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
            json!([
                e.id,
                e.phone_number_id,
                e.wa_id,
                e.kind,
                e.payload.to_string(),
                e.source,
                e.dedupe_key,
                e.request_hash
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
            json!([
                e.id,
                e.phone_number_id,
                e.wa_id,
                e.payload
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown"),
                text,
                e.payload
                    .pointer("/context/message_id")
                    .and_then(Value::as_str),
                e.payload.to_string()
            ])
        }),
        now_ms,
    );
    out
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

/// Whether a contact has opted out of a channel.
pub fn opt_out_lookup(wa_id: &str, phone_number_id: &str) -> Stmt {
    Stmt::new(
        "SELECT opted_out FROM opt_outs WHERE wa_id = ?1 AND phone_number_id = ?2 AND opted_out = 1",
        vec![wa_id.into(), phone_number_id.into()],
    )
}
