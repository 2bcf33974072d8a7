//! Personal data — transcript text, customer phone numbers, agent names — never reaches an alert or a log line.
//! (A test binary of its own: it installs the process-wide tracing subscriber.)

mod common;

use common::*;
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore};
use shared::batch::run_items;
use shared::quarantine::ObjectQuarantine;
use supervisor_alerts::handler::SupervisorAlerts;

fn example_rules() -> supervisor_alerts::rules::Rules {
    rules(include_str!("../rules.example.json"))
}

#[tokio::test]
async fn no_transcript_text_phone_number_or_name_reaches_an_alert_or_a_log() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Buf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // Global, in a test binary of its own: a thread-scoped subscriber races with tracing's callsite cache when
    // other tests run in parallel threads.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let publisher = flaky_publisher(Failure::EntryTransient, 1);
    let rules = example_rules();
    let h = SupervisorAlerts::with_clock(
        rules.clone(),
        MemoryItemStore::new(&[]),
        publisher.clone(),
        Settings::replay(),
        ManualClock::at("2026-11-02T12:00:00Z"),
    );
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    let mut items = envelope("envelopes/supervisor-alerts.json");
    items.extend(envelope("envelopes/segments-chat.json"));
    items.push(item(fixture("raw/ctr/voice-inbound.json"), "2026-11-02T09:00:00Z"));
    items.push(item(fixture("bad/truncated-json.json"), "2026-11-02T09:00:00Z"));
    let items = batch(items);
    for _ in 0..2 {
        run_items("supervisor-alerts", &items, &h, &quarantine).await.unwrap();
    }
    let published = publisher.inner().published();
    assert!(!published.is_empty());
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("alert sent"), "the capture works");
    for needle in PERSONAL_DATA {
        assert!(!logs.contains(needle), "log contains {needle:?}");
        for m in &published {
            assert!(!m.body.contains(needle) && !m.subject.contains(needle), "alert contains {needle:?}");
            assert!(m.attributes.values().all(|v| !v.contains(needle)));
        }
    }
}
