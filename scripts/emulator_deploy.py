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
  record of another kind is quarantined: each function does only its own work);
- the agent board's API (check_board): the page and config.json public, config.json naming the stack's user pool
  and client; /api/ refused (401) without a token or with a forged one, and any other method or path 404; then a
  user signs in through the user pool's hosted sign-in (authorization code + PKCE, redirect to the board URL, as
  the page does) and with that access token reads the board (the table's agents of the instance) and an agent's
  history, while a token of another client of the same pool is refused. ministack signs Cognito tokens only with
  the `cryptography` package installed; without it that part is skipped and says so.

What ministack does not model (enhanced fan-out, partial batch responses, bisect, retry limits, the on-failure
destination, KMS, IAM, TTL) is covered by other tests; the README lists which.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import http.client
import importlib.util
import io
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import zipfile
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from cfn_eval import kinds_read  # scripts/ is on the path: this file is run as a script from there

ROOT = Path(__file__).resolve().parent.parent
CODE_BUCKET = "deploy-emulator-code"
# The stream consumers, whose output the checks compare with the oracle's.
FUNCTIONS = ("contact-archiver", "agent-state", "supervisor-alerts")
# Every function the template deploys, each with its bootstrap zip: the stream consumers, the board's HTTP API
# function (deployed with its API, authorizer and Cognito user pool; checked in check_board) and stream-forwarder
# (deployed idle: the template's default has no subscriptions, so it reads its streams and sends nothing; what it
# quarantines lands under quarantine/stream-forwarder/, which the checks of FUNCTIONS do not count).
BOOTSTRAPS = FUNCTIONS + ("agent-board", "stream-forwarder")
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
        "rules_source": "ssm",  # supervisor-alerts reads its rules from an SSM parameter (AlertRulesSource)
    },
    "one-stream": {
        "parameters": {"StreamLayout": "one-stream", "ArchiveSegments": "true"},
        "groups": {"contact-records": "r", "agent-events": "r", "segments": "r"},
        "rules_source": "s3",  # … from an S3 object
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
            ("s3", "cloudformation", "lambda", "kinesis", "sqs", "sns", "dynamodb", "cognito-idp", "ssm")}


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
    if body.count(f"s3://{CODE_BUCKET}/") != len(BOOTSTRAPS):
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
    """The replay's local table: an SQLite file whose `items` rows hold each item as plain JSON."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM items ORDER BY pk, sk")]


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
    # The generated day is weeks old: judged against the wall clock every status alert would be late.
    parameters = {"UseEnhancedFanOut": "false", **spec["parameters"], "AlertRules": oracle["rules"],
                  "AlertLateness": "event-time",
                  # Glue databases are per account: one per stack here.
                  "GlueDatabaseName": re.sub(r"[^a-z0-9_]", "_", stack.lower())}
    # The oracle's rules, published where the stack's supervisor-alerts reads them, instead of inline.
    if spec.get("rules_source") == "s3":
        bucket = f"{stack}-config".lower()
        c["s3"].create_bucket(Bucket=bucket)
        c["s3"].put_object(Bucket=bucket, Key="alerts/rules.json", Body=oracle["rules"].encode())
        parameters.update(AlertRulesBucket=bucket, AlertRulesKey="alerts/rules.json")
        del parameters["AlertRules"]
    elif spec.get("rules_source") == "ssm":
        parameter = f"/connect/{stack}/alert-rules"
        c["ssm"].put_parameter(Name=parameter, Value=oracle["rules"], Type="String", Tier="Intelligent-Tiering")
        parameters["AlertRulesParameter"] = parameter
        del parameters["AlertRules"]
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
    if spec.get("rules_source"):
        source = {"s3": f"s3://{parameters.get('AlertRulesBucket')}/alerts/rules.json",
                  "ssm": f"ssm:{parameters.get('AlertRulesParameter')}"}[spec["rules_source"]]
        variables = c["lambda"].get_function_configuration(FunctionName=functions["supervisor-alerts"])[
            "Environment"]["Variables"]
        checks.check(f"{name}: supervisor-alerts reads its rules from {source}",
                     variables.get("ALERT_RULES_SOURCE") == source and "ALERT_RULES" not in variables,
                     str(sorted(variables)))
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

    check_board(c, endpoint, name, outputs, dynamo_items(c, outputs["AgentStateTableName"]), checks)

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


# --------------------------------------------------------------------------------------------------- the board's API


def http_request(url: str, path: str, method: str = "GET", headers: dict | None = None,
                 body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request to `url`'s host (an execute-api host of the emulator, or the emulator itself): the host is named in
    the Host header and the connection goes to 127.0.0.1, so nothing is looked up and nothing leaves the machine."""
    base = urllib.parse.urlsplit(url)
    host = base.hostname or ""
    if host != "127.0.0.1" and not host.endswith(".127.0.0.1"):
        raise SystemExit(f"emulator_deploy: {url} is not on 127.0.0.1; refusing to call it")
    connection = http.client.HTTPConnection("127.0.0.1", base.port or 80, timeout=60)
    try:
        connection.request(method, path, body=body, headers={"Host": base.netloc, **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def jwt_segment(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def hosted_sign_in(endpoint: str, outputs: dict, username: str, password: str) -> dict:
    """Tokens of the board's client for a user, the way the page gets them: authorize (code + PKCE S256, redirect to
    the board URL), the hosted sign-in form, then the token endpoint with the verifier and no secret. ministack serves
    the hosted pages at its own root, where AWS serves them at the user pool domain."""
    client_id, redirect = outputs["BoardUserPoolClientId"], outputs["BoardUrl"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    oauth = {"client_id": client_id, "redirect_uri": redirect, "response_type": "code", "scope": "openid",
             "state": "board", "code_challenge": challenge, "code_challenge_method": "S256"}
    status, _, page = http_request(endpoint, "/oauth2/authorize?" + urllib.parse.urlencode(oauth))
    if status != 200 or b'action="/login"' not in page:
        raise SystemExit(f"emulator_deploy: hosted sign-in refused the board's client: {status} {page[:200]!r}")
    form = urllib.parse.urlencode({**oauth, "nonce": "", "username": username, "password": password}).encode()
    status, headers, page = http_request(endpoint, "/login", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                                         form)
    location = urllib.parse.urlsplit(headers.get("location", ""))
    code = urllib.parse.parse_qs(location.query).get("code", [""])[0]
    if status not in (302, 303) or not code or f"{location.scheme}://{location.netloc}{location.path}" != redirect:
        raise SystemExit(f"emulator_deploy: hosted sign-in did not redirect to the board with a code: {status} "
                         f"{headers.get('location')} {page[:200]!r}")
    form = urllib.parse.urlencode({"grant_type": "authorization_code", "client_id": client_id, "code": code,
                                   "redirect_uri": redirect, "code_verifier": verifier}).encode()
    status, _, body = http_request(endpoint, "/oauth2/token", "POST",
                                   {"Content-Type": "application/x-www-form-urlencoded"}, form)
    if status != 200:
        raise SystemExit(f"emulator_deploy: token endpoint refused the board's code: {status} {body[:200]!r}")
    return json.loads(body)


def check_board(c, endpoint, name, outputs, items, checks) -> None:
    """The board's front door as deployed: what is public, what the JWT authorizer refuses, and what a signed-in
    supervisor reads (the agent table's agents of the instance)."""
    url = outputs["BoardUrl"]
    status, headers, _ = http_request(url, "/")
    checks.check(f"{name}: board page is public (GET / is 200 HTML)",
                 status == 200 and headers.get("content-type", "").startswith("text/html"),
                 f"{status} {headers.get('content-type')}")
    status, _, body = http_request(url, "/config.json")
    auth = json.loads(body).get("auth") if status == 200 else body[:200]
    want = {"issuer": outputs["BoardOidcIssuerOut"], "client_id": outputs["BoardUserPoolClientId"], "scope": "openid"}
    checks.check(f"{name}: board config is public and names the stack's user pool and client", auth == want,
                 f"{status}: {auth} != {want}")

    current = [i for i in items if i.get("sk") == "CURRENT"]
    instance = sorted({i["instance_arn"] for i in current})[0]
    agents = {i["pk"]: bool(i.get("logged_in")) for i in current if i["instance_arn"] == instance}
    board_path = "/api/board?" + urllib.parse.urlencode({"instance": instance})
    # A token naming the pool and the client but signed by no key of the pool.
    forged = ".".join([jwt_segment({"alg": "RS256", "kid": "forged"}),
                       jwt_segment({"iss": outputs["BoardOidcIssuerOut"], "client_id": outputs["BoardUserPoolClientId"],
                                    "token_use": "access", "exp": int(time.time()) + 600}),
                       "c2lnbmF0dXJl"])
    for label, path, method, headers, wanted in [
        ("board data without a token is refused", board_path, "GET", {}, 401),
        ("board data with a forged token is refused", board_path, "GET", {"Authorization": f"Bearer {forged}"}, 401),
        ("a POST reaches no route", board_path, "POST", {}, 404),
        ("a path outside the three routes reaches no route", "/index.html", "GET", {}, 404),
    ]:
        status, _, body = http_request(url, path, method, headers)
        checks.check(f"{name}: {label} ({wanted})", status == wanted, f"{status} {body[:200]!r}")

    if importlib.util.find_spec("cryptography") is None:
        print(f"  skip {name}: board data with a signed-in user's token: ministack signs Cognito tokens only with the "
              "`cryptography` package (scripts/requirements-ministack.txt; scripts/setup-venv.sh --ministack)")
        return
    pool = outputs["BoardUserPoolId"]
    username, password = f"supervisor-{name}@example.com", f"Board-{secrets.token_urlsafe(12)}-9a!"
    c["cognito-idp"].admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS",
                                       TemporaryPassword=f"Temporary-{secrets.token_urlsafe(12)}-9a!",
                                       UserAttributes=[{"Name": "email", "Value": username},
                                                       {"Name": "email_verified", "Value": "true"}])
    c["cognito-idp"].admin_set_user_password(UserPoolId=pool, Username=username, Password=password, Permanent=True)
    tokens = hosted_sign_in(endpoint, outputs, username, password)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    status, _, body = http_request(url, board_path, "GET", bearer)
    got = {a["agent_arn"]: a["logged_in"] for a in json.loads(body)["agents"]} if status == 200 else body[:200]
    checks.check(f"{name}: a signed-in user reads the board: every agent of the instance ({len(agents)})",
                 got == agents, f"{status}: {got if status != 200 else len(got)} vs {len(agents)} agents")
    arn = sorted(agents)[0]
    status, _, body = http_request(url, f"/api/agents/{arn.rsplit('/', 1)[1]}/history?"
                                   + urllib.parse.urlencode({"instance": instance}), "GET", bearer)
    got_arn = json.loads(body).get("agent_arn") if status == 200 else body[:200]
    checks.check(f"{name}: a signed-in user reads an agent's history", got_arn == arn, f"{status}: {got_arn}")
    # Another client of the same pool: its tokens carry its own client_id, which is not the authorizer's audience.
    other = c["cognito-idp"].create_user_pool_client(UserPoolId=pool, ClientName="not-the-board",
                                                     ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"])
    other_id = other["UserPoolClient"]["ClientId"]
    token = c["cognito-idp"].admin_initiate_auth(UserPoolId=pool, ClientId=other_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                                 AuthParameters={"USERNAME": username, "PASSWORD": password})
    status, _, body = http_request(url, board_path, "GET",
                                   {"Authorization": f"Bearer {token['AuthenticationResult']['AccessToken']}"})
    checks.check(f"{name}: a token of another client of the pool is refused (401)", status == 401,
                 f"{status} {body[:200]!r}")


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
        "board": board(local_items(out / "agent-state.sqlite")),
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
    for function in BOOTSTRAPS:
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
