"""EmailSender against moto's SES v2: what moto records is what SES would send (raw MIME, one path)."""

from __future__ import annotations

import email
import email.policy

import boto3
import pytest
from botocore.exceptions import ClientError

from enishi.channels.email import EmailSender, Throttled
from enishi.channels.render import RenderedEmail
from enishi.feedback.tags import read_email_tags

FROM = "縁茶房 <news@mail.enishi-sabo.example>"
CONFIG_SET = "enishi"
UNSUBSCRIBE = "https://api.example.jp/u/1.c2hvcABjdXN0.bWFj"
RENDERED = RenderedEmail(
    subject="お買い物カゴに商品が残っています｜縁茶房",
    html='<p><a href="https://api.example.jp/u/x">配信停止</a></p><p>山田 太郎 様</p>',
    text="配信停止：https://api.example.jp/u/x\n\n山田 太郎 様\n",
)
TAGS = {
    "shop": "enishi-demo.myshopify.com",
    "customer": "7001",
    "sequence": "cart_recovery",
    "step": "reminder_1",
    "message_key": "cart_recovery.reminder_1.0123456789abcdef",
}


@pytest.fixture
def ses(aws):
    client = boto3.client("sesv2", region_name="ap-northeast-1")
    client.create_email_identity(EmailIdentity="mail.enishi-sabo.example")
    client.create_configuration_set(ConfigurationSetName=CONFIG_SET)
    sent_requests: list[dict] = []
    # moto keeps the raw message but not the tags or the configuration set: read those off the wire request.
    client.meta.events.register(
        "provide-client-params.sesv2.SendEmail", lambda params, **_: sent_requests.append(params)
    )
    return client, sent_requests


def recorded_messages():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["ap-northeast-1"].sent_messages


class ThrottlingClient:
    """The real (moto) client, but the first ``failures`` calls answer TooManyRequestsException like SES does."""

    def __init__(self, inner, failures: int) -> None:
        self._inner = inner
        self.failures = failures
        self.calls = 0

    def send_email(self, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise ClientError(
                {
                    "Error": {
                        "Code": "TooManyRequestsException",
                        "Message": "Maximum sending rate exceeded.",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 429},
                },
                "SendEmail",
            )
        return self._inner.send_email(**kwargs)


def test_marketing_email_is_recorded_with_one_click_headers_and_tags(ses):
    client, sent_requests = ses
    sender = EmailSender(client, CONFIG_SET, FROM, reply_to="support@enishi-sabo.example")

    # When a marketing email is sent
    message_id = sender.send("taro@example.jp", RENDERED, tags=TAGS, unsubscribe_url=UNSUBSCRIBE)

    # Then moto recorded exactly that message, with the RFC 8058 headers, a decodable Japanese subject and both parts
    [recorded] = recorded_messages()
    assert recorded.id == message_id
    assert set(recorded.destinations) == {"taro@example.jp"}
    parsed = email.message_from_string(recorded.raw_data, policy=email.policy.default)
    assert parsed["List-Unsubscribe"].strip() == f"<{UNSUBSCRIBE}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(parsed["Subject"]) == RENDERED.subject
    assert parsed["From"].addresses[0].display_name == "縁茶房"
    assert parsed["Reply-To"] == "support@enishi-sabo.example"
    assert parsed.get_body(("plain",)).get_content() == RENDERED.text
    assert parsed.get_body(("html",)).get_content() == RENDERED.html
    # and the request carried the configuration set and tags that feedback can read back
    [request] = sent_requests
    assert request["ConfigurationSetName"] == CONFIG_SET
    tags = {t["Name"]: [t["Value"]] for t in request["EmailTags"]}
    read = read_email_tags(tags)
    assert read is not None
    assert (read.shop, read.customer_id, read.sequence, read.step, read.message_key) == (
        TAGS["shop"],
        TAGS["customer"],
        TAGS["sequence"],
        TAGS["step"],
        TAGS["message_key"],
    )


def test_transactional_email_has_no_unsubscribe_headers(ses):
    client, _ = ses
    EmailSender(client, CONFIG_SET, FROM).send("taro@example.jp", RENDERED, tags=TAGS, unsubscribe_url=None)
    [recorded] = recorded_messages()
    parsed = email.message_from_string(recorded.raw_data, policy=email.policy.default)
    assert "List-Unsubscribe" not in parsed
    assert "List-Unsubscribe-Post" not in parsed


def test_throttled_twice_then_ok_sends_one_email(ses):
    # Given SES answers TooManyRequests twice, then accepts
    client, _ = ses
    throttling = ThrottlingClient(client, failures=2)
    sleeps: list[float] = []
    sender = EmailSender(throttling, CONFIG_SET, FROM, sleep=sleeps.append, rng=lambda: 1.0)

    # When one email is sent
    message_id = sender.send("taro@example.jp", RENDERED, tags=TAGS, unsubscribe_url=UNSUBSCRIBE)

    # Then exactly one email exists, after three calls and two growing backoffs
    assert [m.id for m in recorded_messages()] == [message_id]
    assert throttling.calls == 3
    assert len(sleeps) == 2 and 0 < sleeps[0] < sleeps[1]


def test_throttled_every_time_raises_throttled_and_sends_nothing(ses):
    client, _ = ses
    sender = EmailSender(ThrottlingClient(client, failures=99), CONFIG_SET, FROM, sleep=lambda s: None)
    with pytest.raises(Throttled) as info:
        sender.send("taro@example.jp", RENDERED, tags=TAGS, unsubscribe_url=UNSUBSCRIBE)
    assert info.value.attempts == 3
    assert recorded_messages() == []
