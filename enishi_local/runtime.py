"""Runs a deployed handler in-process the way Lambda would: with the function's environment and a context object.

Handler calls are serialized by one re-entrant lock. The handlers read their settings from ``os.environ`` once at
cold start, and ``os.environ`` is one per process, so two functions must not run at once with different
environments; on a 2-core laptop the lock costs nothing measurable and makes the local stack deterministic.
``busy()`` says whether any handler is running (``LocalStack.settle`` uses it).
"""

from __future__ import annotations

import os
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import monotonic
from typing import Any

from enishi_local import activity

ACCOUNT_ID = "123456789012"
REGION = "ap-northeast-1"

Handler = Callable[[dict, Any], Any]

_lock = threading.RLock()
_running = 0
_running_lock = threading.Lock()
stats: dict[str, list[float]] = {}  # function name → [calls, seconds]: where the local stack spends its time


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools and handlers read."""

    function_name: str
    timeout_seconds: float = 30.0
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - monotonic()) * 1000))


@contextmanager
def function_environment(environment: Mapping[str, str]) -> Iterator[None]:
    """Set the function's environment variables for the duration of a call, then restore the process's."""
    saved = {k: os.environ.get(k) for k in environment}
    os.environ.update({k: str(v) for k, v in environment.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def call_handler(
    handler: Handler,
    event: Any,
    *,
    function_name: str,
    environment: Mapping[str, str] | None = None,
    timeout_seconds: float = 30.0,
) -> Any:
    """Call ``handler(event, context)`` under the handler lock with the function's environment.
    Exceptions propagate (the caller decides what a function error means for its trigger)."""
    global _running
    with _running_lock:
        _running += 1
    activity.enter()
    try:
        with _lock, function_environment(environment or {}):
            started = monotonic()
            try:
                return handler(
                    event, LambdaContext(function_name=function_name, timeout_seconds=timeout_seconds)
                )
            finally:
                _discard_metrics()
                entry = stats.setdefault(function_name, [0, 0.0])
                entry[0] += 1
                entry[1] += monotonic() - started
    finally:
        with _running_lock:
            _running -= 1
        activity.bump()  # idle again: a waiting settle looks now


def quiet_disabled_metrics() -> None:
    """Powertools' CloudWatch EMF provider prints a metric set to stdout the moment a metric reaches 100 values, and
    that early flush ignores POWERTOOLS_METRICS_DISABLED (only ``flush_metrics`` checks it; Powertools 3.x): a
    campaign batch running its recipients through the step printed EMF documents into the demo's terminal. Locally
    the module's ``print`` checks the flag first (on AWS, where metrics are on, nothing here runs)."""
    import builtins

    from aws_lambda_powertools.metrics.functions import is_metrics_disabled
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf import cloudwatch

    def print_unless_disabled(*args: Any, **kwargs: Any) -> None:
        if not is_metrics_disabled():
            builtins.print(*args, **kwargs)

    cloudwatch.print = print_unless_disabled  # type: ignore[attr-defined]


def _discard_metrics() -> None:
    """Locally metrics are disabled (POWERTOOLS_METRICS_DISABLED), but Powertools still keeps them in a set shared
    by every function and prints it to stdout once a metric reaches 100 values; drop them after each call."""
    import sys

    module = sys.modules.get("aws_lambda_powertools.metrics")
    if module is not None:
        module.Metrics(namespace="local").clear_metrics()


def busy() -> bool:
    """True while any handler is running or waiting for the handler lock."""
    with _running_lock:
        return _running > 0


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The body Lambda returns for an unhandled exception (``errorType`` is what Step Functions matches on)."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(exc)[-5:],
    }
