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

/// Most events one replay call queues; the answer says whether more remain.
const REPLAY_MAX: i64 = 2_000;
/// Most delivery bodies one replay call reads (they are read whole).
const REPLAY_META_MAX: i64 = 200;
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

/// The bodies of kept deliveries (rows of the replay's query), each read
/// whole; a spilled one from its parts or R2.
async fn bodies(
    db: &D1Database,
    env: &Env,
    rows: &[Value],
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(did) = row.get("id").and_then(Value::as_str) else {
            continue;
        };
        kept.push((
            did.to_owned(),
            relay::delivery_bytes(env, db, row, None).await?,
        ));
    }
    Ok(kept)
}

/// A replay bound: absent or null is "not given"; otherwise whole unix
/// seconds (`1739318400` or `1739318400.0`), else 400 naming the field.
fn unix_seconds(v: Option<&Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => crate::strict::whole_number(v)
            .filter(|t| *t >= 0)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(format!("{key}: must be unix seconds (a whole number >= 0)"))
            }),
    }
}

/// Where a replay that stopped at its limit goes on: after the last of
/// `rows`.
fn last_received(rows: &[Value]) -> Option<db::relay::After> {
    db::relay::After::of_row(rows.last()?)
}

/// Queues forwards after the response.
fn queue_later(ctx: &Context, env: &Env, ids: Vec<String>) {
    let env = env.clone();
    ctx.wait_until(async move {
        relay::enqueue(&env, &ids, 0).await;
    });
}

/// A replay's body: the window in ms (`since` to the end of `until`'s
/// second) and where a previous call stopped.
fn replay_window(body: &[u8], now: i64) -> Result<(i64, i64, Option<db::relay::After>), ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::invalid("The body must be JSON: {\"since\", \"until\"}."))?;
    let obj = v.as_object().ok_or_else(|| {
        ApiError::invalid("The body must be a JSON object: {\"since\", \"until\"}.")
    })?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["since", "until", "after"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "{k}: unknown field; only since, until and after are read"
        )));
    }
    let after = match obj.get("after") {
        None | Some(Value::Null) => None,
        Some(a) => Some(
            a.as_str()
                .and_then(db::relay::After::parse)
                .ok_or_else(|| {
                    ApiError::invalid("after: must be the after of a previous answer")
                })?,
        ),
    };
    let since = unix_seconds(obj.get("since"), "since")?
        .ok_or_else(|| ApiError::invalid("since: required, unix seconds"))?;
    let until = unix_seconds(obj.get("until"), "until")?.unwrap_or(now / 1000);
    if until < since {
        return Err(ApiError::invalid("until: must not be before since"));
    }
    let (from, to) = (
        since.saturating_mul(1000),
        until.saturating_mul(1000).saturating_add(999),
    );
    Ok((from, to, after))
}

/// `POST /v1/destinations/{id}/replay {"since", "until", "after"}`: forwards again
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
    let (from, to, after) = replay_window(&body, now)?;
    let (forwards, more) = match d.format {
        destination::Format::Meta => {
            let rows = d1::rows(
                db,
                &db::relay::deliveries_between(from, to, after.as_ref(), REPLAY_META_MAX),
            )
            .await?;
            let kept = bodies(db, env, &rows).await?;
            let more = rows.len() as i64 >= REPLAY_META_MAX;
            (
                route::for_replay(&d, &kept, &[]),
                more.then(|| last_received(&rows)).flatten(),
            )
        }
        destination::Format::Events => {
            let rows = d1::rows(
                db,
                &db::relay::events_between(from, to, after.as_ref(), REPLAY_MAX),
            )
            .await?;
            let events: Vec<_> = rows.iter().filter_map(db::relay::event_from_row).collect();
            let more = rows.len() as i64 >= REPLAY_MAX;
            (
                route::for_replay(&d, &[], &events),
                more.then(|| last_received(&rows)).flatten(),
            )
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
        &json!({
            "queued": queued,
            "more": more.is_some(),
            "next_since": more.as_ref().map(|a| a.received_at / 1000),
            "after": more.as_ref().map(db::relay::After::to_text),
        }),
    )
}
