//! API keys and what a caller may do: scopes (`send`, `read`, `admin`), an
//! optional list of channels, keys made from random bytes and stored only
//! as their SHA-256, and the one decision of whether a caller may use a
//! route ([`Caller::permits`]).
//!
//! `ADMIN_TOKEN` is the root credential: it may do everything, including
//! managing keys. A key with `admin` may do everything too; `read` reads
//! conversations (messages, contacts, events, media); `send` sends
//! (`/graph/...`, `POST /v1/messages`, media uploads), from every channel or
//! only the ones the key names.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A purpose a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Send,
    Read,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "send" => Some(Scope::Send),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the route authenticates its callers itself (webhooks).
    Nothing,
    /// Any valid credential (an unknown path behind authentication).
    Anyone,
    Read,
    Send,
    Admin,
}

/// Who is calling, once their credential has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Nobody: a public route's caller, permitted nothing else.
    Anonymous,
    /// `ADMIN_TOKEN`.
    Root,
    /// A stored key.
    Key(Key),
}

/// A stored key, as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub id: String,
    pub scopes: Vec<Scope>,
    /// The channels (phone number ids) it may send from; `None`: every one.
    pub channels: Option<Vec<String>>,
}

/// Why a caller is refused a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The key lacks the scope the route needs.
    Scope(Need),
    /// The key may not act for this channel.
    Channel(String),
}

impl Caller {
    /// A stable name for what the caller owns (its `Idempotency-Key`s):
    /// `admin` for `ADMIN_TOKEN`, the key's id for a stored key.
    pub fn name(&self) -> &str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Root => "admin",
            Caller::Key(key) => &key.id,
        }
    }

    /// Whether the caller may use a route that needs `need`.
    pub fn permits(&self, need: Need) -> Result<(), Denied> {
        let key = match self {
            Caller::Root => return Ok(()),
            Caller::Anonymous if need == Need::Nothing => return Ok(()),
            Caller::Anonymous => return Err(Denied::Scope(need)),
            Caller::Key(key) => key,
        };
        let has = |s| key.scopes.contains(&Scope::Admin) || key.scopes.contains(&s);
        let ok = match need {
            Need::Nothing | Need::Anyone => true,
            Need::Read => has(Scope::Read),
            Need::Send => has(Scope::Send),
            Need::Admin => key.scopes.contains(&Scope::Admin),
        };
        if ok {
            Ok(())
        } else {
            Err(Denied::Scope(need))
        }
    }

    /// Whether the caller may act for channel `phone_number_id`.
    pub fn may_use_channel(&self, phone_number_id: &str) -> Result<(), Denied> {
        match self {
            Caller::Anonymous => Err(Denied::Channel(phone_number_id.to_owned())),
            Caller::Key(Key {
                channels: Some(list),
                ..
            }) if !list.iter().any(|c| c == phone_number_id) => {
                Err(Denied::Channel(phone_number_id.to_owned()))
            }
            _ => Ok(()),
        }
    }
}

impl Denied {
    /// The sentence a 403 carries.
    pub fn message(&self) -> String {
        match self {
            Denied::Scope(need) => {
                let scope = match need {
                    Need::Read => "read",
                    Need::Send => "send",
                    _ => "admin",
                };
                format!("This key does not have the {scope} scope this route needs.")
            }
            Denied::Channel(pnid) => {
                format!("This key may not act for channel {pnid}.")
            }
        }
    }
}

/// What every key starts with, so a key is recognisable in a leak scan and
/// never mistaken for the admin token.
pub const PREFIX: &str = "wak_";
/// Random bytes in a key.
pub const KEY_BYTES: usize = 32;
/// Longest key name.
pub const MAX_NAME: usize = 100;
/// Most channels one key may name.
pub const MAX_CHANNELS: usize = 100;

/// A fresh key from random bytes: `wak_` and 64 hex digits.
pub fn new_key(random: [u8; KEY_BYTES]) -> String {
    format!("{PREFIX}{}", hex::encode(random))
}

/// The key's id from random bytes.
pub fn new_id(random: [u8; 12]) -> String {
    format!("key_{}", hex::encode(random))
}

/// What is stored instead of a key: its SHA-256, in hex. A key has 256
/// random bits, so a fast hash is as good as a slow one here.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// True when `token` has a key's shape (the only tokens looked up in D1).
pub fn looks_like_key(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|h| {
        h.len() == 2 * KEY_BYTES && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A `POST /v1/keys` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
}

/// Reads and checks a `POST /v1/keys` body; the error names the field.
pub fn parse_new(body: &[u8]) -> Result<NewKey, String> {
    let input: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    if !input.is_object() {
        return Err("the body must be a JSON object".into());
    }
    if let Some(bad) = input.get("scopes").and_then(Value::as_array).and_then(|s| {
        s.iter()
            .find(|v| v.as_str().and_then(Scope::parse).is_none())
    }) {
        return Err(format!("scopes: {bad} is not one of send, read, admin"));
    }
    let mut key: NewKey = crate::strict::parse(body)?;
    key.name = key.name.trim().to_owned();
    if key.name.is_empty() || key.name.chars().count() > MAX_NAME {
        return Err(format!("name: must be 1 to {MAX_NAME} characters"));
    }
    if key.name.chars().any(char::is_control) {
        return Err("name: must not contain control characters".into());
    }
    if key.scopes.is_empty() {
        return Err("scopes: name at least one of send, read, admin".into());
    }
    key.scopes.sort();
    key.scopes.dedup();
    if let Some(channels) = &mut key.channels {
        if channels.is_empty() || channels.len() > MAX_CHANNELS {
            return Err(format!(
                "channels: name 1 to {MAX_CHANNELS} phone number ids, or leave it out for every channel"
            ));
        }
        if let Some(bad) = channels
            .iter()
            .find(|c| !crate::whatsapp::phone::is_graph_id(c))
        {
            return Err(format!("channels: {bad:?} is not a phone number id"));
        }
        // Reads span channels (a contact, an event), so only sending can be
        // held to a channel.
        if key.scopes != [Scope::Send] {
            return Err(
                "channels: only a send key can be limited to channels; read and admin keys see every channel"
                    .into(),
            );
        }
        channels.sort();
        channels.dedup();
    }
    Ok(key)
}

/// A key as `GET /v1/keys` shows it (never the key itself).
pub fn shown(
    id: &str,
    name: &str,
    scopes: &[Scope],
    channels: Option<&[String]>,
    created_at: i64,
    last_used_at: Option<i64>,
) -> Value {
    json!({
        "id": id,
        "name": name,
        "scopes": scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "channels": channels,
        "created_at": created_at,
        "last_used_at": last_used_at,
    })
}

/// How stale a key's `last_used_at` may get before a request refreshes it:
/// a busy key costs a write a minute, not one per request.
pub const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// True when a use at `now_ms` should be recorded.
pub fn should_record_use(last_used_at: Option<i64>, now_ms: i64) -> bool {
    last_used_at.is_none_or(|t| now_ms - t >= LAST_USED_GRANULARITY_MS)
}
