"""The sequences package's imports go down only (issue 10): handler → service → domain / adapters; adapters → domain;
the domain imports neither adapters nor any job package; nothing imports a handler module."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import clock
from enishi.sequences.domain.messages import SendErrorKind
from enishi.sequences.domain.step import StepResult, outcome, send_error_action

ROOT = Path(__file__).resolve().parents[2] / "functions" / "enishi" / "sequences"
JOBS = ("starter", "step", "winback")


def _imports(path: Path) -> set[str]:
    """Every ``enishi.sequences.*`` module a file imports (also inside functions), as dotted names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("enishi.sequences"):
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("enishi.sequences"))
    return names


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).glob("*.py"))


@pytest.mark.parametrize("path", _files("domain"), ids=lambda p: p.name)
def test_the_domain_imports_no_adapter_and_no_job(path):
    bad = {n for n in _imports(path) if not n.startswith("enishi.sequences.domain")}
    assert bad == set(), f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files("adapters"), ids=lambda p: p.name)
def test_adapters_import_only_the_domain(path):
    bad = {
        n
        for n in _imports(path)
        if not n.startswith(("enishi.sequences.domain", "enishi.sequences.adapters"))
    }
    assert bad == set(), f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "path", [p for job in JOBS for p in _files(job)], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_nothing_imports_a_handler_and_a_service_imports_no_other_job(path):
    job = path.parent.name
    imported = _imports(path)
    assert not {n for n in imported if ".handler" in n}, f"{job}/{path.name} imports a handler module"
    others = {
        n for n in imported for other in JOBS if other != job and n.startswith(f"enishi.sequences.{other}")
    }
    assert others == set(), f"{job}/{path.name} imports another job: {sorted(others)}"


# ---- the step's contract with its state machine (docs/internals.md "Step Functions ↔ step Lambda")

STATE_KEYS = st.sampled_from(["shop", "customer_id", "sequence", "trigger_id", "started_at", "trigger"])


@settings(deadline=None)
@given(
    state=st.dictionaries(STATE_KEYS, st.text(max_size=5), max_size=6),
    action=st.sampled_from(["sent", "skipped", "defer", "stop"]),
    reason=st.none() | st.text(max_size=8),
    channel=st.sampled_from([None, "email", "line"]),
    seconds=st.integers(0, 10**8),
    waits=st.none() | st.integers(1, 9),
)
def test_the_new_state_is_the_input_state_with_wait_until_and_result(
    state, action, reason, channel, seconds, waits
):
    result = StepResult(action, reason, "k", channel)
    wait_until = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    out = outcome(state, result, wait_until, waits)
    extra = {"wait_until", "result"} | ({"profile_waits"} if waits is not None else set())
    assert {k: v for k, v in out.state.items() if k not in extra} == {
        k: v for k, v in state.items() if k not in extra
    }
    assert out.state["wait_until"] == clock.iso_z(wait_until) and out.state["wait_until"].endswith("Z")
    assert out.state["result"] == {"action": action, "reason": reason, "message_key": "k", "channel": channel}
    assert out.state.get("profile_waits") == waits


@pytest.mark.parametrize("kind", list(SendErrorKind))
def test_an_email_that_may_have_gone_out_is_never_sent_again(kind):
    """Only LINE (its retry key dedupes) is resent while its record stays ``sending``."""
    assert send_error_action(kind, "email") != "retry"
    if kind is SendErrorKind.AMBIGUOUS_RETRY:
        assert send_error_action(kind, "email") == "skip_ambiguous"
        assert send_error_action(kind, "line") == "retry"
