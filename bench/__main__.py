"""Run every benchmark module and print one Markdown table (paste into the README)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT / "functions"))
    only = set(argv)
    figures: list[dict] = []
    for mod in sorted(
        m.name for m in pkgutil.iter_modules([str(ROOT / "bench")]) if m.name.startswith("bench_")
    ):
        if only and mod not in only:
            continue
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{mod}")
        results = module.run()
        for r in results:
            r.setdefault("bench", mod)
        figures.extend(results)
        print(f"# {mod}: {len(results)} figures in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    out = ROOT / "out" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False, default=str))
    lines = ["| figure | value | goal | met | note |", "|---|---|---|---|---|"]
    for f in figures:
        value = f["value"]
        shown = (
            f"{value:.3g} {f.get('unit', '')}".strip()
            if isinstance(value, float)
            else f"{value} {f.get('unit', '')}".strip()
        )
        met = "✅" if f.get("ok") else ("❌" if f.get("ok") is False else "–")
        lines.append(f"| {f['name']} | {shown} | {f.get('goal', '')} | {met} | {f.get('note', '')} |")
    table = "\n".join(lines)
    (out / "results.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
