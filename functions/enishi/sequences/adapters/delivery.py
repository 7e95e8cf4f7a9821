"""The ``Channels`` port (domain/messages.py) over enishi's channel clients: render (Jinja2) and send (SES v2 / LINE).

Maps each provider error onto a ``SendErrorKind`` (see domain/messages.py). Imports the channel modules on first use so
the step λ's cold start pays for them only when it really sends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from enishi.sequences.domain.messages import Outgoing, SendError, SendErrorKind

_TO_INDEX = re.compile(r"to\[(\d+)\]")


class Delivery:
    def __init__(self, email_sender: Callable[[], Any], line_client: Callable[[], Any]) -> None:
        """``email_sender()`` → ``channels.email.EmailSender``; ``line_client()`` → ``channels.line.LineClient``
        (factories: the LINE token is read from Secrets Manager only when a LINE message goes out)."""
        self._email_sender = email_sender
        self._line_client = line_client

    def send(self, message: Outgoing) -> str | None:
        if message.channel == "line":
            return self._send_line(message)
        return self._send_email(message)

    def _send_email(self, message: Outgoing) -> str | None:
        from enishi.channels import email as email_channel
        from enishi.channels import render

        try:
            rendered = render.render_email(message.template, message.context, subject=message.subject)
        except render.RenderError as err:
            raise SendError(SendErrorKind.REJECTED, f"render: {err}") from err
        try:
            return self._email_sender().send(
                message.to, rendered, tags=message.tags, unsubscribe_url=message.unsubscribe_url
            )
        except email_channel.Throttled as err:
            raise SendError(SendErrorKind.NOT_SENT_RETRY, "ses throttled") from err
        except email_channel.SendFailed as err:
            kind = SendErrorKind.AMBIGUOUS_RETRY if err.ambiguous else SendErrorKind.REJECTED
            raise SendError(kind, f"ses {err.code or 'failed'}") from err

    def _send_line(self, message: Outgoing) -> str | None:
        messages, key = render_line(message), message.retry_key
        return _line_message_id(_line_call(lambda: self._line_client().push(message.to, messages, key)))

    def multicast(
        self, to: Sequence[str], messages: Sequence[dict[str, Any]], retry_key: str, unit: str | None
    ) -> str | None:
        """One identical LINE message to up to 500 user ids (a campaign's multicast); errors as for a push, and a
        400 naming recipients (``to[i]``) says which in ``SendError.rejected``. The request id."""
        result = _line_call(
            lambda: self._line_client().multicast(to, messages, retry_key, aggregation_unit=unit)
        )
        return _line_message_id(result)


def render_line(message: Outgoing) -> list[dict[str, Any]]:
    """The LINE message objects of an outgoing message (a template error → ``REJECTED``)."""
    from enishi.channels import render

    try:
        return render.render_line(message.template, message.context)
    except render.RenderError as err:
        raise SendError(SendErrorKind.REJECTED, f"render: {err}") from err


def _line_call(call: Callable[[], Any]) -> Any:
    """A LINE request with its errors as ``SendError`` kinds (domain/messages.py)."""
    from enishi.channels import line as line_channel

    try:
        return call()
    except line_channel.LineQuotaExceeded as err:
        raise SendError(SendErrorKind.QUOTA, "line monthly limit") from err
    except line_channel.LineRateLimited as err:
        raise SendError(SendErrorKind.NOT_SENT_RETRY, "line rate limited") from err
    except line_channel.LineRetryable as err:
        raise SendError(SendErrorKind.AMBIGUOUS_RETRY, "line 5xx/timeout") from err
    except line_channel.LineRejected as err:
        raise SendError(
            SendErrorKind.REJECTED, "line rejected", rejected=_named_recipients(err.details)
        ) from err


def _named_recipients(details: Sequence[Any]) -> tuple[int, ...]:
    """The indexes of ``to`` a LINE 400 names (``{"property": "to[3]"}``)."""
    found = (_TO_INDEX.fullmatch(str(d.get("property", ""))) for d in details if isinstance(d, dict))
    return tuple(sorted({int(m.group(1)) for m in found if m}))


def _line_message_id(result: Any) -> str | None:
    for attr in ("message_id", "sent_message_id", "request_id"):
        value = getattr(result, attr, None)
        if value:
            return str(value)
    ids = getattr(result, "sent_message_ids", None) or getattr(result, "message_ids", None)
    if ids:
        return str(ids[0])
    return None
