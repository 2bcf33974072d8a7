"""Section 3 of BENCHMARKS.md, cold start: its table, its profile, its summary rows and its "What limits" paragraph.

One home for all of it: `scripts/bench.sh` renders the whole file with `section()` and `limits()`, and
`scripts/bench.sh --only cold` measures this section alone and splices it in (`--splice`).

    python3 scripts/bench_cold.py phases COMM --runs N --hz HZ < perf-script.txt > cold-profile-NAME.json
    python3 scripts/bench_cold.py RESULTS_DIR                       # print the section
    python3 scripts/bench_cold.py RESULTS_DIR --splice BENCHMARKS.md  # rewrite the section, its rows, its paragraph

The profile: `runtime-stub init` runs a bootstrap many times with its runtime API at a closed port (each run is
its init alone), under `perf record` with DWARF call graphs of the bench-profile build (the release code, with
symbols); `phases` attributes each sample of the bootstrap's process to the init phase of its outermost frame that
names one.
"""
import argparse
import collections
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_section  # noqa: E402

MARKER = "cold-start"
TARGET = 1.5
YARDSTICK = "hello"
SAME_FLAVOUR = "hello_current_thread"

# (phase, substrings of a frame's symbol). A sample belongs to the phase of its outermost frame that names one:
# outermost, because fat LTO folds identical functions, so an inner frame may carry another crate's name (DynamoDB's
# partition table is parsed by a function symbolised as STS's) while the constructor that called it is unambiguous.
PHASES = [
    ("exit (after the refused GET /next; not in a real cold start)",
     ["_dl_call_fini", "mi_process_done", "__run_exit_handlers", "exit_mmap", "do_exit"]),
    ("exec and dynamic loader (map the binary, apply its relocations)",
     ["load_elf_binary", "bprm_execve", "begin_new_exec", "_dl_start", "dl_main", "_dl_relocate_object",
      "_dl_map_object"]),
    ("mimalloc (its start, and allocations outside the phases below)", ["^mi_", "^_mi_"]),
    ("SDK config (aws_config: environment, profile files, providers)", ["aws_config::"]),
    ("DynamoDB client (partition table, endpoint rules)", ["aws_sdk_dynamodb::client::Client"]),
    ("S3 client (partition table, endpoint rules)", ["aws_sdk_s3::client::Client"]),
    ("SNS client (partition table, endpoint rules)", ["aws_sdk_sns::client::Client"]),
    ("Tokio runtime", ["tokio::runtime::builder::Builder::build"]),
    ("logs and metrics (shared::telemetry::init)", ["shared::telemetry::init"]),
    ("configuration (environment, rules)",
     ["agent_state::config", "supervisor_alerts::config", "supervisor_alerts::rules", "contact_archiver::config",
      "shared::config"]),
    ("lambda_runtime up to GET /next", ["lambda_runtime::"]),
]
OTHER = "the rest (libc and std start-up, main, page faults outside the above)"


def names(frame, key):
    """`^key`: the frame's symbol starts with key; otherwise it contains it."""
    return frame.startswith(key[1:]) if key.startswith("^") else key in frame


def phase(frames):
    for frame in reversed(frames):
        for name, keys in PHASES:
            if any(names(frame, k) for k in keys):
                return name
    return OTHER


def samples(lines, comm):
    """Call stacks (leaf first) of `comm`'s samples in `perf script -F comm,ip,sym` output."""
    frames, current = [], None
    for line in lines:
        if not line.strip():
            if current == comm:
                yield frames
            frames, current = [], None
        elif not line.startswith(("\t", " ")):
            current, frames = line.split()[0], []
        else:
            parts = line.strip().split(" ", 1)
            frames.append(parts[1] if len(parts) > 1 else parts[0])
    if current == comm:
        yield frames


def phases(lines, comm, runs, hz):
    counts = collections.Counter(phase(f) for f in samples(lines, comm))
    per_run = {name: n / hz * 1000 / runs for name, n in counts.items()}
    return {"samples": sum(counts.values()), "runs": runs, "hz": hz, "ms": per_run}


# ---------------------------------------------------------------------------------------------------------------


def read(res, name):
    try:
        return open(os.path.join(res, name)).read()
    except OSError:
        return ""


def jsonl(res, name):
    return [json.loads(line) for line in read(res, name).splitlines() if line.startswith("{")]


def met(ok):
    return "**met**" if ok else "**missed**"


def profiles(res):
    out = {}
    for name in sorted(os.listdir(res)) if os.path.isdir(res) else []:
        if name.startswith("cold-profile-") and name.endswith(".json"):
            out[name[len("cold-profile-"):-len(".json")]] = json.loads(read(res, name))
    return out


def section(res):
    """(lines, summary rows) of section 3."""
    cold = {c["target"]: c for c in jsonl(res, "cold.jsonl")}
    stamp = dict(line.split("=", 1) for line in read(res, "cold.env").splitlines() if "=" in line)
    out = []
    w = out.append
    w(f"## 3. Cold start: spawn → first `GET /next` (target ≤ {TARGET}× a bare `lambda_runtime` binary)")
    w("")
    if stamp:
        w(f"Measured {stamp.get('date')} on commit `{stamp.get('commit')}` (load average {stamp.get('load')}), "
          "by `scripts/bench.sh` or `scripts/bench.sh --only cold` (this section alone).")
        w("")
    w("`runtime-stub cold`: a Lambda Runtime API stub on 127.0.0.1 (std::net); each bootstrap is spawned with a cleared "
      "environment plus the Lambda variables (credentials and region included, as Lambda sets them) and its "
      "configuration (`AWS_ENDPOINT_URL=https://127.0.0.1:<closed port>`: nothing leaves the machine, nothing at init "
      "needs AWS, and the first AWS call builds the TLS connector — loading the platform's root certificates, which the "
      "functions defer from init to that call — before its connection is refused; `AWS_MAX_ATTEMPTS=1` so the failing "
      f"writes do not retry for seconds), one untimed run per binary first (page cache), then {stamp.get('reps', '?')} "
      "timed runs per binary, binaries interleaved run by run. The first `GET /next` is answered with the function's "
      "envelope from `events/envelopes/`; the invocation's `POST …/response` is answered 202. `hello` is the bare "
      "`lambda_runtime` hello world the target is judged against (`tools/bench/src/bin/hello.rs`: `#[tokio::main]`, "
      "Tokio's multi-thread runtime); `hello_current_thread` is the same on the current-thread runtime the bootstraps "
      "use, to show how much of their figure the runtime flavour alone is. Same release profile for all.")
    w("")
    hello = cold.get(YARDSTICK, {}).get("median_ms")
    same = cold.get(SAME_FLAVOUR, {}).get("median_ms")
    rows = []
    if not cold:
        w("**Not measured.**")
        w("")
        return out, rows
    w(f"| binary | median ms | min ms | max ms | ratio to hello (median) | target ≤ {TARGET}× | ratio to hello_current_thread "
      "| first invocation ms (median) | responses accepted | batchItemFailures in the response |")
    w("|---|---:|---:|---:|---:|---|---:|---:|---|---|")
    for name, c in cold.items():
        med = c.get("median_ms")
        ratio = med / hello if med and hello else None
        flavour = med / same if med and same else None
        yardstick = name in (YARDSTICK, SAME_FLAVOUR)
        verdict = "—" if yardstick or ratio is None else met(ratio <= TARGET)
        acc = f"{c['accepted']}/{c['runs']}" + (
            f" ({c['error_responses']} error responses, {c['init_errors']} init errors)"
            if c["error_responses"] or c["init_errors"] else "")
        fails = c.get("batch_item_failures")
        inv = c.get("invocation_ms")
        w(f"| {name} | {med:.2f} | {c['min_ms']:.2f} | {c['max_ms']:.2f} | {('%.2f×' % ratio) if ratio else '—'} "
          f"| {verdict} | {('%.2f×' % flavour) if flavour else '—'} | {('%.2f' % inv) if inv is not None else '—'} "
          f"| {acc} | {fails if fails is not None else '—'} |")
        if not yardstick and ratio is not None:
            rows.append((f"cold start, {name}", f"{med:.1f} ms = {ratio:.2f}× hello ({hello:.1f} ms)", f"≤ {TARGET}×",
                         ratio <= TARGET))
    w("")
    w("*First invocation*: from the event handed out by `GET /next` to the response (median), the work the functions "
      "moved out of init included: building the TLS connector and loading the root certificates on the first AWS call "
      "(the SDK's default client does that while each client is built in `main`; `shared::adapters::aws::https_client` "
      "defers it). Init is not free in Lambda either (it is billed and it delays the first batch), so both columns count.")
    w("")
    w("A non-zero `batchItemFailures` in a cold-start response is expected for functions that write to AWS: the endpoint "
      "is a closed port, so the write fails (transiently) and the batch reports its first record for retry; the response "
      "itself is well-formed and accepted.")
    w("")
    prof = profiles(res)
    if prof:
        names = list(prof)
        runs = {n: prof[n]["runs"] for n in names}
        w("### Where init goes: the profile")
        w("")
        w("CPU ms per cold start by phase (`perf record -F {hz} --call-graph dwarf` over `runtime-stub init --reps {r}`: "
          "each run is the init alone, its runtime API a closed port; the bench-profile build of each binary — the "
          "release code with symbols; `scripts/bench_cold.py phases` attributes each sample to the phase of its "
          "outermost frame that names one). Sampling with call graphs inflates page-fault-heavy phases, so the totals "
          "run above the wall-clock medians; compare the rows, not the absolute figures.".format(
              hz=int(next(iter(prof.values()))["hz"]), r=next(iter(runs.values()))))
        w("")
        w("| phase | " + " | ".join(names) + " |")
        w("|---|" + "---:|" * len(names))
        order = [p for p, _ in PHASES] + [OTHER]
        for p in order:
            vals = [prof[n]["ms"].get(p, 0.0) for n in names]
            if any(v >= 0.005 for v in vals):
                w(f"| {p} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
        totals = [sum(v for k, v in prof[n]["ms"].items() if not k.startswith("exit")) for n in names]
        w("| **total, exit excluded** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |")
        w("")
    return out, rows


def limits(res):
    """The "What limits" paragraph on cold start."""
    cold = {c["target"]: c for c in jsonl(res, "cold.jsonl")}
    hello = cold.get(YARDSTICK, {}).get("median_ms")
    fns = {n: c["median_ms"] for n, c in cold.items() if n not in (YARDSTICK, SAME_FLAVOUR) and c.get("median_ms")}
    if not hello or not fns:
        return []
    prof = profiles(res)
    # The bare runtimes' mean per phase (both flavours: their profiles run one after another, so each carries the
    # machine's noise of its own minute).
    hellos = [prof[n]["ms"] for n in (YARDSTICK, SAME_FLAVOUR) if n in prof]

    def base(p):
        return sum(h.get(p, 0.0) for h in hellos) / len(hellos) if hellos else 0.0

    def extra(p):
        vals = [v["ms"].get(p, 0.0) - base(p) for n, v in prof.items() if n in fns]
        return f"{min(vals):+.2f} to {max(vals):+.2f} ms" if vals else "?"

    loader = [p for p, _ in PHASES if p.startswith("exec")][0]
    alloc = [p for p, _ in PHASES if p.startswith("mimalloc")][0]
    sdk = [p for p, _ in PHASES if p.startswith("SDK config")][0]
    clients = [p for p, _ in PHASES if "client" in p]
    client_ms = [sum(v["ms"].get(p, 0.0) for p in clients) for n, v in prof.items() if n in fns] or [float("nan")]
    counts = dict(line.split() for line in read(res, "cold-relocs.txt").splitlines() if len(line.split()) == 2)
    fn_counts = [int(counts[n]) for n in fns if counts.get(n, "").isdigit()]
    relocs = (f"{min(fn_counts):,}–{max(fn_counts):,} per bootstrap against hello's {int(counts[YARDSTICK]):,}"
              if fn_counts and counts.get(YARDSTICK, "").isdigit() else "thousands of")
    lines = [
        f"**Cold start.** The bare runtime reaches `GET /next` in {hello:.1f} ms; the bootstraps in "
        f"{min(fns.values()):.1f}–{max(fns.values()):.1f} ms ({min(fns.values()) / hello:.2f}–{max(fns.values()) / hello:.2f}×). "
        "Moved out of the way so far: the trusted root certificates, which the SDK would load and parse while each client "
        "is built (8.2 ms when they loaded at init here, reading every file of a hashed certificate directory), load on the first AWS call (the "
        "*first invocation* column carries them); the SDK configuration takes credentials and region from the environment "
        "where it holds them — always in Lambda — instead of building the default chains' web-identity STS client and "
        "IMDS client; transparent huge pages are off from an ELF constructor, before mimalloc's first arena page could be "
        "a zeroed 2 MB page; the quarantine's S3 client (agent-state, supervisor-alerts) is built on first use, which "
        "most processes never reach; the runtime is Tokio's current-thread one (no worker threads to start). "
        + ("What remains, from the profile above, against the bare runtime: " if prof else
           "What remains (no profile in this run — perf was unavailable — so no figures per phase): ") +
        f"the larger binary to exec, map and relocate ({extra(loader)}: {relocs} relative relocations, mostly the "
        "AWS SDK's tables and vtables, and more pages to fault in); "
        f"mimalloc's start ({extra(alloc)}: hello uses glibc's malloc; mimalloc is what keeps the per-record work at "
        "its floor, section 1); the SDK configuration "
        f"({extra(sdk)}); and the service clients ({min(client_ms):.2f}–{max(client_ms):.2f} ms: each SDK crate parses "
        "its own copy of the partition table and endpoint rules when its first client is built — work a function "
        "needs before its first call, so deferring it would move it into the first invocation, not remove it). "
        "None of these can move without dropping the AWS SDK, mimalloc, or position-independent code (which would "
        "trade the binary's address-space randomisation for the relocations).",
        "",
    ]
    return lines


def splice(text, res):
    lines, rows = section(res)
    text = bench_section.put(MARKER, "\n".join(lines).rstrip("\n"), text)
    new_rows = [f"| {what} | {value} | {target} | {met(ok)} |" for what, value, target, ok in rows]
    kept = []
    para = limits(res)
    for line in text.splitlines():
        if line.startswith("| cold start,"):
            kept.extend(new_rows)
            new_rows = []
        elif line.startswith("**Cold start.**") and para:
            kept.append(para[0])
        else:
            kept.append(line)
    return "\n".join(kept) + "\n"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "phases":
        ap = argparse.ArgumentParser()
        ap.add_argument("cmd")
        ap.add_argument("comm")
        ap.add_argument("--runs", type=int, required=True)
        ap.add_argument("--hz", type=float, required=True)
        a = ap.parse_args()
        print(json.dumps(phases(sys.stdin, a.comm, a.runs, a.hz), indent=1))
        return
    res = sys.argv[1]
    if "--splice" in sys.argv:
        path = sys.argv[sys.argv.index("--splice") + 1]
        text = open(path).read()  # before opening for writing, which empties the file
        open(path, "w").write(splice(text, res))
    else:
        print("\n".join(section(res)[0] + limits(res)))


if __name__ == "__main__":
    main()
