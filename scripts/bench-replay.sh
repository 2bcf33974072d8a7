#!/usr/bin/env bash
# Replay, backtest and re-drive at scale (issue 17's figures), on the tool's `replay` build profile:
#   1. replay of 1,000,000 and 10,000,000 generated records through all three functions on the local backends
#      (SQLite tables, a directory for S3): records/s and peak RSS (target ≥ 100,000/s, 10M within 10 % of 1M)
#   2. rules backtest over the 1M run's archive: supervisor-alerts alone (target ≥ 250,000 records/s)
#   3. re-drive of 100,000 archived records from a bucket on moto (127.0.0.1) through all three functions
#   4. with --build-times: the README's first command on a fresh clone (cold target/), `replay` profile against
#      `--release`, and the 1M replay under the release profile for comparison (adds ~25 min)
# Writes out/bench/results/replay-section.md and puts it into BENCHMARKS.md between the replay markers.
# Usage: scripts/bench-replay.sh [--records N] [--build-times] [--no-write]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
records=10000000
build_times=false
write=true
while [ $# -gt 0 ]; do
  case "$1" in
    --records) records=$2; shift ;;
    --build-times) build_times=true ;;
    --no-write) write=false ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench-replay: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
out=$root/out/bench
res=$out/results
mkdir -p "$res" "$out/logs"
gnu_time=/usr/bin/time
[ -x "$gnu_time" ] || { echo "bench-replay: needs GNU time (/usr/bin/time)" >&2; exit 1; }
say() { echo "== $*" >&2; }

say "build (replay profile)"
cargo build --profile replay -p connect-replay >"$out/logs/replay-build.log" 2>&1
tool=$root/target/replay/connect-replay
rules=$root/tools/connect-replay/rules.demo.json

replay() { # replay N [binary]
  local n=$1 bin=${2:-$tool} tag=${3:-replay}
  local dir=$out/$tag-$n
  rm -rf "$dir"
  "$gnu_time" -v -o "$res/$tag-$n.time" "$bin" run --generated --records "$n" --quiet --out "$dir" >"$res/$tag-$n.txt" 2>&1
  grep 'replay time' "$res/$tag-$n.txt" >&2 || true
}
say "replay 1,000,000"
replay 1000000
say "backtest over its archive"
"$gnu_time" -v -o "$res/backtest.time" "$tool" rules backtest --rules "$rules" --archive "$out/replay-1000000/archive" \
  --quiet >"$res/backtest.txt" 2>&1
head -1 "$res/backtest.txt" >&2
rm -rf "$out/replay-1000000"
say "replay $records"
replay "$records"
rm -rf "$out/replay-$records"

say "re-drive of 100,000 archived records from moto"
scripts/setup-venv.sh >/dev/null
eval "$(scripts/start-moto.sh 2>"$out/logs/moto-replay.log")"
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
src=$out/redrive-source
rm -rf "$src" "$out/redrive-target"
"$tool" run --generated --records 100000 --quiet --out "$src" >/dev/null
.venv/bin/python - "$src/archive" >"$res/redrive-upload.txt" <<'PY'
import os, sys, boto3
root = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
s3.create_bucket(Bucket="bench-archive")
n = 0
for d, _, files in os.walk(root):
    for f in files:
        if f.endswith(".ndjson.gz"):
            path = os.path.join(d, f)
            s3.upload_file(path, "bench-archive", os.path.relpath(path, root))
            n += 1
print(f"uploaded {n} objects")
PY
"$gnu_time" -v -o "$res/redrive.time" "$tool" redrive --source archive --from s3://bench-archive/ \
  --functions agent-state,supervisor-alerts,contact-archiver --out "$out/redrive-target" --quiet \
  >"$res/redrive.txt" 2>&1
cat "$res/redrive.txt" >&2
kill "$MOTO_PID" 2>/dev/null || true
rm -rf "$src" "$out/redrive-target"

if [ "$build_times" = true ]; then
  say "fresh-clone build of the README's command (replay profile, then release)"
  clone=$out/fresh-clone
  for profile in replay release; do
    rm -rf "$clone"
    git clone -q "$root" "$clone"
    flag="--profile replay"
    [ "$profile" = release ] && flag="--release"
    start=$SECONDS
    (cd "$clone" && CARGO_TARGET_DIR=$clone/target cargo run $flag -p connect-replay -- demo --quiet \
      >"$res/fresh-$profile.txt" 2>"$out/logs/fresh-$profile.log")
    echo $((SECONDS - start)) >"$res/fresh-$profile.secs"
    if [ "$profile" = release ]; then
      replay 1000000 "$clone/target/release/connect-replay" release
      rm -rf "$out/release-1000000"
    fi
  done
  rm -rf "$clone"
fi

python3 - "$res" "$records" "$build_times" >"$res/replay-section.md" <<'PY'
import re, sys
res, records, build_times = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "true"

def read(name):
    try:
        return open(f"{res}/{name}").read()
    except OSError:
        return ""

def timed(name):
    t = read(name)
    got = {}
    for key, pat in (("rss", r"Maximum resident set size \(kbytes\): (\d+)"), ("user", r"User time \(seconds\): ([\d.]+)"),
                     ("sys", r"System time \(seconds\): ([\d.]+)"), ("cpu", r"Percent of CPU this job got: (\d+)%")):
        m = re.search(pat, t)
        if m:
            got[key] = float(m.group(1))
    return got

def replay(tag, n):
    txt = read(f"{tag}-{n}.txt")
    m = re.search(r"replay time\s+([\d.]+) s \((\d+) records/s\)", txt)
    r = {"n": n, **timed(f"{tag}-{n}.time")}
    if m:
        r["secs"], r["rate"] = float(m.group(1)), int(m.group(2))
    return r

def met(ok):
    return "met" if ok else "**missed**"

out = []
w = out.append
w("## 6. Replay, backtest and re-drive at scale (targets: ≥ 100,000 records/s and flat memory; backtest ≥ 250,000/s)")
w("")
w("`scripts/bench-replay.sh` (the `replay` build profile; the local backends: SQLite files for the tables, a directory for S3; the three functions' consumers on their own threads, the next window generated meanwhile; 2 cores):")
w("")
w("```sh")
w("target/replay/connect-replay run --generated --records N --quiet                       # replay")
w("target/replay/connect-replay rules backtest --rules tools/connect-replay/rules.demo.json --archive out/…/archive --quiet")
w("target/replay/connect-replay redrive --source archive --from s3://bench-archive/ --functions agent-state,supervisor-alerts,contact-archiver --out …")
w("```")
w("")
rows = [replay("replay", 1000000), replay("replay", records)]
w("| records | replay s | records/s | CPU used | peak RSS MiB | target ≥ 100,000/s |")
w("|---:|---:|---:|---:|---:|---|")
for r in rows:
    if "rate" not in r:
        w(f"| {r['n']:,} | — | — | — | — | not measured |")
        continue
    w(f"| {r['n']:,} | {r['secs']:.1f} | {r['rate']:,} | {r.get('cpu', 0):.0f} % | {r.get('rss', 0) / 1024:.0f} | {met(r['rate'] >= 100000)} |")
if all("rss" in r for r in rows):
    a, b = rows[0]["rss"], rows[1]["rss"]
    w("")
    w(f"Memory: peak RSS {b / 1024:.0f} MiB at {rows[1]['n']:,} records against {a / 1024:.0f} MiB at 1,000,000 "
      f"({b / a:.2f}×): {'flat — within 10 %' if b <= a * 1.10 else 'NOT within 10 %'}; ≤ 512 MiB: {met(b / 1024 <= 512)}.")
bt = read("backtest.txt")
m = re.search(r"(\d+) records from .*?, (\d+) alerts would have fired.*?; ([\d.]+) s, (\d+) records/s", bt, re.S)
w("")
if m:
    t = timed("backtest.time")
    w(f"Backtest of the demo rules over the 1,000,000-record run's archive: {int(m.group(1)):,} records, {int(m.group(2)):,} alerts, "
      f"{float(m.group(3)):.1f} s — **{int(m.group(4)):,} records/s** (target ≥ 250,000/s: {met(int(m.group(4)) >= 250000)}), "
      f"peak RSS {t.get('rss', 0) / 1024:.0f} MiB. It reads and decompresses the archive, times every record, and runs "
      f"supervisor-alerts alone on a SQLite alert-state table.")
else:
    w("Backtest: not measured (see out/bench/results/backtest.txt).")
rd = read("redrive.txt")
m = re.search(r"records selected\s+(\d+)", rd)
t = timed("redrive.time")
w("")
if m and "user" in t:
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", read("redrive.time")).group(1)
    parts = [float(p) for p in wall.split(":")]
    secs = parts[-1] + (parts[-2] * 60 if len(parts) > 1 else 0) + (parts[-3] * 3600 if len(parts) > 2 else 0)
    n = int(m.group(1))
    w(f"Re-drive of an archive from an S3 bucket on moto (127.0.0.1): {read('redrive-upload.txt').strip()} "
      f"holding {n:,} records (a 100,000-record generated run's NDJSON archive), through all three functions into "
      f"a fresh local output: **{secs:.1f} s, {n / secs:,.0f} records/s**, peak RSS {t.get('rss', 0) / 1024:.0f} MiB "
      f"(listing and reading the objects over HTTP included).")
else:
    w("Re-drive from moto: not measured (see out/bench/results/redrive.txt).")
if build_times:
    w("")
    rel = replay("release", 1000000)
    fresh = {p: read(f"fresh-{p}.secs").strip() for p in ("replay", "release")}
    w("The README's first command on a fresh clone (cold `target/`, 2 cores): "
      f"`cargo run --profile replay -p connect-replay -- demo` **{float(fresh['replay'] or 0):.0f} s**, "
      f"`cargo run --release …` {float(fresh['release'] or 0):.0f} s. The 1,000,000-record replay under the release profile: "
      f"{rel.get('rate', 0):,} records/s (replay profile: {rows[0].get('rate', 0):,}).")
w("")
w("**What bounds these figures** (perf, `--call-graph dwarf`, on the replay profile). The replay does four jobs' worth of "
  "work per record on 2 cores and keeps both busy (CPU used above): generating the day (about a fifth of the CPU), then "
  "three functions that each parse every record into the typed model, the archiver gzipping and encoding Parquet with "
  "zstd, agent-state and supervisor-alerts writing through SQLite (about an eighth); the rest is allocation and copying "
  "spread over all of them. 100,000 records/s would leave 20 µs of CPU per record for all of it. The backtest (a "
  "200,000-record archive): 41 % parsing records into the typed model (supervisor-alerts' own parse; timing the records "
  "costs 3 %), 17 % reading the archive (4 % gunzip, 13 % the NDJSON envelope decode), 9 % SQLite, 14 % the kernel "
  "zeroing fresh pages for per-object buffers. 250,000 records/s would need the borrowed, zero-copy parse issue 19 asks "
  "for and no per-record copies of the archive's bytes; neither is done here.")
print("\n".join(out))
PY

if [ "$write" = true ]; then
  python3 scripts/bench_section.py replay-bench "$res/replay-section.md" BENCHMARKS.md
  echo "bench-replay: BENCHMARKS.md updated" >&2
fi
cat "$res/replay-section.md"
