//! `/v1/rules`: create, list, read, replace and delete auto-reply rules, and
//! the per-isolate cache the webhook reads them through.

use crate::api::router::Route;
use crate::api::ApiError;
use crate::db::rules as sql;
use crate::edge::cache;
use crate::edge::{clock, d1, http};
use crate::inbound::rules::Rule;
use serde_json::json;
use worker::{Env, Request, Response};

fn rule_id() -> Result<String, ApiError> {
    Ok(format!("rule_{}", hex::encode(http::random::<8>()?)))
}

async fn parse_body(req: &mut Request) -> Result<Rule, ApiError> {
    let body = http::read_body_capped(req, crate::api::MAX_CONFIG_BODY).await?;
    let rule = Rule::parse(&body)
        .map_err(|e| ApiError::new(400, "invalid_rule", e.0).naming_its_field())?;
    if let Some(h) = &rule.hours {
        if !clock::is_known_zone(&h.tz) {
            return Err(ApiError::new(
                400,
                "invalid_rule",
                format!("hours.tz: {:?} is not a known IANA time zone", h.tz),
            )
            .with_field("hours.tz"));
        }
    }
    Ok(rule)
}

/// Handles the rule routes.
pub async fn handle(route: Route, req: &mut Request, env: &Env) -> Result<Response, ApiError> {
    let db = d1::database(env)?;
    match route {
        Route::ListRules => {
            let rules: Vec<Rule> = cache::body_rows(&d1::rows(&db, &sql::list()).await?);
            http::json(200, &json!({ "data": rules }))
        }
        Route::GetRule(id) => {
            let rows = d1::rows(&db, &sql::get(&id)).await?;
            let rule = cache::body_rows::<Rule>(&rows)
                .pop()
                .ok_or_else(|| ApiError::not_found("rule"))?;
            http::json(200, &rule)
        }
        Route::CreateRule => {
            let mut rule = parse_body(req).await?;
            rule.id = rule_id()?;
            d1::rows(&db, &sql::upsert(&rule, http::now_ms())).await?;
            cache::forget_rules();
            http::json(201, &rule)
        }
        Route::ReplaceRule(id) => {
            if d1::rows(&db, &sql::get(&id)).await?.is_empty() {
                return Err(ApiError::not_found("rule"));
            }
            let mut rule = parse_body(req).await?;
            rule.id = id;
            d1::rows(&db, &sql::upsert(&rule, http::now_ms())).await?;
            cache::forget_rules();
            http::json(200, &rule)
        }
        Route::DeleteRule(id) => {
            if d1::rows(&db, &sql::delete(&id)).await?.is_empty() {
                return Err(ApiError::not_found("rule"));
            }
            cache::forget_rules();
            Ok(Response::empty()
                .map_err(|_| ApiError::internal())?
                .with_status(204))
        }
        _ => Err(ApiError::no_route()),
    }
}
