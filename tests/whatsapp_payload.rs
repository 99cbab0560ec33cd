mod common;

use common::fixture;
use serde_json::Value;
use wa_edge::whatsapp::webhook::payload::{
    Content, FieldEvent, Interactive, Message, Status, StatusKind,
};

/// The first message of a single-message fixture, parsed.
fn message(name: &str) -> Message {
    let root: Value = serde_json::from_slice(&fixture(name)).unwrap();
    Message::parse(&root["entry"][0]["changes"][0]["value"]["messages"][0]).unwrap()
}

fn status(name: &str) -> Status {
    let root: Value = serde_json::from_slice(&fixture(name)).unwrap();
    serde::Deserialize::deserialize(&root["entry"][0]["changes"][0]["value"]["statuses"][0])
        .unwrap()
}

#[test]
fn text_message_exposes_its_body_and_envelope() {
    let m = message("text");
    assert_eq!(m.head.from.as_ref().unwrap().as_str(), "16505551234");
    assert_eq!(m.head.timestamp, 1_739_321_024);
    assert_eq!(m.head.kind, "text");
    assert_eq!(m.content.text(), Some("Hello, do you ship to Berlin?"));
}

#[test]
fn reply_and_forward_context_are_read() {
    let reply = message("text_reply");
    let ctx = reply.head.context.unwrap();
    assert_eq!(
        ctx.id.unwrap().as_str(),
        "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCRUVGMDAwMDAwMDAwMDAwMQA"
    );
    let fwd = message("text_forwarded").head.context.unwrap();
    assert_eq!(fwd.forwarded, Some(true));
    assert_eq!(fwd.frequently_forwarded, Some(true));
    assert!(fwd.id.is_none());
}

#[test]
fn media_messages_carry_id_mime_and_caption() {
    for (name, id, caption) in [
        ("image", "1003383421387256", Some("Broken seal")),
        ("audio_voice", "1003383421387257", None),
        ("video", "1003383421387258", Some("Unboxing")),
        ("document", "1003383421387259", Some("Invoice")),
        ("sticker", "1003383421387260", None),
    ] {
        let m = message(name);
        let media = match &m.content {
            Content::Image(x)
            | Content::Audio(x)
            | Content::Video(x)
            | Content::Document(x)
            | Content::Sticker(x) => x,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(media.id.as_deref(), Some(id), "{name}");
        assert!(media.mime_type.is_some(), "{name}");
        assert_eq!(m.content.text(), caption, "{name}");
    }
    match message("audio_voice").content {
        Content::Audio(a) => assert_eq!(a.voice, Some(true)),
        other => panic!("{other:?}"),
    }
    match message("document").content {
        Content::Document(d) => assert_eq!(d.filename.as_deref(), Some("invoice-2291.pdf")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn location_contacts_order_and_system_are_typed() {
    match message("location").content {
        Content::Location(l) => {
            assert_eq!(l.latitude, Some(37.483307));
            assert_eq!(l.name.as_deref(), Some("Meta Headquarters"));
        }
        other => panic!("{other:?}"),
    }
    match message("contacts").content {
        Content::Contacts(cards) => assert_eq!(cards[0]["phones"][0]["wa_id"], "16505551235"),
        other => panic!("{other:?}"),
    }
    match message("order").content {
        Content::Order(o) => {
            assert_eq!(o.catalog_id.as_deref(), Some("194836987003835"));
            assert_eq!(o.product_items[0].quantity, Some(2.0));
        }
        other => panic!("{other:?}"),
    }
    match message("system").content {
        Content::System(s) => assert_eq!(s.kind.as_deref(), Some("user_changed_number")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn interactive_replies_expose_their_ids() {
    let b = message("interactive_button_reply");
    assert!(matches!(
        b.content,
        Content::Interactive(Interactive::ButtonReply(_))
    ));
    assert_eq!(b.content.reply_id(), Some("track-order"));
    assert_eq!(b.content.text(), Some("Track my order"));

    let l = message("interactive_list_reply");
    assert_eq!(l.content.reply_id(), Some("priority-express"));

    match message("interactive_nfm_reply").content {
        Content::Interactive(Interactive::NfmReply(f)) => {
            let answers: Value = serde_json::from_str(f.response_json.as_deref().unwrap()).unwrap();
            assert_eq!(answers["size"], "M");
        }
        other => panic!("{other:?}"),
    }

    let t = message("button");
    assert_eq!(t.content.reply_id(), Some("STOP_PROMOS"));
    assert_eq!(t.content.text(), Some("Stop promotions"));
}

#[test]
fn reaction_and_its_removal_are_told_apart() {
    match message("reaction").content {
        Content::Reaction(r) => {
            assert!(!r.is_removal());
            assert_eq!(r.emoji.as_deref(), Some("\u{1F44D}"));
        }
        other => panic!("{other:?}"),
    }
    match message("unreaction").content {
        Content::Reaction(r) => assert!(r.is_removal()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn referral_is_kept_on_an_ordinary_message() {
    let m = message("referral");
    assert_eq!(m.head.referral.unwrap()["source_type"], "ad");
    assert_eq!(m.content.text(), Some("Is this still available?"));
}

#[test]
fn unsupported_message_keeps_its_errors() {
    let m = message("unsupported");
    assert_eq!(m.content, Content::Unsupported);
    assert_eq!(m.head.errors[0]["code"], 131051);
}

#[test]
fn unknown_type_parses_as_unknown_not_an_error() {
    let m = message("unknown_type");
    assert_eq!(m.head.kind, "hologram");
    assert_eq!(m.content, Content::Unknown);
}

#[test]
fn known_type_with_wrong_content_shape_is_malformed_content() {
    let raw: Value = serde_json::json!({"id": "wamid.x", "from": "1", "timestamp": 5,
        "type": "text", "text": {"body": 42}});
    assert_eq!(Message::parse(&raw).unwrap().content, Content::Malformed);
}

#[test]
fn envelope_without_id_is_an_error() {
    let raw: Value = serde_json::json!({"from": "1", "timestamp": "5", "type": "text"});
    assert!(Message::parse(&raw).is_err());
}

#[test]
fn statuses_parse_with_conversation_pricing_and_errors() {
    let sent = status("status_sent");
    assert_eq!(sent.status, StatusKind::Sent);
    assert_eq!(sent.pricing.unwrap().category.as_deref(), Some("service"));
    assert_eq!(
        sent.conversation.unwrap().origin.unwrap().kind.as_deref(),
        Some("service")
    );
    let failed = status("status_failed");
    assert_eq!(failed.status, StatusKind::Failed);
    assert_eq!(failed.errors[0]["code"], 131047);
    let unknown = status("status_unknown");
    assert_eq!(unknown.status, StatusKind::Unknown("teleported".into()));
}

#[test]
fn status_ranks_only_move_forward() {
    let order = ["sent", "delivered", "read", "failed"].map(StatusKind::parse);
    assert!(order.windows(2).all(|w| w[0].rank() < w[1].rank()));
    assert!(StatusKind::parse("teleported").rank() < StatusKind::Sent.rank());
}

#[test]
fn template_status_update_is_summarised() {
    let root: Value = serde_json::from_slice(&fixture("template_status_update")).unwrap();
    let e = FieldEvent::parse(
        "message_template_status_update",
        &root["entry"][0]["changes"][0]["value"],
    );
    assert_eq!(e.reference(), Some("594425479261596"));
    let s = e.summary().unwrap();
    assert_eq!(s["event"], "REJECTED");
    assert_eq!(s["reason"], "INVALID_FORMAT");
}

#[test]
fn every_known_type_is_modelled_and_nothing_else() {
    use wa_edge::whatsapp::webhook::payload::KNOWN_TYPES;
    for kind in KNOWN_TYPES {
        let raw = serde_json::json!({"id": "wamid.k", "from": "1", "timestamp": "1", "type": kind,
            kind: {"body": "b", "id": "1", "type": "button_reply", "button_reply": {"id": "x"}}});
        assert_ne!(
            Message::parse(&raw).unwrap().content,
            Content::Unknown,
            "{kind}"
        );
    }
    let raw = serde_json::json!({"id": "wamid.k", "from": "1", "timestamp": "1", "type": "edit"});
    assert_eq!(Message::parse(&raw).unwrap().content, Content::Unknown);
}
