//! Executes the pure core's [`Stmt`]s against the `DB` binding, and counts
//! the round trips it makes ([`round_trips`]).

use crate::api::ApiError;
use crate::db::{Arg, Stmt};
use crate::logline::LogLine;
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

thread_local! {
    static ROUND_TRIPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// D1 round trips this isolate has made so far. A request's count is the
/// difference across it; requests the isolate serves at the same time add
/// to each other's, so that figure is exact only for a request served alone.
pub fn round_trips() -> u64 {
    ROUND_TRIPS.with(std::cell::Cell::get)
}

fn count_trip() {
    ROUND_TRIPS.with(|n| n.set(n.get() + 1));
}

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

fn prepare_all<'a>(
    db: &D1Database,
    stmts: impl IntoIterator<Item = &'a Stmt>,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    stmts.into_iter().map(|s| prepare(db, s)).collect()
}

/// Runs `stmts` as one transaction.
pub async fn batch(db: &D1Database, stmts: &[Stmt]) -> Result<(), ApiError> {
    batch_rows(db, stmts).await.map(|_| ())
}

/// How a batch that may hold a guard statement ended.
pub enum Guarded {
    /// Every statement ran and the transaction committed.
    Done,
    /// The CHECK constraint it names refused a row: nothing was written.
    Tripped(&'static str),
}

/// Runs `stmts` as one transaction; a refusal by one of the CHECK
/// constraints `constraints` is an answer ([`Guarded::Tripped`]), any
/// other failure an error.
pub async fn batch_guarded(
    db: &D1Database,
    stmts: &[&Stmt],
    constraints: &[&'static str],
) -> Result<Guarded, ApiError> {
    if stmts.is_empty() {
        return Ok(Guarded::Done);
    }
    let prepared = prepare_all(db, stmts.iter().copied())?;
    count_trip();
    match db.batch(prepared).await {
        Ok(_) => Ok(Guarded::Done),
        Err(e) => {
            let message = e.to_string();
            match constraints.iter().find(|c| message.contains(*c)) {
                Some(c) => Ok(Guarded::Tripped(c)),
                None => Err(fail("batch", e)),
            }
        }
    }
}

/// Runs `stmts` as one transaction and returns each statement's rows.
pub async fn batch_rows(db: &D1Database, stmts: &[Stmt]) -> Result<Vec<Vec<Value>>, ApiError> {
    if stmts.is_empty() {
        return Ok(Vec::new());
    }
    let prepared = prepare_all(db, stmts)?;
    count_trip();
    let results = db.batch(prepared).await.map_err(|e| fail("batch", e))?;
    results
        .iter()
        .map(|r| r.results::<Value>().map_err(|e| fail("decode", e)))
        .collect()
}

/// Runs one statement and returns its rows.
pub async fn rows(db: &D1Database, stmt: &Stmt) -> Result<Vec<Value>, ApiError> {
    count_trip();
    let result = prepare(db, stmt)?
        .all()
        .await
        .map_err(|e| fail("query", e))?;
    result.results::<Value>().map_err(|e| fail("decode", e))
}
