//! Logs and metrics. Logs: JSON through `tracing`, honouring `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`
//! (lambda_runtime's subscriber). Metrics: CloudWatch Embedded Metric Format through `metrics_cloudwatch_embedded`,
//! flushed to stdout after each invocation. Nothing here ever sees a payload.

use crate::batch::BatchReport;

/// The CloudWatch namespace of every metric this project emits.
pub const NAMESPACE: &str = "ConnectStreamConsumers";

/// Metric names (one home, so dashboards and alarms in template.yaml match).
pub mod names {
    pub const RECORDS_IN: &str = "RecordsIn";
    pub const RECORDS_DONE: &str = "RecordsDone";
    pub const RECORDS_STALE: &str = "RecordsStale";
    pub const RECORDS_SKIPPED: &str = "RecordsSkipped";
    /// Poison and refused records (the template's alarm watches this one).
    pub const RECORDS_QUARANTINED: &str = "RecordsQuarantined";
    /// Of the quarantined records, the valid ones a store refused for good.
    pub const RECORDS_REFUSED: &str = "RecordsRefused";
    pub const RECORDS_FAILED: &str = "RecordsFailed";
    pub const RECORDS_RETRIED: &str = "RecordsRetried";

    /// agent-state's store economy per batch (counts; BENCHMARKS.md reads them).
    pub mod agent_state {
        pub const FOLDED_WRITES: &str = "AgentStateFoldedWrites";
        pub const FOLD_FALLBACKS: &str = "AgentStateFoldFallbacks";
        pub const EVENT_WRITES: &str = "AgentStateEventWrites";
        pub const SESSION_WRITES: &str = "AgentStateSessionWrites";
        pub const READS: &str = "AgentStateReads";
        pub const HISTORY_ITEMS: &str = "AgentStateHistoryItems";
        pub const DUPLICATES: &str = "AgentStateDuplicates";
        pub const BRIDGED_HISTORY_FAILURES: &str = "AgentStateBridgedHistoryFailures";
    }
}

/// Installs the tracing subscriber and the EMF metrics recorder (dimension `Function`). Call once in `main`.
pub fn init(function: &'static str) -> Result<&'static metrics_cloudwatch_embedded::Collector, lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension("Function", function)
        .init()
        .map_err(|e| format!("metrics init failed: {e}").into())
}

/// Records a batch's counts on the installed recorder (a no-op in tests and tools that install none).
pub fn record_batch(report: &BatchReport) {
    use names::*;
    let pairs = [
        (RECORDS_IN, report.records_in),
        (RECORDS_DONE, report.done),
        (RECORDS_STALE, report.stale),
        (RECORDS_SKIPPED, report.skipped),
        (RECORDS_QUARANTINED, report.quarantined),
        (RECORDS_REFUSED, report.refused),
        (RECORDS_FAILED, report.failed),
        (RECORDS_RETRIED, report.redelivered),
    ];
    for (name, value) in pairs {
        metrics::counter!(name).increment(value as u64);
    }
}

/// Writes the metrics gathered since the last flush as one EMF document to stdout.
pub fn flush(collector: &metrics_cloudwatch_embedded::Collector) {
    if let Err(e) = collector.flush(std::io::stdout().lock()) {
        tracing::warn!(error = %e, "metrics flush failed");
    }
}
