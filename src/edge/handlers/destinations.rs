//! `/v1/destinations`: the relay's receivers, their secrets, their
//! deliveries (retry one, retry the dead) and replay.

use crate::api::router::DestinationRoute as D;
use crate::api::{self, ApiError, Page};
use crate::db;
use crate::edge::{cache, d1, http, relay};
use crate::relay::destination::{self, Destination};
use crate::relay::route;
use serde_json::{json, Value};
use worker::{Context, D1Database, Env, Request, Response};

/// Most sources one replay call queues; the answer says whether more remain.
const REPLAY_MAX: i64 = 2_000;
/// Most dead letters one bulk retry makes due.
const RETRY_MAX: i64 = 1_000;

fn invalid(e: destination::Invalid) -> ApiError {
    ApiError::new(400, "invalid_destination", e.0)
}

async fn find(db: &D1Database, id: &str) -> Result<Destination, ApiError> {
    d1::rows(db, &db::relay::get(id))
        .await?
        .first()
        .and_then(db::relay::destination_from_row)
        .ok_or_else(|| ApiError::not_found("destination"))
}

fn secret_for(d: &Destination) -> Result<String, ApiError> {
    Ok(destination::new_secret(d.format, http::random::<32>()?))
}

/// `v` with `key` set to `value`.
fn with(mut v: Value, key: &str, value: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        obj.insert(key.to_owned(), value);
    }
    v
}

fn no_content() -> Result<Response, ApiError> {
    Ok(Response::empty()
        .map_err(|_| ApiError::internal())?
        .with_status(204))
}

/// Handles the destination routes.
// Long because it is the table of the relay's routes, each a few lines.
pub async fn handle(
    route: D,
    req: &mut Request,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ApiError> {
    let db = d1::database(env)?;
    let now = http::now_ms();
    match route {
        D::List => {
            let rows = d1::rows(&db, &db::relay::list()).await?;
            let data: Vec<Value> = rows
                .iter()
                .filter_map(db::relay::destination_from_row)
                .map(|d| destination::to_json(&d))
                .collect();
            http::json(200, &json!({ "data": data }))
        }
        D::Create => {
            let body = http::read_body_capped(req, api::MAX_CONFIG_BODY).await?;
            let id = format!("dst_{}", hex::encode(http::random::<8>()?));
            let d = destination::parse_new(&body, id).map_err(invalid)?;
            let secret = secret_for(&d)?;
            d1::rows(&db, &db::relay::insert(&d, &secret, now)).await?;
            cache::forget_destinations();
            http::json(
                201,
                &with(destination::to_json(&d), "secret", json!(secret)),
            )
        }
        D::Get(id) => {
            let d = find(&db, &id).await?;
            let mut rows = d1::batch_rows(&db, &db::relay::stats(&id, now - 86_400_000))
                .await?
                .into_iter();
            let (counts, latencies, last) = (
                rows.next().unwrap_or_default(),
                rows.next().unwrap_or_default(),
                rows.next().unwrap_or_default(),
            );
            let stats = api::destination_stats(&counts, &latencies, &last);
            http::json(200, &with(destination::to_json(&d), "stats", stats))
        }
        D::Update(id) => {
            let current = find(&db, &id).await?;
            let body = http::read_body_capped(req, api::MAX_CONFIG_BODY).await?;
            let format = current.format;
            let d = destination::parse_patch(&body, current).map_err(invalid)?;
            if d.format != format {
                return Err(ApiError::new(
                    400,
                    "invalid_destination",
                    "format: cannot change (its secret is of the other kind); create a new destination",
                ));
            }
            d1::rows(&db, &db::relay::update(&d, now)).await?;
            cache::forget_destinations();
            http::json(200, &destination::to_json(&d))
        }
        D::Delete(id) => {
            find(&db, &id).await?;
            d1::batch(&db, &db::relay::delete(&id)).await?;
            cache::forget_destinations();
            no_content()
        }
        D::RotateSecret(id) => {
            let d = find(&db, &id).await?;
            let secret = secret_for(&d)?;
            d1::rows(&db, &db::relay::rotate(&id, &secret, now)).await?;
            http::json(
                200,
                &json!({"id": id, "secret": secret,
                    "previous_valid_until": (now + db::relay::PREVIOUS_SECRET_MS) / 1000}),
            )
        }
        D::Deliveries(id) => {
            find(&db, &id).await?;
            let query = http::query_pairs(req);
            let page = Page::from_query(&query)?;
            let state = api::query_value(&query, "state").filter(|s| !s.is_empty());
            if let Some(s) = state {
                if !["pending", "delivered", "retrying", "dead"].contains(&s) {
                    return Err(ApiError::invalid(
                        "state: must be pending, delivered, retrying or dead",
                    ));
                }
            }
            let rows = d1::rows(&db, &db::relay::list_forwards(&id, state, &page.args())).await?;
            let listing = api::listing(
                rows,
                &page,
                |r| {
                    (
                        r.get("updated_at")
                            .and_then(Value::as_f64)
                            .map(|f| f as i64),
                        r.get("id").and_then(Value::as_str).map(str::to_owned),
                    )
                },
                api::forward_json,
            );
            http::json(
                200,
                &json!({"data": listing.data, "next_cursor": listing.next_cursor}),
            )
        }
        D::Retry(id, delivery) => {
            find(&db, &id).await?;
            let rows = d1::rows(&db, &db::relay::retry(&id, &delivery, now)).await?;
            if rows.is_empty() {
                return Err(ApiError::not_found("dead or retrying delivery"));
            }
            queue_later(ctx, env, vec![delivery.clone()]);
            http::json(202, &json!({"id": delivery, "state": "pending"}))
        }
        D::RetryDead(id) => {
            find(&db, &id).await?;
            let rows = d1::rows(&db, &db::relay::retry_dead(&id, now, RETRY_MAX)).await?;
            let ids: Vec<String> = rows
                .iter()
                .filter_map(|r| r.get("id")?.as_str().map(str::to_owned))
                .collect();
            let n = ids.len();
            queue_later(ctx, env, ids);
            http::json(202, &json!({ "retried": n }))
        }
        D::Replay(id) => replay(req, env, ctx, &db, &id, now).await,
    }
}

/// Queues forwards after the response.
fn queue_later(ctx: &Context, env: &Env, ids: Vec<String>) {
    let env = env.clone();
    ctx.wait_until(async move {
        relay::enqueue(&env, &ids, 0).await;
    });
}

/// `POST /v1/destinations/{id}/replay {"since", "until"}`: forwards again
/// every kept delivery (or event) received in the window that the
/// destination takes, with the same ids.
async fn replay(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    db: &D1Database,
    id: &str,
    now: i64,
) -> Result<Response, ApiError> {
    let d = find(db, id).await?;
    let body = http::read_body_capped(req, api::MAX_CONFIG_BODY).await?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::invalid("The body must be JSON: {\"since\", \"until\"}."))?;
    let time = |k: &str| v.get(k).and_then(Value::as_i64).filter(|t| *t >= 0);
    let (Some(since), until) = (time("since"), time("until").unwrap_or(now / 1000)) else {
        return Err(ApiError::invalid("since: required, unix seconds"));
    };
    if until < since
        || v.as_object()
            .is_some_and(|o| o.keys().any(|k| k != "since" && k != "until"))
    {
        return Err(ApiError::invalid(
            "until must not be before since; only since and until are read",
        ));
    }
    let (from, to) = (
        since.saturating_mul(1000),
        until.saturating_mul(1000).saturating_add(999),
    );
    let (forwards, found) = match d.format {
        destination::Format::Meta => {
            let rows = d1::rows(db, &db::relay::deliveries_between(from, to, REPLAY_MAX)).await?;
            let mut kept = Vec::with_capacity(rows.len());
            for r in &rows {
                let Some(did) = r.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let mut parts = d1::batch_rows(db, &db::relay::delivery_body(did))
                    .await?
                    .into_iter();
                let row = parts.next().unwrap_or_default();
                let spilled = parts.next().unwrap_or_default();
                let Some(row) = row.first() else { continue };
                let text = match row.get("raw_ref").and_then(Value::as_str) {
                    Some(rr) => crate::edge::handlers::read::spilled_raw(env, rr, &spilled).await?,
                    None => row
                        .get("raw")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                };
                let bytes = api::raw_body(row.get("raw_encoding").and_then(Value::as_str), text).1;
                kept.push((did.to_owned(), bytes));
            }
            (route::for_replay(&d, &kept, &[]), rows.len())
        }
        destination::Format::Events => {
            let rows = d1::rows(db, &db::relay::events_between(from, to, REPLAY_MAX)).await?;
            let events: Vec<_> = rows.iter().filter_map(db::relay::event_from_row).collect();
            (route::for_replay(&d, &[], &events), rows.len())
        }
    };
    let mut statements = Vec::new();
    db::relay::create_forwards(&mut statements, &forwards, true, now);
    d1::batch(db, &statements).await?;
    let ids: Vec<String> = forwards.iter().map(|f| f.id.clone()).collect();
    let queued = ids.len();
    queue_later(ctx, env, ids);
    http::json(
        202,
        &json!({"queued": queued, "more": found as i64 >= REPLAY_MAX}),
    )
}
