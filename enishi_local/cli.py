"""The ``enishi`` command line (local use): ``enishi local``, ``enishi outbox``, ``enishi demo``."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import urllib.request
from datetime import datetime
from typing import Any

DEFAULT_PORT = 8787
DEFAULT_TIME_SCALE = (
    60.0  # one virtual hour per real minute: the cart reminder arrives a minute after the curl
)
SHOP_DOMAIN = "enishi-demo.myshopify.com"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "demo":  # the demo parses its own options
        from enishi_local.demo import main as demo_main

        return int(demo_main(args[1:]) or 0)
    if args and args[0] == "jp-carts":  # the local stack with an EC-CUBE and a カラーミー shop (fakes)
        from enishi_local.jp_carts import main as jp_carts_main

        return jp_carts_main(args[1:])
    if args and args[0] == "connect":  # operator tool: a polled cart's OAuth tokens into its secret
        from enishi_local.connect import main as connect_main

        return connect_main(args[1:])
    if args and args[0] == "replay":  # operator tool: kept Shopify payloads back to the intake
        from enishi_local.replay import main as replay_main

        return replay_main(args[1:])
    if args and args[0] == "report":  # the lifecycle report of a deployed stack or a running `enishi local`
        from enishi_local.report.command import main as report_main

        return report_main(args[1:])
    if args and args[0] == "campaign":  # operator tool: preview, start, cancel, status of a campaign
        from enishi_local.campaign_ops import main as campaign_main

        return campaign_main(args[1:])
    if args and args[0] in (
        "import",
        "customer",
    ):  # operator tools: history import, customer show/export/erase
        from enishi_local.operator import main as operator_main

        return operator_main(args[0], args[1:])
    parser = argparse.ArgumentParser(
        prog="enishi", description="enishi on this machine (no AWS account needed)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="serve the local stack until Ctrl-C")
    local.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT})")
    local.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help="virtual seconds per real second (default 60: an hour a minute; 0 = frozen)",
    )
    outbox = sub.add_parser("outbox", help="print what the running local stack sent")
    outbox.add_argument(
        "--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="base URL of `enishi local`"
    )
    outbox.add_argument("--json", action="store_true", help="print the raw JSON")
    sub.add_parser("demo", help="run the simulated shop (see `enishi demo --help`)")
    sub.add_parser("jp-carts", help="run an EC-CUBE and a カラーミー shop against local fakes of their APIs")
    sub.add_parser("connect", help="store a cart connection's tokens (see `enishi connect --help`)")
    sub.add_parser(
        "replay", help="send kept Shopify payloads back to the intake (see `enishi replay --help`)"
    )
    sub.add_parser(
        "campaign", help="preview, start, cancel or show a campaign (see `enishi campaign --help`)"
    )
    sub.add_parser("import", help="import a shop's past customers and orders (see `enishi import --help`)")
    sub.add_parser("customer", help="show, export or erase one customer (see `enishi customer --help`)")
    sub.add_parser(
        "report", help="the lifecycle report of a stack or `enishi local` (see `enishi report --help`)"
    )
    opts = parser.parse_args(args)
    if opts.command == "local":
        return serve(opts.port, opts.time_scale)
    return print_outbox(opts.url, as_json=opts.json)


def serve(port: int, time_scale: float) -> int:
    from enishi_local.stack import LocalStack

    print("starting enishi locally (synthesizing the CDK app on first run, a few seconds) …", flush=True)
    stack = LocalStack(port=port, time_scale=time_scale or None)
    stack.start()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(banner(stack.url, stack.secrets, time_scale), flush=True)
        stop.wait()
    finally:
        print("\nstopping …", flush=True)
        stack.stop()
    return 0


def banner(url: str, secrets: Any, time_scale: float) -> str:
    from enishi_local.stack import (
        ENV_LOCAL_GENERIC_SECRET,
        ENV_LOCAL_LINE_CHANNEL_SECRET,
        ENV_LOCAL_SHOPIFY_SECRET,
    )

    speed = f"{time_scale:g} virtual seconds per real second" if time_scale else "frozen (manual)"
    return f"""
enishi is running on {url}   (Ctrl-C to stop)

  webhooks   POST {url}/webhooks/shopify
             POST {url}/webhooks/generic
             POST {url}/webhooks/line
  unsubscribe GET/POST {url}/u/{{token}}
  outbox     GET  {url}/_local/outbox        (or: enishi outbox --url {url})
  health     GET  {url}/_local/health
  clock      {speed}

secrets in use (set the environment variable to change; local values only):
  {ENV_LOCAL_SHOPIFY_SECRET}={secrets.shopify}
  {ENV_LOCAL_GENERIC_SECRET}={secrets.generic}
  {ENV_LOCAL_LINE_CHANNEL_SECRET}={secrets.line_channel_secret}

sign and post a Shopify checkout (the cart reminder follows an hour later, virtual time):

{curl_example(url, secrets.shopify)}
"""


def sample_checkout(email: str = "you@example.jp") -> dict[str, Any]:
    """A small open checkout with contact info: what Shopify posts on checkouts/create."""
    return {
        "id": 36000000999,
        "token": "local0checkout0token0000000000001",
        "cart_token": "local-cart-0001",
        "email": email,
        "buyer_accepts_marketing": True,
        "created_at": "__NOW__",
        "updated_at": "__NOW__",
        "completed_at": None,
        "currency": "JPY",
        "total_price": "3240",
        "subtotal_price": "3240",
        "abandoned_checkout_url": f"https://{SHOP_DOMAIN}/checkouts/ac/local0checkout0token0000000000001/recover",
        "line_items": [
            {
                "title": "静岡 深蒸し煎茶 100g",
                "quantity": 2,
                "price": "1620",
                "sku": "SEN-100",
                "product_id": 8100000000001,
                "variant_id": 4500000000011,
            }
        ],
        "customer": {
            "id": 7010000000999,
            "email": email,
            "first_name": "花子",
            "last_name": "山田",
            "email_marketing_consent": {
                "state": "subscribed",
                "opt_in_level": "single_opt_in",
                "consent_updated_at": "__NOW__",
            },
        },
    }


def curl_example(url: str, secret: str) -> str:
    """A copy-paste shell snippet: the body stamped with the stack's *virtual* now (from /_local/health: with a
    time scale the virtual clock runs ahead of `date`), HMAC-SHA256 (base64) by openssl, then curl."""
    body = json.dumps(sample_checkout(), ensure_ascii=False, separators=(",", ":"))
    now_cmd = f'NOW=$(curl -s {url}/_local/health | sed -n \'s/.*"now": "\\([^"]*\\)".*/\\1/p\')'
    body_cmd = "BODY=$(printf '%s' " + shlex.quote(body) + ' | sed "s/__NOW__/$NOW/g")'
    return "\n".join(
        [
            now_cmd,
            body_cmd,
            f"SIG=$(printf '%s' \"$BODY\" | openssl dgst -sha256 -hmac {shlex.quote(secret)} -binary | base64)",
            f"curl -sS -X POST {url}/webhooks/shopify \\",
            "  -H 'Content-Type: application/json' -H 'X-Shopify-Topic: checkouts/create' \\",
            f"  -H 'X-Shopify-Shop-Domain: {SHOP_DOMAIN}' -H \"X-Shopify-Event-Id: $(date +%s%N)\" \\",
            '  -H "X-Shopify-Webhook-Id: $(date +%s%N)" -H "X-Shopify-Hmac-Sha256: $SIG" \\',
            '  --data-binary "$BODY"; echo',
        ]
    )


def print_outbox(url: str, *, as_json: bool = False) -> int:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/_local/outbox", timeout=10) as resp:
            messages = json.loads(resp.read())
    except OSError as err:
        print(f"cannot reach {url} ({err}); is `enishi local` running?", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(messages, ensure_ascii=False, indent=2))
        return 0
    print(outbox_table(messages))
    return 0


def outbox_table(messages: list[dict[str, Any]]) -> str:
    if not messages:
        return "(nothing sent yet)"
    rows = [("sent (JST)", "channel", "recipient", "sequence/step", "subject / text")]
    for m in messages:
        sent = datetime.fromisoformat(m["sent_at"]).astimezone(_jst()).strftime("%Y-%m-%d %H:%M")
        what = m.get("subject") or (m.get("text") or "").replace("\n", " ")
        step = "/".join(x for x in (m.get("sequence"), m.get("step")) if x) or "-"
        rows.append((sent, m["channel"], m["recipient"], step, _cut(what, 48)))
    widths = [max(_width(r[i]) for r in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[i] + " " * (widths[i] - _width(row[i])) for i in range(4)] + [row[4]]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 14)
    lines.append(f"{len(messages)} message(s)")
    return "\n".join(lines)


def _jst():
    from enishi.clock import JST

    return JST


def _width(text: str) -> int:
    """Terminal columns: East Asian wide characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _cut(text: str, columns: int) -> str:
    out, used = "", 0
    for ch in text:
        w = _width(ch)
        if used + w > columns:
            return out + "…"
        out, used = out + ch, used + w
    return out


if __name__ == "__main__":
    raise SystemExit(main())
