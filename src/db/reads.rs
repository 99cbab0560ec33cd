//! The read API's queries: messages with their statuses, contacts, events
//! and the parts of bodies too big for their row.

use super::{Arg, Stmt};
use crate::whatsapp::identity::ContactRef;
use serde::Deserialize;
use serde_json::Value;

// Column lists shared by the statements below, as macros so each statement
// stays one compile-time literal.
macro_rules! message_select {
    () => {
        "SELECT m.id, m.wamid, m.direction, m.origin, m.phone_number_id, m.display_phone_number, \
m.contact_id, m.wa_id, m.user_id, m.username, m.group_id, m.type, m.timestamp, m.raw, \
m.raw_ref, m.received_at, \
(SELECT s.status FROM statuses s WHERE s.wamid = m.wamid ORDER BY s.rank DESC LIMIT 1) AS status, \
o.state AS outbox_state, o.attempts, o.last_error, o.last_error_code \
FROM messages m LEFT JOIN outbox o ON o.id = m.id "
    };
}

macro_rules! contact_select {
    () => {
        "SELECT id, wa_id, user_id, parent_user_id, username, profile_name, saved_name, \
phone_number_id, first_seen, last_seen, \
(SELECT json_group_array(o.phone_number_id) FROM opt_outs o \
WHERE o.contact_id = contacts.id AND o.opted_out = 1) AS opted_out_channels FROM contacts "
    };
}

/// Statements for `GET /v1/messages/{id}`: the message (by our id or its
/// wamid), its status history and the parts of a raw body too big for its
/// row, in one consistent batch.
pub fn get_message(id: &str) -> [Stmt; 3] {
    const MESSAGE: &str = concat!(message_select!(), "WHERE m.id = ?1 OR m.wamid = ?1 LIMIT 1");
    const STATUSES: &str = "SELECT status, rank, timestamp, recipient_id, recipient_user_id, \
group_id, phone_number_id, \
conversation_id, conversation_category, pricing_category, billable, errors FROM statuses \
WHERE wamid = coalesce((SELECT wamid FROM messages WHERE id = ?1), ?1) \
ORDER BY timestamp ASC, rank ASC";
    [
        Stmt::new(MESSAGE, vec![id.into()]),
        Stmt::new(STATUSES, vec![id.into()]),
        Stmt::new(
            concat!(
                "SELECT data FROM raw_parts WHERE owner = (SELECT ",
                crate::parts_owner!(),
                " FROM (SELECT raw_ref FROM messages WHERE id = ?1 OR wamid = ?1 LIMIT 1) WHERE ",
                crate::parts_named!(),
                ") ORDER BY part"
            ),
            vec![id.into()],
        ),
    ]
}

/// Statements for `GET /v1/events/{id}/raw`: the event's raw column and
/// encoding, and its parts when it was too big for its row.
pub fn event_raw(id: &str) -> [Stmt; 2] {
    [
        Stmt::new(
            "SELECT raw, raw_encoding, raw_ref FROM events WHERE id = ?1",
            vec![id.into()],
        ),
        Stmt::new(
            concat!(
                "SELECT data FROM raw_parts WHERE owner = (SELECT ",
                crate::parts_owner!(),
                " FROM events WHERE id = ?1 AND ",
                crate::parts_named!(),
                ") ORDER BY part"
            ),
            vec![id.into()],
        ),
    ]
}

/// The channels of the stored messages that name media `id` (in either
/// direction), the latest message's first: the media proxy serves only
/// those, through one of them.
pub fn media_channels(id: &str) -> Stmt {
    Stmt::new(
        "SELECT phone_number_id FROM messages WHERE media_id = ?1 \
AND phone_number_id IS NOT NULL GROUP BY phone_number_id ORDER BY max(received_at) DESC LIMIT 100",
        vec![id.into()],
    )
}

/// Joins the `data` of `raw_parts` rows.
pub fn join_parts(rows: &[Value]) -> String {
    rows.iter()
        .filter_map(|r| r.get("data").and_then(Value::as_str))
        .collect()
}

/// Statement for `GET /v1/contacts/{id}/messages`, newest first: the
/// conversation of the contact `who` names, in both directions.
/// `channel` keeps the messages of one business number only.
pub fn contact_messages(who: &ContactRef, channel: Option<&str>, page: &PageArgs) -> Stmt {
    const SQL: &str = concat!(
        message_select!(),
        "WHERE m.contact_id = ",
        crate::named_contact!("?4", "?5", "?6"),
        " AND (?7 IS NULL OR m.phone_number_id = ?7) \
AND (?1 IS NULL OR m.timestamp < ?1 OR (m.timestamp = ?1 AND m.id < ?2)) \
ORDER BY m.timestamp DESC, m.id DESC LIMIT ?3"
    );
    let [at, id, limit] = page_args(page);
    let (c, w, u) = who.parts();
    Stmt::new(
        SQL,
        vec![at, id, limit, c.into(), w.into(), u.into(), channel.into()],
    )
}

/// Statement for `GET /v1/contacts/{id}`: the contact `who` names.
pub fn get_contact(who: &ContactRef) -> Stmt {
    const SQL: &str = concat!(
        contact_select!(),
        "WHERE id = ",
        crate::named_contact!("?1", "?2", "?3")
    );
    let (c, w, u) = who.parts();
    Stmt::new(SQL, vec![c.into(), w.into(), u.into()])
}

/// Statement for `GET /v1/contacts`, most recently seen first.
pub fn list_contacts(page: &PageArgs) -> Stmt {
    const SQL: &str = concat!(
        contact_select!(),
        "WHERE (?1 IS NULL OR last_seen < ?1 OR (last_seen = ?1 AND id < ?2)) \
ORDER BY last_seen DESC, id DESC LIMIT ?3"
    );
    Stmt::new(SQL, page_args(page).into())
}

/// Statement for `GET /v1/events?kind=...`, newest first.
pub fn list_events(kind: Option<&str>, page: &PageArgs) -> Stmt {
    const SQL: &str = "SELECT id, kind, waba_id, phone_number_id, reference, summary, raw, \
raw_encoding, raw_ref, received_at FROM events WHERE (?1 IS NULL OR kind = ?1) \
AND (?2 IS NULL OR received_at < ?2 OR (received_at = ?2 AND id < ?3)) \
ORDER BY received_at DESC, id DESC LIMIT ?4";
    let kind = kind.filter(|k| !k.is_empty());
    let [at, id, limit] = page_args(page);
    Stmt::new(SQL, vec![kind.into(), at, id, limit])
}

/// Statement for `GET /healthz`.
pub fn health() -> Stmt {
    Stmt::new("SELECT 1 AS ok", vec![])
}

/// A page to read: at most `limit` rows after the position `after`
/// (the ordering column's value and the id of the last row seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageArgs {
    pub limit: i64,
    pub after: Option<(i64, String)>,
}

/// The bound arguments of a page: the position and id after which to read,
/// and one more row than the page holds (to know whether there is a next
/// page).
fn page_args(page: &PageArgs) -> [Arg; 3] {
    [
        page.after.as_ref().map(|(at, _)| *at).into(),
        page.after.as_ref().map(|(_, id)| id.clone()).into(),
        (page.limit + 1).into(),
    ]
}

/// A number D1 handed back: JSON numbers from D1 may be floats.
pub(crate) fn int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))))
}

/// Text D1 handed back; anything else reads as absent.
pub(crate) fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(|v| v.as_str().map(str::to_owned)))
}

/// Decodes rows leniently: a column missing or of another type reads as absent.
pub fn decode<T: serde::de::DeserializeOwned + Default>(rows: &[Value]) -> Vec<T> {
    rows.iter()
        .map(|r| T::deserialize(r).unwrap_or_default())
        .collect()
}

/// A row of `messages` (with its current status and outbox state) as the
/// read queries return it.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct MessageRow {
    #[serde(deserialize_with = "text")]
    pub id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub wamid: Option<String>,
    #[serde(deserialize_with = "text")]
    pub direction: Option<String>,
    #[serde(deserialize_with = "text")]
    pub origin: Option<String>,
    #[serde(deserialize_with = "text")]
    pub phone_number_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub display_phone_number: Option<String>,
    #[serde(deserialize_with = "text")]
    pub contact_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub wa_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub user_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub username: Option<String>,
    #[serde(deserialize_with = "text")]
    pub group_id: Option<String>,
    #[serde(rename = "type", deserialize_with = "text")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "int")]
    pub timestamp: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub raw: Option<String>,
    #[serde(deserialize_with = "text")]
    pub raw_ref: Option<String>,
    #[serde(deserialize_with = "int")]
    pub received_at: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub status: Option<String>,
    #[serde(deserialize_with = "text")]
    pub outbox_state: Option<String>,
    #[serde(deserialize_with = "int")]
    pub attempts: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub last_error: Option<String>,
    #[serde(deserialize_with = "int")]
    pub last_error_code: Option<i64>,
}

/// A row of `statuses`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct StatusRow {
    #[serde(deserialize_with = "text")]
    pub status: Option<String>,
    #[serde(deserialize_with = "int")]
    pub rank: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub timestamp: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub recipient_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub recipient_user_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub group_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub phone_number_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub conversation_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub conversation_category: Option<String>,
    #[serde(deserialize_with = "text")]
    pub pricing_category: Option<String>,
    #[serde(deserialize_with = "int")]
    pub billable: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub errors: Option<String>,
}

/// A row of `contacts` with the channels the contact opted out of.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct ContactRow {
    #[serde(deserialize_with = "text")]
    pub id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub wa_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub user_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub parent_user_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub username: Option<String>,
    #[serde(deserialize_with = "text")]
    pub profile_name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub saved_name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub phone_number_id: Option<String>,
    #[serde(deserialize_with = "int")]
    pub first_seen: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub last_seen: Option<i64>,
    /// A JSON array of phone_number_ids.
    #[serde(deserialize_with = "text")]
    pub opted_out_channels: Option<String>,
}

/// A row of `events`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct EventRow {
    #[serde(deserialize_with = "text")]
    pub id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "text")]
    pub waba_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub phone_number_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub reference: Option<String>,
    #[serde(deserialize_with = "text")]
    pub summary: Option<String>,
    #[serde(deserialize_with = "text")]
    pub raw: Option<String>,
    #[serde(deserialize_with = "text")]
    pub raw_encoding: Option<String>,
    #[serde(deserialize_with = "text")]
    pub raw_ref: Option<String>,
    #[serde(deserialize_with = "int")]
    pub received_at: Option<i64>,
}

/// Statement for one event by id (the relay's `field.*` events).
pub fn get_event(id: &str) -> Stmt {
    Stmt::new(
        "SELECT id, kind, waba_id, phone_number_id, reference, summary, raw, raw_encoding, raw_ref, \
received_at FROM events WHERE id = ?1",
        vec![id.into()],
    )
}
