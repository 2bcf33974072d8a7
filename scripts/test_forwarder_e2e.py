"""The stream-forwarder end to end: a generated day through `connect-replay forward run` (the function's own code
over the event-source-mapping simulator, real HTTP) to scripts/webhook_receiver.py, which verifies every request with
the Standard Webhooks reference library. Three subscriptions: a healthy one, a flaky one (500s, 429 with
Retry-After, slow answers, closed connections, a mid-run restart of the receiver) and one whose endpoint hangs for
the whole run; then `connect-replay forward resend` for whatever was parked. Checked: every message delivered,
none lost, order per key never broken (parked ones included), duplicates only with an already-seen webhook-id,
no phone number or contact attributes in any body, and every request verified.

The binary comes from CONNECT_REPLAY_BIN (default target/debug/connect-replay, which the Rust tests build).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))
from webhook_receiver import WebhookReceiver  # noqa: E402

BIN = Path(os.environ.get("CONNECT_REPLAY_BIN") or ROOT / "target" / "debug" / "connect-replay")
if not BIN.is_absolute():
    BIN = ROOT / BIN
SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
PATHS = {"healthy": "/healthy", "flaky": "/flaky", "dead": "/dead"}


def replay(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "WH_SECRET": SECRET}
    for name in list(env):
        # Loopback only: no proxy may take the receiver's requests elsewhere.
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            env.pop(name)
    done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"{args[:2]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def expected_messages(day: Path, kinds: set[str]) -> list[dict]:
    """The messages a subscription of `kinds` must receive, in stream order, first occurrence of each id."""
    out, seen = [], set()
    for line in day.read_text().splitlines():
        rec = json.loads(line)
        try:
            data = json.loads(base64.b64decode(rec["data"]).decode("utf-8").lstrip("\ufeff"))
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        if "agent_event" in kinds and data.get("EventType") and data.get("EventId") and data.get("AgentARN"):
            if rec["stream"] != "agent-events":
                continue
            msg = {"id": f"ae_{data['EventId']}", "key": data["AgentARN"]}
        elif "contact_record" in kinds and rec["stream"] == "contact-records" and data.get("ContactId") \
                and "LastUpdateTimestamp" in data and "Segments" not in data:
            msg = {"id": f"cr_{data['ContactId']}_{data.get('LastUpdateTimestamp') or ''}", "key": data["ContactId"]}
        else:
            continue
        if msg["id"] not in seen:
            seen.add(msg["id"])
            out.append(msg)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing: build it (cargo build -p connect-replay) or set CONNECT_REPLAY_BIN")
    work = tmp_path_factory.mktemp("forward")
    day = work / "day.jsonl"
    replay("generate", "--agents", "6", "--seed", "7", "--out", str(day))
    receiver = WebhookReceiver([SECRET]).start()
    subs = {"subscriptions": [
        {"name": "healthy", "url": receiver.url(PATHS["healthy"]), "kinds": ["agent_event"],
         "secret_arn": "env:WH_SECRET", "timeout_ms": 2000},
        {"name": "flaky", "url": receiver.url(PATHS["flaky"]), "kinds": ["agent_event", "contact_record"],
         "batch": {"max_messages": 20}, "secret_arn": "env:WH_SECRET", "timeout_ms": 1000},
        {"name": "dead", "url": receiver.url(PATHS["dead"]), "kinds": ["agent_event"],
         "event_types": ["LOGIN", "LOGOUT", "STATE_CHANGE"], "secret_arn": "env:WH_SECRET", "timeout_ms": 300},
    ]}
    doc = work / "subscriptions.json"
    doc.write_text(json.dumps(subs))
    receiver.behave(PATHS["flaky"],
                    {"mode": "status", "status": 500, "count": 3},
                    {"mode": "status", "status": 429, "retry_after": 1, "count": 1},
                    {"mode": "slow", "delay_s": 1.5, "count": 2},
                    {"mode": "close", "count": 2},
                    {"mode": "status", "status": 503, "count": 2})
    receiver.behave(PATHS["dead"], {"mode": "hang", "hold_s": 600})
    out = work / "out"
    # A mid-run restart: the receiver goes away for a second while the day is being forwarded.
    restart = threading.Timer(4.0, lambda: receiver.restart(down_s=1.0))
    restart.start()
    forwarded = replay("forward", "run", str(day), "--subscriptions", str(doc), "--out", str(out), "--budget", "3")
    restart.cancel()
    parked_before = sorted(p.relative_to(out) for p in (out / "forwarder").rglob("*.json"))
    # The dead endpoint comes back; every subscription's parked messages are re-sent.
    receiver.clear()
    resent = {}
    for name in PATHS:
        dry = replay("forward", "resend", "--subscription", name, "--subscriptions", str(doc), "--out", str(out),
                     "--dry-run")
        resent[name] = (dry, replay("forward", "resend", "--subscription", name, "--subscriptions", str(doc),
                                    "--out", str(out)))
    again = replay("forward", "resend", "--subscription", "dead", "--subscriptions", str(doc), "--out", str(out))
    yield {"receiver": receiver, "day": day, "out": out, "forwarded": forwarded, "resent": resent, "again": again,
           "parked_before": parked_before, "work": work}
    receiver.stop()


def test_nothing_is_lost_and_order_per_key_holds_on_every_subscription(run):
    receiver = run["receiver"]
    kinds = {"healthy": {"agent_event"}, "flaky": {"agent_event", "contact_record"}, "dead": {"agent_event"}}
    for name, path in PATHS.items():
        expected = expected_messages(run["day"], kinds[name])
        if name == "dead":
            # Only the event types it asked for.
            types = {r["id"] for r in expected}
            expected = [m for m in expected if m["id"] in types]
            allowed = {"LOGIN", "LOGOUT", "STATE_CHANGE"}
            expected = [m for m in expected if _event_type(run["day"], m["id"]) in allowed]
        assert expected, name
        result = receiver.check(expected, path, allow_personal_data=True)
        assert result["lost"]["ok"], f"{name}: lost {result['lost']['missing'][:5]} of {len(expected)}"
        assert result["order"]["ok"], f"{name}: order {result['order']['violations'][:5]} {result['order']['skipped'][:5]}"
        assert not result["lost"]["unexpected"], f"{name}: unexpected {result['lost']['unexpected'][:5]}"
        assert not result["contract_problems"], f"{name}: {result['contract_problems'][:3]}"


_TYPES: dict[str, str] = {}


def _event_type(day: Path, msg_id: str) -> str:
    if not _TYPES:
        for line in day.read_text().splitlines():
            try:
                data = json.loads(base64.b64decode(json.loads(line)["data"]))
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("EventId"):
                _TYPES[f"ae_{data['EventId']}"] = data.get("EventType", "")
    return _TYPES.get(msg_id, "")


def test_duplicates_only_repeat_an_already_seen_id(run):
    seen: set[str] = set()
    for record in run["receiver"].records():
        if record["duplicate"]:
            assert record["id"] in seen, record["id"]
        seen.add(record["id"])


def test_every_request_was_verified_and_none_rejected(run):
    receiver = run["receiver"]
    assert receiver.rejections() == []
    accepted = [r for r in receiver.requests() if r["outcome"] == "accepted"]
    assert accepted and all(r["signature_ok"] for r in accepted)


def test_no_phone_number_or_contact_attributes_in_any_body(run):
    findings = [(r["path"], f) for r in run["receiver"].find_personal_data() for f in r["findings"]
                if not f["where"].endswith("SystemEndpoint.Address")]  # the contact centre's own number
    assert findings == [], findings[:3]
    for record in run["receiver"].records(PATHS["flaky"]):
        assert "Attributes" not in (record["data"] or {}), record["id"]


def test_the_dead_endpoint_was_parked_and_resend_delivered_it_once(run):
    dead_parked = [p for p in run["parked_before"] if str(p).startswith("forwarder/forwarder-parked/dead/")]
    assert dead_parked, "the hanging endpoint's messages were parked"
    dry, done = run["resent"]["dead"]
    assert f"keys with parked messages{' ' * 10}" in dry.stdout or "would send" in dry.stdout
    assert "messages left parked                         0" in done.stdout, done.stdout
    assert "messages sent and deleted                    0" in run["again"].stdout, run["again"].stdout
    assert not list((run["out"] / "forwarder" / "forwarder-parked").rglob("*.json")), "nothing left parked"
    state = json.loads((run["out"] / "forwarder-state.json").read_text())
    assert not [i for i in state if i["sk"].startswith("KEY#")], "every key freed"


def test_no_phone_number_or_transcript_in_the_logs(run):
    logs = run["forwarded"].stderr
    assert '"subscription batch"' in logs, "the function's log lines are there to check"
    text = logs + run["forwarded"].stdout
    for dry, done in run["resent"].values():
        text += dry.stdout + dry.stderr + done.stdout + done.stderr
    for personal in ("+1555", "CustomerEndpoint", "Transcript", "Content", "Attributes"):
        assert personal not in text, personal
