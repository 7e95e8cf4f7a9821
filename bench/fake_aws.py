"""Fake credentials and the region for the benchmarks that run on a bare moto (never on AWS)."""

from __future__ import annotations

import os


def use_fake_aws(**extra: str) -> None:
    """Set the fake credentials, the region and ``extra`` variables where the environment has none."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        **extra,
    }.items():
        os.environ.setdefault(name, value)
