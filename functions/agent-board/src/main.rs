//! Wiring only: telemetry, configuration, the DynamoDB client, then the Lambda loop over API Gateway HTTP API events
//! (payload format 2.0). No network call happens here.

#![recursion_limit = "256"]

shared::use_mimalloc!(without_transparent_huge_pages);

use std::sync::Arc;

use agent_board::config::Config;
use agent_board::{BoardService, NAME};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::clock::SystemClock;
use shared::config::ProcessEnv;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::lambda::init(NAME)?;
    let config = shared::lambda::configured(Config::from_env(&ProcessEnv))?;
    let cfg = shared::adapters::aws::sdk_config().await;
    let store = DynamoItemStore::new(aws_sdk_dynamodb::Client::new(&cfg), config.table, &agent_state::INDEXES);
    let service = Arc::new(BoardService::new(store, SystemClock, config.page, config.default_instance, config.cache));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let service = Arc::clone(&service);
        async move { Ok::<_, Error>(agent_board::front::answer(&service, event.payload).await) }
    }))
    .await
}
