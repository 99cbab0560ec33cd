mod common;

use common::{fixture_bytes, sign};
use wa_edge::whatsapp::webhook::signature::{parse_secrets, verify, SignatureError};

const SECRET: &str = "app-secret-one";

fn secrets(list: &str) -> Vec<Vec<u8>> {
    parse_secrets(list)
}

#[test]
fn github_published_vector_verifies() {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let result = verify(
        Some(header),
        b"Hello, World!",
        &secrets("It's a Secret to Everybody"),
    );
    assert_eq!(result, Ok(0));
    assert_eq!(sign(b"Hello, World!", "It's a Secret to Everybody"), header);
}

#[test]
fn escaped_non_ascii_body_verifies_over_the_bytes_as_sent() {
    let body = fixture_bytes("wire_escaped.body");
    assert!(
        body.windows(6).any(|w| w == b"\\u00fc"),
        "fixture keeps Meta's \\u escapes"
    );
    assert!(
        body.windows(2).any(|w| w == b"\\/"),
        "fixture keeps Meta's \\/ escapes"
    );
    let header = sign(&body, SECRET);
    assert_eq!(verify(Some(&header), &body, &secrets(SECRET)), Ok(0));

    // The same content re-serialised (unescaped) is a different byte string
    // and must not verify under the original signature.
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let reserialised = serde_json::to_vec(&value).unwrap();
    assert_ne!(reserialised, body);
    assert_eq!(
        verify(Some(&header), &reserialised, &secrets(SECRET)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn unescaping_a_slash_breaks_the_signature() {
    let body = br#"{"url":"https:\/\/example.com"}"#;
    let header = sign(body, SECRET);
    assert_eq!(verify(Some(&header), body, &secrets(SECRET)), Ok(0));
    let plain = br#"{"url":"https://example.com"}"#;
    assert_eq!(
        verify(Some(&header), plain, &secrets(SECRET)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn wrong_secret_is_a_mismatch() {
    let body = b"{}";
    let header = sign(body, "someone-else");
    assert_eq!(
        verify(Some(&header), body, &secrets(SECRET)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn rotated_secret_list_accepts_old_and_new() {
    let body = b"{\"entry\":[]}";
    let list = secrets(" new-secret , app-secret-one ,");
    assert_eq!(list.len(), 2);
    assert_eq!(verify(Some(&sign(body, "new-secret")), body, &list), Ok(0));
    assert_eq!(verify(Some(&sign(body, SECRET)), body, &list), Ok(1));
    assert_eq!(
        verify(Some(&sign(body, "retired")), body, &list),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn missing_header_is_refused() {
    assert_eq!(
        verify(None, b"{}", &secrets(SECRET)),
        Err(SignatureError::Missing)
    );
}

#[test]
fn malformed_headers_are_refused() {
    let body = b"{}";
    let good = sign(body, SECRET);
    let hex = good.trim_start_matches("sha256=");
    for header in [
        hex.to_owned(),
        format!("sha1={hex}"),
        format!("sha256={}", &hex[..62]),
        format!("sha256={hex}00"),
        format!("sha256={}zz", &hex[..62]),
        String::new(),
    ] {
        assert_eq!(
            verify(Some(&header), body, &secrets(SECRET)),
            Err(SignatureError::Malformed),
            "{header:?}"
        );
    }
}

#[test]
fn prefix_case_and_surrounding_space_are_tolerated() {
    let body = b"{}";
    let header = sign(body, SECRET).replace("sha256=", "SHA256=");
    assert_eq!(
        verify(Some(&format!(" {header} ")), body, &secrets(SECRET)),
        Ok(0)
    );
}

#[test]
fn no_configured_secret_fails_closed() {
    let body = b"{}";
    assert_eq!(
        verify(Some(&sign(body, SECRET)), body, &secrets(" , ")),
        Err(SignatureError::NoSecret)
    );
}

#[test]
fn dialog360_basic_auth_matches_only_the_configured_pair() {
    use wa_edge::whatsapp::webhook::{basic_auth_value, check_basic_auth};
    assert_eq!(
        basic_auth_value("hookuser:hookpass"),
        "Basic aG9va3VzZXI6aG9va3Bhc3M="
    );
    assert!(check_basic_auth(
        Some(" Basic aG9va3VzZXI6aG9va3Bhc3M= "),
        "hookuser:hookpass"
    ));
    assert!(!check_basic_auth(
        Some("Basic aG9va3VzZXI6d3Jvbmc="),
        "hookuser:hookpass"
    ));
    assert!(!check_basic_auth(
        Some("Bearer hookuser:hookpass"),
        "hookuser:hookpass"
    ));
    assert!(!check_basic_auth(None, "hookuser:hookpass"));
}

mod any_body {
    use proptest::prelude::*;
    use wa_edge::whatsapp::webhook::signature::{
        claimed, mac, matching, sign, verify, SignatureError,
    };

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever the body and secrets, a signature made with one of the
        /// secrets is accepted as the first equal secret's, the MAC the edge
        /// computes elsewhere (`claimed` + `matching`) agrees with `verify`,
        /// and one flipped bit of the body or the MAC is refused.
        #[test]
        fn a_signature_is_accepted_exactly_for_its_bytes_and_secret(
            body in prop::collection::vec(any::<u8>(), 0..2000),
            secrets in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..80), 1..4),
            signer in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
        ) {
            let k = signer.index(secrets.len());
            let header = sign(&body, &secrets[k]);
            let first = secrets.iter().position(|s| *s == secrets[k]).unwrap();
            prop_assert_eq!(verify(Some(&header), &body, &secrets), Ok(first));
            let c = claimed(Some(&header), &secrets).unwrap();
            prop_assert_eq!(Some(c), mac(&body, &secrets[k]));
            prop_assert_eq!(matching(&c, secrets.iter().map(|s| mac(&body, s))), Ok(first));
            if !body.is_empty() {
                let mut other = body.clone();
                let i = flip.index(other.len());
                other[i] ^= 1;
                prop_assert_eq!(verify(Some(&header), &other, &secrets), Err(SignatureError::Mismatch));
            }
            let mut wrong = c;
            wrong[flip.index(32)] ^= 0x80;
            prop_assert_eq!(matching(&wrong, secrets.iter().map(|s| mac(&body, s))), Err(SignatureError::Mismatch));
        }
    }
}
