//! The router: one canonical form per path, and no admin route reachable
//! without the token, however the path is spelled.

use proptest::prelude::*;
use wa_edge::api::router::{resolve, route, segments, Route};
use wa_edge::keys::{Caller, Key, Need, Scope};

fn key(scopes: &[Scope]) -> Caller {
    Caller::Key(Key {
        id: "key_1".into(),
        scopes: scopes.to_vec(),
        channels: None,
    })
}

#[test]
fn routes_map_paths_and_methods() {
    assert_eq!(route("GET", "/healthz"), Route::Health);
    assert_eq!(route("GET", "/webhook"), Route::WebhookVerify);
    assert_eq!(route("POST", "/webhook"), Route::WebhookReceive);
    assert_eq!(route("POST", "/webhook/"), Route::WebhookReceive);
    assert_eq!(
        route("DELETE", "/webhook"),
        Route::MethodNotAllowed("GET, HEAD, POST")
    );
    assert_eq!(
        route("GET", "/v1/messages/wamid.HBg%3D%3D"),
        Route::GetMessage("wamid.HBg==".into())
    );
    assert_eq!(route("GET", "/v1/contacts"), Route::ListContacts);
    assert_eq!(
        route("GET", "/v1/contacts/123"),
        Route::GetContact("123".into())
    );
    assert_eq!(
        route("DELETE", "/v1/contacts/123"),
        Route::DeleteContact("123".into())
    );
    assert_eq!(
        route("GET", "/v1/contacts/123/messages"),
        Route::ContactMessages("123".into())
    );
    assert_eq!(route("GET", "/v1/events"), Route::ListEvents);
    assert_eq!(
        route("GET", "/v1/events/abc/raw"),
        Route::EventRaw("abc".into())
    );
    assert_eq!(
        route("POST", "/v1/events"),
        Route::MethodNotAllowed("GET, HEAD")
    );
    assert_eq!(route("GET", "/v1/nothing"), Route::NotFound);
    assert_eq!(route("POST", "/v1/session"), Route::SignIn);
    assert_eq!(route("GET", "/v1/session"), Route::GetSession);
    assert_eq!(route("POST", "/v1/session/logout"), Route::SignOut);
    assert_eq!(route("GET", "/v1/conversations"), Route::ListConversations);
    assert_eq!(
        route("POST", "/v1/contacts/ct_1/read"),
        Route::MarkRead("ct_1".into())
    );
    assert_eq!(route("POST", "/v1/rules/try"), Route::TryRules);
    assert_eq!(route("GET", "/v1/media/limits"), Route::MediaLimits);
    assert_eq!(route("GET", "/v1/media/123"), Route::GetMedia("123".into()));
}

#[test]
fn every_other_get_is_the_consoles_and_public() {
    for path in [
        "/",
        "/index.html",
        "/app.js",
        "/style.css",
        "/V1/contacts",
        "/x/y",
    ] {
        let routed = resolve("GET", path);
        assert_eq!(routed.need(), Need::Nothing, "{path}");
        assert_eq!(routed.admit(None), Ok(Route::Console), "{path}");
        assert_eq!(route("HEAD", path), Route::Console, "{path}");
        assert_eq!(
            route("POST", path),
            Route::MethodNotAllowed("GET, HEAD"),
            "{path}"
        );
    }
    // The API's and the webhook's own namespaces never fall through to it.
    for path in ["/v1/nothing", "/graph/x", "/webhook/x", "/healthz/x"] {
        assert_eq!(route("GET", path), Route::NotFound, "{path}");
    }
}

#[test]
fn signing_in_needs_no_credential_but_the_session_routes_do() {
    assert_eq!(resolve("POST", "/v1/session").need(), Need::Nothing);
    assert_eq!(resolve("GET", "/v1/session").need(), Need::Admin);
    assert_eq!(resolve("POST", "/v1/session/logout").need(), Need::Admin);
    assert_eq!(resolve("GET", "/v1/conversations").need(), Need::Read);
    assert_eq!(resolve("POST", "/v1/contacts/ct_1/read").need(), Need::Read);
    assert_eq!(resolve("POST", "/v1/rules/try").need(), Need::Admin);
    assert_eq!(
        resolve("GET", "/v1/conversations")
            .admit(Some(&key(&[Scope::Send])))
            .unwrap_err()
            .status,
        403
    );
}

#[test]
fn percent_encoded_v1_is_the_same_route_behind_the_same_token() {
    for path in ["/%76%31/contacts", "/v%31/contacts", "/%76%31/contacts/"] {
        let routed = resolve("GET", path);
        assert_eq!(routed.need(), Need::Read, "{path}");
        let refused = routed.clone().admit(None).unwrap_err();
        assert_eq!(refused.status, 401, "{path}");
        assert_eq!(
            routed.admit(Some(&Caller::Root)).unwrap(),
            Route::ListContacts
        );
    }
    assert_eq!(resolve("POST", "/%76%31/messages").need(), Need::Send);
    assert_eq!(resolve("POST", "/%76%31/channels").need(), Need::Admin);
}

#[test]
fn non_canonical_paths_are_not_found_for_every_method() {
    for path in [
        "//v1/contacts",
        "/v1//contacts",
        "/v1/./contacts",
        "/v1/%2e/contacts",
        "/v1/../v1/contacts",
        "/x/%2e%2e/v1/contacts",
        "/v1%2fcontacts",
        "/v1/contacts%2F123",
        "/v1/contacts/%FF",
        "/v1/contacts/a%00b",
        "/v1/contacts/a%5cb",
        "v1/contacts",
        "",
    ] {
        for method in ["GET", "POST", "DELETE", "PATCH"] {
            assert_eq!(route(method, path), Route::NotFound, "{method} {path}");
        }
    }
}

#[test]
fn route_names_are_case_sensitive() {
    // Not the API: a console path (the console's files answer 404).
    assert_eq!(route("GET", "/V1/contacts"), Route::Console);
    assert_eq!(resolve("GET", "/V1/contacts").need(), Need::Nothing);
    assert_eq!(route("GET", "/v1/Contacts"), Route::NotFound);
    assert_eq!(resolve("GET", "/v1/Contacts").need(), Need::Anyone);
}

#[test]
fn unknown_v1_paths_still_ask_for_the_token() {
    let refused = resolve("GET", "/v1/nothing").admit(None).unwrap_err();
    assert_eq!(refused.status, 401);
    let refused = resolve("GET", "/graph/v23.0/1/nothing")
        .admit(None)
        .unwrap_err();
    assert_eq!(refused.status, 401);
    // With any valid key, an unknown path is a plain 404.
    assert_eq!(
        resolve("GET", "/v1/nothing").admit(Some(&key(&[Scope::Send]))),
        Ok(Route::NotFound)
    );
}

#[test]
fn method_not_allowed_names_the_methods_in_allow() {
    let e = wa_edge::api::ApiError::method_not_allowed("GET, HEAD");
    assert_eq!(e.status, 405);
    assert_eq!(e.header, Some(("Allow", "GET, HEAD")));
}

/// Concrete paths of every admin route.
const ADMIN_PATHS: [&str; 17] = [
    "/v1/messages",
    "/v1/messages/wamid.1",
    "/v1/contacts",
    "/v1/contacts/16505551234",
    "/v1/contacts/16505551234/messages",
    "/v1/events",
    "/v1/events/abc/raw",
    "/v1/channels",
    "/v1/channels/1/templates/sync",
    "/v1/media",
    "/v1/media/9",
    "/v1/rules/rule_1",
    "/v1/keys",
    "/v1/keys/key_1",
    "/v1/destinations/dst_1/replay",
    "/graph/v23.0/106540352242922/messages",
    "/graph/v23.0/106540352242922/media",
];

/// Respells one character the ways a client or proxy might.
fn respell(c: char, how: u8) -> String {
    match how % 6 {
        0 => c.to_string(),
        1 => format!("%{:02X}", c as u32),
        2 => format!("%{:02x}", c as u32),
        3 => c.to_ascii_uppercase().to_string(),
        4 => format!("%25{:02X}", c as u32), // double-encoded
        _ => c.to_string(),
    }
}

fn spelling() -> impl Strategy<Value = String> {
    (
        0..ADMIN_PATHS.len(),
        proptest::collection::vec(any::<u8>(), 64),
        any::<u8>(),
    )
        .prop_map(|(i, hows, extra)| {
            let path = ADMIN_PATHS[i];
            let mut out = String::new();
            for (j, c) in path.chars().enumerate() {
                if c == '/' {
                    out.push_str(match hows[j % hows.len()] % 9 {
                        0 => "//",
                        1 => "/./",
                        2 => "/%2e/",
                        3 => "/x/../",
                        4 => "/%2E%2E/",
                        5 => "%2F",
                        _ => "/",
                    });
                } else {
                    out.push_str(&respell(c, hows[j % hows.len()]));
                }
            }
            if extra % 3 == 0 {
                out.push('/');
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_spelling_of_a_guarded_path_is_served_without_a_credential_or_beyond_a_keys_scopes(
        path in spelling(),
        method in prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
        scopes in prop::collection::vec(prop::sample::select(vec![Scope::Send, Scope::Read, Scope::Admin]), 0..3),
    ) {
        let routed = resolve(method, &path);
        match routed.clone().admit(None) {
            // Refused for want of a credential: fine.
            Err(e) => prop_assert_eq!(e.status, 401),
            // Admitted without one: only public routes or a 404/405.
            Ok(r) => prop_assert!(matches!(r.need(), Need::Nothing | Need::Anyone), "{method} {path} -> {r:?}"),
        }
        // A key gets a route only when it holds the scope the route needs.
        let caller = key(&scopes);
        let admin = scopes.contains(&Scope::Admin);
        if let Ok(r) = routed.clone().admit(Some(&caller)) {
            let allowed = match r.need() {
                Need::Nothing | Need::Anyone => true,
                Need::Read => admin || scopes.contains(&Scope::Read),
                Need::Send => admin || scopes.contains(&Scope::Send),
                Need::Admin => admin,
            };
            prop_assert!(allowed, "{method} {path} -> {r:?} with {scopes:?}");
        } else {
            let e = routed.clone().admit(Some(&caller)).unwrap_err();
            prop_assert_eq!(e.status, 403);
        }
        // The admin token reaches every route the path names.
        prop_assert!(routed.admit(Some(&Caller::Root)).is_ok());
    }

    #[test]
    fn any_path_routes_without_panicking(path in "\\PC{0,64}", method in "[A-Z]{1,8}") {
        let routed = resolve(&method, &path);
        if routed.need() == Need::Nothing {
            let r = routed.admit(None).unwrap();
            prop_assert!(matches!(r.need(), Need::Nothing | Need::Anyone));
        }
    }
}

#[test]
fn channel_resources_and_media_are_routed_by_method() {
    use wa_edge::api::router::ChannelRoute as C;
    let ch = |r| Route::Channel("1".into(), r);
    assert_eq!(route("GET", "/v1/channels"), Route::ListChannels);
    assert_eq!(route("POST", "/v1/channels"), Route::CreateChannel);
    assert_eq!(route("PATCH", "/v1/channels/1"), ch(C::Update));
    assert_eq!(route("HEAD", "/v1/channels/1/profile"), ch(C::GetProfile));
    assert_eq!(
        route("PATCH", "/v1/channels/1/profile"),
        ch(C::UpdateProfile)
    );
    assert_eq!(
        route("POST", "/v1/channels/1/templates/sync"),
        ch(C::SyncTemplates)
    );
    assert_eq!(
        route("DELETE", "/v1/channels/1/templates/order_update"),
        ch(C::DeleteTemplate("order_update".into()))
    );
    assert_eq!(
        route("PUT", "/v1/channels/1"),
        Route::MethodNotAllowed("GET, HEAD, PATCH, DELETE")
    );
    assert_eq!(
        route("GET", "/v1/channels/1/register"),
        Route::MethodNotAllowed("POST")
    );
    assert_eq!(route("GET", "/v1/channels/1/nothing"), Route::NotFound);
    assert_eq!(route("POST", "/v1/media"), Route::UploadMedia);
    assert_eq!(route("GET", "/v1/media/9"), Route::GetMedia("9".into()));
    assert_eq!(
        route("DELETE", "/v1/media/9"),
        Route::MethodNotAllowed("GET, HEAD")
    );
}

#[test]
fn routes_need_the_scope_of_their_purpose() {
    let need = |m, p| resolve(m, p).need();
    assert_eq!(need("GET", "/v1/contacts"), Need::Read);
    assert_eq!(need("GET", "/v1/messages/wamid.1"), Need::Read);
    assert_eq!(need("GET", "/v1/events/e/raw"), Need::Read);
    assert_eq!(need("GET", "/v1/media/9"), Need::Read);
    assert_eq!(need("POST", "/v1/messages"), Need::Send);
    assert_eq!(need("POST", "/v1/media"), Need::Send);
    assert_eq!(need("POST", "/graph/v23.0/1/messages"), Need::Send);
    assert_eq!(
        need("DELETE", "/v1/contacts/1"),
        Need::Admin,
        "erasure is admin"
    );
    assert_eq!(need("GET", "/v1/channels"), Need::Admin);
    assert_eq!(need("POST", "/v1/keys"), Need::Admin);
    assert_eq!(need("GET", "/v1/destinations"), Need::Admin);
    assert_eq!(need("POST", "/webhook"), Need::Nothing);
}

#[test]
fn graph_paths_take_a_version_and_a_channel() {
    use wa_edge::api::router::{Dialect, GraphRoute};
    assert_eq!(
        route("POST", "/graph/v23.0/106540352242922/messages"),
        Route::Graph(GraphRoute::Messages("106540352242922".into()))
    );
    assert_eq!(
        route("POST", "/graph/v21/1/media"),
        Route::Graph(GraphRoute::Media("1".into()))
    );
    assert_eq!(
        route("GET", "/graph/v23.0/1/messages"),
        Route::MethodNotAllowed("POST")
    );
    for bad in [
        "/graph/23.0/1/messages",
        "/graph/v/1/messages",
        "/graph/v1.2.3/1/messages",
        "/graph/v23.0/1",
    ] {
        assert_eq!(route("POST", bad), Route::NotFound, "{bad}");
    }
    assert_eq!(
        resolve("POST", "/graph/v23.0/1/messages").dialect(),
        Dialect::Graph
    );
    assert_eq!(resolve("POST", "/graph//x").dialect(), Dialect::Graph);
    assert_eq!(resolve("POST", "/v1/messages").dialect(), Dialect::Api);
}

#[test]
fn a_send_key_for_one_channel_cannot_send_from_another() {
    let caller = Caller::Key(Key {
        id: "key_1".into(),
        scopes: vec![Scope::Send],
        channels: Some(vec!["111".into()]),
    });
    assert!(resolve("POST", "/graph/v23.0/111/messages")
        .admit(Some(&caller))
        .is_ok());
    let e = resolve("POST", "/graph/v23.0/222/messages")
        .admit(Some(&caller))
        .unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e.message.contains("222"));
    let e = resolve("GET", "/v1/contacts")
        .admit(Some(&caller))
        .unwrap_err();
    assert_eq!(e.status, 403, "a send key does not read");
}

#[test]
fn only_the_webhook_answers_servers_alone() {
    let webhook = |m, p| route(m, p).is_webhook();
    assert!(webhook("GET", "/webhook"));
    assert!(webhook("POST", "/webhook/"));
    assert!(webhook("POST", "/webhook/360dialog/106540352242922"));
    for (m, p) in [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/v1/contacts"),
        ("POST", "/graph/v23.0/1/messages"),
        ("DELETE", "/webhook"),
        ("GET", "/webhookx"),
        ("GET", "/v1/webhook"),
    ] {
        assert!(!webhook(m, p), "{m} {p}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// The page headers go only where a browser could not be shown the
    /// answer: no path outside `/webhook` loses them, however spelled.
    #[test]
    fn no_other_path_goes_without_the_page_headers(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD"]),
        path in prop_oneof![
            "/[a-zA-Z0-9%./_-]{0,40}",
            "/(webhook|%77ebhook|%77%65bhook|Webhook|v1/webhook)(/[a-zA-Z0-9%._-]{0,20}){0,3}/?",
        ],
    ) {
        let r = route(method, &path);
        if r.is_webhook() {
            prop_assert_eq!(r.need(), Need::Nothing);
            let first = segments(&path).and_then(|s| s.first().cloned());
            prop_assert_eq!(first.as_deref(), Some("webhook"), "{} resolved to the webhook", path);
        }
    }
}
