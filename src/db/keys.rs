//! The `api_keys` table: creating, listing, finding by hash, recording use,
//! revoking.

use super::Stmt;
use crate::keys::{Key, NewKey, Scope};
use serde_json::Value;

/// Stores a new key under its hash.
pub fn create(id: &str, key: &NewKey, key_hash: &str, now_ms: i64) -> Stmt {
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    let channels = key
        .channels
        .as_ref()
        .map(|c| Value::from(c.clone()).to_string());
    Stmt::new(
        "INSERT INTO api_keys (id, name, scopes, channels, key_hash, created_at) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        vec![
            id.into(),
            key.name.as_str().into(),
            Value::from(scopes).to_string().into(),
            channels.into(),
            key_hash.into(),
            now_ms.into(),
        ],
    )
}

/// Every key, newest first (hashes are never read back).
pub fn list() -> Stmt {
    Stmt::new(
        "SELECT id, name, scopes, channels, created_at, last_used_at FROM api_keys \
ORDER BY created_at DESC, id",
        vec![],
    )
}

/// The key with this hash.
pub fn by_hash(key_hash: &str) -> Stmt {
    Stmt::new(
        "SELECT id, name, scopes, channels, created_at, last_used_at FROM api_keys \
WHERE key_hash = ?1",
        vec![key_hash.into()],
    )
}

/// Records a use at `now_ms` (see [`crate::keys::should_record_use`]).
pub fn record_use(id: &str, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        vec![id.into(), now_ms.into()],
    )
}

/// Revokes a key; returns its id when it existed.
pub fn delete(id: &str) -> Stmt {
    Stmt::new(
        "DELETE FROM api_keys WHERE id = ?1 RETURNING id",
        vec![id.into()],
    )
}

/// A stored key row, read leniently: a scope from a newer release is
/// ignored, never widened.
pub struct KeyRow {
    pub key: Key,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Reads a row of [`list`] or [`by_hash`].
pub fn key_row(row: &Value) -> Option<KeyRow> {
    let text = |k: &str| row.get(k).and_then(Value::as_str);
    let list = |k: &str| -> Option<Vec<String>> {
        let parsed: Value = serde_json::from_str(text(k)?).ok()?;
        Some(
            parsed
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )
    };
    let number = |k: &str| row.get(k).and_then(Value::as_f64).map(|f| f as i64);
    Some(KeyRow {
        key: Key {
            id: text("id")?.to_owned(),
            scopes: list("scopes")?
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
            // A channel list that cannot be read limits the key to no
            // channel rather than to none at all.
            channels: text("channels").map(|_| list("channels").unwrap_or_default()),
        },
        name: text("name").unwrap_or_default().to_owned(),
        created_at: number("created_at").unwrap_or(0),
        last_used_at: number("last_used_at"),
    })
}
