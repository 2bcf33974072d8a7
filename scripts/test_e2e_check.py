"""Tests of the pure parts of scripts/e2e_check.py (the end-to-end run itself is scripts/e2e.sh)."""

from __future__ import annotations

import base64
import gzip
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))
import e2e_check as e2e  # noqa: E402

REFS = {
    "ArchiveBucket": "bucket",
    "AgentStateTable": "agents",
    "AlertStateTable": "alerts",
    "AlertTopic": "arn:aws:sns:us-east-1:123456789012:topic",
    "ArchivePrefix": "",
    "ArchiveFormat": "both",
    "ArchiveAgentEvents": "false",
    "ArchiveSegments": "true",
    "AlertRules": '{"rules":[]}',
}


@pytest.fixture(scope="module")
def template() -> dict:
    return e2e.load_template()


def test_each_function_gets_the_globals_its_own_variables_and_the_json_logging_variables(template: dict) -> None:
    envs = e2e.function_environments(template, REFS)
    assert set(envs) == {"contact-archiver", "agent-state", "supervisor-alerts"}
    assert envs["contact-archiver"] == {
        "QUARANTINE_BUCKET": "bucket",
        "QUARANTINE_PREFIX": "quarantine/",
        "ARCHIVE_BUCKET": "bucket",
        "ARCHIVE_PREFIX": "",
        "ARCHIVE_FORMAT": "both",
        "ARCHIVE_AGENT_EVENTS": "false",
        "ARCHIVE_SEGMENTS": "true",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
    }
    assert envs["agent-state"]["AGENT_STATE_TABLE"] == "agents"
    assert envs["supervisor-alerts"]["ALERT_TOPIC_ARN"] == REFS["AlertTopic"]
    assert "ARCHIVE_BUCKET" not in envs["agent-state"]


def test_a_reference_the_test_cannot_resolve_stops_setup() -> None:
    with pytest.raises(SystemExit, match="Ref Missing"):
        e2e.resolve({"Ref": "Missing"}, REFS, "X")
    with pytest.raises(SystemExit, match="unsupported"):
        e2e.resolve({"Fn::Sub": "${AWS::Region}"}, REFS, "X")
    assert e2e.resolve(24, REFS, "X") == "24"


def test_an_if_on_a_condition_is_evaluated_with_the_deployed_parameter_values() -> None:
    template = {
        "Parameters": {"ArchiveSegments": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"]}},
        "Conditions": {"ArchiveSegmentsEnabled": {"Fn::Equals": [{"Ref": "ArchiveSegments"}, "true"]}},
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Metadata": {"BuildProperties": {"Binary": "contact-archiver"}},
                "Properties": {
                    "Environment": {
                        "Variables": {
                            "ARCHIVE_SEGMENTS": {"Fn::If": ["ArchiveSegmentsEnabled", "true", "false"]},
                            "ARCHIVE_BUCKET": {
                                "Fn::If": ["ArchiveSegmentsEnabled", {"Ref": "B"}, {"Ref": "AWS::NoValue"}]
                            },
                        }
                    }
                },
            }
        },
    }
    enabled = {"ARCHIVE_SEGMENTS": "true", "ARCHIVE_BUCKET": "bucket"}
    for value, expected in [("true", enabled), ("false", {"ARCHIVE_SEGMENTS": "false"})]:
        envs = e2e.function_environments(template, {"ArchiveSegments": value, "B": "bucket"})
        assert envs["contact-archiver"] == expected
    with pytest.raises(SystemExit, match="condition Missing"):
        e2e.resolve({"Fn::If": ["Missing", "a", "b"]}, REFS, "X", lambda name: {}[name])


def test_functions_that_disagree_on_a_variable_cannot_share_one_watch_environment() -> None:
    assert e2e.union_environment({"a": {"X": "1"}, "b": {"X": "1", "Y": "2"}}) == {"X": "1", "Y": "2"}
    with pytest.raises(SystemExit, match="X differs"):
        e2e.union_environment({"a": {"X": "1"}, "b": {"X": "2"}})


def test_the_env_file_single_quotes_values_and_refuses_what_the_reader_would_alter() -> None:
    text = e2e.env_file_text({"RULES": '{"a":[1,2]}', "EMPTY": ""})
    assert text == "EMPTY=''\nRULES='{\"a\":[1,2]}'\n"
    for value in ("it's", "a\\nb", "two\nlines"):
        with pytest.raises(SystemExit):
            e2e.env_file_text({"V": value})


def test_parameter_overrides_are_checked_like_cloudformation_checks_them(template: dict) -> None:
    assert e2e.parameter_values(template, {"ArchiveFormat": "parquet"})["ArchiveFormat"] == "parquet"
    assert e2e.parameter_values(template, {})["ArchiveFormat"] == "both"
    with pytest.raises(SystemExit, match="ArchiveFormat"):
        e2e.parameter_values(template, {"ArchiveFormat": "csv"})
    with pytest.raises(SystemExit, match="unknown"):
        e2e.parameter_values(template, {"Nope": "1"})


def test_ndjson_lines_are_verbatim_or_decoded_from_the_raw_base64_envelope() -> None:
    pretty = b'{\n  "ContactId": "x"\n}'
    body = gzip.compress(b'{"ContactId":"a"}\n{"_raw_base64":"' + base64.b64encode(pretty) + b'"}\n')
    assert e2e.ndjson_lines(body) == [b'{"ContactId":"a"}', pretty]


def test_a_contact_record_is_partitioned_by_its_first_present_timestamp() -> None:
    record = {"InitiationTimestamp": "2026-11-02T23:59:59Z", "LastUpdateTimestamp": "2026-11-03T00:00:05Z"}
    assert e2e.ctr_partition_day(json.dumps(record).encode(), 0) == "year=2026/month=11/day=02"
    assert e2e.ctr_partition_day(b'{"InitiationTimestamp":null}', 1_793_750_400) == "year=2026/month=11/day=04"


def test_the_archiver_envelopes_split_into_the_documented_good_and_bad_records() -> None:
    good, bad = e2e.split_archiver_records()
    assert (len(good), len(bad)) == (19, 11)
    assert {r["envelope"] for r in bad} == {"mixed-bad.json"}
    assert all(r["manifest"]["reason_contains"] for r in bad)
    assert all(json.loads(r["data"])["ContactId"] for r in good)


def test_personal_data_of_the_fixtures_is_recognised_and_ordinary_text_is_not() -> None:
    phones, texts = e2e.personal_data()
    assert "+15555550123" in phones
    sentence = "I want to speak to your supervisor about this order right now, please transfer me."
    assert sentence in texts
    assert e2e.personal_data_found(f"caller {sentence}", phones, texts)
    assert e2e.personal_data_found("call +15555550123 back", phones, texts) == ["+15555550123"]
    assert e2e.personal_data_found("an unknown number +4930123456", phones, texts) == ["+4930123456"]
    assert not e2e.personal_data_found(
        '{"rule":"angry-customer","agent":"jdoe","at":"2026-11-02T08:10:00+00:00"}', phones, texts
    )


def test_a_failed_check_is_counted_and_recorded(tmp_path: Path) -> None:
    results = e2e.Results(tmp_path / "r.jsonl")
    assert results.equal("same", 1, 1)
    assert not results.equal("different", 1, 2)
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [(r["name"], r["ok"]) for r in rows] == [("same", True), ("different", False)]
    assert results.failed == 1


def test_only_a_local_endpoint_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.amazonaws.com")
    with pytest.raises(SystemExit, match="refusing"):
        e2e.endpoint()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://example.com")
    with pytest.raises(SystemExit, match="AWS_ENDPOINT_URL_S3"):
        e2e.endpoint()
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    assert e2e.endpoint() == "http://127.0.0.1:5000"
