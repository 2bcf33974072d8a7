"""scripts/bench_cold.py: how a sampled init is attributed to phases, how section 3 judges each bootstrap against
the bare runtime, and how it is spliced into BENCHMARKS.md without touching the rest."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cold  # noqa: E402


def perf_script(*stacks):
    """`perf script -F comm,ip,sym` text: (comm, [frames leaf first]) per sample."""
    out = []
    for comm, frames in stacks:
        out.append(f"{comm} ")
        out.extend(f"\t{i:016x} {f}" for i, f in enumerate(frames))
        out.append("")
    return "\n".join(out).splitlines(keepends=True)


def test_a_sample_belongs_to_the_phase_of_its_outermost_named_frame():
    # Fat LTO folded DynamoDB's partition-table parser into a function symbolised as STS's; the constructor that
    # called it decides.
    folded = ["core::str::from_utf8", "aws_sdk_sts::endpoint_lib::partition::PartitionResolver::new_from_json",
              "aws_sdk_dynamodb::client::Client::new", "agent_state::main", "main", "_start"]
    assert bench_cold.phase(folded).startswith("DynamoDB client")
    # An allocation inside a client is the client's; one in unnamed start-up code is mimalloc's.
    assert bench_cold.phase(["mi_page_fresh_alloc", "_mi_malloc_generic", "aws_sdk_s3::client::Client::from_conf",
                             "main"]).startswith("S3 client")
    assert bench_cold.phase(["mi_page_fresh_alloc", "_mi_malloc_generic", "alloc::raw_vec::finish_grow",
                             "std::rt::lang_start_internal", "main"]).startswith("mimalloc")
    # `^` keys match a prefix only: a symbol merely containing "mi_" is not the allocator.
    assert bench_cold.phase(["semi_join_helper", "main"]) == bench_cold.OTHER
    assert bench_cold.phase(["_dl_relocate_object", "dl_main", "_dl_start"]).startswith("exec and dynamic loader")
    assert bench_cold.phase(["__run_exit_handlers", "exit", "main"]).startswith("exit")


def test_phases_count_only_the_bootstraps_samples_per_run():
    lines = perf_script(
        ("agent-state", ["aws_sdk_dynamodb::client::Client::new", "main"]),
        ("agent-state", ["aws_sdk_dynamodb::client::Client::new", "main"]),
        ("agent-state", ["_dl_relocate_object", "_dl_start"]),
        ("runtime-stub", ["aws_sdk_dynamodb::client::Client::new"]),  # another process
    )
    got = bench_cold.phases(lines, "agent-state", runs=2, hz=1000)
    assert got["samples"] == 3
    # 2 samples at 1 kHz over 2 runs: 1 ms per run.
    assert got["ms"]["DynamoDB client (partition table, endpoint rules)"] == 1.0
    assert got["ms"]["exec and dynamic loader (map the binary, apply its relocations)"] == 0.5


def results(tmp_path, medians, profile=None):
    rows = []
    for name, med in medians.items():
        rows.append(json.dumps({"target": name, "median_ms": med, "min_ms": med * 0.8, "max_ms": med * 1.5, "runs": 30,
                                "accepted": 30, "error_responses": 0, "init_errors": 0, "invocation_ms": 5.0,
                                "batch_item_failures": 0 if name.startswith("hello") else 1}))
    (tmp_path / "cold.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "cold.env").write_text("commit=abc1234\ndate=2026-12-06T05:00Z\nload=0.5 0.6 0.7\nreps=30\n")
    for name, ms in (profile or {}).items():
        (tmp_path / f"cold-profile-{name}.json").write_text(json.dumps({"samples": 100, "runs": 300, "hz": 20000, "ms": ms}))
    return str(tmp_path)


def test_each_bootstrap_is_judged_against_the_bare_runtime_not_the_same_flavour(tmp_path):
    res = results(tmp_path, {"hello": 2.0, "hello_current_thread": 1.6, "agent-state": 2.9, "contact-archiver": 3.1})
    lines, rows = bench_cold.section(res)
    table = [line for line in lines if line.startswith("| agent-state")][0]
    assert "1.45×" in table and "**met**" in table, table
    assert "1.81×" in table, "the ratio to hello_current_thread is shown too"
    assert [r[0] for r in rows] == ["cold start, agent-state", "cold start, contact-archiver"]
    assert rows[0][3] is True and rows[1][3] is False, "3.1 ms is 1.55× hello: missed"
    assert [line for line in lines if line.startswith("| hello_current_thread")][0].count("—") >= 1, "no verdict"


def test_the_profile_table_and_the_paragraph_compare_with_the_bare_runtime(tmp_path):
    loader = "exec and dynamic loader (map the binary, apply its relocations)"
    dynamo = "DynamoDB client (partition table, endpoint rules)"
    exit_ = "exit (after the refused GET /next; not in a real cold start)"
    res = results(tmp_path, {"hello": 2.0, "agent-state": 2.9},
                  {"hello": {loader: 0.25, exit_: 0.01}, "agent-state": {loader: 0.45, dynamo: 0.2, exit_: 0.3}})
    lines, _ = bench_cold.section(res)
    text = "\n".join(lines)
    assert "| phase | agent-state | hello |" in text
    assert f"| {dynamo} | 0.20 | 0.00 |" in text
    assert "| **total, exit excluded** | **0.65** | **0.25** |" in text, "exit is not part of a real cold start"
    para = bench_cold.limits(res)[0]
    assert para.startswith("**Cold start.**") and "+0.20 to +0.20 ms" in para, para


def test_splice_replaces_the_section_its_rows_and_its_paragraph_only(tmp_path):
    res = results(tmp_path, {"hello": 2.0, "agent-state": 2.9})
    doc = "\n".join([
        "# Benchmarks", "", "| figure | measured | target | |", "|---|---|---|---|",
        "| CPU floor, agent-state | 1.28× | ≤ 2.0× | **met** |",
        "| cold start, agent-state | 4.0 ms = 1.84× hello (2.2 ms) | ≤ 1.5× | **missed** |",
        "| cold start, supervisor-alerts | 4.3 ms | ≤ 1.5× | **missed** |",
        "", "<!-- cold-start:start -->", "## 3. old", "<!-- cold-start:end -->", "", "## What limits each figure", "",
        "**Cold start.** old paragraph", "", "**Peak memory.** untouched", "",
    ])
    out = bench_cold.splice(doc, res)
    assert "| CPU floor, agent-state | 1.28× | ≤ 2.0× | **met** |" in out
    assert "| cold start, agent-state | 2.9 ms = 1.45× hello (2.0 ms) | ≤ 1.5× | **met** |" in out
    assert "supervisor-alerts" not in out.split("<!-- cold-start:start -->")[0], "rows of this run only"
    assert "## 3. old" not in out and "## 3. Cold start" in out
    assert "old paragraph" not in out and "**Peak memory.** untouched" in out
    assert out.count("<!-- cold-start:start -->") == 1
