//! WhatsApp's vocabulary: the webhook (verification, signature, payload),
//! Graph and 360dialog requests and errors, and WhatsApp's rules for
//! messages, templates, profiles, media, numbers and the 24-hour window.

pub mod graph;
pub mod identity;
pub mod media;
pub mod message;
pub mod phone;
pub mod profile;
pub mod templates;
pub mod webhook;
pub mod window;

/// An http(s) URL with a dotted host and no whitespace.
pub fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        host.contains('.') && !r.chars().any(char::is_whitespace)
    })
}
