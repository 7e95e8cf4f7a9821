"""docs/openapi.yaml is the public HTTP API: the same routes as the synthesized stack and the handlers' code,
in both directions (issue 9, suite item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from enishi import constants as c

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}


def documented() -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, item in SPEC["paths"].items() for m in item if m in METHODS}


def test_openapi_is_a_valid_openapi_3_document():
    validate = pytest.importorskip("openapi_spec_validator").validate
    validate(SPEC)


def test_every_path_constant_is_documented_and_every_documented_path_is_a_constant():
    paths = {getattr(c, name) for name in dir(c) if name.startswith("PATH_")}
    assert {p for _, p in documented()} == paths


def test_intake_code_routes_are_documented_as_post():
    from enishi.intake import handler

    assert {("POST", p) for p in handler.ROUTES} <= documented()


@pytest.mark.slow
def test_documented_operations_are_exactly_the_routes_of_the_synthesized_api():
    from enishi_local.cfn import Template
    from infra.synth import synthesize

    routes = {(r.method, r.path) for r in Template.load(synthesize()).routes()}
    # a polled cart's id-push route exists only for a configured connection (enishi:cartConnections)
    assert routes == documented() - {("POST", c.PATH_CART_WEBHOOK)}
