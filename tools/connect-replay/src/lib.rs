//! connect-replay: the project's main job on a laptop. A seeded synthetic contact-centre day ([`generate`]) run
//! through all three functions with the shared Kinesis event-source-mapping simulator ([`replay`]) on embedded
//! backends (a directory for S3, local tables with DynamoDB's condition semantics, alerts as JSON lines) or on
//! AWS; then a summary, the agent board and an HTML report ([`report`]). [`produce`] puts the same records into
//! real Kinesis streams instead.

pub mod app;
pub mod chaos;
pub mod forward;
pub mod generate;
pub mod io;
pub mod produce;
pub mod redrive;
pub mod replay;
pub mod report;
pub mod serve;
pub mod sources;
pub mod summary;
