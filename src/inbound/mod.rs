//! What arrives: one authenticated delivery turned into rows (ingest), what
//! it makes wa-edge send (auto-reply rules, opt-out and opt-in), and how the
//! sharded write path groups deliveries (shards).

pub mod autoreply;
pub mod ingest;
pub mod people;
pub mod rules;
pub mod shards;
