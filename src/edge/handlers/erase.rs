//! `DELETE /v1/contacts/{id}` and the tombstone check every delivery makes:
//! runs the statements of [`crate::erasure`] and deletes the person's R2
//! objects.

use crate::api::ApiError;
use crate::db;
use crate::edge::handlers::media;
use crate::edge::{cache, d1, http};
use crate::erasure::{self, KnownErased};
use crate::inbound::ingest::Plan;
use crate::logline::LogLine;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use worker::{Bucket, D1Database, Env, Response};

thread_local! {
    // The salt never changes once created, so an isolate keeps it.
    static SALT: cache::Slot<Option<String>> = const { RefCell::new(crate::refresh::Slot::new()) };
    static ERASED: RefCell<KnownErased> = RefCell::new(KnownErased::default());
}

/// Remembers `keys` as erased ([`names_erased`]).
fn remember_erased(keys: impl IntoIterator<Item = String>) {
    ERASED.with(|known| known.borrow_mut().remember(keys));
}

/// Whether this isolate has seen one of tombstone `keys` erased (by an
/// erasure it ran, or a delivery's guard that tripped): a delivery naming
/// them would trip its batch's guard, so it is cut ([`forget_erased`])
/// before its first batch instead, saving that round trip (and, on a
/// write shard, a group's refused batch).
pub fn names_erased(keys: &[String]) -> bool {
    ERASED.with(|known| known.borrow().names_any(keys))
}

fn first_value(rows: &[Value]) -> Option<String> {
    rows.first()?.get("value")?.as_str().map(str::to_owned)
}

/// The deployment's erasure salt (migration 0009 makes it), read once per
/// isolate: it never changes.
async fn salt(db: &D1Database) -> Result<Option<String>, ApiError> {
    cache::kept(&SALT, i64::MAX, Option::is_some, || async {
        Ok(first_value(
            &d1::rows(db, &db::erasure::salt_lookup()).await?,
        ))
    })
    .await
}

/// Each identifier by its tombstone key.
fn keyed(salt: &str, named: impl IntoIterator<Item = String>) -> HashMap<String, String> {
    named
        .into_iter()
        .map(|w| (erasure::tombstone_key(salt, &w), w))
        .collect()
}

/// The tombstone keys a delivery's guard checks ([`db::guard::delivery`]):
/// none when it names nobody, or when no salt exists (nobody was ever
/// erased). The salt is read once per isolate.
pub async fn guard_keys(db: &D1Database, plan: &Plan) -> Result<Vec<String>, ApiError> {
    let named = erasure::named(plan);
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let Some(salt) = salt(db).await? else {
        return Ok(Vec::new());
    };
    Ok(keyed(&salt, named).into_keys().collect())
}

/// What [`forget_erased`] made of a plan.
#[derive(Default)]
pub struct Forgotten {
    /// Something was dropped ([`erasure::forget`],
    /// [`erasure::forget_statuses`], [`erasure::forget_events`]).
    pub cut: bool,
    /// The tombstone keys it names that were not erased when read: the
    /// write's guard checks them, so someone erased since is not stored.
    pub unerased: Vec<String>,
}

/// Drops from `plan` what a redelivery says about erased contacts: the
/// tombstones, the erased events it names and which of its statuses'
/// messages are still held, in one round trip (and the salt, once per
/// isolate). Run when the delivery's batch tripped its guard, or when the
/// isolate knows it names someone erased ([`names_erased`]).
pub async fn forget_erased(db: &D1Database, plan: &mut Plan) -> Result<Forgotten, ApiError> {
    let named = erasure::named(plan);
    if named.is_empty() {
        return Ok(Forgotten::default());
    }
    let Some(salt) = salt(db).await? else {
        return Ok(Forgotten::default());
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
    remember_erased(
        tombstones
            .iter()
            .filter_map(|r| Some(r.get("key")?.as_str()?.to_owned())),
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
    let unerased = by_key
        .iter()
        .filter(|(_, id)| !erased.contains_key(*id))
        .map(|(key, _)| key.clone())
        .collect();
    let cut = erasure::forget(plan, &erased);
    let cut = erasure::forget_statuses(plan, &erased, &known) | cut;
    Ok(Forgotten {
        cut: erasure::forget_events(plan, &erased_events) | cut,
        unerased,
    })
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
    let ErasedObjects {
        objects,
        shared,
        media: pending,
    } = objects_of(&media_rows, &raw_rows);
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
    let now = http::now_ms();
    let mut statements = db::erasure::erase_statements(&contact_id, &names, &keys, now);
    if bucket.is_some() && !pending.is_empty() {
        statements.push(db::erasure::pending_objects(&pending, now));
    }
    d1::batch(&db, &statements).await?;
    remember_erased(keys);
    if let Some(bucket) = &bucket {
        let done = delete_again(bucket, &db, objects, &shared).await;
        if done && !pending.is_empty() {
            let forget = db::erasure::forget_objects(&pending, Some(now));
            if d1::batch(&db, &[forget]).await.is_err() {
                http::log(LogLine::warn("erase.pending_forget_failed"));
            }
        }
    }
    http::log(LogLine::new("contact.erased"));
    Ok(Response::empty()
        .map_err(|_| ApiError::internal())?
        .with_status(204))
}

/// The R2 objects an erasure deletes before its batch, from its lookups
/// ([`db::erasure::erase_lookups`]): the copies of media no one else's
/// message names and the raw bodies; the ids of the media someone else's
/// message also names, checked again after the batch; and every media id
/// of either kind, whose copies the second pass deletes ([`delete_again`]).
/// The raw bodies are not among those: deleted before the batch (the
/// erasure fails if they cannot be), nothing writes them again.
fn objects_of(media_rows: &[Value], raw_rows: &[Value]) -> ErasedObjects {
    let mut found = ErasedObjects::default();
    for row in media_rows {
        let Some(id) = row.get("media_id").and_then(Value::as_str) else {
            continue;
        };
        // Anything but a plain "not shared" waits for the check after the batch.
        if row.get("shared").and_then(Value::as_f64) == Some(0.0) {
            found.objects.push(media::object_key(id));
        } else {
            found.shared.push(id.to_owned());
        }
        found.media.push(id.to_owned());
    }
    found.objects.extend(
        raw_rows
            .iter()
            .filter_map(|r| db::ingest::r2_key(r.get("raw_ref")?.as_str()?).map(str::to_owned)),
    );
    found
}

/// What [`objects_of`] finds.
#[derive(Default)]
struct ErasedObjects {
    objects: Vec<String>,
    shared: Vec<String>,
    media: Vec<String>,
}

/// How long after an erasure the cron finishes its second pass, should
/// that pass have failed: by then the erasure has long answered.
pub const SWEEP_AFTER_MS: i64 = 60_000;

/// The most objects one cron run finishes.
const SWEEP_MAX: i64 = 100;

/// The cron's part of erasure: deletes the media copies an erasure's
/// second pass left in R2 ([`db::erasure::due_objects`]), each only while
/// no stored message names the media (one that does is someone else's
/// now). Answers how many it deleted.
pub async fn sweep_objects(env: &Env, db: &D1Database, now_ms: i64) -> Result<usize, ApiError> {
    let rows = d1::rows(
        db,
        &db::erasure::due_objects(now_ms - SWEEP_AFTER_MS, SWEEP_MAX),
    )
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let media_id = |r: &Value| r.get("media_id")?.as_str().map(str::to_owned);
    let all: Vec<String> = rows.iter().filter_map(media_id).collect();
    let gone: Vec<String> = rows
        .iter()
        .filter(|r| r.get("unnamed").and_then(Value::as_f64) == Some(1.0))
        .filter_map(|r| media_id(r).map(|id| media::object_key(&id)))
        .collect();
    if let (Ok(bucket), false) = (env.bucket(media::BUCKET), gone.is_empty()) {
        media::delete_objects(&bucket, &gone)
            .await
            .map_err(|_| ApiError::internal())?;
    }
    d1::batch(db, &[db::erasure::forget_objects(&all, None)]).await?;
    Ok(gone.len())
}

/// After an erasure's batch: deletes `objects` again, now that no row
/// names them (a media download that overtook the first pass may have
/// kept a copy since: it checks for a naming row after keeping one, and
/// may have checked before the batch), with the `shared` media no message
/// names any more (the others it was shared with may have been erased at
/// the same time, each erasure reading the other's message as still
/// naming it). True when it all went through; a failure is logged and the
/// cron finishes the pass ([`sweep_objects`]): the rows are gone, so the
/// answer stays 204.
async fn delete_again(
    bucket: &Bucket,
    db: &D1Database,
    mut objects: Vec<String>,
    shared: &[String],
) -> bool {
    let mut done = true;
    if !shared.is_empty() {
        match d1::rows(db, &db::erasure::unnamed_media(shared)).await {
            Ok(unnamed) => objects.extend(
                unnamed
                    .iter()
                    .filter_map(|r| r.get("media_id")?.as_str().map(media::object_key)),
            ),
            Err(_) => {
                http::log(LogLine::warn("erase.media_recheck_failed"));
                done = false;
            }
        }
    }
    if media::delete_objects(bucket, &objects).await.is_err() {
        http::log(LogLine::warn("erase.r2_delete_failed"));
        done = false;
    }
    done
}
