//! `/v1/media`: download inbound media by id (streamed, and kept in R2 when
//! a `MEDIA` bucket is bound) and upload outbound media within WhatsApp's
//! type and size limits.

use crate::api::router::Route;
use crate::api::ApiError;
use crate::db;
use crate::edge::channels::{self, Resolved};
use crate::edge::config::Config;
use crate::edge::{d1, http};
use crate::keys::Caller;
use crate::whatsapp::media;
use serde_json::json;
use worker::{Bucket, Env, FixedLengthStream, HttpMetadata, Request, Response};

/// The optional R2 binding media is kept in.
pub const BUCKET: &str = "MEDIA";
/// Most keys R2 deletes in one call.
const DELETE_MAX: usize = 1000;

/// Deletes the objects `keys` from `bucket`, up to [`DELETE_MAX`] a call,
/// so a person with many objects costs a call per thousand, not per object.
pub(crate) async fn delete_objects(bucket: &Bucket, keys: &[String]) -> worker::Result<()> {
    for chunk in keys.chunks(DELETE_MAX) {
        bucket
            .delete_multiple(chunk.iter().map(String::as_str).collect())
            .await?;
    }
    Ok(())
}

fn channel_id(req: &Request, config: &Config) -> Result<String, ApiError> {
    http::query_value(req, "channel")
        .or_else(|| config.phone_number_id.clone())
        .ok_or_else(|| {
            ApiError::new(
                400,
                "no_channel",
                "Pass ?channel=<phone_number_id> or set WHATSAPP_PHONE_NUMBER_ID.",
            )
        })
}

async fn resolved(req: &Request, env: &Env, config: &Config) -> Result<Resolved, ApiError> {
    let db = d1::database(env)?;
    let id = channel_id(req, config)?;
    channels::resolve(env, &db, config, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("channel with a configured credential"))
}

/// Handles the media routes.
pub async fn handle(
    route: Route,
    req: &mut Request,
    env: &Env,
    config: &Config,
    caller: &Caller,
) -> Result<Response, ApiError> {
    match route {
        Route::GetMedia(id) => download(&id, req, env, config).await,
        Route::MediaLimits => http::json(200, &media::limits()),
        Route::UploadMedia => {
            caller
                .may_use_channel(&channel_id(req, config)?)
                .map_err(|d| ApiError::new(403, "forbidden", d.message()))?;
            upload(req, env, config).await
        }
        _ => Err(ApiError::no_route()),
    }
}

/// `GET /v1/media/{id}`: media a stored message names, from R2 when kept
/// there, else through the latest channel naming it that has a credential
/// (`?channel=` picks one of them). An id no stored message names is 404, so nothing
/// is fetched or kept for media wa-edge holds no message of (an erased
/// person's included).
async fn download(
    id: &str,
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<Response, ApiError> {
    let db = d1::database(env)?;
    let mut channels = channels_naming(&db, id).await?;
    if let Some(asked) = http::query_value(req, "channel") {
        channels.retain(|c| *c == asked);
    }
    if channels.is_empty() {
        return Err(ApiError::not_found("media"));
    }
    let bucket: Option<Bucket> = env.bucket(BUCKET).ok();
    let key = object_key(id);
    if let Some(b) = &bucket {
        if let Some(kept) = from_bucket(b, &key).await? {
            return Ok(kept);
        }
    }
    let r = first_with_credential(env, &db, config, &channels).await?;
    let info = http::call_json(&r.endpoint.media_info(id)).await?;
    let url = info
        .get("url")
        .and_then(|u| u.as_str())
        .ok_or_else(|| ApiError::not_found("media"))?;
    let mime = info
        .get("mime_type")
        .and_then(|m| m.as_str())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let mut upstream = http::send(&r.endpoint.media_download(url))
        .await
        .map_err(|_| {
            ApiError::new(
                502,
                "upstream_unavailable",
                "The media could not be fetched.",
            )
        })?;
    if !(200..300).contains(&upstream.status_code()) {
        return Err(ApiError::new(
            502,
            "upstream_unavailable",
            "The media could not be fetched; media URLs expire after 5 minutes, so try again.",
        ));
    }
    // Media reaches 100 MB, near an isolate's memory: it is streamed, never
    // buffered. R2 takes a stream of known length, so a body whose length is
    // known is streamed into the bucket and served back from it.
    // The length: the download's Content-Length, else Graph's `file_size`,
    // if no larger than any media WhatsApp carries (a stream's length must
    // also stay under 2^53). Without one the bytes are streamed to the
    // caller but not kept.
    let length = upstream
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|l| l.trim().parse::<u64>().ok())
        .or_else(|| info.get("file_size").and_then(|s| s.as_u64()))
        .filter(|&n| n <= crate::whatsapp::media::LARGEST as u64);
    if let (Some(b), Some(length)) = (&bucket, length) {
        let body = upstream.stream().map_err(|_| ApiError::internal())?;
        return keep(b, &db, id, FixedLengthStream::wrap(body, length), mime).await;
    }
    let stream = upstream.stream().map_err(|_| ApiError::internal())?;
    stream_response(stream, &mime)
}

/// Streams media `id`'s bytes into the bucket and serves them from there.
async fn keep(
    bucket: &Bucket,
    db: &worker::D1Database,
    id: &str,
    body: FixedLengthStream,
    mime: String,
) -> Result<Response, ApiError> {
    let key = object_key(id);
    let meta = HttpMetadata {
        content_type: Some(mime),
        ..HttpMetadata::default()
    };
    let stored = bucket.put(&key, body).http_metadata(meta).execute().await;
    if let Err(e) = &stored {
        http::log(crate::logline::LogLine::warn("media.r2_put_failed").error(&e.to_string()));
        return Err(ApiError::new(
            502,
            "upstream_unavailable",
            "The media could not be fetched; try again.",
        ));
    }
    // An erasure between the download's lookup and this copy took the
    // messages naming the media: the copy goes too, as erasure would.
    if channels_naming(db, id).await?.is_empty() {
        delete_objects(bucket, std::slice::from_ref(&key))
            .await
            .map_err(|_| ApiError::internal())?;
        return Err(ApiError::not_found("media"));
    }
    from_bucket(bucket, &key)
        .await?
        .ok_or_else(ApiError::internal)
}

/// Where media `id`'s bytes are kept in the bucket.
pub(crate) fn object_key(id: &str) -> String {
    format!("media/{id}")
}

/// The first of `channels` whose credential is configured.
async fn first_with_credential(
    env: &Env,
    db: &worker::D1Database,
    config: &Config,
    channels: &[String],
) -> Result<Resolved, ApiError> {
    for channel in channels {
        if let Some(r) = channels::resolve(env, db, config, channel).await? {
            return Ok(r);
        }
    }
    Err(ApiError::not_found("channel with a configured credential"))
}

/// The channels of the stored messages naming media `id`.
async fn channels_naming(db: &worker::D1Database, id: &str) -> Result<Vec<String>, ApiError> {
    Ok(d1::rows(db, &db::reads::media_channels(id))
        .await?
        .iter()
        .filter_map(|r| r.get("phone_number_id")?.as_str().map(str::to_owned))
        .collect())
}

/// The object at `key`, streamed with its content type, if the bucket has it.
async fn from_bucket(bucket: &Bucket, key: &str) -> Result<Option<Response>, ApiError> {
    let Ok(Some(object)) = bucket.get(key).execute().await else {
        return Ok(None);
    };
    let mime = object
        .http_metadata()
        .content_type
        .unwrap_or_else(|| "application/octet-stream".into());
    let Some(body) = object.body() else {
        return Ok(None);
    };
    let stream = body.stream().map_err(|_| ApiError::internal())?;
    stream_response(stream, &mime).map(Some)
}

/// A media body streamed to the browser, served so that it runs nothing
/// (see [`media::served_as`]).
pub fn stream_response(
    stream: impl futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static,
    mime: &str,
) -> Result<Response, ApiError> {
    let response = Response::from_stream(stream).map_err(|_| ApiError::internal())?;
    let (served, inline) = media::served_as(mime);
    let headers = response.headers();
    let _ = headers.set("Content-Type", served);
    if !inline {
        let _ = headers.set("Content-Disposition", "attachment");
    }
    // Whatever the bytes are, they run nothing at this origin.
    let _ = headers.set("Content-Security-Policy", http::SANDBOXED);
    let _ = response
        .headers()
        .set("Cache-Control", "private, max-age=3600");
    Ok(response)
}

/// The answer to an upload WhatsApp would not take.
pub fn refusal(e: media::UploadError) -> ApiError {
    match e {
        media::UploadError::UnsupportedType(_) => {
            ApiError::new(415, "unsupported_media_type", e.to_string())
        }
        media::UploadError::TooLarge { .. } => {
            ApiError::new(413, "payload_too_large", e.to_string())
        }
    }
}

async fn upload(req: &mut Request, env: &Env, config: &Config) -> Result<Response, ApiError> {
    let mime = req
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let kind = media::check_upload(&mime, declared).map_err(refusal)?;
    let data = http::read_body_capped(req, kind.limit())
        .await
        .map_err(|e| {
            if e.status == 413 {
                refusal(media::UploadError::TooLarge {
                    kind: kind.as_str(),
                    limit: kind.limit(),
                    size: kind.limit() + 1,
                })
            } else {
                e
            }
        })?;
    if data.is_empty() {
        return Err(ApiError::invalid("The upload is empty."));
    }
    let r = resolved(req, env, config).await?;
    let filename =
        http::query_value(req, "filename").unwrap_or_else(|| format!("upload.{}", kind.as_str()));
    let boundary = format!("wa-edge-{}", hex::encode(http::random::<12>()?));
    let answer =
        http::call_json(&r.endpoint.media_upload(&mime, &filename, &data, &boundary)).await?;
    http::json(
        201,
        &json!({"id": answer.get("id"), "type": kind.as_str(), "mime_type": mime, "size": data.len()}),
    )
}
