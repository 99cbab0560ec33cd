//! SHA-256 and HMAC-SHA256 of large bodies by the runtime's WebCrypto
//! (`crypto.subtle`), which hashes natively: several times faster than the
//! same hash compiled to wasm, and the CPU a big delivery spends is mostly
//! hashing. Small bodies are hashed in wasm, where the promise round trip
//! would cost more than it saves.

use crate::api::ApiError;
use crate::edge::http;
use crate::logline::LogLine;
use crate::relay::route;
use crate::whatsapp::webhook::signature::{self, SignatureError};
use js_sys::futures::JsFuture;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Bodies at least this long are hashed by WebCrypto.
pub const NATIVE_MIN_BYTES: usize = 32 * 1024;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key: &[u8],
        algorithm: &JsValue,
        extractable: bool,
        usages: &js_sys::Array,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = sign, catch)]
    fn sign(algorithm: &str, key: &JsValue, data: &[u8]) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = digest, catch)]
    fn digest(algorithm: &str, data: &[u8]) -> Result<js_sys::Promise, JsValue>;
}

/// Why WebCrypto gave no hash (never expected: the algorithms are fixed).
#[derive(Debug)]
struct CryptoFailed;

/// The answer to a request whose hash failed: logged, and a 500 that
/// names nothing internal (Meta retries).
fn failed(_: CryptoFailed) -> ApiError {
    http::log(LogLine::warn("webhook.crypto_failed"));
    ApiError::internal()
}

/// The 32 bytes a WebCrypto promise resolved to.
async fn bytes(promise: Result<js_sys::Promise, JsValue>) -> Result<[u8; 32], CryptoFailed> {
    let buffer = JsFuture::from(promise.map_err(|_| CryptoFailed)?)
        .await
        .map_err(|_| CryptoFailed)?;
    let buffer: js_sys::ArrayBuffer = buffer.dyn_into().map_err(|_| CryptoFailed)?;
    let mut out = [0u8; 32];
    let view = js_sys::Uint8Array::new(&buffer);
    if view.length() != 32 {
        return Err(CryptoFailed);
    }
    view.copy_to(&mut out);
    Ok(out)
}

/// SHA-256 of `data`. WebCrypto copies `data` when called, so the view of
/// wasm memory it is given is not held across the await.
async fn sha256(data: &[u8]) -> Result<[u8; 32], CryptoFailed> {
    bytes(digest("SHA-256", data)).await
}

/// HMAC-SHA256 of `data` under `secret`.
async fn hmac_sha256(secret: &[u8], data: &[u8]) -> Result<[u8; 32], CryptoFailed> {
    let algorithm = js_sys::Object::new();
    let set = |k: &str, v: &JsValue| js_sys::Reflect::set(&algorithm, &JsValue::from_str(k), v);
    set("name", &JsValue::from_str("HMAC")).map_err(|_| CryptoFailed)?;
    set("hash", &JsValue::from_str("SHA-256")).map_err(|_| CryptoFailed)?;
    let usages = js_sys::Array::of1(&JsValue::from_str("sign"));
    let key = JsFuture::from(
        import_key("raw", secret, &algorithm, false, &usages).map_err(|_| CryptoFailed)?,
    )
    .await
    .map_err(|_| CryptoFailed)?;
    bytes(sign("HMAC", &key, data)).await
}

/// Which of `secrets` (by index) made the `claimed` MAC of `body`.
pub async fn signed_by(
    claimed: &[u8; 32],
    body: &[u8],
    secrets: &[Vec<u8>],
) -> Result<Result<usize, SignatureError>, ApiError> {
    if body.len() < NATIVE_MIN_BYTES {
        let macs = secrets.iter().map(|s| signature::mac(body, s));
        return Ok(signature::matching(claimed, macs));
    }
    for (i, secret) in secrets.iter().enumerate() {
        let mac = hmac_sha256(secret, body).await.map_err(failed)?;
        if signature::matching(claimed, [Some(mac)]).is_ok() {
            return Ok(Ok(i));
        }
    }
    Ok(Err(SignatureError::Mismatch))
}

/// The key a delivery's body is kept under ([`route::delivery_id`]).
pub async fn delivery_id(body: &[u8]) -> Result<String, ApiError> {
    if body.len() < NATIVE_MIN_BYTES {
        return Ok(route::delivery_id(body));
    }
    let digest = sha256(body).await.map_err(failed)?;
    Ok(route::delivery_id_of_digest(&digest))
}
