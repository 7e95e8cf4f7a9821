"""The ``Channels`` port (domain/messages.py) over enishi's channel clients: render (Jinja2) and send (SES v2 / LINE).

Maps each provider error onto a ``SendErrorKind`` (see domain/messages.py). Imports the channel modules on first use so
the step λ's cold start pays for them only when it really sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from enishi.sequences.domain.messages import Outgoing, SendError, SendErrorKind


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
        from enishi.channels import line as line_channel
        from enishi.channels import render

        try:
            messages = render.render_line(message.template, message.context)
        except render.RenderError as err:
            raise SendError(SendErrorKind.REJECTED, f"render: {err}") from err
        try:
            result = self._line_client().push(message.to, messages, message.retry_key)
        except line_channel.LineQuotaExceeded as err:
            raise SendError(SendErrorKind.QUOTA, "line monthly limit") from err
        except line_channel.LineRateLimited as err:
            raise SendError(SendErrorKind.NOT_SENT_RETRY, "line rate limited") from err
        except line_channel.LineRetryable as err:
            raise SendError(SendErrorKind.AMBIGUOUS_RETRY, "line 5xx/timeout") from err
        except line_channel.LineRejected as err:
            raise SendError(SendErrorKind.REJECTED, "line rejected") from err
        return _line_message_id(result)


def _line_message_id(result: Any) -> str | None:
    for attr in ("message_id", "sent_message_id", "request_id"):
        value = getattr(result, attr, None)
        if value:
            return str(value)
    ids = getattr(result, "sent_message_ids", None) or getattr(result, "message_ids", None)
    if ids:
        return str(ids[0])
    return None
