"""The import's adapter: spill the streamed records to a temporary SQLite file (memory stays flat whatever the
export's size), then write to the table in paced batches.

Order of writes (a crash anywhere is safe to re-run; every write is idempotent):

1. **order items** (``profiles.layout.order_to_item``: a placed order joins the ``orders_by_day`` index the win-back
   job reads) — ``BatchWriteItem`` of the items that differ from what is stored; an order the live system already
   recorded (an item without ``imported``) is left alone and not counted again;
2. per customer: **consent ledger** records (conditional put, never overwritten) → **profile** (conditional on
   ``version``, only when it changed) → **email lookup** (only when absent).

Nothing is published: no sequence starts for the past. Throttling (``ProvisionedThroughputExceededException``,
``ThrottlingException``, ``RequestLimitExceeded``) and a batch's ``UnprocessedItems`` are retried with full-jitter
exponential backoff.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from enishi import consent as rule
from enishi import keys
from enishi.aws_errors import error_code, lost_condition
from enishi.history import build
from enishi.history.sources import ImportedCustomer, ImportedLine, ImportedOrder
from enishi.profiles.layout import order_to_item, profile_put
from enishi.profiles.layout import profile_from_item as _profile
from enishi.profiles.model import Profile, StageThresholds
from enishi.profiles.serialize import iso, to_item

THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
    }
)
BATCH_WRITE_MAX = 25
BATCH_GET_MAX = 100
MAX_RETRIES = 10


@dataclass
class Pacer:
    """Full-jitter exponential backoff on throttling (``sleep`` injected for tests)."""

    base: float = 0.05
    cap: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    retries: int = 0

    def wait(self, attempt: int) -> None:
        self.retries += 1
        self.sleep(random.uniform(0, min(self.cap, self.base * 2**attempt)))

    def call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        for attempt in range(MAX_RETRIES):
            try:
                return fn(**kwargs)
            except Exception as exc:
                if error_code(exc) not in THROTTLED or attempt == MAX_RETRIES - 1:
                    raise
                self.wait(attempt)
        raise AssertionError("unreachable")


@dataclass
class ImportStats:
    orders_read: int = 0
    orders_written: int = 0
    orders_live: int = 0  # already recorded by the live system: not counted again
    customers_read: int = 0
    profiles_written: int = 0
    consents_written: int = 0
    lookups_written: int = 0
    retries: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Spill:
    """Temporary SQLite file: orders by customer and customers by id, so the load pass reads one customer at a time."""

    def __init__(self, directory: str | None = None) -> None:
        fd, self.path = tempfile.mkstemp(prefix="enishi-import-", suffix=".sqlite", dir=directory)
        os.close(fd)
        self.db = sqlite3.connect(self.path)
        self.db.executescript("""
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8000;
            CREATE TABLE orders (owner TEXT, order_id TEXT PRIMARY KEY, placed_at TEXT, body TEXT);
            CREATE TABLE customers (customer_id TEXT PRIMARY KEY, body TEXT);
        """)

    def add_order(self, order: ImportedOrder) -> None:
        body = json.dumps({**asdict(order), "lines": []}, default=str)
        self.db.execute(
            "INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?)",
            (order.owner, order.order_id, iso(order.placed_at), body),
        )

    def add_customer(self, customer: ImportedCustomer) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO customers VALUES (?, ?)",
            (customer.customer_id, json.dumps(asdict(customer), default=str)),
        )

    def owners(self) -> Iterator[tuple[str, ImportedCustomer | None, list[ImportedOrder]]]:
        """Every customer (with a record, orders or both), its record and its orders by time."""
        self.db.execute("CREATE INDEX IF NOT EXISTS orders_by_owner ON orders (owner, placed_at, order_id)")
        query = """
            SELECT owner FROM orders WHERE owner IS NOT NULL UNION SELECT customer_id FROM customers ORDER BY 1"""
        cursor = self.db.execute(query)
        while True:
            rows = cursor.fetchmany(500)
            if not rows:
                return
            for (owner,) in rows:
                row = self.db.execute("SELECT body FROM customers WHERE customer_id = ?", (owner,)).fetchone()
                customer = _customer(json.loads(row[0])) if row else None
                orders = [
                    _order(json.loads(b))
                    for (b,) in self.db.execute(
                        "SELECT body FROM orders WHERE owner = ? ORDER BY placed_at, order_id", (owner,)
                    )
                ]
                yield owner, customer, orders

    def close(self) -> None:
        self.db.close()
        os.unlink(self.path)


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _customer(d: dict[str, Any]) -> ImportedCustomer:
    for name in ("created_at", "updated_at", "consent_at"):
        d[name] = _dt(d.get(name))
    return ImportedCustomer(**d)


def _order(d: dict[str, Any]) -> ImportedOrder:
    d.update(
        placed_at=_dt(d["placed_at"]),
        cancelled_at=_dt(d.get("cancelled_at")),
        total=Decimal(d["total"]),
        lines=tuple(ImportedLine(**x) for x in d.get("lines", [])),
    )
    return ImportedOrder(**d)


class _Conflict(Exception):
    pass


class Importer:
    """``table``: a boto3 DynamoDB ``Table`` resource (its ``meta.client`` makes the batch calls)."""

    def __init__(
        self,
        table: Any,
        shop: str,
        *,
        exported_at: datetime,
        stages: StageThresholds | None = None,
        pacer: Pacer | None = None,
        spill_dir: str | None = None,
    ) -> None:
        self._table = table
        self._shop = shop
        self._exported_at = exported_at
        self._stages = stages or StageThresholds()
        self._pacer = pacer or Pacer()
        self._spill_dir = spill_dir
        self.stats = ImportStats()

    # ------------------------------------------------------------ entry point

    def run(self, records: Iterable[ImportedCustomer | ImportedOrder]) -> ImportStats:
        started = time.monotonic()
        spill = Spill(self._spill_dir)
        try:
            batch: list[ImportedOrder] = []
            for record in records:
                if isinstance(record, ImportedOrder):
                    self.stats.orders_read += 1
                    batch.append(record)
                    if len(batch) >= BATCH_GET_MAX:
                        self._orders(batch, spill)
                        batch = []
                else:
                    self.stats.customers_read += 1
                    spill.add_customer(record)
            self._orders(batch, spill)
            spill.db.commit()
            for owner, customer, orders in spill.owners():
                self._customer(owner, customer, orders)
        finally:
            spill.close()
        self.stats.retries = self._pacer.retries
        self.stats.seconds = round(time.monotonic() - started, 3)
        return self.stats

    # ------------------------------------------------------------ orders

    def _orders(self, orders: list[ImportedOrder], spill: Spill) -> None:
        if not orders:
            return
        unique = list({o.order_id: o for o in orders}.values())
        stored = {
            item["pk"]: item
            for item in self._batch_get([keys.order_key(self._shop, o.order_id) for o in unique])
        }
        puts: list[dict[str, Any]] = []
        for order in unique:
            key = keys.order_key(self._shop, order.order_id)
            old = stored.get(key["pk"])
            if old is not None and not old.get("imported"):
                self.stats.orders_live += 1  # the live system recorded it (and counted it): leave it
                continue
            if order.owner is None:
                continue  # neither a customer nor an email: nothing to attach it to
            spill.add_order(order)
            item = {**order_to_item(build.order_item(self._shop, order)), "imported": True}
            if old != item:
                puts.append(item)
        self._batch_write(puts)
        self.stats.orders_written += len(puts)

    # ------------------------------------------------------------ customers

    def _customer(self, owner: str, customer: ImportedCustomer | None, orders: list[ImportedOrder]) -> None:
        """A live event changing the profile meanwhile makes the versioned put fail: read and compute again."""
        for attempt in range(MAX_RETRIES):
            try:
                return self._customer_once(owner, customer, orders)
            except _Conflict:
                self._pacer.wait(attempt)
        raise RuntimeError(f"profile {owner}: still conflicting after {MAX_RETRIES} attempts")

    def _customer_once(
        self, owner: str, customer: ImportedCustomer | None, orders: list[ImportedOrder]
    ) -> None:
        history = build.History()
        for order in orders:
            history.add(order)
        guest = customer is None and owner.startswith("guest-")
        if customer is None:
            email = next((o.email for o in orders if o.email), None)
            customer = ImportedCustomer(customer_id=owner, email=email) if email else None
        raw = self._get(keys.profile_key(self._shop, owner))
        if raw and raw.get("merged_into"):
            return  # a guest already merged into its customer: the customer holds its history
        existing = _profile(raw) if raw else None
        prior = build.import_marker(raw)
        new, contributed = build.profile_after_import(
            existing,
            prior,
            self._shop,
            owner,
            customer,
            history,
            self._exported_at,
            self._stages,
            guest=guest,
        )
        consent = build.consent_of(customer, self._exported_at) if customer is not None else None
        if consent is not None and not (
            new.redacted_at is not None and consent.collected_at <= new.redacted_at
        ):
            self._ledger(owner, consent)
        if not (build.same_profile(existing, new) and prior == contributed):
            self._put_profile(new, existing, raw, contributed)
        if new.email and not new.redacted:
            key = keys.email_lookup_key(self._shop, keys.email_hash(new.email))
            if self._get(key) is None:
                self._put_once({**key, "customer_id": owner})
                self.stats.lookups_written += 1

    def _ledger(self, customer_id: str, consent: Any) -> None:
        key = keys.consent_ledger_key(
            self._shop, customer_id, iso(consent.collected_at), consent.channel, rule.digest(consent)
        )
        if self._get(key) is not None:
            return
        item = to_item(
            consent,
            key,
            {
                "shop": self._shop,
                "customer_id": customer_id,
                "event_id": f"import:{iso(self._exported_at)}",
                "recorded_at": iso(self._exported_at),
            },
        )
        if self._put_once(item):
            self.stats.consents_written += 1

    def _put_profile(
        self,
        new: Profile,
        old: Profile | None,
        old_raw: dict[str, Any] | None,
        contributed: tuple[int, Decimal],
    ) -> None:
        item, condition = profile_put(new, old, old_raw)
        item.update(import_orders=contributed[0], import_spent=contributed[1])
        try:
            self._pacer.call(self._table.put_item, Item=item, **condition)
        except Exception as exc:
            if lost_condition(exc):
                raise _Conflict(new.customer_id) from exc
            raise
        self.stats.profiles_written += 1

    # ------------------------------------------------------------ DynamoDB, paced

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        return self._pacer.call(self._table.get_item, Key=key, ConsistentRead=True).get("Item")

    def _put_once(self, item: dict[str, Any]) -> bool:
        try:
            self._pacer.call(self._table.put_item, Item=item, ConditionExpression="attribute_not_exists(pk)")
            return True
        except Exception as exc:
            if not lost_condition(exc):
                raise
            return False

    def _batch_get(self, key_list: list[dict[str, str]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        name = self._table.name
        request: dict[str, Any] = {name: {"Keys": key_list, "ConsistentRead": True}}
        attempt = 0
        while request:
            resp = self._pacer.call(self._table.meta.client.batch_get_item, RequestItems=request)
            out.extend(resp.get("Responses", {}).get(name, []))
            request = resp.get("UnprocessedKeys") or {}
            if request:
                self._pacer.wait(attempt)
                attempt += 1
        return out

    def _batch_write(self, items: list[dict[str, Any]]) -> None:
        """``BatchWriteItem`` through the resource's client (it serializes Python values); ``UnprocessedItems`` are
        sent again after a backoff until none remain."""
        client = self._table.meta.client
        name = self._table.name
        for i in range(0, len(items), BATCH_WRITE_MAX):
            request: dict[str, Any] = {
                name: [{"PutRequest": {"Item": it}} for it in items[i : i + BATCH_WRITE_MAX]]
            }
            attempt = 0
            while request:
                resp = self._pacer.call(client.batch_write_item, RequestItems=request)
                request = resp.get("UnprocessedItems") or {}
                if request:
                    self._pacer.wait(attempt)
                    attempt += 1
