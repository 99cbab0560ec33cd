mod common;

use common::q;
use serde_json::json;
use wa_edge::api::router::{route, Route};
use wa_edge::api::{
    authenticate, contact_json, event_json, listing, message_json, status_only_message_json,
    Cursor, Page, Presented,
};
use wa_edge::db::reads::{decode, ContactRow, EventRow, MessageRow, StatusRow};

#[test]
fn bearer_token_is_required_and_compared() {
    assert_eq!(
        authenticate(Some("Bearer s3cret"), Some("s3cret")),
        Ok(Presented::Root)
    );
    assert!(
        authenticate(Some("bearer s3cret"), Some("s3cret")).is_ok(),
        "the scheme is case-insensitive"
    );
    for header in [
        None,
        Some("s3cret"),
        Some("Bearer nope"),
        Some("Basic s3cret"),
        Some("Bearer wak_short"),
    ] {
        let e = authenticate(header, Some("s3cret")).unwrap_err();
        assert_eq!((e.status, e.code), (401, "unauthorized"), "{header:?}");
    }
    let e = authenticate(None, Some("s3cret")).unwrap_err();
    assert_eq!(
        e.header,
        Some(("WWW-Authenticate", "Bearer realm=\"wa-edge\"")),
        "a 401 names the scheme it wants"
    );
    let closed = authenticate(Some("Bearer "), None).unwrap_err();
    assert_eq!(closed.status, 401);
    assert!(closed.message.contains("ADMIN_TOKEN"));
}

#[test]
fn a_key_shaped_token_is_looked_up_by_its_hash_even_without_an_admin_token() {
    let key = wa_edge::keys::new_key([7; 32]);
    let expected = Presented::Key(wa_edge::keys::hash(&key));
    let header = format!("Bearer {key}");
    assert_eq!(
        authenticate(Some(&header), Some("s3cret")),
        Ok(expected.clone())
    );
    assert_eq!(authenticate(Some(&header), None), Ok(expected));
    // An admin token that happens to look like a key is still the admin token.
    assert_eq!(authenticate(Some(&header), Some(&key)), Ok(Presented::Root));
}

#[test]
fn cursor_round_trips_and_rejects_forgeries() {
    let c = Cursor {
        at: 1_739_321_024,
        id: "wamid.a:b".into(),
    };
    assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    for bad in ["zz", "00", &hex::encode("nocolon"), &hex::encode("x:1")] {
        assert_eq!(Cursor::decode(bad).unwrap_err().status, 400, "{bad}");
    }
}

#[test]
fn page_limits_are_validated() {
    assert_eq!(Page::from_query(&q(&[])).unwrap().limit, 50);
    assert_eq!(
        Page::from_query(&q(&[("limit", "200")])).unwrap().limit,
        200
    );
    for bad in ["0", "201", "-1", "ten"] {
        let e = Page::from_query(&q(&[("limit", bad)])).unwrap_err();
        assert_eq!((e.status, e.code), (400, "invalid_request"), "{bad}");
    }
}

#[test]
fn listing_returns_a_cursor_only_when_more_rows_exist() {
    let rows: Vec<ContactRow> = decode(
        &(0..3)
            .map(|i| json!({"id": format!("ct_{i}"), "last_seen": 100 - i}))
            .collect::<Vec<_>>(),
    );
    let at = |c: &ContactRow| (c.last_seen, c.id.clone());
    let page = Page {
        limit: 2,
        cursor: None,
    };
    let l = listing(rows.clone(), &page, at, contact_json);
    assert_eq!(l.data.len(), 2);
    let next = Cursor::decode(l.next_cursor.as_deref().unwrap()).unwrap();
    assert_eq!(
        next,
        Cursor {
            at: 99,
            id: "ct_1".into()
        }
    );

    let all = listing(
        rows,
        &Page {
            limit: 3,
            cursor: None,
        },
        at,
        contact_json,
    );
    assert_eq!(all.next_cursor, None);
}

#[test]
fn inbound_message_shows_content_status_and_history() {
    let row = json!({"id": "wamid.1", "wamid": "wamid.1", "direction": "in", "type": "text",
        "wa_id": "16505551234", "phone_number_id": "1065", "display_phone_number": "1555",
        "timestamp": 1739321024.0, "received_at": 1739321024999.0,
        "raw": r#"{"type":"text","text":{"body":"hi"},"context":{"id":"wamid.0"}}"#});
    let m = message_json(&decode::<MessageRow>(&[row])[0], Some(&[]));
    assert_eq!(m["id"], "wamid.1");
    assert_eq!(m["from"], "16505551234");
    assert_eq!(m["to"], "1065");
    assert_eq!(m["timestamp"], 1739321024);
    assert_eq!(m["text"]["body"], "hi");
    assert_eq!(m["context"]["id"], "wamid.0");
    assert_eq!(m["status"], "received");
    assert_eq!(m["statuses"], json!([]));
}

#[test]
fn current_status_is_the_highest_ranked_not_the_latest() {
    let statuses = [
        json!({"status": "sent", "rank": 10, "timestamp": 1, "phone_number_id": "1065", "recipient_id": "1650"}),
        json!({"status": "read", "rank": 30, "timestamp": 3}),
        json!({"status": "delivered", "rank": 20, "timestamp": 4,
               "errors": null, "conversation_id": "c1", "conversation_category": "service",
               "pricing_category": "service", "billable": 1}),
    ];
    let m = status_only_message_json("wamid.out", &decode::<StatusRow>(&statuses));
    assert_eq!(m["status"], "read");
    assert_eq!(m["direction"], "out");
    assert_eq!(m["to"], "1650");
    assert_eq!(m["statuses"].as_array().unwrap().len(), 3);
    assert_eq!(m["statuses"][2]["pricing"]["billable"], true);
    assert_eq!(m["statuses"][2]["conversation"]["category"], "service");
}

#[test]
fn events_show_json_raw_or_the_text_that_arrived() {
    let event = |v: serde_json::Value| event_json(&decode::<EventRow>(&[v])[0]);
    let json_event = event(json!({"id": "e1", "kind": "account_update",
        "raw": r#"{"field":"account_update"}"#, "raw_encoding": "json", "summary": r#"{"event":"X"}"#}));
    assert_eq!(json_event["raw"]["field"], "account_update");
    assert_eq!(json_event["summary"]["event"], "X");
    let dead = event(json!({"id": "e2", "kind": "dead_letter", "raw": "{oops",
        "raw_encoding": "text"}));
    assert_eq!(dead["raw"], "{oops");
}

#[test]
fn urls_split_into_path_and_decoded_query() {
    use wa_edge::api::split_url;
    let (path, q) = split_url(
        "https://x.workers.dev/webhook?hub.mode=subscribe&hub.challenge=a%20b+c&empty=&flag#frag",
    );
    assert_eq!(path, "/webhook");
    assert_eq!(
        q,
        [
            ("hub.mode".to_owned(), "subscribe".to_owned()),
            ("hub.challenge".to_owned(), "a b c".to_owned()),
            ("empty".to_owned(), String::new()),
            ("flag".to_owned(), String::new()),
        ]
    );
    assert_eq!(split_url("http://h").0, "/");
    assert_eq!(
        split_url("http://h/v1/messages/wamid.A%3D%3D").0,
        "/v1/messages/wamid.A%3D%3D"
    );
}

#[test]
fn every_route_is_documented_in_openapi() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml")).unwrap();
    // (documented path, a concrete request the router must not call NotFound)
    let routes = [
        ("/healthz", "GET", "/healthz"),
        ("/webhook", "POST", "/webhook"),
        (
            "/webhook/360dialog/{phone_number_id}",
            "POST",
            "/webhook/360dialog/1",
        ),
        ("/v1/messages", "POST", "/v1/messages"),
        ("/v1/messages/{id}", "GET", "/v1/messages/wamid.1"),
        ("/v1/contacts", "GET", "/v1/contacts"),
        ("/v1/contacts/{contact}", "GET", "/v1/contacts/1"),
        (
            "/v1/contacts/{contact}/messages",
            "GET",
            "/v1/contacts/1/messages",
        ),
        ("/v1/events", "GET", "/v1/events"),
        ("/v1/rules", "POST", "/v1/rules"),
        ("/v1/rules/{id}", "PUT", "/v1/rules/r1"),
        ("/v1/channels", "GET", "/v1/channels"),
        ("/v1/channels/{id}", "PATCH", "/v1/channels/1"),
        (
            "/v1/channels/{id}/phone_numbers",
            "GET",
            "/v1/channels/1/phone_numbers",
        ),
        (
            "/v1/channels/{id}/register",
            "POST",
            "/v1/channels/1/register",
        ),
        (
            "/v1/channels/{id}/subscription",
            "GET",
            "/v1/channels/1/subscription",
        ),
        (
            "/v1/channels/{id}/profile",
            "PATCH",
            "/v1/channels/1/profile",
        ),
        (
            "/v1/channels/{id}/templates",
            "POST",
            "/v1/channels/1/templates",
        ),
        (
            "/v1/channels/{id}/templates/sync",
            "POST",
            "/v1/channels/1/templates/sync",
        ),
        (
            "/v1/channels/{id}/templates/{name}",
            "DELETE",
            "/v1/channels/1/templates/t",
        ),
        (
            "/v1/channels/{id}/webhook",
            "POST",
            "/v1/channels/1/webhook",
        ),
        ("/v1/media", "POST", "/v1/media"),
        ("/v1/media/{id}", "GET", "/v1/media/9"),
        ("/v1/events/{id}/raw", "GET", "/v1/events/abc/raw"),
        ("/v1/destinations", "POST", "/v1/destinations"),
        ("/v1/destinations/{id}", "PATCH", "/v1/destinations/d1"),
        (
            "/v1/destinations/{id}/secret",
            "POST",
            "/v1/destinations/d1/secret",
        ),
        (
            "/v1/destinations/{id}/deliveries",
            "GET",
            "/v1/destinations/d1/deliveries",
        ),
        (
            "/v1/destinations/{id}/deliveries/{delivery}/retry",
            "POST",
            "/v1/destinations/d1/deliveries/msg_1/retry",
        ),
        (
            "/v1/destinations/{id}/deliveries/retry",
            "POST",
            "/v1/destinations/d1/deliveries/retry",
        ),
        (
            "/v1/destinations/{id}/replay",
            "POST",
            "/v1/destinations/d1/replay",
        ),
        ("/v1/keys", "POST", "/v1/keys"),
        ("/v1/keys/{id}", "DELETE", "/v1/keys/key_1"),
        ("/v1/session", "POST", "/v1/session"),
        ("/v1/session/logout", "POST", "/v1/session/logout"),
        ("/v1/conversations", "GET", "/v1/conversations"),
        (
            "/v1/contacts/{contact}/read",
            "POST",
            "/v1/contacts/ct_1/read",
        ),
        ("/v1/rules/try", "POST", "/v1/rules/try"),
        ("/v1/media/limits", "GET", "/v1/media/limits"),
        (
            "/v1/channels/{id}/profile/photo",
            "GET",
            "/v1/channels/1/profile/photo",
        ),
        (
            "/graph/{version}/{phone_number_id}/messages",
            "POST",
            "/graph/v23.0/1/messages",
        ),
        (
            "/graph/{version}/{phone_number_id}/media",
            "POST",
            "/graph/v23.0/1/media",
        ),
    ];
    for (documented, method, concrete) in routes {
        assert!(
            spec.contains(&format!("\n  {documented}:\n")),
            "{documented} missing from openapi.yaml"
        );
        let r = route(method, concrete);
        assert!(
            !matches!(r, Route::NotFound | Route::MethodNotAllowed(_)),
            "{method} {concrete}: {r:?}"
        );
    }
    let documented = spec
        .lines()
        .filter(|l| l.starts_with("  /") && l.ends_with(':'))
        .count();
    assert_eq!(
        documented,
        routes.len(),
        "openapi.yaml documents a path the test does not know"
    );
}

#[test]
fn rows_decode_leniently_numbers_as_floats_and_columns_of_another_type() {
    let rows = decode::<MessageRow>(&[
        json!({"id": "m1", "timestamp": 1739321024.0, "attempts": "x", "future_column": 1}),
        json!("not an object"),
    ]);
    assert_eq!(rows[0].id.as_deref(), Some("m1"));
    assert_eq!(rows[0].timestamp, Some(1739321024));
    assert_eq!(rows[0].attempts, None);
    assert_eq!(rows[1], MessageRow::default());
}
