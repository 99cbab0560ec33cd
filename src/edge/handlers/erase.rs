//! `DELETE /v1/contacts/{id}` and the tombstone check every delivery makes:
//! runs the statements of [`crate::erasure`] and deletes the person's R2
//! objects.

use crate::api::ApiError;
use crate::db;
use crate::edge::handlers::media;
use crate::edge::{d1, http};
use crate::erasure;
use crate::inbound::ingest::Plan;
use crate::logline::LogLine;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use worker::{D1Database, Env, Response};

thread_local! {
    // The salt never changes once created, so an isolate keeps it.
    static SALT: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn first_value(rows: &[Value]) -> Option<String> {
    rows.first()?.get("value")?.as_str().map(str::to_owned)
}

/// The deployment's erasure salt, if any contact was ever erased.
async fn salt(db: &D1Database) -> Result<Option<String>, ApiError> {
    if let Some(s) = SALT.with(|s| s.borrow().clone()) {
        return Ok(Some(s));
    }
    let found = first_value(&d1::rows(db, &db::erasure::salt_lookup()).await?);
    if let Some(s) = &found {
        SALT.with(|slot| *slot.borrow_mut() = Some(s.clone()));
    }
    Ok(found)
}

/// Each identifier by its tombstone key.
fn keyed(salt: &str, named: impl IntoIterator<Item = String>) -> HashMap<String, String> {
    named
        .into_iter()
        .map(|w| (erasure::tombstone_key(salt, &w), w))
        .collect()
}

/// The guard statement for a delivery's batch ([`db::erasure::guard`]):
/// none when it names nobody, or when no salt exists (nobody was ever
/// erased). The salt is read once per isolate.
pub async fn guard(db: &D1Database, plan: &Plan) -> Result<Option<crate::db::Stmt>, ApiError> {
    let named = erasure::named(plan);
    if named.is_empty() {
        return Ok(None);
    }
    let Some(salt) = salt(db).await? else {
        return Ok(None);
    };
    let keys: Vec<String> = keyed(&salt, named).into_keys().collect();
    Ok(Some(db::erasure::guard(&keys)))
}

/// Drops from `plan` what a redelivery says about erased contacts: the
/// tombstones, the erased events it names and which of its statuses'
/// messages are still held, in one round trip (and the
/// salt, once per isolate). Run only when the delivery's batch tripped its
/// [`guard`]. True when something was dropped ([`erasure::forget`],
/// [`erasure::forget_statuses`], [`erasure::forget_events`]).
pub async fn forget_erased(db: &D1Database, plan: &mut Plan) -> Result<bool, ApiError> {
    let named = erasure::named(plan);
    if named.is_empty() {
        return Ok(false);
    }
    let Some(salt) = salt(db).await? else {
        return Ok(false);
    };
    let by_key = keyed(&salt, named);
    let keys: Vec<String> = by_key.keys().cloned().collect();
    let lookups = [
        db::erasure::tombstone_lookup(&keys),
        db::erasure::erased_event_lookup(&erasure::naming_events(plan)),
        db::erasure::known_messages(&erasure::status_wamids(plan)),
    ];
    let mut found = d1::batch_rows(db, &lookups).await?.into_iter();
    let (tombstones, events, known) = (
        found.next().unwrap_or_default(),
        found.next().unwrap_or_default(),
        found.next().unwrap_or_default(),
    );
    let erased: HashMap<String, i64> = tombstones
        .iter()
        .filter_map(|r| {
            let wa_id = by_key.get(r.get("key")?.as_str()?)?;
            let at = r.get("erased_at")?.as_f64()? as i64;
            Some((wa_id.clone(), at))
        })
        .collect();
    let erased_events: BTreeSet<String> = events
        .iter()
        .filter_map(|r| Some(r.get("id")?.as_str()?.to_owned()))
        .collect();
    let known: BTreeSet<String> = known
        .iter()
        .filter_map(|r| Some(r.get("wamid")?.as_str()?.to_owned()))
        .collect();
    let cut = erasure::forget(plan, &erased);
    let cut = erasure::forget_statuses(plan, &erased, &known) | cut;
    Ok(erasure::forget_events(plan, &erased_events) | cut)
}

/// `DELETE /v1/contacts/{id}`: erases the contact (named by its id, a
/// BSUID or a phone number) everywhere and leaves tombstones for its
/// identifiers; 204 whether or not anything was stored about them.
pub async fn handle(id: &str, env: &Env) -> Result<Response, ApiError> {
    let who = crate::edge::handlers::read::contact_ref(id)?;
    let db = d1::database(env)?;
    let fresh = http::random::<32>()?;
    let salt = first_value(
        d1::batch_rows(&db, &db::erasure::ensure_salt(&hex::encode(fresh)))
            .await?
            .get(1)
            .map_or(&[][..], Vec::as_slice),
    )
    .ok_or_else(ApiError::internal)?;
    let rows = d1::rows(&db, &db::erasure::contact_lookup(&who)).await?;
    let erasure::Identifiers {
        contact_id,
        numbers,
        users,
        names,
    } = erasure::identifiers(&rows, &who, id);
    let mut found = d1::batch_rows(&db, &db::erasure::erase_lookups(&contact_id, &names))
        .await?
        .into_iter();
    let (media_rows, mut raw_rows) = (
        found.next().unwrap_or_default(),
        found.next().unwrap_or_default(),
    );
    raw_rows.extend(found.next().unwrap_or_default());
    let bucket = env.bucket(media::BUCKET).ok();
    let media_of = |shared: bool| -> Vec<String> {
        media_rows
            .iter()
            .filter(|r| {
                r.get("shared")
                    .and_then(Value::as_i64)
                    .is_some_and(|s| (s != 0) == shared)
            })
            .filter_map(|r| Some(r.get("media_id")?.as_str()?.to_owned()))
            .collect()
    };
    let shared = media_of(true);
    let mut objects: Vec<String> = media_of(false)
        .iter()
        .map(|m| super::media::object_key(m))
        .chain(
            raw_rows
                .iter()
                .filter_map(|r| db::ingest::r2_key(r.get("raw_ref")?.as_str()?).map(str::to_owned)),
        )
        .collect();
    if let Some(bucket) = &bucket {
        if media::delete_objects(bucket, &objects).await.is_err() {
            http::log(LogLine::warn("erase.r2_delete_failed"));
            return Err(ApiError::internal());
        }
    }
    let keys: Vec<String> = numbers
        .iter()
        .chain(users.iter())
        .map(|i| erasure::tombstone_key(&salt, i))
        .collect();
    d1::batch(
        &db,
        &db::erasure::erase_statements(&contact_id, &names, &keys, http::now_ms()),
    )
    .await?;
    // Again, now that no row names them: a media download that overtook the
    // first pass may have kept a copy since (it checks for a naming row
    // after keeping one, and may have checked before the batch). With them
    // goes the shared media that no message names any more: the others it
    // was shared with may have been erased at the same time, each erasure
    // reading the other's message as still naming it.
    if let Some(bucket) = &bucket {
        if !shared.is_empty() {
            // A failed read leaves the copy, as a failed delete below does.
            if let Ok(unnamed) = d1::rows(&db, &db::erasure::unnamed_media(&shared)).await {
                objects.extend(
                    unnamed
                        .iter()
                        .filter_map(|r| r.get("media_id")?.as_str().map(super::media::object_key)),
                );
            }
        }
        if media::delete_objects(bucket, &objects).await.is_err() {
            http::log(LogLine::warn("erase.r2_delete_failed"));
        }
    }
    http::log(LogLine::new("contact.erased"));
    Ok(Response::empty()
        .map_err(|_| ApiError::internal())?
        .with_status(204))
}
