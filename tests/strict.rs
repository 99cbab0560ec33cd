//! API input is strict, stored configuration lenient.

use serde_json::json;
use wa_edge::channels::Channel;
use wa_edge::inbound::rules::Rule;

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
