//! Erasure (GDPR Art. 17): what `DELETE /v1/contacts/{id}` removes, and the
//! tombstone that keeps a redelivered pre-erasure webhook from bringing the
//! person back.
//!
//! The tombstones hold no personal data: an HMAC-SHA256 of each of the
//! contact's identifiers (canonical wa_id, BSUID) under a random salt generated once per deployment (kept in the
//! `settings` table), and the erasure time. Items of a later delivery naming
//! those identifiers dated at or before the erasure time are dropped; a
//! message the person sends afterwards is stored as from a new contact.

use crate::inbound::ingest::Plan;
use crate::whatsapp::identity::{ContactRef, Identity};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::{BTreeSet, HashMap};

/// Name of the salt in the `settings` table.
pub const SALT_SETTING: &str = "erasure_salt";

/// The tombstone key of an identifier (a canonical wa_id or a BSUID; the
/// two never coincide).
pub fn tombstone_key(salt: &str, wa_id: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(salt.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(wa_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Tombstone keys an isolate has seen erased, so the next delivery naming
/// them is cut before its first batch instead of having that batch refused
/// by its guard. Tombstones have no end, so a key stays true; the set is
/// bounded ([`KnownErased::MAX`]) and starts over when full, which costs
/// only that round trip again: what is not remembered, the guard catches.
#[derive(Debug, Default)]
pub struct KnownErased {
    keys: std::collections::HashSet<String>,
}

impl KnownErased {
    /// The most keys kept (~100 KB).
    pub const MAX: usize = 1024;

    /// Remembers `keys` as erased.
    pub fn remember(&mut self, keys: impl IntoIterator<Item = String>) {
        for key in keys {
            if self.keys.len() >= Self::MAX {
                self.keys.clear();
            }
            self.keys.insert(key);
        }
    }

    /// Whether one of `keys` is known erased.
    pub fn names_any(&self, keys: &[String]) -> bool {
        keys.iter().any(|k| self.keys.contains(k))
    }
}

/// The identifiers a plan names (canonical wa_ids and BSUIDs of senders,
/// contacts, opt changes, status recipients, and those named in events):
/// the ones to look up among the tombstones.
pub fn named(plan: &Plan) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |id: &Identity| out.extend(id.identifiers().map(str::to_owned));
    plan.messages.iter().for_each(|m| add(&m.contact.identity));
    plan.contacts.iter().for_each(|c| add(&c.key().identity));
    plan.opts.iter().for_each(|o| add(&o.contact.identity));
    plan.saved_names
        .iter()
        .for_each(|n| add(&n.contact.identity));
    plan.identity_changes.iter().for_each(|c| add(&c.old));
    plan.statuses.iter().for_each(|s| {
        if let Some(id) = status_identity(s) {
            add(&id);
        }
    });
    out.extend(plan.events.iter().flat_map(|e| e.names.iter().cloned()));
    out
}

fn status_identity(s: &crate::inbound::ingest::StatusRow) -> Option<Identity> {
    Identity::new(
        s.recipient_id.as_ref().map(|r| r.as_str()),
        s.recipient_user_id.as_ref().map(|u| u.as_str()),
        crate::inbound::ingest::MAX_NUMBER,
    )
}

/// Drops from `plan` everything about erased contacts dated at or before
/// their erasure. `erased` maps an identifier (canonical wa_id or BSUID) to
/// its erasure time (unix s). Returns whether a row of their data was
/// dropped (a message, status, window, opt change, saved name, event or
/// contact; not an identity check, which carries none): then the
/// delivery's body still carries it, and is neither kept nor forwarded as
/// it arrived.
pub fn forget(plan: &mut Plan, erased: &HashMap<String, i64>) -> bool {
    if erased.is_empty() {
        return false;
    }
    let before = rows(plan);
    let gone = |id: &Identity, at: i64| {
        id.identifiers()
            .any(|i| erased.get(i).is_some_and(|e| at <= *e))
    };
    plan.messages.retain(|m| !gone(&m.contact.identity, m.at));
    plan.conflict_checks
        .retain(|e| !e.names.iter().any(|n| erased.contains_key(n)));
    plan.windows
        .retain(|w| !gone(&w.contact.identity, w.last_inbound_at));
    plan.opts.retain(|o| !gone(&o.contact.identity, o.at));
    plan.saved_names
        .retain(|n| !gone(&n.contact.identity, n.at));
    plan.identity_changes
        .retain(|c| !c.old.identifiers().any(|i| erased.contains_key(i)));
    plan.statuses
        .retain(|s| status_identity(s).is_none_or(|id| !gone(&id, s.at)));
    plan.events.retain(|e| {
        !e.names
            .iter()
            .any(|n| erased.get(n).is_some_and(|t| e.at <= *t))
    });
    // A contact stays when a surviving row names it or it wrote after
    // its erasure.
    let named: BTreeSet<&crate::ids::ContactId> = plan
        .messages
        .iter()
        .map(|m| &m.contact.candidate)
        .chain(plan.opts.iter().map(|o| &o.contact.candidate))
        .chain(plan.saved_names.iter().map(|n| &n.contact.candidate))
        .collect();
    let keep: Vec<bool> = plan
        .contacts
        .iter()
        .map(|c| named.contains(&c.candidate) || !gone(&c.key().identity, c.last_seen))
        .collect();
    let mut keep = keep.into_iter();
    plan.contacts.retain(|_| keep.next().unwrap_or(false));
    rows(plan) != before
}

/// Drops from `plan` the events erased before (by content hash, as
/// erasure recorded them: an event dated by its receipt, such as a
/// malformed message, is not caught by [`forget`]'s dates). Returns
/// whether any was dropped.
pub fn forget_events(plan: &mut Plan, erased_ids: &BTreeSet<String>) -> bool {
    let before = plan.events.len();
    plan.events.retain(|e| !erased_ids.contains(&e.id));
    plan.events.len() != before
}

/// Drops from `plan` the statuses about erased contacts of messages not in
/// `known` (the wamids wa-edge still holds, from
/// `db::erasure::known_messages`) nor in the plan: a message sent
/// before the erasure went with it, so its later `delivered` or `read`,
/// dated after the erasure, still names the person and reports on nothing
/// they came back for. A status of a message sent to them after they came
/// back is kept. Returns whether any was dropped.
pub fn forget_statuses(
    plan: &mut Plan,
    erased: &HashMap<String, i64>,
    known: &BTreeSet<String>,
) -> bool {
    if erased.is_empty() {
        return false;
    }
    let in_plan: BTreeSet<String> = plan.messages.iter().map(|m| m.id.0.clone()).collect();
    let before = plan.statuses.len();
    plan.statuses.retain(|s| {
        let names_erased =
            status_identity(s).is_some_and(|id| id.identifiers().any(|i| erased.contains_key(i)));
        !names_erased || known.contains(s.wamid.as_str()) || in_plan.contains(s.wamid.as_str())
    });
    plan.statuses.len() != before
}

/// The wamids `plan`'s statuses report on, for [`forget_statuses`]'s lookup.
pub fn status_wamids(plan: &Plan) -> Vec<String> {
    let wamids: BTreeSet<&str> = plan.statuses.iter().map(|s| s.wamid.as_str()).collect();
    wamids.into_iter().map(str::to_owned).collect()
}

/// The ids of `plan`'s events that name someone: the ones erasure may have
/// recorded.
pub fn naming_events(plan: &Plan) -> Vec<String> {
    plan.events
        .iter()
        .filter(|e| !e.names.is_empty())
        .map(|e| e.id.clone())
        .collect()
}

/// How many rows of personal data of each kind `plan` holds that
/// [`forget`] may drop.
fn rows(plan: &Plan) -> [usize; 7] {
    [
        plan.messages.len(),
        plan.windows.len(),
        plan.opts.len(),
        plan.saved_names.len(),
        plan.statuses.len(),
        plan.events.len(),
        plan.contacts.len(),
    ]
}

/// Who an erasure is about, from the rows of the db layer's contact lookup
/// (`k` = `id`, `wa` or `user`, `v` the value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    /// The contact's id, empty when none is stored.
    pub contact_id: String,
    /// Canonical wa_ids to tombstone.
    pub numbers: Vec<String>,
    /// BSUIDs to tombstone.
    pub users: Vec<String>,
    /// Every spelling to search for: each number's forms, the forms seen,
    /// the BSUIDs.
    pub names: Vec<String>,
}

/// Everything a contact was ever known by, and the identifier the request
/// named (`given`, as typed), so both are erased and tombstoned.
pub fn identifiers(rows: &[serde_json::Value], who: &ContactRef, given: &str) -> Identifiers {
    let of = |kind: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.get("k").and_then(|k| k.as_str()) == Some(kind))
            .filter_map(|r| r.get("v")?.as_str().map(str::to_owned))
            .collect()
    };
    let seen = of("wa");
    let mut numbers: Vec<String> = seen
        .iter()
        .map(|w| crate::whatsapp::phone::canonical_wa_id(w))
        .collect();
    let mut users = of("user");
    match who {
        ContactRef::Phone(w) => numbers.push(w.0.clone()),
        ContactRef::User(u) => users.push(u.0.clone()),
        ContactRef::Id(_) => {}
    }
    numbers.sort();
    numbers.dedup();
    users.sort();
    users.dedup();
    let mut names: Vec<String> = numbers
        .iter()
        .flat_map(|w| crate::whatsapp::phone::forms(w))
        .chain(seen)
        .chain(users.iter().cloned())
        .collect();
    if let ContactRef::Phone(_) = who {
        names.push(crate::whatsapp::phone::digits(given));
    }
    names.sort();
    names.dedup();
    names.retain(|f| !f.is_empty());
    Identifiers {
        contact_id: of("id").into_iter().next().unwrap_or_default(),
        numbers,
        users,
        names,
    }
}
