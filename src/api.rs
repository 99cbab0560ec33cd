//! The read side of the JSON API: routing, authentication, paging, the SQL
//! each route runs, and the JSON each row becomes. The edge only executes.

use crate::store::{Arg, Stmt};
use crate::webhook::payload::KNOWN_TYPES;
use crate::webhook::verify::secrets_equal;
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// A 4xx/5xx answer in the API's error format:
/// `{"error": {"code": "snake_case", "message": "human sentence"}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// An error with a status, a stable code and a sentence for people.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404 for a resource that does not exist.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(404, "not_found", format!("No {what} with that id."))
    }

    /// 400 for a bad request parameter.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request", message)
    }

    /// 500 whose body reveals nothing; the detail belongs in the log.
    pub fn internal() -> ApiError {
        ApiError::new(500, "internal_error", "Something went wrong on our side.")
    }

    /// The response body.
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    WebhookVerify,
    WebhookReceive,
    GetMessage(String),
    SendMessage,
    ListContacts,
    GetContact(String),
    ContactMessages(String),
    ListEvents,
    /// `POST /webhook/360dialog/{phone_number_id}`.
    Webhook360(String),
    /// `/v1/channels`, any method.
    Channels,
    /// `/v1/channels/{id}[/rest...]`, any method.
    Channel {
        id: String,
        rest: Vec<String>,
    },
    /// `/v1/media[/{id}]`, any method.
    Media(Option<String>),
    ListRules,
    CreateRule,
    GetRule(String),
    ReplaceRule(String),
    DeleteRule(String),
    /// The path exists but not for this method; carries the allowed methods.
    MethodNotAllowed(&'static str),
    NotFound,
}

impl Route {
    /// True for routes behind the `/v1` bearer token.
    pub fn needs_admin(&self) -> bool {
        matches!(
            self,
            Route::GetMessage(_)
                | Route::SendMessage
                | Route::ListContacts
                | Route::GetContact(_)
                | Route::ContactMessages(_)
                | Route::ListEvents
                | Route::Channels
                | Route::Channel { .. }
                | Route::Media(_)
                | Route::ListRules
                | Route::CreateRule
                | Route::GetRule(_)
                | Route::ReplaceRule(_)
                | Route::DeleteRule(_)
        )
    }
}

/// Maps a method and path onto a [`Route`]. Path segments are percent-decoded.
pub fn route(method: &str, path: &str) -> Route {
    let segments: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let get = |r: Route| {
        if method == "GET" || method == "HEAD" {
            r
        } else {
            Route::MethodNotAllowed("GET")
        }
    };
    match segs.as_slice() {
        ["healthz"] => get(Route::Health),
        ["webhook"] => match method {
            "GET" | "HEAD" => Route::WebhookVerify,
            "POST" => Route::WebhookReceive,
            _ => Route::MethodNotAllowed("GET, POST"),
        },
        ["v1", "messages"] if method == "POST" => Route::SendMessage,
        ["v1", "messages"] => Route::MethodNotAllowed("POST"),
        ["v1", "messages", id] if !id.is_empty() => get(Route::GetMessage((*id).to_owned())),
        ["v1", "contacts"] => get(Route::ListContacts),
        ["v1", "contacts", wa_id] if !wa_id.is_empty() => {
            get(Route::GetContact((*wa_id).to_owned()))
        }
        ["v1", "contacts", wa_id, "messages"] if !wa_id.is_empty() => {
            get(Route::ContactMessages((*wa_id).to_owned()))
        }
        ["v1", "events"] => get(Route::ListEvents),
        ["webhook", "360dialog", pnid] if !pnid.is_empty() => match method {
            "POST" => Route::Webhook360((*pnid).to_owned()),
            _ => Route::MethodNotAllowed("POST"),
        },
        ["v1", "channels"] => Route::Channels,
        ["v1", "channels", id, rest @ ..] if !id.is_empty() => Route::Channel {
            id: (*id).to_owned(),
            rest: rest.iter().map(|s| (*s).to_owned()).collect(),
        },
        ["v1", "media"] => Route::Media(None),
        ["v1", "media", id] if !id.is_empty() => Route::Media(Some((*id).to_owned())),
        ["v1", "rules"] => match method {
            "GET" | "HEAD" => Route::ListRules,
            "POST" => Route::CreateRule,
            _ => Route::MethodNotAllowed("GET, POST"),
        },
        ["v1", "rules", id] if !id.is_empty() => {
            let id = (*id).to_owned();
            match method {
                "GET" | "HEAD" => Route::GetRule(id),
                "PUT" => Route::ReplaceRule(id),
                "DELETE" => Route::DeleteRule(id),
                _ => Route::MethodNotAllowed("GET, PUT, DELETE"),
            }
        }
        _ => Route::NotFound,
    }
}

/// Splits a request URL into its path and decoded query pairs
/// (`application/x-www-form-urlencoded`: `+` is a space).
pub fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path_and_query = path_and_query.split('#').next().unwrap_or_default();
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    (path.to_owned(), pairs)
}

/// True for paths under `/v1`, which answer 401 before anything else
/// (including 404 and 405), so unauthenticated callers learn nothing.
pub fn is_admin_path(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// Checks `Authorization: Bearer <ADMIN_TOKEN>` in constant time. With no
/// token configured the API is closed.
pub fn authorize(header: Option<&str>, admin_token: Option<&str>) -> Result<(), ApiError> {
    let unauthorized = |m: &str| ApiError::new(401, "unauthorized", m);
    let Some(expected) = admin_token.filter(|t| !t.is_empty()) else {
        return Err(unauthorized(
            "The API is closed: set the ADMIN_TOKEN secret to open it.",
        ));
    };
    // The scheme name is case-insensitive (RFC 7235).
    let given = header
        .map(str::trim)
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| unauthorized("Send Authorization: Bearer <ADMIN_TOKEN>."))?;
    if secrets_equal(given, expected) {
        Ok(())
    } else {
        Err(unauthorized("The bearer token is not valid."))
    }
}

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A position in a list ordered by (number DESC, id DESC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: String,
}

impl Cursor {
    /// Opaque form handed to clients.
    pub fn encode(&self) -> String {
        hex::encode(format!("{}:{}", self.at, self.id))
    }

    /// Reads a cursor a client sent back.
    pub fn decode(s: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::invalid("The cursor is not one this API issued.");
        let text = String::from_utf8(hex::decode(s).map_err(|_| bad())?).map_err(|_| bad())?;
        let (at, id) = text.split_once(':').ok_or_else(bad)?;
        Ok(Cursor {
            at: at.parse().map_err(|_| bad())?,
            id: id.to_owned(),
        })
    }
}

/// Paging parameters of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Page {
    /// Reads `limit` (1..=200, default 50) and `cursor`.
    pub fn from_query(query: &[(String, String)]) -> Result<Page, ApiError> {
        let limit = match query_value(query, "limit") {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<i64>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}."
                    ))
                })?,
        };
        let cursor = query_value(query, "cursor")
            .filter(|c| !c.is_empty())
            .map(Cursor::decode)
            .transpose()?;
        Ok(Page { limit, cursor })
    }

    fn args(&self) -> [Arg; 3] {
        [
            self.cursor.as_ref().map(|c| c.at).into(),
            self.cursor.as_ref().map(|c| c.id.clone()).into(),
            (self.limit + 1).into(),
        ]
    }
}

// Column lists shared by the statements below, as macros so each statement
// stays one compile-time literal.
macro_rules! message_select {
    () => {
        "SELECT m.id, m.wamid, m.direction, m.phone_number_id, m.display_phone_number, \
m.wa_id, m.type, m.timestamp, m.raw, m.received_at, \
(SELECT s.status FROM statuses s WHERE s.wamid = m.wamid ORDER BY s.rank DESC LIMIT 1) AS status, \
o.state AS outbox_state, o.attempts, o.last_error, o.last_error_code \
FROM messages m LEFT JOIN outbox o ON o.id = m.id "
    };
}
macro_rules! contact_select {
    () => {
        "SELECT wa_id, profile_name, phone_number_id, first_seen, last_seen, opted_out FROM contacts "
    };
}

/// Statements for `GET /v1/messages/{id}`: the message (by our id or its
/// wamid) and its status history, in one consistent batch.
pub fn get_message(id: &str) -> [Stmt; 2] {
    const MESSAGE: &str = concat!(message_select!(), "WHERE m.id = ?1 OR m.wamid = ?1 LIMIT 1");
    const STATUSES: &str = "SELECT status, rank, timestamp, recipient_id, phone_number_id, \
conversation_id, conversation_category, pricing_category, billable, errors FROM statuses \
WHERE wamid = coalesce((SELECT wamid FROM messages WHERE id = ?1), ?1) \
ORDER BY timestamp ASC, rank ASC";
    [
        Stmt::new(MESSAGE, vec![id.into()]),
        Stmt::new(STATUSES, vec![id.into()]),
    ]
}

/// Statement for `GET /v1/contacts/{wa_id}/messages`, newest first.
pub fn contact_messages(wa_id: &str, page: &Page) -> Stmt {
    const SQL: &str = concat!(
        message_select!(),
        "WHERE m.wa_id = ?1 \
AND (?2 IS NULL OR m.timestamp < ?2 OR (m.timestamp = ?2 AND m.id < ?3)) \
ORDER BY m.timestamp DESC, m.id DESC LIMIT ?4"
    );
    let [at, id, limit] = page.args();
    Stmt::new(SQL, vec![wa_id.into(), at, id, limit])
}

/// Statement for `GET /v1/contacts/{wa_id}`.
pub fn get_contact(wa_id: &str) -> Stmt {
    const SQL: &str = concat!(contact_select!(), "WHERE wa_id = ?1");
    Stmt::new(SQL, vec![wa_id.into()])
}

/// Statement for `GET /v1/contacts`, most recently seen first.
pub fn list_contacts(page: &Page) -> Stmt {
    const SQL: &str = concat!(
        contact_select!(),
        "WHERE (?1 IS NULL OR last_seen < ?1 OR (last_seen = ?1 AND wa_id < ?2)) \
ORDER BY last_seen DESC, wa_id DESC LIMIT ?3"
    );
    Stmt::new(SQL, page.args().into())
}

/// Statement for `GET /v1/events?kind=...`, newest first.
pub fn list_events(query: &[(String, String)], page: &Page) -> Stmt {
    const SQL: &str = "SELECT id, kind, waba_id, phone_number_id, reference, summary, raw, \
raw_encoding, received_at FROM events WHERE (?1 IS NULL OR kind = ?1) \
AND (?2 IS NULL OR received_at < ?2 OR (received_at = ?2 AND id < ?3)) \
ORDER BY received_at DESC, id DESC LIMIT ?4";
    let kind = query_value(query, "kind").filter(|k| !k.is_empty());
    let [at, id, limit] = page.args();
    Stmt::new(SQL, vec![kind.into(), at, id, limit])
}

/// Statement for `GET /healthz`.
pub fn health() -> Stmt {
    Stmt::new("SELECT 1 AS ok", vec![])
}

// D1 hands numbers to Rust as JSON numbers that may be floats.
fn int(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

fn text(row: &Value, key: &str) -> Value {
    row.get(key)
        .filter(|v| v.is_string())
        .cloned()
        .unwrap_or(Value::Null)
}

fn parse_json_column(row: &Value, key: &str) -> Option<Value> {
    row.get(key)
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
}

/// One status in a message's history.
fn status_json(row: &Value) -> Value {
    let mut out = Map::new();
    out.insert("status".into(), text(row, "status"));
    out.insert("timestamp".into(), int(row.get("timestamp")).into());
    if let Some(errors) = parse_json_column(row, "errors") {
        out.insert("errors".into(), errors);
    }
    if row.get("conversation_id").is_some_and(Value::is_string) {
        out.insert(
            "conversation".into(),
            json!({"id": text(row, "conversation_id"), "category": text(row, "conversation_category")}),
        );
    }
    if row.get("pricing_category").is_some_and(Value::is_string) {
        let billable = int(row.get("billable")).map(|b| b != 0);
        out.insert(
            "pricing".into(),
            json!({"category": text(row, "pricing_category"), "billable": billable}),
        );
    }
    Value::Object(out)
}

/// A message row (plus, for the single-message view, its statuses) as the
/// API shows it: Graph's own shape for the content (`text.body`, `image.id`,
/// ...), with who, when and where it stands.
pub fn message_json(row: &Value, statuses: Option<&[Value]>) -> Value {
    let raw = parse_json_column(row, "raw").unwrap_or(Value::Null);
    let kind = text(row, "type");
    let inbound = row.get("direction").and_then(Value::as_str) == Some("in");
    let (from, to) = if inbound {
        (text(row, "wa_id"), text(row, "phone_number_id"))
    } else {
        (text(row, "phone_number_id"), text(row, "wa_id"))
    };
    let mut out = Map::new();
    out.insert("id".into(), text(row, "id"));
    out.insert("wamid".into(), text(row, "wamid"));
    out.insert("direction".into(), text(row, "direction"));
    // An inbound type this version does not model is shown as unsupported,
    // naming its type; its content stays under its own key.
    match kind.as_str() {
        Some(k) if inbound && !KNOWN_TYPES.contains(&k) => {
            out.insert("type".into(), "unsupported".into());
            out.insert("unsupported".into(), json!({ "type": k }));
        }
        _ => {
            out.insert("type".into(), kind.clone());
        }
    }
    out.insert("from".into(), from);
    out.insert("to".into(), to);
    out.insert("timestamp".into(), int(row.get("timestamp")).into());
    out.insert("phone_number_id".into(), text(row, "phone_number_id"));
    out.insert(
        "display_phone_number".into(),
        text(row, "display_phone_number"),
    );
    let mut keys: Vec<&str> = vec!["context", "referral", "errors"];
    if let Some(k) = kind.as_str() {
        keys.insert(0, k);
    }
    for key in keys {
        if let Some(v) = raw.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    let history: Option<Vec<Value>> = statuses.map(|s| s.iter().map(status_json).collect());
    let current = match statuses {
        Some(s) => s
            .iter()
            .max_by_key(|r| int(r.get("rank")).unwrap_or(0))
            .map(|r| text(r, "status")),
        None => row.get("status").filter(|v| v.is_string()).cloned(),
    };
    // Before Graph reports a status, an outbound message's state is the outbox's.
    let current = current.unwrap_or_else(|| {
        if inbound {
            return "received".into();
        }
        match row.get("outbox_state").and_then(Value::as_str) {
            Some("queued" | "sending") => "queued".into(),
            Some("sent") => "accepted".into(),
            Some("failed") => "failed".into(),
            _ => Value::Null,
        }
    });
    out.insert("status".into(), current);
    if row.get("last_error").is_some_and(Value::is_string) {
        out.insert(
            "error".into(),
            json!({"code": int(row.get("last_error_code")), "message": text(row, "last_error")}),
        );
    }
    if let Some(attempts) = int(row.get("attempts")) {
        out.insert("attempts".into(), attempts.into());
    }
    if let Some(h) = history {
        out.insert("statuses".into(), Value::Array(h));
    }
    out.insert("received_at".into(), int(row.get("received_at")).into());
    Value::Object(out)
}

/// A message known only from the statuses reported for it (sent by another
/// system through the same number).
pub fn status_only_message_json(wamid: &str, statuses: &[Value]) -> Value {
    let first = statuses.first().unwrap_or(&Value::Null);
    let current = statuses
        .iter()
        .max_by_key(|r| int(r.get("rank")).unwrap_or(0))
        .map_or(Value::Null, |r| text(r, "status"));
    json!({
        "id": wamid,
        "wamid": wamid,
        "direction": "out",
        "type": Value::Null,
        "from": text(first, "phone_number_id"),
        "to": text(first, "recipient_id"),
        "timestamp": int(first.get("timestamp")),
        "phone_number_id": text(first, "phone_number_id"),
        "status": current,
        "statuses": statuses.iter().map(status_json).collect::<Vec<_>>(),
    })
}

/// A contact row as the API shows it.
pub fn contact_json(row: &Value) -> Value {
    let wa_id = text(row, "wa_id");
    json!({
        "phone": wa_id.as_str().map(crate::phone::e164),
        "wa_id": wa_id,
        "profile_name": text(row, "profile_name"),
        "phone_number_id": text(row, "phone_number_id"),
        "first_seen": int(row.get("first_seen")),
        "last_seen": int(row.get("last_seen")),
        "opted_out": int(row.get("opted_out")).is_some_and(|o| o != 0),
    })
}

/// An event row as the API shows it: `raw` is JSON where the event was JSON,
/// else the text (or hex of the bytes) that arrived.
pub fn event_json(row: &Value) -> Value {
    let raw = match row.get("raw_encoding").and_then(Value::as_str) {
        Some("json") | None => parse_json_column(row, "raw").unwrap_or_else(|| text(row, "raw")),
        Some(_) => text(row, "raw"),
    };
    json!({
        "id": text(row, "id"),
        "kind": text(row, "kind"),
        "waba_id": text(row, "waba_id"),
        "phone_number_id": text(row, "phone_number_id"),
        "reference": text(row, "reference"),
        "summary": parse_json_column(row, "summary"),
        "raw": raw,
        "raw_encoding": text(row, "raw_encoding"),
        "received_at": int(row.get("received_at")),
    })
}

/// A page of a list: the first `limit` rows shaped by `shape`, and the
/// cursor of the next page when the query found one more row.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub data: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// Builds a [`Listing`] from rows fetched with `limit + 1`.
/// `at_key`/`id_key` name the columns the list is ordered by.
pub fn listing(
    mut rows: Vec<Value>,
    page: &Page,
    at_key: &str,
    id_key: &str,
    shape: fn(&Value) -> Value,
) -> Listing {
    let more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| {
            Cursor {
                at: int(r.get(at_key)).unwrap_or(0),
                id: r
                    .get(id_key)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            }
            .encode()
        })
    } else {
        None
    };
    Listing {
        data: rows.iter().map(shape).collect(),
        next_cursor,
    }
}

/// Shapes a message row in a list (current status, no history).
pub fn message_list_item(row: &Value) -> Value {
    message_json(row, None)
}
