//! The Lambda entry loop every function shares: event in → [`invoke`] (the batch contract, [`run_items`]) →
//! partial batch response out; the batch's counts recorded as metrics and flushed after each invocation.
//!
//! The bootstraps run it on Tokio's current-thread runtime (`#[tokio::main(flavor = "current_thread")]`): Lambda
//! runs one invocation at a time and gives a function of the template's 128–512 MB a fraction of one vCPU, and a
//! batch is one task (its concurrent AWS calls are futures of that task), so worker threads would add only thread
//! start-up at init and cross-thread wake-ups per call (BENCHMARKS.md, cold start).

use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};

use crate::batch::{BatchError, Processor, run_items};
use crate::kinesis::{KinesisItem, items_from_event};
use crate::quarantine::Quarantine;

#[doc(hidden)]
pub use mimalloc::MiMalloc;

/// Makes mimalloc the process's allocator: `shared::use_mimalloc!();` at the top of a binary. The bootstraps, the
/// replay tool and the CPU benchmark all use it, so the benchmark measures what is deployed. Why: parsing allocates
/// a string per field, a pattern at which mimalloc is much cheaper than glibc's malloc (the figures are in
/// BENCHMARKS.md, their one home).
///
/// The bootstraps write `shared::use_mimalloc!(without_transparent_huge_pages);`: the process turns transparent
/// huge pages off for itself from an ELF constructor, before `main` and before the Rust runtime's first allocation
/// (see [`disable_transparent_huge_pages`]). The replay tool keeps them (its heap is large and long-lived, and it
/// is faster with them).
#[macro_export]
macro_rules! use_mimalloc {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::lambda::MiMalloc = $crate::lambda::MiMalloc;
    };
    (without_transparent_huge_pages) => {
        $crate::use_mimalloc!();
        // Run by the dynamic loader with the other constructors, before `main` and the Rust runtime's first
        // allocation.
        #[cfg(target_os = "linux")]
        #[used]
        #[unsafe(link_section = ".init_array")]
        static DISABLE_TRANSPARENT_HUGE_PAGES: extern "C" fn() = $crate::lambda::disable_transparent_huge_pages;
    };
}

/// Keeps the kernel from backing the allocator's arenas with 2 MB transparent huge pages, for this process: mimalloc
/// reserves large aligned arenas, and on a host whose THP setting is `always` the first touch of one faulted in and
/// zeroed a whole 2 MB page — a tenth of a bootstrap's init CPU — and raised peak RSS, for no measurable CPU gain
/// (BENCHMARKS.md has the figures). It takes effect at the next page fault, so it must run before the first
/// allocation: [`use_mimalloc!`]`(without_transparent_huge_pages)` registers it as an ELF constructor. Linux only;
/// if the kernel refuses, nothing else changes.
#[doc(hidden)]
pub extern "C" fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes no memory this process can see.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// The start of every function's init: logs and metrics for `function`.
pub fn init(function: &'static str) -> Result<&'static metrics_cloudwatch_embedded::Collector, Error> {
    crate::telemetry::init(function)
}

/// A configuration read at init, or the init error that stops the function: logged (naming the variable) and
/// returned, so Lambda reports the init failure.
pub fn configured<T, E: std::fmt::Display>(config: Result<T, E>) -> Result<T, Error> {
    config.map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e.to_string().into()
    })
}

/// Runs the Lambda runtime with `processor`. Returns only if the runtime stops.
pub async fn serve<P, Q>(
    function: &'static str,
    processor: P,
    quarantine: Q,
    metrics: &'static metrics_cloudwatch_embedded::Collector,
) -> Result<(), Error>
where
    P: Processor + 'static,
    Q: Quarantine + 'static,
{
    let deps = Arc::new((processor, quarantine));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<KinesisEvent>| {
        let deps = Arc::clone(&deps);
        async move {
            let items = items_from_event(event.payload);
            let response = invoke(function, &items, &deps.0, &deps.1, metrics).await?;
            Ok::<_, Error>(response)
        }
    }))
    .await
}

/// One invocation, as [`serve`] makes it: the records through [`run_items`], the batch's counts recorded as metrics
/// ([`crate::telemetry::record_batch`]) and every metric gathered flushed as one EMF document.
pub async fn invoke<P: Processor, Q: Quarantine>(
    function: &str,
    items: &[KinesisItem],
    processor: &P,
    quarantine: &Q,
    metrics: &metrics_cloudwatch_embedded::Collector,
) -> Result<KinesisEventResponse, BatchError> {
    let result = run_items(function, items, processor, quarantine).await;
    if let Ok((_, report)) = &result {
        crate::telemetry::record_batch(report);
    }
    crate::telemetry::flush(metrics);
    result.map(|(response, _)| response)
}
