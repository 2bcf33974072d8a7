#!/usr/bin/env python3
"""Where a function's CPU goes, by the project line that made the call.

Reads `perf script -F ip,sym,srcline --inline` output of a `perf record --call-graph dwarf` run of the
cpu_floor bench (bench profile: symbols and line tables) and keeps the samples inside the measured part
(a frame matching --within, default `run_items`; samples with a frame matching --exclude are dropped). Prints:

* the leaf symbols (self time), the allocator's functions lumped together as "allocator";
* each sample charged to the innermost frame in the project's own source (shared/, functions/, the replay tool): the project
  line that made the expensive call, with what the call was (the outermost non-project frame below it);
* inclusive time of project frames.

    perf record -e cpu-clock -F 2000 --call-graph dwarf,16384 -o agent.data \\
        target/release/deps/cpu_floor-HASH --bench --profile-time 8 'agent-events/agent-state/fresh'
    perf script -i agent.data -F ip,sym,srcline --inline | tools/bench/perf-attribution.py
"""
import argparse
import collections
import os
import re
import sys

ALLOC = re.compile(r"^(_int_malloc|_int_free|malloc_consolidate|unlink_chunk|cfree|malloc|free|__libc_calloc|calloc|"
                   r"realloc|_int_realloc|__GI___libc_malloc|__GI___libc_free|__libc_free|__libc_malloc|tcache_|"
                   r"sysmalloc|__rust_alloc|__rust_dealloc|__rdl_|alloc_perturb|checked_request2size)")
COPY = re.compile(r"^(__memmove|__memcpy|__memset)")
CRATES = ("agent_state::", "shared::", "contact_archiver::", "supervisor_alerts::", "connect_replay::")


def project_files(root):
    names = set()
    for base in ("shared/src", "functions", "tools/connect-replay/src"):
        for dirpath, _, files in os.walk(os.path.join(root, base)):
            if "/tests" in dirpath or "/examples" in dirpath:
                continue
            names.update(f for f in files if f.endswith(".rs"))
    return names - {"mod.rs", "lib.rs", "main.rs", "config.rs", "time.rs"}


def samples(stream):
    frames, frame = [], None
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield frames
            frames, frame = [], None
        elif line.startswith("\t"):
            parts = line.strip().split(None, 1)
            frame = [parts[1] if len(parts) > 1 else "?", ""]
            frames.append(frame)
        elif line.startswith("  ") and frame is not None:
            frame[1] = line.strip().replace(" (inlined)", "")
    if frames:
        yield frames


def short(sym, n=110):
    sym = re.sub(r"<[^<>]*(<[^<>]*(<[^<>]*>[^<>]*)*>[^<>]*)*>", "<…>", sym)
    return sym if len(sym) <= n else sym[: n - 1] + "…"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--within", default="run_items")
    ap.add_argument("--exclude", default="warm_alert_table")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    files = project_files(a.root)

    def is_project(frame):
        # A frame of the project's own code: its symbol is in one of the project's crates, or its source line
        # (for inlined frames: where the call sits) is in one of the project's files.
        sym, src = frame
        if sym.lstrip("<").startswith(CRATES):
            return True
        base = src.split(":")[0]
        return base in files and not sym.startswith(("core::", "alloc::", "std::", "serde", "tokio", "futures"))

    total = 0
    leaf = collections.Counter()
    charged = collections.Counter()
    inclusive = collections.Counter()
    for frames in samples(sys.stdin):
        syms = [f[0] for f in frames]
        if not any(a.within in s for s in syms) or any(a.exclude in s for s in syms):
            continue
        total += 1
        top = frames[0][0]
        kind = "allocator" if ALLOC.match(top) else "memmove/memset" if COPY.match(top) else None
        leaf[f"{kind} (glibc)" if kind else short(top, 90)] += 1
        owner = next((i for i, f in enumerate(frames) if is_project(f)), None)
        if owner is None:
            charged["(no project frame)  " + short(top, 80)] += 1
        else:
            callee = frames[owner - 1][0] if owner > 0 else "(self)"
            what = kind or short(top, 60)
            charged[f"{frames[owner][1]:<22} {short(frames[owner][0], 70)}\n{'':26}→ {short(callee, 70)}  [leaf: {what}]"] += 1
        seen = set()
        for f in frames:
            if is_project(f):
                key = f"{f[1]:<22} {short(f[0], 90)}"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += 1
    if not total:
        sys.exit("no samples inside the measured part")
    pct = lambda n: f"{100 * n / total:5.1f}%"
    print(f"{total} samples inside `{a.within}`\n\n== self time by leaf symbol")
    for k, n in leaf.most_common(a.top):
        print(f"{pct(n)}  {k}")
    print("\n== charged to the innermost project frame (file:line of the call, function → the call it made)")
    for k, n in charged.most_common(a.top):
        print(f"{pct(n)}  {k}")
    print("\n== inclusive time of project frames")
    for k, n in inclusive.most_common(a.top):
        print(f"{pct(n)}  {k}")


if __name__ == "__main__":
    main()
