//! The `/v1` read routes: run the pure core's queries, shape the rows.

use super::{d1, http};
use crate::api::{self, ApiError, Page, Route};
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
            let wa_id = crate::phone::canonical_wa_id(&wa_id);
            let rows = d1::rows(&db, &api::get_contact(&wa_id)).await?;
            rows.first()
                .map(api::contact_json)
                .ok_or_else(|| ApiError::not_found("contact"))?
        }
        Route::ContactMessages(wa_id) => {
            let page = Page::from_query(&query)?;
            let wa_id = crate::phone::canonical_wa_id(&wa_id);
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
