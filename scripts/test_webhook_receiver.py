"""The stream-forwarder's test receiver (scripts/webhook_receiver.py) and the Standard Webhooks reference library it
verifies with. First the library itself: that its signature is the DESIGN's and that its verifier rejects what it
must (the reason we use it). Then the receiver: verification, records, misbehaviours, restarts, checks, command.
No Rust: requests are signed here with the library's `Webhook.sign` (checked against a hand-rolled HMAC)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import http.client
import json
import select
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))
import webhook_receiver as wr  # noqa: E402

SECRET_BYTES = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
OLD = "whsec_" + base64.b64encode(b"previous-secret-previous-secret!").decode()
OTHER = "whsec_" + base64.b64encode(b"\x07" * 32).decode()

AGENT_A = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/agent/a"
AGENT_B = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/agent/b"


# -- helpers -------------------------------------------------------------------------------------------------------


def when(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def raw(name: str) -> dict:
    return json.loads((ROOT / "events" / "raw" / name).read_text())


def agent_message(event_id: str, agent: str = AGENT_A, event_type: str = "STATE_CHANGE") -> dict:
    """A message as the forwarder sends it: {"id", "type", "timestamp", "data"} (the id goes in the header)."""
    ts = "2026-11-02T08:00:00.000Z"
    data = {"AgentARN": agent, "EventId": event_id, "EventType": event_type, "EventTimestamp": ts}
    return {"id": f"ae_{event_id}", "type": f"connect.agent_event.{event_type.lower()}", "timestamp": ts,
            "data": data}


def record_message(kind: str, record: dict) -> dict:
    """The DESIGN's id, type and timestamp for a raw Connect record (the whole record as data)."""
    if kind == "agent_event":
        msg_id, ts = f"ae_{record['EventId']}", record["EventTimestamp"]
    elif kind == "contact_record":
        msg_id, ts = f"cr_{record['ContactId']}_{record['LastUpdateTimestamp']}", record["LastUpdateTimestamp"]
    else:
        digest = hashlib.sha256(json.dumps(record).encode()).hexdigest()[:16]
        msg_id, ts = f"seg_{record['ContactId']}_{digest}", "2026-11-02T08:00:00Z"
    return {"id": msg_id, "type": wr.message_type(kind, record), "timestamp": ts, "data": record}


def single(msg: dict) -> tuple[str, bytes]:
    return msg["id"], json.dumps({k: msg[k] for k in ("type", "timestamp", "data")}).encode()


def batch(msgs: list[dict]) -> tuple[str, bytes]:
    body = {"type": "connect.batch", "timestamp": "2026-11-02T08:00:00.000Z", "data": msgs}
    return wr.batch_id(m["id"] for m in msgs), json.dumps(body).encode()


def post(rx: wr.WebhookReceiver, path: str, body: bytes, headers: dict, timeout: float = 5.0):
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=timeout)
    try:
        conn.request("POST", path, body, headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def deliver(rx: wr.WebhookReceiver, path: str, msg_id: str, body: bytes, secrets=SECRET, timestamp=None, **kw):
    return post(rx, path, body, wr.sign_headers(secrets, msg_id, body, timestamp), **kw)


def send_message(rx: wr.WebhookReceiver, path: str, msg: dict, **kw):
    return deliver(rx, path, *single(msg), **kw)


def control(rx: wr.WebhookReceiver, doc: dict, endpoint: str = "/_control"):
    status, _, body = post(rx, endpoint, json.dumps(doc).encode(), {"content-type": "application/json"})
    return status, json.loads(body)


def get_state(rx: wr.WebhookReceiver) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
    try:
        conn.request("GET", "/_state")
        resp = conn.getresponse()
        assert resp.status == 200
        return json.loads(resp.read())
    finally:
        conn.close()


def until(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def rx():
    with wr.WebhookReceiver([SECRET]) as receiver:
        yield receiver


# =================================================================================================================
# 1. The reference library: its signature is the DESIGN's, and its verifier rejects what it must
# =================================================================================================================

BODY = b'{"type":"connect.contact_record","timestamp":"2026-11-02T08:14:12Z","data":{"ContactId":"c-1"}}'
MSG_ID = "cr_c-1_2026-11-02T08:14:12Z"


def library_headers(signature: str, ts: int, msg_id: str = MSG_ID) -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_the_library_signs_v1_comma_base64_of_hmac_sha256_over_id_dot_timestamp_dot_body_with_the_secret_bytes():
    ts = 1_790_000_000
    by_hand = base64.b64encode(hmac.new(SECRET_BYTES, f"{MSG_ID}.{ts}.".encode() + BODY, hashlib.sha256).digest())
    assert Webhook(SECRET).sign(MSG_ID, when(ts), BODY) == "v1," + by_hand.decode()
    # the whsec_ prefix is optional for the library; the bytes are the base64-decoded part
    assert Webhook(SECRET.removeprefix("whsec_")).sign(MSG_ID, when(ts), BODY) == "v1," + by_hand.decode()


def test_the_library_accepts_its_own_signature_and_a_hand_rolled_one():
    ts = int(time.time())
    by_hand = "v1," + base64.b64encode(
        hmac.new(SECRET_BYTES, f"{MSG_ID}.{ts}.".encode() + BODY, hashlib.sha256).digest()).decode()
    wh = Webhook(SECRET)
    assert wh.verify(BODY, library_headers(wh.sign(MSG_ID, when(ts), BODY), ts)) == json.loads(BODY)
    assert wh.verify(BODY, library_headers(by_hand, ts), json_parse=False) is None


@pytest.mark.parametrize("signature", ["v1,", "v1", "v1, ", " ", "v1,=", ","])
def test_the_library_rejects_an_empty_signature(signature: str):
    ts = int(time.time())
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        Webhook(SECRET).verify(BODY, library_headers(signature, ts))


def test_the_library_rejects_a_missing_signature_header_value():
    with pytest.raises(WebhookVerificationError, match="Missing required headers"):
        Webhook(SECRET).verify(BODY, library_headers("", int(time.time())))


@pytest.mark.parametrize("cut", ["last char", "last 4 chars", "half", "no v1 prefix", "no padding", "prefix only"])
def test_the_library_rejects_a_truncated_signature(cut: str):
    ts = int(time.time())
    good = Webhook(SECRET).sign(MSG_ID, when(ts), BODY)
    bad = {"last char": good[:-1], "last 4 chars": good[:-4], "half": good[: len(good) // 2],
           "no v1 prefix": good[3:], "no padding": good.rstrip("="), "prefix only": good[:3]}[cut]
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        Webhook(SECRET).verify(BODY, library_headers(bad, ts))


def test_the_library_rejects_a_signature_with_something_appended_or_of_another_version():
    ts = int(time.time())
    good = Webhook(SECRET).sign(MSG_ID, when(ts), BODY)
    for bad in (good + "A", good + "==", "v2" + good[2:], "V1" + good[2:], "v1a" + good[2:]):
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(BODY, library_headers(bad, ts))


def test_the_library_rejects_a_wrong_secret():
    ts = int(time.time())
    signature = Webhook(OTHER).sign(MSG_ID, when(ts), BODY)
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        Webhook(SECRET).verify(BODY, library_headers(signature, ts))


@pytest.mark.parametrize("tamper", ["one byte", "trailing newline", "reserialised", "empty"])
def test_the_library_rejects_a_tampered_body(tamper: str):
    ts = int(time.time())
    signature = Webhook(SECRET).sign(MSG_ID, when(ts), BODY)
    bad = {"one byte": BODY.replace(b"c-1", b"c-2"), "trailing newline": BODY + b"\n",
           "reserialised": json.dumps(json.loads(BODY), indent=1).encode(), "empty": b""}[tamper]
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        Webhook(SECRET).verify(bad, library_headers(signature, ts))


def test_the_library_rejects_a_tampered_id_or_timestamp():
    ts = int(time.time())
    signature = Webhook(SECRET).sign(MSG_ID, when(ts), BODY)
    for headers in (library_headers(signature, ts, MSG_ID + "x"), library_headers(signature, ts - 1)):
        with pytest.raises(WebhookVerificationError, match="No matching signature found"):
            Webhook(SECRET).verify(BODY, headers)


@pytest.mark.parametrize("offset, message", [(-301, "too old"), (-3600, "too old"), (301, "too new"),
                                             (86400, "too new")])
def test_the_library_rejects_a_timestamp_more_than_five_minutes_away(offset: int, message: str):
    ts = int(time.time()) + offset
    signature = Webhook(SECRET).sign(MSG_ID, when(ts), BODY)  # correctly signed: only the age is wrong
    with pytest.raises(WebhookVerificationError, match=message):
        Webhook(SECRET).verify(BODY, library_headers(signature, ts))


@pytest.mark.parametrize("offset", [-240, 240])
def test_the_library_accepts_a_timestamp_within_five_minutes(offset: int):
    ts = int(time.time()) + offset
    Webhook(SECRET).verify(BODY, library_headers(Webhook(SECRET).sign(MSG_ID, when(ts), BODY), ts))


def test_the_library_accepts_when_any_one_of_several_signatures_matches():
    ts = int(time.time())
    mine, other = Webhook(SECRET).sign(MSG_ID, when(ts), BODY), Webhook(OTHER).sign(MSG_ID, when(ts), BODY)
    for header in (f"{mine} {other}", f"{other} {mine}", f"v1, {mine}"):
        Webhook(SECRET).verify(BODY, library_headers(header, ts))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, library_headers(f"{other} {other}", ts))


def test_the_library_accepts_a_fractional_timestamp_header_so_the_receiver_checks_the_format_itself(rx):
    """A quirk: the library floors the header's value before signing, so "<ts>.9" passes with the signature over
    "<ts>". The DESIGN (and Standard Webhooks) say integer seconds, so the receiver refuses it."""
    ts = int(time.time())
    signature = Webhook(SECRET).sign(MSG_ID, when(ts), BODY)
    Webhook(SECRET).verify(BODY, library_headers(signature, f"{ts}.9"))  # the library: fine
    status, _, body = post(rx, "/p", BODY, {"webhook-id": MSG_ID, "webhook-timestamp": f"{ts}.9",
                                            "webhook-signature": signature})
    assert status == 401 and "integer" in json.loads(body)["error"]


# =================================================================================================================
# 2. The receiver verifies and records
# =================================================================================================================


def test_a_good_single_message_is_accepted_and_recorded_with_id_type_key_path_and_order(rx):
    login = record_message("agent_event", raw("agent/login.json"))
    ctr = record_message("contact_record", raw("ctr/voice-inbound.json"))
    assert send_message(rx, "/wfm", login)[0] == 200
    assert send_message(rx, "/crm", ctr)[0] == 200

    first, second = rx.records()
    assert (first["seq"], first["path"], first["id"], first["type"]) == (0, "/wfm", login["id"],
                                                                          "connect.agent_event.login")
    assert first["key"] == login["data"]["AgentARN"] and first["key_source"] == "data"
    assert first["duplicate"] is False and first["batch_id"] is None and first["data"] == login["data"]
    assert (second["seq"], second["path"], second["type"]) == (1, "/crm", "connect.contact_record")
    assert second["key"] == "ad92bd21-3930-4256-a9c6-2e3d1e90e82b"
    assert rx.contract_problems() == [] and rx.rejections() == []
    assert [r["verified_with"] for r in rx.requests()] == [[0], [0]]


def test_a_good_batch_is_accepted_and_each_inner_message_recorded_with_its_own_id_and_key(rx):
    msgs = [record_message("contact_record", raw("ctr/voice-inbound.json")),
            record_message("segment", raw("segments/voice-segments-1.json")),
            record_message("agent_event", raw("agent/status-break.json"))]
    request_id, body = batch(msgs)
    status, _, answer = deliver(rx, "/hooks", request_id, body)
    assert status == 200 and json.loads(answer) == {"accepted": 3, "duplicates": 0}

    records = rx.records("/hooks")
    assert [r["id"] for r in records] == [m["id"] for m in msgs]
    assert [r["batch_index"] for r in records] == [0, 1, 2]
    assert {r["batch_id"] for r in records} == {request_id} and request_id.startswith("batch_")
    assert [r["key"] for r in records] == [msgs[0]["data"]["ContactId"], msgs[1]["data"]["ContactId"],
                                           msgs[2]["data"]["AgentARN"]]
    assert rx.contract_problems() == []


def test_a_repeated_id_is_a_duplicate_on_its_path_and_not_on_another(rx):
    a, b = agent_message("e1"), agent_message("e2")
    for path, msg in (("/x", a), ("/x", a), ("/y", a), ("/x", b)):
        assert send_message(rx, path, msg)[0] == 200
    request_id, body = batch([b, agent_message("e3")])  # a batch redelivered with one id already seen
    assert json.loads(deliver(rx, "/x", request_id, body)[2]) == {"accepted": 2, "duplicates": 1}
    assert [(r["path"], r["id"], r["duplicate"]) for r in rx.records()] == [
        ("/x", "ae_e1", False), ("/x", "ae_e1", True), ("/y", "ae_e1", False), ("/x", "ae_e2", False),
        ("/x", "ae_e2", True), ("/x", "ae_e3", False)]


def _spoil(kind: str, msg_id: str, body: bytes) -> tuple[bytes, dict]:
    now = int(time.time())
    headers = wr.sign_headers(SECRET, msg_id, body, now)
    good = headers["webhook-signature"]
    if kind == "tampered body":
        return body.replace(b"STATE_CHANGE", b"STATE_CHANGF"), headers
    if kind == "wrong secret":
        return body, wr.sign_headers(OTHER, msg_id, body, now)
    if kind == "old timestamp":
        return body, wr.sign_headers(SECRET, msg_id, body, now - 400)
    if kind == "future timestamp":
        return body, wr.sign_headers(SECRET, msg_id, body, now + 400)
    if kind == "empty signature":
        return body, {**headers, "webhook-signature": "v1,"}
    if kind == "truncated signature":
        return body, {**headers, "webhook-signature": good[:-6]}
    if kind == "no signature header":
        return body, {k: v for k, v in headers.items() if k != "webhook-signature"}
    if kind == "no id header":
        return body, {k: v for k, v in headers.items() if k != "webhook-id"}
    if kind == "id changed":
        return body, {**headers, "webhook-id": msg_id + "0"}
    if kind == "timestamp not a number":
        return body, {**headers, "webhook-timestamp": "yesterday"}
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, reason", [
    ("tampered body", "No matching signature"), ("wrong secret", "No matching signature"),
    ("old timestamp", "too old"), ("future timestamp", "too new"), ("empty signature", "No matching signature"),
    ("truncated signature", "No matching signature"), ("no signature header", "Missing required headers"),
    ("no id header", "Missing required headers"), ("id changed", "No matching signature"),
    ("timestamp not a number", "integer Unix seconds"),
])
def test_a_request_that_fails_verification_is_answered_401_recorded_as_rejected_and_not_as_a_message(
        rx, kind: str, reason: str):
    msg_id, body = single(agent_message("e1"))
    spoilt_body, headers = _spoil(kind, msg_id, body)
    status, _, answer = post(rx, "/wfm", spoilt_body, headers)
    assert status == 401 and reason in json.loads(answer)["error"]
    assert rx.records() == []
    [rejection] = rx.rejections()
    assert rejection["status"] == 401 and reason in rejection["reason"] and rejection["path"] == "/wfm"
    assert rx.requests()[0]["outcome"] == "rejected" and rx.requests()[0]["signature_ok"] is False


def test_a_signature_header_sent_twice_is_rejected(rx):
    msg_id, body = single(agent_message("e1"))
    headers = wr.sign_headers(SECRET, msg_id, body)
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
    try:
        conn.putrequest("POST", "/wfm")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("webhook-signature", "v1,")
        conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        assert conn.getresponse().status == 401
    finally:
        conn.close()
    assert "sent 2 times" in rx.rejections()[0]["reason"]


def test_during_rotation_a_request_is_accepted_when_either_signature_matches_either_secret():
    msg_id, body = single(agent_message("e1"))
    with wr.WebhookReceiver([SECRET, OLD]) as both, wr.WebhookReceiver([SECRET]) as new_only:
        assert deliver(both, "/p", msg_id, body, secrets=[OLD])[0] == 200
        assert deliver(both, "/p", msg_id, body, secrets=[SECRET])[0] == 200
        assert deliver(both, "/p", msg_id, body, secrets=[SECRET, OLD])[0] == 200
        assert deliver(both, "/p", msg_id, body, secrets=[OTHER])[0] == 401
        assert [r["verified_with"] for r in both.requests()] == [[1], [0], [0, 1], []]
        assert [r["signatures"] for r in both.requests()] == [1, 1, 2, 1]

        assert deliver(new_only, "/p", msg_id, body, secrets=[SECRET, OLD])[0] == 200  # current, previous
        assert deliver(new_only, "/p", msg_id, body, secrets=[OLD, SECRET])[0] == 200
        assert deliver(new_only, "/p", msg_id, body, secrets=[OLD])[0] == 401


def test_the_accepted_secrets_can_be_changed_at_run_time_through_the_control_api(rx):
    msg_id, body = single(agent_message("e1"))
    assert deliver(rx, "/p", msg_id, body, secrets=[OTHER])[0] == 401
    assert control(rx, {"action": "secrets", "secrets": [OTHER]}) == (200, {"ok": True, "secrets": 1})
    assert deliver(rx, "/p", msg_id, body, secrets=[OTHER])[0] == 200
    assert deliver(rx, "/p", msg_id, body, secrets=[SECRET])[0] == 401
    assert control(rx, {"action": "secrets", "secrets": ["whsec_"]})[0] == 400  # empty secret


def test_a_signed_body_that_is_not_a_message_is_answered_400(rx):
    for body in (b"not json", b"[1,2]", b'{"data": {}}', b'{"type": "connect.batch", "data": {}}',
                 b'{"type": "connect.batch", "data": [{"type": "connect.segment"}]}'):
        status, _, _ = deliver(rx, "/p", "x", body)
        assert status == 400
    assert rx.records() == [] and len(rx.rejections()) == 5
    assert all(r["status"] == 400 for r in rx.rejections())


def test_contract_problems_are_recorded_and_fail_the_check_and_a_strict_receiver_answers_400(rx):
    msgs = [agent_message("e1"), agent_message("e2")]
    _, body = batch(msgs)
    assert deliver(rx, "/p", "batch_0123", body)[0] == 200  # wrong batch id
    wrong_id = agent_message("e3")
    assert deliver(rx, "/p", "ae_other", single(wrong_id)[1])[0] == 200  # id is not ae_<EventId>
    bad_time = {**agent_message("e4"), "timestamp": "02/11/2026 08:00"}
    assert send_message(rx, "/p", bad_time)[0] == 200
    msg_id, body = single(agent_message("e5"))
    headers = {**wr.sign_headers(SECRET, msg_id, body), "content-type": "text/plain"}
    assert post(rx, "/p", body, headers)[0] == 200

    problems = [p["problem"] for p in rx.contract_problems()]
    assert len(problems) == 4, problems
    assert "batch: webhook-id 'batch_0123' is not" in problems[0]
    assert "is not ae_<EventId>" in problems[1]
    assert "not RFC 3339" in problems[2]
    assert "content-type" in problems[3]
    assert rx.check(["ae_e1", "ae_e2", "ae_other", "ae_e4", "ae_e5"], "/p")["ok"] is False

    with wr.WebhookReceiver([SECRET], strict=True) as strict:
        assert deliver(strict, "/p", "batch_0123", batch(msgs)[1])[0] == 400
        assert deliver(strict, "/p", *batch(msgs))[0] == 200
        assert strict.ids() == ["ae_e1", "ae_e2"]


def test_a_conformant_stream_of_fixtures_has_no_contract_problems(rx):
    msgs = [record_message("agent_event", raw(f"agent/{n}.json")) for n in ("login", "status-available")]
    msgs += [record_message("contact_record", raw(f"ctr/{n}.json")) for n in ("chat", "task", "callback")]
    msgs += [record_message("segment", raw(f"segments/{n}.json")) for n in ("voice-started", "chat-segments")]
    for msg in msgs:
        assert send_message(rx, "/all", msg)[0] == 200
    assert deliver(rx, "/all", *batch(msgs))[0] == 200
    assert rx.contract_problems() == []


# =================================================================================================================
# 3. Misbehaviour, per path, at run time
# =================================================================================================================


def test_n_times_500_then_normal_again(rx):
    msg = agent_message("e1")
    rx.fail("/p", count=3)
    assert [send_message(rx, "/p", msg)[0] for _ in range(5)] == [500, 500, 500, 200, 200]
    assert [r["outcome"] for r in rx.requests()] == ["injected"] * 3 + ["accepted"] * 2
    assert [r["duplicate"] for r in rx.records()] == [False, True]  # the failed ones were not recorded


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_carry_retry_after_in_seconds_or_as_an_http_date(rx, status: int):
    date = email.utils.formatdate(time.time() + 3, usegmt=True)
    rx.behave("/p", {"mode": "status", "status": status, "retry_after": 2, "count": 1},
              {"mode": "status", "status": status, "retry_after": date, "count": 1})
    msg = agent_message("e1")
    first, second, third = (send_message(rx, "/p", msg) for _ in range(3))
    assert (first[0], first[1]["retry-after"]) == (status, "2")
    assert (second[0], second[1]["retry-after"]) == (status, date)
    assert third[0] == 200 and "retry-after" not in third[1]


def test_410_gone_lasts_until_cleared(rx):
    rx.gone("/p")
    msg = agent_message("e1")
    assert [send_message(rx, "/p", msg)[0] for _ in range(3)] == [410, 410, 410]
    rx.clear("/p")
    assert send_message(rx, "/p", msg)[0] == 200


def test_slow_answers_after_the_delay_and_records_the_message(rx):
    rx.slow("/p", 0.6)
    started = time.monotonic()
    assert send_message(rx, "/p", agent_message("e1"))[0] == 200
    assert time.monotonic() - started >= 0.6
    assert send_message(rx, "/p", agent_message("e2"))[0] == 200
    assert [r["mode"] for r in rx.requests("/p")] == ["slow", "ok"]  # count 1: the next is prompt
    assert rx.ids("/p") == ["ae_e1", "ae_e2"]


def test_a_slow_answer_the_client_gave_up_on_is_a_late_ack_and_its_retry_a_duplicate(rx):
    rx.slow("/p", 0.8)
    msg = agent_message("e1")
    with pytest.raises(TimeoutError):
        send_message(rx, "/p", msg, timeout=0.2)
    assert rx.wait_for(["ae_e1"], "/p", timeout=5) == []
    assert send_message(rx, "/p", msg)[0] == 200
    assert [r["duplicate"] for r in rx.records("/p")] == [False, True]


def test_hang_never_answers_and_lets_go_when_the_client_gives_up(rx):
    rx.hang("/p")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        send_message(rx, "/p", agent_message("e1"), timeout=0.5)
    assert time.monotonic() - started >= 0.5
    held = until(lambda: rx.requests("/p")[0].get("held_s"))
    assert 0.4 <= held < 3
    assert rx.records() == [] and rx.requests()[0]["outcome"] == "hang" and rx.requests()[0]["status"] is None
    assert send_message(rx, "/p", agent_message("e1"))[0] == 200  # count 1


def test_hang_lets_go_after_hold_s_and_when_the_server_stops(rx):
    rx.hang("/p", count=None, hold_s=0.3)
    with pytest.raises(http.client.RemoteDisconnected):
        send_message(rx, "/p", agent_message("e1"), timeout=5)
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=10)
    msg_id, body = single(agent_message("e2"))
    rx.hang("/p", count=None, hold_s=60)
    conn.request("POST", "/p", body, wr.sign_headers(SECRET, msg_id, body))
    until(lambda: len(rx.requests("/p")) == 2)
    started = time.monotonic()
    rx.stop()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.getresponse()
    assert time.monotonic() - started < 3
    conn.close()


def test_close_ends_the_connection_without_an_answer(rx):
    rx.drop("/p", count=2)
    for _ in range(2):
        with pytest.raises(http.client.RemoteDisconnected):
            send_message(rx, "/p", agent_message("e1"))
    assert send_message(rx, "/p", agent_message("e1"))[0] == 200
    assert [r["outcome"] for r in rx.requests()] == ["closed", "closed", "accepted"]


def test_reset_resets_the_connection(rx):
    rx.drop("/p", reset=True)
    with pytest.raises(ConnectionResetError) as caught:
        send_message(rx, "/p", agent_message("e1"))
    assert not isinstance(caught.value, http.client.RemoteDisconnected)  # RST, not a clean close
    assert rx.requests()[0]["outcome"] == "reset"


def test_misbehaviour_is_per_path_and_star_is_the_default_for_paths_without_their_own(rx):
    rx.fail("/a", count=None, status=503)
    assert send_message(rx, "/a", agent_message("e1"))[0] == 503
    assert send_message(rx, "/b", agent_message("e1"))[0] == 200
    rx.fail("*", count=None, status=500)
    assert send_message(rx, "/a", agent_message("e1"))[0] == 503
    assert send_message(rx, "/b", agent_message("e1"))[0] == 500
    assert send_message(rx, "/c", agent_message("e1"))[0] == 500
    rx.clear()
    assert [send_message(rx, p, agent_message("e1"))[0] for p in ("/a", "/b", "/c")] == [200, 200, 200]


def test_a_script_runs_its_steps_in_order_then_the_path_is_normal(rx):
    rx.behave("/p", {"mode": "status", "status": 500, "count": 2}, {"mode": "close", "count": 1},
              {"mode": "ok", "status": 202, "count": 1}, {"mode": "status", "status": 429, "retry_after": 1})
    results = []
    for _ in range(6):
        try:
            results.append(send_message(rx, "/p", agent_message("e1"))[0])
        except http.client.RemoteDisconnected:
            results.append("closed")
    assert results == [500, 500, "closed", 202, 429, 429]  # the last step has no count: it stays


def test_a_kept_alive_connection_carries_several_requests_and_misbehaviours(rx):
    rx.fail("/p", count=1, status=503)
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
    statuses = []
    try:
        for i in range(3):
            msg_id, body = single(agent_message(f"e{i}"))
            conn.request("POST", "/p", body, wr.sign_headers(SECRET, msg_id, body))
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
    finally:
        conn.close()
    assert statuses == [503, 200, 200]


def test_the_control_api_sets_clears_and_shows_behaviour_as_json(rx):
    assert control(rx, {"action": "behave", "path": "/p", "mode": "status", "status": 500, "count": 2})[0] == 200
    status, answer = control(rx, {"action": "behave", "path": "/q", "steps": [
        {"mode": "slow", "delay_s": 0.1, "count": 1}, {"mode": "status", "status": 410}]})
    assert status == 200 and answer["behaviours"]["/q"][1]["status"] == 410
    assert get_state(rx)["behaviours"]["/p"] == [
        {"mode": "status", "count": 2, "remaining": 2, "status": 500}]
    assert [send_message(rx, "/p", agent_message("e1"))[0] for _ in range(3)] == [500, 500, 200]
    assert [send_message(rx, "/q", agent_message("e1"))[0] for _ in range(3)] == [200, 410, 410]
    assert control(rx, {"action": "clear", "path": "/q"}) == (200, {"ok": True})
    assert send_message(rx, "/q", agent_message("e1"))[0] == 200
    state = get_state(rx)
    assert state["behaviours"] == {} and len(state["records"]) == 3 and state["running"] is True
    assert control(rx, {"action": "reset"}) == (200, {"ok": True})
    assert get_state(rx)["records"] == [] and get_state(rx)["requests"] == []


@pytest.mark.parametrize("doc", [
    {"action": "behave", "path": "/p", "mode": "explode"},
    {"action": "behave", "path": "/p", "mode": "status", "status": 500, "count": 0},
    {"action": "behave", "path": "/p", "mode": "status", "status": 200},
    {"action": "behave", "path": "/p", "mode": "ok", "status": 500},
    {"action": "behave", "path": "/p", "mode": "slow"},
    {"action": "behave", "path": "/p", "mode": "close", "delay_s": 1},
    {"action": "behave", "path": "/p", "mode": "status", "status": 429, "retry_after": 1.5},
    {"action": "behave", "path": "/_control", "mode": "close"},
    {"action": "behave", "mode": "close"},
    {"action": "behave", "path": "/p", "steps": {"mode": "close"}},
    {"action": "restart", "down_s": -1},
    {"action": "secrets", "secrets": "whsec_x"},
    {"action": "launch"},
])
def test_the_control_api_answers_400_to_nonsense_and_changes_nothing(rx, doc: dict):
    status, answer = control(rx, doc)
    assert status == 400 and answer["error"]
    assert get_state(rx)["behaviours"] == {}


# =================================================================================================================
# 4. Stopped and started again on the same port, mid-run
# =================================================================================================================


def test_stop_refuses_connections_and_start_listens_on_the_same_port_with_the_records_kept(rx):
    msg = agent_message("e1")
    assert send_message(rx, "/p", msg)[0] == 200
    port = rx.port
    rx.stop()
    assert not rx.running
    with pytest.raises(ConnectionRefusedError):
        send_message(rx, "/p", msg)
    rx.start()
    assert rx.port == port
    assert send_message(rx, "/p", msg)[0] == 200
    assert [(r["id"], r["duplicate"]) for r in rx.records()] == [("ae_e1", False), ("ae_e1", True)]
    [restart] = rx.state()["restarts"]
    assert restart["up_at"] > restart["down_at"]


def test_restart_through_the_control_api_is_down_for_down_s_then_back_on_the_same_port(rx):
    assert send_message(rx, "/p", agent_message("e1"))[0] == 200
    port = rx.port
    assert control(rx, {"action": "restart", "down_s": 0.8}) == (200, {"ok": True, "port": port, "down_s": 0.8})
    until(lambda: not rx.running)
    with pytest.raises(ConnectionRefusedError):
        send_message(rx, "/p", agent_message("e2"))
    until(lambda: rx.running, timeout=5)
    assert rx.port == port
    assert send_message(rx, "/p", agent_message("e2"))[0] == 200
    assert rx.ids() == ["ae_e1", "ae_e2"]


def test_a_restart_drops_an_idle_kept_alive_connection_as_a_crash_would(rx):
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
    msg_id, body = single(agent_message("e1"))
    conn.request("POST", "/p", body, wr.sign_headers(SECRET, msg_id, body))
    assert conn.getresponse().read()
    rx.restart()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        conn.request("POST", "/p", body, wr.sign_headers(SECRET, msg_id, body))
        conn.getresponse()
    conn.close()
    assert send_message(rx, "/p", agent_message("e1"))[0] == 200


# =================================================================================================================
# 5. Checks: order per key, nothing lost, personal data
# =================================================================================================================


def rec(msg_id: str, key: str, path: str = "/p") -> dict:
    return {"id": msg_id, "key": key, "path": path}


def test_order_check_accepts_interleaved_keys_and_redeliveries_of_ids_already_seen():
    expected = ["a1", "b1", "a2", "b2", "a3"]
    records = [rec("b1", "B"), rec("a1", "A"), rec("a2", "A"), rec("a1", "A"), rec("b2", "B"), rec("a2", "A"),
               rec("a3", "A"), rec("b1", "B")]
    result = wr.check_order(records, expected)
    assert result == {"ok": True, "violations": [], "skipped": [], "keys": 2, "duplicates": 3}


def test_order_check_catches_a_reordering_within_a_key():
    result = wr.check_order([rec("a2", "A"), rec("a1", "A"), rec("a3", "A")], ["a1", "a2", "a3"])
    assert result["ok"] is False
    assert result["violations"] == [{"path": "/p", "key": "A", "id": "a1", "arrived_after": "a2"}]


def test_order_check_catches_a_later_message_delivered_while_an_earlier_one_of_its_key_never_came():
    expected = [{"id": "a1", "key": "A"}, {"id": "a2", "key": "A"}, {"id": "b1", "key": "B"}]
    result = wr.check_order([rec("a2", "A")], expected)
    assert result["ok"] is False
    assert result["skipped"] == [{"path": "/p", "key": "A", "id": "a1", "later_delivered": "a2"}]
    # a prefix of each key (the rest parked) is in order
    assert wr.check_order([rec("a1", "A")], expected)["ok"] is True


def test_order_is_per_path():
    records = [rec("a1", "A", "/x"), rec("a2", "A", "/x"), rec("a2", "A", "/y"), rec("a1", "A", "/y")]
    result = wr.check_order(records, ["a1", "a2"])
    assert [(v["path"], v["id"]) for v in result["violations"]] == [("/y", "a1")]
    assert wr.check_order(records[:2], ["a1", "a2"])["ok"] is True


def test_loss_check_catches_a_missing_id_and_lists_the_unexpected():
    records = [rec("a1", "A"), rec("a1", "A"), rec("a3", "A"), rec("zz", "Z")]
    result = wr.check_lost(records, ["a1", "a2", "a3"])
    assert result == {"ok": False, "missing": ["a2"], "unexpected": ["zz"], "expected": 3, "received": 3}
    assert wr.check_lost(records, ["a1", "a3"])["ok"] is True


def test_the_checks_over_received_messages_catch_reordering_and_loss_end_to_end(rx):
    a = [agent_message(f"a{i}", AGENT_A) for i in range(3)]
    b = [agent_message(f"b{i}", AGENT_B) for i in range(2)]
    expected = [m["id"] for m in (a[0], b[0], a[1], b[1], a[2])]
    for msg in (a[0], b[0], a[1], a[0], b[1], a[2]):
        assert send_message(rx, "/good", msg)[0] == 200
    for msg in (a[0], a[2], a[1], b[1]):  # a2 before a1; b0 lost and b1 delivered
        assert send_message(rx, "/bad", msg)[0] == 200

    good = rx.check(expected, "/good")
    assert good["ok"] is True and good["order"]["duplicates"] == 1, good
    bad = rx.check(expected, "/bad")
    assert bad["ok"] is False
    assert bad["order"]["violations"] == [{"path": "/bad", "key": AGENT_A, "id": "ae_a1", "arrived_after": "ae_a2"}]
    assert bad["lost"]["missing"] == ["ae_b0"]
    # b0's key is only known when the expected list names it
    assert bad["order"]["skipped"] == []
    named = rx.check([{"id": m["id"], "key": m["data"]["AgentARN"]} for m in (a[0], b[0], a[1], b[1], a[2])],
                     "/bad")
    assert named["order"]["skipped"] == [{"path": "/bad", "key": AGENT_B, "id": "ae_b0",
                                          "later_delivered": "ae_b1"}]

    status, over_http = control(rx, {"expected": expected, "path": "/bad"}, endpoint="/_check")
    assert status == 200 and over_http == json.loads(json.dumps(bad))


def test_a_key_dropped_by_the_field_allowlist_is_taken_from_a_contact_id_in_the_message_id(rx):
    ctr = record_message("contact_record", raw("ctr/voice-inbound.json"))
    ctr["data"] = {"Channel": ctr["data"]["Channel"]}
    agent = agent_message("e1")
    agent["data"] = {"EventType": "STATE_CHANGE"}
    for msg in (ctr, agent):
        assert send_message(rx, "/p", msg)[0] == 200
    first, second = rx.records()
    assert (first["key"], first["key_source"]) == ("ad92bd21-3930-4256-a9c6-2e3d1e90e82b", "id")
    assert (second["key"], second["key_source"]) == (None, None)


def test_personal_data_lists_phone_numbers_and_transcript_fields_and_leaves_clean_bodies_alone(rx):
    ctr = record_message("contact_record", raw("ctr/voice-inbound.json"))
    segment = record_message("segment", raw("segments/voice-segments-negative.json"))
    clean = record_message("agent_event", raw("agent/login.json"))
    for msg in (ctr, segment, clean):
        assert send_message(rx, "/p", msg)[0] == 200
    rx.fail("/q", count=1)
    assert send_message(rx, "/q", ctr)[0] == 500  # what is refused has still been sent

    found = rx.find_personal_data()
    assert [(f["path"], f["webhook_id"]) for f in found] == [("/p", ctr["id"]), ("/p", segment["id"]),
                                                            ("/q", ctr["id"])]
    ctr_findings = found[0]["findings"]
    assert {"kind": "phone", "where": "data.CustomerEndpoint.Address", "value": "+15555550123"} in ctr_findings
    assert {"kind": "personal_field", "where": "data.CustomerEndpoint"} in ctr_findings
    kinds = {(f["kind"], f["where"]) for f in found[1]["findings"]}
    assert ("transcript_field", "data.Segments[1].Transcript") in kinds
    assert ("transcript_field", "data.Segments[0].Utterance") in kinds
    assert rx.check([ctr["id"], segment["id"], clean["id"]], "/p")["ok"] is False
    assert rx.check([ctr["id"], segment["id"], clean["id"]], "/p", allow_personal_data=True)["ok"] is True


@pytest.mark.parametrize("text, numbers", [
    ("call +447700900123 now", ["+447700900123"]), ("+12345678", ["+12345678"]), ("+1234567", []),
    ("+1234567890123456", []), ("1+15555550199", ["+15555550199"]), ("tel:+33 1 23 45 67 89", []),
])
def test_the_phone_pattern_is_a_plus_and_8_to_15_digits(text: str, numbers: list[str]):
    found = wr.personal_data(json.dumps({"note": text}).encode())
    assert [f["value"] for f in found if f["kind"] == "phone"] == numbers


def test_wait_for_returns_what_is_still_missing_after_the_timeout(rx):
    assert send_message(rx, "/p", agent_message("e1"))[0] == 200
    assert rx.wait_for(["ae_e1"], "/p", timeout=1) == []
    started = time.monotonic()
    assert rx.wait_for(["ae_e1", "ae_e2"], "/p", timeout=0.3) == ["ae_e2"]
    assert time.monotonic() - started >= 0.3
    assert control(rx, {"ids": ["ae_e1", "ae_e9"], "timeout_s": 0.1}, endpoint="/_wait") == (
        200, {"ok": False, "missing": ["ae_e9"]})


# =================================================================================================================
# 6. The command the Rust tests spawn
# =================================================================================================================


def read_line(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the receiver printed nothing"
    return proc.stdout.readline()


def test_the_command_prints_its_url_serves_takes_control_and_writes_its_state_on_sigterm(tmp_path: Path):
    state_out = tmp_path / "state.json"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "webhook_receiver.py"), "--port", "0", "--secret", SECRET, "--secret", OLD,
         "--print-port", "--state-out", str(state_out), "--behaviour", '{"/p": {"mode": "status", "status": 500}}'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc)
        assert line.startswith("Receiver: http://127.0.0.1:") and line.endswith("/\n"), line
        port = int(line.strip().rsplit(":", 1)[1].rstrip("/"))
        client = wr.WebhookReceiver.__new__(wr.WebhookReceiver)  # only for .port in the helpers
        client._port = port
        assert send_message(client, "/p", agent_message("e1"))[0] == 500
        assert control(client, {"action": "clear"}) == (200, {"ok": True})
        assert send_message(client, "/p", agent_message("e1"), secrets=[OLD])[0] == 200
        assert get_state(client)["records"][0]["id"] == "ae_e1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    state = json.loads(state_out.read_text())
    assert [r["id"] for r in state["records"]] == ["ae_e1"]
    assert [r["status"] for r in state["requests"]] == [500, 200]
    assert state["secrets"] == 2 and state["running"] is False
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.parametrize("args, message", [
    (["--secret", "whsec_"], "may not be empty"),
    (["--secret", SECRET, "--host", "0.0.0.0"], "loopback"),
    (["--secret", SECRET, "--behaviour", '{"/p": {"mode": "nap"}}'], "mode must be one of"),
])
def test_the_command_refuses_a_bad_start_with_a_reason(args: list[str], message: str):
    done = subprocess.run([sys.executable, str(SCRIPTS / "webhook_receiver.py"), "--port", "0", *args],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and message in done.stderr, done.stderr
