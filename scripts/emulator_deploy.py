"""Deploys template.yaml into ministack in each supported stream topology and checks what the functions did.

Run by scripts/deploy-emulator.sh (which builds the bootstraps and the replay tool, generates the day, runs the
local replay that serves as the oracle, and starts ministack); this script needs .venv-ministack's boto3.

For each topology: the template, with each `CodeUri: .` pointed at a zip of the function's debug bootstrap in the
emulator's S3, goes in by TemplateURL (it is over CloudFormation's 51,200-byte TemplateBody limit) with
UseEnhancedFanOut=false (the emulator has no stream consumers); an SQS queue is subscribed to the alert topic;
`connect-replay produce` puts the day into the stack's streams; then, once the functions are done:

- the archive's contact-record lines are exactly the oracle's (every record, nothing else, nothing lost);
- agent events and segments are archived exactly as the oracle does when ArchiveAgentEvents / ArchiveSegments are
  true, and not at all when false, whatever stream brings them;
- the agent board (status, activity, newest event per agent) equals the oracle's;
- the alerts in the queue are the oracle's alerts, each once;
- each function quarantined exactly the invalid records of the streams it reads (so on a mixed stream no valid
  record of another kind is quarantined: each function does only its own work).

What ministack does not model (enhanced fan-out, partial batch responses, bisect, retry limits, the on-failure
destination, KMS, IAM, TTL) is covered by other tests; the README lists which.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from cfn_eval import kinds_read  # scripts/ is on the path: this file is run as a script from there

ROOT = Path(__file__).resolve().parent.parent
CODE_BUCKET = "deploy-emulator-code"
FUNCTIONS = ("contact-archiver", "agent-state", "supervisor-alerts")
# The oracle (local replay) names its streams after the generator's: kind → the ARN name it used.
ORACLE_STREAM = {"contact-records": "connect-ctr", "agent-events": "connect-agent-events", "segments": "connect-contact-lens"}
KINDS = tuple(ORACLE_STREAM)

# Topology → parameters, and which kinds share which stream.
TOPOLOGIES: dict[str, dict[str, Any]] = {
    "three-streams": {
        "parameters": {"StreamLayout": "three-streams", "ArchiveAgentEvents": "true", "ArchiveSegments": "true"},
        "groups": {"contact-records": "r", "agent-events": "a", "segments": "s"},
    },
    "contact-records-and-agent-events": {
        "parameters": {"StreamLayout": "contact-records-and-agent-events"},
        "groups": {"contact-records": "r", "agent-events": "r", "segments": "s"},
        "passed_in": True,  # the shared stream exists before the stack, as Connect users have it
    },
    "one-stream": {
        "parameters": {"StreamLayout": "one-stream", "ArchiveSegments": "true"},
        "groups": {"contact-records": "r", "agent-events": "r", "segments": "r"},
    },
}
class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        if ok:
            self.passed += 1
            print(f"  ok   {name}")
        else:
            self.failed.append(name)
            print(f"  FAIL {name}: {detail}")


def clients(endpoint: str) -> dict[str, Any]:
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    return {n: session.client(n, endpoint_url=endpoint) for n in
            ("s3", "cloudformation", "lambda", "kinesis", "sqs", "sns", "dynamodb")}


def zip_bootstrap(binary: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, binary.read_bytes())
    return buf.getvalue()


def emulator_template(template: str) -> str:
    """template.yaml with each function's `CodeUri: .` pointing at its zip in the emulator's S3."""
    out, binary = [], None
    for line in template.splitlines(keepends=True):
        m = re.match(r"\s+Binary:\s*(\S+)", line)
        if m:
            binary = m.group(1)
        m = re.match(r"(\s+)CodeUri:\s*\.\s*$", line)
        if m:
            if binary is None:
                raise SystemExit("emulator_deploy: a CodeUri comes before any BuildProperties.Binary")
            line = f"{m.group(1)}CodeUri: s3://{CODE_BUCKET}/{binary}.zip\n"
        out.append(line)
    body = "".join(out)
    # ministack anchors a LATEST mapping when its poller first reaches it, not when the mapping is created, so records
    # put right after the stack is created could be skipped; the streams are new, so TRIM_HORIZON reads the same.
    body = re.sub(r"StartingPosition: LATEST\b", "StartingPosition: TRIM_HORIZON", body)
    if body.count(f"s3://{CODE_BUCKET}/") != len(FUNCTIONS):
        raise SystemExit("emulator_deploy: expected one CodeUri per function")
    return body


def deploy(c: dict[str, Any], endpoint: str, stack: str, template_body: str, parameters: dict[str, str]) -> dict:
    key = f"{stack}/template.yaml"
    c["s3"].put_object(Bucket=CODE_BUCKET, Key=key, Body=template_body.encode())
    c["cloudformation"].create_stack(
        StackName=stack,
        TemplateURL=f"{endpoint}/{CODE_BUCKET}/{key}",
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        described = c["cloudformation"].describe_stacks(StackName=stack)["Stacks"][0]
        status = described["StackStatus"]
        if status == "CREATE_COMPLETE":
            return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        if status.endswith("FAILED") or status.startswith("ROLLBACK"):
            events = c["cloudformation"].describe_stack_events(StackName=stack)["StackEvents"]
            reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events
                       if "FAILED" in e["ResourceStatus"]]
            raise SystemExit(f"emulator_deploy: {stack} {status}: {reasons[:5]}")
        time.sleep(0.2)
    raise SystemExit(f"emulator_deploy: {stack} not created in 120 s")


def loopback_env(endpoint: str) -> dict[str, str]:
    """The environment for a process that must talk to the emulator and nothing else: no per-service endpoint, profile
    or proxy can send a call elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_ENDPOINT_URL_") and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
           and k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
    return {**env, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost"}


# --------------------------------------------------------------------------------------------------- reading back


def s3_objects(c: dict[str, Any], bucket: str) -> dict[str, bytes]:
    out = {}
    for page in c["s3"].get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = c["s3"].get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


def local_objects(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def ndjson_lines(objects: dict[str, bytes], kind_prefix: str) -> Counter:
    """The lines of every gzip NDJSON object under `<kind_prefix>/` (the archive prefix is empty here)."""
    lines: Counter = Counter()
    for key, body in objects.items():
        if key.startswith(kind_prefix + "/") and key.endswith(".ndjson.gz"):
            lines.update(gzip.decompress(body).decode("utf-8").splitlines())
    return lines


def quarantined(objects: dict[str, bytes]) -> dict[str, list[dict]]:
    """function → its quarantine entries."""
    out: dict[str, list[dict]] = {f: [] for f in FUNCTIONS}
    for key, body in objects.items():
        if key.startswith("quarantine/"):
            entry = json.loads(body)
            out.setdefault(entry["function"], []).append(entry)
    return out


def board(items: list[dict]) -> dict[str, tuple]:
    return {
        i["pk"]: (i.get("status"), i.get("activity"), i.get("event_order"), i.get("logged_in"))
        for i in items if i.get("sk") == "CURRENT"
    }


def dynamo_items(c: dict[str, Any], table: str) -> list[dict]:
    deserialize = TypeDeserializer().deserialize
    items = []
    for page in c["dynamodb"].get_paginator("scan").paginate(TableName=table):
        items += [{k: deserialize(v) for k, v in i.items()} for i in page["Items"]]
    return items


def local_items(path: Path) -> list[dict]:
    """The replay's JSON table: a list of items in DynamoDB's attribute-value JSON."""
    deserialize = TypeDeserializer().deserialize
    items = json.loads(path.read_text())
    if items and isinstance(next(iter(items[0].values())), dict):
        return [{k: _plain(deserialize(v)) for k, v in i.items()} for i in items]
    return items


def _plain(value: Any) -> Any:
    return int(value) if hasattr(value, "as_integer_ratio") and not isinstance(value, float) else value


def drain_queue(c: dict[str, Any], url: str, into: list[dict]) -> None:
    while True:
        got = c["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return
        for m in messages:
            into.append(json.loads(json.loads(m["Body"])["Message"]))
            c["sqs"].delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


# --------------------------------------------------------------------------------------------------- one topology


def run_topology(c, endpoint, name, spec, args, template_body, oracle, checks) -> dict[str, float]:
    stack = f"t-{name}"[:40]
    parameters = {"UseEnhancedFanOut": "false", **spec["parameters"], "AlertRules": oracle["rules"],
                  # Glue databases are per account: one per stack here.
                  "GlueDatabaseName": re.sub(r"[^a-z0-9_]", "_", stack.lower())}
    if spec.get("passed_in"):
        stream = f"{stack}-shared"
        c["kinesis"].create_stream(StreamName=stream, ShardCount=1)
        c["kinesis"].get_waiter("stream_exists").wait(StreamName=stream)
        arn = c["kinesis"].describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
        parameters["ContactRecordStreamArn"] = arn
    started = time.monotonic()
    outputs = deploy(c, endpoint, stack, template_body, parameters)
    deployed = time.monotonic() - started
    print(f"{name}: stack created in {deployed:.2f} s")

    # The stack's mappings, as the emulator holds them: one per (function, distinct stream).
    functions = {f: outputs[o].split(":")[-1] for f, o in (("contact-archiver", "ContactArchiverFunctionArn"),
                                                          ("agent-state", "AgentStateFunctionArn"),
                                                          ("supervisor-alerts", "SupervisorAlertsFunctionArn"))}
    streams = {"contact-records": outputs["ContactRecordStreamArnOut"], "agent-events": outputs["AgentEventStreamArnOut"],
               "segments": outputs["ContactLensStreamArnOut"]}
    mappings = [m for m in c["lambda"].list_event_source_mappings()["EventSourceMappings"]
                if m["FunctionArn"].split(":")[-1] in functions.values()]
    for function, fn_name in functions.items():
        mapped = sorted(m["EventSourceArn"] for m in mappings if m["FunctionArn"].split(":")[-1] == fn_name)
        wanted = sorted({streams[k] for k in kinds_read(function, parameters)})
        checks.check(f"{name}: {function} has one mapping per distinct stream it needs", mapped == wanted,
                     f"{mapped} != {wanted}")
    groups = spec["groups"]
    for a in KINDS:
        for b in KINDS:
            if a < b:
                same = groups[a] == groups[b]
                checks.check(f"{name}: {a} and {b} {'share' if same else 'do not share'} a stream",
                             (streams[a] == streams[b]) == same, f"{streams[a]} vs {streams[b]}")

    queue = c["sqs"].create_queue(QueueName=f"{stack}-alerts")["QueueUrl"]
    queue_arn = c["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    c["sns"].subscribe(TopicArn=outputs["AlertTopicArn"], Protocol="sqs", Endpoint=queue_arn)
    time.sleep(args.settle_before)  # the pollers see the new mappings (TRIM_HORIZON: nothing is missed either way)

    env = loopback_env(endpoint)
    produce = [args.replay, "produce", str(args.day), "--quiet",
               "--contact-record-stream", streams["contact-records"],
               "--agent-event-stream", streams["agent-events"],
               "--contact-lens-stream", streams["segments"]]
    started = time.monotonic()
    subprocess.run(produce, check=True, env=env)
    produced = time.monotonic() - started
    rate = oracle["records"] / produced
    print(f"{name}: produced {oracle['records']} records in {produced:.2f} s ({rate:,.0f} records/s)")

    # Wait until the functions are done: the archive, the board and the alerts stop changing and match, or time out.
    bucket = outputs["ArchiveBucketName"]
    alerts: list[dict] = []
    deadline = time.monotonic() + args.timeout
    last = None
    while True:
        objects = s3_objects(c, bucket)
        drain_queue(c, queue, alerts)
        current = (len(objects), sum(len(v) for v in objects.values()), len(alerts),
                   board(dynamo_items(c, outputs["AgentStateTableName"])))
        done = expectations_met(objects, alerts, current[3], oracle, parameters, streams)
        if (done and current == last) or time.monotonic() > deadline:
            break
        last = current
        time.sleep(2)
    settled = time.monotonic() - started

    archived = ndjson_lines(objects, "contact-records")
    missing = oracle["ctr_lines"] - archived
    extra = archived - oracle["ctr_lines"]
    checks.check(f"{name}: every contact record archived, once, nothing else ({sum(oracle['ctr_lines'].values())})",
                 not missing and not extra, f"{sum(missing.values())} missing, {sum(extra.values())} extra")
    for kind, switch in (("agent-events", "ArchiveAgentEvents"), ("segments", "ArchiveSegments")):
        prefix = "agent-events" if kind == "agent-events" else "analysis-segments"
        got = ndjson_lines(objects, prefix)
        if parameters.get(switch) == "true":
            checks.check(f"{name}: {kind} archived as the oracle does", got == oracle["lines"][prefix],
                         f"{sum(got.values())} vs {sum(oracle['lines'][prefix].values())} lines")
        else:
            checks.check(f"{name}: no {kind} archived with {switch}=false", not got, f"{sum(got.values())} lines")
    parquet = [k for k in objects if k.startswith("contact-records-parquet/") and k.endswith(".parquet")]
    checks.check(f"{name}: Parquet objects written (ArchiveFormat=both)", bool(parquet))

    got_board = board(dynamo_items(c, outputs["AgentStateTableName"]))
    differ = sorted(a for a in set(got_board) | set(oracle["board"]) if got_board.get(a) != oracle["board"].get(a))
    checks.check(f"{name}: agent board equals the oracle's ({len(oracle['board'])} agents)", not differ,
                 f"{len(differ)} agents differ, e.g. {differ[:1]}: {[got_board.get(d) for d in differ[:1]]} vs "
                 f"{[oracle['board'].get(d) for d in differ[:1]]}")

    ids = Counter(a["alertId"] for a in alerts)
    checks.check(f"{name}: the oracle's alerts, each once ({len(oracle['alerts'])})",
                 ids == Counter(oracle["alerts"]), f"got {sorted(ids.items())[:5]}, want {sorted(oracle['alerts'])[:5]}")

    got_q = quarantined(objects)
    for function in FUNCTIONS:
        wanted = expected_quarantine(function, oracle, parameters, streams)
        got = Counter(e["dataBase64"] for e in got_q.get(function, []))
        checks.check(f"{name}: {function} quarantined exactly the invalid records of its streams ({sum(wanted.values())})",
                     got == wanted, f"got {sum(got.values())}, want {sum(wanted.values())}; reasons "
                     f"{Counter(e['reasonCode'] for e in got_q.get(function, []))}")
    return {"deploy_s": deployed, "produce_s": produced, "records_per_s": rate, "settle_s": settled}


def expected_quarantine(function, oracle, parameters, streams) -> Counter:
    """The invalid records (their data) on the streams `function` reads: what it must have quarantined, each once."""
    reads = {streams[k] for k in kinds_read(function, parameters)}
    return Counter(data for kind, data in oracle["invalid"] if streams[kind] in reads)


def expectations_met(objects, alerts, got_board, oracle, parameters, streams) -> bool:
    """Whether everything the checks expect has landed (the functions are done), before the checks say what differs."""
    if ndjson_lines(objects, "contact-records") != oracle["ctr_lines"] or got_board != oracle["board"]:
        return False
    if Counter(a["alertId"] for a in alerts) != Counter(oracle["alerts"]):
        return False
    for prefix, switch in (("agent-events", "ArchiveAgentEvents"), ("analysis-segments", "ArchiveSegments")):
        if parameters.get(switch) == "true" and ndjson_lines(objects, prefix) != oracle["lines"][prefix]:
            return False
    got_q = quarantined(objects)
    for function in FUNCTIONS:
        wanted = expected_quarantine(function, oracle, parameters, streams)
        if Counter(e["dataBase64"] for e in got_q.get(function, [])) != wanted:
            return False
    return True


def load_oracle(out: Path, day: Path, rules: str) -> dict[str, Any]:
    objects = local_objects(out / "archive")
    q = quarantined(objects)
    by_arn = {v: k for k, v in ORACLE_STREAM.items()}
    # supervisor-alerts reads all three streams in the oracle: its quarantine is every invalid record, by stream.
    invalid = [(by_arn[e["streamArn"].rsplit("/", 1)[1]], e["dataBase64"]) for e in q["supervisor-alerts"]]
    alerts = [json.loads(line)["body"]["alertId"] for line in (out / "alerts.jsonl").read_text().splitlines() if line]
    return {
        "records": sum(1 for line in day.read_text().splitlines() if line),
        "ctr_lines": ndjson_lines(objects, "contact-records"),
        "lines": {p: ndjson_lines(objects, p) for p in ("agent-events", "analysis-segments")},
        "board": board(local_items(out / "agent-state.json")),
        "alerts": alerts,
        "invalid": invalid,
        "rules": rules,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--day", type=Path, required=True, help="connect-replay generate output (jsonl)")
    p.add_argument("--oracle", type=Path, required=True, help="connect-replay run --out directory for the same day")
    p.add_argument("--rules", type=Path, required=True, help="the rules both the oracle and the stacks use")
    p.add_argument("--replay", required=True, help="the connect-replay binary")
    p.add_argument("--bin-dir", type=Path, required=True, help="directory of the x86-64 function binaries")
    p.add_argument("--topology", action="append", choices=sorted(TOPOLOGIES), help="default: all")
    p.add_argument("--settle-before", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--figures", type=Path, help="write the timings here as JSON")
    args = p.parse_args()

    c = clients(args.endpoint)
    rules = json.dumps(json.loads(args.rules.read_text()), separators=(",", ":"))
    oracle = load_oracle(args.oracle, args.day, rules)
    print(f"oracle: {oracle['records']} records, {sum(oracle['ctr_lines'].values())} contact records, "
          f"{len(oracle['board'])} agents, {len(oracle['alerts'])} alerts, {len(oracle['invalid'])} invalid records")
    if not oracle["alerts"] or not oracle["invalid"] or not oracle["board"]:
        raise SystemExit("emulator_deploy: the day must produce alerts, invalid records and agents to check anything")

    c["s3"].create_bucket(Bucket=CODE_BUCKET)
    for function in FUNCTIONS:
        c["s3"].put_object(Bucket=CODE_BUCKET, Key=f"{function}.zip", Body=zip_bootstrap(args.bin_dir / function))
    template_body = emulator_template((ROOT / "template.yaml").read_text())

    checks = Checks()
    figures = {}
    for name in args.topology or list(TOPOLOGIES):
        figures[name] = run_topology(c, args.endpoint, name, TOPOLOGIES[name], args, template_body, oracle, checks)
    if args.figures:
        args.figures.write_text(json.dumps(figures, indent=2))
    print(f"\nemulator deploy: {checks.passed} checks passed, {len(checks.failed)} failed")
    for name, f in figures.items():
        print(f"  {name}: deploy {f['deploy_s']:.2f} s, produce {f['records_per_s']:,.0f} records/s, "
              f"functions done {f['settle_s']:.1f} s after the first put")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
