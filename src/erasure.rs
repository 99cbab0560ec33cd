//! Erasure (GDPR Art. 17): what `DELETE /v1/contacts/{id}` removes, and the
//! tombstone that keeps a redelivered pre-erasure webhook from bringing the
//! person back.
//!
//! The tombstone holds no personal data: an HMAC-SHA256 of the canonical
//! wa_id under a random salt generated once per deployment (kept in the
//! `settings` table), and the erasure time. Items of a later delivery from
//! that wa_id dated at or before the erasure time are dropped; a message
//! the person sends afterwards is stored as from a new contact.

use crate::inbound::ingest::Plan;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::{BTreeSet, HashMap};

/// Name of the salt in the `settings` table.
pub const SALT_SETTING: &str = "erasure_salt";

/// The tombstone key of a canonical wa_id.
pub fn tombstone_key(salt: &str, wa_id: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(salt.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(wa_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The canonical wa_ids a plan names (senders, contacts, opt changes,
/// status recipients, numbers named in events): the ones to look up among
/// the tombstones.
pub fn named(plan: &Plan) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    out.extend(plan.messages.iter().map(|m| m.wa_id.0.clone()));
    out.extend(plan.contacts.iter().map(|c| c.wa_id.0.clone()));
    out.extend(plan.opts.iter().map(|o| o.wa_id.0.clone()));
    out.extend(
        plan.statuses
            .iter()
            .filter_map(|s| s.recipient_id.as_ref())
            .map(|r| crate::whatsapp::phone::canonical_wa_id(r.as_str())),
    );
    out.extend(plan.events.iter().flat_map(|e| e.names.iter().cloned()));
    out
}

/// Drops from `plan` everything about erased contacts dated at or before
/// their erasure. `erased` maps a canonical wa_id to its erasure time (unix s).
pub fn forget(plan: &mut Plan, erased: &HashMap<String, i64>) {
    if erased.is_empty() {
        return;
    }
    let gone = |wa_id: &str, at: i64| erased.get(wa_id).is_some_and(|e| at <= *e);
    plan.messages.retain(|m| !gone(m.wa_id.as_str(), m.at));
    plan.contacts
        .retain(|c| !gone(c.wa_id.as_str(), c.last_seen));
    plan.windows
        .retain(|w| !gone(w.wa_id.as_str(), w.last_inbound_at));
    plan.opts.retain(|o| !gone(o.wa_id.as_str(), o.at));
    plan.statuses.retain(|s| {
        s.recipient_id.as_ref().is_none_or(|r| {
            !gone(
                &crate::whatsapp::phone::canonical_wa_id(r.as_str()),
                s.timestamp,
            )
        })
    });
    plan.events
        .retain(|e| !e.names.iter().any(|n| gone(n, e.at)));
}
