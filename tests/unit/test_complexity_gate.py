"""The complexity ceiling of `make lint` (scripts/complexity.py): a function above radon's grade C fails the gate."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts import complexity

ROOT = Path(__file__).resolve().parents[2]


def _function(name: str, branches: int, indent: str = "") -> str:
    """A function of cyclomatic complexity 1 + `branches` (one `if` per branch)."""
    body = "".join(f"{indent}    if x == {i}:\n{indent}        return {i}\n" for i in range(branches))
    return f"{indent}def {name}(x):\n{body}{indent}    return -1\n"


def _write(tmp_path: Path, source: str, name: str = "module.py") -> Path:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


def test_a_grade_d_function_fails_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, _function("knot", 20))  # complexity 21: radon's grade D

    assert complexity.main([str(path)]) == 1

    out = capsys.readouterr().out
    assert f"{path}:1 knot - D (21)" in out


def test_grade_c_passes_up_to_its_last_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, _function("busy_but_allowed", 19))  # complexity 20: the last of grade C

    assert complexity.main([str(path)]) == 0
    assert capsys.readouterr().out == ""


def test_methods_and_closures_are_ranked_on_their_own(tmp_path: Path) -> None:
    method = "class Shop:\n" + _function("on_message", 25, indent="    ")
    closure = "def outer():\n" + _function("inner", 30, indent="    ") + "    return inner\n"
    path = _write(tmp_path, method + "\n\n" + closure)

    found = [(o.name, o.grade) for o in complexity.check([path])]

    assert found == [("Shop.on_message", "D"), ("outer.inner", "E")]


def test_directories_are_walked_and_build_dirs_skipped(tmp_path: Path) -> None:
    _write(tmp_path, _function("fine", 3), "ok.py")
    (tmp_path / "pkg").mkdir()
    _write(tmp_path, _function("knot", 40), "pkg/deep.py")
    (tmp_path / ".venv").mkdir()
    _write(tmp_path, _function("vendored", 40), ".venv/lib.py")

    found = complexity.check([tmp_path])

    assert [(o.path.name, o.name, o.grade) for o in found if isinstance(o, complexity.Offender)] == [
        ("deep.py", "knot", "F")
    ]
    assert len(found) == 1


def test_a_stricter_ceiling_can_be_asked_for(tmp_path: Path) -> None:
    path = _write(tmp_path, _function("middling", 12))  # complexity 13: grade C

    assert complexity.main([str(path)]) == 0
    assert complexity.main(["--max-grade", "B", str(path)]) == 1


def test_a_file_that_does_not_parse_fails_rather_than_passing_silently(tmp_path: Path) -> None:
    path = _write(tmp_path, "def broken(:\n")

    problems = complexity.check([path])

    assert len(problems) == 1 and "cannot be ranked" in str(problems[0])


def test_the_script_runs_as_make_lint_calls_it(tmp_path: Path) -> None:
    knot = _write(tmp_path, _function("knot", 20))
    fine = _write(tmp_path, textwrap.dedent(_function("fine", 2)), "fine.py")
    script = ROOT / "scripts" / "complexity.py"

    failing = subprocess.run([sys.executable, str(script), str(knot)], capture_output=True, text=True)
    passing = subprocess.run([sys.executable, str(script), str(fine)], capture_output=True, text=True)

    assert failing.returncode == 1 and "knot - D (21)" in failing.stdout
    assert passing.returncode == 0 and passing.stdout == ""


def test_the_default_roots_cover_every_package_of_code() -> None:
    assert {"functions", "enishi_local", "infra", "bench", "layers", "scripts"} <= set(
        complexity.DEFAULT_ROOTS
    )
