//! Local validation of outbound messages in Graph's own message object, so a
//! mistake gets a clear 400 naming the field instead of a Graph error after
//! queueing. Limits follow
//! <https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages>.

use serde_json::Value;

/// A value that breaks one of WhatsApp's rules, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// Where, as a path into the message (`interactive.action.buttons[3]`).
    pub field: String,
    pub message: String,
}

/// An [`Invalid`] for `field`.
pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Longest `biz_opaque_callback_data` Graph accepts.
pub const MAX_CALLBACK_DATA: usize = 512;
/// Room left for a sender's own callback data: wa-edge puts its outbox id
/// (`out_` and 32 hex digits) and a `|` in front of it.
pub const MAX_CALLER_CALLBACK_DATA: usize = MAX_CALLBACK_DATA - 37;

/// Message types the send API accepts.
pub const TYPES: [&str; 11] = [
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "template",
];

/// True for a send that is only allowed inside the 24-hour window.
pub fn is_free_form(message: &Value) -> bool {
    message.get("type").and_then(Value::as_str) != Some("template")
}

/// The uploaded media a message sends (`image.id`, `document.id`, ...,
/// or the media of a template's or an interactive message's header; none
/// for media sent by `link`), so the media proxy serves it and erasure
/// finds its copy.
pub fn media_id(message: &Value) -> Option<&str> {
    // `{"<kind>": {"id": ...}}` for the media kind `kind` names.
    fn of<'a>(holder: &'a Value, kind: &str) -> Option<&'a str> {
        crate::whatsapp::media::KINDS
            .iter()
            .any(|(k, _)| k.as_str() == kind)
            .then(|| holder.get(kind)?.get("id")?.as_str())
            .flatten()
    }
    let kind = message.get("type")?.as_str()?;
    match kind {
        "interactive" => {
            let header = message.pointer("/interactive/header")?;
            of(header, header.get("type")?.as_str()?)
        }
        "template" => message
            .pointer("/template/components")?
            .as_array()?
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_str) == Some("header"))
            .flat_map(|c| {
                c.get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .find_map(|p| of(p, p.get("type")?.as_str()?)),
        _ => of(message, kind),
    }
}

/// The recipient, normalised to digits (Graph accepts `+` and spacing, but
/// the digits are what identify the contact).
pub fn recipient(message: &Value) -> Option<String> {
    let to = message.get("to")?.as_str()?;
    let digits: String = to.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

struct Check<'a> {
    root: &'a Value,
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

impl<'a> Check<'a> {
    fn at(&self, path: &str) -> Option<&'a Value> {
        let mut v = self.root;
        for part in path.split('.') {
            v = v.get(part)?;
        }
        Some(v)
    }

    fn string(&self, path: &str, required: bool, max: usize) -> Result<Option<&'a str>, Invalid> {
        match self.at(path) {
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(invalid(path, "is required")),
            Some(Value::String(s)) if required && s.trim().is_empty() => {
                Err(invalid(path, "must not be empty"))
            }
            Some(Value::String(s)) if chars(s) > max => Err(invalid(
                path,
                format!("is {} characters; the limit is {max}", chars(s)),
            )),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(path, "must be a string")),
        }
    }
}

// Media and button links are only required to be http(s): Graph fetches
// them and answers for the rest.
fn check_url(path: &str, url: &str) -> Result<(), Invalid> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(invalid(path, "must be an http(s) URL"))
    }
}

/// Validates a message to send. `require_to` is false for rule replies,
/// whose recipient is the sender of the message they answer.
pub fn validate(message: &Value, require_to: bool) -> Result<(), Invalid> {
    if !message.is_object() {
        return Err(invalid("", "the message must be a JSON object"));
    }
    let c = Check { root: message };
    if require_to {
        c.string("to", true, 32)?;
        let digits = recipient(message).unwrap_or_default();
        if !(5..=15).contains(&digits.len()) {
            return Err(invalid(
                "to",
                "must be a phone number in international format (5 to 15 digits)",
            ));
        }
    }
    let kind = c.string("type", true, 32)?.unwrap_or_default();
    if !TYPES.contains(&kind) {
        return Err(invalid(
            "type",
            format!("must be one of {}", TYPES.join(", ")),
        ));
    }
    if message
        .get(kind)
        .is_none_or(|v| !v.is_object() && !v.is_array())
    {
        return Err(invalid(kind, format!("is required for a {kind} message")));
    }
    match message.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.chars().count() <= MAX_CALLER_CALLBACK_DATA => {}
        Some(_) => {
            return Err(invalid(
                "biz_opaque_callback_data",
                format!(
                    "must be a string of at most {} characters",
                    MAX_CALLER_CALLBACK_DATA
                ),
            ))
        }
    }
    if let Some(ctx) = message.get("context") {
        if !ctx.is_object() {
            return Err(invalid("context", "must be an object"));
        }
        c.string("context.message_id", true, 256)?;
    }
    match kind {
        "text" => {
            c.string("text.body", true, 4096)?;
        }
        "image" | "video" | "document" | "audio" | "sticker" => media(&c, kind)?,
        "location" => location(message)?,
        "contacts" => contacts(message)?,
        "reaction" => {
            c.string("reaction.message_id", true, 256)?;
            c.string("reaction.emoji", false, 16)?;
        }
        "interactive" => interactive(&c)?,
        "template" => template(&c)?,
        other => return Err(invalid("type", format!("{other:?} is not supported"))),
    }
    Ok(())
}

fn media(c: &Check, kind: &str) -> Result<(), Invalid> {
    let id = c.string(&format!("{kind}.id"), false, 256)?;
    let link = c.string(&format!("{kind}.link"), false, 2048)?;
    match (id, link) {
        (Some(_), Some(_)) => return Err(invalid(kind, "give either id or link, not both")),
        (None, None) => return Err(invalid(kind, "needs an id (uploaded media) or a link")),
        (None, Some(url)) => check_url(&format!("{kind}.link"), url)?,
        (Some(_), None) => {}
    }
    let caption = format!("{kind}.caption");
    if matches!(kind, "audio" | "sticker") {
        if c.at(&caption).is_some() {
            return Err(invalid(
                caption,
                format!("{kind} messages cannot have a caption"),
            ));
        }
    } else {
        c.string(&caption, false, 1024)?;
    }
    if kind == "document" {
        c.string("document.filename", false, 240)?;
    }
    Ok(())
}

fn location(message: &Value) -> Result<(), Invalid> {
    for (key, limit) in [("latitude", 90.0), ("longitude", 180.0)] {
        let path = format!("location.{key}");
        match message["location"].get(key).and_then(Value::as_f64) {
            Some(v) if v.abs() <= limit => {}
            Some(_) => {
                return Err(invalid(
                    path,
                    format!("must be between -{limit} and {limit}"),
                ))
            }
            None => return Err(invalid(path, "is required and must be a number")),
        }
    }
    Ok(())
}

fn contacts(message: &Value) -> Result<(), Invalid> {
    let cards = message["contacts"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("contacts", "must be a non-empty array of contact cards"))?;
    for (i, card) in cards.iter().enumerate() {
        let name = card.pointer("/name/formatted_name").and_then(Value::as_str);
        if name.is_none_or(|n| n.trim().is_empty()) {
            return Err(invalid(
                format!("contacts[{i}].name.formatted_name"),
                "is required",
            ));
        }
    }
    Ok(())
}

// Long because it is one arm per interactive type, each a short list of WhatsApp's limits.
fn interactive(c: &Check) -> Result<(), Invalid> {
    let kind = c.string("interactive.type", true, 32)?.unwrap_or_default();
    if c.at("interactive.header.type").and_then(Value::as_str) == Some("text") {
        c.string("interactive.header.text", true, 60)?;
    }
    c.string("interactive.footer.text", false, 60)?;
    match kind {
        "button" => {
            c.string("interactive.body.text", true, 1024)?;
            let buttons = c
                .at("interactive.action.buttons")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("interactive.action.buttons", "is required"))?;
            if buttons.is_empty() || buttons.len() > 3 {
                return Err(invalid(
                    "interactive.action.buttons",
                    format!("has {} buttons; 1 to 3 are allowed", buttons.len()),
                ));
            }
            let mut ids = Vec::new();
            for (i, b) in buttons.iter().enumerate() {
                let bc = Check { root: b };
                let at = |f: &str| format!("interactive.action.buttons[{i}].{f}");
                let id = bc
                    .string("reply.id", true, 256)
                    .map_err(|e| invalid(at(&e.field), e.message))?
                    .unwrap_or_default();
                bc.string("reply.title", true, 20)
                    .map_err(|e| invalid(at(&e.field), e.message))?;
                if ids.contains(&id) {
                    return Err(invalid(at("reply.id"), "must be unique among the buttons"));
                }
                ids.push(id);
            }
        }
        "list" => {
            c.string("interactive.body.text", true, 4096)?;
            c.string("interactive.action.button", true, 20)?;
            let sections = c
                .at("interactive.action.sections")
                .and_then(Value::as_array)
                .filter(|s| !s.is_empty() && s.len() <= 10)
                .ok_or_else(|| {
                    invalid("interactive.action.sections", "must hold 1 to 10 sections")
                })?;
            let mut rows_total = 0;
            for (i, s) in sections.iter().enumerate() {
                let sc = Check { root: s };
                let at = |f: &str| format!("interactive.action.sections[{i}].{f}");
                sc.string("title", sections.len() > 1, 24)
                    .map_err(|e| invalid(at(&e.field), e.message))?;
                let rows = s["rows"]
                    .as_array()
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| invalid(at("rows"), "must hold at least one row"))?;
                rows_total += rows.len();
                for (j, r) in rows.iter().enumerate() {
                    let rc = Check { root: r };
                    let at = |f: &str| format!("interactive.action.sections[{i}].rows[{j}].{f}");
                    rc.string("id", true, 200)
                        .map_err(|e| invalid(at(&e.field), e.message))?;
                    rc.string("title", true, 24)
                        .map_err(|e| invalid(at(&e.field), e.message))?;
                    rc.string("description", false, 72)
                        .map_err(|e| invalid(at(&e.field), e.message))?;
                }
            }
            if rows_total > 10 {
                return Err(invalid(
                    "interactive.action.sections",
                    format!("has {rows_total} rows; at most 10 are allowed"),
                ));
            }
        }
        "cta_url" => {
            c.string("interactive.body.text", true, 1024)?;
            c.string("interactive.action.parameters.display_text", true, 20)?;
            let url = c
                .string("interactive.action.parameters.url", true, 2048)?
                .unwrap_or_default();
            check_url("interactive.action.parameters.url", url)?;
        }
        // Product, catalog, Flow and request messages pass through to Graph.
        "product"
        | "product_list"
        | "catalog_message"
        | "flow"
        | "location_request_message"
        | "address_message"
        | "call_permission_request" => {
            c.string("interactive.body.text", false, 1024)?;
        }
        other => {
            return Err(invalid(
                "interactive.type",
                format!("{other:?} is not an interactive type WhatsApp accepts"),
            ))
        }
    }
    Ok(())
}

const PARAMETER_TYPES: [&str; 10] = [
    "text",
    "currency",
    "date_time",
    "image",
    "video",
    "document",
    "location",
    "payload",
    "coupon_code",
    "action",
];

/// One template parameter: a known type with a value of its kind.
fn template_parameter(at: &str, p: &Value) -> Result<(), Invalid> {
    let ptype = p["type"].as_str().unwrap_or_default();
    if !PARAMETER_TYPES.contains(&ptype) {
        return Err(invalid(
            format!("{at}.type"),
            format!("must be one of {}", PARAMETER_TYPES.join(", ")),
        ));
    }
    let value = &p[ptype];
    let missing = match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if missing {
        return Err(invalid(
            format!("{at}.{ptype}"),
            "is missing: every template parameter needs a value",
        ));
    }
    if ptype == "text" && !value.is_string() {
        return Err(invalid(format!("{at}.text"), "must be a string"));
    }
    if ptype == "text" && value.as_str().is_some_and(|s| chars(s) > 32768) {
        return Err(invalid(
            format!("{at}.text"),
            "is longer than 32768 characters",
        ));
    }
    Ok(())
}

fn template(c: &Check) -> Result<(), Invalid> {
    let name = c.string("template.name", true, 512)?.unwrap_or_default();
    if !super::templates::is_template_name(name) {
        return Err(invalid(
            "template.name",
            "must be lowercase letters, digits and underscores",
        ));
    }
    c.string("template.language.code", true, 16)?;
    let Some(components) = c.at("template.components") else {
        return Ok(());
    };
    let components = components
        .as_array()
        .ok_or_else(|| invalid("template.components", "must be an array"))?;
    for (i, comp) in components.iter().enumerate() {
        let at = format!("template.components[{i}]");
        let kind = comp["type"].as_str().unwrap_or_default();
        if !matches!(
            kind,
            "header" | "body" | "button" | "footer" | "carousel" | "limited_time_offer"
        ) {
            return Err(invalid(
                format!("{at}.type"),
                "must be header, body, button, footer, carousel or limited_time_offer",
            ));
        }
        if kind == "button" {
            if comp["sub_type"].as_str().is_none() {
                return Err(invalid(
                    format!("{at}.sub_type"),
                    "is required for a button component",
                ));
            }
            if comp["index"].is_null() {
                return Err(invalid(
                    format!("{at}.index"),
                    "is required for a button component",
                ));
            }
        }
        let Some(params) = comp.get("parameters") else {
            continue;
        };
        let params = params
            .as_array()
            .ok_or_else(|| invalid(format!("{at}.parameters"), "must be an array"))?;
        for (j, p) in params.iter().enumerate() {
            template_parameter(&format!("{at}.parameters[{j}]"), p)?;
        }
    }
    Ok(())
}
