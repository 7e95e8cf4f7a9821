"""Shared fixtures. Unit tests need no AWS; integration tests run against moto (never the network)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fake credentials and a fixed region before anything creates a boto3 client.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = "ap-northeast-1"
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "enishi")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "enishi-test")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

# Hypothesis budgets: small in `make test`, larger with HYPOTHESIS_PROFILE=long (`make test-long`)
try:
    from hypothesis import HealthCheck
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile(
        "default",
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    _hypothesis_settings.register_profile(
        "long",
        max_examples=2000,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
except ImportError:  # hypothesis is in the dev extra
    pass

ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = ROOT / "tests" / "events"


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for every AWS service, with Step Functions executing real ASL."""
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        yield


@pytest.fixture(scope="session")
def single_table_factory():
    """``enishi_local.tables.create_single_table`` for fixtures of a wider scope than ``table`` (they start moto
    themselves)."""
    from enishi_local.tables import create_single_table

    return create_single_table


@pytest.fixture
def table(aws, monkeypatch):
    """The single table (``enishi_local.tables.create_single_table``) with its name in the environment."""
    from enishi import constants as c
    from enishi_local.tables import create_single_table

    name = "enishi-test"
    created = create_single_table(name)
    monkeypatch.setenv(c.ENV_TABLE_NAME, name)
    return created


@pytest.fixture
def bus(aws, monkeypatch):
    """The custom bus with a catch-all rule into an SQS queue, so tests can read what was published."""
    import boto3

    from enishi import constants as c

    events = boto3.client("events")
    sqs = boto3.client("sqs")
    events.create_event_bus(Name=c.EVENT_BUS_NAME)
    queue_url = sqs.create_queue(QueueName="published")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="all", EventBusName=c.EVENT_BUS_NAME, EventPattern='{"source":[{"prefix":"enishi"}]}'
    )
    events.put_targets(Rule="all", EventBusName=c.EVENT_BUS_NAME, Targets=[{"Id": "q", "Arn": queue_arn}])
    monkeypatch.setenv(c.ENV_EVENT_BUS_NAME, c.EVENT_BUS_NAME)
    return PublishedEvents(sqs, queue_url)


class PublishedEvents:
    """Reads what reached the bus (through the catch-all rule's queue)."""

    def __init__(self, sqs, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def drain(self) -> list[dict]:
        import json

        out: list[dict] = []
        while True:
            resp = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            msgs = resp.get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def lambda_context():
    """``lambda_context("Feedback")``: the few context fields Powertools' ``inject_lambda_context`` reads."""
    from types import SimpleNamespace

    def make(function_name: str) -> SimpleNamespace:
        return SimpleNamespace(
            function_name=function_name,
            memory_limit_in_mb=256,
            aws_request_id="req-1",
            invoked_function_arn=f"arn:aws:lambda:ap-northeast-1:123456789012:function:{function_name}",
        )

    return make


# ---- no PII in any log line written during the suite (tests/pii_guard.py); xdist-safe: each worker writes its
# findings to a file, the controller (or a run without xdist) reads them all and fails the run if there are any.


def pytest_configure(config):
    import tempfile

    from pii_guard import GUARD  # tests/ is on sys.path: this conftest's folder

    GUARD.install()
    if not hasattr(config, "workerinput"):
        config._pii_findings_dir = Path(tempfile.mkdtemp(prefix="enishi-pii-"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["pii_findings_dir"] = str(node.config._pii_findings_dir)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    import json
    import shutil

    from pii_guard import GUARD

    config = session.config
    worker = getattr(config, "workerinput", None)
    folder = Path(worker["pii_findings_dir"]) if worker else config._pii_findings_dir
    name = worker["workerid"] if worker else "main"
    (folder / f"{name}.json").write_text(json.dumps(GUARD.report(), ensure_ascii=False), encoding="utf-8")
    if worker:
        return
    findings = [
        f for path in sorted(folder.glob("*.json")) for f in json.loads(path.read_text(encoding="utf-8"))
    ]
    shutil.rmtree(folder, ignore_errors=True)
    if not findings:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", f"PII in log lines: {len(findings)} finding(s)", red=True)
        for f in findings[:50]:
            reporter.write_line(f"{f['kind']}: {f['value']!r} (logger {f['logger']}): {f['line']}")
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
