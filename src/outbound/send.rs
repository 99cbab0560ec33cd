//! The send API's decisions: parsing a `POST /v1/messages` body, the
//! `Idempotency-Key`, and [`decide`], which takes what D1 knows about the
//! recipient and channel and returns the outbox row to create, the answer
//! to replay, or why the send is refused. The edge gathers the lookups in
//! one batch and executes the decision.

use crate::channels::{check_limits, Channel, LimitRefusal};
use crate::ids::{ContactId, UserId, WaId};
use crate::whatsapp::identity::{contact_id, ContactKey, ContactRef, Identity};
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
    #[error("contact: no contact has this id.")]
    UnknownContact,
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

/// Where a message is addressed on Graph: `to` (a phone number, in the form
/// given) or `recipient` (a BSUID, for a customer known without a number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Phone(String),
    User(UserId),
}

impl Address {
    /// A customer's address: their phone number (in the form WhatsApp
    /// used) when known, else their BSUID.
    pub fn of(phone: Option<&WaId>, user_id: Option<&UserId>) -> Option<Address> {
        match (phone, user_id) {
            (Some(p), _) => Some(Address::Phone(p.0.clone())),
            (None, Some(u)) => Some(Address::User(u.clone())),
            (None, None) => None,
        }
    }

    /// Graph's field and its value.
    pub fn field(&self) -> (&'static str, &str) {
        match self {
            Address::Phone(p) => ("to", p),
            Address::User(u) => ("recipient", u.as_str()),
        }
    }
}

/// A validated `POST /v1/messages` request.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    /// The channel (`from`), when the caller chose one.
    pub from: Option<String>,
    /// Who the caller named: `to` (a phone number or a BSUID),
    /// `recipient` (a BSUID) or `contact` (a contact id).
    pub to: ContactRef,
    /// The address as the caller gave it, for `to` and `recipient`.
    pub given: Option<Address>,
    /// Graph's message object, without `from`, `to`, `recipient` or `contact`.
    pub message: Value,
}

fn invalid(field: &str, why: &str) -> Refusal {
    Refusal::InvalidMessage(format!("{field}: {why}"))
}

/// Parses and validates a send request body.
pub fn parse(body: &[u8]) -> Result<SendRequest, Refusal> {
    let mut message: Value =
        serde_json::from_slice(body).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
    let mut take = |key: &str| -> Result<Option<String>, Refusal> {
        match message.as_object_mut().and_then(|o| o.remove(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => Ok(Some(s)),
            Some(_) => Err(invalid(key, "must be a non-empty string")),
        }
    };
    let from =
        take("from").map_err(|_| invalid("from", "must be the phone number id of a channel"))?;
    let (to, recipient, contact) = (take("to")?, take("recipient")?, take("contact")?);
    if !message.is_object() {
        return Err(invalid("", "the message must be a JSON object"));
    }
    let (target, given) =
        match (to, recipient, contact) {
            (Some(to), None, None) => match ContactRef::parse(&to) {
                Some(ContactRef::Phone(w)) => (ContactRef::Phone(w), Some(Address::Phone(to))),
                Some(ContactRef::User(u)) => (ContactRef::User(u.clone()), Some(Address::User(u))),
                _ => return Err(invalid(
                    "to",
                    "must be a phone number in international format (5 to 15 digits) or a BSUID",
                )),
            },
            (None, Some(r), None) => match ContactRef::parse(&r) {
                Some(ContactRef::User(u)) => (ContactRef::User(u.clone()), Some(Address::User(u))),
                _ => {
                    return Err(invalid(
                        "recipient",
                        "must be a business-scoped user id (BSUID)",
                    ))
                }
            },
            (None, None, Some(c)) => match ContactRef::parse(&c) {
                Some(id @ ContactRef::Id(_)) => (id, None),
                _ => return Err(invalid("contact", "must be a contact id (ct_…)")),
            },
            (None, None, None) => {
                return Err(invalid(
                    "to",
                    "required: a phone number or a BSUID (or pass \"contact\")",
                ))
            }
            _ => return Err(invalid("to", "pass only one of to, recipient and contact")),
        };
    crate::whatsapp::message::validate(&message, false)
        .map_err(|e| Refusal::InvalidMessage(e.to_string()))?;
    Ok(SendRequest {
        from,
        to: target,
        given,
        message,
    })
}

/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// An `Idempotency-Key` header, as the outbox dedupes on it: per caller
/// and per channel, so one system's keys never collide with, or reveal,
/// another's (two systems numbering keys by order id, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    caller: String,
    channel: String,
    key: String,
}

impl IdempotencyKey {
    /// The key of header `header` sent by `caller` (its stable name,
    /// [`crate::keys::Caller::name`]) on channel `channel`: none without the
    /// header, 400 for an empty, over-long or non-printable one (silently
    /// ignoring it would send twice).
    pub fn parse(
        header: Option<&str>,
        caller: &str,
        channel: &str,
    ) -> Result<Option<Self>, Refusal> {
        let Some(key) = header else {
            return Ok(None);
        };
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY
            || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(Refusal::InvalidIdempotencyKey);
        }
        Ok(Some(IdempotencyKey {
            caller: caller.to_owned(),
            channel: channel.to_owned(),
            key: key.to_owned(),
        }))
    }

    /// The outbox `dedupe_key` a send with this key is stored under.
    pub fn dedupe_key(&self) -> String {
        format!("idem.{}:{}:{}", self.caller, self.channel, self.key)
    }

    /// The `dedupe_key` of the same key stored before keys were per caller
    /// (`idem:<channel>:<key>`, shared by every caller). Still looked up, so
    /// a request retried across the upgrade is not sent twice; no row is
    /// stored under it any more.
    pub fn shared_dedupe_key(&self) -> String {
        format!("idem:{}:{}", self.channel, self.key)
    }
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
    /// What the message is addressed to (Graph's `to` or `recipient`).
    pub recipient: String,
    /// Who that is.
    pub contact: ContactKey,
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

/// A stored contact, as a send needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownContact {
    pub id: ContactId,
    pub wa_id: Option<WaId>,
    pub user_id: Option<UserId>,
    /// The wa_id form WhatsApp last used.
    pub last_wa_id: Option<WaId>,
}

/// What D1 knows that a send depends on, gathered in one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookups {
    /// The contact the request names, when stored.
    pub contact: Option<KnownContact>,
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
    Queue(Box<Enqueue>),
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
    let (contact, address) = addressee(
        &request,
        lookups.contact.as_ref(),
        channel.waba_id.as_deref(),
        &new_id,
    )?;
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
            contact.identity.wa_id.as_ref().map_or("", WaId::as_str),
            template,
            lookups.recipients_24h,
            lookups.already_counted,
        )
        .map_err(|r| match r {
            LimitRefusal::NotATestRecipient => Refusal::NotATestRecipient,
            LimitRefusal::TierReached { limit } => Refusal::TierReached { limit },
        })?;
    }
    let mut payload = request.message;
    let (field, value) = address.field();
    if let Some(obj) = payload.as_object_mut() {
        obj.insert(field.into(), value.into());
    }
    Ok(Decision::Queue(Box::new(Enqueue {
        id: new_id,
        phone_number_id: channel.phone_number_id.clone(),
        recipient: value.to_owned(),
        contact,
        kind: "message",
        payload,
        source: "api".into(),
        dedupe_key,
        request_hash: Some(hash.to_owned()),
    })))
}

/// Who a send goes to and how it is addressed: a stored contact by its
/// phone (in the form given, else the one WhatsApp last used) or, without
/// one, its BSUID; a new one as given, with an id minted from the outbox id.
fn addressee(
    request: &SendRequest,
    known: Option<&KnownContact>,
    scope: Option<&str>,
    outbox_id: &str,
) -> Result<(ContactKey, Address), Refusal> {
    let key = |id: ContactId, wa_id: Option<WaId>, user_id: Option<UserId>| ContactKey {
        candidate: id,
        identity: Identity { wa_id, user_id },
        scope: scope.map(str::to_owned),
    };
    match (known, &request.given) {
        (Some(c), given) => {
            let address = given
                .clone()
                .or_else(|| {
                    Address::of(
                        c.last_wa_id.as_ref().or(c.wa_id.as_ref()),
                        c.user_id.as_ref(),
                    )
                })
                .ok_or(Refusal::UnknownContact)?;
            Ok((
                key(c.id.clone(), c.wa_id.clone(), c.user_id.clone()),
                address,
            ))
        }
        (None, Some(given)) => {
            let (wa_id, user_id) = match &request.to {
                ContactRef::Phone(w) => (Some(w.clone()), None),
                ContactRef::User(u) => (None, Some(u.clone())),
                ContactRef::Id(_) => return Err(Refusal::UnknownContact),
            };
            Ok((key(contact_id(outbox_id), wa_id, user_id), given.clone()))
        }
        (None, None) => Err(Refusal::UnknownContact),
    }
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
