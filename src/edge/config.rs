//! Typed configuration, read from the Worker's environment once per request.

use crate::webhook::signature;
use worker::Env;

/// Everything wa-edge reads from vars and secrets.
pub struct Config {
    pub verify_token: Option<String>,
    pub app_secrets: Vec<Vec<u8>>,
    pub admin_token: Option<String>,
}

fn string(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

impl Config {
    /// Reads the configuration; absent values stay `None` and the feature
    /// that needs them fails closed.
    pub fn from_env(env: &Env) -> Config {
        Config {
            verify_token: string(env, "WHATSAPP_VERIFY_TOKEN"),
            app_secrets: string(env, "WHATSAPP_APP_SECRET")
                .map(|s| signature::parse_secrets(&s))
                .unwrap_or_default(),
            admin_token: string(env, "ADMIN_TOKEN"),
        }
    }
}
