//! The people one delivery is about, merged across its items.
//!
//! Items name a person by a canonical wa_id, a BSUID, or both. Within a
//! delivery, items that share an identifier are one person, and a person
//! seen with both is linked (the row carries both, so D1 links them too).
//! The rules mirror what D1 does against stored contacts (the contact
//! statements of the db layer):
//! - a BSUID names the person; a wa_id names the person who has it, unless
//!   that person has another BSUID (a recycled number is someone else);
//! - an identifier already linked to another person is never moved: the
//!   item is kept with its BSUID's person and the disagreement is reported
//!   as an [`Conflict`], never merged silently.

use crate::ids::{ContactId, PhoneNumberId, UserId, WaId};
use crate::whatsapp::identity::{contact_id, ContactKey, Identity};
use std::collections::BTreeMap;

/// A person as one delivery saw them: the row D1 merges into `contacts`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRow {
    /// The id to mint when D1 knows none of the identifiers.
    pub candidate: ContactId,
    pub wa_id: Option<WaId>,
    pub user_id: Option<UserId>,
    pub parent_user_id: Option<String>,
    pub username: Option<String>,
    pub profile_name: Option<String>,
    /// The channel of the newest message.
    pub phone_number_id: Option<PhoneNumberId>,
    /// The wa_id form WhatsApp used in the newest message (replies go to it).
    pub last_wa_id: Option<WaId>,
    /// Earliest and latest inbound message time (unix s); 0 when the
    /// delivery has no message from them (an echo, an opt-out, a name).
    pub first_seen: i64,
    pub last_seen: i64,
}

impl ContactRow {
    /// The row of a person a send names who was never seen: created with
    /// the key's identifiers, no profile, never seen writing.
    pub fn unseen(key: &ContactKey) -> ContactRow {
        ContactRow {
            candidate: key.candidate.clone(),
            wa_id: key.identity.wa_id.clone(),
            user_id: key.identity.user_id.clone(),
            parent_user_id: None,
            username: None,
            profile_name: None,
            phone_number_id: None,
            last_wa_id: None,
            first_seen: 0,
            last_seen: 0,
        }
    }

    /// How rows of the same delivery name this person.
    pub fn key(&self) -> ContactKey {
        ContactKey {
            candidate: self.candidate.clone(),
            identity: Identity {
                wa_id: self.wa_id.clone(),
                user_id: self.user_id.clone(),
            },
        }
    }
}

/// A wa_id and a BSUID that one item gives for one person but that belong
/// to two people (or to a person with another identifier).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    pub wa_id: WaId,
    pub user_id: UserId,
}

/// What an item says about the person beyond their identifiers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub name: Option<String>,
    pub username: Option<String>,
    pub parent_user_id: Option<String>,
}

/// The people of a delivery.
#[derive(Debug, Default)]
pub struct People {
    rows: Vec<ContactRow>,
    by_wa: BTreeMap<WaId, usize>,
    by_user: BTreeMap<UserId, usize>,
    conflicts: Vec<Conflict>,
}

impl People {
    /// The person `who` names (added, with `seed` minting their candidate
    /// id, when new); returns its index.
    pub fn find_or_add(&mut self, who: &Identity, seed: &str) -> usize {
        if let Some(u) = &who.user_id {
            if let Some(&i) = self.by_user.get(u) {
                if let Some(w) = &who.wa_id {
                    self.link_wa(i, w, u);
                }
                return i;
            }
            if let Some(w) = &who.wa_id {
                if let Some(&i) = self.by_wa.get(w) {
                    let has_user = self.rows.get(i).is_some_and(|r| r.user_id.is_some());
                    if !has_user {
                        if let Some(r) = self.rows.get_mut(i) {
                            r.user_id = Some(u.clone());
                        }
                        self.by_user.insert(u.clone(), i);
                        return i;
                    }
                    self.conflict(w, u);
                    return self.add(None, Some(u.clone()), seed);
                }
            }
            return self.add(who.wa_id.clone(), Some(u.clone()), seed);
        }
        match &who.wa_id {
            Some(w) => match self.by_wa.get(w) {
                Some(&i) => i,
                None => self.add(Some(w.clone()), None, seed),
            },
            None => self.add(None, None, seed),
        }
    }

    /// Gives person `i` (who has BSUID `u`) the wa_id `w` unless it has
    /// another or `w` is someone else's.
    fn link_wa(&mut self, i: usize, w: &WaId, u: &UserId) {
        let owner = self.by_wa.get(w).copied();
        let current = self.rows.get(i).and_then(|r| r.wa_id.clone());
        match (current, owner) {
            (Some(c), _) if &c == w => {}
            (None, None) => {
                if let Some(r) = self.rows.get_mut(i) {
                    r.wa_id = Some(w.clone());
                }
                self.by_wa.insert(w.clone(), i);
            }
            _ => self.conflict(w, u),
        }
    }

    fn conflict(&mut self, w: &WaId, u: &UserId) {
        let c = Conflict {
            wa_id: w.clone(),
            user_id: u.clone(),
        };
        if !self.conflicts.contains(&c) {
            self.conflicts.push(c);
        }
    }

    fn add(&mut self, wa_id: Option<WaId>, user_id: Option<UserId>, seed: &str) -> usize {
        let i = self.rows.len();
        if let Some(w) = &wa_id {
            self.by_wa.insert(w.clone(), i);
        }
        if let Some(u) = &user_id {
            self.by_user.insert(u.clone(), i);
        }
        self.rows.push(ContactRow {
            candidate: contact_id(seed),
            wa_id,
            user_id,
            parent_user_id: None,
            username: None,
            profile_name: None,
            phone_number_id: None,
            last_wa_id: None,
            first_seen: 0,
            last_seen: 0,
        });
        i
    }

    /// The key rows use for person `i`. Call after the delivery's items
    /// are all added: a later item may link another identifier.
    pub fn key(&self, i: usize) -> Option<ContactKey> {
        self.rows.get(i).map(ContactRow::key)
    }

    /// Records a message from person `i` at `at` (clamped): the profile
    /// and channel follow the newest message.
    pub fn saw(
        &mut self,
        i: usize,
        at: i64,
        form: Option<&WaId>,
        profile: &Profile,
        pnid: Option<&PhoneNumberId>,
    ) {
        let Some(r) = self.rows.get_mut(i) else {
            return;
        };
        let newest = r.last_seen == 0 || at >= r.last_seen;
        r.first_seen = if r.first_seen == 0 {
            at
        } else {
            r.first_seen.min(at)
        };
        r.last_seen = r.last_seen.max(at);
        if newest {
            r.last_wa_id = form.cloned().or(r.last_wa_id.take());
            r.phone_number_id = pnid.cloned().or(r.phone_number_id.take());
            r.profile_name = profile.name.clone().or(r.profile_name.take());
            r.username = profile.username.clone().or(r.username.take());
            r.parent_user_id = profile.parent_user_id.clone().or(r.parent_user_id.take());
        } else {
            fill(&mut r.last_wa_id, form.cloned());
            fill(&mut r.phone_number_id, pnid.cloned());
            fill(&mut r.profile_name, profile.name.clone());
            fill(&mut r.username, profile.username.clone());
            fill(&mut r.parent_user_id, profile.parent_user_id.clone());
        }
    }

    /// Fills what person `i` lacks from an item that is not their message
    /// (an echo, a status's contact, a name sync).
    pub fn know(&mut self, i: usize, profile: &Profile) {
        if let Some(r) = self.rows.get_mut(i) {
            fill(&mut r.profile_name, profile.name.clone());
            fill(&mut r.username, profile.username.clone());
            fill(&mut r.parent_user_id, profile.parent_user_id.clone());
        }
    }

    /// The contact rows and the conflicts found.
    pub fn finish(self) -> (Vec<ContactRow>, Vec<Conflict>) {
        (self.rows, self.conflicts)
    }
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}
