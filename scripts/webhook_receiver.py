#!/usr/bin/env python3
"""A Standard Webhooks test receiver for the stream-forwarder (functions/stream-forwarder/DESIGN.md).

It is the independent side of the forwarder's tests: every request is verified with the Standard Webhooks
reference library (`standardwebhooks.Webhook(secret).verify`), not with our own code, against one or several
secrets (rotation). What fails is answered 401 and recorded with its reason; what passes is parsed (single and
batch bodies) and every message is recorded with its id, type, key (``data.AgentARN`` for agent events,
``data.ContactId`` for contact records and segments), arrival order, path and whether its id had been seen
before on that path (a duplicate).

It can be told to misbehave, per path (one path per subscription), at start or at run time: answer a status (500,
429/503 with Retry-After, 410, ...) N times, answer slowly, never answer, close or reset the connection without
answering; and it can be stopped and started again on the same port, keeping what it recorded. It checks per-key
order, loss, personal data in bodies and the DESIGN's contract (ids, batch id, timestamps).

Only the standard library and `standardwebhooks`; it listens on the loopback interface only. Two ways to use it:

  * in Python: ``with WebhookReceiver(["whsec_..."]) as rx: ... rx.url("/wfm") ... rx.check(expected, "/wfm")``;
  * as a command (the Rust integration tests spawn it):
    ``.venv/bin/python scripts/webhook_receiver.py --port 0 --secret whsec_... [--secret ...] --print-port
    [--state-out state.json] [--behaviour JSON] [--strict]``
    prints ``Receiver: http://127.0.0.1:<port>/`` once listening, serves until SIGTERM/SIGINT, then writes its
    state to --state-out (if given) and exits 0.

Control API (same server; paths starting with ``/_`` are never webhook paths):

  GET  /_state    everything recorded (see `WebhookReceiver.state`)
  GET  /_health   {"ok": true}
  POST /_control  {"action": "behave", "path": "/wfm", "steps": [STEP, ...]}   replace the path's script
                  {"action": "behave", "path": "/wfm", "mode": ..., ...}        shorthand for one STEP
                  {"action": "clear"} / {"action": "clear", "path": "/wfm"}     back to normal (all / one path)
                  {"action": "reset"}                                           forget records, rejections, requests
                  {"action": "secrets", "secrets": ["whsec_...", ...]}          accept these secrets from now on
                  {"action": "restart", "down_s": 2.0}                          close listener and connections now,
                                                                                listen again on the same port later
  POST /_check    {"expected": [ID or {"id": ID, "key": KEY}, ...], "path": "/wfm",
                   "allow_personal_data": false, "allow_unexpected": false}    -> `WebhookReceiver.check`
  POST /_wait     {"ids": [ID, ...], "path": "/wfm", "timeout_s": 10}          -> {"ok": bool, "missing": [...]}

  STEP: {"mode": "ok", "status": 200}                      normal (2xx of choice), records the messages
        {"mode": "status", "status": 503, "retry_after": 2}  answer that status (Retry-After: seconds or an HTTP
                                                             date, optional), record nothing
        {"mode": "slow", "delay_s": 3}                     wait, then as "ok" (messages recorded even if the client
                                                             gave up meanwhile: a late ack)
        {"mode": "hang", "hold_s": 300}                    never answer: hold until the client closes, the server
                                                             stops or hold_s passes, then close
        {"mode": "close"}                                  read the request, close the connection (FIN), no answer
        {"mode": "reset"}                                  read the request, reset the connection (RST), no answer
        every step takes "count": N (the next N requests to the path; absent or null: until changed). When a
        path's script is used up the path is normal again, or follows path "*" if one is set.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

MAX_BODY = 16 * 1024 * 1024
# A phone number: "+" then 8-15 digits (not followed by a 16th).
PHONE = re.compile(r"\+\d{8,15}(?!\d)")
TRANSCRIPT_FIELDS = frozenset({"Transcript", "Utterance"})
# DESIGN.md: removed unless a subscription lists them explicitly.
PERSONAL_FIELDS = frozenset({"CustomerEndpoint", "Attributes"})
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
AGENT_TYPE = re.compile(r"connect\.agent_event\.[a-z0-9_]+")
SEGMENT_ID = re.compile(r"seg_(?P<contact>[^_]+)_[0-9a-f]{16}")
MODES = ("ok", "status", "slow", "hang", "close", "reset")


class ControlError(ValueError):
    """A control request that makes no sense (answered 400)."""


# ---------------------------------------------------------------------------------------------------------------
# Signing (for tests that send to the receiver) and the DESIGN's derived values
# ---------------------------------------------------------------------------------------------------------------


def sign_headers(secrets: str | Iterable[str], msg_id: str, body: bytes, timestamp: int | None = None) -> dict:
    """Standard Webhooks headers for `body`, signed with each secret by the reference library (rotation: several
    space-separated signatures)."""
    if isinstance(secrets, str):
        secrets = [secrets]
    ts = int(time.time()) if timestamp is None else int(timestamp)
    when = datetime.fromtimestamp(ts, tz=timezone.utc)
    signatures = " ".join(Webhook(s).sign(msg_id, when, body) for s in secrets)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signatures,
    }


def batch_id(ids: Iterable[str]) -> str:
    """The request id of a batch: ``batch_`` + first 32 hex of sha256 over the messages' ids joined by newlines."""
    return "batch_" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]


def message_type(kind: str, record: dict) -> str:
    if kind == "agent_event":
        return "connect.agent_event." + str(record.get("EventType", "")).lower()
    return {"contact_record": "connect.contact_record", "segment": "connect.segment"}[kind]


def key_of(msg_type: str, data: Any, msg_id: str) -> tuple[str | None, str | None]:
    """(key, where it came from): the agent ARN for agent events, the contact id for the others. A field allowlist
    may drop them from data; contact record and segment ids carry the contact id, so fall back to it."""
    if isinstance(data, dict):
        field = "AgentARN" if msg_type.startswith("connect.agent_event.") else "ContactId"
        value = data.get(field)
        if isinstance(value, str) and value:
            return value, "data"
    if msg_type in ("connect.contact_record", "connect.segment"):
        parts = msg_id.split("_", 2)
        if len(parts) >= 3 and parts[1]:
            return parts[1], "id"
    return None, None


# ---------------------------------------------------------------------------------------------------------------
# Body inspection
# ---------------------------------------------------------------------------------------------------------------


def _walk(value: Any, where: str) -> Iterator[tuple[str, str | None, Any]]:
    """Yields (where, key, value) for every node of a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{where}.{k}" if where else str(k)
            yield here, str(k), v
            yield from _walk(v, here)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            here = f"{where}[{i}]"
            yield here, None, v
            yield from _walk(v, here)


def personal_data(body: bytes) -> list[dict]:
    """Phone numbers (``+`` and 8-15 digits) anywhere in the body, transcript fields (``Transcript``,
    ``Utterance``) and the DESIGN's personal fields (``CustomerEndpoint``, ``Attributes``) present at any depth."""
    try:
        doc = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace")
        return [{"kind": "phone", "where": "(raw body)", "value": m} for m in PHONE.findall(text)]
    found = []
    if isinstance(doc, str):
        found += [{"kind": "phone", "where": "", "value": m} for m in PHONE.findall(doc)]
    for where, key, value in _walk(doc, ""):
        if key in TRANSCRIPT_FIELDS:
            found.append({"kind": "transcript_field", "where": where})
        elif key in PERSONAL_FIELDS:
            found.append({"kind": "personal_field", "where": where})
        if key is not None:
            found += [{"kind": "phone", "where": where + " (key)", "value": m} for m in PHONE.findall(key)]
        if isinstance(value, str):
            found += [{"kind": "phone", "where": where, "value": m} for m in PHONE.findall(value)]
    return found


def _message_problems(msg_id: str, msg_type: str, timestamp: Any, data: Any, where: str) -> list[str]:
    problems = []
    if not (AGENT_TYPE.fullmatch(msg_type) or msg_type in ("connect.contact_record", "connect.segment")):
        problems.append(f"{where}: unknown type {msg_type!r}")
    if not (isinstance(timestamp, str) and RFC3339.fullmatch(timestamp)):
        problems.append(f"{where}: timestamp {timestamp!r} is not RFC 3339")
    if not isinstance(data, dict):
        problems.append(f"{where}: data is not an object")
        data = {}
    if msg_type.startswith("connect.agent_event."):
        if not msg_id.startswith("ae_"):
            problems.append(f"{where}: agent event id {msg_id!r} does not start with ae_")
        elif isinstance(data.get("EventId"), str) and msg_id != "ae_" + data["EventId"]:
            problems.append(f"{where}: id {msg_id!r} is not ae_<EventId> ({data['EventId']!r})")
        if isinstance(data.get("EventType"), str) and msg_type != "connect.agent_event." + data["EventType"].lower():
            problems.append(f"{where}: type {msg_type!r} does not match EventType {data['EventType']!r}")
    elif msg_type == "connect.contact_record":
        if not msg_id.startswith("cr_"):
            problems.append(f"{where}: contact record id {msg_id!r} does not start with cr_")
        elif isinstance(data.get("ContactId"), str) and isinstance(data.get("LastUpdateTimestamp"), str):
            want = f"cr_{data['ContactId']}_{data['LastUpdateTimestamp']}"
            if msg_id != want:
                problems.append(f"{where}: id {msg_id!r} is not {want!r}")
    elif msg_type == "connect.segment":
        m = SEGMENT_ID.fullmatch(msg_id)
        if not m:
            problems.append(f"{where}: segment id {msg_id!r} is not seg_<ContactId>_<16 hex>")
        elif isinstance(data.get("ContactId"), str) and m["contact"] != data["ContactId"]:
            problems.append(f"{where}: segment id {msg_id!r} does not carry ContactId {data['ContactId']!r}")
    return problems


def parse_body(body: bytes, webhook_id: str) -> tuple[list[dict], list[str]]:
    """The messages of a verified body and the contract problems found. Raises ValueError when the body cannot be
    read as a single or batch message at all."""
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise ValueError(f"body is not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ValueError("body is not a JSON object")
    msg_type = doc.get("type")
    if not isinstance(msg_type, str):
        raise ValueError("body has no string 'type'")
    problems: list[str] = []
    if msg_type != "connect.batch":
        problems += _message_problems(webhook_id, msg_type, doc.get("timestamp"), doc.get("data"), "body")
        extra = set(doc) - {"type", "timestamp", "data"}
        if extra:
            problems.append(f"body: unexpected fields {sorted(extra)}")
        return [{"id": webhook_id, "type": msg_type, "timestamp": doc.get("timestamp"), "data": doc.get("data"),
                 "batch_index": None}], problems
    items = doc.get("data")
    if not isinstance(items, list):
        raise ValueError("batch data is not a list")
    if not items:
        problems.append("batch: data is empty")
    if not (isinstance(doc.get("timestamp"), str) and RFC3339.fullmatch(doc["timestamp"])):
        problems.append(f"batch: timestamp {doc.get('timestamp')!r} is not RFC 3339")
    messages = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"batch message {i} is not an object")
        inner_id, inner_type = item.get("id"), item.get("type")
        if not isinstance(inner_id, str) or not inner_id:
            raise ValueError(f"batch message {i} has no string 'id'")
        if not isinstance(inner_type, str):
            raise ValueError(f"batch message {i} has no string 'type'")
        problems += _message_problems(inner_id, inner_type, item.get("timestamp"), item.get("data"), f"data[{i}]")
        extra = set(item) - {"id", "type", "timestamp", "data"}
        if extra:
            problems.append(f"data[{i}]: unexpected fields {sorted(extra)}")
        messages.append({"id": inner_id, "type": inner_type, "timestamp": item.get("timestamp"),
                         "data": item.get("data"), "batch_index": i})
    want = batch_id(m["id"] for m in messages)
    if webhook_id != want:
        problems.append(f"batch: webhook-id {webhook_id!r} is not {want!r}")
    return messages, problems


# ---------------------------------------------------------------------------------------------------------------
# Checks (pure functions over recorded messages)
# ---------------------------------------------------------------------------------------------------------------


def _expected(expected: Iterable[Any]) -> tuple[list[str], dict[str, str]]:
    ids: list[str] = []
    keys: dict[str, str] = {}
    seen = set()
    for item in expected:
        if isinstance(item, dict):
            msg_id, key = item.get("id"), item.get("key")
        else:
            msg_id, key = item, None
        if not isinstance(msg_id, str):
            raise ControlError(f"expected item {item!r} is neither an id nor {{'id': ..., 'key': ...}}")
        if key is not None:
            keys[msg_id] = str(key)
        if msg_id not in seen:
            seen.add(msg_id)
            ids.append(msg_id)
    return ids, keys


def check_order(records: list[dict], expected: Iterable[Any]) -> dict:
    """Per (path, key): the ids in arrival order, each id counted at its first arrival (a later arrival of an id
    already seen - a redelivery - is allowed anywhere), must follow the expected order (a subsequence of the
    expected list). `violations`: an id that arrived after one expected later; `skipped`: an expected id of the key
    that never arrived on that path although a later one of the key did (DESIGN: later messages park behind it)."""
    exp_ids, exp_keys = _expected(expected)
    pos = {msg_id: i for i, msg_id in enumerate(exp_ids)}
    groups: dict[tuple[str, str | None], list[str]] = {}
    key_by_id = dict(exp_keys)
    for r in records:
        key = exp_keys.get(r["id"], r["key"])
        key_by_id.setdefault(r["id"], key)
        groups.setdefault((r["path"], key), []).append(r["id"])
    violations, skipped = [], []
    duplicates = 0
    for (path, key), ids in groups.items():
        first: list[str] = []
        seen: set[str] = set()
        for msg_id in ids:
            if msg_id in seen:
                duplicates += 1
                continue
            seen.add(msg_id)
            first.append(msg_id)
        known = [i for i in first if i in pos]
        latest = None
        for msg_id in known:
            if latest is not None and pos[msg_id] < pos[latest]:
                violations.append({"path": path, "key": key, "id": msg_id, "arrived_after": latest})
            if latest is None or pos[msg_id] > pos[latest]:
                latest = msg_id
        if latest is not None:
            for msg_id in exp_ids[: pos[latest]]:
                if key is not None and key_by_id.get(msg_id) == key and msg_id not in seen:
                    skipped.append({"path": path, "key": key, "id": msg_id, "later_delivered": latest})
    return {"ok": not violations and not skipped, "violations": violations, "skipped": skipped,
            "keys": len(groups), "duplicates": duplicates}


def check_lost(records: list[dict], expected: Iterable[Any]) -> dict:
    """Nothing lost: every expected id was received (at least once); `unexpected` lists ids received that were
    not expected."""
    exp_ids, _ = _expected(expected)
    received = list(dict.fromkeys(r["id"] for r in records))
    got = set(received)
    want = set(exp_ids)
    missing = [i for i in exp_ids if i not in got]
    return {"ok": not missing, "missing": missing, "unexpected": [i for i in received if i not in want],
            "expected": len(exp_ids), "received": len(received)}


# ---------------------------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------------------------


def _step(spec: dict, hold_max_s: float) -> dict:
    if not isinstance(spec, dict):
        raise ControlError(f"a step is an object, not {spec!r}")
    mode = spec.get("mode")
    if not isinstance(mode, str) or mode not in MODES:
        raise ControlError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    allowed = {"mode", "count"} | {
        "ok": {"status"}, "status": {"status", "retry_after", "body"}, "slow": {"delay_s", "status"},
        "hang": {"hold_s"}, "close": set(), "reset": set(),
    }[mode]
    unknown = set(spec) - allowed
    if unknown:
        raise ControlError(f"mode {mode!r} takes no {', '.join(sorted(unknown))}")
    count = spec.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ControlError(f"count must be a positive integer or null, not {count!r}")
    step: dict[str, Any] = {"mode": mode, "count": count, "remaining": count}
    if mode in ("ok", "slow"):
        status = spec.get("status", 200)
        if not isinstance(status, int) or not 200 <= status <= 299:
            raise ControlError(f"{mode}: status must be 2xx, not {status!r} (use mode 'status')")
        step["status"] = status
    if mode == "status":
        status = spec.get("status")
        if not isinstance(status, int) or not 300 <= status <= 599:
            raise ControlError(f"status: status must be 300-599, not {status!r}")
        step["status"] = status
        retry_after = spec.get("retry_after")
        if retry_after is not None:
            if isinstance(retry_after, bool) or not isinstance(retry_after, (int, str)):
                raise ControlError(f"retry_after must be whole seconds or an HTTP date string, not {retry_after!r}")
            step["retry_after"] = str(retry_after)
        if "body" in spec:
            step["body"] = str(spec["body"])
    if mode == "slow":
        delay = spec.get("delay_s")
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise ControlError(f"slow: delay_s must be a number >= 0, not {delay!r}")
        step["delay_s"] = float(delay)
    if mode == "hang":
        hold = spec.get("hold_s", hold_max_s)
        if not isinstance(hold, (int, float)) or isinstance(hold, bool) or hold < 0:
            raise ControlError(f"hang: hold_s must be a number >= 0, not {hold!r}")
        step["hold_s"] = float(hold)
    return step


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the forwarder's client pools connections
    # The status line and headers go out in one write and the body in another: with Nagle's algorithm on, the body
    # waits for the client's delayed ACK (40 ms a request), which would make this receiver, not the sender, the
    # bottleneck of every timing taken against it.
    disable_nagle_algorithm = True
    server_version = "webhook-receiver/1"
    timeout = 600  # an idle kept-alive connection is dropped after this
    receiver: "WebhookReceiver"

    def setup(self) -> None:
        super().setup()
        self.receiver._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.receiver._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.receiver.verbose:
            sys.stderr.write("webhook-receiver: %s\n" % (format % args))

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise OverflowError
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError
        if length > MAX_BODY:
            raise OverflowError
        return self.rfile.read(length)

    def send_json(self, status: int, obj: Any, headers: dict | None = None, close: bool = False) -> bool:
        data = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:
            self.close_connection = True
            return False

    def _body_or_error(self) -> bytes | None:
        try:
            return self._read_body()
        except OverflowError:
            self.send_json(413, {"error": "body too large"}, close=True)
        except (ValueError, OSError):
            self.send_json(400, {"error": "unreadable body"}, close=True)
        return None

    # -- methods ----------------------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path = urlsplit(self.path).path
        if path == "/_state":
            self.send_json(200, self.receiver.state())
        elif path == "/_health":
            self.send_json(200, {"ok": True})
        elif path.startswith("/_"):
            self.send_json(404, {"error": f"no control endpoint {path}"})
        else:
            self.send_json(405, {"error": "webhooks are POSTed"}, headers={"Allow": "POST"})

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        path = urlsplit(self.path).path
        body = self._body_or_error()
        if body is None:
            return
        if path.startswith("/_"):
            self.receiver._control_request(self, path, body)
        else:
            self.receiver._webhook_request(self, path, body)


class WebhookReceiver:
    """The receiver. Thread-safe; its records outlive `stop`/`start` (a restart on the same port)."""

    def __init__(self, secrets: Iterable[str], host: str = "127.0.0.1", port: int = 0, *, strict: bool = False,
                 hold_max_s: float = 300.0, behaviours: dict | None = None, verbose: bool = False,
                 log_rejections: bool = False):
        if not _loopback(host):
            raise ValueError(f"the receiver listens on the loopback interface only, not {host!r}")
        self.host = host
        self._port = port
        self.strict = strict
        self.hold_max_s = hold_max_s
        self.verbose = verbose  # one line per request on stderr
        self.log_rejections = log_rejections or verbose  # one line per rejection on stderr
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._listening = False
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._behaviours: dict[str, list[dict]] = {}
        self._restarts: list[dict] = []
        self.set_secrets(secrets)
        self.reset()
        for path, steps in (behaviours or {}).items():
            self.behave(path, *(steps if isinstance(steps, list) else [steps]))

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> "WebhookReceiver":
        with self._lock:
            if self._server is not None:
                return self
            handler = type("Handler", (_Handler,), {"receiver": self})
            server = _Server((self.host, self._port), handler)
            self._port = server.server_address[1]
            self._stopping = threading.Event()
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"webhook-receiver:{self._port}", daemon=True)
            self._thread.start()
            self._listening = True
            if self._restarts and self._restarts[-1]["up_at"] is None:
                self._restarts[-1]["up_at"] = time.time()
        return self

    def stop(self) -> None:
        """Stops listening and drops every open connection (in-flight, held and idle ones), as a crash would.
        Records are kept; `start` listens again on the same port."""
        with self._lock:
            server, thread, stopping = self._server, self._thread, self._stopping
            self._server = self._thread = None
            if server is None:
                return
            self._restarts.append({"down_at": time.time(), "up_at": None})
            connections = list(self._connections)
        stopping.set()
        server.shutdown()
        server.server_close()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(5)
        with self._lock:
            self._listening = self._server is not None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        if down_s > 0:
            time.sleep(down_s)
        self.start()

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def running(self) -> bool:
        """Listening (False from the moment the listener is closed by `stop` until `start`)."""
        return self._listening

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self._port}{path}"

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    # -- configuration ----------------------------------------------------------------------------------------

    def set_secrets(self, secrets: Iterable[str]) -> None:
        secrets = [secrets] if isinstance(secrets, str) else list(secrets)
        if not secrets:
            raise ValueError("at least one secret is needed")
        verifiers = [Webhook(s) for s in secrets]  # raises on an empty or undecodable secret
        with self._lock:
            self._verifiers = verifiers

    def reset(self) -> None:
        """Forgets records, rejections, requests and contract problems (not behaviours, secrets or restarts)."""
        with self._lock:
            self._records: list[dict] = []
            self._rejections: list[dict] = []
            self._requests: list[dict] = []
            self._problems: list[dict] = []
            self._seen: dict[str, set[str]] = {}

    def behave(self, path: str, *steps: dict) -> None:
        """Replaces the script of `path` ("*": any path without its own) with these steps (see the module doc)."""
        if path != "*" and (not path.startswith("/") or path.startswith("/_")):
            raise ControlError(f"path must start with / and not with /_ (or be *), not {path!r}")
        parsed = [_step(s, self.hold_max_s) for s in steps]
        with self._lock:
            if parsed:
                self._behaviours[path] = parsed
            else:
                self._behaviours.pop(path, None)

    def clear(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._behaviours.clear()
            else:
                self._behaviours.pop(path, None)

    def fail(self, path: str, count: int | None = 1, status: int = 500) -> None:
        self.behave(path, {"mode": "status", "status": status, "count": count})

    def throttle(self, path: str, retry_after: int | str, status: int = 429, count: int | None = 1) -> None:
        self.behave(path, {"mode": "status", "status": status, "retry_after": retry_after, "count": count})

    def gone(self, path: str, count: int | None = None) -> None:
        self.behave(path, {"mode": "status", "status": 410, "count": count})

    def slow(self, path: str, delay_s: float, count: int | None = 1) -> None:
        self.behave(path, {"mode": "slow", "delay_s": delay_s, "count": count})

    def hang(self, path: str, count: int | None = 1, hold_s: float | None = None) -> None:
        step: dict[str, Any] = {"mode": "hang", "count": count}
        if hold_s is not None:
            step["hold_s"] = hold_s
        self.behave(path, step)

    def drop(self, path: str, count: int | None = 1, reset: bool = False) -> None:
        self.behave(path, {"mode": "reset" if reset else "close", "count": count})

    def _take_step(self, path: str) -> dict | None:
        with self._lock:
            owner = path if self._behaviours.get(path) else "*"
            script = self._behaviours.get(owner)
            if not script:
                return None
            step = script[0]
            if step["remaining"] is not None:
                step["remaining"] -= 1
                if step["remaining"] <= 0:
                    script.pop(0)
                    if not script:
                        del self._behaviours[owner]
            return step

    # -- what was received ------------------------------------------------------------------------------------

    def records(self, path: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._records if path is None or r["path"] == path]

    def ids(self, path: str | None = None) -> list[str]:
        return [r["id"] for r in self.records(path)]

    def rejections(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._rejections]

    def requests(self, path: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._requests if path is None or r["path"] == path]

    def contract_problems(self) -> list[dict]:
        with self._lock:
            return [dict(p) for p in self._problems]

    def state(self) -> dict:
        with self._lock:
            return {
                "url": self.url(),
                "port": self._port,
                "running": self.running,
                "secrets": len(self._verifiers),
                "strict": self.strict,
                "records": self.records(),
                "rejections": self.rejections(),
                "requests": self.requests(),
                "contract_problems": self.contract_problems(),
                "behaviours": {p: [dict(s) for s in steps] for p, steps in self._behaviours.items()},
                "restarts": [dict(r) for r in self._restarts],
            }

    def wait_for(self, ids: Iterable[str], path: str | None = None, timeout: float = 10.0) -> list[str]:
        """Waits until every id was accepted (on `path`, or any); returns the ids still missing (empty: all came)."""
        want = list(dict.fromkeys(ids))
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = {r["id"] for r in self._records if path is None or r["path"] == path}
                missing = [i for i in want if i not in got]
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return missing
                self._changed.wait(left)

    # -- checks -----------------------------------------------------------------------------------------------

    def check_order(self, expected: Iterable[Any], path: str | None = None) -> dict:
        return check_order(self.records(path), expected)

    def check_lost(self, expected: Iterable[Any], path: str | None = None) -> dict:
        return check_lost(self.records(path), expected)

    def find_personal_data(self, path: str | None = None) -> list[dict]:
        """Every request (accepted or not) whose body held a phone number, a transcript field or a personal field."""
        return [{"request": r["seq"], "path": r["path"], "webhook_id": r["webhook_id"], "ids": r["ids"],
                 "findings": r["personal_data"]} for r in self.requests(path) if r["personal_data"]]

    def check(self, expected: Iterable[Any], path: str | None = None, *, allow_personal_data: bool = False,
              allow_unexpected: bool = False) -> dict:
        """All at once: order, loss, contract problems, personal data; `ok` when all pass."""
        expected = list(expected)
        order = self.check_order(expected, path)
        lost = self.check_lost(expected, path)
        problems = [p for p in self.contract_problems() if path is None or p["path"] == path]
        pii = self.find_personal_data(path)
        rejections = [r for r in self.rejections() if path is None or r["path"] == path]
        ok = (order["ok"] and lost["ok"] and not problems and (allow_unexpected or not lost["unexpected"])
              and (allow_personal_data or not pii))
        return {"ok": ok, "order": order, "lost": lost, "contract_problems": problems, "personal_data": pii,
                "rejections": len(rejections)}

    # -- request handling -------------------------------------------------------------------------------------

    def _verify(self, body: bytes, headers: Any) -> dict:
        """The reference library decides; we add only what it does not check: one value per header, and a
        timestamp of integer seconds (the library also accepts "1700000000.9" signed as "1700000000")."""
        result = {"ok": False, "reason": None, "verified_with": [], "signatures": 0}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            values = headers.get_all(name) or []
            if len(values) > 1:
                result["reason"] = f"{name} header sent {len(values)} times"
                return result
        plain = {k.lower(): v for k, v in headers.items()}
        result["signatures"] = len([s for s in plain.get("webhook-signature", "").split(" ") if s])
        ts = plain.get("webhook-timestamp")
        if ts and not re.fullmatch(r"[0-9]{1,12}", ts):
            result["reason"] = f"webhook-timestamp {ts!r} is not integer Unix seconds"
            return result
        with self._lock:
            verifiers = list(self._verifiers)
        reasons = []
        for i, verifier in enumerate(verifiers):
            try:
                verifier.verify(body, plain, json_parse=False)
                result["verified_with"].append(i)
            except WebhookVerificationError as e:
                reasons.append(str(e))
            except Exception as e:  # the library's own failure is a rejection too, never a 500
                reasons.append(f"{type(e).__name__}: {e}")
        result["ok"] = bool(result["verified_with"])
        if not result["ok"]:
            result["reason"] = "; ".join(dict.fromkeys(reasons))
        return result

    def _webhook_request(self, handler: _Handler, path: str, body: bytes) -> None:
        stopping = self._stopping
        verdict = self._verify(body, handler.headers)
        step = self._take_step(path)
        mode = step["mode"] if step else "ok"
        findings = personal_data(body)
        with self._lock:
            req = {
                "seq": len(self._requests), "path": path, "time": time.time(),
                "webhook_id": handler.headers.get("webhook-id"),
                "webhook_timestamp": handler.headers.get("webhook-timestamp"),
                "signatures": verdict["signatures"], "verified_with": verdict["verified_with"],
                "signature_ok": verdict["ok"], "mode": mode, "status": None, "outcome": None, "reason": None,
                "ids": [], "bytes": len(body), "answered": False, "personal_data": findings, "problems": [],
            }
            self._requests.append(req)
            self._changed.notify_all()
        try:
            self._respond(handler, path, body, req, step, verdict, stopping)
        finally:
            if self.verbose or (self.log_rejections and req["outcome"] == "rejected"):
                sys.stderr.write(f"webhook-receiver: POST {path} id={req['webhook_id']} mode={mode} "
                                 f"status={req['status']} outcome={req['outcome']} reason={req['reason']}\n")

    def _update(self, req: dict, **fields: Any) -> None:
        with self._lock:
            req.update(fields)
            self._changed.notify_all()

    def _respond(self, handler: _Handler, path: str, body: bytes, req: dict, step: dict | None, verdict: dict,
                 stopping: threading.Event) -> None:
        mode = step["mode"] if step else "ok"
        if mode == "status":
            assert step is not None
            headers = {"Retry-After": step["retry_after"]} if "retry_after" in step else {}
            payload = {"error": step.get("body", f"injected {step['status']}")}
            self._update(req, status=step["status"], outcome="injected")
            answered = handler.send_json(step["status"], payload, headers=headers)
            self._update(req, answered=answered)
            return
        if mode in ("close", "reset"):
            self._update(req, outcome="closed" if mode == "close" else "reset")
            _drop(handler, rst=mode == "reset")
            return
        if mode == "hang":
            assert step is not None
            self._update(req, outcome="hang")
            started = time.monotonic()
            _hold(handler.connection, stopping, step["hold_s"])
            self._update(req, held_s=round(time.monotonic() - started, 3))
            _drop(handler, rst=False)
            return
        if mode == "slow":
            assert step is not None
            if stopping.wait(step["delay_s"]):
                self._update(req, outcome="aborted", reason="server stopped while answering slowly")
                _drop(handler, rst=False)
                return
        status = step.get("status", 200) if step else 200

        if not verdict["ok"]:
            self._reject(handler, req, 401, verdict["reason"])
            return
        try:
            messages, problems = parse_body(body, req["webhook_id"] or "")
        except ValueError as e:
            self._reject(handler, req, 400, str(e))
            return
        content_type = handler.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            problems.append(f"content-type is {content_type!r}, not application/json")
        if problems and self.strict:
            self._note_problems(path, req, problems)
            self._reject(handler, req, 400, "contract: " + "; ".join(problems))
            return
        duplicates = 0
        with self._lock:
            self._note_problems(path, req, problems)
            seen = self._seen.setdefault(path, set())
            for m in messages:
                key, key_source = key_of(m["type"], m["data"], m["id"])
                duplicate = m["id"] in seen
                duplicates += duplicate
                seen.add(m["id"])
                self._records.append({
                    "seq": len(self._records), "path": path, "id": m["id"], "type": m["type"], "key": key,
                    "key_source": key_source, "timestamp": m["timestamp"], "data": m["data"],
                    "duplicate": duplicate, "webhook_id": req["webhook_id"],
                    "batch_id": req["webhook_id"] if m["batch_index"] is not None else None,
                    "batch_index": m["batch_index"], "request": req["seq"], "received_at": time.time(),
                })
            req.update(status=status, outcome="accepted", ids=[m["id"] for m in messages])
            self._changed.notify_all()
        answered = handler.send_json(status, {"accepted": len(messages), "duplicates": duplicates})
        self._update(req, answered=answered)

    def _note_problems(self, path: str, req: dict, problems: list[str]) -> None:
        with self._lock:
            req["problems"] = problems
            for p in problems:
                self._problems.append({"request": req["seq"], "path": path, "webhook_id": req["webhook_id"],
                                       "problem": p})

    def _reject(self, handler: _Handler, req: dict, status: int, reason: str) -> None:
        with self._lock:
            req.update(status=status, outcome="rejected", reason=reason)
            self._rejections.append({"request": req["seq"], "path": req["path"], "webhook_id": req["webhook_id"],
                                     "status": status, "reason": reason, "time": req["time"]})
            self._changed.notify_all()
        answered = handler.send_json(status, {"error": reason})
        self._update(req, answered=answered)

    # -- control API ------------------------------------------------------------------------------------------

    def _control_request(self, handler: _Handler, path: str, body: bytes) -> None:
        try:
            doc = json.loads(body or b"{}")
            if not isinstance(doc, dict):
                raise ControlError("the body is a JSON object")
            if path == "/_control":
                result, after = self.control(doc)
                handler.send_json(200, result, close=after is not None)
                if after is not None:
                    threading.Thread(target=after, daemon=True).start()
            elif path == "/_check":
                handler.send_json(200, self.check(
                    doc.get("expected", []), doc.get("path"),
                    allow_personal_data=bool(doc.get("allow_personal_data", False)),
                    allow_unexpected=bool(doc.get("allow_unexpected", False))))
            elif path == "/_wait":
                missing = self.wait_for(doc.get("ids", []), doc.get("path"), float(doc.get("timeout_s", 10)))
                handler.send_json(200, {"ok": not missing, "missing": missing})
            else:
                handler.send_json(404, {"error": f"no control endpoint {path}"})
        except (ControlError, ValueError, TypeError) as e:
            handler.send_json(400, {"error": str(e)})

    def control(self, doc: dict) -> tuple[dict, Any]:
        """Applies one control document; returns (answer, something to run after answering or None)."""
        action = doc.get("action")
        if action == "behave":
            path = doc.get("path")
            if not isinstance(path, str):
                raise ControlError("behave needs a path")
            if "steps" in doc:
                steps = doc["steps"]
                if not isinstance(steps, list) or set(doc) - {"action", "path", "steps"}:
                    raise ControlError("behave takes either steps: [...] or the fields of one step")
            else:
                steps = [{k: v for k, v in doc.items() if k not in ("action", "path")}]
            self.behave(path, *steps)
            return {"ok": True, "behaviours": self.state()["behaviours"]}, None
        if action == "clear":
            self.clear(doc.get("path"))
            return {"ok": True}, None
        if action == "reset":
            self.reset()
            return {"ok": True}, None
        if action == "secrets":
            secrets = doc.get("secrets")
            if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
                raise ControlError("secrets needs a list of strings")
            try:
                self.set_secrets(secrets)
            except Exception as e:
                raise ControlError(f"bad secret: {e}") from None
            return {"ok": True, "secrets": len(secrets)}, None
        if action == "restart":
            down_s = doc.get("down_s", 0)
            if not isinstance(down_s, (int, float)) or isinstance(down_s, bool) or down_s < 0:
                raise ControlError(f"down_s must be a number >= 0, not {down_s!r}")
            # Answer first, then go down: the thread waits a moment so the answer leaves before the connections drop.
            def after() -> None:
                time.sleep(0.05)
                self.restart(float(down_s))

            return {"ok": True, "port": self._port, "down_s": down_s}, after
        raise ControlError(f"action must be behave, clear, reset, secrets or restart, not {action!r}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hold(conn: socket.socket, stopping: threading.Event, hold_s: float) -> None:
    """Holds a connection without answering until the client closes it, the server stops, or hold_s passes."""
    deadline = time.monotonic() + hold_s
    while not stopping.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            readable, _, _ = select.select([conn], [], [], min(0.1, left))
            if readable and not conn.recv(1, socket.MSG_PEEK):
                return  # the client closed (its timeout)
        except (OSError, ValueError):
            return
        if readable:
            stopping.wait(0.1)  # the client sent more (pipelining); keep holding


def _drop(handler: _Handler, rst: bool) -> None:
    """Ends the connection without a response: FIN, or RST (SO_LINGER 0)."""
    handler.close_connection = True
    conn = handler.connection
    try:
        if rst:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.rfile.close()  # the makefile reference would otherwise delay the real close
            conn.close()
        else:
            conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------


def _write_state(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument("--secret", action="append", required=True,
                        help="whsec_<base64> secret accepted; repeat for rotation")
    parser.add_argument("--print-port", action="store_true", help="print 'Receiver: <url>' once listening")
    parser.add_argument("--state-out", type=Path, help="write the state as JSON here on SIGTERM/SIGINT")
    parser.add_argument("--behaviour", help='initial scripts: {"/path": STEP or [STEP, ...], "*": ...}')
    parser.add_argument("--strict", action="store_true", help="answer 400 to a body that breaks the contract")
    parser.add_argument("--hold-max-s", type=float, default=300.0, help="default hold of mode hang (seconds)")
    parser.add_argument("--verbose", action="store_true",
                        help="one line per request on stderr (rejections are always logged there)")
    args = parser.parse_args(argv)

    try:
        behaviours = json.loads(args.behaviour) if args.behaviour else None
        if behaviours is not None and not isinstance(behaviours, dict):
            raise ControlError("--behaviour is a JSON object of path -> step(s)")
        receiver = WebhookReceiver(args.secret, args.host, args.port, strict=args.strict,
                                   hold_max_s=args.hold_max_s, behaviours=behaviours, verbose=args.verbose,
                                   log_rejections=True)
        receiver.start()
    except Exception as e:  # a bad secret, a bad script, a port in use: say which and stop
        print(f"webhook-receiver: {e}", file=sys.stderr)
        return 2

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if args.print_port:
        print(f"Receiver: {receiver.url()}", flush=True)
    while not done.wait(0.2):
        pass
    receiver.stop()
    if args.state_out:
        _write_state(args.state_out, receiver.state())
    return 0


if __name__ == "__main__":
    sys.exit(main())
