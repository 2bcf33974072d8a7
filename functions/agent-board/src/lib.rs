//! agent-board: the live agent board people look at — a wallboard page and its JSON API over the agent-state
//! table. API.md beside this crate is the contract between the API and the page.
//!
//! * [`board`] — the board as served: agents as tiles, filters, counts; an agent's history. Pure.
//! * [`service`] — the routes, the short-lived cache, ETags and compression, independent of the front door.
//! * [`front`] — API Gateway's HTTP API events in, their responses out.
//! * [`config`] — configuration from the environment (and the local server's page settings file).

pub mod board;
pub mod config;
pub mod front;
pub mod service;
#[cfg(feature = "testing")]
pub mod testing;

pub use service::BoardService;

/// The function's name: package, binary and log field.
pub const NAME: &str = "agent-board";
