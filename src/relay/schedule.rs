//! When a forward is tried again: what a receiver's answer means, the
//! backoff schedule (about three days), `Retry-After`.

/// Seconds before each retry: 5 s, 5 min, 30 min, 2 h, 5 h, then every
/// 10 h; after the last the forward is dead (about 2.8 days in all).
pub const BACKOFF_S: [i64; 11] = [
    5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 36_000, 36_000, 36_000, 36_000,
];
/// Longest wait a queue message can be delayed by (Cloudflare Queues).
pub const MAX_DELAY_S: i64 = 43_200;
/// Seconds a receiver has to answer.
pub const SEND_TIMEOUT_S: u64 = 10;
/// A destination failing without a success for this long is disabled.
pub const DISABLE_AFTER_MS: i64 = 5 * 24 * 3600 * 1000;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer: refused, reset, DNS, or the timeout.
    NoAnswer,
}

/// What happens next to a forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Try again in this many seconds.
    Retry(i64),
    /// Give up: a dead letter, retryable by hand.
    Dead(String),
    /// `410 Gone`: a dead letter, and the destination is disabled.
    Gone,
}

/// Decides after attempt number `attempt` (1-based). `retry_after` is the
/// receiver's `Retry-After` in seconds, `jitter` a random byte: the delay
/// varies by up to ±20 %.
pub fn next(attempt: u32, answer: Answer, retry_after: Option<i64>, jitter: u8) -> Next {
    let retryable = match answer {
        Answer::Status(200..=299) => return Next::Delivered,
        Answer::Status(410) => return Next::Gone,
        Answer::Status(408 | 429 | 500..=599) | Answer::NoAnswer => true,
        Answer::Status(_) => false,
    };
    if !retryable {
        let Answer::Status(code) = answer else {
            return Next::Dead("refused".into());
        };
        return Next::Dead(format!("the receiver refused it (HTTP {code})"));
    }
    let Some(base) = usize::try_from(attempt.saturating_sub(1))
        .ok()
        .and_then(|i| BACKOFF_S.get(i))
    else {
        return Next::Dead(match answer {
            Answer::Status(code) => format!("gave up after {attempt} attempts (last HTTP {code})"),
            Answer::NoAnswer => format!("gave up after {attempt} attempts (no answer)"),
        });
    };
    // ±20 %: jitter 0..=255 maps onto 0.8..=1.2.
    let spread = base * (i64::from(jitter) - 128) / 640;
    let delay = (base + spread).max(1);
    // Retry-After is a floor: never sooner than the receiver asked.
    let delay = retry_after.map_or(delay, |r| delay.max(r.clamp(1, MAX_DELAY_S)));
    Next::Retry(delay.min(MAX_DELAY_S))
}

/// A `Retry-After` value in seconds: delta-seconds, or an HTTP date
/// compared with `now_s`.
pub fn retry_after(header: &str, now_s: i64) -> Option<i64> {
    let h = header.trim();
    if let Ok(s) = h.parse::<i64>() {
        return (s >= 0).then_some(s);
    }
    http_date(h).map(|t| t.saturating_sub(now_s).max(0))
}

/// Unix seconds of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time.split(':').filter_map(|p| p.parse().ok()).collect();
    let [h, mi, se] = hms.as_slice() else {
        return None;
    };
    // The fixdate's own ranges (a leap second allowed), which also keep the
    // arithmetic below far from overflow whatever a receiver sends.
    let in_range = (1..=31).contains(&day)
        && (1970..=9999).contains(&year)
        && (0..=23).contains(h)
        && (0..=59).contains(mi)
        && (0..=60).contains(se);
    if !in_range {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}
