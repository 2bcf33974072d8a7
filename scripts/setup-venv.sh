#!/usr/bin/env bash
# Creates the project's Python virtual environments from the pinned requirements in scripts/:
#   .venv/          scripts/requirements.txt          (moto, cfn-lint, cargo-lambda, ziglang, pyarrow, duckdb, pytest,
#                                                      playwright, pyjwt)
#   .venv-checkov/  scripts/requirements-checkov.txt  (checkov; its boto3 pin conflicts with aws-sam-cli)
#   .venv-sam/      scripts/requirements-sam.txt      (aws-sam-cli; only with --sam)
#   .venv-ministack/ scripts/requirements-ministack.txt (ministack + aws-sam-translator; only with --ministack)
# Idempotent: an environment is rebuilt only when its requirements file or the Python interpreter changed
# (a stamp file inside the environment holds the hash of both).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

with_sam=false
with_ministack=false
for arg in "$@"; do
  case "$arg" in
    --sam) with_sam=true ;;
    --ministack) with_ministack=true ;;
    -h | --help)
      echo "usage: scripts/setup-venv.sh [--sam] [--ministack]"
      exit 0
      ;;
    *)
      echo "setup-venv: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup-venv: $python not found; install Python 3.11 or newer (apt-get install python3 python3-venv)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup-venv: $("$python" --version 2>&1) is too old; Python 3.11 or newer is needed" >&2
  exit 1
fi

# Debian's python3 ships without ensurepip; python3-venv brings it (we run as root there, CI included).
ensure_venv_module() {
  if "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    local minor
    minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    echo "setup-venv: installing python${minor}-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "python${minor}-venv" || apt-get install -y -qq python3-venv
    return 0
  fi
  echo "setup-venv: the Python venv module (ensurepip) is missing; install python3-venv" >&2
  exit 1
}

# setup_env DIR REQUIREMENTS
setup_env() {
  local dir=$1 requirements=$2 stamp hash
  stamp="$dir/.requirements.sha256"
  hash=$({ cat "$requirements"; "$python" -c 'import sys; print(sys.executable, sys.version)'; } | sha256sum | cut -d' ' -f1)

  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && "$dir/bin/python" -c '' >/dev/null 2>&1; then
    echo "setup-venv: $dir is up to date"
    return 0
  fi

  echo "setup-venv: building $dir from $requirements"
  ensure_venv_module
  rm -rf "$dir"
  "$python" -m venv "$dir"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    "$dir/bin/python" -m pip install --quiet --requirement "$requirements"
  echo "$hash" >"$stamp"
  echo "setup-venv: $dir ready"
}

setup_env .venv scripts/requirements.txt
setup_env .venv-checkov scripts/requirements-checkov.txt
if [ "$with_sam" = true ]; then
  setup_env .venv-sam scripts/requirements-sam.txt
fi
if [ "$with_ministack" = true ]; then
  setup_env .venv-ministack scripts/requirements-ministack.txt
fi
