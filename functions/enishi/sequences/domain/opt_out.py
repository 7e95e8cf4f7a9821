"""Every marketing message's opt-out link unsubscribes (DESIGN invariant 7; issue 9 defect 2, the send side).

Right before a marketing send the step checks the link it is about to put in the message (the visible link, the
``List-Unsubscribe`` header, the LINE message): its token must resolve through ``unsubscribe.resolve`` — the very
function ``/u/{token}`` uses — to this message's (shop, customer, channel), for a shop this deployment serves, and
that customer must have a profile. Otherwise the message is not sent: skipped with a reason starting
``opt_out_link_`` and the metric ``MarketingOptOutLinkBroken`` (alarmed). Intake refuses unknown shops; this is the
defence in depth behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from enishi.unsubscribe import resolve, token_from_url

NO_LINK = "opt_out_link_missing"
UNRESOLVABLE = "opt_out_link_unresolvable"  # forged, foreign secret, or a shop this deployment does not serve
MISMATCH = "opt_out_link_mismatch"  # resolves, but to another customer / channel
NO_PROFILE = "opt_out_link_no_profile"  # resolves to a customer this shop has no profile for
REASON_PREFIX = "opt_out_link_"
BROKEN_METRIC = "MarketingOptOutLinkBroken"  # the step's metric for such a skip (alarmed by infra)


class ProfileReader(Protocol):
    def get_profile(self, shop: str, customer_id: str) -> Any: ...


OptOutCheck = Callable[[str | None, str, str, str], str | None]  # (url, shop, customer, channel) → problem


def checker(
    secrets: Callable[[], Sequence[bytes]], served: Collection[str], profiles: ProfileReader
) -> OptOutCheck:
    """``check(url, shop, customer_id, channel)`` → None when the link unsubscribes this customer, else why not."""

    def check(url: str | None, shop: str, customer_id: str, channel: str) -> str | None:
        if not url:
            return NO_LINK
        claims = resolve(secrets(), token_from_url(url), served)
        if claims is None:
            return UNRESOLVABLE
        if (claims.shop, claims.customer_id, claims.channel) != (shop, customer_id, channel):
            return MISMATCH
        if profiles.get_profile(claims.shop, claims.customer_id) is None:
            return NO_PROFILE
        return None

    return check
