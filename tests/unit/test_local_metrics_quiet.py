"""Locally metrics are disabled; a handler adding 100+ values of one metric in one call must not print EMF
documents (Powertools' early flush at 100 values ignores POWERTOOLS_METRICS_DISABLED)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from aws_lambda_powertools.metrics import Metrics, MetricUnit

from enishi_local import runtime


def _add_150(monkeypatch, disabled: str) -> str:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", disabled)
    metrics = Metrics(namespace="test", service="t")
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            for _ in range(150):
                metrics.add_metric(name="StepSent", unit=MetricUnit.Count, value=1)
    finally:
        metrics.clear_metrics()
    return out.getvalue()


def test_a_hundred_values_print_nothing_when_metrics_are_disabled(monkeypatch):
    runtime.quiet_disabled_metrics()
    assert _add_150(monkeypatch, "true") == ""


def test_they_still_print_when_metrics_are_on(monkeypatch):
    runtime.quiet_disabled_metrics()
    assert '"StepSent"' in _add_150(monkeypatch, "false")
