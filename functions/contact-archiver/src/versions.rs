//! The newest version of each contact record, computed over archived records.
//!
//! Every published version of a contact record is archived. Which one is current follows AWS's rule — the newest
//! `LastUpdateTimestamp` wins — with the tie-break of the Athena view `contact_records_latest`
//! (athena/contact_records_latest.sql):
//!
//! ```sql
//! row_number() OVER (PARTITION BY contact_id ORDER BY last_update_timestamp DESC, raw DESC) = 1
//! ```
//!
//! so both give the same answer on the same archive:
//! * `last_update_timestamp` is compared at millisecond precision, as stored in Parquet;
//! * equal timestamps (the field has one-second precision, so same-second copies happen) → the larger `raw`
//!   text wins, compared byte by byte (UTF-8 byte order = code point order, as Athena compares varchar);
//! * a missing timestamp sorts below every present one (Athena puts NULLs last, also in DESC order).
//!
//! Exact duplicates are equal in both keys; either copy is the same bytes.

use std::collections::BTreeMap;

use shared::ConnectRecord;

use crate::ndjson::strip_bom;

/// A contact record as the archive holds it: the fields the version order needs, and its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedContactRecord {
    pub contact_id: String,
    /// Milliseconds since the epoch (the Parquet column's precision).
    pub last_update_millis: Option<i64>,
    /// The original JSON text (the `raw` column; a leading BOM is not part of it).
    pub raw: String,
}

impl ArchivedContactRecord {
    /// Reads an archived record's original bytes; `None` when they are not a valid contact record.
    pub fn from_bytes(data: &[u8]) -> Option<Self> {
        let ConnectRecord::Contact(record) = shared::classify(data).ok()? else {
            return None;
        };
        let raw = std::str::from_utf8(strip_bom(data)).ok()?.to_owned();
        Some(Self {
            contact_id: record.contact_id,
            last_update_millis: record.last_update_timestamp.map(|t| t.timestamp_millis()),
            raw,
        })
    }

    /// The sort key of the view's window, ascending: the maximum is the winner.
    fn version_order(&self) -> (Option<i64>, &str) {
        (self.last_update_millis, &self.raw)
    }
}

/// The newest version of every contact, by contact id.
pub fn newest_versions(
    records: impl IntoIterator<Item = ArchivedContactRecord>,
) -> BTreeMap<String, ArchivedContactRecord> {
    let mut newest: BTreeMap<String, ArchivedContactRecord> = BTreeMap::new();
    for record in records {
        match newest.get_mut(&record.contact_id) {
            Some(held) if held.version_order() >= record.version_order() => {}
            Some(held) => *held = record,
            None => {
                newest.insert(record.contact_id.clone(), record);
            }
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctr(id: &str, lut: Option<&str>, extra: &str) -> ArchivedContactRecord {
        let lut = lut.map(|t| format!(",\"LastUpdateTimestamp\":\"{t}\"")).unwrap_or_default();
        let json = format!(
            "{{\"AWSContactTraceRecordFormatVersion\":\"2017-03-10\",\"ContactId\":\"{id}\"{lut},\"X\":\"{extra}\"}}"
        );
        ArchivedContactRecord::from_bytes(json.as_bytes()).unwrap()
    }

    #[test]
    fn the_newest_last_update_wins_whatever_the_order() {
        let old = ctr("c", Some("2026-11-02T12:08:12Z"), "zzz");
        let new = ctr("c", Some("2026-11-02T18:45:12Z"), "aaa");
        for input in [vec![old.clone(), new.clone()], vec![new.clone(), old.clone()]] {
            assert_eq!(newest_versions(input)["c"], new);
        }
    }

    #[test]
    fn equal_timestamps_are_broken_by_the_larger_raw_text_like_the_athena_view() {
        let a = ctr("c", Some("2026-11-02T12:08:12Z"), "a");
        let b = ctr("c", Some("2026-11-02T12:08:12Z"), "b");
        assert!(b.raw > a.raw);
        assert_eq!(newest_versions([a.clone(), b.clone()])["c"], b);
        assert_eq!(newest_versions([b.clone(), a])["c"], b);
    }

    #[test]
    fn a_missing_timestamp_loses_to_any_present_one() {
        let none = ctr("c", None, "zzzz");
        let some = ctr("c", Some("2020-01-01T00:00:00Z"), "a");
        assert_eq!(newest_versions([some.clone(), none.clone()])["c"], some);
        assert_eq!(newest_versions([none, some.clone()])["c"], some);
    }

    #[test]
    fn contacts_are_kept_apart() {
        let out = newest_versions([ctr("a", None, ""), ctr("b", None, "")]);
        assert_eq!(out.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(
            ArchivedContactRecord::from_bytes(
                br#"{"AgentARN":"x","EventId":"e","EventType":"LOGIN","EventTimestamp":"2026-11-02T09:00:00Z"}"#
            )
            .is_none()
        );
    }

    proptest::proptest! {
        #[test]
        fn the_newest_versions_do_not_depend_on_arrival_order(
            versions in proptest::collection::vec((0..3u8, proptest::option::of(0..4u8), 0..3u8), 1..12),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let records: Vec<ArchivedContactRecord> = versions
                .iter()
                .map(|(c, lut, x)| ctr(&format!("c{c}"), lut.map(|s| format!("2026-11-02T12:00:0{s}Z")).as_deref(), &format!("x{x}")))
                .collect();
            let mut shuffled = records.clone();
            // A seeded Fisher-Yates shuffle.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let expected = newest_versions(records.clone());
            proptest::prop_assert_eq!(newest_versions(shuffled), expected.clone());
            // And each winner is a maximum of its contact's versions under (timestamp, raw).
            for (id, winner) in expected {
                for r in records.iter().filter(|r| r.contact_id == id) {
                    proptest::prop_assert!(r.version_order() <= winner.version_order());
                }
            }
        }
    }
}
