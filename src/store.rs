//! The SQL wa-edge runs against D1, as plain data: statements with their
//! arguments, built here and executed by the edge. Keeping them pure lets the
//! host tests check every statement's arguments against its placeholders.

use crate::ingest::Plan;

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

const INSERT_MESSAGE: &str = "INSERT INTO messages (id, wamid, direction, phone_number_id, \
display_phone_number, wa_id, type, timestamp, text, reply_id, context_id, raw, received_at) \
VALUES (?1, ?1, 'in', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING";

const INSERT_STATUS: &str = "INSERT INTO statuses (wamid, status, rank, timestamp, recipient_id, \
phone_number_id, conversation_id, conversation_category, pricing_category, billable, errors, raw, \
received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
ON CONFLICT (wamid, status) DO NOTHING";

// In an upsert, column names on the right of SET refer to the stored row, so
// the profile name and channel follow whichever message is newest no matter
// in which order deliveries arrive.
const UPSERT_CONTACT: &str = "INSERT INTO contacts (wa_id, profile_name, phone_number_id, \
first_seen, last_seen, updated_at, last_wa_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
ON CONFLICT (wa_id) DO UPDATE SET \
last_wa_id = CASE WHEN excluded.last_seen >= last_seen \
  THEN excluded.last_wa_id ELSE coalesce(last_wa_id, excluded.last_wa_id) END, \
profile_name = CASE WHEN excluded.last_seen >= last_seen \
  THEN coalesce(excluded.profile_name, profile_name) ELSE profile_name END, \
phone_number_id = CASE WHEN excluded.last_seen >= last_seen \
  THEN coalesce(excluded.phone_number_id, phone_number_id) ELSE phone_number_id END, \
first_seen = min(first_seen, excluded.first_seen), \
last_seen = max(last_seen, excluded.last_seen), \
updated_at = excluded.updated_at";

const UPSERT_WINDOW: &str = "INSERT INTO windows (wa_id, phone_number_id, last_inbound_at) \
VALUES (?1, ?2, ?3) ON CONFLICT (wa_id, phone_number_id) DO UPDATE SET \
last_inbound_at = max(last_inbound_at, excluded.last_inbound_at)";

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

const INSERT_EVENT: &str = "INSERT INTO events (id, kind, waba_id, phone_number_id, reference, \
summary, raw, raw_encoding, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
ON CONFLICT (id) DO NOTHING";

/// The statements that store `plan`; the edge runs them as one D1 batch
/// (one transaction). `now_ms` is the receipt time.
pub fn ingest_statements(plan: &Plan, now_ms: i64) -> Vec<Stmt> {
    let mut out = Vec::with_capacity(
        plan.messages.len() + plan.statuses.len() + plan.contacts.len() + plan.events.len(),
    );
    for c in &plan.contacts {
        out.push(Stmt::new(
            UPSERT_CONTACT,
            vec![
                c.wa_id.as_str().into(),
                c.profile_name.clone().into(),
                c.phone_number_id.as_ref().map(|p| p.as_str()).into(),
                c.first_seen.into(),
                c.last_seen.into(),
                now_ms.into(),
                c.last_wa_id.as_str().into(),
            ],
        ));
    }
    for m in &plan.messages {
        out.push(Stmt::new(
            INSERT_MESSAGE,
            vec![
                m.id.as_str().into(),
                m.phone_number_id.as_ref().map(|p| p.as_str()).into(),
                m.display_phone_number.clone().into(),
                m.wa_id.as_str().into(),
                m.kind.as_str().into(),
                m.timestamp.into(),
                m.text.clone().into(),
                m.reply_id.clone().into(),
                m.context_id.as_ref().map(|c| c.as_str()).into(),
                m.raw.as_str().into(),
                now_ms.into(),
            ],
        ));
    }
    for s in &plan.statuses {
        out.push(Stmt::new(
            INSERT_STATUS,
            vec![
                s.wamid.as_str().into(),
                s.status.as_str().into(),
                s.rank.into(),
                s.timestamp.into(),
                s.recipient_id.as_ref().map(|r| r.as_str()).into(),
                s.phone_number_id.as_ref().map(|p| p.as_str()).into(),
                s.conversation_id.clone().into(),
                s.conversation_category.clone().into(),
                s.pricing_category.clone().into(),
                s.billable.into(),
                s.errors.clone().into(),
                s.raw.as_str().into(),
                now_ms.into(),
            ],
        ));
    }
    for w in &plan.windows {
        out.push(Stmt::new(
            UPSERT_WINDOW,
            vec![
                w.wa_id.as_str().into(),
                w.phone_number_id.as_str().into(),
                w.last_inbound_at.into(),
            ],
        ));
    }
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
    for e in &plan.events {
        out.push(Stmt::new(
            INSERT_EVENT,
            vec![
                e.id.as_str().into(),
                e.kind.as_str().into(),
                e.waba_id.clone().into(),
                e.phone_number_id.as_ref().map(|p| p.as_str()).into(),
                e.reference.clone().into(),
                e.summary.clone().into(),
                e.raw.as_str().into(),
                e.raw_encoding.as_str().into(),
                now_ms.into(),
            ],
        ));
    }
    out
}
