//! What decisions need to know before they decide: whether a delivery's
//! messages are stored, its senders returning or opted out (per channel),
//! and a send's window and opt-out state.

use super::Stmt;
use crate::inbound::autoreply::Known;
use crate::inbound::ingest::Plan;
use serde_json::{json, Value};
use std::collections::HashSet;

/// The three lookups that fill [`Known`] for `plan`, run as one batch.
pub fn known_statements(plan: &Plan) -> [crate::db::Stmt; 3] {
    use crate::db::Stmt;
    let wamids = Value::from(
        plan.messages
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
    )
    .to_string();
    // (channel, contact) pairs, matched as row values so the primary keys
    // of windows and opt_outs serve the lookups.
    let pairs = Value::from(
        plan.messages
            .iter()
            .filter_map(|m| {
                Some(json!([
                    m.phone_number_id.as_ref()?.as_str(),
                    m.wa_id.as_str()
                ]))
            })
            .collect::<Vec<_>>(),
    )
    .to_string();
    [
        Stmt::new(
            "SELECT id AS v FROM messages WHERE id IN (SELECT value FROM json_each(?1))",
            vec![wamids.into()],
        ),
        Stmt::new(
            "SELECT phone_number_id || ' ' || wa_id AS v FROM windows \
WHERE (phone_number_id, wa_id) IN (SELECT json_extract(value, '$[0]'), \
json_extract(value, '$[1]') FROM json_each(?1))",
            vec![pairs.clone().into()],
        ),
        Stmt::new(
            "SELECT phone_number_id || ' ' || wa_id AS v FROM opt_outs WHERE opted_out = 1 \
AND (phone_number_id, wa_id) IN (SELECT json_extract(value, '$[0]'), \
json_extract(value, '$[1]') FROM json_each(?1))",
            vec![pairs.into()],
        ),
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

/// The last inbound message time of a contact on a channel.
pub fn window_lookup(wa_id: &str, phone_number_id: &str) -> Stmt {
    Stmt::new(
        "SELECT last_inbound_at FROM windows WHERE wa_id = ?1 AND phone_number_id = ?2",
        vec![wa_id.into(), phone_number_id.into()],
    )
}

/// Whether a contact has opted out of a channel.
pub fn opt_out_lookup(wa_id: &str, phone_number_id: &str) -> Stmt {
    Stmt::new(
        "SELECT opted_out FROM opt_outs WHERE wa_id = ?1 AND phone_number_id = ?2 AND opted_out = 1",
        vec![wa_id.into(), phone_number_id.into()],
    )
}

/// What a send needs to know, as one batch: opt-out and window of the
/// recipient on the channel, and, only when asked, the earlier request with
/// the same dedupe key, the synced template `(waba_id, name, language)` and
/// the template recipients counted since `count_since_ms`.
pub struct SendChecks {
    pub statements: Vec<Stmt>,
    earlier: Option<usize>,
    template: Option<usize>,
    count: Option<usize>,
}

/// The statements of [`SendChecks`].
pub fn send_checks(
    to: &str,
    phone_number_id: &str,
    dedupe_key: Option<&str>,
    template: Option<(&str, &str, &str)>,
    count_since_ms: Option<i64>,
) -> SendChecks {
    let mut statements = vec![
        opt_out_lookup(to, phone_number_id),
        window_lookup(to, phone_number_id),
    ];
    let mut push = |stmt: Option<Stmt>| {
        stmt.map(|s| {
            statements.push(s);
            statements.len() - 1
        })
    };
    let earlier = push(dedupe_key.map(super::outbox::by_dedupe_key));
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

/// The earlier request in the rows of [`super::outbox::by_dedupe_key`].
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
        use crate::outbound::send::{Lookups, StoredTemplate};
        let first = |i: Option<usize>| i.and_then(|i| rows.get(i)).and_then(|r| r.first());
        let template = first(self.template);
        let count = first(self.count);
        Lookups {
            opted_out: first(Some(0)).is_some(),
            last_inbound: number(first(Some(1)), "last_inbound_at").map(|t| t as i64),
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
