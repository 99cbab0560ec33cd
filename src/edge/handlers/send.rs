//! `POST /v1/messages`: gather what the send depends on in one D1 batch,
//! let [`send::decide`] decide, store the outbox row, answer 202, and send
//! after the response.

use crate::api::ApiError;
use crate::db;
use crate::edge::config::Config;
use crate::edge::{channels, d1, delivery, http};
use crate::inbound::people::ContactRow;
use crate::keys::Caller;
use crate::logline::LogLine;
use crate::outbound::send::{self, Decision, Refusal};
use crate::whatsapp::window;
use serde_json::json;
use worker::{Context, Env, Request, Response};

/// A send taken into the outbox (or the answer an earlier one with the same
/// `Idempotency-Key` got).
pub struct Queued {
    pub id: String,
    pub status: &'static str,
    /// True when this request created the row (not a replay).
    pub new: bool,
    /// The address as the caller gave it, and its wa_id when it is a number.
    pub input: Option<(String, Option<String>)>,
}

/// `POST /v1/messages`.
pub async fn send(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: Config,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let body = http::read_body_capped(req, send::MAX_SEND_BODY).await?;
    let idem = req.headers().get("Idempotency-Key").ok().flatten();
    let queued = queue(&body, idem.as_deref(), env, &config, caller, "api").await?;
    if queued.new {
        delivery::after_response(ctx, env, &config, vec![queued.id.clone()]);
    }
    http::json(202, &json!({"id": queued.id, "status": queued.status}))
}

/// Checks a send body (`/v1/messages`' shape) and stores its outbox row:
/// every check the send API makes, for any front door (`source`: `api`,
/// `graph`). Nothing is sent here.
// Long because it is the send's whole sequence: parse, gather, decide,
// store, and settle an Idempotency-Key race, each step depending on the last.
pub async fn queue(
    body: &[u8],
    idempotency_key: Option<&str>,
    env: &Env,
    config: &Config,
    caller: &Caller,
    source: &str,
) -> Result<Queued, ApiError> {
    let request = send::parse(body)?;
    let pnid = request
        .from
        .clone()
        .or_else(|| config.phone_number_id.clone())
        .ok_or(Refusal::NoChannel)?;
    let idem_key = send::IdempotencyKey::parse(idempotency_key, caller.name(), &pnid)?;
    caller
        .may_use_channel(&pnid)
        .map_err(|d| ApiError::new(403, "forbidden", d.message()))?;
    let input = request.given.as_ref().map(|a| match a {
        send::Address::Phone(p) => (p.clone(), Some(crate::whatsapp::phone::digits(p))),
        send::Address::User(u) => (u.as_str().to_owned(), None),
    });
    let db = d1::database(env)?;
    let channel = channels::resolve(env, &db, config, &pnid)
        .await?
        .ok_or(Refusal::UnknownChannel)?
        .channel;
    let now = http::now_ms();
    let template = channel
        .waba_id
        .as_deref()
        .zip(send::template_named(&request))
        .map(|(waba, (name, language))| (waba, name, language));
    let since = send::needs_recipient_count(&request, &channel)
        .then(|| now - window::WINDOW_SECONDS * 1000);
    let checks = db::lookups::send_checks(&request.to, &pnid, idem_key.as_ref(), template, since);
    let lookups = checks.lookups(&d1::batch_rows(&db, &checks.statements).await?);
    let known_contact = lookups.contact.is_some();
    let hash = send::request_hash(body);
    let replayed = |id: String, status| Queued {
        id,
        status,
        new: false,
        input: input.clone(),
    };
    let mut enqueue = match send::decide(
        request,
        &channel,
        &lookups,
        &hash,
        idem_key.as_ref().map(send::IdempotencyKey::dedupe_key),
        send::new_id(http::random()?),
        now,
    )? {
        Decision::Replay { id, status } => return Ok(replayed(id, status)),
        Decision::Queue(enqueue) => *enqueue,
    };
    source.clone_into(&mut enqueue.source);
    // A recipient never seen before becomes a contact with the send.
    let mut statements = Vec::new();
    if !known_contact {
        let row = ContactRow::unseen(&enqueue.contact);
        db::contacts::statements(&mut statements, &[], &[], std::slice::from_ref(&row), now);
    }
    statements.extend(db::outbox::enqueue_statements(
        std::slice::from_ref(&enqueue),
        now,
    ));
    d1::batch(&db, &statements).await?;
    if let Some(key) = &idem_key {
        // A concurrent request with the same key may have won the insert.
        let rows = d1::batch_rows(&db, &[db::outbox::by_idempotency_key(key)]).await?;
        let winner = db::lookups::earlier(&rows);
        if let Some(w) = winner.filter(|w| w.id != enqueue.id) {
            return match send::replay(&w, &hash)? {
                Decision::Replay { id, status } => Ok(replayed(id, status)),
                Decision::Queue(_) => Err(ApiError::internal()),
            };
        }
    }
    http::log(LogLine::new("send.queued").kind("source", source_kind(source)));
    Ok(Queued {
        id: enqueue.id,
        status: "queued",
        new: true,
        input,
    })
}

fn source_kind(source: &str) -> &'static str {
    match source {
        "graph" => "graph",
        _ => "api",
    }
}
