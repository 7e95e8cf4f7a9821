"""Typed stage configuration, read from CDK context (``cdk.json`` or ``-c enishi:key=value``). No AWS calls."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
    line_api_base_url: str = Field(default="https://api.line.me", alias="lineApiBaseUrl")
    # RETAIN stateful resources (table, raw bucket, keys) unless a throw-away stage says otherwise
    retain_data: bool = Field(default=True, alias="retainData")

    @property
    def from_address(self) -> str:
        """The From address of e-mail: configured, else the identity itself or noreply@ the identity's domain.
        Unconfigured, SES rejects the send (MailFromDomainNotVerified) and the step records the failure."""
        if self.ses_from_address:
            return self.ses_from_address
        if self.ses_identity:
            return self.ses_identity if "@" in self.ses_identity else f"noreply@{self.ses_identity}"
        return "unconfigured@example.invalid"

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


def _coerce(value: Any) -> Any:
    """``-c key=value`` arrives as a string: turn "true"/"false" into booleans (pydantic does the numbers)."""
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return value
