//! Decides what a delivery's new inbound messages make wa-edge send: opt-out
//! and opt-in confirmations, rule replies, away messages, read receipts.
//!
//! Every effect carries a dedupe key derived from the inbound wamid
//! (`reply:`, `read:`, `optout:`, `optin:`), so however often a delivery
//! arrives, and however many copies race, each effect is queued once.

use crate::inbound::ingest::{OptRow, Plan};
use crate::inbound::rules::{self, normalize, Inbound, LocalTime, Rule};
use crate::outbound::send::{Address, Enqueue};
use crate::whatsapp::identity::ContactKey;
use serde_json::{json, Value};
use std::collections::HashSet;

/// Opt-out settings (`OPT_OUT_KEYWORDS`, `OPT_IN_KEYWORDS`, `OPT_OUT_REPLY`,
/// `OPT_IN_REPLY`).
#[derive(Debug, Clone, PartialEq)]
pub struct OptSettings {
    pub out_words: Vec<String>,
    pub in_words: Vec<String>,
    pub out_reply: String,
    pub in_reply: String,
}

impl Default for OptSettings {
    fn default() -> Self {
        OptSettings {
            out_words: vec!["stop".into(), "unsubscribe".into()],
            in_words: vec!["start".into()],
            out_reply: "You have been unsubscribed and will receive no more messages from us. \
                        Reply START to subscribe again."
                .into(),
            in_reply: "You are subscribed again. Reply STOP to unsubscribe.".into(),
        }
    }
}

impl OptSettings {
    /// Parses a comma-separated keyword list, normalised.
    pub fn words(list: &str) -> Vec<String> {
        list.split(',')
            .map(normalize)
            .filter(|w| !w.is_empty())
            .collect()
    }
}

/// What D1 already knows about the delivery's senders and messages.
/// Contacts are known per channel: keys are [`contact_key`]s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// Inbound wamids already stored (a redelivery: nothing to do).
    pub stored: HashSet<String>,
    /// Contacts with an earlier inbound message on the channel.
    pub returning: HashSet<String>,
    /// Contacts currently opted out of the channel.
    pub opted_out: HashSet<String>,
}

/// The key of a contact on a channel in [`Known`]'s sets: the channel and
/// the person's first identifier in the plan, their BSUID else their wa_id
/// (the lookup SQL of the db layer returns the same).
pub fn contact_key(phone_number_id: &str, who: &str) -> String {
    format!("{phone_number_id} {who}")
}

/// The effects of a delivery.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub enqueue: Vec<Enqueue>,
    pub opts: Vec<OptRow>,
}

/// True when deciding needs [`Known`] from D1: there are rules, or a
/// message could be an opt keyword.
pub fn needs_lookup(plan: &Plan, rules: &[Rule], opt: &OptSettings) -> bool {
    plan.messages.iter().any(|m| m.is_live_inbound())
        && (!rules.is_empty()
            || plan.messages.iter().any(|m| {
                m.text
                    .as_deref()
                    .map(normalize)
                    .is_some_and(|t| opt.out_words.contains(&t) || opt.in_words.contains(&t))
            }))
}

/// Message types no rule answers unless it names the type: answering a
/// reaction or a system notice with a text would be noise.
const QUIET_TYPES: [&str; 2] = ["reaction", "system"];

fn text_message(body: &str) -> Value {
    json!({"type": "text", "text": {"body": body}})
}

/// Who an effect goes to.
struct Target<'a> {
    pnid: &'a str,
    contact: &'a ContactKey,
    /// Where replies are addressed: the wa_id form WhatsApp sent, else the
    /// BSUID of a customer known without a number.
    address: Address,
}

impl Target<'_> {
    /// `msg` addressed to the sender.
    fn message(&self, msg: &Value) -> Value {
        let mut payload = msg.clone();
        if let Some(obj) = payload.as_object_mut() {
            let (key, value) = self.address.field();
            obj.insert(key.into(), json!(value));
        }
        payload
    }

    fn enqueue(
        &self,
        kind: &'static str,
        payload: Value,
        source: &str,
        key: String,
        id: String,
    ) -> Enqueue {
        Enqueue {
            id,
            phone_number_id: self.pnid.to_owned(),
            recipient: self.address.field().1.to_owned(),
            contact: self.contact.clone(),
            kind,
            payload,
            source: source.to_owned(),
            dedupe_key: Some(key),
            request_hash: None,
        }
    }
}

/// Records an opt-out change from `m` and, when `confirm` gives one, queues
/// its confirmation (text, source, dedupe-key prefix).
fn opt_change(
    effects: &mut Effects,
    target: &Target,
    m: &crate::inbound::ingest::MessageRow,
    opted_out: bool,
    confirm: Option<(&String, &str, &str)>,
    new_id: &mut dyn FnMut() -> String,
) {
    if let Some(pnid) = &m.phone_number_id {
        effects.opts.push(OptRow {
            phone_number_id: pnid.clone(),
            contact: m.contact.clone(),
            opted_out,
            at: m.at,
        });
    }
    if let Some((text, source, prefix)) = confirm {
        let reply = target.message(&text_message(text));
        let key = format!("{prefix}:{}", m.id.as_str());
        effects
            .enqueue
            .push(target.enqueue("message", reply, source, key, new_id()));
    }
}

/// Decides the effects of `plan`. `local(tz, unix_s)` gives wall-clock time;
/// `new_id()` mints outbox ids.
// Long because opt-out keywords, rules and their effects are decided in one ordered pass per message.
pub fn decide(
    plan: &Plan,
    rules: &[Rule],
    known: &Known,
    opt: &OptSettings,
    local: &dyn Fn(&str, i64) -> Option<LocalTime>,
    new_id: &mut dyn FnMut() -> String,
) -> Effects {
    let mut effects = Effects::default();
    let mut opted_out = known.opted_out.clone();
    let mut returning = known.returning.clone();
    let mut handled: HashSet<&str> = HashSet::new();
    let mut messages: Vec<_> = plan.messages.iter().collect();
    messages.sort_by_key(|m| m.at);

    for m in messages {
        let wamid = m.id.as_str();
        if known.stored.contains(wamid) || !handled.insert(wamid) {
            continue;
        }
        // Echoes, history and group messages trigger nothing.
        if !m.is_live_inbound() || m.group_id.is_some() {
            continue;
        }
        let Some(pnid) = m.phone_number_id.as_ref() else {
            continue;
        };
        let Some(address) = Address::of(m.sender.as_ref(), m.contact.identity.user_id.as_ref())
        else {
            continue;
        };
        let target = Target {
            pnid: pnid.as_str(),
            contact: &m.contact,
            address,
        };
        let text = m.text.as_deref().map(normalize);
        let key = contact_key(pnid.as_str(), m.contact.primary());
        let first_message = returning.insert(key.clone());

        if text.as_ref().is_some_and(|t| opt.out_words.contains(t)) {
            let newly = opted_out.insert(key.clone());
            let confirm = newly.then_some((&opt.out_reply, "opt_out", "optout"));
            opt_change(&mut effects, &target, m, true, confirm, new_id);
            continue;
        }
        if text.as_ref().is_some_and(|t| opt.in_words.contains(t)) && opted_out.remove(&key) {
            let confirm = Some((&opt.in_reply, "opt_in", "optin"));
            opt_change(&mut effects, &target, m, false, confirm, new_id);
            continue;
        }
        if opted_out.contains(&key) {
            continue;
        }
        let inbound = Inbound {
            channel: pnid.as_str(),
            kind: &m.kind,
            text: m.text.as_deref(),
            reply_id: m.reply_id.as_deref(),
            first_message,
        };
        let at = m.at;
        let Some(answer) = rules::answer(rules, &inbound, &|tz| local(tz, at)) else {
            continue;
        };
        if QUIET_TYPES.contains(&m.kind.as_str()) && answer.rule.matcher.kind.is_none() {
            continue;
        }
        let source = format!("rule:{}", answer.rule.id);
        if answer.mark_read {
            let read = json!({"message_id": wamid, "typing": answer.typing});
            let key = format!("read:{wamid}");
            effects
                .enqueue
                .push(target.enqueue("mark_read", read, &source, key, new_id()));
        }
        if let Some(msg) = answer.message {
            let key = format!("reply:{wamid}");
            let reply = target.message(msg);
            effects
                .enqueue
                .push(target.enqueue("message", reply, &source, key, new_id()));
        }
    }
    effects
}
