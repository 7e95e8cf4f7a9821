"""Reads a finished run: the whole table (an offline job — a full read is fine here, never on a hot path), the
executions with their billed transitions, and the local outbox.

The transitions come from what the local stack counted while the run went (``executions_from_tally``): reading every
execution's history back (``read_executions``, kept for a stack that did not count) cost a fifth of the demo and
grew with the number of executions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from enishi import constants as c
from enishi import keys

from .metrics import ExecutionInfo


def scan_all(table: Any) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def split_items(items: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"profiles": [], "messages": [], "orders": [], "checkouts": []}
    for item in items:
        sk = str(item.get(c.ATTR_SK, ""))
        if sk == keys.PROFILE_SK:
            out["profiles"].append(item)
        elif sk.startswith(keys.MSG_SK_PREFIX):
            out["messages"].append(item)
        elif sk == keys.ORDER_SK:
            out["orders"].append(item)
        elif sk == keys.CHECKOUT_SK:
            out["checkouts"].append(item)
    return out


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def sequence_of(state_machine_name: str) -> str | None:
    n = _norm(state_machine_name)
    for seq in sorted(c.SEQUENCES, key=len, reverse=True):
        if _norm(seq) in n:
            return seq
    return None


def read_executions(sfn: Any) -> list[ExecutionInfo]:
    """Every execution of the four sequence machines, with the transitions Standard workflows bill."""
    out: list[ExecutionInfo] = []
    machines = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        machines.extend(page.get("stateMachines", []))
    for m in machines:
        seq = sequence_of(m["name"])
        if seq is None:
            continue
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=m["stateMachineArn"]):
            for ex in page.get("executions", []):
                transitions = invocations = 0
                kwargs: dict[str, Any] = {"executionArn": ex["executionArn"], "maxResults": 1000}
                while True:
                    hist = sfn.get_execution_history(**kwargs)
                    for e in hist.get("events", []):
                        t = e.get("type", "")
                        if t.endswith("StateEntered"):
                            transitions += 1
                        elif t in ("LambdaFunctionScheduled", "TaskScheduled"):
                            invocations += 1
                    if not hist.get("nextToken"):
                        break
                    kwargs["nextToken"] = hist["nextToken"]
                out.append(
                    ExecutionInfo(
                        sequence=seq,
                        name=ex["name"],
                        status=ex.get("status", ""),
                        transitions=transitions,
                        lambda_invocations=invocations,
                    )
                )
    return out


def executions_from_tally(rows: Any) -> list[ExecutionInfo]:
    """``ExecutionInfo`` of every execution of the sequence machines, from ``ExecutionTally.rows()``."""
    out: list[ExecutionInfo] = []
    for machine, name, status, transitions, invocations in rows:
        seq = sequence_of(machine)
        if seq is not None:
            out.append(
                ExecutionInfo(
                    sequence=seq,
                    name=name,
                    status=status,
                    transitions=transitions,
                    lambda_invocations=invocations,
                )
            )
    return out
