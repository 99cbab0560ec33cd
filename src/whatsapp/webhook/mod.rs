//! Meta's webhook protocol: the verification handshake, payload
//! authentication and the notification model.

pub mod payload;
pub mod signature;
pub mod verify;

/// Largest body `POST /webhook` accepts. Meta's notifications stay under
/// 3 MB; anything larger is refused with 413 before it is read whole.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// True for `application/json`, with or without parameters such as `charset`.
pub fn is_json_content_type(value: Option<&str>) -> bool {
    value
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The `Authorization` value for HTTP Basic credentials `user:pass`.
pub fn basic_auth_value(user_pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

/// Checks a 360dialog delivery's `Authorization` header against the
/// channel's `user:pass` secret, in constant time.
pub fn check_basic_auth(header: Option<&str>, user_pass: &str) -> bool {
    header.is_some_and(|h| verify::secrets_equal(h.trim(), &basic_auth_value(user_pass)))
}
