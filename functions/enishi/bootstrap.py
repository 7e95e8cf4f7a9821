"""One start-up for every handler: typed settings built from shared pieces, one cached container, one reset.

A handler module declares its settings by composing the pieces it needs and its dependencies by one builder::

    class Settings(bootstrap.TableSettings, bootstrap.BusSettings):
        pass

    @bootstrap.container
    def deps() -> Deps:
        settings = bootstrap.settings(Settings)
        return Deps(...)

``deps()`` builds once per cold start and returns the same object after that. ``bootstrap.reset_all()`` forgets
every container (and the other cold-start caches registered with ``on_reset``): tests and the local stack call it
after changing the environment instead of reloading modules.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from enishi import constants as c

T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)


class BaseSettings(BaseModel):
    """Environment variables by their deployed names (``alias``); unknown variables are ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class TableSettings(BaseSettings):
    table_name: str = Field(alias=c.ENV_TABLE_NAME, min_length=1)


class BusSettings(BaseSettings):
    event_bus_name: str = Field(c.EVENT_BUS_NAME, alias=c.ENV_EVENT_BUS_NAME, min_length=1)


class ShopConfigSettings(BaseSettings):
    shop_config_dir: str | None = Field(default=None, alias=c.ENV_SHOP_CONFIG_DIR)


class RawBucketSettings(BaseSettings):
    """The bucket that keeps authentic payloads nothing could process (``raw_payloads``)."""

    raw_bucket_name: str = Field(alias=c.ENV_RAW_BUCKET_NAME, min_length=1)


class LineSecretSettings(BaseSettings):
    """The LINE channel's secret (JSON ``{"channel_secret", "channel_access_token"}``)."""

    line_secret_arn: str = Field(alias=c.ENV_LINE_SECRET_ARN, min_length=1)


class LineApiSettings(BaseSettings):
    """Where the Messaging API is (the local stack points it at its fake)."""

    line_api_base_url: str = Field(default=c.LINE_API_BASE_URL, alias=c.ENV_LINE_API_BASE_URL)


class UnsubscribeSecretSettings(BaseSettings):
    """The keys that sign unsubscribe tokens (``secrets.rotation_secrets``: current, previous, retired)."""

    unsubscribe_secret_arn: str = Field(alias=c.ENV_UNSUBSCRIBE_SECRET_ARN, min_length=1)


class PublicBaseUrlSettings(BaseSettings):
    """The API's public ``https://…/`` (unsubscribe links); absent: no link is made."""

    public_base_url: str | None = Field(default=None, alias=c.ENV_PUBLIC_BASE_URL)


class CartConnectionSettings(BaseSettings):
    """A polled cart's connection (``polling.contract.CartConnection`` as JSON) and its OAuth secret."""

    connection: str = Field(alias=c.ENV_CART_CONNECTION, min_length=2)
    secret_arn: str = Field(alias=c.ENV_CART_SECRET_ARN, min_length=1)


def settings(model: type[S]) -> S:
    """The model validated from the process environment (raises ``pydantic.ValidationError`` when incomplete)."""
    return model.model_validate(dict(os.environ))


class Container(Generic[T]):
    """A builder called once; ``reset()`` makes the next call build again. Thread-safe."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None
        self._built = False
        self.__doc__ = build.__doc__
        self.__name__ = getattr(build, "__name__", "container")

    def __call__(self) -> T:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._value = self._build()
                    self._built = True
        return self._value  # type: ignore[return-value]

    def reset(self) -> None:
        with self._lock:
            self._value = None
            self._built = False


class PerEnvironment(Generic[T]):
    """One built value per value of some environment variables; ``reset()`` forgets them all. Thread-safe.

    On AWS a process serves one function. The local stack runs several functions of one module in one process
    (a polled cart's poller per connection), each under its own environment: they must not share a container."""

    def __init__(self, build: Callable[[], T], names: tuple[str, ...]) -> None:
        self._build = build
        self._names = names
        self._lock = threading.Lock()
        self._values: dict[tuple[str, ...], T] = {}
        self.__doc__ = build.__doc__
        self.__name__ = getattr(build, "__name__", "container")

    def __call__(self) -> T:
        key = tuple(os.environ.get(name, "") for name in self._names)
        with self._lock:
            if key not in self._values:
                self._values[key] = self._build()
            return self._values[key]

    def reset(self) -> None:
        with self._lock:
            self._values.clear()


_resets: list[Callable[[], None]] = []


def container(build: Callable[[], T]) -> Container[T]:
    """Decorator: the handler's dependency container (registered for ``reset_all``)."""
    made = Container(build)
    _resets.append(made.reset)
    return made


def container_per(*names: str) -> Callable[[Callable[[], T]], PerEnvironment[T]]:
    """Decorator: like ``container``, but one container per value of the environment variables ``names``
    (registered for ``reset_all``)."""

    def decorate(build: Callable[[], T]) -> PerEnvironment[T]:
        made = PerEnvironment(build, names)
        _resets.append(made.reset)
        return made

    return decorate


def on_reset(reset: Callable[[], None]) -> Callable[[], None]:
    """Register another cold-start cache (e.g. ``functools.cache(...).cache_clear``) to be forgotten by
    ``reset_all``."""
    _resets.append(reset)
    return reset


def reset_all() -> None:
    """Forget every handler's cold-start state (settings, clients, ports) in this process."""
    for reset in list(_resets):
        reset()
