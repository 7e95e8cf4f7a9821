"""The Campaign machine on the local stack (moto's Step Functions, with enishi_local's ItemBatcher/JSONL patch):
started at 20:50 JST it waits for 09:00 and sends nothing at night; cancel stops it; started again it messages every
treated recipient once; a third run (a retry) messages nobody again; preview and status agree."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("enishi_local.stack")

from enishi import keys
from enishi.events import Consent
from enishi.profiles.model import Profile
from enishi.profiles.serialize import to_item

pytestmark = pytest.mark.slow

START = datetime(2026, 12, 1, 11, 50, tzinfo=UTC)  # 20:50 JST
MORNING = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 09:00 JST
CUSTOMERS = 12


def seed(stack) -> None:
    from enishi_local import campaign_ops

    t = campaign_ops.local(stack)
    now, shop, rows = stack.clock.now(), stack.shop_id, []
    for i in range(CUSTOMERS):
        cid = f"camp{i}"
        consent = (
            None
            if i == 0
            else Consent(state="subscribed", source="shopify", collected_at=now - timedelta(days=90))
        )
        p = Profile(
            shop=shop,
            customer_id=cid,
            created_at=now - timedelta(days=90),
            updated_at=now - timedelta(days=1),
            email=f"{cid}@example.jp",
            email_consent=consent,
        )
        t.table.put_item(Item=to_item(p, keys.profile_key(shop, cid)))
        rows.append({"customer_id": cid, "stage": "repeat", "segment": "loyal", "days_since_last_order": 30})
    rows.append({"customer_id": "new1", "stage": "first", "segment": "new", "days_since_last_order": 3})
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    t.s3.put_object(Bucket=t.bucket, Key="segments/2026-12-01T000000Z/customers.jsonl", Body=body)


def run_until_parked_or_done(stack, arn: str) -> str:
    from enishi_local import campaign_ops

    sfn = campaign_ops.local(stack).sfn
    stack.settle(120)
    return str(sfn.describe_execution(executionArn=arn)["status"])


@pytest.fixture(scope="module")
def stack():
    from enishi_local.stack import LocalStack

    with LocalStack(port=0, start=START, time_scale=None) as s:
        seed(s)
        yield s


def test_preview_start_at_night_cancel_start_again_and_retry(stack):
    from enishi_local import campaign_ops

    t = campaign_ops.local(stack)
    shown = campaign_ops.preview(t, "winter-sale")
    assert shown["recipients"] == CUSTOMERS  # the "new" row is outside the audience
    treated = CUSTOMERS - shown["holdout"]
    assert shown["by_channel"].get("email", 0) + shown["by_channel"].get("none", 0) == treated
    assert shown["cost"]["ses_usd"] == pytest.approx(shown["by_channel"]["email"] * 0.0001)

    # 20:50 JST: the run waits for 09:00 and sends nothing at night; cancel stops it
    first = campaign_ops.start(t, "winter-sale", name="r1")["execution_arn"]
    assert run_until_parked_or_done(stack, first) == "RUNNING"
    assert stack.outbox() == []
    assert campaign_ops.cancel(t, "winter-sale")["cancelled"] is True
    stack.settle(60)
    assert campaign_ops.status(t, "winter-sale")["execution"] == "ABORTED"
    stack.advance_to(MORNING + timedelta(minutes=1))
    assert stack.outbox() == []

    # started again in the morning: every treated recipient with consent once
    second = campaign_ops.start(t, "winter-sale", name="r2")["execution_arn"]
    assert run_until_parked_or_done(stack, second) == "SUCCEEDED"
    sent = stack.outbox()
    status = campaign_ops.status(t, "winter-sale")
    assert status["counts"]["sent"] == len(sent) == shown["by_channel"]["email"]
    assert status["counts"]["holdout"] == shown["holdout"]
    assert status["counts"].get("skipped:no_consent", 0) == shown["by_channel"].get("none", 0)

    # a retried run (the operator starts it again) messages nobody twice
    third = campaign_ops.start(t, "winter-sale", name="r3")["execution_arn"]
    assert run_until_parked_or_done(stack, third) == "SUCCEEDED"
    assert len(stack.outbox()) == len(sent)
    again = campaign_ops.status(t, "winter-sale")["counts"]
    assert "sent" not in again and again["skipped:already_sent"] == len(sent)
