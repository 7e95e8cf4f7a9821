"""The customer-managed KMS key for data at rest that holds PII: the table, raw payloads, the alarm topic.

One key (not AWS managed) so the shop controls and audits who can decrypt customer data (APPI: the shop supervises
its processor, and a key policy plus CloudTrail key-usage records are that supervision). Rotation is on. Cost:
$1/month plus requests; DynamoDB and S3 bucket keys cache data keys, so requests stay a rounding error.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct


class DataKey(Construct):
    def __init__(self, scope: Construct, id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.key = kms.Key(
            self,
            "Key",
            description="enishi: customer data at rest (table, raw payloads, alarm topic)",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
