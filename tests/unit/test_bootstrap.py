"""enishi.bootstrap: settings composed from shared pieces, containers built once, one reset for all of them."""

from __future__ import annotations

import threading

import pytest
from pydantic import ValidationError

from enishi import bootstrap
from enishi import constants as c


class _Settings(bootstrap.TableSettings, bootstrap.BusSettings, bootstrap.LineApiSettings):
    pass


def test_settings_compose_the_pieces_by_their_deployed_names(monkeypatch) -> None:
    monkeypatch.setenv(c.ENV_TABLE_NAME, "t")
    monkeypatch.delenv(c.ENV_EVENT_BUS_NAME, raising=False)
    monkeypatch.delenv(c.ENV_LINE_API_BASE_URL, raising=False)
    settings = bootstrap.settings(_Settings)
    assert (settings.table_name, settings.event_bus_name, settings.line_api_base_url) == (
        "t",
        c.EVENT_BUS_NAME,
        c.LINE_API_BASE_URL,
    )


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_or_empty_table_name_is_refused_at_cold_start(monkeypatch, value) -> None:
    if value is None:
        monkeypatch.delenv(c.ENV_TABLE_NAME, raising=False)
    else:
        monkeypatch.setenv(c.ENV_TABLE_NAME, value)
    with pytest.raises(ValidationError):
        bootstrap.settings(_Settings)


def test_a_container_builds_once_until_reset_all() -> None:
    built: list[object] = []

    @bootstrap.container
    def deps() -> object:
        built.append(object())
        return built[-1]

    assert deps() is deps() is built[0]
    bootstrap.reset_all()
    assert deps() is built[1] and len(built) == 2


def test_a_container_builds_once_under_concurrent_first_calls() -> None:
    built: list[int] = []
    gate = threading.Barrier(8)

    @bootstrap.container
    def deps() -> int:
        built.append(1)
        return len(built)

    def call() -> None:
        gate.wait()
        deps()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1]


def test_a_container_per_environment_keeps_one_value_per_value_of_its_variables(monkeypatch) -> None:
    @bootstrap.container_per(c.ENV_CART_CONNECTION)
    def deps() -> object:
        return object()

    monkeypatch.setenv(c.ENV_CART_CONNECTION, "a")
    a = deps()
    monkeypatch.setenv(c.ENV_CART_CONNECTION, "b")
    b = deps()
    assert a is not b and deps() is b
    monkeypatch.setenv(c.ENV_CART_CONNECTION, "a")
    assert deps() is a
    bootstrap.reset_all()
    assert deps() is not a


def test_reset_all_runs_every_registered_reset() -> None:
    calls: list[str] = []
    bootstrap.on_reset(lambda: calls.append("cache"))
    bootstrap.reset_all()
    assert calls == ["cache"]
