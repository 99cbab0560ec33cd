use serde_json::{json, Value};
use wa_edge::outbound::outbox::{backoff_s, next, Next, MAX_ATTEMPTS};
use wa_edge::whatsapp::graph::error::Outcome;
use wa_edge::whatsapp::message::{is_free_form, recipient, validate};
use wa_edge::whatsapp::window;

fn field_of(msg: Value) -> String {
    validate(&msg, true).unwrap_err().field
}

fn buttons(n: usize) -> Value {
    (0..n)
        .map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": format!("Button {i}")}}))
        .collect()
}

#[test]
fn valid_messages_of_every_kind_pass() {
    let ok = [
        json!({"to": "+1 650 555 1234", "type": "text", "text": {"body": "hi", "preview_url": true}}),
        json!({"to": "16505551234", "type": "image", "image": {"link": "https://x.test/a.jpg", "caption": "c"}}),
        json!({"to": "16505551234", "type": "audio", "audio": {"id": "1"}}),
        json!({"to": "16505551234", "type": "video", "video": {"id": "1"}}),
        json!({"to": "16505551234", "type": "document", "document": {"id": "1", "filename": "a.pdf"}}),
        json!({"to": "16505551234", "type": "sticker", "sticker": {"id": "1"}}),
        json!({"to": "16505551234", "type": "location", "location": {"latitude": -33.9, "longitude": 151.2, "name": "Opera"}}),
        json!({"to": "16505551234", "type": "contacts", "contacts": [{"name": {"formatted_name": "Ann"}}]}),
        json!({"to": "16505551234", "type": "reaction", "reaction": {"message_id": "wamid.1", "emoji": ""}}),
        json!({"to": "16505551234", "type": "interactive", "interactive": {"type": "button",
            "body": {"text": "Pick"}, "action": {"buttons": buttons(3)}}}),
        json!({"to": "16505551234", "type": "interactive", "interactive": {"type": "list",
            "body": {"text": "Pick"}, "action": {"button": "Options", "sections": [
                {"title": "A", "rows": [{"id": "r1", "title": "Row 1", "description": "d"}]},
                {"title": "B", "rows": [{"id": "r2", "title": "Row 2"}]}]}}}),
        json!({"to": "16505551234", "type": "interactive", "interactive": {"type": "cta_url",
            "body": {"text": "See"}, "action": {"name": "cta_url",
            "parameters": {"display_text": "Open", "url": "https://x.test"}}}}),
        json!({"to": "16505551234", "type": "template", "template": {"name": "order_update",
            "language": {"code": "en_US"}, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x.test/i.png"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "A-1"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0",
                 "parameters": [{"type": "payload", "payload": "P"}]}]}}),
        json!({"to": "16505551234", "type": "text", "text": {"body": "re"}, "context": {"message_id": "wamid.1"}}),
    ];
    for msg in ok {
        assert_eq!(validate(&msg, true), Ok(()), "{msg}");
    }
}

#[test]
fn each_rule_names_the_offending_field() {
    let base = |v: Value| {
        let mut m = json!({"to": "16505551234"});
        m.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        m
    };
    let cases = [
        (
            json!({"type": "text", "text": {"body": "x"}, "to": "12"}),
            "to",
        ),
        (
            base(json!({"type": "text", "text": {"body": "x".repeat(4097)}})),
            "text.body",
        ),
        (
            base(json!({"type": "text", "text": {"body": "  "}})),
            "text.body",
        ),
        (base(json!({"type": "text"})), "text"),
        (base(json!({"type": "fax", "fax": {}})), "type"),
        (base(json!({"type": "image", "image": {}})), "image"),
        (
            base(json!({"type": "image", "image": {"id": "1", "link": "https://x"}})),
            "image",
        ),
        (
            base(json!({"type": "image", "image": {"link": "ftp://x"}})),
            "image.link",
        ),
        (
            base(json!({"type": "image", "image": {"id": "1", "caption": "c".repeat(1025)}})),
            "image.caption",
        ),
        (
            base(json!({"type": "audio", "audio": {"id": "1", "caption": "no"}})),
            "audio.caption",
        ),
        (
            base(json!({"type": "location", "location": {"latitude": 91, "longitude": 0}})),
            "location.latitude",
        ),
        (
            base(json!({"type": "contacts", "contacts": []})),
            "contacts",
        ),
        (
            base(json!({"type": "contacts", "contacts": [{"name": {}}]})),
            "contacts[0].name.formatted_name",
        ),
        (
            base(json!({"type": "reaction", "reaction": {"emoji": "x"}})),
            "reaction.message_id",
        ),
        (
            base(
                json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "b"},
            "action": {"buttons": buttons(4)}}}),
            ),
            "interactive.action.buttons",
        ),
        (
            base(
                json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "b"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "x".repeat(21)}}]}}}),
            ),
            "interactive.action.buttons[0].reply.title",
        ),
        (
            base(
                json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "b"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "a"}},
                                   {"type": "reply", "reply": {"id": "1", "title": "b"}}]}}}),
            ),
            "interactive.action.buttons[1].reply.id",
        ),
        (
            base(
                json!({"type": "interactive", "interactive": {"type": "button", "action": {"buttons": buttons(1)}}}),
            ),
            "interactive.body.text",
        ),
        (
            base(
                json!({"type": "interactive", "interactive": {"type": "list", "body": {"text": "b"},
            "action": {"button": "x".repeat(21), "sections": []}}}),
            ),
            "interactive.action.button",
        ),
        (
            base(
                json!({"type": "interactive", "interactive": {"type": "list", "body": {"text": "b"},
            "action": {"button": "Go", "sections": [{"rows": (0..11).map(|i| json!({"id": i.to_string(), "title": "t"})).collect::<Vec<_>>()}]}}}),
            ),
            "interactive.action.sections",
        ),
        (
            base(
                json!({"type": "interactive", "interactive": {"type": "list", "body": {"text": "b"},
            "action": {"button": "Go", "sections": [{"rows": [{"id": "1", "title": "x".repeat(25)}]}]}}}),
            ),
            "interactive.action.sections[0].rows[0].title",
        ),
        (
            base(
                json!({"type": "interactive", "interactive": {"type": "cta_url", "body": {"text": "b"},
            "action": {"parameters": {"display_text": "Open", "url": "javascript:x"}}}}),
            ),
            "interactive.action.parameters.url",
        ),
        (
            base(json!({"type": "interactive", "interactive": {"type": "carousel_of_doom"}})),
            "interactive.type",
        ),
        (
            base(
                json!({"type": "template", "template": {"name": "Bad Name", "language": {"code": "en"}}}),
            ),
            "template.name",
        ),
        (
            base(json!({"type": "template", "template": {"name": "ok"}})),
            "template.language.code",
        ),
        (
            base(
                json!({"type": "template", "template": {"name": "ok", "language": {"code": "en"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": ""}]}]}}),
            ),
            "template.components[0].parameters[0].text",
        ),
        (
            base(
                json!({"type": "template", "template": {"name": "ok", "language": {"code": "en"},
            "components": [{"type": "button", "index": "0", "parameters": []}]}}),
            ),
            "template.components[0].sub_type",
        ),
        (
            base(json!({"type": "text", "text": {"body": "x"}, "context": {}})),
            "context.message_id",
        ),
    ];
    for (msg, field) in cases {
        assert_eq!(field_of(msg.clone()), field, "{msg}");
    }
}

#[test]
fn rule_replies_need_no_recipient() {
    let reply = json!({"type": "text", "text": {"body": "We are open 9-17"}});
    assert_eq!(validate(&reply, false), Ok(()));
    assert_eq!(validate(&reply, true).unwrap_err().field, "to");
}

#[test]
fn templates_are_the_only_messages_allowed_outside_the_window() {
    assert!(is_free_form(&json!({"type": "text"})));
    assert!(is_free_form(&json!({"type": "interactive"})));
    assert!(!is_free_form(&json!({"type": "template"})));
    assert_eq!(
        recipient(&json!({"to": "+1 (650) 555-1234"})).as_deref(),
        Some("16505551234")
    );
}

#[test]
fn window_is_open_for_exactly_24_hours_after_the_last_inbound_message() {
    let t = 1_700_000_000;
    assert!(!window::is_open(None, t));
    assert!(window::is_open(Some(t), t));
    assert!(window::is_open(Some(t), t + 24 * 3600 - 1));
    assert!(!window::is_open(Some(t), t + 24 * 3600));
    assert!(
        window::is_open(Some(t + 10), t),
        "a clock behind Meta's still counts as open"
    );
}

#[test]
fn backoff_doubles_up_to_an_hour_and_honours_retry_after() {
    let delays: Vec<i64> = (1..=9).map(|a| backoff_s(a, None)).collect();
    assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(backoff_s(1, Some(300)), 300);
    assert_eq!(backoff_s(3, Some(5)), 120);
}

#[test]
fn retries_stop_after_max_attempts() {
    let retry = || Outcome::Retry {
        reason: "HTTP 500".into(),
        code: None,
        retry_after_s: None,
    };
    assert_eq!(
        next(1, retry(), 1_000, false),
        Next::RetryAt {
            at_ms: 31_000,
            error: "HTTP 500".into(),
            code: None
        }
    );
    match next(MAX_ATTEMPTS, retry(), 1_000, false) {
        Next::Failed {
            error, auth: false, ..
        } => assert!(error.contains("gave up after 8 attempts")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next(
            1,
            Outcome::AuthFailed {
                reason: "190".into(),
                code: Some(190)
            },
            0,
            false
        ),
        Next::Failed { auth: true, .. }
    ));
}

#[test]
fn send_request_takes_from_out_of_the_message_and_validates_the_rest() {
    use wa_edge::outbound::send::parse;
    let r = parse(
        br#"{"from": "pn2", "to": "+44 7700 900123", "type": "text", "text": {"body": "hi"}}"#,
    )
    .unwrap();
    assert_eq!(r.from.as_deref(), Some("pn2"));
    assert_eq!(
        r.to,
        wa_edge::whatsapp::identity::ContactRef::Phone(wa_edge::ids::WaId("447700900123".into()))
    );
    assert!(r.message.get("from").is_none());
    let api = |r| wa_edge::api::ApiError::from(r);
    let bad =
        api(parse(br#"{"to": "447700900123", "type": "text", "text": {"body": ""}}"#).unwrap_err());
    assert_eq!((bad.status, bad.code), (400, "invalid_message"));
    assert!(bad.message.starts_with("text.body"));
    assert_eq!(api(parse(b"nope").unwrap_err()).code, "invalid_json");
    assert_eq!(
        api(
            parse(br#"{"from": 5, "to": "447700900123", "type": "text", "text": {"body": "x"}}"#)
                .unwrap_err()
        )
        .code,
        "invalid_message"
    );
}

#[test]
fn outbox_statements_bind_exactly_their_placeholders() {
    use wa_edge::db::outbox::enqueue_statements;
    use wa_edge::db::outbox::{claim, due, expire_leases, record};
    use wa_edge::outbound::outbox::{Attempt, Claim};
    use wa_edge::outbound::send::Enqueue;
    let e = Enqueue {
        id: "out_1".into(),
        phone_number_id: "pn".into(),
        recipient: "111".into(),
        contact: wa_edge::whatsapp::identity::ContactKey {
            candidate: wa_edge::whatsapp::identity::contact_id("out_1"),
            identity: wa_edge::whatsapp::identity::Identity::new(Some("111"), None, 64).unwrap(),
            scope: None,
        },
        kind: "message",
        payload: json!({"to": "111", "type": "text", "text": {"body": "x"}}),
        source: "api".into(),
        dedupe_key: Some("idem:k".into()),
        request_hash: None,
    };
    let mut stmts = enqueue_statements(std::slice::from_ref(&e), 1);
    assert_eq!(stmts.len(), 2, "a message gets its messages row");
    let read = Enqueue {
        kind: "mark_read",
        ..e.clone()
    };
    assert_eq!(enqueue_statements(std::slice::from_ref(&read), 1).len(), 1);
    assert_eq!(
        enqueue_statements(&vec![e.clone(); 1000], 1).len(),
        2,
        "a thousand rows are still two statements"
    );
    let ids = vec!["out_1".to_owned()];
    stmts.extend(claim(&Claim::Ids(&ids), 1, 10));
    stmts.extend(claim(&Claim::Due, 1, 10));
    stmts.extend([due(1, 5), expire_leases(1)]);
    let results: Vec<Attempt> = [
        Next::Sent {
            wamid: "wamid.x".into(),
        },
        Next::RetryAt {
            at_ms: 5,
            error: "e".into(),
            code: Some(4),
        },
        Next::Failed {
            error: "e".into(),
            code: Some(190),
            auth: true,
        },
        Next::Unknown { error: "e".into() },
        Next::Released,
    ]
    .into_iter()
    .map(|next| Attempt {
        id: "out_1".to_owned(),
        phone_number_id: "pn".to_owned(),
        next,
        decided: 1,
    })
    .collect();
    let recorded = record(&results, 1);
    assert_eq!(recorded.len(), 3, "update, link, alerts: whatever the rows");
    stmts.extend(recorded);
    for s in stmts {
        let max = (1..=20)
            .rev()
            .find(|n| s.sql.contains(&format!("?{n}")))
            .unwrap_or(0);
        assert_eq!(max, s.args.len(), "{}", s.sql);
    }
}

#[test]
fn an_unknown_outcome_is_never_retried_for_a_message() {
    let unknown = || Outcome::Unknown {
        reason: "HTTP 200 without a message id".into(),
    };
    assert!(matches!(next(1, unknown(), 0, false), Next::Unknown { .. }));
    // A read receipt is idempotent: retrying it cannot duplicate anything.
    assert!(matches!(next(1, unknown(), 0, true), Next::RetryAt { .. }));
}

#[test]
fn callback_data_names_the_row_and_keeps_the_callers_own() {
    use wa_edge::outbound::outbox::{callback_data, callback_id, with_callback};
    let id = "out_0123456789abcdef0123456789abcdef";
    assert_eq!(callback_data(id, None), id);
    assert_eq!(callback_data(id, Some("crm-42")), format!("{id}|crm-42"));
    assert_eq!(callback_id(&callback_data(id, Some("a|b"))), Some(id));
    assert_eq!(callback_id(id), Some(id));
    for foreign in [
        "crm-42",
        "out_123",
        "out_0123456789abcdef0123456789abcdeg",
        "",
    ] {
        assert_eq!(callback_id(foreign), None, "{foreign}");
    }
    let sent = with_callback(
        &json!({"to": "1", "type": "text", "text": {"body": "x"}, "biz_opaque_callback_data": "mine"}),
        id,
    );
    assert_eq!(sent["biz_opaque_callback_data"], format!("{id}|mine"));
    let sent = with_callback(
        &json!({"to": "1", "type": "text", "text": {"body": "x"}}),
        id,
    );
    assert_eq!(sent["biz_opaque_callback_data"], id);
}

#[test]
fn an_over_long_callback_data_is_refused_locally() {
    let long = "x".repeat(wa_edge::whatsapp::message::MAX_CALLER_CALLBACK_DATA + 1);
    let m = json!({"to": "16505551234", "type": "text", "text": {"body": "x"},
                   "biz_opaque_callback_data": long});
    assert_eq!(
        validate(&m, true).unwrap_err().field,
        "biz_opaque_callback_data"
    );
}

#[test]
fn idempotency_keys_are_bounded_and_never_silently_ignored() {
    use wa_edge::outbound::send::IdempotencyKey;
    let key = |h: &str, caller: &str, channel: &str| {
        IdempotencyKey::parse(Some(h), caller, channel)
            .unwrap()
            .unwrap()
    };
    assert_eq!(IdempotencyKey::parse(None, "admin", "1").unwrap(), None);
    let k = key("k-1", "key_ab", "106540352242922");
    assert_eq!(k.dedupe_key(), "idem.key_ab:106540352242922:k-1");
    assert_eq!(k.shared_dedupe_key(), "idem:106540352242922:k-1");
    assert_ne!(
        key("order-7", "admin", "1").dedupe_key(),
        key("order-7", "admin", "2").dedupe_key(),
        "one channel's keys never collide with another's"
    );
    assert_ne!(
        key("order-7", "key_a", "1").dedupe_key(),
        key("order-7", "key_b", "1").dedupe_key(),
        "one caller's keys never collide with another's"
    );
    assert!(
        !key("order-7", "admin", "1")
            .dedupe_key()
            .starts_with("idem:"),
        "no key is stored in the shared form"
    );
    assert!(IdempotencyKey::parse(Some(&"k".repeat(255)), "admin", "1")
        .unwrap()
        .is_some());
    for bad in [
        "".to_owned(),
        "k".repeat(256),
        "a\u{7}b".to_owned(),
        "é".to_owned(),
    ] {
        let e = wa_edge::api::ApiError::from(
            IdempotencyKey::parse(Some(&bad), "admin", "1").unwrap_err(),
        );
        assert_eq!((e.status, e.code), (400, "invalid_idempotency_key"));
    }
}

#[test]
fn a_template_text_parameter_must_be_a_string() {
    let m = json!({"to": "16505551234", "type": "template", "template": {"name": "t",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": {}}]}]}});
    let e = validate(&m, true).unwrap_err();
    assert_eq!(e.field, "template.components[0].parameters[0].text");
}

#[test]
fn a_message_names_the_uploaded_media_it_sends_and_nothing_else() {
    use wa_edge::whatsapp::message::media_id;
    for kind in ["image", "audio", "video", "document", "sticker"] {
        let m = json!({"type": kind, kind: {"id": "4490709327384033"}});
        assert_eq!(media_id(&m), Some("4490709327384033"), "{kind}");
        let by_link = json!({"type": kind, kind: {"link": "https://example.com/a"}});
        assert_eq!(media_id(&by_link), None, "{kind} by link");
    }
    for m in [
        json!({"type": "text", "text": {"body": "hi"}, "image": {"id": "1"}}),
        json!({"type": "template", "template": {"id": "1"}}),
        json!({"type": "image", "image": {"id": 1}}),
        json!({"type": "image", "image": "1"}),
        json!({"image": {"id": "1"}}),
        json!("image"),
        json!({"type": "interactive", "interactive": {"header": {"type": "text", "text": "1"}}}),
        json!({"type": "interactive", "interactive": {"header": {"type": "image",
            "image": {"link": "https://example.com/a"}}}}),
        json!({"type": "template", "template": {"components": [{"type": "body",
            "parameters": [{"type": "image", "image": {"id": "1"}}]}]}}),
    ] {
        assert_eq!(media_id(&m), None, "{m}");
    }
    // A header's media: an interactive message's, a template's.
    let interactive = json!({"type": "interactive", "interactive": {"type": "button",
        "header": {"type": "document", "document": {"id": "77"}}, "body": {"text": "Invoice"}}});
    assert_eq!(media_id(&interactive), Some("77"));
    let template = json!({"type": "template", "template": {"name": "invoice",
        "language": {"code": "en"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "A-1"}]},
            {"type": "header", "parameters": [{"type": "video", "video": {"id": "88"}}]}]}});
    assert_eq!(media_id(&template), Some("88"));
}
