#!/usr/bin/env python3
"""A stand-in for the agent board's local server, for developing and measuring the page without the Rust side.

It serves functions/agent-board/src/page/index.html at GET /, GET /config.json, GET /api/board and
GET /api/agents/{id}/history as functions/agent-board/API.md describes them (ETag and 304, X-Board-Clock and
X-Board-Clock-Rate, gzip, filters, counts), over a synthetic day of N agents shaped like connect-replay's demo:
teams Blue/Green/Red/Gold, logins over the first 15 minutes, an 8-hour shift, contacts with hold and after-contact
work, two breaks each (a quarter of them 17-25 minutes, the others 5-13), then a logout. The board clock starts at
the first login and runs at `rate` board seconds per real second.

Uses only the standard library. Two ways to use it:

  * in Python: ``with BoardMock(agents=1000, rate=60) as mock: ... mock.url ...`` (scripts/bench_board_page.py);
  * as a command that takes connect-replay's serve arguments, so the browser tests can run against it:
    ``CONNECT_REPLAY_BIN=scripts/board_mock.py .venv/bin/pytest scripts/test_board_browser.py``; it prints
    ``Board: http://127.0.0.1:<port>/`` once listening and ``Replay finished.`` when the day is over, and serves
    until killed. OIDC_ISSUER / OIDC_CLIENT_ID / OIDC_SCOPE put an ``auth`` block into config.json.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import hashlib
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "functions" / "agent-board" / "src" / "page" / "index.html"

ACCOUNT = "123456789012"
INSTANCE_ARN = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/8d1c2f6e-0b7a-4c55-9a43-5e0f2d1b7c90"
FIRST = ["Ana", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo"]
LAST = ["Lopez", "Smith", "Wu", "Okafor", "Novak", "Khan", "Berg", "Sato", "Petrov", "Reed"]
# (hierarchy, routing profile, queue, channel)
TEAMS = [
    (("EMEA", "Sales", "Team Blue"), "Voice Sales", "Sales", "VOICE"),
    (("EMEA", "Support", "Team Green"), "Chat Support", "Support", "CHAT"),
    (("AMER", "Support", "Team Red"), "Voice Support", "Support", "VOICE"),
    (("AMER", "Billing", "Team Gold"), "Voice Billing", "Billing", "VOICE"),
]
DAY_START = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
DEFAULT_CONFIG = {
    "title": "Agent board",
    "poll_seconds": 5,
    "stale_seconds": 20,
    "thresholds": {
        "Break": {"amber_minutes": 15, "red_minutes": 30},
        "AFTER_CONTACT_WORK": {"amber_minutes": 2, "red_minutes": 5},
    },
    "auth": None,
}
STATUS_AVAILABLE = ("Available", "ROUTABLE")
STATUS_BREAK = ("Break", "CUSTOM")
STATUS_OFFLINE = ("Offline", "OFFLINE")


def rfc3339(ms: float) -> str:
    ms = int(ms)
    return datetime.fromtimestamp(ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class Agent:
    """One agent's day as segments: (start ms, logged_in, activity, activity since ms, status, status since ms,
    next status, contacts), the contacts being (contact id, channel, state, queue, since ms)."""

    def __init__(self, index: int, rng: random.Random, shift_minutes: int):
        self.index = index
        self.agent_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.arn = f"{INSTANCE_ARN}/agent/{self.agent_id}"
        first, last = FIRST[index % len(FIRST)], LAST[(index // len(FIRST)) % len(LAST)]
        self.username = f"{first.lower()}.{last.lower()}{index}"
        self.name = f"{first} {last}"
        self.hierarchy, self.profile, self.queue, self.channel = TEAMS[index % len(TEAMS)]
        self.segments: list[tuple] = []
        self._simulate(rng, shift_minutes)
        self.starts = [s[0] for s in self.segments]

    def _push(self, t, activity, status, contacts=(), next_status=None, logged_in=True):
        t = int(t)
        if self.segments and t < self.segments[-1][0]:
            t = self.segments[-1][0]
        prev = self.segments[-1] if self.segments else None
        since = prev[3] if prev and prev[2] == activity and prev[1] == logged_in else t
        status_since = prev[5] if prev and prev[4] == status else t
        self.segments.append((t, logged_in, activity, since, status, status_since, next_status, tuple(contacts)))

    def _simulate(self, rng: random.Random, shift_minutes: int):
        base = DAY_START.timestamp() * 1000
        s = lambda seconds: base + seconds * 1000  # noqa: E731 - board ms of a second of the day
        login = rng.uniform(0, 900)
        end = login + shift_minutes * 60
        breaks = sorted(login + rng.uniform(3600, max(7200, shift_minutes * 60) - 2700) for _ in range(2))
        lengths = [(rng.uniform(17, 25) if rng.random() < 0.25 else rng.uniform(5, 13)) * 60 for _ in breaks]
        nb = 0
        t = login
        self._push(s(t), "AVAILABLE", STATUS_AVAILABLE)
        while True:
            arrive = t + rng.expovariate(1 / 200)
            if nb < len(breaks) and breaks[nb] <= min(arrive, end):
                start = max(breaks[nb], t)
                self._push(s(start), "Break", STATUS_BREAK)
                t = start + lengths[nb]
                nb += 1
                self._push(s(t), "AVAILABLE", STATUS_AVAILABLE)
                continue
            if arrive >= end:
                break
            cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            contact = lambda state, at: ((cid, self.channel, state, self.queue, int(s(at))),)  # noqa: E731
            pending = []  # (second of the day, activity, contacts)
            pending.append((arrive, "INCOMING", contact("INCOMING", arrive)))
            if rng.random() < 0.05:
                missed = arrive + 15
                pending.append((missed, "MISSED", contact("MISSED", missed)))
                done = missed + 30
            else:
                connected = arrive + rng.uniform(4, 12)
                pending.append((connected, "ON_CONTACT", contact("CONNECTED", connected)))
                talk_end = connected + rng.uniform(90, 420)
                if rng.random() < 0.2:
                    hold = (connected + talk_end) / 2
                    resume = hold + rng.uniform(20, 90)
                    pending.append((hold, "ON_HOLD", contact("CONNECTED_ONHOLD", hold)))
                    pending.append((resume, "ON_CONTACT", contact("CONNECTED", resume)))
                    talk_end += resume - hold
                pending.append((talk_end, "AFTER_CONTACT_WORK", contact("ENDED", talk_end)))
                done = talk_end + rng.uniform(20, 150)
            due = breaks[nb] if nb < len(breaks) and breaks[nb] < done else None
            for i, (at, activity, contacts) in enumerate(pending):
                following = pending[i + 1][0] if i + 1 < len(pending) else done
                if due is not None and at < due < following:
                    self._push(s(at), activity, STATUS_AVAILABLE, contacts)
                    self._push(s(due), activity, STATUS_AVAILABLE, contacts, next_status="Break")
                else:
                    nxt = "Break" if due is not None and due <= at else None
                    self._push(s(at), activity, STATUS_AVAILABLE, contacts, next_status=nxt)
            t = done
            if due is None:
                self._push(s(t), "AVAILABLE", STATUS_AVAILABLE)
        self._push(s(max(t, end)), "OFFLINE", STATUS_OFFLINE, logged_in=False)

    def at(self, now_ms: float) -> int | None:
        """Index of the segment in force at `now_ms`, or None before the first login."""
        i = bisect.bisect_right(self.starts, now_ms) - 1
        return i if i >= 0 else None

    def tile(self, i: int) -> dict:
        start, logged_in, activity, since, status, status_since, next_status, contacts = self.segments[i]
        return {
            "agent_id": self.agent_id,
            "agent_arn": self.arn,
            "username": self.username,
            "name": self.name,
            "logged_in": logged_in,
            "activity": activity,
            "since": rfc3339(since),
            "status": {"name": status[0], "type": status[1], "since": rfc3339(status_since)},
            "next_status": next_status,
            "contacts": [
                {"contact_id": c[0], "channel": c[1], "state": c[2], "queue": c[3], "since": rfc3339(c[4])}
                for c in contacts
            ],
            "routing_profile": self.profile,
            "team": self.hierarchy[-1],
            "hierarchy": list(self.hierarchy),
            "last_event_at": rfc3339(start),
        }

    def history(self, now_ms: float, hours: int) -> dict:
        start = now_ms - hours * 3600_000
        episodes = []
        current = self.at(now_ms)
        segs = self.segments[: (current or 0) + 1] if current is not None else []
        run_name, run_start = None, None
        for k, seg in enumerate(segs):
            t, _, activity, _, status, _, _, contacts = seg
            if status[0] != run_name:
                if run_name is not None and t > start:
                    episodes.append(episode("STATUS", run_name, max(run_start, start), t))
                run_name, run_start = status[0], t
            if activity == "AFTER_CONTACT_WORK" and k + 1 < len(segs):
                end = segs[k + 1][0]
                if end > start:
                    ep = episode("ACW", contacts[0][0], max(t, start), end)
                    ep.update(channel=contacts[0][1], queue=contacts[0][3])
                    episodes.append(ep)
        cur = {"activity": segs[-1][2], "since": rfc3339(segs[-1][3])} if segs else None
        return {
            "agent_arn": self.arn,
            "username": self.username,
            "name": self.name,
            "from": rfc3339(start),
            "to": rfc3339(now_ms),
            "current": cur,
            "episodes": sorted(episodes, key=lambda e: e["start"]),
        }


def episode(kind, name, start, end):
    return {"kind": kind, "name": name, "start": rfc3339(start), "end": rfc3339(end), "duration_ms": int(end - start)}


class Day:
    """The synthetic day and its board clock."""

    def __init__(self, agents: int, rate: float, seed: int = 42, shift_minutes: int = 480):
        rng = random.Random(seed)
        self.agents = sorted((Agent(i, rng, shift_minutes) for i in range(agents)), key=lambda a: a.username)
        self.by_id = {a.agent_id: a for a in self.agents}
        self.rate = rate
        self.first_login = min(a.starts[0] for a in self.agents)
        self.last_event = max(a.starts[-1] for a in self.agents)
        self.started = time.monotonic()
        self._cache: dict = {}
        self._lock = threading.Lock()

    def now_ms(self) -> float:
        return self.first_login + (time.monotonic() - self.started) * self.rate * 1000

    def finished_in(self) -> float:
        """Real seconds until the last event of the day (0 when it is past)."""
        return max(0.0, (self.last_event - self.now_ms()) / 1000 / self.rate)

    def board(self, now_ms: float, filters: dict[str, list[str]]) -> tuple[bytes, str]:
        """(JSON body, ETag) of the board at `now_ms`; the same state gives the same bytes."""
        present = [(a, i) for a in self.agents if (i := a.at(now_ms)) is not None]
        key = (tuple(i for _, i in present), tuple(sorted((k, tuple(v)) for k, v in filters.items())))
        with self._lock:
            hit = self._cache.get(key)
            if hit:
                return hit
        tiles = [a.tile(i) for a, i in present]
        tiles = [t for t in tiles if accepts(t, filters)]
        counts = {"total": len(tiles), "logged_in": 0, "activity": {}, "team": {}, "queue": {}}
        for t in tiles:
            counts["activity"][t["activity"]] = counts["activity"].get(t["activity"], 0) + 1
            if t["logged_in"]:
                counts["logged_in"] += 1
                counts["team"][t["team"]] = counts["team"].get(t["team"], 0) + 1
                for q in sorted({c["queue"] for c in t["contacts"]}):
                    counts["queue"][q] = counts["queue"].get(q, 0) + 1
        for k in ("activity", "team", "queue"):
            counts[k] = dict(sorted(counts[k].items()))
        body = json.dumps({"instance_arn": INSTANCE_ARN, "agents": tiles, "counts": counts}, separators=(",", ":"))
        data = body.encode()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        with self._lock:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = (data, etag)
        return data, etag


def accepts(tile: dict, filters: dict[str, list[str]]) -> bool:
    def any_of(key, candidates):
        wanted = filters.get(key)
        return not wanted or any(c in wanted for c in candidates if c)

    profile_arn = f"{INSTANCE_ARN}/routing-profile/{tile['routing_profile'].lower().replace(' ', '-')}"
    return (
        any_of("team", tile["hierarchy"])
        and any_of("routing_profile", [tile["routing_profile"], profile_arn])
        and any_of("queue", [c["queue"] for c in tile["contacts"]])
        and any_of("activity", [tile["activity"]])
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "board-mock"
    mock: "BoardMock"  # set on the subclass made per server

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.mock.requests += 1
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query, keep_blank_values=True)
        if path == "/":
            return self.send(200, PAGE.read_bytes(), "text/html; charset=utf-8", compress=True)
        if path == "/config.json":
            return self.send(200, json.dumps(self.mock.config()).encode(), "application/json")
        if path.startswith("/api/") and self.mock.failing:
            return self.send_json(503, {"error": "table unreadable (board_mock failing=True)"})
        if path == "/api/board":
            return self.board(query)
        m = re.fullmatch(r"/api/agents/([^/]+)/history", path)
        if m:
            return self.history(unquote(m.group(1)), query)
        return self.send_json(404, {"error": "not found"})

    def do_POST(self):  # noqa: N802
        self.send_json(405, {"error": "method not allowed"})

    do_PUT = do_DELETE = do_PATCH = do_POST

    def board(self, query):
        day = self.mock.day
        now = day.now_ms()
        instance = ",".join(query.get("instance", []))
        if instance and instance != INSTANCE_ARN:
            filters = {"team": ["\x00no such instance"]}
        else:
            filters = {}
        for key in ("team", "routing_profile", "queue", "activity"):
            values = [v.strip() for raw in query.get(key, []) for v in raw.split(",") if v.strip()]
            if values:
                filters[key] = values
        body, etag = day.board(now, filters)
        headers = {"ETag": etag, **self.clock_headers(now)}
        tags = [t.strip() for t in self.headers.get("If-None-Match", "").split(",")]
        if etag in tags or "*" in tags:
            return self.send(304, b"", None, headers=headers)
        self.send(200, body, "application/json", headers=headers, compress=True)

    def history(self, agent_id, query):
        day = self.mock.day
        agent = day.by_id.get(agent_id)
        if agent is None:
            return self.send_json(404, {"error": f"no agent {agent_id}"})
        try:
            hours = int((query.get("hours") or ["8"])[0])
        except ValueError:
            hours = 0
        if not 1 <= hours <= 24:
            return self.send_json(400, {"error": "hours: 1 to 24"})
        now = day.now_ms()
        body = json.dumps(agent.history(now, hours), separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self.send(200, body, "application/json", headers={"ETag": etag, **self.clock_headers(now)}, compress=True)

    def clock_headers(self, now_ms):
        return {"X-Board-Clock": rfc3339(now_ms), "X-Board-Clock-Rate": f"{self.mock.day.rate:g}"}

    def send_json(self, status, value):
        self.send(status, json.dumps(value).encode(), "application/json")

    def send(self, status, body, content_type, headers=None, compress=False):
        if compress and body and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, 6)
            headers = {**(headers or {}), "Content-Encoding": "gzip"}
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Vary", "Accept-Encoding")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != HTTPStatus.NOT_MODIFIED:
            self.wfile.write(body)


class BoardMock:
    """The mock server on 127.0.0.1 in a background thread."""

    def __init__(self, agents=50, rate=60.0, seed=42, port=0, config=None, shift_minutes=480):
        self.day = Day(agents, rate, seed, shift_minutes)
        self._config = {**DEFAULT_CONFIG, **(config or {})}
        self.requests = 0
        self.failing = False  # True: every /api/ request answers 503, as when the table is unreadable
        handler = type("MockHandler", (Handler,), {"mock": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, name="board-mock", daemon=True)

    def config(self) -> dict:
        config = dict(self._config)
        issuer = os.environ.get("OIDC_ISSUER")
        if issuer:
            config["auth"] = {
                "issuer": issuer,
                "client_id": os.environ.get("OIDC_CLIENT_ID", ""),
                "scope": os.environ.get("OIDC_SCOPE", "openid"),
            }
        return config

    def start(self) -> "BoardMock":
        self.day.started = time.monotonic()
        self._thread.start()
        return self

    def stop(self):
        """Stops listening. Connections already open (keep-alive) may still be answered: to see a page lose its
        server, set `failing` or run the mock as a process and kill it."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "demo":  # connect-replay's subcommand
        argv = argv[1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--serve", action="store_true", help="accepted for connect-replay compatibility (always serves)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--speed", type=float, default=60.0, help="board seconds per real second")
    p.add_argument("--out", help="accepted for compatibility; created, nothing is written")
    p.add_argument("--board-config", help="JSON file: title, poll_seconds, stale_seconds, thresholds")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--agents", type=int, default=50)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    config = json.loads(Path(args.board_config).read_text()) if args.board_config else {}
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    mock = BoardMock(agents=args.agents, rate=args.speed, seed=args.seed, port=args.port, config=config).start()
    print(f"Board: {mock.url}", flush=True)
    try:
        time.sleep(mock.day.finished_in())
        print("Replay finished.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        mock.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
