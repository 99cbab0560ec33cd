//! The `/v1` read routes: run the pure core's queries, shape the rows.

use crate::api::router::Route;
use crate::api::{self, ApiError, Page};
use crate::db;
use crate::db::reads::{decode, ContactRow, EventRow, MessageRow, StatusRow};
use crate::edge::{d1, http};
use crate::whatsapp::identity::ContactRef;
use worker::{Env, Request, Response};

/// Answers a read route.
pub async fn handle(
    route: Route,
    req: &Request,
    env: &Env,
) -> std::result::Result<Response, ApiError> {
    let db = d1::database(env)?;
    let query = http::query_pairs(req);
    let body = match route {
        Route::GetMessage(id) => message(&db, env, &id).await?,
        Route::ListContacts => {
            let page = Page::from_query(&query)?;
            let rows = d1::rows(&db, &db::reads::list_contacts(&page.args())).await?;
            to_value(api::listing(
                decode::<ContactRow>(&rows),
                &page,
                |c| (c.last_seen, c.id.clone()),
                api::contact_json,
            ))
        }
        Route::GetContact(id) => {
            // A name no contact can have names no contact.
            let who = ContactRef::parse(&id).ok_or_else(|| ApiError::not_found("contact"))?;
            let rows = d1::rows(&db, &db::reads::get_contact(&who)).await?;
            decode::<ContactRow>(&rows)
                .first()
                .map(api::contact_json)
                .ok_or_else(|| ApiError::not_found("contact"))?
        }
        Route::ContactMessages(id) => {
            let page = Page::from_query(&query)?;
            let who = ContactRef::parse(&id).ok_or_else(|| ApiError::not_found("contact"))?;
            let rows = d1::rows(
                &db,
                &db::reads::contact_messages(
                    &who,
                    api::console::channel_filter(&query)?.as_deref(),
                    &page.args(),
                ),
            )
            .await?;
            to_value(api::listing(
                decode::<MessageRow>(&rows),
                &page,
                |m| (m.timestamp, m.id.clone()),
                api::message_list_item,
            ))
        }
        Route::ListEvents => {
            let page = Page::from_query(&query)?;
            let rows = d1::rows(
                &db,
                &db::reads::list_events(api::query_value(&query, "kind"), &page.args()),
            )
            .await?;
            to_value(api::listing(
                decode::<EventRow>(&rows),
                &page,
                |e| (e.received_at, e.id.clone()),
                api::event_json,
            ))
        }
        Route::EventRaw(id) => return event_raw(&db, env, &id).await,
        _ => return Err(ApiError::no_route()),
    };
    http::json(200, &body)
}

/// The contact a path segment names, or 400 (for erasure, which must know
/// what to tombstone).
pub fn contact_ref(id: &str) -> Result<ContactRef, ApiError> {
    ContactRef::parse(id).ok_or_else(|| {
        ApiError::invalid(
            "The contact must be named by its id (ct_…), a BSUID, or a phone number in any form.",
        )
    })
}

/// `GET /v1/messages/{id}`: the message (by id or wamid) with its statuses,
/// a big raw body read back whole; a wamid known only from statuses too.
pub(crate) async fn message(
    db: &worker::D1Database,
    env: &Env,
    id: &str,
) -> Result<serde_json::Value, ApiError> {
    let mut results = d1::batch_rows(db, &db::reads::get_message(id))
        .await?
        .into_iter();
    let message = decode::<MessageRow>(&results.next().unwrap_or_default());
    let statuses = decode::<StatusRow>(&results.next().unwrap_or_default());
    let parts = results.next().unwrap_or_default();
    Ok(match message.into_iter().next() {
        Some(mut row) => {
            if let Some(r) = row.raw_ref.clone() {
                row.raw = Some(spilled_raw(env, &r, &parts).await?);
            }
            api::message_json(&row, Some(&statuses))
        }
        None if !statuses.is_empty() => api::status_only_message_json(id, &statuses),
        None => return Err(ApiError::not_found("message")),
    })
}

/// `GET /v1/events/{id}/raw`: the body exactly as it arrived.
async fn event_raw(db: &worker::D1Database, env: &Env, id: &str) -> Result<Response, ApiError> {
    let mut results = d1::batch_rows(db, &db::reads::event_raw(id))
        .await?
        .into_iter();
    let event = decode::<EventRow>(&results.next().unwrap_or_default());
    let parts = results.next().unwrap_or_default();
    let row = event.first().ok_or_else(|| ApiError::not_found("event"))?;
    let text = match &row.raw_ref {
        Some(r) => spilled_raw(env, r, &parts).await?,
        None => row.raw.clone().unwrap_or_default(),
    };
    let (mime, bytes) = api::raw_body(row.raw_encoding.as_deref(), text);
    let response = Response::from_bytes(bytes).map_err(|_| ApiError::internal())?;
    let _ = response.headers().set("Content-Type", mime);
    Ok(response)
}

/// A raw body kept outside its row: joined from its parts, or read from R2.
pub(crate) async fn spilled_raw(
    env: &Env,
    raw_ref: &str,
    parts: &[serde_json::Value],
) -> Result<String, ApiError> {
    let Some(key) = db::ingest::r2_key(raw_ref) else {
        return Ok(db::reads::join_parts(parts));
    };
    let bucket = env
        .bucket(crate::edge::handlers::media::BUCKET)
        .map_err(|_| ApiError::internal())?;
    let object = bucket
        .get(key)
        .execute()
        .await
        .map_err(|_| ApiError::internal())?
        .ok_or_else(ApiError::internal)?;
    let body = object.body().ok_or_else(ApiError::internal)?;
    body.text().await.map_err(|_| ApiError::internal())
}

fn to_value(listing: api::Listing) -> serde_json::Value {
    serde_json::json!({"data": listing.data, "next_cursor": listing.next_cursor})
}
