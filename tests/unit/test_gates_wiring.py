"""The gates are wired where CI and people run them: `make test` runs `make lint` first (and `.ci/run` runs `make
test`); the optional pre-commit hooks run the same tools from the venv."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GATES = ("lint-ruff", "lint-format", "lint-types", "lint-complexity")


def _rule(makefile: str, target: str) -> tuple[list[str], list[str]]:
    """(prerequisites, recipe lines) of `target` in the Makefile."""
    match = re.search(rf"^{re.escape(target)}:([^\n]*)\n((?:\t[^\n]*\n)*)", makefile, re.MULTILINE)
    assert match, f"no rule for {target}"
    return match.group(1).split(), [line.strip() for line in match.group(2).splitlines()]


def test_make_test_runs_every_gate_before_the_suite() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")

    test_prereqs, test_recipe = _rule(makefile, "test")
    lint_prereqs, _ = _rule(makefile, "lint")

    assert test_prereqs[0] == "lint" and any("pytest" in line for line in test_recipe)
    assert lint_prereqs == list(GATES)
    recipes = {gate: " ".join(_rule(makefile, gate)[1]) for gate in GATES}
    assert "ruff check" in recipes["lint-ruff"]
    assert "ruff format --check" in recipes["lint-format"]
    assert "mypy" in recipes["lint-types"]
    assert "scripts/complexity.py" in recipes["lint-complexity"]
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_pre_commit_runs_the_same_gates_on_the_venv_tools() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))

    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}

    assert set(hooks) == {"ruff", "ruff-format", "mypy", "complexity"}
    assert all(
        hook["language"] == "system" and hook["entry"].startswith(".venv/bin/") for hook in hooks.values()
    )
    assert hooks["mypy"]["pass_filenames"] is False  # packages come from pyproject, as in `make lint-types`
    assert "scripts/complexity.py" in hooks["complexity"]["entry"]


def test_mypy_fails_on_a_first_party_import_that_does_not_resolve() -> None:
    """A module moved by a refactor left an import at its old path inside a function (analytics → sequences.spec):
    with ``ignore_missing_imports`` on for everything, mypy read it as ``Any`` and the demo failed at run time.
    Only third-party packages without type information may be ignored."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["ignore_missing_imports"] is False
    ignored = {m for o in config.get("overrides", []) if o.get("ignore_missing_imports") for m in o["module"]}
    first_party = ("enishi", "enishi_local", "infra", "bench", "layers", "scripts")
    assert not {m for m in ignored if m.split(".")[0] in first_party}
