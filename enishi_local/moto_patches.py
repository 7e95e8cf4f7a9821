# This module's job is to replace methods of moto's classes (each install_* undoes its own replacement):
# mypy: disable-error-code="method-assign"
"""The two places where moto 5.2 needs help to run enishi locally (REFERENCE §8). Each ``install_*`` returns an
``undo()`` that puts moto back as it was.

1. ``install_lambda_dispatch(resolve)``: moto's Docker-free Lambda returns the request payload unchanged. We replace
   ``LambdaSimpleBackend.invoke`` — the one method every Invoke reaches, including a Step Functions
   ``arn:aws:states:::lambda:invoke`` task — so it calls the real handler in-process with the function's environment.
   An exception becomes a Lambda *function error* (``x-amz-function-error`` + ``{"errorType", "errorMessage"}``),
   which moto's ASL interpreter turns into a task failure named after ``errorType``: ``Retry``/``Catch`` match it.
2. ``install_virtual_waits(clock)``: ``Wait`` states (Seconds, Timestamp, SecondsPath, TimestampPath) and ``Retry``
   intervals wait on the virtual clock instead of real time. This also fixes a moto bug: its ``Timestamp`` wait
   compares a UTC ``...Z`` time with the naive *local* ``datetime.now()``. ``parked_executions()`` lists which
   executions are asleep and until when (``LocalStack.settle`` needs it).
3. ``install_event_target_dispatch(submit)``: moto's EventBridge delivers to SQS, logs and buses only; for each
   matching target that is a Lambda function or a state machine it now also calls ``submit(target, event)``.
4. ``install_ses_capture(record)``: moto's SES v2 keeps only source/subject/body of a sent email; ``record`` gets the
   whole request (tags, headers, text and HTML) with the MessageId, for the local outbox.
5. ``install_sqs_notify(notify)``: ``notify(queue_arn)`` whenever a message lands in a queue, so the event-source
   pollers wake at once instead of polling an empty queue.

6. ``install_execution_tally(tally)``: counts, per execution, the states entered (what Standard workflows bill)
   and the Lambda tasks scheduled as moto records each history event, so the report reads the numbers instead of
   fetching and serialising every execution's history afterwards (``ExecutionTally``).

The rest only make moto cheaper, with the same results: ``install_parse_cache`` (a state machine definition is
parsed once), ``install_query_partition`` (a table Query reads only its partition), ``install_jsonpath_cache`` (an
EventBridge input path is compiled once), ``install_sfn_lambda_client_cache`` (one Lambda client for every task),
``install_response_method_cache`` (a response class's methods listed once), ``import_sfn_interpreter`` (the
interpreter imported without ``moto.batch``'s package, which pulled in EC2), ``install_dynamodb_fast_serializer``
(item results as ``json.dumps``) and ``install_sfn_direct_lambda`` (a ``lambda:invoke`` task calls the backend);
moto's per-request work remembered or skipped is in ``moto_fastpaths``.
Every place where work enters the stack bumps ``enishi_local.activity`` (see ``LocalStack.settle``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from enishi_local import activity, runtime
from enishi_local.vclock import VirtualClock

Undo = Callable[[], None]

_parked: dict[
    int, tuple[str, datetime, VirtualClock]
] = {}  # sleeper id → (execution ARN, wake-up time, clock)
_parked_ids = iter(range(1, 1 << 62))
_retry_env = threading.local()
_live_workers: dict[VirtualClock, int] = {}  # execution threads started and not yet finished, by clock
_live_lock = threading.Lock()


def parked_executions() -> list[tuple[str, datetime]]:
    """(execution ARN, virtual wake-up time) of every execution asleep in a Wait or a Retry interval."""
    return [(arn, t) for arn, t, _ in list(_parked.values())]


def active_executions(clock: VirtualClock) -> int:
    """How many execution threads on ``clock`` are doing something: alive and not parked until after its now. (An
    execution sleeps in one Wait or Retry at a time; enishi's machines have no Map or Parallel branches.) Counted
    per clock, so a thread an earlier stack left behind does not keep a later one busy."""
    now, held = clock.now(), clock.ordered  # ordered release: a due sleeper is parked until it is released
    parked = sum(1 for _, t, c in list(_parked.values()) if c is clock and (t > now or held))
    return max(0, _live_workers.get(clock, 0) - parked)


def _execution_arn(env: Any) -> str:
    try:
        return str(env.states.context_object.context_object_data["Execution"]["Id"])
    except (AttributeError, KeyError, TypeError):
        return "?"


def _unpark(env: Any) -> None:
    """The execution of ``env`` is no longer asleep (it was stopped, failed or timed out): its sleeper may not have
    run yet, but whoever waits for the stack to be idle must count the execution as busy until its thread ends."""
    arn = _execution_arn(env)
    for key in [k for k, (parked_arn, _t, _c) in list(_parked.items()) if parked_arn == arn and arn != "?"]:
        _parked.pop(key, None)
    activity.bump()


def _sleep_parked(clock: VirtualClock, env: Any, target: datetime) -> None:
    """Sleep on the virtual clock, registered as parked until the time comes (or the execution stops)."""
    arn = _execution_arn(env)
    key = next(_parked_ids)

    def parked() -> None:  # under the clock's lock, once the sleeper is registered: never parked without one
        _parked[key] = (arn, target, clock)
        activity.bump()  # parked until later: no longer active

    def woken() -> None:
        _parked.pop(key, None)
        activity.bump()

    try:
        clock.sleep_until(
            target,
            cancelled=(lambda: not env.is_running()) if env is not None else None,
            on_wake=woken,
            on_sleep=parked,
            key=arn,  # executions due together are released in the order of their names
        )
    finally:
        _parked.pop(key, None)


def install_lambda_dispatch(resolve: Callable[[str], runtime.Handler]) -> Undo:
    """Route every moto Lambda Invoke to ``resolve(function_name)(event, context)``."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
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
        except Exception as exc:  # a function error, exactly as Lambda reports it  # noqa: BLE001
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
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    originals: list[tuple[object, str, object]] = []

    def patch(owner: object, name: str, value: object) -> None:
        originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def wait_body(self, env) -> None:
        if isinstance(self, Timestamp):  # Timestamp and TimestampPath
            self.string.eval(env=env)
            raw = env.stack.pop()
            parsed = self._from_timestamp_string(timestamp=raw) if isinstance(raw, str) else None
            if parsed is None:
                raise FailureEventException(self._create_failure_event(env, raw))
            target = parsed.replace(tzinfo=UTC)  # the pattern only admits ...Z: it is UTC
        else:  # Seconds, SecondsPath, SecondsJSONata
            target = clock.now() + timedelta(seconds=self._get_wait_seconds(env=env))
        _sleep_parked(clock, env, target)

    patch(WaitFunction, "_eval_body", wait_body)

    class _VirtualTime:  # what retrier_decl sees as ``time``: only ``sleep`` is used there
        @staticmethod
        def sleep(seconds: float) -> None:
            _sleep_parked(clock, getattr(_retry_env, "env", None), clock.now() + timedelta(seconds=seconds))

    patch(retrier_decl, "time", _VirtualTime)
    retrier_body = retrier_decl.RetrierDecl._eval_body

    def retrier_with_env(self, env) -> None:
        _retry_env.env = env
        try:
            retrier_body(self, env)
        finally:
            _retry_env.env = None

    patch(retrier_decl.RetrierDecl, "_eval_body", retrier_with_env)

    # Count live execution threads (``active_executions``): from StartExecution, before the thread exists, until
    # the thread ends — cheaper and exacter than a pass over every execution's status.
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    worker_start, worker_logic = ExecutionWorker.start, ExecutionWorker._execution_logic

    def start(self) -> None:
        with _live_lock:
            _live_workers[clock] = _live_workers.get(clock, 0) + 1
        self._enishi_clock = clock
        activity.enter()
        try:
            worker_start(self)
        except BaseException:
            _worker_done(self)
            raise

    def execution_logic(self) -> None:
        try:
            worker_logic(self)
        finally:
            _worker_done(self)

    patch(ExecutionWorker, "start", start)
    patch(ExecutionWorker, "_execution_logic", execution_logic)

    # A stopped execution must leave its Wait at once: wake the sleepers so they re-check ``is_running``. (Not on
    # ``set_ended``: an execution ends in its own thread, which is then not asleep — and every execution ends.)
    for name in ("set_error", "set_timed_out", "set_stop"):
        original = getattr(Environment, name)

        def wrapper(self, *args: Any, __original=original, **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            _unpark(
                self
            )  # busy from now until its thread ends: a settle right after the stop must wait for it
            arn = _execution_arn(self)
            clock.wake(None if arn == "?" else arn)  # its own sleeper (every sleeper if it has none)

        patch(Environment, name, wrapper)

    def undo() -> None:
        for owner, name, value in reversed(originals):
            setattr(owner, name, value)

    return undo


def _worker_done(worker: Any) -> None:
    clock = worker.__dict__.pop("_enishi_clock", None)
    if clock is not None:
        with _live_lock:
            _live_workers[clock] -= 1
        activity.bump()


def install_event_target_dispatch(submit: Callable[[dict[str, Any], dict[str, Any]], None]) -> Undo:
    """After moto delivered an event to a rule's SQS/log/bus targets, hand each Lambda or Step Functions target
    to ``submit(target, event)`` (target as moto stores it: Id, Arn, Input, InputPath, DeadLetterConfig …).
    The rule's pattern is matched where a target needs it: moto's delivery runs only for a rule with targets of
    its own (it matches first), our check only for a rule with ours (before, both ran for every rule and event:
    1.3 % of the demo in the second match alone)."""
    from moto.events.models import Rule

    original = Rule.send_to_targets

    lock = threading.Lock()

    def ours(target: dict[str, Any]) -> bool:
        return str(target.get("Arn", "")).split(":")[2:3] in (["lambda"], ["states"])

    def send_to_targets(self, original_event, transform_input=True):
        with lock:  # moto raises NotImplementedError on a Lambda target: let it see only the others
            everything = self.targets
            others = [t for t in everything if not ours(t)]
            if others:  # without any, moto would only match the pattern (a JSON round trip) and send nothing
                self.targets = others
                try:
                    original(self, original_event, transform_input)
                finally:
                    self.targets = everything
        mine = [t for t in everything if ours(t)]
        if not mine or not self.event_pattern.matches_event(original_event):
            return
        for target in mine:
            submit(dict(target), json.loads(json.dumps(original_event, default=str)))

    Rule.send_to_targets = send_to_targets

    def undo() -> None:
        Rule.send_to_targets = original

    return undo


def install_ses_capture(record: Callable[[dict[str, Any]], None]) -> Undo:
    """Call ``record({"message_id", "request"})`` for every email moto's SES v2 accepted."""
    from moto.sesv2.responses import SESV2Response

    original = SESV2Response.send_email

    def send_email(self) -> str:
        result = original(self)
        record({"message_id": json.loads(result)["MessageId"], "request": json.loads(self.body)})
        return result

    SESV2Response.send_email = send_email

    def undo() -> None:
        SESV2Response.send_email = original

    return undo


class ExecutionTally:
    """Per execution: its state machine, name, states entered and Lambda tasks scheduled — counted as they happen
    (``install_execution_tally``). The same counts ``GetExecutionHistory`` would give (``StateEntered`` events,
    ``LambdaFunctionScheduled``/``TaskScheduled`` events), at no cost at report time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[
            str, list[Any]
        ] = {}  # execution ARN → [state machine name, name, execution, entered, tasks]

    def started(self, arn: str, state_machine: str, name: str, execution: Any = None) -> None:
        with self._lock:
            self._rows.setdefault(arn, [state_machine, name, execution, 0, 0])

    def event(self, arn: str, event_type: str) -> None:
        if event_type.endswith("StateEntered"):
            column = 3
        elif event_type in ("LambdaFunctionScheduled", "TaskScheduled"):
            column = 4
        else:
            return
        with self._lock:
            row = self._rows.get(arn)
            if row is not None:
                row[column] += 1

    def rows(self) -> list[tuple[str, str, str, int, int]]:
        """(state machine name, execution name, status, states entered, Lambda tasks) of every execution, in the
        order they started."""
        with self._lock:
            rows = [list(r) for r in self._rows.values()]
        out = []
        for machine, name, execution, entered, tasks in rows:
            status = getattr(execution, "exec_status", None)
            out.append((machine, name, str(getattr(status, "value", status) or "RUNNING"), entered, tasks))
        return out


def install_execution_tally(tally: ExecutionTally) -> Undo:
    """Count every execution's history events into ``tally`` as moto records them."""
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original_env, original_add = ExecutionWorker._get_evaluation_environment, EventManager.add_event

    def environment(self) -> Any:
        env: Any = original_env(self)
        details = self._evaluation_details
        arn = str(details.execution_details.arn)
        execution = getattr(self._execution_communication, "execution", None)
        tally.started(
            arn, str(details.state_machine_details.name), str(details.execution_details.name), execution
        )
        env.event_manager._enishi_execution = arn
        return env

    def add_event(self, context, event_type, *args: Any, **kwargs: Any) -> int:
        event_id = original_add(self, context, event_type, *args, **kwargs)
        arn = self.__dict__.get("_enishi_execution")
        if arn is not None:
            tally.event(arn, str(getattr(event_type, "value", event_type)))
        return event_id

    ExecutionWorker._get_evaluation_environment = environment
    EventManager.add_event = add_event

    def undo() -> None:
        ExecutionWorker._get_evaluation_environment = original_env
        EventManager.add_event = original_add

    return undo


def import_sfn_interpreter() -> None:
    """Import moto's Step Functions interpreter without importing ``moto.batch``'s package.

    The interpreter imports ``moto.batch.utils`` for one enum (a Batch task's job states); importing it runs
    ``moto/batch/__init__``, which imports ``moto.ec2``, whose class bodies load botocore's whole EC2 service model
    to list regions: 1.6 of the 2.2 s the interpreter took to import, at every start of a process with a local stack
    (each demo, each test worker). The package is stood in for while the interpreter imports; afterwards
    ``import moto.batch`` works as usual (enishi runs no Batch task)."""
    import importlib.util
    import sys
    import types

    if "moto.stepfunctions.parser.backend.execution_worker" in sys.modules or "moto.batch" in sys.modules:
        return
    import moto

    spec = importlib.util.find_spec("moto.batch")
    if spec is None or not spec.submodule_search_locations:
        return
    stand_in = types.ModuleType("moto.batch")
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    stand_in.__package__ = "moto.batch"
    sys.modules["moto.batch"] = stand_in
    try:
        import moto.stepfunctions.parser.backend.execution_worker
    finally:
        if sys.modules.get("moto.batch") is stand_in:
            del sys.modules["moto.batch"]
        if moto.__dict__.get("batch") is stand_in:
            del moto.__dict__["batch"]


# DynamoDB item operations whose result moto builds as plain JSON-protocol data (AttributeValues, counts, keys,
# consumed capacity): serialised with ``json.dumps``, bytes as base64 — what moto's shape-walking serializer writes
FAST_DYNAMODB_OPERATIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem"}
)


def install_dynamodb_fast_serializer() -> Undo:
    """Serialise the results of DynamoDB's item operations with ``json.dumps``.

    moto serialises every response by walking the operation's output shape member by member
    (``moto.core.serialize``): for a DynamoDB item — AttributeValues nested in maps and lists — that walk was a tenth
    of the demo, and grew with the size of a profile. The JSON protocol's answer for these operations is the result
    itself as JSON, binary values base64-encoded; botocore parses it into the same response (a property test checks
    that boto3 returns the same thing either way). Every other operation, and every error, goes through moto's
    serializer as before."""
    import base64

    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result
    own = "execute_result" in DynamoResult.__dict__

    def default(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(bytes(value)).decode("ascii")
        if isinstance(value, (set, frozenset)):
            return list(value)
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    def execute_result(self, context):
        if context.operation_model.name not in FAST_DYNAMODB_OPERATIONS or not isinstance(self.result, dict):
            return original(self, context)
        body = json.dumps(self.result, default=default, separators=(",", ":"))
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    DynamoResult.execute_result = execute_result

    def undo() -> None:
        if own:
            DynamoResult.execute_result = original
        else:
            del DynamoResult.execute_result

    return undo


def install_sfn_direct_lambda(account: str = runtime.ACCOUNT_ID) -> Undo:
    """A Step Functions ``lambda:invoke`` task calls moto's Lambda backend directly.

    Step Functions invoking a function is AWS's own plumbing, not a handler's call: moto routed it through a boto3
    Lambda client (serialise, stub, parse; 4 % of the demo). The task gets what that client returned — ``StatusCode``
    200, ``FunctionError`` when the handler raised, ``Payload`` parsed as JSON (or kept as text) — and the handler
    runs exactly as before (``install_lambda_dispatch``)."""
    import io

    from moto.awslambda.utils import get_backend
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils._invoke_lambda_function

    def invoke(parameters: dict, region: str, state_credentials: Any = None) -> dict[str, Any]:
        payload = parameters.get("Payload")
        if not isinstance(payload, bytes):
            payload = lambda_eval_utils.to_payload_type(payload)
        headers = (
            {"X-Amz-Invocation-Type": parameters["InvocationType"]}
            if parameters.get("InvocationType")
            else {}
        )
        response_headers: dict[str, str] = {}
        body = get_backend(account, region).invoke(
            parameters["FunctionName"], parameters.get("Qualifier"), payload, headers, response_headers
        )
        status = 202 if headers.get("X-Amz-Invocation-Type") == "Event" else 200
        response: dict[str, Any] = {"StatusCode": status}
        if "x-amz-function-error" in response_headers:
            response["FunctionError"] = response_headers["x-amz-function-error"]
        raw = body.encode("utf-8") if isinstance(body, str) else body or b""
        response["Payload"] = lambda_eval_utils._from_payload(io.BytesIO(raw))
        return response

    lambda_eval_utils._invoke_lambda_function = invoke

    def undo() -> None:
        lambda_eval_utils._invoke_lambda_function = original

    return undo


def install_response_method_cache() -> Undo:
    """moto's ``BaseResponse.call_action`` lists the response class's methods with ``inspect.getmembers`` on every
    request, to check the action is one of them (2 % of the demo). The methods of a class are listed once."""
    import functools

    from moto.core import responses

    original = responses.method_names_from_class
    # a frozenset answers `in`, all moto asks of the list, faster
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(  # type: ignore[assignment]
        lambda clazz: frozenset(original(clazz))
    )

    def undo() -> None:
        responses.method_names_from_class = original

    return undo


def install_parse_cache() -> Undo:
    """Parse each state machine definition once, not once per execution.

    moto builds a fresh ANTLR parse tree and component program for every execution (~0.8 MB and several ms each:
    measured with tracemalloc, 50 parked executions of the cart machine = +41 MB). The program is immutable while
    it runs — per-execution state lives in the ``Environment`` — except inside Map and Parallel states, whose
    workers keep state on the components; definitions with those are not cached."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._get_evaluation_entrypoint
    cache: dict[str, Any] = {}
    lock = threading.Lock()

    def entrypoint(self) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with lock:
            program = cache.get(definition)
        if program is None:
            program = original(self)
            if '"Map"' not in definition and '"Parallel"' not in definition:
                with lock:
                    cache[definition] = program
        return program

    ExecutionWorker._get_evaluation_entrypoint = entrypoint

    def undo() -> None:
        ExecutionWorker._get_evaluation_entrypoint = original

    return undo


def install_sqs_notify(notify: Callable[[str], None]) -> Undo:
    """Call ``notify(queue_arn)`` after a message was added to any moto queue (SendMessage, a rule's SQS target,
    a redrive to a dead-letter queue)."""
    from moto.sqs.models import Queue

    original = Queue.add_message

    def add_message(self, message) -> None:
        original(self, message)
        activity.enter()
        notify(self.queue_arn)

    Queue.add_message = add_message

    def undo() -> None:
        Queue.add_message = original

    return undo


_partition = threading.local()


def install_query_partition() -> Undo:
    """A Query on a table's own key reads only that partition; a Query on an index skips a useless sort.

    moto 5.2's ``Table.query`` takes ``all_items()`` — every item of the table, sorted by primary key — and keeps
    those that match: a Query cost grew with the table (a fifth of the demo's CPU). Called from a Query on the
    table's key, ``all_items`` now returns just that partition (moto then sorts it by range key); from a Query on
    an index, only the items that meet the index's hash key conditions, unsorted (moto checks them again and sorts
    the matches by index keys *and* primary key, a total order; before, moto's per-item loop over the whole table
    was 1.6 % of the demo, the win-back job's daily ``orders_by_day`` Query). The results are the same. Scans are
    untouched."""
    from moto.dynamodb.models.table import Table

    original_query, original_all_items = Table.query, Table.all_items

    def query(self, hash_key, *args: Any, **kwargs: Any):
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if not self.range_key_attr or (hash_key is None and not index_name):
            return original_query(self, hash_key, *args, **kwargs)
        # an index query: its hash key conditions (moto checks each item against all of them), to keep only the
        # items that can match before moto's own loop checks them again
        _partition.hint = (
            (self, hash_key) if not index_name else (self, None, kwargs.get("hash_key_conditions"))
        )
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _partition.hint = None

    def all_items(self):
        hint = getattr(_partition, "hint", None)
        if hint is not None and hint[0] is self:
            _partition.hint = None  # once: the query's one read of the items
            if hint[1] is None:  # an index query
                return _index_candidates(self, hint[2] or ())
            return list(self.items.get(hint[1], {}).values())
        return original_all_items(self)

    Table.query, Table.all_items = query, all_items

    def undo() -> None:
        Table.query, Table.all_items = original_query, original_all_items

    return undo


def _index_candidates(table: Any, conditions: Any) -> list[Any]:
    """Every item of ``table`` that meets the index query's hash key ``conditions`` — moto's own test (the attribute
    present and equal; its loop applies it again), here in one pass without the per-item bookkeeping; unsorted."""
    items = [item for partition in list(table.items.values()) for item in list(partition.values())]
    for name, value in conditions:
        items = [item for item in items if (found := item.attrs.get(name)) and found == value]
    return items


def install_table_attribute_keys_cache() -> Undo:
    """A table's key attribute names (its own and its indexes') computed once per set of indexes. moto's PutItem
    checks every attribute of the item against ``Table.attribute_keys`` — a property that rebuilt the list from
    every index schema on each look-up, once per attribute of every item written (2 % of the demo). The same list,
    recomputed when an index is added or removed."""
    from moto.dynamodb.models.table import Table

    original: Any = Table.__dict__["attribute_keys"]  # the property itself
    compute = original.fget

    def attribute_keys(self: Any) -> list[str]:
        shape = (tuple(self.table_key_attrs), *map(id, self.indexes), None, *map(id, self.global_indexes))
        cached = self.__dict__.get("_enishi_attribute_keys")
        if cached is None or cached[0] != shape:
            cached = self.__dict__["_enishi_attribute_keys"] = (shape, compute(self))
        return list(cached[1])

    setattr(Table, "attribute_keys", property(attribute_keys))  # noqa: B010 - mypy reads it as a method

    def undo() -> None:
        setattr(Table, "attribute_keys", original)  # noqa: B010 - as above

    return undo


_SHARED_BOTOCORE_DATA = ("/endpoints", "/partitions")  # read-only once loaded (resolvers never write to them)


def install_botocore_data_cache() -> Undo:
    """botocore's endpoint and partition data (``endpoints.json``: 1 MB of JSON) parsed once per process instead of
    once per botocore session. Every new session parses it again when its first client is made — and the handlers'
    secret look-ups (Powertools makes a session per provider), moto's per-account backends and the stack's own
    clients each make one: ~3 s of every stack start. The same data; service models (which botocore merges its
    extras into) are still loaded per session."""
    from botocore import loaders

    original = loaders.JSONFileLoader.load_file
    cache: dict[str, Any] = {}
    lock = threading.Lock()

    def load_file(self: Any, file_path: str) -> Any:
        if not file_path.endswith(_SHARED_BOTOCORE_DATA):
            return original(self, file_path)
        with lock:
            if file_path not in cache:
                cache[file_path] = original(self, file_path)
            return cache[file_path]

    loaders.JSONFileLoader.load_file = load_file

    def undo() -> None:
        loaders.JSONFileLoader.load_file = original

    return undo


# DynamoDB item operations whose request shapes hold only strings, integers, booleans, maps and lists — apart from
# the AttributeValue's binary members B/BS (blobs the parser base64-decodes): no floats, timestamps or documents
_PLAIN_DYNAMODB_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem"}
)
_BINARY_MARKERS = (b'"B"', b'"BS"')


def install_dynamodb_plain_request_parse() -> Undo:
    """A DynamoDB item request without binary values is its JSON body as it stands. moto walks every request
    body along the operation's input shape; for these operations the walk only copies what ``json.loads`` gave
    (structures keep their modelled members, which is every member boto3 sends; nothing else is converted) — 3 %
    of the demo, mostly the profile writes' large items. A body that mentions ``"B"``/``"BS"`` anywhere, or any
    other operation, still takes moto's walk (a hypothesis test compares the two on boto3's own requests)."""
    from moto.core.parse import JSONParser

    original = JSONParser._parse_json_body

    def parse_json_body(self: Any, raw_body: Any, shape: Any) -> Any:
        model = self.operation_model
        if (
            model.name in _PLAIN_DYNAMODB_OPERATIONS
            and model.service_model.endpoint_prefix == "dynamodb"
            and isinstance(raw_body, bytes)
            and not any(marker in raw_body for marker in _BINARY_MARKERS)
        ):
            parsed = self._parse_body_as_json(raw_body)
            if isinstance(parsed, dict) and "message" not in parsed:
                return parsed
        return original(self, raw_body, shape)

    JSONParser._parse_json_body = parse_json_body

    def undo() -> None:
        JSONParser._parse_json_body = original

    return undo


def install_jsonpath_cache() -> Undo:
    """Compile each JSONPath once. moto's EventBridge builds a new parser (ply tables) for every input path of every
    target of every matching event — a tenth of the demo's CPU. A compiled path is immutable: sharing it is safe."""
    import functools

    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path as sfn_json_path

    # (module, name, the parse it must use): EventBridge looks up jsonpath_ng.ext.parse at call time; Step
    # Functions' interpreter bound both parsers at import, so every ResultPath / Parameters path of every state of
    # every execution built new ply tables (4.5 % of the demo) until its own names were rebound too
    ext_cached = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)
    plain_cached = functools.lru_cache(maxsize=256)(jsonpath_ng.parse)
    bindings = [
        (jsonpath_ng.ext, "parse", ext_cached),
        (sfn_json_path, "parse", ext_cached),
        (result_path, "parse", plain_cached),
    ]
    originals = [(module, name, getattr(module, name)) for module, name, _ in bindings]
    for module, name, cached in bindings:
        setattr(module, name, cached)

    def undo() -> None:
        for module, name, original in originals:
            setattr(module, name, original)

    return undo


def install_unsigned_signatures() -> Undo:
    """botocore's SigV4 signing in the local stack writes a well-formed ``Authorization`` header (access key, date,
    region, service: what moto reads to choose the account and, failing the URL, the region) with a zero signature
    instead of computing HMACs nobody checks — 6 % of the demo. S3 keeps its real signer (it also handles the
    body's checksum headers). The request the handler's client builds and moto
    parses is otherwise the same; on AWS nothing here is installed."""
    from botocore.auth import SigV4Auth

    original = SigV4Auth.add_auth

    def add_auth(self: Any, request: Any) -> None:
        if (
            self.credentials is None or self._service_name == "s3"
        ):  # S3's signer also prepares the body's checksum
            return original(self, request)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        request.headers["X-Amz-Date"] = stamp
        if self.credentials.token:
            request.headers["X-Amz-Security-Token"] = self.credentials.token
        scope = f"{stamp[:8]}/{self._region_name}/{self._service_name}/aws4_request"
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key}/{scope}, SignedHeaders=host, "
            f"Signature={'0' * 64}"
        )
        return None

    SigV4Auth.add_auth = add_auth

    def undo() -> None:
        SigV4Auth.add_auth = original

    return undo


def install_sfn_lambda_client_cache() -> Undo:
    """One boto3 Lambda client per region for Step Functions' lambda:invoke tasks (moto creates a new client for
    every task; clients are thread-safe)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils.boto_client_for
    cache: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            client = cache.get((region, service))
            if client is None:
                client = cache[(region, service)] = original(region=region, service=service)
        return client

    lambda_eval_utils.boto_client_for = boto_client_for

    def undo() -> None:
        lambda_eval_utils.boto_client_for = original

    return undo


EXPORT_ITEMS_PER_FILE = 100_000  # AWS splits an export into many data files; readers must not assume one


def install_dynamodb_export_layout(now: Callable[[], datetime] | None = None) -> Undo:
    """``ExportTableToPointInTime`` writes what AWS writes (Developer Guide, "DynamoDB table export output format"):
    ``<prefix>/AWSDynamoDB/<export id>/data/<name>.json.gz`` (gzipped JSON lines ``{"Item": {...}}``, split into
    files), ``manifest-files.json`` (one line per data file: ``itemCount``, ``md5Checksum``, ``etag``,
    ``dataFileS3Key``) and ``manifest-summary.json`` beside ``data/``; the export ARN is
    ``table/<name>/export/<export id>`` and ``DescribeExport`` names the summary (``ExportManifest``), the times and
    the uncompressed size. moto 5.2 wrote one ``.gz`` under a directory id unrelated to its ARN (which embedded the
    whole table ARN), no manifests, and billed ``len`` of a dict."""
    import gzip
    import hashlib
    import uuid

    from moto.dynamodb.models import table_export as te
    from moto.dynamodb.models.utilities import dynamo_json_dump

    cls = te.TableExport
    original_init, original_backup, original_response = cls.__init__, cls._backup_to_s3_file, cls.response
    original_start = cls.start

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.export_id = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        self.arn = f"{self.table.table_arn}/export/{self.export_id}"
        # the point in time the export is of: the local stack's virtual clock (the job's ``as_of``), else real time
        self.export_time = now() if now is not None else datetime.now(UTC)
        self.manifest_key = None

    def _put(self, s3_backend: Any, key: str, body: bytes) -> str:
        s3_backend.put_object(bucket_name=self.s3_bucket, key_name=key, value=body)
        return hashlib.md5(body, usedforsecurity=False).hexdigest()

    def _backup_to_s3_file(self, s3_backend: Any) -> None:
        base = f"{self.s3_prefix.rstrip('/')}/" if self.s3_prefix else ""
        base += f"AWSDynamoDB/{self.export_id}"
        lines: list[str] = []
        manifest: list[str] = []

        def flush() -> None:
            if not lines:
                return
            body = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"))
            key = f"{base}/data/{uuid.uuid4().hex}.json.gz"
            md5 = _put(self, s3_backend, key, body)
            manifest.append(
                json.dumps({"itemCount": len(lines), "md5Checksum": md5, "etag": md5, "dataFileS3Key": key})
            )
            lines.clear()

        for item in list(self.table.all_items()):
            line = dynamo_json_dump(item.to_json(root_attr_name="Item"))
            lines.append(line)
            self.processed_bytes += len(line.encode("utf-8"))
            self.item_count += 1
            if len(lines) >= EXPORT_ITEMS_PER_FILE:
                flush()
        flush()
        files_key = f"{base}/manifest-files.json"
        _put(self, s3_backend, files_key, ("\n".join(manifest) + "\n").encode("utf-8"))
        summary = {
            "version": "2020-06-30",
            "exportArn": self.arn,
            "startTime": self.export_time.isoformat().replace("+00:00", "Z"),
            "endTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "tableArn": self.table.table_arn,
            "exportTime": self.export_time.isoformat().replace("+00:00", "Z"),
            "s3Bucket": self.s3_bucket,
            "s3Prefix": self.s3_prefix,
            "s3SseAlgorithm": "AES256",
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": self.processed_bytes,
            "itemCount": self.item_count,
            "outputFormat": "DYNAMODB_JSON",
            "exportType": self.export_type,
        }
        self.manifest_key = f"{base}/manifest-summary.json"
        _put(self, s3_backend, self.manifest_key, json.dumps(summary).encode("utf-8"))
        self.status = "COMPLETED" if self.error_count == 0 else "FAILED"

    def response(self) -> dict[str, Any]:
        out = original_response(self)
        out["ExportTime"] = self.export_time.timestamp()
        out["StartTime"] = self.export_time.timestamp()
        if self.manifest_key:
            out["ExportManifest"] = self.manifest_key
        return {k: v for k, v in out.items() if v is not None}

    def start(self: Any) -> None:
        """The export runs inside ``ExportTableToPointInTime`` (moto runs it in a thread of its own): how many of
        the Analytics machine's polling Waits pass before it is COMPLETED then no longer depends on how fast this
        machine is — the virtual time a local Analytics run takes (and a demo campaign started after one) is the
        same on every run. AWS's export latency is not modelled either way."""
        self.run()

    cls.__init__ = __init__
    cls._backup_to_s3_file = _backup_to_s3_file
    cls.response = response
    cls.start = start

    def undo() -> None:
        cls.__init__ = original_init
        cls._backup_to_s3_file = original_backup
        cls.response = original_response
        cls.start = original_start

    return undo


_BATCHERS: dict[str, dict[str, Any]] = {}  # Map state name → its ItemBatcher (as the definition wrote it)


def _strip_batchers(node: Any) -> Any:
    """The definition without ``ItemBatcher`` fields, each remembered by its Map state's name."""
    if isinstance(node, dict):
        states = node.get("States")
        if isinstance(states, dict):
            for name, state in states.items():
                if isinstance(state, dict) and state.get("Type") == "Map" and "ItemBatcher" in state:
                    _BATCHERS[name] = state.pop("ItemBatcher")
        return {k: _strip_batchers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strip_batchers(v) for v in node]
    return node


def _path_value(document: Any, path: str) -> Any:
    """``$.a.b`` of a JSON document (the only path shape enishi's batchers use)."""
    value = document
    for part in path.removeprefix("$").strip(".").split("."):
        if part:
            value = value[part]
    return value


def _batch_items(batcher: dict[str, Any], state_input: Any, items: list[Any]) -> list[dict[str, Any]]:
    size = int(batcher.get("MaxItemsPerBatch") or _path_value(state_input, batcher["MaxItemsPerBatchPath"]))
    template = batcher.get("BatchInput") or {}
    batch_input = {
        (k[:-2] if k.endswith(".$") else k): (_path_value(state_input, v) if k.endswith(".$") else v)
        for k, v in template.items()
    }
    chunks = [items[i : i + size] for i in range(0, len(items), max(1, size))]
    return [{"Items": chunk, **({"BatchInput": batch_input} if template else {})} for chunk in chunks]


def install_distributed_map_batching() -> Undo:
    """Two Distributed Map features moto's ASL interpreter lacks, as AWS documents them (the Campaign machine uses
    both): ``ItemBatcher`` (moto's grammar rejects the field; the definition is kept as written, parsed without it,
    and the ItemReader's items are grouped into ``{"Items": [...], "BatchInput": {...}}`` children with
    ``MaxItemsPerBatch(Path)``) and ``ReaderConfig.InputType: JSONL`` (one JSON value per line)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_output_transformer import (  # noqa: E501 — moto's module path
        transformer_json,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as dic,
    )
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original_parse = AmazonStateLanguageParser.parse
    original_json = transformer_json.ResourceOutputTransformerJson._eval_body
    original_map_run = dic.DistributedIterationComponent._map_run

    def parse(definition: str) -> Any:
        if '"ItemBatcher"' in definition or '"JSONL"' in definition:
            document = _strip_batchers(json.loads(definition))
            definition = json.dumps(document).replace('"InputType": "JSONL"', '"InputType": "JSON"')
        return original_parse(definition)

    def json_or_lines(self: Any, env: Any) -> None:
        text = env.stack[-2]  # under the reader config
        try:
            json.loads(text)
        except ValueError:  # JSON lines: one value per line
            env.stack[-2] = json.dumps([json.loads(line) for line in text.splitlines() if line.strip()])
        original_json(self, env)

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        batcher = _BATCHERS.get(eval_input.state_name)
        if batcher is not None:
            items = env.stack.pop()
            env.stack.append(_batch_items(batcher, env.states.get_input(), items))
        original_map_run(self, env, eval_input)

    AmazonStateLanguageParser.parse = staticmethod(parse)
    transformer_json.ResourceOutputTransformerJson._eval_body = json_or_lines
    dic.DistributedIterationComponent._map_run = map_run

    def undo() -> None:
        AmazonStateLanguageParser.parse = staticmethod(original_parse)
        transformer_json.ResourceOutputTransformerJson._eval_body = original_json
        dic.DistributedIterationComponent._map_run = original_map_run

    return undo
