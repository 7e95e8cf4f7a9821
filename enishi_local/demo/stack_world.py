"""Adapts ``enishi_local.stack.LocalStack`` to the driver's ``World``: clock, settle, outbox, SES feedback, the
shop's login page (LINE account-link nonces), and the weekly stage sample (a keyed batch read of known profiles)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from enishi import keys
from enishi.clock import parse_iso
from enishi.profiles.model import Profile, StageThresholds, derive_stage

from .shop_sim import SentMessage, ShopSimulation

_URL = re.compile(r"https?://[^\s\"'<>]+/u/[A-Za-z0-9_\-.=%]+")


def _get(entry: Any, *names: str) -> Any:
    for n in names:
        v = entry.get(n) if isinstance(entry, dict) else getattr(entry, n, None)
        if v not in (None, ""):
            return v
    return None


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return parse_iso(str(value))


def unsubscribe_url(entry: Any) -> str | None:
    headers = _get(entry, "headers") or []
    if isinstance(headers, dict):
        headers = [{"Name": k, "Value": v} for k, v in headers.items()]
    for h in headers:
        if str(h.get("Name") or h.get("name") or "").lower() == "list-unsubscribe":
            m = re.search(r"<(https?://[^>]+)>", str(h.get("Value") or h.get("value") or ""))
            if m:
                return m.group(1)
    for field in ("list_unsubscribe", "unsubscribe_url", "html", "text"):
        value = _get(entry, field)
        if value:
            m = _URL.search(str(value))
            if m:
                return m.group(0)
    return None


def normalize(entry: Any) -> SentMessage:
    """One local outbox entry → ``SentMessage`` (tolerant about field names)."""
    raw = entry if isinstance(entry, dict) else dict(vars(entry))
    channel = str(_get(entry, "channel") or "email")
    recipient = _get(entry, "recipient", "to", "destination")
    if isinstance(recipient, list):
        recipient = recipient[0] if recipient else ""
    marketing = _get(entry, "marketing")
    return SentMessage(
        channel=channel,
        recipient=str(recipient or ""),
        sequence=str(_get(entry, "sequence") or ""),
        step=str(_get(entry, "step") or ""),
        sent_at=_time(_get(entry, "sent_at", "at", "time")),
        message_key=_get(entry, "message_key", "key"),
        provider_message_id=_get(entry, "provider_message_id", "message_id", "id"),
        marketing=None if marketing is None else bool(marketing),
        unsubscribe_url=unsubscribe_url(entry) if channel == "email" else None,
        subject=_get(entry, "subject"),
        raw=raw,
    )


# what ``derive_stage`` and the sample's filters read (moto's cost is in serializing whole items)
_STAGE_FIELDS = (
    "shop",
    "customer_id",
    "version",
    "created_at",
    "updated_at",
    "merged_into",
    "redacted",
    "order_count",
    "last_order_at",
    "stage",
)


class StackWorld:
    def __init__(self, stack: Any, shop: str, ses_feedback: bool = True) -> None:
        import boto3

        self.stack = stack
        self.shop = shop
        self.base_url = getattr(stack, "base_url", None) or stack.url
        self._outbox_read = 0
        self.supports_ses_feedback = ses_feedback
        self.messages: list[SentMessage] = []
        self._ddb = boto3.client("dynamodb")  # creating a client costs milliseconds: one, kept
        self._config_set: str | None = None
        self._ses_buffer: list[dict[str, Any]] = []

    # ---- time
    def now(self) -> datetime:
        return self.stack.clock.now()

    def advance_to(self, t: datetime) -> None:
        self.stack.clock.advance_to(t)

    def settle(self) -> None:
        self.flush_ses()
        self.stack.settle()

    def next_wakeup(self) -> datetime | None:
        now = self.now()
        for t in self.stack.clock.sleepers():
            if t > now:
                return t
        return None

    # ---- what was sent
    def new_messages(self) -> list[SentMessage]:
        """The messages sent since the last call (``LocalStack.outbox_since``: incremental, keyed reads)."""
        entries = self.stack.outbox_since(self._outbox_read)
        self._outbox_read += len(entries)
        # a total order: sends at the same virtual moment come from executions woken together, in whatever order
        # the threads ran; the shop reacts to them in this order (its random draws), so it must not depend on that
        new = sorted(
            (normalize(e) for e in entries),
            key=lambda m: (
                m.sent_at,
                m.channel,
                m.recipient,
                m.message_key or "",
                m.provider_message_id or "",
            ),
        )
        self.messages.extend(new)
        return new

    def ses_event(self, event: dict[str, Any]) -> None:
        """Publish an SES event on the default bus, where SES puts them; the stack's rule takes it to feedback λ.
        Buffered and sent 10 to a PutEvents call (the API's limit) — one call per event cost a tenth of a run."""
        if self._config_set is None:
            import boto3

            sets = boto3.client("sesv2").list_configuration_sets().get("ConfigurationSets", [])
            self._config_set = sets[0] if sets else ""
        detail = event["detail"]
        if self._config_set:  # SES adds its own tags; the rule matches on the configuration set
            detail["mail"]["tags"]["ses:configuration-set"] = [self._config_set]
        self._ses_buffer.append(event)
        if len(self._ses_buffer) >= 10:
            self.flush_ses()

    def flush_ses(self) -> None:
        import json

        from enishi_local.direct import put_events

        batch, self._ses_buffer = self._ses_buffer, []
        if (
            batch
        ):  # SES publishing to EventBridge is AWS's own plumbing: straight to moto, no boto3 round trip
            put_events(
                [
                    {
                        "Source": e["source"],
                        "DetailType": e["detail-type"],
                        "Detail": json.dumps(e["detail"]),
                        "EventBusName": "default",
                        "Resources": e.get("resources", []),
                    }
                    for e in batch
                ]
            )

    # ---- the shop's login page (LINE account linking)
    def issue_line_nonce(self, customer_id: str, nonce: str) -> None:
        from enishi.line_webhook.linking import NONCE_TTL
        from enishi.line_webhook.store import DynamoLineStore

        now = self.now()
        DynamoLineStore(self._ddb, self.table_name).put_nonce(
            self.shop, nonce, customer_id, now, now + NONCE_TTL
        )

    @property
    def table_name(self) -> str:
        name = getattr(self.stack, "table_name", None)
        if name:
            return str(name)
        return self._ddb.list_tables()["TableNames"][0]

    # ---- weekly stage sample: keyed reads of the customers the shop has seen so far
    def sampler(self, sim: ShopSimulation, thresholds: StageThresholds):
        def sample(now: datetime) -> dict[str, int]:
            # the demo's own bookkeeping: keyed reads of moto's table (``LocalStack.direct_table``), no boto3 round trip
            table = self.stack.direct_table()
            found: dict[str, dict[str, Any]] = {}
            for c in sim.customers:
                if c.arrives_at > now:
                    continue
                for x in (str(c.id), keys.guest_customer_id(c.person.email)):
                    item = table.get(keys.profile_key(self.shop, x), _STAGE_FIELDS)
                    if item is not None:
                        found[str(item.get("customer_id"))] = item
            counts = dict.fromkeys(("lead", "first_time", "repeat", "loyal", "at_risk", "dormant"), 0)
            for item in found.values():
                if item.get("merged_into") or item.get("redacted"):
                    continue
                try:
                    p = Profile.model_validate(item)
                except Exception:  # noqa: BLE001 - skip an unreadable item in a sample
                    continue
                counts[derive_stage(p, now, thresholds)] += 1
            return counts

        return sample
