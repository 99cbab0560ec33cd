//! `/graph/{version}/{phone_number_id}/...`: Graph's own API for bots
//! written against it. A message goes through the send API's checks and the
//! outbox like any send, is attempted inside the request, and Graph's answer
//! comes back as Graph gave it; a read receipt and a media upload pass
//! straight through to the channel's provider.

use super::send as send_api;
use crate::api::graph::{self, GraphError};
use crate::api::router::GraphRoute;
use crate::api::ApiError;
use crate::edge::channels;
use crate::edge::config::Config;
use crate::edge::delivery::{self, Answer};
use crate::edge::{d1, http};
use crate::keys::Caller;
use crate::outbound::outbox::{Claim, Next};
use crate::whatsapp::media;
use serde_json::Value;
use worker::{Env, FormEntry, Request, Response};

/// Handles a Graph route for an admitted caller.
pub async fn handle(
    route: GraphRoute,
    req: &mut Request,
    env: &Env,
    config: &Config,
    caller: &Caller,
) -> Result<Response, ApiError> {
    match route {
        GraphRoute::Messages(pnid) => messages(&pnid, req, env, config, caller).await,
        GraphRoute::Media(pnid) => upload(&pnid, req, env, config).await,
    }
}

/// Graph's answer as it came (status, JSON body).
fn passed_through(answer: &Answer) -> Result<Response, ApiError> {
    let body: Value = serde_json::from_str(&answer.body).map_err(|_| ApiError::internal())?;
    http::json(answer.status, &body)
}

/// A Graph-shaped error response, with the header the answer must carry
/// (`Allow` on a 405).
pub fn error(
    e: &GraphError,
    header: Option<(&'static str, &'static str)>,
) -> worker::Result<Response> {
    let trace = http::random::<9>()
        .map(|r| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, r))
        .unwrap_or_default();
    let response = Response::from_json(&e.body(&trace))?.with_status(e.status);
    if let Some((name, value)) = header {
        response.headers().set(name, value)?;
    }
    Ok(response)
}

async fn messages(
    pnid: &str,
    req: &mut Request,
    env: &Env,
    config: &Config,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let raw = http::read_body_capped(req, crate::outbound::send::MAX_SEND_BODY).await?;
    let mut body = graph::to_send_body(&raw)?;
    if graph::is_read_receipt(&body) {
        return read_receipt(pnid, &body, env, config).await;
    }
    if let Some(obj) = body.as_object_mut() {
        obj.insert("from".into(), pnid.into());
    }
    let bytes = serde_json::to_vec(&body).map_err(|_| ApiError::internal())?;
    let idem = req.headers().get("Idempotency-Key").ok().flatten();
    let queued = send_api::queue(&bytes, idem.as_deref(), env, config, caller, "graph").await?;
    let (input, wa_id) = queued.input.clone().unwrap_or_default();
    let later = || http::json(202, &graph::queued(&input, wa_id.as_deref(), &queued.id));
    if !queued.new {
        return later();
    }
    // Attempted here, within GRAPH_TIMEOUT_S, so the caller gets Graph's
    // answer; whatever is not answered by then goes on like any send.
    // The row is stored: from here an error must not become a 5xx, which a
    // Graph client would retry as a new message. A row not claimed stays
    // queued for the cron; one claimed and not recorded becomes `unknown`.
    let ids = [queued.id.clone()];
    let attempted = match d1::database(env) {
        Ok(db) => delivery::run(env, &db, config, &Claim::Ids(&ids), http::now_ms(), 1).await,
        Err(e) => Err(e),
    };
    let Some(mine) = attempted
        .ok()
        .and_then(|a| a.into_iter().find(|a| a.attempt.id == queued.id))
    else {
        return later();
    };
    // Graph's own answer when it is JSON; otherwise one in Graph's shape.
    let graphs = mine.answer.as_ref().and_then(|a| passed_through(a).ok());
    match mine.attempt.next {
        Next::Sent { wamid } => match graphs {
            Some(response) => Ok(response),
            None => http::json(200, &graph::sent(&input, wa_id.as_deref(), &wamid)),
        },
        Next::Failed { error, .. } => match graphs {
            Some(response) if mine.answer.is_some_and(|a| a.status >= 400) => Ok(response),
            _ => Err(ApiError::new(400, "send_failed", error)),
        },
        _ => later(),
    }
}

async fn read_receipt(
    pnid: &str,
    body: &Value,
    env: &Env,
    config: &Config,
) -> Result<Response, ApiError> {
    let (wamid, typing) = graph::read_receipt(body)?;
    let endpoint = endpoint_of(pnid, env, config).await?;
    pass_through(&endpoint.mark_read(&wamid, typing), config).await
}

/// The provider endpoint of channel `pnid`, or 409 `unknown_channel`.
async fn endpoint_of(
    pnid: &str,
    env: &Env,
    config: &Config,
) -> Result<crate::whatsapp::graph::Endpoint, ApiError> {
    let db = d1::database(env)?;
    channels::resolve(env, &db, config, pnid)
        .await?
        .map(|r| r.endpoint)
        .ok_or_else(|| {
            ApiError::new(
                409,
                "unknown_channel",
                "No channel with this phone number id has a credential configured.",
            )
        })
}

/// Sends `request` and answers with the provider's status and JSON body.
async fn pass_through(
    request: &crate::whatsapp::graph::HttpRequest,
    config: &Config,
) -> Result<Response, ApiError> {
    let unavailable = || {
        ApiError::new(
            502,
            "upstream_unavailable",
            "The WhatsApp API did not answer.",
        )
    };
    match http::send_within(request, config.send_timeout_s).await {
        http::Sent::Answer(mut res) => {
            let status = res.status_code();
            let text = res.text().await.map_err(|_| unavailable())?;
            passed_through(&Answer { status, body: text }).map_err(|_| unavailable())
        }
        _ => Err(unavailable()),
    }
}

/// `POST .../media`: Graph's multipart form (`messaging_product`, `file`,
/// `type`), checked against WhatsApp's type and size limits.
async fn upload(
    pnid: &str,
    req: &mut Request,
    env: &Env,
    config: &Config,
) -> Result<Response, ApiError> {
    // The form is read whole, so its size is known before it is read: the
    // largest WhatsApp upload (a 100 MB document) and the form around it.
    let largest = media::MediaKind::Document.limit() + 64 * 1024;
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok())
        .ok_or_else(|| ApiError::new(411, "length_required", "Content-Length is required."))?;
    if declared > largest {
        return Err(ApiError::new(
            413,
            "payload_too_large",
            format!(
                "file: larger than the largest WhatsApp upload ({largest} bytes with the form)"
            ),
        ));
    }
    let form = req.form_data().await.map_err(|_| {
        ApiError::invalid(
            "The body must be multipart/form-data with messaging_product, file and type.",
        )
    })?;
    let text = |name: &str| match form.get(name) {
        Some(FormEntry::Field(v)) => Some(v),
        _ => None,
    };
    if text("messaging_product").as_deref() != Some("whatsapp") {
        return Err(ApiError::invalid("messaging_product: must be \"whatsapp\""));
    }
    let Some(FormEntry::File(file)) = form.get("file") else {
        return Err(ApiError::invalid("file: the media to upload is required"));
    };
    let mime = text("type").unwrap_or_else(|| file.type_());
    let data = file
        .bytes()
        .await
        .map_err(|_| ApiError::invalid("file: could not be read"))?;
    media::check_upload(&mime, data.len()).map_err(super::media::refusal)?;
    if data.is_empty() {
        return Err(ApiError::invalid("file: the upload is empty"));
    }
    let endpoint = endpoint_of(pnid, env, config).await?;
    let name = file.name();
    let filename = if name.is_empty() {
        "upload".to_owned()
    } else {
        name
    };
    let boundary = format!("wa-edge-{}", hex::encode(http::random::<12>()?));
    let request = endpoint.media_upload(&mime, &filename, &data, &boundary);
    pass_through(&request, config).await
}
