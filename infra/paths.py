"""Where the CDK app finds the code it packages (all relative to the repository root, never the cwd)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = ROOT / "functions"  # the one code asset shared by every function
SHOP_DIR = ROOT / "shop"  # shop.yaml, sequences.yaml, templates/ → the shop layer (/opt/shop)
LAYERS_BUILD_DIR = ROOT / "layers" / "build"  # written by `python -m layers.build` (make install)
