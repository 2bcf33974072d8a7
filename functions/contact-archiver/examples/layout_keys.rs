//! Prints, as JSON lines, the object keys the archiver's own layout code gives every kind and format it writes, for
//! one record time and an archive prefix. scripts/test_glue_layout.py matches them against the Glue tables'
//! locations and partition projection in template.yaml, so a table that points at the wrong prefix fails a test.
//!
//! ```text
//! cargo run -q -p contact-archiver --example layout_keys -- [PREFIX] [RFC3339 TIME]
//! ```

use chrono::{DateTime, Utc};
use contact_archiver::config::{ArchiveFormat, has_parquet_schema};
use contact_archiver::layout::{Format, Partition, Target};
use shared::RecordKind;

fn main() {
    let mut args = std::env::args().skip(1);
    let prefix = args.next().unwrap_or_default();
    let time = args.next().unwrap_or_else(|| "2026-03-07T23:59:59Z".to_owned());
    let time: DateTime<Utc> = match time.parse() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("layout_keys: bad time {time:?}: {e}");
            std::process::exit(2);
        }
    };
    let partition = Partition::of(time);
    for kind in RecordKind::ALL {
        for format in [Format::Ndjson, Format::Parquet] {
            let written = match format {
                Format::Ndjson => ArchiveFormat::Both.writes_ndjson(kind),
                Format::Parquet => ArchiveFormat::Both.writes_parquet(kind),
            };
            if !written {
                continue;
            }
            let key = Target { kind, partition, format }.key(&prefix, "shardId-000000000000", "4960", "4961");
            let line = serde_json::json!({
                "kind": kind.slug(),
                "format": format.as_str(),
                "parquet_schema": has_parquet_schema(kind),
                "key": key,
            });
            println!("{line}");
        }
    }
}
