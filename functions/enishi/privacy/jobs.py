"""The privacy job's plan (pure): which slices of work a privacy webhook becomes, and what follows a slice.

A Shopify privacy topic must be acted on within 30 days, automatically. The privacy function is fed by one SQS
queue; every message is one ``Job`` — a bounded slice of work — and a slice that did not finish hands its cursor
to the next message (the function sends it to the same queue). So no invocation runs long, every slice is retried
on its own (then the DLQ, alarmed), and a shop of any size is erased by as many slices as it takes:

| event                         | jobs                                                                          |
|-------------------------------|-------------------------------------------------------------------------------|
| ``customer.data_requested``   | one ``export``: ``enishi customer export``'s document, encrypted in the privacy |
|                               | bucket; the operator notified (SNS) with its S3 key, never personal data        |
| ``customer.redact_requested`` | one ``erase``: ``enishi customer erase`` (the scan and the raw payloads the     |
|                               | profile consumer's immediate redaction cannot reach)                            |
| ``shop.redact_requested``     | ``TABLE_SEGMENTS`` ``table`` slices (a parallel Scan, one segment each, deleting |
|                               | every item of the shop), one ``raw`` (kept payloads naming the shop), one        |
|                               | ``exports`` (the shop's data-request exports) and one ``executions`` (the shop's |
|                               | waiting sequences stopped, so none wakes to write again) — each continues until  |
|                               | done                                                                             |
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from enishi import constants as c
from enishi import events as ev

TABLE_SEGMENTS = 4  # parallel Scan segments of a shop redaction (each one slice chain, one page a slice)
JOB_KEY = "privacy_job"  # an SQS body {JOB_KEY: job} is a continuation; anything else is an EventBridge event

Kind = Literal["export", "erase", "table", "raw", "exports", "executions"]


class Job(BaseModel):
    """One slice of privacy work (the body of one SQS message)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    shop: str
    event_id: str
    received_at: str  # ISO 8601: when enishi received the webhook (the 30 days run from here)
    customer_id: str | None = None
    email: str | None = None  # export/erase only: to find a guest; never logged
    request_id: str | None = None  # Shopify's data_request.id
    segment: int = 0
    total_segments: int = 1
    cursor: dict[str, Any] | str | None = None  # a Scan's LastEvaluatedKey or an S3 continuation token
    slices: int = 0  # slices done before this one

    def after(self, cursor: dict[str, Any] | str | None) -> Job | None:
        """The next slice of the same work, or None when ``cursor`` says it is done."""
        if not cursor:
            return None
        return self.model_copy(update={"cursor": cursor, "slices": self.slices + 1})

    def log_fields(self) -> dict[str, Any]:
        """Ids and counters only (safe to log): never the email."""
        return {
            "kind": self.kind,
            "event_id": self.event_id,
            "customer_id": self.customer_id,
            "segment": self.segment,
            "slices": self.slices,
        }


def _customer_job(kind: Kind, event: Any) -> list[Job]:
    return [
        Job(
            kind=kind,
            shop=event.shop,
            event_id=event.event_id,
            received_at=event.received_at.isoformat(),
            customer_id=event.customer.customer_id,
            email=event.customer.email,
            request_id=getattr(event, "request_id", None),
        )
    ]


def _shop_jobs(event: ev.ShopRedactRequested) -> list[Job]:
    def job(kind: Kind, segment: int = 0, total: int = 1) -> Job:
        return Job(
            kind=kind,
            shop=event.shop,
            event_id=event.event_id,
            received_at=event.received_at.isoformat(),
            segment=segment,
            total_segments=total,
        )

    table = [job("table", s, TABLE_SEGMENTS) for s in range(TABLE_SEGMENTS)]
    # the waiting sequences first: their first page is stopped before any table slice runs
    return [job("executions"), *table, job("raw"), job("exports")]


PLANS = {
    c.CUSTOMER_DATA_REQUESTED: lambda e: _customer_job("export", e),
    c.CUSTOMER_REDACT_REQUESTED: lambda e: _customer_job("erase", e),
    c.SHOP_REDACT_REQUESTED: _shop_jobs,
}


def plan(event: Any) -> list[Job]:
    """The jobs a canonical event starts (none for an event that is not a privacy request)."""
    make = PLANS.get(getattr(event, "type", ""))
    return make(event) if make else []


def export_key(shop: str, event_id: str) -> str:
    """Where a data request's export is kept in the privacy bucket (one per webhook: a redelivery rewrites it)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in event_id)
    return f"{exports_prefix(shop)}{safe}.json"


def exports_prefix(shop: str) -> str:
    return f"exports/{shop}/"


def notification(job: Job, bucket: str, key: str, sections: dict[str, int]) -> dict[str, Any]:
    """The operator's SNS message about a data request: where the export is and how much it holds — no email,
    no name, no customer data (the export itself is in the encrypted bucket)."""
    return {
        "type": c.CUSTOMER_DATA_REQUESTED,
        "shop": job.shop,
        "data_request_id": job.request_id,
        "event_id": job.event_id,
        "received_at": job.received_at,
        "export": {"bucket": bucket, "key": key},
        "items": sections,
        "answer_by": "30 days after received_at (Shopify)",
    }
