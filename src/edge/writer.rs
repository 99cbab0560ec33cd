//! The sharded write path (`SHARDS` above 1): a Durable Object per shard
//! ([`Writer`]) that its channels' deliveries pass through on their way to
//! D1, and the webhook's side of it ([`through_shard`]).
//!
//! Deliveries that reach a shard while its batch is in D1 wait, and the
//! next batch writes them together ([`store::group`]): under load, one
//! transaction for many deliveries. The webhook still answers only once the
//! delivery is in D1, so reads, exactly-once and auto-replies are as on the
//! direct path. Each request writes at most one batch: when a batch is done,
//! the request of the first delivery still waiting writes the next, so every
//! invocation stays within D1's queries per invocation. When a batch of
//! several is refused (it names someone erased, its destinations changed,
//! or D1 failed it), each of its requests in turn writes its own delivery
//! on its own, as the direct path would, before the next batch.

use crate::api::ApiError;
use crate::edge::config::Config;
use crate::edge::http;
use crate::edge::store::{self, Grouped, Job, Stored};
use crate::ids::PhoneNumberId;
use crate::inbound::ingest::Scope;
use crate::inbound::shards;
use crate::logline::LogLine;
use crate::settings;
use futures_channel::oneshot;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use worker::{
    durable_object, DurableObject, Env, Headers, Method, Request, RequestInit, Response, State,
};

const SCOPE: &str = "X-Wa-Scope";
const RECEIVED_AT: &str = "X-Wa-Received-At";

/// Writes `job` through the shard of its channel and returns what was
/// stored. Without the `WRITER` binding the delivery is written directly
/// (and the missing binding reported), so nothing is refused for it.
pub async fn through_shard(env: &Env, config: &Config, job: Job) -> Result<Stored, ApiError> {
    let channel = job.channel().or_else(|| shards::channel_of(&job.body));
    let shard = shards::shard_of(channel.as_deref(), config.shards);
    let Ok(namespace) = env.durable_object(settings::WRITER) else {
        http::log(LogLine::warn("config.missing").kind("name", settings::WRITER));
        return store::one(env, config, &job).await;
    };
    let failed = |what: &'static str| {
        move |e: worker::Error| {
            http::log(
                LogLine::warn("shard.error")
                    .kind("op", what)
                    .error(&e.to_string()),
            );
            ApiError::internal()
        }
    };
    let stub = namespace
        .id_from_name(&shards::object_name(shard))
        .and_then(|id| id.get_stub())
        .map_err(failed("stub"))?;
    let mut res = stub
        .fetch_with_request(job_request(&job).map_err(failed("request"))?)
        .await
        .map_err(failed("fetch"))?;
    match res.status_code() {
        200 => {}
        503 => {
            return Err(ApiError::new(
                503,
                "busy",
                "The delivery was not taken; deliver it again later.",
            ))
        }
        _ => return Err(ApiError::internal()),
    }
    let mut stored: Stored = res.json().await.map_err(failed("answer"))?;
    stored.shard = Some(shard);
    Ok(stored)
}

fn job_request(job: &Job) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set(
        SCOPE,
        &match &job.scope {
            Scope::App => "app".to_owned(),
            Scope::Channel(own) => format!("channel:{}", own.0),
        },
    )?;
    headers.set(RECEIVED_AT, &job.now.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(job.body.as_slice()).into()));
    Request::new_with_init("https://writer.internal/deliveries", &init)
}

/// The job a shard was sent; `None` for anything [`job_request`] did not
/// make.
async fn read_job(req: &mut Request) -> Option<Job> {
    let header = |name| req.headers().get(name).ok().flatten();
    let scope = match header(SCOPE)?.as_str() {
        "app" => Scope::App,
        other => Scope::Channel(PhoneNumberId(other.strip_prefix("channel:")?.to_owned())),
    };
    let now = header(RECEIVED_AT)?.parse::<i64>().ok()?;
    let body = req.bytes().await.ok()?;
    Some(Job { body, scope, now })
}

thread_local! {
    /// Bytes of bodies waiting in every shard of this isolate, which share
    /// its memory ([`shards::takes`]).
    static QUEUED: Cell<usize> = const { Cell::new(0) };
}

/// What a waiting request is told: its delivery's outcome, that it is the
/// shard's turn to write its delivery on its own (its group's batch was
/// refused), or to write the next batch.
enum Turn {
    Done(Result<Stored, ApiError>),
    Alone,
    Lead,
}

struct Waiting {
    job: Rc<Job>,
    /// Taken when the request is told its turn.
    tell: Option<oneshot::Sender<Turn>>,
    /// Its group's batch was refused: its turn is to write it on its own.
    alone: bool,
}

/// One write shard: its deliveries in arrival order, and whether one of
/// them is being written. One write at a time, in order: the request told
/// its turn writes, then passes the turn on ([`Writer::pass_turn`]).
#[durable_object(fetch)]
pub struct Writer {
    env: Env,
    waiting: RefCell<VecDeque<Waiting>>,
    busy: Cell<bool>,
}

impl DurableObject for Writer {
    fn new(_state: State, env: Env) -> Self {
        Writer {
            env,
            waiting: RefCell::new(VecDeque::new()),
            busy: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let config = Config::of_isolate(&self.env);
        http::set_log_level(config.log_level);
        let Some(job) = read_job(&mut req).await else {
            return Response::error("", 400);
        };
        let queued = QUEUED.with(Cell::get);
        let idle = self.waiting.borrow().is_empty();
        if !shards::takes(idle, queued, job.body.len()) {
            http::log(LogLine::warn("shard.full").count("bytes", queued));
            return Response::error("", 503);
        }
        QUEUED.with(|q| q.set(queued + shards::charge(job.body.len())));
        let (tell, told) = oneshot::channel();
        let job = Rc::new(job);
        self.waiting.borrow_mut().push_back(Waiting {
            job: job.clone(),
            tell: Some(tell),
            alone: false,
        });
        if !self.busy.replace(true) {
            self.pass_turn();
        }
        let outcome = match told.await {
            Ok(Turn::Done(outcome)) => outcome,
            Ok(Turn::Alone) => self.alone(&config, &job).await,
            Ok(Turn::Lead) => self.lead(&config, &job).await,
            Err(_) => Err(ApiError::internal()),
        };
        match outcome {
            Ok(stored) => Response::from_json(&stored),
            Err(_) => Response::error("", 500),
        }
    }
}

impl Writer {
    /// Writes the batch at the front of the queue, whose first delivery is
    /// the caller's (`own`), tells the others theirs, and passes the turn
    /// on. When the batch was refused, its deliveries are each written on
    /// their own, in order, starting with `own`, before the next batch.
    async fn lead(&self, config: &Config, own: &Job) -> Result<Stored, ApiError> {
        let jobs: Vec<Rc<Job>> = self
            .waiting
            .borrow()
            .iter()
            .take(shards::GROUP_DELIVERIES)
            .map(|w| w.job.clone())
            .collect();
        let refs: Vec<&Job> = jobs.iter().map(Rc::as_ref).collect();
        let outcomes = match store::group(&self.env, config, &refs).await {
            Grouped::Written(outcomes) => outcomes,
            Grouped::Refused(n) => {
                for refused in self.waiting.borrow_mut().iter_mut().take(n).skip(1) {
                    refused.alone = true;
                }
                return self.alone(config, own).await;
            }
        };
        let mut outcomes = outcomes.into_iter();
        let mine = outcomes.next().unwrap_or_else(|| Err(ApiError::internal()));
        {
            let mut waiting = self.waiting.borrow_mut();
            self.pop(&mut waiting);
            for outcome in outcomes {
                if let Some(tell) = self.pop(&mut waiting).and_then(|w| w.tell) {
                    // A request that is gone has nobody to tell.
                    let _ = tell.send(Turn::Done(outcome));
                }
            }
        }
        self.pass_turn();
        mine
    }

    /// Writes `own`, the delivery at the front of the queue, on its own,
    /// takes it off the queue and passes the turn on.
    async fn alone(&self, config: &Config, own: &Job) -> Result<Stored, ApiError> {
        let outcome = store::one(&self.env, config, own).await;
        self.pop(&mut self.waiting.borrow_mut());
        self.pass_turn();
        outcome
    }

    /// Tells the first waiting request that it writes next (its delivery
    /// alone, or the next batch), or marks the shard idle when none waits.
    fn pass_turn(&self) {
        let mut waiting = self.waiting.borrow_mut();
        while let Some(front) = waiting.front_mut() {
            let turn = if front.alone { Turn::Alone } else { Turn::Lead };
            match front.tell.take().map(|tell| tell.send(turn)) {
                Some(Ok(())) => return,
                // Its request is gone: its delivery was never answered, so
                // Meta sends it again.
                _ => {
                    self.pop(&mut waiting);
                }
            }
        }
        self.busy.set(false);
    }

    /// Takes the first waiting delivery off the queue and its bytes off
    /// the isolate's count.
    fn pop(&self, waiting: &mut VecDeque<Waiting>) -> Option<Waiting> {
        let front = waiting.pop_front()?;
        QUEUED.with(|q| q.set(q.get().saturating_sub(shards::charge(front.job.body.len()))));
        Some(front)
    }
}
