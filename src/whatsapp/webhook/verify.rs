//! The `GET /webhook` subscription handshake Meta performs when a callback URL
//! is saved in the app dashboard. See
//! <https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests>.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Returns the challenge to echo when the request is a subscription for our
/// verify token, or `None` (answered 403).
///
/// `query` holds the decoded query pairs. The tokens are compared through
/// their SHA-256 digests so neither their content nor their length leaks
/// through timing.
pub fn challenge_response<'a>(
    query: &'a [(String, String)],
    verify_token: Option<&str>,
) -> Option<&'a str> {
    let expected = verify_token.filter(|t| !t.is_empty())?;
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("hub.mode")? != "subscribe" {
        return None;
    }
    let given = get("hub.verify_token")?;
    if !secrets_equal(given, expected) {
        return None;
    }
    get("hub.challenge").filter(|c| !c.is_empty())
}

/// Constant-time equality of a presented secret and the configured one.
pub fn secrets_equal(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into()
}
