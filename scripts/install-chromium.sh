#!/usr/bin/env bash
# Installs Debian's chromium for the agent board's browser tests (scripts/test_board_browser.py) and the page
# benchmark (scripts/bench_board_page.py). Playwright drives it through executable_path=/usr/bin/chromium; its own
# browser downloads are never used. Idempotent: nothing happens when /usr/bin/chromium is already there.
set -euo pipefail

chromium=/usr/bin/chromium
if [ -x "$chromium" ]; then
  echo "install-chromium: $("$chromium" --version 2>/dev/null || echo "$chromium") is installed"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "install-chromium: $chromium is missing and installing it needs root: sudo apt-get install chromium" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: $chromium is missing and apt-get is not available; install Debian's chromium package" >&2
  exit 1
fi

echo "install-chromium: installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
if [ ! -x "$chromium" ]; then
  echo "install-chromium: apt-get finished but $chromium is still missing" >&2
  exit 1
fi
echo "install-chromium: $("$chromium" --version 2>/dev/null) installed"
