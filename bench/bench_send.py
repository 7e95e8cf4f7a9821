"""Cold-start cost of the send function (the sequence step λ) and of the LINE SDK it does not use.

Each figure is the median over fresh interpreters (``python -c``) of the wall time of one ``import`` statement,
measured inside the child with ``time.perf_counter`` (interpreter start-up excluded). Byte-code caches are warmed
first, as in a Lambda layer built by pip. ``python -X importtime`` gives the per-module breakdown in the notes.

Figures:
- send function cold import ÷ ``import boto3`` — goal ≤ 1.5×;
- ``linebot.v3.messaging`` (official SDK) vs ``enishi.channels.line`` (thin urllib client) — the decision log;
- the first render (imports Jinja2, compiles the templates) — paid on the first message, not at import.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7
SEND_MODULE = "enishi.sequences.step.handler"
FALLBACK_SEND_MODULES = "enishi.channels.email, enishi.channels.line, enishi.channels.render"

_TIMER = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONDONTWRITEBYTECODE", "POWERTOOLS_TRACE_DISABLED")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "functions"), str(ROOT), env.get("PYTHONPATH", "")])
    # what the Lambda runtime sets: Powertools decides from these whether to start X-Ray etc.
    env.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", "bench")
    env.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "enishi")
    env.update(extra or {})
    return env


def _run(stmt: str, extra: dict[str, str] | None = None) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _TIMER.format(stmt=stmt)],
        env=_env(extra),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def paired(stmt: str, base: str = "import boto3", runs: int = RUNS, extra: dict[str, str] | None = None):
    """(median seconds of ``stmt``, median seconds of ``base``, median of per-round ratios). The two run in turn,
    round by round, so load from other processes on a shared machine hits both alike."""
    _run(stmt, extra), _run(base)  # warm the byte-code caches
    pairs = [(_run(stmt, extra), _run(base)) for _ in range(runs)]
    return (
        statistics.median(a for a, _ in pairs),
        statistics.median(b for _, b in pairs),
        statistics.median(a / b for a, b in pairs),
    )


def top_imports(stmt: str, n: int = 4) -> str:
    """The ``n`` costliest direct imports of the imported module(s) per ``python -X importtime`` (cumulative)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", stmt], env=_env(), capture_output=True, text=True
    )
    costs: dict[str, int] = {}
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| {3}(\S+)$", line)  # depth 1: imported by the module
        if m:
            costs[m.group(2)] = max(costs.get(m.group(2), 0), int(m.group(1)))
    ranked = sorted(costs.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in ranked)


def _send_module() -> tuple[str, str]:
    if (ROOT / "functions" / "enishi" / "sequences" / "step.py").exists():
        return f"import {SEND_MODULE}", SEND_MODULE
    return f"import {FALLBACK_SEND_MODULES}", FALLBACK_SEND_MODULES


FIRST_RENDER = (
    "from enishi.channels.render import render_email, render_line; "
    "from enishi.channels.context import build_context, Links; "
    "from enishi.shop_config import load_shop_config; "
    "shop = load_shop_config(); "
    "ctx = build_context('cart_recovery', 'reminder_1', None, "
    "{'line_items': [{'title': 'x', 'quantity': 1, 'price': '1000'}], 'total': '1000'}, shop, Links('https://u')); "
    "render_email('cart_recovery_reminder_1', ctx); render_line('cart_recovery_reminder_1', ctx)"
)


def run() -> list[dict]:
    send_stmt, send_name = _send_module()
    send_s, boto3_s, ratio = paired(send_stmt)
    _, _, channels_ratio = paired(f"import boto3, {FALLBACK_SEND_MODULES}, enishi.channels.context")
    sdk_s, thin_s, sdk_vs_thin = paired("import linebot.v3.messaging", base="import enishi.channels.line")
    _, _, sdk_vs_boto3 = paired("import linebot.v3.messaging")
    setup = "import enishi.channels.render, enishi.channels.context, enishi.shop_config"
    with_render, without_render, _ = paired(FIRST_RENDER, base=setup)
    return [
        {
            "name": "import boto3 (cold)",
            "value": boto3_s * 1000,
            "unit": "ms",
            "goal": "",
            "ok": None,
            "note": f"median of {RUNS} fresh interpreters",
        },
        {
            "name": "send function cold import",
            "value": send_s * 1000,
            "unit": "ms",
            "goal": "",
            "ok": None,
            "note": f"{send_name}, with the Lambda runtime's environment; top: {top_imports(send_stmt)}",
        },
        {
            "name": "send function cold import ÷ import boto3",
            "value": ratio,
            "unit": "×",
            "goal": "≤ 1.5×",
            "ok": ratio <= 1.5,
            "note": "no X-Ray SDK (Lambda active tracing only); pydantic models of events, "
            "profile and shop config are the rest; channels and Jinja2 load on the first send",
        },
        {
            "name": "boto3 + channel modules (email, line, render, context) ÷ import boto3",
            "value": channels_ratio,
            "unit": "×",
            "goal": "≤ 1.5×",
            "ok": channels_ratio <= 1.5,
            "note": "what the channels add at import",
        },
        {
            "name": "import linebot.v3.messaging (official SDK)",
            "value": sdk_s * 1000,
            "unit": "ms",
            "goal": "",
            "ok": None,
            "note": f"{sdk_vs_boto3:.1f}× import boto3; top: {top_imports('import linebot.v3.messaging')}",
        },
        {
            "name": "import enishi.channels.line (thin urllib client)",
            "value": thin_s * 1000,
            "unit": "ms",
            "goal": "",
            "ok": None,
            "note": f"SDK ÷ thin client = {sdk_vs_thin:.0f}×",
        },
        {
            "name": "first render (Jinja2 import + template compile, email + LINE)",
            "value": (with_render - without_render) * 1000,
            "unit": "ms",
            "goal": "",
            "ok": None,
            "note": "paid once per container, on the first message",
        },
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure)
