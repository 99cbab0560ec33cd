//! The send API's decisions: parsing a `POST /v1/messages` body, the
//! `Idempotency-Key`, and [`decide`], which takes what D1 knows about the
//! recipient and channel and returns the outbox row to create, the answer
//! to replay, or why the send is refused. The edge gathers the lookups in
//! one batch and executes the decision.

use crate::channels::{check_limits, Channel, LimitRefusal};
use crate::whatsapp::templates::check_template_parameters;
use crate::whatsapp::window;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Why a send is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("The body is not JSON: {0}.")]
    InvalidJson(String),
    /// A WhatsApp rule broken; the text starts with the field.
    #[error("{0}")]
    InvalidMessage(String),
    #[error("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters.")]
    InvalidIdempotencyKey,
    #[error("No channel to send from: pass \"from\" or set WHATSAPP_PHONE_NUMBER_ID.")]
    NoChannel,
    #[error("from: no channel with this phone number id has a credential configured.")]
    UnknownChannel,
    #[error("This Idempotency-Key was already used for a different request.")]
    IdempotencyKeyReused,
    #[error("The recipient has opted out of this channel (STOP); nothing is sent until they send START.")]
    OptedOut,
    #[error("The 24-hour customer-service window with this contact is closed (no message from them in the last 24 hours on this number): only template messages can be sent.")]
    OutsideWindow,
    #[error("Template {name} ({language}) is {status}; only approved templates can be sent.")]
    TemplateNotApproved {
        name: String,
        language: String,
        status: String,
    },
    #[error("This channel is a test number: it can only message its test_recipients.")]
    NotATestRecipient,
    #[error("The channel reached its messaging limit of {limit} unique recipients of business-initiated messages in 24 hours.")]
    TierReached { limit: i64 },
}

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
pub fn parse(body: &[u8]) -> Result<SendRequest, Refusal> {
    let mut message: Value =
        serde_json::from_slice(body).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
    let from = match message.as_object_mut().and_then(|o| o.remove("from")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(_) => {
            return Err(Refusal::InvalidMessage(
                "from: must be the phone number id of a channel".into(),
            ))
        }
    };
    crate::whatsapp::message::validate(&message, true)
        .map_err(|e| Refusal::InvalidMessage(e.to_string()))?;
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
pub fn idempotency_key(header: Option<&str>) -> Result<Option<String>, Refusal> {
    let Some(key) = header else {
        return Ok(None);
    };
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(Refusal::InvalidIdempotencyKey);
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

/// The first request that used an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earlier {
    pub id: String,
    pub state: Option<String>,
    pub request_hash: Option<String>,
}

/// A template as the last sync (or a status webhook) stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTemplate {
    pub status: String,
    /// Graph's template object (with `components`).
    pub body: Value,
}

/// What D1 knows that a send depends on, gathered in one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookups {
    pub opted_out: bool,
    /// The contact's last inbound message on the channel (unix s).
    pub last_inbound: Option<i64>,
    /// The earlier request with the same `Idempotency-Key`.
    pub earlier: Option<Earlier>,
    /// The synced template the message names, when there is one.
    pub template: Option<StoredTemplate>,
    /// Unique recipients of template sends from the channel in 24 hours,
    /// and whether the recipient is one of them.
    pub recipients_24h: i64,
    pub already_counted: bool,
}

/// What to do with a send.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Answer as the first request with this `Idempotency-Key` was answered.
    Replay { id: String, status: &'static str },
    /// Create this outbox row.
    Queue(Enqueue),
}

/// True when the send is business-initiated (a template) and so counts
/// against the channel's tier; test numbers always need the count.
pub fn needs_recipient_count(request: &SendRequest, channel: &Channel) -> bool {
    let template = !crate::whatsapp::message::is_free_form(&request.message);
    channel.test_number || (template && channel.limit().is_some())
}

/// The template the message names: (name, language), if it is a template send.
pub fn template_named(request: &SendRequest) -> Option<(&str, &str)> {
    let m = &request.message;
    Some((
        m.pointer("/template/name")?.as_str()?,
        m.pointer("/template/language/code")?.as_str()?,
    ))
}

/// Decides a send from the request, its channel, what D1 knows, the body's
/// hash and the `Idempotency-Key`'s dedupe key, at `now_ms`. The checks run
/// in a fixed order: a replay first (an earlier answer stands), then
/// opt-out, the 24-hour window, the template's approval and parameters, the
/// test number and the tier.
pub fn decide(
    request: SendRequest,
    channel: &Channel,
    lookups: &Lookups,
    hash: &str,
    dedupe_key: Option<String>,
    new_id: String,
    now_ms: i64,
) -> Result<Decision, Refusal> {
    if let Some(earlier) = &lookups.earlier {
        return replay(earlier, hash);
    }
    if lookups.opted_out {
        return Err(Refusal::OptedOut);
    }
    let template = !crate::whatsapp::message::is_free_form(&request.message);
    if !template && !window::is_open(lookups.last_inbound, now_ms / 1000) {
        return Err(Refusal::OutsideWindow);
    }
    if let (true, Some(stored)) = (template, &lookups.template) {
        let (name, language) = template_named(&request).unwrap_or_default();
        if stored.status != "APPROVED" {
            return Err(Refusal::TemplateNotApproved {
                name: name.to_owned(),
                language: language.to_owned(),
                status: stored.status.clone(),
            });
        }
        check_template_parameters(&stored.body, &request.message)
            .map_err(|e| Refusal::InvalidMessage(e.to_string()))?;
    }
    if needs_recipient_count(&request, channel) {
        check_limits(
            channel,
            &request.to,
            template,
            lookups.recipients_24h,
            lookups.already_counted,
        )
        .map_err(|r| match r {
            LimitRefusal::NotATestRecipient => Refusal::NotATestRecipient,
            LimitRefusal::TierReached { limit } => Refusal::TierReached { limit },
        })?;
    }
    Ok(Decision::Queue(Enqueue {
        id: new_id,
        phone_number_id: channel.phone_number_id.clone(),
        wa_id: request.to,
        kind: "message",
        payload: request.message,
        source: "api".into(),
        dedupe_key,
        request_hash: Some(hash.to_owned()),
    }))
}

/// The answer to a repeated `Idempotency-Key`: the first request's result,
/// or a refusal when the key was used for a different request.
pub fn replay(earlier: &Earlier, hash: &str) -> Result<Decision, Refusal> {
    if earlier.request_hash.as_deref() != Some(hash) {
        return Err(Refusal::IdempotencyKeyReused);
    }
    Ok(Decision::Replay {
        id: earlier.id.clone(),
        status: crate::outbound::outbox::shown_state(earlier.state.as_deref()),
    })
}
