"""The privacy job's plan (pure): what each privacy event becomes, how a slice continues, what the operator is told."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import constants as c
from enishi import events as ev
from enishi.privacy import jobs

AT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
SHOP = "enishi-demo.myshopify.com"


def _base(event_id: str = "shopify:e1:x") -> dict:
    return {"event_id": event_id, "shop": SHOP, "source": "shopify", "occurred_at": AT, "received_at": AT}


def _customer(email: str | None = "hanako@example.jp") -> ev.CustomerRef:
    return ev.CustomerRef(customer_id="701", email=email)


def test_a_data_request_is_one_export_of_that_customer():
    event = ev.CustomerDataRequested(**_base(), customer=_customer(), request_id="9999")
    (job,) = jobs.plan(event)
    assert (job.kind, job.customer_id, job.email, job.request_id) == (
        "export",
        "701",
        "hanako@example.jp",
        "9999",
    )
    assert job.received_at == AT.isoformat()


def test_a_customer_redaction_is_one_erase():
    (job,) = jobs.plan(ev.CustomerRedactRequested(**_base(), customer=_customer(), order_ids=("5",)))
    assert (job.kind, job.customer_id) == ("erase", "701")


def test_a_shop_redaction_is_every_table_segment_the_raw_bucket_the_exports_and_the_executions():
    planned = jobs.plan(ev.ShopRedactRequested(**_base()))
    tables = [j for j in planned if j.kind == "table"]
    assert [j.segment for j in tables] == list(range(jobs.TABLE_SEGMENTS))
    assert {j.total_segments for j in tables} == {jobs.TABLE_SEGMENTS}
    assert sorted(j.kind for j in planned if j.kind != "table") == ["executions", "exports", "raw"]
    assert {j.shop for j in planned} == {SHOP}


def test_other_events_start_no_privacy_job():
    assert jobs.plan(ev.ShopRedactRequested(**_base()).model_copy(update={"type": c.ORDER_RECORDED})) == []
    assert jobs.plan(object()) == []


def test_a_slice_continues_from_its_cursor_and_ends_without_one():
    job = jobs.plan(ev.ShopRedactRequested(**_base()))[0]
    nxt = job.after({"pk": "SHOP#x#CUST#1", "sk": "PROFILE"})
    assert nxt is not None and nxt.cursor == {"pk": "SHOP#x#CUST#1", "sk": "PROFILE"} and nxt.slices == 1
    assert nxt.segment == job.segment and nxt.after("token").slices == 2  # type: ignore[union-attr]
    assert job.after(None) is None and job.after({}) is None


def test_a_job_survives_the_queue():
    job = jobs.plan(ev.ShopRedactRequested(**_base()))[0].after({"pk": "a", "sk": "b"})
    assert job is not None
    body = json.dumps({jobs.JOB_KEY: job.model_dump(mode="json")})
    assert jobs.Job.model_validate(json.loads(body)[jobs.JOB_KEY]) == job


@settings(max_examples=100, deadline=None)
@given(event_id=st.text(min_size=1, max_size=80))
def test_an_export_key_stays_under_the_shops_prefix_whatever_the_event_id(event_id):
    key = jobs.export_key(SHOP, event_id)
    assert key.startswith(jobs.exports_prefix(SHOP)) and key.endswith(".json")
    assert "/" not in key.removeprefix(jobs.exports_prefix(SHOP)) and ".." not in key.split("/")


@settings(max_examples=100, deadline=None)
@given(
    email=st.emails(),
    phone=st.from_regex(r"\+81[0-9]{9,10}", fullmatch=True),
    request_id=st.one_of(st.none(), st.from_regex(r"[0-9]{1,12}", fullmatch=True)),
)
def test_the_operators_notification_never_carries_the_customers_contact(email, phone, request_id):
    event = ev.CustomerDataRequested(
        **_base(), customer=ev.CustomerRef(customer_id="701", email=email, phone=phone), request_id=request_id
    )
    (job,) = jobs.plan(event)
    message = json.dumps(jobs.notification(job, "bucket", jobs.export_key(SHOP, job.event_id), {"orders": 2}))
    assert email not in message and email.lower() not in message.lower() and phone not in message
    assert json.loads(message)["type"] == c.CUSTOMER_DATA_REQUESTED


def test_log_fields_carry_no_email():
    (job,) = jobs.plan(ev.CustomerDataRequested(**_base(), customer=_customer(), request_id="1"))
    assert "hanako@example.jp" not in json.dumps(job.log_fields())
