"""How fast the local stack sends: ``python -m enishi_local.throughput [--checkouts N]``.

Posts N signed Shopify ``checkouts/create`` webhooks over HTTP (N different customers), lets the virtual clock pass
the cart-recovery hour, and reports webhooks/s, messages sent per real second, and peak memory (RSS).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta

import requests

from enishi_local.cli import SHOP_DOMAIN, sample_checkout
from enishi_local.shopify_webhooks import shopify_headers
from enishi_local.stack import LocalStack

START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST, outside quiet hours


def run(checkouts: int) -> dict[str, float]:
    t0 = time.monotonic()
    with LocalStack(port=0, start=START) as stack:
        started = time.monotonic() - t0
        session = requests.Session()
        at = stack.clock.now().isoformat()
        t1 = time.monotonic()
        for i in range(checkouts):
            body = sample_checkout(f"bench{i}@example.jp")
            token = uuid.uuid4().hex
            body |= {"token": token, "id": 37_000_000_000 + i, "created_at": at, "updated_at": at}
            body["customer"] |= {
                "id": 7_020_000_000_000 + i,
                "email": body["email"],
                "email_marketing_consent": {
                    **body["customer"]["email_marketing_consent"],
                    "consent_updated_at": at,
                },
            }
            raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
            resp = session.post(
                stack.url + "/webhooks/shopify",
                data=raw,
                timeout=30,
                headers=shopify_headers(
                    raw,
                    stack.secrets.shopify,
                    topic="checkouts/create",
                    shop=SHOP_DOMAIN,
                    event_id=str(uuid.uuid4()),
                    webhook_id=str(uuid.uuid4()),
                ),
            )
            resp.raise_for_status()
        stack.settle(timeout=300)
        intake_s = time.monotonic() - t1
        t2 = time.monotonic()
        stack.advance_to(START + timedelta(hours=1, minutes=5), settle_timeout=300)
        send_s = time.monotonic() - t2
        sent = len(stack.outbox())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "checkouts": checkouts,
        "start_seconds": round(started, 2),
        "webhooks_per_second": round(checkouts / intake_s, 1),
        "messages_sent": sent,
        "send_seconds": round(send_s, 2),
        "messages_per_second": round(sent / send_s, 1) if send_s else 0.0,
        "peak_rss_mb": round(peak_mb, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m enishi_local.throughput")
    parser.add_argument("--checkouts", type=int, default=200)
    result = run(parser.parse_args(argv).checkouts)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
