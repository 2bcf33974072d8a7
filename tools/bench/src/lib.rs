//! bench: what the benchmarks of the three functions share (see BENCHMARKS.md and scripts/bench.sh).
//!
//! * [`batches`] — realistic payload-limited Kinesis batches (as Lambda would send them: ≤ 6 MB of event JSON)
//!   cut from the replay tool's synthetic contact-centre day.
//! * [`rigs`] — each function's core on fresh in-memory adapters, run through the shared batch driver
//!   (`shared::batch::run_items`), with the adapters' call counters at hand.
//! * [`heap`] — a counting global allocator (mimalloc underneath): live and peak heap bytes, for memory growth.
//! * [`meter`] — a port hook counting AWS requests by what they cost, optionally delaying each (round trips).

pub mod batches;
pub mod heap;
pub mod meter;
pub mod rigs;
