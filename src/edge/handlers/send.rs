//! `POST /v1/messages`: validate, check the window and opt-out, store in the
//! outbox, answer 202, and send after the response.

use crate::api::ApiError;
use crate::channels::LimitRefusal;
use crate::edge::config::Config;
use crate::edge::{channels, d1, delivery, http};
use crate::logline::LogLine;
use crate::outbound::send::{self, Enqueue};
use crate::whatsapp::window;
use serde_json::json;
use worker::{Context, Env, Request, Response};

fn random_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::internal())?;
    Ok(send::new_id(bytes))
}

/// `POST /v1/messages`.
pub async fn send(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: Config,
) -> Result<Response, ApiError> {
    let body = http::read_body_capped(req, send::MAX_SEND_BODY).await?;
    let request = send::parse(&body)?;
    let pnid = request
        .from
        .clone()
        .or_else(|| config.phone_number_id.clone())
        .ok_or_else(|| {
            ApiError::new(
                400,
                "no_channel",
                "No channel to send from: pass \"from\" or set WHATSAPP_PHONE_NUMBER_ID.",
            )
        })?;
    let db = d1::database(env)?;
    let channel = channels::resolve(env, &db, &config, &pnid)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                400,
                "unknown_channel",
                "from: no channel with this phone number id has a credential configured.",
            )
        })?
        .channel;
    let idem_key = send::idempotency_key(
        req.headers()
            .get("Idempotency-Key")
            .ok()
            .flatten()
            .as_deref(),
    )?;
    let hash = send::request_hash(&body);
    // One round trip for every pre-check: opt-out, window, idempotency.
    let mut lookups = vec![
        send::opt_out_lookup(&request.to, &pnid),
        send::window_lookup(&request.to, &pnid),
    ];
    lookups.extend(idem_key.as_deref().map(send::by_dedupe_key));
    let mut checks = d1::batch_rows(&db, &lookups).await?.into_iter();
    let opted_out = !checks.next().unwrap_or_default().is_empty();
    let window_rows = checks.next().unwrap_or_default();
    if let Some(done) = checks.next().unwrap_or_default().first() {
        return replay(done, &hash);
    }
    if opted_out {
        return Err(ApiError::new(
            409,
            "opted_out",
            "The recipient has opted out of this channel (STOP); nothing is sent until they send START.",
        ));
    }
    let last_inbound = window_rows
        .first()
        .and_then(|r| r["last_inbound_at"].as_f64())
        .map(|t| t as i64);
    let now = http::now_ms();
    let template = !crate::whatsapp::message::is_free_form(&request.message);
    if !template && !window::is_open(last_inbound, now / 1000) {
        return Err(ApiError::new(
            409,
            "outside_window",
            "The 24-hour customer-service window with this contact is closed (no message from them \
             in the last 24 hours on this number): only template messages can be sent.",
        ));
    }
    if template {
        check_template(&db, &channel, &request.message).await?;
    }
    if channel.test_number || (template && channel.limit().is_some()) {
        let since = now - window::WINDOW_SECONDS * 1000;
        let rows = d1::rows(
            &db,
            &crate::channels::sql::recipients_since(&pnid, &request.to, since),
        )
        .await?;
        let number = |key: &str| {
            rows.first()
                .and_then(|r| r.get(key))
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0)
        };
        let count = number("n") as i64;
        let counted = number("counted") > 0.0;
        match crate::channels::check_limits(&channel, &request.to, template, count, counted) {
            Ok(()) => {}
            Err(LimitRefusal::NotATestRecipient) => {
                return Err(ApiError::new(
                    403,
                    "recipient_not_allowed",
                    "This channel is a test number: it can only message its test_recipients.",
                ))
            }
            Err(LimitRefusal::TierReached { limit }) => {
                return Err(ApiError::new(
                    429,
                    "messaging_limit_reached",
                    format!(
                        "The channel reached its messaging limit of {limit} unique recipients of \
                         business-initiated messages in 24 hours."
                    ),
                ))
            }
        }
    }
    let enqueue = Enqueue {
        id: random_id()?,
        phone_number_id: pnid,
        wa_id: request.to.clone(),
        kind: "message",
        payload: request.message,
        source: "api".into(),
        dedupe_key: idem_key.clone(),
        request_hash: Some(hash.clone()),
    };
    d1::batch(
        &db,
        &send::enqueue_statements(std::slice::from_ref(&enqueue), now),
    )
    .await?;
    if let Some(key) = &idem_key {
        // A concurrent request with the same key may have won the insert.
        if let Some(winner) = d1::rows(&db, &send::by_dedupe_key(key)).await?.first() {
            if winner["id"].as_str() != Some(enqueue.id.as_str()) {
                return replay(winner, &hash);
            }
        }
    }
    http::log(LogLine::new("send.queued").kind("source", "api"));
    let ids = vec![enqueue.id.clone()];
    let env = env.clone();
    ctx.wait_until(async move { delivery::deliver_queued(&env, &config, ids).await });
    http::json(202, &json!({"id": enqueue.id, "status": "queued"}))
}

/// The answer to a repeated `Idempotency-Key`: the first request's result,
/// or 409 when the key was used for a different request.
fn replay(row: &serde_json::Value, hash: &str) -> Result<Response, ApiError> {
    if row["request_hash"].as_str() != Some(hash) {
        return Err(ApiError::new(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request.",
        ));
    }
    let status = crate::outbound::outbox::shown_state(row["state"].as_str());
    http::json(202, &json!({"id": row["id"], "status": status}))
}

/// Checks a template send against the synced template, when there is one:
/// it must be approved and get one parameter per variable.
async fn check_template(
    db: &worker::D1Database,
    channel: &crate::channels::Channel,
    message: &serde_json::Value,
) -> Result<(), ApiError> {
    let (Some(waba), Some(name), Some(language)) = (
        channel.waba_id.as_deref(),
        message.pointer("/template/name").and_then(|v| v.as_str()),
        message
            .pointer("/template/language/code")
            .and_then(|v| v.as_str()),
    ) else {
        return Ok(());
    };
    let rows = d1::rows(
        db,
        &crate::whatsapp::templates::sql::find(waba, name, language),
    )
    .await?;
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let status = row["status"].as_str().unwrap_or_default();
    if status != "APPROVED" {
        return Err(ApiError::new(
            409,
            "template_not_approved",
            format!(
                "Template {name} ({language}) is {status}; only approved templates can be sent."
            ),
        ));
    }
    let stored: serde_json::Value = row["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    crate::whatsapp::templates::check_template_parameters(&stored, message)
        .map_err(|e| ApiError::new(400, "invalid_message", e.to_string()))
}
