//! Sends outbox rows: claim a bounded run, fetch each, classify, record the
//! run in one batch.

use super::config::Config;
use super::{channels, d1, http, queue};
use crate::api::ApiError;
use crate::db;
use crate::logline::LogLine;
use crate::outbound::outbox::{self, Attempt, Claim, Claimed, Next};
use crate::whatsapp::graph::error::{classify, network_failure, timed_out, Outcome};
use crate::whatsapp::graph::HttpRequest;
use worker::{D1Database, Env};

/// Graph's answer to an attempt, as it came: for a caller that speaks
/// Graph's dialect (`/graph/...`) and passes it through.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

async fn fetch(req: &HttpRequest, timeout_s: u64) -> (Outcome, Option<Answer>) {
    match http::send_within(req, timeout_s).await {
        http::Sent::Answer(mut res) => {
            let status = res.status_code();
            let retry_after = res.headers().get("Retry-After").ok().flatten();
            let body = res.text().await.unwrap_or_default();
            let outcome = classify(status, &body, retry_after.as_deref());
            (outcome, Some(Answer { status, body }))
        }
        http::Sent::Failed(e) => (network_failure(&e), None),
        http::Sent::TimedOut => (timed_out(timeout_s), None),
    }
}

/// One row of a run: its attempt, and Graph's answer when there was one.
#[derive(Debug, Clone)]
pub struct Attempted {
    pub attempt: Attempt,
    pub answer: Option<Answer>,
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
async fn attempt(env: &Env, db: &D1Database, config: &Config, row: &Claimed) -> Attempted {
    let (outcome, answer) = match channels::resolve(env, db, config, &row.phone_number_id).await {
        Err(_) => (
            Outcome::Retry {
                reason: "the channel could not be loaded".into(),
                code: None,
                retry_after_s: None,
            },
            None,
        ),
        Ok(None) => (
            Outcome::Failed {
                reason: "no credential is configured for this channel".into(),
                code: None,
            },
            None,
        ),
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
    Attempted {
        attempt: Attempt {
            id: row.id.clone(),
            phone_number_id: row.phone_number_id.clone(),
            next,
            decided,
        },
        answer,
    }
}

/// Claims up to `limit` rows of `which` due at `now`, sends them and records
/// the results: two D1 batches whatever the number of rows (more only when
/// the destinations change meanwhile, [`record`]). Returns every
/// claimed row's result (`Released` for those not attempted in time).
pub async fn run(
    env: &Env,
    db: &D1Database,
    config: &Config,
    which: &Claim<'_>,
    now: i64,
    limit: i64,
) -> Result<Vec<Attempted>, ApiError> {
    let mut claimed = d1::batch_rows(db, &db::outbox::claim(which, now, limit)).await?;
    let mut rows: Vec<Claimed> = claimed
        .pop()
        .unwrap_or_default()
        .iter()
        .filter_map(db::outbox::claimed)
        .collect();
    rows.sort_by_key(|r| (r.queued_at, r.seq));
    let started = http::now_ms();
    let lanes: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.phone_number_id.as_str(), r.recipient.as_str()))
        .collect();
    let mut decided: Vec<Option<Attempted>> = vec![None; rows.len()];
    let waves = outbox::waves(&lanes, outbox::PARALLEL_SENDS, outbox::PARALLEL_PER_NUMBER);
    for wave in waves {
        if http::now_ms() - started > outbox::RUN_DEADLINE_MS {
            break;
        }
        let sends = wave.iter().filter_map(|&i| {
            let row = rows.get(i)?;
            Some(async move { (i, attempt(env, db, config, row).await) })
        });
        for (i, result) in futures_util::future::join_all(sends).await {
            if let Some(slot) = decided.get_mut(i) {
                *slot = Some(result);
            }
        }
    }
    // Rows claimed but not attempted before the deadline go back.
    let (attempts, answers): (Vec<Attempt>, Vec<Option<Answer>>) = rows
        .iter()
        .zip(decided)
        .map(|(row, d)| match d {
            Some(a) => (a.attempt, a.answer),
            None => (
                Attempt {
                    id: row.id.clone(),
                    phone_number_id: row.phone_number_id.clone(),
                    next: Next::Released,
                    decided: http::now_ms(),
                },
                None,
            ),
        })
        .unzip();
    let forwards = record(db, &rows, &attempts, started).await?;
    super::relay::enqueue(env, &forwards, 0).await;
    // A retry is sent when it is due, not at the next minute's cron.
    let now = http::now_ms();
    let retries = attempts.iter().filter_map(|a| match a.next {
        Next::RetryAt { at_ms, .. } => Some((a.id.as_str(), ((at_ms - now).max(0) + 999) / 1000)),
        _ => None,
    });
    queue::send_each(env, QUEUE, retries).await;
    let attempted = attempts
        .into_iter()
        .zip(answers)
        .map(|(attempt, answer)| Attempted { attempt, answer })
        .collect();
    Ok(attempted)
}

/// The relay sees wa-edge's own sends: `message.sent` / `message.failed`
/// events for a run's settled messages.
fn sent_events(rows: &[Claimed], attempts: &[Attempt]) -> Vec<crate::relay::events::Event> {
    rows.iter()
        .zip(attempts)
        .filter(|(row, _)| row.kind == "message")
        .filter_map(|(_, a)| {
            let ok = match a.next {
                Next::Sent { .. } => true,
                Next::Failed { .. } => false,
                _ => return None,
            };
            Some(crate::relay::events::of_send(
                &a.id,
                &a.phone_number_id,
                ok,
                a.decided / 1000,
            ))
        })
        .collect()
}

/// Records a run's `attempts` in one batch with the relay's events of its
/// settled messages, and returns the forwards to queue now they are
/// committed. The batch is guarded as a delivery's is ([`db::guard`]):
/// when the destinations changed after this isolate read them, it
/// reloads them and records again, so a destination added, removed or
/// refiltered through another isolate holds for the next send.
///
/// The sends are done, so their outcomes are recorded whatever the guard
/// says: after [`db::guard::FRESH_TRIES`]` - 1` refusals, or when a guarded
/// try fails, unguarded with the destinations D1 has; when even that
/// fails, the outcomes alone, without their events.
async fn record(
    db: &D1Database,
    rows: &[Claimed],
    attempts: &[Attempt],
    started: i64,
) -> Result<Vec<String>, ApiError> {
    let sent = sent_events(rows, attempts);
    if sent.is_empty() {
        d1::batch(db, &db::outbox::record(attempts, started)).await?;
        return Ok(Vec::new());
    }
    let with_events = |destinations: &[crate::relay::destination::Destination]| {
        let mut statements = db::outbox::record(attempts, started);
        let forwards = crate::relay::route::for_events(&sent, destinations);
        if crate::relay::route::keeps(destinations) {
            db::relay::store_events(&mut statements, &sent, started);
            db::relay::create_forwards(&mut statements, &forwards, false, started);
        }
        let ids: Vec<String> = forwards.into_iter().map(|f| f.id).collect();
        (statements, ids)
    };
    for _ in 1..db::guard::FRESH_TRIES {
        let Ok(destinations) = super::cache::destinations(db).await else {
            break;
        };
        let (statements, forwards) = with_events(&destinations.all);
        let guard = db::guard::delivery(&[], destinations.version.as_deref());
        let batch: Vec<&db::Stmt> = std::iter::once(&guard).chain(&statements).collect();
        match d1::batch_guarded(db, &batch, &[db::guard::DESTINATIONS_CHANGED]).await {
            Ok(d1::Guarded::Done) => return Ok(forwards),
            Ok(d1::Guarded::Tripped(_)) => super::cache::forget_destinations(),
            Err(_) => break,
        }
    }
    http::log(LogLine::warn("outbox.record_unguarded"));
    if let Ok(destinations) = super::cache::destinations(db).await {
        let (statements, forwards) = with_events(&destinations.all);
        if d1::batch(db, &statements).await.is_ok() {
            return Ok(forwards);
        }
    }
    http::log(LogLine::warn("outbox.events_dropped"));
    d1::batch(db, &db::outbox::record(attempts, started)).await?;
    Ok(Vec::new())
}

/// The queue that carries outbox rows due later.
pub const QUEUE: &str = "OUTBOX";

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
        http::log(LogLine::warn("outbox.run_failed"));
    }
}

/// Sends rows a request just queued once its response is out (`wait_until`).
pub fn after_response(ctx: &worker::Context, env: &Env, config: &Config, ids: Vec<String>) {
    let (env, config) = (env.clone(), config.clone());
    ctx.wait_until(async move { deliver_queued(&env, &config, ids).await });
}

/// Sends rows a request just queued, after its response: the first
/// [`outbox::AFTER_RESPONSE_MAX`] here, the rest on the `OUTBOX` queue (or,
/// without it, by the cron).
async fn deliver_queued(env: &Env, config: &Config, mut ids: Vec<String>) {
    let rest = ids.split_off(ids.len().min(outbox::AFTER_RESPONSE_MAX as usize));
    queue::send(env, QUEUE, &rest, 0).await;
    let Ok(db) = d1::database(env) else {
        return;
    };
    let which = Claim::Ids(&ids);
    let limit = outbox::AFTER_RESPONSE_MAX;
    if run(env, &db, config, &which, http::now_ms(), limit)
        .await
        .is_err()
    {
        http::log(LogLine::warn("outbox.run_failed"));
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
    let attempted = run(env, db, config, &Claim::Due, now_ms, outbox::CRON_BATCH).await?;
    Ok(attempted
        .iter()
        .filter(|a| a.attempt.next != Next::Released)
        .count())
}
