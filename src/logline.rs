//! Structured log lines that can only carry what is safe to log: event
//! names, counts, categories and message ids. There is deliberately no way
//! to attach a phone number, a body or a token.

use crate::ids::WaMessageId;
use serde_json::{Map, Value};

/// One JSON log line, built field by field.
#[derive(Debug, Clone)]
pub struct LogLine {
    fields: Map<String, Value>,
}

impl LogLine {
    /// A line for `event` (dot-separated, for example `webhook.stored`).
    pub fn new(event: &'static str) -> LogLine {
        let mut fields = Map::new();
        fields.insert("event".into(), event.into());
        LogLine { fields }
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
