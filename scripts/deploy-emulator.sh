#!/usr/bin/env bash
# Deploys template.yaml for real into ministack — the SAM translator and a CloudFormation implementation, the
# project's own bootstraps run as processes, Kinesis polled for the event source mappings — in the three stream
# topologies (three streams; contact records + agent events on one stream, passed in; one stream for everything),
# puts a generated day into the stack's streams with `connect-replay produce`, and checks S3, DynamoDB and an SQS
# queue subscribed to the alert topic against the local replay of the same day (scripts/emulator_deploy.py).
#
#   scripts/deploy-emulator.sh            (scripts/test.sh runs it)
#
# ministack listens on 127.0.0.1 only (BIND_HOST) and keeps its state in memory and under a temporary directory,
# removed at the end. Knobs: DEPLOY_EMULATOR_RECORDS (records of the generated day, default 8000),
# DEPLOY_EMULATOR_KEEP=1 keeps the work directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
started=$SECONDS
records=${DEPLOY_EMULATOR_RECORDS:-8000}

if [ ! -x .venv-ministack/bin/ministack ] || [ ! -x .venv/bin/cfn-lint ]; then
  scripts/setup-venv.sh --ministack
fi
python="$root/.venv-ministack/bin/python"

work=$(mktemp -d "${TMPDIR:-/tmp}/deploy-emulator.XXXXXX")
server_pid=""
cleanup() {
  local status=$?
  trap - EXIT
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    # TERM first: ministack stops the bootstrap processes it started on the way out. It leads its own process
    # group (setsid), so whatever is left of it and its bootstraps is killed as a group.
    kill -TERM -- "-$server_pid" 2>/dev/null || kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 -- "-$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] || [ "${DEPLOY_EMULATOR_KEEP:-0}" = 1 ]; then
    echo "deploy-emulator: work directory kept: $work (ministack log: $work/ministack.log)" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "--- building the bootstraps (x86-64 debug: ministack runs them natively) and connect-replay"
# Two builds: the bootstraps with their own features (no `testing`, as SAM builds them), then the replay tool.
cargo build -q -p contact-archiver -p agent-state -p supervisor-alerts -p agent-board -p stream-forwarder --bins
cargo build -q -p connect-replay --bins
bin="$root/target/debug"

echo "--- the day and its oracle (the local replay of the same records)"
rules="$work/rules.json"
"$root/.venv/bin/python" - "$rules" <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, "scripts")
from cfn_eval import load_template
# The template's default rule (Break too long): what the stacks get as AlertRules, and the oracle too.
default = json.loads(load_template()["Parameters"]["AlertRules"]["Default"])
Path(sys.argv[1]).write_text(json.dumps(default))
PY
"$bin/connect-replay" generate --records "$records" --agents 12 --out "$work/day.jsonl"
"$bin/connect-replay" run "$work/day.jsonl" --out "$work/oracle" --rules "$rules" --quiet >/dev/null

echo "--- ministack on 127.0.0.1"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/tmp" "$work/state" "$work/s3"
(
  # Nothing may leave the machine: no per-service endpoint, profile or proxy that the bootstraps (which inherit
  # ministack's environment) or boto3 could use instead of the emulator.
  for var in $(env | sed -n 's/^\(AWS_ENDPOINT_URL_[A-Z0-9_]*\)=.*/\1/p'); do unset "$var"; done
  unset AWS_PROFILE AWS_SESSION_TOKEN HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
  export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost AWS_EC2_METADATA_DISABLED=true
  export BIND_HOST=127.0.0.1 GATEWAY_PORT="$port" MINISTACK_HOST=127.0.0.1
  # Every bootstrap inherits this, so the functions call the emulator and nothing else.
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export MINISTACK_REGION=us-east-1 PERSIST_STATE=0 S3_PERSIST=0 LOG_LEVEL=INFO
  export STATE_DIR="$work/state" S3_DATA_DIR="$work/s3" TMPDIR="$work/tmp"
  export IOT_MTLS_ENABLED=0 SFTP_ENABLED=0
  exec setsid "$root/.venv-ministack/bin/ministack" </dev/null >"$work/ministack.log" 2>&1
) &
server_pid=$!
ready=0
for _ in $(seq 150); do
  if NO_PROXY=127.0.0.1 "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/_ministack/health', timeout=1)" 2>/dev/null; then
    ready=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { echo "deploy-emulator: ministack exited" >&2; tail -20 "$work/ministack.log" >&2; exit 1; }
  sleep 0.2
done
if [ "$ready" != 1 ]; then
  echo "deploy-emulator: ministack did not answer on 127.0.0.1:$port within 30 s" >&2
  tail -20 "$work/ministack.log" >&2
  exit 1
fi

echo "--- deploying and checking each topology"
"$python" scripts/emulator_deploy.py --endpoint "http://127.0.0.1:$port" --day "$work/day.jsonl" \
  --oracle "$work/oracle" --rules "$rules" --replay "$bin/connect-replay" --bin-dir "$bin" \
  --figures "$work/figures.json"
echo "deploy-emulator: passed in $((SECONDS - started)) s"
