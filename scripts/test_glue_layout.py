"""Each Glue table of template.yaml against the keys the archiver's own layout code makes.

The keys come from `cargo run -p contact-archiver --example layout_keys` (layout::Target::key, the function the
archiver writes with), for several archive prefixes and a date. For every (kind, format) the archiver writes there
must be exactly one table whose partition projection, evaluated for that date, gives the key's folder, whose
location holds the key, and whose SerDe reads the key's format. A table that points at the wrong prefix fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_eval import ROOT, Stack, load_template  # noqa: E402

WHEN = datetime(2026, 3, 7, 23, 59, 59)
SERDE = {
    "ndjson": "org.openx.data.jsonserde.JsonSerDe",
    "parquet": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}


def archiver_keys(prefix: str) -> list[dict]:
    result = subprocess.run(
        ["cargo", "run", "-q", "-p", "contact-archiver", "--example", "layout_keys", "--", prefix,
         WHEN.strftime("%Y-%m-%dT%H:%M:%SZ")],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def projected(parameters: dict[str, str], name: str, when: datetime) -> str:
    """One partition value as Athena's partition projection gives it for `when`."""
    kind = parameters[f"projection.{name}.type"]
    value = {"year": when.year, "month": when.month, "day": when.day}[name]
    if kind == "date":
        java = parameters[f"projection.{name}.format"]
        assert java == "yyyy", f"projection.{name}.format {java} is not handled here"
        low, high = parameters[f"projection.{name}.range"].split(",")
        assert int(low) <= value and (high == "NOW" or value <= int(high))
        return f"{value:04d}"
    assert kind == "integer"
    low, high = (int(x) for x in parameters[f"projection.{name}.range"].split(","))
    assert low <= value <= high
    return f"{value:0{int(parameters.get(f'projection.{name}.digits', '1'))}d}"


def tables(stack: Stack) -> dict[str, dict]:
    out = {}
    for lid, resource in stack.resources("AWS::Glue::Table").items():
        table = stack.value(resource["Properties"]["TableInput"])
        if table.get("TableType") == "EXTERNAL_TABLE":
            out[lid] = table
    return out


def check_tables(stack: Stack, keys: list[dict]) -> None:
    assert {(k["kind"], k["format"]) for k in keys} == {
        ("contact-records", "ndjson"), ("contact-records", "parquet"), ("agent-events", "ndjson"),
        ("agent-events", "parquet"), ("analysis-segments", "ndjson"),
    }
    found = {lid: [] for lid in tables(stack)}
    for key in keys:
        s3 = "s3://ref:ArchiveBucket/" + key["key"]
        folder = s3.rsplit("/", 1)[0] + "/"
        matching = []
        for lid, table in tables(stack).items():
            params = table["Parameters"]
            template = params["storage.location.template"]
            for name in ("year", "month", "day"):
                template = template.replace("${" + name + "}", projected(params, name, WHEN))
            if template == folder:
                matching.append(lid)
                assert s3.startswith(table["StorageDescriptor"]["Location"]), lid
                assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == SERDE[key["format"]], lid
                assert [p["Name"] for p in table["PartitionKeys"]] == ["year", "month", "day"], lid
        assert len(matching) == 1, f"{key['key']} is read by {matching or 'no table'}"
        found[matching[0]].append(key["key"])
    assert all(found.values()), f"tables that read no archiver object: {[t for t, k in found.items() if not k]}"


@pytest.mark.parametrize("prefix", ["", "connect/archive/", "year=x/"])
def test_every_archived_kind_and_format_has_one_table_that_finds_its_objects(prefix: str) -> None:
    check_tables(Stack(load_template(), {"ArchivePrefix": prefix}), archiver_keys(prefix))


@pytest.mark.parametrize("wrong", ["segments/", "analysis-segments/segments/"])
def test_a_table_pointing_at_the_wrong_prefix_is_caught(wrong: str) -> None:
    template = load_template()
    table = template["Resources"]["AnalysisSegmentsTable"]["Properties"]["TableInput"]["Parameters"]
    location = table["storage.location.template"]
    location["Fn::Sub"] = location["Fn::Sub"].replace("analysis-segments/", wrong, 1)
    with pytest.raises(AssertionError):
        check_tables(Stack(template, {}), archiver_keys(""))
