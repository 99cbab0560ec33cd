//! The Workers adapter: the only code that touches the `worker` crate. It
//! reads the environment into a [`config::Config`], runs the pure core's
//! decisions against D1, and maps results onto HTTP responses.

mod config;
mod d1;
mod http;

use crate::api::{self, ApiError, Page, Route};
use crate::ingest;
use crate::logline::LogLine;
use crate::store;
use crate::webhook::{self, signature, verify};
use config::Config;
use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let config = Config::from_env(&env);
    let route = api::route(req.method().as_ref(), &req.path());
    let outcome = match route {
        Route::Health => health(&env).await,
        Route::WebhookVerify => Ok(webhook_verify(&req, &config)),
        Route::WebhookReceive => webhook_receive(&mut req, &env, &config).await,
        Route::MethodNotAllowed(allow) => Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("This path accepts {allow}."),
        )),
        Route::NotFound => Err(ApiError::new(404, "not_found", "No such route.")),
        api_route => {
            let auth = req.headers().get("Authorization").ok().flatten();
            match api::authorize(auth.as_deref(), config.admin_token.as_deref()) {
                Ok(()) => read_api(api_route, &req, &env).await,
                Err(e) => Err(e),
            }
        }
    };
    match outcome {
        Ok(response) => Ok(response),
        Err(e) => http::error(&e),
    }
}

async fn health(env: &Env) -> std::result::Result<Response, ApiError> {
    let db = d1::database(env)?;
    d1::rows(&db, &api::health()).await?;
    http::json(200, &serde_json::json!({"ok": true}))
}

fn webhook_verify(req: &Request, config: &Config) -> Response {
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

async fn webhook_receive(
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

async fn read_api(
    route: Route,
    req: &Request,
    env: &Env,
) -> std::result::Result<Response, ApiError> {
    let db = d1::database(env)?;
    let query = http::query_pairs(req);
    let body = match route {
        Route::GetMessage(id) => {
            let [message, statuses] = api::get_message(&id);
            let mut results = d1::batch_rows(&db, &[message, statuses]).await?;
            let statuses = results.pop().unwrap_or_default();
            let message = results.pop().unwrap_or_default();
            match message.first() {
                Some(row) => api::message_json(row, Some(&statuses)),
                None if !statuses.is_empty() => api::status_only_message_json(&id, &statuses),
                None => return Err(ApiError::not_found("message")),
            }
        }
        Route::ListContacts => {
            let page = Page::from_query(&query)?;
            let rows = d1::rows(&db, &api::list_contacts(&page)).await?;
            to_value(api::listing(
                rows,
                &page,
                "last_seen",
                "wa_id",
                api::contact_json,
            ))
        }
        Route::GetContact(wa_id) => {
            let rows = d1::rows(&db, &api::get_contact(&wa_id)).await?;
            rows.first()
                .map(api::contact_json)
                .ok_or_else(|| ApiError::not_found("contact"))?
        }
        Route::ContactMessages(wa_id) => {
            let page = Page::from_query(&query)?;
            let rows = d1::rows(&db, &api::contact_messages(&wa_id, &page)).await?;
            to_value(api::listing(
                rows,
                &page,
                "timestamp",
                "id",
                api::message_list_item,
            ))
        }
        Route::ListEvents => {
            let page = Page::from_query(&query)?;
            let rows = d1::rows(&db, &api::list_events(&query, &page)).await?;
            to_value(api::listing(
                rows,
                &page,
                "received_at",
                "id",
                api::event_json,
            ))
        }
        _ => return Err(ApiError::new(404, "not_found", "No such route.")),
    };
    http::json(200, &body)
}

fn to_value(listing: api::Listing) -> serde_json::Value {
    serde_json::json!({"data": listing.data, "next_cursor": listing.next_cursor})
}
