//! What leaves: send requests (parsing, Idempotency-Key, outbox rows) and
//! the outbox policy (claims, outcomes, retries, at most once).

pub mod outbox;
pub mod send;
