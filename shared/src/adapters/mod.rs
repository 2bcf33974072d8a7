//! Implementations of the ports: AWS SDK clients, memory, local filesystem.

pub mod aws;
pub mod fault;
pub mod fs;
pub mod memory;
