//! Which forwards a delivery, an event or a replay creates: one per
//! matching (source, enabled destination), keyed so that however often a
//! source arrives it is one forward per destination; and whether the relay
//! keeps anything at all ([`keeps`]).

use super::destination::{Destination, Format};
use super::events::{forward_id, Event};
use super::filter::{meta_body, takes_event};
use sha2::{Digest, Sha256};

/// A forward to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// `msg_…`: also the `webhook-id` the receiver sees.
    pub id: String,
    pub destination_id: String,
    pub source: String,
}

/// What a forward sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A kept delivery's body, by its hash.
    Delivery(String),
    /// A kept event, by its id.
    Event(String),
}

impl Source {
    /// As stored.
    pub fn key(&self) -> String {
        match self {
            Source::Delivery(id) => format!("delivery:{id}"),
            Source::Event(id) => format!("event:{id}"),
        }
    }

    /// Reads [`Source::key`]'s form.
    pub fn parse(s: &str) -> Option<Source> {
        if let Some(id) = s.strip_prefix("delivery:") {
            return Some(Source::Delivery(id.to_owned()));
        }
        s.strip_prefix("event:")
            .map(|id| Source::Event(id.to_owned()))
    }
}

/// Whether the relay keeps what arrives (a delivery's body, the people it
/// names, its events; the events of wa-edge's own sends) for forwarding and
/// replay: while any destination exists, enabled or not, since a disabled
/// one can be turned back on and replayed. With none, nothing could forward
/// or replay them, so nothing is written for the relay.
pub fn keeps(destinations: &[Destination]) -> bool {
    !destinations.is_empty()
}

/// The key a delivery's body is kept under: its SHA-256, so a redelivery
/// is the same delivery.
pub fn delivery_id(body: &[u8]) -> String {
    delivery_id_of_digest(&Sha256::digest(body))
}

/// [`delivery_id`] from the body's SHA-256, computed elsewhere.
pub fn delivery_id_of_digest(sha256: &[u8]) -> String {
    hex::encode(sha256)
}

fn forward(d: &Destination, source: Source) -> Forward {
    let source = source.key();
    Forward {
        id: forward_id(&d.id, &source),
        destination_id: d.id.clone(),
        source,
    }
}

/// The forwards of one stored delivery: its events, and its body under its
/// id ([`delivery_id`], hashed once by the caller) when the body is kept
/// (`None` when it names someone erased: then `meta` destinations get
/// nothing, since Meta's format is the bytes as they arrived).
pub fn for_delivery(
    kept: Option<(&str, &[u8])>,
    events: &[Event],
    destinations: &[Destination],
) -> Vec<Forward> {
    let mut out = Vec::new();
    for d in destinations.iter().filter(|d| d.enabled) {
        match d.format {
            Format::Meta => {
                if let Some((id, _)) = kept.filter(|(_, b)| meta_body(b, &d.filter).is_some()) {
                    out.push(forward(d, Source::Delivery(id.to_owned())));
                }
            }
            Format::Events => out.extend(for_events(events, std::slice::from_ref(d))),
        }
    }
    out
}

/// The forwards of events to `events` destinations.
pub fn for_events(events: &[Event], destinations: &[Destination]) -> Vec<Forward> {
    let mut out = Vec::new();
    for d in destinations
        .iter()
        .filter(|d| d.enabled && d.format == Format::Events)
    {
        for e in events {
            if takes_event(
                &d.filter,
                &e.field,
                e.phone_number_id.as_deref(),
                e.statuses,
            ) {
                out.push(forward(d, Source::Event(e.id.clone())));
            }
        }
    }
    out
}

/// The forwards of a replay to `d` of kept deliveries (`meta`, their ids
/// and bodies) or events.
pub fn for_replay(
    d: &Destination,
    deliveries: &[(String, Vec<u8>)],
    events: &[Event],
) -> Vec<Forward> {
    match d.format {
        Format::Meta => deliveries
            .iter()
            .filter(|(_, body)| meta_body(body, &d.filter).is_some())
            .map(|(id, _)| forward(d, Source::Delivery(id.clone())))
            .collect(),
        Format::Events => for_events(events, std::slice::from_ref(d)),
    }
}
