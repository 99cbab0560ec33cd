//! The people one delivery is about, merged across its items.
//!
//! Items name a person by a canonical wa_id, a BSUID, or both. Within a
//! delivery, items that share an identifier are one person, and a person
//! seen with both is linked (the row carries both, so D1 links them too).
//! The rules mirror what D1 does against stored contacts (the contact
//! statements of the db layer):
//! - a BSUID names the person; a wa_id names the person who has it, unless
//!   that person has another BSUID in the same scope (a recycled number is
//!   someone else; another portfolio's BSUID is the same person's);
//! - a number-only person and a BSUID-only person that one item shows to be
//!   one are merged;
//! - an identifier already linked to another person is never moved: the
//!   item is kept with its BSUID's person and the disagreement is reported
//!   as a [`Conflict`], never merged silently.

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
    /// The WABA the BSUID came under.
    pub scope: Option<String>,
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
    /// A person known only by the key's identifiers: no profile, never seen
    /// writing (a send's new recipient, or a new person of a delivery before
    /// what its items say is added).
    pub fn unseen(key: &ContactKey) -> ContactRow {
        ContactRow {
            candidate: key.candidate.clone(),
            wa_id: key.identity.wa_id.clone(),
            user_id: key.identity.user_id.clone(),
            scope: key.scope.clone(),
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
            scope: self.scope.clone(),
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
    /// The row a merged row was merged into (a row is its own otherwise).
    merged_into: Vec<usize>,
    by_wa: BTreeMap<WaId, usize>,
    by_user: BTreeMap<UserId, usize>,
    conflicts: Vec<Conflict>,
}

impl People {
    /// The person `who` names under `scope` (the WABA the item came in;
    /// added, with `seed` minting their candidate id, when new); returns
    /// its index.
    pub fn find_or_add(&mut self, who: &Identity, scope: Option<&str>, seed: &str) -> usize {
        let by_user = who
            .user_id
            .as_ref()
            .and_then(|u| self.by_user.get(u).copied());
        let by_wa = who.wa_id.as_ref().and_then(|w| self.by_wa.get(w).copied());
        let (by_user, by_wa) = (by_user.map(|i| self.root(i)), by_wa.map(|i| self.root(i)));
        match (&who.user_id, &who.wa_id, by_user, by_wa) {
            (Some(_), _, Some(i), None) => {
                if let Some(w) = &who.wa_id {
                    self.link_wa(i, w);
                }
                i
            }
            (Some(_), Some(_), Some(i), Some(j)) if i == j => i,
            (Some(_), None, Some(i), Some(_)) => i,
            (Some(u), Some(w), Some(i), Some(j)) => {
                // Two people of this delivery shown to be one: merge when
                // neither holds the other's kind of identifier.
                let compatible = self.rows.get(i).is_some_and(|r| r.wa_id.is_none())
                    && self.rows.get(j).is_some_and(|r| r.user_id.is_none());
                if compatible {
                    self.merge(i, j);
                    j
                } else {
                    self.conflict(w, u);
                    i
                }
            }
            (Some(u), w, None, Some(j)) => {
                let other = self
                    .rows
                    .get(j)
                    .and_then(|r| r.user_id.clone().zip(Some(r.scope.clone())));
                match other {
                    None => {
                        self.set_user(j, u, scope);
                        j
                    }
                    // The number's person has another BSUID in this scope:
                    // a recycled number, someone else.
                    Some((_, s)) if s.as_deref() == scope => {
                        if let Some(w) = w {
                            self.conflict(w, u);
                        }
                        self.add(None, Some(u.clone()), scope, seed)
                    }
                    // Another portfolio's BSUID of the same person is
                    // linked by D1; here it is a person of its own.
                    Some(_) => self.add(None, Some(u.clone()), scope, seed),
                }
            }
            (Some(u), w, None, None) => self.add(w.clone(), Some(u.clone()), scope, seed),
            (None, _, _, Some(j)) => j,
            (None, w, _, None) => self.add(w.clone(), None, scope, seed),
        }
    }

    fn root(&self, mut i: usize) -> usize {
        while let Some(&next) = self.merged_into.get(i) {
            if next == i {
                break;
            }
            i = next;
        }
        i
    }

    /// Merges row `from` (a BSUID-only person) into row `into` (a
    /// number-only person).
    fn merge(&mut self, from: usize, into: usize) {
        let Some(f) = self.rows.get(from).cloned() else {
            return;
        };
        if let Some(u) = &f.user_id {
            self.set_user(into, u, f.scope.as_deref());
        }
        if let Some(slot) = self.merged_into.get_mut(from) {
            *slot = into;
        }
        if let Some(r) = self.rows.get_mut(into) {
            r.first_seen = match (r.first_seen, f.first_seen) {
                (0, x) | (x, 0) => x,
                (a, b) => a.min(b),
            };
            if f.last_seen > r.last_seen {
                r.last_seen = f.last_seen;
                r.profile_name = f.profile_name.or(r.profile_name.take());
                r.username = f.username.or(r.username.take());
                r.phone_number_id = f.phone_number_id.or(r.phone_number_id.take());
            } else {
                fill(&mut r.profile_name, f.profile_name);
                fill(&mut r.username, f.username);
                fill(&mut r.phone_number_id, f.phone_number_id);
            }
            fill(&mut r.parent_user_id, f.parent_user_id);
        }
    }

    fn set_user(&mut self, i: usize, u: &UserId, scope: Option<&str>) {
        if let Some(r) = self.rows.get_mut(i) {
            r.user_id = Some(u.clone());
            r.scope = scope.map(str::to_owned);
        }
        self.by_user.insert(u.clone(), i);
    }

    /// Gives person `i` the wa_id `w` unless it has another or `w` is
    /// someone else's.
    fn link_wa(&mut self, i: usize, w: &WaId) {
        let owner = self.by_wa.get(w).map(|o| self.root(*o));
        let current = self.rows.get(i).and_then(|r| r.wa_id.clone());
        let user = self.rows.get(i).and_then(|r| r.user_id.clone());
        match (current, owner) {
            (Some(c), _) if &c == w => {}
            (None, None) => {
                if let Some(r) = self.rows.get_mut(i) {
                    r.wa_id = Some(w.clone());
                }
                self.by_wa.insert(w.clone(), i);
            }
            _ => {
                if let Some(u) = user {
                    self.conflict(w, &u);
                }
            }
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

    fn add(
        &mut self,
        wa_id: Option<WaId>,
        user_id: Option<UserId>,
        scope: Option<&str>,
        seed: &str,
    ) -> usize {
        let i = self.rows.len();
        if let Some(w) = &wa_id {
            self.by_wa.insert(w.clone(), i);
        }
        if let Some(u) = &user_id {
            self.by_user.insert(u.clone(), i);
        }
        self.rows.push(ContactRow::unseen(&ContactKey {
            candidate: contact_id(seed),
            identity: Identity { wa_id, user_id },
            scope: scope.map(str::to_owned),
        }));
        self.merged_into.push(i);
        i
    }

    /// The key rows use for person `i`. Call after the delivery's items
    /// are all added: a later item may link another identifier.
    pub fn key(&self, i: usize) -> Option<ContactKey> {
        self.rows.get(self.root(i)).map(ContactRow::key)
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
        let i = self.root(i);
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
        let i = self.root(i);
        if let Some(r) = self.rows.get_mut(i) {
            fill(&mut r.profile_name, profile.name.clone());
            fill(&mut r.username, profile.username.clone());
            fill(&mut r.parent_user_id, profile.parent_user_id.clone());
        }
    }

    /// The contact rows (merged ones left out) and the conflicts found.
    pub fn finish(self) -> (Vec<ContactRow>, Vec<Conflict>) {
        let rows = self
            .rows
            .into_iter()
            .zip(self.merged_into)
            .enumerate()
            .filter(|(i, (_, into))| i == into)
            .map(|(_, (row, _))| row)
            .collect();
        (rows, self.conflicts)
    }
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}
