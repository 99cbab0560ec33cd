//! The relay: every verified delivery forwarded to the business's other
//! systems. A destination takes Meta's own bytes (`meta`, signed as Meta
//! signs) or one event per item (`events`, signed per Standard Webhooks),
//! filtered by field, channel and item kind; each (delivery or event,
//! destination) is one forward, retried on a schedule until delivered or
//! dead. Decisions live here; the edge sends and the db layer stores.

pub mod destination;
pub mod events;
pub mod filter;
pub mod route;
pub mod schedule;
pub mod sign;
