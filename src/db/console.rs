//! The console's tables: sessions, failed sign-ins, and the read marks of
//! conversations; and the inbox query that lists conversations.

use super::reads::{int, text};
use super::{Arg, Stmt};
use crate::session::{Stored, FAILURE_WINDOW_MS};
use crate::whatsapp::identity::ContactRef;

/// Stores a new session, and drops the ones that have expired.
pub fn open_session(s: &Stored, now: i64) -> [Stmt; 2] {
    [
        Stmt::new(
            "DELETE FROM sessions WHERE expires_at <= ?1",
            vec![now.into()],
        ),
        Stmt::new(
            "INSERT INTO sessions (id_hash, csrf, token_fp, created_at, last_seen_at, expires_at) \
VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            vec![
                s.id_hash.as_str().into(),
                s.csrf.as_str().into(),
                s.token_fp.as_str().into(),
                s.created_at.into(),
                s.expires_at.into(),
            ],
        ),
    ]
}

/// The session stored under this hash.
pub fn session(id_hash: &str) -> Stmt {
    Stmt::new(
        "SELECT id_hash, csrf, token_fp, created_at, last_seen_at, expires_at FROM sessions \
WHERE id_hash = ?1",
        vec![id_hash.into()],
    )
}

/// Slides a session's expiry forward.
pub fn slide_session(id_hash: &str, now: i64, expires_at: i64) -> Stmt {
    Stmt::new(
        "UPDATE sessions SET last_seen_at = ?2, expires_at = max(expires_at, ?3) WHERE id_hash = ?1",
        vec![id_hash.into(), now.into(), expires_at.into()],
    )
}

/// Ends a session.
pub fn close_session(id_hash: &str) -> Stmt {
    Stmt::new(
        "DELETE FROM sessions WHERE id_hash = ?1",
        vec![id_hash.into()],
    )
}

/// Records a sign-in attempt from `ip` and counts the unsuccessful ones
/// within the window, this one included, in one transaction: the last
/// statement answers the count, the oldest attempt's time and this
/// attempt's rowid. Older attempts are forgotten on the way.
pub fn record_attempt(ip: &str, now: i64) -> [Stmt; 3] {
    [
        Stmt::new(
            "DELETE FROM sign_in_failures WHERE at <= ?1",
            vec![(now - FAILURE_WINDOW_MS).into()],
        ),
        Stmt::new(
            "INSERT INTO sign_in_failures (ip, at) VALUES (?1, ?2)",
            vec![ip.into(), now.into()],
        ),
        Stmt::new(
            "SELECT count(*) AS n, min(at) AS oldest, max(rowid) AS attempt FROM sign_in_failures \
WHERE ip = ?1",
            vec![ip.into()],
        ),
    ]
}

/// Forgets a successful attempt: only failures count against an address.
pub fn forget_attempt(attempt: i64) -> Stmt {
    Stmt::new(
        "DELETE FROM sign_in_failures WHERE rowid = ?1",
        vec![attempt.into()],
    )
}

/// Drops expired sessions and sign-in attempts older than the window (the
/// cron's sweep, so neither table keeps what no longer counts).
pub fn sweep(now: i64) -> [Stmt; 2] {
    [
        Stmt::new(
            "DELETE FROM sessions WHERE expires_at <= ?1",
            vec![now.into()],
        ),
        Stmt::new(
            "DELETE FROM sign_in_failures WHERE at <= ?1",
            vec![(now - FAILURE_WINDOW_MS).into()],
        ),
    ]
}

/// Marks the conversation of the contact `who` on `phone_number_id` read up
/// to `now`. Answers the contact's id (no row: no such conversation).
pub fn mark_read(who: &ContactRef, phone_number_id: &str, now: i64) -> Stmt {
    const SQL: &str = concat!(
        "INSERT INTO conversation_reads (contact_id, phone_number_id, read_at) SELECT c.id, ?4, ?5 \
FROM contacts c WHERE c.id = ",
        crate::named_contact!("?1", "?2", "?3"),
        " AND EXISTS (SELECT 1 FROM messages m WHERE m.contact_id = c.id AND m.phone_number_id = ?4) \
ON CONFLICT (contact_id, phone_number_id) DO UPDATE SET \
read_at = max(read_at, excluded.read_at) RETURNING contact_id"
    );
    let (c, w, u) = who.parts();
    Stmt::new(
        SQL,
        vec![
            c.into(),
            w.into(),
            u.into(),
            phone_number_id.into(),
            now.into(),
        ],
    )
}

/// What the inbox asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboxQuery {
    /// Lowercased text to find in names, username, number, BSUID and
    /// message text.
    pub search: Option<String>,
    pub channel: Option<String>,
    pub unread_only: bool,
    pub limit: i64,
    /// The last activity time (unix seconds) and conversation id of the
    /// previous page's last row.
    pub after: Option<(i64, String)>,
}

/// Statement for `GET /v1/conversations`: one row per contact and channel
/// that exchanged messages, most recent activity first, with the last
/// message, the unread count and the window.
pub fn conversations(q: &InboxQuery) -> Stmt {
    const SQL: &str = "WITH conv AS (SELECT contact_id, phone_number_id, max(timestamp) AS at FROM messages \
WHERE phone_number_id IS NOT NULL AND (?1 IS NULL OR phone_number_id = ?1) \
GROUP BY contact_id, phone_number_id), \
rows AS (SELECT conv.contact_id || '/' || conv.phone_number_id AS conversation_id, \
conv.phone_number_id AS conversation_channel, conv.at AS last_activity_at, \
json_extract(ch.body, '$.name') AS channel_name, w.last_inbound_at, \
(SELECT count(*) FROM messages u WHERE u.contact_id = conv.contact_id \
AND u.phone_number_id = conv.phone_number_id AND u.direction = 'in' \
AND u.received_at > coalesce(r.read_at, 0)) AS unread, \
m.id AS last_id, m.direction AS last_direction, m.type AS last_type, m.raw AS last_raw, \
m.timestamp AS last_timestamp, \
(SELECT s.status FROM statuses s WHERE s.wamid = m.wamid ORDER BY s.rank DESC LIMIT 1) AS last_status, \
o.state AS last_outbox_state, \
c.id, c.wa_id, c.user_id, c.parent_user_id, c.username, c.profile_name, c.saved_name, \
c.phone_number_id, c.first_seen, c.last_seen, \
(SELECT json_group_array(x.phone_number_id) FROM opt_outs x \
WHERE x.contact_id = c.id AND x.opted_out = 1) AS opted_out_channels \
FROM conv JOIN contacts c ON c.id = conv.contact_id \
JOIN messages m ON m.id = (SELECT l.id FROM messages l WHERE l.contact_id = conv.contact_id \
AND l.phone_number_id = conv.phone_number_id ORDER BY l.timestamp DESC, l.id DESC LIMIT 1) \
LEFT JOIN outbox o ON o.id = m.id \
LEFT JOIN windows w ON w.contact_id = conv.contact_id AND w.phone_number_id = conv.phone_number_id \
LEFT JOIN conversation_reads r ON r.contact_id = conv.contact_id \
AND r.phone_number_id = conv.phone_number_id \
LEFT JOIN channels ch ON ch.phone_number_id = conv.phone_number_id \
WHERE ?2 IS NULL OR instr(lower(c.profile_name), ?2) > 0 OR instr(lower(c.saved_name), ?2) > 0 \
OR instr(lower(c.username), ?2) > 0 OR instr(c.wa_id, ?2) > 0 OR instr(lower(c.user_id), ?2) > 0 \
OR EXISTS (SELECT 1 FROM messages t WHERE t.contact_id = conv.contact_id \
AND t.phone_number_id = conv.phone_number_id AND instr(lower(t.text), ?2) > 0)) \
SELECT * FROM rows WHERE (?3 = 0 OR unread > 0) \
AND (?4 IS NULL OR last_activity_at < ?4 OR (last_activity_at = ?4 AND conversation_id < ?5)) \
ORDER BY last_activity_at DESC, conversation_id DESC LIMIT ?6";
    Stmt::new(
        SQL,
        vec![
            q.channel.as_deref().into(),
            q.search.as_deref().into(),
            q.unread_only.into(),
            q.after.as_ref().map(|(at, _)| *at).into(),
            q.after.as_ref().map(|(_, id)| id.as_str()).into(),
            Arg::Int(q.limit + 1),
        ],
    )
}

/// A row of the inbox query: the conversation, its last message, and the
/// contact's columns as [`super::reads::ContactRow`] reads them.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct ConversationRow {
    #[serde(deserialize_with = "text")]
    pub conversation_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub conversation_channel: Option<String>,
    #[serde(deserialize_with = "int")]
    pub last_activity_at: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub channel_name: Option<String>,
    #[serde(deserialize_with = "int")]
    pub last_inbound_at: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub unread: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub last_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub last_direction: Option<String>,
    #[serde(deserialize_with = "text")]
    pub last_type: Option<String>,
    #[serde(deserialize_with = "text")]
    pub last_raw: Option<String>,
    #[serde(deserialize_with = "int")]
    pub last_timestamp: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub last_status: Option<String>,
    #[serde(deserialize_with = "text")]
    pub last_outbox_state: Option<String>,
}
