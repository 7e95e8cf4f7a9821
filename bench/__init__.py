"""Benchmarks (`make bench`). Each ``bench/bench_*.py`` exposes ``run() -> list[dict]`` of figures:
``{"name", "value", "unit", "goal", "ok", "note"}``. Results go to ``out/bench/results.json`` and a Markdown table."""
