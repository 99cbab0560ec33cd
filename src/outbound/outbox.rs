//! The outbox: when to try an outbound message again, when to give up, and
//! the statements that claim and record attempts.
//!
//! Every outbound message is written to the D1 outbox before any attempt.
//! Attempts claim rows (`queued` → `sending`) with one conditional update, so
//! a cron run and a `wait_until` racing for the same rows cannot both send
//! one. The claim first fails rows whose recipient has opted out on that
//! channel since they were queued: STOP wins at send time.
//!
//! At most once: every message carries `biz_opaque_callback_data` naming its
//! row. An attempt whose outcome is unknown (see [`crate::whatsapp::graph::error`]), or
//! a row left in `sending` past its lease, becomes `unknown` and is never
//! resent; a status webhook carrying the row's callback data resolves it.
//! Read receipts are idempotent and are simply retried.

use crate::whatsapp::graph::error::Outcome;
use serde_json::{json, Value};

/// Attempts before a retryable failure becomes final.
pub const MAX_ATTEMPTS: i64 = 8;
/// Delay before the second attempt; doubles with each attempt after that.
pub const BASE_DELAY_S: i64 = 30;
/// Longest delay between two attempts.
pub const MAX_DELAY_S: i64 = 3600;
/// How long a claimed row may stay in `sending`.
pub const LEASE_MS: i64 = 60_000;
/// Rows sent after a response (webhook or send API) in the same invocation;
/// the rest wait for the cron. With the cron's share this keeps every
/// invocation under the Free plan's 50 D1 queries and 50 subrequests.
pub const AFTER_RESPONSE_MAX: i64 = 10;
/// Rows one cron run attempts at most.
pub const CRON_BATCH: i64 = 25;
/// Seconds an attempt waits for Graph before its outcome is unknown (the
/// default and the largest value of `GRAPH_TIMEOUT_S`).
pub const SEND_TIMEOUT_S: u64 = 15;
/// A run starts no attempt later than this after it began; rows it claimed
/// but did not attempt go back to the queue. With [`SEND_TIMEOUT_S`] this
/// ends a run after a response inside the 30 s `wait_until` allows.
pub const RUN_DEADLINE_MS: i64 = 10_000;

/// A row's state, as stored in `outbox.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Queued,
    Sending,
    Sent,
    Failed,
    Unknown,
}

impl State {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Sending => "sending",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Unknown => "unknown",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Option<State> {
        [
            State::Queued,
            State::Sending,
            State::Sent,
            State::Failed,
            State::Unknown,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// How the state is shown to API callers (`GET /v1/messages/{id}` and an
    /// Idempotency-Key replay alike) before Graph reports a status.
    pub fn shown(self) -> &'static str {
        match self {
            State::Queued | State::Sending => "queued",
            State::Sent => "accepted",
            State::Failed => "failed",
            State::Unknown => "unknown",
        }
    }
}

/// How a stored state is shown to API callers (an unreadable one as queued).
pub fn shown_state(state: Option<&str>) -> &'static str {
    state
        .and_then(State::parse)
        .unwrap_or(State::Queued)
        .shown()
}

/// `last_error` of a row refused at send time because the recipient opted out.
pub const OPTED_OUT: &str = "opted_out: the recipient opted out before the message was sent";

/// Delay after failed attempt number `attempt` (1-based), honouring the
/// server's `Retry-After` when it asks for longer.
pub fn backoff_s(attempt: i64, retry_after_s: Option<u64>) -> i64 {
    let exp = attempt.clamp(1, 20) - 1;
    let delay = (BASE_DELAY_S << exp).min(MAX_DELAY_S);
    let asked = retry_after_s.map_or(0, |s| s.min(86_400) as i64);
    delay.max(asked)
}

/// What to write to the outbox row after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Sent {
        wamid: String,
    },
    RetryAt {
        at_ms: i64,
        error: String,
        code: Option<i64>,
    },
    Failed {
        error: String,
        code: Option<i64>,
        auth: bool,
    },
    /// Graph may have accepted it: never resent, resolved by a status webhook.
    Unknown {
        error: String,
    },
    /// Claimed but not attempted (the run ran out of time): back to the
    /// queue, due at once, the attempt not counted.
    Released,
}

/// Decides the row's next state from attempt number `attempt` and its
/// outcome. `idempotent` rows (read receipts) may be retried after an
/// unknown outcome; messages never are.
pub fn next(attempt: i64, outcome: Outcome, now_ms: i64, idempotent: bool) -> Next {
    let retry = |reason: String, code, retry_after_s| {
        if attempt < MAX_ATTEMPTS {
            Next::RetryAt {
                at_ms: now_ms + backoff_s(attempt, retry_after_s) * 1000,
                error: reason,
                code,
            }
        } else {
            Next::Failed {
                error: format!("gave up after {attempt} attempts; last error {reason}"),
                code,
                auth: false,
            }
        }
    };
    match outcome {
        Outcome::Sent { wamid } => Next::Sent { wamid },
        Outcome::Retry {
            reason,
            code,
            retry_after_s,
        } => retry(reason, code, retry_after_s),
        Outcome::Unknown { reason } if idempotent => retry(reason, None, None),
        Outcome::Unknown { reason } => Next::Unknown {
            error: format!("delivery outcome unknown ({reason}); not resent to avoid a duplicate"),
        },
        Outcome::Failed { reason, code } => Next::Failed {
            error: reason,
            code,
            auth: false,
        },
        Outcome::AuthFailed { reason, code } => Next::Failed {
            error: reason,
            code,
            auth: true,
        },
    }
}

/// The `biz_opaque_callback_data` sent with row `id`: the id, then the
/// caller's own value (if any) after a `|`.
pub fn callback_data(id: &str, callers: Option<&str>) -> String {
    match callers.filter(|c| !c.is_empty()) {
        Some(c) => format!("{id}|{c}"),
        None => id.to_owned(),
    }
}

/// The outbox id named by a status's `biz_opaque_callback_data`, if it
/// names one.
pub fn callback_id(data: &str) -> Option<&str> {
    let id = data.split('|').next()?;
    let hex = id.strip_prefix("out_")?;
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The message as sent for row `id`: Graph's message object with the row's
/// callback data (keeping the caller's own after it).
pub fn with_callback(message: &Value, id: &str) -> Value {
    let mut out = message.clone();
    if let Some(obj) = out.as_object_mut() {
        let callers = obj
            .get("biz_opaque_callback_data")
            .and_then(Value::as_str)
            .map(str::to_owned);
        obj.insert(
            "biz_opaque_callback_data".into(),
            json!(callback_data(id, callers.as_deref())),
        );
    }
    out
}

/// Which rows an attempt run may claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim<'a> {
    /// Any due row (the cron).
    Due,
    /// Only these rows (the ones a request just queued).
    Ids(&'a [String]),
}

/// A claimed row.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: String,
    pub phone_number_id: String,
    /// `message` or `mark_read`.
    pub kind: String,
    pub payload: Value,
    /// This attempt's number (1-based).
    pub attempt: i64,
    /// Who it goes to (the contact id, or the address when it has none):
    /// rows to one person are sent one after another, in order.
    pub recipient: String,
    /// When it was queued (ms) and its place among rows queued in the
    /// same batch: the order rows to one person are sent in (a read receipt
    /// before the reply queued with it).
    pub queued_at: i64,
    pub seq: i64,
}

impl Claimed {
    /// True for rows that may be retried after an unknown outcome.
    pub fn idempotent(&self) -> bool {
        self.kind == "mark_read"
    }
}

/// A row's attempt: its id, channel, next state and when that was decided
/// (the row's `updated_at`).
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: String,
    pub phone_number_id: String,
    pub next: Next,
    pub decided: i64,
}

/// Graph requests one run has in flight at once, in all: Workers allow six
/// simultaneous open connections per invocation.
pub const PARALLEL_SENDS: usize = 6;
/// Graph requests in flight at once from one business number. Graph allows
/// a number 80 messages a second by default; four at a time stays far
/// below that at any latency, and leaves room for the other numbers.
pub const PARALLEL_PER_NUMBER: usize = 4;

/// Orders a run's rows into waves sent one after another, the rows of a
/// wave together: every row in exactly one wave; at most `total` rows a
/// wave and `per_number` of one business number; and rows to one person
/// (`lane`: number and recipient) one a wave, in their order in `rows`,
/// so a person gets their messages in the order they were queued.
pub fn waves<K: Ord + Clone>(lanes: &[(K, K)], total: usize, per_number: usize) -> Vec<Vec<usize>> {
    use std::collections::{BTreeMap, VecDeque};
    let (total, per_number) = (total.max(1), per_number.max(1));
    // Lanes in the order of their first row; each a queue of row indices.
    let mut order: Vec<&(K, K)> = Vec::new();
    let mut pending: BTreeMap<&(K, K), VecDeque<usize>> = BTreeMap::new();
    for (i, lane) in lanes.iter().enumerate() {
        pending
            .entry(lane)
            .or_insert_with(|| {
                order.push(lane);
                VecDeque::new()
            })
            .push_back(i);
    }
    let mut out = Vec::new();
    let mut left = lanes.len();
    while left > 0 {
        let mut wave = Vec::new();
        let mut per: BTreeMap<&K, usize> = BTreeMap::new();
        for lane in &order {
            if wave.len() == total {
                break;
            }
            let used = per.entry(&lane.0).or_default();
            if *used == per_number {
                continue;
            }
            if let Some(i) = pending.get_mut(lane).and_then(VecDeque::pop_front) {
                *used += 1;
                wave.push(i);
            }
        }
        left -= wave.len();
        wave.sort_unstable();
        out.push(wave);
    }
    out
}

/// A status webhook resolving a row by its callback data: the row's channel,
/// the message's wamid and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub outbox_id: String,
    pub phone_number_id: Option<String>,
    pub wamid: String,
    pub status: String,
    pub rank: i64,
}
