#!/usr/bin/env bash
# Builds the Lambda artefacts with `sam build` (BuildMethod rust-cargolambda: SAM runs
# `cargo lambda build --release --arm64 --bin <Binary>` in the workspace, which cross-compiles with zig), then
# checks that every function got an arm64 `bootstrap` in .aws-sam/build/<LogicalId>/ and prints its size.
#
#   scripts/sam-build.sh [extra `sam build` arguments, e.g. --no-cached]
#
# Options come from samconfig.toml ([default.build.parameters]: cached, parallel). Needs Rust through rustup;
# aws-sam-cli comes from .venv-sam, cargo-lambda and ziglang from .venv (scripts/setup-venv.sh installs both).
# No Docker. A cold release build of the workspace takes about 10 minutes on a 2-core machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
target=aarch64-unknown-linux-gnu

die() {
  echo "sam-build: $*" >&2
  exit 1
}

echo "--- python environments (.venv, .venv-checkov, .venv-sam)"
scripts/setup-venv.sh --sam

# cargo-lambda and zig come from .venv; cargo-lambda finds the pip-installed zig through `python3 -m ziglang`,
# so .venv's python3 must come first on PATH. sam itself is called by its full path.
export PATH="$root/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

echo "--- toolchain"
command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust with rustup (https://rustup.rs)"
command -v cargo-lambda >/dev/null 2>&1 || die "cargo-lambda not found in .venv/bin; run scripts/setup-venv.sh"
python3 -m ziglang version >/dev/null 2>&1 ||
  die "zig (pip package ziglang) not importable by $(command -v python3); run scripts/setup-venv.sh"
command -v rustup >/dev/null 2>&1 ||
  die "rustup not found: the $target standard library has to be installed with" \
    "'rustup target add $target', which needs rustup (https://rustup.rs)"
if ! rustup target add "$target"; then
  die "'rustup target add $target' failed (offline, or a toolchain not managed by rustup?);" \
    "the arm64 build cannot work without the $target standard library"
fi
echo "cargo $(cargo --version | cut -d' ' -f2), $(cargo lambda --version), zig $(python3 -m ziglang version)," \
  "target $target installed"

# The functions SAM builds with cargo-lambda, as template.yaml declares them.
mapfile -t functions < <(.venv-sam/bin/python - <<'EOF'
from cfnlint.decode import cfn_yaml

resources = cfn_yaml.load("template.yaml").get("Resources", {})
for logical_id, resource in resources.items():
    if resource.get("Type") == "AWS::Serverless::Function" and \
            (resource.get("Metadata") or {}).get("BuildMethod") == "rust-cargolambda":
        print(logical_id)
EOF
)
[ ${#functions[@]} -gt 0 ] || die "template.yaml declares no function with BuildMethod rust-cargolambda"

# SAM passes no -p, so cargo resolves features over the workspace's default-members (the functions): if a tool
# were selected too, its `testing` feature of shared (memory, filesystem and fault adapters, the simulator) would be
# compiled into every bootstrap.
echo "--- features of shared in a \`--bin <function>\` build"
features=$(cargo tree -e normal,build,features --target all -i shared)
if grep -q 'feature "testing"' <<<"$features"; then
  die "shared's testing feature reaches the bootstraps (check [workspace] default-members and the functions' [dependencies])"
fi
echo "no testing feature"

echo "--- sam build (${functions[*]})"
.venv-sam/bin/sam build "$@"

# An ELF file for AArch64: magic 7f 45 4c 46, EI_CLASS 2 (64-bit), EI_DATA 1 (little-endian), and e_machine
# (bytes 18-19, little-endian) 0x00b7 = EM_AARCH64. `file` is not installed everywhere; od is.
is_arm64_elf() {
  local header
  header=$(od -An -tx1 -N20 -v "$1" | tr -d ' \n')
  [ "${#header}" -eq 40 ] &&
    [ "${header:0:8}" = 7f454c46 ] &&
    [ "${header:8:2}" = 02 ] &&
    [ "${header:10:2}" = 01 ] &&
    [ "${header:36:4}" = b700 ]
}

echo "--- artefacts"
bad=()
for function in "${functions[@]}"; do
  bootstrap=.aws-sam/build/$function/bootstrap
  if [ ! -f "$bootstrap" ]; then
    echo "$bootstrap: MISSING"
    bad+=("$function")
  elif ! is_arm64_elf "$bootstrap"; then
    echo "$bootstrap: NOT an arm64 (aarch64) ELF executable (header $(od -An -tx1 -N20 -v "$bootstrap" | tr -s ' '))"
    bad+=("$function")
  elif [ ! -x "$bootstrap" ]; then
    echo "$bootstrap: not executable"
    bad+=("$function")
  else
    bytes=$(wc -c <"$bootstrap" | tr -d ' ')
    printf '%s: arm64 ELF, %s bytes (%s MiB)\n' "$bootstrap" "$bytes" \
      "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
  fi
done

if [ ${#bad[@]} -gt 0 ]; then
  die "FAILED: ${bad[*]}"
fi
echo "sam-build: ${#functions[@]} arm64 bootstrap(s) in .aws-sam/build"
