"""EmailSender's MIME, tags and error mapping, with botocore's Stubber (no AWS, no moto)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from enishi.channels.email import EmailSender, SendFailed, Throttled, build_mime, email_tags, encode_address
from enishi.channels.render import RenderedEmail
from enishi.feedback.tags import decode_tag_value

RENDERED = RenderedEmail(
    subject="【縁茶房】ご注文の商品を発送いたしました", html="<p>発送しました</p>", text="発送しました\n"
)
FROM = "縁茶房 <news@mail.enishi-sabo.example>"


def stubbed():
    client = boto3.client("sesv2", region_name="ap-northeast-1")
    return client, Stubber(client)


def test_mime_is_utf8_multipart_with_encoded_japanese_headers():
    raw = build_mime(
        from_address=FROM,
        to="taro@example.jp",
        rendered=RENDERED,
        unsubscribe_url="https://x.example/u/t",
        date=datetime(2025, 5, 1, 3, tzinfo=UTC),
    )
    assert raw.isascii()  # 7-bit clean: encoded words + base64 bodies
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert str(parsed["Subject"]) == RENDERED.subject
    assert parsed["Date"] == "Thu, 01 May 2025 03:00:00 +0000"
    assert parsed["List-Unsubscribe"].strip() == "<https://x.example/u/t>"


def test_long_unsubscribe_url_stays_a_plain_header():
    url = "https://api.example.jp/u/1." + "A" * 150 + ".mac"
    raw = build_mime(from_address=FROM, to="t@example.jp", rendered=RENDERED, unsubscribe_url=url)
    assert b"=?utf-8?" not in raw.split(b"List-Unsubscribe:")[1].split(b"List-Unsubscribe-Post")[0]
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["List-Unsubscribe"].strip() == f"<{url}>"


def test_tags_are_ses_safe_and_reversible():
    tags = email_tags({"shop": "a.myshopify.com", "message key": "welcome.welcome.ab", "step": "reminder_1"})
    for tag in tags:
        assert all(ch.isalnum() or ch in "_-" for ch in tag["Name"] + tag["Value"])
    assert {t["Name"] for t in tags} == {"shop", "message_key", "step"}
    values = {t["Name"]: decode_tag_value(t["Value"]) for t in tags}
    assert values == {"shop": "a.myshopify.com", "message_key": "welcome.welcome.ab", "step": "reminder_1"}


def test_from_address_with_japanese_name_is_mime_encoded():
    assert encode_address(FROM).endswith("<news@mail.enishi-sabo.example>")
    assert encode_address(FROM).isascii()
    assert encode_address("news@x.example") == "news@x.example"


def test_send_passes_configuration_set_tags_and_raw_content():
    client, stub = stubbed()
    stub.add_response(
        "send_email",
        {"MessageId": "m-1"},
        {
            "FromEmailAddress": encode_address(FROM),
            "Destination": {"ToAddresses": ["taro@example.jp"]},
            "Content": {"Raw": {"Data": ANY}},
            "ConfigurationSetName": "enishi",
            "EmailTags": [{"Name": "sequence", "Value": "shipping_notice"}],
        },
    )
    with stub:
        assert (
            EmailSender(client, "enishi", FROM).send(
                "taro@example.jp", RENDERED, tags={"sequence": "shipping_notice"}
            )
            == "m-1"
        )
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    "code", ["MessageRejected", "MailFromDomainNotVerifiedException", "AccountSuspendedException"]
)
def test_refusals_are_send_failed_not_retryable(code):
    client, stub = stubbed()
    stub.add_client_error("send_email", service_error_code=code, http_status_code=400)
    with stub, pytest.raises(SendFailed) as info:
        EmailSender(client, "enishi", FROM, sleep=lambda s: None).send("t@example.jp", RENDERED, tags={})
    assert info.value.code == code
    assert info.value.retryable is False and info.value.ambiguous is False


def test_server_error_is_ambiguous():
    client, stub = stubbed()
    stub.add_client_error("send_email", service_error_code="InternalFailure", http_status_code=500)
    with stub, pytest.raises(SendFailed) as info:
        EmailSender(client, "enishi", FROM).send("t@example.jp", RENDERED, tags={})
    assert info.value.ambiguous is True


def test_throttling_backs_off_then_raises_throttled():
    client, stub = stubbed()
    for _ in range(3):
        stub.add_client_error(
            "send_email", service_error_code="TooManyRequestsException", http_status_code=429
        )
    sleeps: list[float] = []
    with stub, pytest.raises(Throttled) as info:
        EmailSender(client, "enishi", FROM, sleep=sleeps.append, rng=lambda: 0.5).send(
            "t@example.jp", RENDERED, tags={}
        )
    assert info.value.attempts == 3
    assert sleeps == [0.125, 0.25]  # full jitter (rng 0.5) of 0.25 s · 2^n
