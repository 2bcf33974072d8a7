//! Implementations of the ports: AWS SDK clients, memory, local filesystem.

pub mod aws;
pub mod fs;
pub mod memory;
