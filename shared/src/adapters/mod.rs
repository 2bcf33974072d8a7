//! Implementations of the ports: AWS SDK clients; and, with the `testing` feature (tests, the replay, the
//! benchmarks; never a bootstrap), memory, local filesystem, the port interceptor and fault injection; with
//! `sqlite` (the replay tool), the embedded table.

pub mod aws;
#[cfg(any(test, feature = "testing"))]
pub mod fault;
#[cfg(any(test, feature = "testing"))]
pub mod fs;
#[cfg(any(test, feature = "testing"))]
pub mod intercept;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
#[cfg(feature = "sqlite")]
pub mod sqlite;
