//! Cloudflare Queues, as wa-edge uses them: a job names one row (a forward
//! on `FORWARD`, an outbox row on `OUTBOX`); the row in D1 is the truth, so
//! a lost message only delays a row until the cron's sweep finds it.

use super::http;
use crate::logline::LogLine;
use serde::{Deserialize, Serialize};
use worker::{Env, MessageBuilder};

/// A queue message: the row to attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
}

/// Longest delay Queues accept (12 hours).
const MAX_DELAY_S: i64 = 43_200;
/// Most messages one `sendBatch` carries.
const BATCH: usize = 100;

/// Puts one job per id on `binding`, each delivered in `delay_s` seconds.
/// `false` when the binding is missing or refused (the sweep finds the rows).
pub async fn send(env: &Env, binding: &str, ids: &[String], delay_s: i64) -> bool {
    send_each(env, binding, ids.iter().map(|id| (id.as_str(), delay_s))).await
}

/// Puts one job per `(id, delay in seconds)` on `binding`, in batches of
/// [`BATCH`] (one `sendBatch` each, whatever the delays). `false` when the
/// binding is missing or refused.
pub async fn send_each<'a>(
    env: &Env,
    binding: &str,
    jobs: impl IntoIterator<Item = (&'a str, i64)>,
) -> bool {
    let messages: Vec<_> = jobs
        .into_iter()
        .map(|(id, delay_s)| {
            MessageBuilder::new(Job { id: id.to_owned() })
                .delay_seconds(delay_s.clamp(0, MAX_DELAY_S) as u32)
                .build()
        })
        .collect();
    if messages.is_empty() {
        return true;
    }
    let Ok(queue) = env.queue(binding) else {
        return false;
    };
    let mut messages = messages.into_iter().peekable();
    while messages.peek().is_some() {
        let chunk: Vec<_> = messages.by_ref().take(BATCH).collect();
        let n = chunk.len();
        if queue.send_batch(chunk).await.is_err() {
            http::log(
                LogLine::warn("queue.send_failed")
                    .kind("queue", binding_kind(binding))
                    .count("jobs", n),
            );
            return false;
        }
    }
    true
}

fn binding_kind(binding: &str) -> &'static str {
    match binding {
        "FORWARD" => "forward",
        "OUTBOX" => "outbox",
        _ => "other",
    }
}
