//! Outbound calls to the WhatsApp Cloud API, directly through Meta's Graph API
//! or through 360dialog's Cloud API proxy: request building and response
//! classification, as plain data. The edge performs the `fetch`.
//!
//! References: <https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages>,
//! <https://docs.360dialog.com/docs/waba-messaging/messaging>.

pub mod error;
pub mod manage;

use serde_json::{json, Value};

/// Who carries a channel's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Meta's Graph API, `Authorization: Bearer <token>`.
    Meta,
    /// 360dialog's Cloud API proxy, `D360-API-KEY: <key>`, one key per number.
    Dialog360,
}

impl Provider {
    /// Parses the stored spelling (`meta`, `360dialog`).
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "meta" => Some(Provider::Meta),
            "360dialog" => Some(Provider::Dialog360),
            _ => None,
        }
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Meta => "meta",
            Provider::Dialog360 => "360dialog",
        }
    }
}

/// Where and how to reach one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub provider: Provider,
    /// `GRAPH_API_BASE` or `D360_API_BASE`, without a trailing slash.
    pub base: String,
    /// `GRAPH_API_VERSION` (Meta only).
    pub version: String,
    pub phone_number_id: String,
    /// The access token or the 360dialog API key.
    pub credential: String,
}

/// An HTTP request for the edge to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

impl Endpoint {
    fn messages_url(&self) -> String {
        let base = self.base.trim_end_matches('/');
        match self.provider {
            Provider::Meta => format!("{base}/{}/{}/messages", self.version, self.phone_number_id),
            Provider::Dialog360 => format!("{base}/messages"),
        }
    }

    fn auth_header(&self) -> (&'static str, String) {
        match self.provider {
            Provider::Meta => ("Authorization", format!("Bearer {}", self.credential)),
            Provider::Dialog360 => ("D360-API-KEY", self.credential.clone()),
        }
    }

    fn post_json(&self, body: &Value) -> HttpRequest {
        HttpRequest {
            method: "POST",
            url: self.messages_url(),
            headers: vec![
                self.auth_header(),
                ("Content-Type", "application/json".to_owned()),
            ],
            body: Some(body.to_string().into_bytes()),
        }
    }

    /// Sends `message` (Graph's message object, `to` included); adds
    /// `messaging_product` and `recipient_type` when absent.
    pub fn send_message(&self, message: &Value) -> HttpRequest {
        let mut body = message.clone();
        if let Some(obj) = body.as_object_mut() {
            obj.entry("messaging_product").or_insert(json!("whatsapp"));
            obj.entry("recipient_type").or_insert(json!("individual"));
        }
        self.post_json(&body)
    }

    /// Marks an inbound message read (blue ticks), optionally showing the
    /// typing indicator until the reply is sent or 25 s pass.
    pub fn mark_read(&self, wamid: &str, typing: bool) -> HttpRequest {
        let body = if typing {
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid,
                   "typing_indicator": {"type": "text"}})
        } else {
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid})
        };
        self.post_json(&body)
    }
}
