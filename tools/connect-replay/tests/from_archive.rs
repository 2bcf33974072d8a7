//! `--from-archive`: a local archive read back gives the bytes Connect sent, also for a record the archiver wrote
//! as a `{"_raw_base64": …}` envelope line, so replaying an archive quarantines nothing that was valid.

use std::path::Path;

use connect_replay::app::{self, Local};
use connect_replay::generate::{GenRecord, Stream};
use connect_replay::replay::ReplayOptions;
use connect_replay::sources;

#[tokio::test]
async fn a_bom_prefixed_contact_record_comes_back_from_the_archive_byte_for_byte_and_replays_without_quarantine() {
    // GIVEN events/bad/'s BOM-prefixed contact record (valid; the archiver writes it as an envelope line)
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/bad/bom-prefixed-ctr.json");
    let original = std::fs::read(&path).unwrap();
    assert!(contact_archiver::ndjson::needs_envelope(&original), "the fixture is the envelope case");
    let ctr: serde_json::Value = serde_json::from_slice(contact_archiver::ndjson::strip_bom(&original)).unwrap();
    let contact_id = ctr["ContactId"].as_str().unwrap().to_owned();
    let at = shared::model::time::parse(ctr["LastUpdateTimestamp"].as_str().unwrap()).unwrap();
    let record = GenRecord { stream: Stream::ContactRecords, partition_key: contact_id.clone(), data: original, at };
    let rules = app::load_rules(None).unwrap();

    // WHEN it is archived by the real archiver on a filesystem store, and the archive is read back
    let first = tempfile::tempdir().unwrap();
    let local = Local::open(first.path(), true).unwrap();
    let outcome =
        local.run(std::iter::once(record.clone()), rules.clone(), &ReplayOptions::default(), None, false, true).await;
    let (name, archiver) = &outcome.unwrap().functions[0];
    assert_eq!((*name, archiver.done, archiver.quarantined), (contact_archiver::handler::NAME, 1, 0));
    let read_back = sources::archive(&first.path().join(app::ARCHIVE_DIR)).unwrap();

    // THEN the record's bytes are the original file's bytes, on its stream, keyed by its ContactId
    assert_eq!(read_back.len(), 1, "one record archived once (the NDJSON copy)");
    assert_eq!(read_back[0].data, record.data, "the archive gives back the original bytes, BOM included");
    assert_eq!(read_back[0].stream, Stream::ContactRecords);
    assert_eq!(read_back[0].partition_key, contact_id);

    // AND replaying the archive quarantines nothing and archives the same bytes again
    let second = tempfile::tempdir().unwrap();
    let replayed = Local::open(second.path(), true).unwrap();
    let outcome =
        replayed.run(read_back.into_iter(), rules, &ReplayOptions::default(), None, false, true).await.unwrap();
    for (name, report) in &outcome.functions {
        assert_eq!(report.quarantined, 0, "{name} quarantined the replayed record");
        assert_eq!(report.failed, 0, "{name} failed on the replayed record");
    }
    assert!(!replayed.archive_counts().await.unwrap().contains_key("quarantine"), "no quarantine object");
    let again = sources::archive(&second.path().join(app::ARCHIVE_DIR)).unwrap();
    assert_eq!(again.iter().map(|r| &r.data).collect::<Vec<_>>(), [&record.data]);
}
