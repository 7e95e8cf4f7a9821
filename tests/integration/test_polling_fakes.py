"""Polled carts against the local fakes of their APIs: pagination, cursor resume after a crash, 429 with backoff,
a token that expires in the middle of a sweep (refresh-token rotation), a missed EC-CUBE webhook caught by the sweep,
and a checkout-start order that completes later yielding exactly one order.placed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from enishi.carts import colorme, eccube
from enishi.polling import service
from enishi.polling.contract import CartConnection
from enishi.polling.http import CartApi, OAuthSecret, TokenManager
from enishi.polling.planner import StreamCursor
from enishi.publish import InMemoryPublisher
from enishi_local.fake_carts import DEFAULT_COLORME_TOKEN, FakeColorme, FakeEccube

SHOP = "enishi-chabo"


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


class Vault:
    def __init__(self, secret: OAuthSecret) -> None:
        self.secret = secret
        self.saves = 0

    def load(self) -> OAuthSecret:
        return self.secret

    def save(self, secret: OAuthSecret) -> None:
        self.secret = secret
        self.saves += 1


class Cursors:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], StreamCursor] = {}

    def load(self, connection_id: str, stream: str) -> StreamCursor:
        return self.items.get((connection_id, stream), StreamCursor())

    def save(self, connection_id: str, stream: str, cursor: StreamCursor) -> None:
        self.items[(connection_id, stream)] = cursor


class Claims:
    def __init__(self) -> None:
        self.ids: set[str] = set()

    def claim(self, shop: str, source: str, event_id: str, expires_at: datetime) -> bool:
        if event_id in self.ids:
            return False
        self.ids.add(event_id)
        return True

    def seen(self, shop: str, source: str, event_id: str) -> bool:
        return event_id in self.ids


class Raw:
    def __init__(self) -> None:
        self.kept: list[Any] = []

    def keep(self, cart: str, record: Any, reason: str, details: Any, received_at: datetime) -> str:
        self.kept.append(record)
        return f"raw/{cart}/{len(self.kept)}"


class Crash(Exception):
    pass


class CrashingPublisher(InMemoryPublisher):
    """Publishes ``ok`` batches, then the process dies (like a Lambda timeout)."""

    def __init__(self, ok: int) -> None:
        super().__init__()
        self.ok = ok

    def publish(self, events: Any) -> None:
        if self.ok <= 0:
            raise Crash()
        self.ok -= 1
        super().publish(events)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shop(clock: Clock):
    with FakeEccube(now=clock) as fake:
        yield fake


def eccube_setup(
    fake: FakeEccube,
    clock: Clock,
    *,
    sleeps: list[float] | None = None,
    publisher: InMemoryPublisher | None = None,
    cursors: Cursors | None = None,
    claims: Claims | None = None,
    vault: Vault | None = None,
) -> tuple[CartConnection, service.Ports, Any]:
    connection = CartConnection(
        id="eccube-main",
        cart="eccube",
        shop_id=SHOP,
        base_url=fake.url,
        initial_lookback_hours=24,
        overlap_seconds=60,
    )
    if vault is None:
        tokens = fake._issue()
        vault = Vault(
            OAuthSecret(
                client_id=fake.client_id,
                client_secret=fake.client_secret,
                access_token=tokens["access_token"],
                refresh_token=tokens["refresh_token"],
                expires_at=clock() + timedelta(seconds=tokens["expires_in"]),
                token_url=eccube.token_url(fake.url),
                webhook_secret="s" * 32,
            )
        )
    manager = TokenManager(vault, now=clock)
    recorded = sleeps if sleeps is not None else []
    api = CartApi(eccube.api_base(connection), tokens=manager, sleep=recorded.append)
    ports = service.Ports(
        api=api,
        cursors=cursors or Cursors(),
        claims=claims or Claims(),
        publisher=publisher or InMemoryPublisher(),
        raw=Raw(),
    )
    return connection, ports, manager


def placed(publisher: InMemoryPublisher) -> list[str]:
    return [e.order_id for e in publisher.published if e.type == "order.placed"]


def test_checkout_start_then_completion_yields_exactly_one_order_placed(
    shop: FakeEccube, clock: Clock
) -> None:
    connection, ports, _ = eccube_setup(shop, clock)
    cid = shop.put_customer("hanako@example.jp")
    oid = shop.start_checkout("hanako@example.jp", customer_id=cid)  # status 8
    notes = [{"entity": "order", "id": oid, "action": "created"}]
    service.fetch_notified(connection, eccube, notes, ports, clock())
    service.sweep(connection, eccube, ports, clock())
    assert placed(ports.publisher) == []  # 購入処理中 is not a purchase, neither by webhook nor by sweep

    clock.advance(minutes=3)
    shop.complete(oid, status=1)
    service.fetch_notified(
        connection, eccube, [{"entity": "order", "id": oid, "action": "updated"}], ports, clock()
    )
    clock.advance(minutes=15)
    shop.set_status(oid, 6)  # 入金済み: still the same purchase
    service.fetch_notified(
        connection, eccube, [{"entity": "order", "id": oid, "action": "updated"}], ports, clock()
    )
    service.sweep(connection, eccube, ports, clock())
    assert placed(ports.publisher) == [oid]


def test_missed_webhook_is_caught_up_by_the_sweep(shop: FakeEccube, clock: Clock) -> None:
    connection, ports, _ = eccube_setup(shop, clock)
    service.sweep(connection, eccube, ports, clock())  # first sweep: nothing yet, watermark set
    clock.advance(minutes=5)
    oid = shop.start_checkout("guest@example.jp")
    shop.complete(oid)
    # EC-CUBE's webhook failed (timeout, enishi down): EC-CUBE never retries. The next sweep finds the order.
    clock.advance(minutes=15)
    report = service.sweep(connection, eccube, ports, clock())
    assert placed(ports.publisher) == [oid]
    assert report.finished == ["customers", "orders"]
    # and the watermark moved: an unchanged shop costs one empty page per stream
    again = service.sweep(connection, eccube, ports, clock() + timedelta(minutes=15))
    assert again.published == 0 and again.rows <= 1


def test_pagination_reads_every_order(shop: FakeEccube, clock: Clock) -> None:
    connection, ports, _ = eccube_setup(shop, clock)
    ids = []
    for n in range(eccube.PAGE_SIZE * 2 + 7):
        oid = shop.start_checkout(f"buyer{n}@example.jp")
        shop.complete(oid)
        ids.append(oid)
    report = service.sweep(connection, eccube, ports, clock() + timedelta(minutes=1))
    assert sorted(placed(ports.publisher), key=int) == ids
    assert report.pages == 1 + 3  # customers (empty) + 3 order pages


def test_crash_mid_sweep_resumes_at_the_saved_page_and_publishes_nothing_twice(
    shop: FakeEccube, clock: Clock
) -> None:
    cursors, claims = Cursors(), Claims()
    for n in range(eccube.PAGE_SIZE * 3):
        shop.complete(shop.start_checkout(f"buyer{n}@example.jp"))
    crashing = CrashingPublisher(ok=2)  # pages 1 and 2 of orders published, then the function dies
    connection, ports, _ = eccube_setup(shop, clock, publisher=crashing, cursors=cursors, claims=claims)
    with pytest.raises(Crash):
        service.sweep(connection, eccube, ports, clock())
    saved = cursors.load("eccube-main", "orders")
    assert saved.in_progress and saved.next_page == 3
    first = placed(crashing)
    assert len(first) == eccube.PAGE_SIZE * 2

    clock.advance(minutes=15)
    shop.complete(
        shop.start_checkout("late@example.jp")
    )  # a new order moves to the front: pages shift by one
    resumed = InMemoryPublisher()
    connection, ports, _ = eccube_setup(shop, clock, publisher=resumed, cursors=cursors, claims=claims)
    service.sweep(connection, eccube, ports, clock())
    second = placed(resumed)
    every = first + second
    assert len(every) == len(set(every))  # nothing published twice
    assert set(every) >= {str(i) for i in range(1, eccube.PAGE_SIZE * 3 + 1)}  # nothing missed
    assert not cursors.load("eccube-main", "orders").in_progress


def test_429_backs_off_and_the_sweep_goes_on(shop: FakeEccube, clock: Clock) -> None:
    sleeps: list[float] = []
    connection, ports, _ = eccube_setup(shop, clock, sleeps=sleeps)
    shop.complete(shop.start_checkout("a@example.jp"))
    shop.fail_next(2, 429, retry_after=None)
    service.sweep(connection, eccube, ports, clock() + timedelta(minutes=1))
    assert len(placed(ports.publisher)) == 1
    assert sleeps[:2] == [1.0, 2.0]  # exponential, no Retry-After given


def test_429_that_persists_stops_the_run_with_the_cursor_saved(shop: FakeEccube, clock: Clock) -> None:
    cursors = Cursors()
    sleeps: list[float] = []
    connection, ports, _ = eccube_setup(shop, clock, sleeps=sleeps, cursors=cursors)
    shop.complete(shop.start_checkout("a@example.jp"))
    shop.fail_next(10, 429, retry_after="7")
    report = service.sweep(connection, eccube, ports, clock() + timedelta(minutes=1))
    assert report.stopped and report.stopped.startswith("cart_unavailable")
    assert sleeps == [7.0] * 5  # Retry-After honoured
    assert cursors.load("eccube-main", "customers").in_progress  # resumes there next run
    shop.fail_next(0)
    shop._faults.clear()
    service.sweep(connection, eccube, ports, clock() + timedelta(minutes=16))
    assert len(placed(ports.publisher)) == 1


def test_token_expiring_mid_sweep_is_refreshed_and_the_rotated_refresh_token_saved(
    shop: FakeEccube, clock: Clock
) -> None:
    connection, ports, manager = eccube_setup(shop, clock)
    for n in range(eccube.PAGE_SIZE * 2 + 1):
        shop.complete(shop.start_checkout(f"buyer{n}@example.jp"))
    vault: Vault = manager._vault  # type: ignore[assignment]
    old_refresh = vault.secret.refresh_token
    shop.expire_tokens_after(2)  # the token dies after the customers page and the first orders page
    service.sweep(connection, eccube, ports, clock() + timedelta(minutes=1))
    assert len(placed(ports.publisher)) == eccube.PAGE_SIZE * 2 + 1
    assert shop.refreshes == 1 and vault.saves == 1
    assert vault.secret.refresh_token != old_refresh  # rotated, and saved before it was used


def test_token_refreshed_before_it_expires(shop: FakeEccube, clock: Clock) -> None:
    connection, ports, manager = eccube_setup(shop, clock)
    clock.advance(minutes=57)  # 3 minutes left (< the 5-minute margin)
    service.sweep(connection, eccube, ports, clock())
    assert shop.refreshes == 1
    assert manager.secret.expires_at and manager.secret.expires_at > clock() + timedelta(minutes=30)


def test_refresh_token_rotated_by_another_run_is_reloaded(shop: FakeEccube, clock: Clock) -> None:
    _connection, _ports, manager = eccube_setup(shop, clock)
    vault: Vault = manager._vault  # type: ignore[assignment]
    stale = manager.secret  # this run loaded the secret...
    other = TokenManager(vault, now=clock)
    other.refresh()  # ...and another run rotated the refresh token meanwhile
    manager._secret = stale.model_copy(update={"expires_at": clock()})  # ours looks expired now
    assert manager.access_token() == vault.secret.access_token


# ---- カラーミーショップ


@pytest.fixture
def colorme_shop(clock: Clock):
    with FakeColorme(now=clock) as fake:
        yield fake


def colorme_setup(
    fake: FakeColorme,
    clock: Clock,
    sleeps: list[float],
    cursors: Cursors | None = None,
    publisher: InMemoryPublisher | None = None,
) -> tuple[CartConnection, service.Ports]:
    connection = CartConnection(
        id="colorme-main",
        cart="colorme",
        shop_id=SHOP,
        base_url=fake.url,
        default_carrier="ヤマト運輸",
        overlap_seconds=60,
    )
    vault = Vault(OAuthSecret(access_token=DEFAULT_COLORME_TOKEN))
    api = CartApi(
        colorme.api_base(connection),
        tokens=TokenManager(vault, now=clock),
        min_interval=colorme.MIN_INTERVAL_SECONDS,
        sleep=sleeps.append,
    )
    return connection, service.Ports(
        api=api,
        cursors=cursors or Cursors(),
        claims=Claims(),
        publisher=publisher or InMemoryPublisher(),
        raw=Raw(),
    )


def test_colorme_sweep_paces_pages_and_maps_consent_and_shipping(
    colorme_shop: FakeColorme, clock: Clock
) -> None:
    sleeps: list[float] = []
    connection, ports = colorme_setup(colorme_shop, clock, sleeps)
    cid = colorme_shop.put_customer("ichiro@example.jp", receive_mail_magazine=True)
    sales = [colorme_shop.order(cid) for _ in range(colorme.PAGE_SIZE + 3)]
    colorme_shop.ship(sales[0], "4012-0000-1111")
    report = service.sweep(connection, colorme, ports, clock() + timedelta(minutes=1))
    types = [e.type for e in ports.publisher.published]
    assert types.count("order.placed") == len(sales)
    assert types.count("customer.upserted") == 1
    shipped = [e for e in ports.publisher.published if e.type == "fulfillment.updated"]
    assert len(shipped) == 1 and "kuronekoyamato" in shipped[0].tracking_urls[0]
    consent = ports.publisher.published[0].email_consent
    assert consent and consent.state == "subscribed" and consent.source == "colorme"
    assert report.pages == 3  # 1 customers + 2 sales pages
    assert any(0 < s <= colorme.MIN_INTERVAL_SECONDS for s in sleeps)  # paced (120 / minute)


def test_colorme_429_and_resume(colorme_shop: FakeColorme, clock: Clock) -> None:
    sleeps: list[float] = []
    cursors = Cursors()
    connection, ports = colorme_setup(colorme_shop, clock, sleeps, cursors=cursors)
    cid = colorme_shop.put_customer("ichiro@example.jp")
    colorme_shop.order(cid)
    colorme_shop.fail_next(1, 429, retry_after="3")
    service.sweep(connection, colorme, ports, clock() + timedelta(minutes=1))
    assert 3.0 in sleeps
    assert [e.type for e in ports.publisher.published].count("order.placed") == 1
    clock.advance(minutes=20)
    sale = colorme_shop.order(cid)
    colorme_shop.cancel(sale)
    service.sweep(connection, colorme, ports, clock())
    assert [e.type for e in ports.publisher.published][-1] == "order.cancelled"


def test_shop_without_the_mailmagazine_plugin_is_still_swept(shop: FakeEccube, clock: Clock) -> None:
    shop.mailmaga_plugin = False
    connection, ports, _ = eccube_setup(shop, clock)
    cid = shop.put_customer("nomaga@example.jp", mailmaga_flg=None)
    shop.complete(shop.start_checkout("nomaga@example.jp", customer_id=cid))
    report = service.sweep(connection, eccube, ports, clock() + timedelta(minutes=1))
    assert report.finished == ["customers", "orders"]
    upserted = [e for e in ports.publisher.published if e.type == "customer.upserted"]
    assert len(upserted) == 1 and upserted[0].email_consent is None
    assert len(placed(ports.publisher)) == 1
    queries = [c["query"] for c in shop.calls]
    assert len(queries) == 3  # one refused customers query, its retry without the field, the orders page


class DyingClaims(Claims):
    """The function dies right after PutEvents succeeded, before any marker is written."""

    def claim(self, shop: str, source: str, event_id: str, expires_at: datetime) -> bool:
        raise Crash()


def test_a_run_that_dies_after_publishing_republishes_rather_than_loses(
    shop: FakeEccube, clock: Clock
) -> None:
    cursors = Cursors()
    oid = shop.start_checkout("a@example.jp")
    shop.complete(oid)
    first = InMemoryPublisher()
    connection, ports, _ = eccube_setup(shop, clock, publisher=first, cursors=cursors, claims=DyingClaims())
    with pytest.raises(Crash):
        service.sweep(connection, eccube, ports, clock() + timedelta(minutes=1))
    assert placed(first) == [oid]
    claims, second = Claims(), InMemoryPublisher()
    connection, ports, _ = eccube_setup(shop, clock, publisher=second, cursors=cursors, claims=claims)
    service.sweep(connection, eccube, ports, clock() + timedelta(minutes=16))
    assert placed(second) == [oid]  # at least once: the same event id again, consumers dedupe on it
    assert second.published[0].event_id == first.published[0].event_id


def test_a_failed_publish_records_nothing_and_the_next_run_publishes(shop: FakeEccube, clock: Clock) -> None:
    cursors, claims = Cursors(), Claims()
    shop.complete(shop.start_checkout("a@example.jp"))
    connection, ports, _ = eccube_setup(
        shop, clock, publisher=InMemoryPublisher(fail=True), cursors=cursors, claims=claims
    )
    with pytest.raises(Exception, match="fail"):
        service.sweep(connection, eccube, ports, clock() + timedelta(minutes=1))
    assert claims.ids == set()
    ok = InMemoryPublisher()
    connection, ports, _ = eccube_setup(shop, clock, publisher=ok, cursors=cursors, claims=claims)
    service.sweep(connection, eccube, ports, clock() + timedelta(minutes=16))
    assert len(placed(ok)) == 1


class Killed(BaseException):
    """The runtime killing the function (timeout, out of memory): no ``except Exception`` runs."""


class KilledPublisher(InMemoryPublisher):
    def publish(self, events: Any) -> None:
        raise Killed()


def test_a_run_killed_while_publishing_loses_nothing(shop: FakeEccube, clock: Clock) -> None:
    cursors, claims = Cursors(), Claims()
    oid = shop.start_checkout("a@example.jp")
    shop.complete(oid)
    connection, ports, _ = eccube_setup(
        shop, clock, publisher=KilledPublisher(), cursors=cursors, claims=claims
    )
    with pytest.raises(Killed):
        service.sweep(connection, eccube, ports, clock() + timedelta(minutes=1))
    after = InMemoryPublisher()
    connection, ports, _ = eccube_setup(shop, clock, publisher=after, cursors=cursors, claims=claims)
    service.sweep(connection, eccube, ports, clock() + timedelta(minutes=16))
    assert placed(after) == [oid]
