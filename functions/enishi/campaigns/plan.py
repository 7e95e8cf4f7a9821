"""The Campaign machine's first task: select the recipients, write the list, and say when and how fast to send.

``plan(event, deps)``: ``event = {"campaign_id", "run_tag"?}`` → writes ``campaigns/<id>/<run_tag>/recipients.jsonl``
(analytics bucket, one JSON line per recipient, holdout and variant decided) and returns what the machine reads:
``bucket``/``key`` (the map's ItemReader), ``wait_until`` (quiet hours: a campaign started at 20:50 JST waits for
09:00 — the same rule as a sequence step), ``max_concurrency``/``batch_size`` (pacing from the shop's SES send
rate), and ``batch`` (the map's BatchInput). ``preview`` is the same selection without writing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from enishi import clock, keys
from enishi.campaigns.pacing import Pacing, pacing
from enishi.campaigns.recipients import Counts, Recipient, count, select
from enishi.campaigns.send import Batch
from enishi.campaigns.spec import Campaign
from enishi.sequences.domain.quiet_hours import QuietWindow
from enishi.shop_config import ShopConfig


@dataclass
class Deps:
    shop: ShopConfig
    campaigns: Callable[[str], Campaign]  # by id (shop/campaigns/<id>.yaml)
    rows: Callable[[], Iterable[dict[str, Any]]]  # the latest analytics segment rows
    put_lines: Callable[[str, Iterable[dict[str, Any]]], int]  # (key, lines) → lines written
    bucket: str


def recipients(campaign: Campaign, deps: Deps, now: datetime) -> Iterator[Recipient]:
    return select(
        campaign,
        deps.rows(),
        shop=deps.shop.shop_id,
        now=now,
        default_holdout=deps.shop.campaigns.holdout_percent,
    )


QUIET_MARGIN = timedelta(minutes=30)  # a promotion lands at least this long before the quiet hours begin


def next_quiet_start(window: QuietWindow, now: datetime) -> datetime | None:
    """The first moment after ``now`` inside the window (None: the shop has no quiet hours)."""
    if window.start == window.end:
        return None
    local = clock.to_utc(now).astimezone(window.tz)
    begins = local.replace(hour=window.start.hour, minute=window.start.minute, second=0, microsecond=0)
    if begins <= local:
        begins += timedelta(days=1)
    return clock.to_utc(begins)


def start_at(shop: ShopConfig, now: datetime, duration: timedelta = timedelta(0)) -> datetime:
    """When the sends may start: now, unless now is inside the quiet hours or the run (``duration``, paced)
    would not end ``QUIET_MARGIN`` before they begin — then when they end. A campaign started at 20:50 JST
    waits for 09:00; one started at 09:00 that needs longer than the day sends the rest after the night
    (those recipients are deferred by the send's own quiet-hours check, with no record)."""
    window = QuietWindow.from_config(shop.messaging.quiet_hours)
    if window.is_quiet(now):
        return window.next_allowed(now)
    begins = next_quiet_start(window, now)
    if begins is not None and now + duration + QUIET_MARGIN > begins:
        return window.next_allowed(begins)
    return clock.to_utc(now)


def batch_input(campaign: Campaign, shop: ShopConfig, starts: datetime, pace: Pacing) -> Batch:
    variants = {v.name: v.template for v in campaign.variants if v.template}
    subjects = {v.name: v.subject for v in campaign.variants if v.subject}
    return Batch(
        shop=shop.shop_id,
        campaign_id=campaign.id,
        template=campaign.template,
        channel=campaign.channel,  # type: ignore[arg-type]  # the spec's pattern admits exactly the policies
        variant_templates=variants,
        variant_subjects=subjects,
        started_at=clock.iso_z(starts),
        seconds_per_message=pace.seconds_per_message,
        line_delivery=campaign.line_delivery,
    )


def plan(event: dict[str, Any], deps: Deps, now: datetime) -> dict[str, Any]:
    campaign = deps.campaigns(str(event["campaign_id"]))
    run_tag = str(event.get("run_tag") or keys.analytics_as_of_tag(now))
    key = keys.campaign_recipients_key(campaign.id, run_tag)
    tally: list[Recipient] = []

    def lines() -> Iterator[dict[str, Any]]:
        for r in recipients(campaign, deps, now):
            tally.append(r)
            yield r.to_json()

    written = deps.put_lines(key, lines())
    counts = count(tally)
    pace = pacing(deps.shop.campaigns.ses_max_send_rate)
    starts = start_at(deps.shop, now, timedelta(seconds=pace.modelled_seconds(written)))
    return {
        "bucket": deps.bucket,
        "key": key,
        "recipients": written,
        "holdout": counts.holdout,
        "wait_until": clock.iso_z(starts),
        "max_concurrency": pace.max_concurrency,
        "batch_size": pace.batch_size,
        "batch": batch_input(campaign, deps.shop, starts, pace).model_dump(mode="json"),
    }


def preview(campaign_id: str, deps: Deps, now: datetime) -> Counts:
    return count(recipients(deps.campaigns(campaign_id), deps, now))


def execution_name(campaign_id: str, at: datetime) -> str:
    """A scheduled start's execution name: the same (campaign, time) starts once however often the tick runs."""
    return f"{campaign_id}-{keys.analytics_as_of_tag(at)}"[:80]
