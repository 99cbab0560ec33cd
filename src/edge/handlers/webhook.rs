//! The webhook endpoints: Meta's verification handshake and signed
//! deliveries, and 360dialog's per-channel deliveries.

use crate::api::ApiError;
use crate::db;
use crate::db::ingest::SpillTo;
use crate::edge::config::Config;
use crate::edge::handlers::{erase, media};
use crate::edge::{cache, channels, clock, d1, delivery, http};
use crate::ids::PhoneNumberId;
use crate::inbound::autoreply::{self, Effects};
use crate::inbound::ingest;
use crate::inbound::ingest::{Delivery, Scope};
use crate::logline::LogLine;
use crate::outbound::send;
use crate::whatsapp::webhook::{self, signature, verify};
use worker::{Context, D1Database, Env, Request, Response};

/// `GET /webhook`: echoes the challenge for our verify token, else 403.
pub fn verify(req: &Request, config: &Config) -> std::result::Result<Response, ApiError> {
    let query = http::query_pairs(req);
    match verify::challenge_response(&query, config.verify_token.as_deref()) {
        Some(challenge) => {
            http::log(LogLine::new("webhook.verified"));
            http::text(200, challenge)
        }
        None => {
            http::log(LogLine::warn("webhook.verify_refused"));
            http::text(403, "Forbidden")
        }
    }
}

/// `POST /webhook`: a Meta delivery, authenticated by `X-Hub-Signature-256`.
pub async fn receive(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
) -> std::result::Result<Response, ApiError> {
    if config.app_secrets.is_empty() {
        http::log(LogLine::warn("config.missing").kind("name", "WHATSAPP_APP_SECRET"));
        return Err(ApiError::internal());
    }
    let body = read_json_body(req).await?;
    let header = req.headers().get("X-Hub-Signature-256").ok().flatten();
    if let Err(e) = signature::verify(header.as_deref(), &body, &config.app_secrets) {
        http::log(LogLine::warn("webhook.unauthenticated").kind(
            "reason",
            match e {
                signature::SignatureError::Missing => "missing",
                signature::SignatureError::Malformed => "malformed",
                signature::SignatureError::Mismatch => "mismatch",
                signature::SignatureError::NoSecret => "no_secret",
            },
        ));
        return Err(ApiError::unauthorized(
            "invalid_signature",
            "X-Hub-Signature-256 realm=\"wa-edge\"",
            e.to_string(),
        ));
    }
    store_delivery(&body, env, ctx, config, Scope::App).await
}

/// `POST /webhook/360dialog/{phone_number_id}`: a 360dialog delivery,
/// authenticated by the channel's Basic credentials (360dialog does not sign).
pub async fn receive_360(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    phone_number_id: &str,
) -> std::result::Result<Response, ApiError> {
    let unauthorized = || {
        http::log(LogLine::warn("webhook360.unauthenticated"));
        ApiError::unauthorized(
            "unauthorized",
            "Basic realm=\"wa-edge\"",
            "This webhook needs the Authorization header configured for the channel.",
        )
    };
    let db = d1::database(env)?;
    let (channel, origin) = channels::find_with_origin(&db, config, phone_number_id)
        .await?
        .filter(|(c, _)| c.provider() == crate::whatsapp::graph::Provider::Dialog360)
        .ok_or_else(unauthorized)?;
    let user_pass = channel
        .webhook_auth_secret
        .as_deref()
        .and_then(|name| channels::secret_of(env, origin, name))
        .ok_or_else(unauthorized)?;
    let given = req.headers().get("Authorization").ok().flatten();
    if !webhook::check_basic_auth(given.as_deref(), &user_pass) {
        return Err(unauthorized());
    }
    let body = read_json_body(req).await?;
    let scope = Scope::Channel(PhoneNumberId(channel.phone_number_id.clone()));
    store_delivery(&body, env, ctx, config, scope).await
}

/// Checks the content type and reads the body under the size limit.
async fn read_json_body(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
    let content_type = req.headers().get("Content-Type").ok().flatten();
    if !webhook::is_json_content_type(content_type.as_deref()) {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "Webhook notifications must be sent as application/json.",
        ));
    }
    http::read_body_capped(req, webhook::MAX_BODY_BYTES).await
}

/// Stores an authenticated delivery and its effects in one batch, answers,
/// and sends (a bounded number of) the effects after the response.
///
/// One D1 round trip when the delivery needs no lookup (no rules to match,
/// caches warm): the batch itself checks that it names nobody erased
/// ([`erase::guard`]); only when that check trips are the tombstones read,
/// the plan cut and the batch built again.
async fn store_delivery(
    body: &[u8],
    env: &Env,
    ctx: &Context,
    config: &Config,
    scope: Scope,
) -> std::result::Result<Response, ApiError> {
    let now = http::now_ms();
    let trips_before = d1::round_trips();
    let scope_channel = match &scope {
        Scope::Channel(own) => Some(own.0.clone()),
        Scope::App => None,
    };
    let delivery = Delivery {
        received_at: now / 1000,
        scope,
        default_channel: config.phone_number_id.clone().map(PhoneNumberId),
    };
    let mut plan = ingest::plan(body, &delivery);
    let db = d1::database(env)?;
    let at = Batch {
        env,
        db: &db,
        config,
        body,
        channel: &scope_channel,
        now,
    };
    let guard = erase::guard(&db, &plan).await?;
    let written = match at.write(&plan, guard).await? {
        Some(written) => written,
        None => {
            erase::forget_erased(&db, &mut plan).await?;
            at.write(&plan, None)
                .await?
                .ok_or_else(ApiError::internal)?
        }
    };
    if !written.enqueued.is_empty() {
        delivery::after_response(ctx, env, config, written.enqueued.clone());
    }
    if !written.forwards.is_empty() {
        let (env, ids) = (env.clone(), written.forwards);
        ctx.wait_until(async move {
            crate::edge::relay::enqueue(&env, &ids, 0).await;
        });
    }
    let counts = plan.counts();
    http::log(
        LogLine::new("webhook.stored")
            .count("messages", counts.messages)
            .count("statuses", counts.statuses)
            .count("contacts", counts.contacts)
            .count("events", counts.events)
            .count("queued", written.enqueued.len())
            .count("statements", written.statements)
            .count(
                "d1_round_trips",
                (d1::round_trips() - trips_before) as usize,
            )
            .count("bytes", body.len()),
    );
    http::json(200, &counts)
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

/// What a written batch made: outbox ids to send, forwards to queue.
struct Written {
    enqueued: Vec<String>,
    forwards: Vec<String>,
    statements: usize,
}

impl Batch<'_> {
    /// Builds and runs `plan`'s batch, `guard` first; `None` when the guard
    /// tripped (the delivery names someone erased) and nothing was written.
    async fn write(
        &self,
        plan: &ingest::Plan,
        guard: Option<db::Stmt>,
    ) -> std::result::Result<Option<Written>, ApiError> {
        let (db, body, now) = (self.db, self.body, self.now);
        let effects = effects(db, plan, self.config).await?;
        let enqueue = db::outbox::enqueue_statements(&effects.enqueue, now);
        let bucket = self.env.bucket(media::BUCKET).ok();
        let spill_to = if bucket.is_some() {
            SpillTo::R2
        } else {
            SpillTo::Rows
        };
        let relay = relay_plan(db, body, plan, self.channel).await?;
        let writes_for = |spill_to| {
            let mut writes =
                db::ingest::delivery_writes(plan, &effects.opts, enqueue.clone(), now, spill_to);
            relay.writes(&mut writes, body, plan, spill_to, now);
            if let Some(guard) = &guard {
                writes.statements.insert(0, guard.clone());
            }
            writes
        };
        let mut writes = writes_for(spill_to);
        if let Some(bucket) = &bucket {
            for blob in &writes.blobs {
                if bucket
                    .put(&blob.key, blob.data.clone().into_bytes())
                    .execute()
                    .await
                    .is_err()
                {
                    // R2 refused: keep the body in D1 instead.
                    http::log(LogLine::warn("webhook.r2_put_failed"));
                    writes = writes_for(SpillTo::Rows);
                    break;
                }
            }
        }
        match d1::batch_guarded(db, &writes.statements, db::erasure::GUARD).await? {
            d1::Guarded::Tripped => Ok(None),
            d1::Guarded::Done => Ok(Some(Written {
                enqueued: effects.enqueue.iter().map(|e| e.id.clone()).collect(),
                forwards: relay.forward_ids(),
                statements: writes.statements.len(),
            })),
        }
    }
}

/// What the relay keeps of a delivery and the forwards it makes.
struct RelayPlan {
    events: Vec<crate::relay::events::Event>,
    forwards: Vec<crate::relay::route::Forward>,
    channel: Option<String>,
}

impl RelayPlan {
    /// Adds the relay's statements to `writes`: the body kept for `meta`
    /// forwards and replay, the events, the forwards.
    fn writes(
        &self,
        writes: &mut db::ingest::Writes,
        body: &[u8],
        plan: &ingest::Plan,
        spill_to: SpillTo,
        now: i64,
    ) {
        let id = crate::relay::route::delivery_id(body);
        let (raw, encoding) = match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), "json"),
            Err(_) => (hex::encode(body), "hex"),
        };
        let names: Vec<String> = crate::erasure::named(plan).into_iter().collect();
        db::relay::store_delivery(
            writes,
            spill_to,
            (&id, &raw, encoding),
            self.channel.as_deref(),
            &names,
            now,
        );
        db::relay::store_events(&mut writes.statements, &self.events, now);
        db::relay::create_forwards(&mut writes.statements, &self.forwards, false, now);
    }

    fn forward_ids(&self) -> Vec<String> {
        self.forwards.iter().map(|f| f.id.clone()).collect()
    }
}

/// The relay's part of a delivery, with the destinations from the
/// isolate's cache.
async fn relay_plan(
    db: &D1Database,
    body: &[u8],
    plan: &ingest::Plan,
    channel: &Option<String>,
) -> std::result::Result<RelayPlan, ApiError> {
    let destinations = cache::destinations(db).await?;
    let events = crate::relay::events::of_plan(plan);
    let forwards = crate::relay::route::for_delivery(body, &events, &destinations);
    Ok(RelayPlan {
        events,
        forwards,
        channel: channel.clone(),
    })
}

/// What the delivery's new messages make us send: opt-out handling and rule
/// replies. Reads D1 only when there are rules or an opt keyword arrived.
async fn effects(
    db: &D1Database,
    plan: &ingest::Plan,
    config: &Config,
) -> std::result::Result<Effects, ApiError> {
    let rules = if plan.messages.is_empty() {
        Vec::new()
    } else {
        cache::rules(db).await?
    };
    if !autoreply::needs_lookup(plan, &rules, &config.opt) {
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
        &rules,
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
