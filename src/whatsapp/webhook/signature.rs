//! `X-Hub-Signature-256` authentication of webhook deliveries.
//!
//! Meta signs the exact bytes it sends (with non-ASCII text `\uXXXX`-escaped and
//! `/` possibly written `\/`), so the MAC is computed over the raw body before
//! any parsing. See
//! <https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads>.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header was absent.
    #[error("X-Hub-Signature-256 header is missing")]
    Missing,
    /// The header was not `sha256=` followed by 64 hex digits.
    #[error("X-Hub-Signature-256 header is not of the form sha256=<64 hex digits>")]
    Malformed,
    /// No configured secret produces this signature for this body.
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
    /// No app secret is configured, so nothing can be authenticated.
    #[error("no app secret is configured")]
    NoSecret,
}

/// Splits `WHATSAPP_APP_SECRET` into its secrets: a comma-separated list lets
/// a new secret be added before the old one is removed.
pub fn parse_secrets(raw: &str) -> Vec<Vec<u8>> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec())
        .collect()
}

/// Decodes the header value into the 32 MAC bytes.
fn decode_header(header: &str) -> Result<[u8; 32], SignatureError> {
    let header = header.trim();
    let hex_part = header
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256="))
        .and_then(|_| header.get(7..))
        .ok_or(SignatureError::Malformed)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| SignatureError::Malformed)?;
    Ok(out)
}

/// The MAC `header` claims, before any MAC is computed: refuses a
/// delivery with no secret configured, no header, or a malformed one.
pub fn claimed(header: Option<&str>, secrets: &[Vec<u8>]) -> Result<[u8; 32], SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    decode_header(header.ok_or(SignatureError::Missing)?)
}

/// The index of the first of `macs` (one per secret, in order) equal to
/// the `claimed` MAC, each compared in constant time; a MAC that could not
/// be computed matches nothing.
pub fn matching(
    claimed: &[u8; 32],
    macs: impl IntoIterator<Item = Option<[u8; 32]>>,
) -> Result<usize, SignatureError> {
    use subtle::ConstantTimeEq;
    macs.into_iter()
        .position(|mac| mac.is_some_and(|mac| bool::from(mac.ct_eq(claimed))))
        .ok_or(SignatureError::Mismatch)
}

/// HMAC-SHA256 of `body` under `secret` (`None` cannot happen: HMAC
/// accepts keys of any length).
pub fn mac(body: &[u8], secret: &[u8]) -> Option<[u8; 32]> {
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(body);
    Some(mac.finalize().into_bytes().into())
}

/// Checks `header` against `body` with every secret, in constant time per
/// secret. Returns the index of the secret that matched.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[Vec<u8>],
) -> Result<usize, SignatureError> {
    let claimed = claimed(header, secrets)?;
    matching(&claimed, secrets.iter().map(|secret| mac(body, secret)))
}

/// Computes the header value Meta would send for `body` under `secret`.
/// Used by tests and by tools that replay deliveries.
pub fn sign(body: &[u8], secret: &[u8]) -> String {
    mac(body, secret).map_or_else(String::new, |m| format!("sha256={}", hex::encode(m)))
}
