"""A multicast campaign on the local stack, through the deployed handlers (plan λ, the Distributed Map, the send λ
with the sequence step's own dependencies) and the fake LINE: the LINE recipients get one multicast, each once,
with a message record each; the email-only recipient a personal email; a second run messages nobody again."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("enishi_local.stack")

from enishi import keys
from enishi.events import Consent
from enishi.profiles.model import LineIdentity, Profile
from enishi.profiles.serialize import to_item

pytestmark = pytest.mark.slow

NOON = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 12:00 JST
CAMPAIGN = "line-news"
ON_LINE = 7


def user_id(cid: str) -> str:
    return "U" + hashlib.md5(cid.encode()).hexdigest()


def seed(stack) -> None:
    from enishi_local import campaign_ops

    t = campaign_ops.local(stack)
    now, shop, rows = stack.clock.now(), stack.shop_id, []
    consent = Consent(state="subscribed", source="shopify", collected_at=now - timedelta(days=90))
    for i in range(ON_LINE + 1):
        cid = f"mc{i}"
        line = (
            None if i == ON_LINE else LineIdentity(user_id=user_id(cid), updated_at=now - timedelta(days=9))
        )
        p = Profile(
            shop=shop,
            customer_id=cid,
            created_at=now - timedelta(days=90),
            updated_at=now - timedelta(days=1),
            email=f"{cid}@example.jp",
            email_consent=consent,
            line=line,
        )
        t.table.put_item(Item=to_item(p, keys.profile_key(shop, cid)))
        if line is not None:
            t.table.put_item(Item={**keys.line_lookup_key(shop, line.user_id), "customer_id": cid})
        rows.append({"customer_id": cid, "stage": "repeat", "segment": "loyal", "days_since_last_order": 30})
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    t.s3.put_object(Bucket=t.bucket, Key="segments/2026-12-01T000000Z/customers.jsonl", Body=body)


@pytest.fixture(scope="module")
def stack():
    from enishi_local.stack import LocalStack

    with LocalStack(port=0, start=NOON, time_scale=None) as s:
        seed(s)
        yield s


def test_a_multicast_campaign_end_to_end(stack):
    from enishi_local import campaign_ops

    t = campaign_ops.local(stack)
    shown = campaign_ops.preview(t, CAMPAIGN)
    assert shown["line_delivery"] == "multicast" and shown["recipients"] == ON_LINE + 1
    treated_line = shown["by_channel"]["line"]
    assert shown["line_requests"] == 1

    arn = campaign_ops.start(t, CAMPAIGN, name="m1")["execution_arn"]
    stack.settle(120)
    assert t.sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    requests = stack.line.multicasts()
    assert [len(m["to"]) for m in requests] == [treated_line]
    out = stack.outbox()
    line_out = [m for m in out if m["channel"] == "line"]
    assert Counter(m["recipient"] for m in line_out) == Counter(dict.fromkeys(requests[0]["to"], 1))
    assert {m["message_key"] for m in line_out} == {
        keys.campaign_message_key(stack.shop_id, m["customer_id"], CAMPAIGN) for m in line_out
    }  # each delivered LINE message is labelled with its recipient's own record
    status = campaign_ops.status(t, CAMPAIGN)["counts"]
    assert status["sent"] == len(out) == treated_line + shown["by_channel"].get("email", 0)

    campaign_ops.start(t, CAMPAIGN, name="m2")  # a retried run
    stack.settle(120)
    assert len(stack.line.multicasts()) == 1 and len(stack.outbox()) == len(out)
    again = campaign_ops.status(t, CAMPAIGN)["counts"]
    assert "sent" not in again and again["skipped:already_sent"] == len(out)
