//! Contacts as people: how a row's [`ContactKey`] becomes a contact id in
//! SQL, and the statements that create, link and rename contacts.
//!
//! The rules match [`crate::inbound::people`]: a BSUID names its contact
//! (a contact may have several, one per business portfolio, kept in
//! `contact_user_ids` with the WABA they came under); a wa_id names the
//! contact that has it unless the key carries a BSUID and that contact has
//! another in the same scope (a recycled number). A number-only and a
//! BSUID-only contact that one message shows to be one person are merged
//! (the `contact_merges` trigger moves every row); an identifier is never
//! moved from one contact to another otherwise (that is an
//! `identity_conflict` event), except by Meta's own notice of a changed
//! number or BSUID.
//!
//! [`ContactKey`]: crate::whatsapp::identity::ContactKey

use super::{bulk, Stmt};
use crate::cols;
use crate::inbound::ingest::{ContactRow, EventRow, IdentityChange, SavedName};
use serde_json::json;

/// The SQL expression of the contact id a key resolves to, from the SQL
/// expressions of its candidate id, wa_id, BSUID and scope: the contact
/// with the BSUID; else the one with the wa_id, unless the key has a BSUID
/// and that contact has another one in the same scope (a recycled number);
/// else the candidate. Every statement that names a contact uses it.
#[macro_export]
macro_rules! contact_of {
    ($cand:expr, $wa:expr, $user:expr, $scope:expr) => {
        concat!(
            "coalesce((SELECT k.contact_id FROM contact_user_ids k WHERE k.user_id = ",
            $user,
            "), ",
            "(SELECT k.id FROM contacts k WHERE k.wa_id = ",
            $wa,
            " AND (",
            $user,
            " IS NULL OR NOT EXISTS (SELECT 1 FROM contact_user_ids b WHERE b.contact_id = k.id ",
            "AND b.scope IS ",
            $scope,
            "))), ",
            $cand,
            ")"
        )
    };
}

/// The SQL expression of the id of the stored contact a [`ContactRef`]
/// names, from the placeholders of its id, wa_id and BSUID (one set).
///
/// [`ContactRef`]: crate::whatsapp::identity::ContactRef
#[macro_export]
macro_rules! named_contact {
    ($id:literal, $wa:literal, $user:literal) => {
        concat!(
            "(SELECT k.id FROM contacts k WHERE k.id = ",
            $id,
            " OR k.wa_id = ",
            $wa,
            " OR k.id = (SELECT b.contact_id FROM contact_user_ids b WHERE b.user_id = ",
            $user,
            ") LIMIT 1)"
        )
    };
}

/// [`contact_of!`] over the JSON row `value` whose columns `$c`, `$w`, `$u`,
/// `$s` (string literals such as `"0"`) hold the key and its scope.
#[macro_export]
macro_rules! contact_at {
    ($c:literal, $w:literal, $u:literal, $s:literal) => {
        $crate::contact_of!(
            concat!("json_extract(value, '$[", $c, "]')"),
            concat!("json_extract(value, '$[", $w, "]')"),
            concat!("json_extract(value, '$[", $u, "]')"),
            concat!("json_extract(value, '$[", $s, "]')")
        )
    };
}

// Row: candidate, wa_id, user_id, parent, username, name, channel,
// first_seen, last_seen, last_wa_id, scope. A contact is created when the
// key resolves to no one; it takes the wa_id only when no one has it.
const CREATE: &str = concat!(
    "INSERT INTO contacts (id, wa_id, user_id, parent_user_id, username, profile_name, ",
    "phone_number_id, first_seen, last_seen, last_wa_id, updated_at) SELECT ",
    cols!(0),
    ", CASE WHEN NOT EXISTS (SELECT 1 FROM contacts c WHERE c.wa_id = json_extract(value, '$[1]')) ",
    "THEN json_extract(value, '$[1]') END, ",
    cols!(2, 3, 4, 5, 6, 7, 8, 9),
    ", ?2 FROM json_each(?1) WHERE ",
    contact_at!("0", "1", "2", "10"),
    " = json_extract(value, '$[0]') ON CONFLICT DO NOTHING"
);

// The key's BSUID joins the contact it resolves to (created above, or the
// number's contact), under its scope.
const LINK_USER_IDS: &str = concat!(
    "INSERT INTO contact_user_ids (user_id, contact_id, scope, added_at) SELECT ",
    cols!(2),
    ", ",
    contact_at!("0", "1", "2", "10"),
    ", ",
    cols!(10),
    ", ?2 FROM json_each(?1) WHERE json_extract(value, '$[2]') IS NOT NULL ",
    "AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = ",
    contact_at!("0", "1", "2", "10"),
    ") ON CONFLICT DO NOTHING"
);

// Takes the number a contact lacks (never one someone else has) and merges
// what the row saw: profile fields, the BSUID shown and the channel follow
// the newest inbound message, seen times widen (0 is "never").
const MERGE: &str = concat!(
    "UPDATE OR IGNORE contacts SET ",
    "user_id = CASE WHEN r.u IS NOT NULL AND (contacts.user_id IS NULL OR ",
    "(r.last > 0 AND r.last >= contacts.last_seen)) THEN r.u ELSE contacts.user_id END, ",
    "wa_id = CASE WHEN contacts.wa_id IS NULL AND r.w IS NOT NULL AND NOT EXISTS ",
    "(SELECT 1 FROM contacts c WHERE c.wa_id = r.w) THEN r.w ELSE contacts.wa_id END, ",
    "parent_user_id = CASE WHEN r.last > 0 AND r.last >= contacts.last_seen ",
    "THEN coalesce(r.parent, contacts.parent_user_id) ELSE coalesce(contacts.parent_user_id, r.parent) END, ",
    "username = CASE WHEN r.last > 0 AND r.last >= contacts.last_seen ",
    "THEN coalesce(r.username, contacts.username) ELSE coalesce(contacts.username, r.username) END, ",
    "profile_name = CASE WHEN r.last > 0 AND r.last >= contacts.last_seen ",
    "THEN coalesce(r.name, contacts.profile_name) ELSE coalesce(contacts.profile_name, r.name) END, ",
    "phone_number_id = CASE WHEN r.last > 0 AND r.last >= contacts.last_seen ",
    "THEN coalesce(r.pnid, contacts.phone_number_id) ELSE coalesce(contacts.phone_number_id, r.pnid) END, ",
    "last_wa_id = CASE WHEN r.last > 0 AND r.last >= contacts.last_seen ",
    "THEN coalesce(r.last_wa, contacts.last_wa_id) ELSE coalesce(contacts.last_wa_id, r.last_wa) END, ",
    "first_seen = CASE WHEN contacts.first_seen = 0 THEN r.first WHEN r.first = 0 ",
    "THEN contacts.first_seen ELSE min(contacts.first_seen, r.first) END, ",
    "last_seen = max(contacts.last_seen, r.last), updated_at = ?2 ",
    "FROM (SELECT json_extract(value, '$[0]') AS cand, json_extract(value, '$[1]') AS w, ",
    "json_extract(value, '$[2]') AS u, json_extract(value, '$[3]') AS parent, ",
    "json_extract(value, '$[4]') AS username, json_extract(value, '$[5]') AS name, ",
    "json_extract(value, '$[6]') AS pnid, json_extract(value, '$[7]') AS first, ",
    "json_extract(value, '$[8]') AS last, json_extract(value, '$[9]') AS last_wa, ",
    "json_extract(value, '$[10]') AS scope FROM json_each(?1)) AS r WHERE contacts.id = ",
    contact_of!("r.cand", "r.w", "r.u", "r.scope")
);

// Row: event id, raw, wa_id, user_id, scope. Stored when D1 links the wa_id
// to someone with another BSUID in the scope, or the BSUID to someone with
// another wa_id. The summary names the contacts involved.
const CONFLICTS: &str = concat!(
    "INSERT INTO events (id, kind, waba_id, phone_number_id, reference, summary, raw, ",
    "raw_encoding, received_at) SELECT json_extract(value, '$[0]'), 'identity_conflict', ",
    "json_extract(value, '$[4]'), NULL, NULL, json_object('wa_id_contact', (SELECT c.id ",
    "FROM contacts c WHERE c.wa_id = json_extract(value, '$[2]')), 'user_id_contact', ",
    "(SELECT b.contact_id FROM contact_user_ids b WHERE b.user_id = json_extract(value, '$[3]'))), ",
    "json_extract(value, '$[1]'), 'json', ?2 FROM json_each(?1) WHERE (EXISTS (SELECT 1 ",
    "FROM contacts c JOIN contact_user_ids b ON b.contact_id = c.id WHERE c.wa_id = ",
    "json_extract(value, '$[2]') AND b.scope IS json_extract(value, '$[4]') ",
    "AND b.user_id IS NOT json_extract(value, '$[3]')) OR EXISTS (SELECT 1 FROM contacts c ",
    "JOIN contact_user_ids b ON b.contact_id = c.id WHERE b.user_id = json_extract(value, '$[3]') ",
    "AND c.wa_id IS NOT NULL AND c.wa_id IS NOT json_extract(value, '$[2]'))) ",
    "AND NOT EXISTS (SELECT 1 FROM erased_events x WHERE x.id = json_extract(value, '$[0]')) ",
    "ON CONFLICT (id) DO NOTHING"
);

const CONFLICT_NAMES: &str = concat!(
    "INSERT INTO event_contacts (identifier, event_id) SELECT ",
    cols!(1, 0),
    " FROM json_each(?1) WHERE ?2 IS NOT NULL AND EXISTS (SELECT 1 FROM events e ",
    "WHERE e.id = json_extract(value, '$[0]')) ON CONFLICT DO NOTHING"
);

// Row: wa_id, user_id, scope. A number-only contact and a BSUID-only
// contact that one message shows to be one person: the trigger on
// contact_merges moves the BSUID's contact into the number's.
const MERGE_PEOPLE: &str = concat!(
    "INSERT INTO contact_merges (id, kept, merged, merged_at) SELECT 'merge_' || y.id, x.id, y.id, ?2 ",
    "FROM json_each(?1) JOIN contacts x ON x.wa_id = json_extract(value, '$[0]') ",
    "JOIN contact_user_ids b ON b.user_id = json_extract(value, '$[1]') ",
    "JOIN contacts y ON y.id = b.contact_id WHERE x.id != y.id AND y.wa_id IS NULL ",
    "AND NOT EXISTS (SELECT 1 FROM contact_user_ids o WHERE o.contact_id = x.id ",
    "AND o.scope IS json_extract(value, '$[2]')) ON CONFLICT DO NOTHING"
);

// Row: old wa_id, old BSUID, new wa_id, new BSUID, channel, scope. The
// contact known by the old identifiers (on a 360dialog path, only one whose
// newest message came to that channel) takes the new BSUID, and the new
// number if it still has the old one and no one else has the new.
const CHANGED_USER_ID: &str = concat!(
    "INSERT INTO contact_user_ids (user_id, contact_id, scope, added_at) SELECT ",
    cols!(3),
    ", c.id, ",
    cols!(5),
    ", ?2 FROM json_each(?1) JOIN contacts c ON c.id = coalesce((SELECT b.contact_id ",
    "FROM contact_user_ids b WHERE b.user_id = json_extract(value, '$[1]')), (SELECT k.id ",
    "FROM contacts k WHERE k.wa_id = json_extract(value, '$[0]'))) ",
    "WHERE json_extract(value, '$[3]') IS NOT NULL AND (json_extract(value, '$[4]') IS NULL ",
    "OR c.phone_number_id = json_extract(value, '$[4]')) ON CONFLICT DO NOTHING"
);

const CHANGED_NUMBER: &str = concat!(
    "UPDATE OR IGNORE contacts SET ",
    "wa_id = CASE WHEN r.nw IS NOT NULL AND contacts.wa_id IS r.ow AND NOT EXISTS ",
    "(SELECT 1 FROM contacts c WHERE c.wa_id = r.nw) THEN r.nw ELSE contacts.wa_id END, ",
    "last_wa_id = CASE WHEN r.nw IS NOT NULL AND contacts.wa_id IS r.ow AND NOT EXISTS ",
    "(SELECT 1 FROM contacts c WHERE c.wa_id = r.nw) THEN r.nw ELSE contacts.last_wa_id END, ",
    "user_id = CASE WHEN r.nu IS NOT NULL AND (contacts.user_id IS r.ou OR contacts.user_id IS NULL) ",
    "THEN r.nu ELSE contacts.user_id END, updated_at = ?2 ",
    "FROM (SELECT json_extract(value, '$[0]') AS ow, json_extract(value, '$[1]') AS ou, ",
    "json_extract(value, '$[2]') AS nw, json_extract(value, '$[3]') AS nu, ",
    "json_extract(value, '$[4]') AS only_on FROM json_each(?1)) AS r ",
    "WHERE contacts.id = coalesce((SELECT b.contact_id FROM contact_user_ids b WHERE b.user_id = r.ou), ",
    "(SELECT k.id FROM contacts k WHERE k.wa_id = r.ow)) ",
    "AND (r.only_on IS NULL OR contacts.phone_number_id = r.only_on)"
);

// Row: key (3), name, time, scope. A later sync wins.
const SAVED_NAMES: &str = concat!(
    "UPDATE contacts SET saved_name = r.name, saved_name_at = r.at, updated_at = ?2 ",
    "FROM (SELECT json_extract(value, '$[0]') AS cand, json_extract(value, '$[1]') AS w, ",
    "json_extract(value, '$[2]') AS u, json_extract(value, '$[3]') AS name, ",
    "json_extract(value, '$[4]') AS at, json_extract(value, '$[5]') AS scope ",
    "FROM json_each(?1)) AS r WHERE contacts.id = ",
    contact_of!("r.cand", "r.w", "r.u", "r.scope"),
    " AND (contacts.saved_name_at IS NULL OR r.at >= contacts.saved_name_at)"
);

/// The statements that bring `contacts` up to date with a delivery (or a
/// send), in order: Meta's identity changes, conflict events and merges
/// (judged before anything links), creation, linking BSUIDs, then merging
/// what the rows saw. Rows that name contacts run after these.
// Long because each step is one bulk statement and their order is the contract; every step is a few lines.
pub fn statements(
    out: &mut Vec<Stmt>,
    changes: &[IdentityChange],
    conflicts: &[EventRow],
    contacts: &[ContactRow],
    now_ms: i64,
) {
    let change_rows = || {
        changes.iter().map(|c| {
            json!([
                c.old.wa_id,
                c.old.user_id,
                c.new_wa_id,
                c.new_user_id,
                c.only_on,
                c.scope
            ])
        })
    };
    bulk(out, CHANGED_USER_ID, change_rows(), now_ms);
    bulk(out, CHANGED_NUMBER, change_rows(), now_ms);
    // A conflict event's raw JSON is `{"wa_id", "user_id"}`; its scope is
    // its WABA.
    let pairs: Vec<(&EventRow, serde_json::Value, serde_json::Value)> = conflicts
        .iter()
        .filter_map(|e| {
            let raw: serde_json::Value = serde_json::from_str(&e.raw).ok()?;
            Some((e, raw.get("wa_id")?.clone(), raw.get("user_id")?.clone()))
        })
        .collect();
    bulk(
        out,
        CONFLICTS,
        pairs
            .iter()
            .map(|(e, w, u)| json!([e.id, e.raw, w, u, e.waba_id])),
        now_ms,
    );
    bulk(
        out,
        CONFLICT_NAMES,
        pairs
            .iter()
            .flat_map(|(e, w, u)| [json!([e.id, w]), json!([e.id, u])]),
        now_ms,
    );
    bulk(
        out,
        MERGE_PEOPLE,
        pairs.iter().map(|(e, w, u)| json!([w, u, e.waba_id])),
        now_ms,
    );
    let rows: Vec<serde_json::Value> = contacts
        .iter()
        .map(|c| {
            json!([
                c.candidate,
                c.wa_id,
                c.user_id,
                c.parent_user_id,
                c.username,
                c.profile_name,
                c.phone_number_id,
                c.first_seen,
                c.last_seen,
                c.last_wa_id,
                c.scope
            ])
        })
        .collect();
    bulk(out, CREATE, rows.iter().cloned(), now_ms);
    bulk(
        out,
        LINK_USER_IDS,
        rows.iter()
            .filter(|r| r.get(2).is_some_and(|u| !u.is_null()))
            .cloned(),
        now_ms,
    );
    bulk(out, MERGE, rows.into_iter(), now_ms);
}

/// The statement recording names saved in the WhatsApp Business app.
pub fn saved_names(out: &mut Vec<Stmt>, names: &[SavedName], now_ms: i64) {
    bulk(
        out,
        SAVED_NAMES,
        names.iter().map(|n| {
            let [c, w, u] = n.contact.json();
            json!([c, w, u, n.name, n.at, n.contact.scope])
        }),
        now_ms,
    );
}
