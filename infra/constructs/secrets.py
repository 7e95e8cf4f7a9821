"""Secrets Manager secrets. Values are never in the template or in environment variables (only their ARNs).

The webhook secrets (Shopify, generic, LINE) belong to the cart / LINE channel: the operator pastes them in after
deploy (`aws secretsmanager put-secret-value`). Until then they hold a random value, so every signature check fails
closed (401). The unsubscribe signing key is generated here and never leaves AWS.
"""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from infra.nag import acknowledge

_OPERATOR_SET = (
    "Set by the operator from the cart's / LINE's console; the provider issues it, so Secrets Manager cannot "
    "rotate it. Shopify rotation is supported in code: the secret may hold {current, previous} for the overlap hour."
)


class Secrets(Construct):
    def __init__(self, scope: Construct, id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.shopify = self._secret(
            "ShopifyWebhookSecret",
            "Shopify app client secret (webhook HMAC): set it after deploy",
            removal_policy,
        )
        self.generic = self._secret(
            "GenericWebhookSecret",
            "shared secret of the generic webhook (X-Enishi-Signature)",
            removal_policy,
        )
        self.line = self._secret(
            "LineChannelSecret",
            'LINE Messaging API: JSON {"channel_secret": ..., "channel_access_token": ...}: set it after deploy',
            removal_policy,
            template={"channel_access_token": "unset"},
            key="channel_secret",
        )
        for secret in (self.shopify, self.generic, self.line):
            acknowledge(secret, "AwsSolutions-SMG4", _OPERATOR_SET)
        self.unsubscribe = self._secret(
            "UnsubscribeSigningKey", "HMAC key of the unsubscribe tokens in /u/{token} links", removal_policy
        )
        acknowledge(
            self.unsubscribe,
            "AwsSolutions-SMG4",
            "Rotating the signing key would invalidate every unsubscribe link already in customers' mailboxes, and "
            "the law requires those links to keep working; rotate by hand only after a suspected leak.",
        )

    def _secret(
        self,
        id: str,
        description: str,
        removal_policy: RemovalPolicy,
        *,
        template: dict[str, str] | None = None,
        key: str | None = None,
    ) -> sm.Secret:
        return sm.Secret(
            self,
            id,
            description=f"enishi: {description}",
            generate_secret_string=sm.SecretStringGenerator(
                password_length=64,
                exclude_punctuation=True,
                secret_string_template=json.dumps(template) if template else None,
                generate_string_key=key,
            ),
            removal_policy=removal_policy,
        )
