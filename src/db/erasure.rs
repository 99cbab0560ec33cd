//! Erasure's statements: the deployment's salt, tombstones, what must be
//! read before erasing a person (media, R2 bodies) and the deletes, one
//! transaction. What erasure removes is decided in [`crate::erasure`].

use super::Stmt;
use crate::erasure::SALT_SETTING;
use serde_json::Value;

/// Reads the salt.
pub fn salt_lookup() -> Stmt {
    Stmt::new(
        "SELECT value FROM settings WHERE name = ?1",
        vec![SALT_SETTING.into()],
    )
}

/// Stores `fresh` as the salt unless one exists, then reads the salt.
pub fn ensure_salt(fresh: &str) -> [Stmt; 2] {
    [
        Stmt::new(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            vec![SALT_SETTING.into(), fresh.into()],
        ),
        salt_lookup(),
    ]
}

/// Looks up the tombstones of `keys` (from [`tombstone_key`]).
pub fn tombstone_lookup(keys: &[String]) -> Stmt {
    Stmt::new(
        "SELECT key, erased_at FROM erased WHERE key IN (SELECT value FROM json_each(?1))",
        vec![Value::from(keys.to_vec()).to_string().into()],
    )
}

// The events that name any of the forms in ?2 (a JSON array): by the
// event_contacts index, and text dead letters by searching their text.
macro_rules! named_events {
    () => {
        "SELECT event_id FROM event_contacts WHERE wa_id IN (SELECT value FROM json_each(?2)) \
UNION SELECT id FROM events WHERE kind = 'dead_letter' AND raw_encoding = 'text' \
AND raw_ref IS NULL AND EXISTS (SELECT 1 FROM json_each(?2) f \
WHERE instr(events.raw, f.value) > 0)"
    };
}

/// What must be read before erasing `wa_id` (canonical; `forms` every
/// spelling of it): the forms WhatsApp last used for them, the media they
/// sent (kept in R2 under `media/<id>`), and raw bodies of theirs kept in R2.
pub fn erase_lookups(wa_id: &str, forms: &[String]) -> [Stmt; 3] {
    let forms = Value::from(forms.to_vec()).to_string();
    [
        Stmt::new(
            "SELECT last_wa_id FROM contacts WHERE wa_id = ?1",
            vec![wa_id.into()],
        ),
        Stmt::new(
            "SELECT DISTINCT media_id FROM messages WHERE wa_id = ?1 AND media_id IS NOT NULL",
            vec![wa_id.into()],
        ),
        Stmt::new(
            concat!(
                "SELECT raw_ref FROM messages WHERE wa_id = ?1 AND raw_ref LIKE 'r2:%' ",
                "UNION SELECT raw_ref FROM statuses WHERE raw_ref LIKE 'r2:%' AND (wamid IN ",
                "(SELECT wamid FROM messages WHERE wa_id = ?1) OR recipient_id IN ",
                "(SELECT value FROM json_each(?2))) ",
                "UNION SELECT raw_ref FROM events WHERE raw_ref LIKE 'r2:%' AND id IN (",
                named_events!(),
                ")"
            ),
            vec![wa_id.into(), forms.into()],
        ),
    ]
}

/// The statements that erase `wa_id` (canonical) at `now_ms`, as one batch.
/// `forms` are every spelling of the number WhatsApp may use (the canonical
/// one included); `key` is the tombstone key.
///
/// Erased: their messages in both directions, the statuses of those
/// messages and any status addressed to them, the events that name them
/// (found through `event_contacts`, and text dead letters that contain the
/// number), their outbox rows (payloads included), windows, opt-out state,
/// the contact row, and the split raw bodies of all of these.
pub fn erase_statements(wa_id: &str, forms: &[String], key: &str, now_ms: i64) -> Vec<Stmt> {
    let forms = Value::from(forms.to_vec()).to_string();
    let both = || vec![wa_id.into(), forms.as_str().into()];
    vec![
        Stmt::new(
            concat!(
                "DELETE FROM raw_parts WHERE owner IN (SELECT 'message:' || id FROM messages ",
                "WHERE wa_id = ?1) OR owner IN (SELECT 'status:' || s.wamid || ':' || s.status ",
                "FROM statuses s WHERE s.wamid IN (SELECT wamid FROM messages WHERE wa_id = ?1) ",
                "OR s.recipient_id IN (SELECT value FROM json_each(?2))) ",
                "OR owner IN (SELECT 'event:' || event_id FROM (",
                named_events!(),
                "))"
            ),
            both(),
        ),
        Stmt::new(
            concat!(
                "INSERT INTO erased_events (id) SELECT id FROM events WHERE id IN (",
                named_events!(),
                ") ON CONFLICT DO NOTHING"
            ),
            both(),
        ),
        Stmt::new(
            concat!("DELETE FROM events WHERE id IN (", named_events!(), ")"),
            both(),
        ),
        Stmt::new(
            "DELETE FROM event_contacts WHERE event_id IN (SELECT event_id FROM event_contacts \
WHERE wa_id IN (SELECT value FROM json_each(?2))) OR event_id NOT IN (SELECT id FROM events)",
            both(),
        ),
        Stmt::new(
            "DELETE FROM statuses WHERE wamid IN (SELECT wamid FROM messages WHERE wa_id = ?1 \
AND wamid IS NOT NULL) OR recipient_id IN (SELECT value FROM json_each(?2))",
            both(),
        ),
        Stmt::new("DELETE FROM messages WHERE wa_id = ?1", vec![wa_id.into()]),
        Stmt::new("DELETE FROM outbox WHERE wa_id = ?1", vec![wa_id.into()]),
        Stmt::new("DELETE FROM windows WHERE wa_id = ?1", vec![wa_id.into()]),
        Stmt::new("DELETE FROM opt_outs WHERE wa_id = ?1", vec![wa_id.into()]),
        Stmt::new("DELETE FROM contacts WHERE wa_id = ?1", vec![wa_id.into()]),
        Stmt::new(
            "INSERT INTO erased (key, erased_at) VALUES (?1, ?2) \
ON CONFLICT (key) DO UPDATE SET erased_at = excluded.erased_at",
            vec![key.into(), (now_ms / 1000).into()],
        ),
    ]
}
