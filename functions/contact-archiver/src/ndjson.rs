//! Gzip NDJSON of the original record bytes, one record per line.
//!
//! A record is written **byte for byte** followed by `\n`, unless that would not make one readable JSON line:
//! its bytes contain a raw line break (`\n` or `\r`: pretty-printed JSON is valid JSON, and line-based readers —
//! Athena's TextInputFormat, `jq -c`, Python — would split it) or it starts with a UTF-8 byte-order mark (valid
//! for the classifier, but a JSON reader rejects a BOM in the middle of a file). Such a record is written as the
//! one-line envelope
//!
//! ```text
//! {"_raw_base64":"<standard base64 of the original bytes>"}
//! ```
//!
//! which is lossless (decode it to get the exact bytes) and unambiguous: an object whose only field is
//! `_raw_base64` is never a Connect record (the classifier rejects it as an unknown shape), so it can only be an
//! envelope. Rewriting the line breaks or dropping the BOM would also give one line per record, but it would no
//! longer be the bytes Connect sent. Athena's NDJSON tables (template.yaml) have a `_raw_base64` column, so an
//! envelope line reads as a row with only that column set; the Parquet tables (and [`decode`]) read it in full.

use std::io::{self, Read, Write};

use base64::Engine;
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

/// The field of the envelope line.
pub const RAW_BASE64_FIELD: &str = "_raw_base64";
const ENVELOPE_OPEN: &[u8] = b"{\"_raw_base64\":\"";
const ENVELOPE_CLOSE: &[u8] = b"\"}";
const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// The gzip level: 1, the fastest. The budget is ≤ 2× the CPU time serde_json needs to parse the same records, and
/// level 6 costs several times level 1 for about a third fewer NDJSON bytes (`examples/cpu_budget.rs` measures
/// both; BENCHMARKS.md has the figures). The NDJSON copy is the cold, lossless one (Athena queries go to Parquet),
/// so CPU wins.
pub const GZIP_LEVEL: u32 = 1;

/// The record's bytes without a leading UTF-8 byte-order mark.
pub fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(UTF8_BOM).unwrap_or(data)
}

/// Whether the record must be written as a `_raw_base64` envelope instead of verbatim.
pub fn needs_envelope(data: &[u8]) -> bool {
    // `<[u8]>::contains` is memchr-fast; this scan runs over every archived byte.
    data.starts_with(UTF8_BOM) || data.contains(&b'\n') || data.contains(&b'\r')
}

/// Gzips the records as NDJSON (see the module documentation for the line format).
pub fn encode<'a>(records: impl IntoIterator<Item = &'a [u8]>, size_hint: usize) -> io::Result<Vec<u8>> {
    // Connect JSON compresses well; a quarter of the input is a generous first allocation.
    let mut gz = GzEncoder::new(Vec::with_capacity(size_hint / 4 + 64), Compression::new(GZIP_LEVEL));
    for data in records {
        if needs_envelope(data) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(data);
            gz.write_all(ENVELOPE_OPEN)?;
            gz.write_all(encoded.as_bytes())?;
            gz.write_all(ENVELOPE_CLOSE)?;
        } else {
            gz.write_all(data)?;
        }
        gz.write_all(b"\n")?;
    }
    gz.finish()
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not gzip: {0}")]
    Gzip(#[from] io::Error),
    #[error("line {line}: invalid {RAW_BASE64_FIELD} envelope")]
    Envelope { line: usize },
}

/// Reads an archived NDJSON object back into the original record bytes, in order.
pub fn decode(gzipped: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut text = Vec::new();
    MultiGzDecoder::new(gzipped).read_to_end(&mut text)?;
    let Some(body) = text.strip_suffix(b"\n") else {
        return Ok(Vec::new());
    };
    body.split(|b| *b == b'\n')
        .enumerate()
        .map(|(line, bytes)| match envelope_payload(bytes) {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| DecodeError::Envelope { line: line + 1 }),
            None => Ok(bytes.to_vec()),
        })
        .collect()
}

/// The base64 text of an envelope line, exactly as [`encode`] writes it (`None` for a verbatim line).
fn envelope_payload(line: &[u8]) -> Option<&[u8]> {
    let b64 = line.strip_prefix(ENVELOPE_OPEN)?.strip_suffix(ENVELOPE_CLOSE)?;
    b64.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')).then_some(b64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_records_are_written_verbatim_one_per_line() {
        let records: [&[u8]; 2] = [br#"{"a":"x y"}"#, "{\"b\":\"Promoción otoño\"}".as_bytes()];
        let gz = encode(records, 0).unwrap();
        let mut text = Vec::new();
        MultiGzDecoder::new(&gz[..]).read_to_end(&mut text).unwrap();
        assert_eq!(text, "{\"a\":\"x y\"}\n{\"b\":\"Promoción otoño\"}\n".as_bytes());
        assert_eq!(decode(&gz).unwrap(), records.map(<[u8]>::to_vec));
    }

    #[test]
    fn records_with_line_breaks_or_a_bom_round_trip_through_an_envelope() {
        let pretty: &[u8] = b"{\n  \"ContactId\": \"c\"\r\n}";
        let bom: &[u8] = b"\xEF\xBB\xBF{\"ContactId\":\"c\"}";
        let gz = encode([pretty, bom, b"{}".as_slice()], 0).unwrap();
        let mut text = String::new();
        MultiGzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        for line in &lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v.is_object());
        }
        assert!(lines[0].starts_with("{\"_raw_base64\":\""));
        assert_eq!(decode(&gz).unwrap(), vec![pretty.to_vec(), bom.to_vec(), b"{}".to_vec()]);
    }

    #[test]
    fn the_ndjson_glue_tables_have_a_column_for_envelope_lines() {
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
        let column = format!("- {{Name: {RAW_BASE64_FIELD}, Type: string}}");
        for table in ["ContactRecordsTable", "AgentEventsTable"] {
            // The resource's lines: those indented deeper than the resource names, up to the next resource.
            let header = format!("  {table}:");
            let block: Vec<&str> = template
                .lines()
                .skip_while(|line| *line != header)
                .skip(1)
                .take_while(|line| line.is_empty() || line.starts_with("   "))
                .collect();
            assert!(
                block.iter().any(|line| line.contains("org.openx.data.jsonserde.JsonSerDe")),
                "{table}: JSON SerDe"
            );
            assert!(block.iter().any(|line| line.trim() == column), "{table} lacks the column {column}");
        }
    }

    #[test]
    fn a_record_that_merely_mentions_the_envelope_field_stays_verbatim() {
        let ctr: &[u8] = br#"{"_raw_base64":"AAAA","ContactId":"c"}"#;
        assert_eq!(decode(&encode([ctr], 0).unwrap()).unwrap(), vec![ctr.to_vec()]);
    }

    #[test]
    fn an_empty_object_decodes_to_no_records() {
        assert!(decode(&encode(std::iter::empty(), 0).unwrap()).unwrap().is_empty());
        assert!(matches!(decode(b"plain"), Err(DecodeError::Gzip(_))));
    }

    proptest::proptest! {
        #[test]
        fn any_records_round_trip_losslessly(records in proptest::collection::vec(
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..16)) {
            // A record that is itself an envelope line is never archived: it is not a Connect record.
            proptest::prop_assume!(records.iter().all(|r| envelope_payload(r).is_none()));
            let gz = encode(records.iter().map(Vec::as_slice), 0).unwrap();
            proptest::prop_assert_eq!(decode(&gz).unwrap(), records);
        }
    }
}
