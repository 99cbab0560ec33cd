//! The webhook endpoints: Meta's verification handshake and signed
//! deliveries, and 360dialog's per-channel deliveries.

use super::config::{self, Config};
use super::{channels, clock, d1, http, outbound, rules_api};
use crate::api::ApiError;
use crate::autoreply::{self, Effects};
use crate::ingest;
use crate::logline::LogLine;
use crate::send;
use crate::store;
use crate::webhook::{self, signature, verify};
use worker::{Context, D1Database, Env, Request, Response};

/// `GET /webhook`: echoes the challenge for our verify token, else 403.
pub fn verify(req: &Request, config: &Config) -> Response {
    let query = http::query_pairs(req);
    match verify::challenge_response(&query, config.verify_token.as_deref()) {
        Some(challenge) => {
            http::log(LogLine::new("webhook.verified"));
            http::text(200, challenge)
        }
        None => {
            http::log(LogLine::new("webhook.verify_refused"));
            http::text(403, "Forbidden")
        }
    }
}

/// `POST /webhook`: a Meta delivery, authenticated by `X-Hub-Signature-256`.
pub async fn receive(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
) -> std::result::Result<Response, ApiError> {
    if config.app_secrets.is_empty() {
        http::log(LogLine::new("config.missing").kind("name", "WHATSAPP_APP_SECRET"));
        return Err(ApiError::internal());
    }
    let body = read_json_body(req).await?;
    let header = req.headers().get("X-Hub-Signature-256").ok().flatten();
    if let Err(e) = signature::verify(header.as_deref(), &body, &config.app_secrets) {
        http::log(LogLine::new("webhook.unauthenticated").kind(
            "reason",
            match e {
                signature::SignatureError::Missing => "missing",
                signature::SignatureError::Malformed => "malformed",
                signature::SignatureError::Mismatch => "mismatch",
                signature::SignatureError::NoSecret => "no_secret",
            },
        ));
        return Err(ApiError::new(401, "invalid_signature", e.to_string()));
    }
    store_delivery(&body, env, ctx, config).await
}

/// `POST /webhook/360dialog/{phone_number_id}`: a 360dialog delivery,
/// authenticated by the channel's Basic credentials (360dialog does not sign).
pub async fn receive_360(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    phone_number_id: &str,
) -> std::result::Result<Response, ApiError> {
    let unauthorized = || {
        http::log(LogLine::new("webhook360.unauthenticated"));
        ApiError::new(
            401,
            "unauthorized",
            "This webhook needs the Authorization header configured for the channel.",
        )
    };
    let db = d1::database(env)?;
    let channel = channels::find(&db, config, phone_number_id)
        .await?
        .filter(|c| c.provider() == crate::graph::Provider::Dialog360)
        .ok_or_else(unauthorized)?;
    let user_pass = channel
        .webhook_auth_secret
        .as_deref()
        .and_then(|name| config::string(env, name))
        .ok_or_else(unauthorized)?;
    let given = req.headers().get("Authorization").ok().flatten();
    if !webhook::check_basic_auth(given.as_deref(), &user_pass) {
        return Err(unauthorized());
    }
    let body = read_json_body(req).await?;
    store_delivery(&body, env, ctx, config).await
}

/// Checks the content type and reads the body under the size limit.
async fn read_json_body(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
    let content_type = req.headers().get("Content-Type").ok().flatten();
    if !webhook::is_json_content_type(content_type.as_deref()) {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "Webhook notifications must be sent as application/json.",
        ));
    }
    http::read_body_capped(req, webhook::MAX_BODY_BYTES).await
}

/// Stores an authenticated delivery and its effects in one batch, answers,
/// and sends the effects after the response.
async fn store_delivery(
    body: &[u8],
    env: &Env,
    ctx: &Context,
    config: &Config,
) -> std::result::Result<Response, ApiError> {
    let plan = ingest::plan(body);
    let db = d1::database(env)?;
    let now = http::now_ms();
    let effects = effects(&db, &plan, config).await?;
    let mut statements = store::ingest_statements(&plan, now);
    statements.extend(effects.opts.iter().map(|o| store::opt_statement(o, now)));
    for e in &effects.enqueue {
        statements.extend(e.statements(now));
    }
    d1::batch(&db, &statements).await?;
    if !effects.enqueue.is_empty() {
        let ids: Vec<String> = effects.enqueue.iter().map(|e| e.id.clone()).collect();
        let (env, config) = (env.clone(), config.clone());
        ctx.wait_until(async move {
            if let Ok(db) = d1::database(&env) {
                for id in ids {
                    let _ = outbound::deliver(&env, &db, &config, &id, http::now_ms()).await;
                }
            }
        });
    }
    let counts = plan.counts();
    http::log(
        LogLine::new("webhook.stored")
            .count("messages", counts.messages)
            .count("statuses", counts.statuses)
            .count("contacts", counts.contacts)
            .count("events", counts.events)
            .count("queued", effects.enqueue.len())
            .count("bytes", body.len()),
    );
    http::json(200, &counts)
}

/// What the delivery's new messages make us send: opt-out handling and rule
/// replies. Reads D1 only when there are rules or an opt keyword arrived.
async fn effects(
    db: &D1Database,
    plan: &ingest::Plan,
    config: &Config,
) -> std::result::Result<Effects, ApiError> {
    let rules = if plan.messages.is_empty() {
        Vec::new()
    } else {
        rules_api::load(db).await?
    };
    if !autoreply::needs_lookup(plan, &rules, &config.opt) {
        return Ok(Effects::default());
    }
    let known =
        autoreply::known_from_rows(&d1::batch_rows(db, &autoreply::known_statements(plan)).await?);
    let mut failed = false;
    let mut new_id = || {
        let mut bytes = [0u8; 16];
        failed |= getrandom::fill(&mut bytes).is_err();
        send::new_id(bytes)
    };
    let effects = autoreply::decide(
        plan,
        &rules,
        &known,
        &config.opt,
        &clock::local_time,
        &mut new_id,
    );
    if failed {
        return Err(ApiError::internal());
    }
    Ok(effects)
}
