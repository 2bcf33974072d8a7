//! stream-forwarder: contact records and agent events to third-party HTTPS endpoints as Standard Webhooks
//! (DESIGN.md beside this crate is the contract). Under construction: see the crate's DESIGN.md.

/// The function's name: package, binary, metrics dimension and quarantine prefix.
pub const NAME: &str = "stream-forwarder";
