//! Kinesis records as the functions see them: data bytes plus where they came from.

use std::cmp::Ordering;
use std::fmt;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use chrono::{DateTime, Utc};

/// A Kinesis sequence number: a decimal string of up to ~56 digits (too long for `u128`), ordered numerically.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeqNo(String);

impl SeqNo {
    /// `None` for an empty or non-decimal string: such a record can never be reported by itself.
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    fn significant(&self) -> &str {
        let t = self.0.trim_start_matches('0');
        if t.is_empty() { "0" } else { t }
    }
}

impl Ord for SeqNo {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.significant(), other.significant());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for SeqNo {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One record of a batch, in batch order.
#[derive(Debug, Clone)]
pub struct KinesisItem {
    /// Position in the batch.
    pub index: usize,
    /// `None` only if Lambda sent no usable sequence number (never observed; then only a whole-batch error is safe).
    pub seq: Option<SeqNo>,
    pub shard_id: String,
    pub partition_key: String,
    pub arrival: DateTime<Utc>,
    pub stream_arn: String,
    pub data: Vec<u8>,
}

impl KinesisItem {
    pub fn seq_str(&self) -> &str {
        self.seq.as_ref().map(SeqNo::as_str).unwrap_or("")
    }
}

/// Splits a Lambda Kinesis event into items, taking ownership of the data (no copy).
pub fn items_from_event(event: KinesisEvent) -> Vec<KinesisItem> {
    event.records.into_iter().enumerate().map(|(index, r)| item_from_record(index, r)).collect()
}

fn item_from_record(index: usize, r: KinesisEventRecord) -> KinesisItem {
    // eventID is "shardId-000000000000:<sequence number>".
    let shard_id = r
        .event_id
        .as_deref()
        .and_then(|id| id.split_once(':').map(|(shard, _)| shard.to_owned()))
        .unwrap_or_else(|| "unknown-shard".to_owned());
    KinesisItem {
        index,
        seq: SeqNo::parse(&r.kinesis.sequence_number),
        shard_id,
        partition_key: r.kinesis.partition_key,
        arrival: r.kinesis.approximate_arrival_timestamp.0,
        stream_arn: r.event_source_arn.unwrap_or_default(),
        data: r.kinesis.data.0,
    }
}

/// The stream name from a stream or consumer ARN (`arn:aws:kinesis:…:stream/NAME[/consumer/…]`).
pub fn stream_name(arn: &str) -> &str {
    arn.split_once(":stream/").map(|(_, rest)| rest.split('/').next().unwrap_or(rest)).unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_order_numerically_beyond_u128() {
        let a = SeqNo::parse("49590338271490256608559692538361571095921575989136588898").unwrap();
        let b = SeqNo::parse("49590338271490256608559692540925702759324208523137515618").unwrap();
        let c = SeqNo::parse("9").unwrap();
        assert!(a < b);
        assert!(c < a);
        assert!(SeqNo::parse("").is_none());
        assert!(SeqNo::parse("12a").is_none());
    }

    #[test]
    fn stream_names_come_from_stream_and_consumer_arns() {
        assert_eq!(stream_name("arn:aws:kinesis:us-east-1:1:stream/connect-ctr"), "connect-ctr");
        assert_eq!(stream_name("arn:aws:kinesis:us-east-1:1:stream/s/consumer/c:1"), "s");
    }
}
