//! The webhook endpoints: Meta's verification handshake and signed
//! deliveries, and 360dialog's per-channel deliveries.

use crate::api::ApiError;
use crate::edge::config::Config;
use crate::edge::store::{self, Job};
use crate::edge::{channels, crypto, d1, delivery, http, writer};
use crate::ids::PhoneNumberId;
use crate::inbound::ingest::Scope;
use crate::logline::LogLine;
use crate::whatsapp::webhook::{self, signature, verify};
use worker::{Context, Env, Request, Response};

/// `GET /webhook`: echoes the challenge for our verify token, else 403.
pub fn verify(req: &Request, config: &Config) -> std::result::Result<Response, ApiError> {
    let query = http::query_pairs(req);
    match verify::challenge_response(&query, config.verify_token.as_deref()) {
        Some(challenge) => {
            http::log(LogLine::new("webhook.verified"));
            http::text(200, challenge)
        }
        None => {
            http::log(LogLine::warn("webhook.verify_refused"));
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
        http::log(LogLine::warn("config.missing").kind("name", "WHATSAPP_APP_SECRET"));
        return Err(ApiError::internal());
    }
    let body = read_json_body(req).await?;
    let header = req.headers().get("X-Hub-Signature-256").ok().flatten();
    let checked = match signature::claimed(header.as_deref(), &config.app_secrets) {
        Ok(claimed) => crypto::signed_by(&claimed, &body, &config.app_secrets).await?,
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        http::log(LogLine::warn("webhook.unauthenticated").kind(
            "reason",
            match e {
                signature::SignatureError::Missing => "missing",
                signature::SignatureError::Malformed => "malformed",
                signature::SignatureError::Mismatch => "mismatch",
                signature::SignatureError::NoSecret => "no_secret",
            },
        ));
        return Err(ApiError::unauthorized(
            "invalid_signature",
            "X-Hub-Signature-256 realm=\"wa-edge\"",
            e.to_string(),
        ));
    }
    store_delivery(body, env, ctx, config, Scope::App).await
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
        http::log(LogLine::warn("webhook360.unauthenticated"));
        ApiError::unauthorized(
            "unauthorized",
            "Basic realm=\"wa-edge\"",
            "This webhook needs the Authorization header configured for the channel.",
        )
    };
    let db = d1::database(env)?;
    let (channel, origin) = channels::find_with_origin(&db, config, phone_number_id)
        .await?
        .filter(|(c, _)| c.provider() == crate::whatsapp::graph::Provider::Dialog360)
        .ok_or_else(unauthorized)?;
    let user_pass = channel
        .webhook_auth_secret
        .as_deref()
        .and_then(|name| channels::secret_of(env, origin, name))
        .ok_or_else(unauthorized)?;
    let given = req.headers().get("Authorization").ok().flatten();
    if !webhook::check_basic_auth(given.as_deref(), &user_pass) {
        return Err(unauthorized());
    }
    let body = read_json_body(req).await?;
    let scope = Scope::Channel(PhoneNumberId(channel.phone_number_id.clone()));
    store_delivery(body, env, ctx, config, scope).await
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

/// Stores an authenticated delivery and its effects (directly, or through
/// its write shard when `SHARDS` is above 1), answers, and sends (a bounded
/// number of) the effects after the response.
async fn store_delivery(
    body: Vec<u8>,
    env: &Env,
    ctx: &Context,
    config: &Config,
    scope: Scope,
) -> std::result::Result<Response, ApiError> {
    let bytes = body.len();
    let job = Job {
        body,
        scope,
        now: http::now_ms(),
    };
    let stored = if config.shards > 1 {
        writer::through_shard(env, config, job).await?
    } else {
        store::one(env, config, &job).await?
    };
    if !stored.enqueued.is_empty() {
        delivery::after_response(ctx, env, config, stored.enqueued.clone());
    }
    if !stored.forwards.is_empty() {
        let (env, ids) = (env.clone(), stored.forwards);
        ctx.wait_until(async move {
            crate::edge::relay::enqueue(&env, &ids, 0).await;
        });
    }
    let counts = stored.counts;
    let mut line = LogLine::new("webhook.stored")
        .count("messages", counts.messages)
        .count("statuses", counts.statuses)
        .count("contacts", counts.contacts)
        .count("events", counts.events)
        .count("queued", stored.enqueued.len())
        .count("statements", stored.statements)
        .count("d1_round_trips", stored.d1_round_trips)
        .count("grouped", stored.grouped)
        .count("bytes", bytes);
    if let Some(shard) = stored.shard {
        line = line.count("shard", shard as usize);
    }
    http::log(line);
    http::json(200, &counts)
}
