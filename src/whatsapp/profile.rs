//! Business-profile updates in Graph's shape, validated locally so mistakes
//! get a 400 naming the field before Graph sees them. See
//! <https://developers.facebook.com/docs/whatsapp/cloud-api/reference/business-profiles>.

use super::is_http_url;
use serde_json::{Map, Value};

use super::message::invalid as bad;
pub use super::message::Invalid as FieldError;

/// Business verticals Meta accepts.
pub const VERTICALS: [&str; 23] = [
    "UNDEFINED",
    "OTHER",
    "AUTO",
    "BEAUTY",
    "APPAREL",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GROCERY",
    "GOVT",
    "HOTEL",
    "HEALTH",
    "NONPROFIT",
    "PROF_SERVICES",
    "RETAIL",
    "TRAVEL",
    "RESTAURANT",
    "NOT_A_BIZ",
    "ALCOHOL",
    "ONLINE_GAMBLING",
    "PHYSICAL_GAMBLING",
    "OTC_DRUGS",
];

fn text_field<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<&'a str>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => Err(bad(
            key,
            format!("is {} characters; the limit is {max}", s.chars().count()),
        )),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(key, "must be a string")),
    }
}

/// A plausible e-mail address: one `@`, a local part, a dotted domain.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Validates a business-profile PATCH.
pub fn validate_profile(patch: &Value) -> Result<(), FieldError> {
    let obj = patch
        .as_object()
        .ok_or_else(|| bad("", "the profile must be a JSON object"))?;
    if obj.is_empty() {
        return Err(bad("", "give at least one field to change"));
    }
    const KNOWN: [&str; 7] = [
        "about",
        "address",
        "description",
        "email",
        "vertical",
        "websites",
        "profile_picture_handle",
    ];
    if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(bad(
            k.as_str(),
            format!("is not a profile field ({})", KNOWN.join(", ")),
        ));
    }
    if let Some(about) = text_field(obj, "about", 139)? {
        if about.trim().is_empty() {
            return Err(bad("about", "must not be empty"));
        }
    }
    text_field(obj, "address", 256)?;
    text_field(obj, "description", 512)?;
    if let Some(email) = text_field(obj, "email", 128)? {
        if !is_email(email) {
            return Err(bad("email", "is not a valid e-mail address"));
        }
    }
    if let Some(v) = text_field(obj, "vertical", 32)? {
        if !VERTICALS.contains(&v) {
            return Err(bad(
                "vertical",
                format!("must be one of {}", VERTICALS.join(", ")),
            ));
        }
    }
    text_field(obj, "profile_picture_handle", 4096)?;
    if let Some(w) = obj.get("websites") {
        let sites = w
            .as_array()
            .ok_or_else(|| bad("websites", "must be an array of URLs"))?;
        if sites.len() > 2 {
            return Err(bad("websites", "at most 2 websites"));
        }
        for (i, site) in sites.iter().enumerate() {
            let s = site.as_str().unwrap_or_default();
            if !is_http_url(s) || s.len() > 256 {
                return Err(bad(
                    format!("websites[{i}]"),
                    "must be an http(s) URL of at most 256 characters",
                ));
            }
        }
    }
    Ok(())
}
