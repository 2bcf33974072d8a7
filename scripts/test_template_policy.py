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


def test_real_template_has_the_three_function_policies() -> None:
    _, documents = checker.check_template(str(TEMPLATE))
    assert documents == 3


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
    ]


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
