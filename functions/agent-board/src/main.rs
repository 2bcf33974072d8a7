//! Wiring only: telemetry, configuration, the DynamoDB client, then lambda_http's loop (API Gateway HTTP API,
//! payload format 2.0). No network call happens here.

shared::use_mimalloc!();

use std::sync::Arc;

use agent_board::config::Config;
use agent_board::{BoardService, NAME};
use lambda_http::{Error, Request, service_fn};
use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::clock::SystemClock;
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init(NAME)?;
    let config = shared::lambda::configured(Config::from_env(&ProcessEnv))?;
    let cfg = shared::adapters::aws::sdk_config().await;
    let store = DynamoItemStore::new(aws_sdk_dynamodb::Client::new(&cfg), config.table, &agent_state::INDEXES);
    let service = Arc::new(BoardService::new(store, SystemClock, config.page, config.default_instance, config.cache));
    lambda_http::run(service_fn(move |request: Request| {
        let service = Arc::clone(&service);
        async move { Ok::<_, Error>(agent_board::to_lambda(service.respond(&request).await)) }
    }))
    .await
}
