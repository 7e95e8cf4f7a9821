"""The README is part of the product: its commands must be the ones that work."""

from __future__ import annotations

from pathlib import Path

from enishi_local.cli import curl_example

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_names_exactly_the_two_commands():
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick_start.splitlines() if line.startswith("make ")]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_curl_is_the_one_enishi_local_prints():
    # the e2e test runs curl_example() against a live local stack; the README must show that same snippet
    assert curl_example("http://127.0.0.1:8787", "local-shopify-secret").rstrip() in README


def test_readme_names_the_local_default_secrets():
    from enishi_local import stack

    for default in (
        stack.DEFAULT_SHOPIFY_SECRET,
        stack.DEFAULT_GENERIC_SECRET,
        stack.DEFAULT_LINE_CHANNEL_SECRET,
    ):
        assert f"`{default}`" in README
