//! Typed configuration, read from the Worker's environment once per request.

use crate::channels::{Bases, Channel};
use crate::inbound::autoreply::OptSettings;
use crate::inbound::shards;
use crate::outbound::outbox;
use crate::settings;
use crate::whatsapp::graph::Provider;
use crate::whatsapp::webhook::signature;
use worker::Env;

/// Everything wa-edge reads from vars and secrets.
#[derive(Clone)]
pub struct Config {
    pub verify_token: Option<String>,
    pub app_secrets: Vec<Vec<u8>>,
    pub admin_token: Option<String>,
    pub graph_base: String,
    pub graph_version: String,
    pub d360_base: String,
    pub phone_number_id: Option<String>,
    /// `WHATSAPP_BUSINESS_ACCOUNT_ID` of the default channel.
    pub waba_id: Option<String>,
    /// `WHATSAPP_PROVIDER`: who carries the default channel (`meta` unless `360dialog`).
    pub provider: Provider,
    /// Opt-out keywords and confirmations.
    pub opt: OptSettings,
    /// `GRAPH_TIMEOUT_S`: how long a send waits for Graph before its
    /// outcome is unknown.
    pub send_timeout_s: u64,
    /// `RAW_RETENTION_DAYS`: how long delivery bodies and relay events are
    /// kept for forwarding and replay (default 7, Meta's redelivery horizon).
    pub raw_retention_days: i64,
    /// `SESSION_TTL_HOURS`: how long an unused console session lives
    /// (default 12, 1 to 168), in ms.
    pub session_ttl_ms: i64,
    /// `LOG_LEVEL`: `warn` (default) writes only failures and refusals,
    /// `info` routine lines too.
    pub log_level: crate::logline::Level,
    /// `SHARDS`: how many write shards take deliveries (default 1, the
    /// direct path; see `inbound::shards`).
    pub shards: u32,
}

/// A secret (or var) by name, trimmed; `None` when unset or empty.
pub fn string(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// A channel's credential by the secret name the channel gives. Names of
/// wa-edge's own settings never resolve (a stored channel cannot borrow the
/// admin token or the app secret), and only `env.secret` is read. Workers
/// hands secrets and plain-text vars over alike, so keeping credentials out
/// of `[vars]` is the operator's part (see the README).
pub fn channel_secret(env: &Env, name: &str) -> Option<String> {
    if settings::is_reserved(name) {
        super::http::log(crate::logline::LogLine::warn(
            "channel.reserved_secret_name",
        ));
        return None;
    }
    env.secret(name)
        .ok()
        .map(|s| s.to_string().trim().to_owned())
        .filter(|s| !s.is_empty())
}

thread_local! {
    static OF_ISOLATE: std::cell::RefCell<Option<Config>> = const { std::cell::RefCell::new(None) };
}

impl Config {
    /// The configuration, read from `env` on the isolate's first request and
    /// kept: an isolate serves one deployment version, and a changed var or
    /// secret is a new version served by new isolates. Reading every
    /// setting crosses into JavaScript about forty times, which a
    /// verification GET would otherwise pay on each request.
    pub fn of_isolate(env: &Env) -> Config {
        if let Some(config) = OF_ISOLATE.with(|c| c.borrow().clone()) {
            return config;
        }
        let config = Config::from_env(env);
        OF_ISOLATE.with(|c| *c.borrow_mut() = Some(config.clone()));
        config
    }

    /// Reads the configuration; absent values stay `None` and the feature
    /// that needs them fails closed.
    pub fn from_env(env: &Env) -> Config {
        Config {
            verify_token: string(env, settings::VERIFY_TOKEN),
            app_secrets: string(env, settings::APP_SECRET)
                .map(|s| signature::parse_secrets(&s))
                .unwrap_or_default(),
            admin_token: string(env, settings::ADMIN_TOKEN),
            graph_base: string(env, settings::GRAPH_API_BASE)
                .unwrap_or_else(|| "https://graph.facebook.com".into()),
            graph_version: string(env, settings::GRAPH_API_VERSION)
                .unwrap_or_else(|| "v23.0".into()),
            d360_base: string(env, settings::D360_API_BASE)
                .unwrap_or_else(|| "https://waba-v2.360dialog.io".into()),
            phone_number_id: string(env, settings::PHONE_NUMBER_ID),
            waba_id: string(env, settings::BUSINESS_ACCOUNT_ID),
            provider: string(env, settings::PROVIDER)
                .and_then(|p| Provider::parse(&p))
                .unwrap_or(Provider::Meta),
            opt: opt_settings(env),
            send_timeout_s: string(env, settings::GRAPH_TIMEOUT_S)
                .and_then(|s| s.parse::<u64>().ok())
                .map_or(outbox::SEND_TIMEOUT_S, |s| {
                    s.clamp(1, outbox::SEND_TIMEOUT_S)
                }),
            raw_retention_days: string(env, settings::RAW_RETENTION_DAYS)
                .and_then(|s| s.parse::<i64>().ok())
                .map_or(7, |d| d.clamp(1, 90)),
            session_ttl_ms: string(env, settings::SESSION_TTL_HOURS)
                .and_then(|s| s.parse::<i64>().ok())
                .map_or(crate::session::DEFAULT_TTL_HOURS, |h| h.clamp(1, 168))
                * 3_600_000,
            log_level: crate::logline::Level::parse(string(env, settings::LOG_LEVEL).as_deref()),
            shards: shard_count(env),
        }
    }

    /// The API bases.
    pub fn bases(&self) -> Bases {
        Bases {
            graph: self.graph_base.clone(),
            version: self.graph_version.clone(),
            d360: self.d360_base.clone(),
        }
    }

    /// The channel configured by the environment, if any.
    pub fn default_channel(&self) -> Option<Channel> {
        Some(Channel {
            phone_number_id: self.phone_number_id.clone()?,
            waba_id: self.waba_id.clone(),
            display_phone_number: None,
            name: None,
            provider: self.provider.as_str().to_owned(),
            credential_secret: settings::ACCESS_TOKEN.into(),
            webhook_auth_secret: None,
            tier: "250".into(),
            test_number: false,
            test_recipients: Vec::new(),
        })
    }
}

/// `SHARDS`, or 1 (reported) when it is not a number from 1 to the maximum.
fn shard_count(env: &Env) -> u32 {
    let value = string(env, settings::SHARDS);
    shards::parse_count(value.as_deref()).unwrap_or_else(|| {
        super::http::log(
            crate::logline::LogLine::warn("config.invalid").kind("name", settings::SHARDS),
        );
        1
    })
}

fn opt_settings(env: &Env) -> OptSettings {
    let defaults = OptSettings::default();
    OptSettings {
        out_words: string(env, settings::OPT_OUT_KEYWORDS)
            .map(|w| OptSettings::words(&w))
            .unwrap_or(defaults.out_words),
        in_words: string(env, settings::OPT_IN_KEYWORDS)
            .map(|w| OptSettings::words(&w))
            .unwrap_or(defaults.in_words),
        out_reply: string(env, settings::OPT_OUT_REPLY).unwrap_or(defaults.out_reply),
        in_reply: string(env, settings::OPT_IN_REPLY).unwrap_or(defaults.in_reply),
    }
}
