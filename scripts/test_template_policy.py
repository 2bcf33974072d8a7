"""Tests of scripts/template_policy_check.py, and of the Athena view that template.yaml defines."""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
TEMPLATE = ROOT / "template.yaml"

sys.path.insert(0, str(SCRIPTS))
import template_policy_check as checker  # noqa: E402


def write_template(tmp_path: Path, resources: str) -> str:
    path = tmp_path / "template.yaml"
    path.write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Transform: AWS::Serverless-2016-10-31\n"
        "Conditions:\n"
        "  Flag: !Equals [a, a]\n"
        "Resources:\n"
        "  Table:\n"
        "    Type: AWS::DynamoDB::Table\n" + resources
    )
    return str(path)


def function_with(statements: str) -> str:
    """A SAM function whose single inline policy holds the given statements (YAML, indented 12)."""
    return (
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Policies:\n"
        "        - Version: '2012-10-17'\n"
        "          Statement:\n" + statements
    )


def violations_of(tmp_path: Path, resources: str) -> list[str]:
    found, _ = checker.check_template(write_template(tmp_path, resources))
    return [v.message for v in found]


# ------------------------------------------------------------------------------------------ the real template


def test_real_template_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert checker.main([str(TEMPLATE)]) == 0
    assert "no wildcard actions" in capsys.readouterr().out


def test_real_template_has_the_function_policies_and_the_vendor_role() -> None:
    _, documents = checker.check_template(str(TEMPLATE))
    assert documents == len(ALL_FUNCTIONS) + len(OTHER_ROLES)


FUNCTIONS = {
    # the stream consumers, by logical id of the function: (its role, its log group, the name the code knows it by)
    "ContactArchiverFunction": ("ContactArchiverRole", "ContactArchiverLogGroup", "contact-archiver"),
    "AgentStateFunction": ("AgentStateRole", "AgentStateLogGroup", "agent-state"),
    "SupervisorAlertsFunction": ("SupervisorAlertsRole", "SupervisorAlertsLogGroup", "supervisor-alerts"),
    "StreamForwarderFunction": ("StreamForwarderRole", "StreamForwarderLogGroup", "stream-forwarder"),
}
# The board reads no stream: no failed batches, no quarantine (scripts/test_board_template.py pins its role).
ALL_FUNCTIONS = FUNCTIONS | {"AgentBoardFunction": ("AgentBoardRole", "AgentBoardLogGroup", "agent-board")}
# Roles of no function: the vendor's read-only role (scripts/test_forwarder_template.py pins it).
OTHER_ROLES = ("VendorPullRole",)


def resources() -> dict:
    return checker.load_template(str(TEMPLATE))["Resources"]


@pytest.mark.parametrize("function", sorted(ALL_FUNCTIONS))
def test_each_function_has_its_own_explicit_role(function: str) -> None:
    role, log_group, name = ALL_FUNCTIONS[function]
    properties = resources()[function]["Properties"]
    assert properties["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    assert "Policies" not in properties, "SAM ignores Policies when Role is set"
    role_properties = resources()[role]["Properties"]
    assert resources()[role]["Type"] == "AWS::IAM::Role"
    assert "ManagedPolicyArns" not in role_properties
    (trust,) = role_properties["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role_properties["Policies"]
    assert policy["PolicyName"] == name
    statements = {s["Sid"]: s for s in checker.items(policy["PolicyDocument"]["Statement"]) if "Sid" in s}
    assert statements["WriteLogs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert f"log-group:${{{log_group}}}:log-stream:*" in statements["WriteLogs"]["Resource"]["Fn::Sub"]
    if function in FUNCTIONS:
        assert statements["WriteFailedBatches"]["Resource"] == {"Fn::Sub": "${FailedBatchesBucket.Arn}/*"}
    assert "kms:Decrypt" in statements["UseKey"]["Action"]
    actions = [a for s in statements.values() for a in checker.items(s["Action"])]
    assert "cloudwatch:PutMetricData" not in actions, "metrics go through EMF in the logs"


# ------------------------------------------------------------------------------------------ SAM expansion


def require_sam() -> None:
    if checker.sam_python() is None:
        pytest.skip("aws-sam-cli (samtranslator) is not installed: scripts/setup-venv.sh --sam")


KINESIS_FUNCTION = (
    "  Stream:\n"
    "    Type: AWS::Kinesis::Stream\n"
    "    Properties: {{ShardCount: 1}}\n"
    "  Fn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties:\n"
    "      Runtime: provided.al2023\n"
    "      Handler: bootstrap\n"
    "      CodeUri: .\n"
    "{role}"
    "      Events:\n"
    "        Records:\n"
    "          Type: Kinesis\n"
    "          Properties: {{Stream: !GetAtt Stream.Arn, StartingPosition: LATEST}}\n"
)

EXPLICIT_ROLE = (
    "  FnRole:\n"
    "    Type: AWS::IAM::Role\n"
    "    Properties:\n"
    "      AssumeRolePolicyDocument:\n"
    "        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]\n"
    "      Policies:\n"
    "        - PolicyName: fn\n"
    "          PolicyDocument:\n"
    "            Statement:\n"
    "              - {Effect: Allow, Action: [kinesis:GetRecords, kinesis:ListShards], Resource: !GetAtt Stream.Arn}\n"
)


def test_expanded_check_catches_a_function_that_relies_on_the_implicit_role(tmp_path: Path) -> None:
    require_sam()
    # GIVEN a function with a Kinesis event, no Role and no Policies: nothing in the template itself to flag
    path = write_template(tmp_path, KINESIS_FUNCTION.format(role=""))
    assert checker.check_template(path) == ([], 0)

    # WHEN the SAM-expanded template is checked
    found, _ = checker.check_expanded(path)

    # THEN SAM's generated role and its wildcard managed policies are reported
    messages = sorted(v.message for v in found)
    assert [v.where.split(": ")[1].split()[0] for v in found] == ["FnRole", "FnRole"]
    assert messages == [
        "managed policy 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole' grants on Resource "
        '"*"; give the function a Role',
        "managed policy 'arn:aws:iam::aws:policy/service-role/AWSLambdaKinesisExecutionRole' grants on Resource "
        '"*"; give the function a Role',
    ]


def test_expanded_check_passes_the_same_function_with_an_explicit_role(tmp_path: Path) -> None:
    require_sam()
    path = write_template(tmp_path, KINESIS_FUNCTION.format(role="      Role: !GetAtt FnRole.Arn\n") + EXPLICIT_ROLE)
    assert checker.check_expanded(path) == ([], 1)


def test_real_template_expanded_has_only_the_explicit_roles() -> None:
    require_sam()
    found, documents = checker.check_expanded(str(TEMPLATE))
    assert found == []
    assert documents == len(ALL_FUNCTIONS) + len(OTHER_ROLES)
    expanded = checker.expand_sam(str(TEMPLATE))["Resources"]
    roles = sorted(k for k, v in expanded.items() if v["Type"] == "AWS::IAM::Role")
    assert roles == sorted([role for role, _, _ in ALL_FUNCTIONS.values()] + list(OTHER_ROLES))


def test_main_reports_the_expanded_violations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_sam()
    path = write_template(tmp_path, KINESIS_FUNCTION.format(role=""))
    assert checker.main([path]) == 1
    out = capsys.readouterr().out
    assert f"{path} (SAM-expanded): 2 policy violation(s)" in out


def test_without_sam_the_expanded_check_is_skipped_unless_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checker, "sam_python", lambda: None)
    path = write_template(tmp_path, KINESIS_FUNCTION.format(role=""))
    assert checker.main([path]) == 0
    assert "(SAM-expanded): SKIPPED" in capsys.readouterr().out
    assert checker.main(["--require-expanded", path]) == 1


def test_a_broken_sam_python_fails_instead_of_skipping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAM_PYTHON", str(tmp_path / "no-such-python"))
    assert checker.main([str(TEMPLATE)]) == 1
    assert "(SAM-expanded): FAILED: cannot run" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ bad templates fail


def test_bad_template_fails_and_prints_each_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_template(
        tmp_path,
        function_with(
            "            - Effect: Allow\n"
            "              Action: s3:*\n"
            "              Resource: '*'\n"
            "            - Effect: Allow\n"
            "              Action: [dynamodb:GetItem]\n"
            "              Resource: !GetAtt Table.Arn\n"
        ),
    )
    assert checker.main([path]) == 1
    out = capsys.readouterr().out
    assert "wildcard action 's3:*'" in out
    assert 'Resource "*" for s3:*' in out
    assert "2 policy violation(s)" in out


@pytest.mark.parametrize("action", ["*", "s3:*", "s3:Get*", "kms:GenerateDataKey*", "dynamodb:?etItem"])
def test_wildcard_actions_fail(tmp_path: Path, action: str) -> None:
    found = violations_of(
        tmp_path,
        function_with(
            "            - Effect: Allow\n"
            f"              Action: '{action}'\n"
            "              Resource: !GetAtt Table.Arn\n"
        ),
    )
    assert found == [f"wildcard action {action!r}"]


@pytest.mark.parametrize("resource", ["'*'", "['*']", "!Sub '*'", "arn:aws:s3:::*", "!Sub 'arn:${AWS::Partition}:dynamodb:*:*:*'"])
def test_unscoped_resources_fail(tmp_path: Path, resource: str) -> None:
    found = violations_of(
        tmp_path,
        function_with(
            "            - Effect: Allow\n"
            "              Action: dynamodb:GetItem\n"
            f"              Resource: {resource}\n"
        ),
    )
    assert found == ['Resource "*" for dynamodb:GetItem']


def test_allowlisted_action_may_use_resource_star(tmp_path: Path) -> None:
    found = violations_of(
        tmp_path,
        function_with(
            "            - Effect: Allow\n"
            "              Action: [kinesis:ListStreams, xray:PutTraceSegments]\n"
            "              Resource: '*'\n"
        ),
    )
    assert found == []


def test_allowlisted_action_does_not_cover_others_in_the_statement(tmp_path: Path) -> None:
    found = violations_of(
        tmp_path,
        function_with(
            "            - Effect: Allow\n"
            "              Action: [kinesis:ListStreams, kinesis:GetRecords]\n"
            "              Resource: '*'\n"
        ),
    )
    assert found == ['Resource "*" for kinesis:GetRecords']


def test_both_branches_of_fn_if_are_checked(tmp_path: Path) -> None:
    found = violations_of(
        tmp_path,
        function_with(
            "            - Effect: Allow\n"
            "              Action: dynamodb:GetItem\n"
            "              Resource:\n"
            "                - !If [Flag, !GetAtt Table.Arn, '*']\n"
            "                - !If [Flag, !GetAtt Table.Arn, !Ref AWS::NoValue]\n"
        ),
    )
    assert found == ['Resource "*" for dynamodb:GetItem']


def test_not_action_and_not_resource_fail(tmp_path: Path) -> None:
    found = violations_of(
        tmp_path,
        function_with(
            "            - Effect: Allow\n"
            "              NotAction: iam:*\n"
            "              NotResource: !GetAtt Table.Arn\n"
        ),
    )
    assert "Allow with NotAction grants every other action" in found
    assert "Allow with NotResource grants every other resource" in found


def test_deny_statements_may_use_wildcards(tmp_path: Path) -> None:
    found = violations_of(
        tmp_path,
        function_with(
            "            - Effect: Deny\n"
            "              Action: s3:*\n"
            "              Resource: '*'\n"
        ),
    )
    assert found == []


def test_sam_policy_templates_and_full_access_policies_fail(tmp_path: Path) -> None:
    found = violations_of(
        tmp_path,
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Policies:\n"
        "        - DynamoDBCrudPolicy: {TableName: !Ref Table}\n"
        "        - AmazonS3FullAccess\n"
        "        - AWSLambdaBasicExecutionRole\n",
    )
    assert found == [
        "SAM policy template DynamoDBCrudPolicy: write explicit statements instead",
        "broad managed policy 'AmazonS3FullAccess'",
        "managed policy 'AWSLambdaBasicExecutionRole' grants on Resource \"*\"; give the function a Role",
    ]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaKinesisExecutionRole",
        "!Sub 'arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    ],
)
def test_wildcard_execution_role_policies_fail_on_roles(tmp_path: Path, arn: str) -> None:
    found = violations_of(
        tmp_path,
        "  Role:\n"
        "    Type: AWS::IAM::Role\n"
        "    Properties:\n"
        "      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: []}\n"
        f"      ManagedPolicyArns: [{arn}]\n",
    )
    assert len(found) == 1 and found[0].endswith('grants on Resource "*"; give the function a Role')


def test_iam_roles_and_policies_are_checked(tmp_path: Path) -> None:
    found = violations_of(
        tmp_path,
        "  Role:\n"
        "    Type: AWS::IAM::Role\n"
        "    Properties:\n"
        "      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: []}\n"
        "      ManagedPolicyArns: [arn:aws:iam::aws:policy/AdministratorAccess]\n"
        "      Policies:\n"
        "        - PolicyName: inline\n"
        "          PolicyDocument:\n"
        "            Statement: [{Effect: Allow, Action: 'sqs:*', Resource: !Sub 'arn:aws:sqs:${AWS::Region}:1:q'}]\n"
        "  Extra:\n"
        "    Type: AWS::IAM::Policy\n"
        "    Properties:\n"
        "      PolicyName: extra\n"
        "      Roles: [!Ref Role]\n"
        "      PolicyDocument:\n"
        "        Statement: {Effect: Allow, Action: sns:Publish, Resource: '*'}\n",
    )
    assert found == [
        "wildcard action 'sqs:*'",
        "broad managed policy 'arn:aws:iam::aws:policy/AdministratorAccess'",
        'Resource "*" for sns:Publish',
    ]


def test_resource_policies_are_out_of_scope(tmp_path: Path) -> None:
    found = violations_of(
        tmp_path,
        "  Bucket:\n"
        "    Type: AWS::S3::Bucket\n"
        "  Policy:\n"
        "    Type: AWS::S3::BucketPolicy\n"
        "    Properties:\n"
        "      Bucket: !Ref Bucket\n"
        "      PolicyDocument:\n"
        "        Statement: [{Effect: Allow, Principal: '*', Action: 's3:*', Resource: '*'}]\n",
    )
    assert found == []


def test_pyyaml_fallback_reads_short_form_tags(tmp_path: Path) -> None:
    path = write_template(tmp_path, function_with("            - {Effect: Allow, Action: s3:PutObject, Resource: !Sub '${Table.Arn}'}\n"))
    template = checker._load_with_pyyaml(path)
    statement = template["Resources"]["Fn"]["Properties"]["Policies"][0]["Statement"][0]
    assert statement["Resource"] == {"Fn::Sub": "${Table.Arn}"}
    assert template["Conditions"]["Flag"] == {"Fn::Equals": ["a", "a"]}


# ------------------------------------------------------------------------------------------ the Athena view


HIVE_TO_PRESTO = {
    "string": "varchar",
    "timestamp": "timestamp(3)",
    "bigint": "bigint",
    "int": "integer",
    "map<string,string>": "map(varchar,varchar)",
}


def table_input(logical_id: str) -> dict:
    template = checker.load_template(str(TEMPLATE))
    return template["Resources"][logical_id]["Properties"]["TableInput"]


def presto_view() -> tuple[dict, str]:
    """The JSON document inside ViewOriginalText (schema substituted) and the encoded text as deployed."""
    joined = table_input("ContactRecordsLatestView")["ViewOriginalText"]["Fn::Join"][1]
    prefix, encoded, suffix = joined
    document = encoded["Fn::Base64"]["Fn::Sub"].replace("${GlueDatabase}", "connect_archive")
    text = prefix + base64.b64encode(document.encode()).decode() + suffix
    return json.loads(document), text


def normalise_sql(sql: str) -> str:
    sql = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    sql = re.sub(r"\s+", " ", sql).strip().rstrip(";").strip()
    return re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", sql))


def test_view_is_a_presto_view_document() -> None:
    document, text = presto_view()
    assert text.startswith("/* Presto View: ") and text.endswith(" */")
    assert document["catalog"] == "awsdatacatalog"
    assert document["schema"] == "connect_archive"
    assert table_input("ContactRecordsLatestView")["ViewExpandedText"] == "/* Presto View */"


def test_view_sql_is_the_one_in_athena_directory() -> None:
    document, _ = presto_view()
    saved = (ROOT / "athena" / "contact_records_latest.sql").read_text()
    create = "CREATE OR REPLACE VIEW contact_records_latest AS "
    assert normalise_sql(saved).startswith(create)
    assert normalise_sql(saved)[len(create) :] == normalise_sql(document["originalSql"])


def test_view_columns_are_the_parquet_columns_and_partitions() -> None:
    document, _ = presto_view()
    parquet = table_input("ContactRecordsParquetTable")
    expected = [
        {"name": c["Name"], "type": HIVE_TO_PRESTO[c["Type"]]}
        for c in parquet["StorageDescriptor"]["Columns"] + parquet["PartitionKeys"]
    ]
    assert document["columns"] == expected
    glue_columns = table_input("ContactRecordsLatestView")["StorageDescriptor"]["Columns"]
    assert [{"name": c["Name"], "type": HIVE_TO_PRESTO[c["Type"]]} for c in glue_columns] == expected


def test_view_sql_keeps_the_newest_version_of_each_contact(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from datetime import datetime, timezone

    columns = table_input("ContactRecordsParquetTable")["StorageDescriptor"]["Columns"]
    arrow_types = {
        "string": pa.string(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
        "bigint": pa.int64(),
        "map<string,string>": pa.map_(pa.string(), pa.string()),
    }
    schema = pa.schema([(c["Name"], arrow_types[c["Type"]]) for c in columns])

    def row(contact_id: str, updated: int, raw: str) -> dict:
        values = {c["Name"]: None for c in columns}
        values.update(
            contact_id=contact_id,
            last_update_timestamp=datetime(2025, 1, 2, 10, 0, updated, tzinfo=timezone.utc),
            attributes=[("k", raw)],
            raw=raw,
        )
        return values

    # GIVEN three versions of contact a (two in the same second) in two daily partitions, and one of contact b
    versions = {
        ("02", "day2.parquet"): [row("a", 1, "a-first"), row("b", 5, "b-only")],
        ("03", "day3.parquet"): [row("a", 9, "a-tie-1"), row("a", 9, "a-tie-2")],
    }
    for (day, name), rows in versions.items():
        directory = tmp_path / "year=2025" / "month=01" / f"day={day}"
        directory.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), directory / name)

    # WHEN the view's SQL runs over them
    connection = duckdb.connect()
    files = str(tmp_path / "**" / "*.parquet").replace("'", "''")
    connection.execute(
        "CREATE VIEW contact_records_parquet AS SELECT * FROM "
        f"read_parquet('{files}', hive_partitioning = true, hive_types_autocast = false)"
    )
    document, _ = presto_view()
    result = connection.execute(document["originalSql"])
    names = [d[0] for d in result.description]
    rows = [dict(zip(names, r)) for r in result.fetchall()]

    # THEN each contact appears once, as its newest version (raw breaking the same-second tie)
    assert names == [c["name"] for c in document["columns"]]
    assert sorted((r["contact_id"], r["raw"], r["day"]) for r in rows) == [
        ("a", "a-tie-2", "03"),
        ("b", "b-only", "02"),
    ]


# ------------------------------------------------------------------------------------------ metrics and alarms


def telemetry_names() -> tuple[str, list[str]]:
    """The EMF namespace and record metric names, as the Rust code defines them."""
    source = (ROOT / "shared" / "src" / "telemetry.rs").read_text()
    namespace = re.search(r'pub const NAMESPACE: &str = "([^"]+)"', source)
    names = re.findall(r'pub const RECORDS_[A-Z_]+: &str = "([^"]+)"', source)
    assert namespace and names
    return namespace.group(1), names


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_alarms_on_quarantined_records(function: str) -> None:
    _, _, name = FUNCTIONS[function]
    namespace, names = telemetry_names()
    alarm = resources()[function.replace("Function", "QuarantinedAlarm")]["Properties"]
    assert "RecordsQuarantined" in names
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, "RecordsQuarantined")
    assert alarm["Dimensions"] == [{"Name": "Function", "Value": name}]
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Sum", 300, 1)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "OpsTopic"}]


def dashboard() -> dict:
    body = resources()["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{[^}]*\}", "x", body))


def expand_metric_rows(rows: list[list]) -> list[list]:
    """CloudWatch's shorthand: "." repeats the value above, "..." the leading values of the row above."""
    expanded: list[list] = []
    for row in rows:
        values = [v for v in row if not isinstance(v, dict)]
        if values[:1] == ["..."]:
            previous = expanded[-1]
            values = previous[: len(previous) - len(values) + 1] + values[1:]
        else:
            values = [expanded[-1][i] if v == "." else v for i, v in enumerate(values)]
        expanded.append(values)
    return expanded


def test_dashboard_shows_every_record_metric_of_every_function() -> None:
    namespace, names = telemetry_names()
    shown = {
        tuple(row)
        for widget in dashboard()["widgets"]
        if widget["type"] == "metric"
        for row in expand_metric_rows(widget["properties"]["metrics"])
    }
    for _, _, function in FUNCTIONS.values():
        for metric in names:
            assert (namespace, metric, "Function", function) in shown


def test_failed_batches_page_the_ops_topic() -> None:
    everything = resources()
    bucket = everything["FailedBatchesBucket"]["Properties"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    rule = everything["FailedBatchesRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["bucket"]["name"] == [{"Ref": "FailedBatchesBucket"}]
    assert rule["EventPattern"]["detail-type"] == ["Object Created"]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "OpsTopic"}
    template = target["InputTransformer"]["InputTemplate"]
    assert template.startswith('"') and template.endswith('"') and "<key>" in template

    statements = {s["Sid"]: s for s in everything["OpsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    publish = statements["FailedBatchesRulePublishes"]
    assert publish["Principal"] == {"Service": "events.amazonaws.com"}
    assert publish["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["FailedBatchesRule", "Arn"]}}}
    # Replacing the default topic policy must not lock out the alarms.
    alarms = statements["CloudWatchAlarmsPublish"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":alarm:*")
    # The topic is encrypted: the publishing services must be able to use its key.
    key = everything["EncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
    key_users = {
        s["Principal"].get("Service") for s in key if "Principal" in s and isinstance(s["Principal"].get("Service"), str)
    }
    assert {"events.amazonaws.com", "cloudwatch.amazonaws.com"} <= key_users
