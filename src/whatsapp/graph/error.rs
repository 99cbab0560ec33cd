//! What a Graph (or 360dialog) answer means for an outbound message: sent,
//! worth retrying later, failed for good, failed because the credential no
//! longer works, or unknown.
//!
//! At most once: an attempt is retried only when Graph certainly did not
//! accept the message (it was throttled, it answered an error object, or the
//! connection failed before the request was sent). A 2xx without a message
//! id, a 5xx without Graph's error object (a gateway's page), a timeout or a
//! connection lost after the request was written leave the outcome
//! [`Outcome::Unknown`]: the message may have been sent, so it is never sent
//! again blindly. See
//! <https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes>.

use serde::Deserialize;
use serde_json::Value;

/// Graph's error object (`{"error": {...}}`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct GraphError {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<Value>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

/// The verdict on one send attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted; Graph's message id.
    Sent { wamid: String },
    /// Throttled or transient: try again no sooner than `retry_after_s`
    /// (the server's `Retry-After` when it gave one).
    Retry {
        reason: String,
        code: Option<i64>,
        retry_after_s: Option<u64>,
    },
    /// Will never succeed as it stands; do not retry.
    Failed { reason: String, code: Option<i64> },
    /// The credential was refused: fail and flag the channel.
    AuthFailed { reason: String, code: Option<i64> },
    /// Graph may or may not have accepted it; never resend blindly.
    Unknown { reason: String },
}

/// Graph codes that mean "slow down".
pub const THROTTLING_CODES: [i64; 5] = [4, 80007, 130429, 131056, 133016];
/// Graph codes that mean "transient on Meta's side".
pub const TRANSIENT_CODES: [i64; 4] = [1, 2, 131000, 131016];

fn reason(e: &GraphError, status: u16) -> String {
    let details = e
        .error_data
        .as_ref()
        .and_then(|d| d.get("details"))
        .and_then(Value::as_str);
    let text = details
        .or(e.message.as_deref())
        .unwrap_or("no error message");
    match e.code {
        Some(code) => format!("{code}: {text}"),
        None => format!("HTTP {status}: {text}"),
    }
}

/// Classifies a response to a send. `status` is the HTTP status, `body` the
/// response body, `retry_after` the `Retry-After` header.
pub fn classify(status: u16, body: &str, retry_after: Option<&str>) -> Outcome {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let retry_after_s = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    if (200..300).contains(&status) {
        return match json.pointer("/messages/0/id").and_then(Value::as_str) {
            Some(wamid) => Outcome::Sent {
                wamid: wamid.to_owned(),
            },
            // A 2xx without a message id (mark-as-read answers {"success": true}).
            None if json.get("success").and_then(Value::as_bool) == Some(true) => Outcome::Sent {
                wamid: String::new(),
            },
            None => Outcome::Unknown {
                reason: format!("HTTP {status} without a message id"),
            },
        };
    }
    let graph_error = json
        .get("error")
        .filter(|e| e.is_object())
        .and_then(|e| GraphError::deserialize(e).ok());
    let answered = graph_error.is_some();
    let error = graph_error.unwrap_or_default();
    let reason = reason(&error, status);
    let code = error.code;
    if status == 401 || code == Some(190) {
        return Outcome::AuthFailed { reason, code };
    }
    let throttled = status == 429 || code.is_some_and(|c| THROTTLING_CODES.contains(&c));
    if status >= 500 && !answered && !throttled {
        // Not Graph's own refusal: a gateway may have passed the request on.
        return Outcome::Unknown { reason };
    }
    let transient = status >= 500 || code.is_some_and(|c| TRANSIENT_CODES.contains(&c));
    if throttled || transient {
        return Outcome::Retry {
            reason,
            code,
            retry_after_s,
        };
    }
    Outcome::Failed { reason, code }
}

/// Failures that happen before a request is written: nothing was sent.
const NOT_SENT: [&str; 6] = [
    "connection refused",
    "econnrefused",
    "could not resolve",
    "dns",
    "no such host",
    "enotfound",
];

/// Outcome of a request that never got an answer. Only a failure to
/// connect at all is retried; anything else (a reset, a lost connection)
/// may have happened after Graph read the request.
pub fn network_failure(detail: &str) -> Outcome {
    let lower = detail.to_ascii_lowercase();
    if NOT_SENT.iter().any(|s| lower.contains(s)) {
        return Outcome::Retry {
            reason: "network: could not connect".into(),
            code: None,
            retry_after_s: None,
        };
    }
    Outcome::Unknown {
        reason: "network: the connection failed after the request was sent".into(),
    }
}

/// Outcome of a request that got no answer within the time allowed.
pub fn timed_out(seconds: u64) -> Outcome {
    Outcome::Unknown {
        reason: format!("no answer within {seconds} s"),
    }
}
