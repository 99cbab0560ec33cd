//! The names of wa-edge's own settings and bindings: one place for each, so
//! the configuration reader and the rule that channel secret names may not
//! name them agree.

pub const VERIFY_TOKEN: &str = "WHATSAPP_VERIFY_TOKEN";
pub const APP_SECRET: &str = "WHATSAPP_APP_SECRET";
pub const ACCESS_TOKEN: &str = "WHATSAPP_ACCESS_TOKEN";
pub const PHONE_NUMBER_ID: &str = "WHATSAPP_PHONE_NUMBER_ID";
pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
pub const GRAPH_API_BASE: &str = "GRAPH_API_BASE";
pub const GRAPH_API_VERSION: &str = "GRAPH_API_VERSION";
pub const D360_API_BASE: &str = "D360_API_BASE";
pub const BUSINESS_ACCOUNT_ID: &str = "WHATSAPP_BUSINESS_ACCOUNT_ID";
pub const PROVIDER: &str = "WHATSAPP_PROVIDER";
pub const OPT_OUT_KEYWORDS: &str = "OPT_OUT_KEYWORDS";
pub const OPT_IN_KEYWORDS: &str = "OPT_IN_KEYWORDS";
pub const OPT_OUT_REPLY: &str = "OPT_OUT_REPLY";
pub const OPT_IN_REPLY: &str = "OPT_IN_REPLY";
pub const GRAPH_TIMEOUT_S: &str = "GRAPH_TIMEOUT_S";
pub const RAW_RETENTION_DAYS: &str = "RAW_RETENTION_DAYS";
pub const SESSION_TTL_HOURS: &str = "SESSION_TTL_HOURS";
pub const LOG_LEVEL: &str = "LOG_LEVEL";
pub const SHARDS: &str = "SHARDS";
/// The Durable Object namespace of the sharded write path.
pub const WRITER: &str = "WRITER";

/// Every name a channel's secret names may not use: wa-edge's settings
/// (secrets and plain vars alike) and its bindings.
pub const RESERVED: [&str; 26] = [
    VERIFY_TOKEN,
    APP_SECRET,
    ACCESS_TOKEN,
    PHONE_NUMBER_ID,
    ADMIN_TOKEN,
    GRAPH_API_BASE,
    GRAPH_API_VERSION,
    D360_API_BASE,
    BUSINESS_ACCOUNT_ID,
    PROVIDER,
    OPT_OUT_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_REPLY,
    OPT_IN_REPLY,
    GRAPH_TIMEOUT_S,
    RAW_RETENTION_DAYS,
    SESSION_TTL_HOURS,
    LOG_LEVEL,
    SHARDS,
    WRITER,
    "DB",
    "ASSETS",
    "FORWARD",
    "OUTBOX",
    "CACHE",
    "MEDIA",
];

/// True when `name` is one of wa-edge's own settings or bindings (compared
/// without regard to case, so a near-spelling cannot slip past).
pub fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
}
