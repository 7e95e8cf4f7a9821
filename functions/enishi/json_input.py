"""Parsing an authentic request body as JSON, bounded: no body, however hostile, makes the parser raise anything
but ``BodyRejected``.

``json.loads`` raises ``RecursionError`` (not a ``ValueError``) on arrays nested ~1,000 deep, and a structure that
does parse at depth 900 can still blow the stack of whatever walks it later (pydantic, ``json.dumps``). So: parse,
turn every failure into ``BodyRejected``, then refuse anything nested deeper than ``MAX_DEPTH`` (an iterative walk,
no recursion). Webhook bodies of Shopify, LINE and the generic format are 4–6 levels deep.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64

REASON_NOT_JSON = "not_json"
REASON_TOO_DEEP = "too_deep"


class BodyRejected(ValueError):
    """The body is not JSON enishi will read. ``reason`` is a stable code, ``message`` is safe to answer with."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1); stops counting past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level) for child in children if isinstance(child, dict | list))
    return deepest


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises only ``BodyRejected``: not UTF-8, not JSON, numbers too long for ``int`` (Python
    refuses > 4,300 digits), nested deeper than ``max_depth``. ``NaN``/``Infinity`` parse as Python does (floats):
    the models that read a value refuse them where they matter, so one odd field does not sink a whole batch."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BodyRejected(REASON_TOO_DEEP, f"body is nested deeper than {max_depth} levels") from None
    except (ValueError, TypeError):  # JSONDecodeError, UnicodeDecodeError, int digit limit: all ValueErrors
        raise BodyRejected(REASON_NOT_JSON, "body is not JSON") from None
    if depth(value, max_depth) > max_depth:
        raise BodyRejected(REASON_TOO_DEEP, f"body is nested deeper than {max_depth} levels")
    return value
