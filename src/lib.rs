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

pub mod api;
pub mod channels;
pub mod db;
pub mod erasure;
pub mod ids;
pub mod inbound;
pub mod keys;
pub mod logline;
pub mod outbound;
pub mod refresh;
pub mod relay;
pub mod session;
pub mod settings;
pub mod strict;
pub mod whatsapp;

#[cfg(target_arch = "wasm32")]
mod edge;
