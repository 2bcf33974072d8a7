//! The cold-start yardstick: a bare `lambda_runtime` function (Tokio multi-thread runtime, as the functions'
//! `#[tokio::main]`), built with the same release profile. It reads the event as a `serde_json::Value` and
//! answers an empty partial-batch response.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"batchItemFailures": []}))
    }))
    .await
}
