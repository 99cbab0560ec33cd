//! Who a customer is: a canonical wa_id (their phone number, when WhatsApp
//! shares it), a business-scoped user id (BSUID), or both.
//!
//! Since 2026 a customer who adopts a WhatsApp username may reach a business
//! with no phone number at all, known only by a BSUID such as
//! `US.13491208655302741918` (and a parent BSUID, `US.ENT.…`, shared by the
//! businesses of one portfolio). A BSUID is kept exactly as Meta sends it:
//! never normalised as a phone number.
//!
//! wa-edge gives every contact its own id ([`ContactId`]); rows name a
//! contact through a [`ContactKey`], which SQL resolves to the contact's id
//! by BSUID first, then by wa_id (in the db layer's contact statements).

use crate::ids::{ContactId, UserId, WaId};
use sha2::{Digest, Sha256};

/// Longest BSUID (or parent BSUID) kept; a longer one is not an identifier.
pub const MAX_USER_ID: usize = 160;
/// Longest username kept.
pub const MAX_USERNAME: usize = 256;

/// True when `s` has a BSUID's shape: two uppercase letters (the country),
/// a dot, then letters, digits and dots (`US.1349…`, `US.ENT.1234…`).
pub fn is_user_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 4
        && b.len() <= MAX_USER_ID
        && b.first().is_some_and(u8::is_ascii_uppercase)
        && b.get(1).is_some_and(u8::is_ascii_uppercase)
        && b.get(2) == Some(&b'.')
        && b.iter()
            .skip(3)
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.')
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// True when `s` is a contact id wa-edge minted: `ct_` and 24 lowercase
/// hex digits.
pub fn is_contact_id(s: &str) -> bool {
    s.strip_prefix("ct_").is_some_and(|h| {
        h.len() == 24
            && h.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

/// The contact id minted for a person first seen in the item `seed` (a
/// wamid, an outbox id, an event id): the same seed always gives the same
/// id, so a redelivered first message never makes a second contact.
pub fn contact_id(seed: &str) -> ContactId {
    let digest = Sha256::digest([b"contact\0".as_slice(), seed.as_bytes()].concat());
    let hex = hex::encode(digest);
    ContactId(format!("ct_{}", hex.get(..24).unwrap_or_default()))
}

/// The identifiers one item carries for one person. At least one is set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity {
    /// Canonical wa_id (see [`crate::whatsapp::phone::canonical_wa_id`]).
    pub wa_id: Option<WaId>,
    pub user_id: Option<UserId>,
}

impl Identity {
    /// The identity of a phone number `wa_id` (any form) and a BSUID, each
    /// optional; `None` when neither is usable. A phone number longer than
    /// `max_number` or without digits, and a BSUID of the wrong shape, are
    /// left out.
    pub fn new(wa_id: Option<&str>, user_id: Option<&str>, max_number: usize) -> Option<Identity> {
        let wa_id = wa_id
            .filter(|w| w.len() <= max_number)
            .map(crate::whatsapp::phone::canonical_wa_id)
            .filter(|w| !w.is_empty())
            .map(WaId);
        let user_id = user_id.filter(|u| is_user_id(u)).map(UserId::from);
        (wa_id.is_some() || user_id.is_some()).then_some(Identity { wa_id, user_id })
    }

    /// The identifiers as strings (canonical wa_id, BSUID), for erasure's
    /// tombstones and the `event_contacts` index.
    pub fn identifiers(&self) -> impl Iterator<Item = &str> {
        self.wa_id
            .as_ref()
            .map(WaId::as_str)
            .into_iter()
            .chain(self.user_id.as_ref().map(UserId::as_str))
    }
}

/// How a row names its contact: the person's identifiers, and the id to
/// mint if the person is new. SQL resolves it to an existing contact by
/// BSUID, else by wa_id (unless the key has a BSUID and that contact has
/// another one in the same scope), else to `candidate`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContactKey {
    pub candidate: ContactId,
    pub identity: Identity,
    /// The WhatsApp Business Account the BSUID was seen under. A BSUID is
    /// unique per business portfolio: one person has one per portfolio, and
    /// a number with a different BSUID in the same scope is someone else.
    pub scope: Option<String>,
}

impl ContactKey {
    /// The first identifier: the BSUID, else the wa_id, else the candidate.
    pub fn primary(&self) -> &str {
        self.identity
            .user_id
            .as_ref()
            .map(UserId::as_str)
            .or(self.identity.wa_id.as_ref().map(WaId::as_str))
            .unwrap_or(self.candidate.as_str())
    }

    /// As a JSON triple `[candidate, wa_id, user_id]`, the shape the
    /// resolving SQL reads (rows carry [`ContactKey::scope`] last).
    pub fn json(&self) -> [serde_json::Value; 3] {
        use serde_json::json;
        [
            json!(self.candidate),
            json!(self.identity.wa_id),
            json!(self.identity.user_id),
        ]
    }
}

/// What a caller may name a contact by in the API: wa-edge's id, a BSUID,
/// or a phone number in any form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    Id(ContactId),
    User(UserId),
    Phone(WaId),
}

impl ContactRef {
    /// Reads `s`; `None` when it is none of the three.
    pub fn parse(s: &str) -> Option<ContactRef> {
        if is_contact_id(s) {
            return Some(ContactRef::Id(ContactId::from(s)));
        }
        if is_user_id(s) {
            return Some(ContactRef::User(UserId::from(s)));
        }
        let phone_like = !s.is_empty()
            && s.len() <= 32
            && s.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
        let wa_id = crate::whatsapp::phone::canonical_wa_id(s);
        (phone_like && (5..=15).contains(&wa_id.len())).then_some(ContactRef::Phone(WaId(wa_id)))
    }

    /// As `(contact id, wa_id, user_id)`, one set, for the lookup SQL.
    pub fn parts(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match self {
            ContactRef::Id(id) => (Some(id.as_str()), None, None),
            ContactRef::Phone(w) => (None, Some(w.as_str()), None),
            ContactRef::User(u) => (None, None, Some(u.as_str())),
        }
    }
}
