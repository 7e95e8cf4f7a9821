"""Put every link of a message's template context through the tracked redirect.

The context builder (``channels/context.py``) names its links by key: ``url`` (line items, recommendations, SNS),
``site_url``, ``recovery_url``; a carrier's ``tracking_url`` is left alone. ``track_links`` walks the context and
replaces each http(s) value under those keys by what ``make(link_name, url)`` returns (a ``/r/{token}`` URL, or
None to leave the link as it is — e.g. when it would not fit LINE's 1,000-character URI limit). Images, the logo
and the opt-out links are never rewritten: the opt-out must work without a redirect, and an image fetch is not a
click. The link name is the key's path (``cart.recovery_url``, ``recommendations.0.url``) so the report can say
which link was clicked. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from enishi.tracking.links import is_redirectable

# a carrier's tracking link stays as it is: the customer should see where a delivery link goes, and a shipping
# notice earns no attribution anyway
TRACKED_KEYS = frozenset({"url", "site_url", "recovery_url"})
MAX_LINK_NAME = 60

Maker = Callable[[str, str], str | None]


def _walk(value: Any, path: str, make: Maker) -> Any:
    if isinstance(value, Mapping):
        return {k: _rewrite(k, v, f"{path}.{k}" if path else str(k), make) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, f"{path}.{i}", make) for i, v in enumerate(value)]
    return value


def _rewrite(key: Any, value: Any, path: str, make: Maker) -> Any:
    if key in TRACKED_KEYS and isinstance(value, str) and is_redirectable(value):
        return make(path[:MAX_LINK_NAME], value) or value
    if key == "links":  # unsubscribe / preferences: never through a redirect
        return value
    return _walk(value, path, make)


def track_links(context: Mapping[str, Any], make: Maker) -> dict[str, Any]:
    """A copy of ``context`` with its links tracked (the input is not changed)."""
    return dict(_walk(context, "", make))
