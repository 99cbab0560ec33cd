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

use crate::ids::{PhoneNumberId, UserId, WaId, WaMessageId};
use crate::inbound::people::{People, Profile};
use crate::whatsapp::identity::MAX_USERNAME;
use crate::whatsapp::identity::{ContactKey, Identity};
use crate::whatsapp::webhook::payload::{
    raw_to_value, Contact, Content, Envelope, EnvelopeChange, FieldEvent, Message, MessagesRaw,
    MessagesValue, Metadata, Status,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// An item's JSON text, valid JSON by construction: written into a
/// statement's rows as it is, with no escaping.
#[derive(Debug, Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// `value` written out.
    pub fn of_value(value: &Value) -> RawJson {
        RawJson(
            serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned()),
        )
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.as_str() == other.as_str()
    }
}

impl From<&RawValue> for RawJson {
    fn from(raw: &RawValue) -> RawJson {
        RawJson(raw.to_owned())
    }
}

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
    /// The channel a change without `metadata` is attributed to on the
    /// app's webhook (`WHATSAPP_PHONE_NUMBER_ID`).
    pub default_channel: Option<PhoneNumberId>,
}

impl Delivery {
    /// A delivery on Meta's signed webhook received at `received_at` (unix s).
    pub fn app(received_at: i64) -> Delivery {
        Delivery {
            received_at,
            scope: Scope::App,
            default_channel: None,
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

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the customer.
    In,
    /// From the business.
    Out,
}

impl Direction {
    /// Column spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// How a message reached wa-edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A Cloud API webhook (or a wa-edge send): the only messages that
    /// open windows and trigger rules and opt-outs.
    Live,
    /// Sent from the WhatsApp Business app (`smb_message_echoes`).
    Echo,
    /// The coexistence backfill (`history`).
    History,
}

impl Origin {
    /// Column spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Live => "live",
            Origin::Echo => "echo",
            Origin::History => "history",
        }
    }
}

/// A message to store: a customer's, an echo of one the business sent from
/// the WhatsApp Business app, or one from the history backfill.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub id: WaMessageId,
    pub direction: Direction,
    pub origin: Origin,
    pub phone_number_id: Option<PhoneNumberId>,
    pub display_phone_number: Option<String>,
    /// The customer the message is with.
    pub contact: ContactKey,
    /// The customer's canonical wa_id and BSUID as this message named them.
    pub wa_id: Option<WaId>,
    pub user_id: Option<UserId>,
    /// The customer's username when the delivery showed one.
    pub username: Option<String>,
    /// The group the message was sent in.
    pub group_id: Option<String>,
    /// The customer's wa_id in the form WhatsApp sent it; replies go to it.
    pub sender: Option<WaId>,
    /// The `type` exactly as Meta sent it (or implied by its content key).
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
    pub raw: RawJson,
}

impl MessageRow {
    /// True for a customer's message from the Cloud API webhook: the only
    /// kind that opens a window and that rules and opt-outs answer.
    pub fn is_live_inbound(&self) -> bool {
        self.direction == Direction::In && self.origin == Origin::Live
    }
}

/// One status of one outbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    pub wamid: WaMessageId,
    pub status: String,
    pub rank: i64,
    pub timestamp: i64,
    /// The timestamp clamped to the receipt time.
    pub at: i64,
    /// The recipient's wa_id as sent (in a group, the participant's).
    pub recipient_id: Option<WaId>,
    pub recipient_user_id: Option<UserId>,
    /// The group, when the message went to one.
    pub group_id: Option<String>,
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
    pub raw: RawJson,
}

pub use crate::inbound::people::ContactRow;

/// The latest inbound message time of a contact on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    pub contact: ContactKey,
    pub phone_number_id: PhoneNumberId,
    pub last_inbound_at: i64,
}

/// A change of a contact's opt-out state: a marketing stop or resume from
/// Meta's `user_preferences`, or a STOP/START keyword.
#[derive(Debug, Clone, PartialEq)]
pub struct OptRow {
    /// The channel the customer asked.
    pub phone_number_id: PhoneNumberId,
    pub contact: ContactKey,
    pub opted_out: bool,
    /// When the customer asked (unix seconds, clamped).
    pub at: i64,
}

/// A customer's new identifiers from a `system` message
/// (`user_changed_number`, `user_changed_user_id`): the contact known by
/// `old` takes the new ones, unless another contact has them.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityChange {
    pub old: Identity,
    pub new_wa_id: Option<WaId>,
    pub new_user_id: Option<UserId>,
    /// On a 360dialog path: the change applies only to a contact whose
    /// newest message came to that channel (one channel's credential does
    /// not re-address another channel's customers).
    pub only_on: Option<PhoneNumberId>,
    /// The WABA the notice came under (the new BSUID's scope).
    pub scope: Option<String>,
}

/// The name the business saved for a contact in the WhatsApp Business app
/// (`smb_app_state_sync`); `None` when it removed the contact.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedName {
    pub contact: ContactKey,
    pub name: Option<String>,
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
    /// Identifiers the raw JSON names (canonical wa_ids under `wa_id`,
    /// `from`, `to`, ...; BSUIDs under `user_id`, `from_user_id`, ...), so
    /// erasure finds the event without searching its text.
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
    /// Applied before contacts are merged.
    pub identity_changes: Vec<IdentityChange>,
    pub saved_names: Vec<SavedName>,
    /// `identity_conflict` events to store if D1's contacts disagree with
    /// the pairing (one per contact row with both identifiers).
    pub conflict_checks: Vec<EventRow>,
}

impl Plan {
    /// Whether the body was not JSON: its plan is its dead letter event.
    pub fn is_dead_letter(&self) -> bool {
        self.events.iter().any(|e| e.kind == kinds::DEAD_LETTER)
    }
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
    /// A contact with neither a usable wa_id nor a BSUID.
    pub const MALFORMED_CONTACT: &str = "malformed_contact";
    /// A wa_id and a BSUID given for one person but linked to different
    /// people; nothing was merged.
    pub const IDENTITY_CONFLICT: &str = "identity_conflict";
    /// A change without `metadata`, attributed to the delivery's channel
    /// (its 360dialog path, else the default channel).
    pub const METADATA_MISSING: &str = "metadata_missing";
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
///
/// A body in exactly Meta's shape is read in one pass, its messages and
/// statuses kept as the raw JSON text Meta sent; any other body is read as
/// a [`Value`], its items' raw JSON written out again. Both readings plan
/// the same rows, raw JSON aside.
pub fn plan(body: &[u8], delivery: &Delivery) -> Plan {
    let mut walk = Walk {
        delivery,
        plan: Plan::default(),
        people: People::default(),
        message_people: Vec::new(),
        windows: BTreeMap::new(),
        opt_people: Vec::new(),
        name_people: Vec::new(),
    };
    match Envelope::read(body) {
        Some(envelope) if envelope.object == WABA_OBJECT => {
            for entry in &envelope.entry {
                let first_event = walk.plan.events.len();
                let (waba_id, entry_time) =
                    entry_head(delivery, entry.0.id.as_ref(), entry.0.time.as_ref());
                for change in &entry.0.changes {
                    walk.raw_change(waba_id.as_deref(), entry_time, &change.0);
                }
                walk.stamp_events(first_event, entry_time);
            }
        }
        _ => walk.parsed(body),
    }
    walk.finish()
}

const WABA_OBJECT: &str = "whatsapp_business_account";

/// An entry's WABA id (when usable) and its time, clamped.
fn entry_head(
    delivery: &Delivery,
    id: Option<&Value>,
    time: Option<&Value>,
) -> (Option<String>, i64) {
    let waba_id = id.map(id_string).filter(|w| w.len() <= MAX_NUMBER);
    let entry_time = delivery.clamp(time.and_then(Value::as_i64).unwrap_or(delivery.received_at));
    (waba_id, entry_time)
}

/// A change as its events record it: parsed, or its field and raw value
/// (parsed only when an event needs it).
#[derive(Clone, Copy)]
enum ChangeJson<'a> {
    Parsed(&'a Value),
    Raw(&'a EnvelopeChange<'a>),
}

impl<'a> ChangeJson<'a> {
    fn value(self) -> Cow<'a, Value> {
        match self {
            ChangeJson::Parsed(v) => Cow::Borrowed(v),
            ChangeJson::Raw(c) => Cow::Owned(c.to_value()),
        }
    }
}

/// One message or status of a change: parsed, or raw JSON text.
#[derive(Clone, Copy)]
enum Item<'a> {
    Parsed(&'a Value),
    Raw(&'a RawValue),
}

impl<'a> Item<'a> {
    fn value(self) -> Cow<'a, Value> {
        match self {
            Item::Parsed(v) => Cow::Borrowed(v),
            Item::Raw(r) => Cow::Owned(raw_to_value(r)),
        }
    }

    /// The item as `T`, as reading its [`Value`] would give it: raw text
    /// that does not parse straight into `T` (a duplicate key, where a
    /// `Value` keeps the last) is read through a `Value`.
    fn parse<T: DeserializeOwned>(self) -> Option<T> {
        match self {
            Item::Parsed(v) => T::deserialize(v).ok(),
            Item::Raw(r) => serde_json::from_str(r.get())
                .ok()
                .or_else(|| T::deserialize(&*self.value()).ok()),
        }
    }

    /// Its raw JSON: as Meta sent it, or written out from its `Value`.
    fn text(self) -> RawJson {
        match self {
            Item::Parsed(v) => RawJson::of_value(v),
            Item::Raw(r) => RawJson::from(r),
        }
    }
}

/// The lists of a `messages` change.
struct Lists<'a> {
    contacts: &'a [Value],
    messages: Vec<Item<'a>>,
    statuses: Vec<Item<'a>>,
    errors: &'a [Value],
}

/// The state of one walk over a delivery: the plan so far, and the people
/// its rows will name once every item has linked its identifiers.
struct Walk<'a> {
    delivery: &'a Delivery,
    plan: Plan,
    people: People,
    /// The person of each of `plan.messages`, by index.
    message_people: Vec<usize>,
    /// Latest live inbound time per (person, channel).
    windows: BTreeMap<(usize, PhoneNumberId), i64>,
    /// The person of each of `plan.opts`.
    opt_people: Vec<usize>,
    /// The person of each of `plan.saved_names`.
    name_people: Vec<usize>,
}

/// The channel a change is about and its display number, as its metadata
/// names them (or as the delivery attributes them).
struct Channel {
    pnid: Option<PhoneNumberId>,
    display: Option<String>,
    /// The WABA of the entry: the scope of the BSUIDs the change carries.
    scope: Option<String>,
}

impl Walk<'_> {
    /// Plans a body of any other shape, read as a [`Value`].
    // Long because it is the one walk over a delivery's entries and changes; each item kind is planned by its own function.
    fn parsed(&mut self, body: &[u8]) {
        let Ok(root) = serde_json::from_slice::<Value>(body) else {
            self.plan.events.push(dead_letter(body));
            return;
        };
        let entries = match (root.get("object"), root.get("entry")) {
            (Some(Value::String(o)), Some(Value::Array(entries))) if o == WABA_OBJECT => entries,
            _ => {
                self.plan
                    .events
                    .push(event(kinds::UNRECOGNIZED, None, None, &root, None));
                return;
            }
        };
        for entry in entries {
            let first_event = self.plan.events.len();
            let (waba_id, entry_time) =
                entry_head(self.delivery, entry.get("id"), entry.get("time"));
            let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
                self.plan.events.push(event(
                    kinds::UNRECOGNIZED,
                    waba_id.as_deref(),
                    None,
                    entry,
                    None,
                ));
                continue;
            };
            for change in changes {
                let value = change.get("value").unwrap_or(&Value::Null);
                let field = match change.get("field").and_then(Value::as_str) {
                    Some(f) => f,
                    // Meta's shape varies: a value with messages or statuses
                    // but no field is a messages change.
                    None if value.get("messages").is_some() || value.get("statuses").is_some() => {
                        "messages"
                    }
                    None => "",
                };
                self.change(waba_id.as_deref(), entry_time, field, change, value);
            }
            self.stamp_events(first_event, entry_time);
        }
    }

    /// A change read from raw JSON: a `messages` change in Meta's shape is
    /// planned from its raw items; any other is read as a [`Value`].
    fn raw_change(&mut self, waba_id: Option<&str>, entry_time: i64, change: &EnvelopeChange) {
        if change.field == "messages" {
            if let Some(v) = MessagesRaw::read(change.value) {
                let lists = Lists {
                    contacts: &v.contacts,
                    messages: v.messages.iter().map(|r| Item::Raw(r)).collect(),
                    statuses: v.statuses.iter().map(|r| Item::Raw(r)).collect(),
                    errors: &v.errors,
                };
                self.messages_of(waba_id, ChangeJson::Raw(change), v.metadata.as_ref(), lists);
                return;
            }
        }
        let whole = change.to_value();
        let value = whole.get("value").unwrap_or(&Value::Null);
        self.change(waba_id, entry_time, &change.field, &whole, value);
    }

    /// One change, by its field.
    fn change(
        &mut self,
        waba: Option<&str>,
        entry_time: i64,
        field: &str,
        change: &Value,
        value: &Value,
    ) {
        match field {
            "messages" => self.messages(waba, change, value),
            "smb_message_echoes" => self.echoes(waba, change, value),
            "history" => self.history(waba, entry_time, change, value),
            "smb_app_state_sync" => {
                self.state_sync(waba, change, value);
                self.field(waba, entry_time, field, change, value);
            }
            _ => self.field(waba, entry_time, field, change, value),
        }
    }

    /// Dates the events of one entry (from `first`) at the entry's time.
    fn stamp_events(&mut self, first: usize, entry_time: i64) {
        for e in self.plan.events.iter_mut().skip(first) {
            e.at = entry_time;
        }
    }

    /// Gives every row its person's key and the plan its contacts.
    fn finish(mut self) -> Plan {
        let received_at = self.delivery.received_at;
        for e in self.plan.events.iter_mut().filter(|e| e.at == 0) {
            e.at = received_at;
        }
        let people = &self.people;
        let key = |i: usize| people.key(i);
        for (m, i) in self.plan.messages.iter_mut().zip(&self.message_people) {
            if let Some(k) = key(*i) {
                m.contact = k;
            }
        }
        for (o, i) in self.plan.opts.iter_mut().zip(&self.opt_people) {
            if let Some(k) = key(*i) {
                o.contact = k;
            }
        }
        for (n, i) in self.plan.saved_names.iter_mut().zip(&self.name_people) {
            if let Some(k) = key(*i) {
                n.contact = k;
            }
        }
        self.plan.windows = self
            .windows
            .iter()
            .filter_map(|((i, pnid), at)| {
                Some(WindowRow {
                    contact: key(*i)?,
                    phone_number_id: pnid.clone(),
                    last_inbound_at: *at,
                })
            })
            .collect();
        let (contacts, conflicts) = self.people.finish();
        for c in &conflicts {
            self.plan
                .events
                .push(conflict_event(&c.wa_id, &c.user_id, received_at));
        }
        self.plan.conflict_checks = contacts
            .iter()
            .filter_map(|c| {
                let mut e = conflict_event(c.wa_id.as_ref()?, c.user_id.as_ref()?, received_at);
                e.waba_id = c.scope.clone();
                Some(e)
            })
            .collect();
        self.plan.contacts = contacts;
        self.plan
    }

    /// The channel of a change, or `None` (after recording why) when the
    /// delivery may not speak for it or its metadata is unusable.
    fn channel(
        &mut self,
        waba_id: Option<&str>,
        change: ChangeJson,
        metadata: Option<&Value>,
    ) -> Option<Channel> {
        let metadata = metadata.filter(|m| m.is_object());
        let Some(metadata) = metadata else {
            // No metadata: the delivery's own channel (a 360dialog path),
            // else the default channel, flagged.
            let pnid = match &self.delivery.scope {
                Scope::Channel(own) => Some(own.clone()),
                Scope::App => self.delivery.default_channel.clone(),
            };
            self.plan.events.push(event(
                kinds::METADATA_MISSING,
                waba_id,
                pnid.as_ref(),
                &change.value(),
                None,
            ));
            return Some(Channel {
                pnid,
                display: None,
                scope: waba_id.map(str::to_owned),
            });
        };
        let parsed = Metadata::deserialize(metadata).ok().filter(|m| {
            m.phone_number_id
                .as_ref()
                .is_none_or(|p| p.as_str().len() <= MAX_NUMBER)
        });
        let Some(m) = parsed else {
            self.malformed_change(waba_id, change);
            return None;
        };
        if !self.delivery.may_speak_for(m.phone_number_id.as_ref()) {
            self.plan.events.push(event(
                kinds::FOREIGN_CHANNEL,
                waba_id,
                m.phone_number_id.as_ref(),
                &change.value(),
                None,
            ));
            return None;
        }
        Some(Channel {
            pnid: m.phone_number_id,
            display: m
                .display_phone_number
                .as_deref()
                .map(|d| truncate(d, MAX_NUMBER).to_owned()),
            scope: waba_id.map(str::to_owned),
        })
    }

    /// A `messages` change: customers' messages, statuses of the
    /// business's messages, and value-level errors.
    fn messages(&mut self, waba_id: Option<&str>, change: &Value, value: &Value) {
        let Some(v) = MessagesValue::of(value) else {
            self.plan
                .events
                .push(event(kinds::MALFORMED_CHANGE, waba_id, None, change, None));
            return;
        };
        let lists = Lists {
            contacts: v.contacts,
            messages: v.messages.iter().map(Item::Parsed).collect(),
            statuses: v.statuses.iter().map(Item::Parsed).collect(),
            errors: v.errors,
        };
        self.messages_of(
            waba_id,
            ChangeJson::Parsed(change),
            value.get("metadata"),
            lists,
        );
    }

    /// The lists of a `messages` change, read either way.
    // Long because a message's sender may be named three ways and a system notice may change who they are; each step is one block.
    fn messages_of(
        &mut self,
        waba_id: Option<&str>,
        change: ChangeJson,
        metadata: Option<&Value>,
        v: Lists,
    ) {
        if metadata.is_some_and(|m| Metadata::deserialize(m).is_err()) {
            self.malformed_change(waba_id, change);
            return;
        }
        let Some(channel) = self.channel(waba_id, change, metadata) else {
            return;
        };
        let pnid = channel.pnid.as_ref();
        let cards = self.cards(waba_id, pnid, v.contacts);
        for item in v.messages {
            let raw = &*item.value();
            let Some(m) = parse_message(raw) else {
                self.malformed_message(waba_id, pnid, raw);
                continue;
            };
            let from = Identity::new(
                m.head.from.as_ref().map(WaId::as_str),
                m.head.from_user_id.as_deref(),
                MAX_NUMBER,
            );
            // A message that names no sender is from the change's one contact.
            let who = match (from, cards.as_slice()) {
                (Some(who), _) => who,
                (None, [only]) => only.identity.clone(),
                _ => {
                    self.malformed_message(waba_id, pnid, raw);
                    continue;
                }
            };
            let card = cards.find(&who);
            let mut profile = card.map(|c| c.profile.clone()).unwrap_or_default();
            if profile.parent_user_id.is_none() {
                profile.parent_user_id = user_id_of(m.head.from_parent_user_id.as_deref());
            }
            let at = self.delivery.clamp(m.head.timestamp);
            let change_of_identity = identity_change(&m, &who);
            // The person a system notice of a new number or BSUID is about
            // is the one with the new identifiers (the message keeps the
            // ones it was sent with).
            let person_id = match &change_of_identity {
                Some(c) => Identity {
                    wa_id: c.new_wa_id.clone().or(who.wa_id.clone()),
                    user_id: c.new_user_id.clone().or(who.user_id.clone()),
                },
                None => who.clone(),
            };
            if let Some(mut c) = change_of_identity {
                c.scope = channel.scope.clone();
                if let Scope::Channel(own) = &self.delivery.scope {
                    c.only_on = Some(own.clone());
                }
                self.plan.identity_changes.push(c);
            }
            let person =
                self.people
                    .find_or_add(&person_id, channel.scope.as_deref(), m.head.id.as_str());
            // A group message does not open the 1:1 window; a system notice
            // is not the customer writing.
            let writes = m.head.group_id.is_none() && m.head.kind != "system";
            if writes {
                self.people
                    .saw(person, at, m.head.from.as_ref(), &profile, pnid);
                if let Some(pnid) = pnid {
                    let last = self.windows.entry((person, pnid.clone())).or_insert(at);
                    *last = (*last).max(at);
                }
            } else {
                self.people.know(person, &profile);
            }
            let row = message_row(
                m,
                (raw, item.text()),
                MessageFacts {
                    direction: Direction::In,
                    origin: Origin::Live,
                    who: &who,
                    sender: None,
                    username: profile.username,
                    at,
                },
                &channel,
            );
            self.push_message(row, person);
        }
        for item in v.statuses {
            let parsed = item.parse::<Status>().filter(|s| {
                s.id.as_str().len() <= MAX_ID
                    && s.recipient_id
                        .as_ref()
                        .is_none_or(|r| r.as_str().len() <= MAX_ID)
            });
            match parsed {
                Some(s) => {
                    let at = self.delivery.clamp(s.timestamp);
                    self.plan
                        .statuses
                        .push(status_row(s, item.text(), pnid, at));
                }
                None => self.plan.events.push(event(
                    kinds::MALFORMED_STATUS,
                    waba_id,
                    pnid,
                    &item.value(),
                    None,
                )),
            }
        }
        for raw in v.errors {
            self.plan
                .events
                .push(event(kinds::ERROR, waba_id, pnid, raw, None));
        }
    }

    fn malformed_change(&mut self, waba_id: Option<&str>, change: ChangeJson) {
        let e = event(
            kinds::MALFORMED_CHANGE,
            waba_id,
            None,
            &change.value(),
            None,
        );
        self.plan.events.push(e);
    }

    fn malformed_message(
        &mut self,
        waba_id: Option<&str>,
        pnid: Option<&PhoneNumberId>,
        raw: &Value,
    ) {
        self.plan
            .events
            .push(event(kinds::MALFORMED_MESSAGE, waba_id, pnid, raw, None));
    }

    fn push_message(&mut self, row: MessageRow, person: usize) {
        self.plan.messages.push(row);
        self.message_people.push(person);
    }

    /// The usable entries of a change's `contacts[]`; the others become
    /// `malformed_contact` events.
    fn cards(
        &mut self,
        waba_id: Option<&str>,
        pnid: Option<&PhoneNumberId>,
        contacts: &[Value],
    ) -> Cards {
        let mut cards = Cards::default();
        for raw in contacts {
            let parsed = Contact::deserialize(raw).ok().and_then(|c| {
                let identity = Identity::new(
                    c.wa_id.as_ref().map(WaId::as_str),
                    c.user_id.as_deref(),
                    MAX_NUMBER,
                )?;
                let profile = c.profile.unwrap_or_default();
                Some(Card {
                    identity,
                    profile: Profile {
                        name: profile.name.map(|n| truncate(&n, MAX_NAME).to_owned()),
                        username: profile
                            .username
                            .map(|u| truncate(&u, MAX_USERNAME).to_owned()),
                        parent_user_id: user_id_of(c.parent_user_id.as_deref()),
                    },
                })
            });
            match parsed {
                Some(card) => cards.push(card),
                None => {
                    self.plan
                        .events
                        .push(event(kinds::MALFORMED_CONTACT, waba_id, pnid, raw, None))
                }
            }
        }
        cards
    }

    /// `smb_message_echoes`: messages the business sent from the WhatsApp
    /// Business app, stored as outbound messages of the conversation. They
    /// open no window and trigger nothing.
    fn echoes(&mut self, waba_id: Option<&str>, change: &Value, value: &Value) {
        let Some(channel) =
            self.channel(waba_id, ChangeJson::Parsed(change), value.get("metadata"))
        else {
            return;
        };
        let pnid = channel.pnid.clone();
        let contacts = value.get("contacts").and_then(Value::as_array);
        let cards = self.cards(
            waba_id,
            pnid.as_ref(),
            contacts.map_or(&[][..], Vec::as_slice),
        );
        let echoes = value.get("message_echoes").and_then(Value::as_array);
        for raw in echoes.into_iter().flatten() {
            let Some(m) = parse_message(raw) else {
                self.malformed_message(waba_id, pnid.as_ref(), raw);
                continue;
            };
            let to = Identity::new(
                m.head.to.as_ref().map(WaId::as_str),
                m.head.to_user_id.as_deref(),
                MAX_NUMBER,
            );
            let Some(who) = to.or_else(|| match cards.as_slice() {
                [only] => Some(only.identity.clone()),
                _ => None,
            }) else {
                self.malformed_message(waba_id, pnid.as_ref(), raw);
                continue;
            };
            self.outbound(m, raw, &who, &cards, Origin::Echo, &channel);
        }
    }

    /// An outbound message (an echo, or the business's side of history).
    fn outbound(
        &mut self,
        m: Message,
        raw: &Value,
        who: &Identity,
        cards: &Cards,
        origin: Origin,
        channel: &Channel,
    ) {
        let person = self
            .people
            .find_or_add(who, channel.scope.as_deref(), m.head.id.as_str());
        let profile = cards
            .find(who)
            .map(|c| c.profile.clone())
            .unwrap_or_default();
        self.people.know(person, &profile);
        let at = self.delivery.clamp(m.head.timestamp);
        let sender = m.head.to.clone();
        let row = message_row(
            m,
            (raw, RawJson::of_value(raw)),
            MessageFacts {
                direction: Direction::Out,
                origin,
                who,
                sender,
                username: profile.username,
                at,
            },
            channel,
        );
        self.push_message(row, person);
    }

    /// `history`: the coexistence backfill. Each message is stored in its
    /// conversation with its own time and direction, triggering nothing;
    /// each chunk's progress (or its decline) is kept as a `history` event.
    /// A `history` change carrying `messages` gives the media of messages
    /// sent earlier in a chunk.
    fn history(&mut self, waba_id: Option<&str>, entry_time: i64, change: &Value, value: &Value) {
        let Some(channel) =
            self.channel(waba_id, ChangeJson::Parsed(change), value.get("metadata"))
        else {
            return;
        };
        let business = channel
            .display
            .as_deref()
            .map(crate::whatsapp::phone::digits)
            .unwrap_or_default();
        let media = value.get("messages").and_then(Value::as_array);
        for raw in media.into_iter().flatten() {
            self.history_message(waba_id, raw, None, &business, &channel);
        }
        let chunks = value.get("history").and_then(Value::as_array);
        for chunk in chunks.into_iter().flatten() {
            let threads = chunk.get("threads").and_then(Value::as_array);
            let mut count = 0usize;
            for thread in threads.into_iter().flatten() {
                let context = thread.get("context");
                // The thread is named by the customer's number, or by their
                // BSUID when they have none.
                let thread_id = thread.get("id").and_then(Value::as_str);
                let thread_is_user = thread_id.is_some_and(crate::whatsapp::identity::is_user_id);
                let thread_who = Identity::new(
                    context
                        .and_then(|c| c.get("wa_id"))
                        .and_then(Value::as_str)
                        .or(thread_id.filter(|_| !thread_is_user)),
                    context
                        .and_then(|c| c.get("user_id"))
                        .and_then(Value::as_str)
                        .or(thread_id.filter(|_| thread_is_user)),
                    MAX_NUMBER,
                );
                let messages = thread.get("messages").and_then(Value::as_array);
                for raw in messages.into_iter().flatten() {
                    count += usize::from(self.history_message(
                        waba_id,
                        raw,
                        thread_who.as_ref(),
                        &business,
                        &channel,
                    ));
                }
            }
            let mut summary = serde_json::Map::new();
            for key in ["phase", "chunk_order", "progress"] {
                if let Some(v) = chunk.pointer(&format!("/metadata/{key}")) {
                    summary.insert(key.into(), v.clone());
                }
            }
            summary.insert("messages".into(), count.into());
            if let Some(errors) = chunk.get("errors") {
                summary.insert("errors".into(), errors.clone());
            }
            let mut kept = chunk.clone();
            if let Some(obj) = kept.as_object_mut() {
                obj.remove("threads");
            }
            let mut e = event("history", waba_id, channel.pnid.as_ref(), &kept, None);
            e.summary =
                Some(Value::Object(summary).to_string()).filter(|s| s.len() <= MAX_SIDE_JSON);
            e.at = entry_time;
            self.plan.events.push(e);
        }
    }

    /// One message of the backfill: from the business when it names a
    /// recipient or comes from the business's number, else the customer's.
    /// Returns whether it was stored.
    fn history_message(
        &mut self,
        waba_id: Option<&str>,
        raw: &Value,
        thread_who: Option<&Identity>,
        business: &str,
        channel: &Channel,
    ) -> bool {
        let Some(m) = parse_message(raw) else {
            self.malformed_message(waba_id, channel.pnid.as_ref(), raw);
            return false;
        };
        let from_business = m.head.to.is_some()
            || m.head.from.as_ref().is_some_and(|f| {
                !business.is_empty() && crate::whatsapp::phone::digits(f.as_str()) == business
            });
        let own = if from_business {
            Identity::new(
                m.head.to.as_ref().map(WaId::as_str),
                m.head.to_user_id.as_deref(),
                MAX_NUMBER,
            )
        } else {
            Identity::new(
                m.head.from.as_ref().map(WaId::as_str),
                m.head.from_user_id.as_deref(),
                MAX_NUMBER,
            )
        };
        let Some(who) = own.or_else(|| thread_who.cloned()) else {
            self.malformed_message(waba_id, channel.pnid.as_ref(), raw);
            return false;
        };
        if from_business {
            self.outbound(m, raw, &who, &Cards::default(), Origin::History, channel);
            return true;
        }
        let person = self
            .people
            .find_or_add(&who, channel.scope.as_deref(), m.head.id.as_str());
        let at = self.delivery.clamp(m.head.timestamp);
        self.people
            .saw(person, at, m.head.from.as_ref(), &Profile::default(), None);
        let row = message_row(
            m,
            (raw, RawJson::of_value(raw)),
            MessageFacts {
                direction: Direction::In,
                origin: Origin::History,
                who: &who,
                sender: None,
                username: None,
                at,
            },
            channel,
        );
        self.push_message(row, person);
        true
    }

    /// `smb_app_state_sync`: contacts the business added, edited or removed
    /// in the WhatsApp Business app; their saved names.
    fn state_sync(&mut self, waba_id: Option<&str>, change: &Value, value: &Value) {
        if self.channel_quiet(value).is_none() {
            return;
        }
        let _ = change;
        let items = value.get("state_sync").and_then(Value::as_array);
        for item in items.into_iter().flatten() {
            if item.get("type").and_then(Value::as_str) != Some("contact") {
                continue;
            }
            let contact = item.get("contact");
            let text = |key: &str| contact.and_then(|c| c.get(key)).and_then(Value::as_str);
            let Some(who) = Identity::new(text("phone_number"), text("user_id"), MAX_NUMBER) else {
                continue;
            };
            let at = item
                .pointer("/metadata/timestamp")
                .and_then(|t| t.as_i64().or_else(|| t.as_str()?.trim().parse().ok()))
                .map_or(self.delivery.received_at, |t| self.delivery.clamp(t));
            let name = match item.get("action").and_then(Value::as_str) {
                Some("remove") => None,
                _ => text("full_name")
                    .or(text("first_name"))
                    .map(|n| truncate(n, MAX_NAME).to_owned()),
            };
            // Seeded by the item itself, so a later item about whoever then
            // holds the number never reuses this person's id.
            let seed = format!("sync:{item}");
            let person = self.people.find_or_add(&who, waba_id, &seed);
            self.plan.saved_names.push(SavedName {
                contact: self
                    .people
                    .key(person)
                    .unwrap_or_else(|| placeholder_key(&who)),
                name,
                at,
            });
            self.name_people.push(person);
        }
    }

    /// The channel of a change that is also kept as an event: checked for
    /// scope without recording anything (the event records the change).
    fn channel_quiet(&self, value: &Value) -> Option<()> {
        let pnid = value
            .pointer("/metadata/phone_number_id")
            .map(|v| PhoneNumberId(id_string(v)));
        self.delivery.may_speak_for(pnid.as_ref()).then_some(())
    }

    /// A change of a field other than `messages`: kept as an event (typed
    /// when wa-edge knows the field; one per call for `calls`), with the
    /// effects wa-edge believes of it: marketing opt-outs for the
    /// delivery's own numbers, template statuses from the app's signed
    /// webhook only.
    fn field(
        &mut self,
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
        let pnid = value
            .pointer("/metadata/phone_number_id")
            .map(|v| PhoneNumberId(id_string(v)))
            .filter(|p| p.as_str().len() <= MAX_NUMBER);
        if field == "user_preferences" && self.delivery.may_speak_for(pnid.as_ref()) {
            if let Some(pnid) = &pnid {
                self.marketing_preferences(waba_id, value, pnid);
            }
        }
        if field == "calls" {
            if !self.delivery.may_speak_for(pnid.as_ref()) {
                self.plan.events.push(event(
                    kinds::FOREIGN_CHANNEL,
                    waba_id,
                    pnid.as_ref(),
                    change,
                    None,
                ));
                return;
            }
            for item in calls_items(value) {
                let typed = FieldEvent::parse_call(item);
                self.plan
                    .events
                    .push(event(kind, waba_id, pnid.as_ref(), item, Some(&typed)));
            }
            return;
        }
        let typed = FieldEvent::parse(field, value);
        // Account-level changes are believed only from the app's
        // signed webhook, never from one channel's credential.
        let account_level = self.delivery.scope == Scope::App;
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
                self.plan
                    .events
                    .push(event(kind, waba_id, None, change, None));
                return;
            }
            self.plan.templates.push(TemplateStatusRow {
                template_id: template_id.clone(),
                waba_id: waba_id.unwrap_or_default().to_owned(),
                name: truncate(name.as_deref().unwrap_or_default(), MAX_ID).to_owned(),
                language: truncate(language.as_deref().unwrap_or_default(), MAX_FIELD).to_owned(),
                status: truncate(status, MAX_FIELD).to_owned(),
                reason: reason.as_deref().map(|r| truncate(r, MAX_FIELD).to_owned()),
                at: entry_time,
            });
        }
        self.plan
            .events
            .push(event(kind, waba_id, pnid.as_ref(), change, Some(&typed)));
    }

    /// Marketing stop/resume requests in a `user_preferences` change.
    fn marketing_preferences(
        &mut self,
        waba_id: Option<&str>,
        value: &Value,
        pnid: &PhoneNumberId,
    ) {
        let prefs = value.get("user_preferences").and_then(Value::as_array);
        for p in prefs.into_iter().flatten() {
            if p["category"].as_str() != Some("marketing_messages") {
                continue;
            }
            let opted_out = match p["value"].as_str() {
                Some("stop") => true,
                Some("resume") => false,
                _ => continue,
            };
            let at = p["timestamp"]
                .as_i64()
                .or_else(|| p["timestamp"].as_str()?.parse().ok());
            let who = Identity::new(p["wa_id"].as_str(), p["user_id"].as_str(), MAX_NUMBER);
            let (Some(at), Some(who)) = (at, who) else {
                continue;
            };
            let at = self.delivery.clamp(at);
            let seed = format!("pref:{pnid}:{p}");
            let person = self.people.find_or_add(&who, waba_id, &seed);
            self.plan.opts.push(OptRow {
                phone_number_id: pnid.clone(),
                contact: placeholder_key(&who),
                opted_out,
                at,
            });
            self.opt_people.push(person);
        }
    }
}

/// A key for a row whose person is filled in by [`Walk::finish`].
fn placeholder_key(who: &Identity) -> ContactKey {
    ContactKey {
        scope: None,
        candidate: crate::ids::ContactId(String::new()),
        identity: who.clone(),
    }
}

/// The items of a `calls` change: each call and each call status.
fn calls_items(value: &Value) -> impl Iterator<Item = &Value> {
    ["calls", "statuses"]
        .into_iter()
        .filter_map(|k| value.get(k).and_then(Value::as_array))
        .flatten()
}

/// One usable entry of `contacts[]`.
#[derive(Debug, Clone)]
struct Card {
    identity: Identity,
    profile: Profile,
}

/// A change's usable `contacts[]`, indexed by identifier: a change may
/// carry as many contacts as messages, and finding each message's card by
/// scanning them all would cost their product.
#[derive(Debug, Default)]
struct Cards {
    list: Vec<Card>,
    by_user: HashMap<UserId, usize>,
    by_wa_id: HashMap<WaId, usize>,
}

impl Cards {
    fn push(&mut self, card: Card) {
        let at = self.list.len();
        if let Some(u) = &card.identity.user_id {
            self.by_user.entry(u.clone()).or_insert(at);
        }
        if let Some(w) = &card.identity.wa_id {
            self.by_wa_id.entry(w.clone()).or_insert(at);
        }
        self.list.push(card);
    }

    fn as_slice(&self) -> &[Card] {
        &self.list
    }

    /// The first card that shares an identifier with `who`.
    fn find(&self, who: &Identity) -> Option<&Card> {
        let by_user = who.user_id.as_ref().and_then(|u| self.by_user.get(u));
        let by_wa_id = who.wa_id.as_ref().and_then(|w| self.by_wa_id.get(w));
        let first = match (by_user, by_wa_id) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        first.and_then(|i| self.list.get(*i))
    }
}

/// A BSUID from the payload, when it has a BSUID's shape.
fn user_id_of(s: Option<&str>) -> Option<String> {
    s.filter(|u| crate::whatsapp::identity::is_user_id(u))
        .map(str::to_owned)
}

/// A message whose envelope is usable, or `None`.
fn parse_message(raw: &Value) -> Option<Message> {
    Message::parse(raw).ok().filter(|m| {
        m.head.id.as_str().len() <= MAX_ID
            && m.head
                .from
                .as_ref()
                .is_none_or(|f| f.as_str().len() <= MAX_NUMBER)
            && m.head
                .to
                .as_ref()
                .is_none_or(|f| f.as_str().len() <= MAX_NUMBER)
            && is_type_name(&m.head.kind)
    })
}

/// The identifiers a `system` message gives its sender: a new number (and
/// the BSUID Meta issues with it), or a new BSUID.
fn identity_change(m: &Message, who: &Identity) -> Option<IdentityChange> {
    let Content::System(system) = &m.content else {
        return None;
    };
    let user = |s: &Option<String>| user_id_of(s.as_deref()).map(UserId);
    let change = match system.kind.as_deref()? {
        "user_changed_number" => IdentityChange {
            old: who.clone(),
            new_wa_id: Identity::new(system.wa_id.as_deref(), None, MAX_NUMBER)
                .and_then(|i| i.wa_id),
            new_user_id: user(&system.user_id),
            only_on: None,
            scope: None,
        },
        "user_changed_user_id" => {
            let mut old = who.clone();
            if let Some(previous) = user(&system.previous_user_id) {
                old.user_id = Some(previous);
            }
            IdentityChange {
                old,
                new_wa_id: None,
                new_user_id: user(&system.user_id),
                only_on: None,
                scope: None,
            }
        }
        _ => return None,
    };
    (change.new_wa_id.is_some() || change.new_user_id.is_some()).then_some(change)
}

/// The `identity_conflict` event of a pairing; its id is the pair's, so it
/// is stored once however often the pairing is seen.
fn conflict_event(wa_id: &WaId, user_id: &UserId, at: i64) -> EventRow {
    let raw = serde_json::json!({"wa_id": wa_id, "user_id": user_id});
    let mut e = event(kinds::IDENTITY_CONFLICT, None, None, &raw, None);
    e.at = at;
    e
}

/// What a message row needs besides the message.
struct MessageFacts<'a> {
    direction: Direction,
    origin: Origin,
    /// The customer.
    who: &'a Identity,
    /// The customer's wa_id as addressed, for an outbound message.
    sender: Option<WaId>,
    username: Option<String>,
    at: i64,
}

/// The row of a message, its side columns capped.
/// `raw` is the message, and its JSON as stored.
fn message_row(
    m: Message,
    (raw, raw_text): (&Value, RawJson),
    facts: MessageFacts,
    channel: &Channel,
) -> MessageRow {
    let text = match m.head.kind.as_str() {
        "edit" => raw
            .pointer("/edit/message/text/body")
            .and_then(Value::as_str),
        _ => m.content.text(),
    };
    MessageRow {
        text: text.map(|t| truncate(t, MAX_SEARCH_TEXT).to_owned()),
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
        direction: facts.direction,
        origin: facts.origin,
        phone_number_id: channel.pnid.clone(),
        display_phone_number: channel.display.clone(),
        contact: placeholder_key(facts.who),
        wa_id: facts.who.wa_id.clone(),
        user_id: facts.who.user_id.clone(),
        username: facts.username,
        group_id: m.head.group_id.map(|g| truncate(&g, MAX_FIELD).to_owned()),
        sender: match facts.direction {
            Direction::In => m.head.from,
            Direction::Out => facts.sender,
        },
        kind: m.head.kind,
        timestamp: m.head.timestamp,
        at: facts.at,
        raw: raw_text,
    }
}

/// The row of a status, its side columns capped.
fn status_row(s: Status, raw: RawJson, pnid: Option<&PhoneNumberId>, at: i64) -> StatusRow {
    let short = |v: Option<String>| v.map(|s| truncate(&s, MAX_FIELD).to_owned());
    let group = s.recipient_type.as_deref() == Some("group");
    let (recipient_id, recipient_user_id, group_id) = if group {
        (
            s.recipient_participant_id,
            s.recipient_participant_user_id,
            s.recipient_id.map(|g| g.0),
        )
    } else {
        (s.recipient_id, s.recipient_user_id, None)
    };
    StatusRow {
        rank: s.status.rank(),
        status: s.status.as_str().to_owned(),
        wamid: s.id,
        timestamp: s.timestamp,
        at,
        recipient_id: recipient_id.filter(|r| r.as_str().len() <= MAX_NUMBER),
        recipient_user_id: user_id_of(recipient_user_id.as_deref()).map(UserId),
        group_id: short(group_id),
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
        raw,
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
    let names = named_identifiers(raw);
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
const NUMBER_KEYS: [&str; 6] = [
    "wa_id",
    "from",
    "to",
    "recipient_id",
    "phone_number",
    "recipient_participant_id",
];
/// Keys whose string values name a customer's BSUID.
const USER_KEYS: [&str; 6] = [
    "user_id",
    "from_user_id",
    "to_user_id",
    "recipient_user_id",
    "recipient_participant_user_id",
    "previous_user_id",
];
/// Most identifiers recorded for one event; one naming more records
/// [`UNLISTED`] too.
pub const MAX_NAMES: usize = 1000;

/// Recorded among the identifiers of an event (and of the delivery that
/// carried it) that names more people than are listed: erasure then also
/// searches its text. No wa_id or BSUID is spelled so; the erasure SQL
/// (`db::erasure`) spells it too.
pub const UNLISTED: &str = "*";

/// The identifiers `raw` names anywhere: canonical wa_ids under
/// [`NUMBER_KEYS`], BSUIDs under [`USER_KEYS`]; past [`MAX_NAMES`], the
/// first ones and [`UNLISTED`].
fn named_identifiers(raw: &Value) -> Vec<String> {
    fn name(key: &str, s: &str) -> Option<String> {
        if USER_KEYS.contains(&key) {
            return crate::whatsapp::identity::is_user_id(s).then(|| s.to_owned());
        }
        if NUMBER_KEYS.contains(&key) {
            let wa_id = crate::whatsapp::phone::canonical_wa_id(s);
            return (!wa_id.is_empty() && wa_id.len() <= MAX_NUMBER).then_some(wa_id);
        }
        None
    }
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>, unlisted: &mut bool) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::String(s) => {
                            if let Some(n) = name(k, s) {
                                if out.len() < MAX_NAMES {
                                    out.insert(n);
                                } else if !out.contains(&n) {
                                    *unlisted = true;
                                }
                            }
                        }
                        other => walk(other, out, unlisted),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out, unlisted)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    let mut unlisted = false;
    walk(raw, &mut out, &mut unlisted);
    if unlisted {
        out.insert(UNLISTED.to_owned());
    }
    out.into_iter().collect()
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

/// A message `type` as Meta spells them: lowercase letters and underscores.
fn is_type_name(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= MAX_FIELD
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub messages: usize,
    pub statuses: usize,
    pub contacts: usize,
    pub events: usize,
}
