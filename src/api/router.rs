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
//! segment is `v1` is behind the token, whether or not it names a route, so
//! an unauthenticated caller learns nothing about which exist.

use crate::api::{authorize, ApiError};
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
    GetMedia(String),
    ListRules,
    CreateRule,
    GetRule(String),
    ReplaceRule(String),
    DeleteRule(String),
    /// `/v1/destinations[/...]`: the relay's destinations.
    Destinations(DestinationRoute),
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

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; the route authenticates its own callers (webhook signatures).
    Public,
    /// Only a caller with `Authorization: Bearer <ADMIN_TOKEN>`.
    Admin,
}

/// A routed request. The route is reachable only through [`Routed::admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    route: Route,
    access: Access,
}

impl Routed {
    /// Who may use the route.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The route, for a caller allowed to use it: admin routes check
    /// `authorization` against `admin_token` first (401 otherwise).
    pub fn admit(
        self,
        authorization: Option<&str>,
        admin_token: Option<&str>,
    ) -> Result<Route, ApiError> {
        if self.access == Access::Admin {
            authorize(authorization, admin_token)?;
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
        return Routed {
            route: Route::NotFound,
            access: Access::Public,
        };
    };
    let access = if segs.first().map(String::as_str) == Some("v1") {
        Access::Admin
    } else {
        Access::Public
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    Routed {
        route: route_segments(method, &segs),
        access,
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
        ["v1", "contacts", id, "messages"] => on(
            "GET, HEAD",
            vec![("GET", Route::ContactMessages(owned(id)))],
        ),
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
        _ => Route::NotFound,
    }
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
    /// True for routes that serve or change data behind the token.
    pub fn is_admin(&self) -> bool {
        !matches!(
            self,
            Route::Health
                | Route::WebhookVerify
                | Route::WebhookReceive
                | Route::Webhook360(_)
                | Route::MethodNotAllowed(_)
                | Route::NotFound
        )
    }
}
