//! The read side of the JSON API: routing, authentication, paging, the SQL
//! each route runs, and the JSON each row becomes. The edge only executes.

pub mod console;
pub mod graph;
pub mod router;

use crate::db::reads::{ContactRow, EventRow, MessageRow, StatusRow};
use crate::whatsapp::webhook::payload::KNOWN_TYPES;
use crate::whatsapp::webhook::verify::secrets_equal;
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
    /// A header the answer must carry: `WWW-Authenticate` on a 401, `Allow`
    /// on a 405.
    pub header: Option<(&'static str, &'static str)>,
    /// The request field the error is about (`description`,
    /// `interactive.action.buttons[3]`), when it is about one.
    pub field: Option<String>,
}

impl ApiError {
    /// An error with a status, a stable code and a sentence for people.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            header: None,
            field: None,
        }
    }

    /// The same error, about the request field `field`.
    pub fn with_field(self, field: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.into()).filter(|f: &String| !f.is_empty()),
            ..self
        }
    }

    /// The same error, about the field its message starts with
    /// (`"field.path: what is wrong"`), if it starts with one.
    pub fn naming_its_field(self) -> ApiError {
        let field = field_named_in(&self.message).map(str::to_owned);
        ApiError { field, ..self }
    }

    /// A 400 for a value that breaks one of WhatsApp's rules, naming its field.
    pub fn invalid_field(code: &'static str, e: &crate::whatsapp::message::Invalid) -> ApiError {
        ApiError::new(400, code, e.to_string()).with_field(e.field.as_str())
    }

    /// 401 with the `WWW-Authenticate` challenge the caller should answer.
    pub fn unauthorized(
        code: &'static str,
        challenge: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            header: Some(("WWW-Authenticate", challenge)),
            ..ApiError::new(401, code, message)
        }
    }

    /// 405 naming the methods the path accepts, in the body and in `Allow`.
    pub fn method_not_allowed(allow: &'static str) -> ApiError {
        ApiError {
            header: Some(("Allow", allow)),
            ..ApiError::new(
                405,
                "method_not_allowed",
                format!("This path accepts {allow}."),
            )
        }
    }

    /// 404 for a path that names no route.
    pub fn no_route() -> ApiError {
        ApiError::new(404, "not_found", "No such route.")
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
        match &self.field {
            None => json!({"error": {"code": self.code, "message": self.message}}),
            Some(f) => json!({"error": {"code": self.code, "message": self.message, "field": f}}),
        }
    }
}

impl From<crate::outbound::send::Refusal> for ApiError {
    /// The one place a send refusal becomes an HTTP answer.
    fn from(r: crate::outbound::send::Refusal) -> ApiError {
        use crate::outbound::send::Refusal::*;
        let (status, code) = match &r {
            InvalidJson(_) => (400, "invalid_json"),
            InvalidMessage(_) => (400, "invalid_message"),
            InvalidIdempotencyKey => (400, "invalid_idempotency_key"),
            NoChannel => (400, "no_channel"),
            UnknownChannel => (409, "unknown_channel"),
            UnknownContact => (404, "unknown_contact"),
            IdempotencyKeyReused => (409, "idempotency_key_reused"),
            OptedOut => (409, "opted_out"),
            OutsideWindow => (409, "outside_window"),
            TemplateNotApproved { .. } => (409, "template_not_approved"),
            NotATestRecipient => (403, "recipient_not_allowed"),
            TierReached { .. } => (429, "messaging_limit_reached"),
        };
        ApiError::new(status, code, r.to_string()).naming_its_field()
    }
}

/// The field a message of the form `"field.path: what is wrong"` names.
pub fn field_named_in(message: &str) -> Option<&str> {
    let (field, _) = message.split_once(": ")?;
    let is_path = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']');
    Some(field).filter(|f| !f.is_empty() && f.len() <= 128 && f.chars().all(is_path))
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

/// The `WWW-Authenticate` challenge of the `/v1` API.
pub const BEARER_CHALLENGE: &str = "Bearer realm=\"wa-edge\"";

/// A bearer credential as presented, before a key is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// `ADMIN_TOKEN`, compared in constant time.
    Root,
    /// Something shaped like an API key: its hash, to look up.
    Key(String),
}

/// Reads `Authorization: Bearer <ADMIN_TOKEN or an API key>`. An admin
/// token is checked here; a key is only recognised (the edge looks its hash
/// up). With no admin token configured only keys open the API.
pub fn authenticate(
    header: Option<&str>,
    admin_token: Option<&str>,
) -> Result<Presented, ApiError> {
    let unauthorized = |m: &str| ApiError::unauthorized("unauthorized", BEARER_CHALLENGE, m);
    // The scheme name is case-insensitive (RFC 7235).
    let given = header
        .map(str::trim)
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| unauthorized("Send Authorization: Bearer <ADMIN_TOKEN or an API key>."))?;
    // The admin token first, so one that happens to look like a key still
    // works as the root credential.
    let expected = admin_token.filter(|t| !t.is_empty());
    if expected.is_some_and(|t| secrets_equal(given, t)) {
        return Ok(Presented::Root);
    }
    if crate::keys::looks_like_key(given) {
        return Ok(Presented::Key(crate::keys::hash(given)));
    }
    if expected.is_none() {
        return Err(unauthorized(
            "The API is closed: set the ADMIN_TOKEN secret to open it.",
        ));
    }
    Err(unauthorized("The bearer token is not valid."))
}

/// The answer to a key that is not (or no longer) stored.
pub fn unknown_key() -> ApiError {
    ApiError::unauthorized(
        "unauthorized",
        BEARER_CHALLENGE,
        "The API key is not valid (unknown or revoked).",
    )
}

/// Largest JSON body of a configuration request (a rule, a channel or its
/// patch).
pub const MAX_CONFIG_BODY: usize = 64 * 1024;
/// Largest JSON body of a template submission or a profile update.
pub const MAX_TEMPLATE_BODY: usize = 256 * 1024;

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

/// The first value of query parameter `name`.
pub fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Page {
    /// What the query reads.
    pub fn args(&self) -> crate::db::reads::PageArgs {
        crate::db::reads::PageArgs {
            limit: self.limit,
            after: self.cursor.as_ref().map(|c| (c.at, c.id.clone())),
        }
    }

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
}

/// An event's body as it arrived, from its stored text and encoding: the
/// content type and the bytes.
pub fn raw_body(encoding: Option<&str>, text: String) -> (&'static str, Vec<u8>) {
    match encoding {
        Some("hex") => (
            "application/octet-stream",
            hex::decode(&text).unwrap_or_default(),
        ),
        Some("text") => ("text/plain; charset=utf-8", text.into_bytes()),
        _ => ("application/json", text.into_bytes()),
    }
}

fn json_column(s: &Option<String>) -> Option<Value> {
    s.as_deref().and_then(|s| serde_json::from_str(s).ok())
}

/// One status in a message's history.
fn status_json(row: &StatusRow) -> Value {
    let mut out = Map::new();
    out.insert("status".into(), json!(row.status));
    out.insert("timestamp".into(), json!(row.timestamp));
    if row.recipient_user_id.is_some() {
        out.insert("recipient_user_id".into(), json!(row.recipient_user_id));
    }
    if row.group_id.is_some() {
        out.insert("group_id".into(), json!(row.group_id));
    }
    if let Some(errors) = json_column(&row.errors) {
        out.insert("errors".into(), errors);
    }
    if row.conversation_id.is_some() {
        out.insert(
            "conversation".into(),
            json!({"id": row.conversation_id, "category": row.conversation_category}),
        );
    }
    if row.pricing_category.is_some() {
        let billable = row.billable.map(|b| b != 0);
        out.insert(
            "pricing".into(),
            json!({"category": row.pricing_category, "billable": billable}),
        );
    }
    Value::Object(out)
}

fn current_status(statuses: &[StatusRow]) -> Option<String> {
    statuses
        .iter()
        .max_by_key(|r| r.rank.unwrap_or(0))
        .and_then(|r| r.status.clone())
}

/// A message row (plus, for the single-message view, its statuses) as the
/// API shows it: Graph's own shape for the content (`text.body`, `image.id`,
/// ...), with who, when and where it stands.
// Long because every field of the message view is set here, in the order the API shows them.
pub fn message_json(row: &MessageRow, statuses: Option<&[StatusRow]>) -> Value {
    let raw = json_column(&row.raw).unwrap_or(Value::Null);
    let kind = row.kind.as_deref();
    let inbound = row.direction.as_deref() == Some("in");
    let mut out = Map::new();
    out.insert("id".into(), json!(row.id));
    out.insert("wamid".into(), json!(row.wamid));
    out.insert("direction".into(), json!(row.direction));
    out.insert(
        "origin".into(),
        json!(row.origin.as_deref().unwrap_or("live")),
    );
    out.insert("contact_id".into(), json!(row.contact_id));
    // An inbound type this version does not model is shown as unsupported,
    // naming its type; its content stays under its own key.
    match kind {
        Some(k) if inbound && !KNOWN_TYPES.contains(&k) => {
            out.insert("type".into(), "unsupported".into());
            out.insert("unsupported".into(), json!({ "type": k }));
        }
        _ => {
            out.insert("type".into(), json!(kind));
        }
    }
    // The customer's side: their number when known, their BSUID, username.
    if inbound {
        out.insert("from".into(), json!(row.wa_id));
        out.insert("from_user_id".into(), json!(row.user_id));
        out.insert("to".into(), json!(row.phone_number_id));
    } else {
        out.insert("from".into(), json!(row.phone_number_id));
        out.insert("to".into(), json!(row.wa_id));
        out.insert("to_user_id".into(), json!(row.user_id));
    }
    out.insert("username".into(), json!(row.username));
    out.insert("group_id".into(), json!(row.group_id));
    out.insert("timestamp".into(), json!(row.timestamp));
    out.insert("phone_number_id".into(), json!(row.phone_number_id));
    out.insert(
        "display_phone_number".into(),
        json!(row.display_phone_number),
    );
    let keys = kind.into_iter().chain(["context", "referral", "errors"]);
    for key in keys {
        if let Some(v) = raw.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    let current = match statuses {
        Some(s) => current_status(s),
        None => row.status.clone(),
    };
    // Before Graph reports a status, an outbound message's state is the outbox's.
    let current = current.map(Value::from).unwrap_or_else(|| {
        if inbound {
            return "received".into();
        }
        match row.outbox_state.as_deref() {
            None => Value::Null,
            state => crate::outbound::outbox::shown_state(state).into(),
        }
    });
    out.insert("status".into(), current);
    if row.last_error.is_some() {
        out.insert(
            "error".into(),
            json!({"code": row.last_error_code, "message": row.last_error}),
        );
    }
    if let Some(attempts) = row.attempts {
        out.insert("attempts".into(), attempts.into());
    }
    if let Some(s) = statuses {
        out.insert(
            "statuses".into(),
            Value::Array(s.iter().map(status_json).collect()),
        );
    }
    out.insert("received_at".into(), json!(row.received_at));
    Value::Object(out)
}

/// A message known only from the statuses reported for it (sent by another
/// system through the same number).
pub fn status_only_message_json(wamid: &str, statuses: &[StatusRow]) -> Value {
    let first = statuses.first().cloned().unwrap_or_default();
    json!({
        "id": wamid,
        "wamid": wamid,
        "direction": "out",
        "type": Value::Null,
        "from": first.phone_number_id,
        "to": first.recipient_id,
        "to_user_id": first.recipient_user_id,
        "timestamp": first.timestamp,
        "phone_number_id": first.phone_number_id,
        "status": current_status(statuses),
        "statuses": statuses.iter().map(status_json).collect::<Vec<_>>(),
    })
}

/// A contact row as the API shows it.
pub fn contact_json(row: &ContactRow) -> Value {
    let opted_out: Vec<Value> = json_column(&row.opted_out_channels)
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    // 0 is "never wrote" (known from a send, an echo or an opt-out).
    let seen = |t: Option<i64>| t.filter(|t| *t > 0);
    json!({
        "id": row.id,
        "phone": row.wa_id.as_deref().map(crate::whatsapp::phone::e164),
        "wa_id": row.wa_id,
        "user_id": row.user_id,
        "parent_user_id": row.parent_user_id,
        "username": row.username,
        "profile_name": row.profile_name,
        "saved_name": row.saved_name,
        "phone_number_id": row.phone_number_id,
        "first_seen": seen(row.first_seen),
        "last_seen": seen(row.last_seen),
        "opted_out": !opted_out.is_empty(),
        "opted_out_channels": opted_out,
    })
}

/// An event row as the API shows it: `raw` is JSON where the event was JSON,
/// else the text (or hex of the bytes) that arrived.
pub fn event_json(row: &EventRow) -> Value {
    let raw = match row.raw_encoding.as_deref() {
        // Too big to list: read it at /v1/events/{id}/raw.
        _ if row.raw_ref.is_some() => Value::Null,
        Some("json") | None => json_column(&row.raw).unwrap_or_else(|| json!(row.raw)),
        Some(_) => json!(row.raw),
    };
    json!({
        "id": row.id,
        "kind": row.kind,
        "waba_id": row.waba_id,
        "phone_number_id": row.phone_number_id,
        "reference": row.reference,
        "summary": json_column(&row.summary),
        "raw": raw,
        "raw_encoding": row.raw_encoding,
        "raw_url": row.id.as_deref().map(|id| format!("/v1/events/{id}/raw")),
        "received_at": row.received_at,
    })
}

/// A page of a list: the first `limit` rows shaped by `shape`, and the
/// cursor of the next page when the query found one more row.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub data: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// Builds a [`Listing`] from rows fetched with `limit + 1`. `position`
/// gives the ordering column's value and the id of a row, for the cursor.
pub fn listing<T>(
    mut rows: Vec<T>,
    page: &Page,
    position: fn(&T) -> (Option<i64>, Option<String>),
    shape: impl Fn(&T) -> Value,
) -> Listing {
    let more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| {
            let (at, id) = position(r);
            Cursor {
                at: at.unwrap_or(0),
                id: id.unwrap_or_default(),
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
pub fn message_list_item(row: &MessageRow) -> Value {
    message_json(row, None)
}

/// A forward (one delivery attempt record of a destination) as the API
/// shows it.
pub fn forward_json(row: &Value) -> Value {
    let int = |k: &str| row.get(k).and_then(Value::as_f64).map(|f| f as i64);
    let text = |k: &str| row.get(k).and_then(Value::as_str);
    let source = text("source").unwrap_or_default();
    let (kind, of) = source.split_once(':').unwrap_or(("", source));
    // A claimed forward is still pending for the caller.
    let state = match text("state") {
        Some("sending") => Some("pending"),
        other => other,
    };
    json!({
        "id": text("id"),
        "source": {"kind": kind, "id": of},
        "state": state,
        "attempts": int("attempts"),
        "next_attempt_at": int("next_attempt_at"),
        "last_status": int("last_status"),
        "last_error": text("last_error"),
        "latency_ms": int("latency_ms"),
        "created_at": int("created_at"),
        "updated_at": int("updated_at"),
    })
}

/// A destination's last day, from the rows of the db layer's stats
/// statements: counts by state, p50/p99 latency, the last error.
pub fn destination_stats(counts: &[Value], latencies: &[Value], last: &[Value]) -> Value {
    let n = |s: &str| {
        counts
            .iter()
            .filter(|r| r.get("state").and_then(Value::as_str) == Some(s))
            .filter_map(|r| r.get("n").and_then(Value::as_f64))
            .sum::<f64>() as i64
    };
    let mut ms: Vec<i64> = latencies
        .iter()
        .filter_map(|r| {
            r.get("latency_ms")
                .and_then(Value::as_f64)
                .map(|f| f as i64)
        })
        .collect();
    ms.sort_unstable();
    let pct =
        |p: usize| (!ms.is_empty()).then(|| ms.get((ms.len() - 1) * p / 100).copied().unwrap_or(0));
    let last = last.first();
    json!({
        "delivered": n("delivered"),
        "retrying": n("retrying") + n("pending") + n("sending"),
        "dead": n("dead"),
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "last_error": last.map(|l| json!({
            "status": l.get("last_status").and_then(Value::as_f64).map(|f| f as i64),
            "message": l.get("last_error"),
            "at": l.get("updated_at").and_then(Value::as_f64).map(|f| f as i64),
        })),
    })
}
