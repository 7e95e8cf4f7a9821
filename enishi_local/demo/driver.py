"""Drives the sample shop against the local stack: virtual time, settle, HTTP.

One iteration: pick the next moment something happens (a customer action, a Step Functions wait that ends, the
weekly stage sample), advance the stack's clock to it plus ``resolution`` (events closer together than that share one
advance and one settle — the main cost of a run), let the stack settle, show the customers what enishi sent meanwhile,
then post the due customer actions over HTTP, in time order. A request therefore reaches enishi at most
``resolution`` after it happened at the shop, like a slightly late webhook; nothing arrives before it happened.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from enishi.signatures import sign_line

from .shop_sim import (
    LinePost,
    LinkClick,
    Outgoing,
    SentMessage,
    SesFeedback,
    ShopifyPost,
    ShopSimulation,
    UnsubscribeClick,
)


class World(Protocol):
    """The local stack as the simulation sees it (``stack_world.StackWorld`` adapts ``LocalStack``)."""

    base_url: str
    supports_ses_feedback: bool

    def now(self) -> datetime: ...
    def advance_to(self, t: datetime) -> None: ...
    def settle(self) -> None: ...
    def next_wakeup(self) -> datetime | None: ...
    def new_messages(self) -> list[SentMessage]: ...
    def ses_event(self, event: dict[str, Any]) -> None: ...
    def issue_line_nonce(self, customer_id: str, nonce: str) -> None: ...


class Transport(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int: ...

    def get(self, url: str, headers: dict[str, str]) -> int:
        """A GET that does not follow redirects (a tracked link answers 302)."""
        ...


class HttpTransport:
    """Posts over real HTTP/1.1 to the local API: one keep-alive connection per host, as a cart's webhook sender
    would hold one. ``http.client`` rather than ``requests``: under the local stack's ``mock_aws`` every
    ``requests`` call also passes through moto's URL matcher (the ``responses`` library) before it reaches the
    socket, which made the simulated shop's HTTP client 5.7 % of the demo's time (issue 14's profile)."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._timeout = timeout
        self._connections: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        return self._request("POST", url, body, headers)

    def get(self, url: str, headers: dict[str, str]) -> int:
        return self._request("GET", url, None, headers)  # a redirect's status is the answer: not followed

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()

    def _request(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> int:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.netloc)
        for attempt in (1, 2):
            conn = self._connection(key)
            try:
                conn.request(method, target or "/", body=body, headers=headers)
                with conn.getresponse() as resp:
                    resp.read()  # the whole body, so the connection can carry the next request
                    if resp.will_close:
                        self._drop(key)
                    return resp.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop(key)  # the server closed a kept-alive connection between requests: reconnect once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _connection(self, key: tuple[str, str]) -> http.client.HTTPConnection:
        conn = self._connections.get(key)
        if conn is None:
            scheme, netloc = key
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = self._connections[key] = cls(netloc, timeout=self._timeout)
        return conn

    def _drop(self, key: tuple[str, str]) -> None:
        conn = self._connections.pop(key, None)
        if conn is not None:
            conn.close()


@dataclass
class Secrets:
    shopify: str
    line_channel: str


@dataclass
class DriveStats:
    iterations: int = 0
    posts: Counter = field(default_factory=Counter)  # kind → count
    statuses: Counter = field(default_factory=Counter)  # "kind:status" → count
    errors: list[str] = field(default_factory=list)
    messages_seen: int = 0
    ses_events: int = 0
    stage_samples: list[tuple[datetime, dict[str, int]]] = field(default_factory=list)
    settle_seconds: float = 0.0
    post_seconds: float = 0.0


class Progress:
    """A one-line progress bar on stderr (no dependency): virtual days done, messages, requests."""

    def __init__(self, total_days: float, enabled: bool = True, width: int = 32) -> None:
        self.total = max(total_days, 1e-9)
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.width = width
        self._last = 0.0

    def update(self, days: float, stats: DriveStats, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (0.2 if self.tty else 15.0):
            return
        self._last = now
        frac = min(days / self.total, 1.0)
        filled = int(frac * self.width)
        bar = "█" * filled + "░" * (self.width - filled)
        sys.stderr.write(
            f"{chr(13) if self.tty else ''}  {bar} {frac:5.1%}  day {days:5.1f}/{self.total:.0f}  "
            f"requests {sum(stats.posts.values()):6d}  messages {stats.messages_seen:5d} "
            + ("" if self.tty else "\n")
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def drive(
    sim: ShopSimulation,
    world: World,
    transport: Transport,
    secrets: Secrets,
    *,
    resolution: timedelta = timedelta(minutes=10),
    wake_resolution: timedelta | None = None,
    sampler: Callable[[datetime], dict[str, int]] | None = None,
    progress: Progress | None = None,
    on_message: Callable[[SentMessage], None] | None = None,
) -> DriveStats:
    cfg = sim.cfg
    stats = DriveStats()
    sample_every = timedelta(days=cfg.sample_every_days)
    next_sample: datetime | None = cfg.start + sample_every if sampler else None
    end = cfg.end
    while True:
        now = world.now()
        wake = world.next_wakeup()
        if wake is not None and wake_resolution:  # waits ending close together fire in one step
            wake = _ceil(wake, cfg.start, wake_resolution)
        candidates = [t for t in (sim.next_time(), wake, next_sample) if t is not None and t < end]
        if not candidates:
            break
        target = min(max(min(candidates), now) + resolution, end)
        _step(sim, world, transport, secrets, target, stats, on_message)
        if next_sample is not None and target >= next_sample and sampler is not None:
            stats.stage_samples.append((target, sampler(target)))
            next_sample += sample_every
        if progress:
            progress.update((target - cfg.start).total_seconds() / 86400, stats)
    # the end of the run: let every due wait fire, show the last messages, take the last sample
    _step(sim, world, transport, secrets, end, stats, on_message, react=False)
    t0 = time.perf_counter()
    world.settle()
    stats.settle_seconds += time.perf_counter() - t0
    _collect_messages(sim, world, end, stats, on_message, react=False)
    if sampler is not None:
        stats.stage_samples.append((end, sampler(end)))
    if progress:
        progress.update(cfg.days, stats, force=True)
        progress.done()
    return stats


def _ceil(t: datetime, origin: datetime, step: timedelta) -> datetime:
    n = -((origin - t) // step)  # ceil((t - origin) / step)
    return origin + n * step


def _step(
    sim: ShopSimulation,
    world: World,
    transport: Transport,
    secrets: Secrets,
    target: datetime,
    stats: DriveStats,
    on_message: Callable[[SentMessage], None] | None,
    react: bool = True,
) -> None:
    stats.iterations += 1
    world.advance_to(target)
    t0 = time.perf_counter()
    world.settle()
    stats.settle_seconds += time.perf_counter() - t0
    _collect_messages(sim, world, target, stats, on_message, react=react)
    for at, action in sim.pop_due(target):
        action(at)
    for out in sim.drain_outgoing():
        t0 = time.perf_counter()
        _send(out, world, transport, secrets, stats)
        t1 = time.perf_counter()
        stats.post_seconds += t1 - t0
        if not isinstance(out, SesFeedback):
            # each webhook's consequences run before the next one arrives: otherwise the consumers of two
            # webhooks of one moment interleave as the threads happen to run, and a run is not reproducible
            world.settle()
            stats.settle_seconds += time.perf_counter() - t1


def _collect_messages(
    sim: ShopSimulation,
    world: World,
    now: datetime,
    stats: DriveStats,
    on_message: Callable[[SentMessage], None] | None,
    react: bool,
) -> None:
    for msg in world.new_messages():
        stats.messages_seen += 1
        if on_message:
            on_message(msg)
        if react:
            sim.on_message(msg, now, ses_feedback=world.supports_ses_feedback)


LINE_IN_APP_BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Line/14.9.0"
)
MOBILE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


def _send(out: Outgoing, world: World, transport: Transport, secrets: Secrets, stats: DriveStats) -> None:
    base = world.base_url.rstrip("/")
    if isinstance(out, ShopifyPost):
        d = out.delivery
        status = transport.post(base + d.path, d.encode(), d.headers(_shop_domain(out), secrets.shopify))
    elif isinstance(out, LinePost):
        if out.link_nonce:  # the shop's login page issued it just before LINE redirected back
            world.issue_line_nonce(str(out.customer_id), out.link_nonce)
        raw = json.dumps(out.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "x-line-signature": sign_line(raw, secrets.line_channel),
        }
        status = transport.post(base + "/webhooks/line", raw, headers)
    elif isinstance(out, UnsubscribeClick):
        # the link in the mail points at the API's public URL; locally that is this server
        parts = urlsplit(out.url)
        url = base + parts.path + (f"?{parts.query}" if parts.query else "")
        status = transport.post(
            url, b"List-Unsubscribe=One-Click", {"Content-Type": "application/x-www-form-urlencoded"}
        )
    elif isinstance(out, LinkClick):
        parts = urlsplit(out.url)  # the API's public URL; locally that is this server
        agent = LINE_IN_APP_BROWSER if out.channel == "line" else MOBILE_SAFARI
        status = transport.get(base + parts.path, {"User-Agent": agent})
    elif isinstance(out, SesFeedback):
        world.ses_event(ses_event(out))
        stats.ses_events += 1
        stats.posts[out.kind] += 1
        return
    else:  # pragma: no cover - exhaustive
        raise TypeError(out)
    stats.posts[out.kind] += 1
    stats.statuses[f"{out.kind}:{status}"] += 1
    if not 200 <= status < 400 and len(stats.errors) < 20:
        stats.errors.append(f"{out.kind} {getattr(getattr(out, 'delivery', None), 'topic', '')} → {status}")


_SHOP_DOMAIN: dict[str, str] = {}


def _shop_domain(out: ShopifyPost) -> str:
    return _SHOP_DOMAIN.get("domain", "enishi-demo.myshopify.com")


def set_shop_domain(domain: str) -> None:
    _SHOP_DOMAIN["domain"] = domain


DETAIL_TYPES = {
    "Delivery": "Email Delivered",
    "Bounce": "Email Bounced",
    "Open": "Email Opened",
    "Click": "Email Clicked",
}


def ses_event(fb: SesFeedback) -> dict[str, Any]:
    """An SES event as EventBridge delivers it (``source: aws.ses``), tagged like enishi tags its mail."""
    from enishi.clock import iso_z
    from enishi.feedback.tags import email_tags

    msg: SentMessage = fb.message
    raw = msg.raw
    shop = str(raw.get("shop") or _SHOP_DOMAIN.get("domain", "enishi-demo.myshopify.com"))
    customer_id = str(raw.get("customer_id") or "")
    tags = {
        t["Name"]: [t["Value"]]
        for t in email_tags(shop, customer_id, msg.sequence, msg.step, msg.message_key or "")
    }
    at = iso_z(fb.at)
    detail: dict[str, Any] = {
        "eventType": fb.event_type,
        "mail": {
            "timestamp": iso_z(msg.sent_at),
            "messageId": msg.provider_message_id or "",
            "destination": [msg.recipient],
            "tags": tags,
        },
    }
    if fb.event_type == "Bounce":
        detail["bounce"] = {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "timestamp": at,
            "bouncedRecipients": [{"emailAddress": msg.recipient}],
        }
    elif fb.event_type == "Delivery":
        detail["delivery"] = {"timestamp": at, "recipients": [msg.recipient]}
    elif fb.event_type == "Open":
        detail["open"] = {"timestamp": at}
    elif fb.event_type == "Click":
        detail["click"] = {"timestamp": at, "link": "https://enishi-sabo.example/"}
    return {
        "version": "0",
        "id": f"ses-{msg.message_key}-{fb.event_type}",
        "detail-type": DETAIL_TYPES[fb.event_type],
        "source": "aws.ses",
        "account": "123456789012",
        "time": at,
        "region": "ap-northeast-1",
        "resources": [],
        "detail": detail,
    }
