"""The contract of a polled cart, and the settings of one connected shop.

A polled cart is one module under ``enishi.carts`` exposing:

| name                                   | what                                                                  |
|----------------------------------------|-----------------------------------------------------------------------|
| ``CART``                               | its name (``source`` of its events, dedupe namespace)                 |
| ``STREAMS``                            | record kinds swept, in order (customers before orders)                |
| ``MIN_INTERVAL_SECONDS``               | pacing between two calls (the cart's documented rate limit)           |
| ``api_base(connection)``               | GraphQL endpoint or REST base URL                                     |
| ``fetch_page(api, stream, since, n)``  | page ``n`` (1-based) of rows updated at/after ``since`` → (rows, more)|
| ``updated_at(row)`` / ``record_id(row)``| the row's update time and id                                         |
| ``RECORD_EVENTS[stream](conn, row, t)``| the row → canonical events with deterministic ids                     |
| ``fetch_one(api, entity, id)``         | (id-only push carts) the full row behind a notification               |

Same canonical events out as the push adapters; event ids are deterministic, and each is published once (a marker
written after publishing; ``service.publish_once``), so re-reading a row (overlap, a resumed sweep, a webhook and a
sweep seeing the same change) publishes nothing twice.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from enishi import constants as c

CartName = Literal["eccube", "colorme", "base", "stores", "makeshop"]

# cart → module (imported on use, so a poller pays only for its own cart)
CART_MODULES: dict[str, str] = {
    "eccube": "enishi.carts.eccube",
    "colorme": "enishi.carts.colorme",
    "base": "enishi.carts.base_jp",
    "stores": "enishi.carts.stores_jp",
    "makeshop": "enishi.carts.makeshop",
}
PUSH_CARTS = frozenset(
    {"eccube"}
)  # carts whose id-only notifications enishi receives (POST /webhooks/{cart}/{id})


class CartConnection(BaseModel):
    """One shop's connection to its cart (stage config ``enishi:cartConnections``, one entry per shop).

    ``shop_id`` is the **enishi** shop id the events are published for: it must be one this deployment serves
    (``shop.yaml``'s ``shop_id`` or one of ``additional_shop_ids``), otherwise the events reach no profile.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")  # names the secret, schedule, route and cursor
    cart: CartName
    shop_id: str = Field(alias="shopId", min_length=1)
    base_url: str = Field(alias="baseUrl", pattern=r"^https?://")  # EC-CUBE: the shop's URL; others: API base
    sweep_minutes: int = Field(default=15, alias="sweepMinutes", ge=1, le=1440)
    initial_lookback_hours: int = Field(default=24, alias="initialLookbackHours", ge=0, le=24 * 90)
    overlap_seconds: int = Field(
        default=300, alias="overlapSeconds", ge=0, le=86400
    )  # clock skew with the cart
    max_pages_per_run: int = Field(default=50, alias="maxPagesPerRun", ge=1, le=10_000)
    # the carrier a shop ships with, for carts whose shipments carry a tracking number but no carrier name
    # (カラーミー): lets enishi build the Yamato / Sagawa / Japan Post link. None: no link is guessed.
    default_carrier: str | None = Field(default=None, alias="defaultCarrier", max_length=64)

    @field_validator("base_url")
    @classmethod
    def _tls_unless_local(cls, value: str) -> str:
        """Tokens travel in every request: plain http only to this machine (the local fakes)."""
        from urllib.parse import urlsplit

        url = urlsplit(value)
        if url.scheme != "https" and url.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("baseUrl must be https (plain http only for 127.0.0.1 / localhost)")
        return value

    @property
    def pushes(self) -> bool:
        return self.cart in PUSH_CARTS

    def to_env(self) -> str:
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"))

    @classmethod
    def from_env(cls, raw: str) -> CartConnection:
        return cls.model_validate_json(raw)


def cart_module(cart: str) -> Any:
    return importlib.import_module(CART_MODULES[cart])


T = TypeVar("T")


class PerConnection(Generic[T]):
    """A handler's dependency container, one per cart connection. On AWS a container serves one connection; the
    local stack runs every connection's function in one process, so the cache is keyed by the connection's
    settings in the environment. ``reset()`` is what tests and the local stack call instead of reloading."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._cache: dict[tuple[str, str], T] = {}

    def get(self) -> T:
        key = (os.environ.get(c.ENV_CART_CONNECTION, ""), os.environ.get(c.ENV_CART_SECRET_ARN, ""))
        if key not in self._cache:
            self._cache[key] = self._build()
        return self._cache[key]

    def reset(self) -> None:
        self._cache.clear()
