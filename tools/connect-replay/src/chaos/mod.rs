//! Fault injection at scale: the same generated records through the three functions twice — once with every AWS
//! call failing at a chosen rate ([`Faulty`](shared::adapters::fault::Faulty) around each port: the archive store, the quarantine store, both
//! tables and the publisher), once without faults — over the event-source-mapping simulator, then checks that
//! nothing was lost, nothing was duplicated except in the one documented case, and no shard was blocked.
//!
//! What the checks compare:
//! * the archive's NDJSON objects against the generated records: every valid record's bytes are in some object
//!   (records lost = those that are not), every line is a record that was sent, every object decompresses, and
//!   the (ContactId, LastUpdateTimestamp) versions equal [`Truth::ctr_versions`](crate::generate::Truth::ctr_versions);
//! * the agent board (current items) of the faulty run against the fault-free run's;
//! * the alerts: the same alert ids as the fault-free run, each published once — a second copy is allowed only
//!   for an alert that was in a publish call that failed ambiguously (timeout, 5xx, response lost: SNS may have
//!   taken it), the documented at-least-once case; any other copy fails the check;
//! * the quarantine of each function against the invalid records of the streams it reads, with the reason
//!   [`shared::classify()`] gives;
//! * the simulator: nothing sent to the on-failure destination, no shard blocked, no panic.
//!
//! Every invocation runs under `catch_unwind` (a panic counts, and the simulator sees a function error). Alert
//! leases are wall-clock in Lambda; here a [`ManualClock`] advances a fixed step per invocation, standing in for
//! the time Lambda's retries take, so a claim whose write succeeded but whose answer was lost is taken over after
//! its lease as in production, not after 90 real seconds.
//!
//! The records go through the replay in one window, each stream in sequence-number order from start to end, so the
//! archive and quarantine keys (made of sequence numbers) are unique whatever the replay's windowing does.
//!
//! One file per concern: `days.rs` and `expected.rs` (the records and what they must become), `plans.rs` (the
//! faults), `probes.rs` (the clock and the publish/confirm watchers), `run.rs` (one run, wired by
//! [`crate::app::host`] as the replay is), `read_back.rs` (what a run left in its stores), `verdict.rs` and
//! `figures.rs` (the checks and the numbers), `command.rs` (the whole chaos run and `connect-replay chaos`).

mod command;
mod days;
mod expected;
mod figures;
mod outcome;
mod plans;
mod probes;
mod read_back;
mod run;
mod verdict;

pub use crate::app::{QUARANTINE_PREFIX, Stores};
pub use command::{ChaosOptions, Outcome, chaos_in_memory, command, memory_run, print};
pub use days::Days;
pub use expected::{Expected, digest, reads};
pub use outcome::{AlertTally, Check, Verdict};
pub use plans::Plans;
pub use probes::{Accepted, Ambiguity, ConfirmWatch, alert_id};
pub use read_back::{ArchiveView, Observed, current_items, observe, read_archive};
pub use run::{MemoryStores, Run, RunOptions, run};
pub use shared::clock::ManualClock;
pub use verdict::judge;

/// The name of the check on second copies of alerts.
pub const DUPLICATES_CHECK: &str = "alerts: no duplicate other than after an ambiguous publish";
