//! Request and response plumbing: capped body reads, query decoding, JSON
//! and error responses, the clock and the log.

use crate::api::ApiError;
use crate::logline::LogLine;
use futures_util::StreamExt;
use serde::Serialize;
use worker::{console_log, Request, Response};

/// Writes a structured log line.
pub fn log(line: LogLine) {
    console_log!("{}", line.render());
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Decoded query pairs of the request URL.
pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.url()
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
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
    let Ok(mut stream) = req.stream() else {
        // No body at all.
        return Ok(Vec::new());
    };
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            log(LogLine::new("webhook.body_error").error(&e.to_string()));
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
pub fn text(status: u16, body: &str) -> Response {
    let response = Response::ok(body)
        .unwrap_or_else(|_| Response::empty().expect("an empty response can always be built"))
        .with_status(status);
    let _ = response
        .headers()
        .set("Content-Type", "text/plain; charset=utf-8");
    let _ = response.headers().set("X-Content-Type-Options", "nosniff");
    response
}

/// The API's error response.
pub fn error(e: &ApiError) -> worker::Result<Response> {
    Ok(Response::from_json(&e.body())?.with_status(e.status))
}
