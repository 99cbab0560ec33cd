//! The one router: it normalises a request path once, decides the route and
//! whether it needs the admin token from that one result, and hands the edge
//! a route only through [`Routed::admit`], which performs the token check.
//!
//! Canonical form: the path is split on `/`; each segment is percent-decoded
//! (as UTF-8) exactly once; one trailing `/` is ignored; route names are
//! matched case-sensitively (`/v1`, never `/V1`). A path with an empty
//! segment (`//`), a dot segment (`.`, `..`, also when encoded), a segment
//! that decodes to a `/`, `\` or a control character, or invalid UTF-8 is not
//! canonical and is 404 for every method. Every path whose first decoded
//! segment is `v1` or `graph` needs a credential, whether or not it names a
//! route, so an unauthenticated caller learns nothing about which exist;
//! what each route needs beyond that is [`Route::need`].

use crate::api::ApiError;
use crate::keys::{Caller, Denied, Need};
use percent_encoding::percent_decode_str;

/// What a request asks for: every route of the service, by method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    WebhookVerify,
    WebhookReceive,
    /// `POST /webhook/360dialog/{phone_number_id}`.
    Webhook360(String),
    GetMessage(String),
    SendMessage,
    ListContacts,
    GetContact(String),
    /// `DELETE /v1/contacts/{id}`: erasure.
    DeleteContact(String),
    ContactMessages(String),
    ListEvents,
    /// `GET /v1/events/{id}/raw`: an event's body exactly as it arrived.
    EventRaw(String),
    ListChannels,
    CreateChannel,
    /// `/v1/channels/{id}[/...]`: one channel's resource.
    Channel(String, ChannelRoute),
    UploadMedia,
    /// `GET /v1/media/limits`: the types and sizes an upload may have.
    MediaLimits,
    GetMedia(String),
    ListRules,
    CreateRule,
    GetRule(String),
    ReplaceRule(String),
    DeleteRule(String),
    /// `/v1/destinations[/...]`: the relay's destinations.
    Destinations(DestinationRoute),
    /// `GET /v1/keys`.
    ListKeys,
    /// `POST /v1/keys`.
    CreateKey,
    /// `DELETE /v1/keys/{id}`.
    DeleteKey(String),
    /// `/graph/{version}/{phone_number_id}/...`: Graph's own API, for bots
    /// written against it.
    Graph(GraphRoute),
    /// `POST /v1/session`: sign in to the console with the admin token.
    SignIn,
    /// `GET /v1/session`: the signed-in session's CSRF token and expiry.
    GetSession,
    /// `POST /v1/session/logout`.
    SignOut,
    /// `GET /v1/conversations`: the inbox.
    ListConversations,
    /// `POST /v1/contacts/{id}/read`: a conversation read in the console.
    MarkRead(String),
    /// `POST /v1/rules/try`: which rule would answer a sample message.
    TryRules,
    /// A page or file of the console (`GET` outside the API's paths).
    Console,
    /// The path exists but not for this method; carries the allowed methods.
    MethodNotAllowed(&'static str),
    NotFound,
}

/// A resource of one channel, `/v1/channels/{id}/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelRoute {
    Get,
    Update,
    Delete,
    PhoneNumbers,
    Register,
    GetSubscription,
    Subscribe,
    GetProfile,
    UpdateProfile,
    /// `GET /v1/channels/{id}/profile/photo`: the profile's photo, through
    /// the worker (the console's pages load only their own origin's images).
    ProfilePhoto,
    ListTemplates,
    CreateTemplate,
    SyncTemplates,
    DeleteTemplate(String),
    RegisterWebhook,
}

/// A relay route, `/v1/destinations/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationRoute {
    List,
    Create,
    Get(String),
    Update(String),
    Delete(String),
    /// `POST /v1/destinations/{id}/secret`.
    RotateSecret(String),
    /// `GET /v1/destinations/{id}/deliveries`.
    Deliveries(String),
    /// `POST /v1/destinations/{id}/deliveries/{delivery}/retry`.
    Retry(String, String),
    /// `POST /v1/destinations/{id}/deliveries/retry`: every dead letter.
    RetryDead(String),
    /// `POST /v1/destinations/{id}/replay`.
    Replay(String),
}

/// A route of the Graph-compatible API, `/graph/{version}/{phone_number_id}/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphRoute {
    /// `POST .../messages`: a message, or a read receipt.
    Messages(String),
    /// `POST .../media`: an upload.
    Media(String),
}

impl GraphRoute {
    /// The channel the route acts for.
    pub fn channel(&self) -> &str {
        match self {
            GraphRoute::Messages(p) | GraphRoute::Media(p) => p,
        }
    }
}

/// The error format a path answers in: wa-edge's own, or Graph's (so a
/// Graph client's error handling works under `/graph`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Api,
    Graph,
}

/// A routed request. The route is reachable only through [`Routed::admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    route: Route,
    need: Need,
    dialect: Dialect,
}

impl Routed {
    /// What the route asks of its caller.
    pub fn need(&self) -> Need {
        self.need
    }

    /// The error format of the path.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The route, for a caller allowed to use it: 401 without a caller when
    /// the route needs one, 403 for a key without the scope or the channel.
    pub fn admit(self, caller: Option<&Caller>) -> Result<Route, ApiError> {
        if self.need == Need::Nothing {
            return Ok(self.route);
        }
        let caller = caller.ok_or_else(|| {
            ApiError::unauthorized(
                "unauthorized",
                crate::api::BEARER_CHALLENGE,
                "Send Authorization: Bearer <ADMIN_TOKEN or an API key>.",
            )
        })?;
        let forbidden = |d: Denied| ApiError::new(403, "forbidden", d.message());
        caller.permits(self.need).map_err(forbidden)?;
        if let Route::Graph(g) = &self.route {
            caller.may_use_channel(g.channel()).map_err(forbidden)?;
        }
        Ok(self.route)
    }
}

/// The canonical segments of `path`, or `None` when the path is not canonical.
pub fn segments(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.split('/')
        .map(|raw| {
            let s = percent_decode_str(raw).decode_utf8().ok()?;
            let bad = s.is_empty()
                || s == "."
                || s == ".."
                || s.chars().any(|c| c == '/' || c == '\\' || c.is_control());
            (!bad).then(|| s.into_owned())
        })
        .collect()
}

/// Routes a method and a raw (still percent-encoded) path.
pub fn resolve(method: &str, path: &str) -> Routed {
    let Some(segs) = segments(path) else {
        let dialect = match path.split('/').nth(1) {
            Some("graph") => Dialect::Graph,
            _ => Dialect::Api,
        };
        return Routed {
            route: Route::NotFound,
            need: Need::Nothing,
            dialect,
        };
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let route = route_segments(method, &segs);
    let (guarded, dialect) = match segs.first() {
        Some(&"v1") => (true, Dialect::Api),
        Some(&"graph") => (true, Dialect::Graph),
        _ => (false, Dialect::Api),
    };
    Routed {
        need: if guarded { route.need() } else { Need::Nothing },
        route,
        dialect,
    }
}

/// The route of a method and path, ignoring access (see [`resolve`]).
pub fn route(method: &str, path: &str) -> Route {
    resolve(method, path).route
}

/// Picks the route for `method` among a path's `(method, route)` pairs;
/// `HEAD` is answered as `GET`. Otherwise 405 with `allow`.
fn by_method(method: &str, allow: &'static str, routes: Vec<(&str, Route)>) -> Route {
    let method = if method == "HEAD" { "GET" } else { method };
    routes
        .into_iter()
        .find(|(m, _)| *m == method)
        .map_or(Route::MethodNotAllowed(allow), |(_, r)| r)
}

// Long because it is the route table: one arm per path, read as a whole.
fn route_segments(method: &str, segs: &[&str]) -> Route {
    use ChannelRoute as C;
    let owned = |s: &str| s.to_owned();
    let on = |allow, routes| by_method(method, allow, routes);
    let channel = |id: &str, routes: Vec<(&'static str, ChannelRoute)>, allow| {
        on(
            allow,
            routes
                .into_iter()
                .map(|(m, r)| (m, Route::Channel(owned(id), r)))
                .collect(),
        )
    };
    match segs {
        ["healthz"] => on("GET, HEAD", vec![("GET", Route::Health)]),
        ["webhook"] => on(
            "GET, HEAD, POST",
            vec![
                ("GET", Route::WebhookVerify),
                ("POST", Route::WebhookReceive),
            ],
        ),
        ["webhook", "360dialog", pnid] => {
            on("POST", vec![("POST", Route::Webhook360(owned(pnid)))])
        }
        ["v1", "messages"] => on("POST", vec![("POST", Route::SendMessage)]),
        ["v1", "messages", id] => on("GET, HEAD", vec![("GET", Route::GetMessage(owned(id)))]),
        ["v1", "contacts"] => on("GET, HEAD", vec![("GET", Route::ListContacts)]),
        ["v1", "contacts", id] => on(
            "GET, HEAD, DELETE",
            vec![
                ("GET", Route::GetContact(owned(id))),
                ("DELETE", Route::DeleteContact(owned(id))),
            ],
        ),
        ["v1", "contacts", id, "read"] => on("POST", vec![("POST", Route::MarkRead(owned(id)))]),
        ["v1", "contacts", id, "messages"] => on(
            "GET, HEAD",
            vec![("GET", Route::ContactMessages(owned(id)))],
        ),
        ["v1", "session"] => on(
            "GET, HEAD, POST",
            vec![("GET", Route::GetSession), ("POST", Route::SignIn)],
        ),
        ["v1", "session", "logout"] => on("POST", vec![("POST", Route::SignOut)]),
        ["v1", "conversations"] => on("GET, HEAD", vec![("GET", Route::ListConversations)]),
        ["v1", "rules", "try"] => on("POST", vec![("POST", Route::TryRules)]),
        ["v1", "events"] => on("GET, HEAD", vec![("GET", Route::ListEvents)]),
        ["v1", "events", id, "raw"] => on("GET, HEAD", vec![("GET", Route::EventRaw(owned(id)))]),
        ["v1", "channels"] => on(
            "GET, HEAD, POST",
            vec![("GET", Route::ListChannels), ("POST", Route::CreateChannel)],
        ),
        ["v1", "channels", id] => channel(
            id,
            vec![("GET", C::Get), ("PATCH", C::Update), ("DELETE", C::Delete)],
            "GET, HEAD, PATCH, DELETE",
        ),
        ["v1", "channels", id, "phone_numbers"] => {
            channel(id, vec![("GET", C::PhoneNumbers)], "GET, HEAD")
        }
        ["v1", "channels", id, "register"] => channel(id, vec![("POST", C::Register)], "POST"),
        ["v1", "channels", id, "subscription"] => channel(
            id,
            vec![("GET", C::GetSubscription), ("POST", C::Subscribe)],
            "GET, HEAD, POST",
        ),
        ["v1", "channels", id, "profile"] => channel(
            id,
            vec![("GET", C::GetProfile), ("PATCH", C::UpdateProfile)],
            "GET, HEAD, PATCH",
        ),
        ["v1", "channels", id, "profile", "photo"] => {
            channel(id, vec![("GET", C::ProfilePhoto)], "GET, HEAD")
        }
        ["v1", "channels", id, "templates"] => channel(
            id,
            vec![("GET", C::ListTemplates), ("POST", C::CreateTemplate)],
            "GET, HEAD, POST",
        ),
        ["v1", "channels", id, "templates", "sync"] => {
            channel(id, vec![("POST", C::SyncTemplates)], "POST")
        }
        ["v1", "channels", id, "templates", name] => channel(
            id,
            vec![("DELETE", C::DeleteTemplate(owned(name)))],
            "DELETE",
        ),
        ["v1", "channels", id, "webhook"] => {
            channel(id, vec![("POST", C::RegisterWebhook)], "POST")
        }
        ["v1", "media"] => on("POST", vec![("POST", Route::UploadMedia)]),
        ["v1", "media", "limits"] => on("GET, HEAD", vec![("GET", Route::MediaLimits)]),
        ["v1", "media", id] => on("GET, HEAD", vec![("GET", Route::GetMedia(owned(id)))]),
        ["v1", "rules"] => on(
            "GET, HEAD, POST",
            vec![("GET", Route::ListRules), ("POST", Route::CreateRule)],
        ),
        ["v1", "rules", id] => on(
            "GET, HEAD, PUT, DELETE",
            vec![
                ("GET", Route::GetRule(owned(id))),
                ("PUT", Route::ReplaceRule(owned(id))),
                ("DELETE", Route::DeleteRule(owned(id))),
            ],
        ),
        ["v1", "destinations", ..] => destination_segments(method, segs),
        ["v1", "keys"] => on(
            "GET, HEAD, POST",
            vec![("GET", Route::ListKeys), ("POST", Route::CreateKey)],
        ),
        ["v1", "keys", id] => on("DELETE", vec![("DELETE", Route::DeleteKey(owned(id)))]),
        ["graph", version, pnid, "messages"] if is_graph_version(version) => on(
            "POST",
            vec![("POST", Route::Graph(GraphRoute::Messages(owned(pnid))))],
        ),
        ["graph", version, pnid, "media"] if is_graph_version(version) => on(
            "POST",
            vec![("POST", Route::Graph(GraphRoute::Media(owned(pnid))))],
        ),
        [first, ..] if matches!(*first, "v1" | "graph" | "webhook" | "healthz") => Route::NotFound,
        // Every other path is the console's: a page, a file, or its 404.
        _ => on("GET, HEAD", vec![("GET", Route::Console)]),
    }
}

/// A Graph API version as clients write it: `v` and a number, with an
/// optional minor (`v23.0`). wa-edge calls Graph with its own
/// `GRAPH_API_VERSION` whatever the client names.
fn is_graph_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let (major, minor) = rest.split_once('.').unwrap_or((rest, "0"));
    let number = |p: &str| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    number(major) && number(minor)
}

fn destination_segments(method: &str, segs: &[&str]) -> Route {
    use DestinationRoute as D;
    let owned = |s: &str| s.to_owned();
    let on = |allow, routes: Vec<(&str, D)>| {
        by_method(
            method,
            allow,
            routes
                .into_iter()
                .map(|(m, r)| (m, Route::Destinations(r)))
                .collect(),
        )
    };
    match segs {
        ["v1", "destinations"] => on(
            "GET, HEAD, POST",
            vec![("GET", D::List), ("POST", D::Create)],
        ),
        ["v1", "destinations", id] => on(
            "GET, HEAD, PATCH, DELETE",
            vec![
                ("GET", D::Get(owned(id))),
                ("PATCH", D::Update(owned(id))),
                ("DELETE", D::Delete(owned(id))),
            ],
        ),
        ["v1", "destinations", id, "secret"] => {
            on("POST", vec![("POST", D::RotateSecret(owned(id)))])
        }
        ["v1", "destinations", id, "deliveries"] => {
            on("GET, HEAD", vec![("GET", D::Deliveries(owned(id)))])
        }
        ["v1", "destinations", id, "deliveries", "retry"] => {
            on("POST", vec![("POST", D::RetryDead(owned(id)))])
        }
        ["v1", "destinations", id, "deliveries", delivery, "retry"] => {
            on("POST", vec![("POST", D::Retry(owned(id), owned(delivery)))])
        }
        ["v1", "destinations", id, "replay"] => on("POST", vec![("POST", D::Replay(owned(id)))]),
        _ => Route::NotFound,
    }
}

impl Route {
    /// The webhook's routes: their answers are read by Meta's (or
    /// 360dialog's) servers, never shown in a browser.
    pub fn is_webhook(&self) -> bool {
        matches!(
            self,
            Route::WebhookVerify | Route::WebhookReceive | Route::Webhook360(_)
        )
    }

    /// What a caller needs for this route behind `/v1` or `/graph`: reading
    /// conversations needs `read`, sending `send`, the rest `admin`; an
    /// unknown path or method any valid credential (so a stranger learns
    /// nothing of which paths exist).
    pub fn need(&self) -> Need {
        match self {
            Route::Health
            | Route::WebhookVerify
            | Route::WebhookReceive
            | Route::Webhook360(_)
            | Route::SignIn
            | Route::Console => Need::Nothing,
            Route::MethodNotAllowed(_) | Route::NotFound => Need::Anyone,
            Route::GetMessage(_)
            | Route::ListContacts
            | Route::GetContact(_)
            | Route::ContactMessages(_)
            | Route::ListEvents
            | Route::EventRaw(_)
            | Route::GetMedia(_)
            | Route::MediaLimits
            | Route::ListConversations
            | Route::MarkRead(_) => Need::Read,
            Route::SendMessage | Route::UploadMedia | Route::Graph(_) => Need::Send,
            _ => Need::Admin,
        }
    }
}
