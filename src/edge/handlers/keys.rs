//! `/v1/keys`: API keys scoped per purpose, and the lookup that turns a
//! presented key into a caller on every request (no cache, so a revoked key
//! is refused at once).

use crate::api::router::Route;
use crate::api::{self, ApiError, Presented};
use crate::db::keys as sql;
use crate::edge::{d1, http};
use crate::keys::{self, Caller};
use serde_json::json;
use worker::{Context, Env, Request, Response};

/// Who is calling: the admin token, or a stored key (its last use recorded
/// after the response, at most once a minute).
pub async fn caller(
    header: Option<&str>,
    admin_token: Option<&str>,
    env: &Env,
    ctx: &Context,
) -> Result<Caller, ApiError> {
    let hash = match api::authenticate(header, admin_token)? {
        Presented::Root => return Ok(Caller::Root),
        Presented::Key(hash) => hash,
    };
    let db = d1::database(env)?;
    let rows = d1::rows(&db, &sql::by_hash(&hash)).await?;
    let row = rows
        .first()
        .and_then(sql::key_row)
        .ok_or_else(api::unknown_key)?;
    let now = http::now_ms();
    if keys::should_record_use(row.last_used_at, now) {
        let id = row.key.id.clone();
        ctx.wait_until(async move {
            if d1::rows(&db, &sql::record_use(&id, now)).await.is_err() {
                http::log(crate::logline::LogLine::warn("keys.record_use_failed"));
            }
        });
    }
    Ok(Caller::Key(row.key))
}

/// Handles the key routes.
pub async fn handle(route: Route, req: &mut Request, env: &Env) -> Result<Response, ApiError> {
    let db = d1::database(env)?;
    match route {
        Route::ListKeys => {
            let rows = d1::rows(&db, &sql::list()).await?;
            let data: Vec<_> = rows
                .iter()
                .filter_map(sql::key_row)
                .map(|r| {
                    keys::shown(
                        &r.key.id,
                        &r.name,
                        &r.key.scopes,
                        r.key.channels.as_deref(),
                        r.created_at,
                        r.last_used_at,
                    )
                })
                .collect();
            http::json(200, &json!({ "data": data }))
        }
        Route::CreateKey => {
            let body = http::read_body_capped(req, api::MAX_CONFIG_BODY).await?;
            let new = keys::parse_new(&body).map_err(|e| ApiError::new(400, "invalid_key", e))?;
            let id = keys::new_id(http::random()?);
            let key = keys::new_key(http::random()?);
            let now = http::now_ms();
            d1::rows(&db, &sql::create(&id, &new, &keys::hash(&key), now)).await?;
            http::log(
                crate::logline::LogLine::new("keys.created").count("scopes", new.scopes.len()),
            );
            let mut shown = keys::shown(
                &id,
                &new.name,
                &new.scopes,
                new.channels.as_deref(),
                now,
                None,
            );
            if let Some(obj) = shown.as_object_mut() {
                obj.insert("key".into(), key.into());
            }
            http::json(201, &shown)
        }
        Route::DeleteKey(id) => {
            let gone = d1::rows(&db, &sql::delete(&id)).await?;
            if gone.is_empty() {
                return Err(ApiError::not_found("key"));
            }
            Response::empty()
                .map(|r| r.with_status(204))
                .map_err(|_| ApiError::internal())
        }
        _ => Err(ApiError::no_route()),
    }
}
