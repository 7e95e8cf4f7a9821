"""Every message the run sent, as files a person can open: e-mails as ``.html`` and ``.eml``, LINE pushes as
``.json``."""

from __future__ import annotations

import base64
import json
import re
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_OWN_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "content-type",
    "mime-version",
    "content-transfer-encoding",
}


def _get(entry: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        value = entry.get(n) if isinstance(entry, dict) else getattr(entry, n, None)
        if value not in (None, ""):
            return value
    return default


def eml_bytes(raw: dict[str, Any], msg: Any) -> bytes:
    """The message as SES received it: the exact ``Content.Raw`` bytes the send step passed (``mime_base64`` in the
    outbox entry). Only a ``Content.Simple`` send, which has no MIME of its own, is rendered here."""
    mime = _get(raw, "mime_base64")
    if mime:
        return base64.b64decode(mime)
    em = EmailMessage()
    em["From"] = str(_get(raw, "from", "from_address", "source", default="enishi@localhost"))
    em["To"] = msg.recipient
    em["Subject"] = str(msg.subject or _get(raw, "subject", default=""))
    em["Date"] = format_datetime(msg.sent_at)
    if msg.provider_message_id:
        em["Message-ID"] = f"<{msg.provider_message_id}@local.enishi>"
    headers = _get(raw, "headers", default=[]) or []
    if isinstance(headers, dict):
        headers = [{"Name": k, "Value": v} for k, v in headers.items()]
    for h in headers:
        name = h.get("Name") or h.get("name")
        value = h.get("Value") or h.get("value")
        if name and value and name.lower() not in _OWN_HEADERS:
            em[name] = value
    text = _get(raw, "text", "body_text", default="")
    html = _get(raw, "html", "body_html", default="")
    em.set_content(text or "")
    if html:
        em.add_alternative(html, subtype="html")
    return bytes(em)


def write_outbox(messages: list[Any], out_dir: Path) -> dict[str, int]:
    """``messages``: SentMessage-like objects with ``raw`` (the outbox entry). Returns files written per kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {"html": 0, "eml": 0, "json": 0}
    for n, msg in enumerate(sorted(messages, key=lambda m: m.sent_at), start=1):
        stamp = msg.sent_at.strftime("%Y%m%dT%H%M")
        who = _UNSAFE.sub("_", msg.recipient)[:48]
        base = out_dir / f"{n:05d}_{stamp}_{msg.sequence}_{msg.step}_{msg.channel}_{who}"
        raw = msg.raw or {}
        if msg.channel == "line":
            payload = dict(raw)
            base.with_suffix(".json").write_text(
                json.dumps(payload, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
            )
            counts["json"] += 1
            continue
        html = _get(raw, "html", "body_html", default="")
        base.with_suffix(".html").write_text(
            html or f"<pre>{_get(raw, 'text', default='')}</pre>", encoding="utf-8"
        )
        base.with_suffix(".eml").write_bytes(eml_bytes(raw, msg))
        counts["html"] += 1
        counts["eml"] += 1
    return counts
