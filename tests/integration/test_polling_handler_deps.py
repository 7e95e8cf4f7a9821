"""Two connections' pollers in one process (the local stack) each get their own settings: a cache keyed by nothing
gave the second connection the first one's cart, secret and cursor (found while wiring the e2e test)."""

from __future__ import annotations

import boto3

from enishi import bootstrap
from enishi import constants as c
from enishi.polling import handler
from enishi.polling.contract import CartConnection


def test_each_connection_gets_its_own_dependencies(aws, monkeypatch) -> None:
    monkeypatch.setenv(c.ENV_TABLE_NAME, "t")
    monkeypatch.setenv(c.ENV_EVENT_BUS_NAME, "b")
    monkeypatch.setenv(c.ENV_RAW_BUCKET_NAME, "r")
    sm = boto3.client("secretsmanager")
    bootstrap.reset_all()
    seen = []
    for conn in (
        CartConnection(id="eccube-a", cart="eccube", shop_id="s", base_url="https://a.example"),
        CartConnection(id="colorme-b", cart="colorme", shop_id="s", base_url="https://api.shop-pro.jp"),
    ):
        arn = sm.create_secret(Name=conn.id, SecretString="{}")["ARN"]
        monkeypatch.setenv(c.ENV_CART_CONNECTION, conn.to_env())
        monkeypatch.setenv(c.ENV_CART_SECRET_ARN, arn)
        seen.append((handler.deps().connection.id, handler.deps().cart.CART))
    bootstrap.reset_all()
    assert seen == [("eccube-a", "eccube"), ("colorme-b", "colorme")]
