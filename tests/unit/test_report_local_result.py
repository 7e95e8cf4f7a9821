"""``enishi report --local --refresh`` (and the demo's report): the document the Analytics run just wrote is the one
the run already read back, not read from the bucket a second time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from enishi.analytics import build
from enishi_local.report import command

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


class _Stack:
    region = "ap-northeast-1"
    analytics_bucket_name = "enishi-analytics"
    analytics_state_machine_arn = "arn:aws:states:ap-northeast-1:123456789012:stateMachine:Analytics"

    def __init__(self, run: dict[str, Any]) -> None:
        self._run = run
        self.runs = 0

    def run_analytics(self) -> dict[str, Any]:
        self.runs += 1
        return self._run


def _document() -> dict[str, Any]:
    result = build.result(
        build.summarize([]), [], [], build.Settings(shop="s", as_of=AS_OF), generated_at=AS_OF, source="t"
    )
    return result.model_dump(mode="json")


def test_a_refresh_returns_the_document_its_run_read(monkeypatch):
    stack = _Stack({"status": "SUCCEEDED", "output": {}, "result": _document()})
    monkeypatch.setattr(command, "read_latest", lambda *a: pytest.fail("latest.json read a second time"))
    result, source = command.local_result(stack, refresh=True)
    assert stack.runs == 1
    assert source == "s3://enishi-analytics/results/latest.json"
    assert result.model_dump(mode="json") == _document()


def test_a_failed_run_is_reported_not_replaced_by_an_older_document(monkeypatch):
    stack = _Stack(
        {"status": "FAILED", "output": {}, "error": {"error": "States.TaskFailed", "cause": "boom"}}
    )
    monkeypatch.setattr(command, "read_latest", lambda *a: pytest.fail("an older document must not stand in"))
    with pytest.raises(SystemExit, match="ended FAILED"):
        command.local_result(stack, refresh=True)
