//! The console's API decisions: the inbox's query, a conversation's JSON and
//! its last message's preview, the rules' "try it", and errors that name
//! their field.

use proptest::prelude::*;
use serde_json::json;
use wa_edge::api::console::*;
use wa_edge::api::{field_named_in, ApiError};
use wa_edge::db::console::ConversationRow;
use wa_edge::db::reads::ContactRow;
use wa_edge::inbound::rules::{answer, Rule};

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn search_text_is_trimmed_lowercased_and_taken_literally() {
    assert_eq!(search_text("  Ana "), Some("ana".into()));
    assert_eq!(search_text("50%_OFF\\"), Some("50%_off\\".into()));
    assert_eq!(search_text("GÓMEZ"), Some("gómez".into()));
    assert_eq!(search_text("   "), None);
}

#[test]
fn the_inbox_reads_its_filters() {
    let got = inbox_query(&q(&[
        ("q", "ana"),
        ("channel", "123"),
        ("unread", "true"),
        ("limit", "20"),
    ]))
    .unwrap();
    assert_eq!(got.search.as_deref(), Some("ana"));
    assert_eq!(got.channel.as_deref(), Some("123"));
    assert!(got.unread_only);
    assert_eq!(got.limit, 20);
    let none = inbox_query(&q(&[])).unwrap();
    assert_eq!(
        (none.search, none.channel, none.unread_only, none.limit),
        (None, None, false, 50)
    );
}

#[test]
fn bad_inbox_filters_are_400() {
    for bad in [
        q(&[("unread", "yes")]),
        q(&[("limit", "0")]),
        q(&[("cursor", "zz")]),
        q(&[("q", &"a".repeat(MAX_SEARCH + 1))]),
        q(&[("channel", &"1".repeat(MAX_CHANNEL + 1))]),
    ] {
        assert_eq!(inbox_query(&bad).unwrap_err().status, 400, "{bad:?}");
    }
}

#[test]
fn previews_say_what_a_message_is() {
    let p = |kind: &str, raw: serde_json::Value| preview(Some(kind), Some(&raw));
    assert_eq!(
        p("text", json!({"text": {"body": "hola"}})).as_deref(),
        Some("hola")
    );
    assert_eq!(
        p("image", json!({"image": {"caption": "menu"}})).as_deref(),
        Some("[Photo] menu")
    );
    assert_eq!(p("image", json!({"image": {}})).as_deref(), Some("[Photo]"));
    assert_eq!(
        p("document", json!({"document": {"filename": "a.pdf"}})).as_deref(),
        Some("[Document] a.pdf")
    );
    assert_eq!(
        p("reaction", json!({"reaction": {"emoji": "👍"}})).as_deref(),
        Some("Reacted 👍")
    );
    assert_eq!(
        p(
            "interactive",
            json!({"interactive": {"button_reply": {"title": "Yes"}}})
        )
        .as_deref(),
        Some("Yes")
    );
    assert_eq!(
        p("template", json!({"template": {"name": "hello"}})).as_deref(),
        Some("Template: hello")
    );
    assert_eq!(p("sticker", json!({})).as_deref(), Some("[Sticker]"));
    assert_eq!(p("some_2027_type", json!({})).as_deref(), Some("[Message]"));
    assert_eq!(preview(None, None), None);
    let long = p("text", json!({"text": {"body": "é".repeat(500)}})).unwrap();
    assert_eq!(long.chars().count(), PREVIEW_CHARS + 1);
    assert!(long.ends_with('…'));
}

#[test]
fn a_conversation_shows_its_window_unread_count_and_last_message() {
    let row = ConversationRow {
        conversation_id: Some("ct_1/123".into()),
        conversation_channel: Some("123".into()),
        last_activity_at: Some(1000),
        channel_name: Some("Shop".into()),
        last_inbound_at: Some(1000),
        unread: Some(2),
        last_id: Some("msg_1".into()),
        last_direction: Some("out".into()),
        last_type: Some("text".into()),
        last_raw: Some(r#"{"text":{"body":"hi"}}"#.into()),
        last_timestamp: Some(1000),
        last_status: None,
        last_outbox_state: Some("queued".into()),
    };
    let contact = ContactRow {
        id: Some("ct_1".into()),
        wa_id: Some("15551234567".into()),
        ..Default::default()
    };
    let v = conversation_json(&row, &contact, 1000 + 3600);
    assert_eq!(v["id"], "ct_1/123");
    assert_eq!(v["contact"]["phone"], "+15551234567");
    assert_eq!(v["channel_name"], "Shop");
    assert_eq!(v["unread"], 2);
    assert_eq!(
        v["window"],
        json!({"open": true, "closes_at": 1000 + 86_400})
    );
    assert_eq!(v["last_message"]["preview"], "hi");
    assert_eq!(v["last_message"]["status"], "queued");
    let closed = conversation_json(&row, &contact, 1000 + 86_400);
    assert_eq!(closed["window"]["open"], false);
    let never = conversation_json(
        &ConversationRow {
            last_inbound_at: None,
            ..row
        },
        &contact,
        0,
    );
    assert_eq!(never["window"], json!({"open": false, "closes_at": null}));
}

fn rule(body: serde_json::Value) -> Rule {
    let mut r = Rule::parse(body.to_string().as_bytes()).unwrap();
    r.id = "rule_1".into();
    r
}

#[test]
fn trying_a_sample_names_the_rule_that_would_answer() {
    let rules = vec![rule(
        json!({"priority": 1, "match": {"keyword": "price"}, "reply": {"type": "text", "text": {"body": "9 EUR"}}}),
    )];
    let s = Sample::parse(br#"{"text": " PRICE "}"#).unwrap();
    let a = answer(&rules, &s.inbound("123"), &|_| None);
    let v = tried(a.as_ref(), rules.len());
    assert_eq!(v["rule"]["id"], "rule_1");
    assert_eq!(v["reply"]["text"]["body"], "9 EUR");
    let other = Sample::parse(br#"{"text": "hello"}"#).unwrap();
    let none = tried(answer(&rules, &other.inbound("123"), &|_| None).as_ref(), 1);
    assert_eq!(none["rule"], serde_json::Value::Null);
    assert!(none["reason"].as_str().unwrap().contains("No enabled rule"));
    assert!(tried(None, 0)["reason"]
        .as_str()
        .unwrap()
        .contains("no rules"));
}

#[test]
fn trying_outside_hours_shows_the_away_message() {
    let rules = vec![rule(json!({"priority": 1, "match": {"any": true},
        "reply": {"type": "text", "text": {"body": "open"}},
        "hours": {"tz": "UTC", "open": [{"days": ["mon"], "from": "09:00", "to": "17:00"}],
                  "away": {"type": "text", "text": {"body": "closed"}}}}))];
    let s = Sample::parse(br#"{"text": "x"}"#).unwrap();
    // No local time known: outside hours.
    let v = tried(answer(&rules, &s.inbound("1"), &|_| None).as_ref(), 1);
    assert_eq!(v["reply"]["text"]["body"], "closed");
    assert!(v["reason"].as_str().unwrap().contains("Outside"));
}

#[test]
fn bad_samples_are_400() {
    for bad in [
        &b"[]"[..],
        br#"{"type": ""}"#,
        br#"{"text": 1}"#,
        br#"{"nope": 1}"#,
    ] {
        assert_eq!(
            Sample::parse(bad).map_err(|e| e.status),
            Err(400),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let long = format!(r#"{{"text": "{}"}}"#, "a".repeat(5000));
    assert_eq!(
        Sample::parse(long.as_bytes()).unwrap_err().field.as_deref(),
        Some("text")
    );
}

#[test]
fn errors_name_the_field_their_message_starts_with() {
    assert_eq!(
        field_named_in("description: at most 512 characters"),
        Some("description")
    );
    assert_eq!(
        field_named_in("interactive.action.buttons[3]: too long"),
        Some("interactive.action.buttons[3]")
    );
    assert_eq!(field_named_in("The body is not JSON: oops"), None);
    assert_eq!(field_named_in("no colon"), None);
    let e = ApiError::new(400, "invalid_profile", "about: too long").naming_its_field();
    assert_eq!(e.body()["error"]["field"], "about");
    let plain = ApiError::invalid("Something.");
    assert!(plain.body()["error"].get("field").is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_query_string_reads_without_panicking(q in "\\PC{0,120}", unread in "\\PC{0,6}") {
        let pairs = vec![("q".to_owned(), q.clone()), ("unread".to_owned(), unread)];
        if let Ok(got) = inbox_query(&pairs) {
            prop_assert!(q.chars().count() <= MAX_SEARCH);
            prop_assert_eq!(got.search, search_text(&q));
        }
    }

    #[test]
    fn any_preview_is_short(text in "\\PC{0,400}", kind in "[a-z_]{1,12}") {
        let raw = json!({"text": {"body": text}, kind.clone(): {"caption": text}});
        if let Some(p) = preview(Some(&kind), Some(&raw)) {
            prop_assert!(p.chars().count() <= PREVIEW_CHARS + 20);
        }
    }
}
