//! The `channels` table, and the count of business-initiated recipients the
//! tier check needs.

use super::Stmt;
use crate::channels::Channel;
use crate::whatsapp::identity::ContactRef;

/// Every channel.
pub fn list() -> Stmt {
    Stmt::new(
        "SELECT body FROM channels ORDER BY created_at, phone_number_id",
        vec![],
    )
}

/// One channel.
pub fn get(phone_number_id: &str) -> Stmt {
    Stmt::new(
        "SELECT body FROM channels WHERE phone_number_id = ?1",
        vec![phone_number_id.into()],
    )
}

/// Creates a channel; a no-op when the number already has one.
pub fn insert(c: &Channel, now_ms: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO channels (phone_number_id, body, created_at, updated_at) \
VALUES (?1, ?2, ?3, ?3) ON CONFLICT (phone_number_id) DO NOTHING RETURNING phone_number_id",
        vec![
            c.phone_number_id.as_str().into(),
            serde_json::to_string(c).unwrap_or_default().into(),
            now_ms.into(),
        ],
    )
}

/// Replaces a channel's fields.
pub fn update(c: &Channel, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE channels SET body = ?2, updated_at = ?3 WHERE phone_number_id = ?1",
        vec![
            c.phone_number_id.as_str().into(),
            serde_json::to_string(c).unwrap_or_default().into(),
            now_ms.into(),
        ],
    )
}

/// Deletes a channel; returns its id if it existed.
pub fn delete(phone_number_id: &str) -> Stmt {
    Stmt::new(
        "DELETE FROM channels WHERE phone_number_id = ?1 RETURNING phone_number_id",
        vec![phone_number_id.into()],
    )
}

/// Unique recipients of template messages from a channel since `since_ms`,
/// and whether the contact `to` names is among them.
pub fn recipients_since(phone_number_id: &str, to: &ContactRef, since_ms: i64) -> Stmt {
    const SQL: &str = concat!(
        "SELECT count(DISTINCT contact_id) AS n, coalesce(max(contact_id = ",
        crate::named_contact!("?3", "?4", "?5"),
        "), 0) AS counted FROM outbox WHERE phone_number_id = ?1 AND kind = 'message' ",
        "AND created_at >= ?2 AND state != 'failed' AND json_extract(payload, '$.type') = 'template'"
    );
    let (id, wa_id, user_id) = to.parts();
    Stmt::new(
        SQL,
        vec![
            phone_number_id.into(),
            since_ms.into(),
            id.into(),
            wa_id.into(),
            user_id.into(),
        ],
    )
}

/// Records that a channel's templates were synced at `now_ms`.
pub fn templates_synced(phone_number_id: &str, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE channels SET templates_synced_at = ?2 WHERE phone_number_id = ?1",
        vec![phone_number_id.into(), now_ms.into()],
    )
}

/// Keeps the business profile Graph returned on the channel row.
pub fn store_profile(phone_number_id: &str, profile: &serde_json::Value, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE channels SET profile = ?2, profile_synced_at = ?3 WHERE phone_number_id = ?1",
        vec![
            phone_number_id.into(),
            profile.to_string().into(),
            now_ms.into(),
        ],
    )
}
