//! Helpers shared by the host tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// Bytes of `tests/fixtures/<name>`.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Bytes of `tests/fixtures/<name>.json`.
pub fn fixture(name: &str) -> Vec<u8> {
    fixture_bytes(&format!("{name}.json"))
}

/// The `X-Hub-Signature-256` value Meta would send.
pub fn sign(body: &[u8], secret: &str) -> String {
    wa_edge::whatsapp::webhook::signature::sign(body, secret.as_bytes())
}

/// Query pairs from string pairs.
pub fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A receipt time after every fixture's timestamps (2027-01-15).
pub const RECEIVED_AT: i64 = 1_800_000_000;

/// The plan of `body` delivered on Meta's signed webhook at [`RECEIVED_AT`].
pub fn plan(body: &[u8]) -> wa_edge::inbound::ingest::Plan {
    wa_edge::inbound::ingest::plan(body, &wa_edge::inbound::ingest::Delivery::app(RECEIVED_AT))
}
