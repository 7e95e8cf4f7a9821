"""Rotation: webhooks verify with current + previous only; unsubscribe links also with retired keys."""

from __future__ import annotations

import json

from enishi.secrets import secrets_from


def test_plain_secret():
    assert secrets_from("abc") == ["abc"]
    assert secrets_from("abc", retired=True) == ["abc"]


def test_webhook_secrets_never_include_retired_keys():
    raw = json.dumps({"current": "c", "previous": "p", "retired": ["r1", "r2"]})
    assert secrets_from(raw) == ["c", "p"]
    assert secrets_from(raw, retired=True) == ["c", "p", "r1", "r2"]


def test_malformed_rotation_values_are_skipped():
    raw = json.dumps({"current": "c", "previous": None, "retired": "not-a-list"})
    assert secrets_from(raw, retired=True) == ["c"]
    assert secrets_from(json.dumps({"current": "c", "retired": [1, "", "r"]}), retired=True) == ["c", "r"]
