//! Sends outbox rows: claim, fetch, classify, record.

use super::config::Config;
use super::{channels, d1, http};
use crate::api::ApiError;
use crate::graph::error::{classify, network_failure, Outcome};
use crate::graph::HttpRequest;
use crate::logline::LogLine;
use crate::outbox::{self, Next};
use crate::send;
use serde_json::Value;
use worker::{D1Database, Env};

/// Rows one cron run attempts at most.
const CRON_BATCH: i64 = 50;

async fn fetch(req: &HttpRequest) -> Outcome {
    match http::send(req).await {
        Ok(mut res) => {
            let status = res.status_code();
            let retry_after = res.headers().get("Retry-After").ok().flatten();
            let body = res.text().await.unwrap_or_default();
            classify(status, &body, retry_after.as_deref())
        }
        Err(e) => network_failure(&e),
    }
}

fn outcome_kind(next: &Next) -> &'static str {
    match next {
        Next::Sent { .. } => "sent",
        Next::RetryAt { .. } => "retry",
        Next::Failed { auth: true, .. } => "auth_failed",
        Next::Failed { .. } => "failed",
    }
}

/// Attempts outbox row `id` if it is due at `now` and nobody else holds it.
pub async fn deliver(
    env: &Env,
    db: &D1Database,
    config: &Config,
    id: &str,
    now: i64,
) -> Result<(), ApiError> {
    let rows = d1::rows(db, &send::claim(id, now)).await?;
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let pnid = row["phone_number_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let attempts = row["attempts"].as_f64().unwrap_or(1.0) as i64;
    let payload: Value = row["payload"]
        .as_str()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let outcome = match channels::resolve(env, db, config, &pnid).await? {
        None => Outcome::Failed {
            reason: "no credential is configured for this channel".into(),
            code: None,
        },
        Some(channels::Resolved { endpoint, .. }) => {
            let request = if row["kind"].as_str() == Some("mark_read") {
                endpoint.mark_read(
                    payload["message_id"].as_str().unwrap_or_default(),
                    payload["typing"].as_bool().unwrap_or(false),
                )
            } else {
                endpoint.send_message(&payload)
            };
            fetch(&request).await
        }
    };
    let now = now.max(http::now_ms());
    let next = outbox::next(attempts, outcome, now);
    http::log(
        LogLine::new("outbox.attempt")
            .kind("outcome", outcome_kind(&next))
            .count("attempt", attempts as usize),
    );
    d1::batch(db, &send::record(id, &pnid, &next, now)).await
}

/// Sends everything due at `now_ms`; called by the cron trigger.
pub async fn run_due(
    env: &Env,
    db: &D1Database,
    config: &Config,
    now_ms: i64,
) -> Result<usize, ApiError> {
    d1::rows(db, &send::expire_leases(now_ms)).await?;
    let due = d1::rows(db, &send::due(now_ms, CRON_BATCH)).await?;
    for row in &due {
        if let Some(id) = row["id"].as_str() {
            deliver(env, db, config, id, now_ms).await?;
        }
    }
    Ok(due.len())
}
