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

RESOURCES = {
    "ArchiveBucket": "bucket",
    "AgentStateTable": "agents",
    "AlertStateTable": "alerts",
    "AlertTopic": "arn:aws:sns:us-east-1:123456789012:topic",
    "ForwarderParkingBucket": "parking",
    "ForwarderStateTable": "forwarder",
}
# The template's own parameter values (defaults, checked as CloudFormation checks them) with the ones these tests
# pin, as cmd_setup builds them: a parameter added to the template needs no edit here.
REFS = {
    **e2e.parameter_values(
        e2e.load_template(),
        {
            "ArchivePrefix": "",
            "ArchiveFormat": "both",
            "ArchiveAgentEvents": "false",
            "ArchiveSegments": "true",
            "AlertRules": '{"rules":[]}',
            "AlertLateness": "event-time",
            "AlertChatFormat": "none",
            "ForwarderSubscriptions": '{"subscriptions":[]}',
            "ForwarderSubscriptionsUri": "",
        },
    ),
    **RESOURCES,
}


@pytest.fixture(scope="module")
def template() -> dict:
    return e2e.load_template()


def test_each_function_gets_the_globals_its_own_variables_and_the_json_logging_variables(template: dict) -> None:
    envs = e2e.function_environments(template, REFS)
    assert set(envs) == {"contact-archiver", "agent-state", "supervisor-alerts", "stream-forwarder"}
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
    assert envs["stream-forwarder"] == {
        "QUARANTINE_BUCKET": "bucket",
        "QUARANTINE_PREFIX": "quarantine/",
        "FORWARDER_SUBSCRIPTIONS": '{"subscriptions":[]}',
        "PARKING_BUCKET": "parking",
        "PARKING_PREFIX": "forwarder-parked/",
        "FORWARDER_STATE_TABLE": "forwarder",
        "DELIVERY_BUDGET_SECONDS": "20",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
    }


def test_only_the_board_is_left_out_of_the_run() -> None:
    assert set(e2e.NOT_RUN) == {"agent-board"}


def test_the_forwarders_variables_are_its_own_in_the_one_watch_environment(template: dict) -> None:
    envs = e2e.function_environments(template, REFS)
    others = set().union(*(env for name, env in envs.items() if name != "stream-forwarder"))
    shared = set(envs["stream-forwarder"]) & others
    assert shared == {"QUARANTINE_BUCKET", "QUARANTINE_PREFIX", "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL"}
    union = e2e.union_environment(envs)
    assert union["PARKING_BUCKET"] == "parking" and e2e.FORWARDER_SECRET_VAR not in union


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


# ---------------------------------------------------------------------------------------------------------------
# stream-forwarder


def raw(path: str) -> dict:
    return json.loads((e2e.EVENTS / "raw" / path).read_text(encoding="utf-8"))


def test_webhook_ids_are_the_designs_agent_event_and_contact_record_ids() -> None:
    login, ctr = raw("agent/login.json"), raw("ctr/voice-inbound.json")
    assert e2e.forwarder_message(json.dumps(login).encode()) == {
        "kind": "agent_event",
        "id": f"ae_{login['EventId']}",
        "key": login["AgentARN"],
        "event_type": "LOGIN",
    }
    message = e2e.forwarder_message(e2e.UTF8_BOM + json.dumps(ctr).encode())
    assert message is not None
    assert message["id"] == "cr_ad92bd21-3930-4256-a9c6-2e3d1e90e82b_2026-11-02T08:14:12Z"
    assert (message["kind"], message["key"]) == ("contact_record", ctr["ContactId"])


def test_a_contact_record_id_keeps_the_timestamp_as_written_and_is_empty_without_one() -> None:
    written = e2e.forwarder_message(b'{"ContactId":"c","LastUpdateTimestamp":"2026-11-02T08:14:12.000+00:00"}')
    assert written is not None and written["id"] == "cr_c_2026-11-02T08:14:12.000+00:00"
    for record in (b'{"ContactId":"c"}', b'{"ContactId":"c","LastUpdateTimestamp":null}'):
        message = e2e.forwarder_message(record)
        assert message is not None and message["id"] == "cr_c_"


def test_segments_and_what_is_not_a_record_become_no_message() -> None:
    assert e2e.forwarder_message(json.dumps(raw("segments/voice-segments-1.json")).encode()) is None
    assert e2e.forwarder_message(json.dumps(raw("segments/chat-segments.json")).encode()) is None
    for data in (b"not json", b"[1]", b"{}", b'{"ContactId":""}'):
        assert e2e.forwarder_message(data) is None


def subscription(name: str) -> dict:
    doc = e2e.forwarder_subscriptions("http://127.0.0.1:8080/")
    return next(s for s in doc["subscriptions"] if s["name"] == name)


def test_the_single_subscription_expects_every_record_of_both_envelopes_once_in_stream_order() -> None:
    expected = e2e.forwarder_expected(subscription("e2e-single"))
    ids = [m["id"] for m in expected["messages"]]
    assert len(ids) == 18 + 12 and len(set(ids)) == len(ids)
    assert ids[0] == f"ae_{raw('agent/login.json')['EventId']}"
    assert ids[-1] == "cr_e757bf59-6b3f-4720-b11f-43ca3ac5a352_2026-11-02T18:45:12Z"  # republished v2, after v1
    assert "cr_e757bf59-6b3f-4720-b11f-43ca3ac5a352_2026-11-02T12:08:12Z" in ids
    assert expected["requests"] == ids
    keys = {m["key"] for m in expected["messages"] if m["id"].startswith("ae_")}
    assert keys == {raw("agent/login.json")["AgentARN"], raw("agent/heartbeat.json")["AgentARN"]}


def test_the_batched_subscription_expects_no_heartbeats_and_batches_per_invocation() -> None:
    sys.path.insert(0, str(SCRIPTS))
    from webhook_receiver import batch_id  # the receiver's own reading of DESIGN.md

    expected = e2e.forwarder_expected(subscription("e2e-batched"))
    ids = [m["id"] for m in expected["messages"]]
    agent = [i for i in ids if i.startswith("ae_")]
    assert len(agent) == 18 - 3 and len(ids) == 15 + 12  # three HEART_BEATs filtered out
    # 15 agent events in chunks of 4, then 12 contact records: one invocation each, batches never span them.
    assert len(expected["requests"]) == 4 + 3
    assert expected["requests"][0] == batch_id(agent[:4]) == e2e.webhook_batch_id(agent[:4])
    assert expected["requests"][3] == batch_id(agent[12:])
    assert expected["requests"][4] == batch_id([i for i in ids if i.startswith("cr_")][:4])


def test_the_subscriptions_name_the_local_receiver_and_an_env_secret_and_fit_the_env_file(template: dict) -> None:
    doc = e2e.forwarder_subscriptions("http://127.0.0.1:8080/")
    assert [s["url"] for s in doc["subscriptions"]] == ["http://127.0.0.1:8080/single", "http://127.0.0.1:8080/batched"]
    assert {s["secret_arn"] for s in doc["subscriptions"]} == {f"env:{e2e.FORWARDER_SECRET_VAR}"}
    text = json.dumps(doc, separators=(",", ":"))
    assert e2e.parameter_values(template, {"ForwarderSubscriptions": text})["ForwarderSubscriptions"] == text
    assert text in e2e.env_file_text({"FORWARDER_SUBSCRIPTIONS": text})
    for url in ("http://example.com:8080/", "https://127.0.0.1:8080/", "http://127.0.0.1/", "http://localhost:80/"):
        with pytest.raises(SystemExit, match="receiver"):
            e2e.forwarder_subscriptions(url)


def test_customer_numbers_are_every_fixture_number_but_the_contact_centres_own() -> None:
    customers = e2e.customer_phones()
    assert "+15555550123" in customers and "+15555550111" in customers
    assert "+18005550100" not in customers and "+18005550101" not in customers


def test_personal_data_at_the_receiver_is_found_but_the_contact_centres_own_number_is_not() -> None:
    customers = {"+15555550123"}
    own = {"kind": "phone", "where": "data.SystemEndpoint.Address", "value": "+18005550100"}
    request = {"path": "/single", "webhook_id": "cr_c_t", "personal_data": [own]}
    data = {"ContactId": "c", "SystemEndpoint": {"Address": "+18005550100"}}
    record = {"path": "/single", "id": "cr_c_t", "data": data}
    assert e2e.webhook_personal_data({"requests": [request], "records": [record]}, customers) == []
    leaked = [
        {"kind": "phone", "where": "data.CustomerEndpoint.Address", "value": "+15555550123"},
        {"kind": "personal_field", "where": "data.Attributes"},
        {"kind": "phone", "where": "data.SystemEndpoint.Address", "value": "+15555550123"},
    ]
    problems = e2e.webhook_personal_data({"requests": [{**request, "personal_data": leaked}], "records": []}, customers)
    assert len(problems) == 3 and not any("+1555" in p for p in problems)
    for data in ({"Queue": {"Name": "+15555550123"}}, {"Attributes": {}}, {"Segments": [{"Transcript": {}}]}):
        found = e2e.webhook_personal_data({"requests": [], "records": [{**record, "data": data}]}, customers)
        assert len(found) == 1, data


def test_a_replay_may_only_repeat_webhook_ids_already_seen_on_that_path() -> None:
    def request(path: str, wid: str) -> dict:
        return {"path": path, "webhook_id": wid}

    def record(path: str, mid: str, duplicate: bool) -> dict:
        return {"path": path, "id": mid, "duplicate": duplicate}

    first = [request("/single", "ae_1"), request("/batched", "batch_a")]
    state = {
        "requests": first + [request("/single", "ae_1"), request("/batched", "batch_a")],
        "records": [record("/single", "ae_1", False), record("/batched", "ae_1", False)]
        + [record("/single", "ae_1", True), record("/batched", "ae_1", True)],
    }
    assert e2e.webhook_replay_problems(state, 2, 2) == []
    state["requests"].append(request("/single", "batch_a"))  # seen, but on the other path
    state["records"].append(record("/single", "ae_2", False))
    assert e2e.webhook_replay_problems(state, 2, 2) == [
        "/single: new webhook-id batch_a",
        "/single: message ae_2 not seen before",
    ]


def test_a_counter_difference_names_what_is_missing_and_what_is_extra() -> None:
    got = e2e.collections.Counter(["a", "a", "c"])
    want = e2e.collections.Counter(["a", "b"])
    assert e2e.counter_difference(got, want) == "3 sent, 2 expected; missing [('b', 1)], extra [('a', 1), ('c', 1)]"
