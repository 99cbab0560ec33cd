//! Sends outbox rows: claim a bounded run, fetch each, classify, record the
//! run in one batch.

use super::config::Config;
use super::{channels, d1, http};
use crate::api::ApiError;
use crate::db;
use crate::logline::LogLine;
use crate::outbound::outbox::{self, Claim, Claimed, Next};
use crate::whatsapp::graph::error::{classify, network_failure, timed_out, Outcome};
use crate::whatsapp::graph::HttpRequest;
use worker::{D1Database, Env};

async fn fetch(req: &HttpRequest, timeout_s: u64) -> Outcome {
    match http::send_within(req, timeout_s).await {
        http::Sent::Answer(mut res) => {
            let status = res.status_code();
            let retry_after = res.headers().get("Retry-After").ok().flatten();
            let body = res.text().await.unwrap_or_default();
            classify(status, &body, retry_after.as_deref())
        }
        http::Sent::Failed(e) => network_failure(&e),
        http::Sent::TimedOut => timed_out(timeout_s),
    }
}

fn outcome_kind(next: &Next) -> &'static str {
    match next {
        Next::Sent { .. } => "sent",
        Next::RetryAt { .. } => "retry",
        Next::Failed { auth: true, .. } => "auth_failed",
        Next::Failed { .. } => "failed",
        Next::Unknown { .. } => "unknown",
        Next::Released => "released",
    }
}

/// Attempts one claimed row and decides its next state, and when.
async fn attempt(env: &Env, db: &D1Database, config: &Config, row: &Claimed) -> (Next, i64) {
    let outcome = match channels::resolve(env, db, config, &row.phone_number_id).await {
        Err(_) => Outcome::Retry {
            reason: "the channel could not be loaded".into(),
            code: None,
            retry_after_s: None,
        },
        Ok(None) => Outcome::Failed {
            reason: "no credential is configured for this channel".into(),
            code: None,
        },
        Ok(Some(channels::Resolved { endpoint, .. })) => {
            let request = if row.kind == "mark_read" {
                let field = |key: &str| row.payload.get(key);
                endpoint.mark_read(
                    field("message_id")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default(),
                    field("typing").and_then(|v| v.as_bool()).unwrap_or(false),
                )
            } else {
                endpoint.send_message(&outbox::with_callback(&row.payload, &row.id))
            };
            fetch(&request, config.send_timeout_s).await
        }
    };
    let decided = http::now_ms();
    let next = outbox::next(row.attempt, outcome, decided, row.idempotent());
    http::log(
        LogLine::new("outbox.attempt")
            .kind("outcome", outcome_kind(&next))
            .count("attempt", row.attempt as usize),
    );
    (next, decided)
}

/// Claims up to `limit` rows of `which` due at `now`, sends them and records
/// the results: two D1 batches whatever the number of rows. Returns how
/// many were attempted.
pub async fn run(
    env: &Env,
    db: &D1Database,
    config: &Config,
    which: &Claim<'_>,
    now: i64,
    limit: i64,
) -> Result<usize, ApiError> {
    let mut claimed = d1::batch_rows(db, &db::outbox::claim(which, now, limit)).await?;
    let rows: Vec<Claimed> = claimed
        .pop()
        .unwrap_or_default()
        .iter()
        .filter_map(db::outbox::claimed)
        .collect();
    let started = http::now_ms();
    let mut results = Vec::with_capacity(rows.len());
    for row in &rows {
        let (next, decided) = if http::now_ms() - started > outbox::RUN_DEADLINE_MS {
            (Next::Released, http::now_ms())
        } else {
            attempt(env, db, config, row).await
        };
        results.push((row.id.clone(), row.phone_number_id.clone(), next, decided));
    }
    let mut statements = db::outbox::record(&results, started);
    // The relay sees wa-edge's own sends: message.sent / message.failed.
    let sent: Vec<crate::relay::events::Event> = rows
        .iter()
        .zip(&results)
        .filter(|(row, _)| row.kind == "message")
        .filter_map(|(_, (id, pnid, next, at))| {
            let ok = match next {
                Next::Sent { .. } => true,
                Next::Failed { .. } => false,
                _ => return None,
            };
            Some(crate::relay::events::of_send(id, pnid, ok, at / 1000))
        })
        .collect();
    let mut forwards = Vec::new();
    if !sent.is_empty() {
        let destinations = super::cache::destinations(db).await?;
        forwards = crate::relay::route::for_events(&sent, &destinations);
        db::relay::store_events(&mut statements, &sent, started);
        db::relay::create_forwards(&mut statements, &forwards, false, started);
    }
    d1::batch(db, &statements).await?;
    let ids: Vec<String> = forwards.into_iter().map(|f| f.id).collect();
    super::relay::enqueue(env, &ids, 0).await;
    // A retry is sent when it is due, not at the next minute's cron.
    for (id, _, next, _) in &results {
        if let Next::RetryAt { at_ms, .. } = next {
            let delay = ((at_ms - http::now_ms()).max(0) + 999) / 1000;
            schedule_at(env, id, delay).await;
        }
    }
    Ok(results
        .iter()
        .filter(|(_, _, n, _)| *n != Next::Released)
        .count())
}

/// The queue that carries outbox rows due later.
pub const QUEUE: &str = "OUTBOX";

/// Queues outbox row `id` to be sent in `delay_s` seconds; without the
/// queue (or when it refuses) the cron sends it.
async fn schedule_at(env: &Env, id: &str, delay_s: i64) {
    let Ok(queue) = env.queue(QUEUE) else {
        return;
    };
    let job = crate::edge::relay::Job { id: id.to_owned() };
    let message = worker::MessageBuilder::new(job)
        .delay_seconds(delay_s.clamp(0, 43_200) as u32)
        .build();
    if queue.send(message).await.is_err() {
        http::log(LogLine::new("outbox.enqueue_failed"));
    }
}

/// The `OUTBOX` queue's consumer: sends the rows it carries that are due.
pub async fn consume(env: &Env, config: &Config, ids: Vec<String>) {
    let Ok(db) = d1::database(env) else {
        return;
    };
    let which = Claim::Ids(&ids);
    if run(env, &db, config, &which, http::now_ms(), outbox::CRON_BATCH)
        .await
        .is_err()
    {
        http::log(LogLine::new("outbox.run_failed"));
    }
}

/// Sends rows a request just queued once its response is out (`wait_until`).
pub fn after_response(ctx: &worker::Context, env: &Env, config: &Config, ids: Vec<String>) {
    let (env, config) = (env.clone(), config.clone());
    ctx.wait_until(async move { deliver_queued(&env, &config, ids).await });
}

/// Sends rows a request just queued, after its response; at most
/// [`outbox::AFTER_RESPONSE_MAX`] of them (the cron sends the rest).
async fn deliver_queued(env: &Env, config: &Config, ids: Vec<String>) {
    let Ok(db) = d1::database(env) else {
        return;
    };
    let which = Claim::Ids(&ids);
    let limit = outbox::AFTER_RESPONSE_MAX;
    if run(env, &db, config, &which, http::now_ms(), limit)
        .await
        .is_err()
    {
        http::log(LogLine::new("outbox.run_failed"));
    }
}

/// Sends everything due at `now_ms` (up to [`outbox::CRON_BATCH`] rows);
/// called by the cron trigger.
pub async fn run_due(
    env: &Env,
    db: &D1Database,
    config: &Config,
    now_ms: i64,
) -> Result<usize, ApiError> {
    d1::rows(db, &db::outbox::expire_leases(now_ms)).await?;
    run(env, db, config, &Claim::Due, now_ms, outbox::CRON_BATCH).await
}
