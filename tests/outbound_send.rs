//! The send decision: one order of checks, each refusal its own reason.

use serde_json::json;
use wa_edge::api::ApiError;
use wa_edge::channels::Channel;
use wa_edge::outbound::send::{
    decide, parse, Decision, Earlier, Lookups, Refusal, SendRequest, StoredTemplate,
};

const NOW_MS: i64 = 1_800_000_000_000;

fn channel(extra: serde_json::Value) -> Channel {
    let mut c = json!({"phone_number_id": "106540352242922", "provider": "meta",
                       "credential_secret": "TOKEN_A", "waba_id": "1"});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Channel::parse(c.to_string().as_bytes()).unwrap()
}

fn text() -> SendRequest {
    parse(br#"{"to": "16505551234", "type": "text", "text": {"body": "hi"}}"#).unwrap()
}

fn template() -> SendRequest {
    parse(
        br#"{"to": "16505551234", "type": "template", "template": {"name": "order_update",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-1"}]}]}}"#,
    )
    .unwrap()
}

fn open_window() -> Lookups {
    Lookups {
        last_inbound: Some(NOW_MS / 1000 - 60),
        ..Lookups::default()
    }
}

fn run(request: SendRequest, channel: &Channel, lookups: &Lookups) -> Result<Decision, Refusal> {
    decide(
        request,
        channel,
        lookups,
        "hash",
        Some("idem:k".into()),
        "out_1".into(),
        NOW_MS,
    )
}

#[test]
fn a_text_inside_the_window_is_queued_with_its_key_and_hash() {
    match run(text(), &channel(json!({})), &open_window()).unwrap() {
        Decision::Queue(e) => {
            assert_eq!(e.id, "out_1");
            assert_eq!(e.recipient, "16505551234");
            assert_eq!(e.payload["to"], "16505551234");
            assert_eq!(e.dedupe_key.as_deref(), Some("idem:k"));
            assert_eq!(e.request_hash.as_deref(), Some("hash"));
            assert_eq!(e.source, "api");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_replay_comes_before_every_other_check() {
    let lookups = Lookups {
        opted_out: true,
        earlier: Some(Earlier {
            id: "out_0".into(),
            state: Some("sent".into()),
            request_hash: Some("hash".into()),
        }),
        ..Lookups::default()
    };
    assert_eq!(
        run(text(), &channel(json!({})), &lookups).unwrap(),
        Decision::Replay {
            id: "out_0".into(),
            status: "accepted"
        }
    );
    let reused = Lookups {
        earlier: Some(Earlier {
            request_hash: Some("other".into()),
            ..lookups.earlier.clone().unwrap()
        }),
        ..lookups
    };
    assert_eq!(
        run(text(), &channel(json!({})), &reused).unwrap_err(),
        Refusal::IdempotencyKeyReused
    );
}

#[test]
fn opt_out_window_and_template_refusals_map_to_their_codes() {
    let c = channel(json!({}));
    let opted = Lookups {
        opted_out: true,
        ..open_window()
    };
    let cases = [
        (run(text(), &c, &opted), 409, "opted_out"),
        (run(text(), &c, &Lookups::default()), 409, "outside_window"),
        (
            run(
                template(),
                &c,
                &Lookups {
                    template: Some(StoredTemplate {
                        status: "PAUSED".into(),
                        body: json!({}),
                    }),
                    ..Lookups::default()
                },
            ),
            409,
            "template_not_approved",
        ),
        (
            run(
                template(),
                &c,
                &Lookups {
                    template: Some(StoredTemplate {
                        status: "APPROVED".into(),
                        body: json!({"name": "order_update", "language": "en_US",
                                     "components": [{"type": "BODY", "text": "{{1}} and {{2}}"}]}),
                    }),
                    ..Lookups::default()
                },
            ),
            400,
            "invalid_message",
        ),
        (
            run(
                text(),
                &channel(json!({"test_number": true, "test_recipients": ["+44 7700 900123"]})),
                &open_window(),
            ),
            403,
            "recipient_not_allowed",
        ),
        (
            run(
                template(),
                &c,
                &Lookups {
                    recipients_24h: 250,
                    ..Lookups::default()
                },
            ),
            429,
            "messaging_limit_reached",
        ),
    ];
    for (result, status, code) in cases {
        let e = ApiError::from(result.unwrap_err());
        assert_eq!((e.status, e.code), (status, code), "{}", e.message);
    }
}

#[test]
fn a_template_outside_the_window_is_allowed_and_counted_recipients_pass_the_tier() {
    let lookups = Lookups {
        recipients_24h: 250,
        already_counted: true,
        ..Lookups::default()
    };
    assert!(matches!(
        run(template(), &channel(json!({})), &lookups),
        Ok(Decision::Queue(_))
    ));
}

#[test]
fn a_send_asks_d1_only_what_it_depends_on_and_reads_each_answer_in_its_place() {
    use wa_edge::db::lookups::send_checks;
    use wa_edge::whatsapp::identity::ContactRef;
    let to = ContactRef::parse("16505551234").unwrap();
    let plain = send_checks(&to, "pn", None, None, None);
    assert_eq!(
        plain.statements.len(),
        3,
        "contact, opt-out and window only"
    );
    let idem = wa_edge::outbound::send::IdempotencyKey::parse(Some("k"), "admin", "pn")
        .unwrap()
        .unwrap();
    let all = send_checks(&to, "pn", Some(&idem), Some(("w", "t", "en")), Some(5));
    assert_eq!(all.statements.len(), 6);
    let rows = vec![
        vec![
            json!({"id": "ct_0123456789abcdef01234567", "wa_id": "16505551234", "user_id": "US.1"}),
        ],
        vec![],
        vec![json!({"last_inbound_at": 10.0})],
        vec![json!({"id": "out_0", "state": "sent", "request_hash": "h"})],
        vec![json!({"status": "PAUSED", "body": "{}"})],
        vec![json!({"n": 3.0, "counted": 1})],
    ];
    let l = all.lookups(&rows);
    let contact = l.contact.clone().unwrap();
    assert_eq!(contact.id.as_str(), "ct_0123456789abcdef01234567");
    assert_eq!(contact.user_id.unwrap().as_str(), "US.1");
    assert!(!l.opted_out);
    assert_eq!(l.last_inbound, Some(10));
    assert_eq!(l.earlier.unwrap().id, "out_0");
    assert_eq!(l.template.unwrap().status, "PAUSED");
    assert_eq!((l.recipients_24h, l.already_counted), (3, true));
    let only_count = send_checks(&to, "pn", None, None, Some(5));
    let l = only_count.lookups(&[
        vec![],
        vec![json!({"opted_out": 1})],
        vec![],
        vec![json!({"n": 2})],
    ]);
    assert!(l.opted_out && l.earlier.is_none() && l.template.is_none() && l.contact.is_none());
    assert_eq!(l.recipients_24h, 2);
}
