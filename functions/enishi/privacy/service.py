"""The privacy job's service: run one ``Job`` slice through its ports, return what it did and the next slice.

Ports (injected; the handler wires boto3): ``store`` (``PrivacyStore``: find, export, erase a customer), ``eraser``
(``ShopEraser``: slices of a shop redaction), ``exports`` (puts the export document in the privacy bucket),
``notify`` (the operator's SNS topic). Dispatch by the job's kind through ``RUNNERS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from enishi import keys
from enishi.aws_errors import lost_condition
from enishi.privacy import jobs
from enishi.privacy.jobs import Job
from enishi.privacy.shop_data import ShopEraser, ShopExecutions, shop_prefixes
from enishi.privacy.store import CustomerNotFound, PrivacyStore

ERASE_ATTEMPTS = 3


class ExportSink(Protocol):
    bucket: str

    def put(self, key: str, body: bytes) -> None: ...


@dataclass
class Done:
    """What one slice did (ids and counts only: safe to log) and the slice that continues it."""

    job: Job
    counts: dict[str, int] = field(default_factory=dict)
    next: Job | None = None
    export_key: str | None = None


@dataclass
class PrivacyService:
    store: PrivacyStore
    eraser: ShopEraser
    exports: ExportSink
    notify: Callable[[dict[str, Any]], None]
    cart_connections: dict[str, list[str]] = field(default_factory=dict)  # shop → polled connection ids
    owned_sources: dict[str, frozenset[str]] = field(default_factory=dict)  # shop → raw sources it owns
    executions: ShopExecutions | None = None  # the sequence machines (None: nothing to stop)

    def run(self, job: Job) -> Done:
        return RUNNERS[job.kind](self, job)

    # ------------------------------------------------------------ one customer

    def _customer_id(self, job: Job) -> str:
        """The profile the request is about: the cart's id if enishi knows it, else the guest of its email."""
        if job.customer_id and self.store.profile_exists(job.shop, job.customer_id):
            return job.customer_id
        try:
            return self.store.resolve(job.shop, email=job.email)
        except CustomerNotFound:
            return job.customer_id or keys.guest_customer_id(job.email or "")

    def export(self, job: Job) -> Done:
        """customers/data_request: ``enishi customer export``'s document, kept encrypted; the operator told."""
        holdings = self.store.holdings(job.shop, self._customer_id(job))
        document = self.store.export(holdings)
        document["request"] = {"data_request_id": job.request_id, "event_id": job.event_id}
        key = jobs.export_key(job.shop, job.event_id)
        body = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")
        self.exports.put(key, body)
        sections = {
            name: len(value)
            for name, value in document.items()
            if isinstance(value, list) and name != "customer_ids"
        }
        self.notify(jobs.notification(job, self.exports.bucket, key, sections))
        return Done(job, counts=sections, export_key=key)

    def erase(self, job: Job) -> Done:
        """customers/redact: ``enishi customer erase`` (table scan and kept raw payloads included). The profile
        consumer redacts the same profile at the same time: a lost version race re-reads and erases again."""
        for attempt in range(1, ERASE_ATTEMPTS + 1):
            holdings = self.store.holdings(job.shop, self._customer_id(job))
            try:
                return Done(job, counts=self.store.erase(holdings, datetime.fromisoformat(job.received_at)))
            except Exception as exc:
                if not lost_condition(exc) or attempt == ERASE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ a whole shop

    def table(self, job: Job) -> Done:
        prefixes = shop_prefixes(job.shop, self.cart_connections.get(job.shop, ()))
        start = job.cursor if isinstance(job.cursor, dict) else None
        deleted, last = self.eraser.table_slice(prefixes, job.segment, job.total_segments, start)
        return Done(job, counts={"items": deleted}, next=job.after(last))

    def raw(self, job: Job) -> Done:
        owned = self.owned_sources.get(job.shop, frozenset())
        token = job.cursor if isinstance(job.cursor, str) else None
        deleted, token = self.eraser.raw_slice(job.shop, owned, token)
        return Done(job, counts={"raw_payloads": deleted}, next=job.after(token))

    def exports_(self, job: Job) -> Done:
        token = job.cursor if isinstance(job.cursor, str) else None
        deleted, token = self.eraser.exports_slice(jobs.exports_prefix(job.shop), token)
        return Done(job, counts={"exports": deleted}, next=job.after(token))

    def executions_(self, job: Job) -> Done:
        if self.executions is None:
            return Done(job, counts={"executions": 0})
        cursor = job.cursor if isinstance(job.cursor, dict) else None
        stopped, cursor = self.executions.stop_slice(job.shop, cursor)
        return Done(job, counts={"executions": stopped}, next=job.after(cursor))


RUNNERS: dict[str, Callable[[PrivacyService, Job], Done]] = {
    "export": PrivacyService.export,
    "erase": PrivacyService.erase,
    "table": PrivacyService.table,
    "raw": PrivacyService.raw,
    "exports": PrivacyService.exports_,
    "executions": PrivacyService.executions_,
}
