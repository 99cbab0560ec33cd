//! The `templates` table: synced templates and their statuses.

use super::Stmt;
use crate::whatsapp::templates::TemplateRow;

/// Stores a synced template.
pub fn upsert(t: &TemplateRow, now_ms: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO templates (id, waba_id, name, language, category, status, rejected_reason, \
body, synced_at, updated_at, status_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9 / 1000) \
ON CONFLICT (id) DO UPDATE SET name = excluded.name, language = excluded.language, \
category = excluded.category, status = excluded.status, rejected_reason = excluded.rejected_reason, \
body = excluded.body, synced_at = excluded.synced_at, updated_at = excluded.updated_at, \
status_at = excluded.status_at",
        vec![
            t.id.as_str().into(),
            t.waba_id.as_str().into(),
            t.name.as_str().into(),
            t.language.as_str().into(),
            t.category.clone().into(),
            t.status.as_str().into(),
            t.rejected_reason.clone().into(),
            t.body.as_str().into(),
            now_ms.into(),
        ],
    )
}

/// Templates of a WABA, optionally filtered by a name fragment and status.
pub fn list(waba_id: &str, name: Option<&str>, status: Option<&str>) -> Stmt {
    Stmt::new(
        "SELECT id, name, language, category, status, rejected_reason, body, synced_at, updated_at \
FROM templates WHERE waba_id = ?1 AND (?2 IS NULL OR instr(name, ?2) > 0) \
AND (?3 IS NULL OR status = ?3) ORDER BY name, language",
        vec![waba_id.into(), name.into(), status.into()],
    )
}

/// One template by WABA, name and language.
pub fn find(waba_id: &str, name: &str, language: &str) -> Stmt {
    Stmt::new(
        "SELECT status, body FROM templates WHERE waba_id = ?1 AND name = ?2 AND language = ?3",
        vec![waba_id.into(), name.into(), language.into()],
    )
}

/// Deletes a template name (all its languages) from a WABA.
pub fn delete(waba_id: &str, name: &str) -> Stmt {
    Stmt::new(
        "DELETE FROM templates WHERE waba_id = ?1 AND name = ?2",
        vec![waba_id.into(), name.into()],
    )
}
