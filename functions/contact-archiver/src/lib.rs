//! contact-archiver: every Amazon Connect contact record (and, when enabled, agent events and Contact Lens
//! segments) kept in S3 — gzip NDJSON of the original bytes and typed Parquet — partitioned by day, idempotent,
//! Athena-ready.
//!
//! [`handler`] is the behaviour; [`layout`] the partitions and keys; [`ndjson`] and [`tables`] the two formats;
//! [`versions`] the newest-version rule the Athena view also applies; [`config`] the environment.

pub mod config;
pub mod handler;
pub mod layout;
pub mod ndjson;
pub mod tables;
pub mod versions;
