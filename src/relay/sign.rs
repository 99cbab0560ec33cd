//! The two signature schemes a destination's receiver checks: Meta's
//! `X-Hub-Signature-256` over the exact bytes, and Standard Webhooks'
//! `webhook-signature` over `id.timestamp.body`.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// `X-Hub-Signature-256` for `body` under a destination's app secret, as a
/// receiver written for Meta's webhook computes it.
pub fn meta(secret: &str, body: &[u8]) -> String {
    crate::whatsapp::webhook::signature::sign(body, secret.as_bytes())
}

/// Standard Webhooks' `webhook-signature` (`v1,<base64>`) of `body` sent
/// as message `id` at `timestamp` (unix s), under a `whsec_` secret (the
/// base64 after the prefix is the key). `None` for a secret that is not
/// base64.
pub fn standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", b64.encode(mac.finalize().into_bytes())))
}
