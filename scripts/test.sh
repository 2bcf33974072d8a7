#!/usr/bin/env bash
# The one command that runs every check, on a fresh machine as in CI:
#   Python environments, a local moto server, rustfmt, clippy, all Rust tests (emulator-backed ones included),
#   the template checks, the Python tests, scripts/e2e.sh, and the template deployed into ministack
#   (scripts/deploy-emulator.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

current=setup
passed=0
started=$SECONDS

section() {
  current=$1
  printf '\n==== %s ====\n' "$1"
}

done_section() {
  passed=$((passed + 1))
  echo "---- $current: ok ($((SECONDS - started)) s elapsed)"
}

stop_moto() {
  if [ -n "${MOTO_PID:-}" ] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill "$MOTO_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$MOTO_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$MOTO_PID" 2>/dev/null || true
  fi
}

on_exit() {
  local status=$?
  stop_moto
  if [ "$status" -ne 0 ]; then
    printf '\ntest.sh: FAILED in "%s" (exit %s) after %s s; %s step(s) had passed\n' \
      "$current" "$status" "$((SECONDS - started))" "$passed"
  fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "python environments"
scripts/setup-venv.sh --sam --ministack
# Debian's chromium for the agent board's browser tests (scripts/test_board_browser.py).
scripts/install-chromium.sh
# The SAM-expanded template must be checked too (SAM adds managed policies of its own).
export REQUIRE_SAM_EXPANSION=1
done_section

section "moto server"
eval "$(scripts/start-moto.sh)"
echo "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
export CONNECT_TEST_PYTHON="$root/.venv/bin/python"
# cargo-lambda and zig for anything that builds Lambda artefacts (scripts/e2e.sh).
export PATH="$root/.venv/bin:$PATH"
done_section

for tool in fmt clippy; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    echo "test.sh: cargo $tool is missing; install it with: rustup component add ${tool/fmt/rustfmt}" >&2
    exit 1
  fi
done

section "cargo fmt"
cargo fmt --all --check
done_section

section "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
done_section

section "cargo test (emulator-backed tests included)"
cargo test --workspace --all-features -- --include-ignored
done_section

section "template checks"
scripts/check-template.sh
done_section

section "python tests"
.venv/bin/pytest -q -p no:cacheprovider scripts
done_section

if [ -x scripts/e2e.sh ]; then
  section "end to end"
  scripts/e2e.sh
  done_section
fi

section "template deployed in the emulator (ministack), three topologies"
scripts/deploy-emulator.sh
done_section

printf '\ntest.sh: all %s steps passed in %s s\n' "$passed" "$((SECONDS - started))"
