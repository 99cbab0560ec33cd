//! Which provider and credential a number sends with: channel rows (through
//! the isolate cache) or the environment's single number, and their secrets.

use super::cache;
use super::config::{self, Config};
use super::http;
use crate::api::ApiError;
use crate::channels::Channel;
use crate::logline::LogLine;
use crate::whatsapp::graph::Endpoint;
use worker::{D1Database, Env};

/// Where a channel is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A row created through the API: its secret names are checked.
    Row,
    /// The environment's single-number configuration.
    Env,
}

/// A channel, by row or from the environment, and where it came from.
pub async fn find_with_origin(
    db: &D1Database,
    config: &Config,
    phone_number_id: &str,
) -> Result<Option<(Channel, Origin)>, ApiError> {
    let rows = cache::channels(db).await?;
    Ok(rows
        .into_iter()
        .find(|c| c.phone_number_id == phone_number_id)
        .map(|c| (c, Origin::Row))
        .or_else(|| {
            config
                .default_channel()
                .filter(|c| c.phone_number_id == phone_number_id)
                .map(|c| (c, Origin::Env))
        }))
}

/// A channel, by row or from the environment.
pub async fn find(
    db: &D1Database,
    config: &Config,
    phone_number_id: &str,
) -> Result<Option<Channel>, ApiError> {
    Ok(find_with_origin(db, config, phone_number_id)
        .await?
        .map(|(c, _)| c))
}

/// A secret a channel names: a row's only through [`config::channel_secret`].
pub fn secret_of(env: &Env, origin: Origin, name: &str) -> Option<String> {
    match origin {
        Origin::Row => config::channel_secret(env, name),
        Origin::Env => config::string(env, name),
    }
}

/// A channel and how to reach it.
pub struct Resolved {
    pub channel: Channel,
    pub endpoint: Endpoint,
}

/// Resolves a channel and its credential; `None` when the number is not a
/// channel or its secret is not set.
pub async fn resolve(
    env: &Env,
    db: &D1Database,
    config: &Config,
    phone_number_id: &str,
) -> Result<Option<Resolved>, ApiError> {
    let Some((channel, origin)) = find_with_origin(db, config, phone_number_id).await? else {
        return Ok(None);
    };
    let Some(credential) = secret_of(env, origin, &channel.credential_secret) else {
        http::log(LogLine::warn("channel.credential_missing"));
        return Ok(None);
    };
    Ok(Some(Resolved {
        endpoint: channel.endpoint(&config.bases(), credential),
        channel,
    }))
}
