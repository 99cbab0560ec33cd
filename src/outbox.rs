//! When to try an outbound message again, and when to give up.
//!
//! Every outbound message is written to the D1 outbox before any attempt.
//! An attempt first claims the row (`queued` → `sending`) with a conditional
//! update, so a cron run and a `wait_until` racing for the same row cannot
//! both send it. A row left in `sending` past its lease (the isolate died
//! mid-request) is marked failed rather than resent: Graph may already have
//! accepted it, and a message is sent at most once.

use crate::graph::error::Outcome;

/// Attempts before a retryable failure becomes final.
pub const MAX_ATTEMPTS: i64 = 8;
/// Delay before the second attempt; doubles with each attempt after that.
pub const BASE_DELAY_S: i64 = 30;
/// Longest delay between two attempts.
pub const MAX_DELAY_S: i64 = 3600;
/// How long a claimed row may stay in `sending`.
pub const LEASE_MS: i64 = 60_000;

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
}

/// Decides the row's next state from attempt number `attempt` and its outcome.
pub fn next(attempt: i64, outcome: Outcome, now_ms: i64) -> Next {
    match outcome {
        Outcome::Sent { wamid } => Next::Sent { wamid },
        Outcome::Retry {
            reason,
            code,
            retry_after_s,
        } if attempt < MAX_ATTEMPTS => Next::RetryAt {
            at_ms: now_ms + backoff_s(attempt, retry_after_s) * 1000,
            error: reason,
            code,
        },
        Outcome::Retry { reason, code, .. } => Next::Failed {
            error: format!("gave up after {attempt} attempts; last error {reason}"),
            code,
            auth: false,
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
