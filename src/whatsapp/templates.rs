//! Message templates in Graph's shape: local validation of a submission
//! (so mistakes get a 400 naming the field before Graph sees them), the
//! parameter check of a template send against the synced template, and
//! Graph's template list pages. See
//! <https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates>.

use super::is_http_url;
use serde_json::Value;

use super::message::invalid as bad;
/// A refused field, as for outbound messages.
pub use super::message::Invalid as FieldError;

/// True for a template name Meta accepts: 1 to 512 lowercase letters,
/// digits and underscores.
pub fn is_template_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Template categories Meta accepts.
pub const CATEGORIES: [&str; 3] = ["MARKETING", "UTILITY", "AUTHENTICATION"];

/// Positional variables (`{{1}}`, `{{2}}`, ...) in order of appearance.
/// Anything else between `{{` and `}}` is an error.
pub fn variables(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("has an unclosed {{")?;
        let inner = after[..end].trim();
        let n: u32 = inner
            .parse()
            .map_err(|_| format!("{{{{{inner}}}}} is not a positional variable like {{{{1}}}}"))?;
        out.push(n);
        rest = &after[end + 2..];
    }
    Ok(out)
}

fn check_sequence(field: &str, vars: &[u32]) -> Result<usize, FieldError> {
    let mut distinct: Vec<u32> = vars.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    for (i, v) in distinct.iter().enumerate() {
        if *v != i as u32 + 1 {
            return Err(bad(
                field,
                format!("variables must be numbered {{{{1}}}}, {{{{2}}}}, ... without gaps; found {{{{{v}}}}}"),
            ));
        }
    }
    let mut first_seen = Vec::new();
    for v in vars {
        if !first_seen.contains(v) {
            first_seen.push(*v);
        }
    }
    if first_seen.windows(2).any(|w| matches!(w, [a, b] if a > b)) {
        return Err(bad(
            field,
            "variables must first appear in order ({{1}} before {{2}})",
        ));
    }
    Ok(distinct.len())
}

/// Validates a template submission in Graph's shape
/// (`{"name", "category", "language", "components": [...]}`).
// Long because it is one check per field, in the order the fields appear; components are checked by their own functions.
pub fn validate_template(t: &Value) -> Result<(), FieldError> {
    let obj = t
        .as_object()
        .ok_or_else(|| bad("", "the template must be a JSON object"))?;
    let name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
    if !is_template_name(name) {
        return Err(bad(
            "name",
            "must be 1-512 lowercase letters, digits and underscores",
        ));
    }
    let category = obj
        .get("category")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !CATEGORIES.contains(&category) {
        return Err(bad(
            "category",
            "must be MARKETING, UTILITY or AUTHENTICATION",
        ));
    }
    let language = obj
        .get("language")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let lang_ok = match language.split_once('_') {
        None => {
            (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_lowercase())
        }
        Some((l, r)) => {
            (2..=3).contains(&l.len())
                && l.chars().all(|c| c.is_ascii_lowercase())
                && (2..=4).contains(&r.len())
                && r.chars().all(|c| c.is_ascii_alphanumeric())
        }
    };
    if !lang_ok {
        return Err(bad(
            "language",
            "must be a language code such as en, en_US or pt_BR",
        ));
    }
    let components = obj
        .get("components")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("components", "is required: at least a BODY"))?;
    let mut seen: Vec<String> = Vec::new();
    for (i, c) in components.iter().enumerate() {
        let at = |f: &str| {
            if f.is_empty() {
                format!("components[{i}]")
            } else {
                format!("components[{i}].{f}")
            }
        };
        let kind = c["type"].as_str().unwrap_or_default().to_ascii_uppercase();
        if seen.contains(&kind) {
            return Err(bad(
                at("type"),
                format!("only one {kind} component is allowed"),
            ));
        }
        seen.push(kind.clone());
        match kind.as_str() {
            "HEADER" => header(c, &at)?,
            "BODY" => body(c, &at)?,
            "FOOTER" => {
                let text = c["text"].as_str().unwrap_or_default();
                if text.is_empty() || text.chars().count() > 60 {
                    return Err(bad(at("text"), "must be 1-60 characters"));
                }
                if text.contains("{{") {
                    return Err(bad(at("text"), "a footer cannot have variables"));
                }
            }
            "BUTTONS" => buttons(c, &at)?,
            _ => return Err(bad(at("type"), "must be HEADER, BODY, FOOTER or BUTTONS")),
        }
    }
    if !seen.iter().any(|k| k == "BODY") {
        return Err(bad("components", "a BODY component is required"));
    }
    Ok(())
}

fn header(c: &Value, at: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    let format = c["format"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_uppercase();
    match format.as_str() {
        "TEXT" => {
            let text = c["text"].as_str().unwrap_or_default();
            if text.is_empty() || text.chars().count() > 60 {
                return Err(bad(at("text"), "must be 1-60 characters"));
            }
            let vars = variables(text).map_err(|e| bad(at("text"), e))?;
            let n = check_sequence(&at("text"), &vars)?;
            if n > 1 {
                return Err(bad(at("text"), "a header can have at most one variable"));
            }
            if n == 1 {
                let example = c.pointer("/example/header_text/0").and_then(Value::as_str);
                if example.is_none_or(str::is_empty) {
                    return Err(bad(
                        at("example.header_text"),
                        "give an example value for {{1}}",
                    ));
                }
            }
        }
        "IMAGE" | "VIDEO" | "DOCUMENT" => {
            let handle = c
                .pointer("/example/header_handle/0")
                .and_then(Value::as_str);
            if handle.is_none_or(str::is_empty) {
                return Err(bad(
                    at("example.header_handle"),
                    "give an uploaded sample (a resumable-upload handle) for a media header",
                ));
            }
        }
        "LOCATION" => {}
        _ => {
            return Err(bad(
                at("format"),
                "must be TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION",
            ))
        }
    }
    Ok(())
}

fn body(c: &Value, at: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    let text = c["text"].as_str().unwrap_or_default();
    if text.trim().is_empty() || text.chars().count() > 1024 {
        return Err(bad(at("text"), "must be 1-1024 characters"));
    }
    let vars = variables(text).map_err(|e| bad(at("text"), e))?;
    let n = check_sequence(&at("text"), &vars)?;
    if n == 0 {
        return Ok(());
    }
    let examples = c
        .pointer("/example/body_text/0")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad(
                at("example.body_text"),
                format!("give an example value for each of the {n} variables"),
            )
        })?;
    if examples.len() != n {
        return Err(bad(
            at("example.body_text"),
            format!("has {} example values for {n} variables", examples.len()),
        ));
    }
    if let Some(i) = examples
        .iter()
        .position(|e| e.as_str().is_none_or(|s| s.trim().is_empty()))
    {
        return Err(bad(
            format!("{}[0][{i}]", at("example.body_text")),
            "must be a non-empty example value",
        ));
    }
    Ok(())
}

fn buttons(c: &Value, at: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    let list = c["buttons"]
        .as_array()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad(at("buttons"), "must hold at least one button"))?;
    if list.len() > 10 {
        return Err(bad(at("buttons"), "at most 10 buttons"));
    }
    let (mut urls, mut phones, mut quick) = (0, 0, 0);
    for (j, b) in list.iter().enumerate() {
        let bat = |f: &str| format!("{}[{j}].{f}", at("buttons"));
        let text = b["text"].as_str().unwrap_or_default();
        match b["type"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase()
            .as_str()
        {
            "QUICK_REPLY" => {
                quick += 1;
                if text.is_empty() || text.chars().count() > 20 {
                    return Err(bad(bat("text"), "a quick reply must be 1-20 characters"));
                }
            }
            "URL" => {
                urls += 1;
                if text.is_empty() || text.chars().count() > 25 {
                    return Err(bad(bat("text"), "must be 1-25 characters"));
                }
                let url = b["url"].as_str().unwrap_or_default();
                if !is_http_url(url) || url.len() > 2000 {
                    return Err(bad(bat("url"), "must be an http(s) URL"));
                }
            }
            "PHONE_NUMBER" => {
                phones += 1;
                if text.is_empty() || text.chars().count() > 25 {
                    return Err(bad(bat("text"), "must be 1-25 characters"));
                }
                let digits =
                    crate::whatsapp::phone::digits(b["phone_number"].as_str().unwrap_or_default());
                if !(5..=20).contains(&digits.len()) {
                    return Err(bad(bat("phone_number"), "must be a phone number"));
                }
            }
            "COPY_CODE" | "OTP" | "FLOW" | "CATALOG" | "MPM" | "VOICE_CALL" => {}
            _ => {
                return Err(bad(
                    bat("type"),
                    "must be QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP or FLOW",
                ))
            }
        }
    }
    if urls > 1 {
        return Err(bad(at("buttons"), "at most one URL button"));
    }
    if phones > 1 {
        return Err(bad(at("buttons"), "at most one PHONE_NUMBER button"));
    }
    if quick > 3 {
        return Err(bad(at("buttons"), "at most 3 quick replies"));
    }
    Ok(())
}

/// Checks a template message's parameters against the template as Graph
/// stores it (`stored`, with its `components`): the header and body need one
/// parameter per variable, and a media header its media.
pub fn check_template_parameters(stored: &Value, message: &Value) -> Result<(), FieldError> {
    let components = || {
        message
            .pointer("/template/components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    };
    let given = |kind: &str| -> usize {
        components()
            .filter(|c| {
                c["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(kind))
            })
            .map(|c| c["parameters"].as_array().map_or(0, Vec::len))
            .sum()
    };
    let name = stored["name"].as_str().unwrap_or("the template");
    let language = stored["language"].as_str().unwrap_or("");
    for c in stored["components"].as_array().into_iter().flatten() {
        let kind = c["type"].as_str().unwrap_or_default().to_ascii_lowercase();
        if kind == "buttons" {
            // A URL button with a variable needs its suffix as a parameter.
            for (i, b) in c["buttons"].as_array().into_iter().flatten().enumerate() {
                let dynamic = b["type"].as_str() == Some("URL")
                    && b["url"].as_str().is_some_and(|u| u.contains("{{"));
                let supplied = components().any(|m| {
                    m["type"].as_str() == Some("button")
                        && index_of(&m["index"]) == Some(i)
                        && m["parameters"].as_array().is_some_and(|p| !p.is_empty())
                });
                if dynamic && !supplied {
                    return Err(bad(
                        "template.components",
                        format!("{name} ({language}) needs a parameter for URL button {i}"),
                    ));
                }
            }
            continue;
        }
        if kind != "header" && kind != "body" {
            continue;
        }
        let needed = match c["format"].as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("IMAGE" | "VIDEO" | "DOCUMENT" | "LOCATION") => 1,
            _ => {
                let mut vars =
                    variables(c["text"].as_str().unwrap_or_default()).unwrap_or_default();
                vars.sort_unstable();
                vars.dedup();
                vars.len()
            }
        };
        let got = given(&kind);
        if got != needed {
            return Err(bad(
                "template.components",
                format!("{name} ({language}) needs {needed} {kind} parameter(s); got {got}"),
            ));
        }
    }
    Ok(())
}

/// A button component's `index`, given as a number or a string.
fn index_of(v: &Value) -> Option<usize> {
    v.as_u64()
        .map(|i| i as usize)
        .or_else(|| v.as_str()?.parse().ok())
}

/// One template as Graph lists it, reduced to what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRow {
    pub id: String,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub category: Option<String>,
    pub status: String,
    pub rejected_reason: Option<String>,
    pub body: String,
}

/// Reads one page of Graph's `message_templates` answer: the templates and
/// the cursor of the next page (when `paging.next` is present).
pub fn template_page(waba_id: &str, page: &Value) -> (Vec<TemplateRow>, Option<String>) {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let rows = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(TemplateRow {
                id: s(t, "id")?,
                waba_id: waba_id.to_owned(),
                name: s(t, "name")?,
                language: s(t, "language").unwrap_or_default(),
                category: s(t, "category"),
                status: s(t, "status").unwrap_or_else(|| "UNKNOWN".into()),
                rejected_reason: s(t, "rejected_reason").filter(|r| r != "NONE"),
                body: t.to_string(),
            })
        })
        .collect();
    let next = page
        .pointer("/paging/next")
        .and_then(Value::as_str)
        .and_then(|_| page.pointer("/paging/cursors/after"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    (rows, next)
}

/// Most template pages one sync request follows (a Worker on the Free plan
/// makes at most 50 subrequests). A WABA with more answers the cursor to go
/// on from, [`Sync::next`].
pub const MAX_SYNC_PAGES: usize = 40;

/// Longest paging cursor a sync goes on from (Graph's are tens of
/// characters; a longer one from Graph is not offered as `next`).
pub const MAX_CURSOR: usize = 2048;

/// A template sync in progress: the rows of the pages taken so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Sync {
    waba_id: String,
    pages: usize,
    pub rows: Vec<TemplateRow>,
    /// The cursor of the next page, when the sync stopped at
    /// [`MAX_SYNC_PAGES`] with pages left.
    pub next: Option<String>,
}

impl Sync {
    /// A sync of `waba_id`'s templates.
    pub fn new(waba_id: &str) -> Sync {
        Sync {
            waba_id: waba_id.to_owned(),
            pages: 0,
            rows: Vec::new(),
            next: None,
        }
    }

    /// Takes one page of Graph's answer; returns the cursor of the page to
    /// fetch next, or `None` when this request is done: no next page, or
    /// [`MAX_SYNC_PAGES`] taken (then [`Sync::next`] holds the cursor).
    pub fn take(&mut self, page: &Value) -> Option<String> {
        let (rows, next) = template_page(&self.waba_id, page);
        self.rows.extend(rows);
        self.pages += 1;
        if self.pages < MAX_SYNC_PAGES {
            return next;
        }
        self.next = next.filter(|n| valid_cursor(n));
        None
    }
}

/// A paging cursor a caller gives to go on with a sync: 1 to
/// [`MAX_CURSOR`] printable ASCII characters without spaces (it is
/// URL-encoded on the way to Graph).
pub fn valid_cursor(cursor: &str) -> bool {
    !cursor.is_empty() && cursor.len() <= MAX_CURSOR && cursor.bytes().all(|b| b.is_ascii_graphic())
}
