//! `/v1/rules`: create, list, read, replace and delete auto-reply rules, and
//! the per-isolate cache the webhook reads them through.

use super::cache::{self, Slot};
use super::{clock, d1, http};
use crate::api::ApiError;
use crate::router::Route;
use crate::rules::{sql, Rule};
use serde_json::{json, Value};
use std::cell::RefCell;
use worker::{D1Database, Env, Request, Response};

/// How long an isolate reuses the rules it loaded. Edits through this API
/// clear the cache of the isolate that served them at once; other isolates
/// see them within this time.
pub const CACHE_MS: i64 = 15_000;

thread_local! {
    static CACHE: Slot<Rule> = const { RefCell::new(None) };
}

fn invalidate() {
    cache::clear(&CACHE);
}

fn parse_rows(rows: &[Value]) -> Vec<Rule> {
    cache::body_rows(rows)
}

/// Every row, from the isolate cache when it is fresh.
pub async fn load(db: &D1Database) -> Result<Vec<Rule>, ApiError> {
    cache::load(&CACHE, db, &sql::list(), CACHE_MS).await
}

fn rule_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::internal())?;
    Ok(format!("rule_{}", hex::encode(bytes)))
}

async fn parse_body(req: &mut Request) -> Result<Rule, ApiError> {
    let body = http::read_body_capped(req, 64 * 1024).await?;
    let rule = Rule::parse(&body).map_err(|e| ApiError::new(400, "invalid_rule", e.0))?;
    if let Some(h) = &rule.hours {
        if !clock::is_known_zone(&h.tz) {
            return Err(ApiError::new(
                400,
                "invalid_rule",
                format!("hours.tz: {:?} is not a known IANA time zone", h.tz),
            ));
        }
    }
    Ok(rule)
}

/// Handles the rule routes.
pub async fn handle(route: Route, req: &mut Request, env: &Env) -> Result<Response, ApiError> {
    let db = d1::database(env)?;
    match route {
        Route::ListRules => {
            let rules = parse_rows(&d1::rows(&db, &sql::list()).await?);
            http::json(200, &json!({ "data": rules }))
        }
        Route::GetRule(id) => {
            let rows = d1::rows(&db, &sql::get(&id)).await?;
            let rule = parse_rows(&rows)
                .pop()
                .ok_or_else(|| ApiError::not_found("rule"))?;
            http::json(200, &rule)
        }
        Route::CreateRule => {
            let mut rule = parse_body(req).await?;
            rule.id = rule_id()?;
            d1::rows(&db, &sql::upsert(&rule, http::now_ms())).await?;
            invalidate();
            http::json(201, &rule)
        }
        Route::ReplaceRule(id) => {
            if d1::rows(&db, &sql::get(&id)).await?.is_empty() {
                return Err(ApiError::not_found("rule"));
            }
            let mut rule = parse_body(req).await?;
            rule.id = id;
            d1::rows(&db, &sql::upsert(&rule, http::now_ms())).await?;
            invalidate();
            http::json(200, &rule)
        }
        Route::DeleteRule(id) => {
            if d1::rows(&db, &sql::delete(&id)).await?.is_empty() {
                return Err(ApiError::not_found("rule"));
            }
            invalidate();
            Ok(Response::empty()
                .map_err(|_| ApiError::internal())?
                .with_status(204))
        }
        _ => Err(ApiError::no_route()),
    }
}
