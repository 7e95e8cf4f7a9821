"""The ``Composer`` port (domain/messages.py) over enishi's context builder and unsubscribe tokens: one message's
template context and, for marketing, its opt-out link — checked by ``domain/opt_out.py`` before it is used."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from enishi import clock
from enishi.profiles.model import Profile
from enishi.sequences.domain import opt_out
from enishi.sequences.domain.ledger import MessageRef
from enishi.sequences.domain.messages import Composed, OptOutLinkBroken
from enishi.sequences.domain.spec import Step

if TYPE_CHECKING:
    from enishi.shop_config import ShopConfig

LINE_URI_MAX = 1000  # LINE's limit for a URI action; a longer tracked link stays untracked


class _Known:
    """A profile reader that answers from the profile already in hand, and asks ``reader`` for any other."""

    def __init__(self, profile: Profile, reader: opt_out.ProfileReader) -> None:
        self._profile, self._reader = profile, reader

    def get_profile(self, shop: str, customer_id: str) -> Any:
        if (self._profile.shop, self._profile.customer_id) == (shop, customer_id):
            return self._profile
        return self._reader.get_profile(shop, customer_id)


class MessageComposer:
    """``signing_keys()`` → the unsubscribe secrets, newest first (read when a marketing message is composed);
    ``served`` → the shops this deployment serves; ``profiles`` → reads the profile an opt-out link points at."""

    def __init__(
        self,
        shop: ShopConfig,
        *,
        public_base_url: str | None,
        signing_keys: Callable[[], Sequence[bytes]],
        served: Collection[str],
        profiles: opt_out.ProfileReader,
    ) -> None:
        self._shop = shop
        self._public_base_url = public_base_url
        self._signing_keys = signing_keys
        self._served = served
        self._profiles = profiles

    def link(self, shop: str, customer_id: str, channel: str) -> str | None:
        """The opt-out link (``/u/{token}``, signed with the newest key), or None when none can be made."""
        from enishi.unsubscribe import make_token, unsubscribe_url

        keys_ = self._signing_keys()
        if not (keys_ and self._public_base_url):
            return None
        return unsubscribe_url(self._public_base_url, make_token(keys_[0], shop, customer_id, channel))

    def context(
        self,
        sequence: str,
        step: str,
        profile: Profile | None,  # None: a message for no one in particular (a campaign's LINE multicast)
        trigger: dict[str, Any],
        unsubscribe: str | None,
        marketing: bool,
    ) -> dict[str, Any]:
        from enishi.channels.context import Links, build_context

        links = Links(unsubscribe_url=unsubscribe, preferences_url=unsubscribe)
        return build_context(sequence, step, profile, trigger, self._shop, links, marketing=marketing)

    def compose(
        self, ref: MessageRef, step: Step, profile: Profile, trigger: dict[str, Any], channel: str
    ) -> Composed:
        unsubscribe = None
        if step.marketing:
            unsubscribe = self.link(ref.shop, ref.customer_id, channel)
            # the profile the step read a moment ago answers the check's "does this customer exist" (no re-read)
            check = opt_out.checker(self._signing_keys, self._served, _Known(profile, self._profiles))
            problem = check(unsubscribe, ref.shop, ref.customer_id, channel)
            if problem is not None:
                raise OptOutLinkBroken(problem)
        context = self.context(ref.sequence, step.id, profile, trigger, unsubscribe, step.marketing)
        return Composed(self.track(ref, channel, context), unsubscribe)

    def track(self, ref: MessageRef, channel: str, context: dict[str, Any]) -> dict[str, Any]:
        """The context with its links through ``/r/{token}`` (``messaging.tracking``; untouched when off or when no
        key or public URL is configured)."""
        from enishi.tracking import links
        from enishi.tracking.rewrite import track_links

        settings = self._shop.messaging.tracking
        keys_ = self._signing_keys()
        if not (settings.enabled and keys_ and self._public_base_url):
            return context
        base_url, key = self._public_base_url, keys_[0]
        # the same for every link of the message
        fill = {"channel": channel, "sequence": ref.sequence, "step": ref.step, "variant": ref.variant or ""}
        utm = {k: v.format_map(fill) for k, v in settings.utm.items()}
        expires_at = links.expiry(clock.now(), timedelta(days=settings.ttl_days))

        def tracked(name: str, url: str) -> str | None:
            target = links.with_utm(url, utm)
            if not links.is_redirectable(target):
                return None
            claims = links.ClickClaims(ref.shop, ref.customer_id, ref.message_key, name, target, expires_at)
            out = links.click_url(base_url, links.make_token(key, claims))
            return None if channel == "line" and len(out) > LINE_URI_MAX else out

        return track_links(context, tracked)
