mod common;

use common::plan;
use common::{fixture, fixture_bytes};
use wa_edge::db::ingest::ingest_statements;
use wa_edge::db::Arg;
use wa_edge::inbound::ingest::{kinds, RawEncoding};

/// Every fixture under tests/fixtures, by name: each is a webhook body.
fn all_fixtures() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() > 60, "fixtures found: {}", names.len());
    names
}

#[test]
fn every_fixture_plans_at_least_one_row_and_no_dead_letter() {
    for name in &all_fixtures() {
        let p = plan(&fixture(name));
        let c = p.counts();
        assert!(
            c.messages + c.statuses + c.events > 0,
            "{name} planned nothing"
        );
        assert!(
            p.events.iter().all(|e| e.kind != kinds::DEAD_LETTER),
            "{name} became a dead letter"
        );
    }
}

#[test]
fn every_message_type_fixture_yields_one_message_with_its_type() {
    for (name, kind) in [
        ("text", "text"),
        ("image", "image"),
        ("audio_voice", "audio"),
        ("video", "video"),
        ("document", "document"),
        ("sticker", "sticker"),
        ("location", "location"),
        ("contacts", "contacts"),
        ("interactive_button_reply", "interactive"),
        ("button", "button"),
        ("reaction", "reaction"),
        ("unreaction", "reaction"),
        ("order", "order"),
        ("system", "system"),
        ("unsupported", "unsupported"),
        ("unknown_type", "hologram"),
    ] {
        let p = plan(&fixture(name));
        assert_eq!(p.messages.len(), 1, "{name}");
        assert_eq!(p.messages[0].kind, kind, "{name}");
        assert!(p.events.is_empty(), "{name}: {:?}", p.events);
    }
}

#[test]
fn text_message_row_has_keys_contact_and_raw_json() {
    let p = plan(&fixture("text"));
    let m = &p.messages[0];
    assert!(m.id.as_str().starts_with("wamid."));
    assert_eq!(m.wa_id.as_ref().unwrap().as_str(), "16505551234");
    assert_eq!(
        m.phone_number_id.as_ref().unwrap().as_str(),
        "106540352242922"
    );
    assert_eq!(m.display_phone_number.as_deref(), Some("15550783881"));
    assert_eq!(m.text.as_deref(), Some("Hello, do you ship to Berlin?"));
    let raw: serde_json::Value = serde_json::from_str(m.raw.as_str()).unwrap();
    assert_eq!(raw["text"]["body"], "Hello, do you ship to Berlin?");

    assert_eq!(p.contacts.len(), 1);
    let c = &p.contacts[0];
    assert_eq!(c.profile_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!((c.first_seen, c.last_seen), (1_739_321_024, 1_739_321_024));
}

#[test]
fn reply_context_and_button_ids_are_stored_as_columns() {
    let p = plan(&fixture("interactive_button_reply"));
    assert_eq!(p.messages[0].reply_id.as_deref(), Some("track-order"));
    assert!(p.messages[0].context_id.is_some());
}

#[test]
fn status_rows_carry_rank_conversation_pricing_and_errors() {
    let sent = plan(&fixture("status_sent"));
    let s = &sent.statuses[0];
    assert_eq!((s.status.as_str(), s.rank), ("sent", 10));
    assert_eq!(s.conversation_category.as_deref(), Some("service"));
    assert_eq!(s.billable, Some(true));
    assert!(sent.contacts.is_empty() && sent.messages.is_empty());

    let failed = plan(&fixture("status_failed"));
    let errors: serde_json::Value =
        serde_json::from_str(failed.statuses[0].errors.as_deref().unwrap()).unwrap();
    assert_eq!(errors[0]["code"], 131047);

    let unknown = plan(&fixture("status_unknown"));
    assert_eq!(unknown.statuses[0].status, "teleported");
    assert_eq!(unknown.statuses[0].rank, 0);
}

#[test]
fn other_fields_become_typed_events() {
    let t = plan(&fixture("template_status_update"));
    assert_eq!(t.events.len(), 1);
    let e = &t.events[0];
    assert_eq!(e.kind, "message_template_status_update");
    assert_eq!(e.reference.as_deref(), Some("594425479261596"));
    assert_eq!(e.waba_id.as_deref(), Some("102290129340398"));
    assert!(e.summary.as_deref().unwrap().contains("REJECTED"));
    assert_eq!(e.raw_encoding, RawEncoding::Json);

    for (name, kind) in [
        ("phone_number_quality_update", "phone_number_quality_update"),
        ("account_update", "account_update"),
        ("user_preferences", "user_preferences"),
        ("messages_errors", kinds::ERROR),
    ] {
        let p = plan(&fixture(name));
        assert_eq!(p.events.len(), 1, "{name}");
        assert_eq!(p.events[0].kind, kind, "{name}");
    }
}

#[test]
fn multi_entry_batch_yields_every_item() {
    let p = plan(&fixture("multi_entry"));
    assert_eq!(p.messages.len(), 3);
    assert_eq!(p.statuses.len(), 1);
    assert_eq!(p.contacts.len(), 3);
    assert_eq!(p.events.len(), 1);
    let second_number = p
        .messages
        .iter()
        .find(|m| m.wa_id.as_ref().unwrap().as_str() == "5511987654321")
        .unwrap();
    assert_eq!(
        second_number.phone_number_id.as_ref().unwrap().as_str(),
        "106540352242923"
    );
}

#[test]
fn malformed_items_are_kept_as_events_and_the_rest_of_the_batch_is_stored() {
    let p = plan(&fixture("malformed_item"));
    // The good message and the one with a numeric body (malformed content but a usable envelope).
    assert_eq!(p.messages.len(), 2);
    let mut kinds_seen: Vec<&str> = p.events.iter().map(|e| e.kind.as_str()).collect();
    kinds_seen.sort_unstable();
    assert_eq!(
        kinds_seen,
        [
            kinds::MALFORMED_CONTACT,
            kinds::MALFORMED_MESSAGE,
            kinds::MALFORMED_STATUS
        ]
    );
    assert!(p.statuses.is_empty());
}

#[test]
fn invalid_json_is_a_dead_letter_with_the_body_kept() {
    let p = plan(b"{\"entry\": [");
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].kind, kinds::DEAD_LETTER);
    assert_eq!(p.events[0].raw, "{\"entry\": [");
    assert_eq!(p.events[0].raw_encoding, RawEncoding::Text);

    let binary = plan(&[0xff, 0xfe, 0x00]);
    assert_eq!(binary.events[0].raw, "fffe00");
    assert_eq!(binary.events[0].raw_encoding, RawEncoding::Hex);
}

#[test]
fn json_that_is_not_a_whatsapp_notification_is_unrecognized() {
    for body in [
        &b"[]"[..],
        b"{\"object\":\"page\",\"entry\":[]}",
        b"{\"hello\":1}",
    ] {
        let p = plan(body);
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.events[0].kind, kinds::UNRECOGNIZED);
    }
}

#[test]
fn rebatching_the_same_items_gives_the_same_keys() {
    // Each single-item fixture planned alone, and the same items inside the
    // multi-entry batch, must agree on every dedupe key.
    let batch = plan(&fixture("multi_entry"));
    let root: serde_json::Value = serde_json::from_slice(&fixture("multi_entry")).unwrap();
    for entry in root["entry"].as_array().unwrap() {
        for change in entry["changes"].as_array().unwrap() {
            let single = serde_json::json!({"object": "whatsapp_business_account",
                "entry": [{"id": entry["id"], "changes": [change]}]});
            let alone = plan(&serde_json::to_vec_pretty(&single).unwrap());
            // The raw JSON is the item as sent (here pretty-printed): the
            // same JSON, not the same text.
            let json = |raw: &str| serde_json::from_str::<serde_json::Value>(raw).unwrap();
            for m in &alone.messages {
                assert!(batch
                    .messages
                    .iter()
                    .any(|b| b.id == m.id && json(b.raw.as_str()) == json(m.raw.as_str())));
            }
            for s in &alone.statuses {
                assert!(batch
                    .statuses
                    .iter()
                    .any(|b| b.wamid == s.wamid && b.status == s.status));
            }
            for e in &alone.events {
                assert!(
                    batch.events.iter().any(|b| b.id == e.id),
                    "event key differs"
                );
            }
        }
    }
}

#[test]
fn planning_is_deterministic() {
    for name in &all_fixtures() {
        assert_eq!(plan(&fixture(name)), plan(&fixture(name)), "{name}");
    }
}

#[test]
fn escaped_wire_body_stores_the_decoded_text() {
    let p = plan(&fixture_bytes("wire_escaped.body"));
    assert_eq!(
        p.messages[0].text.as_deref(),
        Some("Grüße aus Köln 👋 — see https://example.com/a/b")
    );
}

#[test]
fn contact_keeps_the_earliest_and_latest_times_within_a_delivery() {
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
    "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "9"},
    "contacts": [{"wa_id": "111", "profile": {"name": "New Name"}}],
    "messages": [
        {"id": "wamid.b", "from": "111", "timestamp": "200", "type": "text", "text": {"body": "b"}},
        {"id": "wamid.a", "from": "111", "timestamp": "100", "type": "text", "text": {"body": "a"}}
    ]}}]}]});
    let p = plan(&serde_json::to_vec(&body).unwrap());
    assert_eq!(p.contacts.len(), 1);
    assert_eq!(
        (p.contacts[0].first_seen, p.contacts[0].last_seen),
        (100, 200)
    );
}

/// Highest `?N` placeholder used in `sql`.
fn placeholder_count(sql: &str) -> usize {
    let mut max = 0;
    let mut rest = sql;
    while let Some(i) = rest.find('?') {
        rest = &rest[i + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        max = max.max(digits.parse().unwrap_or(0));
    }
    max
}

#[test]
fn every_statement_binds_exactly_its_placeholders() {
    for name in &all_fixtures() {
        for stmt in ingest_statements(&plan(&fixture(name)), 1_700_000_000_000) {
            assert_eq!(placeholder_count(stmt.sql), stmt.args.len(), "{}", stmt.sql);
            // Inserts say what a second copy does; updates set values
            // that a second run sets again (coalesce, min, max, guards).
            assert!(
                stmt.sql.contains("ON CONFLICT") || stmt.sql.starts_with("UPDATE "),
                "{} is not idempotent",
                stmt.sql
            );
        }
    }
}

#[test]
fn statements_carry_the_receipt_time() {
    let stmts = ingest_statements(&plan(&fixture("text")), 1_700_000_000_123);
    assert_eq!(stmts.len(), 4, "contact create and merge, message, window");
    for s in stmts.iter().filter(|s| !s.sql.contains("INTO windows")) {
        assert!(s.args.contains(&Arg::Int(1_700_000_000_123)), "{}", s.sql);
    }
}

#[test]
fn inbound_messages_open_the_window_per_contact_and_channel() {
    let p = plan(&fixture("multi_entry"));
    let mut windows: Vec<(&str, &str, i64)> = p
        .windows
        .iter()
        .map(|w| {
            (
                w.contact.primary(),
                w.phone_number_id.as_str(),
                w.last_inbound_at,
            )
        })
        .collect();
    windows.sort_unstable();
    assert_eq!(
        windows,
        [
            ("16505551234", "106540352242922", 1_739_321_100),
            ("5511987654321", "106540352242923", 1_739_321_103),
            ("919876543210", "106540352242922", 1_739_321_101),
        ]
    );
    assert!(plan(&fixture("status_read")).windows.is_empty());
}

#[test]
fn large_deliveries_become_a_few_chunked_statements() {
    let big = "x".repeat(3_000);
    let messages: Vec<_> = (0..1000)
        .map(|i| {
            serde_json::json!({"id": format!("wamid.{i}"), "from": format!("1650555{i:04}"),
            "timestamp": "100", "type": "text", "text": {"body": big}})
        })
        .collect();
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
        "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "9"},
        "messages": messages}}]}]});
    let p = plan(&serde_json::to_vec(&body).unwrap());
    assert_eq!(p.messages.len(), 1000);
    let stmts = ingest_statements(&p, 1);
    let message_stmts: Vec<_> = stmts
        .iter()
        .filter(|s| s.sql.contains("INTO messages"))
        .collect();
    assert!(message_stmts.len() > 1, "3 MB of messages must be split");
    assert!(stmts.len() < 12, "{} statements", stmts.len());
    let mut rows = 0;
    for s in &message_stmts {
        let Arg::Text(json) = &s.args[0] else {
            panic!("rows are bound as JSON text")
        };
        assert!(json.len() <= wa_edge::db::MAX_CHUNK_BYTES);
        rows += serde_json::from_str::<Vec<serde_json::Value>>(json)
            .unwrap()
            .len();
    }
    assert_eq!(rows, 1000, "every row is in exactly one chunk");
}

#[test]
fn statuses_are_chunked_as_rows_of_fifteen_in_order() {
    let data = "d".repeat(900);
    let statuses: Vec<_> = (0..1000)
        .map(|i| {
            serde_json::json!({"id": format!("wamid.s{i:04}"), "status": "delivered",
            "timestamp": "100", "recipient_id": "16505551234", "biz_opaque_callback_data": data})
        })
        .collect();
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
        "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "9"},
        "statuses": statuses}}]}]});
    let p = plan(&serde_json::to_vec(&body).unwrap());
    assert_eq!(p.statuses.len(), 1000);
    let chunks: Vec<Vec<serde_json::Value>> = ingest_statements(&p, 1)
        .iter()
        .filter(|s| s.sql.contains("INTO statuses"))
        .map(|s| {
            let Arg::Text(json) = &s.args[0] else {
                panic!("rows are bound as JSON text")
            };
            assert!(json.len() <= wa_edge::db::MAX_CHUNK_BYTES);
            serde_json::from_str(json).unwrap()
        })
        .collect();
    assert!(
        chunks.len() > 1,
        "over a megabyte of statuses must be split"
    );
    let rows: Vec<_> = chunks.into_iter().flatten().collect();
    assert_eq!(rows.len(), 1000, "every row is in exactly one chunk");
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_array().expect("a row is an array");
        assert_eq!(row.len(), 15);
        assert_eq!(row[0], format!("wamid.s{i:04}"), "order is kept");
        assert_eq!(row[1], "delivered");
        assert_eq!(row[4], "16505551234");
    }
}

#[test]
fn a_messages_change_whose_lists_are_not_lists_is_one_malformed_change() {
    for bad in [
        serde_json::json!({"statuses": {"id": "wamid.x"}}),
        serde_json::json!({"messages": "hello"}),
        serde_json::json!({"contacts": 1, "messages": []}),
        serde_json::json!({"metadata": "9", "messages": []}),
        serde_json::json!(["not", "an", "object"]),
    ] {
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
            "changes": [{"field": "messages", "value": bad}]}]});
        let p = plan(&serde_json::to_vec(&body).unwrap());
        assert!(p.messages.is_empty() && p.statuses.is_empty(), "{bad}");
        assert_eq!(p.events.len(), 1, "{bad}");
        assert_eq!(p.events[0].kind, kinds::MALFORMED_CHANGE, "{bad}");
    }
}
