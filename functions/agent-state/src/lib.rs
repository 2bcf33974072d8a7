//! agent-state: the live agent board in DynamoDB, built from the Amazon Connect agent event stream.
//!
//! * [`table`] — the table design (keys, attributes, the three GSIs as [`INDEXES`]) and the read side: typed views
//!   of the items and the board queries (agents of an instance, by routing profile, by activity; an agent's history).
//! * [`state`] — what one agent event does to the table: its update of the agent's current item and the history items
//!   it finishes. Pure functions of the event, so folding and replaying them is exact.
//! * [`handler`] — the Kinesis batch processing: classify, group per agent, drop duplicates, write history, fold each
//!   agent's events into one conditional write, fall back to exact per-event writes when the fold overlaps the table.
//! * [`config`] — configuration from the environment.

pub mod config;
pub mod handler;
pub mod state;
pub mod table;
#[cfg(feature = "testing")]
pub mod testing;
mod work;

pub use handler::AgentState;
pub use table::INDEXES;

/// The function's name: package, binary, metrics dimension and quarantine prefix.
pub const NAME: &str = "agent-state";
