//! Per-isolate caches of small configuration tables (rules, channels,
//! destinations) whose
//! rows keep their JSON in a `body` column: D1 is read at most once per TTL,
//! and an edit clears the cache of the isolate that served it.

use super::d1;
use super::http;
use crate::api::ApiError;
use crate::channels::Channel;
use crate::db::Stmt;
use crate::inbound::rules::Rule;
use crate::relay::destination::Destination;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::cell::RefCell;
use std::thread::LocalKey;
use worker::D1Database;

/// One cached table: when it was loaded and what was read.
type Slot<T> = RefCell<Option<(i64, T)>>;

/// Parses the `body` column of each row. Stored types read leniently, so a
/// row fails only when it is damaged; it is then skipped and logged, never
/// dropped silently.
pub fn body_rows<T: DeserializeOwned>(rows: &[Value]) -> Vec<T> {
    rows.iter()
        .filter_map(|r| {
            let parsed = r
                .get("body")
                .and_then(Value::as_str)
                .and_then(|b| serde_json::from_str(b).ok());
            if parsed.is_none() {
                http::log(crate::logline::LogLine::warn("config.unreadable_row"));
            }
            parsed
        })
        .collect()
}

/// What `slot` holds, when it was loaded less than `ttl_ms` before `now`.
fn fresh<T: Clone + 'static>(slot: &'static LocalKey<Slot<T>>, now: i64, ttl_ms: i64) -> Option<T> {
    slot.with(|s| {
        s.borrow()
            .as_ref()
            .filter(|(at, _)| now - at < ttl_ms)
            .map(|(_, kept)| kept.clone())
    })
}

/// Keeps `value` in `slot` as loaded at `now`.
fn keep<T: Clone + 'static>(slot: &'static LocalKey<Slot<T>>, now: i64, value: &T) {
    slot.with(|s| *s.borrow_mut() = Some((now, value.clone())));
}

/// The rows of `stmt`, from `slot` when loaded less than `ttl_ms` ago.
async fn load<T: Clone + DeserializeOwned + 'static>(
    slot: &'static LocalKey<Slot<Vec<T>>>,
    db: &D1Database,
    stmt: &Stmt,
    ttl_ms: i64,
) -> Result<Vec<T>, ApiError> {
    let now = http::now_ms();
    if let Some(rows) = fresh(slot, now, ttl_ms) {
        return Ok(rows);
    }
    let rows: Vec<T> = body_rows(&d1::rows(db, stmt).await?);
    keep(slot, now, &rows);
    Ok(rows)
}

/// Forgets `slot`'s rows.
fn clear<T: 'static>(slot: &'static LocalKey<Slot<T>>) {
    slot.with(|s| *s.borrow_mut() = None);
}

/// How long an isolate reuses the channels and rules it loaded. Edits
/// through the API clear the cache of the isolate that served them at once;
/// other isolates see them within this time.
pub const TTL_MS: i64 = 15_000;

thread_local! {
    static CHANNELS: Slot<Vec<Channel>> = const { RefCell::new(None) };
    static RULES: Slot<Vec<Rule>> = const { RefCell::new(None) };
    static DESTINATIONS: Slot<Destinations> = const { RefCell::new(None) };
}

/// Every destination (without secrets) and the version they were read at
/// ([`crate::db::guard::destinations_version`]), which a delivery's guard
/// checks.
#[derive(Clone, Default)]
pub struct Destinations {
    pub version: Option<String>,
    pub all: Vec<Destination>,
}

/// The destinations, from the isolate cache when fresh. A delivery's guard
/// refuses a batch planned with a version that is no longer D1's, so a
/// change made through another isolate reaches the next delivery, not the
/// one after the cache expires.
pub async fn destinations(db: &D1Database) -> Result<Destinations, ApiError> {
    let now = http::now_ms();
    if let Some(d) = fresh(&DESTINATIONS, now, TTL_MS) {
        return Ok(d);
    }
    let mut read = d1::batch_rows(
        db,
        &[
            crate::db::relay::list(),
            crate::db::guard::destinations_version(),
        ],
    )
    .await?
    .into_iter();
    let all = read
        .next()
        .unwrap_or_default()
        .iter()
        .filter_map(crate::db::relay::destination_from_row)
        .collect();
    let version = read
        .next()
        .unwrap_or_default()
        .first()
        .and_then(|r| r.get("value")?.as_str().map(str::to_owned));
    let d = Destinations { version, all };
    keep(&DESTINATIONS, now, &d);
    Ok(d)
}

/// Forgets the cached destinations (after an edit, or when a delivery's
/// guard found them changed).
pub fn forget_destinations() {
    clear(&DESTINATIONS);
}

/// Every channel row, from the isolate cache when it is fresh.
pub async fn channels(db: &D1Database) -> Result<Vec<Channel>, ApiError> {
    load(&CHANNELS, db, &crate::db::channels::list(), TTL_MS).await
}

/// Every rule, from the isolate cache when it is fresh.
pub async fn rules(db: &D1Database) -> Result<Vec<Rule>, ApiError> {
    load(&RULES, db, &crate::db::rules::list(), TTL_MS).await
}

/// Forgets the cached channels (after an edit).
pub fn forget_channels() {
    clear(&CHANNELS);
}

/// Forgets the cached rules (after an edit).
pub fn forget_rules() {
    clear(&RULES);
}
