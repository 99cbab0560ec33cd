//! The writes of one delivery: every table's rows as bulk statements
//! (contacts, messages, statuses, windows, events and the identifiers they name,
//! opt-out changes, template statuses, outbox resolutions), and raw bodies
//! too big for their row, split across `raw_parts` or put in R2.

use super::{bulk, Arg, RawColumn, Stmt};
use crate::cols;
use crate::ids::{PhoneNumberId, UserId, WaId, WaMessageId};
use crate::inbound::ingest::{OptRow, Plan};
use serde_json::{json, Value};

// Row: id, direction, origin, channel, display number, key (3), wa_id,
// user_id, username, group, type, timestamp, text, reply id, context id,
// media id, raw, raw_ref.
const INSERT_MESSAGES: &str = concat!(
    "INSERT INTO messages (id, wamid, direction, origin, phone_number_id, display_phone_number, ",
    "contact_id, wa_id, user_id, username, group_id, type, timestamp, text, reply_id, context_id, ",
    "media_id, raw, raw_ref, received_at) SELECT ",
    cols!(0, 0, 1, 2, 3, 4),
    ", ",
    crate::contact_at!("5", "6", "7", "20"),
    ", ",
    cols!(8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19),
    // The backfill sends a message's media in a later webhook: it fills in
    // a history message of the same channel stored without it, unless that
    // one's body was spilled (which the new row would no longer name).
    // Anything else is a redelivery.
    ", ?2 FROM json_each(?1) WHERE true ON CONFLICT (id) DO UPDATE SET ",
    "type = excluded.type, media_id = excluded.media_id, raw = excluded.raw, ",
    "raw_ref = excluded.raw_ref WHERE messages.origin = 'history' AND excluded.origin = 'history' ",
    "AND messages.phone_number_id IS excluded.phone_number_id AND messages.raw_ref IS NULL ",
    "AND messages.media_id IS NULL AND excluded.media_id IS NOT NULL ON CONFLICT DO NOTHING"
);

const INSERT_STATUSES: &str = concat!(
    "INSERT INTO statuses (wamid, status, rank, timestamp, recipient_id, phone_number_id, ",
    "conversation_id, conversation_category, pricing_category, billable, errors, raw, raw_ref, ",
    "recipient_user_id, group_id, received_at) SELECT ",
    cols!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14),
    // A status for a message stored under another channel is not that
    // channel's to report (a 360dialog credential cannot mark another
    // number's messages read or failed).
    ", ?2 FROM json_each(?1) WHERE NOT EXISTS (SELECT 1 FROM messages m ",
    "WHERE m.wamid = json_extract(value, '$[0]') ",
    "AND m.phone_number_id IS NOT json_extract(value, '$[5]')) ",
    "ON CONFLICT (wamid, status) DO NOTHING"
);

// Row: key (3), channel, last inbound time.
const UPSERT_WINDOWS: &str = concat!(
    "INSERT INTO windows (contact_id, phone_number_id, last_inbound_at, updated_at) SELECT ",
    crate::contact_at!("0", "1", "2", "5"),
    ", ",
    cols!(3, 4),
    ", ?2 FROM json_each(?1) WHERE true ",
    "ON CONFLICT (contact_id, phone_number_id) DO UPDATE SET ",
    "last_inbound_at = max(last_inbound_at, excluded.last_inbound_at), ",
    "updated_at = excluded.updated_at"
);

const INSERT_EVENTS: &str = concat!(
    "INSERT INTO events (id, kind, waba_id, phone_number_id, reference, summary, raw, ",
    "raw_encoding, raw_ref, received_at) SELECT ",
    cols!(0, 1, 2, 3, 4, 5, 6, 7, 8),
    ", ?2 FROM json_each(?1) WHERE NOT EXISTS (SELECT 1 FROM erased_events x ",
    "WHERE x.id = json_extract(value, '$[0]')) ON CONFLICT (id) DO NOTHING"
);

const INSERT_EVENT_CONTACTS: &str = concat!(
    "INSERT INTO event_contacts (identifier, event_id) SELECT ",
    cols!(0, 1),
    " FROM json_each(?1) WHERE ?2 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM erased_events x ",
    "WHERE x.id = json_extract(value, '$[1]')) ON CONFLICT DO NOTHING"
);

// Applies opt-out changes unless a newer one is already recorded. Row:
// channel, key (3), opted out, time.
const UPSERT_OPTS: &str = concat!(
    "INSERT INTO opt_outs (phone_number_id, contact_id, opted_out, changed_at, updated_at) SELECT ",
    cols!(0),
    ", ",
    crate::contact_at!("1", "2", "3", "6"),
    ", ",
    cols!(4, 5),
    ", ?2 FROM json_each(?1) WHERE true ON CONFLICT (phone_number_id, contact_id) DO UPDATE SET ",
    "opted_out = excluded.opted_out, changed_at = excluded.changed_at, ",
    "updated_at = excluded.updated_at WHERE excluded.changed_at >= opt_outs.changed_at"
);

// A template status moves forward in time only.
const UPSERT_TEMPLATE_STATUS: &str = concat!(
    "INSERT INTO templates (id, waba_id, name, language, status, rejected_reason, status_at, ",
    "updated_at) SELECT ",
    cols!(0, 1, 2, 3, 4, 5, 6),
    ", ?2 FROM json_each(?1) WHERE true ON CONFLICT (id) DO UPDATE SET ",
    "status = excluded.status, rejected_reason = excluded.rejected_reason, ",
    "status_at = excluded.status_at, updated_at = excluded.updated_at ",
    "WHERE templates.status_at IS NULL OR excluded.status_at >= templates.status_at"
);

/// The latest change per key, later items winning ties.
fn latest<T, K: Ord>(items: &[T], key: impl Fn(&T) -> K, at: impl Fn(&T) -> i64) -> Vec<&T> {
    let mut best: std::collections::BTreeMap<K, &T> = Default::default();
    for item in items {
        let k = key(item);
        if best.get(&k).is_none_or(|b| at(item) >= at(b)) {
            best.insert(k, item);
        }
    }
    best.into_values().collect()
}

/// The statement(s) recording opt-out changes at `now_ms`: one per chunk,
/// the newest change per (channel, contact).
pub fn opt_statements(opts: &[&OptRow], now_ms: i64) -> Vec<Stmt> {
    let mut out = Vec::new();
    let rows = latest(
        opts,
        |o| (o.phone_number_id.clone(), o.contact.clone()),
        |o| o.at,
    );
    bulk(
        &mut out,
        UPSERT_OPTS,
        rows.into_iter().map(|o| {
            let [c, w, u] = o.contact.json();
            json!([
                o.phone_number_id,
                c,
                w,
                u,
                o.opted_out,
                o.at,
                o.contact.scope
            ])
        }),
        now_ms,
    );
    out
}

/// Raw bodies longer than this do not stay in their row (a D1 row holds at
/// most 2 MB, and rows travel in 800 KB chunks).
pub const INLINE_RAW_MAX: usize = 512 * 1024;
/// Size of one `raw_parts` row.
pub const PART_BYTES: usize = 700_000;
/// Key prefix of raw bodies kept in R2.
pub const R2_RAW_PREFIX: &str = "raw/";
/// How a row's `raw_ref` names an R2 object: `r2:<key>`.
const R2_REF: &str = "r2:";
/// How a row's `raw_ref` names its `raw_parts`: `parts:<owner>`.
const PARTS_REF: &str = "parts:";

/// The R2 key a `raw_ref` names, if it names one (else the body is in
/// `raw_parts`).
pub fn r2_key(raw_ref: &str) -> Option<&str> {
    raw_ref.strip_prefix(R2_REF)
}

/// The SQL of the `raw_parts` owner a row's `raw_ref` names, for a
/// statement's `WHERE owner IN (SELECT ... WHERE parts_named!())`.
#[macro_export]
#[doc(hidden)]
macro_rules! parts_owner {
    () => {
        "substr(raw_ref, 7)"
    };
}

/// The SQL that holds when a row's body is in `raw_parts`.
#[macro_export]
#[doc(hidden)]
macro_rules! parts_named {
    () => {
        "raw_ref LIKE 'parts:%'"
    };
}

/// Where raw bodies too big for their row go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpillTo {
    /// Split across `raw_parts` rows, in the same batch.
    Rows,
    /// The `MEDIA` R2 bucket; the edge puts the [`Blob`]s before the batch.
    R2,
}

/// How one delivery spills its long bodies: where to, and the tag that
/// names them apart from every other delivery's (the hex SHA-256 of the
/// delivery's body, [`crate::relay::route::delivery_id`]). So a delivery
/// that repeats another's ids (a channel reusing another channel's wamid)
/// writes objects and parts of its own, which no row of the other names,
/// and a redelivery of the same bytes writes the same ones again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spill<'a> {
    pub to: SpillTo,
    pub tag: &'a str,
}

/// The row a spilled raw body belongs to, by its primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Message(String),
    /// A status by wamid and status.
    Status(String, String),
    Event(String),
    /// A body kept for the relay.
    Delivery(String),
}

/// A `raw_parts` insert of part ?2 (data ?3) of owner ?1, for the row the
/// `from` clause finds by key.
macro_rules! insert_part {
    ($from:literal) => {
        concat!(
            "INSERT INTO raw_parts (owner, part, data) SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM ",
            $from,
            " AND raw_ref = 'parts:' || ?1) ON CONFLICT DO NOTHING"
        )
    };
}

/// Digits of the tag in an owner key: 128 bits of the body's hash.
const TAG_DIGITS: usize = 32;

impl Owner {
    /// The owner key of its body as `spill` writes it: the row's table and
    /// key, then the delivery's tag.
    fn key(&self, tag: &str) -> String {
        let tag = tag.get(..TAG_DIGITS).unwrap_or(tag);
        match self {
            Owner::Message(id) => format!("message:{id}~{tag}"),
            Owner::Status(wamid, status) => format!("status:{wamid}:{status}~{tag}"),
            Owner::Event(id) => format!("event:{id}~{tag}"),
            Owner::Delivery(id) => format!("delivery:{id}~{tag}"),
        }
    }

    /// Its primary key as [`Owner::insert_part`] binds it (?4, and ?5).
    fn args(&self) -> Vec<Arg> {
        match self {
            Owner::Message(id) | Owner::Event(id) | Owner::Delivery(id) => vec![id.as_str().into()],
            Owner::Status(wamid, status) => vec![wamid.as_str().into(), status.as_str().into()],
        }
    }

    /// The `raw_parts` insert for its parts: written only when its row
    /// names them, which it does only when this delivery inserted it.
    fn insert_part(&self) -> &'static str {
        match self {
            Owner::Message(_) => insert_part!("messages WHERE id = ?4"),
            Owner::Status(..) => insert_part!("statuses WHERE wamid = ?4 AND status = ?5"),
            Owner::Event(_) => insert_part!("events WHERE id = ?4"),
            Owner::Delivery(_) => insert_part!("deliveries WHERE id = ?4"),
        }
    }
}

/// A raw body for the edge to put in R2 before running the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub key: String,
    pub data: String,
    /// The row meant to name it.
    pub owner: Owner,
}

/// Everything one delivery writes: the batch, and the R2 objects it names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Writes {
    pub statements: Vec<Stmt>,
    pub blobs: Vec<Blob>,
}

/// The statement that finds which of `blobs` no row names once their
/// batch has run: a row that already existed (a redelivery under other
/// bytes, or another channel's message with the same wamid) kept its own
/// body, so what this delivery put in R2 for it is the edge's to delete.
/// Its rows are `key`s.
pub fn unnamed_blobs(blobs: &[Blob]) -> Stmt {
    let rows: Vec<Value> = blobs
        .iter()
        .map(|b| {
            let (k1, k2) = match &b.owner {
                Owner::Message(id) | Owner::Event(id) | Owner::Delivery(id) => (id.as_str(), None),
                Owner::Status(wamid, status) => (wamid.as_str(), Some(status.as_str())),
            };
            json!([b.key, k1, k2, format!("{R2_REF}{}", b.key)])
        })
        .collect();
    Stmt::new(
        concat!(
            "SELECT json_extract(value, '$[0]') AS key FROM json_each(?1) WHERE ",
            "NOT EXISTS (SELECT 1 FROM messages WHERE id = json_extract(value, '$[1]') ",
            "AND raw_ref = json_extract(value, '$[3]')) ",
            "AND NOT EXISTS (SELECT 1 FROM statuses WHERE wamid = json_extract(value, '$[1]') ",
            "AND status = json_extract(value, '$[2]') AND raw_ref = json_extract(value, '$[3]')) ",
            "AND NOT EXISTS (SELECT 1 FROM events WHERE id = json_extract(value, '$[1]') ",
            "AND raw_ref = json_extract(value, '$[3]')) ",
            "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE id = json_extract(value, '$[1]') ",
            "AND raw_ref = json_extract(value, '$[3]'))"
        ),
        vec![Value::from(rows).to_string().into()],
    )
}

/// `raw` as it goes in its row, and its `raw_ref`: inline when small,
/// else spilled (parts appended to `writes`) under `owner`'s key.
pub(crate) fn spill<'a>(
    writes: &mut Writes,
    how: Spill,
    owner: impl FnOnce() -> Owner,
    raw: &'a str,
) -> (&'a str, Option<String>) {
    if raw.len() <= INLINE_RAW_MAX {
        return (raw, None);
    }
    let owner = owner();
    let key = owner.key(how.tag);
    match how.to {
        SpillTo::R2 => {
            let key = format!("{R2_RAW_PREFIX}{key}");
            let raw_ref = format!("{R2_REF}{key}");
            writes.blobs.push(Blob {
                key,
                data: raw.to_owned(),
                owner,
            });
            ("", Some(raw_ref))
        }
        SpillTo::Rows => {
            let mut rest = raw;
            let mut part = 0i64;
            while !rest.is_empty() {
                let piece = crate::inbound::ingest::truncate(rest, PART_BYTES);
                // A piece is never empty: PART_BYTES exceeds any char's width.
                let piece = if piece.is_empty() { rest } else { piece };
                let mut args = vec![key.as_str().into(), part.into(), piece.into()];
                args.extend(owner.args());
                writes.statements.push(Stmt::new(owner.insert_part(), args));
                rest = rest.get(piece.len()..).unwrap_or_default();
                part += 1;
            }
            ("", Some(format!("{PARTS_REF}{key}")))
        }
    }
}

/// The statements (and R2 objects) that store a delivery: `plan`, opt
/// changes decided from it (`opts`), and outbox rows (`enqueue`, already
/// statements). The edge runs them as one D1 batch (one transaction).
/// `now_ms` is the receipt time. Every table's rows are bulk statements, so
/// the count stays small whatever the number of items.
pub fn delivery_writes(
    plan: &Plan,
    opts: &[OptRow],
    enqueue: Vec<Stmt>,
    now_ms: i64,
    spill: Spill,
) -> Writes {
    let mut writes = ingest_writes(plan, now_ms, spill);
    let all_opts: Vec<&OptRow> = plan.opts.iter().chain(opts).collect();
    writes.statements.extend(opt_statements(&all_opts, now_ms));
    writes.statements.extend(enqueue);
    writes
}

/// The statements that store `plan` alone (no opt changes, no outbox rows).
pub fn ingest_statements(plan: &Plan, now_ms: i64) -> Vec<Stmt> {
    let spill = Spill {
        to: SpillTo::Rows,
        tag: "",
    };
    ingest_writes(plan, now_ms, spill).statements
}

fn ingest_writes(plan: &Plan, now_ms: i64, spill: Spill) -> Writes {
    let mut writes = Writes::default();
    let mut parts = Writes::default();
    let out = &mut writes.statements;
    super::contacts::statements(
        out,
        &plan.identity_changes,
        &plan.conflict_checks,
        &plan.contacts,
        now_ms,
    );
    super::contacts::saved_names(out, &plan.saved_names, now_ms);
    messages(out, &mut parts, plan, now_ms, spill);
    statuses(out, &mut parts, plan, now_ms, spill);
    bulk(
        out,
        UPSERT_WINDOWS,
        plan.windows.iter().map(|w| {
            let [c, wa, u] = w.contact.json();
            json!([
                c,
                wa,
                u,
                w.phone_number_id,
                w.last_inbound_at,
                w.contact.scope
            ])
        }),
        now_ms,
    );
    let templates = latest(&plan.templates, |t| t.template_id.clone(), |t| t.at);
    bulk(
        out,
        UPSERT_TEMPLATE_STATUS,
        templates.into_iter().map(|t| {
            json!([
                t.template_id,
                t.waba_id,
                t.name,
                t.language,
                t.status,
                t.reason.as_deref().filter(|r| *r != "NONE"),
                t.at
            ])
        }),
        now_ms,
    );
    events(out, &mut parts, plan, now_ms, spill);
    let resolutions: Vec<crate::outbound::outbox::Resolution> = plan
        .statuses
        .iter()
        .filter_map(|s| {
            Some(crate::outbound::outbox::Resolution {
                outbox_id: s.outbox_id.clone()?,
                phone_number_id: s.phone_number_id.as_ref().map(|p| p.0.clone()),
                wamid: s.wamid.0.clone(),
                status: s.status.clone(),
                rank: s.rank,
            })
        })
        .collect();
    out.extend(super::outbox::resolve(&resolutions, now_ms));
    writes.statements.append(&mut parts.statements);
    writes.blobs = parts.blobs;
    writes
}

/// One row of [`INSERT_MESSAGES`], written as a JSON array.
#[derive(serde::Serialize)]
struct MessageColumns<'a>(
    &'a WaMessageId,
    &'a str,
    &'a str,
    &'a Option<PhoneNumberId>,
    &'a Option<String>,
    Value,
    Value,
    Value,
    &'a Option<WaId>,
    &'a Option<UserId>,
    &'a Option<String>,
    &'a Option<String>,
    &'a str,
    i64,
    &'a Option<String>,
    &'a Option<String>,
    &'a Option<WaMessageId>,
    &'a Option<String>,
    RawColumn<'a>,
    Option<String>,
    &'a Option<String>,
);

/// Inbound messages, their raw JSON spilled when too big.
fn messages(out: &mut Vec<Stmt>, parts: &mut Writes, plan: &Plan, now_ms: i64, how: Spill) {
    let rows = plan.messages.iter().map(|m| {
        let (_, raw_ref) = spill(
            parts,
            how,
            || Owner::Message(m.id.as_str().to_owned()),
            m.raw.as_str(),
        );
        let [c, w, u] = m.contact.json();
        MessageColumns(
            &m.id,
            m.direction.as_str(),
            m.origin.as_str(),
            &m.phone_number_id,
            &m.display_phone_number,
            c,
            w,
            u,
            &m.wa_id,
            &m.user_id,
            &m.username,
            &m.group_id,
            &m.kind,
            m.timestamp,
            &m.text,
            &m.reply_id,
            &m.context_id,
            &m.media_id,
            RawColumn(raw_ref.is_none().then(|| m.raw.as_raw())),
            raw_ref,
            &m.contact.scope,
        )
    });
    bulk(out, INSERT_MESSAGES, rows, now_ms);
}

/// Statuses, their raw JSON spilled when too big.
fn statuses(out: &mut Vec<Stmt>, parts: &mut Writes, plan: &Plan, now_ms: i64, how: Spill) {
    let statuses = plan
        .statuses
        .iter()
        .map(|s| {
            let owner = || Owner::Status(s.wamid.as_str().to_owned(), s.status.clone());
            let (_, raw_ref) = spill(parts, how, owner, s.raw.as_str());
            let raw = RawColumn(raw_ref.is_none().then(|| s.raw.as_raw()));
            (
                &s.wamid,
                &s.status,
                s.rank,
                s.timestamp,
                &s.recipient_id,
                &s.phone_number_id,
                &s.conversation_id,
                &s.conversation_category,
                &s.pricing_category,
                s.billable.map(i64::from),
                &s.errors,
                raw,
                raw_ref,
                &s.recipient_user_id,
                &s.group_id,
            )
        })
        .collect::<Vec<_>>();
    bulk(out, INSERT_STATUSES, statuses.into_iter(), now_ms);
}

/// Events and the numbers they name, their raw bodies spilled when too big.
fn events(out: &mut Vec<Stmt>, parts: &mut Writes, plan: &Plan, now_ms: i64, how: Spill) {
    let events: Vec<Value> = plan
        .events
        .iter()
        .map(|e| {
            let (raw, raw_ref) = spill(parts, how, || Owner::Event(e.id.clone()), &e.raw);
            json!([
                e.id,
                e.kind,
                e.waba_id,
                e.phone_number_id,
                e.reference,
                e.summary,
                raw,
                e.raw_encoding.as_str(),
                raw_ref
            ])
        })
        .collect();
    bulk(out, INSERT_EVENTS, events.into_iter(), now_ms);
    bulk(
        out,
        INSERT_EVENT_CONTACTS,
        plan.events
            .iter()
            .flat_map(|e| e.names.iter().map(move |n| json!([n, e.id]))),
        now_ms,
    );
}
