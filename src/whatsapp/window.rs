//! The 24-hour customer-service window: a business may send free-form
//! messages to a customer only within 24 hours of that customer's last message
//! to the same number; outside it, only templates. See
//! <https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#customer-service-windows>.

/// Length of the window.
pub const WINDOW_SECONDS: i64 = 24 * 60 * 60;

/// When the window opened by a message at `last_inbound` (unix seconds) closes.
pub fn closes_at(last_inbound: i64) -> i64 {
    last_inbound + WINDOW_SECONDS
}

/// True when a free-form message may be sent at `now` (unix seconds).
pub fn is_open(last_inbound: Option<i64>, now: i64) -> bool {
    last_inbound.is_some_and(|t| now < closes_at(t))
}
