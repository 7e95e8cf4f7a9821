"""cdk-nag (AwsSolutions) runs on every synth and fails it on any unacknowledged finding."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_stack_synthesizes_with_no_unacknowledged_findings(template_path):
    # Given the stack, When it was synthesized (the fixture raises on a finding), Then no report lists a violation
    report = template_path.parent / "validation-report.json"
    if report.exists():
        violations = [v for p in json.loads(report.read_text())["pluginReports"] for v in p["violations"]]
        assert violations == []


def test_nag_fails_synth_on_an_unacknowledged_finding(tmp_path):
    # Given an app with the same nag wiring and a queue with no DLQ, no TLS enforcement
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs

    from infra.nag import add_nag

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    sqs.Queue(stack, "Bare", enforce_ssl=False)
    add_nag(app)
    # When it synthesizes, Then synth fails and the report names the findings
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= rules


def test_an_acknowledgement_needs_a_reason():
    import aws_cdk as cdk

    from infra.nag import acknowledge

    stack = cdk.Stack(cdk.App(), "Probe")
    with pytest.raises(ValueError, match="real reason"):
        acknowledge(stack, "AwsSolutions-SQS3", "ok")
