"""template.yaml's supervisor-alerts rules source: inline rules by default; with AlertRulesSource an S3 object or an
SSM parameter (AlertRulesBucket/AlertRulesKey or AlertRulesParameter, one of them), which the function's role may
read and nothing more, and an alarm on refused documents.

Evaluated with cfn_eval under the default parameters and each kind of source; the parameter's pattern refuses what
the function would refuse.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_eval import Stack, load_template  # noqa: E402

S3_OBJECT = {"AlertRulesBucket": "centre-config", "AlertRulesKey": "alerts/rules.json"}
S3_SOURCE = "s3://centre-config/alerts/rules.json"
SSM_PARAMETER = {"AlertRulesParameter": "/connect/centre/alert-rules"}
SSM_SOURCE = "ssm:/connect/centre/alert-rules"


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def env(stack: Stack) -> dict[str, str]:
    return stack.value(stack.template["Resources"]["SupervisorAlertsFunction"]["Properties"]["Environment"])[
        "Variables"
    ]


def statements(stack: Stack) -> dict[str, dict]:
    role = stack.value(stack.template["Resources"]["SupervisorAlertsRole"]["Properties"])
    (policy,) = role["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def rules_statements(stack: Stack) -> dict[str, dict]:
    return {sid: s for sid, s in statements(stack).items() if sid.startswith("ReadRules")}


def test_by_default_the_rules_are_inline_and_nothing_else_is_readable(template):
    stack = Stack(template, {})
    variables = env(stack)
    assert variables["ALERT_RULES"] == template["Parameters"]["AlertRules"]["Default"]
    assert "ALERT_RULES_SOURCE" not in variables
    assert rules_statements(stack) == {}
    assert not stack.active("SupervisorAlertsRulesRejectedAlarm")


def test_an_s3_source_reads_exactly_that_object(template):
    stack = Stack(template, {**S3_OBJECT, "AlertRulesRefreshSeconds": "30"})
    variables = env(stack)
    assert "ALERT_RULES" not in variables, "exactly one rules variable, as the function requires"
    assert variables["ALERT_RULES_SOURCE"] == S3_SOURCE
    assert str(variables["ALERT_RULES_REFRESH_SECONDS"]) == "30"
    assert rules_statements(stack) == {
        "ReadRulesObject": {
            "Sid": "ReadRulesObject",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::centre-config/alerts/rules.json",
        }
    }
    assert stack.active("SupervisorAlertsRulesRejectedAlarm")


def test_an_ssm_source_reads_exactly_that_parameter(template):
    stack = Stack(template, SSM_PARAMETER)
    assert env(stack)["ALERT_RULES_SOURCE"] == SSM_SOURCE
    assert "ALERT_RULES" not in env(stack)
    assert rules_statements(stack) == {
        "ReadRulesParameter": {
            "Sid": "ReadRulesParameter",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/connect/centre/alert-rules",
        }
    }
    alarm = stack.value(template["Resources"]["SupervisorAlertsRulesRejectedAlarm"]["Properties"])
    assert alarm["MetricName"] == "AlertRulesRejected"  # the name the function counts
    src = Path(__file__).resolve().parent.parent / "functions/supervisor-alerts/src"
    assert any('REJECTED_METRIC: &str = "AlertRulesRejected"' in f.read_text() for f in src.rglob("*.rs"))


@pytest.mark.parametrize(
    "bad",
    [{"AlertRulesBucket": "Bucket"}, {"AlertRulesBucket": "b"}, {"AlertRulesParameter": "relative-name"},
     {"AlertRulesParameter": "/a b"}, {"AlertRulesKey": " key"}],
)
def test_the_parameters_refuse_what_the_function_or_the_policy_cannot_use(template, bad):
    with pytest.raises(ValueError, match="AlertRules"):
        Stack(template, bad)


def test_one_source_at_a_time(template):
    assert Stack(template, {**S3_OBJECT, **SSM_PARAMETER}).rules_hold() == [
        "Alert rules come from one place; set AlertRulesBucket or AlertRulesParameter, not both."
    ]
    assert Stack(template, S3_OBJECT).rules_hold() == []
