"""The analytics job's steps, called by the ``Analytics`` state machine through ``handler.py`` (one action each).

1. ``start_queries``: the completed export's manifest → an Athena table over its ``data/`` folder → the queries
   started (Athena runs them in parallel).
2. ``poll_queries``: done when every query has left QUEUED/RUNNING; a failed query fails the run.
3. ``write_result``: rows → ``result.json`` (+ ``results/latest.json``), the per-customer segment rows and the
   rows whose ``rfm`` / ``segment`` changed (written by 4.); the export's table dropped.
4. ``write_back``: one part of the changed rows (``WRITE_BACK_CHUNK`` rows a part) set on the profiles; returns the
   next part's number, or None when done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from enishi import keys
from enishi.analytics import build, queries, schema
from enishi.analytics import cost as cm
from enishi.analytics.adapters import Athena, Bucket, ProfileWriter
from enishi.analytics.build import CustomerRow, Settings

WRITE_BACK_CHUNK = 20_000  # profile updates per invocation (8 threads: well inside the λ timeout)
DDL_POLL_SECONDS = 0.5
DDL_POLLS = 120


class QueryFailed(Exception):
    """An Athena query failed (the run fails; the next daily run starts over)."""


@dataclass
class Job:
    athena: Athena
    bucket: Bucket
    describe_export: Callable[[str], dict[str, Any]]
    writer: ProfileWriter
    settings_for: Callable[[datetime], Settings]
    source: str
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep

    # ---- 1
    def start_queries(self, event: dict[str, Any]) -> dict[str, Any]:
        export = self.describe_export(str(event["export_arn"]))
        manifest_key = str(export["ExportManifest"])
        summary = json.loads(self.bucket.read(manifest_key))
        folder = manifest_key.rsplit("/", 1)[0]
        table = schema.table_name(folder.rsplit("/", 1)[-1])
        self._ddl(schema.ddl(table, self.bucket.url(f"{folder}/data/")))
        settings = self.settings_for(self.now())
        sqls = queries.rendered(table=table, shop=settings.shop, window_days=settings.holdout_window_days)
        ids = {name: self.athena.start(sql) for name, sql in sqls.items()}
        return {
            "table": table,
            "queries": ids,
            "as_of": summary.get("exportTime") or build._iso(self.now()),
            "export": {
                "items": int(summary.get("itemCount") or 0),
                "bytes": int(summary.get("billedSizeBytes") or 0),
            },
            "export_files_bytes": self.bucket.total_size(f"{folder}/data/"),
        }

    def _ddl(self, sql: str) -> None:
        query_id = self.athena.start(sql)
        for _ in range(DDL_POLLS):
            state = self.athena.states([query_id])[query_id]
            if state.state == "SUCCEEDED":
                return
            if state.state not in ("QUEUED", "RUNNING"):
                raise QueryFailed(f"DDL {state.state}: {state.reason}")
            self.sleep(DDL_POLL_SECONDS)
        raise QueryFailed("DDL did not finish")

    # ---- 2
    def poll_queries(self, event: dict[str, Any]) -> dict[str, Any]:
        ids: dict[str, str] = event["queries"]
        states = self.athena.states(list(ids.values()))
        failed = {n: states[i].reason for n, i in ids.items() if states[i].state in ("FAILED", "CANCELLED")}
        if failed:
            raise QueryFailed(f"queries failed: {failed}")
        done = all(states[i].state == "SUCCEEDED" for i in ids.values())
        return {
            "done": done,
            "bytes_scanned": sum(s.scanned for s in states.values()),
            "scanned_per_query": [s.scanned for s in states.values()],
            "query_millis": max((s.millis for s in states.values()), default=0),
        }

    # ---- 3
    def write_result(self, event: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        ids: dict[str, str] = event["queries"]
        as_of = build.parse_time(str(event["as_of"])) or self.now()
        settings = self.settings_for(as_of)
        summary = build.CustomerSummary()
        changed: list[dict[str, Any]] = []
        segments_key = keys.analytics_segments_key(as_of, "customers.jsonl")
        customers = self._customers(ids["customers"], settings)
        self.bucket.put_lines(segments_key, self._fold(customers, summary, changed))
        changed_key = keys.analytics_segments_key(as_of, "changed/")
        for part, start in enumerate(range(0, len(changed), WRITE_BACK_CHUNK)):
            self.bucket.put_lines(_part_key(changed_key, part), changed[start : start + WRITE_BACK_CHUNK])
        run = self._run_figures(event, started)
        result = build.result(
            summary,
            self.athena.rows(ids["cohorts"]),
            self.athena.rows(ids["sequences"]),
            settings,
            generated_at=self.now(),
            source=self.source,
            run=run,
            holdout_rows=self.athena.rows(ids["holdouts"]) if "holdouts" in ids else (),
        )
        document = result.model_dump(mode="json")
        self.bucket.put_json(keys.analytics_result_key(as_of), document)
        self.bucket.put_json(keys.ANALYTICS_LATEST_KEY, document)
        self.athena.start(schema.drop(str(event["table"])))
        return {
            "result_key": keys.analytics_result_key(as_of),
            "changed_key": changed_key,
            "changed": len(changed),
            "written": 0,
            "next_offset": 0 if changed else None,
        }

    def _customers(self, query_id: str, settings: Settings) -> Iterator[CustomerRow]:
        for row in self.bucket.csv_rows(self.athena.output_location(query_id)):
            yield build.customer(row, settings)

    @staticmethod
    def _fold(
        customers: Iterator[CustomerRow], summary: build.CustomerSummary, changed: list[dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        for c in customers:
            summary.add(c)
            row = c.segment_row()
            if c.changed:
                changed.append(row)
            yield row

    def _run_figures(self, event: dict[str, Any], started: float) -> dict[str, float | int | str]:
        poll = event.get("poll") or {}
        scanned = int(poll.get("bytes_scanned") or 0)
        export = event.get("export") or {}
        return {
            "export_items": int(export.get("items") or 0),
            "export_bytes": int(export.get("bytes") or 0),
            "export_files_bytes": int(event.get("export_files_bytes") or 0),
            "bytes_scanned": scanned,
            "query_seconds": round(int(poll.get("query_millis") or 0) / 1000, 3),
            "athena_usd": round(cm.athena_usd(poll.get("scanned_per_query") or []), 6),
            "export_usd": round(int(export.get("bytes") or 0) / 1e9 * cm.PRICE_EXPORT_GB, 6),
            "result_seconds": round(time.perf_counter() - started, 3),
        }

    # ---- 4
    def write_back(self, event: dict[str, Any]) -> dict[str, Any]:
        part = int(event.get("next_offset") or 0)
        rows = list(self.bucket.lines(_part_key(str(event["changed_key"]), part)))
        written = self.writer.write(rows)
        more = (part + 1) * WRITE_BACK_CHUNK < int(event.get("changed") or 0)
        kept: dict[str, Any] = {k: event[k] for k in ("result_key", "changed_key", "changed") if k in event}
        return {
            **kept,
            "written": int(event.get("written") or 0) + written,
            "next_offset": part + 1 if more else None,
        }


def _part_key(prefix: str, part: int) -> str:
    return f"{prefix}part-{part:05d}.jsonl"


def settings_from_config(
    config: Any,
    shapes: dict[str, cm.MachineShape],
    offers: dict[str, dict[str, int]] | None = None,
) -> Callable[[datetime], Settings]:
    """``Settings`` of a run from ``shop.yaml`` (ShopConfig), the sequences' machine shapes and the messages'
    offers (``handler.offers``)."""
    from enishi.profiles.model import StageThresholds

    def make(as_of: datetime) -> Settings:
        return Settings(
            shop=config.shop_id,
            as_of=as_of,
            margin_rate=Decimal(config.analytics.margin_rate),
            thresholds=StageThresholds.model_validate(config.stages.model_dump()),
            line_plan=cm.line_plan_for_quota(config.messaging.line_monthly_quota),
            shapes=shapes,
            offers=offers or {},
            holdout_window_days=config.analytics.holdout_window_days,
        )

    return make
