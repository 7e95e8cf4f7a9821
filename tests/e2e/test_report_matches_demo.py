"""`enishi report --local` against the demo shop's stack gives the demo's numbers: the demo renders the analytics
result the local stack answers, and the stack's own answer (read from its table, as the operator endpoint does)
is the same document."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("enishi_local.stack")

from enishi_local.demo import parse_args, run_demo
from enishi_local.report import command


def test_report_of_the_demo_stack_equals_the_demos_numbers(tmp_path, monkeypatch):
    answered: list = []
    real = command.local_result

    def spy(stack, **kwargs):
        # the demo's own call (it runs the stack's Analytics machine), then what `enishi report --local URL` gets
        # from this stack right after (no refresh, no run data handed in: it reads the stack's results/latest.json)
        own = real(stack, **kwargs)
        answered.append(real(stack, refresh=False, as_of=kwargs.get("as_of"))[0])
        return own

    monkeypatch.setattr(command, "local_result", spy)
    out = tmp_path / "demo"
    run_demo(parse_args(["--small", "--no-progress", "--out", str(out)]), out)
    demo_doc = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert answered and answered[0].model_dump(mode="json") == demo_doc

    # and the report written from that answer alone carries the demo's numbers for what enishi knows
    summary = command.write_report(answered[0], tmp_path / "report")
    demo = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("customers", "orders", "revenue_jpy", "stages_now", "analytics"):
        assert summary[key] == demo[key], key
    assert summary["f2"]["overall"] == demo["f2"]["overall"]
    for seq, row in demo["messages"]["by_sequence"].items():
        assert {k: summary["messages"]["by_sequence"][seq][k] for k in row} == row
    for seq, row in summary["cost"]["by_sequence"].items():
        assert row.items() <= demo["cost"]["by_sequence"][seq].items()
