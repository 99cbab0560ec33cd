//! What decisions need to know before they decide: whether a delivery's
//! messages are stored, its senders returning or opted out (per channel),
//! and a send's window and opt-out state.

use super::Stmt;
use crate::inbound::autoreply::{contact_key, Known};
use crate::inbound::ingest::Plan;
use crate::outbound::send::IdempotencyKey;
use crate::whatsapp::identity::ContactRef;
use serde_json::{json, Value};
use std::collections::HashSet;

/// The three lookups that fill [`Known`] for `plan`, run as one batch.
/// Each (channel, contact) pair travels as `[channel, key (3), known key]`
/// and comes back as its known key when D1 has the row.
pub fn known_statements(plan: &Plan) -> [crate::db::Stmt; 3] {
    use crate::db::Stmt;
    let live = || plan.messages.iter().filter(|m| m.is_live_inbound());
    let wamids = Value::from(live().map(|m| m.id.as_str()).collect::<Vec<_>>()).to_string();
    let pairs = Value::from(
        live()
            .filter_map(|m| {
                let pnid = m.phone_number_id.as_ref()?.as_str();
                let [c, w, u] = m.contact.json();
                Some(json!([
                    pnid,
                    c,
                    w,
                    u,
                    contact_key(pnid, m.contact.primary())
                ]))
            })
            .collect::<Vec<_>>(),
    )
    .to_string();
    const WINDOWS: &str = concat!(
        "SELECT json_extract(value, '$[4]') AS v FROM json_each(?1) WHERE EXISTS ",
        "(SELECT 1 FROM windows x WHERE x.phone_number_id = json_extract(value, '$[0]') ",
        "AND x.contact_id = ",
        crate::contact_at!("1", "2", "3", "5"),
        ")"
    );
    const OPTED_OUT: &str = concat!(
        "SELECT json_extract(value, '$[4]') AS v FROM json_each(?1) WHERE EXISTS ",
        "(SELECT 1 FROM opt_outs x WHERE x.opted_out = 1 AND ",
        "x.phone_number_id = json_extract(value, '$[0]') AND x.contact_id = ",
        crate::contact_at!("1", "2", "3", "5"),
        ")"
    );
    [
        Stmt::new(
            "SELECT id AS v FROM messages WHERE id IN (SELECT value FROM json_each(?1))",
            vec![wamids.into()],
        ),
        Stmt::new(WINDOWS, vec![pairs.clone().into()]),
        Stmt::new(OPTED_OUT, vec![pairs.into()]),
    ]
}

/// Builds [`Known`] from the rows of [`known_statements`], in order.
pub fn known_from_rows(rows: &[Vec<Value>]) -> Known {
    let set = |i: usize| -> HashSet<String> {
        rows.get(i)
            .into_iter()
            .flatten()
            .filter_map(|r| r["v"].as_str().map(str::to_owned))
            .collect()
    };
    Known {
        stored: set(0),
        returning: set(1),
        opted_out: set(2),
    }
}

/// What a send needs to know, as one batch: the contact the request names,
/// its opt-out and window on the channel, and, only when asked, the earlier
/// request with the same dedupe key, the synced template
/// `(waba_id, name, language)` and the template recipients counted since
/// `count_since_ms`.
pub struct SendChecks {
    pub statements: Vec<Stmt>,
    earlier: Option<usize>,
    template: Option<usize>,
    count: Option<usize>,
}

/// The statements of [`SendChecks`].
pub fn send_checks(
    to: &ContactRef,
    phone_number_id: &str,
    idempotency_key: Option<&IdempotencyKey>,
    template: Option<(&str, &str, &str)>,
    count_since_ms: Option<i64>,
) -> SendChecks {
    const CONTACT: &str = concat!(
        "SELECT id, wa_id, user_id, last_wa_id FROM contacts WHERE id = ",
        crate::named_contact!("?1", "?2", "?3")
    );
    const OPTED_OUT: &str = concat!(
        "SELECT opted_out FROM opt_outs WHERE phone_number_id = ?4 AND opted_out = 1 ",
        "AND contact_id = ",
        crate::named_contact!("?1", "?2", "?3")
    );
    const WINDOW: &str = concat!(
        "SELECT last_inbound_at FROM windows WHERE phone_number_id = ?4 AND contact_id = ",
        crate::named_contact!("?1", "?2", "?3")
    );
    let (id, wa_id, user_id) = to.parts();
    let args = || vec![id.into(), wa_id.into(), user_id.into()];
    let with_channel = || {
        let mut a = args();
        a.push(phone_number_id.into());
        a
    };
    let mut statements = vec![
        Stmt::new(CONTACT, args()),
        Stmt::new(OPTED_OUT, with_channel()),
        Stmt::new(WINDOW, with_channel()),
    ];
    let mut push = |stmt: Option<Stmt>| {
        stmt.map(|s| {
            statements.push(s);
            statements.len() - 1
        })
    };
    let earlier = push(idempotency_key.map(super::outbox::by_idempotency_key));
    let template =
        push(template.map(|(waba, name, language)| super::templates::find(waba, name, language)));
    let count = push(
        count_since_ms.map(|since| super::channels::recipients_since(phone_number_id, to, since)),
    );
    SendChecks {
        statements,
        earlier,
        template,
        count,
    }
}

fn number(row: Option<&Value>, key: &str) -> Option<f64> {
    row?.get(key)?.as_f64()
}

fn text(row: Option<&Value>, key: &str) -> Option<String> {
    row?.get(key)?.as_str().map(str::to_owned)
}

/// The earlier request in the rows of [`super::outbox::by_idempotency_key`].
pub fn earlier(rows: &[Vec<Value>]) -> Option<crate::outbound::send::Earlier> {
    let row = rows.first().and_then(|r| r.first());
    Some(crate::outbound::send::Earlier {
        id: text(row, "id")?,
        state: text(row, "state"),
        request_hash: text(row, "request_hash"),
    })
}

impl SendChecks {
    /// Reads the batch's rows.
    pub fn lookups(&self, rows: &[Vec<Value>]) -> crate::outbound::send::Lookups {
        use crate::ids::{ContactId, UserId, WaId};
        use crate::outbound::send::{KnownContact, Lookups, StoredTemplate};
        let first = |i: Option<usize>| i.and_then(|i| rows.get(i)).and_then(|r| r.first());
        let template = first(self.template);
        let count = first(self.count);
        let contact = first(Some(0));
        Lookups {
            contact: text(contact, "id").map(|id| KnownContact {
                id: ContactId(id),
                wa_id: text(contact, "wa_id").map(WaId),
                user_id: text(contact, "user_id").map(UserId),
                last_wa_id: text(contact, "last_wa_id").map(WaId),
            }),
            opted_out: first(Some(1)).is_some(),
            last_inbound: number(first(Some(2)), "last_inbound_at").map(|t| t as i64),
            earlier: self
                .earlier
                .and_then(|i| rows.get(i))
                .and_then(|r| earlier(std::slice::from_ref(r))),
            template: text(template, "status").map(|status| StoredTemplate {
                status,
                body: text(template, "body")
                    .and_then(|b| serde_json::from_str(&b).ok())
                    .unwrap_or_default(),
            }),
            recipients_24h: number(count, "n").unwrap_or(0.0) as i64,
            already_counted: number(count, "counted").unwrap_or(0.0) > 0.0,
        }
    }
}
