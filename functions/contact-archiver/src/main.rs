use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_e: LambdaEvent<KinesisEvent>| async { Ok::<_, Error>(KinesisEventResponse::default()) })).await
}
