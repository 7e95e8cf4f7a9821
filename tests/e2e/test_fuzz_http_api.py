"""Schemathesis against the local server (issue 9, suite item 3): every operation of docs/openapi.yaml, with
generated headers, paths and bodies, sent as is (no valid signature) and — for the webhooks — signed with the local
secrets, so the adapters are reached too. Rules: no 5xx; no 2xx without a valid signature (or a genuine token).

Budget: ``FUZZ_EXAMPLES`` (default 60 in ``make test``; HYPOTHESIS_PROFILE=long → 1000). Reproduce:
``.venv/bin/python -m pytest tests/e2e/test_fuzz_http_api.py -q -s -p no:cacheprovider``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enishi import signatures
from enishi_local.stack import LocalStack

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000" if LONG else "60"))
WEBHOOKS = {"/webhooks/shopify", "/webhooks/generic", "/webhooks/line"}
RESULTS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def stack():
    with LocalStack(port=0, start=START) as s:
        yield s


def operations():
    import schemathesis

    schema = schemathesis.openapi.from_path(str(ROOT / "docs" / "openapi.yaml"))
    return [result.ok() for result in schema.get_all_operations()]


def _raw(case) -> bytes:
    body = case.body
    if body is None or body.__class__.__name__ == "NotSet":
        return b""
    if isinstance(body, bytes):
        return body
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _signed_headers(path: str, raw: bytes, stack: LocalStack, t: int) -> dict[str, str]:
    s = stack.secrets
    if path == "/webhooks/shopify":
        return {
            "X-Shopify-Hmac-Sha256": signatures.sign_shopify(raw, s.shopify),
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": "enishi-demo.myshopify.com",
            "X-Shopify-Event-Id": f"fuzz-{time.time_ns()}",
        }
    if path == "/webhooks/generic":
        return {"X-Enishi-Signature": signatures.sign_generic(raw, s.generic, t)}
    return {"x-line-signature": signatures.sign_line(raw, s.line_channel_secret)}


def test_no_5xx_and_no_2xx_without_a_valid_signature(stack):
    ops = operations()
    strategy = st.one_of([op.as_strategy() for op in ops])
    session = requests.Session()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=strategy, sign=st.booleans())
    def run(case, sign):
        path = case.operation.path
        unsigned = case.call(base_url=stack.url, session=session, timeout=30)
        RESULTS[f"{case.method} {path} {unsigned.status_code}"] += 1
        assert unsigned.status_code < 500, (case.method, path, unsigned.status_code, unsigned.text[:200])
        if path in WEBHOOKS or path == "/u/{token}":  # the signature / the token is the credential
            assert not 200 <= unsigned.status_code < 300, (case.method, path, unsigned.status_code)
        if sign and path in WEBHOOKS:
            raw = _raw(case)
            # the local stack may judge the generic t on its virtual clock or on the wall clock: try both
            for t in (int(stack.clock.now().timestamp()), int(time.time())):
                headers = {"Content-Type": "application/json", **_signed_headers(path, raw, stack, t)}
                signed = session.post(stack.url + path, data=raw, headers=headers, timeout=30)
                if signed.status_code != 401:
                    break
            RESULTS[f"signed POST {path} {signed.status_code}"] += 1
            assert signed.status_code < 500, (path, signed.status_code, signed.text[:200], raw[:200])

    run()
    total = sum(RESULTS.values())
    fivexx = sum(n for k, n in RESULTS.items() if k.rsplit(" ", 1)[1].startswith("5"))
    print(f"\nfuzz: {total} requests, {fivexx} 5xx; by operation and status: {dict(sorted(RESULTS.items()))}")
    assert fivexx == 0
