"""Renders the preference pages (Jinja2, autoescaped) from ``templates/web``; a shop may override any of them in
``<shop config dir>/templates/web``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from enishi import bootstrap

WEB_TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "web"

# The page holds a secret-bearing URL: no caching, no referrer, no indexing, no third-party anything.
SECURITY_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


@functools.cache
def environment(override_dir: str | None = None) -> Any:
    import jinja2  # deferred: 40 ms, only for the preferences function

    search = [override_dir] if override_dir and Path(override_dir).is_dir() else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*search, str(WEB_TEMPLATES)]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


bootstrap.on_reset(environment.cache_clear)


def render(template: str, context: dict[str, Any], override_dir: str | None = None) -> str:
    return environment(override_dir).get_template(template).render(**context)
