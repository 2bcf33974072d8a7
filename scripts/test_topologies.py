"""template.yaml evaluated under every stream topology Amazon Connect users have, and its safety values pinned.

Topologies (issue 13): three streams; contact records + agent events on one stream (segments on another, or none);
one stream for everything; each with the streams created by the stack or passed in, and with enhanced fan-out on and
off. For each: exactly one consumer and one mapping per (function, distinct stream), every function reads every
distinct stream that carries a kind it handles and no other, and the roles, outputs and Connect wiring agree.
The expected sharing of streams is written here from the topology, not read from the template's conditions.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_eval import Stack, kinds_read, load_template  # noqa: E402

CR, AE, CL = "contact-records", "agent-events", "segments"
ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/{}"
INSTANCE = "arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555"
ROLE = "arn:aws:iam::123456789012:role/aws-service-role/connect.amazonaws.com/AWSServiceRoleForAmazonConnect_ab12"
FUNCTIONS = {
    "contact-archiver": "ContactArchiverFunction",
    "agent-state": "AgentStateFunction",
    "supervisor-alerts": "SupervisorAlertsFunction",
    "stream-forwarder": "StreamForwarderFunction",
}
ROLES = {
    "contact-archiver": "ContactArchiverRole",
    "agent-state": "AgentStateRole",
    "supervisor-alerts": "SupervisorAlertsRole",
    "stream-forwarder": "StreamForwarderRole",
}
STORAGE = {
    "CONTACT_TRACE_RECORDS": CR,
    "AGENT_EVENTS": AE,
    "REAL_TIME_CONTACT_ANALYSIS_VOICE_SEGMENTS": CL,
    "REAL_TIME_CONTACT_ANALYSIS_CHAT_SEGMENTS": CL,
}
# Which kinds share a stream, per layout: kind → stream group.
LAYOUTS = {
    "three-streams": {CR: "r", AE: "a", CL: "s"},
    "contact-records-and-agent-events": {CR: "r", AE: "r", CL: "s"},
    "one-stream": {CR: "r", AE: "r", CL: "r"},
}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def scenario_params(layout: str, passed_in: bool, segments: bool) -> dict[str, str]:
    params = {"StreamLayout": layout, "ContactLensSegments": str(segments).lower()}
    if passed_in:
        groups = LAYOUTS[layout]
        params["ContactRecordStreamArn"] = ARN.format("connect-" + groups[CR])
        if groups[AE] != groups[CR]:
            params["AgentEventStreamArn"] = ARN.format("connect-" + groups[AE])
        if segments and groups[CL] not in (groups[CR], groups[AE]):
            params["ContactLensStreamArn"] = ARN.format("connect-" + groups[CL])
    return params


def mapped_streams(stack: Stack) -> dict[str, list[str]]:
    """function → the streams of its active mappings (a list: duplicates must show)."""
    by_logical = {v: k for k, v in FUNCTIONS.items()}
    out: dict[str, list[str]] = {f: [] for f in FUNCTIONS}
    for mapping in stack.resources("AWS::Lambda::EventSourceMapping").values():
        props = mapping["Properties"]
        function = by_logical[props["FunctionName"]["Ref"]]
        out[function].append(stack.stream_of(props["EventSourceArn"]))
    return out


def kind_streams(stack: Stack, segments: bool) -> dict[str, str]:
    """kind → the stream the stack tells Connect to publish it to (its outputs)."""
    outputs = stack.template["Outputs"]
    kinds = {CR: "ContactRecordStreamArnOut", AE: "AgentEventStreamArnOut"}
    if segments:
        kinds[CL] = "ContactLensStreamArnOut"
    for name in kinds.values():
        condition = outputs[name].get("Condition")
        assert condition is None or stack.condition(condition), f"{name} is not output"
    if not segments:
        assert not stack.condition(outputs["ContactLensStreamArnOut"]["Condition"])
    return {kind: stack.stream_of(outputs[name]["Value"]) for kind, name in kinds.items()}


def check_topology(stack: Stack, expected_groups: dict[str, str], segments: bool, passed: dict[str, str]) -> None:
    params = stack.params
    assert stack.rules_hold() == []
    kinds = kind_streams(stack, segments)
    present = [CR, AE] + ([CL] if segments else [])

    # The streams the stack points Connect at share exactly as the topology says.
    for a, b in itertools.combinations(present, 2):
        same = expected_groups[a] == expected_groups[b]
        assert (kinds[a] == kinds[b]) == same, f"{a} and {b} should {'' if same else 'not '}share a stream: {kinds}"
    # Passed-in streams are used as given; the others are created, and nothing else is.
    for kind, arn in passed.items():
        assert kinds[kind] == arn
    created = {f"arn:{lid}" for lid in stack.resources("AWS::Kinesis::Stream")}
    assert created == {s for s in kinds.values() if s.startswith("arn:") and not s.startswith("arn:aws")}

    # One mapping per (function, distinct stream), covering exactly the streams of the kinds it handles.
    mapped = mapped_streams(stack)
    for function, streams in mapped.items():
        assert len(streams) == len(set(streams)), f"{function} has two mappings on one stream: {streams}"
        wanted = {kinds[k] for k in kinds_read(function, params, segments)}
        assert set(streams) == wanted, f"{function} reads {sorted(streams)}, should read {sorted(wanted)}"

    # Enhanced fan-out: one consumer per mapping, on that mapping's stream, with a name unique on the stream.
    consumers = stack.resources("AWS::Kinesis::StreamConsumer")
    mappings = stack.resources("AWS::Lambda::EventSourceMapping")
    if params["UseEnhancedFanOut"] == "true":
        used = [stack.consumer_of(m["Properties"]["EventSourceArn"]) for m in mappings.values()]
        assert None not in used
        assert sorted(used) == sorted(consumers), "every consumer is used by exactly one mapping"
        names = [(stack.stream_of(c["Properties"]["StreamARN"]), stack.value(c["Properties"]["ConsumerName"]))
                 for c in consumers.values()]
        assert len(names) == len(set(names)), f"two consumers with one name on one stream: {names}"
        for lid, m in mappings.items():
            consumer = consumers[stack.consumer_of(m["Properties"]["EventSourceArn"])]
            function = next(f for f, l in FUNCTIONS.items() if l == m["Properties"]["FunctionName"]["Ref"])
            assert stack.value(consumer["Properties"]["ConsumerName"]) == f"stack-{function}", lid
    else:
        assert consumers == {}
        assert all(stack.consumer_of(m["Properties"]["EventSourceArn"]) is None for m in mappings.values())

    # Each role may read exactly the streams (and, with fan-out, the consumers) its function's mappings use.
    for function, role in ROLES.items():
        statements = stack.value(stack.template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"])
        by_sid = {s["Sid"]: s for s in statements["Statement"]}
        resources = by_sid["ReadStreams"]["Resource"]
        resources = {resources} if isinstance(resources, str) else set(resources)
        assert resources == set(mapped[function]), function
        if params["UseEnhancedFanOut"] == "true":
            read = by_sid["ReadConsumers"]["Resource"]
            read = {read} if isinstance(read, str) else set(read)
            assert read == {f"{s}/consumer/stack-{function}:*" for s in mapped[function]}, function
        else:
            assert "ReadConsumers" not in by_sid

    # The archiver is told which kinds to keep; what it reads does not decide it.
    env = stack.value(stack.template["Resources"]["ContactArchiverFunction"]["Properties"]["Environment"])
    assert env["Variables"]["ARCHIVE_AGENT_EVENTS"] == params["ArchiveAgentEvents"]
    assert env["Variables"]["ARCHIVE_SEGMENTS"] == params["ArchiveSegments"]

    # With an instance given, Connect is wired to the same streams as the outputs say.
    storage = stack.resources("AWS::Connect::InstanceStorageConfig")
    if params["ConnectInstanceArn"]:
        wired = {s["Properties"]["ResourceType"]: stack.stream_of(s["Properties"]["KinesisStreamConfig"]["StreamArn"])
                 for s in storage.values()}
        expected = {t: kinds[k] for t, k in STORAGE.items() if k in present}
        assert wired == expected
        assert all(stack.value(s["Properties"]["InstanceArn"]) == params["ConnectInstanceArn"] for s in storage.values())
    else:
        assert storage == {}


TOPOLOGIES = list(
    itertools.product(
        LAYOUTS,
        [False, True],  # passed in
        ["true", "false"],  # enhanced fan-out
        [True, False],  # Contact Lens segments streamed
        ["false", "true"],  # ArchiveAgentEvents
        ["false", "true"],  # ArchiveSegments
        ["false", "true"],  # ForwardSegments
    )
)


@pytest.mark.parametrize("layout,passed_in,fan_out,segments,archive_agents,archive_segments,forward_segments",
                         TOPOLOGIES)
def test_every_topology_has_one_consumer_and_mapping_per_function_and_distinct_stream(
    template: dict, layout: str, passed_in: bool, fan_out: str, segments: bool, archive_agents: str,
    archive_segments: str, forward_segments: str,
) -> None:
    params = scenario_params(layout, passed_in, segments)
    params.update(UseEnhancedFanOut=fan_out, ArchiveAgentEvents=archive_agents, ArchiveSegments=archive_segments,
                  ForwardSegments=forward_segments)
    if passed_in and fan_out == "true":
        params["ConnectInstanceArn"] = INSTANCE
    stack = Stack(template, params)
    passed = {}
    if passed_in:
        passed = {CR: params["ContactRecordStreamArn"]}
        if "AgentEventStreamArn" in params:
            passed[AE] = params["AgentEventStreamArn"]
        if "ContactLensStreamArn" in params:
            passed[CL] = params["ContactLensStreamArn"]
    check_topology(stack, LAYOUTS[layout], segments, passed)


# Sharing detected from the ARNs alone (three-streams layout, the same ARN given twice), as a user who never
# reads StreamLayout would deploy it: the bug report of issue 13.
SAME_ARN = [
    ({CR: "x", AE: "x", CL: "y"}, {CR: "r", AE: "r", CL: "s"}),
    ({CR: "x", AE: "x", CL: "x"}, {CR: "r", AE: "r", CL: "r"}),
    ({CR: "x", AE: "y", CL: "y"}, {CR: "r", AE: "a", CL: "a"}),
    ({CR: "x", AE: "y", CL: "x"}, {CR: "r", AE: "a", CL: "r"}),
]


@pytest.mark.parametrize("arns,groups", SAME_ARN)
@pytest.mark.parametrize("fan_out", ["true", "false"])
@pytest.mark.parametrize("archive", ["true", "false"])
def test_the_same_arn_for_two_kinds_is_one_stream(template: dict, arns: dict, groups: dict, fan_out: str,
                                                  archive: str) -> None:
    passed = {kind: ARN.format(name) for kind, name in arns.items()}
    params = {
        "ContactRecordStreamArn": passed[CR],
        "AgentEventStreamArn": passed[AE],
        "ContactLensStreamArn": passed[CL],
        "UseEnhancedFanOut": fan_out,
        "ArchiveAgentEvents": archive,
        "ArchiveSegments": archive,
        "ForwardSegments": archive,
    }
    check_topology(Stack(template, params), groups, True, passed)


def test_the_one_stream_layout_refuses_a_second_segment_stream(template: dict) -> None:
    stack = Stack(template, {
        "StreamLayout": "one-stream",
        "ContactRecordStreamArn": ARN.format("a"),
        "ContactLensStreamArn": ARN.format("b"),
    })
    assert len(stack.rules_hold()) == 1


def test_segments_switched_off_are_not_read_even_on_the_agent_event_stream(template: dict) -> None:
    stack = Stack(template, {
        "ContactRecordStreamArn": ARN.format("x"), "AgentEventStreamArn": ARN.format("y"),
        "ContactLensStreamArn": ARN.format("y"), "ContactLensSegments": "false", "ArchiveSegments": "true",
    })
    assert mapped_streams(stack)["contact-archiver"] == [ARN.format("x")]


def test_a_shared_layout_refuses_a_second_agent_event_stream(template: dict) -> None:
    stack = Stack(template, {
        "StreamLayout": "contact-records-and-agent-events",
        "ContactRecordStreamArn": ARN.format("a"),
        "AgentEventStreamArn": ARN.format("b"),
    })
    assert len(stack.rules_hold()) == 1


# ---------------------------------------------------------------------------------------------------------------
# KMS: the default streams are ones Connect can write to.


def stream_keys(stack: Stack) -> set:
    return {stack.value(s["Properties"]["StreamEncryption"]["KeyId"])
            for s in stack.resources("AWS::Kinesis::Stream").values()}


def key_statements(stack: Stack) -> dict[str, dict]:
    policy = stack.value(stack.template["Resources"]["EncryptionKey"]["Properties"]["KeyPolicy"])
    return {s["Sid"]: s for s in policy["Statement"]}


def test_default_streams_use_the_aws_managed_kinesis_key(template: dict) -> None:
    stack = Stack(template, {})
    assert stream_keys(stack) == {"alias/aws/kinesis"}
    assert len(stack.resources("AWS::Kinesis::Stream")) == 3
    assert "ConnectServiceRoleWritesStreams" not in key_statements(stack)
    assert stack.rules_hold() == []


def test_no_key_statement_names_a_connect_service_principal(template: dict) -> None:
    for params in ({}, {"StreamEncryptionKey": "customer-managed", "ConnectServiceRoleArn": ROLE}):
        for statement in key_statements(Stack(template, params)).values():
            assert statement.get("Principal", {}).get("Service") != "connect.amazonaws.com"


def test_a_created_customer_key_lets_connects_service_linked_role_generate_data_keys(template: dict) -> None:
    stack = Stack(template, {"StreamEncryptionKey": "customer-managed", "ConnectServiceRoleArn": ROLE})
    assert stack.rules_hold() == []
    assert stream_keys(stack) == {"arn:EncryptionKey"}
    statement = key_statements(stack)["ConnectServiceRoleWritesStreams"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": ROLE}
    assert statement["Action"] == "kms:GenerateDataKey"
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == "kinesis.us-east-1.amazonaws.com"


def test_a_created_customer_key_without_the_connect_role_is_refused(template: dict) -> None:
    stack = Stack(template, {"StreamEncryptionKey": "customer-managed"})
    assert len(stack.rules_hold()) == 1


def test_a_given_customer_key_encrypts_the_streams(template: dict) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-1111-2222-333344445555"
    stack = Stack(template, {"StreamEncryptionKey": "customer-managed", "KmsKeyArn": key})
    assert stack.rules_hold() == []
    assert stream_keys(stack) == {key}
    assert "EncryptionKey" not in {lid for lid in stack.template["Resources"] if stack.active(lid)}


# ---------------------------------------------------------------------------------------------------------------
# Safety values of every mapping: deleting any one fails here.

SAFE = {
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 10,
    "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailedBatchesBucket", "Arn"]}}},
    "MetricsConfig": {"Metrics": ["EventCount"]},
}
RECORD_AGE = {"ContactArchiverFunction": 86400, "AgentStateFunction": 3600, "SupervisorAlertsFunction": 3600,
              "StreamForwarderFunction": 3600}


def all_mappings(template: dict) -> dict[str, dict]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::EventSourceMapping"}


def test_there_are_ten_mappings_and_no_sam_stream_events(template: dict) -> None:
    assert len(all_mappings(template)) == 10
    for lid, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert "Events" not in resource["Properties"], f"{lid}: stream events bypass the pinned mappings"


@pytest.mark.parametrize("name", sorted(SAFE) + ["MaximumRecordAgeInSeconds", "FilterCriteria", "alarm"])
def test_every_mapping_keeps_its_safety_values(template: dict, name: str) -> None:
    alarms = {lid: r for lid, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for lid, mapping in all_mappings(template).items():
        props = mapping["Properties"]
        if name in SAFE:
            assert props.get(name) == SAFE[name], f"{lid}.{name}"
        elif name == "MaximumRecordAgeInSeconds":
            assert props.get(name) == RECORD_AGE[props["FunctionName"]["Ref"]], f"{lid}.{name}"
        elif name == "FilterCriteria":
            assert name not in props, f"{lid}: a filter would drop malformed records silently"
        else:
            watching = [
                a for a in alarms.values()
                if {"Name": "EventSourceMappingUUID", "Value": {"Ref": lid}} in a["Properties"].get("Dimensions", [])
            ]
            metrics = sorted(a["Properties"]["MetricName"] for a in watching)
            assert metrics == ["DroppedEventCount", "OnFailureDestinationDeliveredEventCount"], f"{lid}: {metrics}"
            for alarm in watching:
                assert alarm.get("Condition") == mapping.get("Condition"), lid
                assert alarm["Properties"]["Namespace"] == "AWS/Lambda", lid
                assert alarm["Properties"]["Threshold"] == 0, lid
                assert alarm["Properties"]["AlarmActions"] == [{"Ref": "OpsTopic"}], lid


# ---------------------------------------------------------------------------------------------------------------
# Retention: the quarantine is never tiered away; failed batches are kept long enough to re-drive.


@pytest.mark.parametrize("prefix", ["", "archive/", "quarantine/", "q/"])
def test_the_quarantine_is_never_tiered_whatever_the_archive_prefix(template: dict, prefix: str) -> None:
    stack = Stack(template, {"ArchivePrefix": prefix})
    bucket = stack.value(template["Resources"]["ArchiveBucket"]["Properties"])
    rules = bucket["LifecycleConfiguration"]["Rules"]
    quarantined = "quarantine/contact-archiver/2026/03/07/stream/shardId-000000000000/4960.json"
    archived = f"{prefix}contact-records/year=2026/month=03/day=07/shardId-000000000000-1-2.ndjson.gz"
    tiering = [r for r in rules if r.get("Transitions")]
    assert not [r for r in tiering if quarantined.startswith(r.get("Prefix", ""))]
    assert [r for r in tiering if archived.startswith(r.get("Prefix", ""))]
    quarantine = [r for r in rules if quarantined.startswith(r.get("Prefix", ""))]
    assert quarantine and all(r["ExpirationInDays"] == stack.params["ArchiveRetentionDays"] for r in quarantine)


def test_failed_batches_are_kept_at_least_fourteen_days(template: dict) -> None:
    spec = template["Parameters"]["FailedBatchRetentionDays"]
    assert spec["Default"] >= 14 and spec["MinValue"] >= 14
    stack = Stack(template, {"FailedBatchRetentionDays": "21"})
    bucket = stack.value(template["Resources"]["FailedBatchesBucket"]["Properties"])
    assert [r["ExpirationInDays"] for r in bucket["LifecycleConfiguration"]["Rules"]] == ["21"]
