"""Build the Lambda layers without Docker: ``python -m layers.build`` (run by ``make install``).

``pip install --platform manylinux2014_aarch64 --implementation cp --python-version 3.13 --only-binary=:all:``
fetches the wheels the arm64 python3.13 runtime needs into ``layers/build/<name>/python``. Each layer is cached by a
hash of its requirement list (and of this recipe): a second run does nothing. The shop layer copies ``shop/`` to
``layers/build/shop/shop`` so it is mounted at ``/opt/shop``; it is cheap and re-staged whenever ``shop/`` changes.

Each built folder holds ``.hash``; the CDK app uses it as the asset hash and refuses to synth without it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infra import assets  # shop staging is shared with the CDK app (it re-stages at every synth)

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = ROOT / "layers" / "build"
SHOP_DIR = ROOT / "shop"

PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.13"

# boto3/botocore are NOT shipped: the Lambda runtime has them (and they are 20+ MB)
REQUIREMENTS: dict[str, list[str]] = {
    "powertools": ["aws-lambda-powertools>=3.20,<4"],
    "dependencies": ["pydantic>=2.7,<3", "jinja2>=3.1,<4", "pyyaml>=6,<7", "cryptography>=42"],
}
# what the runtime already provides: dropped from a layer if a dependency pulled it in
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")


def requirements_hash(name: str) -> str:
    recipe = "\n".join([PLATFORM, PYTHON_VERSION, *sorted(REQUIREMENTS[name]), *RUNTIME_PROVIDED])
    return hashlib.sha256(recipe.encode()).hexdigest()[:32]


def is_current(name: str, expected: str, build_dir: Path = BUILD_DIR) -> bool:
    return assets.is_current(build_dir / name, expected)


def build_pip_layer(name: str, build_dir: Path = BUILD_DIR, *, force: bool = False) -> bool:
    """Returns True when it built, False when the cached layer was current."""
    expected = requirements_hash(name)
    if not force and is_current(name, expected, build_dir):
        return False
    build_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=build_dir))
    try:
        target_python = staging / "python"
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                "--platform", PLATFORM, "--implementation", "cp", "--python-version", PYTHON_VERSION,
                "--only-binary=:all:", "--target", str(target_python), *REQUIREMENTS[name],
            ],
            check=True,
        )  # fmt: skip
        _prune(target_python)
        assets.publish(staging, build_dir / name, expected)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return True


def _prune(site: Path) -> None:
    for entry in list(site.iterdir()):
        top = entry.name.split("-")[0].removesuffix(".py").lower()
        if top in RUNTIME_PROVIDED or top == "python_dateutil" or entry.name == "bin":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build enishi's Lambda layers without Docker.")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cache is current")
    args = parser.parse_args(argv)
    for name in REQUIREMENTS:
        built = build_pip_layer(name, force=args.force)
        print(f"layer {name}: {'built' if built else 'cached'} ({BUILD_DIR / name})")
    changed = assets.stage_shop(SHOP_DIR, BUILD_DIR)
    print(f"layer shop: {'staged' if changed else 'cached'} ({BUILD_DIR / 'shop'})")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_NO_INPUT", "1")
    raise SystemExit(main())
