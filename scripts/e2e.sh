#!/usr/bin/env bash
# End-to-end test: the real function binaries under `cargo lambda watch`, with the environment template.yaml gives
# them, against moto resources created with the template's keys and indexes, each invoked with the events/
# envelopes through `cargo lambda invoke`. Then scripts/e2e_check.py asserts what landed in S3, DynamoDB, an SQS
# queue subscribed to the alert topic and, for stream-forwarder, a Standard Webhooks receiver on 127.0.0.1
# (scripts/webhook_receiver.py, which verifies every request with the reference library), and that invoking
# everything a second time changes nothing (the receiver sees only webhook ids it has already seen).
#
#   scripts/e2e.sh            (scripts/test.sh runs it against its own moto)
#
# `cargo lambda watch` has one environment for all functions: each gets the union of the template's variables (a
# variable two functions set differently stops the test), plus AWS_ENDPOINT_URL, dummy credentials and region.
# Uses AWS_ENDPOINT_URL when it is set (it must be 127.0.0.1 or localhost), else starts its own moto. Builds the
# functions in debug on the first invoke (minutes when cold; ~15-25 s in all when warm). Keeps its work directory
# (watch log, responses, env file, the receiver's log and state) only when it fails, or with E2E_KEEP=1.
# Knobs: E2E_INVOKE_TIMEOUT (seconds per invoke, default 900, covers a cold compile); E2E_ARCHIVE_FORMAT (the
# template's ArchiveFormat parameter: ndjson, parquet or both; default: the template's).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
started=$SECONDS
invoke_timeout=${E2E_INVOKE_TIMEOUT:-900}

if [ ! -x .venv/bin/python ] || [ ! -x .venv/bin/cargo-lambda ]; then
  scripts/setup-venv.sh
fi
export PATH="$root/.venv/bin:$PATH"
python="$root/.venv/bin/python"
check() { "$python" scripts/e2e_check.py --results "$work/results.jsonl" "$@"; }

for tool in setsid cargo; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool not found" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/e2e.XXXXXX")
watch_pid=""
invoke_pid=""
own_moto_pid=""
receiver_pid=""
summarised=false

stop_group() { # PID: TERM its process group (it leads one, see start_watch), then KILL what is left.
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 -- "-$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT
  if [ -n "$invoke_pid" ]; then
    kill "$invoke_pid" 2>/dev/null || true
  fi
  if [ -n "$watch_pid" ]; then
    stop_group "$watch_pid"
    wait "$watch_pid" 2>/dev/null || true
  fi
  if [ -n "$receiver_pid" ] && kill -0 "$receiver_pid" 2>/dev/null; then
    kill -TERM "$receiver_pid" 2>/dev/null || true # it writes $work/receiver-state.json on TERM
    wait "$receiver_pid" 2>/dev/null || true
  fi
  if [ -n "$own_moto_pid" ] && kill -0 "$own_moto_pid" 2>/dev/null; then
    kill "$own_moto_pid" 2>/dev/null || true
    wait "$own_moto_pid" 2>/dev/null || true
  fi
  if [ -n "$own_moto_pid" ] && [ -n "${MOTO_LOG:-}" ] && [ -f "$MOTO_LOG" ]; then
    mv "$MOTO_LOG" "$work/moto.log" 2>/dev/null || true
  fi
  if [ "$status" -eq 0 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  elif [ "$status" -eq 0 ]; then
    echo "e2e: work directory kept (E2E_KEEP=1): $work"
  else
    if [ "$summarised" = false ]; then
      echo "e2e: FAIL: stopped early (exit $status) after $((SECONDS - started)) s"
    fi
    echo "e2e: logs and responses kept in $work (watch logs: $work/watch*.log)"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# ------------------------------------------------------------------ emulator (127.0.0.1 only)

# Per-service endpoints would override AWS_ENDPOINT_URL; profiles and config files could point anywhere.
for var in $(compgen -e | grep '^AWS_ENDPOINT_URL_' || true); do unset "$var"; done
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
case "${AWS_ENDPOINT_URL:-}" in
  "")
    eval "$(scripts/start-moto.sh)"
    own_moto_pid=$MOTO_PID
    ;;
  http://127.0.0.1:* | http://localhost:*) ;;
  *)
    echo "e2e: AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL is not a local emulator; refusing to run" >&2
    exit 2
    ;;
esac
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
echo "e2e: moto at $AWS_ENDPOINT_URL$([ -n "$own_moto_pid" ] && echo " (started here, pid $own_moto_pid)")"

# ------------------------------------------------------------------ webhook receiver (127.0.0.1 only)

# stream-forwarder's subscriptions point at it; it verifies each request with the Standard Webhooks reference
# library against a secret made for this run (the forwarder reads it from its environment: `env:` secret_arn).
webhook_secret=$("$python" -c 'import base64, os; print("whsec_" + base64.b64encode(os.urandom(24)).decode())')
"$python" scripts/webhook_receiver.py --host 127.0.0.1 --port 0 --secret "$webhook_secret" --print-port \
  --state-out "$work/receiver-state.json" </dev/null >"$work/receiver.log" 2>&1 &
receiver_pid=$!
receiver_url=""
for _ in $(seq 150); do
  receiver_url=$(sed -n 's|^Receiver: \(http://127\.0\.0\.1:[0-9][0-9]*/\)$|\1|p' "$work/receiver.log")
  if [ -n "$receiver_url" ] || ! kill -0 "$receiver_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$receiver_url" ]; then
  echo "e2e: the webhook receiver did not start; its log:" >&2
  tail -n 20 "$work/receiver.log" >&2
  exit 1
fi
echo "e2e: webhook receiver at $receiver_url (pid $receiver_pid)"

# ------------------------------------------------------------------ resources and environment from template.yaml

echo "e2e: creating the template's resources in moto"
# The envelopes' events are from 2026-11-02: judged against the wall clock, every status alert would be late.
setup_args=(setup --work "$work" --run-id "$$-$RANDOM" --webhook-receiver "$receiver_url" --parameter "AlertLateness=event-time")
if [ -n "${E2E_ARCHIVE_FORMAT:-}" ]; then
  setup_args+=(--parameter "ArchiveFormat=$E2E_ARCHIVE_FORMAT")
fi
E2E_WEBHOOK_SECRET=$webhook_secret check "${setup_args[@]}"

# ------------------------------------------------------------------ cargo lambda watch

watch_log=""
port=""

# start_watch PORT LOG: 0 once it answers. Its own process group (setsid), so that cleanup stops it with the
# `cargo run` and function processes it spawns. --ignore-changes: others edit the workspace meanwhile; a reload
# mid-test would test a moving target.
start_watch() {
  setsid cargo lambda watch -A 127.0.0.1 -P "$1" --ignore-changes --env-file "$work/functions.env" \
    </dev/null >"$2" 2>&1 &
  watch_pid=$!
  "$python" - "$watch_pid" "$1" <<'PY'
import os, sys, time, urllib.error, urllib.request
pid, port = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # any HTTP answer (404 on /) means it is listening
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
}

# launch_watch NAME: a new `cargo lambda watch` (fresh function processes) logging to $work/NAME.log.
launch_watch() {
  local candidate log="$work/$1.log"
  port=""
  for _ in 1 2 3; do
    candidate=$(free_port)
    if start_watch "$candidate" "$log"; then
      port=$candidate
      break
    fi
    stop_group "$watch_pid"
    wait "$watch_pid" 2>/dev/null || true
    watch_pid=""
  done
  if [ -z "$port" ]; then
    echo "e2e: cargo lambda watch did not start; its log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  if [ "$(ps -o pgid= -p "$watch_pid" | tr -d ' ')" != "$watch_pid" ]; then
    echo "e2e: cargo lambda watch (pid $watch_pid) does not lead its process group; cleanup could miss children" >&2
  fi
  watch_log=$log
  echo "e2e: cargo lambda watch on 127.0.0.1:$port (pid $watch_pid, log $log)"
}

stop_watch() {
  stop_group "$watch_pid"
  wait "$watch_pid" 2>/dev/null || true
  watch_pid=""
}

# ------------------------------------------------------------------ invocations

declare -A started_fn=() exited=()

# invoke FUNCTION ENVELOPE [--replay]: one `cargo lambda invoke`, its response checked by e2e_check.py. Gives up
# early if a function process exits (bad configuration, a crash, a compile error), which would otherwise leave
# the invoke waiting for a runtime that never polls; watch does not restart it, so later invokes of that function
# are recorded as failed without waiting.
invoke() {
  local fn=$1 envelope=$2 replay=${3:-}
  local label="$fn-${envelope%.json}${replay:+-replay}"
  local out="$work/$label.response.json" err="$work/$label.stderr"
  local exits_before t0 rc=0 note=""
  if [ -n "${exited[$fn]:-}" ]; then
    check response --function "$fn" --envelope "$envelope" --response "$out" --rc 1 \
      --note "not invoked: the $fn process exited earlier in this run" ${replay:+--replay}
    return 0
  fi
  if [ -z "${started_fn[$fn]:-}" ]; then
    echo "e2e: first invoke of $fn in this watch: cargo run starts it (and builds it in debug if needed)"
  fi
  exits_before=$(grep -c 'command exited' "$watch_log" || true)
  t0=$SECONDS
  cargo lambda invoke "$fn" --data-file "events/envelopes/$envelope" -A 127.0.0.1 -P "$port" --output-format json \
    >"$out" 2>"$err" &
  local pid=$!
  invoke_pid=$pid
  while kill -0 "$pid" 2>/dev/null; do
    if [ $((SECONDS - t0)) -ge "$invoke_timeout" ]; then
      note="no response within $invoke_timeout s"
      kill "$pid" 2>/dev/null || true
      break
    fi
    if [ "$(grep -c 'command exited' "$watch_log" || true)" -gt "$exits_before" ]; then
      note="the function process exited: $(grep -v '^\s*$' "$watch_log" | tail -n 4 | tr -s ' \n' ' ')"
      exited[$fn]=1
      kill "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  if wait "$pid"; then rc=0; else rc=$?; fi
  invoke_pid=""
  [ -n "$note" ] && [ "$rc" -eq 0 ] && rc=1
  started_fn[$fn]=1
  check response --function "$fn" --envelope "$envelope" --response "$out" --stderr "$err" --rc "$rc" \
    --seconds "$((SECONDS - t0))" --note "$note" ${replay:+--replay}
}

run_all() { # [--replay]
  invoke contact-archiver contact-archiver.json "$@"
  invoke contact-archiver mixed-bad.json "$@"
  invoke agent-state agent-state.json "$@"
  invoke agent-state agent-heartbeat-after-logout.json "$@"
  invoke supervisor-alerts supervisor-alerts-agent-events.json "$@"
  invoke supervisor-alerts supervisor-alerts-segments.json "$@"
  invoke supervisor-alerts supervisor-alerts-ctr.json "$@"
  invoke stream-forwarder agent-state.json "$@"
  invoke stream-forwarder contact-archiver.json "$@"
}

launch_watch watch
echo "e2e: invoking each function with its envelopes"
run_all
echo "e2e: checking S3, DynamoDB, the SQS subscription and the webhook receiver"
check verify --work "$work" --phase first

# A new watch: cold starts, so the replay finds the earlier work in S3 and DynamoDB, not in a warm process's memory.
stop_watch
started_fn=() exited=()
launch_watch watch-replay
echo "e2e: invoking everything again in new function processes (a Lambda retry / replay): nothing may change"
run_all --replay
check verify --work "$work" --phase replay
check logs --log "$work/watch.log" --log "$work/watch-replay.log"

summarised=true
check summary --seconds "$((SECONDS - started))"
