//! The one home of what the three functions share: the Connect payload model ([`model`]), record
//! classification ([`classify`]), the Kinesis batch contract ([`batch`]), the ports and their adapters
//! ([`ports`], [`adapters`]), quarantine, configuration, telemetry, and a Kinesis event-source-mapping
//! simulator (`sim`) for tests and the local replay. The simulator and the in-memory, filesystem and fault
//! adapters are behind the `testing` feature, which no bootstrap enables.

pub mod adapters;
pub mod batch;
pub mod classify;
pub mod clock;
pub mod config;
pub mod kinesis;
pub mod lambda;
pub mod model;
pub mod ports;
pub mod quarantine;
#[cfg(any(test, feature = "testing"))]
pub mod sim;
pub mod telemetry;

pub use batch::{BatchReport, Disposition, Processor, run_batch, run_items};
pub use classify::{InvalidReason, classify};
pub use kinesis::{KinesisItem, SeqNo};
pub use model::{ConnectRecord, RecordKind};
