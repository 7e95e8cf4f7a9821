"""The complexity ceiling of `make lint`: fails when any function or method ranks worse than radon's grade C.

Radon ranks cyclomatic complexity A (1-5), B (6-10), C (11-20), D (21-30), E (31-40), F (41+). Every function,
method and nested function (closure) is checked on its own; a class's own grade is radon's average of its
methods, so it is not checked twice. Usage::

    python scripts/complexity.py                 # the default roots below
    python scripts/complexity.py PATH [PATH ...] # files or directories
    python scripts/complexity.py --max-grade B PATH

Prints one line per offender (``path:line name grade (complexity)``) and exits 1 if there is any, 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from radon.complexity import add_inner_blocks, cc_rank, cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parent.parent
# the code the gate covers (tests are exempt, as ruff's C901 exempts them in pyproject.toml)
DEFAULT_ROOTS = ("functions", "enishi_local", "infra", "bench", "layers", "scripts")
SKIPPED_DIRS = frozenset({".venv", "node_modules", "cdk.out", "build", "__pycache__", ".mypy_cache"})
GRADES = "ABCDEF"


@dataclass(frozen=True)
class Offender:
    path: Path
    line: int
    name: str
    complexity: int

    @property
    def grade(self) -> str:
        return str(cc_rank(self.complexity))

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} - {self.grade} ({self.complexity})"


def python_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The .py files under `paths` (a file is taken as given), in a stable order, skipping build and venv dirs."""
    for path in paths:
        if path.is_file():
            yield path
            continue
        for found in sorted(path.rglob("*.py")):
            if not SKIPPED_DIRS.intersection(found.relative_to(path).parts[:-1]):
                yield found


def _qualified(block: Function) -> str:
    return f"{block.classname}.{block.name}" if block.classname else block.name


def offenders(source: str, path: Path, max_grade: str = "C") -> list[Offender]:
    """Functions, methods and closures in `source` ranked worse than `max_grade`."""
    ceiling = GRADES.index(max_grade)
    found = []
    for block in add_inner_blocks(cc_visit(source)):
        if isinstance(block, Function) and GRADES.index(cc_rank(block.complexity)) > ceiling:
            found.append(Offender(path, block.lineno, _qualified(block), block.complexity))
    return sorted(found, key=lambda o: o.line)


def check(paths: Iterable[Path], max_grade: str = "C") -> list[Offender | str]:
    """Every offender under `paths`; a file that does not parse is reported as a problem too."""
    problems: list[Offender | str] = []
    for path in python_files(paths):
        try:
            problems += offenders(path.read_text(encoding="utf-8"), path, max_grade)
        except (SyntaxError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot be ranked ({exc})")
    return problems


def _shown(path: Path) -> Path:
    """`path` relative to the working directory when it lies below it (shorter lines, clickable in editors)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "paths", nargs="*", type=Path, help="files or directories (default: the project's code)"
    )
    parser.add_argument("--max-grade", default="C", choices=GRADES, help="worst grade allowed (default C)")
    args = parser.parse_args(argv)
    paths = args.paths or [_shown(ROOT / name) for name in DEFAULT_ROOTS if (ROOT / name).exists()]
    problems = check(paths, args.max_grade)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} function(s) above radon grade {args.max_grade}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
