"""The single DynamoDB table (keys from functions/enishi/keys.py; see docs/internals.md)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from enishi import constants as c


class Table(Construct):
    def __init__(self, scope: Construct, id: str, *, key: kms.IKey, retain: bool) -> None:
        super().__init__(scope, id)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=c.ATTR_PK, type=string),
            sort_key=dynamodb.Attribute(name=c.ATTR_SK, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=c.ATTR_TTL,
            deletion_protection=retain,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        # order items by day (the daily jobs read one partition per day; never a scan). KEYS_ONLY: readers fetch
        # the few items they need by key, so the index costs one small write per order.
        self.table.add_global_secondary_index(
            index_name=c.GSI_ORDERS_BY_DAY,
            partition_key=dynamodb.Attribute(name=c.ATTR_GSI1_PK, type=string),
            sort_key=dynamodb.Attribute(name=c.ATTR_GSI1_SK, type=string),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
