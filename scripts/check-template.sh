#!/usr/bin/env bash
# Lints template.yaml: cfn-lint, checkov, and the least-privilege policy check. Exits non-zero on any finding.
# Needs the environments of scripts/setup-venv.sh. Runs offline.
# The policy check also checks the SAM-expanded template (SAM's implicit roles show up only there) when
# .venv-sam exists (scripts/setup-venv.sh --sam); otherwise it says SKIPPED. REQUIRE_SAM_EXPANSION=1 turns that
# skip into a failure.
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

echo "--- policy check $template (as written and SAM-expanded)"
policy_args=()
if [ "${REQUIRE_SAM_EXPANSION:-0}" = 1 ]; then
  policy_args+=(--require-expanded)
fi
.venv/bin/python scripts/template_policy_check.py ${policy_args[@]+"${policy_args[@]}"} "$template" || failed+=(policy-check)

if [ ${#failed[@]} -gt 0 ]; then
  echo "check-template: FAILED: ${failed[*]}"
  exit 1
fi
echo "check-template: cfn-lint, checkov and policy check passed"
