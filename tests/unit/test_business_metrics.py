"""Business metrics go out with their own dimensions (one EMF document each), and not at all when disabled."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from enishi import business_metrics as bm
from enishi import constants as c


def _emitted(fn, *args) -> list[dict]:
    out = io.StringIO()
    with redirect_stdout(out):
        fn(*args)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def test_a_sent_message_is_counted_by_sequence_and_channel(monkeypatch):
    monkeypatch.delenv(bm.DISABLED_ENV, raising=False)
    (doc,) = _emitted(bm.message_sent, "welcome", "line")
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == c.METRICS_NAMESPACE
    assert directive["Dimensions"] == [["service", "sequence", "channel"]]
    assert (doc["service"], doc["sequence"], doc["channel"]) == ("enishi", "welcome", "line")


def test_a_conversion_counts_once_and_carries_its_revenue(monkeypatch):
    monkeypatch.delenv(bm.DISABLED_ENV, raising=False)
    docs = _emitted(bm.conversion, "winback", 5400.0)
    by_name = {d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: d for d in docs}
    assert set(by_name) == {bm.CONVERSIONS, bm.ATTRIBUTED_REVENUE}
    assert by_name[bm.ATTRIBUTED_REVENUE][bm.ATTRIBUTED_REVENUE] in (5400.0, [5400.0])
    assert all(d["sequence"] == "winback" for d in docs)


def test_nothing_is_printed_when_metrics_are_disabled(monkeypatch):
    monkeypatch.setenv(bm.DISABLED_ENV, "true")
    assert _emitted(bm.message_sent, "welcome", "email") == []
    assert _emitted(bm.conversion, "welcome", 1.0) == []


def test_powertools_dev_mode_disables_them_too_as_powertools_itself_does(monkeypatch):
    """The rule is Powertools' own (``is_metrics_disabled``), not a copy: POWERTOOLS_DEV alone disables metrics."""
    monkeypatch.delenv(bm.DISABLED_ENV, raising=False)
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    assert _emitted(bm.message_sent, "welcome", "email") == []
    monkeypatch.setenv(bm.DISABLED_ENV, "false")
    assert len(_emitted(bm.message_sent, "welcome", "email")) == 1
