//! Console sessions: how a browser that signed in with the admin token once
//! is recognised afterwards, without the token ever living in the page.
//!
//! Signing in exchanges `ADMIN_TOKEN` for a random session secret carried in
//! an `HttpOnly; Secure; SameSite=Strict` cookie and a CSRF token the page
//! keeps in memory. The server stores only the secret's SHA-256, the CSRF
//! token, a fingerprint of the admin token and an expiry that slides forward
//! while the session is used. Every state-changing request made with the
//! cookie must repeat the CSRF token in `X-CSRF-Token`. Rotating
//! `ADMIN_TOKEN` ends every session, because their fingerprints no longer
//! match. Failed sign-ins are counted per client address and refused past
//! [`MAX_FAILURES`] in [`FAILURE_WINDOW_MS`].

use crate::whatsapp::webhook::verify::secrets_equal;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The cookie's name. `__Host-` makes browsers insist on `Secure`,
/// `Path=/` and no `Domain`, so no other host can set or read it.
pub const COOKIE: &str = "__Host-wa_session";
/// The header a cookie-authenticated request repeats its CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// How long an unused session lives (`SESSION_TTL_HOURS`, default 12).
pub const DEFAULT_TTL_HOURS: i64 = 12;
/// The longest a session lives however much it is used: a stolen cookie
/// stops working within a week.
pub const MAX_AGE_MS: i64 = 7 * 24 * 3_600_000;
/// Sessions are slid forward at most once a minute, so reading the console
/// does not write to D1 on every request.
pub const SLIDE_EVERY_MS: i64 = 60_000;
/// Failed sign-ins allowed from one client address per window.
pub const MAX_FAILURES: i64 = 10;
/// The window failed sign-ins are counted over.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Length of the cookie secret and of the CSRF token, in hex digits.
const SECRET_HEX: usize = 64;

/// A session about to be stored: the secret goes to the browser, the rest
/// to D1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The cookie's value; never stored.
    pub secret: String,
    pub stored: Stored,
}

/// A session as D1 keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct Stored {
    pub id_hash: String,
    pub csrf: String,
    pub token_fp: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

impl Stored {
    /// When the session ends however much it is used.
    pub fn ends_at(&self) -> i64 {
        self.created_at.saturating_add(MAX_AGE_MS)
    }
}

/// Opens a session for `admin_token` from two sets of random bytes.
pub fn open(
    secret: [u8; 32],
    csrf: [u8; 32],
    admin_token: &str,
    now: i64,
    ttl_ms: i64,
) -> NewSession {
    let secret = hex::encode(secret);
    NewSession {
        stored: Stored {
            id_hash: hash(&secret),
            csrf: hex::encode(csrf),
            token_fp: fingerprint(admin_token),
            created_at: now,
            last_seen_at: now,
            expires_at: now.saturating_add(ttl_ms.min(MAX_AGE_MS)),
        },
        secret,
    }
}

/// The SHA-256 (hex) of a cookie secret: the session's key in D1.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fingerprint of the admin token a session was opened with. Domain
/// separated, so it is not the token's plain hash.
pub fn fingerprint(admin_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"wa-edge console session\0");
    h.update(admin_token.as_bytes());
    hex::encode(h.finalize())
}

/// The session secret in a `Cookie` header, when it carries one shaped like
/// a secret this module makes.
pub fn secret_in(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| v.len() == SECRET_HEX && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value of a new session. A browser-session cookie (no
/// `Max-Age`): the server's sliding expiry is the one that counts.
pub fn set_cookie(secret: &str) -> String {
    format!("{COOKIE}={secret}; Path=/; HttpOnly; Secure; SameSite=Strict")
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// Methods that change nothing, which need no CSRF token.
pub fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Why a session does not admit a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No such session, or it expired, or it was signed out.
    Expired,
    /// The admin token changed since the session was opened.
    TokenRotated,
    /// A state-changing request without the session's CSRF token.
    Csrf,
}

/// What to do about a session that admits a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// The new expiry to store, when the session should be slid forward.
    pub slide_to: Option<i64>,
}

/// Whether `stored` admits a `method` request carrying `csrf` at `now`,
/// while the admin token is `admin_token`.
pub fn admit(
    stored: Option<&Stored>,
    admin_token: Option<&str>,
    method: &str,
    csrf: Option<&str>,
    now: i64,
    ttl_ms: i64,
) -> Result<Admitted, Refused> {
    let s = stored
        .filter(|s| s.expires_at > now && s.ends_at() > now)
        .ok_or(Refused::Expired)?;
    let current = admin_token.filter(|t| !t.is_empty()).map(fingerprint);
    if current.as_deref() != Some(s.token_fp.as_str()) {
        return Err(Refused::TokenRotated);
    }
    if !is_safe_method(method) && !csrf.is_some_and(|c| secrets_equal(c.trim(), &s.csrf)) {
        return Err(Refused::Csrf);
    }
    let slide_to = (now - s.last_seen_at >= SLIDE_EVERY_MS)
        .then(|| now.saturating_add(ttl_ms).min(s.ends_at()));
    Ok(Admitted { slide_to })
}

/// How a sign-in attempt ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// The token is right: open a session.
    Open,
    /// The token is wrong: count a failure.
    Wrong,
    /// Too many failures from this address: try again after this many seconds.
    Limited { retry_after_s: i64 },
    /// No admin token is configured, so there is nothing to sign in with.
    Closed,
}

/// Decides a sign-in. `attempts` counts the unsuccessful attempts from this
/// address within the window *including this one*, the oldest at
/// `oldest_failure_at`: the edge records the attempt and counts in one
/// transaction, so parallel guesses cannot all see a count under the limit.
pub fn sign_in(
    given: &str,
    admin_token: Option<&str>,
    attempts: i64,
    oldest_failure_at: Option<i64>,
    now: i64,
) -> SignIn {
    // Limited before the token is compared, so guesses past the limit learn
    // nothing, right or wrong.
    if attempts > MAX_FAILURES {
        let frees_at = oldest_failure_at
            .unwrap_or(now)
            .saturating_add(FAILURE_WINDOW_MS);
        let retry_after_s = ((frees_at - now).max(0) + 999) / 1000;
        return SignIn::Limited {
            retry_after_s: retry_after_s.max(1),
        };
    }
    match admin_token.filter(|t| !t.is_empty()) {
        None => SignIn::Closed,
        Some(t) if secrets_equal(given, t) => SignIn::Open,
        Some(_) => SignIn::Wrong,
    }
}

/// Reads a sign-in body, `{"token": "..."}`.
pub fn parse_sign_in(body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        token: String,
    }
    let b: Body = serde_json::from_slice(body)
        .map_err(|_| "The body must be {\"token\": \"<ADMIN_TOKEN>\"}.".to_owned())?;
    if b.token.is_empty() || b.token.len() > 4096 {
        return Err("token: must be the admin token.".to_owned());
    }
    Ok(b.token)
}

/// The client address sign-in failures are counted under: Cloudflare's
/// `CF-Connecting-IP` (set by the edge, not by the client); for IPv6 its
/// /64, which one subscriber holds whole; one shared bucket when it is
/// absent or unreadable (local runs).
pub fn client_key(cf_connecting_ip: Option<&str>) -> String {
    let ip = cf_connecting_ip.map(str::trim).unwrap_or_default();
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        Err(_) => "unknown".to_owned(),
    }
}
