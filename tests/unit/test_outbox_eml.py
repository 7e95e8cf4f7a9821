"""The demo's ``.eml`` files are the exact bytes SES was given, and production's ``List-Unsubscribe`` header is
plain ASCII on the wire (never RFC 2047 encoded words, which mailbox providers would not recognise)."""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.channels.email import build_mime
from enishi.channels.render import RenderedEmail
from enishi_local.demo.stack_world import normalize
from enishi_local.report.outbox_files import write_outbox
from enishi_local.stack import _email_entry, _parse_mime

SENT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
RENDERED = RenderedEmail(
    subject="カートに商品が残っています — 縁茶房",
    html="<p>こんにちは、花子さん</p>",
    text="こんにちは、花子さん\n" + "お茶" * 60,
)
TOKEN = "v1." + "A1b2-C3d4_" * 14 + ".sig"  # a long token: the URL is far over 78 characters


def _unsubscribe_url(token: str) -> str:
    return f"https://abc123.execute-api.ap-northeast-1.amazonaws.com/u/{token}"


def _captured(raw: bytes) -> dict:
    """What the local stack captures from moto for one SES v2 SendEmail with ``Content.Raw``."""
    request = {
        "FromEmailAddress": "=?utf-8?b?57iB6Iy25oi/?= <news@enishi-sabo.example>",
        "Destination": {"ToAddresses": ["hanako@example.jp"]},
        "Content": {"Raw": {"Data": base64.b64encode(raw).decode("ascii")}},
        "EmailTags": [],
    }
    return {"request": request, "message_id": "0100018f-local", "sent_at": SENT.isoformat()}


def test_the_eml_file_is_the_mime_ses_received(tmp_path):
    raw = build_mime(
        from_address="縁茶房 <news@enishi-sabo.example>",
        to="hanako@example.jp",
        rendered=RENDERED,
        unsubscribe_url=_unsubscribe_url(TOKEN),
        date=SENT,
    )
    entry = _email_entry(_captured(raw))
    write_outbox([normalize(entry)], tmp_path)
    (eml,) = tmp_path.glob("*.eml")
    assert eml.read_bytes() == raw
    assert b"List-Unsubscribe: \n <" + _unsubscribe_url(TOKEN).encode() + b">\n" in raw  # folded, not encoded


@settings(max_examples=100, deadline=None)
@given(
    token=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~=",
        min_size=1,
        max_size=400,
    )
)
def test_production_list_unsubscribe_is_the_url_in_angle_brackets_on_the_wire(token):
    url = _unsubscribe_url(token)
    raw = build_mime(
        from_address="縁茶房 <news@enishi-sabo.example>",
        to="hanako@example.jp",
        rendered=RENDERED,
        unsubscribe_url=url,
        date=SENT,
    )
    header_block = raw.split(b"\n\n", 1)[0].decode("ascii")
    unfolded = header_block.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", "\t")
    lines = {
        line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in unfolded.split("\n") if ":" in line
    }
    assert lines["List-Unsubscribe"] == f"<{url}>"
    assert lines["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["List-Unsubscribe"]).strip() == f"<{url}>"  # folding whitespace (RFC 5322 FWS) only


def _read_with_policy_default(raw: bytes) -> tuple[str, dict[str, str], str, str, str]:
    """How the outbox read a mail before issue 14 (``policy.default`` throughout)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers = {k: str(v) for k, v in msg.items()}
    text = html = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not text:
            text = part.get_content()
        elif part.get_content_type() == "text/html" and not html:
            html = part.get_content()
    return str(msg.get("Subject", "")), headers, text, html, str(msg.get("To", ""))


_PRINTABLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85"),
    max_size=120,
)


@settings(max_examples=100, deadline=None)
@given(
    subject=_PRINTABLE.filter(str.strip),
    text=st.text(max_size=400),
    html=st.text(max_size=400),
    sender=st.sampled_from(["縁茶房", "enishi sabō", "Tea & Co.", 'O"Brien, Ltd']),
    token=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=300),
)
def test_the_outbox_reads_a_mail_as_policy_default_does(subject, text, html, sender, token):
    raw = build_mime(
        from_address=f"{sender} <news@enishi-sabo.example>",
        to="hanako@example.jp",
        rendered=RenderedEmail(subject=subject, html=html, text=text),
        unsubscribe_url=_unsubscribe_url(token),
        date=SENT,
    )
    assert _parse_mime(raw) == _read_with_policy_default(raw)


def test_the_outbox_reads_a_mail_with_repeated_and_oddly_cased_headers_as_policy_default_does():
    raw = (
        "subject: =?utf-8?b?5pyA5Yid?=\nSubject: second\nTO: Hanako <hanako@example.jp>\n"
        "Content-Type: text/plain; charset*=utf-8''utf-8\nContent-Transfer-Encoding: base64\n\n"
        + base64.b64encode("本文\r\n".encode()).decode()
        + "\n"
    ).encode()
    assert _parse_mime(raw) == _read_with_policy_default(raw)
