//! API input is read strictly, stored configuration leniently. Stored types
//! (channels, rules) accept fields they do not know, so a row written by a
//! newer release still loads after a rollback; the API refuses such fields
//! by comparing the request with what the type kept of it.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The path of the first key in `input` that `kept` (the parsed value
/// serialised again) does not have. Null values count as absent.
pub fn unknown_field(input: &Value, kept: &Value) -> Option<String> {
    match (input, kept) {
        (Value::Object(i), Value::Object(k)) => i.iter().find_map(|(key, v)| match k.get(key) {
            None if v.is_null() => None,
            None => Some(key.clone()),
            Some(kv) => unknown_field(v, kv).map(|rest| format!("{key}.{rest}")),
        }),
        (Value::Array(i), Value::Array(k)) => i
            .iter()
            .zip(k)
            .enumerate()
            .find_map(|(n, (iv, kv))| unknown_field(iv, kv).map(|rest| format!("[{n}].{rest}"))),
        _ => None,
    }
}

/// Parses `body` as `T`, refusing keys `T` does not know; the error is a
/// sentence naming the field.
pub fn parse<T: DeserializeOwned + Serialize>(body: &[u8]) -> Result<T, String> {
    let input: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let parsed: T = T::deserialize(&input).map_err(|e| e.to_string())?;
    let kept = serde_json::to_value(&parsed).map_err(|e| e.to_string())?;
    match unknown_field(&input, &kept) {
        Some(path) => Err(format!("{}: is not a known field", path.replace(".[", "["))),
        None => Ok(parsed),
    }
}

/// A whole number D1 stores exactly: D1 binds integers as f64, so beyond
/// ±(2^53 - 1) a stored value would round. `10.0` is 10; anything else
/// (a fraction, a string, a bigger number) is `None`.
pub fn whole_number(v: &Value) -> Option<i64> {
    const MAX: i64 = (1 << 53) - 1;
    let n = v.as_number()?;
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= MAX as f64)
                .map(|f| f as i64)
        })
        .filter(|i| i.unsigned_abs() <= MAX.unsigned_abs())
}
