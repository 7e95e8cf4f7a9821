"""What messages cost: the demo's cost model (AWS + LINE), pure, shared by the demo's report and the analytics job.

Prices are USD, Tokyo region, on-demand. Step Functions bills state transitions: how many a step takes follows
from the compiled machine's shape (``machine_shape``: per step ``Wait → Task → Choice``, the first step's Wait
left out when it is due at once, one ``Succeed`` per execution) — infra/constructs/sequences.py compiles exactly
that and a test compares the two on the synthesized template.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICE_SFN_TRANSITION = 0.000025  # Standard, $0.025 per 1,000 state transitions (Tokyo)
PRICE_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_GB = 0.25  # 256 MB
LAMBDA_SECONDS_PER_STEP = 0.2  # an assumed average billed duration of one step invocation
PRICE_DDB_WRITE = 0.715 / 1_000_000  # on-demand write request unit, ap-northeast-1
PRICE_DDB_READ = 0.1425 / 1_000_000
DDB_WRITES_PER_STEP = 3  # ledger put + ledger update + profile update
DDB_READS_PER_STEP = 2  # profile + checkout/order (eligibility)
PRICE_SES_EMAIL = 0.0001
JPY_PER_USD = 150.0
# the analytics job (docs/analytics.md "Cost")
PRICE_EXPORT_GB = 0.114  # DynamoDB export to S3 (full, from PITR), per GB of table size, ap-northeast-1
PRICE_ATHENA_TB = 5.0  # Athena, per TB scanned (ap-northeast-1)
ATHENA_MIN_BYTES = 10 * 1024 * 1024  # every query is billed at least 10 MB
PRICE_PITR_GB_MONTH = 0.228  # continuous backups, per GB-month of table size, ap-northeast-1
LINE_PLANS_JPY = {  # plan: (monthly fee, messages included, extra per message or None)
    "communication": (0, 200, None),
    "light": (5000, 5000, None),
    "standard": (15000, 30000, 3.0),
}


def line_plan_for_quota(quota: int) -> str:
    """The LINE plan a monthly quota implies (``messaging.line_monthly_quota``), as the demo's report reads it."""
    return "communication" if quota <= 200 else "light" if quota <= 5000 else "standard"


def line_plan(name: str) -> tuple[int, int, float | None]:
    return LINE_PLANS_JPY.get(name, LINE_PLANS_JPY["light"])


def line_per_message_usd(plan_name: str) -> float:
    """LINE: the plan's price per included message (Light: ¥5,000 / 5,000 = ¥1 a message)."""
    fee, included, _extra = line_plan(plan_name)
    return (fee / included / JPY_PER_USD) if included else 0.0


def athena_usd(scanned_per_query: list[int]) -> float:
    return sum(max(b, ATHENA_MIN_BYTES) for b in scanned_per_query) / 1e12 * PRICE_ATHENA_TB


@dataclass(frozen=True)
class CostParts:
    step_functions: float
    lambda_: float
    dynamodb: float
    ses: float
    line: float

    @property
    def total(self) -> float:
        return self.step_functions + self.lambda_ + self.dynamodb + self.ses + self.line


def cost_parts(
    *, transitions: float, invocations: float, emails: int, lines: int, plan_name: str
) -> CostParts:
    """USD of ``transitions`` state transitions, ``invocations`` step λ calls and the messages sent."""
    return CostParts(
        step_functions=transitions * PRICE_SFN_TRANSITION,
        lambda_=invocations
        * (PRICE_LAMBDA_REQUEST + PRICE_LAMBDA_GB_SECOND * LAMBDA_GB * LAMBDA_SECONDS_PER_STEP),
        dynamodb=invocations * (DDB_WRITES_PER_STEP * PRICE_DDB_WRITE + DDB_READS_PER_STEP * PRICE_DDB_READ),
        ses=emails * PRICE_SES_EMAIL,
        line=lines * line_per_message_usd(plan_name),
    )


@dataclass(frozen=True)
class MachineShape:
    """States entered and tasks run by one execution that runs every step once (no defers, no retries)."""

    transitions: int
    tasks: int

    @property
    def transitions_per_task(self) -> float:
        return self.transitions / self.tasks if self.tasks else 0.0


def machine_shape(step_delays_seconds: list[float]) -> MachineShape:
    """The shape of a compiled sequence machine from its steps' delays (seconds): Wait + Task + Choice per step,
    no Wait before a first step due at once, one Succeed."""
    if not step_delays_seconds:
        return MachineShape(transitions=1, tasks=0)
    steps = len(step_delays_seconds)
    first_wait = 0 if step_delays_seconds[0] == 0 else 1
    return MachineShape(transitions=3 * steps - 1 + first_wait + 1, tasks=steps)


def asl_shape(definition: dict[str, object]) -> MachineShape:
    """The same shape read from an ASL definition: follow ``StartAt`` → ``Next`` / a Choice's ``Default`` to the end,
    counting states entered and Task states (tests compare it with ``machine_shape`` on the synthesized machines)."""
    states = definition["States"]
    assert isinstance(states, dict)
    name: object = definition["StartAt"]
    transitions = tasks = 0
    seen: set[str] = set()
    while isinstance(name, str) and name not in seen:
        seen.add(name)
        state = states[name]
        transitions += 1
        tasks += state.get("Type") == "Task"
        name = state.get("Default") if state.get("Type") == "Choice" else state.get("Next")
    return MachineShape(transitions=transitions, tasks=tasks)
