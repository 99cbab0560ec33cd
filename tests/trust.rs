//! Trust rules of the core: a channel's path speaks for its own number,
//! nothing acknowledged is too big to store, a delivery stays inside the
//! Free plan's D1 budget, templates move forward in time, erasure forgets.

mod common;

use common::{fixture, plan, RECEIVED_AT};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use wa_edge::db::ingest::{delivery_writes, Spill, SpillTo, Writes, INLINE_RAW_MAX, PART_BYTES};

const ROWS: Spill = Spill {
    to: SpillTo::Rows,
    tag: TAG,
};
const TAG: &str = "0123456789abcdef0123456789abcdef";
use wa_edge::db::Arg;
use wa_edge::ids::PhoneNumberId;
use wa_edge::inbound::autoreply::{decide, Known, OptSettings};
use wa_edge::inbound::ingest::{self, kinds, Delivery, Scope};
use wa_edge::inbound::rules::Rule;

fn on_channel(pnid: &str) -> Delivery {
    Delivery {
        received_at: RECEIVED_AT,
        scope: Scope::Channel(PhoneNumberId(pnid.into())),
        default_channel: None,
    }
}

fn placeholder_max(sql: &str) -> usize {
    (1..=20)
        .rev()
        .find(|n| sql.contains(&format!("?{n}")))
        .unwrap_or(0)
}

#[test]
fn a_channel_path_stores_another_numbers_messages_only_as_a_foreign_channel_event() {
    // The text fixture is addressed to 106540352242922.
    let p = ingest::plan(&fixture("text"), &on_channel("999"));
    assert!(p.messages.is_empty() && p.contacts.is_empty() && p.windows.is_empty());
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].kind, kinds::FOREIGN_CHANNEL);
    assert!(p.events[0].raw.contains("\"messages\""), "kept raw");
    let own = ingest::plan(&fixture("text"), &on_channel("106540352242922"));
    assert_eq!(own.messages.len(), 1);
    assert!(own.events.is_empty());
}

#[test]
fn account_level_fields_on_a_channel_path_change_nothing() {
    let p = ingest::plan(
        &fixture("template_status_update"),
        &on_channel("106540352242922"),
    );
    assert!(p.templates.is_empty(), "templates are the app's to change");
    assert_eq!(p.events.len(), 1, "but the change is kept");
    assert_eq!(plan(&fixture("template_status_update")).templates.len(), 1);
    // A marketing stop counts only for the channel's own number.
    let own = ingest::plan(&fixture("user_preferences"), &on_channel("106540352242922"));
    assert_eq!(own.opts.len(), 1);
    assert_eq!(own.opts[0].phone_number_id.as_str(), "106540352242922");
    let other = ingest::plan(&fixture("user_preferences"), &on_channel("999"));
    assert!(other.opts.is_empty());
}

fn template_update(event: &str, time: i64) -> Value {
    json!({"id": "102290129340398", "time": time, "changes": [{"field": "message_template_status_update",
        "value": {"event": event, "message_template_id": 594425479261596_i64,
                  "message_template_name": "order_update", "message_template_language": "en_US",
                  "reason": "NONE"}}]})
}

#[test]
fn the_newest_template_status_of_a_delivery_wins_and_older_ones_are_guarded_in_sql() {
    let body = json!({"object": "whatsapp_business_account", "entry": [
        template_update("PAUSED", 1_700_000_200),
        template_update("APPROVED", 1_700_000_100),
    ]});
    let p = plan(body.to_string().as_bytes());
    assert_eq!(p.templates.len(), 2);
    let writes = delivery_writes(&p, &[], Vec::new(), 1, ROWS);
    let stmt = writes
        .statements
        .iter()
        .find(|s| s.sql.contains("INTO templates"))
        .unwrap();
    assert!(stmt
        .sql
        .contains("excluded.status_at >= templates.status_at"));
    let Arg::Text(rows) = &stmt.args[0] else {
        panic!()
    };
    let rows: Value = serde_json::from_str(rows).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0][4], "PAUSED");
    assert_eq!(rows[0][6], 1_700_000_200);
}

fn bound_text_sizes(writes: &Writes) -> Vec<usize> {
    writes
        .statements
        .iter()
        .flat_map(|s| s.args.iter())
        .filter_map(|a| match a {
            Arg::Text(t) => Some(t.len()),
            _ => None,
        })
        .collect()
}

fn joined_parts(writes: &Writes, owner: &str) -> String {
    let mut parts: Vec<(i64, String)> = writes
        .statements
        .iter()
        .filter(|s| s.sql.contains("INTO raw_parts"))
        .filter(|s| s.args[0] == Arg::Text(owner.into()))
        .map(|s| match (&s.args[1], &s.args[2]) {
            (Arg::Int(i), Arg::Text(t)) => (*i, t.clone()),
            _ => panic!(),
        })
        .collect();
    parts.sort();
    parts.into_iter().map(|(_, t)| t).collect()
}

#[test]
fn a_message_with_a_huge_text_is_stored_in_parts_under_the_row_limit() {
    let mut v: Value = serde_json::from_slice(&fixture("text")).unwrap();
    let text = "é".repeat(750_000); // 1.5 MB
    v["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = json!(text);
    let p = plan(v.to_string().as_bytes());
    assert_eq!(p.messages.len(), 1);
    assert!(p.messages[0].text.as_ref().unwrap().len() <= ingest::MAX_SEARCH_TEXT);
    let writes = delivery_writes(&p, &[], Vec::new(), 1, ROWS);
    assert!(bound_text_sizes(&writes).iter().all(|n| *n <= 800_000));
    let owner = format!("message:{}~{TAG}", p.messages[0].id.as_str());
    let joined = joined_parts(&writes, &owner);
    assert_eq!(
        joined,
        p.messages[0].raw.as_str(),
        "the parts rebuild the raw JSON"
    );
    let to_r2 = delivery_writes(
        &p,
        &[],
        Vec::new(),
        1,
        Spill {
            to: SpillTo::R2,
            tag: TAG,
        },
    );
    assert_eq!(to_r2.blobs.len(), 1);
    assert_eq!(to_r2.blobs[0].data, p.messages[0].raw.as_str());
    assert!(to_r2
        .statements
        .iter()
        .all(|s| !s.sql.contains("raw_parts")));
}

#[test]
fn two_deliveries_with_one_wamid_spill_under_keys_of_their_own_named_by_their_rows() {
    let mut v: Value = serde_json::from_slice(&fixture("text")).unwrap();
    v["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] =
        json!("é".repeat(400_000));
    let p = plan(v.to_string().as_bytes());
    let id = p.messages[0].id.as_str().to_owned();
    let other = "fedcba9876543210fedcba9876543210ffff";
    for to in [SpillTo::Rows, SpillTo::R2] {
        let mine = delivery_writes(&p, &[], Vec::new(), 1, Spill { to, tag: TAG });
        let theirs = delivery_writes(&p, &[], Vec::new(), 1, Spill { to, tag: other });
        let refs = |w: &Writes| -> Vec<String> {
            let stmt = w
                .statements
                .iter()
                .find(|s| s.sql.contains("INTO messages"))
                .unwrap();
            let Arg::Text(rows) = &stmt.args[0] else {
                panic!()
            };
            let rows: Value = serde_json::from_str(rows).unwrap();
            vec![rows[0][19].as_str().unwrap().to_owned()]
        };
        let (a, b) = (refs(&mine), refs(&theirs));
        assert_ne!(a, b, "{to:?}: each delivery names its own body");
        assert!(a[0].contains(&format!("message:{id}~{TAG}")), "{a:?}");
        assert!(
            b[0].ends_with(&other[..32]),
            "the tag is cut to 128 bits: {b:?}"
        );
        match to {
            SpillTo::R2 => {
                assert_eq!(format!("r2:{}", mine.blobs[0].key), a[0]);
                assert_ne!(mine.blobs[0].key, theirs.blobs[0].key);
            }
            SpillTo::Rows => {
                let parts: Vec<_> = mine
                    .statements
                    .iter()
                    .filter(|s| s.sql.contains("INTO raw_parts"))
                    .collect();
                assert!(!parts.is_empty());
                for part in parts {
                    // Written only when the message row names these parts.
                    assert!(part
                        .sql
                        .contains("EXISTS (SELECT 1 FROM messages WHERE id = ?4"));
                    assert!(part.sql.contains("raw_ref = 'parts:' || ?1"));
                    assert_eq!(part.args[3], Arg::Text(id.clone()));
                    assert_eq!(
                        format!(
                            "parts:{}",
                            match &part.args[0] {
                                Arg::Text(t) => t,
                                _ => panic!(),
                            }
                        ),
                        a[0]
                    );
                }
            }
        }
    }
}

#[test]
fn a_delivery_finds_which_of_its_r2_bodies_no_row_names() {
    let mut v: Value = serde_json::from_slice(&fixture("text")).unwrap();
    v["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] =
        json!("é".repeat(400_000));
    let p = plan(v.to_string().as_bytes());
    let writes = delivery_writes(
        &p,
        &[],
        Vec::new(),
        1,
        Spill {
            to: SpillTo::R2,
            tag: TAG,
        },
    );
    let check = wa_edge::db::ingest::unnamed_blobs(&writes.blobs);
    for table in ["messages", "statuses", "events", "deliveries"] {
        assert!(
            check
                .sql
                .contains(&format!("NOT EXISTS (SELECT 1 FROM {table} WHERE")),
            "{table}"
        );
    }
    let Arg::Text(rows) = &check.args[0] else {
        panic!()
    };
    let rows: Value = serde_json::from_str(rows).unwrap();
    assert_eq!(rows[0][0], writes.blobs[0].key.as_str());
    assert_eq!(rows[0][1], p.messages[0].id.as_str());
    assert_eq!(rows[0][3], format!("r2:{}", writes.blobs[0].key));
}

#[test]
fn big_dead_letters_are_split_and_rebuild_exactly() {
    let text_body = "x".repeat(3_500_000);
    let bytes_body: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8 | 0x80).collect();
    for body in [text_body.as_bytes(), &bytes_body[..]] {
        let p = plan(body);
        assert_eq!(p.events[0].kind, kinds::DEAD_LETTER);
        assert!(p.events[0].raw.len() > INLINE_RAW_MAX);
        let writes = delivery_writes(&p, &[], Vec::new(), 1, ROWS);
        assert!(bound_text_sizes(&writes).iter().all(|n| *n <= PART_BYTES));
        let joined = joined_parts(&writes, &format!("event:{}~{TAG}", p.events[0].id));
        let (_, rebuilt) = wa_edge::api::raw_body(Some(p.events[0].raw_encoding.as_str()), joined);
        assert_eq!(rebuilt, body);
        assert!(writes.statements.len() < 20);
    }
}

fn messages_delivery(n: usize, text: &str) -> Vec<u8> {
    let messages: Vec<Value> = (0..n)
        .map(|i| {
            json!({"from": format!("1650555{:04}", i % 300), "id": format!("wamid.{i}"),
                        "timestamp": (1_700_000_000 + i).to_string(), "type": "text",
                        "text": {"body": text}})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                  "messages": messages}}]}]})
    .to_string()
    .into_bytes()
}

/// D1 queries a delivery's invocation makes besides its write batch: rules
/// (1), erasure salt and tombstones (2), the known lookups (3), and after
/// the response one claim batch (2), one record batch (at most 3) and the
/// channel load (1).
const QUERIES_BESIDES_WRITES: usize = 1 + 2 + 3 + 2 + 3 + 1;
/// The Free plan's limit per invocation.
const FREE_PLAN_QUERIES: usize = 50;

#[test]
fn a_thousand_messages_with_an_any_and_mark_read_rule_stay_within_fifty_queries() {
    let rule: Rule = Rule::parse(
        br#"{"priority": 1, "match": {"any": true}, "mark_read": true, "reply": {"type": "text", "text": {"body": "Thanks!"}}}"#,
    )
    .unwrap();
    for (n, text) in [
        (1000, "hello"),
        (1000, "STOP"),
        (900, &"long text ".repeat(400)[..]),
    ] {
        let body = messages_delivery(n, text);
        assert!(body.len() < 4 * 1024 * 1024);
        let p = plan(&body);
        assert_eq!(p.messages.len(), n);
        let mut next = 0;
        let effects = decide(
            &p,
            std::slice::from_ref(&rule),
            &Known::default(),
            &OptSettings::default(),
            &|_, _| None,
            &mut || {
                next += 1;
                format!("out_{next:032x}")
            },
        );
        assert!(effects.enqueue.len() + effects.opts.len() >= n);
        let enqueue = wa_edge::db::outbox::enqueue_statements(&effects.enqueue, 1);
        let writes = delivery_writes(&p, &effects.opts, enqueue, 1, ROWS);
        let total = writes.statements.len() + QUERIES_BESIDES_WRITES;
        assert!(
            total <= FREE_PLAN_QUERIES,
            "{n} x {:?}: {total} queries",
            &text[..5]
        );
        for s in &writes.statements {
            assert_eq!(placeholder_max(s.sql), s.args.len(), "{}", s.sql);
        }
    }
    // After the response only a bounded number are sent; the rest wait for the cron.
    const { assert!(wa_edge::outbound::outbox::AFTER_RESPONSE_MAX <= 40) };
}

#[test]
fn a_status_with_callback_data_resolves_its_outbox_row_on_its_own_channel() {
    let mut v: Value = serde_json::from_slice(&fixture("status_delivered")).unwrap();
    let id = "out_0123456789abcdef0123456789abcdef";
    v["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] =
        json!(format!("{id}|crm"));
    let p = plan(v.to_string().as_bytes());
    assert_eq!(p.statuses[0].outbox_id.as_deref(), Some(id));
    let writes = delivery_writes(&p, &[], Vec::new(), 1, ROWS);
    let resolve = writes
        .statements
        .iter()
        .find(|s| s.sql.starts_with("UPDATE outbox"))
        .expect("a resolving update");
    assert!(resolve.sql.contains("outbox.phone_number_id = j.pnid"));
    assert!(resolve
        .sql
        .contains("state IN ('unknown', 'sending', 'queued')"));
}

#[test]
fn erasure_forgets_redelivered_items_dated_before_it_and_keeps_later_ones() {
    use wa_edge::erasure::{forget, tombstone_key};
    let key = tombstone_key("salt", "16505551234");
    assert_eq!(key.len(), 64);
    assert!(!key.contains("16505551234"));
    assert_ne!(key, tombstone_key("other salt", "16505551234"));
    let mut p = plan(&fixture("text"));
    let at = p.messages[0].at;
    let erased = HashMap::from([("16505551234".to_owned(), at)]);
    assert!(forget(&mut p, &erased), "it says it dropped something");
    assert!(p.messages.is_empty() && p.contacts.is_empty() && p.windows.is_empty());
    let mut later = plan(&fixture("text"));
    assert!(!forget(
        &mut later,
        &HashMap::from([("16505551234".to_owned(), at - 1)]),
    ));
    assert!(!forget(&mut plan(&fixture("text")), &HashMap::new()));
    assert_eq!(
        later.messages.len(),
        1,
        "a message after the erasure is new"
    );
    let mut statuses = plan(&fixture("status_read"));
    let recipient = statuses.statuses[0].recipient_id.clone().unwrap();
    forget(&mut statuses, &HashMap::from([(recipient.0, i64::MAX)]));
    assert!(statuses.statuses.is_empty());
}

#[test]
fn erasure_forgets_later_statuses_of_messages_it_erased_and_keeps_those_of_new_ones() {
    use wa_edge::erasure::{forget, forget_statuses, status_wamids};
    let mut p = plan(&fixture("status_read"));
    let recipient = p.statuses[0].recipient_id.clone().unwrap().0;
    let wamid = p.statuses[0].wamid.0.clone();
    assert_eq!(status_wamids(&p), vec![wamid.clone()]);
    // Erased before the status's own time: `forget` keeps it by its date.
    let erased = HashMap::from([(recipient.clone(), p.statuses[0].at - 1)]);
    assert!(!forget(&mut p, &erased));
    assert_eq!(p.statuses.len(), 1);
    // Its message is one wa-edge still holds (sent after they came back): kept.
    let known = BTreeSet::from([wamid.clone()]);
    assert!(!forget_statuses(&mut p, &erased, &known));
    assert_eq!(p.statuses.len(), 1);
    // Nobody erased: kept whatever the lookup found.
    assert!(!forget_statuses(&mut p, &HashMap::new(), &BTreeSet::new()));
    // Someone else erased: kept.
    let other = HashMap::from([("447700900123".to_owned(), i64::MAX)]);
    assert!(!forget_statuses(&mut p, &other, &BTreeSet::new()));
    assert_eq!(p.statuses.len(), 1);
    // Its message went with the erasure: dropped, and said so.
    assert!(forget_statuses(&mut p, &erased, &BTreeSet::new()));
    assert!(p.statuses.is_empty());
}

#[test]
fn erasure_statements_bind_their_placeholders_and_leave_a_tombstone() {
    use wa_edge::db::erasure::{ensure_salt, erase_lookups, erase_statements, unnamed_media};
    let forms = vec!["5511987654321".to_owned(), "551187654321".to_owned()];
    let stmts = erase_statements(
        "ct_0123456789abcdef01234567",
        &forms,
        &["k".to_owned()],
        1_700_000_000_000,
    );
    let tables: Vec<&str> = stmts
        .iter()
        .filter_map(|s| s.sql.split_whitespace().nth(2))
        .collect();
    for t in [
        "raw_parts",
        "statuses",
        "events",
        "messages",
        "outbox",
        "windows",
        "opt_outs",
        "contacts",
        "erased",
    ] {
        assert!(tables.contains(&t), "{t} is not erased: {tables:?}");
    }
    let mut all = stmts;
    all.extend(erase_lookups("ct_0123456789abcdef01234567", &forms));
    all.extend(ensure_salt("s"));
    all.push(unnamed_media(&["4000000000000003".to_owned()]));
    all.push(wa_edge::db::guard::delivery(&["k".to_owned()], Some("3")));
    all.push(wa_edge::db::guard::delivery(&[], None));
    all.push(wa_edge::db::guard::destinations_version());
    for s in all {
        assert_eq!(placeholder_max(s.sql), s.args.len(), "{}", s.sql);
    }
}

#[test]
fn every_spelling_of_a_number_is_erased() {
    use wa_edge::whatsapp::phone::{canonical_wa_id, forms};
    for (canonical, other) in [
        ("5511987654321", "551187654321"),
        ("525512345678", "5215512345678"),
        ("5491123456789", "541123456789"),
    ] {
        let canonical = canonical_wa_id(canonical);
        let all = forms(&canonical);
        assert_eq!(all[0], canonical);
        for f in &all {
            assert_eq!(
                canonical_wa_id(f),
                canonical,
                "{f} is a form of {canonical}"
            );
        }
        let other = canonical_wa_id(other);
        assert_eq!(other, canonical, "fixture forms agree");
    }
    assert_eq!(forms("16505551234"), ["16505551234"]);
}

#[test]
fn a_redelivered_event_naming_an_erased_contact_is_forgotten() {
    use wa_edge::erasure::{forget, named};
    let mut p = plan(&fixture("user_preferences"));
    assert!(named(&p).contains("16505551234"));
    assert!(p.events[0].names.contains(&"16505551234".to_owned()));
    let at = p.events[0].at;
    forget(&mut p, &HashMap::from([("16505551234".to_owned(), at)]));
    assert!(p.events.is_empty() && p.opts.is_empty());
}

#[test]
fn oversized_ids_and_types_make_an_item_malformed_instead_of_failing_the_batch() {
    let mut v: Value = serde_json::from_slice(&fixture("text")).unwrap();
    let m = &mut v["entry"][0]["changes"][0]["value"]["messages"];
    let mut long_id = m[0].clone();
    long_id["id"] = json!("w".repeat(1_500_000));
    let mut bad_type = m[0].clone();
    bad_type["id"] = json!("wamid.badtype");
    bad_type["type"] = json!("Not A Type");
    m.as_array_mut().unwrap().extend([long_id, bad_type]);
    let p = plan(v.to_string().as_bytes());
    assert_eq!(p.messages.len(), 1);
    let malformed = p
        .events
        .iter()
        .filter(|e| e.kind == kinds::MALFORMED_MESSAGE)
        .count();
    assert_eq!(malformed, 2);
    let writes = delivery_writes(&p, &[], Vec::new(), 1, ROWS);
    assert!(bound_text_sizes(&writes).iter().all(|n| *n <= 800_000));
}

#[test]
fn two_channels_cannot_share_a_webhook_credential() {
    use wa_edge::channels::{check_own_webhook_secret, Channel};
    let channel = |pnid: &str, hook: &str| {
        Channel::parse(
            json!({"phone_number_id": pnid, "provider": "360dialog", "credential_secret": format!("KEY_{pnid}"),
                   "webhook_auth_secret": hook})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    };
    let a = channel("1", "HOOK_A");
    let e =
        check_own_webhook_secret(&channel("2", "hook_a"), std::slice::from_ref(&a)).unwrap_err();
    assert!(e.0.starts_with("webhook_auth_secret:"), "{}", e.0);
    assert!(check_own_webhook_secret(&channel("2", "HOOK_B"), std::slice::from_ref(&a)).is_ok());
    assert!(
        check_own_webhook_secret(&a, std::slice::from_ref(&a)).is_ok(),
        "its own row"
    );
}

#[test]
fn erasure_says_it_cut_only_when_a_row_of_their_data_went() {
    use wa_edge::erasure::{forget, forget_events, naming_events};
    // A person known by number and BSUID comes back after their erasure:
    // the identity check for the pair is dropped, but no row of their data
    // is, so the delivery's body is theirs to keep and forward.
    let mut back = plan(&fixture("phone_and_bsuid_text"));
    assert!(!back.conflict_checks.is_empty());
    let at = back.messages[0].at;
    let number = back.messages[0]
        .contact
        .identity
        .identifiers()
        .next()
        .unwrap()
        .to_owned();
    assert!(!forget(
        &mut back,
        &HashMap::from([(number.clone(), at - 1)])
    ));
    assert_eq!(back.messages.len(), 1);
    let mut old = plan(&fixture("phone_and_bsuid_text"));
    assert!(forget(&mut old, &HashMap::from([(number, at)])));

    // An event erasure recorded by its content hash is dropped whatever its date.
    let mut p = plan(&fixture("user_preferences"));
    let ids = naming_events(&p);
    assert_eq!(ids.len(), 1);
    assert!(!forget_events(
        &mut p,
        &BTreeSet::from(["other".to_owned()])
    ));
    assert!(forget_events(&mut p, &ids.into_iter().collect()));
    assert!(p.events.is_empty());
}

#[test]
fn an_event_naming_more_people_than_are_listed_says_so() {
    use wa_edge::inbound::ingest::{MAX_NAMES, UNLISTED};
    let body = |people: Vec<String>| {
        let items: Vec<Value> = people.iter().map(|p| json!({"wa_id": p})).collect();
        serde_json::to_vec(
            &json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
            "changes": [{"field": "future_field", "value": {"people": items}}]}]}),
        )
        .unwrap()
    };
    let numbers = |n: usize| (0..n).map(|i| format!("1555{i:07}")).collect::<Vec<_>>();
    let names = |people| plan(&body(people)).events[0].names.clone();

    let all = names(numbers(MAX_NAMES));
    assert_eq!(all.len(), MAX_NAMES);
    assert!(!all.contains(&UNLISTED.to_owned()), "every one is listed");
    // Names already listed, repeated past the limit, leave nothing unlisted.
    let mut repeated = numbers(MAX_NAMES);
    repeated.extend(numbers(10));
    assert!(!names(repeated).contains(&UNLISTED.to_owned()));

    let more = names(numbers(MAX_NAMES + 1));
    assert_eq!(more.len(), MAX_NAMES + 1);
    assert!(
        more.contains(&UNLISTED.to_owned()),
        "one is not listed, and that is recorded"
    );
    assert!(!more.contains(&"15550001000".to_owned()));
}

#[test]
fn an_isolate_remembers_erased_keys_within_its_bound() {
    use wa_edge::erasure::KnownErased;
    let mut known = KnownErased::default();
    let key = |i: usize| format!("{i:064x}");
    assert!(!known.names_any(&[key(1)]));
    assert!(!known.names_any(&[]));
    known.remember([key(1), key(2)]);
    assert!(known.names_any(&[key(9), key(2)]));
    assert!(!known.names_any(&[key(3)]));
    // Full, it starts over: what it forgot, the batch's guard still catches.
    known.remember((3..=KnownErased::MAX).map(key));
    assert!(known.names_any(&[key(1)]), "holds MAX keys");
    known.remember([key(KnownErased::MAX + 1)]);
    assert!(known.names_any(&[key(KnownErased::MAX + 1)]));
    assert!(
        !known.names_any(&[key(1)]),
        "the oldest went when it filled"
    );
    known.remember((0..10 * KnownErased::MAX).map(key));
    let kept = (0..10 * KnownErased::MAX)
        .filter(|i| known.names_any(&[key(*i)]))
        .count();
    assert!((1..=KnownErased::MAX).contains(&kept), "{kept}");
}
