//! The console's routes: its files (Workers static assets, through the
//! `ASSETS` binding), the inbox, read marks, and the rules' "try it".

use crate::api::console::{self as shape, Sample};
use crate::api::router::Route;
use crate::api::{self, ApiError};
use crate::db::console as sql;
use crate::db::reads::ContactRow;
use crate::edge::config::Config;
use crate::edge::{cache, clock, d1, http};
use crate::inbound::rules;
use crate::whatsapp::identity::ContactRef;
use serde_json::Value;
use worker::{Env, Headers, Request, Response};

/// Handles the console's routes.
pub async fn handle(
    route: Route,
    req: &mut Request,
    env: &Env,
    config: &Config,
) -> Result<Response, ApiError> {
    match route {
        Route::Console => asset(req, env).await,
        Route::ListConversations => {
            let q = shape::inbox_query(&http::query_pairs(req))?;
            let db = d1::database(env)?;
            let rows = d1::rows(&db, &sql::conversations(&q)).await?;
            let now_s = http::now_ms() / 1000;
            // Each row holds a conversation's columns and its contact's.
            let decoded: Vec<(sql::ConversationRow, ContactRow)> = rows
                .iter()
                .map(|r| {
                    let row = serde_json::from_value(r.clone()).unwrap_or_default();
                    let contact = serde_json::from_value(r.clone()).unwrap_or_default();
                    (row, contact)
                })
                .collect();
            let page = api::Page {
                limit: q.limit,
                cursor: None,
            };
            let listing = api::listing(
                decoded,
                &page,
                |(row, _)| (row.last_activity_at, row.conversation_id.clone()),
                |(row, contact)| shape::conversation_json(row, contact, now_s),
            );
            http::json(200, &listing)
        }
        Route::MarkRead(id) => {
            let who = ContactRef::parse(&id).ok_or_else(|| ApiError::not_found("contact"))?;
            let body = http::read_body_capped(req, api::MAX_CONFIG_BODY).await?;
            let channel = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|b| b.get("phone_number_id")?.as_str().map(str::to_owned))
                .filter(|c| !c.is_empty() && c.len() <= 64)
                .ok_or_else(|| {
                    ApiError::invalid("phone_number_id: the channel of the conversation.")
                        .with_field("phone_number_id")
                })?;
            let db = d1::database(env)?;
            let marked = d1::rows(&db, &sql::mark_read(&who, &channel, http::now_ms())).await?;
            if marked.is_empty() {
                return Err(ApiError::not_found("contact"));
            }
            Response::empty()
                .map(|r| r.with_status(204))
                .map_err(|_| ApiError::internal())
        }
        Route::TryRules => {
            let body = http::read_body_capped(req, api::MAX_CONFIG_BODY).await?;
            let sample = Sample::parse(&body)?;
            let db = d1::database(env)?;
            let all = cache::rules(&db).await?;
            let default_channel = config.phone_number_id.as_deref().unwrap_or("");
            let now_s = http::now_ms() / 1000;
            let answer = rules::answer(&all, &sample.inbound(default_channel), &|tz| {
                clock::local_time(tz, now_s)
            });
            http::json(200, &shape::tried(answer.as_ref(), all.len()))
        }
        _ => Err(ApiError::no_route()),
    }
}

/// A console file from the `ASSETS` binding, as it answered; the security
/// headers are added with every other response's.
async fn asset(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let assets = env.assets("ASSETS").map_err(|_| {
        ApiError::new(
            404,
            "not_found",
            "The console is not deployed with this worker.",
        )
    })?;
    let request = req.clone().map_err(|_| ApiError::internal())?;
    let response = assets
        .fetch_request(request)
        .await
        .map_err(|_| ApiError::internal())?;
    // The asset's own headers are immutable: copy them onto a new set.
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        let _ = headers.set(&name, &value);
    }
    Ok(response.with_headers(headers))
}
