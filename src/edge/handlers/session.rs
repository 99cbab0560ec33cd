//! `/v1/session`: signing in to the console, the session a cookie carries,
//! and signing out. Also the one place a request's credential (bearer token,
//! API key or session cookie) becomes a caller.

use crate::api::router::Route;
use crate::api::{self, ApiError};
use crate::db::console as sql;
use crate::edge::config::Config;
use crate::edge::{d1, http};
use crate::keys::Caller;
use crate::logline::LogLine;
use crate::session::{self, Refused, SignIn, Stored};
use serde_json::{json, Value};
use worker::{Context, Env, Request, Response};

/// Who is calling, and the console session they called with (if any).
/// A bearer credential wins over a cookie: browsers never attach one on
/// their own, so it needs no CSRF token.
pub async fn authenticate(
    req: &Request,
    config: &Config,
    env: &Env,
    ctx: &Context,
) -> Result<(Caller, Option<Stored>), ApiError> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let auth = header("Authorization");
    let cookie = header("Cookie");
    let secret = cookie.as_deref().and_then(session::secret_in);
    let (Some(secret), None) = (secret, auth.as_deref()) else {
        let caller =
            super::keys::caller(auth.as_deref(), config.admin_token.as_deref(), env, ctx).await?;
        return Ok((caller, None));
    };
    let db = d1::database(env)?;
    let id_hash = session::hash(secret);
    let stored = d1::rows(&db, &sql::session(&id_hash))
        .await?
        .first()
        .and_then(|r| serde_json::from_value::<Stored>(r.clone()).ok());
    let now = http::now_ms();
    let admitted = session::admit(
        stored.as_ref(),
        config.admin_token.as_deref(),
        &req.inner().method(),
        header(session::CSRF_HEADER).as_deref(),
        now,
        config.session_ttl_ms,
    )
    .map_err(refusal)?;
    if let Some(until) = admitted.slide_to {
        ctx.wait_until(async move {
            if d1::rows(&db, &sql::slide_session(&id_hash, now, until))
                .await
                .is_err()
            {
                http::log(LogLine::warn("session.slide_failed"));
            }
        });
    }
    Ok((Caller::Root, stored))
}

/// The answer to a session that does not admit a request.
fn refusal(r: Refused) -> ApiError {
    match r {
        Refused::Expired => ApiError::unauthorized(
            "unauthorized",
            api::BEARER_CHALLENGE,
            "The session has expired or was signed out: sign in again.",
        ),
        Refused::TokenRotated => ApiError::unauthorized(
            "unauthorized",
            api::BEARER_CHALLENGE,
            "The admin token has changed since this session began: sign in again.",
        ),
        Refused::Csrf => ApiError::new(
            403,
            "csrf_failed",
            "A change made with the session cookie must carry the session's X-CSRF-Token header.",
        ),
    }
}

/// The session as the console reads it.
fn shown(s: &Stored) -> Value {
    json!({"csrf_token": s.csrf, "expires_at": s.expires_at})
}

/// Handles the session routes.
pub async fn handle(
    route: Route,
    req: &mut Request,
    env: &Env,
    config: &Config,
    current: Option<&Stored>,
) -> Result<Response, ApiError> {
    match route {
        Route::SignIn => sign_in(req, env, config).await,
        Route::GetSession => {
            let s = current.ok_or_else(|| {
                ApiError::unauthorized(
                    "unauthorized",
                    api::BEARER_CHALLENGE,
                    "Not signed in: this route reads the console's session cookie.",
                )
            })?;
            http::json(200, &shown(s))
        }
        Route::SignOut => {
            if let Some(s) = current {
                d1::rows(&d1::database(env)?, &sql::close_session(&s.id_hash)).await?;
                http::log(LogLine::new("session.closed"));
            }
            let response = Response::empty()
                .map_err(|_| ApiError::internal())?
                .with_status(204);
            let headers = response.headers();
            let _ = headers.set("Set-Cookie", &session::clear_cookie());
            // Media the console showed leaves the browser's cache with the session.
            let _ = headers.set("Clear-Site-Data", "\"cache\"");
            Ok(response)
        }
        _ => Err(ApiError::no_route()),
    }
}

/// `POST /v1/session`: the admin token for a session, with failed attempts
/// counted per client address.
async fn sign_in(req: &mut Request, env: &Env, config: &Config) -> Result<Response, ApiError> {
    // A cross-site form cannot send JSON without a preflight this API never
    // grants, so a page elsewhere cannot sign a browser in.
    let content_type = req.headers().get("Content-Type").ok().flatten();
    if !crate::whatsapp::webhook::is_json_content_type(content_type.as_deref()) {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "Send the token as JSON: Content-Type: application/json.",
        ));
    }
    let body = http::read_body_capped(req, 8 * 1024).await?;
    let token =
        session::parse_sign_in(&body).map_err(|m| ApiError::invalid(m).with_field("token"))?;
    let ip = session::client_key(
        req.headers()
            .get("CF-Connecting-IP")
            .ok()
            .flatten()
            .as_deref(),
    );
    let db = d1::database(env)?;
    let now = http::now_ms();
    let counted = d1::batch_rows(&db, &sql::record_attempt(&ip, now)).await?;
    let count = counted.last().and_then(|rows| rows.first());
    let number = |k: &str| count.and_then(|r| r.get(k)).and_then(Value::as_f64);
    let attempts = number("n").map_or(1, |n| n as i64);
    let oldest = number("oldest").map(|t| t as i64);
    let attempt = number("attempt").map(|t| t as i64);
    match session::sign_in(&token, config.admin_token.as_deref(), attempts, oldest, now) {
        SignIn::Limited { retry_after_s } => {
            http::log(LogLine::warn("session.limited"));
            limited(retry_after_s)
        }
        SignIn::Closed => Err(ApiError::unauthorized(
            "unauthorized",
            api::BEARER_CHALLENGE,
            "The console is closed: set the ADMIN_TOKEN secret to open it.",
        )),
        SignIn::Wrong => {
            http::log(LogLine::warn("session.refused"));
            Err(ApiError::unauthorized(
                "unauthorized",
                api::BEARER_CHALLENGE,
                "That is not the admin token.",
            )
            .with_field("token"))
        }
        SignIn::Open => {
            let opened = session::open(
                http::random()?,
                http::random()?,
                &token,
                now,
                config.session_ttl_ms,
            );
            let mut statements = sql::open_session(&opened.stored, now).to_vec();
            statements.extend(attempt.map(sql::forget_attempt));
            d1::batch(&db, &statements).await?;
            http::log(LogLine::new("session.opened"));
            let response = http::json(201, &shown(&opened.stored))?;
            let _ = response
                .headers()
                .set("Set-Cookie", &session::set_cookie(&opened.secret));
            Ok(response)
        }
    }
}

/// 429 for an address past the sign-in limit, with `Retry-After`.
fn limited(retry_after_s: i64) -> Result<Response, ApiError> {
    let response = http::error(&ApiError::new(
        429,
        "too_many_attempts",
        format!("Too many failed sign-ins from this address: try again in {retry_after_s} s."),
    ))
    .map_err(|_| ApiError::internal())?;
    let _ = response
        .headers()
        .set("Retry-After", &retry_after_s.to_string());
    Ok(response)
}
