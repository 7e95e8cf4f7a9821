"""S3 bucket for authentic-but-unprocessable webhook bodies (with their headers), kept for a fix and a replay."""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from infra.nag import acknowledge, logical_id


class RawPayloads(Construct):
    def __init__(
        self, scope: Construct, id: str, *, key: kms.IKey, expiry_days: int, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, id)
        self.expiry_days = expiry_days
        self.key = key
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,  # one data key per bucket, not one KMS call per object
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=False,  # a payload is written once and expires; versions would only keep PII longer
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-raw-payloads",
                    expiration=Duration.days(expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Only the Intake role can write and nothing reads except an operator replaying; objects expire in "
            f"{expiry_days} days. A log bucket would hold request metadata longer than the payloads themselves; "
            "enable CloudTrail S3 data events when an audit trail is required.",
        )

    def grant_write(self, grantee: iam.IGrantable) -> None:
        """PutObject only (no read, no delete, no multipart abort), and the key only to encrypt."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects("*")])
        )
        self.key.grant(grantee, "kms:GenerateDataKey")
        acknowledge(
            cast(IConstruct, grantee.grant_principal),  # a function's role: a construct like any other
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/*]",
            "Each unprocessable payload is a new object with a generated key; put-only on this one bucket.",
        )

    def grant_erase(self, grantee: iam.IGrantable) -> None:
        """List, read and delete (the privacy function finds a customer's or a shop's kept payloads and erases
        them), and the key only to decrypt what it reads."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:DeleteObject"], resources=[self.bucket.arn_for_objects("*")]
            )
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
        )
        self.key.grant(grantee, "kms:Decrypt")
        acknowledge(
            grantee.grant_principal,  # type: ignore[arg-type]  # a Role (IPrincipal and IConstruct)
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/*]",
            "A privacy request erases kept payloads that name the customer or shop: any object of this one bucket.",
        )
