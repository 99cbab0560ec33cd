//! The `rules` table.

use super::Stmt;
use crate::inbound::rules::Rule;

/// Every rule, in evaluation order.
pub fn list() -> Stmt {
    Stmt::new(
        "SELECT body FROM rules ORDER BY priority ASC, id ASC",
        vec![],
    )
}

/// One rule.
pub fn get(id: &str) -> Stmt {
    Stmt::new("SELECT body FROM rules WHERE id = ?1", vec![id.into()])
}

/// Creates or replaces `rule` (its `id` set).
pub fn upsert(rule: &Rule, now_ms: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO rules (id, priority, body, created_at, updated_at) \
VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (id) DO UPDATE SET priority = excluded.priority, \
body = excluded.body, updated_at = excluded.updated_at",
        vec![
            rule.id.as_str().into(),
            rule.priority.into(),
            serde_json::to_string(rule).unwrap_or_default().into(),
            now_ms.into(),
        ],
    )
}

/// Deletes a rule; returns its id if it existed.
pub fn delete(id: &str) -> Stmt {
    Stmt::new(
        "DELETE FROM rules WHERE id = ?1 RETURNING id",
        vec![id.into()],
    )
}
