//! The Workers adapter: the only code that touches the `worker` crate. It
//! reads the environment into a [`config::Config`], runs the pure core's
//! decisions against D1 and `fetch`, and maps results onto HTTP responses.

mod cache;
mod channels;
mod clock;
mod config;
mod crypto;
mod d1;
mod delivery;
mod handlers;
mod http;
mod queue;
mod relay;
mod store;
mod writer;

use crate::api::router::{self, Dialect, Route};
use crate::api::{self, ApiError};
use crate::keys::{Caller, Need};
use crate::logline::LogLine;
use config::Config;
use worker::{
    event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let config = Config::of_isolate(&env);
    http::set_log_level(config.log_level);
    // The URL is split here rather than with `Request::url`, which would
    // link the `url` crate's IDNA tables into the bundle.
    let (path, _) = api::split_url(&req.inner().url());
    // The method as sent: worker's `Method` maps unknown methods to GET.
    let routed = router::resolve(&req.inner().method(), &path);
    let dialect = routed.dialect();
    let answer = |e: &ApiError| match dialect {
        Dialect::Api => http::error(e),
        Dialect::Graph => handlers::graph::error(&api::graph::from_api(e), e.header),
    };
    // The only way to a route: the caller is authenticated when the route
    // needs one, and admitted by what the route needs.
    let (caller, session) = if routed.need() == Need::Nothing {
        (None, None)
    } else {
        match handlers::session::authenticate(&req, &config, &env, &ctx).await {
            Ok((c, s)) => (Some(c), s),
            Err(e) => return answer(&e).map(http::secured),
        }
    };
    let route = match routed.admit(caller.as_ref()) {
        Ok(route) => route,
        Err(e) => return answer(&e).map(http::secured),
    };
    let headers = if route.is_webhook() {
        http::for_servers
    } else {
        http::secured
    };
    // A public route's handlers act for nobody.
    let caller = caller.unwrap_or(Caller::Anonymous);
    let outcome = match route {
        Route::Health => health(&env).await,
        Route::WebhookVerify => handlers::webhook::verify(&req, &config),
        Route::WebhookReceive => handlers::webhook::receive(&mut req, &env, &ctx, &config).await,
        Route::Webhook360(pnid) => {
            handlers::webhook::receive_360(&mut req, &env, &ctx, &config, &pnid).await
        }
        Route::MethodNotAllowed(allow) => Err(ApiError::method_not_allowed(allow)),
        Route::NotFound => Err(ApiError::no_route()),
        Route::SendMessage => handlers::send::send(&mut req, &env, &ctx, config, &caller).await,
        Route::Graph(g) => handlers::graph::handle(g, &mut req, &env, &config, &caller).await,
        Route::GetMedia(_) | Route::UploadMedia | Route::MediaLimits => {
            handlers::media::handle(route, &mut req, &env, &config, &caller).await
        }
        Route::ListChannels | Route::CreateChannel | Route::Channel(..) => {
            handlers::channels::handle(route, &mut req, &env, &config).await
        }
        Route::ListRules
        | Route::CreateRule
        | Route::GetRule(_)
        | Route::ReplaceRule(_)
        | Route::DeleteRule(_) => handlers::rules::handle(route, &mut req, &env).await,
        Route::DeleteContact(id) => handlers::erase::handle(&id, &env).await,
        Route::Destinations(r) => handlers::destinations::handle(r, &mut req, &env, &ctx).await,
        Route::ListKeys | Route::CreateKey | Route::DeleteKey(_) => {
            handlers::keys::handle(route, &mut req, &env).await
        }
        Route::SignIn | Route::GetSession | Route::SignOut => {
            handlers::session::handle(route, &mut req, &env, &config, session.as_ref()).await
        }
        Route::Console | Route::ListConversations | Route::MarkRead(_) | Route::TryRules => {
            handlers::console::handle(route, &mut req, &env, &config).await
        }
        other => handlers::read::handle(other, &req, &env).await,
    };
    match outcome {
        Ok(response) => Ok(response),
        Err(e) => answer(&e),
    }
    .map(headers)
}

/// The cron trigger: sends what is due in the outbox, sweeps the relay.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let config = Config::of_isolate(&env);
    http::set_log_level(config.log_level);
    // The scheduled time is the cron's clock, so a run can be replayed "as of" a time.
    let now = (event.schedule() as i64).max(http::now_ms());
    let result = match d1::database(&env) {
        Ok(db) => delivery::run_due(&env, &db, &config, now).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(n) => http::log(LogLine::new("cron.outbox").count("due", n)),
        Err(_) => http::log(LogLine::warn("cron.outbox_failed")),
    }
    let swept = match d1::database(&env) {
        Ok(db) => relay::sweep(&env, &db, now, config.raw_retention_days).await,
        Err(e) => Err(e),
    };
    match swept {
        Ok(n) => http::log(LogLine::new("cron.relay").count("requeued", n)),
        Err(_) => http::log(LogLine::warn("cron.relay_failed")),
    }
    let cleared = match d1::database(&env) {
        Ok(db) => d1::batch(&db, &crate::db::console::sweep(now)).await,
        Err(e) => Err(e),
    };
    if cleared.is_err() {
        http::log(LogLine::warn("cron.sessions_failed"));
    }
    let erased = match d1::database(&env) {
        Ok(db) => handlers::erase::sweep_objects(&env, &db, now).await,
        Err(e) => Err(e),
    };
    match erased {
        Ok(n) => http::log(LogLine::new("cron.erased_objects").count("deleted", n)),
        Err(_) => http::log(LogLine::warn("cron.erased_objects_failed")),
    }
}

/// The queues' consumer: `FORWARD` carries forwards to attempt, `OUTBOX`
/// outbox rows due later.
#[event(queue)]
async fn queue(batch: MessageBatch<queue::Job>, env: Env, _ctx: Context) -> Result<()> {
    let config = Config::of_isolate(&env);
    http::set_log_level(config.log_level);
    if batch.queue().contains("outbox") {
        let ids = batch
            .messages()
            .map(|m| m.iter().map(|j| j.body().id.clone()).collect())
            .unwrap_or_default();
        delivery::consume(&env, &config, ids).await;
        batch.ack_all();
    } else {
        relay::consume(batch, &env).await;
    }
    Ok(())
}

async fn health(env: &Env) -> std::result::Result<Response, ApiError> {
    let db = d1::database(env)?;
    d1::rows(&db, &crate::db::health()).await?;
    http::json(200, &serde_json::json!({"ok": true}))
}
