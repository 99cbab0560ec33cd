//! Turns one authenticated delivery into the rows it must leave in D1.
//!
//! The result is a [`Plan`]: every row carries the key that makes storing it
//! idempotent (a message's wamid, a status's (wamid, status), a contact's
//! wa_id, an event's content hash), so executing the same plan twice, or the
//! plans of two differently batched deliveries of the same items, leaves the
//! same rows.
//!
//! A delivery is planned within its [`Delivery`]: when it arrived (times in
//! the payload later than that, plus [`MAX_FUTURE_S`], are clamped to it for
//! windows, opt ordering and last-seen times) and for whom it may speak (a
//! 360dialog channel's path speaks for that one number only).

use crate::ids::{PhoneNumberId, WaId, WaMessageId};
use crate::whatsapp::webhook::payload::{Contact, FieldEvent, Message, MessagesValue, Status};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How an event's `raw` column is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawEncoding {
    /// The raw column is JSON.
    Json,
    /// The raw column is the body as text (valid UTF-8, not JSON).
    Text,
    /// The raw column is the body's bytes in hex (not UTF-8).
    Hex,
}

impl RawEncoding {
    /// Column spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RawEncoding::Json => "json",
            RawEncoding::Text => "text",
            RawEncoding::Hex => "hex",
        }
    }
}

/// Seconds a payload time may lie ahead of the receipt time before it is
/// clamped to the receipt time.
pub const MAX_FUTURE_S: i64 = 300;

/// Who a delivery may speak for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Signed with the app secret: every number of the app.
    App,
    /// Authenticated by one channel's credential: that number only. Changes
    /// naming another number are kept as `foreign_channel` events, and
    /// account-level fields change nothing.
    Channel(PhoneNumberId),
}

/// The circumstances of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Receipt time, unix seconds.
    pub received_at: i64,
    pub scope: Scope,
}

impl Delivery {
    /// A delivery on Meta's signed webhook received at `received_at` (unix s).
    pub fn app(received_at: i64) -> Delivery {
        Delivery {
            received_at,
            scope: Scope::App,
        }
    }

    /// `t` from the payload, clamped to the receipt time when it lies more
    /// than [`MAX_FUTURE_S`] ahead of it, or before 1970.
    pub fn clamp(&self, t: i64) -> i64 {
        if t < 0 || t > self.received_at.saturating_add(MAX_FUTURE_S) {
            self.received_at
        } else {
            t
        }
    }

    fn may_speak_for(&self, pnid: Option<&PhoneNumberId>) -> bool {
        match &self.scope {
            Scope::App => true,
            Scope::Channel(own) => pnid == Some(own),
        }
    }
}

/// Longest searchable text kept beside a message (its raw JSON keeps all).
pub const MAX_SEARCH_TEXT: usize = 16 * 1024;
/// Longest id (wamid, template id, event reference) a row is keyed by; an
/// item with a longer one is kept as a malformed event.
pub const MAX_ID: usize = 512;
/// Longest phone number, wa_id, phone number id or WABA id.
pub const MAX_NUMBER: usize = 64;
/// Longest short field (conversation id, categories, reply ids).
pub const MAX_FIELD: usize = 256;
/// Longest JSON kept in a column beside the raw JSON (status errors, event
/// summaries); longer ones stay only in the raw JSON.
pub const MAX_SIDE_JSON: usize = 64 * 1024;
/// Longest profile name kept.
pub const MAX_NAME: usize = 1024;

/// `s` cut to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// An inbound message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub id: WaMessageId,
    pub phone_number_id: Option<PhoneNumberId>,
    pub display_phone_number: Option<String>,
    /// The sender's canonical wa_id (see [`crate::whatsapp::phone`]).
    pub wa_id: WaId,
    /// The sender's wa_id as WhatsApp sent it; replies go to this form.
    pub sender: WaId,
    /// The `type` exactly as Meta sent it.
    pub kind: String,
    /// The timestamp exactly as sent.
    pub timestamp: i64,
    /// The timestamp clamped to the receipt time (see [`Delivery::clamp`]):
    /// what windows, opt ordering, rules and last-seen times use.
    pub at: i64,
    pub text: Option<String>,
    pub reply_id: Option<String>,
    pub context_id: Option<WaMessageId>,
    /// The media id of an image, audio, video, document or sticker.
    pub media_id: Option<String>,
    pub raw: String,
}

/// One status of one outbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    pub wamid: WaMessageId,
    pub status: String,
    pub rank: i64,
    pub timestamp: i64,
    pub recipient_id: Option<WaId>,
    pub phone_number_id: Option<PhoneNumberId>,
    pub conversation_id: Option<String>,
    pub conversation_category: Option<String>,
    pub pricing_category: Option<String>,
    pub billable: Option<bool>,
    /// The status's `errors` array as JSON, when it has any.
    pub errors: Option<String>,
    /// The outbox row the status reports on, from its
    /// `biz_opaque_callback_data` (see [`crate::outbound::outbox::callback_id`]).
    pub outbox_id: Option<String>,
    pub raw: String,
}

/// A customer seen in a delivery, merged across the delivery's items.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRow {
    /// Canonical wa_id.
    pub wa_id: WaId,
    /// The form WhatsApp used in the newest message.
    pub last_wa_id: WaId,
    pub profile_name: Option<String>,
    pub phone_number_id: Option<PhoneNumberId>,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// The latest inbound message time of a contact on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    pub wa_id: WaId,
    pub phone_number_id: PhoneNumberId,
    pub last_inbound_at: i64,
}

/// A change of a contact's opt-out state: a marketing stop or resume from
/// Meta's `user_preferences`, or a STOP/START keyword.
#[derive(Debug, Clone, PartialEq)]
pub struct OptRow {
    /// The channel the customer asked.
    pub phone_number_id: PhoneNumberId,
    pub wa_id: WaId,
    pub opted_out: bool,
    /// When the customer asked (unix seconds, clamped).
    pub at: i64,
}

/// A template's new status from `message_template_status_update`.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateStatusRow {
    pub template_id: String,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    pub reason: Option<String>,
    /// When Meta decided it: the entry's `time`, clamped (unix seconds).
    pub at: i64,
}

/// Anything that is not a message, status or contact: other webhook fields,
/// value-level errors, items too malformed to key, and dead letters.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Hex SHA-256 of the event's kind, entry and content: its dedupe key.
    pub id: String,
    pub kind: String,
    pub waba_id: Option<String>,
    pub phone_number_id: Option<PhoneNumberId>,
    pub reference: Option<String>,
    pub summary: Option<String>,
    pub raw: String,
    pub raw_encoding: RawEncoding,
    /// Canonical wa_ids the raw JSON names (`wa_id`, `from`, `recipient_id`),
    /// so erasure finds the event without searching its text.
    pub names: Vec<String>,
    /// When it happened: its entry's `time` (clamped), else the receipt time.
    pub at: i64,
}

/// Everything one delivery stores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub messages: Vec<MessageRow>,
    pub statuses: Vec<StatusRow>,
    pub contacts: Vec<ContactRow>,
    pub windows: Vec<WindowRow>,
    pub opts: Vec<OptRow>,
    pub templates: Vec<TemplateStatusRow>,
    pub events: Vec<EventRow>,
}

/// Event kinds wa-edge itself assigns (other kinds are Meta's `field` names).
pub mod kinds {
    /// A signed body that is not JSON.
    pub const DEAD_LETTER: &str = "dead_letter";
    /// JSON that is not a WhatsApp Business Account notification.
    pub const UNRECOGNIZED: &str = "unrecognized_payload";
    /// A `messages` change whose value does not have the documented shape.
    pub const MALFORMED_CHANGE: &str = "malformed_change";
    /// A message without a usable id, sender, timestamp or type.
    pub const MALFORMED_MESSAGE: &str = "malformed_message";
    /// A status without a usable id, status or timestamp.
    pub const MALFORMED_STATUS: &str = "malformed_status";
    /// A contact without a wa_id.
    pub const MALFORMED_CONTACT: &str = "malformed_contact";
    /// An entry of a `messages` change's value-level `errors`.
    pub const ERROR: &str = "error";
    /// A change on a channel's own path that names another number.
    pub const FOREIGN_CHANNEL: &str = "foreign_channel";
}

fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Builds the plan for a verified body.
// Long because it is the one walk over a delivery's entries and changes; each item kind is planned by its own function.
pub fn plan(body: &[u8], delivery: &Delivery) -> Plan {
    let mut plan = Plan::default();
    let Ok(root) = serde_json::from_slice::<Value>(body) else {
        plan.events.push(dead_letter(body));
        return plan;
    };
    let entries = match (root.get("object"), root.get("entry")) {
        (Some(Value::String(o)), Some(Value::Array(entries)))
            if o == "whatsapp_business_account" =>
        {
            entries
        }
        _ => {
            plan.events
                .push(event(kinds::UNRECOGNIZED, None, None, &root, None));
            return plan;
        }
    };
    let mut seen = Seen::default();
    for entry in entries {
        let first_event = plan.events.len();
        let waba_id = entry
            .get("id")
            .map(id_string)
            .filter(|w| w.len() <= MAX_NUMBER);
        let entry_time = delivery.clamp(
            entry
                .get("time")
                .and_then(Value::as_i64)
                .unwrap_or(delivery.received_at),
        );
        let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
            plan.events.push(event(
                kinds::UNRECOGNIZED,
                waba_id.as_deref(),
                None,
                entry,
                None,
            ));
            continue;
        };
        for change in changes {
            let field = change.get("field").and_then(Value::as_str).unwrap_or("");
            let value = change.get("value").unwrap_or(&Value::Null);
            if field == "messages" {
                plan_messages(
                    &mut plan,
                    &mut seen,
                    delivery,
                    waba_id.as_deref(),
                    change,
                    value,
                );
            } else {
                plan_field(
                    &mut plan,
                    delivery,
                    waba_id.as_deref(),
                    entry_time,
                    field,
                    change,
                    value,
                );
            }
        }
        for e in plan.events.iter_mut().skip(first_event) {
            e.at = entry_time;
        }
    }
    for e in plan.events.iter_mut().filter(|e| e.at == 0) {
        e.at = delivery.received_at;
    }
    plan.contacts = seen.contacts.into_values().collect();
    plan.windows = seen
        .windows
        .into_iter()
        .map(|((wa_id, phone_number_id), last_inbound_at)| WindowRow {
            wa_id,
            phone_number_id,
            last_inbound_at,
        })
        .collect();
    plan
}

/// A change of a field other than `messages`: kept as an event (typed
/// when wa-edge knows the field), with the effects wa-edge believes of it:
/// marketing opt-outs for the delivery's own numbers, template statuses
/// from the app's signed webhook only.
fn plan_field(
    plan: &mut Plan,
    delivery: &Delivery,
    waba_id: Option<&str>,
    entry_time: i64,
    field: &str,
    change: &Value,
    value: &Value,
) {
    let kind = if field.is_empty() {
        kinds::UNRECOGNIZED
    } else {
        field
    };
    let typed = FieldEvent::parse(field, value);
    let pnid = value
        .pointer("/metadata/phone_number_id")
        .map(|v| PhoneNumberId(id_string(v)));
    if field == "user_preferences" && delivery.may_speak_for(pnid.as_ref()) {
        if let Some(pnid) = &pnid {
            plan.opts
                .extend(marketing_preferences(value, pnid, delivery));
        }
    }
    // Account-level changes are believed only from the app's
    // signed webhook, never from one channel's credential.
    let account_level = delivery.scope == Scope::App;
    if let (
        true,
        FieldEvent::TemplateStatus {
            template_id: Some(template_id),
            name,
            language,
            event: Some(status),
            reason,
        },
    ) = (account_level, &typed)
    {
        if template_id.len() > MAX_ID {
            plan.events.push(event(kind, waba_id, None, change, None));
            return;
        }
        plan.templates.push(TemplateStatusRow {
            template_id: template_id.clone(),
            waba_id: waba_id.unwrap_or_default().to_owned(),
            name: truncate(name.as_deref().unwrap_or_default(), MAX_ID).to_owned(),
            language: truncate(language.as_deref().unwrap_or_default(), MAX_FIELD).to_owned(),
            status: truncate(status, MAX_FIELD).to_owned(),
            reason: reason.as_deref().map(|r| truncate(r, MAX_FIELD).to_owned()),
            at: entry_time,
        });
    }
    plan.events
        .push(event(kind, waba_id, None, change, Some(&typed)));
}

/// Marketing stop/resume requests in a `user_preferences` change.
fn marketing_preferences<'a>(
    value: &'a Value,
    pnid: &'a PhoneNumberId,
    delivery: &'a Delivery,
) -> impl Iterator<Item = OptRow> + 'a {
    value
        .get("user_preferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p["category"].as_str() == Some("marketing_messages"))
        .filter_map(|p| {
            let opted_out = match p["value"].as_str()? {
                "stop" => true,
                "resume" => false,
                _ => return None,
            };
            let at = p["timestamp"]
                .as_i64()
                .or_else(|| p["timestamp"].as_str()?.parse().ok())?;
            let wa_id = p["wa_id"].as_str().filter(|w| w.len() <= MAX_NUMBER)?;
            Some(OptRow {
                phone_number_id: pnid.clone(),
                wa_id: WaId(crate::whatsapp::phone::canonical_wa_id(wa_id)),
                opted_out,
                at: delivery.clamp(at),
            })
        })
}

fn canonical(wa_id: &WaId) -> WaId {
    WaId(crate::whatsapp::phone::canonical_wa_id(wa_id.as_str()))
}

fn id_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn dead_letter(body: &[u8]) -> EventRow {
    let (raw, raw_encoding) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), RawEncoding::Text),
        Err(_) => (hex::encode(body), RawEncoding::Hex),
    };
    EventRow {
        id: digest(&[kinds::DEAD_LETTER.as_bytes(), body]),
        kind: kinds::DEAD_LETTER.to_owned(),
        waba_id: None,
        phone_number_id: None,
        reference: None,
        summary: None,
        raw,
        raw_encoding,
        names: Vec::new(),
        at: 0,
    }
}

/// An event keyed by its kind, entry and canonical JSON (serde_json sorts
/// object keys), so the same change redelivered in another batch is one row.
fn event(
    kind: &str,
    waba_id: Option<&str>,
    phone_number_id: Option<&PhoneNumberId>,
    raw: &Value,
    typed: Option<&FieldEvent>,
) -> EventRow {
    let names = named_numbers(raw);
    let raw = raw.to_string();
    EventRow {
        id: digest(&[
            kind.as_bytes(),
            waba_id.unwrap_or("").as_bytes(),
            raw.as_bytes(),
        ]),
        kind: kind.to_owned(),
        waba_id: waba_id.map(str::to_owned),
        phone_number_id: phone_number_id.cloned(),
        reference: typed
            .and_then(FieldEvent::reference)
            .filter(|r| r.len() <= MAX_ID)
            .map(str::to_owned),
        summary: typed
            .and_then(FieldEvent::summary)
            .map(|v| v.to_string())
            .filter(|s| s.len() <= MAX_SIDE_JSON),
        raw,
        raw_encoding: RawEncoding::Json,
        names,
        at: 0,
    }
}

/// Keys whose string values name a customer's number.
const NUMBER_KEYS: [&str; 3] = ["wa_id", "from", "recipient_id"];
/// Most numbers recorded for one event.
const MAX_NAMES: usize = 1000;

/// The canonical wa_ids `raw` names anywhere under [`NUMBER_KEYS`].
fn named_numbers(raw: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::String(s) if NUMBER_KEYS.contains(&k.as_str()) => {
                            let wa_id = crate::whatsapp::phone::canonical_wa_id(s);
                            if !wa_id.is_empty()
                                && wa_id.len() <= MAX_NUMBER
                                && out.len() < MAX_NAMES
                            {
                                out.insert(wa_id);
                            }
                        }
                        other => walk(other, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(raw, &mut out);
    out.into_iter().collect()
}

/// A message `type` as Meta spells them: lowercase letters and underscores.
fn is_type_name(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= MAX_FIELD
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
}

/// Contacts and windows merged across a delivery's changes.
#[derive(Default)]
struct Seen {
    contacts: BTreeMap<WaId, ContactRow>,
    windows: BTreeMap<(WaId, PhoneNumberId), i64>,
}

fn plan_messages(
    plan: &mut Plan,
    seen: &mut Seen,
    delivery: &Delivery,
    waba_id: Option<&str>,
    change: &Value,
    value: &Value,
) {
    let Ok(v) = MessagesValue::deserialize(value) else {
        plan.events
            .push(event(kinds::MALFORMED_CHANGE, waba_id, None, change, None));
        return;
    };
    let pnid = v.metadata.phone_number_id.as_ref();
    let display = v
        .metadata
        .display_phone_number
        .as_deref()
        .map(|d| truncate(d, MAX_NUMBER).to_owned());
    if pnid.is_some_and(|p| p.as_str().len() > MAX_NUMBER) {
        plan.events
            .push(event(kinds::MALFORMED_CHANGE, waba_id, None, change, None));
        return;
    }
    if !delivery.may_speak_for(pnid) {
        plan.events
            .push(event(kinds::FOREIGN_CHANNEL, waba_id, pnid, change, None));
        return;
    }

    let names = contact_names(plan, waba_id, pnid, &v.contacts);
    for raw in &v.messages {
        let parsed = Message::parse(raw).ok().filter(|m| {
            m.head.id.as_str().len() <= MAX_ID
                && m.head.from.as_str().len() <= MAX_NUMBER
                && is_type_name(&m.head.kind)
        });
        let Some(m) = parsed else {
            plan.events
                .push(event(kinds::MALFORMED_MESSAGE, waba_id, pnid, raw, None));
            continue;
        };
        let at = delivery.clamp(m.head.timestamp);
        let wa_id = canonical(&m.head.from);
        seen.sender(
            &wa_id,
            &m.head.from,
            names.get(&wa_id).cloned().flatten(),
            pnid,
            at,
        );
        plan.messages
            .push(message_row(m, raw, wa_id, pnid, display.clone(), at));
    }
    for raw in &v.statuses {
        let parsed = Status::deserialize(raw).ok().filter(|s| {
            s.id.as_str().len() <= MAX_ID
                && s.recipient_id
                    .as_ref()
                    .is_none_or(|r| r.as_str().len() <= MAX_NUMBER)
        });
        match parsed {
            Some(s) => plan.statuses.push(status_row(s, raw, pnid)),
            None => plan
                .events
                .push(event(kinds::MALFORMED_STATUS, waba_id, pnid, raw, None)),
        }
    }
    for raw in &v.errors {
        plan.events
            .push(event(kinds::ERROR, waba_id, pnid, raw, None));
    }
}

/// Profile names by canonical wa_id from a change's `contacts`; unusable
/// entries become `malformed_contact` events.
fn contact_names(
    plan: &mut Plan,
    waba_id: Option<&str>,
    pnid: Option<&PhoneNumberId>,
    contacts: &[Value],
) -> BTreeMap<WaId, Option<String>> {
    let mut names = BTreeMap::new();
    for raw in contacts {
        match Contact::deserialize(raw) {
            Ok(c) if c.wa_id.as_str().len() <= MAX_NUMBER => {
                let name = c
                    .profile
                    .and_then(|p| p.name)
                    .map(|n| truncate(&n, MAX_NAME).to_owned());
                names.insert(canonical(&c.wa_id), name);
            }
            _ => plan
                .events
                .push(event(kinds::MALFORMED_CONTACT, waba_id, pnid, raw, None)),
        }
    }
    names
}

impl Seen {
    /// Records a message from `wa_id` (sent as `from`) at `at`: the contact
    /// follows its newest message, the window its latest one per channel.
    fn sender(
        &mut self,
        wa_id: &WaId,
        from: &WaId,
        name: Option<String>,
        pnid: Option<&PhoneNumberId>,
        at: i64,
    ) {
        self.contacts
            .entry(wa_id.clone())
            .and_modify(|c| {
                if at >= c.last_seen {
                    c.last_seen = at;
                    c.last_wa_id = from.clone();
                    c.profile_name = name.clone().or(c.profile_name.take());
                    c.phone_number_id = pnid.cloned().or(c.phone_number_id.take());
                }
                c.first_seen = c.first_seen.min(at);
            })
            .or_insert_with(|| ContactRow {
                wa_id: wa_id.clone(),
                last_wa_id: from.clone(),
                profile_name: name.clone(),
                phone_number_id: pnid.cloned(),
                first_seen: at,
                last_seen: at,
            });
        if let Some(pnid) = pnid {
            let last = self
                .windows
                .entry((wa_id.clone(), pnid.clone()))
                .or_insert(at);
            *last = (*last).max(at);
        }
    }
}

/// The row of an inbound message, its side columns capped.
fn message_row(
    m: Message,
    raw: &Value,
    wa_id: WaId,
    pnid: Option<&PhoneNumberId>,
    display: Option<String>,
    at: i64,
) -> MessageRow {
    MessageRow {
        text: m
            .content
            .text()
            .map(|t| truncate(t, MAX_SEARCH_TEXT).to_owned()),
        reply_id: m
            .content
            .reply_id()
            .map(|r| truncate(r, MAX_FIELD).to_owned()),
        context_id: m
            .head
            .context
            .as_ref()
            .and_then(|c| c.id.clone())
            .filter(|c| c.as_str().len() <= MAX_ID),
        media_id: m
            .content
            .media_id()
            .filter(|id| id.len() <= MAX_ID)
            .map(str::to_owned),
        id: m.head.id,
        phone_number_id: pnid.cloned(),
        display_phone_number: display,
        wa_id,
        sender: m.head.from,
        kind: m.head.kind,
        timestamp: m.head.timestamp,
        at,
        raw: raw.to_string(),
    }
}

/// The row of a status, its side columns capped.
fn status_row(s: Status, raw: &Value, pnid: Option<&PhoneNumberId>) -> StatusRow {
    let short = |v: Option<String>| v.map(|s| truncate(&s, MAX_FIELD).to_owned());
    StatusRow {
        rank: s.status.rank(),
        status: s.status.as_str().to_owned(),
        wamid: s.id,
        timestamp: s.timestamp,
        recipient_id: s.recipient_id,
        phone_number_id: pnid.cloned(),
        conversation_id: short(s.conversation.as_ref().and_then(|c| c.id.clone())),
        conversation_category: short(
            s.conversation
                .as_ref()
                .and_then(|c| c.origin.as_ref())
                .and_then(|o| o.kind.clone()),
        ),
        pricing_category: short(s.pricing.as_ref().and_then(|p| p.category.clone())),
        billable: s.pricing.as_ref().and_then(|p| p.billable),
        errors: (!s.errors.is_empty())
            .then(|| Value::from(s.errors).to_string())
            .filter(|e| e.len() <= MAX_SIDE_JSON),
        outbox_id: s
            .biz_opaque_callback_data
            .as_deref()
            .and_then(crate::outbound::outbox::callback_id)
            .map(str::to_owned),
        raw: raw.to_string(),
    }
}

impl Plan {
    /// Number of items of each kind, for the response and the log.
    pub fn counts(&self) -> Counts {
        Counts {
            messages: self.messages.len(),
            statuses: self.statuses.len(),
            contacts: self.contacts.len(),
            events: self.events.len(),
        }
    }
}

/// Item counts of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub messages: usize,
    pub statuses: usize,
    pub contacts: usize,
    pub events: usize,
}
