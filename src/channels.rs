//! Channels: one WhatsApp number each, on Meta's Graph API or 360dialog.
//!
//! A channel names the Workers secret that holds its credential; credentials
//! never live in D1. With no channel rows, the single-number configuration
//! from the environment (`WHATSAPP_PHONE_NUMBER_ID`, `WHATSAPP_ACCESS_TOKEN`)
//! is the only channel.

use crate::whatsapp::graph::{Endpoint, Provider};
use crate::whatsapp::phone::is_graph_id;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Meta's messaging-limit tiers: unique business-initiated recipients per
/// rolling 24 hours. `None` is unlimited.
pub const TIERS: [(&str, Option<i64>); 6] = [
    ("250", Some(250)),
    ("1k", Some(1_000)),
    ("2k", Some(2_000)),
    ("10k", Some(10_000)),
    ("100k", Some(100_000)),
    ("unlimited", None),
];

/// Largest number of recipients Meta allows for a test number.
pub const MAX_TEST_RECIPIENTS: usize = 5;

/// A channel as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub phone_number_id: String,
    #[serde(default)]
    pub waba_id: Option<String>,
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// `meta` or `360dialog`.
    pub provider: String,
    /// Name of the Workers secret with the access token or 360dialog API key.
    pub credential_secret: String,
    /// 360dialog only: name of the secret holding `user:pass` for the
    /// `Authorization: Basic` header 360dialog sends to this channel's webhook.
    #[serde(default)]
    pub webhook_auth_secret: Option<String>,
    /// Messaging-limit tier (`250`, `1k`, `2k`, `10k`, `100k`, `unlimited`).
    #[serde(default = "default_tier")]
    pub tier: String,
    /// Meta's test number: sends only to `test_recipients`.
    #[serde(default)]
    pub test_number: bool,
    #[serde(default)]
    pub test_recipients: Vec<String>,
}

fn default_tier() -> String {
    "250".into()
}

/// Why a channel was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChannelError(pub String);

fn err(s: impl Into<String>) -> ChannelError {
    ChannelError(s.into())
}

/// Secret names as Workers allows them: letters, digits and underscores.
fn is_secret_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

impl Channel {
    /// Parses and validates a channel from the API.
    pub fn parse(body: &[u8]) -> Result<Channel, ChannelError> {
        let c: Channel =
            crate::strict::parse(body).map_err(|e| err(format!("not a valid channel: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Applies a PATCH (any subset of the fields except `phone_number_id`).
    pub fn patched(&self, patch: &[u8]) -> Result<Channel, ChannelError> {
        let patch: Value =
            serde_json::from_slice(patch).map_err(|e| err(format!("not JSON: {e}")))?;
        let Value::Object(fields) = patch else {
            return Err(err("the patch must be a JSON object"));
        };
        if fields
            .get("phone_number_id")
            .is_some_and(|v| v.as_str() != Some(&self.phone_number_id))
        {
            return Err(err(
                "phone_number_id: cannot be changed; create a new channel",
            ));
        }
        let mut merged = serde_json::to_value(self).map_err(|e| err(e.to_string()))?;
        if let Some(obj) = merged.as_object_mut() {
            obj.extend(fields);
        }
        let merged = serde_json::to_vec(&merged).map_err(|e| err(e.to_string()))?;
        let c: Channel = crate::strict::parse(&merged).map_err(err)?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), ChannelError> {
        if !is_graph_id(&self.phone_number_id) {
            return Err(err(
                "phone_number_id: must be the number's Graph id (digits)",
            ));
        }
        if self.waba_id.as_deref().is_some_and(|w| !is_graph_id(w)) {
            return Err(err(
                "waba_id: must be the WhatsApp Business Account id (digits)",
            ));
        }
        let provider = Provider::parse(&self.provider)
            .ok_or_else(|| err("provider: must be \"meta\" or \"360dialog\""))?;
        if !is_secret_name(&self.credential_secret) {
            return Err(err(
                "credential_secret: must be the name of a Workers secret (letters, digits, underscores), not the credential itself",
            ));
        }
        if crate::settings::is_reserved(&self.credential_secret) {
            return Err(err(format!(
                "credential_secret: {} is one of wa-edge's own settings; store the channel's credential under a name of its own (wrangler secret put)",
                self.credential_secret
            )));
        }
        if let Some(name) = self
            .webhook_auth_secret
            .as_deref()
            .filter(|n| crate::settings::is_reserved(n))
        {
            return Err(err(format!(
                "webhook_auth_secret: {name} is one of wa-edge's own settings; store the webhook credential under a name of its own"
            )));
        }
        match (&self.webhook_auth_secret, provider) {
            (Some(s), _) if !is_secret_name(s) => {
                return Err(err("webhook_auth_secret: must be the name of a Workers secret"))
            }
            (Some(_), Provider::Meta) => {
                return Err(err(
                    "webhook_auth_secret: only 360dialog channels have one; Meta deliveries are signed with the app secret",
                ))
            }
            (None, Provider::Dialog360) => {
                return Err(err(
                    "webhook_auth_secret: required for a 360dialog channel, which has no Meta signature",
                ))
            }
            _ => {}
        }
        if !TIERS.iter().any(|(t, _)| *t == self.tier) {
            return Err(err(
                "tier: must be one of 250, 1k, 2k, 10k, 100k, unlimited",
            ));
        }
        if self.test_recipients.len() > MAX_TEST_RECIPIENTS {
            return Err(err(format!(
                "test_recipients: a test number can have at most {MAX_TEST_RECIPIENTS}"
            )));
        }
        if self
            .name
            .as_deref()
            .is_some_and(|n| n.chars().count() > 100)
        {
            return Err(err("name: at most 100 characters"));
        }
        Ok(())
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        Provider::parse(&self.provider).unwrap_or(Provider::Meta)
    }

    /// The path its deliveries arrive on.
    pub fn webhook_path(&self) -> String {
        match self.provider() {
            Provider::Meta => "/webhook".into(),
            Provider::Dialog360 => format!("/webhook/360dialog/{}", self.phone_number_id),
        }
    }

    /// The channel as the API shows it; `from_env` for the number the
    /// environment configures (it cannot be changed through the API).
    pub fn to_json(&self, from_env: bool) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("webhook_url".into(), json!(self.webhook_path()));
            let source = if from_env { "environment" } else { "api" };
            obj.insert("source".into(), json!(source));
        }
        v
    }

    /// The daily limit of unique business-initiated recipients.
    pub fn limit(&self) -> Option<i64> {
        TIERS
            .iter()
            .find(|(t, _)| *t == self.tier)
            .and_then(|(_, l)| *l)
    }

    /// How to reach it, given its credential and the API bases.
    pub fn endpoint(&self, bases: &Bases, credential: String) -> Endpoint {
        let provider = self.provider();
        Endpoint {
            provider,
            base: match provider {
                Provider::Meta => bases.graph.clone(),
                Provider::Dialog360 => bases.d360.clone(),
            },
            version: bases.version.clone(),
            phone_number_id: self.phone_number_id.clone(),
            credential,
        }
    }
}

/// `GET /v1/channels`: the rows, then the environment's number unless a row
/// already has it (a row wins, as in resolution).
pub fn listing(rows: &[Channel], from_env: Option<Channel>) -> Vec<Value> {
    let mut out: Vec<Value> = rows.iter().map(|c| c.to_json(false)).collect();
    if let Some(env) =
        from_env.filter(|e| rows.iter().all(|r| r.phone_number_id != e.phone_number_id))
    {
        out.push(env.to_json(true));
    }
    out
}

/// `GRAPH_API_BASE`, `GRAPH_API_VERSION` and `D360_API_BASE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bases {
    pub graph: String,
    pub version: String,
    pub d360: String,
}

/// Refuses `candidate` when another channel already authenticates its
/// webhook with the same secret: a credential speaks for one number only.
pub fn check_own_webhook_secret(
    candidate: &Channel,
    others: &[Channel],
) -> Result<(), ChannelError> {
    let Some(name) = candidate.webhook_auth_secret.as_deref() else {
        return Ok(());
    };
    let shared = others.iter().find(|o| {
        o.phone_number_id != candidate.phone_number_id
            && o.webhook_auth_secret
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
    });
    match shared {
        Some(o) => Err(err(format!(
            "webhook_auth_secret: {name} already authenticates channel {}; each 360dialog number needs a credential of its own",
            o.phone_number_id
        ))),
        None => Ok(()),
    }
}

/// Why a send is refused by the channel's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitRefusal {
    /// The test number may not message this recipient.
    NotATestRecipient,
    /// The tier's count of unique recipients is used up.
    TierReached { limit: i64 },
}

/// Checks a template (business-initiated) send to `to`, given the unique
/// recipients already messaged in the last 24 hours and whether `to` is one.
pub fn check_limits(
    channel: &Channel,
    to: &str,
    business_initiated: bool,
    recipients_24h: i64,
    already_counted: bool,
) -> Result<(), LimitRefusal> {
    if channel.test_number
        && !channel
            .test_recipients
            .iter()
            .any(|r| crate::whatsapp::phone::digits(r) == to)
    {
        return Err(LimitRefusal::NotATestRecipient);
    }
    match channel.limit() {
        Some(limit) if business_initiated && !already_counted && recipients_24h >= limit => {
            Err(LimitRefusal::TierReached { limit })
        }
        _ => Ok(()),
    }
}
