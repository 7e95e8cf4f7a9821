"""The single table on a bare moto, for tests and benchmarks that do not start the local stack (which builds it
from the synthesized template)."""

from __future__ import annotations

from typing import Any

from enishi import constants as c


def create_single_table(name: str, region_name: str | None = None) -> Any:
    """The single table, shaped like infra/constructs/table.py (keys and the orders_by_day GSI), under moto;
    returns its boto3 ``Table`` resource."""
    import boto3

    boto3.client("dynamodb", region_name=region_name).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"}
            for a in (c.ATTR_PK, c.ATTR_SK, c.ATTR_GSI1_PK, c.ATTR_GSI1_SK)
        ],
        KeySchema=[
            {"AttributeName": c.ATTR_PK, "KeyType": "HASH"},
            {"AttributeName": c.ATTR_SK, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": c.GSI_ORDERS_BY_DAY,
                "KeySchema": [
                    {"AttributeName": c.ATTR_GSI1_PK, "KeyType": "HASH"},
                    {"AttributeName": c.ATTR_GSI1_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    return boto3.resource("dynamodb", region_name=region_name).Table(name)
