"""``GET /r/{token}``: resolve a tracked link, record the click on its message record, answer the redirect.

The decision is pure (``follow``); recording goes through a port with the message-outcome adapter's ``mark``
contract (first click only, conditional on the record existing — the same adapter SES click events use), so a
redirect click and an SES click land on the same ``clicked_at`` and a repeat click changes nothing.

Answers (never 5xx for anything a client sends):
- a click: 302 to the signed target (``Cache-Control: no-store`` so every click reaches us);
- a link scanner's prefetch: the same 302, nothing recorded;
- an expired link: 302 to the shop's site, nothing recorded;
- anything else (forged, altered, another shop's, wrong method): 404 with no ``Location``.
A failure to record (DynamoDB down) still redirects: the customer's click matters more than our count of it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from enishi.feedback.logic import MessageOutcomes
from enishi.tracking import links

CLICKED_AT = "clicked_at"


# the message-outcome port SES click events use (first mark only, conditional on the record existing)
ClickRecorder = MessageOutcomes


@dataclass(frozen=True)
class Answer:
    status: int
    location: str | None
    outcome: str  # click | prefetch | expired | invalid | unrecorded


HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


def follow(
    *,
    secrets: Collection[bytes],
    served_shops: Collection[str],
    token: str | None,
    method: str,
    headers: Mapping[str, str],
    now: datetime,
    site_url: str,
    recorder: ClickRecorder,
) -> Answer:
    if method.upper() not in ("GET", "HEAD"):
        return Answer(404, None, "invalid")
    resolution = links.resolve(secrets, token, served_shops, now)
    claims = resolution.claims
    if resolution.kind == "invalid" or claims is None:
        return Answer(404, None, "invalid")
    if resolution.kind == "expired":
        return (
            Answer(302, site_url, "expired")
            if links.is_redirectable(site_url)
            else Answer(404, None, "expired")
        )
    if links.is_prefetch(method, headers):
        return Answer(302, claims.target, "prefetch")
    try:
        recorder.mark(
            claims.shop,
            claims.customer_id,
            claims.message_key,
            CLICKED_AT,
            now,
            {"clicked_link": claims.link},
        )
    except Exception:  # noqa: BLE001 - the redirect must not depend on the count (metric + log by the handler)
        return Answer(302, claims.target, "unrecorded")
    return Answer(302, claims.target, "click")
