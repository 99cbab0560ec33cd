//! Graph's dialect for `/graph/...`: a request body as Graph takes it, the
//! success answer as Graph gives it, and every refusal as a Graph error
//! (`{"error": {"message", "type", "code", "error_data", "fbtrace_id"}}`)
//! with the code Graph itself uses for the same refusal, so a client written
//! against Graph handles wa-edge's errors with the code it already has.

use crate::api::ApiError;
use serde_json::{json, Value};

/// A Graph error: HTTP status, Graph code, its title and the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: i64,
    pub subcode: Option<i64>,
    /// Graph's `type`: `OAuthException` or `GraphMethodException`.
    pub kind: &'static str,
    /// The title Graph puts in `message`.
    pub title: String,
    /// `error_data.details`: what exactly was wrong.
    pub details: String,
}

impl GraphError {
    fn new(status: u16, code: i64, title: &str, details: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code,
            subcode: None,
            kind: "OAuthException",
            title: title.to_owned(),
            details: details.into(),
        }
    }

    /// The body, with `trace` as its `fbtrace_id`.
    pub fn body(&self, trace: &str) -> Value {
        let mut error = json!({
            "message": self.title,
            "type": self.kind,
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": trace,
        });
        if let (Some(sub), Some(obj)) = (self.subcode, error.as_object_mut()) {
            obj.insert("error_subcode".into(), sub.into());
        }
        json!({ "error": error })
    }
}

/// The Graph error for an answer wa-edge would give in its own format.
/// `code` is wa-edge's stable error code; every one a `/graph` route can
/// give has its Graph counterpart here.
pub fn from_api(e: &ApiError) -> GraphError {
    let d = e.message.clone();
    let invalid = |d: String| GraphError::new(400, 100, "(#100) Invalid parameter", d);
    match (e.status, e.code) {
        (_, "outside_window") => GraphError::new(400, 131047, "Re-engagement message", d),
        (_, "opted_out") => GraphError::new(
            400,
            131050,
            "Unable to deliver the message. This recipient has chosen to stop receiving messages from this business",
            d,
        ),
        (_, "template_not_approved") => GraphError::new(
            400,
            if d.contains(" is PAUSED") {
                132015
            } else if d.contains(" is DISABLED") {
                132016
            } else {
                132001
            },
            "(#132001) Template name does not exist in the translation",
            d,
        ),
        (_, "recipient_not_allowed") => GraphError::new(
            400,
            131030,
            "(#131030) Recipient phone number not in allowed list",
            d,
        ),
        (_, "messaging_limit_reached") => GraphError::new(
            400,
            131048,
            "(#131048) Spam rate limit hit",
            d,
        ),
        (401, _) => GraphError::new(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            d,
        ),
        (403, _) => GraphError::new(
            403,
            10,
            "(#10) Application does not have permission for this action",
            d,
        ),
        (_, "unknown_channel") | (404, _) | (405, _) => GraphError {
            subcode: Some(33),
            kind: "GraphMethodException",
            ..GraphError::new(
                if e.code == "unknown_channel" { 400 } else { e.status },
                100,
                "Unsupported post request. Object does not exist, cannot be loaded due to missing permissions, or does not support this operation",
                d,
            )
        },
        (413, _) | (415, _) => GraphError {
            status: e.status,
            ..invalid(d)
        },
        (s, _) if s >= 500 => GraphError::new(
            s,
            2,
            "Service temporarily unavailable",
            "wa-edge could not take the request; try again.",
        ),
        _ => invalid(d),
    }
}

/// Graph's request fields wa-edge's own send body does not have: checked
/// and removed, so what remains is the message `/v1/messages` takes.
/// `messaging_product` must be `whatsapp` (Graph requires it);
/// `recipient_type` must be `individual` (or absent); wa-edge's own `from`
/// and `contact` are not Graph's and are refused.
pub fn to_send_body(body: &[u8]) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, "invalid_json", format!("The body is not JSON: {e}.")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("The message must be a JSON object."))?;
    match obj.remove("messaging_product") {
        Some(Value::String(p)) if p == "whatsapp" => {}
        Some(_) => return Err(ApiError::invalid("messaging_product: must be \"whatsapp\"")),
        None => {
            return Err(ApiError::invalid(
                "messaging_product: the parameter messaging_product is required",
            ))
        }
    }
    match obj.remove("recipient_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "individual" => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "recipient_type: only \"individual\" is supported",
            ))
        }
    }
    for own in ["from", "contact"] {
        if obj.contains_key(own) {
            return Err(ApiError::invalid(format!(
                "{own}: is not a parameter of this endpoint"
            )));
        }
    }
    Ok(v)
}

/// True for a read receipt (`{"status": "read", "message_id"}`), which goes
/// to the same Graph path as a message.
pub fn is_read_receipt(body: &Value) -> bool {
    body.get("status").and_then(Value::as_str) == Some("read")
}

/// A read receipt's wamid and whether it asks for a typing indicator.
pub fn read_receipt(body: &Value) -> Result<(String, bool), ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("The body must be a JSON object."))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "status" | "message_id" | "typing_indicator"))
    {
        return Err(ApiError::invalid(format!(
            "{k}: is not a parameter of a read receipt"
        )));
    }
    let wamid = obj
        .get("message_id")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty() && m.len() <= 512)
        .ok_or_else(|| ApiError::invalid("message_id: the id of the message to mark as read"))?;
    let typing = match obj.get("typing_indicator") {
        None | Some(Value::Null) => false,
        Some(Value::Object(t))
            if t.len() == 1 && t.get("type").and_then(Value::as_str) == Some("text") =>
        {
            true
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "typing_indicator: must be {\"type\": \"text\"}",
            ))
        }
    };
    Ok((wamid.to_owned(), typing))
}

/// Graph's success answer for a message: `input` is the address as the
/// client gave it, `wamid` the id Graph gave the message.
pub fn sent(input: &str, wa_id: Option<&str>, wamid: &str) -> Value {
    let contact = match wa_id {
        Some(w) => json!({"input": input, "wa_id": w}),
        None => json!({"input": input, "user_id": input}),
    };
    json!({
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": wamid}],
    })
}

/// The answer for a message taken but not yet answered by Graph within the
/// wait (a retry is due, or the outcome is not known yet): Graph's shape with
/// HTTP 202, `message_status: "queued"`, and wa-edge's outbox id as the
/// message id. Status webhooks carry that id in `biz_opaque_callback_data`,
/// and `GET /v1/messages/{id}` shows the wamid once Graph gives one.
pub fn queued(input: &str, wa_id: Option<&str>, outbox_id: &str) -> Value {
    let mut v = sent(input, wa_id, outbox_id);
    if let Some(m) = v.pointer_mut("/messages/0").and_then(Value::as_object_mut) {
        m.insert("message_status".into(), "queued".into());
    }
    v
}
