mod common;

use common::q;
use wa_edge::whatsapp::webhook::verify::challenge_response;

#[test]
fn subscribe_with_matching_token_echoes_the_challenge() {
    let query = q(&[
        ("hub.mode", "subscribe"),
        ("hub.verify_token", "tok"),
        ("hub.challenge", "1158201444"),
    ]);
    assert_eq!(challenge_response(&query, Some("tok")), Some("1158201444"));
}

#[test]
fn wrong_token_mode_or_missing_parts_are_refused() {
    let cases = [
        q(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "nope"),
            ("hub.challenge", "1"),
        ]),
        q(&[
            ("hub.mode", "unsubscribe"),
            ("hub.verify_token", "tok"),
            ("hub.challenge", "1"),
        ]),
        q(&[("hub.verify_token", "tok"), ("hub.challenge", "1")]),
        q(&[("hub.mode", "subscribe"), ("hub.challenge", "1")]),
        q(&[("hub.mode", "subscribe"), ("hub.verify_token", "tok")]),
        q(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "tok"),
            ("hub.challenge", ""),
        ]),
        q(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "to"),
            ("hub.challenge", "1"),
        ]),
    ];
    for query in &cases {
        assert_eq!(challenge_response(query, Some("tok")), None, "{query:?}");
    }
}

#[test]
fn unset_verify_token_refuses_everything() {
    let query = q(&[
        ("hub.mode", "subscribe"),
        ("hub.verify_token", ""),
        ("hub.challenge", "1"),
    ]);
    assert_eq!(challenge_response(&query, None), None);
    assert_eq!(challenge_response(&query, Some("")), None);
}
