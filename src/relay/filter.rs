//! What of a delivery a destination takes: the Meta body cut to its
//! filter (the exact bytes when nothing was cut), and whether an event is
//! its.

use super::destination::Filter;
use serde_json::Value;
use std::borrow::Cow;

/// The body a `meta` destination gets: `None` when nothing in it matches,
/// the exact bytes when everything does, else the notification
/// re-serialised without the entries, changes and items the filter leaves
/// out. A body that is not a WhatsApp notification goes only to an
/// unrestricted destination.
pub fn meta_body<'a>(body: &'a [u8], filter: &Filter) -> Option<Cow<'a, [u8]>> {
    if filter.is_all() {
        return Some(Cow::Borrowed(body));
    }
    let Ok(mut root) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let entries = root.get_mut("entry")?.as_array_mut()?;
    let mut cut = false;
    entries.retain_mut(|entry| {
        let Some(changes) = entry.get_mut("changes").and_then(Value::as_array_mut) else {
            cut = true;
            return false;
        };
        changes.retain_mut(|change| {
            let keep = keep_change(change, filter);
            cut |= keep != Keep::Whole;
            keep != Keep::Nothing
        });
        !changes.is_empty()
    });
    if entries.is_empty() {
        return None;
    }
    if !cut {
        return Some(Cow::Borrowed(body));
    }
    serde_json::to_vec(&root).ok().map(Cow::Owned)
}

#[derive(Debug, PartialEq, Eq)]
enum Keep {
    Whole,
    Part,
    Nothing,
}

/// Whether `change` is kept, cutting the items the filter leaves out.
fn keep_change(change: &mut Value, filter: &Filter) -> Keep {
    let field = change.get("field").and_then(Value::as_str).unwrap_or("");
    let pnid = change
        .pointer("/value/metadata/phone_number_id")
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| Some(v.to_string()))
        });
    if !filter.takes_field(field) || !filter.takes_channel(pnid.as_deref()) {
        return Keep::Nothing;
    }
    if field != "messages" || filter.takes_items(false) && filter.takes_items(true) {
        return Keep::Whole;
    }
    let Some(value) = change.get_mut("value").and_then(Value::as_object_mut) else {
        return Keep::Nothing;
    };
    let drop = if filter.takes_items(true) {
        "messages"
    } else {
        "statuses"
    };
    let had = value
        .remove(drop)
        .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    let kept = if drop == "messages" {
        "statuses"
    } else {
        "messages"
    };
    let left = value
        .get(kept)
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    match (left, had) {
        (false, _) => Keep::Nothing,
        (true, false) => Keep::Whole,
        (true, true) => Keep::Part,
    }
}

/// Whether an event of webhook `field` on channel `pnid` is for `filter`;
/// `statuses` says the event is a status (else a message or other item).
pub fn takes_event(
    filter: &Filter,
    field: &str,
    pnid: Option<&str>,
    statuses: Option<bool>,
) -> bool {
    filter.takes_field(field)
        && filter.takes_channel(pnid)
        && statuses.is_none_or(|s| filter.takes_items(s))
}
