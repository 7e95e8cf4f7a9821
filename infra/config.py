"""Typed stage configuration, read from CDK context (``cdk.json`` or ``-c enishi:key=value``). No AWS calls."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from enishi import constants as c
from enishi.polling.contract import CartConnection

CONTEXT_PREFIX = "enishi:"
DEFAULT_REGION = "ap-northeast-1"


class StageConfig(BaseModel):
    """Everything that differs between a shop's stages. Context key ``enishi:<field>`` (camelCase accepted)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    stage: str = "prod"
    region: str = DEFAULT_REGION
    account: str | None = None  # unresolved (environment-agnostic) when not given: synth needs no credentials
    log_retention_days: int = Field(default=30, alias="logRetentionDays")
    # SES: the verified identity (domain or address) mail is sent from. Not created by the stack: the operator
    # verifies it (DKIM/SPF/DMARC) in the account; until then the send step's permission names no identity.
    ses_identity: str | None = Field(default=None, alias="sesIdentity")
    ses_from_address: str | None = Field(default=None, alias="sesFromAddress")
    # create the identity in this stack (prints the DKIM records to add); off when it is already verified
    create_ses_identity: bool = Field(default=False, alias="createSesIdentity")
    alarm_email: str | None = Field(default=None, alias="alarmEmail")
    # HTTP API stage throttling (Shopify retries 8 times over 4 h on 429, so a burst is never lost)
    api_rate_limit: float = Field(default=50, alias="apiRateLimit")
    api_burst_limit: int = Field(default=100, alias="apiBurstLimit")
    raw_payload_expiry_days: int = Field(default=30, alias="rawPayloadExpiryDays")
    event_archive_days: int = Field(default=90, alias="eventArchiveDays")
    line_api_base_url: str = Field(default=c.LINE_API_BASE_URL, alias="lineApiBaseUrl")
    # polled carts (EC-CUBE, カラーミー, ...): one entry per connected shop (enishi.polling.contract.CartConnection)
    cart_connections: tuple[CartConnection, ...] = Field(default=(), alias="cartConnections")
    # RETAIN stateful resources (table, raw bucket, keys) unless a throw-away stage says otherwise
    retain_data: bool = Field(default=True, alias="retainData")

    @property
    def from_address_override(self) -> str | None:
        """An explicit ``sesFromAddress`` wins over ``shop.yaml``'s ``from_address`` (a stage that sends from a
        test domain). Otherwise None: the send step reads ``from_address`` from the deployed ``shop.yaml``, the one
        place a shop edits its sender (with its display name)."""
        return self.ses_from_address or None

    def check_sender(self, shop_from_address: str) -> str:
        """The From address the deployment will send with; refuses (at synth) one the SES identity does not cover,
        which SES would reject on every send (MailFromDomainNotVerified)."""
        sender = self.from_address_override or shop_from_address
        if self.ses_identity and not identity_covers(self.ses_identity, sender):
            raise ValueError(
                f"From address {sender!r} is not covered by the SES identity {self.ses_identity!r}: set shop.yaml's "
                "from_address (or -c enishi:sesFromAddress) to an address of that domain"
            )
        return sender

    @classmethod
    def from_context(cls, get: Any) -> StageConfig:
        """``get`` is ``node.try_get_context``; keys are ``enishi:<alias or field name>``."""
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            for key in {name, field.alias or name}:
                value = get(CONTEXT_PREFIX + key)
                if value is not None:
                    values[name] = _coerce(value)
        return cls.model_validate(values)


def identity_covers(identity: str, from_address: str) -> bool:
    """SES sends from an address when that address, its domain or a parent domain is a verified identity.
    ``from_address`` may carry a display name (``縁茶房 <news@mail.shop.jp>``)."""
    from email.utils import parseaddr

    address = parseaddr(from_address)[1].lower()
    identity = identity.lower().strip()
    if "@" in identity:
        return address == identity
    domain = address.rpartition("@")[2]
    return bool(domain) and (domain == identity or domain.endswith("." + identity))


def _coerce(value: Any) -> Any:
    """``-c key=value`` arrives as a string: turn "true"/"false" into booleans (pydantic does the numbers)."""
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if isinstance(value, str) and value.lstrip().startswith(
        ("[", "{")
    ):  # a list/object given with -c as JSON
        import json

        return json.loads(value)
    return value
