//! What arrives: one authenticated delivery turned into rows (ingest), and
//! what it makes wa-edge send (auto-reply rules, opt-out and opt-in).

pub mod autoreply;
pub mod ingest;
pub mod people;
pub mod rules;
