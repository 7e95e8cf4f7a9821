"""The business metrics the CloudWatch dashboard shows (names shared by the handlers and ``infra/constructs``).

Per-dimension metrics go out one by one (Powertools ``single_metric``: its own EMF document with its own
dimensions), so a handler's other metrics keep only ``service``. Namespace ``enishi``, dimension ``service=enishi``.

| metric                  | dimensions           | emitted by                                    |
|-------------------------|----------------------|-----------------------------------------------|
| ``MessageSent``         | sequence, channel    | the send step, once per message sent          |
| ``Conversions``         | sequence             | the profile consumer, when an order is first credited to a message |
| ``AttributedRevenue``   | sequence             | the same, the order's total (the shop's currency, JPY) |
| ``SesEvent{Send,Delivery,Bounce,Complaint,Open,Click}`` | — | the SES feedback handler (rates on the dashboard) |
| ``LineQuotaUsedPercent``, ``LineMessagesUsed``, ``LineQuotaLimit`` | — | the LINE quota check (scheduled) |
"""

from __future__ import annotations

from enishi import constants as c

MESSAGE_SENT = "MessageSent"
CONVERSIONS = "Conversions"
ATTRIBUTED_REVENUE = "AttributedRevenue"
SES_EVENT_PREFIX = "SesEvent"  # + SES eventType: SesEventSend, SesEventDelivery, SesEventBounce, ...
LINE_QUOTA_USED_PERCENT = "LineQuotaUsedPercent"
LINE_MESSAGES_USED = "LineMessagesUsed"
LINE_QUOTA_LIMIT = "LineQuotaLimit"
CHANNELS = ("email", "line")
SERVICE = "enishi"  # POWERTOOLS_SERVICE_NAME of every function (infra.constructs.function.SERVICE_NAME)
DISABLED_ENV = "POWERTOOLS_METRICS_DISABLED"  # set locally; ``single_metric`` ignores it: emit checks


def emit(name: str, value: float, dimensions: dict[str, str], *, unit: str = "Count") -> None:
    """One metric with its own dimensions (besides ``service``); nothing when metrics are disabled (locally)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():  # Powertools' own rule (POWERTOOLS_METRICS_DISABLED, POWERTOOLS_DEV)
        return

    with single_metric(
        name=name,
        unit=MetricUnit(unit),
        value=value,
        namespace=c.METRICS_NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)


def message_sent(sequence: str, channel: str | None) -> None:
    emit(MESSAGE_SENT, 1, {"sequence": sequence, "channel": channel or "unknown"})


def conversion(sequence: str, revenue: float) -> None:
    emit(CONVERSIONS, 1, {"sequence": sequence})
    emit(ATTRIBUTED_REVENUE, revenue, {"sequence": sequence}, unit="None")
