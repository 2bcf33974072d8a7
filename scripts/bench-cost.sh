#!/usr/bin/env bash
# Cost figures (issue 19): serial round trips per batch against a fixed latency per AWS call (and agent-state on
# moto), dollars per million records at list prices from measured work, and CPU per record and heap per invocation
# against records per invocation (bench --bin growth). Builds the bench on the `replay` profile (the figures are
# counts and waits; CPU columns are this core).
# Writes out/bench/results/cost-section.md and puts it into BENCHMARKS.md between the cost markers.
# Usage: scripts/bench-cost.sh [--no-write]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
write=true
[ "${1:-}" = "--no-write" ] && write=false
res=out/bench/results
mkdir -p "$res" out/bench/logs
cargo build --profile replay -p bench --bin round_trips --bin cost --bin growth >out/bench/logs/cost-build.log 2>&1
scripts/setup-venv.sh >/dev/null
eval "$(scripts/start-moto.sh 2>out/bench/logs/moto-cost.log)"
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
target/replay/round_trips >"$res/round-trips.md"
target/replay/cost >"$res/cost.md"
target/replay/growth >"$res/growth.md"
commit=$(git rev-parse --short HEAD)
{
  echo "## 9. Round trips and cost per million records"
  echo
  echo "\`scripts/bench-cost.sh\` on commit \`$commit\`, $(date -u +%Y-%m-%dT%H:%MZ) (\`bench --bin round_trips\` and \`bench --bin cost\`, replay profile, one core)."
  echo
  echo "### Serial round trips per batch"
  echo
  echo "In-memory adapters behind a hook that delays every AWS call by the same latency; \`(ms with delay − ms without) ÷ latency\` is how many round trips the batch waited one after another on the wall clock — CPU that does not overlap the waits, and the machine's noise between the two runs, move it by ±0.5 or so; the last column runs the same batch on Tokio's paused clock, where only waiting advances time, and is the exact count of calls made one after another. Calls in flight are bounded by \`shared::batch::MAX_IN_FLIGHT\` (256: Lambda's 1,024 file descriptors and threads, one HTTPS connection per call in flight; its doc comment has the reasoning). So agent-state waits two round trips (history, then current items) up to 256 distinct agents in a batch and one more per further 256; its issue asked for two up to 1,000. A higher bound is not free where these functions run: each connection costs a TLS handshake on a cold pool (CPU that a 128 MB function gets a fraction of a vCPU for) and tens of KB of buffers, and batching the conditional writes instead has no good form: `TransactWriteItems` would bill twice the write units of every current item, and PartiQL's `BatchExecuteStatement` (conditional, not transactional) is not modelled by the emulator the tests run on (moto applies an `UPDATE … WHERE` whose condition fails as a no-op, not a failure). Before this change (32 agent writes, 16 alert keys, a batch put's chunks one after another) the same bench measured, at 200 agents: agent-state 9.5 (redelivered 16.2), supervisor-alerts segments 97.4; at 1,000 agents (695 in the batch): agent-state 25.5 (48.9), segments 151.9."
  echo
  cat "$res/round-trips.md"
  echo
  echo "### Cost model"
  echo
  echo "Prices (US East, N. Virginia), read 2026-12-05. The stored copies of aws.amazon.com's pricing pages carry the text but not the rate tables, so each rate is given with where it was confirmed: Lambda arm64 \$0.0000133334 per GB-s and \$0.20 per million requests (aws.amazon.com/lambda/pricing; the AWS whitepaper *How AWS Pricing Works*; cloudchipr.com 2025); DynamoDB on-demand \$0.625 per million WRU and \$0.125 per million RRU (the 1 Nov 2024 price cut; airbyte.com, July 2025); S3 Standard PUT \$0.005 per 1,000; SNS publish \$0.50 per million (factualminds.com, June 2026); Kinesis enhanced fan-out \$0.015 per consumer-shard hour and \$0.013 per GB retrieved (aws.amazon.com/kinesis/data-streams/pricing; c3x.dev); KMS \$1 per key-month and \$0.03 per 10,000 requests (aws.amazon.com/kms/pricing; wring.co, March 2026); Firehose \$0.029 per GB ingested from a Kinesis stream, records rounded up to 5 KB (the 5 KB rule: aws.amazon.com/kinesis/data-firehose/pricing), \$0.018 per GB for JSON→Parquet, \$0.020 per GB and \$0.005 per 1,000 objects for dynamic partitioning — the Firehose rates are from AWS's pricing page as last read, not confirmed in a stored copy: check them before relying on the comparison. KMS requests are not in the per-record figures: Kinesis, S3 (bucket keys), DynamoDB and SNS cache data keys, so requests are a few per key per five minutes — cents a month."
  echo
  cat "$res/cost.md"
  echo
  echo "### Growth: CPU and heap against records per invocation"
  echo
  echo "\`bench --bin growth\`: 10,000 records of each function's main stream (the synthetic day with 500 agents, no payload limit, so a 10,000-record invocation is larger than Lambda's 6 MB payload would allow for these records: it shows the trend), cut into invocations of 1 to 10,000 records, fresh in-memory adapters per size, one core. The heap is counted by a counting global allocator around mimalloc (\`bench::heap\`)."
  echo
  cat "$res/growth.md"
} >"$res/cost-section.md"
if [ "$write" = true ]; then
  python3 scripts/bench_section.py cost-bench "$res/cost-section.md" BENCHMARKS.md
  echo "bench-cost: BENCHMARKS.md updated" >&2
fi
