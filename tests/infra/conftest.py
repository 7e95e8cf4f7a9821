"""Synthesize the stack once per test session (cached across sessions by infra.synth) and share the template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def template_path() -> Path:
    from infra.synth import synthesize

    return synthesize()  # raises if cdk-nag reports an unacknowledged finding


@pytest.fixture(scope="session")
def template_json(template_path: Path) -> dict[str, Any]:
    return json.loads(template_path.read_text())


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]):
    from aws_cdk import assertions

    return assertions.Template.from_json(template_json)


class Cfn:
    """Small read-only queries over the template JSON (which function has which role, what its role may do)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.resources: dict[str, dict[str, Any]] = data["Resources"]

    def of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == type_}

    def function(self, handler: str) -> tuple[str, dict[str, Any]]:
        matches = [
            (k, r)
            for k, r in self.of_type("AWS::Lambda::Function").items()
            if r["Properties"]["Handler"] == handler
        ]
        assert len(matches) == 1, f"expected one function with handler {handler}, found {len(matches)}"
        return matches[0]

    def statements(self, handler: str) -> list[dict[str, Any]]:
        """Every IAM statement attached to the role of the function with this handler."""
        _, fn = self.function(handler)
        role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        found: list[dict[str, Any]] = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        role = self.resources[role_id]["Properties"]
        assert not role.get("ManagedPolicyArns"), "function roles carry no AWS managed policies"
        for inline in role.get("Policies", []):
            found.extend(inline["PolicyDocument"]["Statement"])
        return found

    def actions(self, handler: str) -> set[str]:
        acts: set[str] = set()
        for statement in self.statements(handler):
            value = statement["Action"]
            acts.update([value] if isinstance(value, str) else value)
        return acts

    def resources_for(self, handler: str, action: str) -> list[Any]:
        out: list[Any] = []
        for statement in self.statements(handler):
            value = statement["Action"]
            if action in ([value] if isinstance(value, str) else value):
                res = statement["Resource"]
                out.extend(res if isinstance(res, list) else [res])
        return out

    def logical_id(self, type_: str, predicate: Any = lambda r: True) -> str:
        ids = [k for k, r in self.of_type(type_).items() if predicate(r)]
        assert len(ids) == 1, f"expected one {type_}, found {ids}"
        return ids[0]


@pytest.fixture(scope="session")
def cfn(template_json: dict[str, Any]) -> Cfn:
    return Cfn(template_json)
