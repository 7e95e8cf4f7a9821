"""Staging of the shop layer, shared by the CDK app (every synth) and ``layers/build.py`` (make install).

The shop layer is ``shop/`` copied to ``layers/build/shop/shop`` so Lambda mounts it at ``/opt/shop``. It is
re-staged at synth whenever ``shop/`` changed, so a deploy never ships stale templates or sequences; the content
hash is the asset hash. Publishing is atomic (rename), so parallel synths (pytest -n 2) never see half a copy.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

HASH_FILE = ".hash"
SHOP_LAYER = "shop"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def is_current(folder: Path, expected: str) -> bool:
    marker = folder / HASH_FILE
    return marker.is_file() and marker.read_text().strip() == expected


def publish(staging: Path, target: Path, content_hash: str) -> None:
    """Write the marker last, then swap the folder in: a half-built layer never carries a valid marker."""
    (staging / HASH_FILE).write_text(content_hash + "\n")
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    try:
        if target.exists():
            target.rename(old / target.name)
        staging.rename(target)
    except OSError:
        # another process published concurrently; whatever is there now carries its own consistent marker
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def stage_shop(shop_dir: Path, build_dir: Path) -> bool:
    """Copy ``shop_dir`` to ``<build_dir>/shop/shop``. Returns True when it (re)staged."""
    expected = tree_hash(shop_dir)
    target = build_dir / SHOP_LAYER
    if is_current(target, expected):
        return False
    build_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".shop-", dir=build_dir))
    shutil.copytree(shop_dir, staging / SHOP_LAYER, ignore=_IGNORE)
    publish(staging, target, expected)
    return True
