//! What the archiver logs. Its own test binary: the capturing subscriber is global, so no other test's events
//! (or tracing's per-callsite interest cache) interfere.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::{ContactArchiver, NAME};
use shared::batch::run_items;
use shared::ports::PortError;
use shared::quarantine::ObjectQuarantine;

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_ids_and_counts_but_never_payload_content() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");

    // Bad CTRs (copies of voice-inbound with its phone number), transcripts, attributes, agent names, and a
    // failing PUT whose error is logged.
    let mut data: Vec<Vec<u8>> = envelope_items("mixed-bad.json").into_iter().map(|i| i.data).collect();
    data.extend(envelope_items("segments-voice.json").into_iter().map(|i| i.data));
    data.extend(envelope_items("segments-chat.json").into_iter().map(|i| i.data));
    data.extend(envelope_items("agent-day.json").into_iter().map(|i| i.data));
    let items = items(1, data);
    let store = FailingPrefix::store("analysis-segments/", PortError::transient("s3", "503 SlowDown"));
    let archiver = ContactArchiver::new(store, "", ArchiveFormat::Both, ArchiveKinds::ALL);
    let quarantine = ObjectQuarantine::new(shared::adapters::memory::MemoryObjectStore::new(), "quarantine/");
    let (response, _) = run_items(NAME, &items, &archiver, &quarantine).await.unwrap();
    assert_eq!(response.batch_item_failures.len(), 1, "the failure path was logged too");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("batch archived") && text.contains("archive object write failed"), "{text}");
    assert!(text.contains("quarantining invalid record"));
    for secret in [
        "+1555555",
        "+1800555",
        "teal kayak paddle",
        "thermostat",
        "Promoción",
        "SO-771204",
        "John",
        "Smith",
        "jdoe",
        "Team Blue",
    ] {
        assert!(!text.contains(secret), "payload content {secret:?} reached the logs");
    }
}
