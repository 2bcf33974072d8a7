"""template.yaml's stream-forwarder and the vendor pull role, evaluated with cfn_eval under chosen parameters.

The binding contract is functions/stream-forwarder/DESIGN.md (environment, state table, parking layout, metrics);
what the function's code names (the metric namespace and dimensions, the metric names, its own name) is read from
the Rust sources, so the alarms cannot drift from what the function emits. The expected streams per layout are
written here from the topology, not read from the template's conditions.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_eval import ROOT, Stack, load_template  # noqa: E402

ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/{}"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-1111-2222-333344445555"
SECRET_A = "arn:aws:secretsmanager:us-east-1:123456789012:secret:forwarder/wfm-vendor-AbCdEf"
SECRET_B = "arn:aws:secretsmanager:us-east-1:123456789012:secret:forwarder/crm-Zz09Yy"
VENDOR = "210987654321"
EXTERNAL_ID = "wfm-tenant-7f3a9c2e51b04d18"
VENDOR_PARAMS = {"VendorAccountId": VENDOR, "VendorExternalId": EXTERNAL_ID}
SUBSCRIPTIONS = json.dumps({"subscriptions": [{
    "name": "wfm-vendor", "url": "https://wfm.example.com/hooks/connect", "kinds": ["agent_event"],
    "secret_arn": SECRET_A}]})
URI = "s3://acme-connect-config/forwarder/subscriptions.json"
PREFIX = "forwarder-parked/"
FORWARDER = "StreamForwarderFunction"
ROLE = "StreamForwarderRole"
LOG_STREAMS = "arn:aws:logs:us-east-1:123456789012:log-group:ref:StreamForwarderLogGroup:log-stream:*"

# Which streams the forwarder must read, per layout: contact records and agent events always, segments only with
# ForwardSegments and only from a segment stream of its own (on a shared stream they arrive anyway).
R, A, S = "arn:ContactRecordStream", "arn:AgentEventStream", "arn:ContactLensStream"
READS = {
    # (StreamLayout, ContactLensSegments, ForwardSegments) → streams
    ("three-streams", "true", "false"): {R, A},
    ("three-streams", "true", "true"): {R, A, S},
    ("three-streams", "false", "true"): {R, A},
    ("contact-records-and-agent-events", "true", "false"): {R},
    ("contact-records-and-agent-events", "true", "true"): {R, S},
    ("contact-records-and-agent-events", "false", "true"): {R},
    ("one-stream", "true", "false"): {R},
    ("one-stream", "true", "true"): {R},
}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def props(stack: Stack, logical_id: str) -> dict:
    return stack.value(stack.template["Resources"][logical_id].get("Properties", {}))


def as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def grants(stack: Stack, role: str) -> set[tuple[str, str]]:
    """(action, resource) pairs the role's policies allow; conditions are checked by the tests that need them."""
    out = set()
    for policy in props(stack, role)["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow", statement
            assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), statement
            out |= {(a, r) for a in as_list(statement["Action"]) for r in as_list(statement["Resource"])}
    return out


def statements(stack: Stack, role: str) -> dict[str, dict]:
    (policy,) = props(stack, role)["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def mappings(stack: Stack) -> dict[str, dict]:
    return {lid: props(stack, lid) for lid, m in stack.resources("AWS::Lambda::EventSourceMapping").items()
            if m["Properties"]["FunctionName"] == {"Ref": FORWARDER}}


def mapped_streams(stack: Stack) -> list[str]:
    return [stack.stream_of(stack.template["Resources"][lid]["Properties"]["EventSourceArn"])
            for lid in mappings(stack)]


def output(stack: Stack, name: str) -> object:
    spec = stack.template["Outputs"][name]
    if "Condition" in spec and not stack.condition(spec["Condition"]):
        return None
    return stack.value(spec["Value"])


def rust_constant(path: str, name: str) -> str:
    source = (ROOT / path).read_text()
    found = re.search(rf'pub const {name}: &str = "([^"]+)"', source)
    assert found, f"{name} not in {path}"
    return found.group(1)


# ------------------------------------------------------------------------------------------ the function


def test_the_function_is_built_logged_and_timed_as_the_others(template: dict) -> None:
    resource = template["Resources"][FORWARDER]
    assert resource["Type"] == "AWS::Serverless::Function"
    assert resource["Metadata"] == {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "stream-forwarder"}}
    name = rust_constant("functions/stream-forwarder/src/lib.rs", "NAME")
    assert name == "stream-forwarder"
    function = resource["Properties"]
    assert function["CodeUri"] == "."
    assert "Events" not in function and "Policies" not in function and "FunctionUrlConfig" not in function
    assert function["Role"] == {"Fn::GetAtt": [ROLE, "Arn"]}
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": "StreamForwarderLogGroup"}}
    stack = Stack(template, {})
    group = props(stack, "StreamForwarderLogGroup")
    assert group["LogGroupName"] == f"/aws/lambda/stack/{name}"
    assert group["KmsKeyId"] == "arn:EncryptionKey" and group["RetentionInDays"] > 0
    env = props(stack, FORWARDER)["Environment"]["Variables"]
    assert function["Timeout"] == 60
    assert int(env["DELIVERY_BUDGET_SECONDS"]) == 20, "DESIGN.md: 20, below the function timeout"


@pytest.mark.parametrize("source", ["inline", "s3"])
def test_the_environment_is_the_design_contract_with_exactly_one_subscriptions_source(template: dict,
                                                                                     source: str) -> None:
    params = {"ForwarderSubscriptions": SUBSCRIPTIONS} if source == "inline" else {"ForwarderSubscriptionsUri": URI}
    stack = Stack(template, params)
    assert stack.rules_hold() == []
    own = props(stack, FORWARDER)["Environment"]["Variables"]
    assert own == {
        **({"FORWARDER_SUBSCRIPTIONS": SUBSCRIPTIONS} if source == "inline" else {"FORWARDER_SUBSCRIPTIONS_URI": URI}),
        "PARKING_BUCKET": "ref:ForwarderParkingBucket",
        "PARKING_PREFIX": PREFIX,
        "FORWARDER_STATE_TABLE": "ref:ForwarderStateTable",
        "DELIVERY_BUDGET_SECONDS": "20",
    }
    # Every variable the function gets (Globals included) is one DESIGN.md's environment table names.
    design = (ROOT / "functions/stream-forwarder/DESIGN.md").read_text().split("## Environment", 1)[1]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", design))
    globals_ = stack.value(template["Globals"]["Function"]["Environment"]["Variables"])
    assert set(own) | set(globals_) <= documented
    assert {"QUARANTINE_BUCKET", "QUARANTINE_PREFIX"} <= set(globals_)


def test_the_default_is_an_idle_forwarder_whose_document_the_rule_and_condition_recognise(template: dict) -> None:
    default = template["Parameters"]["ForwarderSubscriptions"]["Default"]
    assert json.loads(default) == {"subscriptions": []}
    # The Rule and the idle condition compare with the default literally: they must name the same text.
    rule = template["Rules"]["ForwarderSubscriptionsFromOneSource"]["Assertions"][0]["Assert"]
    assert rule == {"Fn::Equals": [{"Ref": "ForwarderSubscriptions"}, default]}
    assert {"Fn::Equals": [{"Ref": "ForwarderSubscriptions"}, default]} in \
        template["Conditions"]["ForwarderIsIdle"]["Fn::And"]
    stack = Stack(template, {})
    assert stack.condition("ForwarderIsIdle") and stack.rules_hold() == []
    assert props(stack, FORWARDER)["Environment"]["Variables"]["FORWARDER_SUBSCRIPTIONS"] == default


# ------------------------------------------------------------------------------------------ the mappings

SAFETY = ("FunctionResponseTypes", "BisectBatchOnFunctionError", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds",
          "DestinationConfig", "MetricsConfig")


@pytest.mark.parametrize("params", [{}, {"ForwardSegments": "true"}, {"UseEnhancedFanOut": "false"}],
                         ids=["default", "segments", "no-fan-out"])
def test_the_forwarders_mappings_have_the_live_consumers_safety_settings(template: dict, params: dict) -> None:
    stack = Stack(template, params)
    every = {lid: props(stack, lid) for lid in stack.resources("AWS::Lambda::EventSourceMapping")}
    ours = mappings(stack)
    assert ours, "the forwarder reads at least the contact-record stream"
    others = {lid: m for lid, m in every.items() if lid not in ours}
    # The same value as every other mapping for what they all share…
    for name in SAFETY:
        values = {json.dumps(m.get(name), sort_keys=True) for m in others.values()}
        if len(values) == 1:
            for lid, mapping in ours.items():
                assert json.dumps(mapping.get(name), sort_keys=True) in values, f"{lid}.{name}"
    # …and exactly the settings of the other live consumer reading the same streams (supervisor-alerts).
    peer = {name: others["SupervisorAlertsContactRecordStreamMapping"][name] for name in SAFETY}
    assert peer["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert peer["DestinationConfig"] == {"OnFailure": {"Destination": "arn:FailedBatchesBucket"}}
    assert peer["MetricsConfig"] == {"Metrics": ["EventCount"]}
    for lid, mapping in ours.items():
        assert {name: mapping.get(name) for name in SAFETY} == peer, lid
        assert "FilterCriteria" not in mapping, f"{lid}: a filter would drop malformed records silently"
        assert mapping["ParallelizationFactor"] == 1, lid
        assert mapping["StartingPosition"] == "LATEST", lid
        assert mapping["FunctionName"] == f"ref:{FORWARDER}"


def test_each_forwarder_mapping_has_its_dropped_and_gave_up_alarms(template: dict) -> None:
    resources = template["Resources"]
    ours = [lid for lid, r in resources.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"
            and r["Properties"]["FunctionName"] == {"Ref": FORWARDER}]
    assert sorted(ours) == sorted(f"StreamForwarder{s}StreamMapping" for s in ("ContactRecord", "AgentEvent",
                                                                             "ContactLens"))
    for lid in ours:
        watching = [a for a in resources.values() if a["Type"] == "AWS::CloudWatch::Alarm" and
                    {"Name": "EventSourceMappingUUID", "Value": {"Ref": lid}} in a["Properties"].get("Dimensions", [])]
        assert sorted(a["Properties"]["MetricName"] for a in watching) == [
            "DroppedEventCount", "OnFailureDestinationDeliveredEventCount"], lid
        for alarm in watching:
            assert alarm.get("Condition") == resources[lid].get("Condition"), lid
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": "OpsTopic"}], lid


@pytest.mark.parametrize("fan_out", ["true", "false"])
@pytest.mark.parametrize("passed_in", [False, True], ids=["created", "passed-in"])
@pytest.mark.parametrize("layout,segments,forward", sorted(READS))
def test_the_forwarder_reads_its_streams_in_every_layout(template: dict, layout: str, segments: str, forward: str,
                                                        passed_in: bool, fan_out: str) -> None:
    params = {"StreamLayout": layout, "ContactLensSegments": segments, "ForwardSegments": forward,
              "UseEnhancedFanOut": fan_out}
    wanted = READS[(layout, segments, forward)]
    if passed_in:
        names = {R: "ctr", A: "agents", S: "lens"}
        params["ContactRecordStreamArn"] = ARN.format("ctr")
        if layout == "three-streams":
            params["AgentEventStreamArn"] = ARN.format("agents")
        if segments == "true" and layout != "one-stream":
            params["ContactLensStreamArn"] = ARN.format("lens")
        wanted = {ARN.format(names[s]) for s in wanted}
    stack = Stack(template, params)
    assert stack.rules_hold() == []
    streams = mapped_streams(stack)
    assert sorted(streams) == sorted(wanted), "one mapping per stream it must read, and no other"
    role = statements(stack, ROLE)
    assert set(as_list(role["ReadStreams"]["Resource"])) == wanted
    consumers = {lid: props(stack, lid) for lid, c in stack.resources("AWS::Kinesis::StreamConsumer").items()
                 if lid.startswith("Forwarder")}
    if fan_out == "true":
        assert {stack.stream_of(stack.template["Resources"][lid]["Properties"]["StreamARN"]) for lid in consumers} \
            == wanted and len(consumers) == len(wanted)
        assert {c["ConsumerName"] for c in consumers.values()} == {"stack-stream-forwarder"}
        used = {stack.consumer_of(stack.template["Resources"][lid]["Properties"]["EventSourceArn"])
                for lid in mappings(stack)}
        assert used == set(consumers)
        assert set(as_list(role["ReadConsumers"]["Resource"])) == {
            f"{s}/consumer/stack-stream-forwarder:*" for s in wanted}
    else:
        assert consumers == {} and "ReadConsumers" not in role


def test_segments_on_the_agent_event_stream_are_read_there_whatever_forward_segments_says(template: dict) -> None:
    for forward in ("true", "false"):
        stack = Stack(template, {"ContactRecordStreamArn": ARN.format("x"), "AgentEventStreamArn": ARN.format("y"),
                                 "ContactLensStreamArn": ARN.format("y"), "ForwardSegments": forward})
        assert sorted(mapped_streams(stack)) == [ARN.format("x"), ARN.format("y")]


# ------------------------------------------------------------------------------------------ the role

BASE_GRANTS = {
    ("logs:CreateLogStream", LOG_STREAMS),
    ("logs:PutLogEvents", LOG_STREAMS),
    ("dynamodb:Query", "arn:ForwarderStateTable"),
    ("dynamodb:PutItem", "arn:ForwarderStateTable"),
    ("dynamodb:UpdateItem", "arn:ForwarderStateTable"),
    ("s3:PutObject", f"arn:ForwarderParkingBucket/{PREFIX}*"),
    ("s3:PutObject", "arn:ArchiveBucket/quarantine/*"),
    ("s3:PutObject", "arn:FailedBatchesBucket/*"),
    ("s3:ListBucket", "arn:FailedBatchesBucket"),
    ("kinesis:ListStreams", "*"),
}


def stream_grants(streams: set[str], key: str, fan_out: bool) -> set[tuple[str, str]]:
    read = {"kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream",
            "kinesis:DescribeStreamSummary", "kinesis:ListShards"}
    out = {(a, s) for a in read for s in streams} | {("kms:GenerateDataKey", key), ("kms:Decrypt", key)}
    if fan_out:
        out |= {(a, f"{s}/consumer/stack-stream-forwarder:*") for a in ("kinesis:SubscribeToShard",
                                                                      "kinesis:DescribeStreamConsumer")
                for s in streams}
    return out


@pytest.mark.parametrize("params,key", [({}, "arn:EncryptionKey"), ({"KmsKeyArn": KEY}, KEY)], ids=["created", "given"])
def test_the_role_may_do_exactly_what_the_function_does(template: dict, params: dict, key: str) -> None:
    stack = Stack(template, params)
    assert grants(stack, ROLE) == BASE_GRANTS | stream_grants({R, A}, key, fan_out=True)
    role = props(stack, ROLE)
    assert not {"ManagedPolicyArns", "PermissionsBoundary"} & set(role)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    # No other policy attaches to the forwarder's role or the vendor's.
    for lid, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            assert ROLE not in json.dumps(resource) and "VendorPullRole" not in json.dumps(resource), lid


@pytest.mark.parametrize("secrets", [[SECRET_A], [SECRET_A, SECRET_B]], ids=["one", "two"])
def test_the_role_may_read_exactly_the_listed_secrets(template: dict, secrets: list[str]) -> None:
    stack = Stack(template, {"ForwarderSecretArns": ",".join(secrets), "ForwarderSubscriptions": SUBSCRIPTIONS})
    assert stack.rules_hold() == []
    extra = grants(stack, ROLE) - BASE_GRANTS - stream_grants({R, A}, "arn:EncryptionKey", fan_out=True)
    assert extra == {("secretsmanager:GetSecretValue", s) for s in secrets}
    statement = statements(stack, ROLE)["ReadSigningSecrets"]
    assert "Condition" not in statement


def test_without_secrets_there_is_no_secrets_statement_at_all(template: dict) -> None:
    stack = Stack(template, {"ForwarderSubscriptions": SUBSCRIPTIONS})
    assert not [s for s in statements(stack, ROLE).values()
                if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))]
    assert not [g for g in grants(stack, ROLE) if g[0].startswith("secretsmanager:")]


@pytest.mark.parametrize("value", [
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:forwarder/wfm",  # partial ARN: would need a wildcard
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
    f"{SECRET_A},*",
    "forwarder/wfm-vendor",
])
def test_secret_arns_must_be_complete(template: dict, value: str) -> None:
    with pytest.raises(ValueError, match="ForwarderSecretArns"):
        Stack(template, {"ForwarderSecretArns": value})


def test_s3_only_under_the_parking_prefix_and_the_subscriptions_object(template: dict) -> None:
    inline = Stack(template, {"ForwarderSubscriptions": SUBSCRIPTIONS})
    s3 = {g for g in grants(inline, ROLE) if g[0].startswith("s3:")}
    assert {r for _, r in s3 if "ForwarderParkingBucket" in r} == {f"arn:ForwarderParkingBucket/{PREFIX}*"}
    assert {a for a, r in s3 if "ForwarderParkingBucket" in r} == {"s3:PutObject"}
    assert not [g for g in s3 if g[0] == "s3:GetObject"]
    # With the document in S3: GetObject on that one object, nothing more.
    from_s3 = Stack(template, {"ForwarderSubscriptionsUri": URI})
    extra = grants(from_s3, ROLE) - grants(inline, ROLE)
    assert extra == {("s3:GetObject", "arn:aws:s3:::acme-connect-config/forwarder/subscriptions.json")}
    # The parking prefix is one value: environment, role, lifecycle rule and output.
    env = props(from_s3, FORWARDER)["Environment"]["Variables"]
    assert env["PARKING_PREFIX"] == PREFIX
    assert output(from_s3, "ForwarderParkingLocation") == f"s3://ref:ForwarderParkingBucket/{PREFIX}"


@pytest.mark.parametrize("uri", ["s3://bucket", "s3://bucket/", "https://bucket/key", "s3://bucket/conf/*.json",
                                 "s3://Bucket/key"])
def test_the_subscriptions_uri_names_one_object(template: dict, uri: str) -> None:
    with pytest.raises(ValueError, match="ForwarderSubscriptionsUri"):
        Stack(template, {"ForwarderSubscriptionsUri": uri})


# ------------------------------------------------------------------------------------------ the rules


def test_both_subscription_sources_are_refused(template: dict) -> None:
    stack = Stack(template, {"ForwarderSubscriptions": SUBSCRIPTIONS, "ForwarderSubscriptionsUri": URI})
    (failed,) = stack.rules_hold()
    assert "ForwarderSubscriptionsUri" in failed
    assert Stack(template, {"ForwarderSubscriptionsUri": URI}).rules_hold() == []
    assert Stack(template, {"ForwarderSubscriptions": SUBSCRIPTIONS}).rules_hold() == []


def test_an_account_without_an_external_id_is_refused_and_the_reverse(template: dict) -> None:
    (failed,) = Stack(template, {"VendorAccountId": VENDOR}).rules_hold()
    assert "VendorExternalId" in failed
    (failed,) = Stack(template, {"VendorExternalId": EXTERNAL_ID}).rules_hold()
    assert "VendorAccountId" in failed
    assert Stack(template, VENDOR_PARAMS).rules_hold() == []


@pytest.mark.parametrize("params,name", [
    ({"VendorAccountId": VENDOR, "VendorExternalId": "short-id-15chrs"}, "VendorExternalId"),
    ({"VendorAccountId": VENDOR, "VendorExternalId": "has spaces in it, sixteen+"}, "VendorExternalId"),
    ({"VendorAccountId": "21098765432", "VendorExternalId": EXTERNAL_ID}, "VendorAccountId"),
    ({"VendorAccountId": "arn:aws:iam::210987654321:root", "VendorExternalId": EXTERNAL_ID}, "VendorAccountId"),
])
def test_the_vendor_parameters_are_shaped(template: dict, params: dict, name: str) -> None:
    assert len("short-id-15chrs") == 15
    with pytest.raises(ValueError, match=name):
        Stack(template, params)


# ------------------------------------------------------------------------------------------ the vendor pull role


def vendor_resources(stack: Stack) -> list[str]:
    return sorted(lid for lid in stack.template["Resources"] if lid.startswith("Vendor") and stack.active(lid))


def test_without_an_account_there_is_no_pull_role_consumer_or_output(template: dict) -> None:
    stack = Stack(template, {"ForwarderSubscriptions": SUBSCRIPTIONS})
    assert vendor_resources(stack) == []
    assert not [r for r in stack.resources("AWS::IAM::Role") if r not in
                ("ContactArchiverRole", "AgentStateRole", "SupervisorAlertsRole", "AgentBoardRole", ROLE)]
    for name in stack.template["Outputs"]:
        if name.startswith("Vendor"):
            assert output(stack, name) is None, name


def test_the_pull_role_trusts_only_that_account_with_the_external_id(template: dict) -> None:
    stack = Stack(template, VENDOR_PARAMS)
    role = props(stack, "VendorPullRole")
    assert not {"ManagedPolicyArns", "PermissionsBoundary"} & set(role)
    assert role["MaxSessionDuration"] <= 3600
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{VENDOR}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
    }
    assert output(stack, "VendorPullRoleArn") == "arn:VendorPullRole"


PULL_READ = {"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards",
             "kinesis:GetShardIterator", "kinesis:GetRecords"}


@pytest.mark.parametrize("key", ["aws-managed", "customer-managed", "given"])
@pytest.mark.parametrize("fan_out", ["true", "false"])
@pytest.mark.parametrize("layout", ["three-streams", "contact-records-and-agent-events", "one-stream"])
def test_the_pull_role_reads_the_two_streams_its_consumers_and_nothing_else(template: dict, layout: str,
                                                                            fan_out: str, key: str) -> None:
    params = {**VENDOR_PARAMS, "StreamLayout": layout, "UseEnhancedFanOut": fan_out, "ForwardSegments": "true"}
    if key != "aws-managed":
        params["StreamEncryptionKey"] = "customer-managed"
        params["ConnectServiceRoleArn"] = "arn:aws:iam::123456789012:role/aws-service-role/connect.amazonaws.com/X"
    if key == "given":
        params["KmsKeyArn"] = KEY
    stack = Stack(template, params)
    assert stack.rules_hold() == []
    streams = {R, A} if layout == "three-streams" else {R}
    consumers = {"consumerarn:VendorContactRecordStreamConsumer"} | (
        {"consumerarn:VendorAgentEventStreamConsumer"} if layout == "three-streams" else set())
    expected = {(a, s) for a in PULL_READ for s in streams}
    if fan_out == "true":
        expected |= {(a, c) for a in ("kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer") for c in consumers}
    if key != "aws-managed":
        expected.add(("kms:Decrypt", KEY if key == "given" else "arn:EncryptionKey"))
    assert grants(stack, "VendorPullRole") == expected
    if key != "aws-managed":
        decrypt = statements(stack, "VendorPullRole")["DecryptStreams"]
        assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "kinesis.us-east-1.amazonaws.com"}}

    # Its consumers: one per stream it reads, with fan-out only, used by no function.
    vendor_consumers = {lid: props(stack, lid) for lid in stack.resources("AWS::Kinesis::StreamConsumer")
                        if lid.startswith("Vendor")}
    if fan_out == "true":
        assert {f"consumerarn:{lid}" for lid in vendor_consumers} == consumers
        assert {stack.stream_of(stack.template["Resources"][lid]["Properties"]["StreamARN"])
                for lid in vendor_consumers} == streams
        assert {c["ConsumerName"] for c in vendor_consumers.values()} == {"stack-vendor"}
        used = {stack.consumer_of(stack.template["Resources"][lid]["Properties"]["EventSourceArn"])
                for lid in stack.resources("AWS::Lambda::EventSourceMapping")}
        assert not used & set(vendor_consumers)
    else:
        assert vendor_consumers == {}

    # What to send the vendor: the role, the streams of each kind, the consumers.
    assert output(stack, "VendorContactRecordStreamArn") == R
    assert output(stack, "VendorAgentEventStreamArn") == (A if layout == "three-streams" else R)
    if fan_out == "true":
        assert output(stack, "VendorContactRecordConsumerArn") == "consumerarn:VendorContactRecordStreamConsumer"
        assert output(stack, "VendorAgentEventConsumerArn") == (
            "consumerarn:VendorAgentEventStreamConsumer" if layout == "three-streams"
            else "consumerarn:VendorContactRecordStreamConsumer")
    else:
        assert output(stack, "VendorContactRecordConsumerArn") is None
        assert output(stack, "VendorAgentEventConsumerArn") is None


# ------------------------------------------------------------------------------------------ alarms


def emitted() -> dict[str, object]:
    """What the function emits, from its sources: namespace, the dimension every metric has, the per-subscription
    label, and the metric names."""
    telemetry = (ROOT / "shared/src/telemetry.rs").read_text()
    handler = (ROOT / "functions/stream-forwarder/src/handler.rs").read_text()
    (default_dimension,) = re.findall(r'\.with_dimension\("([^"]+)"', telemetry)
    labels = set(re.findall(r'counter!\(metric::[A-Z_]+, "([^"]+)" =>', handler))
    assert len(labels) == 1, labels
    return {
        "namespace": rust_constant("shared/src/telemetry.rs", "NAMESPACE"),
        "dimensions": (default_dimension, labels.pop()),
        "parked": rust_constant("functions/stream-forwarder/src/handler.rs", "PARKED"),
        "disabled": rust_constant("functions/stream-forwarder/src/handler.rs", "DISABLED"),
        "function": rust_constant("functions/stream-forwarder/src/lib.rs", "NAME"),
    }


@pytest.mark.parametrize("params", [{"ForwarderSubscriptions": SUBSCRIPTIONS}, {"ForwarderSubscriptionsUri": URI}],
                         ids=["inline", "s3"])
@pytest.mark.parametrize("alarm,metric", [("ForwarderMessagesParkedAlarm", "parked"),
                                          ("ForwarderSubscriptionDisabledAlarm", "disabled")])
def test_parked_and_disabled_alarms_watch_every_subscription_and_page_the_ops_topic(template: dict, params: dict,
                                                                                   alarm: str, metric: str) -> None:
    names = emitted()
    assert names["dimensions"] == ("Function", "Subscription")  # DESIGN.md: dimension Subscription
    stack = Stack(template, params)
    assert stack.active(alarm)
    properties = props(stack, alarm)
    (query,) = properties["Metrics"]
    assert query["ReturnData"] is True and query["Period"] == 300
    expression = " ".join(query["Expression"].split())
    # One dimension set, exactly as the function emits it; summed over every subscription, present or future.
    assert expression == (
        f'SELECT SUM({names[metric]}) FROM SCHEMA("{names["namespace"]}", {", ".join(names["dimensions"])}) '
        f"WHERE Function = '{names['function']}'"
    )
    assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanThreshold", 0)
    assert properties["EvaluationPeriods"] == 1 and properties["TreatMissingData"] == "notBreaching"
    assert properties["AlarmActions"] == ["ref:OpsTopic"] and properties["OKActions"] == ["ref:OpsTopic"]
    assert not {"MetricName", "Namespace", "Dimensions", "Statistic"} & set(properties)


def test_an_idle_forwarder_has_only_plain_metric_alarms_which_the_emulator_deploys(template: dict) -> None:
    stack = Stack(template, {})
    alarms = {lid: props(stack, lid) for lid in stack.resources("AWS::CloudWatch::Alarm")}
    assert not [lid for lid, a in alarms.items() if "Metrics" in a], "scripts/emulator_deploy.py deploys defaults"
    assert "ForwarderMessagesParkedAlarm" not in alarms and "ForwarderSubscriptionDisabledAlarm" not in alarms


@pytest.mark.parametrize("alarm,namespace,metric", [
    ("StreamForwarderErrorsAlarm", "AWS/Lambda", "Errors"),
    ("StreamForwarderThrottlesAlarm", "AWS/Lambda", "Throttles"),
    ("StreamForwarderIteratorAgeAlarm", "AWS/Lambda", "IteratorAge"),
    ("StreamForwarderQuarantinedAlarm", "ConnectStreamConsumers", "RecordsQuarantined"),
])
def test_the_function_alarms_like_the_other_consumers(template: dict, alarm: str, namespace: str, metric: str) -> None:
    stack = Stack(template, {})
    properties = props(stack, alarm)
    assert (properties["Namespace"], properties["MetricName"]) == (namespace, metric)
    dimension = ({"Name": "Function", "Value": "stream-forwarder"} if namespace == "ConnectStreamConsumers"
                 else {"Name": "FunctionName", "Value": f"ref:{FORWARDER}"})
    assert properties["Dimensions"] == [dimension]
    assert properties["AlarmActions"] == ["ref:OpsTopic"]
    assert "Condition" not in template["Resources"][alarm]


# ------------------------------------------------------------------------------------------ parking and state


@pytest.mark.parametrize("days", ["14", "30", "90"])
def test_parked_messages_expire_after_the_failed_batch_retention(template: dict, days: str) -> None:
    stack = Stack(template, {"FailedBatchRetentionDays": days})
    bucket = props(stack, "ForwarderParkingBucket")
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == PREFIX
    assert rule["ExpirationInDays"] == days
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}, "resent messages are personal data"
    parked = f"{PREFIX}wfm-vendor/0a1b2c3d4e5f60718293a4b5/{'4960'.zfill(40)}.json"
    assert parked.startswith(rule["Prefix"])


def test_the_parking_bucket_is_private_encrypted_and_pages_nobody_per_object(template: dict) -> None:
    stack = Stack(template, {})
    resource = template["Resources"]["ForwarderParkingBucket"]
    assert resource["DeletionPolicy"] == "Retain"
    bucket = props(stack, "ForwarderParkingBucket")
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "arn:EncryptionKey"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == "ref:AccessLogsBucket"
    # Not the failed-batches bucket: every object there pages "Lambda gave up on records".
    assert "NotificationConfiguration" not in bucket
    rule = props(stack, "FailedBatchesRule")
    assert rule["EventPattern"]["detail"]["bucket"]["name"] == ["ref:FailedBatchesBucket"]
    (deny,) = props(stack, "ForwarderParkingBucketPolicy")["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    logs = props(stack, "AccessLogsBucketPolicy")["PolicyDocument"]["Statement"]
    assert "arn:ForwarderParkingBucket" in next(s for s in logs if s["Sid"] == "S3ServerAccessLogs")[
        "Condition"]["ArnLike"]["aws:SourceArn"]


@pytest.mark.parametrize("params,key", [({}, "arn:EncryptionKey"), ({"KmsKeyArn": KEY}, KEY)], ids=["created", "given"])
def test_the_state_table_is_keyed_as_the_design_says_and_kept_like_the_others(template: dict, params: dict,
                                                                             key: str) -> None:
    stack = Stack(template, params)
    table = props(stack, "ForwarderStateTable")
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"},
                                             {"AttributeName": "sk", "AttributeType": "S"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}
    assert table["SSESpecification"] == props(stack, "AlertStateTable")["SSESpecification"]
    assert "GlobalSecondaryIndexes" not in table


def test_the_outputs_name_the_function_the_table_and_the_parking_location(template: dict) -> None:
    stack = Stack(template, {})
    assert output(stack, "StreamForwarderFunctionArn") == f"arn:{FORWARDER}"
    assert output(stack, "ForwarderStateTableName") == "ref:ForwarderStateTable"
    assert output(stack, "ForwarderParkingBucketName") == "ref:ForwarderParkingBucket"
    assert output(stack, "ForwarderParkingLocation") == f"s3://ref:ForwarderParkingBucket/{PREFIX}"


def test_the_forwarder_parameters_are_in_their_own_group(template: dict) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (group,) = [g for g in groups if g["Label"]["default"] == "Forwarder"]
    assert group["Parameters"] == ["ForwarderSubscriptions", "ForwarderSubscriptionsUri", "ForwarderSecretArns",
                                   "ForwardSegments", "VendorAccountId", "VendorExternalId"]
    grouped = [p for g in groups for p in g["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"]), "every parameter in exactly one group"
