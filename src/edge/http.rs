//! Request and response plumbing: capped body reads, query decoding, JSON
//! and error responses, the clock and the log.

use crate::api::ApiError;
use crate::logline::{Level, LogLine};
use crate::whatsapp::graph::HttpRequest;
use futures_util::StreamExt;
use serde::Serialize;
use worker::{console_log, Fetch, Headers, Method, Request, RequestInit, Response};

/// `N` random bytes from the runtime's CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::internal())?;
    Ok(bytes)
}

thread_local! {
    /// The isolate's `LOG_LEVEL`, set by each entry point from its config.
    static LOG_THRESHOLD: std::cell::Cell<Level> = const { std::cell::Cell::new(Level::Info) };
}

/// Sets which lines [`log`] writes from now on in this isolate.
pub fn set_log_level(level: Level) {
    LOG_THRESHOLD.with(|t| t.set(level));
}

/// Writes a structured log line, when `LOG_LEVEL` lets it through (the line
/// is not even rendered otherwise).
pub fn log(line: LogLine) {
    if line.is_written_at(LOG_THRESHOLD.with(std::cell::Cell::get)) {
        console_log!("{}", line.render());
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// The first non-empty value of query parameter `name`.
pub fn query_value(req: &Request, name: &str) -> Option<String> {
    query_pairs(req)
        .into_iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// Decoded query pairs of the request URL.
pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    crate::api::split_url(&req.inner().url()).1
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        format!("The body exceeds the {limit}-byte limit."),
    )
}

/// Reads the body, refusing (413) one whose `Content-Length` or streamed
/// size exceeds `limit` without buffering more than `limit` bytes.
pub async fn read_body_capped(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    if declared.is_some() {
        // A declared length within the limit: the runtime holds the body to
        // it, so the body is read whole, with one promise instead of one per
        // chunk.
        let body = req.bytes().await.map_err(|e| {
            log(LogLine::warn("webhook.body_error").error(&e.to_string()));
            ApiError::invalid("The request body could not be read.")
        })?;
        if body.len() > limit {
            return Err(too_large(limit));
        }
        return Ok(body);
    }
    let Ok(mut stream) = req.stream() else {
        // No body at all.
        return Ok(Vec::new());
    };
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            log(LogLine::warn("webhook.body_error").error(&e.to_string()));
            ApiError::invalid("The request body could not be read.")
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response, ApiError> {
    Response::from_json(value)
        .map(|r| r.with_status(status))
        .map_err(|_| ApiError::internal())
}

/// A plain-text response.
pub fn text(status: u16, body: &str) -> Result<Response, ApiError> {
    let response = Response::ok(body)
        .map_err(|_| ApiError::internal())?
        .with_status(status);
    let _ = response
        .headers()
        .set("Content-Type", "text/plain; charset=utf-8");
    Ok(response)
}

/// The console's Content-Security-Policy, sent with every response: only
/// the worker's own scripts, styles, images and API; no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a file a customer sent: no script, no plugin, an opaque
/// origin even when opened on its own.
pub const SANDBOXED: &str = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox; \
frame-ancestors 'none'";

/// `response` with the security headers every answer a browser may show
/// carries: the page headers (CSP, no framing, no referrer) and
/// [`for_servers`]'s. A response that set its own (stricter) policy keeps it.
pub fn secured(response: Response) -> Response {
    let response = for_servers(response);
    let headers = response.headers();
    if !headers.has("Content-Security-Policy").unwrap_or(false) {
        let _ = headers.set("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    }
    for (name, value) in [
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    ] {
        let _ = headers.set(name, value);
    }
    response
}

/// `response` with the headers an answer read by a server carries (the
/// webhook's, [`crate::api::router::Route::is_webhook`]): its content type
/// is binding (`nosniff`) and nothing caches it, unless it says how. The
/// page headers of [`secured`] guard what a browser renders; the webhook
/// answers only plain text and JSON, so it goes without them.
pub fn for_servers(response: Response) -> Response {
    let headers = response.headers();
    // Conversations are not for shared caches or the browser's history;
    // media and the console's files say how they may be cached.
    if !headers.has("Cache-Control").unwrap_or(false) {
        let _ = headers.set("Cache-Control", "no-store");
    }
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    response
}

/// The API's error response.
pub fn error(e: &ApiError) -> worker::Result<Response> {
    let response = Response::from_json(&e.body())?.with_status(e.status);
    if let Some((name, value)) = e.header {
        response.headers().set(name, value)?;
    }
    Ok(response)
}

/// How an outbound request ended.
pub enum Sent {
    Answer(Response),
    /// The fetch failed; the runtime's description.
    Failed(String),
    /// No answer within the time allowed.
    TimedOut,
}

/// Performs an outbound request, waiting at most `seconds` for its answer.
pub async fn send_within(req: &HttpRequest, seconds: u64) -> Sent {
    use futures_util::future::{select, Either};
    let timer = worker::Delay::from(std::time::Duration::from_secs(seconds));
    let request = std::pin::pin!(send(req));
    match select(request, timer).await {
        Either::Left((Ok(res), _)) => Sent::Answer(res),
        Either::Left((Err(e), _)) => Sent::Failed(e),
        Either::Right(_) => Sent::TimedOut,
    }
}

/// Performs an outbound request built by the pure core.
pub async fn send(req: &HttpRequest) -> Result<Response, String> {
    let headers = Headers::new();
    for (k, v) in &req.headers {
        headers.set(k, v).map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(req.method.to_owned()))
        .with_headers(headers)
        .with_body(
            req.body
                .as_deref()
                .map(|b| js_sys::Uint8Array::from(b).into()),
        );
    let request = Request::new_with_init(&req.url, &init).map_err(|e| e.to_string())?;
    Fetch::Request(request)
        .send()
        .await
        .map_err(|e| e.to_string())
}

/// Performs a management call and returns Graph's JSON, mapping failures to
/// API errors: Graph's 4xx become 422 `graph_rejected` with Graph's message,
/// anything else 502 `upstream_unavailable`.
pub async fn call_json(req: &HttpRequest) -> Result<serde_json::Value, ApiError> {
    let unavailable = || {
        ApiError::new(
            502,
            "upstream_unavailable",
            "The WhatsApp API did not answer usefully; try again later.",
        )
    };
    let mut res = send(req).await.map_err(|e| {
        log(LogLine::warn("graph.network_error").error(&e));
        unavailable()
    })?;
    let status = res.status_code();
    let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
    match status {
        200..=299 => Ok(body),
        400..=499 => {
            let message = body
                .pointer("/error/error_data/details")
                .or_else(|| body.pointer("/error/error_user_msg"))
                .or_else(|| body.pointer("/error/message"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("The request was refused.");
            let code = body
                .pointer("/error/code")
                .and_then(serde_json::Value::as_i64);
            Err(ApiError::new(
                422,
                "graph_rejected",
                match code {
                    Some(c) => format!("WhatsApp refused the request ({c}): {message}"),
                    None => format!("WhatsApp refused the request (HTTP {status}): {message}"),
                },
            ))
        }
        _ => {
            log(LogLine::warn("graph.upstream_error").count("status", status as usize));
            Err(unavailable())
        }
    }
}
