//! wa-edge: a WhatsApp Cloud API webhook handler for Cloudflare Workers.
//!
//! Everything that decides is plain Rust in the modules below and is tested
//! on the host; [`edge`] (wasm only) adapts it to the Workers runtime.

// No panic reachable from input: a panic would poison the wasm instance.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod account;
pub mod api;
pub mod autoreply;
pub mod channels;
pub mod erasure;
pub mod graph;
pub mod ids;
pub mod ingest;
pub mod logline;
pub mod media;
pub mod outbound;
pub mod outbox;
pub mod phone;
pub mod router;
pub mod rules;
pub mod send;
pub mod settings;
pub mod store;
pub mod strict;
pub mod webhook;
pub mod window;

#[cfg(target_arch = "wasm32")]
mod edge;
