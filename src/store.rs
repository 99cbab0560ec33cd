//! The SQL wa-edge runs against D1, as plain data: statements with their
//! arguments, built here and executed by the edge. Keeping them pure lets the
//! host tests check every statement's arguments against its placeholders.

use crate::ingest::Plan;
use serde_json::{json, Value};

/// A bound SQL argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}
impl<T: Into<Arg>> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}

/// One statement and its positional arguments (`?1`, `?2`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub sql: &'static str,
    pub args: Vec<Arg>,
}

impl Stmt {
    /// A statement with arguments.
    pub fn new(sql: &'static str, args: Vec<Arg>) -> Stmt {
        Stmt { sql, args }
    }
}

// Each table's rows travel as one JSON array bound to ?1 and are unpacked
// with json_each, so a delivery of 1000 items is a handful of statements
// (D1 counts every statement against a per-invocation query limit) and the
// 100-parameter limit never binds. `cols!(0, 1)` reads columns 0 and 1 of
// each row.
macro_rules! cols {
    ($first:literal $(, $rest:literal)*) => {
        concat!(
            "json_extract(value, '$[", $first, "]')"
            $(, ", json_extract(value, '$[", $rest, "]')")*
        )
    };
}

const INSERT_MESSAGES: &str = concat!(
    "INSERT INTO messages (id, wamid, direction, phone_number_id, display_phone_number, wa_id, ",
    "type, timestamp, text, reply_id, context_id, raw, received_at) SELECT ",
    cols!(0, 0),
    ", 'in', ",
    cols!(1, 2, 3, 4, 5, 6, 7, 8, 9),
    ", ?2 FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING"
);

const INSERT_STATUSES: &str = concat!(
    "INSERT INTO statuses (wamid, status, rank, timestamp, recipient_id, phone_number_id, ",
    "conversation_id, conversation_category, pricing_category, billable, errors, raw, ",
    "received_at) SELECT ",
    cols!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
    ", ?2 FROM json_each(?1) WHERE true ON CONFLICT (wamid, status) DO NOTHING"
);

// In an upsert, column names on the right of SET refer to the stored row, so
// the profile name and channel follow whichever message is newest no matter
// in which order deliveries arrive.
const UPSERT_CONTACTS: &str = concat!(
    "INSERT INTO contacts (wa_id, profile_name, phone_number_id, first_seen, last_seen, ",
    "last_wa_id, updated_at) SELECT ",
    cols!(0, 1, 2, 3, 4, 5),
    ", ?2 FROM json_each(?1) WHERE true ON CONFLICT (wa_id) DO UPDATE SET ",
    "last_wa_id = CASE WHEN excluded.last_seen >= last_seen ",
    "THEN excluded.last_wa_id ELSE coalesce(last_wa_id, excluded.last_wa_id) END, ",
    "profile_name = CASE WHEN excluded.last_seen >= last_seen ",
    "THEN coalesce(excluded.profile_name, profile_name) ELSE profile_name END, ",
    "phone_number_id = CASE WHEN excluded.last_seen >= last_seen ",
    "THEN coalesce(excluded.phone_number_id, phone_number_id) ELSE phone_number_id END, ",
    "first_seen = min(first_seen, excluded.first_seen), ",
    "last_seen = max(last_seen, excluded.last_seen), ",
    "updated_at = excluded.updated_at"
);

const UPSERT_WINDOWS: &str = concat!(
    "INSERT INTO windows (wa_id, phone_number_id, last_inbound_at, updated_at) SELECT ",
    cols!(0, 1, 2),
    ", ?2 FROM json_each(?1) WHERE true ",
    "ON CONFLICT (wa_id, phone_number_id) DO UPDATE SET ",
    "last_inbound_at = max(last_inbound_at, excluded.last_inbound_at), ",
    "updated_at = excluded.updated_at"
);

const INSERT_EVENTS: &str = concat!(
    "INSERT INTO events (id, kind, waba_id, phone_number_id, reference, summary, raw, ",
    "raw_encoding, received_at) SELECT ",
    cols!(0, 1, 2, 3, 4, 5, 6, 7),
    ", ?2 FROM json_each(?1) WHERE true ON CONFLICT (id) DO NOTHING"
);

/// Largest JSON array bound to one statement (D1 caps a value at 1 MB).
pub const MAX_CHUNK_BYTES: usize = 800_000;

/// One statement per chunk of `rows`, each chunk's JSON under
/// [`MAX_CHUNK_BYTES`] (a single larger row gets a chunk of its own).
fn bulk(out: &mut Vec<Stmt>, sql: &'static str, rows: impl Iterator<Item = Value>, now_ms: i64) {
    let mut chunk = String::from("[");
    let mut flush = |chunk: &mut String| {
        if chunk.len() > 1 {
            chunk.push(']');
            out.push(Stmt::new(
                sql,
                vec![std::mem::take(chunk).into(), now_ms.into()],
            ));
            chunk.push('[');
        }
    };
    for row in rows {
        let text = row.to_string();
        if chunk.len() > 1 && chunk.len() + text.len() + 2 > MAX_CHUNK_BYTES {
            flush(&mut chunk);
        }
        if chunk.len() > 1 {
            chunk.push(',');
        }
        chunk.push_str(&text);
    }
    flush(&mut chunk);
}

// Applies an opt-out change unless a newer one is already recorded.
const UPSERT_OPT: &str = "INSERT INTO contacts (wa_id, first_seen, last_seen, updated_at, \
opted_out, opt_changed_at) VALUES (?1, ?3, ?3, ?4, ?2, ?3) \
ON CONFLICT (wa_id) DO UPDATE SET opted_out = excluded.opted_out, \
opt_changed_at = excluded.opt_changed_at, updated_at = excluded.updated_at \
WHERE coalesce(opt_changed_at, 0) <= excluded.opt_changed_at";

/// The statement that records an opt-out change at `now_ms`.
pub fn opt_statement(o: &crate::ingest::OptRow, now_ms: i64) -> Stmt {
    Stmt::new(
        UPSERT_OPT,
        vec![
            o.wa_id.as_str().into(),
            o.opted_out.into(),
            o.at.into(),
            now_ms.into(),
        ],
    )
}

/// The statements that store `plan`; the edge runs them as one D1 batch
/// (one transaction). `now_ms` is the receipt time.
pub fn ingest_statements(plan: &Plan, now_ms: i64) -> Vec<Stmt> {
    let mut out = Vec::new();
    bulk(
        &mut out,
        UPSERT_CONTACTS,
        plan.contacts.iter().map(|c| {
            json!([
                c.wa_id,
                c.profile_name,
                c.phone_number_id,
                c.first_seen,
                c.last_seen,
                c.last_wa_id
            ])
        }),
        now_ms,
    );
    bulk(
        &mut out,
        INSERT_MESSAGES,
        plan.messages.iter().map(|m| {
            json!([
                m.id,
                m.phone_number_id,
                m.display_phone_number,
                m.wa_id,
                m.kind,
                m.timestamp,
                m.text,
                m.reply_id,
                m.context_id,
                m.raw
            ])
        }),
        now_ms,
    );
    bulk(
        &mut out,
        INSERT_STATUSES,
        plan.statuses.iter().map(|s| {
            json!([
                s.wamid,
                s.status,
                s.rank,
                s.timestamp,
                s.recipient_id,
                s.phone_number_id,
                s.conversation_id,
                s.conversation_category,
                s.pricing_category,
                s.billable.map(i64::from),
                s.errors,
                s.raw
            ])
        }),
        now_ms,
    );
    bulk(
        &mut out,
        UPSERT_WINDOWS,
        plan.windows
            .iter()
            .map(|w| json!([w.wa_id, w.phone_number_id, w.last_inbound_at])),
        now_ms,
    );
    out.extend(plan.opts.iter().map(|o| opt_statement(o, now_ms)));
    out.extend(plan.templates.iter().map(|t| {
        crate::account::sql::status_update(
            &t.template_id,
            &t.waba_id,
            &t.name,
            &t.language,
            &t.status,
            t.reason.as_deref(),
            now_ms,
        )
    }));
    bulk(
        &mut out,
        INSERT_EVENTS,
        plan.events.iter().map(|e| {
            json!([
                e.id,
                e.kind,
                e.waba_id,
                e.phone_number_id,
                e.reference,
                e.summary,
                e.raw,
                e.raw_encoding.as_str()
            ])
        }),
        now_ms,
    );
    out
}
