//! Executes the pure core's [`Stmt`]s against the `DB` binding.

use crate::api::ApiError;
use crate::db::{Arg, Stmt};
use crate::logline::LogLine;
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

fn fail(what: &'static str, e: impl std::fmt::Display) -> ApiError {
    super::http::log(
        LogLine::warn("d1.error")
            .kind("op", what)
            .error(&e.to_string()),
    );
    ApiError::internal()
}

/// The `DB` binding.
pub fn database(env: &Env) -> Result<D1Database, ApiError> {
    env.d1("DB").map_err(|e| fail("binding", e))
}

fn prepare(db: &D1Database, stmt: &Stmt) -> Result<D1PreparedStatement, ApiError> {
    let args: Vec<JsValue> = stmt
        .args
        .iter()
        .map(|a| match a {
            Arg::Null => JsValue::NULL,
            // Values stay well inside f64's exact integer range (timestamps, ranks).
            Arg::Int(i) => JsValue::from_f64(*i as f64),
            Arg::Text(s) => JsValue::from_str(s),
        })
        .collect();
    db.prepare(stmt.sql)
        .bind(&args)
        .map_err(|e| fail("bind", e))
}

/// Runs `stmts` as one transaction.
pub async fn batch(db: &D1Database, stmts: &[Stmt]) -> Result<(), ApiError> {
    batch_rows(db, stmts).await.map(|_| ())
}

/// Runs `stmts` as one transaction and returns each statement's rows.
pub async fn batch_rows(db: &D1Database, stmts: &[Stmt]) -> Result<Vec<Vec<Value>>, ApiError> {
    if stmts.is_empty() {
        return Ok(Vec::new());
    }
    let prepared = stmts
        .iter()
        .map(|s| prepare(db, s))
        .collect::<Result<Vec<_>, _>>()?;
    let results = db.batch(prepared).await.map_err(|e| fail("batch", e))?;
    results
        .iter()
        .map(|r| r.results::<Value>().map_err(|e| fail("decode", e)))
        .collect()
}

/// Runs one statement and returns its rows.
pub async fn rows(db: &D1Database, stmt: &Stmt) -> Result<Vec<Value>, ApiError> {
    let result = prepare(db, stmt)?
        .all()
        .await
        .map_err(|e| fail("query", e))?;
    result.results::<Value>().map_err(|e| fail("decode", e))
}
