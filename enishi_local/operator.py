"""Operator commands against a running ``enishi local`` or a deployed stack:

    enishi import   (--stack NAME | --local URL) [--shop ID] [--customers-csv F --orders-csv F]
                    [--shopify-jsonl F ...] [--encoding cp932] [--exported-at ISO]
    enishi customer show|export|erase (--stack NAME | --local URL) (--email E | --customer-id ID | --line-id U)
                    [--yes] [--out FILE]

``--stack``: the deployed stack's CloudFormation outputs name the table and the raw-payload bucket (the usual AWS
credential chain). ``--local``: the command is run inside the running ``enishi local`` (``POST /_local/operator``;
its AWS is moto, in that process), reading the files from this machine's paths. The code that runs is the same.
Output carries ids and counts; ``customer show|export`` print the customer's data, which is what they are for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from enishi import constants as c
from enishi_local.http import OPERATOR_PATH  # the one spelling of the endpoint (the server side)


@dataclass
class Target:
    table: Any  # boto3 DynamoDB Table
    s3: Any
    raw_bucket: str | None
    shop: str | None = None
    now: Any = None  # () -> datetime (the local stack's virtual clock)


def stack_outputs(stack_name: str, session: Any) -> dict[str, str]:
    """A deployed stack's CloudFormation outputs; ``SystemExit`` unless it is an enishi stack (it names a table)."""
    stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if c.OUTPUT_TABLE_NAME not in outputs:
        raise SystemExit(f"stack {stack_name} has no {c.OUTPUT_TABLE_NAME} output: is it an enishi stack?")
    return outputs


def deployed(stack_name: str, session: Any = None, outputs: dict[str, str] | None = None) -> Target:
    import boto3

    session = session or boto3.session.Session()
    outputs = outputs if outputs is not None else stack_outputs(stack_name, session)
    table = session.resource("dynamodb").Table(outputs[c.OUTPUT_TABLE_NAME])
    return Target(table=table, s3=session.client("s3"), raw_bucket=outputs.get(c.OUTPUT_RAW_BUCKET_NAME))


def local(stack: Any) -> Target:
    """The in-process ``LocalStack`` (tests, and the ``/_local/operator`` endpoint)."""
    import boto3

    return Target(
        table=boto3.resource("dynamodb", region_name=stack.region).Table(stack.table_name),
        s3=boto3.client("s3", region_name=stack.region),
        raw_bucket=stack.raw_bucket_name,
        shop=stack.shop_id,
        now=stack.clock.now,
    )


# ---------------------------------------------------------------- argument parsing


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"enishi {command}")
    where = parser.add_mutually_exclusive_group(required=False)
    where.add_argument("--stack", help="a deployed enishi stack (CloudFormation stack name)")
    where.add_argument("--local", metavar="URL", help="a running `enishi local` (e.g. http://127.0.0.1:8787)")
    parser.add_argument("--shop", help="shop id (default: shop_id of shop/shop.yaml)")
    if command == "import":
        parser.add_argument("--customers-csv", type=Path, help="customers CSV (docs/import.md)")
        parser.add_argument("--orders-csv", type=Path, help="orders CSV, rows of one 受注ID consecutive")
        parser.add_argument(
            "--shopify-jsonl",
            type=Path,
            action="append",
            default=[],
            help="a Shopify bulk operation result (JSONL), customers and/or orders; repeatable",
        )
        parser.add_argument("--encoding", default="utf-8-sig", help="CSV encoding (Japanese exports: cp932)")
        parser.add_argument(
            "--exported-at", help="when the files were exported (ISO 8601; default: file mtime)"
        )
    else:
        parser.add_argument("action", choices=("show", "export", "erase"))
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--email")
        who.add_argument("--customer-id")
        who.add_argument("--line-id")
        parser.add_argument("--yes", action="store_true", help="erase without asking")
        parser.add_argument("--out", type=Path, help="export: write the JSON here (default: stdout)")
    return parser


def main(command: str, argv: list[str]) -> int:
    opts = _parser(command).parse_args(argv)
    if opts.local:
        return _remote(opts.local, command, [a for a in argv if a not in ("--local", opts.local)], opts)
    if not opts.stack:
        print("say where: --stack NAME (deployed) or --local URL (a running `enishi local`)", file=sys.stderr)
        return 2
    if (
        command == "customer"
        and opts.action == "erase"
        and not opts.yes
        and input("erase all personal data of this customer? type 'erase': ").strip() != "erase"
    ):
        return 1
    rc, out = run(deployed(opts.stack), command, argv)
    return _emit(rc, out, opts)


def _emit(rc: int, out: str, opts: argparse.Namespace) -> int:
    if getattr(opts, "out", None) and rc == 0:
        opts.out.write_text(out, encoding="utf-8")
        print(f"written to {opts.out}")
    else:
        print(out)
    return rc


def post_operator(url: str, command: str, argv: list[str]) -> dict[str, Any]:
    """Run ``command argv`` inside a running ``enishi local`` (``POST /_local/operator``); its ``{rc, output}``."""
    body = json.dumps({"command": command, "argv": argv}).encode()
    req = urllib.request.Request(
        url.rstrip("/") + OPERATOR_PATH,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=3600) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
    return answer


def _remote(url: str, command: str, argv: list[str], opts: argparse.Namespace) -> int:
    argv = [str(Path(a).resolve()) if Path(a).is_file() else a for a in argv]
    if command == "customer" and opts.action == "erase":
        argv = [*argv, "--yes"]
    answer = post_operator(url, command, argv)
    return _emit(int(answer["rc"]), str(answer["output"]), opts)


# ---------------------------------------------------------------- the commands (same code, local or deployed)


def run(target: Target, command: str, argv: list[str]) -> tuple[int, str]:
    opts = _parser(command).parse_args(_strip(argv))
    shop = opts.shop or target.shop or _shop_id()
    if command == "import":
        return 0, json.dumps(run_import(target, shop, opts).as_dict(), ensure_ascii=False)
    from enishi.privacy.store import CustomerNotFound, PrivacyStore

    store = PrivacyStore(target.table, target.s3, target.raw_bucket)
    try:
        cid = store.resolve(shop, email=opts.email, customer_id=opts.customer_id, line_user_id=opts.line_id)
    except CustomerNotFound:
        return 1, "no such customer"
    now = target.now() if target.now else None
    holdings = store.holdings(shop, cid, with_raw=opts.action != "show")
    if opts.action == "erase":
        return 0, json.dumps({"customer_id": holdings.customer_id, "erased": store.erase(holdings, now)})
    data = store.export(holdings, now)
    if opts.action == "export":
        return 0, json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return 0, show_text(data)


def _strip(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--stack", "--local"):
            skip = True
            continue
        out.append(a)
    return out


def show_text(data: dict[str, Any]) -> str:
    lines = [f"customer {data['customer_id']} ({data['shop']})"]
    for p in data.get("profiles", []):
        lines.append(
            f"  profile {p.get('customer_id')}: F{p.get('order_count', 0)} stage={p.get('stage')} "
            f"spent={p.get('total_spent', 0)} last_order={p.get('last_order_at', '-')}"
            f"{' REDACTED' if p.get('redacted') else ''}"
        )
        for name in ("email", "phone", "first_name", "last_name"):
            if p.get(name):
                lines.append(f"    {name}: {p[name]}")
        consent = p.get("email_consent") or {}
        lines.append(
            f"    email consent: {consent.get('state', '-')} ({consent.get('kind', '-')}, "
            f"{consent.get('source', '-')}, {consent.get('collected_at', '-')})"
        )
    lines.append(f"  consent ledger ({len(data.get('consent_ledger', []))}):")
    for r in data.get("consent_ledger", []):
        lines.append(
            f"    {r.get('collected_at')} {r.get('channel')} {r.get('state')} {r.get('kind')} "
            f"source={r.get('source')}"
        )
    lines.append(f"  orders ({len(data.get('orders', []))}):")
    for o in sorted(data.get("orders", []), key=lambda o: str(o.get("placed_at", ""))):
        lines.append(
            f"    {o.get('order_id')} {o.get('placed_at', '-')} {o.get('status')} {o.get('total', '-')} "
            f"{o.get('currency', '')}{' (imported)' if o.get('imported') else ''}"
        )
    lines.append(f"  messages ({len(data.get('messages', []))}):")
    for m in data.get("messages", []):
        lines.append(f"    {m.get('sk', '')[4:]} {m.get('channel', '-')} {m.get('status', '-')}")
    return "\n".join(lines)


def _shop_id() -> str:
    from enishi.shop_config import load_shop_config

    return load_shop_config().shop_id


def _stages() -> Any:
    from enishi.profiles import apply as logic
    from enishi.shop_config import load_shop_config

    try:
        return logic.thresholds(load_shop_config().stages)
    except Exception:  # noqa: BLE001 - no (valid) shop config here: the defaults
        return logic.thresholds(None)


def _records(opts: argparse.Namespace) -> Iterator[Any]:
    from enishi.history import sources

    if opts.customers_csv:
        with opts.customers_csv.open(encoding=opts.encoding, newline="") as f:
            yield from sources.csv_customers(f)
    if opts.orders_csv:
        with opts.orders_csv.open(encoding=opts.encoding, newline="") as f:
            yield from sources.csv_orders(f)
    for path in opts.shopify_jsonl:
        with path.open(encoding="utf-8") as f:
            yield from sources.shopify_bulk(f)


def _exported_at(opts: argparse.Namespace) -> datetime:
    from enishi.history.sources import parse_time

    if opts.exported_at:
        at = parse_time(opts.exported_at)
        assert at is not None
        return at
    files = [p for p in (opts.customers_csv, opts.orders_csv, *opts.shopify_jsonl) if p]
    if not files:
        raise SystemExit("nothing to import: give --customers-csv/--orders-csv and/or --shopify-jsonl")
    return datetime.fromtimestamp(max(int(os.stat(p).st_mtime) for p in files), UTC)


def run_import(target: Target, shop: str, opts: argparse.Namespace) -> Any:
    from enishi.history.load import Importer

    return Importer(target.table, shop, exported_at=_exported_at(opts), stages=_stages()).run(_records(opts))


def _run_local(stack: Any, command: str, argv: list[str]) -> tuple[int, str]:
    if command == "campaign":  # enishi campaign preview|start|cancel|status (enishi_local/campaign_ops.py)
        from enishi_local import campaign_ops

        return campaign_ops.run(campaign_ops.local(stack), argv)
    return run(local(stack), command, argv)


def serve_operator(stack: Any, body: bytes) -> dict[str, Any]:
    """``POST /_local/operator`` of the local stack: run a command against its moto."""
    request = json.loads(body or b"{}")
    command, argv = request.get("command"), list(request.get("argv") or [])
    if command not in ("import", "customer", "report", "campaign"):
        return {"rc": 2, "output": "unknown command"}
    started = time.monotonic()
    try:
        if command == "report":  # the analytics result document, read (or computed) inside the stack
            from enishi_local.report.command import serve_local

            answer = serve_local(stack, argv)
            rc, out = int(answer["rc"]), str(answer["output"])
        else:
            rc, out = _run_local(stack, command, argv)
    except SystemExit as exit_:
        rc, out = 2, str(exit_)
    except Exception as exc:  # noqa: BLE001 - any failure is answered to the operator of this machine only
        rc, out = 1, f"{type(exc).__name__}: {exc}"
    return {"rc": rc, "output": out, "seconds": round(time.monotonic() - started, 3)}
