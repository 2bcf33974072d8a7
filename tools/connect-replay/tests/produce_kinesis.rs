//! `produce` through the SDK's Kinesis client, against moto: a generated day put into three streams and into one
//! stream for every kind, then read back shard by shard.

use std::collections::BTreeMap;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use connect_replay::generate::{DayConfig, DayGenerator, GenRecord, Stream};
use connect_replay::produce::{KinesisPutter, ProduceOptions, Targets, hashed_key, produce};
use shared::ConnectRecord;

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

async fn client() -> Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("needs moto: run scripts/test.sh");
    assert!(endpoint.contains("127.0.0.1") || endpoint.contains("localhost"));
    Client::new(&shared::adapters::aws::sdk_config().await)
}

/// Creates a stream of two shards and returns its ARN once it is active.
async fn create_stream(client: &Client, name: &str) -> String {
    client.create_stream().stream_name(name).shard_count(2).send().await.unwrap();
    for _ in 0..100 {
        let summary = client.describe_stream_summary().stream_name(name).send().await.unwrap();
        let summary = summary.stream_description_summary.unwrap();
        if summary.stream_status == StreamStatus::Active {
            return summary.stream_arn;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("stream {name} did not become active");
}

/// Every record of a stream as (partition key, data), shard by shard, each shard in sequence order.
async fn read_back(client: &Client, stream: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let shards = client.list_shards().stream_name(stream).send().await.unwrap();
    for shard in shards.shards() {
        let iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        let mut iterator = iterator.shard_iterator;
        while let Some(it) = iterator {
            let page = client.get_records().shard_iterator(it).limit(1_000).send().await.unwrap();
            if page.records.is_empty() {
                break;
            }
            out.extend(page.records.into_iter().map(|r| (r.partition_key.unwrap_or_default(), r.data.into_inner())));
            iterator = page.next_shard_iterator;
        }
    }
    out
}

fn day() -> Vec<GenRecord> {
    let config = DayConfig { seed: 5, agents: 3, shift_minutes: 90, invalid_rate: 0.01, ..DayConfig::default() };
    DayGenerator::new(config).collect()
}

/// The stream kind and the partition key Connect gives a record, from its JSON; an invalid record keeps the
/// stream its source named and gets the hash of its bytes.
fn connect_key(r: &GenRecord) -> (Stream, String) {
    let field = |name: &str| {
        let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
        v[name].as_str().unwrap().to_owned()
    };
    match shared::classify(&r.data) {
        Ok(ConnectRecord::Agent(_)) => (Stream::AgentEvents, field("AgentARN")),
        Ok(ConnectRecord::Contact(_)) => (Stream::ContactRecords, field("ContactId")),
        Ok(ConnectRecord::Segment(_)) => (Stream::Segments, field("ContactId")),
        Err(_) => (r.stream, hashed_key(&r.data)),
    }
}

/// stream name → partition key → data in order.
type PerKey = BTreeMap<String, BTreeMap<String, Vec<Vec<u8>>>>;

fn group(into: &mut PerKey, stream: &str, records: impl IntoIterator<Item = (String, Vec<u8>)>) {
    let stream = into.entry(stream.to_owned()).or_default();
    for (key, data) in records {
        stream.entry(key).or_default().push(data);
    }
}

/// Produces the day into `targets` (by ARN or name; `names` maps each to the stream's name) and checks that
/// every record arrived byte-equal, with its kind's partition key, in order per key.
async fn produce_and_check(client: &Client, records: &[GenRecord], targets: &Targets, names: &BTreeMap<&str, &str>) {
    let putter = KinesisPutter::new(client.clone());
    let summary = produce(records.iter().cloned(), targets, &putter, &ProduceOptions::default(), |_| {}).await.unwrap();
    println!(
        "{} records into {} stream(s) in {:.2} s: {:.0} records/s, {} PutRecords calls (moto, debug build)",
        summary.put(),
        summary.streams.len(),
        summary.elapsed.as_secs_f64(),
        summary.records_per_second(),
        summary.calls()
    );
    assert_eq!(summary.put(), records.len());
    assert!(summary.failed.is_empty() && summary.refused.is_empty());

    let mut expected = PerKey::new();
    for r in records {
        let (kind, key) = connect_key(r);
        group(&mut expected, names[targets.of(kind).unwrap()], [(key, r.data.clone())]);
    }
    let mut got = PerKey::new();
    for name in expected.keys() {
        group(&mut got, name, read_back(client, name).await);
    }
    assert_eq!(got, expected, "every record, byte-equal, with its kind's partition key, in order per key");
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn a_generated_day_put_into_three_streams_reads_back_byte_equal_in_order_per_key() {
    let client = client().await;
    let (ctr, agents, lens) = (unique("produce-ctr"), unique("produce-agents"), unique("produce-lens"));
    let ctr_arn = create_stream(&client, &ctr).await;
    create_stream(&client, &agents).await;
    let lens_arn = create_stream(&client, &lens).await;
    let records = day();
    assert!(records.iter().any(|r| shared::classify(&r.data).is_err()), "the day has invalid records");

    // Streams by ARN and by name, as the CLI takes them.
    let targets =
        Targets { contact_records: ctr_arn.clone(), agent_events: agents.clone(), segments: Some(lens_arn.clone()) };
    let names = BTreeMap::from([
        (ctr_arn.as_str(), ctr.as_str()),
        (agents.as_str(), agents.as_str()),
        (lens_arn.as_str(), lens.as_str()),
    ]);
    produce_and_check(&client, &records, &targets, &names).await;
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn a_generated_day_put_into_one_stream_for_every_kind_reads_back_byte_equal_in_order_per_key() {
    let client = client().await;
    let one = unique("produce-one");
    let arn = create_stream(&client, &one).await;
    let records = day();

    // The same stream once by ARN and twice by name: one stream, one queue.
    let targets = Targets { contact_records: arn.clone(), agent_events: one.clone(), segments: Some(one.clone()) };
    let names = BTreeMap::from([(arn.as_str(), one.as_str()), (one.as_str(), one.as_str())]);
    produce_and_check(&client, &records, &targets, &names).await;
}
