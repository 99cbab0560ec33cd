//! API keys: what a key body may say, how keys look and are stored, and
//! that no key ever does more than its scopes and channels allow.

use proptest::prelude::*;
use wa_edge::keys::{
    hash, looks_like_key, new_key, parse_new, should_record_use, Caller, Denied, Key, Need, Scope,
};

#[test]
fn a_key_body_is_read_strictly_and_names_the_field() {
    let ok = parse_new(br#"{"name": " CRM ", "scopes": ["read", "send", "read"]}"#).unwrap();
    assert_eq!(ok.name, "CRM");
    assert_eq!(
        ok.scopes,
        vec![Scope::Send, Scope::Read],
        "sorted, duplicates dropped"
    );
    for (body, field) in [
        (r#"{"name": "", "scopes": ["send"]}"#, "name"),
        (r#"{"name": "x", "scopes": []}"#, "scopes"),
        (r#"{"name": "x", "scopes": ["write"]}"#, "scopes: \"write\""),
        (
            r#"{"name": "x", "scopes": ["send"], "expires": 1}"#,
            "expires",
        ),
        (
            r#"{"name": "x", "scopes": ["send"], "channels": []}"#,
            "channels",
        ),
        (
            r#"{"name": "x", "scopes": ["send"], "channels": ["12a"]}"#,
            "channels",
        ),
        (
            r#"{"name": "x", "scopes": ["read"], "channels": ["1"]}"#,
            "channels",
        ),
        (
            r#"{"name": "x", "scopes": ["send", "admin"], "channels": ["1"]}"#,
            "channels",
        ),
        (r#"{"name": "a\u0000b", "scopes": ["send"]}"#, "name"),
        (r#"{"scopes": ["send"]}"#, "name"),
        ("[]", "object"),
    ] {
        let e = parse_new(body.as_bytes()).unwrap_err();
        assert!(e.contains(field), "{body}: {e}");
    }
    let limited =
        parse_new(br#"{"name": "bot", "scopes": ["send"], "channels": ["2", "1", "2"]}"#).unwrap();
    assert_eq!(limited.channels, Some(vec!["1".into(), "2".into()]));
}

#[test]
fn keys_are_recognisable_random_and_stored_only_as_a_hash() {
    let a = new_key([1; 32]);
    let b = new_key([2; 32]);
    assert!(a.starts_with("wak_") && a.len() == 68);
    assert!(looks_like_key(&a) && looks_like_key(&b));
    assert_ne!(hash(&a), hash(&b));
    assert_eq!(hash(&a).len(), 64);
    assert!(!hash(&a).contains(&a[4..]), "the hash is not the key");
    for not_a_key in [
        "",
        "wak_",
        "e2e-admin-token",
        &a.to_uppercase(),
        &format!("{a}0"),
        &a[..67],
    ] {
        assert!(!looks_like_key(not_a_key), "{not_a_key}");
    }
}

#[test]
fn a_keys_use_is_recorded_at_most_once_a_minute() {
    assert!(should_record_use(None, 1_000));
    assert!(!should_record_use(Some(1_000), 60_999));
    assert!(should_record_use(Some(1_000), 61_000));
}

fn scope() -> impl Strategy<Value = Scope> {
    prop::sample::select(vec![Scope::Send, Scope::Read, Scope::Admin])
}

fn need() -> impl Strategy<Value = Need> {
    prop::sample::select(vec![
        Need::Nothing,
        Need::Anyone,
        Need::Read,
        Need::Send,
        Need::Admin,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_key_is_permitted_exactly_what_its_scopes_grant(
        scopes in prop::collection::vec(scope(), 0..4),
        need in need(),
        channels in prop::option::of(prop::collection::vec("[1-4]", 1..3)),
        channel in "[1-4]",
    ) {
        let caller = Caller::Key(Key { id: "key_x".into(), scopes: scopes.clone(), channels: channels.clone() });
        let admin = scopes.contains(&Scope::Admin);
        let granted = match need {
            Need::Nothing | Need::Anyone => true,
            Need::Read => admin || scopes.contains(&Scope::Read),
            Need::Send => admin || scopes.contains(&Scope::Send),
            Need::Admin => admin,
        };
        prop_assert_eq!(caller.permits(need).is_ok(), granted);
        if let Err(d) = caller.permits(need) {
            prop_assert_eq!(d, Denied::Scope(need));
        }
        let may = channels.as_ref().is_none_or(|c| c.contains(&channel));
        prop_assert_eq!(caller.may_use_channel(&channel).is_ok(), may);
        prop_assert!(Caller::Root.permits(need).is_ok());
        prop_assert!(Caller::Root.may_use_channel(&channel).is_ok());
        // Nobody may do anything but use a public route.
        prop_assert_eq!(Caller::Anonymous.permits(need).is_ok(), need == Need::Nothing);
        prop_assert!(Caller::Anonymous.may_use_channel(&channel).is_err());
    }
}
