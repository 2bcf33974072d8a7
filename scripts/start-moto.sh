#!/usr/bin/env bash
# Starts moto_server (from .venv) on 127.0.0.1 and a free port, waits until it answers, and prints the
# environment a test run needs, for the caller to eval:
#   eval "$(scripts/start-moto.sh)"; trap 'kill "$MOTO_PID"' EXIT
# The server's log goes to $MOTO_LOG. Everything else this script says goes to stderr.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
python="$root/.venv/bin/python"
moto="$root/.venv/bin/moto_server"
if [ ! -x "$moto" ]; then
  echo "start-moto: $moto not found; run scripts/setup-venv.sh first" >&2
  exit 1
fi

free_port() {
  "$python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# wait_ready PID PORT: 0 once the server answers, 1 if it died or stayed silent for 30 s.
wait_ready() {
  "$python" - "$1" "$2" <<'PY'
import os, sys, time, urllib.request
pid, port = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).read()
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
}

log=$(mktemp "${TMPDIR:-/tmp}/moto.XXXXXX.log")
# Another process may take the free port between probe and bind: try a few ports.
for _ in 1 2 3; do
  port=$(free_port)
  # Detached from the caller's stdout, so that "$(scripts/start-moto.sh)" returns while the server runs.
  "$moto" -H 127.0.0.1 -p "$port" </dev/null >"$log" 2>&1 &
  pid=$!
  if wait_ready "$pid" "$port"; then
    echo "start-moto: moto_server pid $pid on http://127.0.0.1:$port (log $log)" >&2
    cat <<ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export MOTO_PORT=$port
export MOTO_PID=$pid
export MOTO_LOG=$log
ENV
    exit 0
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
echo "start-moto: moto_server did not start; its log ($log):" >&2
tail -n 20 "$log" >&2
exit 1
