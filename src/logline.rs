//! Structured log lines that can only carry what is safe to log: event
//! names, counts, categories and message ids. There is deliberately no way
//! to attach a phone number, a body or a token.

use crate::ids::WaMessageId;
use serde_json::{Map, Value};

/// How much a line matters. `LOG_LEVEL` (`warn`, the default, or `info`)
/// says which lines are written: routine lines (a delivery stored, a send
/// queued) are `Info`; failures and refusals are `Warn`. Workers Logs
/// already records every invocation (path, status, time), so routine lines
/// are opt-in detail, and on the Free plan's daily log allowance they would
/// double the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warn,
}

impl Level {
    /// Reads `LOG_LEVEL`: unset or empty is `Warn`; any other value that
    /// is not `warn` is `Info`, so a typo hides nothing.
    pub fn parse(s: Option<&str>) -> Level {
        match s.map(str::trim) {
            None | Some("") => Level::Warn,
            Some(l) if l.eq_ignore_ascii_case("warn") || l.eq_ignore_ascii_case("warning") => {
                Level::Warn
            }
            _ => Level::Info,
        }
    }
}

/// One JSON log line, built field by field.
#[derive(Debug, Clone)]
pub struct LogLine {
    level: Level,
    fields: Map<String, Value>,
}

impl LogLine {
    /// A routine line for `event` (dot-separated, for example `webhook.stored`).
    pub fn new(event: &'static str) -> LogLine {
        let mut fields = Map::new();
        fields.insert("event".into(), event.into());
        LogLine {
            level: Level::Info,
            fields,
        }
    }

    /// A line for a failure or a refusal, written at every `LOG_LEVEL`.
    pub fn warn(event: &'static str) -> LogLine {
        LogLine {
            level: Level::Warn,
            ..LogLine::new(event)
        }
    }

    /// How much the line matters.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Whether the line is written when `LOG_LEVEL` is `threshold`.
    pub fn is_written_at(&self, threshold: Level) -> bool {
        self.level >= threshold
    }

    /// Adds a count.
    pub fn count(mut self, key: &'static str, n: usize) -> LogLine {
        self.fields.insert(key.into(), n.into());
        self
    }

    /// Adds a category chosen by the code (never by the sender).
    pub fn kind(mut self, key: &'static str, value: &'static str) -> LogLine {
        self.fields.insert(key.into(), value.into());
        self
    }

    /// Adds a message id.
    pub fn wamid(mut self, id: &WaMessageId) -> LogLine {
        self.fields.insert("wamid".into(), id.as_str().into());
        self
    }

    /// Adds an internal error's description (runtime and D1 errors; never
    /// request content).
    pub fn error(mut self, detail: &str) -> LogLine {
        let short: String = detail.chars().take(300).collect();
        self.fields.insert("error".into(), short.into());
        self
    }

    /// The line as JSON.
    pub fn render(&self) -> String {
        Value::Object(self.fields.clone()).to_string()
    }
}
