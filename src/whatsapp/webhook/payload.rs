//! The shape of a WhatsApp Business Account webhook notification.
//!
//! Meta adds fields, message types and webhook `field`s without notice, so
//! every type here is forward-compatible: unknown keys are ignored, optional
//! keys default, provider-controlled strings end in an `Unknown` variant, and
//! each item is parsed on its own from its raw JSON (kept beside it) so one
//! odd item never rejects a batch. See
//! <https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components>.

use crate::ids::{PhoneNumberId, WaId, WaMessageId};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// Accepts a unix timestamp written either as Meta's string (`"1700000000"`)
/// or as a number.
fn de_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::String(s) => s.trim().parse().map_err(D::Error::custom),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| D::Error::custom("timestamp out of range")),
        other => Err(D::Error::custom(format!("timestamp is {other}"))),
    }
}

/// The `value.metadata` of a `messages` change: which business number received it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Metadata {
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub phone_number_id: Option<PhoneNumberId>,
}

/// A key's value when the key is there, `null` included (`None` only when
/// it is missing, as `Value::get` sees it).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// `T` read from a JSON object only (serde would also read a struct from an
/// array, by position).
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData))
            .map(Object)
    }
}

/// A notification in exactly the shape Meta sends, read in one pass with
/// each change's `value` left as raw JSON text. Any other shape (an unknown
/// or duplicate key, a type Meta does not send) fails to parse, and the body
/// is then read as a [`Value`]: the two readings agree wherever this one
/// parses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<'a> {
    pub object: String,
    #[serde(borrow)]
    pub entry: Vec<Object<EnvelopeEntry<'a>>>,
}

impl<'a> Envelope<'a> {
    /// `body` in Meta's exact shape, or `None` (read it as a [`Value`]).
    pub fn read(body: &'a [u8]) -> Option<Envelope<'a>> {
        serde_json::from_slice::<Object<Envelope>>(body)
            .ok()
            .map(|o| o.0)
    }
}

/// One `entry[]` of an [`Envelope`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeEntry<'a> {
    #[serde(default, deserialize_with = "present")]
    pub id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub time: Option<Value>,
    #[serde(borrow)]
    pub changes: Vec<Object<EnvelopeChange<'a>>>,
}

/// One `changes[]` of an [`EnvelopeEntry`]: its field, and its value unread.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeChange<'a> {
    pub field: String,
    #[serde(borrow)]
    pub value: &'a RawValue,
}

/// Raw JSON as a [`Value`]; JSON a `Value` cannot hold (a number beyond
/// `f64`'s range) as a string of its text, so nothing is lost.
pub fn raw_to_value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or_else(|_| Value::String(raw.get().to_owned()))
}

impl EnvelopeChange<'_> {
    /// The change as a [`Value`], as the slower reading would have it (a
    /// value a `Value` cannot hold, such as a number beyond `f64`'s range,
    /// as its text).
    pub fn to_value(&self) -> Value {
        let value = raw_to_value(self.value);
        serde_json::json!({ "field": self.field, "value": value })
    }
}

/// The `value` of a `messages` change read from raw JSON: its messages and
/// statuses left as raw JSON text, each parsed on its own. It fails to
/// parse where [`MessagesValue::of`] would see a list that is not a list;
/// a `metadata` that is not [`Metadata`] is left for the caller to refuse.
#[derive(Debug, Deserialize)]
pub struct MessagesRaw<'a> {
    #[serde(default, deserialize_with = "present")]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub contacts: Vec<Value>,
    #[serde(default, borrow)]
    pub messages: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    pub statuses: Vec<&'a RawValue>,
    #[serde(default)]
    pub errors: Vec<Value>,
}

impl<'a> MessagesRaw<'a> {
    /// A change's raw `value` as a `messages` value, or `None` (read it as
    /// a [`Value`]).
    pub fn read(value: &'a RawValue) -> Option<MessagesRaw<'a>> {
        serde_json::from_str::<Object<MessagesRaw>>(value.get())
            .ok()
            .map(|o| o.0)
    }
}

/// The `value` of a `messages` change, its items borrowed (no copy of a
/// delivery's items is made to read them).
#[derive(Debug, Clone, Copy, Default)]
pub struct MessagesValue<'a> {
    pub contacts: &'a [Value],
    pub messages: &'a [Value],
    pub statuses: &'a [Value],
    /// Errors not tied to one message (for example an outage notice).
    pub errors: &'a [Value],
}

impl<'a> MessagesValue<'a> {
    /// `value` as a `messages` change: `None` when it is not an object, its
    /// `metadata` is malformed, or one of its lists is there but not a list.
    pub fn of(value: &'a Value) -> Option<MessagesValue<'a>> {
        let object = value.as_object()?;
        if let Some(metadata) = object.get("metadata") {
            Metadata::deserialize(metadata).ok()?;
        }
        let list = |key: &str| match object.get(key) {
            None => Some(&[][..]),
            Some(Value::Array(items)) => Some(items.as_slice()),
            Some(_) => None,
        };
        Some(MessagesValue {
            contacts: list("contacts")?,
            messages: list("messages")?,
            statuses: list("statuses")?,
            errors: list("errors")?,
        })
    }
}

/// One entry of `contacts[]`: the customer who wrote, known by a phone
/// number (`wa_id`), a BSUID (`user_id`), or both.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Contact {
    #[serde(default)]
    pub wa_id: Option<WaId>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub parent_user_id: Option<String>,
    #[serde(default)]
    pub profile: Option<Profile>,
}

/// A customer's WhatsApp profile as Meta shares it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Profile {
    #[serde(default)]
    pub name: Option<String>,
    /// The customer's WhatsApp username (`@name`), when they adopted one.
    #[serde(default)]
    pub username: Option<String>,
}

/// `context` on a message: it replies to, or was forwarded from, another one.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Context {
    /// The message replied to.
    #[serde(default)]
    pub id: Option<WaMessageId>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub forwarded: Option<bool>,
    #[serde(default)]
    pub frequently_forwarded: Option<bool>,
}

/// The envelope every message shares, whatever its type. A customer's
/// message names its sender by `from` (phone), `from_user_id` (BSUID), both,
/// or neither (then the change's single contact is the sender); a message
/// echo or history item sent by the business names the customer in `to` and
/// `to_user_id`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct MessageHead {
    pub id: WaMessageId,
    #[serde(default)]
    pub from: Option<WaId>,
    #[serde(default)]
    pub from_user_id: Option<String>,
    #[serde(default)]
    pub from_parent_user_id: Option<String>,
    #[serde(default)]
    pub to: Option<WaId>,
    #[serde(default)]
    pub to_user_id: Option<String>,
    #[serde(deserialize_with = "de_timestamp")]
    pub timestamp: i64,
    /// The `type`; a message without one is typed by its single content key
    /// (see [`Message::parse`]).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The group the message was sent in (WhatsApp Groups).
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub context: Option<Context>,
    /// Click-to-WhatsApp ad or post the customer came from.
    #[serde(default)]
    pub referral: Option<Value>,
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// An inbound message: its envelope and its type's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub head: MessageHead,
    pub content: Content,
}

/// A media attachment (`image`, `audio`, `video`, `document`, `sticker`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Media {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    /// Audio recorded in WhatsApp (a voice note).
    #[serde(default)]
    pub voice: Option<bool>,
    #[serde(default)]
    pub animated: Option<bool>,
}

/// A shared location.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Location {
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// The id and title of a tapped reply button or list row.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Reply {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A Flow's completion (`nfm_reply`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct FlowReply {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// The Flow's answers, a JSON document encoded as a string.
    #[serde(default)]
    pub response_json: Option<String>,
}

/// The customer's answer to an interactive message.
#[derive(Debug, Clone, PartialEq)]
pub enum Interactive {
    ButtonReply(Reply),
    ListReply(Reply),
    NfmReply(FlowReply),
    /// An interactive `type` we do not model yet.
    Unknown(String),
}

/// A tap on a template's quick-reply button.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Button {
    #[serde(default)]
    pub payload: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// A reaction; an absent or empty emoji removes an earlier one.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Reaction {
    #[serde(default)]
    pub message_id: Option<WaMessageId>,
    #[serde(default)]
    pub emoji: Option<String>,
}

impl Reaction {
    /// True when this reaction takes an earlier one back.
    pub fn is_removal(&self) -> bool {
        self.emoji.as_deref().is_none_or(str::is_empty)
    }
}

/// A product in an order.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct ProductItem {
    #[serde(default)]
    pub product_retailer_id: Option<String>,
    #[serde(default)]
    pub quantity: Option<f64>,
    #[serde(default)]
    pub item_price: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// An order placed from a catalog.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Order {
    #[serde(default)]
    pub catalog_id: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub product_items: Vec<ProductItem>,
}

/// A system notice, for example that the customer changed their number.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct System {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `user_changed_number`: the new number.
    #[serde(default)]
    pub wa_id: Option<String>,
    /// The new BSUID (`user_changed_number`, `user_changed_user_id`).
    #[serde(default)]
    pub user_id: Option<String>,
    /// `user_changed_user_id`: the BSUID before the change, when Meta names it.
    #[serde(default)]
    pub previous_user_id: Option<String>,
    #[serde(default)]
    pub parent_user_id: Option<String>,
    #[serde(default)]
    pub customer: Option<String>,
}

/// Message types this version models; anything else is shown as unsupported.
pub const KNOWN_TYPES: [&str; 15] = [
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "unsupported",
    "unknown",
];

/// A message's content, chosen by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text {
        body: String,
    },
    Image(Media),
    Audio(Media),
    Video(Media),
    Document(Media),
    Sticker(Media),
    Location(Location),
    /// Shared contact cards, kept as Meta sends them.
    Contacts(Vec<Value>),
    Interactive(Interactive),
    Button(Button),
    Reaction(Reaction),
    Order(Order),
    System(System),
    /// A type WhatsApp itself could not deliver to the API (see `errors`).
    Unsupported,
    /// A known type whose content did not have the expected shape.
    Malformed,
    /// A type this version does not know.
    Unknown,
}

impl Content {
    /// Reads the content for `kind` from the message's raw JSON.
    fn from_raw(kind: &str, raw: &Value) -> Content {
        fn part<'a, T: Deserialize<'a>>(raw: &'a Value, key: &str) -> Option<T> {
            raw.get(key).and_then(|v| T::deserialize(v).ok())
        }
        let media = |key: &str| part::<Media>(raw, key);
        let parsed = match kind {
            "text" => raw
                .pointer("/text/body")
                .and_then(Value::as_str)
                .map(|body| Content::Text {
                    body: body.to_owned(),
                }),
            "image" => media(kind).map(Content::Image),
            "audio" => media(kind).map(Content::Audio),
            "video" => media(kind).map(Content::Video),
            "document" => media(kind).map(Content::Document),
            "sticker" => media(kind).map(Content::Sticker),
            "location" => part(raw, kind).map(Content::Location),
            "contacts" => part(raw, kind).map(Content::Contacts),
            "interactive" => raw.get(kind).map(|i| Content::Interactive(interactive(i))),
            "button" => part(raw, kind).map(Content::Button),
            "reaction" => part(raw, kind).map(Content::Reaction),
            "order" => part(raw, kind).map(Content::Order),
            "system" => part(raw, kind).map(Content::System),
            "unsupported" | "unknown" => Some(Content::Unsupported),
            _ => return Content::Unknown,
        };
        parsed.unwrap_or(Content::Malformed)
    }

    /// The human-readable text of the message, if it has one: the body,
    /// a caption, a tapped button's title, an order's note.
    pub fn text(&self) -> Option<&str> {
        match self {
            Content::Text { body } => Some(body),
            Content::Image(m) | Content::Video(m) | Content::Document(m) => m.caption.as_deref(),
            Content::Interactive(Interactive::ButtonReply(r) | Interactive::ListReply(r)) => {
                r.title.as_deref()
            }
            Content::Interactive(Interactive::NfmReply(f)) => f.body.as_deref(),
            Content::Button(b) => b.text.as_deref(),
            Content::Order(o) => o.text.as_deref(),
            Content::System(s) => s.body.as_deref(),
            _ => None,
        }
    }

    /// The id of the media the message carries (image, audio, video,
    /// document, sticker).
    pub fn media_id(&self) -> Option<&str> {
        match self {
            Content::Image(m)
            | Content::Audio(m)
            | Content::Video(m)
            | Content::Document(m)
            | Content::Sticker(m) => m.id.as_deref(),
            _ => None,
        }
    }

    /// The id of a tapped reply button, list row or template button payload.
    pub fn reply_id(&self) -> Option<&str> {
        match self {
            Content::Interactive(Interactive::ButtonReply(r) | Interactive::ListReply(r)) => {
                Some(&r.id)
            }
            Content::Button(b) => b.payload.as_deref(),
            _ => None,
        }
    }
}

fn interactive(raw: &Value) -> Interactive {
    let kind = raw.get("type").and_then(Value::as_str).unwrap_or_default();
    let reply = |key: &str| raw.get(key).and_then(|v| Reply::deserialize(v).ok());
    let parsed = match kind {
        "button_reply" => reply(kind).map(Interactive::ButtonReply),
        "list_reply" => reply(kind).map(Interactive::ListReply),
        "nfm_reply" => raw
            .get(kind)
            .and_then(|v| FlowReply::deserialize(v).ok())
            .map(Interactive::NfmReply),
        _ => None,
    };
    parsed.unwrap_or_else(|| Interactive::Unknown(kind.to_owned()))
}

/// The type a message without `type` carries: its one key that names a
/// known content type.
fn implied_type(raw: &Value) -> Option<&'static str> {
    let mut found = KNOWN_TYPES
        .iter()
        .filter(|t| !matches!(**t, "unsupported" | "unknown"))
        .filter(|t| raw.get(**t).is_some_and(|v| v.is_object() || v.is_array()));
    match (found.next(), found.next()) {
        (Some(t), None) => Some(t),
        _ => None,
    }
}

impl Message {
    /// Parses one item of `messages[]`. Fails only when the envelope (id,
    /// sender, timestamp, type) is unusable; content of an unexpected shape
    /// becomes [`Content::Malformed`] and an unknown type [`Content::Unknown`].
    pub fn parse(raw: &Value) -> Result<Message, serde_json::Error> {
        let mut head = MessageHead::deserialize(raw)?;
        if head.kind.is_empty() {
            head.kind = implied_type(raw).unwrap_or_default().to_owned();
        }
        let content = Content::from_raw(&head.kind, raw);
        Ok(Message { head, content })
    }
}

/// A delivery status's name. Ranked so a late, lower status never replaces a
/// higher one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusKind {
    Sent,
    Delivered,
    Read,
    /// A voice message was played.
    Played,
    Failed,
    Deleted,
    Unknown(String),
}

impl StatusKind {
    /// Maps Meta's spelling onto the enum.
    pub fn parse(s: &str) -> StatusKind {
        match s {
            "sent" => StatusKind::Sent,
            "delivered" => StatusKind::Delivered,
            "read" => StatusKind::Read,
            "played" => StatusKind::Played,
            "failed" => StatusKind::Failed,
            "deleted" => StatusKind::Deleted,
            other => StatusKind::Unknown(other.to_owned()),
        }
    }

    /// Meta's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            StatusKind::Sent => "sent",
            StatusKind::Delivered => "delivered",
            StatusKind::Read => "read",
            StatusKind::Played => "played",
            StatusKind::Failed => "failed",
            StatusKind::Deleted => "deleted",
            StatusKind::Unknown(s) => s,
        }
    }

    /// Progress order: the current status is the highest-ranked one seen.
    /// `failed` and `deleted` are terminal; unknown statuses are kept in the
    /// history but never displace a known one.
    pub fn rank(&self) -> i64 {
        match self {
            StatusKind::Unknown(_) => 0,
            StatusKind::Sent => 10,
            StatusKind::Delivered => 20,
            StatusKind::Read => 30,
            StatusKind::Played => 35,
            StatusKind::Failed => 40,
            StatusKind::Deleted => 50,
        }
    }
}

impl<'de> Deserialize<'de> for StatusKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(StatusKind::parse(&String::deserialize(d)?))
    }
}

/// The conversation a status was billed in.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Conversation {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub origin: Option<Origin>,
    #[serde(default)]
    pub expiration_timestamp: Option<Value>,
}

/// Where a conversation started (`service`, `marketing`, ...).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Origin {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// How a message was priced.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Pricing {
    #[serde(default)]
    pub billable: Option<bool>,
    #[serde(default)]
    pub pricing_model: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// One item of `statuses[]`: news about a message the business sent.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Status {
    pub id: WaMessageId,
    pub status: StatusKind,
    #[serde(deserialize_with = "de_timestamp")]
    pub timestamp: i64,
    /// The customer's phone number, or the group id when `recipient_type`
    /// is `group`.
    #[serde(default)]
    pub recipient_id: Option<WaId>,
    #[serde(default)]
    pub recipient_user_id: Option<String>,
    #[serde(default)]
    pub recipient_type: Option<String>,
    /// In a group: the participant the status is about.
    #[serde(default)]
    pub recipient_participant_id: Option<WaId>,
    #[serde(default)]
    pub recipient_participant_user_id: Option<String>,
    #[serde(default)]
    pub conversation: Option<Conversation>,
    #[serde(default)]
    pub pricing: Option<Pricing>,
    #[serde(default)]
    pub errors: Vec<Value>,
    /// The value the business attached to the send, echoed back.
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
}

/// Typed summaries of the non-message webhook fields we understand.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldEvent {
    /// `message_template_status_update`: a template was approved, rejected, paused...
    TemplateStatus {
        template_id: Option<String>,
        name: Option<String>,
        language: Option<String>,
        event: Option<String>,
        reason: Option<String>,
    },
    /// `phone_number_quality_update`: quality rating or messaging limit changed.
    QualityUpdate {
        event: Option<String>,
        current_limit: Option<String>,
    },
    /// `account_update`: the WABA was verified, restricted, banned...
    AccountUpdate { event: Option<String> },
    /// `user_preferences`: customers stopping or resuming marketing messages.
    UserPreferences { changes: usize },
    /// One call of the `calls` field (a connect, a terminate) or a call
    /// status: who, which way, how long, how it ended.
    Call(Value),
    /// A field whose summary is a few of its value's keys, copied as Meta
    /// sends them (see [`SUMMARY_KEYS`]); `reference` is its template id,
    /// group id or entity id.
    Summary {
        reference: Option<String>,
        values: Value,
    },
    /// Any other field, kept raw.
    Other,
}

/// The keys of `value` a field's summary copies, per field; for the group
/// fields, per item of `groups[]`.
pub const SUMMARY_KEYS: [(&str, &[&str]); 14] = [
    (
        "template_category_update",
        &[
            "message_template_id",
            "message_template_name",
            "message_template_language",
            "previous_category",
            "new_category",
            "correct_category",
        ],
    ),
    (
        "message_template_components_update",
        &[
            "message_template_id",
            "message_template_name",
            "message_template_language",
            "message_template_title",
            "message_template_footer",
        ],
    ),
    (
        "message_template_quality_update",
        &[
            "message_template_id",
            "message_template_name",
            "message_template_language",
            "previous_quality_score",
            "new_quality_score",
        ],
    ),
    (
        "phone_number_name_update",
        &[
            "display_phone_number",
            "decision",
            "requested_verified_name",
            "rejection_reason",
        ],
    ),
    (
        "business_capability_update",
        &[
            "max_daily_conversations_per_business",
            "max_daily_conversation_per_phone",
            "max_phone_numbers_per_business",
            "max_phone_numbers_per_waba",
        ],
    ),
    (
        "account_alerts",
        &["entity_type", "entity_id", "alert_info"],
    ),
    ("account_review_update", &["decision"]),
    ("security", &["display_phone_number", "event"]),
    ("smb_app_state_sync", &[]),
    ("history", &[]),
    (
        "group_lifecycle_update",
        &["group_id", "type", "subject", "request_id"],
    ),
    (
        "group_participants_update",
        &["group_id", "type", "reason", "request_id"],
    ),
    ("group_settings_update", &["group_id", "type", "request_id"]),
    ("group_status_update", &["group_id", "type", "request_id"]),
];

/// The call keys a call event's summary copies.
const CALL_KEYS: [&str; 14] = [
    "id",
    "event",
    "type",
    "direction",
    "status",
    "duration",
    "start_time",
    "end_time",
    "from",
    "from_user_id",
    "to",
    "to_user_id",
    "recipient_id",
    "recipient_user_id",
];

fn pick(value: &Value, keys: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for key in keys {
        if let Some(v) = value.get(*key).filter(|v| !v.is_null()) {
            out.insert((*key).to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

impl FieldEvent {
    /// Summarises a change `value` for `field`.
    pub fn parse(field: &str, value: &Value) -> FieldEvent {
        let s = |key: &str| match value.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match field {
            "message_template_status_update" => FieldEvent::TemplateStatus {
                template_id: s("message_template_id"),
                name: s("message_template_name"),
                language: s("message_template_language"),
                event: s("event"),
                reason: s("reason"),
            },
            "phone_number_quality_update" => FieldEvent::QualityUpdate {
                event: s("event"),
                current_limit: s("current_limit"),
            },
            "account_update" => FieldEvent::AccountUpdate { event: s("event") },
            "user_preferences" => FieldEvent::UserPreferences {
                changes: value
                    .get("user_preferences")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len),
            },
            "smb_app_state_sync" => FieldEvent::Summary {
                reference: None,
                values: serde_json::json!({"changes": value
                    .get("state_sync")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)}),
            },
            _ => match SUMMARY_KEYS.iter().find(|(f, _)| *f == field) {
                Some((f, keys)) if f.starts_with("group_") => {
                    let groups: Vec<Value> = value
                        .get("groups")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|g| pick(g, keys))
                        .collect();
                    FieldEvent::Summary {
                        reference: groups
                            .first()
                            .and_then(|g| g.get("group_id"))
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        values: serde_json::json!({ "groups": groups }),
                    }
                }
                Some((_, keys)) => FieldEvent::Summary {
                    reference: s("message_template_id").or_else(|| s("entity_id")),
                    values: pick(value, keys),
                },
                None => FieldEvent::Other,
            },
        }
    }

    /// Summarises one item of a `calls` change.
    pub fn parse_call(item: &Value) -> FieldEvent {
        FieldEvent::Call(pick(item, &CALL_KEYS))
    }

    /// The key a reader filters on (a template id), if the field has one.
    pub fn reference(&self) -> Option<&str> {
        match self {
            FieldEvent::TemplateStatus { template_id, .. } => template_id.as_deref(),
            FieldEvent::Call(v) => v.get("id").and_then(Value::as_str),
            FieldEvent::Summary { reference, .. } => reference.as_deref(),
            _ => None,
        }
    }

    /// A small JSON summary for the API (a call's names who called).
    pub fn summary(&self) -> Option<Value> {
        use serde_json::json;
        match self {
            FieldEvent::TemplateStatus {
                template_id,
                name,
                language,
                event,
                reason,
            } => Some(json!({"template_id": template_id, "name": name,
                "language": language, "event": event, "reason": reason})),
            FieldEvent::QualityUpdate {
                event,
                current_limit,
            } => Some(json!({"event": event, "current_limit": current_limit})),
            FieldEvent::AccountUpdate { event } => Some(json!({ "event": event })),
            FieldEvent::UserPreferences { changes } => Some(json!({ "changes": changes })),
            FieldEvent::Call(v) => Some(v.clone()),
            FieldEvent::Summary { values, .. } => Some(values.clone()),
            FieldEvent::Other => None,
        }
    }
}
