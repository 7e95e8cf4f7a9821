"""``enishi campaign preview|start|status|cancel ID --stack NAME`` against a deployed stack found by its
CloudFormation outputs (moto), like ``enishi import --stack``: the stack must be an enishi stack with campaigns;
``start`` writes the run record before it starts the execution (a new run's batches must not read the last
run's cancel flag); a start that fails puts the earlier record back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from enishi import clock, keys
from enishi import constants as c
from enishi.campaigns.store import STATUS_CANCELLED, STATUS_RUNNING, CampaignRuns
from enishi.events import Consent
from enishi.profiles.model import Profile
from enishi.profiles.serialize import to_item
from enishi.shop_config import REPO_DIR, load_shop_config
from enishi_local import campaign_ops

STACK = "Enishi"
BUCKET = "enishi-analytics-test"
NOON = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
CAMPAIGN = "winter-sale"
SHOP = load_shop_config(str(REPO_DIR)).shop_id
CUSTOMERS = 10


def _bucket(s3, name: str) -> None:
    region = s3.meta.region_name
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})


def _machine() -> str:
    sfn = boto3.client("stepfunctions")
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    return sfn.create_state_machine(
        name="Campaign",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/enishi-campaign",
    )["stateMachineArn"]


def _stack(name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def now():
    clock.set_provider(lambda: NOON)
    yield NOON
    clock.reset()


@pytest.fixture
def deployed(table, now):
    s3 = boto3.client("s3")
    _bucket(s3, BUCKET)
    machine = _machine()
    _stack(
        STACK,
        {
            c.OUTPUT_TABLE_NAME: table.name,
            c.OUTPUT_ANALYTICS_BUCKET_NAME: BUCKET,
            c.OUTPUT_CAMPAIGN_STATE_MACHINE_ARN: machine,
        },
    )
    rows = []
    for i in range(CUSTOMERS):
        cid = f"op{i}"
        consent = Consent(state="subscribed", source="shopify", collected_at=NOON - timedelta(days=90))
        p = Profile(
            shop=SHOP,
            customer_id=cid,
            created_at=NOON - timedelta(days=90),
            updated_at=NOON - timedelta(days=1),
            email=f"{cid}@example.jp",
            email_consent=consent,
        )
        table.put_item(Item=to_item(p, keys.profile_key(SHOP, cid)))
        rows.append({"customer_id": cid, "stage": "repeat", "segment": "loyal", "days_since_last_order": 30})
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    s3.put_object(Bucket=BUCKET, Key="segments/2026-12-01T000000Z/customers.jsonl", Body=body)
    return table, machine


def _main(capsys, *argv: str) -> dict:
    assert campaign_ops.main([*argv, "--stack", STACK]) == 0
    return json.loads(capsys.readouterr().out)


def test_preview_start_status_and_cancel_on_a_deployed_stack(deployed, capsys):
    table, machine = deployed
    shown = _main(capsys, "preview", CAMPAIGN)
    assert shown["recipients"] == CUSTOMERS and shown["by_channel"]["email"] == CUSTOMERS - shown["holdout"]

    started = _main(capsys, "start", CAMPAIGN)
    arn = started["execution_arn"]
    assert arn.startswith(machine.replace(":stateMachine:", ":execution:") + ":")
    run = CampaignRuns(table).get(SHOP, CAMPAIGN)
    assert run is not None and run["status"] == STATUS_RUNNING and run["execution_arn"] == arn

    status = _main(capsys, "status", CAMPAIGN)
    assert status["run"] == STATUS_RUNNING and status["execution"] == "RUNNING"

    cancelled = _main(capsys, "cancel", CAMPAIGN)
    assert cancelled == {"campaign": CAMPAIGN, "cancelled": True, "execution_arn": arn}
    status = _main(capsys, "status", CAMPAIGN)
    assert status["run"] == STATUS_CANCELLED and status["execution"] == "ABORTED"


class _Spy:
    """The Step Functions client, noting the run record's status at the moment the execution starts."""

    def __init__(self, sfn, table, fail: bool = False) -> None:
        self._sfn, self._table, self._fail = sfn, table, fail
        self.seen: list[str | None] = []
        self.exceptions = sfn.exceptions

    def start_execution(self, **kw):
        run = CampaignRuns(self._table).get(SHOP, CAMPAIGN)
        self.seen.append(None if run is None else run["status"])
        if self._fail:
            raise RuntimeError("StartExecution failed")
        return self._sfn.start_execution(**kw)

    def __getattr__(self, name):
        return getattr(self._sfn, name)


def test_start_after_a_cancel_clears_the_flag_before_the_execution_starts(deployed):
    """Failed before the fix: the execution started while the record still said ``cancelled`` (the new run's
    first batches read that flag and sent nothing)."""
    table, _ = deployed
    t = campaign_ops.deployed(STACK)
    campaign_ops.start(t, CAMPAIGN, name="r1")
    campaign_ops.cancel(t, CAMPAIGN)
    spy = _Spy(t.sfn, table)
    t.sfn = spy
    campaign_ops.start(t, CAMPAIGN, name="r2")
    assert spy.seen == [STATUS_RUNNING]


def test_a_start_that_fails_puts_the_earlier_record_back(deployed):
    table, _ = deployed
    t = campaign_ops.deployed(STACK)
    campaign_ops.start(t, CAMPAIGN, name="r1")
    campaign_ops.cancel(t, CAMPAIGN)
    before = CampaignRuns(table).get(SHOP, CAMPAIGN)
    t.sfn = _Spy(t.sfn, table, fail=True)
    with pytest.raises(RuntimeError):
        campaign_ops.start(t, CAMPAIGN, name="r2")
    assert CampaignRuns(table).get(SHOP, CAMPAIGN) == before
    t.sfn = _Spy(t.sfn._sfn, table, fail=True)
    CampaignRuns(table).restore(SHOP, CAMPAIGN, None)
    with pytest.raises(RuntimeError):
        campaign_ops.start(t, CAMPAIGN, name="r3")
    assert CampaignRuns(table).get(SHOP, CAMPAIGN) is None


def test_a_stack_that_is_not_enishi_is_refused(table):
    """Failed before the fix: a KeyError on the first missing output instead of saying what is wrong."""
    _stack("Other", {"Something": "else"})
    with pytest.raises(SystemExit, match="is it an enishi stack"):
        campaign_ops.main(["status", CAMPAIGN, "--stack", "Other"])


def test_an_enishi_stack_without_campaigns_says_so(table):
    _stack("Older", {c.OUTPUT_TABLE_NAME: table.name})
    with pytest.raises(SystemExit, match="deployed before campaigns"):
        campaign_ops.main(["status", CAMPAIGN, "--stack", "Older"])
