"""Cached synthesis for tests and the local stack: ``synthesize(context) -> Path`` of ``Enishi.template.json``.

Importing this module does not import aws_cdk, so a cache hit costs only hashing the source tree (~50 ms).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from infra.paths import FUNCTIONS_DIR, LAYERS_BUILD_DIR, ROOT, SHOP_DIR

TEMPLATE_FILE = "Enishi.template.json"  # infra.app.STACK_NAME + ".template.json"
CACHE_DIR = ROOT / "cdk.out" / "synth-cache"
KEEP = 4  # cached assemblies kept (newest first); each is a few hundred KB without staged assets
# tests and the local stack read the template only: do not copy 20 MB of layers into every assembly (-1.6 s)
NO_STAGING = {"aws:cdk:disable-asset-staging": True}
_INFRA_DIR = Path(__file__).resolve().parent


def synthesize(context: dict[str, Any] | None = None, *, cache_dir: Path = CACHE_DIR) -> Path:
    """Synthesize once per distinct input and return the path of ``Enishi.template.json``.

    The assembly lives in ``cache_dir/<hash of the inputs>``: infra/, functions/, shop/, the built layers' hashes,
    the context and the CDK/cdk-nag versions. An unchanged tree returns at once (no jsii start-up); a changed one
    synthesizes (~5 s) into a temporary folder that is renamed into place only after cdk-nag passed, so parallel
    callers (pytest -n 2, the local stack) never read half an assembly.
    """
    key = inputs_hash(context)
    target = cache_dir / key
    template = target / TEMPLATE_FILE
    if template.is_file():
        return template
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    try:
        from infra.app import build_app  # deferred: importing aws_cdk starts jsii (~1 s)

        build_app(outdir=str(staging), context={**NO_STAGING, **(context or {})}).synth()
        staging.rename(target)
        _prune(cache_dir)
    except OSError:
        if not template.is_file():  # not "another process won the race": a real error
            raise
    except Exception:
        report = staging / "validation-report.json"
        if report.is_file():  # cdk-nag findings: keep the report where people look for it
            shutil.copyfile(report, cache_dir / "validation-report.json")
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return template


def inputs_hash(context: dict[str, Any] | None = None) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(context or {}, sort_keys=True, default=str).encode())
    digest.update((ROOT / "cdk.json").read_bytes())
    for package in ("aws-cdk-lib", "cdk-nag"):
        digest.update(metadata.version(package).encode())
    for folder in (_INFRA_DIR, FUNCTIONS_DIR, SHOP_DIR):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    for marker in sorted(LAYERS_BUILD_DIR.glob("*/.hash")):
        digest.update(str(marker.relative_to(ROOT)).encode() + b"\0" + marker.read_bytes())
    return digest.hexdigest()[:24]


def _prune(cache_dir: Path, keep: int = KEEP) -> None:
    entries = sorted(
        (p for p in cache_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True)
