"""A small evaluator of template.yaml under chosen parameter values: conditions, the active resources, and the
intrinsic functions that decide which stream a mapping or consumer reads.

It is the part of CloudFormation the topology and board tests need, no more: Fn::Equals / And / Or / Not /
Condition in conditions; Ref (a CommaDelimitedList parameter as its list), Fn::If, Fn::GetAtt, Fn::Sub, Fn::Join,
Fn::Split, Fn::Select and AWS::NoValue in values. A GetAtt of a resource that is not created under the parameters
raises, as CloudFormation would refuse it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
NO_VALUE = object()
PSEUDO = {
    "AWS::StackName": "stack",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/stack/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
}


def kinds_read(function: str, params: dict[str, str], segments: bool = True) -> set[str]:
    """The record kinds a function must read (`contact-records`, `agent-events`, `segments`), from its job and the
    archive switches: the tests' expectation of what the template should map, written once for the topology
    evaluation and the emulator deployment."""
    if function == "agent-state":
        return {"agent-events"}
    if function == "supervisor-alerts":
        return {"contact-records", "agent-events"} | ({"segments"} if segments else set())
    if function == "stream-forwarder":
        forward_segments = params.get("ForwardSegments") == "true" and segments
        return {"contact-records", "agent-events"} | ({"segments"} if forward_segments else set())
    kinds = {"contact-records"}
    if params.get("ArchiveAgentEvents") == "true":
        kinds.add("agent-events")
    if params.get("ArchiveSegments") == "true" and segments:
        kinds.add("segments")
    return kinds


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as cfn-lint decodes it (short-form intrinsics become long forms), as plain JSON types."""
    from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]

    return json.loads(json.dumps(cfn_yaml.load(str(path))))


class Stack:
    """The template as deployed with `parameters` (defaults for the rest)."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]):
        self.template = template
        specs = template.get("Parameters", {})
        unknown = set(parameters) - set(specs)
        if unknown:
            raise KeyError(f"unknown parameters {sorted(unknown)}")
        self.params = {name: str(parameters.get(name, spec.get("Default", ""))) for name, spec in specs.items()}
        for name, value in self.params.items():
            allowed = specs[name].get("AllowedValues")
            if allowed is not None and value not in [str(a) for a in allowed]:
                raise ValueError(f"{name}={value!r} is not one of {allowed}")
            pattern = specs[name].get("AllowedPattern")
            # CloudFormation matches a CommaDelimitedList's pattern against each of its values.
            values = value.split(",") if specs[name].get("Type") == "CommaDelimitedList" else [value]
            if pattern is not None and not all(re.fullmatch(pattern, v) for v in values):
                raise ValueError(f"{name}={value!r} does not match {pattern}")
        self._conditions: dict[str, bool] = {}

    # ------------------------------------------------------------------ conditions

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self._test(self.template["Conditions"][name])
        return self._conditions[name]

    def _test(self, expr: Any) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            ((fn, arg),) = expr.items()
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if fn == "Fn::And":
                return all(self._test(a) for a in arg)
            if fn == "Fn::Or":
                return any(self._test(a) for a in arg)
            if fn == "Fn::Not":
                return not self._test(arg[0])
        raise ValueError(f"unsupported condition {expr!r}")

    def rules_hold(self) -> list[str]:
        """The descriptions of the template's Rules assertions that fail under these parameters."""
        failed = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self._test(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self._test(assertion["Assert"]):
                    failed.append(assertion.get("AssertDescription", "?"))
        return failed

    # ------------------------------------------------------------------ resources and values

    def active(self, logical_id: str) -> bool:
        resource = self.template["Resources"][logical_id]
        return "Condition" not in resource or self.condition(resource["Condition"])

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        """Active resources of one type."""
        return {
            lid: r for lid, r in self.template["Resources"].items() if r.get("Type") == type_ and self.active(lid)
        }

    def value(self, expr: Any) -> Any:
        if isinstance(expr, list):
            return [v for v in (self.value(e) for e in expr) if v is not NO_VALUE]
        if not isinstance(expr, dict):
            return expr
        if len(expr) == 1:
            ((fn, arg),) = expr.items()
            if fn == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                if arg in PSEUDO:
                    return PSEUDO[arg]
                if arg in self.params:
                    if self.template["Parameters"][arg].get("Type") == "CommaDelimitedList":
                        return self.params[arg].split(",")
                    return self.params[arg]
                self._require(arg)
                return f"ref:{arg}"
            if fn == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                self._require(logical_id)
                return f"{attribute.lower()}:{logical_id}"
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                values = {name: self.value(v) for name, v in variables.items()}
                rendered = re.sub(
                    r"\$\{([^}!][^}]*)\}",
                    lambda m: str(values[m.group(1)] if m.group(1) in values else self._sub(m.group(1))),
                    text,
                )
                return rendered.replace("${!", "${")  # ${!Literal} renders as ${Literal}
            if fn == "Fn::Join":
                delimiter, parts = arg
                return delimiter.join(str(p) for p in self._list(parts))
            if fn == "Fn::Split":
                delimiter, text = arg
                return str(self.value(text)).split(delimiter)
            if fn == "Fn::Select":
                index, parts = arg
                return self._list(parts)[int(self.value(index))]
        return {k: self.value(v) for k, v in expr.items() if self.value(v) is not NO_VALUE}

    def _list(self, expr: Any) -> list[Any]:
        value = self.value(expr)
        if not isinstance(value, list):
            raise ValueError(f"not a list: {expr!r} is {value!r}")
        return value

    def _sub(self, name: str) -> Any:
        if "." in name:
            return self.value({"Fn::GetAtt": name})
        return self.value({"Ref": name})

    def _require(self, logical_id: str) -> None:
        if logical_id not in self.template["Resources"]:
            raise KeyError(f"no resource or parameter {logical_id}")
        if not self.active(logical_id):
            raise LookupError(f"{logical_id} is referenced but not created under {self.params}")

    # ------------------------------------------------------------------ streams

    def stream_of(self, expr: Any) -> str:
        """The stream an ARN expression names: a passed-in ARN, or `arn:<logical id>` of a created stream; a
        consumer ARN is followed to its stream."""
        arn = self.value(expr)
        if isinstance(arn, str) and arn.startswith("consumerarn:"):
            consumer = self.template["Resources"][arn.split(":", 1)[1]]
            return self.stream_of(consumer["Properties"]["StreamARN"])
        return arn

    def consumer_of(self, expr: Any) -> str | None:
        arn = self.value(expr)
        if isinstance(arn, str) and arn.startswith("consumerarn:"):
            return arn.split(":", 1)[1]
        return None
