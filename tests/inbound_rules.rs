mod common;

use common::plan;
use serde_json::json;
use std::collections::HashSet;
use wa_edge::db::lookups::known_statements;
use wa_edge::inbound::autoreply::{contact_key, decide, needs_lookup, Effects, Known, OptSettings};
use wa_edge::inbound::rules::{answer, normalize, Hours, Inbound, LocalTime, Rule, Span};

fn rule(v: serde_json::Value) -> Rule {
    Rule::parse(v.to_string().as_bytes()).unwrap()
}

fn text(t: &str) -> Inbound<'_> {
    Inbound {
        channel: "106540352242922",
        kind: "text",
        text: Some(t),
        reply_id: None,
        first_message: false,
    }
}

fn no_tz(_: &str) -> Option<LocalTime> {
    None
}

fn reply_body<'a>(
    rules: &'a [Rule],
    m: &Inbound,
    local: &dyn Fn(&str) -> Option<LocalTime>,
) -> Option<&'a str> {
    answer(rules, m, local)?
        .message?
        .pointer("/text/body")?
        .as_str()
}

fn reply(body: &str) -> serde_json::Value {
    json!({"type": "text", "text": {"body": body}})
}

#[test]
fn keyword_ignores_case_and_whitespace_but_needs_equality() {
    let rules = [rule(
        json!({"priority": 1, "match": {"keyword": "Opening  Hours"}, "reply": reply("9-17")}),
    )];
    assert_eq!(
        reply_body(&rules, &text("  opening hours\n"), &no_tz),
        Some("9-17")
    );
    assert_eq!(
        reply_body(&rules, &text("OPENING\tHOURS"), &no_tz),
        Some("9-17")
    );
    assert_eq!(reply_body(&rules, &text("opening hours?"), &no_tz), None);
    assert_eq!(normalize(" A  b\tC "), "a b c");
}

#[test]
fn contains_regex_reply_id_type_first_message_and_any_match_as_named() {
    let m = |k: &str, v: serde_json::Value| {
        rule(json!({"priority": 1, "match": {k: v}, "reply": reply(k)}))
    };
    assert!(m("contains", json!("PRICE"))
        .matcher
        .matches(&text("what's the price?")));
    assert!(!m("contains", json!("price"))
        .matcher
        .matches(&text("prize")));
    assert!(m("regex", json!(r"^order\s+#?\d+$"))
        .matcher
        .matches(&text("order #42")));
    assert!(!m("regex", json!(r"^order\s+#?\d+$"))
        .matcher
        .matches(&text("my order #42")));
    let button = Inbound {
        channel: "106540352242922",
        kind: "interactive",
        text: Some("Track"),
        reply_id: Some("track"),
        first_message: false,
    };
    assert!(m("reply_id", json!("track")).matcher.matches(&button));
    assert!(!m("reply_id", json!("track"))
        .matcher
        .matches(&text("track")));
    let image = Inbound {
        channel: "106540352242922",
        kind: "image",
        text: None,
        reply_id: None,
        first_message: false,
    };
    assert!(m("type", json!("image")).matcher.matches(&image));
    assert!(!m("keyword", json!("x")).matcher.matches(&image));
    let first = Inbound {
        first_message: true,
        ..text("hi")
    };
    assert!(m("first_message", json!(true)).matcher.matches(&first));
    assert!(!m("first_message", json!(true)).matcher.matches(&text("hi")));
    assert!(m("any", json!(true)).matcher.matches(&image));
}

#[test]
fn first_matching_rule_by_priority_answers_and_disabled_rules_are_skipped() {
    let rules = [
        rule(json!({"priority": 20, "match": {"any": true}, "reply": reply("fallback")})),
        rule(json!({"priority": 10, "match": {"contains": "hours"}, "reply": reply("hours")})),
        rule(
            json!({"priority": 5, "match": {"contains": "hours"}, "reply": reply("disabled"), "enabled": false}),
        ),
    ];
    assert_eq!(
        reply_body(&rules, &text("your hours?"), &no_tz),
        Some("hours")
    );
    assert_eq!(reply_body(&rules, &text("hello"), &no_tz), Some("fallback"));
}

fn hours(spans: &[(&[&str], &str, &str)]) -> Hours {
    Hours {
        tz: "Europe/Berlin".into(),
        open: spans
            .iter()
            .map(|(days, from, to)| Span {
                days: days.iter().map(|d| (*d).to_owned()).collect(),
                from: (*from).into(),
                to: (*to).into(),
            })
            .collect(),
        away: None,
    }
}

fn at(weekday: u8, h: u16, m: u16) -> LocalTime {
    LocalTime {
        weekday,
        minute: h * 60 + m,
    }
}

#[test]
fn business_hours_include_from_and_exclude_to() {
    let h = hours(&[(&["mon", "tue", "wed", "thu", "fri"], "09:00", "17:00")]);
    assert!(h.is_open(at(0, 9, 0)));
    assert!(h.is_open(at(4, 16, 59)));
    assert!(!h.is_open(at(4, 17, 0)));
    assert!(!h.is_open(at(2, 8, 59)));
    assert!(!h.is_open(at(5, 12, 0)), "saturday");
}

#[test]
fn spans_past_midnight_belong_to_the_day_they_start() {
    let h = hours(&[(&["fri"], "22:00", "02:00")]);
    assert!(h.is_open(at(4, 23, 0)), "friday night");
    assert!(h.is_open(at(5, 1, 30)), "early saturday");
    assert!(!h.is_open(at(5, 2, 0)));
    assert!(!h.is_open(at(4, 1, 0)), "early friday belongs to thursday");
    let sunday = hours(&[(&["sun"], "23:00", "01:00")]);
    assert!(
        sunday.is_open(at(0, 0, 30)),
        "wraps from sunday into monday"
    );
}

#[test]
fn outside_hours_the_away_message_answers_in_the_rules_time_zone() {
    let rules = [rule(
        json!({"priority": 1, "match": {"any": true}, "reply": reply("open"),
        "hours": {"tz": "Asia/Kolkata", "open": [{"days": ["mon"], "from": "09:00", "to": "17:00"}],
                  "away": reply("closed")}}),
    )];
    let monday_10 = |tz: &str| (tz == "Asia/Kolkata").then_some(at(0, 10, 0));
    let monday_20 = |tz: &str| (tz == "Asia/Kolkata").then_some(at(0, 20, 0));
    assert_eq!(reply_body(&rules, &text("hi"), &monday_10), Some("open"));
    assert_eq!(reply_body(&rules, &text("hi"), &monday_20), Some("closed"));
    // Without an away message, outside hours nothing is sent, but the rule still answers.
    let quiet = [rule(
        json!({"priority": 1, "match": {"any": true}, "reply": reply("open"), "mark_read": true,
        "hours": {"tz": "UTC", "open": [{"days": ["mon"], "from": "09:00", "to": "17:00"}]}}),
    )];
    let a = answer(&quiet, &text("hi"), &|_| Some(at(3, 3, 0))).unwrap();
    assert!(a.message.is_none());
    assert!(a.mark_read);
}

#[test]
fn invalid_rules_are_refused_with_the_field() {
    for (v, needle) in [
        (
            json!({"priority": 1, "match": {}, "reply": reply("x")}),
            "match",
        ),
        (
            json!({"priority": 1, "match": {"keyword": "  "}, "reply": reply("x")}),
            "match.keyword",
        ),
        (
            json!({"priority": 1, "match": {"regex": "(unclosed"}, "reply": reply("x")}),
            "match.regex",
        ),
        (
            json!({"priority": 1, "match": {"any": false}, "reply": reply("x")}),
            "match",
        ),
        (
            json!({"priority": 1, "match": {"colour": "red"}, "reply": reply("x")}),
            "colour",
        ),
        (json!({"priority": 1, "match": {"any": true}}), "reply"),
        (
            json!({"priority": 1, "match": {"any": true}, "reply": {"type": "text", "text": {"body": "x"}, "to": "1"}}),
            "reply.to",
        ),
        (
            json!({"priority": 1, "match": {"any": true}, "reply": {"type": "interactive", "interactive": {"type": "button",
            "body": {"text": "b"}, "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "x".repeat(21)}}]}}}}),
            "reply.interactive.action.buttons[0].reply.title",
        ),
        (
            json!({"priority": 1, "match": {"any": true}, "reply": reply("x"), "hours": {"tz": "UTC", "open": []}}),
            "hours.open",
        ),
        (
            json!({"priority": 1, "match": {"any": true}, "reply": reply("x"), "hours": {"tz": "UTC",
            "open": [{"days": ["mon"], "from": "24:00", "to": "17:00"}]}}),
            "hours.open[0].from",
        ),
        (
            json!({"priority": 1, "match": {"any": true}, "reply": reply("x"), "hours": {"tz": "UTC",
            "open": [{"days": ["mon"], "from": "09:00", "to": "09:00"}]}}),
            "hours.open[0]",
        ),
        (
            json!({"priority": 1, "match": {"any": true}, "reply": reply("x"), "hours": {"tz": "UTC",
            "open": [{"days": ["mon"], "from": "09:00", "to": "17:00"}], "away": {"type": "text"}}}),
            "hours.away.text",
        ),
    ] {
        let e = Rule::parse(v.to_string().as_bytes()).unwrap_err();
        assert!(e.0.contains(needle), "{} should mention {needle}", e.0);
    }
    assert!(Rule::parse(br#"{"priority": 1, "match": {"any": true}, "mark_read": true}"#).is_ok());
    let typing = Rule::parse(br#"{"priority": 1, "match": {"any": true}, "reply": {"type": "text", "text": {"body": "x"}}, "typing": true}"#);
    assert!(typing.unwrap_err().0.contains("typing"));
}

fn delivery(messages: &[(&str, &str, &str, i64)]) -> Vec<u8> {
    let msgs: Vec<_> = messages
        .iter()
        .map(|(id, from, body, ts)| {
            json!({"id": id, "from": from, "timestamp": ts.to_string(),
            "type": "text", "text": {"body": body}})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"metadata": {"phone_number_id": "pn1"}, "messages": msgs}}]}]})
    .to_string()
    .into_bytes()
}

/// Decides `p` with no time zones and sequential ids.
fn effects(
    p: &wa_edge::inbound::ingest::Plan,
    rules: &[Rule],
    known: &Known,
    opt: &OptSettings,
) -> Effects {
    decide(p, rules, known, opt, &|_, _| None, &mut ids())
}

/// The dedupe keys of the queued effects, in order.
fn keys(e: &Effects) -> Vec<String> {
    e.enqueue
        .iter()
        .map(|q| q.dedupe_key.clone().unwrap())
        .collect()
}

fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("out_{n}")
    }
}

#[test]
fn replies_carry_dedupe_keys_from_the_inbound_wamid() {
    let rules = [rule(
        json!({"id": "r1", "priority": 1, "match": {"any": true}, "reply": reply("hi"), "mark_read": true}),
    )];
    let p = plan(&delivery(&[("wamid.a", "111", "hello", 10)]));
    let e = effects(&p, &rules, &Known::default(), &OptSettings::default());
    let keys = keys(&e);
    assert_eq!(keys, ["read:wamid.a", "reply:wamid.a"]);
    assert_eq!(
        e.enqueue[1].payload,
        json!({"type": "text", "text": {"body": "hi"}, "to": "111"})
    );
    assert_eq!(e.enqueue[1].phone_number_id, "pn1");
    assert_eq!(e.enqueue[1].source, "rule:r1");
}

#[test]
fn stored_messages_get_no_second_reply() {
    let rules = [rule(
        json!({"priority": 1, "match": {"any": true}, "reply": reply("hi")}),
    )];
    let p = plan(&delivery(&[
        ("wamid.a", "111", "hello", 10),
        ("wamid.a", "111", "hello", 10),
    ]));
    let known = Known {
        stored: HashSet::from(["wamid.a".to_owned()]),
        ..Known::default()
    };
    let e = effects(&p, &rules, &known, &OptSettings::default());
    assert!(e.enqueue.is_empty());
    let fresh = effects(&p, &rules, &Known::default(), &OptSettings::default());
    assert_eq!(
        fresh.enqueue.len(),
        1,
        "a wamid twice in one delivery is answered once"
    );
}

#[test]
fn only_the_first_message_of_a_new_contact_is_a_first_message() {
    let rules = [rule(
        json!({"priority": 1, "match": {"first_message": true}, "reply": reply("welcome")}),
    )];
    let p = plan(&delivery(&[
        ("wamid.b", "111", "second", 20),
        ("wamid.a", "111", "first", 10),
    ]));
    let e = effects(&p, &rules, &Known::default(), &OptSettings::default());
    assert_eq!(e.enqueue.len(), 1);
    assert_eq!(e.enqueue[0].dedupe_key.as_deref(), Some("reply:wamid.a"));
    let known = Known {
        returning: HashSet::from([contact_key("pn1", "111")]),
        ..Known::default()
    };
    assert!(effects(&p, &rules, &known, &OptSettings::default())
        .enqueue
        .is_empty());
}

#[test]
fn stop_opts_out_once_and_silences_rules_until_start() {
    let rules = [rule(
        json!({"priority": 1, "match": {"any": true}, "reply": reply("auto")}),
    )];
    let opt = OptSettings::default();
    let p = plan(&delivery(&[
        ("wamid.1", "111", "Stop", 10),
        ("wamid.2", "111", "STOP", 11),
        ("wamid.3", "111", "hello", 12),
        ("wamid.4", "111", "start", 13),
        ("wamid.5", "111", "hello", 14),
    ]));
    let e = effects(&p, &rules, &Known::default(), &opt);
    let keys = keys(&e);
    assert_eq!(keys, ["optout:wamid.1", "optin:wamid.4", "reply:wamid.5"]);
    let opts: Vec<_> = e.opts.iter().map(|o| (o.opted_out, o.at)).collect();
    assert_eq!(opts, [(true, 10), (true, 11), (false, 13)]);
}

#[test]
fn start_from_a_subscribed_contact_is_an_ordinary_message() {
    let rules = [rule(
        json!({"priority": 1, "match": {"keyword": "start"}, "reply": reply("let's begin")}),
    )];
    let p = plan(&delivery(&[("wamid.1", "111", "START", 10)]));
    let e = effects(&p, &rules, &Known::default(), &OptSettings::default());
    assert_eq!(e.enqueue[0].payload["text"]["body"], "let's begin");
    assert!(e.opts.is_empty());
}

#[test]
fn lookups_are_skipped_when_nothing_could_react() {
    let opt = OptSettings {
        out_words: OptSettings::words("Stop, Halt ,"),
        ..OptSettings::default()
    };
    assert_eq!(opt.out_words, ["stop", "halt"]);
    let hello = plan(&delivery(&[("wamid.1", "111", "hello", 10)]));
    assert!(!needs_lookup(&hello, &[], &opt));
    assert!(needs_lookup(
        &plan(&delivery(&[("wamid.1", "111", " HALT ", 10)])),
        &[],
        &opt
    ));
    let rules = [rule(
        json!({"priority": 1, "match": {"any": true}, "reply": reply("x")}),
    )];
    assert!(needs_lookup(&hello, &rules, &opt));
    assert_eq!(known_statements(&hello)[0].args.len(), 1);
}

/// A delivery of text messages `(wamid, from, text, timestamp)` to `pnid`.
fn delivery_to(pnid: &str, items: &[(&str, &str, &str, i64)]) -> Vec<u8> {
    let body = String::from_utf8(delivery(items)).unwrap();
    body.replace("\"pn1\"", &format!("\"{pnid}\"")).into_bytes()
}

#[test]
fn a_stop_to_one_channel_does_not_silence_another() {
    let rules = [rule(
        json!({"priority": 1, "match": {"any": true}, "reply": reply("auto")}),
    )];
    let known = Known {
        opted_out: HashSet::from([contact_key("pn1", "111")]),
        ..Known::default()
    };
    let on_pn1 = plan(&delivery_to("pn1", &[("wamid.1", "111", "hello", 10)]));
    assert!(effects(&on_pn1, &rules, &known, &OptSettings::default())
        .enqueue
        .is_empty());
    let on_pn2 = plan(&delivery_to("pn2", &[("wamid.2", "111", "hello", 10)]));
    let e = effects(&on_pn2, &rules, &known, &OptSettings::default());
    assert_eq!(keys(&e), ["reply:wamid.2"]);
    // A STOP records the channel it was sent to.
    let stop = plan(&delivery_to("pn2", &[("wamid.3", "111", "STOP", 11)]));
    let e = effects(&stop, &rules, &Known::default(), &OptSettings::default());
    assert_eq!(e.opts[0].phone_number_id.as_str(), "pn2");
}

#[test]
fn a_contact_returning_on_one_channel_is_new_on_another() {
    let rules = [rule(
        json!({"priority": 1, "match": {"first_message": true}, "reply": reply("welcome")}),
    )];
    let known = Known {
        returning: HashSet::from([contact_key("pn1", "111")]),
        ..Known::default()
    };
    let p = plan(&delivery_to("pn2", &[("wamid.a", "111", "hi", 10)]));
    assert_eq!(
        effects(&p, &rules, &known, &OptSettings::default())
            .enqueue
            .len(),
        1
    );
}

#[test]
fn a_rule_limited_to_a_channel_answers_only_that_channel() {
    let rules = [rule(
        json!({"priority": 1, "channel": "222", "match": {"any": true}, "reply": reply("only 222")}),
    )];
    let on_222 = plan(&delivery_to("222", &[("wamid.a", "111", "hi", 10)]));
    let on_333 = plan(&delivery_to("333", &[("wamid.b", "111", "hi", 10)]));
    let opt = OptSettings::default();
    assert_eq!(
        effects(&on_222, &rules, &Known::default(), &opt)
            .enqueue
            .len(),
        1
    );
    assert!(effects(&on_333, &rules, &Known::default(), &opt)
        .enqueue
        .is_empty());
    for bad in [json!(""), json!("12a"), json!(5)] {
        let body =
            json!({"priority": 1, "channel": bad, "match": {"any": true}, "reply": reply("x")});
        assert!(Rule::parse(body.to_string().as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn a_stop_dated_in_the_far_future_is_ordered_at_its_receipt_time() {
    let p = wa_edge::inbound::ingest::plan(
        &delivery(&[("wamid.1", "111", "STOP", 9_999_999_999)]),
        &wa_edge::inbound::ingest::Delivery::app(1_700_000_000),
    );
    assert_eq!(
        p.messages[0].timestamp, 9_999_999_999,
        "the raw value is kept"
    );
    assert_eq!(p.messages[0].at, 1_700_000_000);
    assert_eq!(p.windows[0].last_inbound_at, 1_700_000_000);
    assert_eq!(p.contacts[0].last_seen, 1_700_000_000);
    let e = effects(&p, &[], &Known::default(), &OptSettings::default());
    assert_eq!(e.opts[0].at, 1_700_000_000);
    // Within five minutes ahead is believed (clocks differ a little).
    let near = wa_edge::inbound::ingest::plan(
        &delivery(&[("wamid.2", "111", "hi", 1_700_000_299)]),
        &wa_edge::inbound::ingest::Delivery::app(1_700_000_000),
    );
    assert_eq!(near.messages[0].at, 1_700_000_299);
}

#[test]
fn priorities_are_whole_numbers_d1_stores_exactly() {
    let with = |p: serde_json::Value| {
        Rule::parse(
            json!({"priority": p, "match": {"any": true}, "mark_read": true})
                .to_string()
                .as_bytes(),
        )
    };
    assert_eq!(with(json!(10.0)).unwrap().priority, 10);
    assert_eq!(
        with(json!(-9_007_199_254_740_991_i64)).unwrap().priority,
        -9_007_199_254_740_991
    );
    for bad in [json!(1.5), json!(9_007_199_254_740_993_i64), json!("1")] {
        assert!(with(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn opening_hours_are_exactly_hh_mm() {
    for bad in ["+1:30", "012:5", "1:300", "24:00", "ab:cd"] {
        let body = json!({"priority": 1, "match": {"any": true}, "reply": reply("x"),
            "hours": {"tz": "Europe/Berlin", "open": [{"days": ["mon"], "from": bad, "to": "17:00"}]}});
        assert!(Rule::parse(body.to_string().as_bytes()).is_err(), "{bad}");
    }
}
