//! The Lambda entry loop every function shares: event in → [`invoke`] (the batch contract, [`run_items`]) →
//! partial batch response out; the batch's counts recorded as metrics and flushed after each invocation.

use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};

use crate::batch::{BatchError, Processor, run_items};
use crate::kinesis::{KinesisItem, items_from_event};
use crate::quarantine::Quarantine;

#[doc(hidden)]
pub use mimalloc::MiMalloc;

/// Makes mimalloc the process's allocator: `shared::use_mimalloc!();` at the top of a binary. The three bootstraps,
/// the replay tool and the CPU benchmark all use it, so the benchmark measures what is deployed. Why: parsing
/// allocates a string per field, a pattern at which mimalloc is much cheaper than glibc's malloc (the figures are
/// in BENCHMARKS.md, their one home).
#[macro_export]
macro_rules! use_mimalloc {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::lambda::MiMalloc = $crate::lambda::MiMalloc;
    };
}

/// Keeps the kernel from backing the allocator's arenas with 2 MB transparent huge pages, for this process: mimalloc
/// reserves large aligned arenas and asks for huge pages, which raised a function's peak RSS for no measurable CPU
/// gain (BENCHMARKS.md has both figures). Called first by [`init`]; the replay tool keeps THP (its heap is large
/// and long-lived, and it is faster with them). Linux only; if the kernel refuses, nothing else changes.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes no memory this process can see.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// The start of every function's init: transparent huge pages off, then logs and metrics for `function`.
pub fn init(function: &'static str) -> Result<&'static metrics_cloudwatch_embedded::Collector, Error> {
    disable_transparent_huge_pages();
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
