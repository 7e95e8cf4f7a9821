"""``enishi demo``: the local stack, a simulated shop sending signed webhooks over HTTP, then the lifecycle report.

    enishi demo [--customers 500] [--days 180] [--seed 7] [--out out/demo] [--small] [--campaign ID|none]

Prints a progress bar while the shop runs, a summary table at the end, and writes ``<out>/report.html``,
``<out>/charts/*.png``, ``<out>/summary.json`` and every sent message under ``<out>/outbox/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="enishi demo", description="Run a simulated shop through enishi locally."
    )
    p.add_argument("--customers", type=int, default=None, help="customers (default 500; 40 with --small)")
    p.add_argument("--days", type=int, default=None, help="virtual days (default 180; 21 with --small)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="out/demo")
    p.add_argument("--small", action="store_true", help="tens of customers over a few weeks (for tests)")
    p.add_argument("--port", type=int, default=0, help="local API port (default: any free port)")
    p.add_argument(
        "--resolution-minutes",
        type=float,
        default=10.0,
        help="events closer than this share one clock advance (default 10)",
    )
    p.add_argument(
        "--wake-resolution-minutes",
        type=float,
        default=None,
        help="round wait ends up to this grid (default: off — each wait ends at its own time)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--campaign",
        metavar="ID",
        default=DEFAULT_CAMPAIGN,
        help=f"the segment campaign (shop/campaigns/ID.yaml) run once, after the analytics job (default:"
        f" {DEFAULT_CAMPAIGN}; 'none': no campaign)",
    )
    p.add_argument(
        "--campaign-day",
        type=int,
        default=None,
        help="the day the campaign starts, 10:00 JST (default: half-way)",
    )
    return p.parse_args(argv)


CAMPAIGN_HOUR_JST = 10
DEFAULT_CAMPAIGN = "new-season"  # issue 12: the default demo runs one segment campaign and measures it


def schedule_campaign(args: argparse.Namespace, sim: Any, stack: Any, cfg: Any) -> dict[str, Any]:
    """With ``--campaign``: on its day at 10:00 JST run the analytics job (the segments), then start the campaign on
    the stack (``enishi campaign start``); the returned dict gets the start time. Nothing without the flag."""
    from datetime import timedelta

    started: dict[str, Any] = {}
    cid = campaign_id(args)
    if cid is None:
        return started
    day = args.campaign_day if args.campaign_day is not None else cfg.days // 2
    at = cfg.start + timedelta(days=day, hours=CAMPAIGN_HOUR_JST)

    def run(t: Any) -> None:
        from enishi_local import campaign_ops

        began = time.perf_counter()
        stack.run_analytics()
        target = campaign_ops.local(stack)
        started["at"] = target.now()
        started["execution"] = campaign_ops.start(target, cid, name=f"demo-{cid}")
        started["seconds"] = round(time.perf_counter() - began, 2)  # the segments' Analytics run + the start

    sim.at(at, run)
    return started


def campaign_id(args: argparse.Namespace) -> str | None:
    return None if args.campaign in (None, "", "none") else str(args.campaign)


def campaign_summary(args: argparse.Namespace, started: dict[str, Any], result: Any) -> Any:
    """The campaign's treated vs. control as the analytics job measured it (``result.experiments``)."""
    cid = campaign_id(args)
    if not cid or "at" not in started:
        return None
    measured = next((h for h in result.experiments if h.kind == "campaign" and h.name == cid), None)
    out: dict[str, Any] = {"started_at": started["at"].isoformat()}
    return out | measured.model_dump(mode="json") if measured is not None else out


@dataclass
class DemoResult:
    summary: dict[str, Any]
    sim: Any
    messages: list[Any]
    stats: Any
    profiles: list[dict[str, Any]]
    message_records: list[dict[str, Any]]


def sim_config(args: argparse.Namespace):
    from .shop_sim import SimConfig

    overrides = {k: v for k, v in (("customers", args.customers), ("days", args.days)) if v is not None}
    if args.small:
        return SimConfig.small(seed=args.seed, **overrides)
    return SimConfig(seed=args.seed, **overrides)


def sim_facts(sim: Any) -> dict[str, Any]:
    """What only the shop knows (a cart without contact never reaches enishi), for the funnel and the checks."""
    return {
        "customers": len(sim.customers),
        **_cart_facts(sim),
        **_order_facts(sim),
        **_customer_facts(sim),
        "webhook_deliveries": sim.deliveries,
        "duplicate_deliveries": sim.duplicates,
    }


def _cart_facts(sim: Any) -> dict[str, Any]:
    with_cart = {co.customer.id for co in sim.checkouts}
    with_contact = {co.customer.id for co in sim.checkouts if co.with_contact}
    abandoned = [co for co in sim.checkouts if co.with_contact and (not co.completed or co.recovered_by)]
    reminder_revenue = sum(
        (o.total for o in sim.orders if o.cause == "cart_reminder" and not o.cancelled), Decimal(0)
    )
    return {
        "visitors_with_cart": len(with_cart),
        "visitors_with_contact": len(with_contact),
        "carts_abandoned_with_contact": len(abandoned),
        "carts_recovered_after_reminder": sum(1 for co in sim.checkouts if co.recovered_by == "reminder"),
        "carts_recovered_revenue": float(reminder_revenue),
        "carts_recovered_on_their_own": sum(1 for co in sim.checkouts if co.recovered_by == "self"),
    }


def _order_facts(sim: Any) -> dict[str, Any]:
    by_cause = Counter(o.cause for o in sim.orders if not o.cancelled)
    return {
        "orders": sum(by_cause.values()),
        "orders_by_cause": dict(by_cause),
        "cancelled_orders": sum(1 for o in sim.orders if o.cancelled),
    }


def _customer_facts(sim: Any) -> dict[str, int]:
    return {
        "unsubscribed": sum(1 for c in sim.customers if c.unsubscribed_at),
        "bounce_addresses": sum(1 for c in sim.customers if c.bounce),
        "line_linked": sum(1 for c in sim.customers if c.line_linked_at),
        "line_friends": sum(1 for c in sim.customers if c.line_user_id),
    }


def run_demo(
    args: argparse.Namespace, out_dir: Path | None = None, stack_kwargs: dict[str, Any] | None = None
) -> DemoResult:
    from enishi.profiles.model import StageThresholds
    from enishi.shop_config import load_shop_config
    from enishi_local.report import build_report
    from enishi_local.report.collect import executions_from_tally, split_items
    from enishi_local.report.command import local_result
    from enishi_local.report.metrics import ReportData
    from enishi_local.stack import LocalStack

    from .driver import HttpTransport, Progress, Secrets, drive, set_shop_domain
    from .shop_sim import ShopSimulation
    from .stack_world import StackWorld

    t_start = time.perf_counter()
    quiet_handlers()
    cfg = sim_config(args)
    shop = load_shop_config()
    set_shop_domain(shop.shop_id)
    thresholds = StageThresholds(**shop.stages.model_dump())
    catalog = [p.model_dump() for p in shop.catalog]
    sim = ShopSimulation(
        cfg,
        catalog,
        shop.shop_id,
        free_shipping_threshold=int(shop.shipping.free_shipping_threshold or 5000),
        shipping_fee=int(shop.shipping.shipping_fee or 550),
    )
    out_dir = out_dir or Path(args.out)
    with LocalStack(port=args.port, time_scale=None, start=cfg.start, **(stack_kwargs or {})) as stack:
        t_ready = time.perf_counter()
        world = StackWorld(stack, shop.shop_id)
        secrets = Secrets(
            shopify=stack.secrets.shopify,
            line_channel=stack.secrets.line_channel_secret,
        )
        transport = HttpTransport()
        campaign_started = schedule_campaign(args, sim, stack, cfg)
        progress = Progress(cfg.days, enabled=not args.no_progress)
        t_sim = time.perf_counter()
        wake = timedelta(minutes=args.wake_resolution_minutes) if args.wake_resolution_minutes else None
        stats = drive(
            sim,
            world,
            transport,
            secrets,
            resolution=timedelta(minutes=args.resolution_minutes),
            wake_resolution=wake,
            sampler=world.sampler(sim, thresholds),
            progress=progress,
        )
        sim_seconds = time.perf_counter() - t_sim
        transport.close()
        t_report = time.perf_counter()
        parts = split_items(
            stack.direct_table().scan()
        )  # the whole table, read from moto without a round trip
        executions = executions_from_tally(stack.tally.rows())  # counted as they ran: no history read-back
        orders = [
            {
                "customer_id": str(o.customer.id),
                "placed_at": o.placed_at,
                "total": o.total,
                "cancelled": o.cancelled,
            }
            for o in sim.orders
        ]
        peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        run = {
            "seed": cfg.seed,
            "customers": cfg.customers,
            "days": cfg.days,
            "stack_start_seconds": round(t_ready - t_start, 2),
            "simulation_seconds": round(sim_seconds, 2),
            "settle_seconds": round(stats.settle_seconds, 2),
            "post_seconds": round(stats.post_seconds, 2),
            "iterations": stats.iterations,
            "requests": dict(stats.posts),
            "http_statuses": dict(stats.statuses),
            "http_errors": stats.errors,
            "ses_events": stats.ses_events,
            "messages_sent": len(world.messages),
            "settle_missed_notifications": stack.missed_notifications,
            "messages_per_second": round(len(world.messages) / sim_seconds, 2) if sim_seconds else None,
            "peak_rss_mb": peak_mb,
        }
        data = ReportData(
            shop=shop.shop_id,
            start=cfg.start,
            end=cfg.end,
            profiles=parts["profiles"],
            messages=parts["messages"],
            outbox=world.messages,
            executions=executions,
            stage_samples=stats.stage_samples,
            orders=orders,
            sim=sim_facts(sim),
            thresholds=thresholds,
            line_plan=_line_plan(shop.messaging.line_monthly_quota),
            run=run,
            order_items=parts["orders"],
            margin_rate=float(shop.analytics.margin_rate),
        )
        # the analytics result as `enishi report --local` reads it (its Analytics run at the end when the stack has
        # one, else computed from the table by the stand-in), rendered by the same code with the run's own sections
        result, _source = local_result(stack, refresh=True, as_of=cfg.end, data=data)
        summary = build_report(data, out_dir, messages=world.messages, result=result)
        campaign = campaign_summary(args, campaign_started, result)
        if campaign is not None:
            summary["campaigns"] = {campaign_id(args): campaign}
        if "seconds" in campaign_started:
            run["campaign_start_seconds"] = campaign_started["seconds"]
        run["report_seconds"] = round(time.perf_counter() - t_report, 2)
        run["wall_seconds"] = round(time.perf_counter() - t_start, 2)
        run["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        summary["run"] = run
        from enishi_local.report import write_summary

        write_summary(summary, out_dir)
        return DemoResult(
            summary=summary,
            sim=sim,
            messages=world.messages,
            stats=stats,
            profiles=parts["profiles"],
            message_records=parts["messages"],
        )


def quiet_handlers() -> None:
    """The handlers log JSON and flush metrics to stdout, as in Lambda; a demo in a terminal wants its own output."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "1")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    logging.getLogger("moto").setLevel(logging.CRITICAL)


def _line_plan(quota: int) -> str:
    from enishi_local.report.metrics import line_plan_for

    return line_plan_for(quota)


def main(argv: list[str] | None = None) -> int:
    from enishi_local.report.terminal import format_summary

    args = parse_args(argv)
    out_dir = Path(args.out)
    cfg = sim_config(args)
    print(
        f"enishi demo: {cfg.customers} customers over {cfg.days} virtual days (seed {cfg.seed}) → {out_dir}/",
        file=sys.stderr,
    )
    result = run_demo(args, out_dir)
    print(format_summary(result.summary))
    print(
        f"report: {out_dir / 'report.html'}   summary: {out_dir / 'summary.json'}   outbox: {out_dir / 'outbox'}/"
    )
    errors = result.summary["run"].get("http_errors") or []
    if errors:
        print(f"warning: {len(errors)} requests were not accepted, e.g. {errors[:3]}", file=sys.stderr)
    return 0
