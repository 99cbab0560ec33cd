//! Graph's dialect under `/graph`: request bodies as Graph takes them, and
//! every refusal as the Graph error a Graph client already handles.

use serde_json::{json, Value};
use wa_edge::api::graph::{from_api, is_read_receipt, queued, read_receipt, sent, to_send_body};
use wa_edge::api::ApiError;
use wa_edge::outbound::send::Refusal;

fn graph_of(r: Refusal) -> (u16, Value) {
    let e = from_api(&ApiError::from(r));
    (e.status, e.body("trace"))
}

#[test]
fn refusals_carry_graphs_own_codes() {
    let (status, body) = graph_of(Refusal::OutsideWindow);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 131047);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert_eq!(body["error"]["fbtrace_id"], "trace");
    assert!(body["error"]["error_data"]["details"]
        .as_str()
        .unwrap()
        .contains("24-hour"));
    assert_eq!(graph_of(Refusal::OptedOut).1["error"]["code"], 131050);
    assert_eq!(
        graph_of(Refusal::NotATestRecipient).1["error"]["code"],
        131030
    );
    assert_eq!(
        graph_of(Refusal::TierReached { limit: 250 }).1["error"]["code"],
        131048
    );
    let paused = Refusal::TemplateNotApproved {
        name: "t".into(),
        language: "en".into(),
        status: "PAUSED".into(),
    };
    assert_eq!(graph_of(paused).1["error"]["code"], 132015);
    let pending = Refusal::TemplateNotApproved {
        name: "t".into(),
        language: "en".into(),
        status: "PENDING".into(),
    };
    assert_eq!(graph_of(pending).1["error"]["code"], 132001);
    let (status, body) = graph_of(Refusal::InvalidMessage("text.body: required".into()));
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(100)));
    assert_eq!(
        body["error"]["error_data"]["details"], "text.body: required",
        "the field is named"
    );
    let (status, body) = graph_of(Refusal::UnknownChannel);
    assert_eq!(
        (
            body["error"]["code"].as_i64(),
            body["error"]["error_subcode"].as_i64()
        ),
        (Some(100), Some(33))
    );
    assert_eq!(status, 400, "Graph's answer for an object it does not know");
}

#[test]
fn auth_failures_and_internal_errors_are_graph_shaped_and_say_nothing_internal() {
    let e = from_api(&ApiError::new(
        401,
        "unauthorized",
        "The API key is not valid.",
    ));
    assert_eq!((e.status, e.code), (401, 190));
    let e = from_api(&ApiError::new(
        403,
        "forbidden",
        "This key may not act for channel 2.",
    ));
    assert_eq!((e.status, e.code), (403, 10));
    let e = from_api(&ApiError::new(
        500,
        "internal",
        "D1_ERROR: no such table: secrets",
    ));
    assert_eq!(e.status, 500);
    assert!(!e.body("t").to_string().contains("D1"), "{}", e.body("t"));
}

#[test]
fn graph_bodies_become_send_bodies() {
    let v = to_send_body(br#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text","text":{"body":"hi"}}"#).unwrap();
    assert_eq!(
        v,
        json!({"to": "16505551234", "type": "text", "text": {"body": "hi"}})
    );
    for (body, field) in [
        (
            r#"{"to":"1","type":"text","text":{"body":"hi"}}"#,
            "messaging_product",
        ),
        (
            r#"{"messaging_product":"sms","to":"1"}"#,
            "messaging_product",
        ),
        (
            r#"{"messaging_product":"whatsapp","recipient_type":"group","to":"1"}"#,
            "recipient_type",
        ),
        (
            r#"{"messaging_product":"whatsapp","from":"2","to":"1"}"#,
            "from",
        ),
        (
            r#"{"messaging_product":"whatsapp","contact":"ct_1"}"#,
            "contact",
        ),
        ("[1]", "object"),
        ("{", "JSON"),
    ] {
        let e = to_send_body(body.as_bytes()).unwrap_err();
        assert_eq!(e.status, 400, "{body}");
        assert!(e.message.contains(field), "{body}: {}", e.message);
    }
}

#[test]
fn read_receipts_are_recognised_and_checked() {
    let v =
        json!({"status": "read", "message_id": "wamid.1", "typing_indicator": {"type": "text"}});
    assert!(is_read_receipt(&v));
    assert_eq!(read_receipt(&v).unwrap(), ("wamid.1".into(), true));
    assert!(!is_read_receipt(&json!({"to": "1", "type": "text"})));
    assert!(read_receipt(&json!({"status": "read"}))
        .unwrap_err()
        .message
        .contains("message_id"));
    assert!(read_receipt(&json!({"status": "read", "message_id": "w", "to": "1"})).is_err());
    let extra =
        json!({"status": "read", "message_id": "w", "typing_indicator": {"type": "text", "x": 1}});
    assert!(read_receipt(&extra)
        .unwrap_err()
        .message
        .starts_with("typing_indicator"));
}

#[test]
fn answers_have_graphs_shape() {
    let ok = sent("+1 650 555 1234", Some("16505551234"), "wamid.X");
    assert_eq!(ok["messaging_product"], "whatsapp");
    assert_eq!(
        ok["contacts"][0],
        json!({"input": "+1 650 555 1234", "wa_id": "16505551234"})
    );
    assert_eq!(ok["messages"][0], json!({"id": "wamid.X"}));
    let later = queued("16505551234", Some("16505551234"), "out_1");
    assert_eq!(
        later["messages"][0],
        json!({"id": "out_1", "message_status": "queued"})
    );
}
