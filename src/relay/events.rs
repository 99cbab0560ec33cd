//! The events a delivery (or a send) makes for `events` destinations: one
//! per item, keyed so that however often the item arrives it is one event,
//! and naming the row whose read-API view is sent.

use crate::inbound::ingest::{kinds, Direction, Plan};
use sha2::{Digest, Sha256};

/// What an event is about; its data is this row's read-API view at send time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// A message by its id (wamid, or outbox id for a wa-edge send).
    Message(String),
    /// One status of a message.
    Status { wamid: String, status: String },
    /// A contact, by an identifier (BSUID, else wa_id).
    Contact(String),
    /// A stored event (another webhook field).
    Event(String),
}

/// As stored: `[kind, a, b]`.
impl serde::Serialize for Ref {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ref::Message(id) => ("message", id).serialize(s),
            Ref::Status { wamid, status } => ("status", wamid, status).serialize(s),
            Ref::Contact(who) => ("contact", who).serialize(s),
            Ref::Event(id) => ("event", id).serialize(s),
        }
    }
}

impl Ref {
    /// Reads its stored form (see its `Serialize`).
    pub fn from_json(v: &serde_json::Value) -> Option<Ref> {
        let s = |i: usize| v.get(i).and_then(|x| x.as_str()).map(str::to_owned);
        Some(match s(0)?.as_str() {
            "message" => Ref::Message(s(1)?),
            "status" => Ref::Status {
                wamid: s(1)?,
                status: s(2)?,
            },
            "contact" => Ref::Contact(s(1)?),
            "event" => Ref::Event(s(1)?),
            _ => return None,
        })
    }
}

/// One event for `events` destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `evt_` and 32 hex digits: the same item is the same event.
    pub id: String,
    /// `message.received`, `message.status`, `message.sent`,
    /// `message.failed`, `contact.updated`, `field.<field>`.
    pub kind: String,
    /// The webhook field the item came in (for filters).
    pub field: String,
    pub phone_number_id: Option<String>,
    /// For a `messages` item: whether it is a status.
    pub statuses: Option<bool>,
    pub what: Ref,
    /// When it happened (unix s).
    pub at: i64,
}

fn event_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    format!(
        "evt_{}",
        hex::encode(h.finalize().get(..16).unwrap_or_default())
    )
}

/// Event kinds wa-edge assigns that are not webhook fields of Meta's: kept
/// out of `field.*` events.
const OWN_KINDS: [&str; 11] = [
    kinds::DEAD_LETTER,
    kinds::UNRECOGNIZED,
    kinds::MALFORMED_CHANGE,
    kinds::MALFORMED_MESSAGE,
    kinds::MALFORMED_STATUS,
    kinds::MALFORMED_CONTACT,
    kinds::ERROR,
    kinds::FOREIGN_CHANNEL,
    kinds::IDENTITY_CONFLICT,
    kinds::METADATA_MISSING,
    "contacts_merged",
];

/// The events of a stored delivery.
pub fn of_plan(plan: &Plan) -> Vec<Event> {
    let mut out = Vec::new();
    for m in &plan.messages {
        let kind = match m.direction {
            Direction::In => "message.received",
            Direction::Out => "message.sent",
        };
        out.push(Event {
            id: event_id(&[kind, m.id.as_str()]),
            kind: kind.to_owned(),
            field: match m.origin {
                crate::inbound::ingest::Origin::Echo => "smb_message_echoes".to_owned(),
                crate::inbound::ingest::Origin::History => "history".to_owned(),
                crate::inbound::ingest::Origin::Live => "messages".to_owned(),
            },
            phone_number_id: m.phone_number_id.as_ref().map(|p| p.0.clone()),
            statuses: Some(false),
            what: Ref::Message(m.id.0.clone()),
            at: m.at,
        });
    }
    for s in &plan.statuses {
        out.push(Event {
            id: event_id(&["message.status", s.wamid.as_str(), &s.status]),
            kind: "message.status".to_owned(),
            field: "messages".to_owned(),
            phone_number_id: s.phone_number_id.as_ref().map(|p| p.0.clone()),
            statuses: Some(true),
            what: Ref::Status {
                wamid: s.wamid.0.clone(),
                status: s.status.clone(),
            },
            at: s.at,
        });
    }
    for c in plan.contacts.iter().filter(|c| c.last_seen > 0) {
        let key = c.key();
        let who = key.primary().to_owned();
        out.push(Event {
            id: event_id(&["contact.updated", &who, &c.last_seen.to_string()]),
            kind: "contact.updated".to_owned(),
            field: "messages".to_owned(),
            phone_number_id: c.phone_number_id.as_ref().map(|p| p.0.clone()),
            statuses: None,
            what: Ref::Contact(who),
            at: c.last_seen,
        });
    }
    for e in plan
        .events
        .iter()
        .filter(|e| !OWN_KINDS.contains(&e.kind.as_str()))
    {
        out.push(Event {
            id: event_id(&["field", &e.id]),
            kind: format!("field.{}", e.kind),
            field: e.kind.clone(),
            phone_number_id: e.phone_number_id.as_ref().map(|p| p.0.clone()),
            statuses: None,
            what: Ref::Event(e.id.clone()),
            at: e.at,
        });
    }
    out
}

/// The event of a wa-edge send's outcome: `message.sent` once Graph took
/// it, `message.failed` when it was refused for good.
pub fn of_send(outbox_id: &str, phone_number_id: &str, sent: bool, at: i64) -> Event {
    let kind = if sent {
        "message.sent"
    } else {
        "message.failed"
    };
    Event {
        id: event_id(&[kind, outbox_id]),
        kind: kind.to_owned(),
        field: "messages".to_owned(),
        phone_number_id: Some(phone_number_id.to_owned()),
        statuses: Some(false),
        what: Ref::Message(outbox_id.to_owned()),
        at,
    }
}

/// The id of the forward of `source` to `destination`: also the
/// `webhook-id` an `events` receiver deduplicates by.
pub fn forward_id(destination: &str, source: &str) -> String {
    let mut h = Sha256::new();
    h.update(destination.as_bytes());
    h.update([0]);
    h.update(source.as_bytes());
    format!(
        "msg_{}",
        hex::encode(h.finalize().get(..16).unwrap_or_default())
    )
}

/// The JSON body of an event sent to a destination.
pub fn envelope(e_id: &str, kind: &str, at: i64, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"type": kind, "id": e_id, "timestamp": at, "data": data})
}
