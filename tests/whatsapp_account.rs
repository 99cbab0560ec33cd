use serde_json::{json, Value};
use wa_edge::channels::{check_limits, Bases, Channel, LimitRefusal};
use wa_edge::whatsapp::graph::manage::check_d360_webhook_url;
use wa_edge::whatsapp::graph::{Endpoint, Provider};
use wa_edge::whatsapp::media::{check_upload, kind_of, multipart, MediaKind, UploadError};
use wa_edge::whatsapp::phone::{canonical_wa_id, e164};
use wa_edge::whatsapp::profile::{is_email, validate_profile};
use wa_edge::whatsapp::templates::{template_page, validate_template, variables};

#[test]
fn wa_id_forms_of_one_person_share_a_canonical_id() {
    // Brazil: the mobile ninth digit.
    assert_eq!(canonical_wa_id("551187654321"), "5511987654321");
    assert_eq!(canonical_wa_id("5511987654321"), "5511987654321");
    assert_eq!(canonical_wa_id("+55 11 8765-4321"), "5511987654321");
    // A Brazilian landline (starts 2-5) gets no ninth digit.
    assert_eq!(canonical_wa_id("551132654321"), "551132654321");
    // Mexico: 521 and 52.
    assert_eq!(canonical_wa_id("5215512345678"), "525512345678");
    assert_eq!(canonical_wa_id("525512345678"), "525512345678");
    // Argentina: 54 and 549.
    assert_eq!(canonical_wa_id("541123456789"), "5491123456789");
    assert_eq!(canonical_wa_id("5491123456789"), "5491123456789");
    // Elsewhere: digits only.
    assert_eq!(canonical_wa_id("+1 (650) 555-1234"), "16505551234");
    assert_eq!(canonical_wa_id("447700900123"), "447700900123");
    assert_eq!(e164("551187654321"), "+5511987654321");
}

fn template() -> Value {
    json!({"name": "order_shipped", "category": "UTILITY", "language": "en_US", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["A-1"]}},
        {"type": "BODY", "text": "Hi {{1}}, order {{2}} ({{1}}) shipped.", "example": {"body_text": [["Ann", "A-1"]]}},
        {"type": "FOOTER", "text": "Shop"},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Thanks"},
            {"type": "URL", "text": "Track", "url": "https://shop.example.com/t/{{1}}", "example": ["https://shop.example.com/t/1"]},
            {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550001234"}]}]})
}

fn with_component(i: usize, c: Value) -> Value {
    let mut t = template();
    t["components"][i] = c;
    t
}

#[test]
fn a_complete_template_passes() {
    assert_eq!(validate_template(&template()), Ok(()));
    let mut media = template();
    media["components"][0] =
        json!({"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1n"]}});
    assert_eq!(validate_template(&media), Ok(()));
}

#[test]
fn template_rules_name_the_field() {
    let field = |t: Value| validate_template(&t).unwrap_err().field;
    let mut t = template();
    t["name"] = json!("Order-Shipped");
    assert_eq!(field(t), "name");
    let mut t = template();
    t["category"] = json!("TRANSACTIONAL");
    assert_eq!(field(t), "category");
    let mut t = template();
    t["language"] = json!("English");
    assert_eq!(field(t), "language");
    assert_eq!(
        field(with_component(
            1,
            json!({"type": "BODY", "text": "{{2}} first", "example": {"body_text": [["a", "b"]]}})
        )),
        "components[1].text"
    );
    assert_eq!(
        field(with_component(
            1,
            json!({"type": "BODY", "text": "{{2}} then {{1}}", "example": {"body_text": [["a", "b"]]}})
        )),
        "components[1].text"
    );
    assert_eq!(
        field(with_component(
            1,
            json!({"type": "BODY", "text": "Hi {{name}}"})
        )),
        "components[1].text"
    );
    assert_eq!(
        field(with_component(
            1,
            json!({"type": "BODY", "text": "Hi {{1}}"})
        )),
        "components[1].example.body_text"
    );
    assert_eq!(
        field(with_component(
            1,
            json!({"type": "BODY", "text": "Hi {{1}} {{2}}", "example": {"body_text": [["a"]]}})
        )),
        "components[1].example.body_text"
    );
    assert_eq!(
        field(with_component(
            1,
            json!({"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [[""]]}})
        )),
        "components[1].example.body_text[0][0]"
    );
    assert_eq!(
        field(with_component(
            0,
            json!({"type": "HEADER", "format": "TEXT", "text": "{{1}} {{2}}", "example": {"header_text": ["a"]}})
        )),
        "components[0].text"
    );
    assert_eq!(
        field(with_component(
            0,
            json!({"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"})
        )),
        "components[0].example.header_text"
    );
    assert_eq!(
        field(with_component(
            0,
            json!({"type": "HEADER", "format": "VIDEO"})
        )),
        "components[0].example.header_handle"
    );
    assert_eq!(
        field(with_component(
            0,
            json!({"type": "HEADER", "format": "GIF"})
        )),
        "components[0].format"
    );
    assert_eq!(
        field(with_component(
            2,
            json!({"type": "FOOTER", "text": "x".repeat(61)})
        )),
        "components[2].text"
    );
    assert_eq!(
        field(with_component(
            2,
            json!({"type": "FOOTER", "text": "Hi {{1}}"})
        )),
        "components[2].text"
    );
    assert_eq!(
        field(with_component(0, json!({"type": "BODY", "text": "twice"}))),
        "components[1].type"
    );
    let qr = |n: usize, len: usize| json!({"type": "BUTTONS", "buttons": (0..n).map(|i| json!({"type": "QUICK_REPLY", "text": format!("{i}{}", "x".repeat(len))})).collect::<Vec<_>>()});
    assert_eq!(field(with_component(3, qr(4, 3))), "components[3].buttons");
    assert_eq!(
        field(with_component(3, qr(1, 20))),
        "components[3].buttons[0].text"
    );
    assert_eq!(
        field(with_component(
            3,
            json!({"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "a", "url": "https://a.com"}, {"type": "URL", "text": "b", "url": "https://b.com"}]})
        )),
        "components[3].buttons"
    );
    assert_eq!(
        field(with_component(
            3,
            json!({"type": "BUTTONS", "buttons": [
        {"type": "PHONE_NUMBER", "text": "a", "phone_number": "+15550001"}, {"type": "PHONE_NUMBER", "text": "b", "phone_number": "+15550002"}]})
        )),
        "components[3].buttons"
    );
    assert_eq!(
        field(with_component(
            3,
            json!({"type": "BUTTONS", "buttons": [{"type": "URL", "text": "a", "url": "mailto:x"}]})
        )),
        "components[3].buttons[0].url"
    );
    let mut no_body = template();
    no_body["components"] = json!([{"type": "FOOTER", "text": "f"}]);
    assert_eq!(field(no_body), "components");
}

#[test]
fn variables_are_read_in_order() {
    assert_eq!(variables("Hi {{1}}, {{2}} and {{ 1 }}"), Ok(vec![1, 2, 1]));
    assert!(variables("Hi {{1").is_err());
    assert!(variables("Hi {{first}}").is_err());
}

#[test]
fn template_pages_follow_paging_next() {
    let page = json!({"data": [
        {"id": "1", "name": "a", "language": "en", "status": "APPROVED", "category": "UTILITY"},
        {"id": "2", "name": "b", "language": "de", "status": "REJECTED", "rejected_reason": "PROMOTIONAL"},
        {"name": "no id"}],
        "paging": {"cursors": {"before": "x", "after": "NEXT"}, "next": "https://graph/..."}});
    let (rows, next) = template_page("waba", &page);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].rejected_reason.as_deref(), Some("PROMOTIONAL"));
    assert_eq!(next.as_deref(), Some("NEXT"));
    let last = json!({"data": [], "paging": {"cursors": {"after": "END"}}});
    assert_eq!(
        template_page("waba", &last).1,
        None,
        "no next link: last page"
    );
}

#[test]
fn profile_rules_name_the_field() {
    assert_eq!(
        validate_profile(
            &json!({"about": "Shoes", "address": "1 Main St", "description": "We sell shoes",
            "email": "hi@shop.example", "vertical": "APPAREL", "websites": ["https://shop.example", "http://blog.shop.example"],
            "profile_picture_handle": "4::abc"})
        ),
        Ok(())
    );
    let field = |v: Value| validate_profile(&v).unwrap_err().field;
    assert_eq!(field(json!({"address": "x".repeat(257)})), "address");
    assert_eq!(
        field(json!({"description": "x".repeat(513)})),
        "description"
    );
    assert_eq!(
        field(json!({"email": format!("{}@x.com", "a".repeat(124))})),
        "email"
    );
    assert_eq!(field(json!({"email": "no-at-sign"})), "email");
    assert_eq!(field(json!({"vertical": "SHOES"})), "vertical");
    assert_eq!(
        field(json!({"websites": ["https://a.com", "https://b.com", "https://c.com"]})),
        "websites"
    );
    assert_eq!(field(json!({"websites": ["shop.example"]})), "websites[0]");
    assert_eq!(
        field(json!({"websites": [format!("https://a.com/{}", "x".repeat(250))]})),
        "websites[0]"
    );
    assert_eq!(field(json!({"about": 5})), "about");
    assert_eq!(field(json!({"phone": "1"})), "phone");
    assert_eq!(field(json!({})), "");
    assert!(is_email("a.b+c@sub.example.org"));
    assert!(!is_email("a@b"));
    assert!(!is_email("a b@c.com"));
}

#[test]
fn dialog360_webhook_urls_follow_360dialogs_rules() {
    assert_eq!(
        check_d360_webhook_url("https://wa.example.com/webhook/360dialog/1"),
        Ok(())
    );
    for bad in [
        "http://wa.example.com/hook",
        "https://wa.example.com:8443/hook",
        "https://wa_edge.example.com/hook",
        "https:///hook",
        "https://wa.example.com/a b",
    ] {
        assert!(check_d360_webhook_url(bad).is_err(), "{bad}");
    }
}

fn channel(v: Value) -> Result<Channel, String> {
    Channel::parse(v.to_string().as_bytes()).map_err(|e| e.0)
}

fn meta() -> Value {
    json!({"phone_number_id": "111", "waba_id": "222", "provider": "meta", "credential_secret": "TOKEN_A"})
}

#[test]
fn channels_are_validated_and_carry_their_webhook_path() {
    let c = channel(meta()).unwrap();
    assert_eq!(c.tier, "250");
    assert_eq!(c.to_json(false)["webhook_url"], "/webhook");
    assert_eq!(c.to_json(false)["source"], "api");
    let mut d = meta();
    d["provider"] = json!("360dialog");
    d["webhook_auth_secret"] = json!("HOOK_B");
    assert_eq!(channel(d).unwrap().webhook_path(), "/webhook/360dialog/111");
    for (patch, needle) in [
        (json!({"phone_number_id": "+1 555"}), "phone_number_id"),
        (json!({"waba_id": "abc"}), "waba_id"),
        (json!({"provider": "twilio"}), "provider"),
        (
            json!({"credential_secret": "EAAG-abc.def"}),
            "credential_secret",
        ),
        (
            json!({"webhook_auth_secret": "HOOK"}),
            "webhook_auth_secret",
        ),
        (json!({"tier": "3k"}), "tier"),
        (
            json!({"test_recipients": ["1", "2", "3", "4", "5", "6"]}),
            "test_recipients",
        ),
        (json!({"token": "x"}), "token"),
    ] {
        let mut v = meta();
        v.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        let e = channel(v).unwrap_err();
        assert!(e.contains(needle), "{e} should mention {needle}");
    }
    let c = channel(meta()).unwrap();
    assert_eq!(
        c.patched(br#"{"name": "Shop", "tier": "10k"}"#)
            .unwrap()
            .limit(),
        Some(10_000)
    );
    assert!(c.patched(br#"{"phone_number_id": "999"}"#).is_err());
    assert!(c.patched(br#"{"provider": "nope"}"#).is_err());
}

#[test]
fn tiers_limit_unique_business_initiated_recipients() {
    let mut c = channel(meta()).unwrap();
    assert_eq!(check_limits(&c, "1", true, 249, false), Ok(()));
    assert_eq!(
        check_limits(&c, "1", true, 250, false),
        Err(LimitRefusal::TierReached { limit: 250 })
    );
    assert_eq!(
        check_limits(&c, "1", true, 250, true),
        Ok(()),
        "already counted today"
    );
    assert_eq!(
        check_limits(&c, "1", false, 10_000, false),
        Ok(()),
        "service replies are not counted"
    );
    for (tier, limit) in [
        ("1k", Some(1000)),
        ("2k", Some(2000)),
        ("10k", Some(10_000)),
        ("100k", Some(100_000)),
        ("unlimited", None),
    ] {
        c.tier = tier.into();
        assert_eq!(c.limit(), limit, "{tier}");
    }
    assert_eq!(check_limits(&c, "1", true, i64::MAX, false), Ok(()));
    c.test_number = true;
    c.test_recipients = vec!["+1 650 555 1234".into()];
    assert_eq!(check_limits(&c, "16505551234", false, 0, false), Ok(()));
    assert_eq!(
        check_limits(&c, "16505550000", false, 0, false),
        Err(LimitRefusal::NotATestRecipient)
    );
}

fn endpoint(provider: Provider) -> Endpoint {
    let c = channel(json!({"phone_number_id": "111", "waba_id": "222", "provider": provider.as_str(),
        "credential_secret": "T", "webhook_auth_secret": (provider == Provider::Dialog360).then_some("H")})).unwrap();
    c.endpoint(
        &Bases {
            graph: "https://graph.facebook.com".into(),
            version: "v23.0".into(),
            d360: "https://waba-v2.360dialog.io".into(),
        },
        "cred".into(),
    )
}

#[test]
fn management_calls_use_graphs_documented_paths() {
    let m = endpoint(Provider::Meta);
    let g = "https://graph.facebook.com/v23.0";
    let cases = [
        (
            m.list_phone_numbers("222"),
            "GET",
            format!("{g}/222/phone_numbers"),
        ),
        (m.register("123456"), "POST", format!("{g}/111/register")),
        (
            m.subscribe_app("222"),
            "POST",
            format!("{g}/222/subscribed_apps"),
        ),
        (
            m.subscribed_apps("222"),
            "GET",
            format!("{g}/222/subscribed_apps"),
        ),
        (
            m.get_profile(),
            "GET",
            format!("{g}/111/whatsapp_business_profile"),
        ),
        (
            m.update_profile(&json!({"about": "x"})),
            "POST",
            format!("{g}/111/whatsapp_business_profile"),
        ),
        (
            m.list_templates("222", None),
            "GET",
            format!("{g}/222/message_templates"),
        ),
        (
            m.list_templates("222", Some("a b")),
            "GET",
            format!("{g}/222/message_templates"),
        ),
        (
            m.create_template("222", &json!({})),
            "POST",
            format!("{g}/222/message_templates"),
        ),
        (
            m.delete_template("222", "order_update"),
            "DELETE",
            format!("{g}/222/message_templates"),
        ),
        (m.media_info("999"), "GET", format!("{g}/999")),
    ];
    for (req, method, prefix) in cases {
        assert_eq!(req.method, method, "{}", req.url);
        assert!(
            req.url.starts_with(&prefix),
            "{} should start with {prefix}",
            req.url
        );
        assert!(req
            .headers
            .contains(&("Authorization", "Bearer cred".into())));
    }
    assert!(m
        .list_templates("222", Some("a b"))
        .url
        .ends_with("&after=a%20b"));
    assert!(m
        .delete_template("222", "order_update")
        .url
        .ends_with("?name=order%5Fupdate"));
    assert!(m.media_info("999").url.ends_with("?phone_number_id=111"));
    let register: Value =
        serde_json::from_slice(m.register("123456").body.as_deref().unwrap()).unwrap();
    assert_eq!(
        register,
        json!({"messaging_product": "whatsapp", "pin": "123456"})
    );
    assert_eq!(m.media_upload_url(), format!("{g}/111/media"));
}

#[test]
fn dialog360_management_calls_go_through_the_proxy() {
    let d = endpoint(Provider::Dialog360);
    let base = "https://waba-v2.360dialog.io";
    assert_eq!(
        d.get_profile().url,
        format!(
            "{base}/whatsapp_business_profile?fields={}",
            wa_edge::whatsapp::graph::manage::PROFILE_FIELDS
        )
    );
    assert_eq!(
        d.create_template("222", &json!({})).url,
        format!("{base}/v1/configs/templates")
    );
    assert_eq!(
        d.delete_template("222", "a").url,
        format!("{base}/v1/configs/templates/a")
    );
    assert_eq!(d.media_info("999").url, format!("{base}/999"));
    assert_eq!(
        d.media_download("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1")
            .url,
        format!("{base}/whatsapp_business/attachments/?mid=1")
    );
    let hook = d.d360_set_webhook(
        "https://x.example.com/h",
        &json!({"Authorization": "Basic eA=="}),
    );
    assert_eq!(hook.url, format!("{base}/v1/configs/webhook"));
    assert!(hook.headers.contains(&("D360-API-KEY", "cred".into())));
    let body: Value = serde_json::from_slice(hook.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["headers"]["Authorization"], "Basic eA==");
}

#[test]
fn uploads_respect_each_kinds_type_and_size() {
    assert_eq!(kind_of("image/jpeg"), Some(MediaKind::Image));
    assert_eq!(kind_of("IMAGE/PNG; charset=x"), Some(MediaKind::Image));
    assert_eq!(kind_of("image/webp"), Some(MediaKind::Sticker));
    assert_eq!(kind_of("audio/ogg"), Some(MediaKind::Audio));
    assert_eq!(kind_of("video/mp4"), Some(MediaKind::Video));
    assert_eq!(kind_of("application/pdf"), Some(MediaKind::Document));
    assert_eq!(kind_of("image/gif"), None);
    let mb = 1024 * 1024;
    for (mime, limit) in [
        ("image/png", 5 * mb),
        ("audio/mpeg", 16 * mb),
        ("video/3gpp", 16 * mb),
        ("application/pdf", 100 * mb),
        ("image/webp", 100 * 1024),
    ] {
        assert!(check_upload(mime, limit).is_ok(), "{mime}");
        assert!(
            matches!(
                check_upload(mime, limit + 1),
                Err(UploadError::TooLarge { .. })
            ),
            "{mime}"
        );
    }
    assert!(matches!(
        check_upload("application/zip", 1),
        Err(UploadError::UnsupportedType(_))
    ));
}

#[test]
fn multipart_body_carries_the_fields_and_the_bytes() {
    let body = multipart("BOUND", "image/png", "a\"b.png", &[0, 159, 255]);
    let text = String::from_utf8_lossy(&body);
    assert!(text.starts_with(
        "--BOUND\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n"
    ));
    assert!(text.contains("name=\"type\"\r\n\r\nimage/png\r\n"));
    assert!(text.contains("filename=\"ab.png\"\r\nContent-Type: image/png\r\n\r\n"));
    assert!(body.windows(3).any(|w| w == [0, 159, 255]));
    assert!(text.ends_with("\r\n--BOUND--\r\n"));
}

#[test]
fn template_sends_need_a_parameter_per_variable_of_the_synced_template() {
    use wa_edge::whatsapp::templates::check_template_parameters;
    let stored = json!({"name": "order_update", "language": "en_US", "components": [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Hi {{1}}, order {{2}} ({{1}})"},
        {"type": "FOOTER", "text": "Shop"}]});
    let send = |header: usize, body: usize| {
        let p = |n: usize| {
            (0..n)
                .map(|i| json!({"type": "text", "text": format!("v{i}")}))
                .collect::<Vec<_>>()
        };
        json!({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"},
            "components": [{"type": "header", "parameters": p(header)}, {"type": "BODY", "parameters": p(body)}]}})
    };
    assert_eq!(check_template_parameters(&stored, &send(1, 2)), Ok(()));
    let e = check_template_parameters(&stored, &send(1, 1)).unwrap_err();
    assert_eq!(e.field, "template.components");
    assert_eq!(
        e.message,
        "order_update (en_US) needs 2 body parameter(s); got 1"
    );
    assert!(check_template_parameters(&stored, &send(0, 2))
        .unwrap_err()
        .message
        .contains("1 header"));
    let plain = json!({"name": "hello", "components": [{"type": "BODY", "text": "Hello"}]});
    assert_eq!(
        check_template_parameters(&plain, &json!({"template": {"name": "hello"}})),
        Ok(())
    );
}

#[test]
fn a_dynamic_url_button_needs_its_parameter() {
    use wa_edge::whatsapp::templates::check_template_parameters;
    let stored = json!({"name": "track", "language": "en", "components": [
        {"type": "BODY", "text": "Your parcel"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"},
            {"type": "URL", "text": "Track", "url": "https://shop.example.com/t/{{1}}"}]}]});
    let without = json!({"template": {"name": "track", "components": []}});
    let e = check_template_parameters(&stored, &without).unwrap_err();
    assert_eq!(e.message, "track (en) needs a parameter for URL button 1");
    let with = json!({"template": {"name": "track", "components": [{"type": "button", "sub_type": "url",
        "index": "1", "parameters": [{"type": "text", "text": "A-1"}]}]}});
    assert_eq!(check_template_parameters(&stored, &with), Ok(()));
}

#[test]
fn a_template_sync_follows_pages_until_the_last_or_the_limit() {
    use serde_json::json;
    use wa_edge::whatsapp::templates::{Sync, MAX_SYNC_PAGES};
    let page = |n: usize, next: bool| {
        let mut p = json!({"data": [{"id": format!("t{n}"), "name": format!("t_{n}"),
            "language": "en_US", "status": "APPROVED", "category": "UTILITY"}]});
        if next {
            p["paging"] =
                json!({"cursors": {"after": format!("c{n}")}, "next": "https://graph/next"});
        }
        p
    };
    let mut sync = Sync::new("1");
    assert_eq!(sync.take(&page(1, true)).as_deref(), Some("c1"));
    assert_eq!(sync.take(&page(2, false)), None);
    assert_eq!(sync.rows.len(), 2);
    let mut endless = Sync::new("1");
    let taken = (0..MAX_SYNC_PAGES + 5)
        .take_while(|n| endless.take(&page(*n, true)).is_some())
        .count();
    assert_eq!(taken + 1, MAX_SYNC_PAGES, "stops at the page limit");
    assert_eq!(
        endless.next.as_deref(),
        Some(format!("c{}", MAX_SYNC_PAGES - 1).as_str()),
        "and names the page to go on from"
    );
    assert_eq!(
        sync.next, None,
        "a sync that reached the last page has none"
    );
    // A cursor it would refuse to go on from is not offered.
    let mut odd = Sync::new("1");
    for n in 0..MAX_SYNC_PAGES {
        let mut p = page(n, true);
        p["paging"]["cursors"]["after"] = json!("has space");
        odd.take(&p);
    }
    assert_eq!(odd.next, None);
}

#[test]
fn a_sync_goes_on_only_from_a_cursor_shaped_like_one() {
    use wa_edge::whatsapp::templates::{valid_cursor, MAX_CURSOR};
    assert!(valid_cursor("QVFIUmNGa0x3T2h2dGJ4X0Zf=="));
    for bad in ["", "a b", "a\nb", "é", &"c".repeat(MAX_CURSOR + 1)] {
        assert!(!valid_cursor(bad), "{bad:?}");
    }
}

#[test]
fn a_pin_is_six_digits() {
    use wa_edge::whatsapp::graph::manage::is_pin;
    assert!(is_pin("123456"));
    for bad in ["12345", "1234567", "12345a", "", "１２３４５６"] {
        assert!(!is_pin(bad), "{bad}");
    }
}

#[test]
fn media_a_customer_sent_is_served_so_that_it_runs_nothing() {
    use wa_edge::whatsapp::media::served_as;
    assert_eq!(served_as("image/jpeg"), ("image/jpeg", true));
    assert_eq!(served_as("Audio/OGG; codecs=opus"), ("audio/ogg", true));
    assert_eq!(served_as("video/mp4"), ("video/mp4", true));
    for hostile in [
        "text/html",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "application/pdf",
        "application/xhtml+xml",
        "",
        "image/jpeg\u{0}text/html",
    ] {
        assert_eq!(
            served_as(hostile),
            ("application/octet-stream", false),
            "{hostile}"
        );
    }
}

#[test]
fn the_profile_photo_is_fetched_only_from_https_and_without_the_token() {
    let e = endpoint(Provider::Meta);
    let r = e
        .profile_photo("https://pps.whatsapp.net/v/t61/photo.jpg?oh=1")
        .unwrap();
    assert_eq!(r.method, "GET");
    assert!(r.headers.is_empty(), "no credential goes to the CDN");
    for refused in [
        "http://pps.whatsapp.net/photo.jpg",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https:",
        "",
        "https://graph.facebook.comevil.test/x",
    ] {
        let got = e.profile_photo(refused);
        assert!(
            got.is_none() || refused.starts_with("https://"),
            "{refused}"
        );
    }
    // Under the configured base (a local fake serves it there).
    assert!(e
        .profile_photo("https://graph.facebook.com/pic.png")
        .is_some());
}

#[test]
fn the_limits_shown_to_clients_are_the_ones_uploads_are_checked_against() {
    let limits = wa_edge::whatsapp::media::limits();
    let kinds = limits["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 5);
    for k in kinds {
        let max = k["max_bytes"].as_u64().unwrap() as usize;
        for t in k["types"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            assert_eq!(kind_of(t).unwrap().as_str(), k["kind"], "{t}");
            assert!(check_upload(t, max).is_ok(), "{t} at its limit");
            assert!(check_upload(t, max + 1).is_err(), "{t} over its limit");
        }
    }
}

#[test]
fn the_largest_media_is_the_largest_kind_s_limit() {
    let largest = wa_edge::whatsapp::media::KINDS
        .iter()
        .map(|(kind, _)| kind.limit())
        .max();
    assert_eq!(largest, Some(wa_edge::whatsapp::media::LARGEST));
}
