//! Auto-reply rules: what a business configures through `/v1/rules`, how a
//! rule is validated, and which rule answers an inbound message.
//!
//! Rules are evaluated in ascending `priority` (10 before 20); the first rule
//! that matches answers and the rest are skipped. Business hours are judged at
//! the inbound message's own timestamp, so a redelivery hours later decides
//! exactly as the first delivery did.

use crate::whatsapp::message;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a rule matches. Exactly one key is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// Case- and whitespace-insensitive equality with the message text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// Case- and whitespace-insensitive substring of the message text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// A regular expression over the message text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The id of a tapped reply button, list row or template button payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<String>,
    /// The message `type` (`image`, `location`, ...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The first message a contact ever sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message: Option<bool>,
    /// Every message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<bool>,
}

/// One span of opening hours in the rule's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// `mon` ... `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, inclusive.
    pub from: String,
    /// `HH:MM`, exclusive; earlier than `from` for a span past midnight.
    pub to: String,
}

/// Opening hours; outside them the `away` message answers instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hours {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub tz: String,
    pub open: Vec<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub away: Option<Value>,
}

/// An auto-reply rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub id: String,
    #[serde(deserialize_with = "whole_number")]
    pub priority: i64,
    #[serde(rename = "match")]
    pub matcher: Match,
    /// Graph's message object without `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<Hours>,
    /// The channel (phone_number_id) the rule answers on; absent = every channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Also mark the message read (blue ticks).
    #[serde(default)]
    pub mark_read: bool,
    /// With `mark_read`, also show the typing indicator until the reply
    /// arrives (or 25 s pass).
    #[serde(default)]
    pub typing: bool,
    #[serde(default = "enabled_default")]
    pub enabled: bool,
}

/// A whole number D1 stores exactly (see [`crate::strict::whole_number`]).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    crate::strict::whole_number(&serde_json::Value::deserialize(d)?).ok_or_else(|| {
        serde::de::Error::custom("priority: must be a whole number within ±(2^53 - 1)")
    })
}

fn enabled_default() -> bool {
    true
}

/// Local wall-clock time in a rule's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// 0 = Monday ... 6 = Sunday.
    pub weekday: u8,
    /// Minutes since local midnight.
    pub minute: u16,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_hhmm(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() != 5 || b.get(2) != Some(&b':') || !digits(0..2) || !digits(3..5) {
        return None;
    }
    let (h, m) = s.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() == 5).then_some(h * 60 + m)
}

/// Why a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

fn err(s: impl Into<String>) -> RuleError {
    RuleError(s.into())
}

fn check_reply(field: &str, reply: &Value) -> Result<(), RuleError> {
    if reply.get("to").is_some() {
        return Err(err(format!(
            "{field}.to: leave it out; a reply goes to the sender"
        )));
    }
    message::validate(reply, false).map_err(|e| {
        let at = if e.field.is_empty() {
            field.to_owned()
        } else {
            format!("{field}.{}", e.field)
        };
        err(format!("{at}: {}", e.message))
    })
}

impl Rule {
    /// Parses and validates a rule from the API. Time-zone names are checked
    /// by the caller, which has the time-zone database.
    pub fn parse(body: &[u8]) -> Result<Rule, RuleError> {
        let rule: Rule =
            crate::strict::parse(body).map_err(|e| err(format!("not a valid rule: {e}")))?;
        rule.validate()?;
        Ok(rule)
    }

    // Long because it is one check per field, in the order the fields appear.
    fn validate(&self) -> Result<(), RuleError> {
        let m = &self.matcher;
        let set = [
            m.keyword.is_some(),
            m.contains.is_some(),
            m.regex.is_some(),
            m.reply_id.is_some(),
            m.kind.is_some(),
            m.first_message.is_some(),
            m.any.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            return Err(err(
                "match: give exactly one of keyword, contains, regex, reply_id, type, first_message, any",
            ));
        }
        for (name, v) in [("keyword", &m.keyword), ("contains", &m.contains)] {
            if v.as_deref().is_some_and(|s| normalize(s).is_empty()) {
                return Err(err(format!("match.{name}: must not be empty")));
            }
        }
        if let Some(re) = &m.regex {
            regex_lite::Regex::new(re)
                .map_err(|e| err(format!("match.regex: not a valid regular expression: {e}")))?;
        }
        if m.first_message == Some(false) || m.any == Some(false) {
            return Err(err("match: first_message and any can only be true"));
        }
        if self
            .channel
            .as_deref()
            .is_some_and(|c| !crate::whatsapp::phone::is_graph_id(c))
        {
            return Err(err("channel: must be a channel's phone_number_id (digits)"));
        }
        if self.typing && !self.mark_read {
            return Err(err("typing: needs mark_read, which carries the indicator"));
        }
        match &self.reply {
            Some(reply) => check_reply("reply", reply)?,
            None if !self.mark_read => {
                return Err(err(
                    "reply: required unless the rule only marks messages read",
                ))
            }
            None => {}
        }
        if let Some(h) = &self.hours {
            if h.tz.trim().is_empty() {
                return Err(err("hours.tz: required, e.g. Europe/Berlin"));
            }
            if h.open.is_empty() {
                return Err(err("hours.open: give at least one span"));
            }
            for (i, span) in h.open.iter().enumerate() {
                if span.days.is_empty() {
                    return Err(err(format!("hours.open[{i}].days: give at least one day")));
                }
                if let Some(d) = span.days.iter().find(|d| !DAYS.contains(&d.as_str())) {
                    return Err(err(format!(
                        "hours.open[{i}].days: {d:?} is not one of mon, tue, wed, thu, fri, sat, sun"
                    )));
                }
                for (k, v) in [("from", &span.from), ("to", &span.to)] {
                    if parse_hhmm(v).is_none() {
                        return Err(err(format!(
                            "hours.open[{i}].{k}: must be HH:MM (00:00-23:59)"
                        )));
                    }
                }
                if span.from == span.to {
                    return Err(err(format!("hours.open[{i}]: from and to are equal")));
                }
            }
            if let Some(away) = &h.away {
                check_reply("hours.away", away)?;
            }
        }
        Ok(())
    }
}

impl Hours {
    /// True when `t` falls in an open span.
    pub fn is_open(&self, t: LocalTime) -> bool {
        self.open.iter().any(|span| {
            let (Some(from), Some(to)) = (parse_hhmm(&span.from), parse_hhmm(&span.to)) else {
                return false;
            };
            let on = |day: u8| {
                let name = DAYS.get(day as usize % 7).copied().unwrap_or_default();
                span.days.iter().any(|d| d == name)
            };
            if from < to {
                on(t.weekday) && (from..to).contains(&t.minute)
            } else {
                // Past midnight: the evening belongs to the listed day, the
                // early morning to the day after it.
                (on(t.weekday) && t.minute >= from) || (on((t.weekday + 6) % 7) && t.minute < to)
            }
        })
    }
}

/// Lower-cases and collapses whitespace.
pub fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// What rule matching needs to know about one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound<'a> {
    /// The channel (phone_number_id) the message arrived on.
    pub channel: &'a str,
    pub kind: &'a str,
    pub text: Option<&'a str>,
    pub reply_id: Option<&'a str>,
    /// No earlier inbound message from this contact exists on this channel.
    pub first_message: bool,
}

impl Match {
    /// True when this matcher accepts `m`.
    pub fn matches(&self, m: &Inbound) -> bool {
        let text = m.text.map(normalize);
        if let Some(k) = &self.keyword {
            return text.as_deref() == Some(normalize(k).as_str());
        }
        if let Some(c) = &self.contains {
            return text.is_some_and(|t| t.contains(&normalize(c)));
        }
        if let Some(re) = &self.regex {
            return m
                .text
                .is_some_and(|t| regex_lite::Regex::new(re).is_ok_and(|r| r.is_match(t)));
        }
        if let Some(id) = &self.reply_id {
            return m.reply_id == Some(id.as_str());
        }
        if let Some(kind) = &self.kind {
            return m.kind == kind;
        }
        if self.first_message == Some(true) {
            return m.first_message;
        }
        self.any == Some(true)
    }
}

/// The answer a rule gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<'a> {
    pub rule: &'a Rule,
    /// The message to send (the reply, or the away message), if any.
    pub message: Option<&'a Value>,
    pub mark_read: bool,
    /// Show the typing indicator with the read receipt.
    pub typing: bool,
}

/// The first enabled rule (by priority, then id) that matches `m`.
/// `local` gives the wall-clock time in a time zone at the message's time.
pub fn answer<'a>(
    rules: &'a [Rule],
    m: &Inbound,
    local: &dyn Fn(&str) -> Option<LocalTime>,
) -> Option<Answer<'a>> {
    let mut ordered: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.enabled && r.channel.as_deref().is_none_or(|c| c == m.channel))
        .collect();
    ordered.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.id.cmp(&b.id)));
    let rule = ordered.into_iter().find(|r| r.matcher.matches(m))?;
    let message = match &rule.hours {
        None => rule.reply.as_ref(),
        Some(h) => match local(&h.tz) {
            Some(t) if h.is_open(t) => rule.reply.as_ref(),
            // Outside hours, or an unknown zone: the away message (if any).
            _ => h.away.as_ref(),
        },
    };
    Some(Answer {
        rule,
        typing: rule.typing && message.is_some(),
        message,
        mark_read: rule.mark_read,
    })
}
