//! The two readings of a delivery (Meta's exact shape in one pass, items
//! kept as raw text; any other body as a `Value`) plan the same rows: every
//! fixture, and generated bodies with odd items (missing keys, wrong types,
//! duplicate keys, nulls), give the same plan either way, raw JSON compared
//! as JSON.

mod common;

use common::{fixture, plan};
use proptest::prelude::*;
use serde_json::Value;
use wa_edge::inbound::ingest::{kinds, Plan, RawJson};
use wa_edge::whatsapp::webhook::payload::Envelope;

/// `body` with a root key Meta does not send, so it is read as a `Value`.
fn as_value_reading(body: &str) -> Vec<u8> {
    let (head, rest) = body.split_at(body.find('{').expect("an object") + 1);
    format!("{head}\"x_other\":1,{rest}").into_bytes()
}

fn canonical(raw: &str) -> String {
    serde_json::from_str::<Value>(raw)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| raw.to_owned())
}

fn canonical_raw(raw: &RawJson) -> RawJson {
    RawJson::of_value(&serde_json::from_str::<Value>(raw.as_str()).unwrap_or(Value::Null))
}

/// The plan with each message's and status's raw JSON written out the one
/// way a `Value` writes it.
fn normalized(mut p: Plan) -> Plan {
    p.messages
        .iter_mut()
        .for_each(|m| m.raw = canonical_raw(&m.raw));
    p.statuses
        .iter_mut()
        .for_each(|s| s.raw = canonical_raw(&s.raw));
    p
}

fn both_readings(body: &str) -> (Plan, Plan) {
    let slow = plan(&as_value_reading(body));
    let fast = plan(body.as_bytes());
    (normalized(fast), normalized(slow))
}

#[test]
fn every_fixture_is_read_in_one_pass_and_plans_what_the_value_reading_plans() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut fast = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(name) = name.strip_suffix(".json") else {
            continue;
        };
        let body = String::from_utf8(fixture(name)).unwrap();
        if Envelope::read(body.as_bytes()).is_some() {
            fast += 1;
        }
        let (a, b) = both_readings(&body);
        assert_eq!(a, b, "{name}");
    }
    // Meta's own shapes take the one-pass reading (a fixture without a
    // change's field, or with another root, does not).
    assert!(fast > 60, "{fast} fixtures read in one pass");
}

#[test]
fn a_status_keeps_the_raw_json_meta_sent() {
    let item = r#"{"id":"wamid.A","status":"read","timestamp":"1700000000","recipient_id":"15551234567","note":"Gr\u00fc\u00dfe"}"#;
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"phone_number_id":"106540352242922"}},"statuses":[{item}]}}}}]}}]}}"#
    );
    let p = plan(body.as_bytes());
    assert_eq!(p.statuses.len(), 1);
    assert_eq!(p.statuses[0].raw.as_str(), item);
    // Read as a Value, the same item is written out again.
    let slow = plan(&as_value_reading(&body));
    assert_eq!(slow.statuses[0].raw.as_str(), canonical(item));
    assert_ne!(slow.statuses[0].raw.as_str(), item);
}

#[test]
fn shapes_meta_does_not_send_are_read_as_a_value() {
    let change = r#"{"field":"messages","value":{"statuses":[]}}"#;
    for body in [
        // A root, entry or change as an array: serde would read a struct
        // from one by position.
        r#"["whatsapp_business_account",[]]"#.to_owned(),
        format!(r#"{{"object":"whatsapp_business_account","entry":[["1",1,[{change}]]]}}"#),
        r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[["messages",{}]]}]}"#.to_owned(),
        // A duplicate key: a Value keeps the last.
        r#"{"object":"x","object":"whatsapp_business_account","entry":[]}"#.to_owned(),
        // A change without its field.
        r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"statuses":[]}}]}]}"#.to_owned(),
    ] {
        assert!(Envelope::read(body.as_bytes()).is_none(), "{body}");
    }
}

/// A JSON value of the kinds Meta's keys may hold, and some they never do.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"read\"".to_owned()),
        Just("\"delivered\"".to_owned()),
        Just("\"group\"".to_owned()),
        Just("\"1700000000\"".to_owned()),
        Just("\" 1700000001 \"".to_owned()),
        Just("1700000002".to_owned()),
        Just("-3".to_owned()),
        Just("1.5".to_owned()),
        Just("1e400".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("\"15551234567\"".to_owned()),
        Just("\"US.13491208655302741918\"".to_owned()),
        Just("\"wamid.\\u0041B\"".to_owned()),
        Just("[]".to_owned()),
        Just("[{\"code\":131047}]".to_owned()),
        Just("{}".to_owned()),
        Just("{\"id\":\"c1\",\"origin\":{\"type\":\"service\"}}".to_owned()),
        Just("{\"billable\":true,\"category\":\"service\"}".to_owned()),
        Just("{\"body\":\"hi \\ud83d\\ude9a\"}".to_owned()),
    ]
}

/// An object of some of `keys` (repeats allowed) with any of [`scalar`],
/// after `base`'s fields half the time (so many items are usable, and a
/// generated key may repeat one of them).
fn object(keys: &'static [&'static str], base: &'static str) -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec((prop::sample::select(keys), scalar()), 0..6),
    )
        .prop_map(move |(with_base, pairs)| {
            let mut fields: Vec<String> =
                pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            if with_base {
                fields.insert(0, base.to_owned());
            }
            format!("{{{}}}", fields.join(","))
        })
}

const STATUS: &str =
    r#""id":"wamid.S1","status":"sent","timestamp":"1700000000","recipient_id":"15551234567""#;
const MESSAGE: &str = r#""id":"wamid.M1","from":"15551234567","timestamp":"1700000000","type":"text","text":{"body":"hi"}"#;

const STATUS_KEYS: &[&str] = &[
    "id",
    "status",
    "timestamp",
    "recipient_id",
    "recipient_user_id",
    "recipient_type",
    "recipient_participant_id",
    "conversation",
    "pricing",
    "errors",
    "biz_opaque_callback_data",
    "other",
];

const MESSAGE_KEYS: &[&str] = &[
    "id",
    "from",
    "from_user_id",
    "timestamp",
    "type",
    "text",
    "context",
    "image",
    "to",
];

const VALUE_KEYS: &[&str] = &["messaging_product", "metadata", "contacts", "errors"];

/// A `messages` change's value: well-formed lists of generated items, and
/// sometimes a generated key beside them (a null list, a bad metadata, a
/// second list of the same name).
fn change_value() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(object(STATUS_KEYS, STATUS), 0..4),
        prop::collection::vec(object(MESSAGE_KEYS, MESSAGE), 0..3),
        prop::option::of((prop::sample::select(VALUE_KEYS), scalar())),
        prop::option::of(prop::sample::select(&["statuses", "messages"][..])),
        any::<bool>(),
    )
        .prop_map(|(statuses, messages, extra, twice, metadata)| {
            let mut fields = Vec::new();
            if metadata {
                fields.push(
                    r#""metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}"#
                        .to_owned(),
                );
            }
            fields.push(r#""contacts":[{"wa_id":"15551234567","profile":{"name":"A"}}]"#.to_owned());
            fields.push(format!("\"statuses\":[{}]", statuses.join(",")));
            fields.push(format!("\"messages\":[{}]", messages.join(",")));
            if let Some((k, v)) = extra {
                fields.push(format!("\"{k}\":{v}"));
            }
            if let Some(k) = twice {
                fields.push(format!("\"{k}\":[]"));
            }
            format!("{{{}}}", fields.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn both_readings_plan_the_same_rows(values in prop::collection::vec(change_value(), 1..3)) {
        let changes: Vec<String> = values
            .iter()
            .map(|v| format!(r#"{{"field":"messages","value":{v}}}"#))
            .collect();
        let body = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","time":1700000000,"changes":[{}]}}]}}"#,
            changes.join(",")
        );
        prop_assert!(Envelope::read(body.as_bytes()).is_some());
        let (fast, slow) = both_readings(&body);
        if serde_json::from_str::<Value>(&body).is_ok() {
            prop_assert_eq!(&fast, &slow);
            // Usable items are planned (the generator is not all noise).
            // (A second, empty `statuses` list replaces the first.)
            if body.contains(STATUS) && !body.contains(r#""statuses":[]"#) {
                prop_assert!(!fast.statuses.is_empty() || !fast.events.is_empty());
            }
        } else {
            // A number beyond f64's range: a Value cannot hold the body (a
            // dead letter); the one-pass reading still plans each item.
            prop_assert!(slow.events.iter().all(|e| e.kind == kinds::DEAD_LETTER));
            prop_assert!(fast.events.iter().all(|e| e.kind != kinds::DEAD_LETTER));
        }
    }
}
