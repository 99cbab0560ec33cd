//! The routes the console needs beyond the rest of the API, as decisions:
//! the inbox's query parameters and the JSON of a conversation, a last
//! message's preview, and the "try it" sample a rule is tested against.

use super::{query_value, ApiError, Cursor, Page};
use crate::db::console::{ConversationRow, InboxQuery};
use crate::db::reads::ContactRow;
use crate::inbound::rules::{Answer, Inbound};
use crate::whatsapp::window;
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest search text; longer is refused rather than cut.
pub const MAX_SEARCH: usize = 100;
/// Longest preview of a last message, in characters.
pub const PREVIEW_CHARS: usize = 120;

/// The text to search for: `q` trimmed and lowercased; blank searches
/// nothing. Matched with `instr`, not `LIKE`, so `%` and `_` are literal and
/// no pattern limit applies (D1 caps `LIKE` patterns at 50 bytes).
pub fn search_text(q: &str) -> Option<String> {
    Some(q.trim().to_lowercase()).filter(|q| !q.is_empty())
}

/// Longest channel id a filter takes.
pub const MAX_CHANNEL: usize = 64;

/// A `channel` filter: absent when empty, 400 when too long to be one.
pub fn channel_filter(query: &[(String, String)]) -> Result<Option<String>, ApiError> {
    match query_value(query, "channel").filter(|c| !c.is_empty()) {
        Some(c) if c.chars().count() > MAX_CHANNEL => Err(ApiError::invalid(format!(
            "channel must be at most {MAX_CHANNEL} characters."
        ))),
        c => Ok(c.map(str::to_owned)),
    }
}

/// Reads `q`, `channel`, `unread`, `limit` and `cursor` of `GET /v1/conversations`.
pub fn inbox_query(query: &[(String, String)]) -> Result<InboxQuery, ApiError> {
    let page = Page::from_query(query)?;
    let q = query_value(query, "q").unwrap_or("");
    if q.chars().count() > MAX_SEARCH {
        return Err(ApiError::invalid(format!(
            "q must be at most {MAX_SEARCH} characters."
        )));
    }
    let unread_only = match query_value(query, "unread") {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => return Err(ApiError::invalid("unread must be true or false.")),
    };
    Ok(InboxQuery {
        search: search_text(q),
        channel: channel_filter(query)?,
        unread_only,
        limit: page.limit,
        after: page.cursor.map(|Cursor { at, id }| (at, id)),
    })
}

/// A short text for a message in the inbox: its text or caption, else what
/// kind of message it is.
pub fn preview(kind: Option<&str>, raw: Option<&Value>) -> Option<String> {
    let kind = kind?;
    let at = |path: &str| raw.and_then(|r| r.pointer(path)).and_then(Value::as_str);
    let text = match kind {
        "text" => at("/text/body").map(str::to_owned),
        "image" | "video" | "document" => Some(
            at(&format!("/{kind}/caption"))
                .or_else(|| at("/document/filename"))
                .map_or_else(|| label(kind), |c| format!("{} {c}", label(kind))),
        ),
        "interactive" => at("/interactive/button_reply/title")
            .or_else(|| at("/interactive/list_reply/title"))
            .or_else(|| at("/interactive/body/text"))
            .map(str::to_owned)
            .or_else(|| Some(label(kind))),
        "button" => at("/button/text").map(str::to_owned),
        "reaction" => at("/reaction/emoji").map(|e| format!("Reacted {e}")),
        "template" => at("/template/name").map(|n| format!("Template: {n}")),
        "location" => Some(
            at("/location/name").map_or_else(|| label(kind), |n| format!("{} {n}", label(kind))),
        ),
        _ => Some(label(kind)),
    }?;
    Some(truncate(&text, PREVIEW_CHARS))
}

/// The bracketed name of a message type.
fn label(kind: &str) -> String {
    let name = match kind {
        "image" => "Photo",
        "video" => "Video",
        "audio" => "Audio",
        "document" => "Document",
        "sticker" => "Sticker",
        "location" => "Location",
        "contacts" => "Contact card",
        "interactive" => "Interactive message",
        "order" => "Order",
        "system" => "System message",
        _ => "Message",
    };
    format!("[{name}]")
}

/// The first `n` characters of `s`, with an ellipsis when cut.
fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
    }
}

/// The 24-hour window of a conversation at `now_s` (unix seconds).
pub fn window_json(last_inbound_at: Option<i64>, now_s: i64) -> Value {
    json!({
        "open": window::is_open(last_inbound_at, now_s),
        "closes_at": last_inbound_at.map(window::closes_at),
    })
}

/// A conversation as `GET /v1/conversations` shows it.
pub fn conversation_json(row: &ConversationRow, contact: &ContactRow, now_s: i64) -> Value {
    let raw: Option<Value> = row
        .last_raw
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let inbound = row.last_direction.as_deref() == Some("in");
    let status = match (&row.last_status, inbound) {
        (Some(s), _) => Some(s.clone()),
        (None, true) => Some("received".to_owned()),
        (None, false) => row
            .last_outbox_state
            .as_deref()
            .map(|s| crate::outbound::outbox::shown_state(Some(s)).to_owned()),
    };
    json!({
        "id": row.conversation_id,
        "contact": super::contact_json(contact),
        "phone_number_id": row.conversation_channel,
        "channel_name": row.channel_name,
        "last_message": {
            "id": row.last_id,
            "direction": row.last_direction,
            "type": row.last_type,
            "preview": preview(row.last_type.as_deref(), raw.as_ref()),
            "timestamp": row.last_timestamp,
            "status": status,
        },
        "last_activity_at": row.last_activity_at,
        "unread": row.unread.unwrap_or(0),
        "window": window_json(row.last_inbound_at, now_s),
    })
}

/// A sample message for `POST /v1/rules/try`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default = "text_type", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub reply_id: Option<String>,
    #[serde(default)]
    pub phone_number_id: Option<String>,
    #[serde(default)]
    pub first_message: bool,
}

fn text_type() -> String {
    "text".to_owned()
}

impl Sample {
    /// Reads a sample body.
    pub fn parse(body: &[u8]) -> Result<Sample, ApiError> {
        let bad = |e: String| {
            ApiError::new(
                400,
                "invalid_sample",
                format!("The sample is not valid: {e}."),
            )
        };
        let value: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
        if !value.is_object() {
            return Err(bad("it must be a JSON object".into()));
        }
        let s: Sample = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if s.kind.is_empty() || s.kind.chars().count() > 32 {
            return Err(
                ApiError::new(400, "invalid_sample", "type: must be a message type.")
                    .with_field("type"),
            );
        }
        if s.text.as_ref().is_some_and(|t| t.len() > 4096) {
            return Err(
                ApiError::new(400, "invalid_sample", "text: at most 4096 bytes.")
                    .with_field("text"),
            );
        }
        Ok(s)
    }

    /// The sample as the rules see an inbound message; with no channel
    /// named, it arrives on `default_channel`.
    pub fn inbound<'a>(&'a self, default_channel: &'a str) -> Inbound<'a> {
        Inbound {
            channel: self.phone_number_id.as_deref().unwrap_or(default_channel),
            kind: &self.kind,
            text: self.text.as_deref(),
            reply_id: self.reply_id.as_deref(),
            first_message: self.first_message,
        }
    }
}

/// The answer of `POST /v1/rules/try`: the rule that would answer and its
/// reply, or why none would.
pub fn tried(answer: Option<&Answer>, rules: usize) -> Value {
    match answer {
        None if rules == 0 => json!({"rule": null, "reply": null,
            "reason": "There are no rules yet."}),
        None => json!({"rule": null, "reply": null,
            "reason": "No enabled rule matches this message, so nothing is sent."}),
        Some(a) => {
            let reason = match (&a.rule.hours, a.message == a.rule.reply.as_ref()) {
                (Some(_), false) => "Outside this rule's hours: the away message answers.",
                (_, _) if a.message.is_none() => "This rule matches and sends nothing.",
                _ => "This rule answers.",
            };
            json!({"rule": a.rule, "reply": a.message, "reason": reason})
        }
    }
}
