#!/usr/bin/env python3
"""The Python side of scripts/e2e.sh: creates the emulated resources from template.yaml, derives the functions'
environment from it, and checks what the real function binaries wrote.

Subcommands (e2e.sh runs them in this order; all state lives in one work directory):

  setup     creates, in moto, the archive and forwarder parking buckets, AgentStateTable, AlertStateTable,
            ForwarderStateTable (key schema, attribute definitions, GSIs, billing mode and TTL taken from
            template.yaml as cfn-lint decodes it), the alert topic and an SQS queue subscribed to it (raw delivery
            off); sets the template's ForwarderSubscriptions parameter to a document naming the webhook receiver
            e2e.sh started (--webhook-receiver; its secret comes from the environment variable E2E_WEBHOOK_SECRET,
            which the subscriptions name as `env:`); resolves every function's Environment.Variables (Globals
            merged, !Ref resolved to the created resources or to parameter values, !If on a condition evaluated
            with those parameter values by cfn_eval) plus what the LoggingConfig makes Lambda set, and writes them
            as an env file for `cargo lambda watch`.
  response  checks one `cargo lambda invoke` result: a partial batch response with an empty batchItemFailures.
  verify    --phase first: S3 (NDJSON byte-equality, Parquet, quarantine), DynamoDB (current items, history,
            GSIs, TTLs), SQS (the expected alerts, once each, no personal data), the webhook receiver (every
            expected message once, in order per key, every signature verified by the reference library, no
            personal data) and nothing parked; saves a snapshot.
            --phase replay: after the same envelopes were invoked again, nothing new anywhere; the receiver got
            only webhook ids it had already seen.
  logs      the functions' log output holds no phone number and no transcript text.
  summary   prints "e2e: N passed, M failed" and exits non-zero if anything failed.

Every check appends one JSON line to <work>/results.jsonl, so the summary counts checks of all steps. Only
127.0.0.1 / localhost endpoints are accepted.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable

import cfn_eval

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
ENVELOPES = EVENTS / "envelopes"
TEMPLATE = ROOT / "template.yaml"
RULES_EXAMPLE = ROOT / "functions" / "supervisor-alerts" / "rules.example.json"

# The resources the functions' environment refers to, and what `Ref` returns for each type.
TABLES = ("AgentStateTable", "AlertStateTable", "ForwarderStateTable")
BUCKET = "ArchiveBucket"
PARKING_BUCKET = "ForwarderParkingBucket"
TOPIC = "AlertTopic"

# Functions of the template this run does not start: `cargo lambda invoke` sends them no Kinesis envelope, so their
# environment is neither resolved nor merged into the one `cargo lambda watch` gives every function.
NOT_RUN = {
    "agent-board": "the HTTP API function (page and JSON API); its own tests cover it",
}

# Ref of the pseudo parameters (only used if the template's environment ever names one).
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "e2e",
}

# What the envelopes must produce (events/README.md documents the fixtures; the Rust tests assert the same).
ARCHIVER_ENVELOPES = ("contact-archiver.json", "mixed-bad.json")
ALERT_ENVELOPES = (
    "supervisor-alerts-agent-events.json",
    "supervisor-alerts-segments.json",
    "supervisor-alerts-ctr.json",
)
EXPECTED_ALERTS = {"angry-customer", "break-too-long", "escalation-requested", "low-csat", "unplanned-break"}
# Alerts about jdoe's voice call and breaks: the segment alerts name him only through the contact → agent join.
JDOE_ALERTS = {"angry-customer", "break-too-long", "escalation-requested", "unplanned-break"}
# jdoe's finished episodes over the day of agent-state.json (the same list the agent-state tests assert).
JDOE_HISTORY = [
    ("STATUS", "Offline", "2026-11-02T08:00:02.318Z", "2026-11-02T08:01:00.102Z"),
    ("STATUS", "Available", "2026-11-02T08:01:00.102Z", "2026-11-02T10:00:00.731Z"),
    ("ACW", "ad92bd21-3930-4256-a9c6-2e3d1e90e82b", "2026-11-02T08:12:40.150Z", "2026-11-02T08:14:10.604Z"),
    ("STATUS", "Break", "2026-11-02T10:00:00.731Z", "2026-11-02T10:45:12.090Z"),
    ("STATUS", "Unplanned break", "2026-11-02T10:45:12.090Z", "2026-11-02T11:15:03.477Z"),
    ("STATUS", "Available", "2026-11-02T11:15:03.477Z", "2026-11-02T11:29:58.006Z"),
]

# stream-forwarder: the envelopes it is invoked with (one per stream, as its mappings deliver them) and the
# subscriptions it gets (template parameter ForwarderSubscriptions): one taking every agent event and contact
# record, one message per request; one batching, agent events of three types only (no heartbeats) and contact
# records. The receiver serves each on its own path. `secret_arn: env:…` is the forwarder's local-run form.
FORWARDER_ENVELOPES = ("agent-state.json", "contact-archiver.json")
FORWARDER_SECRET_VAR = "E2E_WEBHOOK_SECRET"
FORWARDER_SUBSCRIPTIONS = (
    {"name": "e2e-single", "path": "/single", "kinds": ["agent_event", "contact_record"]},
    {
        "name": "e2e-batched",
        "path": "/batched",
        "kinds": ["agent_event", "contact_record"],
        "event_types": ["LOGIN", "LOGOUT", "STATE_CHANGE"],
        "batch": {"max_messages": 4},
    },
)

E164 = re.compile(r"\+\d{8,15}")
UTF8_BOM = b"\xef\xbb\xbf"


# ---------------------------------------------------------------------------------------------------------------
# Results


class Results:
    """Records checks (printed as they happen) in a JSON-lines file shared by all subcommands."""

    def __init__(self, path: Path | None):
        self.path = path
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        line = f"  {'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else "")
        print(line, flush=True)
        if not ok:
            self.failed += 1
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"name": name, "ok": bool(ok), "detail": detail}) + "\n")
        return ok

    def equal(self, name: str, actual: Any, expected: Any) -> bool:
        return self.check(name, actual == expected, f"expected {expected!r}, got {actual!r}")


# ---------------------------------------------------------------------------------------------------------------
# Template


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as cfn-lint decodes it (short-form intrinsics become their long forms), as plain JSON types."""
    from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]

    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Parameter defaults with overrides applied, checked against AllowedValues / AllowedPattern like CloudFormation."""
    params = template.get("Parameters", {})
    unknown = set(overrides) - set(params)
    if unknown:
        raise SystemExit(f"e2e_check: unknown template parameter(s): {sorted(unknown)}")
    values: dict[str, str] = {}
    for name, spec in params.items():
        value = overrides.get(name, spec.get("Default"))
        if value is None:
            continue
        value = str(value)
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(a) for a in allowed]:
            raise SystemExit(f"e2e_check: parameter {name}={value!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise SystemExit(f"e2e_check: parameter {name}={value!r} does not match {pattern}")
        values[name] = value
    return values


def resolve(
    value: Any, refs: dict[str, str], where: str, condition: Callable[[str], bool] | None = None
) -> str | None:
    """A plain string, a Ref, or an Fn::If on a template condition (`condition` evaluates it, with the parameter
    values the test deploys); None for AWS::NoValue (the variable is left out). Anything else in a function's
    environment is refused (the test would drift)."""
    if isinstance(value, (str, int, float, bool)) and not isinstance(value, dict):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if value == {"Ref": "AWS::NoValue"}:
        return None
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name in refs:
            return refs[name]
        raise SystemExit(f"e2e_check: {where}: Ref {name} is not a resource this test creates nor a parameter")
    if isinstance(value, dict) and set(value) == {"Fn::If"} and condition is not None:
        name, then, otherwise = value["Fn::If"]
        try:
            chosen = then if condition(name) else otherwise
        except (KeyError, LookupError, ValueError) as e:
            raise SystemExit(f"e2e_check: {where}: condition {name} cannot be evaluated: {e}") from e
        return resolve(chosen, refs, where, condition)
    raise SystemExit(f"e2e_check: {where}: unsupported value {value!r}; extend e2e_check.resolve")


def function_environments(template: dict[str, Any], refs: dict[str, str]) -> dict[str, dict[str, str]]:
    """Binary name → the environment Lambda gives that function under this template (the functions in NOT_RUN
    left out).

    SAM merges Globals.Function.Environment.Variables with each function's own (the function wins), and Globals
    LoggingConfig with the function's; with LogFormat JSON Lambda sets AWS_LAMBDA_LOG_FORMAT and
    AWS_LAMBDA_LOG_LEVEL (the application log level), which lambda_runtime's subscriber honours.
    """
    globals_fn = template.get("Globals", {}).get("Function", {})
    global_vars = globals_fn.get("Environment", {}).get("Variables", {})
    global_logging = globals_fn.get("LoggingConfig", {})
    parameters = {k: v for k, v in refs.items() if k in template.get("Parameters", {})}
    stack: list[cfn_eval.Stack] = []

    def condition(name: str) -> bool:
        """A template condition under the parameter values in `refs` (cfn_eval evaluates it; built on first use)."""
        if not stack:
            stack.append(cfn_eval.Stack(template, parameters))
        return stack[0].condition(name)

    envs: dict[str, dict[str, str]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if not binary:
            raise SystemExit(f"e2e_check: {logical_id} has no Metadata.BuildProperties.Binary")
        if binary in NOT_RUN:
            continue
        props = resource.get("Properties", {})
        variables = {**global_vars, **props.get("Environment", {}).get("Variables", {})}
        resolved = {
            k: resolve(v, refs, f"{logical_id}.Environment.Variables.{k}", condition) for k, v in variables.items()
        }
        env = {k: v for k, v in resolved.items() if v is not None}
        logging = {**global_logging, **props.get("LoggingConfig", {})}
        if str(logging.get("LogFormat", "Text")).upper() == "JSON":
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            if "ApplicationLogLevel" in logging:
                env["AWS_LAMBDA_LOG_LEVEL"] = str(logging["ApplicationLogLevel"])
        envs[binary] = env
    return envs


def union_environment(envs: dict[str, dict[str, str]]) -> dict[str, str]:
    """`cargo lambda watch` gives every function one environment: the union, refused if two functions disagree."""
    union: dict[str, str] = {}
    for binary, env in sorted(envs.items()):
        for key, value in env.items():
            if key in union and union[key] != value:
                raise SystemExit(
                    f"e2e_check: {key} differs between functions ({union[key]!r} vs {value!r} in {binary})"
                )
            union[key] = value
    return union


def env_file_text(env: dict[str, str]) -> str:
    """KEY='value' lines in the dialect cargo-lambda's env-file reader parses (single quotes keep JSON intact)."""
    lines = []
    for key, value in sorted(env.items()):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise SystemExit(f"e2e_check: unusable variable name {key!r}")
        if any(c in value for c in "'\\\n\r"):
            raise SystemExit(
                f"e2e_check: {key}: a value with quotes, backslashes or line breaks cannot go in the env file"
            )
        lines.append(f"{key}='{value}'")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# AWS clients (moto on 127.0.0.1 only)


def endpoint() -> str:
    url = os.environ.get("AWS_ENDPOINT_URL", "")
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"e2e_check: AWS_ENDPOINT_URL={url!r} is not a local emulator; refusing to run")
    for key, value in os.environ.items():
        if key.startswith("AWS_ENDPOINT_URL_") and urllib.parse.urlsplit(value).hostname not in (
            "127.0.0.1",
            "localhost",
        ):
            raise SystemExit(f"e2e_check: {key}={value!r} is not a local emulator; refusing to run")
    return url


def client(service: str):
    import boto3
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
    return boto3.client(
        service, endpoint_url=endpoint(), region_name=os.environ.get("AWS_REGION", "us-east-1"), config=config
    )


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


def envelope_records(name: str) -> list[dict[str, Any]]:
    """The records of an envelope: sequence number, shard, stream ARN, arrival time and decoded data."""
    doc = json.loads((ENVELOPES / name).read_text(encoding="utf-8"))
    out = []
    for record in doc["Records"]:
        kinesis = record["kinesis"]
        out.append(
            {
                "seq": kinesis["sequenceNumber"],
                "shard": record["eventID"].split(":", 1)[0],
                "stream_arn": record["eventSourceARN"],
                "arrival": kinesis["approximateArrivalTimestamp"],
                "data": base64.b64decode(kinesis["data"]),
            }
        )
    return out


def bad_fixtures() -> dict[bytes, dict[str, Any]]:
    """events/bad files by content, with their MANIFEST entry."""
    manifest = json.loads((EVENTS / "bad" / "MANIFEST.json").read_text(encoding="utf-8"))
    return {(EVENTS / "bad" / entry["file"]).read_bytes(): entry for entry in manifest}


def split_archiver_records() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(good, bad) records of the archiver's envelopes; a record is bad when it is an invalid events/bad file."""
    bad_by_bytes = bad_fixtures()
    good, bad = [], []
    for name in ARCHIVER_ENVELOPES:
        for record in envelope_records(name):
            entry = bad_by_bytes.get(record["data"])
            if entry is not None and entry["expect"] == "invalid":
                bad.append({**record, "manifest": entry, "envelope": name})
            else:
                good.append({**record, "envelope": name})
    return good, bad


def raw_fixture(path: str) -> dict[str, Any]:
    return json.loads((EVENTS / "raw" / path).read_text(encoding="utf-8"))


def personal_data() -> tuple[set[str], set[str]]:
    """(phone numbers, transcript texts) that occur in the fixtures and must never leave the functions."""
    phones: set[str] = set()
    texts: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("Content", "PartialContent") and isinstance(value, str) and len(value) >= 12:
                    texts.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (EVENTS / "raw").rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        phones.update(E164.findall(text))
        walk(json.loads(text))
    return phones, texts


def personal_data_found(text: str, phones: set[str], texts: set[str]) -> list[str]:
    found = [p for p in phones if p in text] + [m for m in E164.findall(text) if m not in phones]
    found += [t[:40] + "…" for t in texts if t in text]
    return found


def customer_phones() -> set[str]:
    """The customers' phone numbers in the fixtures: every number but the contact centre's own (SystemEndpoint),
    which a contact record may carry to a webhook."""
    found: set[str] = set()

    def walk(node: Any, inside_system: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, inside_system or key == "SystemEndpoint")
        elif isinstance(node, list):
            for value in node:
                walk(value, inside_system)
        elif isinstance(node, str) and not inside_system:
            found.update(E164.findall(node))

    for path in (EVENTS / "raw").rglob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")), False)
    return found


# ---------------------------------------------------------------------------------------------------------------
# stream-forwarder: what DESIGN.md says it sends


def forwarder_message(data: bytes) -> dict[str, Any] | None:
    """The webhook message a record becomes (functions/stream-forwarder/DESIGN.md): kind, `webhook-id`, key and
    (agent events) event type. Agent event: `ae_<EventId>`, keyed by AgentARN; contact record:
    `cr_<ContactId>_<LastUpdateTimestamp as written>` (empty when absent), keyed by ContactId. None for anything
    else (segments, records that are not JSON objects)."""
    try:
        record = json.loads(data.removeprefix(UTF8_BOM))
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    if all(isinstance(record.get(k), str) for k in ("EventType", "EventId", "AgentARN")):
        return {
            "kind": "agent_event",
            "id": f"ae_{record['EventId']}",
            "key": record["AgentARN"],
            "event_type": record["EventType"],
        }
    contact = record.get("ContactId")
    if isinstance(contact, str) and contact and not {"Segments", "StreamingEventType", "EventType"} & set(record):
        updated = record.get("LastUpdateTimestamp")
        return {
            "kind": "contact_record",
            "id": f"cr_{contact}_{updated if isinstance(updated, str) else ''}",
            "key": contact,
            "event_type": None,
        }
    return None


def webhook_batch_id(ids: Iterable[str]) -> str:
    """A batch request's `webhook-id`: `batch_` + the first 32 hex of sha256 over its messages' ids, one a line."""
    return "batch_" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]


def forwarder_expected(subscription: dict[str, Any], envelopes: Iterable[str] = FORWARDER_ENVELOPES) -> dict[str, Any]:
    """What `subscription` must receive when the forwarder is invoked once per envelope: `messages`, [{id, key}] in
    stream order (the receiver's order and loss checks take them), and `requests`, the request `webhook-id`s in
    order (the message ids; with `batch`, the batch ids of each invocation's messages in chunks of max_messages)."""
    size = int((subscription.get("batch") or {}).get("max_messages", 1))
    types = subscription.get("event_types")
    messages: list[dict[str, str]] = []
    requests: list[str] = []
    for name in envelopes:
        taken = []
        for record in envelope_records(name):
            message = forwarder_message(record["data"])
            if message is None or message["kind"] not in subscription["kinds"]:
                continue
            if message["kind"] == "agent_event" and types is not None and message["event_type"] not in types:
                continue
            taken.append(message)
        messages += [{"id": m["id"], "key": m["key"]} for m in taken]
        if size <= 1:
            requests += [m["id"] for m in taken]
        else:
            requests += [webhook_batch_id(m["id"] for m in taken[i : i + size]) for i in range(0, len(taken), size)]
    return {"messages": messages, "requests": requests}


def forwarder_subscriptions(receiver_url: str, secret_var: str = FORWARDER_SECRET_VAR) -> dict[str, Any]:
    """The subscriptions document of FORWARDER_SUBSCRIPTIONS: each of FORWARDER_SUBSCRIPTIONS on its path of the
    receiver, signed with the secret in the environment variable `secret_var`. The receiver must be on 127.0.0.1."""
    parts = urllib.parse.urlsplit(receiver_url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or not parts.port:
        raise SystemExit(f"e2e_check: webhook receiver {receiver_url!r} is not http://127.0.0.1:<port>/")
    base = f"http://127.0.0.1:{parts.port}"
    subscriptions = []
    for spec in FORWARDER_SUBSCRIPTIONS:
        subscription = {k: v for k, v in spec.items() if k != "path"}
        subscription["url"] = base + spec["path"]
        subscription["secret_arn"] = f"env:{secret_var}"
        subscriptions.append(subscription)
    return {"subscriptions": subscriptions}


def webhook_personal_data(state: dict[str, Any], customers: set[str]) -> list[str]:
    """Personal data that reached the receiver (its /_state): any CustomerEndpoint, Attributes or transcript field
    in a body, or a phone number other than the contact centre's own SystemEndpoint address (the receiver's
    findings, per request); and, read independently from every recorded message, a customer's number or one of
    those fields. Each problem names where, never the value."""
    problems = []
    for request in state.get("requests", []):
        for finding in request.get("personal_data") or []:
            own_number = (
                finding.get("kind") == "phone"
                and str(finding.get("where", "")).endswith("SystemEndpoint.Address")
                and finding.get("value") not in customers
            )
            if not own_number:
                where = f"{request['path']} {request['webhook_id']}"
                problems.append(f"{where}: {finding.get('kind')} at {finding.get('where')}")

    def keys(node: Any) -> Iterable[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from keys(value)
        elif isinstance(node, list):
            for value in node:
                yield from keys(value)

    for record in state.get("records", []):
        text = json.dumps(record.get("data"), ensure_ascii=False)
        if any(number in text for number in customers):
            problems.append(f"{record['path']} {record['id']}: a customer's phone number")
        personal = sorted({"CustomerEndpoint", "Attributes", "Transcript", "Utterance"} & set(keys(record.get("data"))))
        if personal:
            problems.append(f"{record['path']} {record['id']}: fields {personal}")
    return problems


def webhook_replay_problems(state: dict[str, Any], first_requests: int, first_records: int) -> list[str]:
    """What the receiver got after the first pass (requests[first_requests:], records[first_records:]) that is not
    a repeat: a request whose webhook-id that path had not seen in the first pass, a message not marked duplicate."""
    seen: dict[str, set[str]] = collections.defaultdict(set)
    for request in state["requests"][:first_requests]:
        seen[request["path"]].add(request["webhook_id"])
    problems = [
        f"{r['path']}: new webhook-id {r['webhook_id']}"
        for r in state["requests"][first_requests:]
        if r["webhook_id"] not in seen[r["path"]]
    ]
    problems += [
        f"{r['path']}: message {r['id']} not seen before"
        for r in state["records"][first_records:]
        if not r["duplicate"]
    ]
    return problems


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def ctr_partition_day(data: bytes, arrival: float) -> str:
    """The archiver's partition of a contact record (InitiationTimestamp, DisconnectTimestamp, LastUpdateTimestamp,
    else the Kinesis arrival time) as year=/month=/day=."""
    record = json.loads(data.removeprefix(UTF8_BOM))
    for field in ("InitiationTimestamp", "DisconnectTimestamp", "LastUpdateTimestamp"):
        value = record.get(field)
        if isinstance(value, str):
            try:
                t = parse_time(value)
                break
            except ValueError:
                continue
    else:
        t = dt.datetime.fromtimestamp(arrival, dt.timezone.utc)
    t = t.astimezone(dt.timezone.utc)
    return f"year={t.year:04d}/month={t.month:02d}/day={t.day:02d}"


def ndjson_lines(body: bytes) -> list[bytes]:
    """The records of a gzip NDJSON archive object: each line verbatim, or the bytes of a _raw_base64 envelope
    (the archiver's lossless form for records with line breaks or a BOM)."""
    lines = gzip.decompress(body).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for line in lines:
        if line.startswith(b'{"_raw_base64":"') and line.endswith(b'"}'):
            out.append(base64.b64decode(line[len(b'{"_raw_base64":"') : -2]))
        else:
            out.append(line)
    return out


# ---------------------------------------------------------------------------------------------------------------
# setup


def cmd_setup(args: argparse.Namespace, results: Results) -> None:
    work = Path(args.work)
    template = load_template(Path(args.template))
    resources = template["Resources"]
    overrides = dict(p.split("=", 1) for p in args.parameter)
    overrides.setdefault(
        "AlertRules", json.dumps(json.loads(RULES_EXAMPLE.read_text(encoding="utf-8")), separators=(",", ":"))
    )
    # The forwarder's subscriptions go in the way a deployment gives them: the template parameter, which the
    # function's FORWARDER_SUBSCRIPTIONS takes (instead of the idle default, no subscriptions).
    taken = {"ForwarderSubscriptions", "ForwarderSubscriptionsUri"} & set(overrides)
    if taken:
        raise SystemExit(f"e2e_check: {sorted(taken)} are set by this test (the webhook receiver's subscriptions)")
    subscriptions = forwarder_subscriptions(args.webhook_receiver)
    overrides["ForwarderSubscriptions"] = json.dumps(subscriptions, separators=(",", ":"))
    secret = os.environ.get(FORWARDER_SECRET_VAR, "")
    if not secret.startswith("whsec_"):
        raise SystemExit(f"e2e_check: {FORWARDER_SECRET_VAR} must hold the receiver's whsec_ signing secret")
    params = parameter_values(template, overrides)

    run = args.run_id.lower()
    s3, ddb, sns, sqs = client("s3"), client("dynamodb"), client("sns"), client("sqs")

    buckets: dict[str, str] = {}
    for logical_id, suffix in ((BUCKET, "archive"), (PARKING_BUCKET, "parking")):
        name = f"e2e-{run}-{suffix}"
        s3.create_bucket(Bucket=name)
        if resources[logical_id]["Properties"].get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        buckets[logical_id] = name
    bucket = buckets[BUCKET]

    tables: dict[str, str] = {}
    for logical_id in TABLES:
        props = resources[logical_id]["Properties"]
        name = f"e2e-{run}-{logical_id}"
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                {k: gsi[k] for k in ("IndexName", "KeySchema", "Projection")} for gsi in props["GlobalSecondaryIndexes"]
            ]
        ddb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
            )
        tables[logical_id] = name
        check_table_matches_template(results, ddb, name, logical_id, props)

    topic_arn = sns.create_topic(Name=f"e2e-{run}-{TOPIC}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"e2e-{run}-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "false"},
        ReturnSubscriptionArn=True,
    )

    refs = {**PSEUDO, **params, **buckets, **tables, TOPIC: topic_arn}
    envs = function_environments(template, refs)
    expected = {"contact-archiver", "agent-state", "supervisor-alerts", "stream-forwarder"}
    results.equal("template: the four stream functions are defined", set(envs), expected)
    union = union_environment(envs)
    if FORWARDER_SECRET_VAR in union:
        raise SystemExit(f"e2e_check: {FORWARDER_SECRET_VAR} is a variable of the template; pick another name")
    aws = {
        key: os.environ[key]
        for key in (
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_EC2_METADATA_DISABLED",
        )
        if key in os.environ
    }
    # The signing secret only in the env file (the forwarder reads `env:` secrets from its environment), never in
    # state.json or the printed environments.
    (work / "functions.env").write_text(
        env_file_text({**union, FORWARDER_SECRET_VAR: secret, **aws}), encoding="utf-8"
    )

    state = {
        "run": run,
        "bucket": bucket,
        "parking_bucket": buckets[PARKING_BUCKET],
        "receiver_url": args.webhook_receiver,
        "subscriptions": subscriptions,
        "tables": tables,
        "topic_arn": topic_arn,
        "queue_url": queue_url,
        "parameters": params,
        "environments": envs,
    }
    (work / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    for binary, env in sorted(envs.items()):
        shown = {k: (v if len(v) <= 60 else v[:57] + "...") for k, v in sorted(env.items())}
        print(f"e2e: {binary} environment (from template.yaml): {shown}")


def check_table_matches_template(results: Results, ddb: Any, name: str, logical_id: str, props: dict[str, Any]) -> None:
    """What moto reports back equals the template's keys and indexes (proves nothing was lost on the way)."""
    table = ddb.describe_table(TableName=name)["Table"]

    def keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
        return [(k["AttributeName"], k["KeyType"]) for k in schema]

    results.equal(f"{logical_id}: key schema as in template.yaml", keys(table["KeySchema"]), keys(props["KeySchema"]))
    results.equal(
        f"{logical_id}: attribute definitions as in template.yaml",
        sorted((a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]),
        sorted((a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]),
    )
    actual_gsis = {
        g["IndexName"]: (keys(g["KeySchema"]), g["Projection"]["ProjectionType"])
        for g in table.get("GlobalSecondaryIndexes", [])
    }
    wanted_gsis = {
        g["IndexName"]: (keys(g["KeySchema"]), g["Projection"]["ProjectionType"])
        for g in props.get("GlobalSecondaryIndexes", [])
    }
    results.equal(f"{logical_id}: global secondary indexes as in template.yaml", actual_gsis, wanted_gsis)


# ---------------------------------------------------------------------------------------------------------------
# response


def cmd_response(args: argparse.Namespace, results: Results) -> None:
    label = f"{args.function} <- {args.envelope}{' (replay)' if args.replay else ''}"
    text = (
        Path(args.response).read_text(encoding="utf-8", errors="replace").strip()
        if Path(args.response).exists()
        else ""
    )
    if args.rc != 0 or not text:
        error = (
            Path(args.stderr).read_text(encoding="utf-8", errors="replace").strip()
            if args.stderr and Path(args.stderr).exists()
            else ""
        )
        detail = "; ".join(part for part in (args.note or f"exit {args.rc}", error[-600:]) if part)
        results.check(f"invoke {label}", False, detail or "no response")
        return
    try:
        response = json.loads(text)
    except json.JSONDecodeError as e:
        results.check(f"invoke {label}", False, f"not JSON ({e}): {text[:300]}")
        return
    print(f"e2e: {label}: {json.dumps(response, separators=(',', ':'))} ({args.seconds:.1f} s)")
    sequence_numbers = {r["seq"] for r in envelope_records(args.envelope)}
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    ok = isinstance(failures, list) and all(
        isinstance(f, dict) and isinstance(f.get("itemIdentifier"), str) and f["itemIdentifier"] in sequence_numbers
        for f in failures
    )
    if not results.check(f"invoke {label}: a valid partial batch response", ok, text[:300]):
        return
    results.check(f"invoke {label}: batchItemFailures is empty", failures == [], json.dumps(failures)[:300])


# ---------------------------------------------------------------------------------------------------------------
# verify


def list_objects(s3: Any, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj
    return out


def list_versions(s3: Any, bucket: str) -> list[tuple[str, str, str]]:
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            out.append((v["Key"], v.get("VersionId", ""), v.get("ETag", "")))
    return sorted(out)


def get_body(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def verify_archive(results: Results, state: dict[str, Any], s3: Any, phones: set[str], texts: set[str]) -> None:
    bucket = state["bucket"]
    env = state["environments"]["contact-archiver"]
    prefix = env.get("ARCHIVE_PREFIX", "")
    fmt = env.get("ARCHIVE_FORMAT", "ndjson").lower()
    quarantine_prefix = env["QUARANTINE_PREFIX"]
    results.equal(
        "contact-archiver: quarantine bucket is the archive bucket (template Globals)", env["QUARANTINE_BUCKET"], bucket
    )

    good, bad = split_archiver_records()
    seqs = {r["seq"] for r in good + bad}
    objects = list_objects(s3, bucket)
    results.check("S3: the archive bucket holds objects", bool(objects), "empty bucket")

    # NDJSON: every good record once per delivery, byte for byte, in the partition of its own time.
    ndjson_re = re.compile(
        rf"^{re.escape(prefix)}contact-records/(year=\d{{4}}/month=\d{{2}}/day=\d{{2}})/"
        r"(shardId-\d+)-(\d+)-(\d+)\.ndjson\.gz$"
    )
    ndjson_keys = sorted(k for k in objects if ndjson_re.match(k))
    stray = sorted(
        k
        for k in objects
        if not k.startswith(quarantine_prefix)
        and k not in ndjson_keys
        and not k.startswith(f"{prefix}contact-records-parquet/")
    )
    results.check("S3: every archive key has the documented layout", not stray, f"unexpected keys: {stray[:5]}")
    if fmt in ("ndjson", "both"):
        results.check(
            f"S3: contact-records/year=…/*.ndjson.gz objects exist (ARCHIVE_FORMAT={fmt})", bool(ndjson_keys), "none"
        )
        archived: list[bytes] = []
        misplaced, bad_ranges = [], []
        for key in ndjson_keys:
            m = ndjson_re.match(key)
            assert m is not None
            day, _shard, first, last = m.groups()
            if first not in seqs or last not in seqs:
                bad_ranges.append(key)
            for line in ndjson_lines(get_body(s3, bucket, key)):
                archived.append(line)
                arrival = next((r["arrival"] for r in good if r["data"] == line), 0.0)
                if ctr_partition_day(line, arrival) != day:
                    misplaced.append(key)
        want = collections.Counter(r["data"] for r in good)
        got = collections.Counter(archived)
        results.check(
            f"S3: the NDJSON lines are byte-equal to the {sum(want.values())} good records of "
            f"{' + '.join(ARCHIVER_ENVELOPES)}",
            got == want,
            f"{sum(got.values())} lines; missing {sum((want - got).values())}, unexpected {sum((got - want).values())}",
        )
        results.check(
            "S3: each NDJSON object sits in the day partition of its records' own time",
            not misplaced,
            str(sorted(set(misplaced))[:3]),
        )
        results.check("S3: NDJSON keys name sequence numbers of the envelopes", not bad_ranges, str(bad_ranges[:3]))
    else:
        results.check(f"S3: no contact-record NDJSON (ARCHIVE_FORMAT={fmt})", not ndjson_keys, str(ndjson_keys[:3]))

    parquet_keys = sorted(
        k for k in objects if k.startswith(f"{prefix}contact-records-parquet/") and k.endswith(".parquet")
    )
    if fmt in ("parquet", "both"):
        results.check(
            f"S3: contact-records-parquet/year=…/*.parquet objects exist (ARCHIVE_FORMAT={fmt})",
            bool(parquet_keys),
            "none",
        )
        import pyarrow.parquet as pq

        raws: list[str] = []
        ids: list[str] = []
        for key in parquet_keys:
            table = pq.read_table(io.BytesIO(get_body(s3, bucket, key)))
            raws += table.column("raw").to_pylist()
            ids += table.column("contact_id").to_pylist()
        want_raw = collections.Counter(r["data"].removeprefix(UTF8_BOM).decode("utf-8") for r in good)
        results.check(
            "S3: the Parquet rows' raw column equals the good records",
            collections.Counter(raws) == want_raw,
            f"{len(raws)} rows, {sum(want_raw.values())} expected",
        )
        want_ids = collections.Counter(json.loads(r["data"].removeprefix(UTF8_BOM))["ContactId"] for r in good)
        results.equal("S3: the Parquet contact_id column matches the records", collections.Counter(ids), want_ids)
    else:
        results.check(f"S3: no Parquet (ARCHIVE_FORMAT={fmt})", not parquet_keys, str(parquet_keys[:3]))

    # Quarantine: one entry per bad record of mixed-bad.json, with a reason, and the bytes as received.
    entries = {}
    for key in objects:
        if key.startswith(quarantine_prefix):
            entries[key] = json.loads(get_body(s3, bucket, key))
    by_function = collections.Counter(e.get("function") for e in entries.values())
    results.equal(
        "S3: quarantine/ holds entries of contact-archiver only",
        set(by_function),
        {"contact-archiver"} if bad else set(),
    )
    archiver_entries = {
        e["sequenceNumber"]: (k, e) for k, e in entries.items() if e.get("function") == "contact-archiver"
    }
    results.equal(
        f"S3: quarantine/ holds exactly the {len(bad)} bad records of mixed-bad.json",
        sorted(archiver_entries),
        sorted(r["seq"] for r in bad),
    )
    problems = []
    for record in bad:
        key, entry = archiver_entries.get(record["seq"], (None, None))
        if entry is None:
            continue
        wanted = record["manifest"]["reason_contains"].lower()
        reason = str(entry.get("reason", ""))
        stream = record["stream_arn"].rsplit("/", 1)[-1]
        day = dt.datetime.fromtimestamp(record["arrival"], dt.timezone.utc).strftime("%Y/%m/%d")
        expected_key = f"{quarantine_prefix}contact-archiver/{day}/{stream}/{record['shard']}/{record['seq']}.json"
        if not reason or not entry.get("reasonCode"):
            problems.append(f"{record['manifest']['file']}: no reason")
        elif wanted not in reason.lower():
            problems.append(f"{record['manifest']['file']}: reason {reason!r} lacks {wanted!r}")
        if base64.b64decode(entry.get("dataBase64", "")) != record["data"]:
            problems.append(f"{record['manifest']['file']}: dataBase64 is not the record's bytes")
        if key != expected_key:
            problems.append(f"{record['manifest']['file']}: key {key} != {expected_key}")
        if personal_data_found(reason, phones, texts):
            problems.append(f"{record['manifest']['file']}: the reason quotes personal data")
    results.check(
        "S3: each quarantine entry has its key, a reason naming the defect, the original bytes",
        not problems,
        "; ".join(problems[:4]),
    )


def query(ddb: Any, table: str, index: str | None, pk_attr: str, pk: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": pk_attr},
        "ExpressionAttributeValues": {":pk": {"S": pk}},
    }
    if index:
        kwargs["IndexName"] = index
    items = []
    for page in ddb.get_paginator("query").paginate(**kwargs):
        items += [{k: des.deserialize(v) for k, v in item.items()} for item in page["Items"]]
    return items


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        items += page["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def gsi_attrs(template_props: dict[str, Any], index: str) -> str:
    for gsi in template_props["GlobalSecondaryIndexes"]:
        if gsi["IndexName"] == index:
            return next(k["AttributeName"] for k in gsi["KeySchema"] if k["KeyType"] == "HASH")
    raise SystemExit(f"e2e_check: index {index} is not in template.yaml")


def verify_agents(results: Results, state: dict[str, Any], ddb: Any) -> None:
    table = state["tables"]["AgentStateTable"]
    env = state["environments"]["agent-state"]
    results.equal("agent-state: AGENT_STATE_TABLE is the created table", env["AGENT_STATE_TABLE"], table)
    ttl_hours, history_days = int(env["AGENT_TTL_HOURS"]), int(env["HISTORY_TTL_DAYS"])
    props = load_template()["Resources"]["AgentStateTable"]["Properties"]

    login, logout, after = (
        raw_fixture("agent/login.json"),
        raw_fixture("agent/logout.json"),
        raw_fixture("agent/heartbeat-after-logout.json"),
    )
    asmith_event = raw_fixture("agent/heartbeat.json")
    jdoe_arn, asmith_arn, instance = login["AgentARN"], asmith_event["AgentARN"], login["InstanceARN"]

    def current(arn: str) -> dict[str, Any] | None:
        items = [i for i in query(ddb, table, None, "pk", arn) if i["sk"] == "CURRENT"]
        return items[0] if items else None

    jdoe, asmith = current(jdoe_arn), current(asmith_arn)
    if not results.check(
        "DynamoDB: CURRENT items of jdoe and asmith exist",
        jdoe is not None and asmith is not None,
        f"jdoe={jdoe is not None} asmith={asmith is not None}",
    ):
        return
    assert jdoe is not None and asmith is not None
    results.equal(
        "DynamoDB: jdoe is logged out (the heartbeat after LOGOUT did not log him in)", jdoe.get("logged_in"), False
    )
    results.equal("DynamoDB: jdoe's activity is OFFLINE", jdoe.get("activity"), "OFFLINE")
    results.equal("DynamoDB: jdoe's status is Offline", (jdoe.get("status") or {}).get("name"), "Offline")
    results.check(
        "DynamoDB: jdoe's logout_at is the LOGOUT's EventTimestamp",
        "logout_at" in jdoe and parse_time(jdoe["logout_at"]) == parse_time(logout["EventTimestamp"]),
        str(jdoe.get("logout_at")),
    )
    results.check(
        "DynamoDB: jdoe's last heartbeat is the one after logout",
        "last_heartbeat_at" in jdoe and parse_time(jdoe["last_heartbeat_at"]) == parse_time(after["EventTimestamp"]),
        str(jdoe.get("last_heartbeat_at")),
    )
    results.check(
        "DynamoDB: asmith is logged in (first seen through a heartbeat, not OFFLINE)",
        asmith.get("logged_in", True) is True and asmith.get("activity") != "OFFLINE",
        f"logged_in={asmith.get('logged_in')} activity={asmith.get('activity')}",
    )
    results.equal("DynamoDB: asmith's activity is AVAILABLE", asmith.get("activity"), "AVAILABLE")
    results.equal(
        "DynamoDB: asmith's routing profile is Chat Escalations (config change)",
        (asmith.get("routing_profile") or {}).get("name"),
        "Chat Escalations",
    )
    results.equal("DynamoDB: asmith has no contacts", asmith.get("contacts", []), [])
    for who, item in (("jdoe", jdoe), ("asmith", asmith)):
        want = int(parse_time(item["last_event_at"]).timestamp()) + ttl_hours * 3600
        results.equal(
            f"DynamoDB: {who}'s expires_at is last event + AGENT_TTL_HOURS ({ttl_hours} h)",
            int(item.get("expires_at", 0)),
            want,
        )

    history = sorted(
        (i for i in query(ddb, table, None, "pk", jdoe_arn) if i["sk"].startswith("HIST#")), key=lambda i: i["sk"]
    )
    summary = [(h.get("kind"), h.get("name"), h.get("start"), h.get("end")) for h in history]
    results.equal(
        "DynamoDB: jdoe's history items are the day's finished status and ACW episodes", summary, JDOE_HISTORY
    )
    bad_ttl = [
        h["sk"]
        for h in history
        if int(h.get("expires_at", 0)) != int(parse_time(h["end"]).timestamp()) + history_days * 86400
        or int(h.get("duration_ms", -1)) != int((parse_time(h["end"]) - parse_time(h["start"])).total_seconds() * 1000)
    ]
    results.check(
        f"DynamoDB: history durations are end - start, expires_at is end + HISTORY_TTL_DAYS ({history_days} d)",
        not bad_ttl,
        str(bad_ttl[:3]),
    )

    def usernames(items: Iterable[dict[str, Any]]) -> list[str]:
        return sorted(i.get("username", "?") for i in items)

    jdoe_profile = logout["CurrentAgentSnapshot"]["Configuration"]["RoutingProfile"]["ARN"]
    results.equal(
        "DynamoDB GSI by-instance: both agents of the instance",
        usernames(query(ddb, table, "by-instance", gsi_attrs(props, "by-instance"), instance)),
        ["asmith", "jdoe"],
    )
    results.equal(
        "DynamoDB GSI by-routing-profile: jdoe in Voice Sales",
        usernames(query(ddb, table, "by-routing-profile", gsi_attrs(props, "by-routing-profile"), jdoe_profile)),
        ["jdoe"],
    )
    for activity, who in (("OFFLINE", ["jdoe"]), ("AVAILABLE", ["asmith"]), ("ON_CONTACT", [])):
        results.equal(
            f"DynamoDB GSI by-activity: {activity} = {who}",
            usernames(query(ddb, table, "by-activity", gsi_attrs(props, "by-activity"), f"{instance}#{activity}")),
            who,
        )


def drain_queue(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every notification in the queue (deleted as read). moto delivers SNS → SQS synchronously."""
    out = []
    empty_polls = 0
    while empty_polls < 2:
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        messages = got.get("Messages", [])
        if not messages:
            empty_polls += 1
            continue
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return out


def verify_alerts(
    results: Results, state: dict[str, Any], sqs: Any, ddb: Any, phones: set[str], texts: set[str]
) -> list[dict[str, Any]]:
    env = state["environments"]["supervisor-alerts"]
    results.equal("supervisor-alerts: ALERT_TOPIC_ARN is the created topic", env["ALERT_TOPIC_ARN"], state["topic_arn"])
    rules = {r["name"]: r for r in json.loads(env["ALERT_RULES"])["rules"]}
    notifications = drain_queue(sqs, state["queue_url"])

    def attr(n: dict[str, Any], name: str) -> str | None:
        return (n.get("MessageAttributes", {}).get(name) or {}).get("Value")

    names = collections.Counter(attr(n, "rule") for n in notifications)
    print(f"e2e: SQS received {len(notifications)} alert(s): {dict(sorted(names.items(), key=lambda kv: str(kv[0])))}")
    results.equal(
        "SQS: the expected alerts arrived through SNS, each exactly once", names, collections.Counter(EXPECTED_ALERTS)
    )
    results.check(
        "SQS: SNS envelopes (raw delivery off) from the alert topic",
        all(n.get("Type") == "Notification" and n.get("TopicArn") == state["topic_arn"] for n in notifications),
        str([n.get("Type") for n in notifications]),
    )
    mismatched, no_agent, leaks = [], [], []
    ids = []
    for n in notifications:
        rule = attr(n, "rule")
        try:
            body = json.loads(n.get("Message", ""))
        except json.JSONDecodeError:
            mismatched.append(f"{rule}: body is not JSON")
            continue
        ids.append(body.get("alertId"))
        if (
            body.get("rule") != rule
            or rule not in rules
            or attr(n, "severity") != rules[rule]["severity"]
            or body.get("severity") != rules[rule]["severity"]
        ):
            mismatched.append(f"{rule}: body rule {body.get('rule')!r}, severity {attr(n, 'severity')!r}")
        if rule in JDOE_ALERTS and (
            attr(n, "agentUsername") != "jdoe" or (body.get("agent") or {}).get("username") != "jdoe"
        ):
            no_agent.append(rule)
        everything = " ".join(
            [n.get("Subject") or "", n.get("Message") or ""] + [str(attr(n, k)) for k in n.get("MessageAttributes", {})]
        )
        found = personal_data_found(everything, phones, texts)
        if found:
            leaks.append(f"{rule}: {found[:2]}")
    results.check(
        "SQS: each alert's body and attributes agree on rule and severity (rules.example.json)",
        not mismatched,
        "; ".join(mismatched[:3]),
    )
    results.check(
        "SQS: alerts about jdoe's call and breaks name jdoe (the contact → agent join worked)",
        not no_agent,
        str(no_agent),
    )
    results.check("SQS: alert ids are unique", len(set(ids)) == len(ids), str(ids))
    results.check("SQS: no alert contains a phone number or transcript text", not leaks, "; ".join(leaks[:3]))

    claims = [i for i in scan(ddb, state["tables"]["AlertStateTable"]) if i["pk"]["S"].startswith("alert#")]
    statuses = collections.Counter(i.get("status", {}).get("S") for i in claims)
    results.equal(
        "DynamoDB AlertStateTable: one SENT claim per alert",
        statuses,
        collections.Counter({"SENT": len(EXPECTED_ALERTS)}),
    )
    return notifications


def counter_difference(got: collections.Counter[str], want: collections.Counter[str]) -> str:
    """What `got` lacks and has too much of, compared with `want` (a few of each, with counts)."""
    missing, extra = want - got, got - want
    return (
        f"{sum(got.values())} sent, {sum(want.values())} expected; missing {sorted(missing.items())[:3]}, "
        f"extra {sorted(extra.items())[:3]}"
    )


def receiver(state: dict[str, Any], path: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or, with a body, POST) one of the webhook receiver's control endpoints; 127.0.0.1 only, no proxy."""
    parts = urllib.parse.urlsplit(state["receiver_url"])
    if parts.hostname != "127.0.0.1":
        raise SystemExit(f"e2e_check: webhook receiver {state['receiver_url']!r} is not on 127.0.0.1")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{parts.port}{path}", data=data, headers={"content-type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        return json.loads(response.read())


def subscription_path(subscription: dict[str, Any]) -> str:
    return urllib.parse.urlsplit(subscription["url"]).path


def verify_webhooks(results: Results, state: dict[str, Any], label: str) -> dict[str, Any]:
    """The receiver's view of everything so far: per subscription every expected message, none unexpected, order
    per key (redeliveries allowed anywhere), the DESIGN's contract; every request verified, none rejected; no
    personal data. Returns the receiver's state."""
    rx = receiver(state, "/_state")
    for subscription in state["subscriptions"]["subscriptions"]:
        path = subscription_path(subscription)
        expected = forwarder_expected(subscription)
        got = receiver(
            state, "/_check", {"expected": expected["messages"], "path": path, "allow_personal_data": True}
        )
        lost, order = got["lost"], got["order"]
        results.check(
            f"{label}webhooks {path}: the {len(expected['messages'])} expected messages arrived, none unexpected",
            lost["ok"] and not lost["unexpected"],
            f"missing {lost['missing'][:4]}, unexpected {lost['unexpected'][:4]} ({lost['received']} received)",
        )
        results.check(
            f"{label}webhooks {path}: in stream order per key (agent ARN, contact id)",
            order["ok"],
            f"violations {order['violations'][:2]}, skipped {order['skipped'][:2]}",
        )
        results.check(
            f"{label}webhooks {path}: ids, types, timestamps and batch ids as DESIGN.md defines them",
            not got["contract_problems"],
            str([p["problem"] for p in got["contract_problems"][:3]]),
        )
    accepted = [r for r in rx["requests"] if r["outcome"] == "accepted" and r["signature_ok"]]
    results.check(
        f"{label}webhooks: every request verified by the reference library (standardwebhooks), none rejected",
        bool(rx["requests"]) and not rx["rejections"] and len(accepted) == len(rx["requests"]),
        f"{len(rx['requests'])} requests, {len(accepted)} accepted, rejections "
        f"{[(r['path'], r['status'], r['reason']) for r in rx['rejections'][:3]]}",
    )
    leaks = webhook_personal_data(rx, customer_phones())
    results.check(
        f"{label}webhooks: no customer phone number, contact attributes or transcript in any body",
        not leaks,
        "; ".join(leaks[:4]),
    )
    return rx


def verify_nothing_parked(results: Results, state: dict[str, Any], s3: Any, ddb: Any, label: str) -> None:
    versions = list_versions(s3, state["parking_bucket"])
    results.check(
        f"{label}S3: nothing parked (the receiver was healthy): the parking bucket is empty",
        not versions,
        str([v[0] for v in versions[:3]]),
    )
    items = scan(ddb, state["tables"]["ForwarderStateTable"])
    results.check(
        f"{label}DynamoDB ForwarderStateTable: no parked key, no disabled subscription",
        not items,
        str([(i["pk"]["S"], i["sk"]["S"]) for i in items[:3]]),
    )


def verify_forwarder(results: Results, state: dict[str, Any], s3: Any, ddb: Any) -> dict[str, int]:
    env = state["environments"]["stream-forwarder"]
    results.equal(
        "stream-forwarder: PARKING_BUCKET is the created bucket", env["PARKING_BUCKET"], state["parking_bucket"]
    )
    results.equal(
        "stream-forwarder: FORWARDER_STATE_TABLE is the created table",
        env["FORWARDER_STATE_TABLE"],
        state["tables"]["ForwarderStateTable"],
    )
    results.equal(
        "stream-forwarder: FORWARDER_SUBSCRIPTIONS is the receiver's document (template parameter)",
        json.loads(env.get("FORWARDER_SUBSCRIPTIONS", "null")),
        state["subscriptions"],
    )
    rx = verify_webhooks(results, state, "")
    for subscription in state["subscriptions"]["subscriptions"]:
        path = subscription_path(subscription)
        want = forwarder_expected(subscription)["requests"]
        got = collections.Counter(r["webhook_id"] for r in rx["requests"] if r["path"] == path)
        results.check(
            f"webhooks {path}: each {'batch' if subscription.get('batch') else 'message'} sent once, "
            "with the expected webhook-id",
            got == collections.Counter(want),
            counter_difference(got, collections.Counter(want)),
        )
    verify_nothing_parked(results, state, s3, ddb, "")
    return {"requests": len(rx["requests"]), "records": len(rx["records"])}


def verify_forwarder_replay(results: Results, state: dict[str, Any], s3: Any, ddb: Any, first: dict[str, int]) -> None:
    rx = verify_webhooks(results, state, "replay: ")
    again = rx["requests"][first["requests"] :]
    messages = len(rx["records"]) - first["records"]
    print(f"e2e: the replay sent the receiver {len(again)} request(s) with {messages} message(s)")
    problems = webhook_replay_problems(rx, first["requests"], first["records"])
    results.check(
        "replay: the receiver got only webhook-ids it had already seen (every message a duplicate)",
        not problems,
        "; ".join(problems[:4]),
    )
    # The forwarder keeps no delivery log (receivers de-duplicate by id): a redelivered batch is re-sent whole,
    # with the same ids, batch ids included.
    got = collections.Counter(f"{r['path']} {r['webhook_id']}" for r in again)
    want = collections.Counter(f"{r['path']} {r['webhook_id']}" for r in rx["requests"][: first["requests"]])
    results.check(
        "replay: every request of the first pass re-sent once, with the same webhook-id",
        got == want,
        counter_difference(got, want),
    )
    verify_nothing_parked(results, state, s3, ddb, "replay: ")


def snapshot(state: dict[str, Any], s3: Any, ddb: Any) -> dict[str, Any]:
    return {
        "versions": list_versions(s3, state["bucket"]),
        "agent_items": scan(ddb, state["tables"]["AgentStateTable"]),
        "claims": [i for i in scan(ddb, state["tables"]["AlertStateTable"]) if i["pk"]["S"].startswith("alert#")],
    }


def cmd_verify(args: argparse.Namespace, results: Results) -> None:
    work = Path(args.work)
    state = json.loads((work / "state.json").read_text(encoding="utf-8"))
    s3, ddb, sqs = client("s3"), client("dynamodb"), client("sqs")
    phones, texts = personal_data()
    if args.phase == "first":
        verify_archive(results, state, s3, phones, texts)
        verify_agents(results, state, ddb)
        verify_alerts(results, state, sqs, ddb, phones, texts)
        webhooks = verify_forwarder(results, state, s3, ddb)
        (work / "snapshot.json").write_text(
            json.dumps({**snapshot(state, s3, ddb), "webhooks": webhooks}, default=str), encoding="utf-8"
        )
        return
    before = json.loads((work / "snapshot.json").read_text(encoding="utf-8"))
    after = json.loads(json.dumps(snapshot(state, s3, ddb), default=str))
    again = drain_queue(sqs, state["queue_url"])
    results.check(
        "replay: invoking the same envelopes again publishes nothing new (exactly once)",
        not again,
        f"{len(again)} new: {[(n.get('MessageAttributes', {}).get('rule') or {}).get('Value') for n in again]}",
    )
    results.check(
        "replay: S3 unchanged (same keys, no new object versions)",
        after["versions"] == before["versions"],
        f"{len(before['versions'])} versions before, {len(after['versions'])} after",
    )
    results.check("replay: AgentStateTable unchanged", after["agent_items"] == before["agent_items"], "items differ")
    results.equal(
        "replay: alert claims unchanged, all SENT",
        [(c["pk"]["S"], c["sk"]["S"], c["status"]["S"]) for c in after["claims"]],
        [(c["pk"]["S"], c["sk"]["S"], c["status"]["S"]) for c in before["claims"]],
    )
    verify_forwarder_replay(results, state, s3, ddb, before["webhooks"])


# ---------------------------------------------------------------------------------------------------------------
# logs, summary


def cmd_logs(args: argparse.Namespace, results: Results) -> None:
    text = "\n".join(Path(log).read_text(encoding="utf-8", errors="replace") for log in args.log)
    phones, texts = personal_data()
    found = personal_data_found(text, phones, texts)
    results.check("logs: the functions logged no phone number and no transcript text", not found, str(found[:3]))
    functions = ("contact-archiver", "agent-state", "supervisor-alerts", "stream-forwarder")
    json_lines: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue  # cargo lambda watch's own lines and cargo's build output are plain text
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        spans = [record.get("span") or {}] + list(record.get("spans") or [])
        for name in {s.get("function") for s in spans if isinstance(s, dict)} & set(functions):
            json_lines[name] += 1
    results.check(
        "logs: every function logged JSON lines (AWS_LAMBDA_LOG_FORMAT=JSON from the template's LoggingConfig)",
        all(json_lines[name] for name in functions),
        str(dict(json_lines)),
    )


def cmd_summary(args: argparse.Namespace, _results: Results) -> None:
    rows = []
    path = Path(args.results) if args.results else None
    if path is not None and path.is_file():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    passed = sum(1 for r in rows if r["ok"])
    failed = [r for r in rows if not r["ok"]]
    if failed:
        print("\ne2e: failed checks:")
        for r in failed:
            print(f"  FAIL {r['name']}: {r['detail']}")
    verdict = "PASS" if rows and not failed else "FAIL"
    print(f"\ne2e: {passed} passed, {len(failed)} failed ({args.seconds} s) — {verdict}")
    sys.exit(0 if verdict == "PASS" else 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", help="JSON-lines file the checks are appended to")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup")
    p.add_argument("--work", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--template", default=str(TEMPLATE))
    p.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE", help="template parameter override")
    p.add_argument(
        "--webhook-receiver",
        required=True,
        metavar="URL",
        help=f"http://127.0.0.1:<port>/ of scripts/webhook_receiver.py (its secret in ${FORWARDER_SECRET_VAR})",
    )

    p = sub.add_parser("response")
    p.add_argument("--function", required=True)
    p.add_argument("--envelope", required=True)
    p.add_argument("--response", required=True)
    p.add_argument("--stderr")
    p.add_argument("--rc", type=int, default=0)
    p.add_argument("--seconds", type=float, default=0.0)
    p.add_argument("--note", default="")
    p.add_argument("--replay", action="store_true")

    p = sub.add_parser("verify")
    p.add_argument("--work", required=True)
    p.add_argument("--phase", choices=("first", "replay"), required=True)

    p = sub.add_parser("logs")
    p.add_argument("--log", action="append", required=True, help="a cargo lambda watch log (repeatable)")

    p = sub.add_parser("summary")
    p.add_argument("--seconds", default="?")

    args = parser.parse_args(argv)
    results = Results(Path(args.results) if args.results else None)
    commands: dict[str, Callable[[argparse.Namespace, Results], None]] = {
        "setup": cmd_setup,
        "response": cmd_response,
        "verify": cmd_verify,
        "logs": cmd_logs,
        "summary": cmd_summary,
    }
    commands[args.command](args, results)


if __name__ == "__main__":
    main()
