"""Secrets from AWS Secrets Manager, cached per container (never from plain environment values).

``get_secret(arn)`` returns the secret string; ``get_json_secret(arn)`` parses a JSON secret. Values are cached for
``max_age`` seconds by Powertools, so a rotated secret is picked up within five minutes without a cold start.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from enishi import bootstrap

MAX_AGE_SECONDS = 300


def get_secret(arn: str, *, max_age: int = MAX_AGE_SECONDS) -> str:
    from aws_lambda_powertools.utilities import parameters  # deferred: cold-start cost only where used

    value = parameters.get_secret(arn, max_age=max_age)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


@bootstrap.on_reset
def forget() -> None:
    """Forget every cached secret value (``bootstrap.reset_all``: another environment, other secrets)."""
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:  # not imported: nothing cached
        parameters.clear_caches()


def get_json_secret(arn: str, *, max_age: int = MAX_AGE_SECONDS) -> dict[str, Any]:
    return json.loads(get_secret(arn, max_age=max_age))


def rotation_secrets(arn: str, *, max_age: int = MAX_AGE_SECONDS, retired: bool = False) -> list[str]:
    """A secret may be a plain string or JSON ``{"current": ..., "previous": ..., "retired": [...]}`` during a
    rotation (Shopify keeps signing with the old secret for up to an hour). Returns the secrets to try, current
    first. ``retired`` keys are only for checking what was signed long ago — the unsubscribe links of every mail
    ever sent must keep working (特定電子メール法), however often the key was rotated — and never for webhooks."""
    raw = get_secret(arn, max_age=max_age)
    return secrets_from(raw, retired=retired)


def secrets_from(raw: str, *, retired: bool = False) -> list[str]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return [raw]
    if not isinstance(parsed, dict):
        return [raw]
    found = [parsed.get("current"), parsed.get("previous")]
    if retired and isinstance(parsed.get("retired"), list):
        found.extend(parsed["retired"])
    return [s for s in found if isinstance(s, str) and s]
