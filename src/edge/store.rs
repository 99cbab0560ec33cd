//! Writes authenticated deliveries to D1 with their effects: one at a time
//! ([`one`], the direct path), or several waiting deliveries of a write
//! shard in one batch ([`group`], called by [`super::writer`]).
//!
//! A delivery that needs no lookup (no rules to match, caches warm) costs
//! one D1 round trip: the batch itself checks ([`db::guard::delivery`])
//! that it names nobody erased and that the destinations it was planned
//! with are still D1's. Only when that check trips are the tombstones read
//! and the plan cut, or the destinations reloaded, and the batch built
//! again.

use crate::api::ApiError;
use crate::db;
use crate::db::ingest::{Spill, SpillTo};
use crate::edge::config::Config;
use crate::edge::handlers::{erase, media};
use crate::edge::{cache, clock, d1, http};
use crate::ids::PhoneNumberId;
use crate::inbound::autoreply::{self, Effects};
use crate::inbound::ingest::{self, Counts, Delivery, Plan, Scope};
use crate::inbound::rules::Rule;
use crate::inbound::shards::{Candidate, Group};
use crate::outbound::send;
use serde::{Deserialize, Serialize};
use worker::{D1Database, Env};

/// An authenticated delivery waiting to be written.
pub struct Job {
    pub body: Vec<u8>,
    pub scope: Scope,
    /// Receipt time, ms since the epoch.
    pub now: i64,
}

impl Job {
    fn delivery(&self, config: &Config) -> Delivery {
        Delivery {
            received_at: self.now / 1000,
            scope: self.scope.clone(),
            default_channel: config.phone_number_id.clone().map(PhoneNumberId),
        }
    }

    fn plan(&self, config: &Config) -> Plan {
        ingest::plan(&self.body, &self.delivery(config))
    }

    /// The channel its scope names (a 360dialog delivery's own).
    pub fn channel(&self) -> Option<String> {
        match &self.scope {
            Scope::Channel(own) => Some(own.0.clone()),
            Scope::App => None,
        }
    }
}

/// What writing a delivery made, for the answer, the log line and the work
/// after the response.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stored {
    pub counts: Counts,
    /// Outbox ids to send after the response.
    pub enqueued: Vec<String>,
    /// Forward ids to queue for the relay.
    pub forwards: Vec<String>,
    /// Statements in the delivery's own part of the batch.
    pub statements: usize,
    /// D1 round trips the write took (shared by a group's deliveries).
    pub d1_round_trips: usize,
    /// Deliveries written in the same batch, this one included.
    pub grouped: usize,
    /// The write shard that wrote it, on the sharded path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
}

/// Writes one delivery on its own.
pub async fn one(env: &Env, config: &Config, job: &Job) -> Result<Stored, ApiError> {
    let trips_before = d1::round_trips();
    let db = d1::database(env)?;
    let mut plan = job.plan(config);
    planned(env, &db, config, job, &mut plan, trips_before, Vec::new()).await
}

/// Writes `plan`, already made of `job`, on its own. `refused`: what an
/// earlier, refused batch of it put in R2 (a group's), deleted unless the
/// write names it.
async fn planned(
    env: &Env,
    db: &D1Database,
    config: &Config,
    job: &Job,
    plan: &mut Plan,
    trips_before: u64,
    mut refused: Vec<db::ingest::Blob>,
) -> Result<Stored, ApiError> {
    let channel = job.channel();
    let at = Batch::new(env, db, config, job, &channel);
    let keys = erase::guard_keys(db, plan).await?;
    if erase::names_erased(&keys) {
        return without_erased(&at, plan, &[], trips_before, refused).await;
    }
    let (prepared, ran) = run_fresh(&at, plan, &keys, Body::Whole, &mut refused).await?;
    if ran == Ran::Done {
        drop_unnamed(env, db, blobs_of(&[&prepared], refused), Vec::new()).await;
        return Ok(prepared.stored(plan, trips_before, 1));
    }
    without_erased(&at, plan, &prepared.writes.blobs, trips_before, refused).await
}

/// Writes `plan`, which names someone erased: the tombstones are read, the
/// plan cut, and the rest written. Run once its batch tripped the erasure
/// guard (`tripped`: what that attempt put in R2), or before any batch when
/// the isolate already knows ([`erase::names_erased`]). What the tripped
/// attempt put in R2 and the cut plan does not name (an erased person's
/// raw bodies) has no row pointing at it, so it is removed
/// ([`drop_unnamed`]).
async fn without_erased(
    at: &Batch<'_>,
    plan: &mut Plan,
    tripped: &[db::ingest::Blob],
    trips_before: u64,
    mut refused: Vec<db::ingest::Blob>,
) -> Result<Stored, ApiError> {
    let forgotten = erase::forget_erased(at.db, plan).await?;
    let body = if forgotten.cut {
        Body::NamesErased
    } else {
        Body::Whole
    };
    let (prepared, ran) = run_fresh(at, plan, &forgotten.unerased, body, &mut refused).await?;
    if ran != Ran::Done {
        // Someone it names was erased after the tombstones were read:
        // nothing was written, and Meta's next delivery of it finds them.
        http::log(crate::logline::LogLine::warn(
            "webhook.erased_while_writing",
        ));
        let mut put = blobs_of(&[&prepared], refused);
        put.extend(tripped.iter().cloned());
        drop_unnamed(at.env, at.db, put, Vec::new()).await;
        return Err(ApiError::internal());
    }
    let kept = |key: &String| prepared.writes.blobs.iter().any(|b| &b.key == key);
    let cut: Vec<String> = tripped
        .iter()
        .map(|b| b.key.clone())
        .filter(|k| !kept(k))
        .collect();
    drop_unnamed(at.env, at.db, blobs_of(&[&prepared], refused), cut).await;
    Ok(prepared.stored(plan, trips_before, 1))
}

/// What became of a group ([`group`]).
pub enum Grouped {
    /// Its members' outcomes, in order: at least one.
    Written(Vec<Result<Stored, ApiError>>),
    /// The batch of the first `n` deliveries was refused (its guard
    /// tripped, or D1 failed it) and nothing of it was written: each is to
    /// be written on its own ([`one`]), in order, by its own request, so
    /// one member's fault or erased person costs the others one more batch
    /// and no request more than its own queries.
    Refused(usize),
}

/// Writes the longest front of `jobs` that fits one batch
/// ([`Group::admit`]): at least one delivery, at most `jobs.len()`. A
/// delivery whose auto-replies need a lookup is written alone; a batch of
/// one that is refused is written again at once, as [`one`] would.
// Long because it is one pass over the queue: plan, admit, prepare, run.
pub async fn group(env: &Env, config: &Config, jobs: &[&Job]) -> Grouped {
    let trips_before = d1::round_trips();
    let Some(first) = jobs.first() else {
        return Grouped::Written(Vec::new());
    };
    let db = match d1::database(env) {
        Ok(db) => db,
        Err(e) => return Grouped::Written(vec![Err(e)]),
    };
    let mut rules: Option<Vec<Rule>> = None;
    let mut group = Group::default();
    let mut members: Vec<(Plan, Prepared)> = Vec::new();
    let channels: Vec<Option<String>> = jobs.iter().map(|j| j.channel()).collect();
    for (job, channel) in jobs.iter().zip(&channels) {
        if !group.has_room(job.body.len()) {
            break;
        }
        let mut plan = job.plan(config);
        // A delivery known to name someone erased is cut and written
        // alone, rather than refusing the group's batch.
        let looked_up = match erase::guard_keys(&db, &plan).await {
            Ok(keys) if erase::names_erased(&keys) => Ok((true, keys)),
            Ok(keys) => needs_lookup(&db, config, &plan, &mut rules)
                .await
                .map(|alone| (alone, keys)),
            Err(e) => Err(e),
        };
        let (alone, keys) = match looked_up {
            Ok(found) => found,
            Err(e) if members.is_empty() => return Grouped::Written(vec![Err(e)]),
            Err(_) => break,
        };
        if alone && members.is_empty() {
            let stored = planned(env, &db, config, first, &mut plan, trips_before, Vec::new());
            return Grouped::Written(vec![stored.await]);
        }
        if alone {
            break;
        }
        let at = Batch::new(env, &db, config, job, channel);
        let prepared = match at
            .prepare(&plan, &keys, Body::Whole, rules.as_deref())
            .await
        {
            Ok(p) => p,
            Err(e) if members.is_empty() => return Grouped::Written(vec![Err(e)]),
            Err(_) => break,
        };
        let fits = group.admit(Candidate {
            alone,
            statements: prepared.writes.statements.len(),
            bytes: job.body.len(),
        });
        if !fits {
            break;
        }
        members.push((plan, prepared));
    }
    let n = members.len();
    for ((plan, prepared), (job, channel)) in members.iter_mut().zip(jobs.iter().zip(&channels)) {
        Batch::new(env, &db, config, job, channel)
            .settle(plan, prepared)
            .await;
    }
    let all: Vec<&Prepared> = members.iter().map(|(_, p)| p).collect();
    let ran = run(&db, &all).await;
    if let Ok(Ran::Changed) = ran {
        cache::forget_destinations();
    }
    match (ran, members.as_mut_slice()) {
        (Ok(Ran::Done), _) => {
            drop_unnamed(env, &db, put_by(&members), Vec::new()).await;
            let stored = members
                .iter()
                .map(|(plan, p)| Ok(p.stored(plan, trips_before, n)));
            Grouped::Written(stored.collect())
        }
        (Ok(Ran::Erased), [(plan, tripped)]) => {
            let own = first.channel();
            let at = Batch::new(env, &db, config, first, &own);
            let stored = without_erased(&at, plan, &tripped.writes.blobs, trips_before, Vec::new());
            Grouped::Written(vec![stored.await])
        }
        (Ok(Ran::Changed), [(plan, refused)]) => {
            let refused = refused.writes.blobs.clone();
            let stored = planned(env, &db, config, first, plan, trips_before, refused);
            Grouped::Written(vec![stored.await])
        }
        (Err(e), [_]) => Grouped::Written(vec![Err(e)]),
        // Someone in the group was erased, the destinations changed, or D1
        // failed the batch: each delivery on its own, so only the erased
        // person's is cut, each is planned with the destinations D1 has,
        // and only a delivery D1 cannot take fails.
        (ran, _) => {
            let why = match ran {
                Ok(Ran::Erased) => "erased",
                Ok(_) => "destinations_changed",
                Err(_) => "d1_error",
            };
            http::log(
                crate::logline::LogLine::new("shard.group_split")
                    .kind("why", why)
                    .count("deliveries", n),
            );
            // What the refused batch put in R2 and no row names goes, before
            // any member's own write puts its objects again.
            drop_unnamed(env, &db, put_by(&members), Vec::new()).await;
            Grouped::Refused(n)
        }
    }
}

/// What a group's members put in R2 ([`blobs_of`]).
fn put_by(members: &[(Plan, Prepared)]) -> Vec<db::ingest::Blob> {
    let parts: Vec<&Prepared> = members.iter().map(|(_, p)| p).collect();
    blobs_of(&parts, Vec::new())
}

/// Whether `plan`'s auto-replies are decided from D1 (its rules, read
/// once per group from the isolate's cache, go in `rules`).
async fn needs_lookup(
    db: &D1Database,
    config: &Config,
    plan: &Plan,
    rules: &mut Option<Vec<Rule>>,
) -> Result<bool, ApiError> {
    if plan.messages.is_empty() {
        return Ok(false);
    }
    if rules.is_none() {
        *rules = Some(cache::rules(db).await?);
    }
    Ok(autoreply::needs_lookup(
        plan,
        rules.as_deref().unwrap_or_default(),
        &config.opt,
    ))
}

/// What one delivery's batch is written with.
struct Batch<'a> {
    env: &'a Env,
    db: &'a D1Database,
    config: &'a Config,
    body: &'a [u8],
    channel: &'a Option<String>,
    now: i64,
}

/// A delivery's part of a batch, and what it makes.
struct Prepared {
    effects: Effects,
    relay: Option<RelayPlan>,
    guard: db::Stmt,
    /// Its whole body could be kept, and is not: no destination was cached.
    unkept: bool,
    /// The tag of its spilled bodies ([`Spill::tag`]); empty when its body
    /// is too short for any to spill.
    tag: String,
    writes: db::ingest::Writes,
}

impl Prepared {
    fn stored(&self, plan: &Plan, trips_before: u64, grouped: usize) -> Stored {
        Stored {
            counts: plan.counts(),
            enqueued: self.effects.enqueue.iter().map(|e| e.id.clone()).collect(),
            forwards: self
                .relay
                .as_ref()
                .map(RelayPlan::forward_ids)
                .unwrap_or_default(),
            statements: self.writes.statements.len(),
            d1_round_trips: (d1::round_trips() - trips_before) as usize,
            grouped,
            shard: None,
        }
    }
}

impl<'a> Batch<'a> {
    fn new(
        env: &'a Env,
        db: &'a D1Database,
        config: &'a Config,
        job: &'a Job,
        channel: &'a Option<String>,
    ) -> Batch<'a> {
        Batch {
            env,
            db,
            config,
            body: &job.body,
            channel,
            now: job.now,
        }
    }

    /// Decides `plan`'s effects and relay part and builds its statements,
    /// its guard first (checking tombstone `keys` and the destinations'
    /// version), with long bodies meant for R2 when there is a bucket.
    /// Its auto-replies are decided with `rules` when given (a group's,
    /// the ones it was admitted by), else with the isolate's cached rules.
    async fn prepare(
        &self,
        plan: &Plan,
        keys: &[String],
        body: Body,
        rules: Option<&[Rule]>,
    ) -> Result<Prepared, ApiError> {
        let effects = effects(self.db, plan, self.config, rules).await?;
        let kept = match body {
            Body::Whole => Some(self.body),
            Body::NamesErased => None,
        };
        let destinations = cache::destinations(self.db).await?;
        let guard = db::guard::delivery(keys, destinations.version.as_deref());
        let relay = relay_plan(&destinations.all, kept, plan, self.channel).await?;
        let spill_to = if self.env.bucket(media::BUCKET).is_ok() {
            SpillTo::R2
        } else {
            SpillTo::Rows
        };
        // No item is longer than its delivery, so a short one spills nothing
        // and is not hashed; a long one's hash is the relay's key when it
        // has one.
        let tag = match relay.as_ref().and_then(|r| r.delivery_id.as_ref()) {
            _ if self.body.len() <= db::ingest::INLINE_RAW_MAX => String::new(),
            Some(id) => id.clone(),
            None => crate::edge::crypto::delivery_id(self.body).await?,
        };
        let mut prepared = Prepared {
            effects,
            unkept: kept.is_some() && relay.is_none(),
            relay,
            guard,
            tag,
            writes: db::ingest::Writes::default(),
        };
        prepared.writes = self.writes(plan, &prepared, spill_to);
        Ok(prepared)
    }

    fn writes(&self, plan: &Plan, p: &Prepared, to: SpillTo) -> db::ingest::Writes {
        let spill = Spill { to, tag: &p.tag };
        let enqueue = db::outbox::enqueue_statements(&p.effects.enqueue, self.now);
        let mut writes =
            db::ingest::delivery_writes(plan, &p.effects.opts, enqueue, self.now, spill);
        if let Some(relay) = &p.relay {
            relay.writes(&mut writes, self.body, plan, spill, self.now);
        }
        // Nothing to write needs no check (and no round trip), unless the
        // relay, with no destination cached, might have kept the body.
        if !writes.statements.is_empty() || p.unkept {
            writes.statements.insert(0, p.guard.clone());
        }
        writes
    }

    /// Puts the bodies meant for R2; when R2 refuses, keeps them all in D1
    /// (and deletes those it had put).
    async fn settle(&self, plan: &Plan, p: &mut Prepared) {
        let Ok(bucket) = self.env.bucket(media::BUCKET) else {
            return;
        };
        for (i, blob) in p.writes.blobs.iter().enumerate() {
            let put = bucket
                .put(&blob.key, blob.data.clone().into_bytes())
                .execute()
                .await;
            if put.is_err() {
                http::log(crate::logline::LogLine::warn("webhook.r2_put_failed"));
                let put: Vec<String> = p
                    .writes
                    .blobs
                    .iter()
                    .take(i)
                    .map(|b| b.key.clone())
                    .collect();
                p.writes = self.writes(plan, p, SpillTo::Rows);
                if media::delete_objects(&bucket, &put).await.is_err() {
                    http::log(crate::logline::LogLine::warn("webhook.r2_delete_failed"));
                }
                return;
            }
        }
    }
}

/// Deletes, once `parts` are written, the R2 objects they put that no row
/// names ([`db::ingest::unnamed_blobs`]: their rows already existed), and
/// `cut` (objects of an attempt the erasure guard rolled back). Best
/// effort: what stays behind is named by no row, and a failure is logged.
async fn drop_unnamed(
    env: &Env,
    db: &D1Database,
    blobs: Vec<db::ingest::Blob>,
    mut cut: Vec<String>,
) {
    if !blobs.is_empty() {
        match d1::rows(db, &db::ingest::unnamed_blobs(&blobs)).await {
            Ok(rows) => cut.extend(
                rows.iter()
                    .filter_map(|r| r.get("key")?.as_str().map(str::to_owned)),
            ),
            Err(_) => http::log(crate::logline::LogLine::warn("webhook.r2_check_failed")),
        }
    }
    if cut.is_empty() {
        return;
    }
    let Ok(bucket) = env.bucket(media::BUCKET) else {
        return;
    };
    if media::delete_objects(&bucket, &cut).await.is_err() {
        http::log(crate::logline::LogLine::warn("webhook.r2_delete_failed"));
    }
}

/// How a batch of deliveries ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ran {
    Done,
    /// One names an erased person ([`db::guard::ERASED`]): nothing was written.
    Erased,
    /// The destinations changed since the batch was planned
    /// ([`db::guard::DESTINATIONS_CHANGED`]): nothing was written.
    Changed,
}

/// The R2 objects `parts` put, and `refused` (put by refused batches).
fn blobs_of(parts: &[&Prepared], mut refused: Vec<db::ingest::Blob>) -> Vec<db::ingest::Blob> {
    refused.extend(parts.iter().flat_map(|p| p.writes.blobs.iter().cloned()));
    refused
}

/// Runs the parts as one transaction.
async fn run(db: &D1Database, parts: &[&Prepared]) -> Result<Ran, ApiError> {
    let statements: Vec<&db::Stmt> = parts.iter().flat_map(|p| &p.writes.statements).collect();
    let guards = [db::guard::ERASED, db::guard::DESTINATIONS_CHANGED];
    Ok(match d1::batch_guarded(db, &statements, &guards).await? {
        d1::Guarded::Done => Ran::Done,
        d1::Guarded::Tripped(c) if c == db::guard::ERASED => Ran::Erased,
        d1::Guarded::Tripped(_) => Ran::Changed,
    })
}

/// Prepares `plan` alone (tombstone `keys` in its guard) and runs it; when
/// the guard finds the destinations changed, reloads them and does it
/// again. What a refused try put in R2 goes in `refused`, for the caller
/// to delete unless the write names it (a try may keep a body the next,
/// with no destination left, does not); when no try is written, it is
/// deleted here.
async fn run_fresh(
    at: &Batch<'_>,
    plan: &Plan,
    keys: &[String],
    body: Body,
    refused: &mut Vec<db::ingest::Blob>,
) -> Result<(Prepared, Ran), ApiError> {
    for _ in 0..db::guard::FRESH_TRIES {
        let mut prepared = at.prepare(plan, keys, body, None).await?;
        at.settle(plan, &mut prepared).await;
        match run(at.db, &[&prepared]).await? {
            Ran::Changed => {
                cache::forget_destinations();
                refused.extend(prepared.writes.blobs);
            }
            ran => return Ok((prepared, ran)),
        }
    }
    http::log(crate::logline::LogLine::warn(
        "webhook.destinations_unsettled",
    ));
    drop_unnamed(at.env, at.db, std::mem::take(refused), Vec::new()).await;
    Err(ApiError::internal())
}

/// Whether the relay may keep and forward a delivery's body as it arrived.
#[derive(Clone, Copy)]
enum Body {
    Whole,
    /// Its plan was cut by erasure ([`erase::forget_erased`]): the bytes
    /// still carry the erased person, so only the surviving items' events
    /// are kept and forwarded.
    NamesErased,
}

/// What the relay keeps of a delivery and the forwards it makes.
struct RelayPlan {
    /// The body's key ([`crate::relay::route::delivery_id`]), when the body
    /// is kept.
    delivery_id: Option<String>,
    events: Vec<crate::relay::events::Event>,
    forwards: Vec<crate::relay::route::Forward>,
    channel: Option<String>,
}

impl RelayPlan {
    /// Adds the relay's statements to `writes` ([`db::relay::keep_delivery`]).
    fn writes(
        &self,
        writes: &mut db::ingest::Writes,
        body: &[u8],
        plan: &Plan,
        spill: Spill,
        now: i64,
    ) {
        let kept = self.delivery_id.as_deref().map(|id| db::relay::Kept {
            id,
            channel: self.channel.as_deref(),
            body,
        });
        db::relay::keep_delivery(
            writes,
            spill,
            kept.as_ref(),
            plan,
            (&self.events, &self.forwards),
            now,
        );
    }

    fn forward_ids(&self) -> Vec<String> {
        self.forwards.iter().map(|f| f.id.clone()).collect()
    }
}

/// The relay's part of a delivery (its body when `body` is given), with
/// `destinations` (from the isolate's cache, whose version the delivery's
/// guard checks); none while there is no
/// destination ([`crate::relay::route::keeps`]): then the body is not
/// hashed, no events are made and the batch has no relay statements.
async fn relay_plan(
    destinations: &[crate::relay::destination::Destination],
    body: Option<&[u8]>,
    plan: &Plan,
    channel: &Option<String>,
) -> Result<Option<RelayPlan>, ApiError> {
    if !crate::relay::route::keeps(destinations) {
        return Ok(None);
    }
    let events = crate::relay::events::of_plan(plan);
    let delivery_id = match body {
        Some(body) => Some(crate::edge::crypto::delivery_id(body).await?),
        None => None,
    };
    let kept = delivery_id.as_deref().zip(body);
    let forwards = crate::relay::route::for_delivery(kept, &events, destinations);
    Ok(Some(RelayPlan {
        delivery_id,
        events,
        forwards,
        channel: channel.clone(),
    }))
}

/// What the delivery's new messages make us send: opt-out handling and rule
/// replies, with `rules` when given, else the isolate's cached rules. Reads
/// D1 only when there are rules or an opt keyword arrived.
///
/// A group's members are decided with the rules the group admitted them
/// by: were they read again, a refresh of the cache in between could give
/// two members of one batch a rule that looks up D1, each without the
/// other's rows, and the rule would answer twice.
async fn effects(
    db: &D1Database,
    plan: &Plan,
    config: &Config,
    rules: Option<&[Rule]>,
) -> Result<Effects, ApiError> {
    let cached;
    let rules = match rules {
        Some(rules) => rules,
        None if plan.messages.is_empty() => &[],
        None => {
            cached = cache::rules(db).await?;
            &cached[..]
        }
    };
    if !autoreply::needs_lookup(plan, rules, &config.opt) {
        return Ok(Effects::default());
    }
    let known = db::lookups::known_from_rows(
        &d1::batch_rows(db, &db::lookups::known_statements(plan)).await?,
    );
    let mut failed = false;
    let mut new_id = || match http::random() {
        Ok(bytes) => send::new_id(bytes),
        Err(_) => {
            failed = true;
            String::new()
        }
    };
    let effects = autoreply::decide(
        plan,
        rules,
        &known,
        &config.opt,
        &clock::local_time,
        &mut new_id,
    );
    if failed {
        return Err(ApiError::internal());
    }
    Ok(effects)
}
