"""boto3 adapters of the poller's ports: cursors (DynamoDB), event claims (DynamoDB), tokens (Secrets Manager),
rows kept for replay (S3). Keys only through ``enishi.keys``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from enishi import constants as c
from enishi import keys
from enishi.polling.http import OAuthSecret
from enishi.polling.planner import StreamCursor
from enishi.raw_payloads import raw_key


class DynamoCursorStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def load(self, connection_id: str, stream: str) -> StreamCursor:
        key = keys.poll_cursor_key(connection_id, stream)
        item = self._client.get_item(
            TableName=self._table, Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
        ).get("Item")
        if not item or "cursor" not in item:
            return StreamCursor()
        return StreamCursor.model_validate_json(item["cursor"]["S"])

    def save(self, connection_id: str, stream: str, cursor: StreamCursor) -> None:
        key = keys.poll_cursor_key(connection_id, stream)
        self._client.put_item(
            TableName=self._table,
            Item={
                c.ATTR_PK: {"S": key["pk"]},
                c.ATTR_SK: {"S": key["sk"]},
                "cursor": {"S": cursor.model_dump_json()},
            },
        )


class DynamoEventClaims:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def claim(self, shop: str, source: str, event_id: str, expires_at: datetime) -> bool:
        key = keys.dedupe_key(shop, source, event_id)
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    c.ATTR_PK: {"S": key["pk"]},
                    c.ATTR_SK: {"S": key["sk"]},
                    c.ATTR_TTL: {"N": str(int(expires_at.timestamp()))},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": c.ATTR_PK},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def seen(self, shop: str, source: str, event_id: str) -> bool:
        key = keys.dedupe_key(shop, source, event_id)
        item = self._client.get_item(
            TableName=self._table,
            Key={k: {"S": v} for k, v in key.items()},
            ConsistentRead=True,
            ProjectionExpression="#pk",
            ExpressionAttributeNames={"#pk": c.ATTR_PK},
        ).get("Item")
        return item is not None


class SecretsManagerVault:
    """The connection's OAuth secret, read uncached (a rotated refresh token must never be read stale)."""

    def __init__(self, client: Any, arn: str) -> None:
        self._client = client
        self._arn = arn

    def load(self) -> OAuthSecret:
        raw = self._client.get_secret_value(SecretId=self._arn).get("SecretString") or "{}"
        try:
            return OAuthSecret.model_validate(json.loads(raw))
        except ValueError:
            return OAuthSecret()

    def save(self, secret: OAuthSecret) -> None:
        self._client.put_secret_value(
            SecretId=self._arn, SecretString=secret.model_dump_json(exclude_none=True)
        )


class S3RowKeeper:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def keep(
        self, cart: str, record: Mapping[str, Any], reason: str, details: Any, received_at: datetime
    ) -> str:
        key = raw_key(cart, received_at, uuid.uuid4().hex)  # the raw bucket's one layout
        body = json.dumps(
            {
                "source": cart,
                "received_at": received_at.isoformat(),
                "reason": reason,
                "details": details,
                "record": record,
            },
            ensure_ascii=False,
            default=str,
        )
        self._client.put_object(
            Bucket=self._bucket, Key=key, Body=body.encode("utf-8"), ContentType="application/json"
        )
        return key
