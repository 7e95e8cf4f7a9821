"""The demo driver against a fake world: time order, resolution, reactions to messages, every request kind."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from enishi.shop_config import load_shop_config
from enishi.signatures import verify_line, verify_shopify
from enishi_local.demo.driver import Secrets, drive, ses_event
from enishi_local.demo.shop_sim import SentMessage, SesFeedback, ShopSimulation, SimConfig
from enishi_local.demo.stack_world import normalize, unsubscribe_url


class FakeWorld:
    """Sends one cart reminder (with an unsubscribe link) 1 h after every checkout with an e-mail address."""

    base_url = "http://127.0.0.1:9"
    supports_ses_feedback = True

    def __init__(self, start: datetime) -> None:
        self._now = start
        self.pending: list[SentMessage] = []
        self.ses: list[dict] = []
        self.nonces: list[tuple[str, str]] = []
        self.advances: list[datetime] = []

    def now(self):
        return self._now

    def advance_to(self, t):
        assert t >= self._now
        self._now = t
        self.advances.append(t)

    def settle(self):
        pass

    def next_wakeup(self):
        due = [m.sent_at for m in self.pending if m.sent_at > self._now]
        return min(due) if due else None

    def new_messages(self):
        out = [m for m in self.pending if m.sent_at <= self._now]
        self.pending = [m for m in self.pending if m.sent_at > self._now]
        return out

    def ses_event(self, event):
        self.ses.append(event)

    def issue_line_nonce(self, customer_id, nonce):
        self.nonces.append((customer_id, nonce))


class RecordingTransport:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.posts: list[tuple[datetime, str, bytes, dict]] = []

    def get(self, url, headers):
        self.posts.append((self.world.now(), url, b"", headers))
        return 302

    def post(self, url, body, headers):
        self.posts.append((self.world.now(), url, body, headers))
        if url.endswith("/webhooks/shopify") and headers["X-Shopify-Topic"] == "checkouts/update":
            data = json.loads(body)
            if data.get("email") and not data.get("completed_at"):
                self.world.pending.append(
                    SentMessage(
                        "email",
                        data["email"],
                        "cart_recovery",
                        "reminder_1",
                        self.world.now() + timedelta(hours=1),
                        message_key=f"k-{data['token']}-{len(self.posts)}",
                        marketing=True,
                        unsubscribe_url="https://api.example/u/TOKEN",
                        raw={"customer_id": "1", "shop": "s"},
                    )
                )
        return 200


def test_drive_posts_in_time_order_and_customers_react():
    shop = load_shop_config()
    cfg = SimConfig.small(customers=60, p_unsubscribe_per_marketing_mail=0.5)
    sim = ShopSimulation(cfg, [p.model_dump() for p in shop.catalog], shop.shop_id)
    world = FakeWorld(cfg.start)
    transport = RecordingTransport(world)
    samples = []
    stats = drive(
        sim,
        world,
        transport,
        Secrets("shh", "line-secret"),
        resolution=timedelta(minutes=10),
        sampler=lambda now: samples.append(now) or {"lead": 1},
    )
    # the clock only moves forward, and every request leaves at or after the time it happened
    assert world.advances == sorted(world.advances)
    kinds = {url.rsplit("/", 2)[-2] for _, url, _, _ in transport.posts}
    assert {"webhooks", "u"} <= kinds
    for _at, url, body, headers in transport.posts:
        if url.endswith("/webhooks/shopify"):
            assert verify_shopify(body, headers["X-Shopify-Hmac-Sha256"], ["shh"])
        if url.endswith("/webhooks/line"):
            assert verify_line(body, headers["x-line-signature"], "line-secret")
        if "/u/" in url:
            assert url == "http://127.0.0.1:9/u/TOKEN" and body == b"List-Unsubscribe=One-Click"
    assert stats.messages_seen > 0 and stats.ses_events > 0
    assert world.nonces and all(len(n) >= 10 for _, n in world.nonces)
    assert len(samples) >= 3 and samples[-1] == cfg.end
    assert stats.statuses and all(k.endswith(":200") for k in stats.statuses)


def test_ses_event_is_tagged_like_enishi_mail():
    from enishi.feedback.tags import read_email_tags

    msg = SentMessage(
        "email",
        "a@example.jp",
        "welcome",
        "thanks",
        datetime.fromisoformat("2026-01-05T01:00:00+00:00"),
        message_key="welcome.thanks.abc",
        provider_message_id="m-1",
        raw={"shop": "enishi-demo.myshopify.com", "customer_id": "7200000001"},
    )
    event = ses_event(
        SesFeedback(
            at=msg.sent_at + timedelta(minutes=5), event_type="Bounce", message=msg, customer_id=7200000001
        )
    )
    tags = read_email_tags(event["detail"]["mail"]["tags"])
    assert (tags.shop, tags.customer_id, tags.message_key) == (
        "enishi-demo.myshopify.com",
        "7200000001",
        "welcome.thanks.abc",
    )
    assert event["detail"]["bounce"]["bounceType"] == "Permanent" and event["source"] == "aws.ses"


def test_normalize_reads_outbox_entries_and_finds_the_unsubscribe_link():
    entry = {
        "channel": "email",
        "to": ["taro@example.jp"],
        "sequence": "welcome",
        "step": "story",
        "sent_at": "2026-01-08T01:00:00Z",
        "message_key": "welcome.story.x",
        "subject": "縁茶房のこと",
        "headers": [{"Name": "List-Unsubscribe", "Value": "<http://127.0.0.1:8787/u/abc.def>"}],
    }
    m = normalize(entry)
    assert (m.recipient, m.sequence, m.step, m.message_key) == (
        "taro@example.jp",
        "welcome",
        "story",
        "welcome.story.x",
    )
    assert m.unsubscribe_url == "http://127.0.0.1:8787/u/abc.def"
    assert (
        unsubscribe_url({"html": '<a href="https://x.example/u/tok_1">配信停止</a>'})
        == "https://x.example/u/tok_1"
    )
