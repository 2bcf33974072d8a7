//! supervisor-alerts: evaluates supervisor alert rules over agent events, contact records and Contact Lens
//! real-time segments, and publishes each alert exactly once to SNS for the right supervisor.
//!
//! * [`rules`] — the rules document (schema, validation); see `RULES.md`.
//! * [`facts`] — what is known about an alert's agent and contact.
//! * [`scope`] — whom a rule is about, and whether an alert's facts are in it.
//! * [`engine`] — pure evaluation: records (+ state) → alert candidates with deterministic keys.
//! * [`state`] — the `ALERT_STATE_TABLE` items: claims, cooldowns, contact→agent joins, windows.
//! * [`delivery`] — claim → publish → confirm.
//! * [`alert`] — subject, body and message attributes of an alert.
//! * [`handler`] — the batch processor tying them together.

pub mod alert;
pub mod config;
pub mod delivery;
pub mod engine;
pub mod facts;
pub mod handler;
pub mod lateness;
pub mod refresh;
pub mod rules;
pub mod scope;
pub mod state;

/// The function's name: binary, logs, metrics dimension, quarantine prefix.
pub const NAME: &str = "supervisor-alerts";
