#!/usr/bin/env python3
"""Least-privilege check of the identity policies in a CloudFormation / SAM template.

Fails (exit 1) when an Allow statement in
  - the Policies of an AWS::Serverless::Function,
  - the inline Policies of an AWS::IAM::Role,
  - an AWS::IAM::Policy, AWS::IAM::ManagedPolicy or AWS::IAM::RolePolicy
grants a wildcard action ("*", "service:*", "s3:Get*", ...), uses NotAction / NotResource, or applies to
Resource "*" (or an ARN that is nothing but wildcards), unless every action of the statement is in
ALLOWED_UNSCOPED_ACTIONS. SAM policy templates and *FullAccess / admin managed policies fail too: their
statements are not in the template, so they cannot be checked.

Resource policies (bucket, key and topic policies) are out of scope: they name principals, and their Deny
statements legitimately use "s3:*".

The same checks then run on the template as the SAM transform expands it, which is where SAM's implicit
function roles appear: a function without a Role gets a generated role with AWSLambdaBasicExecutionRole (plus
AWSLambdaKinesisExecutionRole etc. for stream events), AWS managed policies that grant on Resource "*". The
expansion uses the samtranslator package that ships with aws-sam-cli (.venv-sam, from
`scripts/setup-venv.sh --sam`; override with SAM_PYTHON=/path/to/python), offline, with a dummy region and
account. Without it that part is skipped and says so; --require-expanded makes the skip a failure.

Usage: template_policy_check.py [--require-expanded] TEMPLATE [TEMPLATE ...]
       template_policy_check.py --expand TEMPLATE   (prints the SAM-expanded template as JSON)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

# Actions that AWS does not let a policy scope to a resource (the Service Authorization Reference lists no
# resource type for them), so Resource "*" is the only way to grant them.
ALLOWED_UNSCOPED_ACTIONS: dict[str, str] = {
    # Lists the account's streams; the Lambda Kinesis poller may call it. The Service Authorization Reference
    # gives it no resource type (unlike kinesis:ListShards, which takes the stream ARN).
    "kinesis:ListStreams": "no resource-level permissions",
    # Scope with the cloudwatch:namespace condition key instead.
    "cloudwatch:PutMetricData": "no resource-level permissions",
    # X-Ray tracing from a function: neither action has a resource type.
    "xray:PutTraceSegments": "no resource-level permissions",
    "xray:PutTelemetryRecords": "no resource-level permissions",
}

# AWS managed policies that grant far more than any of these functions needs.
BROAD_MANAGED_POLICY_MARKERS = ("FullAccess", "AdministratorAccess", "PowerUserAccess")
# The managed policies SAM attaches to the roles it generates for functions (AWSLambdaBasicExecutionRole,
# AWSLambdaKinesisExecutionRole, AWSLambdaDynamoDBExecutionRole, AWSLambdaSQSQueueExecutionRole, ...): all grant
# their actions on Resource "*" (logs of every group, every stream of the account).
WILDCARD_EXECUTION_ROLE_POLICY = re.compile(r"(^|/)AWSLambda[A-Za-z]*ExecutionRole$")

ROOT = Path(__file__).resolve().parent.parent
# Placeholders for the offline SAM expansion; only the shape of the output matters here.
DUMMY_REGION = "us-east-1"
DUMMY_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Violation:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def load_template(path: str) -> dict[str, Any]:
    """Loads YAML or JSON with the short-form intrinsic tags (!Ref, !Sub, !GetAtt, ...) as their long forms."""
    try:
        from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]
    except ImportError:
        return _load_with_pyyaml(path)
    if path.endswith(".json"):
        from cfnlint.decode import cfn_json  # type: ignore[import-untyped]

        return cfn_json.load(path)
    return cfn_yaml.load(path)


def _load_with_pyyaml(path: str) -> dict[str, Any]:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "Condition":
            return {"Condition": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", intrinsic)
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=Loader)  # noqa: S506 - SafeLoader subclass


def alternatives(value: Any) -> Iterator[Any]:
    """Every concrete value an expression can take: both branches of Fn::If, AWS::NoValue dropped."""
    if isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
        branches = value["Fn::If"]
        if isinstance(branches, list) and len(branches) == 3:
            for branch in branches[1:]:
                yield from alternatives(branch)
            return
    if isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}:
        return
    yield value


def items(value: Any) -> Iterator[Any]:
    """The elements of a string-or-list policy field, through Fn::If at either level."""
    for alternative in alternatives(value):
        if isinstance(alternative, list):
            for element in alternative:
                yield from alternatives(element)
        else:
            yield alternative


def literal(value: Any) -> str | None:
    """The text of a string, or of the template of an Fn::Sub; None for other intrinsics."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict) and len(value) == 1 and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        if isinstance(sub, list) and sub:
            sub = sub[0]
        if isinstance(sub, str):
            return str(sub)
    return None


def is_wildcard_action(action: str) -> bool:
    return "*" in action or "?" in action


def is_wildcard_resource(resource: str) -> bool:
    if resource.strip() == "*":
        return True
    # ${AWS::Partition} and friends contain colons; any substitution stands for a fixed value here.
    parts = re.sub(r"\$\{[^}]*\}", "x", resource).split(":", 5)
    if len(parts) == 6 and parts[0] == "arn":
        # arn:partition:service:region:account:resource, with region, account and resource all wildcards.
        return all(part in ("", "*") for part in parts[3:5]) and parts[5] in ("*", "*/*")
    return False


def check_statement(statement: Any, where: str) -> list[Violation]:
    if not isinstance(statement, dict):
        return [Violation(where, "statement is not an object; cannot verify it")]
    if statement.get("Effect") == "Deny":
        return []
    violations: list[Violation] = []
    if "NotAction" in statement:
        violations.append(Violation(where, "Allow with NotAction grants every other action"))
    if "NotResource" in statement:
        violations.append(Violation(where, "Allow with NotResource grants every other resource"))

    actions: list[str] = []
    for action in items(statement.get("Action", [])):
        text = literal(action)
        if text is None:
            violations.append(Violation(where, f"action {action!r} is an intrinsic function; cannot verify it"))
            continue
        actions.append(text)
        if is_wildcard_action(text):
            violations.append(Violation(where, f"wildcard action {text!r}"))

    unscoped = [text for text in (literal(r) for r in items(statement.get("Resource", []))) if text is not None]
    if any(is_wildcard_resource(text) for text in unscoped):
        scoped_actions = [a for a in actions if a not in ALLOWED_UNSCOPED_ACTIONS]
        if scoped_actions or not actions:
            shown = ", ".join(scoped_actions) or "(no actions)"
            violations.append(Violation(where, f'Resource "*" for {shown}'))
    return violations


def check_document(document: Any, where: str) -> list[Violation]:
    violations: list[Violation] = []
    for document_alternative in alternatives(document):
        if not isinstance(document_alternative, dict):
            violations.append(Violation(where, "policy document is not an object; cannot verify it"))
            continue
        for index, statement in enumerate(items(document_alternative.get("Statement", []))):
            sid = statement.get("Sid") if isinstance(statement, dict) else None
            label = f"{where} Statement[{index}]" + (f" ({sid})" if sid else "")
            violations.extend(check_statement(statement, label))
    return violations


def check_managed_policy_name(name: Any, where: str) -> list[Violation]:
    text = literal(name)
    if text is not None and any(marker in text for marker in BROAD_MANAGED_POLICY_MARKERS):
        return [Violation(where, f"broad managed policy {text!r}")]
    if text is not None and WILDCARD_EXECUTION_ROLE_POLICY.search(text):
        return [Violation(where, f'managed policy {text!r} grants on Resource "*"; give the function a Role')]
    return []


def check_serverless_policies(policies: Any, where: str) -> list[Violation]:
    violations: list[Violation] = []
    for index, policy in enumerate(items(policies)):
        label = f"{where}[{index}]"
        if isinstance(policy, dict) and "Statement" in policy:
            violations.extend(check_document(policy, label))
        elif isinstance(policy, dict) and len(policy) == 1 and not next(iter(policy)).startswith("Fn::"):
            template_name = next(iter(policy))
            violations.append(
                Violation(label, f"SAM policy template {template_name}: write explicit statements instead")
            )
        else:
            violations.extend(check_managed_policy_name(policy, label))
    return violations


def check_template(path: str) -> tuple[list[Violation], int]:
    """Returns the violations and the number of policy documents inspected."""
    return check_resources(load_template(path), path)


def check_resources(template: Any, label: str) -> tuple[list[Violation], int]:
    """Checks the identity policies of a loaded template; label prefixes every violation."""
    violations: list[Violation] = []
    documents = 0
    resources = template.get("Resources", {}) if isinstance(template, dict) else {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        where = f"{label}: {logical_id}"
        if kind == "AWS::Serverless::Function":
            policies = properties.get("Policies")
            if policies is not None:
                documents += 1
                violations.extend(check_serverless_policies(policies, f"{where} Policies"))
        elif kind == "AWS::IAM::Role":
            for index, policy in enumerate(items(properties.get("Policies", []))):
                documents += 1
                document = policy.get("PolicyDocument") if isinstance(policy, dict) else policy
                violations.extend(check_document(document, f"{where} Policies[{index}]"))
            for index, arn in enumerate(items(properties.get("ManagedPolicyArns", []))):
                violations.extend(check_managed_policy_name(arn, f"{where} ManagedPolicyArns[{index}]"))
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            documents += 1
            violations.extend(check_document(properties.get("PolicyDocument"), f"{where} PolicyDocument"))
    return violations, documents


# ------------------------------------------------------------------------------------------ SAM expansion


class ExpansionUnavailable(Exception):
    """No Python with samtranslator (aws-sam-cli) was found; the expanded check cannot run."""


def sam_python() -> str | None:
    """A Python interpreter that can import samtranslator: SAM_PYTHON, this one, or .venv-sam's."""
    configured = os.environ.get("SAM_PYTHON")
    if configured:
        return configured
    try:
        import samtranslator  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        pass
    else:
        return sys.executable
    candidate = ROOT / ".venv-sam" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


def _offline_environment() -> dict[str, str]:
    """The environment of the expansion: a dummy region, no profile, no credentials, no metadata service."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") or key in ("AWS_CA_BUNDLE",)
    }
    environment.update(
        AWS_DEFAULT_REGION=DUMMY_REGION,
        AWS_REGION=DUMMY_REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        SAM_CLI_TELEMETRY="0",
    )
    return environment


def expand_in_process(path: str) -> dict[str, Any]:
    """Runs the SAM transform on TEMPLATE; call only in the offline environment (see expand_sam)."""
    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

    class NoManagedPolicyLookup:
        """samtranslator resolves managed policy names from its bundled map first; this fallback would call
        IAM, so it knows nothing and unknown names stay as written (and are checked as names)."""

        def load(self) -> dict[str, str]:
            return {}

    # Through JSON: the transform wants plain dicts and strings, not cfn-lint's node types.
    template = json.loads(json.dumps(load_template(path)))
    # `sam build` / `sam package` replace local code paths with S3 locations; the transform accepts only those.
    local_paths = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") not in local_paths:
            continue
        properties = resource.setdefault("Properties", {})
        if isinstance(properties, dict) and "InlineCode" not in properties:
            properties[local_paths[resource["Type"]]] = "s3://placeholder-bucket/placeholder.zip"
    parameters = {"AWS::Region": DUMMY_REGION, "AWS::AccountId": DUMMY_ACCOUNT, "AWS::Partition": "aws"}
    return transform(template, parameters, NoManagedPolicyLookup())


def expand_sam(path: str) -> dict[str, Any]:
    """The SAM-expanded template, computed offline in a child process of a Python that has samtranslator."""
    python = sam_python()
    if python is None:
        raise ExpansionUnavailable(
            "no Python with samtranslator: run scripts/setup-venv.sh --sam (or set SAM_PYTHON)"
        )
    try:
        completed = subprocess.run(
            [python, str(Path(__file__).resolve()), "--expand", path],
            capture_output=True,
            text=True,
            env=_offline_environment(),
            timeout=300,
            check=False,
        )
    except OSError as error:
        raise RuntimeError(f"cannot run {python}: {error}") from error
    if completed.returncode != 0:
        detail = (completed.stderr.strip() or completed.stdout.strip()).splitlines()
        raise RuntimeError(f"SAM transform of {path} failed: {detail[-1] if detail else completed.returncode}")
    return json.loads(completed.stdout)


def check_expanded(path: str) -> tuple[list[Violation], int]:
    """Checks the SAM-expanded template. Raises ExpansionUnavailable without aws-sam-cli."""
    return check_resources(expand_sam(path), f"{path} (SAM-expanded)")


# ------------------------------------------------------------------------------------------ command line


def report(label: str, violations: list[Violation], documents: int) -> bool:
    for violation in violations:
        print(violation)
    if violations:
        print(f"{label}: {len(violations)} policy violation(s)")
        return False
    print(f"{label}: {documents} policy document(s), no wildcard actions or unscoped resources")
    return True


def main(argv: list[str]) -> int:
    usage = __doc__.strip().splitlines()[-2].replace("Usage: ", "usage: ")
    if argv[:1] == ["--expand"]:
        if len(argv) != 2:
            print(usage, file=sys.stderr)
            return 2
        try:
            expanded = expand_in_process(argv[1])
        except ImportError as error:
            print(f"--expand needs samtranslator (aws-sam-cli): {error}", file=sys.stderr)
            return 2
        json.dump(expanded, sys.stdout)
        return 0
    require_expanded = "--require-expanded" in argv
    paths = [arg for arg in argv if arg != "--require-expanded"]
    if not paths or any(path.startswith("--") for path in paths):
        print(usage, file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        violations, documents = check_template(path)
        failed |= not report(path, violations, documents)
        try:
            violations, documents = check_expanded(path)
        except ExpansionUnavailable as unavailable:
            print(f"{path} (SAM-expanded): SKIPPED: {unavailable}")
            failed |= require_expanded
            continue
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
            print(f"{path} (SAM-expanded): FAILED: {error}")
            failed = True
            continue
        failed |= not report(f"{path} (SAM-expanded)", violations, documents)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
