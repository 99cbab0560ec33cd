//! API input is strict, stored configuration lenient.

use proptest::prelude::*;
use serde_json::json;
use wa_edge::channels::Channel;
use wa_edge::inbound::rules::Rule;
use wa_edge::strict::whole_number;

/// The largest magnitude D1 stores exactly.
const EXACT: u64 = (1 << 53) - 1;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every integer is taken as itself within ±(2^53 - 1) and refused
    /// beyond, whichever way JSON spells it.
    #[test]
    fn a_whole_number_is_taken_exactly_when_d1_stores_it_exactly(
        i in prop_oneof![any::<i64>(), -(EXACT as i64 + 2)..=(EXACT as i64 + 2)],
    ) {
        let exact = (i.unsigned_abs() <= EXACT).then_some(i);
        prop_assert_eq!(whole_number(&json!(i)), exact);
        prop_assert_eq!(whole_number(&json!(i as f64)), exact);
    }
}

#[test]
fn the_extremes_of_a_64_bit_integer_are_refused() {
    for i in [i64::MIN, i64::MIN + 1, i64::MAX] {
        assert_eq!(whole_number(&json!(i)), None, "{i}");
    }
    assert_eq!(whole_number(&json!(u64::MAX)), None);
    let body = json!({"priority": i64::MIN, "match": {"any": true}, "mark_read": true});
    assert!(Rule::parse(body.to_string().as_bytes()).is_err());
}

#[test]
fn a_rule_from_the_api_with_an_unknown_field_is_refused_naming_it() {
    let reply = json!({"type": "text", "text": {"body": "hi"}});
    for (body, field) in [
        (
            json!({"priority": 1, "match": {"any": true}, "reply": reply, "colour": "red"}),
            "colour",
        ),
        (
            json!({"priority": 1, "match": {"any": true, "keywrd": "x"}, "reply": reply}),
            "match.keywrd",
        ),
        (
            json!({"priority": 1, "match": {"any": true}, "reply": reply,
                   "hours": {"tz": "Europe/Berlin", "open": [{"days": ["mon"], "from": "09:00", "to": "17:00", "dayz": 1}]}}),
            "hours.open[0].dayz",
        ),
    ] {
        let e = Rule::parse(body.to_string().as_bytes()).unwrap_err();
        assert!(
            e.0.contains(&format!("{field}: is not a known field")),
            "{}",
            e.0
        );
    }
    // Explicit nulls for optional fields are fine.
    let ok = json!({"priority": 1, "match": {"any": true, "keyword": null}, "reply": reply, "hours": null});
    assert!(Rule::parse(ok.to_string().as_bytes()).is_ok());
}

#[test]
fn a_stored_rule_or_channel_with_a_field_from_a_newer_release_still_loads() {
    let rule: Rule = serde_json::from_value(json!({"id": "rule_1", "priority": 1,
        "match": {"any": true, "future_matcher": "x"}, "reply": {"type": "text", "text": {"body": "hi"}},
        "future_setting": true}))
    .unwrap();
    assert_eq!(rule.id, "rule_1");
    let channel: Channel =
        serde_json::from_value(json!({"phone_number_id": "1", "provider": "meta",
        "credential_secret": "TOKEN_A", "future_field": [1, 2]}))
        .unwrap();
    assert_eq!(channel.credential_secret, "TOKEN_A");
}

#[test]
fn a_channel_patch_with_an_unknown_field_is_refused() {
    let c = Channel::parse(
        br#"{"phone_number_id": "1", "provider": "meta", "credential_secret": "TOKEN_A"}"#,
    )
    .unwrap();
    let e = c.patched(br#"{"nmae": "Shop"}"#).unwrap_err();
    assert!(e.0.contains("nmae: is not a known field"), "{}", e.0);
    assert_eq!(
        c.patched(br#"{"name": "Shop"}"#).unwrap().name.as_deref(),
        Some("Shop")
    );
}
