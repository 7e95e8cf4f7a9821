"""``make profile-demo``: where ``enishi demo`` spends its time, across every thread.

    python -m bench.profile_demo [--rate 200] [--out out/profile] [demo options, e.g. --customers 120 --days 60]

Runs the demo under py-spy (a sampling profiler that reads every thread's stack from outside the process, so the
handler threads, the Step Functions execution threads, the SQS pollers and the HTTP server are all seen, at a few
per cent overhead) with ``--gil``: a sample is taken from the thread that holds the GIL, i.e. whatever the one
Python core is doing. Moments when py-spy finds no holder give no sample. That is not the same as idle: on the
2-core machine the demo's process CPU (measured here from the child's rusage and printed with the table) was 98 % of
its wall time while a third of the samples found no holder, and ``perf`` showed 83 % of the CPU inside the
interpreter and 2 % in DuckDB. So read the parts' shares of the samples on the GIL as shares of the CPU.

Writes ``<out>/demo.folded`` (collapsed stacks: open with speedscope or flamegraph.pl) and ``<out>/profile.md``
(the share per part and the top functions), and prints the latter.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

# innermost first: the first frame of a sample whose file matches names the part the sample is charged to
PARTS = (
    # moto's own code, and the local stack's patches that do moto's work in its place
    ("moto (AWS emulated)", ("/moto/", "/enishi_local/moto_fastpaths.py", "/enishi_local/moto_patches.py")),
    (
        "boto3/botocore and HTTP (serialising)",
        (
            "/botocore/",
            "/boto3/",
            "/urllib3/",
            "/requests/",
            "/http/client.py",
            "/http/server.py",
            "/socketserver.py",
            "/email/feedparser.py",
        ),
    ),
    ("handlers (functions/enishi)", ("/functions/enishi/", "/enishi/")),
    ("report (metrics, charts, files)", ("/enishi_local/report/", "/matplotlib/")),
    ("demo driver and shop simulation", ("/enishi_local/demo/",)),
    ("local stack (dispatch, settle, fake LINE, HTTP glue)", ("/enishi_local/",)),
)


def part_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        path = "/" + _file(frame)
        for name, needles in PARTS:
            if any(n in path for n in needles):
                if name.startswith("handlers") and "/enishi_local/" in path:
                    continue
                return name
    return "other (interpreter, imports, libraries)"


def _file(frame: str) -> str:
    # py-spy's raw frame: "function (path/to/file.py:123)"
    inside = frame.rsplit("(", 1)[-1].rstrip(")")
    return inside.rsplit(":", 1)[0]


def _name(frame: str) -> str:
    func, _, _rest = frame.partition(" (")
    return f"{func} ({_file(frame).split('site-packages/')[-1]})"


def aws_caller(stack: list[str]) -> str | None:
    """The code that made the innermost boto3 call of a sample (what a round trip through moto is charged to)."""
    calls = [i for i, f in enumerate(stack) if f.startswith("BaseClient._make_api_call")]
    if not calls:
        return None
    for frame in reversed(stack[: calls[-1]]):
        path = "/" + _file(frame)
        if any(n in path for n in ("/enishi", "/moto/", "/bench/")) and "/botocore/" not in path:
            return _name(frame)
    return "?"


def summarise(
    folded: Path, seconds: float, rate: int, top: int = 25, cpu_seconds: float | None = None
) -> str:
    parts: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in folded.read_text(encoding="utf-8", errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        n = int(count_text)
        stack = [
            f for f in stack_text.split(";") if not f.startswith("thread (") and not f.startswith("process ")
        ]
        if not stack:
            continue
        total += n
        parts[part_of(stack)] += n
        caller = aws_caller(stack)
        if caller is not None:
            callers[caller] += n
        self_time[_name(stack[-1])] += n
        for name in {_name(f) for f in stack}:
            inclusive[name] += n
    expected = max(seconds * rate, total, 1)
    lines = [f"# enishi demo profile ({seconds:.1f} s wall, {total} samples on the GIL at {rate}/s)", ""]
    if cpu_seconds is not None:
        lines += [
            f"Process CPU (user + system, the demo and py-spy): {cpu_seconds:.1f} s = {cpu_seconds / seconds:.0%} of "
            "the wall time. Where that is near 100 %, the samples with no GIL holder below are mostly samples py-spy "
            "could not attribute (it reads the holder from outside the process), not idle time: the shares of the "
            "samples on the GIL are then the shares of the CPU.",
            "",
        ]
    lines += ["| part | share of wall time | share of samples on the GIL |", "| --- | ---: | ---: |"]
    for name, n in parts.most_common():
        lines.append(f"| {name} | {n / expected:.1%} | {n / max(total, 1):.1%} |")
    lines.append(
        f"| no GIL holder found in the sample (waiting, or missed: see above) | {1 - total / expected:.1%} | |"
    )
    lines += [
        "",
        "## boto3 round trips (client + moto) by the code that made them",
        "",
        "| caller | share of samples on the GIL |",
        "| --- | ---: |",
    ]
    for name, n in callers.most_common(15):
        lines.append(f"| `{name}` | {n / max(total, 1):.1%} |")
    lines += [
        "",
        f"## top {top} functions by own time (share of samples on the GIL)",
        "",
        "| function | own | incl. |",
        "| --- | ---: | ---: |",
    ]
    for name, n in self_time.most_common(top):
        lines.append(f"| `{name}` | {n / max(total, 1):.1%} | {inclusive[name] / max(total, 1):.1%} |")
    lines += ["", f"## top {top} functions by inclusive time", "", "| function | incl. |", "| --- | ---: |"]
    for name, n in inclusive.most_common(top):
        lines.append(f"| `{name}` | {n / max(total, 1):.1%} |")
    return "\n".join(lines) + "\n"


def _children_cpu() -> float:
    usage = resource.getrusage(
        resource.RUSAGE_CHILDREN
    )  # py-spy and the demo it ran, once they are waited for
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    p.add_argument("--out", default="out/profile")
    args, demo_args = p.parse_known_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("py-spy is not installed (it is in the dev extra: make install)", file=sys.stderr)
        return 2
    folded = out / "demo.folded"
    cmd = [
        spy,
        "record",
        "--gil",
        "--rate",
        str(args.rate),
        "--format",
        "raw",
        "--output",
        str(folded),
        "--",
        sys.executable,
        "-m",
        "enishi_local.cli",
        "demo",
        "--no-progress",
        "--out",
        str(out / "demo"),
        *demo_args,
    ]
    t0, cpu0 = time.perf_counter(), _children_cpu()
    done = subprocess.run(cmd)
    seconds, cpu_seconds = time.perf_counter() - t0, _children_cpu() - cpu0
    if done.returncode != 0 or not folded.exists():
        print(
            f"profiling failed ({done.returncode}); py-spy needs ptrace (root, or CAP_SYS_PTRACE)",
            file=sys.stderr,
        )
        return done.returncode or 1
    text = summarise(folded, seconds, args.rate, cpu_seconds=cpu_seconds)
    (out / "profile.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
