"""Send a rendered email through SES v2 — the same path in production and under moto.

The message is built as MIME by the standard library (multipart/alternative: text + HTML, UTF-8, the Japanese
subject and sender name as RFC 2047 encoded words) and sent as ``Content.Raw``. Why not ``Content.Simple`` with
``Headers``: boto3 1.44 accepts ``Simple.Headers``, but moto 5.2.5's sesv2 ``send_email`` drops them (it keeps only
subject and body), so the RFC 8058 headers could not be tested locally; ``Raw`` is recorded verbatim by moto and is
what SES signs and sends, so production and local run one path.

Marketing mail gets ``List-Unsubscribe: <url>`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(RFC 8058; Gmail/Yahoo bulk-sender rules). Every send carries the configuration set (event publishing → feedback)
and the message tags, encoded with ``feedback.tags.encode_tag_value`` so the feedback function can read them back.

Errors: ``TooManyRequestsException`` is retried here a couple of times with full-jitter backoff, then ``Throttled``
(nothing was sent: the state machine retries later). Anything else → ``SendFailed``: ``ambiguous=True`` when SES
may have accepted the message (5xx, connection lost after the request), else a certain rejection.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from enishi import clock
from enishi.aws_errors import error_code
from enishi.channels.backoff import Backoff
from enishi.channels.render import RenderedEmail
from enishi.feedback.tags import encode_tag_value

THROTTLING_CODES = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException"})
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_BASE_SECONDS = 0.25
DEFAULT_BACKOFF_CAP_SECONDS = 2.0
ONE_CLICK = "List-Unsubscribe=One-Click"
_TAG_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class Throttled(Exception):
    """SES kept answering TooManyRequests: nothing was sent; retry later (the state machine's Retry)."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class SendFailed(Exception):
    """SES refused the message (``retryable`` is False: sending again would fail the same way), or the outcome is
    unknown (``ambiguous``: SES may have accepted it — never resend)."""

    def __init__(
        self, message: str, *, code: str | None = None, retryable: bool = False, ambiguous: bool = False
    ):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.ambiguous = ambiguous


def email_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """SES ``EmailTags``: names reduced to SES's charset, values reversibly encoded (see feedback/tags.py)."""
    out = []
    for name, value in tags.items():
        safe_name = _TAG_NAME_UNSAFE.sub("_", name)[:256]
        out.append({"Name": safe_name, "Value": encode_tag_value(str(value))})
    return out


def encode_address(address: str) -> str:
    """``縁茶房 <news@x.jp>`` → ``=?utf-8?b?...?= <news@x.jp>`` (SES wants non-ASCII names MIME-encoded)."""
    from email.utils import formataddr, parseaddr

    name, addr = parseaddr(address)
    return formataddr((name, addr), charset="utf-8") if name else addr


def build_mime(
    *,
    from_address: str,
    to: str,
    rendered: RenderedEmail,
    reply_to: str | None = None,
    unsubscribe_url: str | None = None,
    date: datetime | None = None,
) -> bytes:
    """The raw RFC 5322 message: text and HTML alternatives (UTF-8, base64), with the one-click unsubscribe headers.

    Built with the ``compat32`` classes on purpose: the newer ``EmailMessage`` policy re-encodes a long
    ``List-Unsubscribe`` URL as RFC 2047 encoded words, which mailbox providers would not recognise; ``compat32``
    leaves an ASCII header as it is and folds only at whitespace, while ``Header`` still encodes the Japanese subject
    in ≤ 75-character encoded words.
    """
    from email.header import Header
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    from email.utils import format_datetime

    msg = MIMEMultipart("alternative")
    msg["From"] = encode_address(from_address)
    msg["To"] = to
    if reply_to:
        msg["Reply-To"] = encode_address(reply_to)
    # typeshed types a Message[str, str] header value as str; the stdlib takes a Header object too (its documented use)
    msg["Subject"] = Header(rendered.subject, "utf-8")  # type: ignore[assignment]
    msg["Date"] = format_datetime(clock.to_utc(date or clock.now()))
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = ONE_CLICK
    msg.attach(MIMEText(rendered.text, "plain", "utf-8"))
    msg.attach(MIMEText(rendered.html, "html", "utf-8"))
    return msg.as_bytes()


def _error_code(exc: Exception) -> tuple[str | None, int | None]:
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return error_code(exc) or None, status


class EmailSender:
    """Sends rendered emails with an injected SES v2 client (``boto3.client("sesv2")`` or a stub)."""

    def __init__(
        self,
        sesv2_client: Any,
        configuration_set: str,
        from_address: str,
        reply_to: str | None = None,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_cap: float = DEFAULT_BACKOFF_CAP_SECONDS,
        sleep: Callable[[float], None] = clock.pause,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._client = sesv2_client
        self._configuration_set = configuration_set
        self._from = from_address
        self._reply_to = reply_to
        self._backoff = Backoff(max_attempts, backoff_base, backoff_cap, sleep, rng)

    def send(
        self,
        to: str,
        rendered: RenderedEmail,
        *,
        tags: Mapping[str, str],
        unsubscribe_url: str | None = None,
    ) -> str:
        """Send one email; returns the SES MessageId. ``unsubscribe_url`` (marketing mail) adds the RFC 8058 headers."""
        raw = build_mime(
            from_address=self._from,
            to=to,
            rendered=rendered,
            reply_to=self._reply_to,
            unsubscribe_url=unsubscribe_url,
        )
        request = {
            "FromEmailAddress": encode_address(self._from),
            "Destination": {"ToAddresses": [to]},
            "Content": {"Raw": {"Data": raw}},
            "ConfigurationSetName": self._configuration_set,
            "EmailTags": email_tags(tags),
        }
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            HTTPClientError,
        )  # in the runtime with boto3

        for attempt in range(1, self._backoff.max_attempts + 1):
            try:
                return str(self._client.send_email(**request)["MessageId"])
            except ClientError as exc:
                code, status = _error_code(exc)
                if code in THROTTLING_CODES:
                    if attempt == self._backoff.max_attempts:
                        raise Throttled(f"SES throttled {attempt} times", attempts=attempt) from exc
                    self._backoff.wait(attempt)
                    continue
                ambiguous = status is not None and status >= 500
                raise SendFailed(f"SES refused the email: {code}", code=code, ambiguous=ambiguous) from exc
            except (ConnectionError, HTTPClientError) as exc:
                raise SendFailed(f"SES call failed: {type(exc).__name__}", ambiguous=True) from exc
        raise AssertionError("unreachable")  # pragma: no cover
