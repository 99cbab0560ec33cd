//! Per-isolate caches of small configuration tables (rules, channels,
//! destinations) whose
//! rows keep their JSON in a `body` column: D1 is read at most once per TTL
//! by one caller at a time ([`crate::refresh`]), and an edit clears the
//! cache of the isolate that served it.

use super::d1;
use super::http;
use crate::api::ApiError;
use crate::channels::Channel;
use crate::db::Stmt;
use crate::inbound::rules::Rule;
use crate::refresh;
use crate::relay::destination::Destination;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::cell::RefCell;
use std::thread::LocalKey;
use worker::D1Database;

/// One cached value and its loads in flight ([`crate::refresh`]).
pub type Slot<T> = RefCell<refresh::Slot<T>>;

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

/// A load of `slot` under way; dropped before it finished (its request
/// was cancelled), it ends the load keeping nothing, so the next caller
/// loads again rather than using a stale value for good.
struct Loading<T: Clone + 'static> {
    slot: &'static LocalKey<Slot<T>>,
    ticket: Option<refresh::Ticket>,
}

impl<T: Clone + 'static> Loading<T> {
    fn finish(&mut self, at: i64, loaded: Option<T>) {
        if let Some(ticket) = self.ticket.take() {
            self.slot
                .with(|s| s.borrow_mut().finish(ticket, at, loaded));
        }
    }
}

impl<T: Clone + 'static> Drop for Loading<T> {
    fn drop(&mut self) {
        self.finish(0, None);
    }
}

/// What `slot` keeps, when loaded less than `ttl_ms` ago (or while another
/// caller reloads it); else `load`ed by this caller, and kept when `keep`
/// says so.
pub async fn kept<T, F, Fut>(
    slot: &'static LocalKey<Slot<T>>,
    ttl_ms: i64,
    keep: fn(&T) -> bool,
    load: F,
) -> Result<T, ApiError>
where
    T: Clone + 'static,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let now = http::now_ms();
    let ticket = match slot.with(|s| s.borrow_mut().next(now, ttl_ms)) {
        refresh::Next::Use(value) => return Ok(value),
        refresh::Next::Load(ticket) => ticket,
    };
    let mut loading = Loading {
        slot,
        ticket: Some(ticket),
    };
    let loaded = load().await;
    let value = loaded.as_ref().ok().filter(|v| keep(v)).cloned();
    loading.finish(now, value);
    loaded
}

/// The rows of `stmt`, from `slot` when loaded less than `ttl_ms` ago.
async fn load<T: Clone + DeserializeOwned + 'static>(
    slot: &'static LocalKey<Slot<Vec<T>>>,
    db: &D1Database,
    stmt: &Stmt,
    ttl_ms: i64,
) -> Result<Vec<T>, ApiError> {
    kept(
        slot,
        ttl_ms,
        |_| true,
        || async { Ok(body_rows(&d1::rows(db, stmt).await?)) },
    )
    .await
}

/// Forgets `slot`'s value.
fn clear<T: Clone + 'static>(slot: &'static LocalKey<Slot<T>>) {
    slot.with(|s| s.borrow_mut().clear());
}

/// How long an isolate reuses the channels and rules it loaded. Edits
/// through the API clear the cache of the isolate that served them at once;
/// other isolates see them within this time and one reload (during which
/// the others in flight use the old value, for at most
/// [`refresh::RELOAD_MAX_MS`]).
pub const TTL_MS: i64 = 15_000;

thread_local! {
    static CHANNELS: Slot<Vec<Channel>> = const { RefCell::new(refresh::Slot::new()) };
    static RULES: Slot<Vec<Rule>> = const { RefCell::new(refresh::Slot::new()) };
    static DESTINATIONS: Slot<Destinations> = const { RefCell::new(refresh::Slot::new()) };
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
    kept(
        &DESTINATIONS,
        TTL_MS,
        |_| true,
        || async {
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
            Ok(Destinations { version, all })
        },
    )
    .await
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
