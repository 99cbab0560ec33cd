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

/// What a request asks for.
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
    /// `/v1/channels`, any method.
    Channels,
    /// `/v1/channels/{id}[/rest...]`, any method.
    Channel {
        id: String,
        rest: Vec<String>,
    },
    /// `/v1/media[/{id}]`, any method.
    Media(Option<String>),
    ListRules,
    CreateRule,
    GetRule(String),
    ReplaceRule(String),
    DeleteRule(String),
    /// The path exists but not for this method; carries the allowed methods.
    MethodNotAllowed(&'static str),
    NotFound,
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

fn route_segments(method: &str, segs: &[&str]) -> Route {
    let get = |r: Route| {
        if method == "GET" || method == "HEAD" {
            r
        } else {
            Route::MethodNotAllowed("GET, HEAD")
        }
    };
    let owned = |s: &str| s.to_owned();
    match segs {
        ["healthz"] => get(Route::Health),
        ["webhook"] => match method {
            "GET" | "HEAD" => Route::WebhookVerify,
            "POST" => Route::WebhookReceive,
            _ => Route::MethodNotAllowed("GET, HEAD, POST"),
        },
        ["webhook", "360dialog", pnid] => match method {
            "POST" => Route::Webhook360(owned(pnid)),
            _ => Route::MethodNotAllowed("POST"),
        },
        ["v1", "messages"] if method == "POST" => Route::SendMessage,
        ["v1", "messages"] => Route::MethodNotAllowed("POST"),
        ["v1", "messages", id] => get(Route::GetMessage(owned(id))),
        ["v1", "contacts"] => get(Route::ListContacts),
        ["v1", "contacts", id] => match method {
            "GET" | "HEAD" => Route::GetContact(owned(id)),
            "DELETE" => Route::DeleteContact(owned(id)),
            _ => Route::MethodNotAllowed("GET, HEAD, DELETE"),
        },
        ["v1", "contacts", id, "messages"] => get(Route::ContactMessages(owned(id))),
        ["v1", "events"] => get(Route::ListEvents),
        ["v1", "events", id, "raw"] => get(Route::EventRaw(owned(id))),
        ["v1", "channels"] => Route::Channels,
        ["v1", "channels", id, rest @ ..] => Route::Channel {
            id: owned(id),
            rest: rest.iter().map(|s| owned(s)).collect(),
        },
        ["v1", "media"] => Route::Media(None),
        ["v1", "media", id] => Route::Media(Some(owned(id))),
        ["v1", "rules"] => match method {
            "GET" | "HEAD" => Route::ListRules,
            "POST" => Route::CreateRule,
            _ => Route::MethodNotAllowed("GET, HEAD, POST"),
        },
        ["v1", "rules", id] => {
            let id = owned(id);
            match method {
                "GET" | "HEAD" => Route::GetRule(id),
                "PUT" => Route::ReplaceRule(id),
                "DELETE" => Route::DeleteRule(id),
                _ => Route::MethodNotAllowed("GET, HEAD, PUT, DELETE"),
            }
        }
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
