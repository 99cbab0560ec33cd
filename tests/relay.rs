//! The relay's decisions: destinations, filters, both signature schemes
//! against their published vectors, and the retry schedule.

mod common;

use common::{fixture, plan};
use proptest::prelude::*;
use serde_json::{json, Value};
use wa_edge::relay::destination::{self, is_destination_url, Filter, Format, Items};
use wa_edge::relay::filter::{meta_body, takes_event};
use wa_edge::relay::schedule::{self, Answer, Next, BACKOFF_S};
use wa_edge::relay::{events, sign};

#[test]
fn standard_webhooks_signature_matches_the_published_vector() {
    assert_eq!(
        sign::standard(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#
        )
        .as_deref(),
        Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    );
    assert_eq!(
        sign::standard("whsec_!!!", "m", 1, b"{}"),
        None,
        "not base64"
    );
}

#[test]
fn meta_signature_is_what_a_meta_receiver_checks() {
    let body = fixture("text");
    let header = sign::meta("0123456789abcdef0123456789abcdef", &body);
    let secrets = vec![b"0123456789abcdef0123456789abcdef".to_vec()];
    assert!(wa_edge::whatsapp::webhook::signature::verify(Some(&header), &body, &secrets).is_ok());
    let other = vec![b"another secret".to_vec()];
    assert!(wa_edge::whatsapp::webhook::signature::verify(Some(&header), &body, &other).is_err());
}

#[test]
fn secrets_have_the_shape_each_receiver_expects() {
    let meta = destination::new_secret(Format::Meta, [7; 32]);
    assert_eq!(meta.len(), 32);
    assert!(meta.bytes().all(|b| b.is_ascii_hexdigit()));
    let ev = destination::new_secret(Format::Events, [7; 32]);
    assert!(ev.starts_with("whsec_"));
    assert!(sign::standard(&ev, "m", 1, b"{}").is_some());
}

#[test]
fn destination_urls_are_https_or_loopback_http() {
    for ok in [
        "https://crm.example.com/hook",
        "https://a.b:8443/x?y=1",
        "http://127.0.0.1:9000/h",
        "http://localhost/h",
        "http://[::1]:80/",
    ] {
        assert!(is_destination_url(ok), "{ok}");
    }
    for bad in [
        "http://crm.example.com/hook",
        "ftp://x",
        "https://",
        "https://user:pw@x.com/",
        "https://x .com",
        "http://127.0.0.2/",
        "http://localhost.evil.com/",
        "javascript:alert(1)",
    ] {
        assert!(!is_destination_url(bad), "{bad}");
    }
}

#[test]
fn destination_bodies_are_read_strictly() {
    let d = destination::parse_new(br#"{"url": "https://x.io/h", "format": "events", "filter": {"fields": ["messages"], "items": "statuses"}}"#, "dst_1".into()).unwrap();
    assert_eq!(d.format, Format::Events);
    assert_eq!(d.filter.items, Some(Items::Statuses));
    for (body, field) in [
        (r#"{}"#, "url"),
        (r#"{"url": "http://x.io"}"#, "url"),
        (r#"{"url": "https://x.io", "format": "xml"}"#, "format"),
        (
            r#"{"url": "https://x.io", "filter": {"items": "all"}}"#,
            "filter.items",
        ),
        (
            r#"{"url": "https://x.io", "filter": {"chanels": []}}"#,
            "filter.chanels",
        ),
        (r#"{"url": "https://x.io", "secret": "mine"}"#, "secret"),
        (r#"{"url": "https://x.io", "enabled": "yes"}"#, "enabled"),
    ] {
        let e = destination::parse_new(body.as_bytes(), "d".into()).unwrap_err();
        assert!(e.0.starts_with(field), "{body}: {}", e.0);
    }
    let patched = destination::parse_patch(
        br#"{"enabled": true}"#,
        destination::Destination {
            disabled_reason: Some("410".into()),
            enabled: false,
            ..d
        },
    )
    .unwrap();
    assert!(
        patched.enabled && patched.disabled_reason.is_none(),
        "enabling clears why it was disabled"
    );
}

#[test]
fn an_unfiltered_meta_destination_gets_the_exact_bytes() {
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"p1"},"messages":[{"id":"w","text":{"body":"caf\u00e9 \/"}}]}}]}]}"#;
    let out = meta_body(body, &Filter::default()).unwrap();
    assert_eq!(&*out, &body[..]);
    // A filter that keeps everything still sends the exact bytes.
    let f = Filter {
        channels: Some(vec!["p1".into()]),
        ..Filter::default()
    };
    assert_eq!(&*meta_body(body, &f).unwrap(), &body[..]);
}

#[test]
fn meta_bodies_are_cut_to_the_filter() {
    let body = fixture("multi_entry");
    let all: Value = serde_json::from_slice(&body).unwrap();
    let f = Filter {
        channels: Some(vec!["106540352242923".into()]),
        ..Filter::default()
    };
    let cut: Value = serde_json::from_slice(&meta_body(&body, &f).unwrap()).unwrap();
    let pnids: Vec<&str> = cut["entry"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["changes"].as_array().unwrap())
        .map(|c| {
            c["value"]["metadata"]["phone_number_id"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert!(
        !pnids.is_empty() && pnids.iter().all(|p| *p == "106540352242923"),
        "{pnids:?}"
    );
    assert_ne!(cut, all);
    let none = Filter {
        fields: Some(vec!["account_update".into()]),
        ..Filter::default()
    };
    assert!(meta_body(&fixture("text"), &none).is_none());
    let statuses = Filter {
        items: Some(Items::Statuses),
        ..Filter::default()
    };
    assert!(
        meta_body(&fixture("text"), &statuses).is_none(),
        "a message is not a status"
    );
    assert!(meta_body(&fixture("status_read"), &statuses).is_some());
    assert!(meta_body(b"not json", &none).is_none());
    assert_eq!(
        &*meta_body(b"not json", &Filter::default()).unwrap(),
        b"not json"
    );
}

#[test]
fn events_are_one_per_item_and_stable() {
    let p = plan(&fixture("multi_entry"));
    let evs = events::of_plan(&p);
    let kinds: Vec<&str> = evs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "message.received").count(),
        3
    );
    assert_eq!(kinds.iter().filter(|k| **k == "message.status").count(), 1);
    assert!(kinds.contains(&"contact.updated"));
    assert_eq!(
        evs,
        events::of_plan(&plan(&fixture("multi_entry"))),
        "the same delivery, the same events"
    );
    let field = events::of_plan(&plan(&fixture("account_update")));
    assert_eq!(field[0].kind, "field.account_update");
    assert!(
        events::of_plan(&plan(b"nope")).is_empty(),
        "a dead letter is no event"
    );
    let f = Filter {
        items: Some(Items::Messages),
        ..Filter::default()
    };
    assert!(takes_event(&f, "messages", Some("p"), Some(false)));
    assert!(!takes_event(&f, "messages", Some("p"), Some(true)));
    let json = events::envelope("msg_1", "message.received", 5, json!({"id": "w"}));
    assert_eq!(json["type"], "message.received");
    assert_eq!(
        events::forward_id("d1", "event:e"),
        events::forward_id("d1", "event:e")
    );
    assert_ne!(
        events::forward_id("d1", "event:e"),
        events::forward_id("d2", "event:e")
    );
}

#[test]
fn answers_are_classified_and_retried_for_about_three_days() {
    assert_eq!(
        schedule::next(1, Answer::Status(204), None, 128),
        Next::Delivered
    );
    assert_eq!(
        schedule::next(1, Answer::Status(410), None, 128),
        Next::Gone
    );
    assert!(matches!(
        schedule::next(1, Answer::Status(400), None, 128),
        Next::Dead(_)
    ));
    assert!(matches!(
        schedule::next(1, Answer::Status(301), None, 128),
        Next::Dead(_)
    ));
    for retry in [
        Answer::Status(408),
        Answer::Status(429),
        Answer::Status(503),
        Answer::NoAnswer,
    ] {
        assert_eq!(
            schedule::next(1, retry, None, 128),
            Next::Retry(5),
            "{retry:?}"
        );
    }
    let total: i64 = BACKOFF_S.iter().sum();
    assert!((2 * 86_400..4 * 86_400).contains(&total), "{total} s");
    let n = BACKOFF_S.len() as u32;
    assert!(matches!(
        schedule::next(n, Answer::NoAnswer, None, 0),
        Next::Retry(_)
    ));
    assert!(matches!(
        schedule::next(n + 1, Answer::NoAnswer, None, 0),
        Next::Dead(_)
    ));
    assert_eq!(
        schedule::next(1, Answer::Status(429), Some(30), 128),
        Next::Retry(30),
        "Retry-After honoured"
    );
    assert_eq!(
        schedule::next(2, Answer::Status(429), Some(1), 128),
        Next::Retry(300),
        "never sooner than the schedule"
    );
    assert_eq!(schedule::retry_after("120", 0), Some(120));
    assert_eq!(
        schedule::retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_770),
        Some(7)
    );
    assert_eq!(schedule::retry_after("soon", 0), None);
    for hostile in [
        "Sun, 06 Nov 9223372036854775807 08:49:37 GMT",
        "Sun, 9223372036854775807 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 9223372036854775807:49:37 GMT",
        "Sun, 06 Nov -9223372036854775808 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
    ] {
        assert_eq!(schedule::retry_after(hostile, 0), None, "{hostile}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_retry_after_date_is_read_without_overflow(day: i64, year: i64, h: i64, mi: i64, se: i64, now in prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()]) {
        let header = format!("Sun, {day:02} Nov {year} {h:02}:{mi:02}:{se:02} GMT");
        if let Some(s) = schedule::retry_after(&header, now) {
            prop_assert!(s >= 0);
        }
    }

    #[test]
    fn jittered_delays_stay_within_a_fifth_of_the_schedule(attempt in 1u32..=11, jitter: u8) {
        let Next::Retry(d) = schedule::next(attempt, Answer::NoAnswer, None, jitter) else {
            return Err(TestCaseError::fail("not retried"));
        };
        let base = BACKOFF_S[attempt as usize - 1];
        prop_assert!(d >= base * 8 / 10 - 1 && d <= base * 12 / 10 + 1, "{d} for {base}");
    }

    /// Whatever the filter, what a meta destination gets is a subset of
    /// what Meta sent, and an unrestricted one gets every byte.
    #[test]
    fn meta_filters_never_add(fields in prop::option::of(prop::collection::vec(prop::sample::select(vec!["messages", "account_update", "calls"]), 0..3)),
                               channels in prop::option::of(prop::collection::vec(prop::sample::select(vec!["106540352242922", "106540352242923", "x"]), 0..3))) {
        let body = fixture("multi_entry");
        let f = Filter { fields: fields.map(|v| v.into_iter().map(str::to_owned).collect()), channels: channels.map(|v| v.into_iter().map(str::to_owned).collect()), items: None };
        if let Some(out) = meta_body(&body, &f) {
            let v: Value = serde_json::from_slice(&out).unwrap();
            for e in v["entry"].as_array().unwrap() {
                for c in e["changes"].as_array().unwrap() {
                    prop_assert!(f.takes_field(c["field"].as_str().unwrap_or("")));
                }
            }
            prop_assert!(out.len() <= body.len() + 64);
        }
    }
}

#[test]
fn the_relay_keeps_nothing_without_destinations_and_never_forwards_bytes_naming_someone_erased() {
    use wa_edge::relay::route::{delivery_id, for_delivery, keeps};
    let new = |body: &str, id: &str| destination::parse_new(body.as_bytes(), id.into()).unwrap();
    let meta = new(
        r#"{"url": "https://a.example/h", "format": "meta"}"#,
        "dst_m",
    );
    let evs = new(
        r#"{"url": "https://b.example/h", "format": "events"}"#,
        "dst_e",
    );
    let mut off = new(
        r#"{"url": "https://c.example/h", "format": "meta"}"#,
        "dst_off",
    );
    off.enabled = false;
    assert!(!keeps(&[]));
    assert!(
        keeps(std::slice::from_ref(&off)),
        "a disabled one may be turned on and replayed"
    );

    let body = fixture("text");
    let p = plan(&body);
    let made = events::of_plan(&p);
    let id = delivery_id(&body);
    let all = [meta.clone(), evs.clone(), off.clone()];
    let whole = for_delivery(Some((&id, &body)), &made, &all);
    let to = |fs: &[wa_edge::relay::route::Forward], d: &str| {
        fs.iter().filter(|f| f.destination_id == d).count()
    };
    assert_eq!(to(&whole, "dst_m"), 1);
    assert_eq!(to(&whole, "dst_e"), made.len());
    assert_eq!(to(&whole, "dst_off"), 0);
    // A body whose plan erasure cut: its events still go, its bytes do not.
    let cut = for_delivery(None, &made, &all);
    assert_eq!(to(&cut, "dst_m"), 0);
    assert_eq!(to(&cut, "dst_e"), made.len());
    assert!(for_delivery(Some((&id, &body)), &made, &[]).is_empty());
}

#[test]
fn a_replay_cursor_reads_back_what_it_wrote_and_nothing_else() {
    use wa_edge::db::relay::After;
    let row = json!({"id": "evt_0123abcd", "received_at": 1_764_000_000_123i64});
    let after = After::of_row(&row).unwrap();
    assert_eq!(after.to_text(), "1764000000123:evt_0123abcd");
    assert_eq!(After::parse(&after.to_text()), Some(after));
    for bad in [
        "", "nope", "12:", ":evt_1", "-1:evt_1", "x:evt_1", "1:evt 1", "1:a'b", "1:a:b",
    ] {
        assert_eq!(After::parse(bad), None, "{bad}");
    }
    assert_eq!(
        After::parse(&format!("1:{}", "a".repeat(81))),
        None,
        "an id longer than any kept one"
    );
}
