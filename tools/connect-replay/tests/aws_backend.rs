//! `--backend aws`: the same replay through the real SDK adapters, against moto.

use connect_replay::app::{self, Aws};
use connect_replay::generate::{DayConfig, DayGenerator};
use connect_replay::replay::ReplayOptions;
use contact_archiver::config::ArchiveKinds;
use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::adapters::aws::s3::S3ObjectStore;
use shared::adapters::aws::sns::SnsPublisher;
use shared::ports::{IndexDef, ObjectStore};

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, indexes: &[IndexDef]) {
    shared::adapters::aws::dynamodb::create_table(client, name, indexes).await.unwrap();
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn a_small_day_replayed_through_the_sdk_adapters_lands_in_s3_dynamodb_and_sns() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("needs moto: run scripts/test.sh");
    assert!(endpoint.contains("127.0.0.1") || endpoint.contains("localhost"));
    let cfg = shared::adapters::aws::sdk_config().await;
    let s3 = S3ObjectStore::client(&cfg);
    let bucket = unique("replay-archive");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&cfg);
    let (agent_table, alert_table) = (unique("replay-agents"), unique("replay-alerts"));
    create_table(&dynamo, &agent_table, &agent_state::INDEXES).await;
    create_table(&dynamo, &alert_table, &[]).await;
    let sns = aws_sdk_sns::Client::new(&cfg);
    let topic = sns.create_topic().name(unique("replay-alerts")).send().await.unwrap().topic_arn.unwrap();

    let aws = Aws {
        archive: S3ObjectStore::new(s3.clone(), bucket.clone()),
        archive_kinds: ArchiveKinds::ALL,
        quarantine: S3ObjectStore::new(s3, bucket),
        agent_table: DynamoItemStore::new(dynamo.clone(), agent_table.clone(), &agent_state::INDEXES),
        alert_table: DynamoItemStore::new(dynamo, alert_table, &[]),
        publisher: SnsPublisher::new(sns, topic),
    };
    let mut generator = DayGenerator::new(DayConfig { seed: 5, agents: 3, shift_minutes: 90, ..DayConfig::default() });
    let records: Vec<_> = generator.by_ref().collect();
    let truth = generator.truth().clone();
    let outcome = app::execute(
        records.into_iter(),
        aws.archive.clone(),
        aws.archive_kinds,
        aws.quarantine.clone(),
        aws.agent_table.clone(),
        aws.alert_table.clone(),
        aws.publisher.clone(),
        app::load_rules(None).unwrap(),
        &ReplayOptions::default(),
        None,
        false,
        true,
    )
    .await;
    assert_eq!(outcome.stats.on_failure(), 0);
    assert_eq!(outcome.stats.total(), truth.total());
    for (name, t) in &outcome.functions {
        assert_eq!(t.failed, 0, "{name}");
    }
    let ctr_objects = aws.archive.list("contact-records/").await.unwrap();
    assert!(!ctr_objects.is_empty());
    let board = aws.board().await.unwrap();
    assert_eq!(board.len(), 3, "every agent on the board, read through the by-instance index");
}
