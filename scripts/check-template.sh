#!/usr/bin/env bash
# Lints template.yaml: cfn-lint, checkov, and the least-privilege policy check. Exits non-zero on any finding.
# Needs the environments of scripts/setup-venv.sh. Runs offline.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
template=${1:-template.yaml}
failed=()

echo "--- cfn-lint $template"
.venv/bin/cfn-lint "$template" || failed+=(cfn-lint)

echo "--- checkov $template"
# --skip-download and BC_SKIP_MAPPING keep checkov from calling its vendor's API (this must run offline).
BC_SKIP_MAPPING=TRUE .venv-checkov/bin/checkov -f "$template" --framework cloudformation --quiet --compact \
  --skip-download || failed+=(checkov)

echo "--- policy check $template"
.venv/bin/python scripts/template_policy_check.py "$template" || failed+=(policy-check)

if [ ${#failed[@]} -gt 0 ]; then
  echo "check-template: FAILED: ${failed[*]}"
  exit 1
fi
echo "check-template: cfn-lint, checkov and policy check passed"
