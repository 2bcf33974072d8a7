//! The Lambda entry loop every function shares: event in → [`run_batch`] → partial batch response out,
//! metrics flushed after each invocation.

use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};

use crate::batch::{Processor, run_batch};
use crate::quarantine::Quarantine;

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
            let result = run_batch(function, event.payload, &deps.0, &deps.1).await;
            crate::telemetry::flush(metrics);
            let (response, _report): (KinesisEventResponse, _) = result?;
            Ok::<_, Error>(response)
        }
    }))
    .await
}
