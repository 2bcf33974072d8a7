"""The agent board page in a real browser against the real local server.

Starts `connect-replay demo --serve --port 0 --speed S --out DIR --board-config FILE --quiet` (the binary from
CONNECT_REPLAY_BIN, default target/debug/connect-replay, which the Rust tests build) and drives Debian's Chromium
through Playwright. What the page drew is compared with the /api/board answer it drew it from (captured from the
browser's own responses, matched by ETag), so each check follows the replay however fast it runs.

One server serves the module's tests in order: they run while the demo day goes on (it lasts about
8 h 15 min / S real seconds), then one waits for the day's end and the last one kills the server to see the page
go stale. The login test has its own server behind scripts/board_oidc.py's provider and authorizer proxy.

Environment: CONNECT_REPLAY_BIN (scripts/board_mock.py works too, to test the page without the Rust side),
BOARD_TEST_SPEED (default 500), BOARD_SCREENSHOT_DIR (also copy the 1920x1080 screenshot there, e.g. out/demo).
Needs /usr/bin/chromium (scripts/install-chromium.sh).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))
from board_oidc import JwtAuthorizer, OidcProvider  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

BIN = Path(os.environ.get("CONNECT_REPLAY_BIN") or ROOT / "target" / "debug" / "connect-replay")
if not BIN.is_absolute():
    BIN = ROOT / BIN
SPEED = float(os.environ.get("BOARD_TEST_SPEED", "500"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1920, "height": 1080}
AMBER_MIN, RED_MIN = 10, 15
BOARD_CONFIG = {
    "title": "Board under test",
    "poll_seconds": 1,
    "stale_seconds": 30,  # the stale test overrides it from the URL
    "thresholds": {"Break": {"amber_minutes": AMBER_MIN, "red_minutes": RED_MIN}},
}
DAY_SECONDS = (8 * 3600 + 15 * 60 + 3600) / SPEED  # shift, logins spread, heartbeats after the last logout
TIME_TEXT = re.compile(r"^(\d+:)?\d{1,2}:\d{2}$")

# One synchronous look at what the page shows, through the DOM hooks of API.md only.
SNAPSHOT_JS = """() => {
  const timeOf = (tile) => {
    for (const e of tile.querySelectorAll('*')) {
      const s = e.childElementCount ? '' : e.textContent.trim();
      if (/^(\\d+:)?\\d{1,2}:\\d{2}$/.test(s)) return s;
    }
    return null;
  };
  const status = document.getElementById('status');
  return {
    now: Date.now(),
    etag: document.body.dataset.etag || null,
    state: status ? status.dataset.state : null,
    status: status ? status.textContent : null,
    tiles: [...document.querySelectorAll('#tiles .tile')].map((t) => ({
      id: t.dataset.agentId, username: t.dataset.username, activity: t.dataset.activity, level: t.dataset.level,
      time: timeOf(t), text: t.textContent,
    })),
    counts: Object.fromEntries([...document.querySelectorAll('#counts [data-count-activity]')]
      .map((e) => [e.dataset.countActivity, e.textContent.trim()])),
    total: (document.getElementById('count-total') || {}).textContent,
    loggedIn: (document.getElementById('count-logged-in') || {}).textContent,
  };
}"""


# ---- the server --------------------------------------------------------------------------------------------------


class Server:
    """`connect-replay demo --serve` in its own process group, its stdout read line by line."""

    def __init__(self, out: Path, env: dict[str, str] | None = None):
        if not BIN.exists():
            pytest.fail(f"{BIN} is missing: build it (cargo build -p connect-replay) or set CONNECT_REPLAY_BIN")
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        config = out / "board-config.json"
        config.write_text(json.dumps(BOARD_CONFIG))
        cmd = [str(BIN), "demo", "--serve", "--port", "0", "--speed", f"{SPEED:g}", "--out", str(out),
               "--board-config", str(config), "--quiet"]
        self.stderr = open(out / "server.stderr", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.finished = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_url(timeout=120)
        self.started = time.monotonic()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("Replay finished."):
                self.finished.set()
            self.lines.put(line)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            m = re.match(r"Board: (http://127\.0\.0\.1:\d+/)\s*$", line)
            if m:
                return m.group(1)
        self.stop()
        err = (self.out / "server.stderr").read_text()[-2000:]
        pytest.fail(f"the server printed no 'Board: http://127.0.0.1:<port>/' line in {timeout} s; stderr:\n{err}")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.stderr.close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def board_time(s: str) -> float:
    """RFC 3339 -> seconds since the epoch."""
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def seconds_of(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    return parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) == 3 else 0)


# ---- the browser -------------------------------------------------------------------------------------------------


class Watcher:
    """Every api/board answer the page received: status, ETag, board clock, when it arrived, and the JSON of a 200."""

    def __init__(self, page):
        self.page = page
        self.answers: list[dict] = []
        self.history: list[tuple[str, int]] = []
        # "response", not "requestfinished": Chromium reports a fetch's 304 as a failed (aborted) request
        page.on("response", self._response)

    def _response(self, response):
        request = response.request
        path = urlsplit(request.url).path
        if path.endswith("/history"):
            self.history.append((request.url, response.status))
        if not path.endswith("/api/board"):
            return
        body = response.json() if response.status == 200 else None  # waits for the body: timing is complete
        timing = request.timing
        headers = response.headers
        entry = {
            "url": request.url,
            "status": response.status,
            "etag": headers.get("etag"),
            "clock": board_time(headers["x-board-clock"]) if "x-board-clock" in headers else None,
            "rate": float(headers.get("x-board-clock-rate", "nan")),
            "received_ms": timing["startTime"] + timing["responseStart"],
            "authorization": request.all_headers().get("authorization"),
            "if_none_match": request.all_headers().get("if-none-match"),
        }
        if body is not None:
            entry["board"] = body
        self.answers.append(entry)

    def board_for(self, etag: str, timeout: float = 5) -> dict:
        """The 200 answer whose ETag the page shows (the event may land just after the page drew it)."""
        deadline = time.monotonic() + timeout
        while True:
            for a in reversed(self.answers):
                if a["status"] == 200 and a["etag"] == etag:
                    return a
            if time.monotonic() > deadline:
                pytest.fail(f"no captured api/board answer has the ETag the page shows ({etag})")
            self.page.wait_for_timeout(50)

    def clock_at(self, epoch_ms: float) -> float:
        """Board time (s) at browser time `epoch_ms`, from the last answer that had arrived by then."""
        answers = [a for a in self.answers if a["clock"] is not None and a["received_ms"] <= epoch_ms]
        assert answers, "no api/board answer with X-Board-Clock before the snapshot"
        a = answers[-1]
        return a["clock"] + (epoch_ms - a["received_ms"]) / 1000 * a["rate"]


def groups(page) -> list[str]:
    """The group headings drawn, in order (the page's sections carry data-group)."""
    return page.evaluate("() => [...document.querySelectorAll('#tiles .group')].map((s) => s.dataset.group)")


def snapshot(page) -> dict:
    return page.evaluate(SNAPSHOT_JS)


def drawn(page, watcher: Watcher, timeout: float = 20, tiles: bool = True) -> tuple[dict, dict]:
    """What the page shows and the api/board answer it drew it from; with `tiles`, once there are tiles (the day's
    first logins may still be coming)."""
    if tiles:
        page.wait_for_function("() => document.querySelectorAll('#tiles .tile').length > 0", timeout=timeout * 1000)
    page.wait_for_function("() => document.body.dataset.etag", timeout=timeout * 1000)
    snap = snapshot(page)
    return snap, watcher.board_for(snap["etag"])


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-chromium.sh")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("board"))
    yield s
    s.stop()


@pytest.fixture
def open_page(browser):
    """open_page(url) -> (page, watcher); fails the test on any uncaught JavaScript error of the page."""
    contexts, errors = [], []

    def open_(url: str):
        ctx = browser.new_context(viewport=VIEWPORT)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        watcher = Watcher(page)
        page.goto(url)
        return page, watcher

    yield open_
    for ctx in contexts:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def assert_tiles_match(snap: dict, board: dict, offline: bool):
    agents = {a["agent_id"]: a for a in board["agents"]}
    ids = [t["id"] for t in snap["tiles"]]
    assert len(ids) == len(set(ids)), "an agent has more than one tile"
    want = {i for i, a in agents.items() if offline or a["logged_in"]}
    assert set(ids) == want, f"missing {len(want - set(ids))} tiles, {len(set(ids) - want)} extra"
    for t in snap["tiles"]:
        a = agents[t["id"]]
        assert t["activity"] == a["activity"], f"{a['username']}: tile says {t['activity']}, API {a['activity']}"
        assert t["username"] == a["username"]
        assert (a["name"] or a["username"]) in t["text"], f"{a['username']}: name missing from the tile"
        assert t["level"] in ("ok", "amber", "red")
        assert t["time"] is not None or a["since"] is None, f"{a['username']}: no time in state on the tile"


# ---- the tests, in the order the day allows ------------------------------------------------------------------------


def test_page_draws_every_logged_in_agent_the_api_returned(server, open_page):
    page, watcher = open_page(server.url)
    snap, answer = drawn(page, watcher)
    assert_tiles_match(snap, answer["board"], offline=False)
    assert snap["state"] == "live"
    assert page.title() == BOARD_CONFIG["title"]
    # the page asked for no filter it was not given
    assert parse_qs(urlsplit(answer["url"]).query) == {}


def test_offline_show_draws_every_agent(server, open_page):
    page, watcher = open_page(server.url + "?offline=show")
    snap, answer = drawn(page, watcher)
    assert_tiles_match(snap, answer["board"], offline=True)
    assert len(snap["tiles"]) == len(answer["board"]["agents"]) > 0


def test_times_in_state_tick_between_polls_at_the_board_clock_rate(server, open_page):
    page, watcher = open_page(server.url + "?poll=60")
    before, answer = drawn(page, watcher)
    page.wait_for_timeout(1500)
    after = snapshot(page)
    assert after["etag"] == before["etag"], "the page polled although poll=60"
    assert answer["rate"] == pytest.approx(SPEED), "X-Board-Clock-Rate is not the replay speed"
    elapsed_board = (after["now"] - before["now"]) / 1000 * SPEED
    t0 = {t["id"]: seconds_of(t["time"]) for t in before["tiles"] if t["time"]}
    steps = [seconds_of(t["time"]) - t0[t["id"]] for t in after["tiles"] if t["time"] and t["id"] in t0]
    assert steps, "no tile shows a time in state"
    slack = SPEED * 0.6 + 2  # the tick runs every 250 ms at a sped-up rate
    for step in steps:
        assert abs(step - elapsed_board) <= slack, f"time in state moved {step} s, board clock {elapsed_board:.0f} s"


def test_activities_change_as_the_replay_advances_and_tiles_update_in_place(server, open_page):
    page, watcher = open_page(server.url)
    first, _ = drawn(page, watcher)
    page.evaluate("() => document.querySelectorAll('#tiles .tile').forEach((t) => { t.__probe = true; })")
    before = {t["id"]: t["activity"] for t in first["tiles"]}
    deadline = time.monotonic() + 30
    while True:
        page.wait_for_timeout(250)
        snap, answer = drawn(page, watcher)
        changed = [t for t in snap["tiles"] if t["id"] in before and t["activity"] != before[t["id"]]]
        if snap["etag"] != first["etag"] and changed:
            break
        assert time.monotonic() < deadline, "no tile changed activity in 30 s of replay"
    assert_tiles_match(snap, answer["board"], offline=False)
    replaced = page.evaluate(
        "ids => ids.filter((id) => !document.querySelector(`#tiles .tile[data-agent-id=\"${id}\"]`).__probe)",
        [t["id"] for t in changed])
    assert not replaced, f"{len(replaced)} changed tiles were rebuilt instead of updated in place"


def test_header_counts_are_the_api_counts_of_the_board_shown(server, open_page):
    page, watcher = open_page(server.url)
    snap, answer = drawn(page, watcher)
    counts = answer["board"]["counts"]
    assert counts["activity"], "the API counted no activity"
    for label, n in counts["activity"].items():
        assert snap["counts"].get(label) == str(n), f"{label}: header {snap['counts'].get(label)}, API {n}"
    for label, text in snap["counts"].items():
        if label not in counts["activity"]:
            assert text == "0", f"{label}: header {text}, the API has no such count"
    assert snap["total"].strip() == str(counts["total"])
    assert snap["loggedIn"].strip() == str(counts["logged_in"])
    assert counts["logged_in"] == len(snap["tiles"]), "logged-in count and tiles drawn differ"


def test_team_filter_in_the_url_shows_only_that_team(server, open_page):
    status, _, body = get(server.url + "api/board")
    assert status == 200
    everyone = json.loads(body)["agents"]
    teams = {a["agent_id"]: a["team"] for a in everyone}
    assert len(set(teams.values())) > 1, "the demo day should have several teams"
    page, watcher = open_page(server.url + "?team=Team%20Blue&offline=show")
    snap, answer = drawn(page, watcher)
    assert parse_qs(urlsplit(answer["url"]).query).get("team") == ["Team Blue"], "the page did not pass team= on"
    assert snap["tiles"], "no Team Blue tile"
    assert {teams[t["id"]] for t in snap["tiles"]} == {"Team Blue"}
    assert {t["id"] for t in snap["tiles"]} == {i for i, team in teams.items() if team == "Team Blue"}
    assert_tiles_match(snap, answer["board"], offline=True)
    assert groups(page) == ["Team Blue"]


def test_group_by_routing_profile(server, open_page):
    page, watcher = open_page(server.url + "?group=routing_profile&offline=show")
    snap, answer = drawn(page, watcher)
    profiles = {a["routing_profile"] for a in answer["board"]["agents"]}
    assert groups(page) == sorted(profiles)
    for group in groups(page):
        in_group = page.evaluate(
            "g => [...document.querySelectorAll('#tiles .group')].find((s) => s.dataset.group === g)"
            ".querySelectorAll('.tile').length", group)
        assert in_group == sum(a["routing_profile"] == group for a in answer["board"]["agents"])


def test_clicking_a_tile_opens_the_agents_timeline_and_escape_closes_it(server, open_page):
    page, watcher = open_page(server.url)
    snap, _ = drawn(page, watcher)
    tile = snap["tiles"][0]
    page.click(f'#tiles .tile[data-agent-id="{tile["id"]}"]')
    page.wait_for_selector("#panel:not([hidden]) .bar", timeout=10000)
    url, status = watcher.history[-1]
    assert status == 200
    assert urlsplit(url).path.endswith(f"/api/agents/{tile['id']}/history")
    assert parse_qs(urlsplit(url).query)["hours"] == ["8"]
    page.keyboard.press("Escape")
    page.wait_for_selector("#panel", state="hidden", timeout=5000)


def test_screenshot_of_the_board_at_1920x1080(server, open_page):
    page, watcher = open_page(server.url)
    page.wait_for_function("() => document.querySelectorAll('#tiles .tile').length > 0", timeout=20000)
    page.wait_for_timeout(1000)
    target = server.out / "board.png"
    page.screenshot(path=str(target))
    head = target.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1920, 1080)
    # a wall screen reads it from across the room
    size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('#tiles .tile')).fontSize)")
    assert size >= 16, f"tile text is {size}px at 1080p"
    # and the demo's 50 agents fit on one 1080p screen (a row may grow when tiles show thresholds or next status)
    inside = page.evaluate("h => [...document.querySelectorAll('#tiles .tile')]"
                           ".map((t) => t.getBoundingClientRect().bottom <= h)", VIEWPORT["height"])
    assert sum(inside) >= 0.9 * len(inside), f"only {sum(inside)} of {len(inside)} tiles fit on the screen"
    if os.environ.get("BOARD_SCREENSHOT_DIR"):
        dest = Path(os.environ["BOARD_SCREENSHOT_DIR"])
        dest = dest if dest.is_absolute() else ROOT / dest
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, dest / "board.png")


def test_a_break_past_its_red_threshold_turns_its_tile_red(server, open_page):
    page, watcher = open_page(server.url)
    drawn(page, watcher)
    deadline = time.monotonic() + max(60, DAY_SECONDS)
    while True:
        snap = snapshot(page)
        reds = [t for t in snap["tiles"] if t["activity"] == "Break" and t["level"] == "red"]
        if reds:
            break
        assert time.monotonic() < deadline, "no Break tile turned red"
        page.wait_for_timeout(100)
    # the level follows the time shown, on every tile (only Break has thresholds here)
    for t in snap["tiles"]:
        if t["activity"] != "Break" or t["time"] is None:
            assert t["level"] == "ok", f"{t['username']} ({t['activity']}) is {t['level']}"
            continue
        secs = seconds_of(t["time"])
        want = "red" if secs >= RED_MIN * 60 else "amber" if secs >= AMBER_MIN * 60 else "ok"
        assert t["level"] == want, f"{t['username']}: Break for {t['time']} is {t['level']}, expected {want}"
    red = reds[0]
    assert f"over {RED_MIN} min" in red["text"], "the red tile does not say so in words"
    # and with the API: the answer drawn says Break since S, the board clock says now; now - S is past red
    answer = watcher.board_for(snap["etag"])
    agent = next(a for a in answer["board"]["agents"] if a["agent_id"] == red["id"])
    assert agent["activity"] == "Break"
    in_break = watcher.clock_at(snap["now"]) - board_time(agent["since"])
    slack = SPEED * 0.6 + 2
    assert in_break >= RED_MIN * 60 - slack, f"red after {in_break:.0f} s of Break by the API's since and clock"
    assert abs(in_break - seconds_of(red["time"])) <= slack, f"shown {red['time']}, API says {in_break:.0f} s"


def test_after_the_day_offline_agents_are_hidden_unless_asked_for(server, open_page):
    assert server.finished.wait(DAY_SECONDS * 1.5 + 60), "the server never printed 'Replay finished.'"
    page, watcher = open_page(server.url)
    snap, answer = drawn(page, watcher, tiles=False)
    agents = answer["board"]["agents"]
    assert any(not a["logged_in"] for a in agents), "nobody logged out by the end of the day"
    assert_tiles_match(snap, answer["board"], offline=False)
    page2, watcher2 = open_page(server.url + "?offline=show")
    snap2, answer2 = drawn(page2, watcher2)
    assert_tiles_match(snap2, answer2["board"], offline=True)
    offline = [t for t in snap2["tiles"] if t["activity"] == "OFFLINE"]
    assert offline and all("Offline" in t["text"] for t in offline), "offline tiles do not say Offline"
    # the day is over, the board stands still: polls carry If-None-Match and a 304 keeps the board
    deadline = time.monotonic() + 10
    while not any(a["status"] == 304 for a in watcher2.answers):
        assert time.monotonic() < deadline, "no 304 although the board no longer changes"
        page2.wait_for_timeout(200)
    first_304 = next(i for i, a in enumerate(watcher2.answers) if a["status"] == 304)
    shown = watcher2.answers[first_304 - 1]
    assert shown["status"] == 200 and watcher2.answers[first_304]["if_none_match"] == shown["etag"]
    page2.wait_for_timeout(1200)
    kept = snapshot(page2)
    assert kept["etag"] == snap2["etag"] and kept["state"] == "live"
    assert [t["id"] for t in kept["tiles"]] == [t["id"] for t in snap2["tiles"]]
    assert re.search(r"last update [01] s ago", kept["status"]), kept["status"]


def test_page_goes_stale_when_the_server_is_gone(server, open_page):
    stale = 3
    page, watcher = open_page(server.url + f"?poll=1&stale={stale}&offline=show")
    snap, _ = drawn(page, watcher)
    page.wait_for_timeout(1200)
    live = snapshot(page)
    assert live["state"] == "live" and re.search(r"last update \d+ s ago", live["status"]), live["status"]
    server.stop()
    killed = time.monotonic()
    page.wait_for_function("() => document.getElementById('status').dataset.state === 'stale'",
                           timeout=(stale + 1 + 4) * 1000)
    took = time.monotonic() - killed
    assert took >= stale - 1.5, f"stale after {took:.1f} s, before stale={stale} s had passed"
    gone = snapshot(page)
    m = re.search(r"last update (\d+) s ago", gone["status"])
    assert m and int(m.group(1)) >= stale, f"status text: {gone['status']!r}"
    assert len(gone["tiles"]) == len(live["tiles"]) > 0, "the last board should stay on screen"
    width, font = page.evaluate("() => { const s = document.getElementById('status');"
                                " return [s.getBoundingClientRect().width, parseFloat(getComputedStyle(s).fontSize)]; }")
    assert width >= VIEWPORT["width"] * 0.9 and font >= 28, f"the stale warning is not prominent: {width} px, {font} px"


# ---- login, on its own server behind the identity provider and the JWT authorizer -------------------------------


def test_login_with_oidc_then_the_board_and_a_401_logs_in_again(browser, open_page, tmp_path):
    client_id = "agent-board-test"
    user, password = "supervisor", "correct horse"
    provider = OidcProvider(client_id, {user: password}).start()
    server = Server(tmp_path / "login", {"OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": client_id,
                                         "OIDC_SCOPE": "openid"})
    proxy = JwtAuthorizer(server.url, provider.issuer, client_id).start()
    try:
        status, _, body = get(proxy.url + "config.json")
        assert status == 200
        assert json.loads(body)["auth"] == {"issuer": provider.issuer, "client_id": client_id, "scope": "openid"}
        status, _, body = get(proxy.url + "api/board")
        assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
        status, _, _ = get(proxy.url + "api/board", {"Authorization": "Bearer not.a.token"})
        assert status == 401

        view = "?offline=show&poll=1&title=Login%20test"
        seen_from = len(proxy.seen)
        page, watcher = open_page(proxy.url + view)

        def sign_in():
            page.wait_for_url(re.compile(re.escape(provider.issuer) + r"/authorize\?"), timeout=15000)
            q = parse_qs(urlsplit(page.url).query)
            assert q["code_challenge_method"] == ["S256"] and q["client_id"] == [client_id]
            assert q["redirect_uri"] == [proxy.url]
            page.fill("#username", user)
            page.fill("#password", password)
            page.click("#sign-in")
            page.wait_for_function("u => location.href === u", arg=proxy.url + view, timeout=15000)

        sign_in()
        snap, answer = drawn(page, watcher)
        assert_tiles_match(snap, answer["board"], offline=True)
        assert snap["tiles"] and snap["state"] == "live"
        assert page.title() == "Login test", "the view's URL parameters were lost across the login"
        assert answer["authorization"] and answer["authorization"].startswith("Bearer ")
        assert ("token", 200, None) in provider.events, provider.events
        api = [s for s in proxy.seen[seen_from:] if s[1].startswith("/api/")]
        assert api and all(problem is None for _, _, problem in api), api

        proxy.force_401 = True
        sign_in_again_from = len(provider.events)
        page.wait_for_url(re.compile(re.escape(provider.issuer) + r"/authorize\?"), timeout=15000)
        proxy.force_401 = False
        assert any(e[0] == "authorize" for e in provider.events[sign_in_again_from:])
        sign_in()
        snap, answer = drawn(page, watcher)
        assert snap["tiles"], "no tiles after logging in again"
        assert [e for e in provider.events if e[0] == "token"] == [("token", 200, None)] * 2
    finally:
        proxy.stop()
        server.stop()
        provider.stop()
