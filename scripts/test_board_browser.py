"""The agent board page in a real browser against the real local server.

Starts `connect-replay demo --serve --port 0 --speed S --out DIR --board-config FILE --quiet` (the binary from
CONNECT_REPLAY_BIN, default target/debug/connect-replay, which the Rust tests build) and drives Debian's Chromium
through Playwright. What the page drew is compared with the /api/board answer it drew it from (captured from the
browser's own responses, matched by ETag), so each check follows the replay however fast it runs.

One server serves the module's tests in order: they run while the demo day goes on (it lasts about
8 h 15 min / S real seconds), then one waits for the day's end and the last one kills the server to see the page
go stale. The login tests have their own server behind scripts/board_oidc.py's provider and authorizer proxy.

The page is the one in the working tree: every test's browser gets GET / from the server as it is, but with the
body of functions/agent-board/src/page/index.html (the binary has its own copy built in) and the strict
Content-Security-Policy computed from it as the server computes it (`csp_for`); any CSP violation the page reports
fails the test. One test checks that the server's own header is that policy of the page it serves.

Environment: CONNECT_REPLAY_BIN (scripts/board_mock.py works too, to test the page without the Rust side),
BOARD_TEST_SPEED (default 500), BOARD_SCREENSHOT_DIR (also copy the 1920x1080 screenshot there, e.g. out/demo).
Needs /usr/bin/chromium (scripts/install-chromium.sh).
"""

from __future__ import annotations

import base64
import hashlib
import html
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
import warnings
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
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
PAGE = ROOT / "functions" / "agent-board" / "src" / "page" / "index.html"
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


# ---- the page's Content-Security-Policy ------------------------------------------------------------------------


def inline_hashes(html: bytes, tag: str) -> list[str]:
    """"'sha256-…'" of each inline <tag> element, as functions/agent-board/src/service.rs computes them: SHA-256 of
    the exact bytes between the end of the opening tag (the first '>' after '<tag') and the next '</tag>' (the
    element's text as the browser hashes it, UTF-8; the file has LF line ends, which the parser keeps), base64 with
    the standard alphabet and '=' padding."""
    open_, close = f"<{tag}".encode(), f"</{tag}>".encode()
    out, rest = [], html
    while (start := rest.find(open_)) >= 0:
        after = rest[start:]
        body_start, end = after.find(b">"), after.find(close)
        if body_start < 0 or end < 0:
            break
        if body_start < end:
            digest = hashlib.sha256(after[body_start + 1:end]).digest()
            out.append(f"'sha256-{base64.b64encode(digest).decode()}'")
        rest = after[end + len(close):]
    return out


def csp_for(html: bytes) -> str:
    """The policy the server sends with the page (the same text, directive for directive)."""
    sources = lambda tag: " ".join(inline_hashes(html, tag)) or "'none'"  # noqa: E731
    return (f"default-src 'none'; script-src {sources('script')}; style-src {sources('style')}; "
            "img-src 'self' data:; connect-src 'self' https: http://127.0.0.1:* http://localhost:*; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


# Reports every CSP violation of every document in the context to the test (exposed binding: not subject to CSP).
CSP_LISTENER = """document.addEventListener('securitypolicyviolation', (e) => window.__boardCspViolation({
  page: location.href, directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample,
  source: e.sourceFile, line: e.lineNumber,
}));"""


def serve_working_tree_page(route):
    """GET / (the page) from the real server, with the working tree's page and its policy in place of the binary's."""
    if route.request.method != "GET":
        return route.fallback()
    upstream = route.fetch()
    if upstream.status != 200:
        return route.fulfill(response=upstream)
    body = PAGE.read_bytes()
    drop = {"content-length", "content-encoding", "transfer-encoding", "content-security-policy"}
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in drop}
    headers["content-security-policy"] = csp_for(body)
    route.fulfill(status=200, headers=headers, body=body)


def return_through_the_route(origin: str):
    """The sign-in form's answer is a redirect back to the board, and Playwright does not route a redirect's
    target: the test answers the form with a page that navigates there instead, so that it gets the working tree's
    page too."""
    def handle(route):
        if route.request.method != "POST":
            return route.fallback()
        upstream = route.fetch(max_redirects=0)
        location = upstream.headers.get("location", "")
        if upstream.status not in (301, 302, 303, 307, 308) or urlsplit(location).netloc != origin:
            return route.fulfill(response=upstream)
        page = f'<!doctype html><meta http-equiv="refresh" content="0; url={html.escape(location)}">'
        route.fulfill(status=200, headers={"content-type": "text/html; charset=utf-8"}, body=page)
    return handle


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
        self.csp_violations: list[dict] = []  # filled by open_page
        self.documents: list[tuple[str, int, dict]] = []  # (url, status, headers) of each page loaded
        # "response", not "requestfinished": Chromium reports a fetch's 304 as a failed (aborted) request
        page.on("response", self._response)

    def _response(self, response):
        request = response.request
        path = urlsplit(request.url).path
        if request.resource_type == "document":
            self.documents.append((request.url, response.status, response.headers))
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
    """open_page(url) -> (page, watcher): the working tree's page under its strict CSP (serve_working_tree_page) at
    url's origin; fails the test on any uncaught JavaScript error or CSP violation of the page."""
    contexts, errors, watchers = [], [], []

    def open_(url: str):
        # A page fulfilled by the test has no server address, so Chromium counts it as public and would refuse its
        # fetches to the loopback identity provider (Local Network Access); served by the server itself it is
        # loopback and needs no permission.
        ctx = browser.new_context(viewport=VIEWPORT, permissions=["local-network-access"])
        contexts.append(ctx)
        origin = urlsplit(url).netloc
        ctx.route(lambda u: urlsplit(u).netloc == origin and urlsplit(u).path in ("/", "/index.html"),
                  serve_working_tree_page)
        ctx.route(lambda u: urlsplit(u).netloc != origin and urlsplit(u).path == "/authorize",
                  return_through_the_route(origin))
        violations: list[dict] = []
        ctx.expose_binding("__boardCspViolation", lambda source, v: violations.append(v))
        ctx.add_init_script(CSP_LISTENER)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        # Chromium also says so on the console ("Refused to … because it violates the … Content Security Policy")
        page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text
                and violations.append({"console": m.text}))
        watcher = Watcher(page)
        watcher.csp_violations = violations
        watchers.append(watcher)
        page.goto(url)
        return page, watcher

    yield open_
    for ctx in contexts:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    violations = [v for w in watchers for v in w.csp_violations]
    assert not violations, f"the page broke its Content-Security-Policy: {violations}"


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


# ---- the page's source, ready for its strict Content-Security-Policy ------------------------------------------------


class _Markup(HTMLParser):
    """Every element's tag and attributes, and the text of <script> and <style>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: dict[str, str] = {"script": "", "style": ""}
        self._raw: str | None = None

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._raw = tag if tag in self.text else None

    def handle_data(self, data):
        if self._raw:
            self.text[self._raw] += data

    def handle_endtag(self, tag):
        self._raw = None


def test_page_source_has_no_inline_handlers_style_attributes_or_javascript_urls():
    raw = PAGE.read_bytes()
    assert b"\r" not in raw, "CR in the page: the browser hashes its text with CR LF made LF, the server the bytes"
    markup = _Markup()
    markup.feed(raw.decode("utf-8"))
    for tag, attrs in markup.elements:
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}=…>: an inline event handler (use addEventListener)"
            assert name != "style", f"<{tag} style=…>: a style attribute (use a class in the <style> element)"
            assert not value.strip().lower().startswith("javascript:"), f"<{tag} {name}={value!r}>: javascript: URL"
    tags = [tag for tag, _ in markup.elements]
    assert tags.count("script") == 1 and tags.count("style") == 1, "one inline <script> and one <style> element"
    assert all("src" not in attrs for tag, attrs in markup.elements if tag == "script")
    # the server finds the same elements the parser does: a stray '<script' or '<style' (in a comment, a string)
    # would make it hash the wrong text
    assert len(inline_hashes(raw, "script")) == 1 and len(inline_hashes(raw, "style")) == 1
    # markup made from strings would carry style attributes or handlers past the policy; CSSOM (el.style.x = …) is ok
    script = markup.text["script"]
    for banned in [r"\.innerHTML\b", r"\.outerHTML\b", r"insertAdjacentHTML", r"document\.write",
                   r"setAttribute\(\s*['\"](style|on\w+)['\"]", r"\beval\(", r"new Function\b",
                   r"set(Timeout|Interval)\(\s*['\"`]", r"javascript:"]:
        assert not re.search(banned, script), f"the page's script uses {banned}, which a strict CSP refuses"


def test_the_server_sends_the_policy_computed_from_the_page_it_serves(server):
    status, headers, body = get(server.url)
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == csp_for(body)
    if body != PAGE.read_bytes():
        warnings.warn(f"{BIN} serves an older copy of {PAGE.name} (it is built in): rebuild it; the browser tests "
                      "use the working tree's page", stacklevel=1)


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


def test_the_page_renders_ticks_and_opens_a_timeline_under_its_strict_csp(server, open_page):
    page, watcher = open_page(server.url)
    _, status, headers = watcher.documents[0]
    assert status == 200 and headers["content-security-policy"] == csp_for(PAGE.read_bytes())
    before, _ = drawn(page, watcher)
    ticking = next(t for t in before["tiles"] if t["time"])
    page.wait_for_function("t => [...document.querySelectorAll('#tiles .tile')].some((e) => e.dataset.agentId === "
                           "t.id && !e.textContent.includes(t.time))", arg=ticking, timeout=10000)
    tile = before["tiles"][0]
    page.click(f'#tiles .tile[data-agent-id="{tile["id"]}"]')
    page.wait_for_selector("#panel:not([hidden]) .bar", timeout=10000)
    # the bars are placed through CSSOM (element.style.left = …), which the policy allows
    lefts = page.evaluate("() => [...document.querySelectorAll('#panel .bar')].map((b) => b.style.left)")
    assert lefts and all(left.endswith("%") for left in lefts), lefts
    page.keyboard.press("Escape")
    page.wait_for_selector("#panel", state="hidden", timeout=5000)
    page.wait_for_timeout(300)  # a violation event is dispatched as a task
    assert not watcher.csp_violations, watcher.csp_violations
    # and the policy is enforced and a violation would be seen: a style attribute set from script is refused
    colour = page.evaluate("""() => { const d = document.createElement('p');
      d.setAttribute('style', 'color: rgb(1, 2, 3)');
      document.body.append(d); const c = getComputedStyle(d).color; d.remove(); return c; }""")
    assert colour != "rgb(1, 2, 3)", "a style attribute applied: the page is not under the strict policy"
    deadline = time.monotonic() + 5
    while not any(v.get("directive") == "style-src-attr" for v in watcher.csp_violations):
        assert time.monotonic() < deadline, f"the refused style attribute was not reported: {watcher.csp_violations}"
        page.wait_for_timeout(50)
    watcher.csp_violations.clear()  # the one made on purpose


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

CLIENT_ID, USER, PASSWORD = "agent-board-test", "supervisor", "correct horse"
TOKEN_SECONDS = 4  # the refresh tests' access token lifetime: the page renews at 90 %, 3.6 s


@pytest.fixture(scope="module")
def oidc(tmp_path_factory):
    """The provider, a server that asks for a login, and the JWT authorizer in front of it, for the login tests."""
    provider = OidcProvider(CLIENT_ID, {USER: PASSWORD}).start()
    server = proxy = None
    try:
        server = Server(tmp_path_factory.mktemp("login"), {"OIDC_ISSUER": provider.issuer,
                                                           "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_SCOPE": "openid"})
        proxy = JwtAuthorizer(server.url, provider.issuer, CLIENT_ID).start()
        yield SimpleNamespace(provider=provider, server=server, proxy=proxy)
    finally:
        for s in (proxy, server, provider):
            if s is not None:
                s.stop()


@pytest.fixture
def login(oidc):
    """The login stack as a test finds it: hour-long tokens, single-use refresh tokens, no outage, no forced 401;
    `events()` and `api()` are what the provider and the authorizer saw since the test began."""
    provider, proxy = oidc.provider, oidc.proxy
    provider.token_seconds, provider.rotate_refresh, provider.token_unavailable = 3600, True, False
    proxy.force_401 = False
    events_from, seen_from = len(provider.events), len(proxy.seen)
    oidc.events = lambda: provider.events[events_from:]
    oidc.api = lambda: [s for s in proxy.seen[seen_from:] if s[1].startswith("/api/")]
    yield oidc
    provider.token_seconds, provider.rotate_refresh, provider.token_unavailable = 3600, True, False
    proxy.force_401 = False


def sign_in(page, login, view: str):
    """At the provider's sign-in form (waits for it), signs in, and waits to be back on the board's URL."""
    page.wait_for_url(re.compile(re.escape(login.provider.issuer) + r"/authorize\?"), timeout=15000)
    q = parse_qs(urlsplit(page.url).query)
    assert q["code_challenge_method"] == ["S256"] and q["client_id"] == [CLIENT_ID]
    assert q["redirect_uri"] == [login.proxy.url]
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_function("u => location.href === u", arg=login.proxy.url + view, timeout=15000)
    markup = _Markup()
    markup.feed(PAGE.read_text())
    assert page.evaluate("() => document.scripts[0].textContent") == markup.text["script"], \
        "back from the provider on another page than the working tree's"


def stored_token(page) -> dict:
    return page.evaluate("() => JSON.parse(sessionStorage.getItem('board.token') || 'null')")


def test_login_with_oidc_then_the_board_and_a_401_logs_in_again(open_page, login):
    provider, proxy = login.provider, login.proxy
    status, _, body = get(proxy.url + "config.json")
    assert status == 200
    assert json.loads(body)["auth"] == {"issuer": provider.issuer, "client_id": CLIENT_ID, "scope": "openid"}
    status, _, body = get(proxy.url + "api/board")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    status, _, _ = get(proxy.url + "api/board", {"Authorization": "Bearer not.a.token"})
    assert status == 401

    view = "?offline=show&poll=1&title=Login%20test"
    page_from = len(login.api())  # the requests above were refused on purpose
    page, watcher = open_page(proxy.url + view)
    sign_in(page, login, view)
    snap, answer = drawn(page, watcher)
    back = [d for d in watcher.documents if urlsplit(d[0]).netloc == urlsplit(proxy.url).netloc]
    assert len(back) == 2 and "code=" in back[1][0], [d[0] for d in watcher.documents]
    assert back[1][2].get("content-security-policy") == csp_for(PAGE.read_bytes()), "not the working tree's page"
    assert_tiles_match(snap, answer["board"], offline=True)
    assert snap["tiles"] and snap["state"] == "live"
    assert page.title() == "Login test", "the view's URL parameters were lost across the login"
    assert answer["authorization"] and answer["authorization"].startswith("Bearer ")
    assert ("token", 200, None) in login.events(), login.events()
    api = login.api()[page_from:]
    assert api and all(problem is None for _, _, problem in api), api

    # a 401 (keys rotated, say): the page renews its token once, and when the new one is refused too, logs in again
    proxy.force_401 = True
    sign_in_again_from = len(login.events())
    page.wait_for_url(re.compile(re.escape(provider.issuer) + r"/authorize\?"), timeout=15000)
    proxy.force_401 = False
    again = [e[0] for e in login.events()[sign_in_again_from:]]
    assert "refresh" in again and "authorize" in again and again.index("refresh") < again.index("authorize"), again
    sign_in(page, login, view)
    snap, answer = drawn(page, watcher)
    assert snap["tiles"], "no tiles after logging in again"
    assert [e for e in login.events() if e[0] == "token"] == [("token", 200, None)] * 2


@pytest.mark.parametrize("rotate", [True, False], ids=["single-use-refresh-tokens", "reusable-refresh-token"])
def test_the_page_refreshes_its_token_and_stays_on_the_board_for_many_lifetimes(open_page, login, rotate):
    provider, proxy = login.provider, login.proxy
    provider.token_seconds, provider.rotate_refresh = TOKEN_SECONDS, rotate
    view = "?offline=show&poll=1&title=Refresh%20test"
    page, watcher = open_page(proxy.url + view)
    sign_in(page, login, view)
    drawn(page, watcher)
    first = stored_token(page)
    assert first["refresh_token"], "the refresh token was not kept next to the access token"
    navigations = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))
    answers_from = len(watcher.answers)
    refresh_tokens, shown = {first["refresh_token"]}, set()
    deadline = time.monotonic() + 3.5 * TOKEN_SECONDS
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        snap = snapshot(page)
        assert snap["state"] == "live" and snap["tiles"], f"the board went away: {snap['status']!r}"
        shown.add(snap["etag"])
        refresh_tokens.add(stored_token(page)["refresh_token"])

    logins = [e for e in login.events() if e[0] in ("authorize", "token")]
    assert len(logins) == 2 and not navigations, f"the page went to the provider again: {logins}, {navigations}"
    assert page.url == proxy.url + view
    refreshes = [e for e in login.events() if e[0] == "refresh"]
    assert len(refreshes) >= 3 and all(e == ("refresh", 200, None) for e in refreshes), refreshes
    # every API request carried a token the authorizer took, and the page went on polling with the new ones
    api = login.api()
    assert api and all(problem is None for _, _, problem in api), [s for s in api if s[2]]
    answers = watcher.answers[answers_from:]
    assert len(answers) >= 2 * TOKEN_SECONDS and all(a["status"] in (200, 304) for a in answers)
    assert len({a["authorization"] for a in answers}) >= 3, "the polls did not move on to the refreshed tokens"
    if rotate:  # each answer carried the next refresh token, and the page kept it
        assert len(refresh_tokens) == len(refreshes) + 1
    else:  # the answers carried none: the page kept the one from the login
        assert refresh_tokens == {first["refresh_token"]}


def test_a_provider_outage_is_waited_out_and_a_refused_refresh_logs_in_again(open_page, login):
    provider, proxy = login.provider, login.proxy
    provider.token_seconds = TOKEN_SECONDS
    view = "?offline=show&poll=1&stale=60&title=Outage%20test"
    page, watcher = open_page(proxy.url + view)
    sign_in(page, login, view)
    drawn(page, watcher)

    # the token endpoint answers 503 past the access token's expiry: no sign-in page, the status says why
    provider.token_unavailable = True
    page.wait_for_function("() => /identity provider/.test((document.getElementById('status') || {}).textContent)",
                           timeout=3 * TOKEN_SECONDS * 1000)
    page.wait_for_timeout(TOKEN_SECONDS * 1000)
    assert ("refresh", 503, "temporarily_unavailable") in login.events()
    provider.token_unavailable = False
    page.wait_for_function("() => { const s = document.getElementById('status') || {dataset: {}};"
                           " return s.dataset.state === 'live' && !/retrying/.test(s.textContent); }",
                           timeout=3 * TOKEN_SECONDS * 1000)
    logins = [e[0] for e in login.events() if e[0] in ("authorize", "token")]
    assert logins == ["authorize", "token"], f"logged in again during the outage: {login.events()}"
    api = login.api()
    assert all(problem is None for _, _, problem in api), "the page sent an expired token during the outage"
    assert page.url == proxy.url + view

    # the refresh token is revoked (or expired): only now the page goes back to the sign-in page
    provider.refresh_tokens.clear()
    page.wait_for_url(re.compile(re.escape(provider.issuer) + r"/authorize\?"), timeout=3 * TOKEN_SECONDS * 1000)
    kinds = [e[:3] if e[0] == "refresh" else e[0] for e in login.events()]
    assert ("refresh", 400, "invalid_grant") in kinds and kinds.count("authorize") == 2, kinds
    sign_in(page, login, view)
    assert drawn(page, watcher)[0]["tiles"], "no tiles after logging in again"
