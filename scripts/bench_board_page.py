#!/usr/bin/env python3
"""How fast the agent board page draws 1,000 tiles, in headless Chromium against scripts/board_mock.py.

For each scenario it measures, from the moment the api/board response arrived (fetch resolved) to:
  * DOM  - the tiles, counts and times are in the DOM (the page's window.__boardTimings[].rendered);
  * frame - the next frame after that has run (requestAnimationFrame, then a task): style, layout and paint;
for the first render (a fresh page, median of --runs loads) and for updates (one page polling every second,
median of --updates polls that brought a changed board). It also reports the per-second tick (times and levels
only) and the size of the 1,000-agent JSON, raw and gzip-compressed (the mock's JSON follows API.md field for
field; the real function's bytes differ a little).

Usage: .venv/bin/python scripts/bench_board_page.py [--agents 1000] [--runs 5] [--updates 10]
Needs Debian's chromium (scripts/install-chromium.sh) and playwright from scripts/requirements.txt.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from board_mock import BoardMock  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1920, "height": 1080}
# (name, board seconds per real second): at one poll a second, rate 5 changes about as many tiles per poll as a
# deployed board (rate 1) polling every 5 s; rate 60 is a fast replay where about half the tiles change.
SCENARIOS = [("deployed-like: rate 5, poll 1 s", 5.0), ("fast replay: rate 60, poll 1 s", 60.0)]


def wait_timings(page, count: int, timeout_s: float) -> list[dict]:
    page.wait_for_function(
        "n => window.__boardTimings && window.__boardTimings.filter(t => t.painted != null).length >= n",
        arg=count, timeout=timeout_s * 1000, polling=100)
    return page.evaluate("window.__boardTimings.filter(t => t.painted != null)")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_scenario(browser, agents: int, rate: float, runs: int, updates: int) -> dict:
    with BoardMock(agents=agents, rate=rate, config={"poll_seconds": 1}) as mock:
        mock.day.started -= 3 * 3600 / rate  # three hours into the day: everyone logged in
        first_dom, first_frame = [], []
        for _ in range(runs):
            ctx = browser.new_context(viewport=VIEWPORT)
            page = ctx.new_page()
            page.goto(mock.url + "?poll=60")
            t = wait_timings(page, 1, 30)[0]
            assert t["tiles"] == agents, f"{t['tiles']} tiles drawn, expected {agents}"
            first_dom.append(t["rendered"] - t["received"])
            first_frame.append(t["painted"] - t["received"])
            ctx.close()
        ctx = browser.new_context(viewport=VIEWPORT)
        page = ctx.new_page()
        page.goto(mock.url + "?poll=1")
        timings = [t for t in wait_timings(page, updates + 1, 30 + updates * 3) if not t["first"]][:updates]
        ticks = []
        for _ in range(10):
            page.wait_for_timeout(300)
            ticks.append(page.evaluate("window.__boardTickMs"))
        ctx.close()
        with urllib.request.urlopen(urllib.request.Request(mock.url + "api/board",
                                                           headers={"Accept-Encoding": "gzip"})) as r:
            wire = r.read()
            raw = gzip.decompress(wire) if r.headers.get("Content-Encoding") == "gzip" else wire
    return {
        "first_dom": median(first_dom), "first_frame": median(first_frame),
        "update_dom": median([t["rendered"] - t["received"] for t in timings]),
        "update_frame": median([t["painted"] - t["received"] for t in timings]),
        "changed": median([t["changed"] for t in timings]),
        "tick": median(ticks),
        "raw": len(raw), "gzip": len(gzip.compress(raw, 6)),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--runs", type=int, default=5, help="fresh page loads for the first render")
    p.add_argument("--updates", type=int, default=10, help="updates measured per scenario")
    args = p.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"bench_board_page: {CHROMIUM} is missing; run scripts/install-chromium.sh", file=sys.stderr)
        return 1
    results = []
    started = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, rate in SCENARIOS:
            results.append((name, run_scenario(browser, args.agents, rate, args.runs, args.updates)))
        results[0][1]["browser"] = browser.version
        browser.close()
    # Markdown: scripts/bench.sh puts this into BENCHMARKS.md section 7 as it is.
    browser_version = results[0][1].get("browser", "")
    print(f"The page with {args.agents} tiles in headless Chromium {browser_version} at "
          f"{VIEWPORT['width']}×{VIEWPORT['height']} against `scripts/board_mock.py` (the API's JSON field for field); "
          f"median ms from the `api/board` response arriving (first render: {args.runs} fresh loads; updates: "
          f"{args.updates} polls that brought a changed board). DOM: tiles, counts and times in the DOM; frame: the "
          f"next frame after it (style, layout, paint); tick: the per-second update of times and levels.\n")
    print("| scenario | first render, DOM | first render, frame | update, DOM | update, frame | tiles changed per update | tick |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results:
        print(f"| {name} | {r['first_dom']:.1f} | {r['first_frame']:.1f} | {r['update_dom']:.1f} | "
              f"{r['update_frame']:.1f} | {r['changed']:.0f} | {r['tick']:.2f} |")
    r = results[0][1]
    print(f"\nThe mock's `api/board` for {args.agents} agents: {r['raw'] / 1024:.0f} KiB JSON, {r['gzip'] / 1024:.0f} KiB "
          f"gzip (level 6). Run took {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
