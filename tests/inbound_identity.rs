//! Customers without phone numbers, coexistence, calls and groups: what the
//! planner makes of each 2026 shape (fixtures written from Meta's reference
//! pages, see tests/fixtures/SOURCES.md), and the identity-linking rules.

mod common;

use common::{fixture, plan, RECEIVED_AT};
use proptest::prelude::*;
use serde_json::{json, Value};
use wa_edge::ids::{PhoneNumberId, UserId, WaId};
use wa_edge::inbound::ingest::{self, kinds, Delivery, Direction, Origin, Scope};
use wa_edge::inbound::people::People;
use wa_edge::whatsapp::identity::{is_user_id, ContactRef, Identity};

const BSUID: &str = "US.13491208655302741918";
const PHONE: &str = "16505551234";

fn summary(e: &ingest::EventRow) -> Value {
    serde_json::from_str(e.summary.as_deref().unwrap_or("null")).unwrap()
}

#[test]
fn a_bsuid_only_customer_is_stored_with_their_bsuid_and_username() {
    let p = plan(&fixture("bsuid_only_text"));
    assert_eq!(p.messages.len(), 1, "the message is kept");
    let m = &p.messages[0];
    assert_eq!(m.wa_id, None);
    assert_eq!(m.user_id.as_ref().unwrap().as_str(), BSUID);
    assert_eq!(m.username.as_deref(), Some("@realsheenanelson"));
    assert_eq!(m.contact.identity.user_id.as_ref().unwrap().as_str(), BSUID);
    assert_eq!(p.contacts.len(), 1);
    let c = &p.contacts[0];
    assert_eq!(
        (c.wa_id.as_ref(), c.user_id.as_ref().map(UserId::as_str)),
        (None, Some(BSUID))
    );
    assert_eq!(c.profile_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(c.candidate, m.contact.candidate);
    assert_eq!(p.windows.len(), 1, "a BSUID-only customer opens the window");
    assert!(m.is_live_inbound());
}

#[test]
fn phone_and_bsuid_in_one_delivery_are_one_person() {
    let p = plan(&fixture("phone_and_bsuid_text"));
    let c = &p.contacts[0];
    assert_eq!(c.wa_id.as_ref().unwrap().as_str(), PHONE);
    assert_eq!(c.user_id.as_ref().unwrap().as_str(), BSUID);
    assert_eq!(
        p.conflict_checks.len(),
        1,
        "D1 is asked whether it disagrees"
    );
    assert_eq!(p.conflict_checks[0].kind, kinds::IDENTITY_CONFLICT);
}

#[test]
fn a_username_comes_with_its_parent_bsuid() {
    let p = plan(&fixture("username_parent_bsuid"));
    let c = &p.contacts[0];
    assert_eq!(c.username.as_deref(), Some("@realsheenanelson"));
    assert_eq!(
        c.parent_user_id.as_deref(),
        Some("US.ENT.11815799212886844830")
    );
}

#[test]
fn a_message_naming_no_sender_is_from_the_single_contact() {
    let p = plan(&fixture("no_from_message"));
    assert_eq!(p.messages.len(), 1);
    assert_eq!(p.messages[0].user_id.as_ref().unwrap().as_str(), BSUID);
    // With two contacts and no sender nobody can say who wrote: malformed.
    let mut v: Value = serde_json::from_slice(&fixture("no_from_message")).unwrap();
    let value = &mut v["entry"][0]["changes"][0]["value"];
    let second = json!({"user_id": "US.99", "profile": {"name": "Other"}});
    value["contacts"].as_array_mut().unwrap().push(second);
    let p = plan(v.to_string().as_bytes());
    assert!(p.messages.is_empty());
    assert!(p.events.iter().any(|e| e.kind == kinds::MALFORMED_MESSAGE));
}

#[test]
fn a_changed_number_moves_the_contact_to_the_new_number_and_bsuid() {
    let p = plan(&fixture("user_changed_number"));
    let change = &p.identity_changes[0];
    assert_eq!(change.old.wa_id.as_ref().unwrap().as_str(), PHONE);
    assert_eq!(change.new_wa_id.as_ref().unwrap().as_str(), "12195555358");
    assert_eq!(
        change.new_user_id.as_ref().unwrap().as_str(),
        "US.24680135792468013579"
    );
    let m = &p.messages[0];
    assert_eq!(
        m.wa_id.as_ref().unwrap().as_str(),
        PHONE,
        "the notice keeps its sender"
    );
    assert_eq!(
        m.contact.identity.wa_id.as_ref().unwrap().as_str(),
        "12195555358",
        "and belongs to the person with the new number"
    );
    assert!(
        p.windows.is_empty(),
        "a system notice is not the customer writing"
    );
}

#[test]
fn a_changed_bsuid_names_the_old_and_the_new_one() {
    for name in ["user_changed_user_id", "user_changed_user_id_previous"] {
        let p = plan(&fixture(name));
        let change = &p.identity_changes[0];
        assert_eq!(
            change.old.user_id.as_ref().unwrap().as_str(),
            BSUID,
            "{name}"
        );
        assert_eq!(
            change.new_user_id.as_ref().unwrap().as_str(),
            "US.24680135792468013579",
            "{name}"
        );
        assert_eq!(change.new_wa_id, None, "{name}");
    }
}

#[test]
fn a_status_for_a_bsuid_keeps_it() {
    let p = plan(&fixture("status_recipient_user_id"));
    let s = &p.statuses[0];
    assert_eq!(s.recipient_id, None);
    assert_eq!(s.recipient_user_id.as_ref().unwrap().as_str(), BSUID);
    let both = plan(&fixture("status_recipient_both"));
    assert!(
        both.statuses[0].recipient_id.is_some() && both.statuses[0].recipient_user_id.is_some()
    );
}

#[test]
fn echoes_are_outbound_messages_that_open_no_window() {
    for name in ["echo_text", "echo_edit", "echo_revoke"] {
        let p = plan(&fixture(name));
        assert_eq!(p.messages.len(), 1, "{name}");
        let m = &p.messages[0];
        assert_eq!(
            (m.direction, m.origin),
            (Direction::Out, Origin::Echo),
            "{name}"
        );
        assert_eq!(m.wa_id.as_ref().unwrap().as_str(), PHONE, "{name}");
        assert_eq!(m.sender.as_ref().unwrap().as_str(), PHONE, "{name}");
        assert!(p.windows.is_empty(), "{name}");
        assert_eq!(
            p.contacts[0].last_seen, 0,
            "{name}: an echo is not the customer writing"
        );
        assert!(!m.is_live_inbound());
    }
    let edit = plan(&fixture("echo_edit"));
    assert_eq!(edit.messages[0].kind, "edit");
    assert!(edit.messages[0]
        .text
        .as_deref()
        .unwrap()
        .starts_with("Here's the info"));
}

#[test]
fn history_keeps_each_message_with_its_time_and_direction_and_the_progress() {
    let p = plan(&fixture("history_phase"));
    let dirs: Vec<(Direction, Origin)> =
        p.messages.iter().map(|m| (m.direction, m.origin)).collect();
    assert_eq!(
        dirs,
        [
            (Direction::In, Origin::History),
            (Direction::Out, Origin::History)
        ]
    );
    assert!(p
        .messages
        .iter()
        .all(|m| m.wa_id.as_ref().unwrap().as_str() == PHONE));
    assert_eq!(p.messages[0].timestamp, 1_739_230_950);
    assert!(p.windows.is_empty(), "history opens no window");
    assert_eq!(p.contacts.len(), 1, "one thread, one person");
    let progress = p.events.iter().find(|e| e.kind == "history").unwrap();
    assert_eq!(summary(progress)["progress"], 55);
    assert_eq!(summary(progress)["messages"], 2);
    assert!(
        !progress.raw.contains("threads"),
        "the messages are not kept twice"
    );

    let declined = plan(&fixture("history_declined"));
    let e = declined
        .events
        .iter()
        .find(|e| e.kind == "history")
        .unwrap();
    assert_eq!(summary(e)["errors"][0]["code"], 2593109);

    let media = plan(&fixture("history_media"));
    assert_eq!(media.messages[0].origin, Origin::History);
    assert_eq!(
        media.messages[0].media_id.as_deref(),
        Some("24230790383178626")
    );
}

#[test]
fn app_state_sync_saves_the_name_the_business_gave_the_contact() {
    let p = plan(&fixture("smb_app_state_sync"));
    assert_eq!(p.saved_names.len(), 1);
    assert_eq!(p.saved_names[0].name.as_deref(), Some("Pablo Morales"));
    assert_eq!(
        p.saved_names[0]
            .contact
            .identity
            .wa_id
            .as_ref()
            .unwrap()
            .as_str(),
        "16505551299"
    );
    assert!(p.events.iter().any(|e| e.kind == "smb_app_state_sync"));
}

#[test]
fn calls_are_one_typed_event_each() {
    let p = plan(&fixture("call_terminate"));
    let e = p.events.iter().find(|e| e.kind == "calls").unwrap();
    let s = summary(e);
    assert_eq!(s["event"], "terminate");
    assert_eq!(s["direction"], "USER_INITIATED");
    assert_eq!(s["duration"], 120);
    assert_eq!(s["status"], "COMPLETED");
    assert_eq!(s["from_user_id"], BSUID);
    assert_eq!(
        e.reference.as_deref(),
        Some("wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh")
    );
    assert!(e.names.contains(&BSUID.to_owned()) && e.names.contains(&PHONE.to_owned()));
    assert!(!s.to_string().contains("sdp"));
    let status = plan(&fixture("call_status"));
    assert_eq!(summary(&status.events[0])["status"], "RINGING");
    let connect = plan(&fixture("call_connect"));
    assert!(
        !summary(&connect.events[0]).to_string().contains("v=0"),
        "no SDP in the summary"
    );
    let reply = plan(&fixture("call_permission_reply"));
    assert_eq!(
        reply.messages[0].kind, "interactive",
        "a permission reply is a message"
    );
}

#[test]
fn group_messages_and_statuses_keep_their_group_and_open_no_window() {
    let p = plan(&fixture("group_message"));
    assert!(p.messages[0].group_id.is_some());
    assert!(p.windows.is_empty());
    let s = plan(&fixture("group_status"));
    let st = &s.statuses[0];
    assert!(st.group_id.as_deref().unwrap().starts_with("Y2Fw"));
    assert_eq!(st.recipient_id.as_ref().unwrap().as_str(), "16505551240");
    for name in ["group_lifecycle", "group_participants"] {
        let p = plan(&fixture(name));
        let s = summary(&p.events[0]);
        assert!(s["groups"][0]["group_id"].is_string(), "{name}");
        assert!(p.events[0].reference.is_some(), "{name}");
    }
}

#[test]
fn meta_shapes_that_vary_are_read_leniently() {
    let p = plan(&fixture("no_field_messages"));
    assert_eq!(
        p.messages.len(),
        1,
        "a value with messages and no field is a messages change"
    );
    let p = plan(&fixture("untyped_location"));
    assert_eq!(p.messages[0].kind, "location");
    let d = Delivery {
        received_at: RECEIVED_AT,
        scope: Scope::App,
        default_channel: Some(PhoneNumberId("pn_default".into())),
    };
    let p = ingest::plan(&fixture("no_metadata"), &d);
    assert_eq!(
        p.messages[0].phone_number_id.as_ref().unwrap().as_str(),
        "pn_default"
    );
    assert!(p.events.iter().any(|e| e.kind == kinds::METADATA_MISSING));
    let on_path = Delivery {
        received_at: RECEIVED_AT,
        scope: Scope::Channel(PhoneNumberId("pn_360".into())),
        default_channel: Some(PhoneNumberId("pn_default".into())),
    };
    let p = ingest::plan(&fixture("no_metadata"), &on_path);
    assert_eq!(
        p.messages[0].phone_number_id.as_ref().unwrap().as_str(),
        "pn_360"
    );
}

#[test]
fn account_and_template_fields_get_typed_summaries() {
    let cases = [
        (
            "template_category_update",
            "new_category",
            json!("MARKETING"),
        ),
        (
            "message_template_components_update",
            "message_template_name",
            json!("order_confirmation"),
        ),
        (
            "message_template_quality_update",
            "new_quality_score",
            json!("YELLOW"),
        ),
        ("phone_number_name_update", "decision", json!("APPROVED")),
        (
            "business_capability_update",
            "max_phone_numbers_per_waba",
            json!(25),
        ),
        ("account_alerts", "entity_type", json!("BUSINESS")),
        ("account_review_update", "decision", json!("APPROVED")),
        ("security", "event", json!("PIN_RESET_REQUEST")),
    ];
    for (name, key, want) in cases {
        let p = plan(&fixture(name));
        assert_eq!(summary(&p.events[0])[key], want, "{name}");
    }
}

#[test]
fn echoes_and_history_trigger_no_rule_and_a_bsuid_reply_uses_recipient() {
    use wa_edge::inbound::autoreply::{decide, Known, OptSettings};
    use wa_edge::inbound::rules::Rule;
    let rule = Rule::parse(
        json!({"priority": 1, "match": {"any": true}, "reply": {"type": "text", "text": {"body": "hi"}}})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let run = |name: &str| {
        let mut n = 0;
        decide(
            &plan(&fixture(name)),
            std::slice::from_ref(&rule),
            &Known::default(),
            &OptSettings::default(),
            &|_, _| None,
            &mut || {
                n += 1;
                format!("out_{n}")
            },
        )
    };
    for quiet in ["echo_text", "history_phase", "group_message"] {
        assert!(run(quiet).enqueue.is_empty(), "{quiet} triggered a reply");
    }
    let e = run("bsuid_only_text");
    assert_eq!(e.enqueue.len(), 1);
    assert_eq!(e.enqueue[0].payload["recipient"], BSUID);
    assert!(e.enqueue[0].payload.get("to").is_none());
    let e = run("phone_and_bsuid_text");
    assert_eq!(
        e.enqueue[0].payload["to"], PHONE,
        "a known phone is used as Meta sent it"
    );
}

fn identity(w: Option<&str>, u: Option<&str>) -> Identity {
    Identity::new(w, u, 64).unwrap()
}

#[test]
fn people_link_identifiers_within_a_delivery_and_never_steal_one() {
    let waba = Some("waba1");
    let mut people = People::default();
    let a = people.find_or_add(&identity(Some(PHONE), None), waba, "m1");
    let b = people.find_or_add(&identity(Some(PHONE), Some(BSUID)), waba, "m2");
    assert_eq!(a, b, "the phone's person takes the BSUID");
    let c = people.find_or_add(&identity(None, Some(BSUID)), waba, "m3");
    assert_eq!(a, c, "and is found by it later");
    // The same number with another BSUID in the same scope is someone else
    // (a recycled number).
    let d = people.find_or_add(&identity(Some(PHONE), Some("US.777")), waba, "m4");
    assert_ne!(a, d);
    // Under another WABA (maybe another portfolio) it is no conflict.
    let e = people.find_or_add(&identity(Some(PHONE), Some("US.888")), Some("waba2"), "m5");
    assert_ne!(a, e);
    let (rows, conflicts) = people.finish();
    assert_eq!(
        rows.iter().filter(|r| r.wa_id.is_some()).count(),
        1,
        "the number stays with its first person"
    );
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].user_id.as_str(), "US.777");
}

#[test]
fn a_number_only_and_a_bsuid_only_person_one_item_joins_are_merged() {
    let mut people = People::default();
    let by_phone = people.find_or_add(&identity(Some(PHONE), None), None, "m1");
    let by_user = people.find_or_add(&identity(None, Some(BSUID)), None, "m2");
    assert_ne!(by_phone, by_user);
    let both = people.find_or_add(&identity(Some(PHONE), Some(BSUID)), None, "m3");
    assert_eq!(both, by_phone);
    assert_eq!(
        people.key(by_user),
        people.key(by_phone),
        "earlier rows follow the merge"
    );
    let (rows, conflicts) = people.finish();
    assert_eq!(rows.len(), 1);
    assert!(conflicts.is_empty(), "joining two halves is no conflict");
    assert_eq!(rows[0].user_id.as_ref().unwrap().as_str(), BSUID);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// However a delivery pairs numbers and BSUIDs, no identifier ends up
    /// on two people (D1's statements rely on it), and every item finds a
    /// person holding one of its identifiers.
    #[test]
    fn no_identifier_is_on_two_people(items in prop::collection::vec((0u8..4, 0u8..4, 0u8..3), 1..12)) {
        let mut people = People::default();
        let mut found = Vec::new();
        for (i, (n, u, which)) in items.iter().enumerate() {
            let w = format!("1650555000{n}");
            let u = format!("US.{u}");
            let who = match which {
                0 => identity(Some(&w), None),
                1 => identity(None, Some(&u)),
                _ => identity(Some(&w), Some(&u)),
            };
            let scope = if *n == 3 { Some("waba2") } else { Some("waba1") };
            found.push((who.clone(), people.find_or_add(&who, scope, &format!("m{i}"))));
        }
        let keys: Vec<_> = found.iter().map(|(_, i)| people.key(*i).unwrap()).collect();
        let (rows, _) = people.finish();
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            for id in r.wa_id.iter().map(|w| w.0.clone()).chain(r.user_id.iter().map(|u| u.0.clone())) {
                prop_assert!(seen.insert(id.clone()), "{id} on two people");
            }
        }
        for ((who, _), key) in found.iter().zip(keys) {
            let shares = who.user_id.is_some() && who.user_id == key.identity.user_id
                || who.wa_id.is_some() && who.wa_id == key.identity.wa_id;
            prop_assert!(shares, "{who:?} resolved to {key:?}");
        }
    }

    #[test]
    fn user_ids_and_phones_never_mix(digits in "[0-9]{5,15}", cc in "[A-Z]{2}") {
        let bsuid = format!("{cc}.{digits}");
        prop_assert!(is_user_id(&bsuid));
        prop_assert!(!is_user_id(&digits));
        let is_user_ref = matches!(ContactRef::parse(&bsuid), Some(ContactRef::User(_)));
        let is_phone_ref = matches!(ContactRef::parse(&digits), Some(ContactRef::Phone(_)));
        prop_assert!(is_user_ref);
        prop_assert!(is_phone_ref);
    }
}

#[test]
fn a_channel_credential_changes_identities_only_on_its_own_channel() {
    let app = plan(&fixture("user_changed_number"));
    assert_eq!(
        app.identity_changes[0].only_on, None,
        "Meta's signed webhook speaks for every number"
    );
    let own = PhoneNumberId("106540352242922".into());
    let d = Delivery {
        received_at: RECEIVED_AT,
        scope: Scope::Channel(own.clone()),
        default_channel: None,
    };
    let p = ingest::plan(&fixture("user_changed_number"), &d);
    assert_eq!(p.identity_changes[0].only_on.as_ref(), Some(&own));
    let stmts = wa_edge::db::ingest::ingest_statements(&p, 1);
    let change = stmts.iter().find(|s| s.sql.contains("r.only_on")).unwrap();
    assert!(
        matches!(&change.args[0], wa_edge::db::Arg::Text(t) if t.contains("106540352242922")),
        "{:?}",
        change.args
    );
}

#[test]
fn a_bsuid_is_never_read_as_a_phone_number() {
    let id = identity(None, Some("BR.5511987654321"));
    assert_eq!(id.wa_id, None);
    assert_eq!(
        id.user_id.unwrap().as_str(),
        "BR.5511987654321",
        "kept exactly, no BR rule"
    );
    assert_eq!(
        ContactRef::parse("BR.5511987654321"),
        Some(ContactRef::User(UserId("BR.5511987654321".into())))
    );
    assert_eq!(
        ContactRef::parse("+55 11 8765-4321"),
        Some(ContactRef::Phone(WaId("5511987654321".into())))
    );
    assert!(ContactRef::parse("ct_0123456789abcdef01234567").is_some());
    for bad in ["", "ct_xyz", "123", "US.", "us.123", "US.12 3", "hello"] {
        assert_eq!(ContactRef::parse(bad), None, "{bad}");
    }
    // A history thread named by a BSUID is not a phone number either.
    let mut v: Value = serde_json::from_slice(&fixture("history_phase")).unwrap();
    let thread = &mut v["entry"][0]["changes"][0]["value"]["history"][0]["threads"][0];
    thread["id"] = json!(BSUID);
    thread.as_object_mut().unwrap().remove("context");
    for m in thread["messages"].as_array_mut().unwrap() {
        let m = m.as_object_mut().unwrap();
        m.remove("from_user_id");
        if m.get("to").is_some() {
            m.remove("to");
        } else {
            m.remove("from");
        }
    }
    let p = plan(v.to_string().as_bytes());
    assert!(
        p.contacts.iter().all(|c| c.wa_id.is_none()),
        "{:?}",
        p.contacts
    );
    assert!(p
        .messages
        .iter()
        .all(|m| m.user_id.as_ref().map(UserId::as_str) == Some(BSUID)));
}

#[test]
fn each_message_takes_the_profile_of_its_own_entry_in_a_long_contacts_list() {
    // 300 people in one change, listed in the reverse order of their messages.
    let n = 300;
    let number = |i: usize| format!("1650555{i:04}");
    let contacts: Vec<Value> = (0..n)
        .rev()
        .map(|i| json!({"profile": {"name": format!("Person {i}")}, "wa_id": number(i)}))
        .collect();
    let messages: Vec<Value> = (0..n)
        .map(|i| {
            json!({"from": number(i), "id": format!("wamid.many.{i}"), "timestamp": "1739321024",
                   "type": "text", "text": {"body": "hi"}})
        })
        .collect();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": contacts, "messages": messages}}]}]});
    let p = plan(body.to_string().as_bytes());
    assert_eq!(p.messages.len(), n);
    assert_eq!(p.contacts.len(), n);
    for c in &p.contacts {
        let wa_id = c.wa_id.as_ref().unwrap().as_str();
        let i: usize = wa_id.get(7..).unwrap().parse().unwrap();
        assert_eq!(
            c.profile_name.as_deref(),
            Some(format!("Person {i}").as_str())
        );
    }
    // Two entries for one number: the first listed is its profile.
    let two = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "First"}, "wa_id": number(1)},
                         {"profile": {"name": "Second"}, "wa_id": number(1)}],
            "messages": [messages[1].clone()]}}]}]});
    let p = plan(two.to_string().as_bytes());
    assert_eq!(p.contacts[0].profile_name.as_deref(), Some("First"));
}
