use serde_json::{json, Value};
use wa_edge::whatsapp::graph::error::{classify, network_failure, Outcome};
use wa_edge::whatsapp::graph::{Endpoint, Provider};

fn meta() -> Endpoint {
    Endpoint {
        provider: Provider::Meta,
        base: "https://graph.facebook.com/".into(),
        version: "v23.0".into(),
        phone_number_id: "106540352242922".into(),
        credential: "EAAG-token".into(),
    }
}

fn d360() -> Endpoint {
    Endpoint {
        provider: Provider::Dialog360,
        base: "https://waba-v2.360dialog.io".into(),
        version: "v23.0".into(),
        phone_number_id: "106540352242922".into(),
        credential: "d360-key".into(),
    }
}

fn body(req: &wa_edge::whatsapp::graph::HttpRequest) -> Value {
    serde_json::from_slice(req.body.as_deref().unwrap()).unwrap()
}

#[test]
fn meta_send_posts_to_the_phone_number_with_a_bearer_token() {
    let msg = json!({"to": "16505551234", "type": "text", "text": {"body": "hi"}});
    let req = meta().send_message(&msg);
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.url,
        "https://graph.facebook.com/v23.0/106540352242922/messages"
    );
    assert!(req
        .headers
        .contains(&("Authorization", "Bearer EAAG-token".into())));
    assert!(req
        .headers
        .contains(&("Content-Type", "application/json".into())));
    assert_eq!(
        body(&req),
        json!({"messaging_product": "whatsapp", "recipient_type": "individual",
               "to": "16505551234", "type": "text", "text": {"body": "hi"}})
    );
}

#[test]
fn every_message_kind_is_sent_as_given() {
    for msg in [
        json!({"to": "1", "type": "image", "image": {"id": "123", "caption": "c"}}),
        json!({"to": "1", "type": "document", "document": {"link": "https://x.test/a.pdf", "filename": "a.pdf"}}),
        json!({"to": "1", "type": "location", "location": {"latitude": 1.5, "longitude": 2.5}}),
        json!({"to": "1", "type": "reaction", "reaction": {"message_id": "wamid.1", "emoji": "👍"}}),
        json!({"to": "1", "type": "template", "template": {"name": "t", "language": {"code": "en"}}}),
        json!({"to": "1", "type": "text", "text": {"body": "r"}, "context": {"message_id": "wamid.9"}}),
    ] {
        let sent = body(&meta().send_message(&msg));
        for (k, v) in msg.as_object().unwrap() {
            assert_eq!(&sent[k], v, "{k}");
        }
        assert_eq!(sent["messaging_product"], "whatsapp");
    }
}

#[test]
fn dialog360_send_uses_its_path_and_api_key_header() {
    let req = d360().send_message(&json!({"to": "1", "type": "text", "text": {"body": "x"}}));
    assert_eq!(req.url, "https://waba-v2.360dialog.io/messages");
    assert!(req.headers.contains(&("D360-API-KEY", "d360-key".into())));
    assert!(req.headers.iter().all(|(k, _)| *k != "Authorization"));
}

#[test]
fn mark_read_and_typing_indicator_follow_graph() {
    let read = body(&meta().mark_read("wamid.1", false));
    assert_eq!(
        read,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.1"})
    );
    let typing = body(&meta().mark_read("wamid.1", true));
    assert_eq!(typing["typing_indicator"], json!({"type": "text"}));
}

fn err(code: i64) -> String {
    json!({"error": {"message": "m", "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": "the details"}, "fbtrace_id": "x"}})
    .to_string()
}

#[test]
fn success_yields_the_wamid() {
    let ok = json!({"messaging_product": "whatsapp", "contacts": [{"input": "1", "wa_id": "1"}],
        "messages": [{"id": "wamid.abc"}]});
    assert_eq!(
        classify(200, &ok.to_string(), None),
        Outcome::Sent {
            wamid: "wamid.abc".into()
        }
    );
}

#[test]
fn throttling_is_retried_with_retry_after() {
    for (status, code) in [
        (429, 4),
        (400, 80007),
        (400, 130429),
        (400, 131056),
        (429, 0),
    ] {
        match classify(status, &err(code), Some("7")) {
            Outcome::Retry { retry_after_s, .. } => assert_eq!(retry_after_s, Some(7)),
            other => panic!("{status}/{code}: {other:?}"),
        }
    }
}

#[test]
fn failures_where_graph_certainly_refused_are_retried() {
    assert!(matches!(
        classify(500, &err(1), None),
        Outcome::Retry { .. }
    ));
    assert!(matches!(
        classify(503, &err(131016), None),
        Outcome::Retry { .. }
    ));
    assert!(matches!(
        classify(400, &err(131000), None),
        Outcome::Retry { .. }
    ));
    assert!(matches!(
        classify(429, "", Some("5")),
        Outcome::Retry {
            retry_after_s: Some(5),
            ..
        }
    ));
    for refused in [
        "connect ECONNREFUSED 127.0.0.1:443",
        "TypeError: Connection refused",
        "DNS lookup failed",
    ] {
        assert!(
            matches!(network_failure(refused), Outcome::Retry { .. }),
            "{refused}"
        );
    }
}

#[test]
fn answers_that_do_not_say_whether_graph_accepted_are_unknown() {
    for (status, body) in [
        (200, "{}"),
        (200, "not json"),
        (201, r#"{"messages": []}"#),
        (500, ""),
        (502, "<html>Bad gateway</html>"),
        (504, r#"{"error": "timeout"}"#),
    ] {
        assert!(
            matches!(classify(status, body, None), Outcome::Unknown { .. }),
            "{status} {body}"
        );
    }
    for lost in ["Network connection lost.", "reset", "internal error"] {
        assert!(
            matches!(network_failure(lost), Outcome::Unknown { .. }),
            "{lost}"
        );
    }
    assert!(matches!(
        wa_edge::whatsapp::graph::error::timed_out(15),
        Outcome::Unknown { .. }
    ));
}

#[test]
fn permanent_errors_fail_without_retry_and_keep_the_reason() {
    for code in [131047, 131048, 131026, 132000, 100, 131051] {
        match classify(400, &err(code), None) {
            Outcome::Failed { code: c, reason } => {
                assert_eq!(c, Some(code));
                assert_eq!(reason, format!("{code}: the details"));
            }
            other => panic!("{code}: {other:?}"),
        }
    }
    assert!(matches!(
        classify(404, "not json", None),
        Outcome::Failed { code: None, .. }
    ));
}

#[test]
fn auth_errors_are_told_apart() {
    assert!(matches!(
        classify(401, &err(190), None),
        Outcome::AuthFailed { .. }
    ));
    assert!(matches!(
        classify(400, &err(190), None),
        Outcome::AuthFailed { .. }
    ));
    assert!(matches!(
        classify(401, "", None),
        Outcome::AuthFailed { .. }
    ));
}
