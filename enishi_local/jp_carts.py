"""The local stack with an EC-CUBE shop and a カラーミーショップ shop, each against a local fake of its API.

    enishi jp-carts          # runs the scenario below and prints what was sent

``carts_stack()`` synthesizes the app with two cart connections (``enishi:cartConnections``), starts the stack and
the fakes, aims each connection at its fake and stores its tokens (as ``enishi connect`` does on AWS). The e2e test
``tests/e2e/test_jp_carts.py`` uses the same wiring. Scenario: a customer starts an EC-CUBE checkout (status 8,
nothing sent), completes it (webhook → welcome), the shop ships with ヤマト運輸 (webhook → shipping notice with the
tracking link); a カラーミー customer orders and the order ships (both found by the scheduled sweep).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from enishi.polling.http import OAuthSecret
from enishi_local.connect import connect_local, exchange_code, point_connection_at
from enishi_local.fake_carts import DEFAULT_COLORME_TOKEN, FakeColorme, FakeEccube

ECCUBE_ID, COLORME_ID = "eccube-local", "colorme-local"
WEBHOOK_SECRET = "local-eccube-webhook-secret-0"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST, outside quiet hours


def connections(shop_id: str) -> list[dict[str, Any]]:
    """Placeholder URLs: the fakes' ports are known only once they run (``point_connection_at``)."""
    return [
        {
            "id": ECCUBE_ID,
            "cart": "eccube",
            "shopId": shop_id,
            "baseUrl": "http://127.0.0.1:9",
            "sweepMinutes": 15,
        },
        {
            "id": COLORME_ID,
            "cart": "colorme",
            "shopId": shop_id,
            "baseUrl": "http://127.0.0.1:9",
            "sweepMinutes": 10,
            "defaultCarrier": "ヤマト運輸",
        },
    ]


@contextmanager
def carts_stack(port: int = 0, start: datetime = START) -> Iterator[tuple[Any, FakeEccube, FakeColorme]]:
    from enishi.shop_config import REPO_DIR, load_shop_config
    from enishi_local.stack import LocalStack
    from infra.synth import synthesize

    shop_id = load_shop_config(str(REPO_DIR)).shop_id
    template = synthesize({"enishi:cartConnections": json.dumps(connections(shop_id), ensure_ascii=False)})
    with (
        LocalStack(port=port, start=start, template_path=template) as stack,
        FakeEccube(now=stack.clock.now) as eccube,
        FakeColorme(now=stack.clock.now) as colorme,
    ):
        point_connection_at(stack, ECCUBE_ID, eccube.url)
        point_connection_at(stack, COLORME_ID, colorme.url)
        tokens = exchange_code(
            eccube.url + "/token",
            eccube.client_id,
            eccube.client_secret,
            eccube.issue_code(),
            "https://enishi.example/cb",
        )
        connect_local(
            stack,
            ECCUBE_ID,
            OAuthSecret(
                client_id=eccube.client_id,
                client_secret=eccube.client_secret,
                access_token=tokens["access_token"],
                refresh_token=tokens["refresh_token"],
                expires_at=stack.clock.now() + timedelta(seconds=tokens["expires_in"]),
                token_url=eccube.url + "/token",
                webhook_secret=WEBHOOK_SECRET,
            ),
        )
        connect_local(stack, COLORME_ID, OAuthSecret(access_token=DEFAULT_COLORME_TOKEN))
        yield stack, eccube, colorme


def eccube_webhook_url(stack: Any) -> str:
    return f"{stack.url}/webhooks/eccube/{ECCUBE_ID}"


def run_scenario(
    stack: Any, eccube: FakeEccube, colorme: FakeColorme, say: Any = print
) -> list[dict[str, Any]]:
    hook = eccube_webhook_url(stack)
    email = "hanako.local@example.jp"
    cid = eccube.put_customer(email, mailmaga_flg=1)
    oid = eccube.start_checkout(email, customer_id=cid)
    eccube.notify(
        hook,
        WEBHOOK_SECRET,
        [
            {"entity": "customer", "id": int(cid), "action": "created"},
            {"entity": "order", "id": int(oid), "action": "created"},
        ],
    )
    say(f"EC-CUBE: checkout {oid} started (購入処理中), webhook sent")
    stack.advance_to(stack.clock.now() + timedelta(minutes=4))
    eccube.complete(oid)
    eccube.notify(hook, WEBHOOK_SECRET, [{"entity": "order", "id": int(oid), "action": "updated"}])
    say(f"EC-CUBE: order {oid} completed (新規受付), webhook sent")
    stack.advance_to(stack.clock.now() + timedelta(hours=2))
    eccube.ship(oid, "4012-3456-7890", "ヤマト運輸")
    eccube.notify(hook, WEBHOOK_SECRET, [{"entity": "order", "id": int(oid), "action": "updated"}])
    say(f"EC-CUBE: order {oid} shipped with ヤマト運輸 4012-3456-7890, webhook sent")

    mail = "ichiro.local@example.jp"
    sale = colorme.order(colorme.put_customer(mail, receive_mail_magazine=True))
    say(f"カラーミー: sale {sale} placed (no webhook: the sweep finds it)")
    stack.advance_to(stack.clock.now() + timedelta(minutes=21))
    colorme.ship(sale, "4012-0000-1111")
    say(f"カラーミー: sale {sale} shipped, slip 4012-0000-1111")
    stack.advance_to(stack.clock.now() + timedelta(minutes=21))
    stack.settle()
    sent = [m for m in stack.outbox() if m["recipient"] in (email, mail)]
    for m in sent:
        say(f"  sent {m['channel']:5} {m['sequence']:16} → {m['recipient']}: {m.get('subject', '')}")
    return sent


def main(argv: list[str] | None = None) -> int:
    print(
        "starting the local stack with an EC-CUBE and a カラーミー shop (first run synthesizes, ~1 min) …",
        flush=True,
    )
    with carts_stack() as (stack, eccube, colorme):
        sent = run_scenario(stack, eccube, colorme)
    return 0 if len(sent) >= 4 else 1
