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
    table_name: str = Field(alias=c.ENV_TABLE_NAME)


class BusSettings(BaseSettings):
    event_bus_name: str = Field(c.EVENT_BUS_NAME, alias=c.ENV_EVENT_BUS_NAME)


class ShopConfigSettings(BaseSettings):
    shop_config_dir: str | None = Field(default=None, alias=c.ENV_SHOP_CONFIG_DIR)


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


_resets: list[Callable[[], None]] = []


def container(build: Callable[[], T]) -> Container[T]:
    """Decorator: the handler's dependency container (registered for ``reset_all``)."""
    made = Container(build)
    _resets.append(made.reset)
    return made


def on_reset(reset: Callable[[], None]) -> Callable[[], None]:
    """Register another cold-start cache (e.g. ``functools.cache(...).cache_clear``) to be forgotten by
    ``reset_all``."""
    _resets.append(reset)
    return reset


def reset_all() -> None:
    """Forget every handler's cold-start state (settings, clients, ports) in this process."""
    for reset in list(_resets):
        reset()
