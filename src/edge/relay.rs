//! Forwarding: forwards are queued on `FORWARD` after the batch that
//! created them commits; the queue's consumer claims, builds, signs and
//! sends each, and records the answer; the cron sweeps up forwards whose
//! queue message was lost and prunes what is past its retention.

use super::handlers::media;
use super::queue::Job;
use super::{d1, http};
use crate::api::{self, ApiError};
use crate::db;
use crate::db::reads::{decode, ContactRow, EventRow};
use crate::logline::LogLine;
use crate::relay::destination::{Destination, Format};
use crate::relay::events::{envelope, Ref};
use crate::relay::route::Source;
use crate::relay::schedule::{self, Answer, Next};
use crate::relay::{filter, sign};
use crate::whatsapp::graph::HttpRequest;
use serde_json::Value;
use std::collections::BTreeMap;
use worker::{D1Database, Env, MessageBatch};

/// The queue binding forwards travel on.
pub const QUEUE: &str = "FORWARD";
/// Most forwards one sweep re-queues.
const SWEEP_LIMIT: i64 = 200;
/// Most kept bodies in R2 one sweep deletes past the retention.
const PRUNE_R2_LIMIT: i64 = 200;

/// Queues forwards to be attempted in `delay_s` seconds. `false` when the
/// queue refused (the sweep will find them).
pub async fn enqueue(env: &Env, ids: &[String], delay_s: i64) -> bool {
    super::queue::send(env, QUEUE, ids, delay_s).await
}

/// A destination with the secrets it signs with.
struct Signing {
    destination: Destination,
    secret: String,
    previous: Option<String>,
}

fn signing(row: &Value, now_ms: i64) -> Option<Signing> {
    let destination = db::relay::destination_from_row(row)?;
    let secret = row.get("secret")?.as_str()?.to_owned();
    let previous = row
        .get("previous_secret")
        .and_then(Value::as_str)
        .filter(|_| {
            row.get("previous_until")
                .and_then(Value::as_f64)
                .is_some_and(|u| u as i64 > now_ms)
        })
        .map(str::to_owned);
    Some(Signing {
        destination,
        secret,
        previous,
    })
}

/// A claimed forward.
struct Claimed {
    id: String,
    destination_id: String,
    source: String,
    attempts: u32,
}

/// Attempts the forwards `ids` (the queue's consumer, or the sweep without
/// a queue): claims the due ones, sends each destination's in turn and the
/// destinations side by side, records the answers in one batch, and queues
/// the retries.
pub async fn attempt_all(
    env: &Env,
    db: &D1Database,
    ids: &[String],
    now: i64,
) -> Result<usize, ApiError> {
    let claims: Vec<_> = ids.iter().map(|id| db::relay::claim(id, now)).collect();
    let claimed: Vec<Claimed> = d1::batch_rows(db, &claims)
        .await?
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(Claimed {
                id: r.get("id")?.as_str()?.to_owned(),
                destination_id: r.get("destination_id")?.as_str()?.to_owned(),
                source: r.get("source")?.as_str()?.to_owned(),
                attempts: r.get("attempts")?.as_f64()? as u32,
            })
        })
        .collect();
    let mut by_destination: BTreeMap<String, Vec<Claimed>> = BTreeMap::new();
    for c in claimed {
        by_destination
            .entry(c.destination_id.clone())
            .or_default()
            .push(c);
    }
    let runs = by_destination
        .into_iter()
        .map(|(dest, jobs)| attempt_destination(env, db, dest, jobs, now));
    let outcomes: Vec<db::relay::Outcome> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    if outcomes.is_empty() {
        return Ok(0);
    }
    d1::batch(db, &db::relay::record(&outcomes, now)).await?;
    let retries = outcomes.iter().filter(|o| o.state == "retrying").map(|o| {
        let delay = ((o.next_attempt_at - now) / 1000).clamp(0, schedule::MAX_DELAY_S);
        (o.id.as_str(), delay)
    });
    super::queue::send_each(env, QUEUE, retries).await;
    let count = |s: &str| outcomes.iter().filter(|o| o.state == s).count();
    http::log(
        LogLine::new("relay.attempted")
            .count("delivered", count("delivered"))
            .count("retrying", count("retrying"))
            .count("dead", count("dead")),
    );
    Ok(outcomes.len())
}

/// One destination's forwards, one after another.
async fn attempt_destination(
    env: &Env,
    db: &D1Database,
    destination: String,
    jobs: Vec<Claimed>,
    now: i64,
) -> Vec<db::relay::Outcome> {
    let row = d1::rows(db, &db::relay::get(&destination)).await.ok();
    let found = row
        .as_ref()
        .and_then(|r| r.first())
        .and_then(|r| signing(r, now));
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let outcome = match &found {
            Some(s) if s.destination.enabled => attempt(env, db, s, &job, now).await,
            _ => finished(
                &job,
                "dead",
                now,
                "the destination is disabled or gone".into(),
            ),
        };
        let gone = outcome.disable.is_some();
        out.push(outcome);
        if gone {
            break;
        }
    }
    out
}

fn finished(job: &Claimed, state: &'static str, now: i64, error: String) -> db::relay::Outcome {
    db::relay::Outcome {
        id: job.id.clone(),
        destination_id: job.destination_id.clone(),
        state,
        next_attempt_at: now,
        status: None,
        error: Some(error),
        latency_ms: None,
        disable: None,
    }
}

/// Builds, signs and sends one forward, and decides what happens next.
async fn attempt(
    env: &Env,
    db: &D1Database,
    s: &Signing,
    job: &Claimed,
    now: i64,
) -> db::relay::Outcome {
    let built = match build(env, db, s, job).await {
        Ok(Some(req)) => req,
        // Nothing left to send (filtered out since, or erased).
        Ok(None) => {
            let mut o = finished(job, "delivered", now, "nothing to send".into());
            o.error = None;
            return o;
        }
        Err(_) => {
            let next = schedule::next(job.attempts, Answer::NoAnswer, None, jitter());
            let error = Some("the forward could not be built".into());
            return outcome(job, next, now, None, error, None);
        }
    };
    let started = http::now_ms();
    let sent = http::send_within(&built, schedule::SEND_TIMEOUT_S).await;
    let latency = http::now_ms() - started;
    let (answer, retry_after) = match &sent {
        http::Sent::Answer(res) => {
            let after = res
                .headers()
                .get("Retry-After")
                .ok()
                .flatten()
                .and_then(|h| schedule::retry_after(&h, http::now_ms() / 1000));
            (Answer::Status(res.status_code()), after)
        }
        http::Sent::Failed(_) | http::Sent::TimedOut => (Answer::NoAnswer, None),
    };
    let next = schedule::next(job.attempts, answer, retry_after, jitter());
    let status = match answer {
        Answer::Status(code) => Some(code),
        Answer::NoAnswer => None,
    };
    let error = match (&sent, answer) {
        (_, Answer::Status(200..=299)) => None,
        (http::Sent::TimedOut, _) => Some("no answer in time".to_owned()),
        (http::Sent::Failed(_), _) => Some("the connection failed".to_owned()),
        (_, Answer::Status(code)) => Some(format!("HTTP {code}")),
        (_, Answer::NoAnswer) => Some("no answer".to_owned()),
    };
    outcome(job, next, now, status, error, Some(latency))
}

fn outcome(
    job: &Claimed,
    next: Next,
    now: i64,
    status: Option<u16>,
    error: Option<String>,
    latency_ms: Option<i64>,
) -> db::relay::Outcome {
    let (state, next_at, error, disable) = match next {
        Next::Delivered => ("delivered", now, None, None),
        Next::Retry(s) => ("retrying", now + s * 1000, error, None),
        Next::Dead(why) => ("dead", now, Some(why), None),
        Next::Gone => (
            "dead",
            now,
            Some("the receiver answered 410 Gone".to_owned()),
            Some("the receiver answered 410 Gone".to_owned()),
        ),
    };
    db::relay::Outcome {
        id: job.id.clone(),
        destination_id: job.destination_id.clone(),
        state,
        next_attempt_at: next_at,
        status,
        error,
        latency_ms,
        disable,
    }
}

fn jitter() -> u8 {
    http::random::<1>().map_or(128, |b| b[0])
}

/// The request of one forward, or `None` when there is nothing to send.
async fn build(
    env: &Env,
    db: &D1Database,
    s: &Signing,
    job: &Claimed,
) -> Result<Option<HttpRequest>, ApiError> {
    let d = &s.destination;
    let mut headers = vec![
        ("Content-Type", "application/json".to_owned()),
        ("User-Agent", "wa-edge-relay".to_owned()),
    ];
    let body = match (Source::parse(&job.source), d.format) {
        (Some(Source::Delivery(id)), Format::Meta) => {
            let Some(raw) = kept_body(env, db, &id).await? else {
                return Ok(None);
            };
            let Some(body) = filter::meta_body(&raw, &d.filter) else {
                return Ok(None);
            };
            headers.push(("X-Hub-Signature-256", sign::meta(&s.secret, &body)));
            body.into_owned()
        }
        (Some(Source::Event(id)), Format::Events) => {
            let Some((kind, at, data)) = event_data(env, db, &id).await? else {
                return Ok(None);
            };
            let body = serde_json::to_vec(&envelope(&id, &kind, at, data))
                .map_err(|_| ApiError::internal())?;
            let ts = http::now_ms() / 1000;
            let signatures: Vec<String> = std::iter::once(&s.secret)
                .chain(s.previous.as_ref())
                .filter_map(|secret| sign::standard(secret, &job.id, ts, &body))
                .collect();
            headers.push(("webhook-id", job.id.clone()));
            headers.push(("webhook-timestamp", ts.to_string()));
            headers.push(("webhook-signature", signatures.join(" ")));
            body
        }
        _ => return Ok(None),
    };
    Ok(Some(HttpRequest {
        method: "POST",
        url: d.url.clone(),
        headers,
        body: Some(body),
    }))
}

/// A kept delivery's bytes exactly as they arrived.
async fn kept_body(env: &Env, db: &D1Database, id: &str) -> Result<Option<Vec<u8>>, ApiError> {
    let mut rows = d1::batch_rows(db, &db::relay::delivery_body(id))
        .await?
        .into_iter();
    let row = rows.next().unwrap_or_default();
    let parts = rows.next().unwrap_or_default();
    match row.first() {
        Some(row) => Ok(Some(delivery_bytes(env, db, row, Some(&parts)).await?)),
        None => Ok(None),
    }
}

/// The bytes of a `deliveries` row (`raw`, `raw_encoding`, `raw_ref`): its
/// raw column, or when spilled its `parts` (read here when not given) or
/// its R2 object.
pub(crate) async fn delivery_bytes(
    env: &Env,
    db: &D1Database,
    row: &Value,
    parts: Option<&[Value]>,
) -> Result<Vec<u8>, ApiError> {
    let text = match row.get("raw_ref").and_then(Value::as_str) {
        Some(r) => {
            let fetched;
            let parts = match parts {
                Some(p) => p,
                None => {
                    let id = row.get("id").and_then(Value::as_str).unwrap_or_default();
                    fetched = d1::batch_rows(db, &db::relay::delivery_body(id)).await?;
                    fetched.get(1).map_or(&[][..], Vec::as_slice)
                }
            };
            crate::edge::handlers::read::spilled_raw(env, r, parts).await?
        }
        None => row
            .get("raw")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    let encoding = row.get("raw_encoding").and_then(Value::as_str);
    Ok(api::raw_body(encoding, text).1)
}

/// An event's type, time and data: the read-API view of what it names.
async fn event_data(
    env: &Env,
    db: &D1Database,
    id: &str,
) -> Result<Option<(String, i64, Value)>, ApiError> {
    let rows = d1::rows(db, &db::relay::event(id)).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let kind = row
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let at = row.get("at").and_then(Value::as_f64).unwrap_or(0.0) as i64;
    let what = row
        .get("ref")
        .and_then(Value::as_str)
        .and_then(|r| serde_json::from_str(r).ok())
        .and_then(|v: Value| Ref::from_json(&v));
    let data = match what {
        Some(Ref::Message(m)) => match crate::edge::handlers::read::message(db, env, &m).await {
            Ok(view) => view,
            Err(e) if e.status == 404 => return Ok(None),
            Err(e) => return Err(e),
        },
        Some(Ref::Status { wamid, status }) => {
            let view = match crate::edge::handlers::read::message(db, env, &wamid).await {
                Ok(view) => view,
                Err(e) if e.status == 404 => return Ok(None),
                Err(e) => return Err(e),
            };
            let entry = view
                .get("statuses")
                .and_then(Value::as_array)
                .and_then(|s| s.iter().find(|e| e["status"].as_str() == Some(&status)))
                .cloned();
            let Some(mut entry) = entry else {
                return Ok(None);
            };
            if let Some(obj) = entry.as_object_mut() {
                let of = |k: &str| view.get(k).cloned().unwrap_or(Value::Null);
                obj.insert("message_id".into(), of("id"));
                obj.insert("phone_number_id".into(), of("phone_number_id"));
            }
            entry
        }
        Some(Ref::Contact(who)) => {
            let Some(r) = crate::whatsapp::identity::ContactRef::parse(&who) else {
                return Ok(None);
            };
            let rows = d1::rows(db, &db::reads::get_contact(&r)).await?;
            match decode::<ContactRow>(&rows).first() {
                Some(c) => api::contact_json(c),
                None => return Ok(None),
            }
        }
        Some(Ref::Event(e)) => {
            let rows = d1::rows(db, &db::reads::get_event(&e)).await?;
            match decode::<EventRow>(&rows).first() {
                Some(ev) => api::event_json(ev),
                None => return Ok(None),
            }
        }
        None => return Ok(None),
    };
    Ok(Some((kind, at, data)))
}

/// The queue's consumer.
pub async fn consume(batch: MessageBatch<Job>, env: &Env) {
    let ids: Vec<String> = match batch.messages() {
        Ok(messages) => messages.iter().map(|m| m.body().id.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    let result = match d1::database(env) {
        Ok(db) => attempt_all(env, &db, &ids, http::now_ms()).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        http::log(LogLine::warn("relay.consume_failed"));
        // D1 was not reached: the claims did not happen, so the sweep
        // finds these forwards due.
    }
    batch.ack_all();
}

/// The cron's part: interrupted attempts due again, forwards overdue (their
/// queue message lost) attempted here as of `now_ms`, old bodies pruned.
pub async fn sweep(
    env: &Env,
    db: &D1Database,
    now_ms: i64,
    retention_days: i64,
) -> Result<usize, ApiError> {
    let mut rows = d1::batch_rows(db, &db::relay::sweep(now_ms, SWEEP_LIMIT))
        .await?
        .into_iter();
    let due: Vec<String> = rows
        .nth(1)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.get("id")?.as_str().map(str::to_owned))
        .collect();
    // The retention does not wait on receivers: pruning first, a sweep cut
    // short by slow ones (or failing) still drops what is past it.
    prune(env, db, now_ms - retention_days * 86_400_000).await?;
    if !due.is_empty() {
        attempt_all(env, db, &due, now_ms).await?;
    }
    Ok(due.len())
}

/// Drops what is older than `before_ms`. Kept bodies in R2 lose their
/// objects first (in one call) and their rows after, at most
/// [`PRUNE_R2_LIMIT`] a sweep; when R2 refuses (or no bucket is bound) the
/// rows stay for the next sweep, so no object outlives the row that names
/// it.
async fn prune(env: &Env, db: &D1Database, before_ms: i64) -> Result<(), ApiError> {
    let in_r2 = d1::rows(db, &db::relay::expired_in_r2(before_ms, PRUNE_R2_LIMIT)).await?;
    let (ids, keys): (Vec<String>, Vec<String>) = in_r2
        .iter()
        .filter_map(|row| {
            let id = row.get("id")?.as_str()?;
            let key = db::ingest::r2_key(row.get("raw_ref")?.as_str()?)?;
            Some((id.to_owned(), key.to_owned()))
        })
        .unzip();
    let mut removed = Vec::new();
    if !keys.is_empty() {
        match env.bucket(media::BUCKET) {
            Ok(bucket) => match media::delete_objects(&bucket, &keys).await {
                Ok(()) => removed = ids,
                Err(_) => http::log(LogLine::warn("relay.prune_r2_delete_failed")),
            },
            Err(_) => http::log(LogLine::warn("relay.prune_no_bucket").count("kept", keys.len())),
        }
    }
    d1::batch(db, &db::relay::prune(before_ms, &removed)).await
}
