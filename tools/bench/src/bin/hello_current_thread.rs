//! The cold-start yardstick on Tokio's current-thread runtime, the flavour the bootstraps use: `hello` is the
//! bare `lambda_runtime` hello world (multi-thread runtime) the target is judged against; this one shows how much
//! of a function's lead over it is the runtime flavour alone. Same release profile, same response.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"batchItemFailures": []}))
    }))
    .await
}
