//! stream-forwarder: contact records and agent events (and optionally Contact Lens segments) to third-party HTTPS
//! endpoints as Standard Webhooks — in order per key, signed, and without loss. DESIGN.md beside this crate is the
//! contract.
//!
//! * [`config`] — the environment and the subscriptions document, validated at init.
//! * [`message`] — a record as each subscription receives it (ids, types, field allowlist, personal data).
//! * [`sign`] — Standard Webhooks signatures; [`secrets`] — where the signing secrets come from.
//! * [`transport`] — one HTTPS POST (no redirects, a timeout); a trait, so delivery is tested against scripts.
//! * [`deliver`] — per key in order, retries, `Retry-After`, `410 Gone`, the breaker, parking.
//! * [`park`] — parked messages in S3 and the state table (parked keys, disabled subscriptions); [`resend`] — sending
//!   them later, in order.
//! * [`handler`] — the batch.

pub mod config;
pub mod deliver;
pub mod handler;
pub mod message;
pub mod park;
pub mod resend;
pub mod secrets;
pub mod sign;
pub mod transport;

pub use handler::StreamForwarder;

/// The function's name: package, binary, metrics dimension and quarantine prefix.
pub const NAME: &str = "stream-forwarder";
