"""The report's treated-vs-control section (issue 12): HTML and terminal, Japanese and English, from
``result.experiments`` — conversion of both groups, the incremental conversion and revenue with their intervals,
the incremental ROI beside the attributed one, and the verdict in words."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from enishi.analytics import build
from enishi_local.report import render, view
from enishi_local.report.experiments import rows, terminal_rows
from enishi_local.report.terminal import format_summary

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


def group(sequence: str, grp: str, n: int, converted: int, each: float) -> dict:
    return {
        "sequence": sequence,
        "grp": grp,
        "n": str(n),
        "converted": str(converted),
        "revenue": str(converted * each),
        "revenue_sq": str(converted * each * each),
        "last_at": "2026-04-01 10:00:00",
    }


def summary() -> dict:
    holdout_rows = [
        group("welcome", "treated", 900, 180, 5000.0),
        group("welcome", "control", 100, 10, 5000.0),
        group("campaign-new-season", "treated", 20, 3, 4000.0),
        group("campaign-new-season", "control", 5, 0, 0.0),
    ]
    steps = [
        {"sequence": "welcome", "step": "f2_nudge", "channel": "email", "records": "900", "sent": "900"}
        | {"converted": "120", "revenue": "600000"}
    ]
    settings = build.Settings(shop="s", as_of=AS_OF, margin_rate=Decimal("0.4"))
    result = build.result(
        build.summarize([]), [], steps, settings, generated_at=AS_OF, source="t", holdout_rows=holdout_rows
    )
    return view.merge(view.from_result(result), view.result_only(result))


def test_each_sequence_and_campaign_gets_a_row_with_intervals_roi_and_verdict():
    welcome, campaign = rows(summary())
    assert (
        welcome["label"] == "ウェルカム Welcome" and campaign["label"] == "キャンペーン Campaign new-season"
    )
    assert (welcome["treated"], welcome["control"], welcome["conversion"]) == ("900", "100", "20.0% / 10.0%")
    assert welcome["incremental_conversion"].startswith("+10.0 [") and welcome[
        "incremental_conversion"
    ].endswith("] pt")
    assert welcome["incremental_revenue"].startswith("¥450,000 [")
    assert welcome["verdict"] == "効果あり lift"
    assert "×" in welcome["roi"] and welcome["attributed_roi"].endswith("×")
    assert campaign["verdict"] == "少なすぎて判断できません too small to tell"


def test_the_html_card_and_the_terminal_lines_show_it(tmp_path):
    s = summary()
    render(s, tmp_path)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "効果測定" in html and "treated vs. control" in html
    assert "少なすぎて判断できません too small to tell" in html and "効果あり lift" in html
    assert html.index("効果測定") < html.index("シーケンス別ROI")  # the report leads with the incremental ROI
    text = format_summary(s)
    assert "Holdout 効果測定" in text and "too small to tell" in text and "new-season" in text
    assert len(terminal_rows(s)) == 3


def test_a_result_without_experiments_shows_no_section(tmp_path):
    s = summary()
    s["analytics"]["experiments"] = []
    assert terminal_rows(s) == [] and rows(s) == []
    render(s, tmp_path)
    assert "効果測定" not in (tmp_path / "report.html").read_text(encoding="utf-8")
