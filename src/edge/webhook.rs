//! `GET /webhook` and `POST /webhook`.

use super::config::Config;
use super::{d1, http};
use crate::api::ApiError;
use crate::ingest;
use crate::logline::LogLine;
use crate::store;
use crate::webhook::{self, signature, verify};
use worker::{Env, Request, Response};

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

pub async fn receive(
    req: &mut Request,
    env: &Env,
    config: &Config,
) -> std::result::Result<Response, ApiError> {
    if config.app_secrets.is_empty() {
        http::log(LogLine::new("config.missing").kind("name", "WHATSAPP_APP_SECRET"));
        return Err(ApiError::internal());
    }
    let content_type = req.headers().get("Content-Type").ok().flatten();
    if !webhook::is_json_content_type(content_type.as_deref()) {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "Webhook notifications must be sent as application/json.",
        ));
    }
    let body = http::read_body_capped(req, webhook::MAX_BODY_BYTES).await?;
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
    let plan = ingest::plan(&body);
    let statements = store::ingest_statements(&plan, http::now_ms());
    let db = d1::database(env)?;
    d1::batch(&db, &statements).await?;
    let counts = plan.counts();
    http::log(
        LogLine::new("webhook.stored")
            .count("messages", counts.messages)
            .count("statuses", counts.statuses)
            .count("contacts", counts.contacts)
            .count("events", counts.events)
            .count("bytes", body.len()),
    );
    http::json(200, &counts)
}
