"""The two places where moto 5.2 needs help to run enishi locally (REFERENCE §8). Each ``install_*`` returns an
``undo()`` that puts moto back as it was.

1. ``install_lambda_dispatch(resolve)``: moto's Docker-free Lambda returns the request payload unchanged. We replace
   ``LambdaSimpleBackend.invoke`` — the one method every Invoke reaches, including a Step Functions
   ``arn:aws:states:::lambda:invoke`` task — so it calls the real handler in-process with the function's environment.
   An exception becomes a Lambda *function error* (``x-amz-function-error`` + ``{"errorType", "errorMessage"}``),
   which moto's ASL interpreter turns into a task failure named after ``errorType``: ``Retry``/``Catch`` match it.
2. ``install_virtual_waits(clock)``: ``Wait`` states (Seconds, Timestamp, SecondsPath, TimestampPath) and ``Retry``
   intervals wait on the virtual clock instead of real time. This also fixes a moto bug: its ``Timestamp`` wait
   compares a UTC ``...Z`` time with the naive *local* ``datetime.now()``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from enishi_local import runtime
from enishi_local.vclock import VirtualClock

Undo = Callable[[], None]


def install_lambda_dispatch(resolve: Callable[[str], runtime.Handler]) -> Undo:
    """Route every moto Lambda Invoke to ``resolve(function_name)(event, context)``."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ANN001 - moto's signature
        fn = self.get_function(function_name, qualifier)
        event = json.loads(body) if body else {}
        try:
            handler = resolve(fn.function_name)
            result = runtime.call_handler(
                handler,
                event,
                function_name=fn.function_name,
                environment=dict(fn.environment_vars or {}),
                timeout_seconds=float(fn.timeout or 30),
            )
            payload = json.dumps(result, default=str)
        except Exception as exc:  # a function error, exactly as Lambda reports it
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(runtime.error_payload(exc))
        if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
            return b""
        return payload.encode("utf-8")

    LambdaSimpleBackend.invoke = invoke

    def undo() -> None:
        LambdaSimpleBackend.invoke = original

    return undo


def install_virtual_waits(clock: VirtualClock) -> Undo:
    """Make Step Functions Wait states and Retry intervals wait on ``clock``."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

    originals: list[tuple[object, str, object]] = []

    def patch(owner: object, name: str, value: object) -> None:
        originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def wait_body(self, env) -> None:  # noqa: ANN001 - moto's signature
        if isinstance(self, Timestamp):  # Timestamp and TimestampPath
            self.string.eval(env=env)
            raw = env.stack.pop()
            parsed = self._from_timestamp_string(timestamp=raw) if isinstance(raw, str) else None
            if parsed is None:
                raise FailureEventException(self._create_failure_event(env, raw))
            target = parsed.replace(tzinfo=UTC)  # the pattern only admits ...Z: it is UTC
        else:  # Seconds, SecondsPath, SecondsJSONata
            target = clock.now() + timedelta(seconds=self._get_wait_seconds(env=env))
        clock.sleep_until(target, cancelled=lambda: not env.is_running())

    patch(WaitFunction, "_eval_body", wait_body)

    class _VirtualTime:  # what retrier_decl sees as ``time``: only ``sleep`` is used there
        @staticmethod
        def sleep(seconds: float) -> None:
            clock.sleep(seconds)

    patch(retrier_decl, "time", _VirtualTime)

    # A stopped/ended execution must leave its Wait at once: wake the sleepers so they re-check ``is_running``.
    for name in ("set_ended", "set_error", "set_timed_out", "set_stop"):
        original = getattr(Environment, name)

        def wrapper(self, *args: Any, __original=original, **kwargs: Any) -> None:  # noqa: ANN001
            __original(self, *args, **kwargs)
            clock.wake()

        patch(Environment, name, wrapper)

    def undo() -> None:
        for owner, name, value in reversed(originals):
            setattr(owner, name, value)

    return undo
