//! The cold-start yardstick: the bare `lambda_runtime` hello world (`#[tokio::main]`: Tokio's multi-thread
//! runtime), built with the same release profile. It reads the event as a `serde_json::Value` and answers an empty
//! partial-batch response. The bootstraps use the current-thread runtime (`hello_current_thread` is this yardstick
//! on it).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"batchItemFailures": []}))
    }))
    .await
}
