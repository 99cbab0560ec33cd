//! One module per group of routes: each reads its request, gathers what the
//! core needs, runs the core's decision and answers.

pub mod channels;
pub mod console;
pub mod destinations;
pub mod erase;
pub mod graph;
pub mod keys;
pub mod media;
pub mod read;
pub mod rules;
pub mod send;
pub mod session;
pub mod webhook;
