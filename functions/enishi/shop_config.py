"""The shop's settings (``shop/shop.yaml``), loaded once per cold start.

Deployed, the ``shop/`` folder is a Lambda layer mounted at ``/opt/shop``; locally ``ENISHI_SHOP_CONFIG_DIR``
points at the repository's ``shop/``. Template overrides live in ``<dir>/templates``.
"""

from __future__ import annotations

import functools
import os
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from enishi import bootstrap
from enishi import constants as c
from enishi.attribution import AttributionWindows

DEPLOYED_DIR = "/opt/shop"
REPO_DIR = Path(__file__).resolve().parents[2] / "shop"


class QuietHours(BaseModel):
    start: str = "21:00"
    end: str = "09:00"
    timezone: str = "Asia/Tokyo"


class Coupon(BaseModel):
    code: str
    text: str


class LinkTracking(BaseModel):
    """``messaging.tracking``: links through the signed redirect ``/r/{token}`` (enishi.tracking), with UTM
    parameters added to each target (``{channel}``, ``{sequence}``, ``{step}``, ``{variant}`` — the A/B variant, empty
    without one — are filled in per message)."""

    enabled: bool = True
    utm: dict[str, str] = Field(
        default_factory=lambda: {
            "utm_source": "enishi",
            "utm_medium": "{channel}",
            "utm_campaign": "{sequence}",
            "utm_content": "{step}",
        }
    )
    ttl_days: int = Field(400, ge=1, le=3650)


class Messaging(BaseModel):
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    marketing_frequency_cap_hours: float = 16
    line_monthly_quota: int = 5000
    # last-touch windows per kind of touch (enishi.attribution): click 5 d, open 1 d, LINE click 5 d, sent off
    attribution: AttributionWindows = Field(default_factory=AttributionWindows)
    coupon: Coupon | None = None
    tracking: LinkTracking = Field(default_factory=LinkTracking)
    # the control group kept from every sequence and campaign unless it sets its own (0–50 %): what the messages
    # changed is measured against it (docs/experiments.md)
    holdout_percent: float = Field(0, ge=0, le=50)

    @model_validator(mode="before")
    @classmethod
    def _legacy_attribution_window(cls, data: Any) -> Any:
        """``attribution_window_days`` (before per-touch windows) credited the last message *sent* within N days.
        A shop that set it keeps that rule as ``attribution.sent_days`` (its numbers do not silently change) and is
        warned; setting both is ambiguous and rejected."""
        if not isinstance(data, dict) or "attribution_window_days" not in data:
            return data
        data = dict(data)
        days = data.pop("attribution_window_days")
        if "attribution" in data:
            raise ValueError(
                "messaging.attribution_window_days is replaced by messaging.attribution "
                "(click_days, open_days, line_click_days, sent_days): remove attribution_window_days"
            )
        warnings.warn(LegacyAttributionWindow(days), stacklevel=2)
        data["attribution"] = {"sent_days": days}
        return data


class LegacyAttributionWindow(UserWarning):
    """``shop.yaml`` still sets ``messaging.attribution_window_days``: read as ``attribution.sent_days``."""

    def __init__(self, days: Any) -> None:
        super().__init__(
            f"messaging.attribution_window_days: {days} is deprecated; it is read as "
            f"messaging.attribution.sent_days: {days} (orders credited to a message merely sent within "
            f"{days} days, besides clicks and opens). Write messaging.attribution instead."
        )


class Shipping(BaseModel):
    free_shipping_threshold: Decimal | None = None
    shipping_fee: Decimal | None = None
    ships_within_days: int | None = None


class Stages(BaseModel):
    loyal_min_orders: int = 5
    loyal_min_spent: Decimal = Decimal(50000)
    at_risk_after_days: int = 60
    dormant_after_days: int = 90


class Campaigns(BaseModel):
    """Campaigns to segments (docs/campaigns.md): the SES account's maximum send rate paces the sends."""

    ses_max_send_rate: float = Field(default=14.0, gt=0, le=10_000)  # messages per second (SES account quota)
    holdout_percent: float = Field(default=10.0, ge=0, le=50)  # a campaign's default control group


class Analytics(BaseModel):
    """Inputs of the daily analytics job (docs/analytics.md): gross profit = revenue × ``margin_rate``."""

    margin_rate: Decimal = Field(default=Decimal("0.4"), ge=0, le=1)
    # issue 12: a holdout's conversion = an order within this many days after the (first marketing) decision
    holdout_window_days: int = Field(default=30, ge=1, le=365)


class Product(BaseModel):
    id: str
    title: str
    category: str | None = None
    price: Decimal | None = None
    url: str | None = None
    image_url: str | None = None


class ShopConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    shop_id: str
    # other shop ids this deployment also answers for (e.g. a second Shopify domain of the same shop); a signed
    # webhook for any shop not named here is refused with 403 unknown_shop and kept for replay
    additional_shop_ids: list[str] = Field(default_factory=list)
    name: str
    legal_name: str
    postal_address: str
    contact_email: str
    contact_phone: str | None = None
    site_url: str
    logo_url: str | None = None
    from_address: str
    reply_to: str | None = None
    locale: str = "ja"
    currency: str = "JPY"
    sns: dict[str, str] = Field(default_factory=dict)
    consent_wording: str | None = None
    messaging: Messaging = Field(default_factory=Messaging)
    shipping: Shipping = Field(default_factory=Shipping)
    stages: Stages = Field(default_factory=Stages)
    analytics: Analytics = Field(default_factory=Analytics)
    campaigns: Campaigns = Field(default_factory=Campaigns)
    catalog: list[Product] = Field(default_factory=list)

    @property
    def served_shops(self) -> frozenset[str]:
        """Every shop id this deployment serves: webhooks for another shop are refused (``intake``)."""
        return frozenset((self.shop_id, *self.additional_shop_ids))


def config_dir() -> Path:
    configured = os.environ.get(c.ENV_SHOP_CONFIG_DIR)
    if configured:
        return Path(configured)
    if Path(DEPLOYED_DIR).is_dir():
        return Path(DEPLOYED_DIR)
    return REPO_DIR


def read_yaml(path: Path) -> Any:
    import yaml  # deferred: only loaded on a cold start that reads config

    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@functools.cache
def load_shop_config(directory: str | None = None) -> ShopConfig:
    base = Path(directory) if directory else config_dir()
    return ShopConfig.model_validate(read_yaml(base / "shop.yaml"))


bootstrap.on_reset(load_shop_config.cache_clear)


def templates_override_dir(directory: str | None = None) -> Path:
    return (Path(directory) if directory else config_dir()) / "templates"
