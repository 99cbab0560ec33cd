//! Console sessions: the cookie, the CSRF rule, expiry and sliding, token
//! rotation, and the sign-in limit.

use proptest::prelude::*;
use wa_edge::session::*;

const TTL: i64 = 12 * 3_600_000;
const NOW: i64 = 1_800_000_000_000;

fn opened() -> NewSession {
    open([7; 32], [9; 32], "admin-token", NOW, TTL)
}

#[test]
fn a_new_session_stores_only_the_hash_of_its_secret() {
    let s = opened();
    assert_eq!(s.secret.len(), 64);
    assert_ne!(s.stored.id_hash, s.secret);
    assert_eq!(s.stored.id_hash, hash(&s.secret));
    assert_eq!(s.stored.expires_at, NOW + TTL);
    assert_ne!(s.stored.csrf, s.secret);
    // The fingerprint is not the token's plain hash or the token.
    assert_ne!(s.stored.token_fp, "admin-token");
    assert_eq!(s.stored.token_fp, fingerprint("admin-token"));
}

#[test]
fn the_cookie_is_host_only_http_only_secure_and_strict() {
    let c = set_cookie("ab");
    assert!(c.starts_with("__Host-wa_session=ab;"));
    for part in ["Path=/", "HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(c.split("; ").any(|p| p == part), "{part} in {c}");
    }
    assert!(!c.contains("Domain"));
    assert!(clear_cookie().contains("Max-Age=0"));
}

#[test]
fn the_secret_is_read_from_its_own_cookie_only() {
    let s = opened().secret;
    assert_eq!(
        secret_in(&format!("a=1; __Host-wa_session={s}; b=2")),
        Some(s.as_str())
    );
    assert_eq!(secret_in(&format!("wa_session={s}")), None);
    assert_eq!(secret_in("__Host-wa_session=short"), None);
    assert_eq!(
        secret_in(&format!("__Host-wa_session={}", "z".repeat(64))),
        None
    );
    assert_eq!(secret_in(""), None);
}

#[test]
fn a_session_admits_reads_without_csrf_and_changes_only_with_it() {
    let s = opened().stored;
    let at = NOW + 1000;
    assert!(admit(Some(&s), Some("admin-token"), "GET", None, at, TTL).is_ok());
    assert!(admit(Some(&s), Some("admin-token"), "HEAD", None, at, TTL).is_ok());
    for method in ["POST", "PUT", "PATCH", "DELETE", "WHATEVER"] {
        assert_eq!(
            admit(Some(&s), Some("admin-token"), method, None, at, TTL),
            Err(Refused::Csrf),
            "{method}"
        );
        assert_eq!(
            admit(
                Some(&s),
                Some("admin-token"),
                method,
                Some("wrong"),
                at,
                TTL
            ),
            Err(Refused::Csrf)
        );
        assert!(admit(
            Some(&s),
            Some("admin-token"),
            method,
            Some(&s.csrf),
            at,
            TTL
        )
        .is_ok());
    }
}

#[test]
fn expired_unknown_and_rotated_sessions_are_refused() {
    let s = opened().stored;
    assert_eq!(
        admit(None, Some("admin-token"), "GET", None, NOW, TTL),
        Err(Refused::Expired)
    );
    assert_eq!(
        admit(
            Some(&s),
            Some("admin-token"),
            "GET",
            None,
            s.expires_at,
            TTL
        ),
        Err(Refused::Expired)
    );
    assert_eq!(
        admit(Some(&s), Some("new-token"), "GET", None, NOW, TTL),
        Err(Refused::TokenRotated)
    );
    assert_eq!(
        admit(Some(&s), None, "GET", None, NOW, TTL),
        Err(Refused::TokenRotated)
    );
}

#[test]
fn a_used_session_slides_forward_at_most_once_a_minute() {
    let s = opened().stored;
    let soon = admit(
        Some(&s),
        Some("admin-token"),
        "GET",
        None,
        NOW + 59_000,
        TTL,
    );
    assert_eq!(soon, Ok(Admitted { slide_to: None }));
    let later = NOW + SLIDE_EVERY_MS;
    let slid = admit(Some(&s), Some("admin-token"), "GET", None, later, TTL);
    assert_eq!(
        slid,
        Ok(Admitted {
            slide_to: Some(later + TTL)
        })
    );
}

#[test]
fn sign_in_is_limited_before_the_token_is_compared() {
    // `attempts` includes the one being decided.
    assert_eq!(
        sign_in("admin-token", Some("admin-token"), 1, Some(NOW), NOW),
        SignIn::Open
    );
    assert_eq!(
        sign_in("guess", Some("admin-token"), MAX_FAILURES, Some(NOW), NOW),
        SignIn::Wrong
    );
    let limited = sign_in(
        "admin-token",
        Some("admin-token"),
        MAX_FAILURES + 1,
        Some(NOW - 60_000),
        NOW,
    );
    assert_eq!(
        limited,
        SignIn::Limited {
            retry_after_s: (FAILURE_WINDOW_MS - 60_000) / 1000
        }
    );
    assert_eq!(sign_in("x", None, 1, None, NOW), SignIn::Closed);
    assert_eq!(sign_in("x", Some(""), 1, None, NOW), SignIn::Closed);
}

#[test]
fn a_session_ends_after_a_week_however_much_it_is_used() {
    let s = opened().stored;
    let late = s.ends_at() - 1;
    let used = Stored {
        last_seen_at: late - SLIDE_EVERY_MS,
        expires_at: late + TTL,
        ..s.clone()
    };
    // Sliding never passes the end.
    let admitted = admit(Some(&used), Some("admin-token"), "GET", None, late, TTL).unwrap();
    assert_eq!(admitted.slide_to, Some(s.ends_at()));
    assert_eq!(
        admit(
            Some(&used),
            Some("admin-token"),
            "GET",
            None,
            s.ends_at(),
            TTL
        ),
        Err(Refused::Expired)
    );
    assert_eq!(s.ends_at(), NOW + MAX_AGE_MS);
}

#[test]
fn a_sign_in_body_is_exactly_a_token() {
    assert_eq!(parse_sign_in(br#"{"token":"abc"}"#), Ok("abc".into()));
    for bad in [
        &b"{}"[..],
        b"",
        b"[]",
        br#"{"token":""}"#,
        br#"{"token":1}"#,
        br#"{"token":"a","x":1}"#,
    ] {
        assert!(
            parse_sign_in(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn failures_are_counted_per_client_address() {
    assert_eq!(client_key(Some(" 203.0.113.9 ")), "203.0.113.9");
    assert_eq!(client_key(None), "unknown");
    assert_eq!(client_key(Some(&"9".repeat(200))), "unknown");
    assert_eq!(client_key(Some("not an address")), "unknown");
    // One IPv6 subscriber holds a whole /64: one bucket for all of it.
    let a = client_key(Some("2001:db8:1:2:aaaa::1"));
    assert_eq!(a, "2001:db8:1:2::/64");
    assert_eq!(client_key(Some("2001:0db8:0001:0002:ffff:1:2:3")), a);
    assert_ne!(client_key(Some("2001:db8:1:3::1")), a);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn no_csrf_token_but_the_sessions_own_opens_a_change(given in "\\PC{0,80}", method in "(POST|PUT|PATCH|DELETE)") {
        let s = opened().stored;
        let r = admit(Some(&s), Some("admin-token"), &method, Some(&given), NOW, TTL);
        prop_assert_eq!(r.is_ok(), given.trim() == s.csrf);
    }

    #[test]
    fn any_cookie_header_reads_without_panicking(h in "\\PC{0,200}") {
        if let Some(v) = secret_in(&h) {
            prop_assert_eq!(v.len(), 64);
        }
    }
}
