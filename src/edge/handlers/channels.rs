//! Channel resolution (which provider and credential a number sends with)
//! and the `/v1/channels` API: CRUD, onboarding, business profile,
//! templates, and 360dialog webhook registration.

use crate::api::router::{ChannelRoute, Route};
use crate::api::ApiError;
use crate::channels::Channel;
use crate::db::channels as sql;
use crate::db::templates as template_sql;
use crate::edge::cache;
use crate::edge::channels::{find, find_with_origin, resolve, Origin, Resolved};
use crate::edge::config::{self, Config};
use crate::edge::{d1, http};
use crate::whatsapp::graph::{manage, Provider};
use crate::whatsapp::profile;
use crate::whatsapp::templates;
use serde_json::{json, Value};
use worker::{D1Database, Env, Request, Response};

/// 404 for a number that is no channel; 409 for the environment's own
/// number, which is changed in `wrangler.toml`, not through the API.
fn missing_row(config: &Config, id: &str) -> ApiError {
    if config.phone_number_id.as_deref() == Some(id) {
        ApiError::new(
            409,
            "configured_in_environment",
            "This channel is configured by WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_ACCESS_TOKEN; \
             change those, or create a channel row for another number.",
        )
    } else {
        ApiError::not_found("channel")
    }
}

fn bad_channel(message: String) -> ApiError {
    ApiError::new(400, "invalid_channel", message)
}

async fn resolved_or_error(
    env: &Env,
    db: &D1Database,
    config: &Config,
    id: &str,
) -> Result<Resolved, ApiError> {
    if find(db, config, id).await?.is_none() {
        return Err(ApiError::not_found("channel"));
    }
    resolve(env, db, config, id).await?.ok_or_else(|| {
        ApiError::new(
            409,
            "credential_missing",
            "The channel's credential secret is not set: run `wrangler secret put <credential_secret>`.",
        )
    })
}

fn waba(channel: &Channel) -> Result<String, ApiError> {
    channel.waba_id.clone().ok_or_else(|| {
        ApiError::new(
            409,
            "waba_id_missing",
            "The channel has no waba_id: set it with PATCH /v1/channels/{id}.",
        )
    })
}

fn meta_only(r: &Resolved) -> Result<(), ApiError> {
    match r.endpoint.provider {
        Provider::Meta => Ok(()),
        Provider::Dialog360 => Err(ApiError::new(
            409,
            "not_available",
            "360dialog manages onboarding for its numbers; use the 360dialog hub.",
        )),
    }
}

async fn json_body(req: &mut Request) -> Result<(Vec<u8>, Value), ApiError> {
    let body = http::read_body_capped(req, crate::api::MAX_TEMPLATE_BODY).await?;
    let value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "invalid_json", format!("The body is not JSON: {e}.")))?;
    Ok((body, value))
}

/// Handles `/v1/channels` and `/v1/channels/{id}/...`.
pub async fn handle(
    route: Route,
    req: &mut Request,
    env: &Env,
    config: &Config,
) -> Result<Response, ApiError> {
    let db = d1::database(env)?;
    let (id, resource) = match route {
        Route::ListChannels => {
            let rows = cache::channels(&db).await?;
            let data = crate::channels::listing(&rows, config.default_channel());
            return http::json(200, &json!({ "data": data }));
        }
        Route::CreateChannel => {
            let (body, _) = json_body(req).await?;
            let channel = Channel::parse(&body).map_err(|e| bad_channel(e.0))?;
            crate::channels::check_own_webhook_secret(&channel, &cache::channels(&db).await?)
                .map_err(|e| ApiError::new(409, "webhook_secret_taken", e.0))?;
            let created = d1::rows(&db, &sql::insert(&channel, http::now_ms())).await?;
            if created.is_empty() {
                return Err(ApiError::new(
                    409,
                    "channel_exists",
                    "A channel with this phone_number_id exists; PATCH it instead.",
                ));
            }
            cache::forget_channels();
            return http::json(201, &channel.to_json(false));
        }
        Route::Channel(id, resource) => (id, resource),
        _ => return Err(ApiError::no_route()),
    };
    match resource {
        ChannelRoute::Get => {
            let (channel, origin) = find_with_origin(&db, config, &id)
                .await?
                .ok_or_else(|| ApiError::not_found("channel"))?;
            http::json(200, &channel.to_json(origin == Origin::Env))
        }
        ChannelRoute::Update => {
            let rows: Vec<Channel> = cache::body_rows(&d1::rows(&db, &sql::get(&id)).await?);
            let Some(current) = rows.first() else {
                return Err(missing_row(config, &id));
            };
            let body = http::read_body_capped(req, crate::api::MAX_CONFIG_BODY).await?;
            let channel = current.patched(&body).map_err(|e| bad_channel(e.0))?;
            crate::channels::check_own_webhook_secret(&channel, &cache::channels(&db).await?)
                .map_err(|e| ApiError::new(409, "webhook_secret_taken", e.0))?;
            d1::rows(&db, &sql::update(&channel, http::now_ms())).await?;
            cache::forget_channels();
            http::json(200, &channel.to_json(false))
        }
        ChannelRoute::Delete => {
            if d1::rows(&db, &sql::delete(&id)).await?.is_empty() {
                return Err(missing_row(config, &id));
            }
            cache::forget_channels();
            no_content()
        }
        ChannelRoute::PhoneNumbers
        | ChannelRoute::Register
        | ChannelRoute::GetSubscription
        | ChannelRoute::Subscribe
        | ChannelRoute::GetProfile
        | ChannelRoute::ProfilePhoto
        | ChannelRoute::UpdateProfile => number(resource, &id, req, env, &db, config).await,
        ChannelRoute::ListTemplates
        | ChannelRoute::CreateTemplate
        | ChannelRoute::SyncTemplates
        | ChannelRoute::DeleteTemplate(_) => template(resource, &id, req, env, &db, config).await,
        ChannelRoute::RegisterWebhook => register_d360_webhook(req, env, &db, config, &id).await,
    }
}

/// The number's onboarding and profile routes: Graph calls through the
/// channel's credential.
async fn number(
    resource: ChannelRoute,
    id: &str,
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    config: &Config,
) -> Result<Response, ApiError> {
    let r = resolved_or_error(env, db, config, id).await?;
    match resource {
        ChannelRoute::PhoneNumbers => {
            meta_only(&r)?;
            let answer =
                http::call_json(&r.endpoint.list_phone_numbers(&waba(&r.channel)?)).await?;
            http::json(200, &json!({"data": answer.get("data").cloned()}))
        }
        ChannelRoute::Register => {
            meta_only(&r)?;
            let (_, body) = json_body(req).await?;
            let pin = body.get("pin").and_then(Value::as_str).unwrap_or_default();
            if !manage::is_pin(pin) {
                return Err(ApiError::new(
                    400,
                    "invalid_request",
                    "pin: must be the number's 6-digit two-step verification PIN",
                ));
            }
            http::call_json(&r.endpoint.register(pin)).await?;
            http::json(200, &json!({"registered": true}))
        }
        ChannelRoute::GetSubscription => {
            meta_only(&r)?;
            let answer = http::call_json(&r.endpoint.subscribed_apps(&waba(&r.channel)?)).await?;
            let apps = answer
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            http::json(200, &json!({"subscribed": !apps.is_empty(), "apps": apps}))
        }
        ChannelRoute::Subscribe => {
            meta_only(&r)?;
            http::call_json(&r.endpoint.subscribe_app(&waba(&r.channel)?)).await?;
            http::json(200, &json!({"subscribed": true}))
        }
        ChannelRoute::GetProfile => {
            let answer = http::call_json(&r.endpoint.get_profile()).await?;
            let profile = answer.pointer("/data/0").cloned().unwrap_or(answer);
            store_profile(db, id, &profile).await
        }
        ChannelRoute::ProfilePhoto => profile_photo(&r).await,
        ChannelRoute::UpdateProfile => {
            let (_, patch) = json_body(req).await?;
            profile::validate_profile(&patch)
                .map_err(|e| ApiError::invalid_field("invalid_profile", &e))?;
            http::call_json(&r.endpoint.update_profile(&patch)).await?;
            let answer = http::call_json(&r.endpoint.get_profile()).await?;
            let profile = answer.pointer("/data/0").cloned().unwrap_or(answer);
            store_profile(db, id, &profile).await
        }
        _ => Err(ApiError::no_route()),
    }
}

/// The channel's template routes: stored templates, submissions, the paged
/// sync and deletion.
// Long because it is one arm per template route, each a Graph call and its row.
async fn template(
    resource: ChannelRoute,
    id: &str,
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    config: &Config,
) -> Result<Response, ApiError> {
    match resource {
        ChannelRoute::ListTemplates => {
            let channel = find(db, config, id)
                .await?
                .ok_or_else(|| ApiError::not_found("channel"))?;
            let name = http::query_value(req, "name");
            let status = http::query_value(req, "status").map(|s| s.to_ascii_uppercase());
            let rows = d1::rows(
                db,
                &template_sql::list(&waba(&channel)?, name.as_deref(), status.as_deref()),
            )
            .await?;
            let data: Vec<Value> = rows.iter().map(template_json).collect();
            http::json(200, &json!({ "data": data }))
        }
        ChannelRoute::CreateTemplate => {
            let r = resolved_or_error(env, db, config, id).await?;
            let waba_id = waba(&r.channel)?;
            let (_, template) = json_body(req).await?;
            templates::validate_template(&template)
                .map_err(|e| ApiError::invalid_field("invalid_template", &e))?;
            let answer = http::call_json(&r.endpoint.create_template(&waba_id, &template)).await?;
            let mut stored = template.clone();
            if let Some(obj) = stored.as_object_mut() {
                for key in ["id", "status"] {
                    obj.insert(key.into(), answer.get(key).cloned().unwrap_or_default());
                }
            }
            let row = templates::template_page(&waba_id, &json!({"data": [stored]}))
                .0
                .pop()
                .ok_or_else(ApiError::internal)?;
            d1::rows(db, &template_sql::upsert(&row, http::now_ms())).await?;
            http::json(
                201,
                &json!({"id": row.id, "name": row.name, "language": row.language,
                        "category": row.category, "status": row.status}),
            )
        }
        ChannelRoute::SyncTemplates => {
            let r = resolved_or_error(env, db, config, id).await?;
            let waba_id = waba(&r.channel)?;
            let now = http::now_ms();
            let mut sync = templates::Sync::new(&waba_id);
            let mut after = match http::query_value(req, "after") {
                Some(a) if templates::valid_cursor(&a) => Some(a),
                Some(_) => {
                    return Err(
                        ApiError::invalid("after: the `next` cursor a sync answered.")
                            .with_field("after"),
                    )
                }
                None => None,
            };
            loop {
                let page =
                    http::call_json(&r.endpoint.list_templates(&waba_id, after.as_deref())).await?;
                match sync.take(&page) {
                    Some(cursor) => after = Some(cursor),
                    None => break,
                }
            }
            let mut statements: Vec<_> = sync
                .rows
                .iter()
                .map(|t| template_sql::upsert(t, now))
                .collect();
            let synced = statements.len();
            // The channel's sync time says every page was taken.
            if sync.next.is_none() {
                statements.push(sql::templates_synced(id, now));
            }
            d1::batch(db, &statements).await?;
            http::json(
                200,
                &json!({"synced": synced, "synced_at": now, "next": sync.next}),
            )
        }
        ChannelRoute::DeleteTemplate(name) => {
            let r = resolved_or_error(env, db, config, id).await?;
            let waba_id = waba(&r.channel)?;
            http::call_json(&r.endpoint.delete_template(&waba_id, &name)).await?;
            d1::rows(db, &template_sql::delete(&waba_id, &name)).await?;
            no_content()
        }
        _ => Err(ApiError::no_route()),
    }
}

/// Keeps the profile Graph returned on the channel row and answers with it.
async fn store_profile(db: &D1Database, id: &str, profile: &Value) -> Result<Response, ApiError> {
    let now = http::now_ms();
    d1::rows(db, &sql::store_profile(id, profile, now)).await?;
    http::json(200, &json!({"profile": profile, "synced_at": now}))
}

/// The business profile's photo, fetched from the URL Graph gives and served
/// like media (no credential goes with it).
async fn profile_photo(r: &Resolved) -> Result<Response, ApiError> {
    let answer = http::call_json(&r.endpoint.get_profile()).await?;
    let photo = answer
        .pointer("/data/0/profile_picture_url")
        .and_then(Value::as_str)
        .and_then(|url| r.endpoint.profile_photo(url))
        .ok_or_else(|| ApiError::new(404, "not_found", "The profile has no photo."))?;
    let mut upstream = http::send(&photo).await.map_err(|_| unavailable())?;
    if !(200..300).contains(&upstream.status_code()) {
        return Err(unavailable());
    }
    let mime = upstream
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let stream = upstream.stream().map_err(|_| ApiError::internal())?;
    super::media::stream_response(stream, &mime)
}

fn unavailable() -> ApiError {
    ApiError::new(
        502,
        "upstream_unavailable",
        "The photo could not be fetched.",
    )
}

fn no_content() -> Result<Response, ApiError> {
    Ok(Response::empty()
        .map_err(|_| ApiError::internal())?
        .with_status(204))
}

fn template_json(row: &Value) -> Value {
    let body: Value = row["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    json!({
        "id": row["id"],
        "name": row["name"],
        "language": row["language"],
        "category": row["category"],
        "status": row["status"],
        "rejected_reason": row["rejected_reason"],
        "components": body.get("components").cloned().unwrap_or(Value::Null),
        "synced_at": row["synced_at"],
        "updated_at": row["updated_at"],
    })
}

/// `POST /v1/channels/{id}/webhook`: tells 360dialog where to deliver this
/// number's webhooks and which `Authorization` header to send.
async fn register_d360_webhook(
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    config: &Config,
    id: &str,
) -> Result<Response, ApiError> {
    let r = resolved_or_error(env, db, config, id).await?;
    if r.endpoint.provider != Provider::Dialog360 {
        return Err(ApiError::new(
            409,
            "not_available",
            "Only 360dialog channels register their webhook here; Meta's is set in the app dashboard.",
        ));
    }
    let (_, body) = json_body(req).await?;
    let url = body.get("url").and_then(Value::as_str).unwrap_or_default();
    manage::check_d360_webhook_url(url).map_err(|e| ApiError::new(400, "invalid_request", e))?;
    let auth = d360_auth_header(env, &r.channel).ok_or_else(|| {
        ApiError::new(
            409,
            "credential_missing",
            "The channel's webhook_auth_secret is not set: run `wrangler secret put <webhook_auth_secret>`.",
        )
    })?;
    http::call_json(
        &r.endpoint
            .d360_set_webhook(url, &json!({ "Authorization": auth })),
    )
    .await?;
    http::json(200, &json!({"registered": true, "url": url}))
}

/// The `Authorization: Basic ...` value 360dialog is told to send for `channel`.
fn d360_auth_header(env: &Env, channel: &Channel) -> Option<String> {
    // Only channel rows have a webhook credential (the env channel is Meta's).
    let secret = config::channel_secret(env, channel.webhook_auth_secret.as_deref()?)?;
    Some(crate::whatsapp::webhook::basic_auth_value(&secret))
}
