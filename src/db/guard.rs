//! The first statement of a delivery's batch (and of the batch that
//! records a send's outcome with its relay events): it writes nothing, or
//! it rolls the whole batch back (a CHECK on `delivery_guard`, migration
//! 0015) when the delivery names an erased person ([`ERASED`]) or when the
//! destinations it was planned with are no longer D1's
//! ([`DESTINATIONS_CHANGED`]). One statement for both, so a delivery's
//! batch stays one round trip; D1's error names the constraint that refused.

use super::Stmt;
use serde_json::Value;

/// The constraint refusing a batch that names an erased person.
pub const ERASED: &str = "names_an_erased_person";

/// The constraint refusing a batch planned with destinations that have
/// changed since.
pub const DESTINATIONS_CHANGED: &str = "destinations_changed";

/// How many times a write is planned with reloaded destinations: each try
/// follows a change to the destinations made while it was being planned.
/// A delivery refused that often fails (Meta delivers it again); a send's
/// record takes its last try unguarded, since the send is done.
pub const FRESH_TRIES: usize = 3;

/// The guard of a delivery whose tombstone keys are `keys` (none when it
/// names nobody), planned with the destinations of `destinations_version`
/// ([`destinations_version`], as read with them).
pub fn delivery(keys: &[String], destinations_version: Option<&str>) -> Stmt {
    Stmt::new(
        "INSERT INTO delivery_guard (ok) SELECT CASE WHEN erased THEN 0 ELSE 2 END \
FROM (SELECT EXISTS (SELECT 1 FROM erased WHERE key IN (SELECT value FROM json_each(?1))) AS erased) \
WHERE erased OR (SELECT value FROM settings WHERE name = 'destinations_version') IS NOT ?2",
        vec![
            Value::from(keys.to_vec()).to_string().into(),
            destinations_version.into(),
        ],
    )
}

/// The current version of the destinations (a `value` column), read in
/// the same batch as them so the two agree.
pub fn destinations_version() -> Stmt {
    Stmt::new(
        "SELECT value FROM settings WHERE name = 'destinations_version'",
        vec![],
    )
}
