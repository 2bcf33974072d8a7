"""scripts/bench_cpu.py: which floor each CPU measurement is held against, what gets profiled, and how section 1
is spliced into BENCHMARKS.md without touching the rest."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cpu  # noqa: E402


def criterion(tmp_path, medians_ms):
    """A criterion output directory with the given medians (one sample each, at the median)."""
    for (group, fid), ms in medians_ms.items():
        function_id, _, value = fid.partition("/")
        d = tmp_path / "crit" / group / fid.replace("/", "_") / "new"
        d.mkdir(parents=True)
        (d / "benchmark.json").write_text(json.dumps({"group_id": group, "function_id": function_id, "value_str": value or None}))
        (d / "estimates.json").write_text(json.dumps({"median": {"point_estimate": ms * 1e6}}))
        (d / "sample.json").write_text(json.dumps({"iters": [1.0], "times": [ms * 1e6]}))
    return str(tmp_path / "crit")


def test_each_measurement_has_its_floor_and_target():
    assert bench_cpu.floor("agent-events", "agent-state/fresh") == ("serde_json", 2.0)
    assert bench_cpu.floor("segments", "supervisor-alerts/warm") == ("serde_json", 2.0)
    assert bench_cpu.floor("contact-records", "contact-archiver/ndjson") == ("serde_json+gzip", 1.5)
    assert bench_cpu.floor("contact-records", "contact-archiver/parquet") == ("serde_json+zstd", 2.0)
    assert bench_cpu.floor("contact-records", "contact-archiver/both") == ("serde_json+gzip+zstd", 2.0)
    assert bench_cpu.floor("contact-records", "contact-archiver/both-redelivered") == ("serde_json+gzip+zstd", 2.0)
    # Segments have no Parquet table: the archiver writes NDJSON only there, whatever the format.
    assert bench_cpu.floor("segments", "contact-archiver/both") == ("serde_json+gzip", 1.5)


def test_only_headline_measurements_over_their_target_are_profiled(tmp_path):
    crit = criterion(tmp_path, {
        ("agent-events", "serde_json"): 10.0,
        ("agent-events", "serde_json+gzip"): 14.0,
        ("agent-events", "serde_json+gzip+zstd"): 16.0,
        ("agent-events", "agent-state/fresh"): 21.0,  # 2.1× the parse: over
        ("agent-events", "agent-state/redelivered"): 30.0,  # not a headline
        ("agent-events", "contact-archiver/both"): 31.0,  # 1.94× its floor: within
        ("agent-events", "contact-archiver/ndjson"): 22.0,  # 1.57× gzip floor: over 1.5×
    })
    median = bench_cpu.load(crit)[0]
    assert bench_cpu.missed(median) == ["agent-events/agent-state/fresh", "agent-events/contact-archiver/ndjson"]
    rows = {what: (value, ok) for what, value, _, ok in bench_cpu.summary_rows(median)}
    assert rows["CPU floor, agent-state (worst batch: agent-events)"] == ("2.10× serde_json", False)
    assert rows["CPU floor, contact-archiver, both formats (worst batch: agent-events)"] == ("1.94× serde_json+gzip+zstd", True)


def test_splice_replaces_the_section_and_its_summary_rows_only(tmp_path):
    crit = criterion(tmp_path, {("agent-events", "serde_json"): 10.0, ("agent-events", "agent-state/fresh"): 15.0})
    text = "\n".join([
        "# Benchmarks", "", "## Summary", "", "| figure | measured | target | |", "|---|---|---|---|",
        "| CPU floor, agent-state (worst batch: agent-events) | 3.35× serde_json | ≤ 2.0× | **missed** |",
        "| cold start, agent-state | 4.0 ms | ≤ 1.5× | **missed** |", "",
        "<!-- cpu-floor:start -->", "## 1. old", "<!-- cpu-floor:end -->", "", "## 2. AWS calls", "kept", "",
    ])
    lines, rows = bench_cpu.section(crit, str(tmp_path))
    once = bench_cpu.splice(text, lines, rows)
    assert "| CPU floor, agent-state (worst batch: agent-events) | 1.50× serde_json | ≤ 2.0× | **met** |" in once
    assert "3.35×" not in once and "## 1. old" not in once
    assert "| cold start, agent-state | 4.0 ms | ≤ 1.5× | **missed** |" in once
    assert "## 2. AWS calls\nkept" in once
    assert "| agent-events | agent-state/fresh | 15.0 | `serde_json` | 10.0 | 1.50× |" in once
    assert bench_cpu.splice(once, lines, rows) == once
