"""Step Functions executions started and stopped by deterministic name (adapter: boto3 ``stepfunctions`` client +
the machine ARNs of ``ENISHI_STATE_MACHINE_ARNS``). What to start or stop is planned in ``domain/starting.py``."""

from __future__ import annotations

import json
from typing import Any

from enishi.sequences.domain.starting import Start, Stop


class Executions:
    """Starts and stops executions by deterministic name (boto3 ``stepfunctions`` client + machine ARNs)."""

    def __init__(self, client: Any, machine_arns: dict[str, str]) -> None:
        self._client = client
        self._arns = machine_arns

    def start(self, start: Start) -> bool:
        """True if this call started it; False if it already existed (open with the same input, or closed)."""
        arn = self._arns.get(start.sequence)
        if arn is None:
            return False
        try:
            self._client.start_execution(stateMachineArn=arn, name=start.name, input=json.dumps(start.input))
        except self._client.exceptions.ExecutionAlreadyExists:
            return False
        return True

    def stop(self, stop: Stop) -> bool:
        arn = self._arns.get(stop.sequence)
        if arn is None:
            return False
        execution_arn = arn.replace(":stateMachine:", ":execution:") + ":" + stop.name
        try:
            self._client.stop_execution(executionArn=execution_arn, cause=stop.cause)
            return True
        except self._client.exceptions.ExecutionDoesNotExist:
            return False
