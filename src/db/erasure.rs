//! Erasure's statements: the deployment's salt, tombstones, what must be
//! read before erasing a person (media, R2 bodies) and the deletes, one
//! transaction. What erasure removes is decided in [`crate::erasure`].

use super::Stmt;
use crate::erasure::SALT_SETTING;
use crate::whatsapp::identity::ContactRef;
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

/// Which of `ids` are events erasure recorded (`erased_events`).
pub fn erased_event_lookup(ids: &[String]) -> Stmt {
    Stmt::new(
        "SELECT id FROM erased_events WHERE id IN (SELECT value FROM json_each(?1))",
        vec![Value::from(ids.to_vec()).to_string().into()],
    )
}

/// Which of `wamids` are messages wa-edge holds.
pub fn known_messages(wamids: &[String]) -> Stmt {
    Stmt::new(
        "SELECT wamid FROM messages WHERE wamid IN (SELECT value FROM json_each(?1))",
        vec![Value::from(wamids.to_vec()).to_string().into()],
    )
}

// Whether the JSON text in column `col` holds one of the identifiers in ?2
// as a whole string value (`"<id>"` or `"+<id>"`), so a number inside a
// longer one is not taken for it.
macro_rules! whole_value_in {
    ($col:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM json_each(?2) f WHERE instr(",
            $col,
            ", '\"' || f.value || '\"') > 0 OR instr(",
            $col,
            ", '\"+' || f.value || '\"') > 0)"
        )
    };
}

// The events that name any of the identifiers in ?2 (a JSON array of
// every form of the wa_id, and the BSUID): by the event_contacts index,
// and by searching their text, text dead letters and events naming more
// people than the index lists ('*', `crate::inbound::ingest::UNLISTED`),
// whose JSON is searched for whole values.
macro_rules! named_events {
    () => {
        concat!(
            "SELECT event_id FROM event_contacts WHERE identifier IN (SELECT value FROM json_each(?2)) \
UNION SELECT id FROM events WHERE kind = 'dead_letter' AND raw_encoding = 'text' \
AND raw_ref IS NULL AND EXISTS (SELECT 1 FROM json_each(?2) f \
WHERE instr(events.raw, f.value) > 0) \
UNION SELECT id FROM events WHERE raw_ref IS NULL AND id IN (SELECT event_id \
FROM event_contacts WHERE identifier = '*') AND ",
            whole_value_in!("events.raw")
        )
    };
}

// The relay events about them: their messages and the statuses of those
// or addressed to them, their contact, the events that name them.
macro_rules! named_relay_events {
    () => {
        concat!(
            "SELECT id FROM relay_events WHERE (json_extract(ref, '$[0]') IN ('message', 'status') ",
            "AND (json_extract(ref, '$[1]') IN (SELECT id FROM messages WHERE contact_id = ?1) ",
            "OR json_extract(ref, '$[1]') IN (SELECT wamid FROM messages WHERE contact_id = ?1 ",
            "AND wamid IS NOT NULL) OR json_extract(ref, '$[1]') IN (SELECT wamid FROM statuses ",
            "WHERE recipient_id IN (SELECT value FROM json_each(?2)) OR recipient_user_id IN ",
            "(SELECT value FROM json_each(?2))))) OR (json_extract(ref, '$[0]') = 'contact' ",
            "AND json_extract(ref, '$[1]') IN (SELECT value FROM json_each(?2))) ",
            "OR (json_extract(ref, '$[0]') = 'event' AND json_extract(ref, '$[1]') IN (",
            named_events!(),
            "))"
        )
    };
}

// The kept delivery bodies that name them: by the delivery_contacts index,
// and by searching their text, bodies that are not JSON (dead letters,
// with no structure to read names from) and bodies naming more people than
// the index lists ('*'), as for events.
macro_rules! named_deliveries {
    () => {
        concat!(
            "SELECT delivery_id FROM delivery_contacts WHERE identifier IN (SELECT value FROM json_each(?2)) \
UNION SELECT id FROM deliveries WHERE raw_encoding = 'text' AND raw_ref IS NULL \
AND EXISTS (SELECT 1 FROM json_each(?2) f WHERE instr(deliveries.raw, f.value) > 0) \
UNION SELECT id FROM deliveries WHERE raw_ref IS NULL AND id IN (SELECT delivery_id \
FROM delivery_contacts WHERE identifier = '*') AND ",
            whole_value_in!("deliveries.raw")
        )
    };
}

/// The contact `who` names and every identifier it was ever known by, as
/// `(k, v)` rows: `id`; `wa` for numbers (its own, the form last used, and
/// those its messages carry, such as a number it changed from); `user` for
/// its BSUIDs (every portfolio's, old ones included).
pub fn contact_lookup(who: &ContactRef) -> Stmt {
    // D1 allows few terms in a compound SELECT: four here.
    const SQL: &str = concat!(
        "WITH c AS (SELECT ",
        crate::named_contact!("?1", "?2", "?3"),
        " AS id) SELECT 'id' AS k, id AS v FROM c WHERE id IS NOT NULL ",
        "UNION SELECT 'wa', j.value FROM contacts, json_each(json_array(contacts.wa_id, ",
        "contacts.last_wa_id)) j WHERE contacts.id = (SELECT id FROM c) AND j.value IS NOT NULL ",
        "UNION SELECT 'user', user_id FROM contact_user_ids WHERE contact_id = (SELECT id FROM c) ",
        "UNION SELECT CASE j.key WHEN 0 THEN 'wa' ELSE 'user' END, j.value FROM messages m, ",
        "json_each(json_array(m.wa_id, m.user_id)) j WHERE m.contact_id = (SELECT id FROM c) ",
        "AND j.value IS NOT NULL"
    );
    let (c, w, u) = who.parts();
    Stmt::new(SQL, vec![c.into(), w.into(), u.into()])
}

/// What must be read before erasing contact `id` (`names`: every spelling
/// of its wa_id, and its BSUID): the media they sent and were sent (kept in
/// R2 under `media/<id>`), each with whether someone else's message names
/// it too (`shared`: one upload sent to many stays while it does), and raw
/// bodies of theirs kept in R2.
pub fn erase_lookups(id: &str, names: &[String]) -> [Stmt; 3] {
    let names = Value::from(names.to_vec()).to_string();
    [
        Stmt::new(
            "SELECT DISTINCT media_id, EXISTS (SELECT 1 FROM messages o WHERE o.media_id = m.media_id \
AND o.contact_id IS NOT ?1) AS shared FROM messages m WHERE contact_id = ?1 AND media_id IS NOT NULL",
            vec![id.into()],
        ),
        Stmt::new(
            concat!(
                "SELECT raw_ref FROM messages WHERE contact_id = ?1 AND raw_ref LIKE 'r2:%' ",
                "UNION SELECT raw_ref FROM statuses WHERE raw_ref LIKE 'r2:%' AND (wamid IN ",
                "(SELECT wamid FROM messages WHERE contact_id = ?1) OR recipient_id IN ",
                "(SELECT value FROM json_each(?2)) OR recipient_user_id IN ",
                "(SELECT value FROM json_each(?2))) ",
                "UNION SELECT raw_ref FROM events WHERE raw_ref LIKE 'r2:%' AND id IN (",
                named_events!(),
                ")"
            ),
            vec![id.into(), names.clone().into()],
        ),
        Stmt::new(
            concat!(
                "SELECT raw_ref FROM deliveries WHERE ?1 IS NOT NULL AND raw_ref LIKE 'r2:%' AND id IN (",
                named_deliveries!(),
                ")"
            ),
            vec![id.into(), names.into()],
        ),
    ]
}

/// Which of `media_ids` no stored message names: read after an erasure's
/// batch for the media it kept as shared, since the others who shared it
/// may have been erased meanwhile.
pub fn unnamed_media(media_ids: &[String]) -> Stmt {
    Stmt::new(
        "SELECT value AS media_id FROM json_each(?1) \
WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.media_id = json_each.value)",
        vec![Value::from(media_ids.to_vec()).to_string().into()],
    )
}

/// Records, in an erasure's batch at `now_ms`, the media whose copies its
/// second pass deletes (`erased_objects`), so a pass that fails is
/// finished by the cron ([`due_objects`]).
pub fn pending_objects(media_ids: &[String], now_ms: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO erased_objects (media_id, at) SELECT value, ?2 FROM json_each(?1) WHERE true \
ON CONFLICT (media_id) DO UPDATE SET at = excluded.at",
        vec![
            Value::from(media_ids.to_vec()).to_string().into(),
            now_ms.into(),
        ],
    )
}

/// Forgets the rows of `erased_objects` for `media_ids`: those recorded
/// at `at` when given (by one erasure: a row another erasure recorded
/// since is its to forget), else all of them (the cron's).
pub fn forget_objects(media_ids: &[String], at: Option<i64>) -> Stmt {
    Stmt::new(
        "DELETE FROM erased_objects WHERE (?2 IS NULL OR at = ?2) \
AND media_id IN (SELECT value FROM json_each(?1))",
        vec![
            Value::from(media_ids.to_vec()).to_string().into(),
            at.into(),
        ],
    )
}

/// Up to `limit` rows of `erased_objects` recorded before `before_ms`,
/// oldest first, each with whether its copy is to be deleted (`unnamed`:
/// no stored message names the media; one that does is someone else's).
pub fn due_objects(before_ms: i64, limit: i64) -> Stmt {
    Stmt::new(
        "SELECT media_id, NOT EXISTS (SELECT 1 FROM messages m WHERE m.media_id = e.media_id) AS unnamed \
FROM erased_objects e WHERE at < ?1 ORDER BY at LIMIT ?2",
        vec![before_ms.into(), limit.into()],
    )
}

/// The statements that erase contact `id` at `now_ms`, as one batch.
/// `names` are every spelling of its wa_id WhatsApp may use and its BSUID;
/// `keys` the tombstone keys of its identifiers.
///
/// Erased: their messages in both directions, the statuses of those
/// messages and any status addressed to them, the events that name them
/// (found through `event_contacts`, and text dead letters that contain an
/// identifier), their outbox rows (payloads included), windows, opt-out
/// state, the contact row, and the split raw bodies of all of these.
// Long because it lists every table that can hold a person, one statement each.
pub fn erase_statements(id: &str, names: &[String], keys: &[String], now_ms: i64) -> Vec<Stmt> {
    let names = Value::from(names.to_vec()).to_string();
    let both = || vec![id.into(), names.as_str().into()];
    let one = |sql: &'static str| Stmt::new(sql, vec![id.into()]);
    vec![
        // The relay's copies first, while what names them still exists.
        Stmt::new(
            concat!(
                "DELETE FROM forwards WHERE source IN (SELECT 'delivery:' || delivery_id FROM (",
                named_deliveries!(),
                ")) OR source IN (SELECT 'event:' || id FROM (",
                named_relay_events!(),
                "))"
            ),
            both(),
        ),
        Stmt::new(
            concat!("DELETE FROM relay_events WHERE id IN (", named_relay_events!(), ")"),
            both(),
        ),
        Stmt::new(
            concat!(
                "DELETE FROM raw_parts WHERE ?1 IS NOT NULL AND owner IN (SELECT ",
                crate::parts_owner!(),
                " FROM deliveries WHERE ",
                crate::parts_named!(),
                " AND id IN (SELECT delivery_id FROM (",
                named_deliveries!(),
                ")))"
            ),
            both(),
        ),
        Stmt::new(
            concat!(
                "DELETE FROM deliveries WHERE ?1 IS NOT NULL AND id IN (",
                named_deliveries!(),
                ")"
            ),
            both(),
        ),
        Stmt::new(
            concat!(
                "DELETE FROM delivery_contacts WHERE ?1 IS NOT NULL AND (identifier IN ",
                "(SELECT value FROM json_each(?2)) OR delivery_id NOT IN (SELECT id FROM deliveries))"
            ),
            both(),
        ),
        Stmt::new(
            concat!(
                "DELETE FROM raw_parts WHERE owner IN (SELECT ",
                crate::parts_owner!(),
                " FROM messages WHERE contact_id = ?1 AND ",
                crate::parts_named!(),
                ") OR owner IN (SELECT ",
                crate::parts_owner!(),
                " FROM statuses s WHERE ",
                crate::parts_named!(),
                " AND (s.wamid IN (SELECT wamid FROM messages WHERE contact_id = ?1) ",
                "OR s.recipient_id IN (SELECT value FROM json_each(?2)) ",
                "OR s.recipient_user_id IN (SELECT value FROM json_each(?2)))) ",
                "OR owner IN (SELECT ",
                crate::parts_owner!(),
                " FROM events WHERE ",
                crate::parts_named!(),
                " AND id IN (SELECT event_id FROM (",
                named_events!(),
                ")))"
            ),
            both(),
        ),
        Stmt::new(
            concat!(
                "INSERT INTO erased_events (id) SELECT id FROM events WHERE id IN (",
                named_events!(),
                ") AND ?1 IS NOT NULL ON CONFLICT DO NOTHING"
            ),
            both(),
        ),
        Stmt::new(
            concat!("DELETE FROM events WHERE ?1 IS NOT NULL AND id IN (", named_events!(), ")"),
            both(),
        ),
        Stmt::new(
            "DELETE FROM event_contacts WHERE ?1 IS NOT NULL AND (event_id IN (SELECT event_id \
FROM event_contacts WHERE identifier IN (SELECT value FROM json_each(?2))) \
OR event_id NOT IN (SELECT id FROM events))",
            both(),
        ),
        Stmt::new(
            "DELETE FROM statuses WHERE wamid IN (SELECT wamid FROM messages WHERE contact_id = ?1 \
AND wamid IS NOT NULL) OR recipient_id IN (SELECT value FROM json_each(?2)) \
OR recipient_user_id IN (SELECT value FROM json_each(?2))",
            both(),
        ),
        one("DELETE FROM messages WHERE contact_id = ?1"),
        one("DELETE FROM outbox WHERE contact_id = ?1"),
        one("DELETE FROM windows WHERE contact_id = ?1"),
        one("DELETE FROM opt_outs WHERE contact_id = ?1"),
        one("DELETE FROM conversation_reads WHERE contact_id = ?1"),
        one("DELETE FROM contact_user_ids WHERE contact_id = ?1"),
        one("DELETE FROM events WHERE kind = 'contacts_merged' AND (json_extract(raw, '$.kept') = ?1 \
OR json_extract(raw, '$.merged') = ?1)"),
        one("DELETE FROM contact_merges WHERE kept = ?1 OR merged = ?1"),
        one("DELETE FROM contacts WHERE id = ?1"),
        Stmt::new(
            "INSERT INTO erased (key, erased_at) SELECT value, ?2 FROM json_each(?1) WHERE true \
ON CONFLICT (key) DO UPDATE SET erased_at = excluded.erased_at",
            vec![
                Value::from(keys.to_vec()).to_string().into(),
                (now_ms / 1000).into(),
            ],
        ),
    ]
}
