"""The synthesized state machines, executed in moto with the real step/starter/winback handlers.

Given the stack CDK synthesizes (``template_path``), the four machines are created in moto from their **synthesized**
definitions; every Lambda invoke runs the real handler in-process (``enishi_local.moto_patches``); Wait states and
retry intervals follow a manual virtual clock, so a 7-day sequence runs in about a second. Emails are read from what
moto's SES v2 accepted, LINE pushes from the fake LINE API, paths from ``get_execution_history``.
"""

from __future__ import annotations

import base64
import email
import email.policy
import importlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from enishi import bootstrap, clock, keys
from enishi import constants as c
from enishi.events import Consent, to_detail_dict
from enishi.profiles.items import CheckoutItem, OrderItem, OrderLine
from enishi.profiles.model import LineIdentity, Profile
from enishi.profiles.serialize import to_item
from enishi.profiles.store import order_to_item
from enishi.shop_config import REPO_DIR, load_shop_config

pytestmark = pytest.mark.slow

SHOP = "enishi-demo.myshopify.com"
T0 = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)  # Tuesday 12:00 JST
ROLE = "arn:aws:iam::123456789012:role/enishi-test"
SEQUENCE_HANDLERS = (
    "enishi.sequences.step.handler.handler",
    "enishi.sequences.starter.handler.handler",
    "enishi.sequences.winback.handler.handler",
)
REAL_TIMEOUT = 20.0


# ----------------------------------------------------------------------------------------------- the world
class World:
    """moto resources made from the synthesized template + the patches that make them run locally."""

    def __init__(self, template: Any, line_url: str) -> None:
        from enishi_local.cfn import Template  # noqa: F401 - typing only

        self.t = template
        self.sfn = boto3.client("stepfunctions")
        self.emails: list[dict[str, Any]] = []
        self.machines = template.state_machines()
        starter = next(
            f
            for f in template.functions().values()
            if f.handler == "enishi.sequences.starter.handler.handler"
        )
        self.arns: dict[str, str] = json.loads(starter.environment[c.ENV_STATE_MACHINE_ARNS])
        assert set(self.arns) == {*c.SEQUENCES, "shipping_notice.follow_up"}
        table_spec = template.tables()[0]
        self.table_name = table_spec.name
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName=table_spec.name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=table_spec.key_schema,
            AttributeDefinitions=table_spec.attribute_definitions,
            GlobalSecondaryIndexes=[dict(g.items()) for g in table_spec.global_secondary_indexes],
        )
        self.table = boto3.resource("dynamodb").Table(table_spec.name)
        secrets = boto3.client("secretsmanager")
        line_arn = secrets.create_secret(
            Name="line", SecretString=json.dumps({"channel_secret": "s", "channel_access_token": "tok-test"})
        )["ARN"]
        unsub_arn = secrets.create_secret(Name="unsubscribe", SecretString="unsubscribe-signing-key")["ARN"]
        shop = load_shop_config(str(REPO_DIR))
        ses = boto3.client("sesv2")
        ses.create_email_identity(EmailIdentity=shop.from_address.split("@")[1].rstrip(">"))
        overrides = {
            c.ENV_SHOP_CONFIG_DIR: str(REPO_DIR),
            c.ENV_LINE_API_BASE_URL: line_url,
            c.ENV_LINE_SECRET_ARN: line_arn,
            c.ENV_UNSUBSCRIBE_SECRET_ARN: unsub_arn,
            c.ENV_SES_FROM_ADDRESS: shop.from_address,
            c.ENV_PUBLIC_BASE_URL: "https://api.enishi.example/",
        }
        iam = boto3.client("iam")
        iam.create_role(RoleName="enishi-test", AssumeRolePolicyDocument="{}")
        lam = boto3.client("lambda")
        self.functions: dict[str, Any] = {}
        for spec in template.functions().values():
            if spec.handler not in SEQUENCE_HANDLERS:
                continue
            ses.create_configuration_set(
                ConfigurationSetName=spec.environment[c.ENV_SES_CONFIGURATION_SET]
            ) if c.ENV_SES_CONFIGURATION_SET in spec.environment else None
            env = {k: (overrides.get(k, v)) for k, v in spec.environment.items()}
            lam.create_function(
                FunctionName=spec.name,
                Runtime="python3.13",
                Role=ROLE,
                Handler=spec.handler,
                Code={"ZipFile": _zip()},
                Environment={"Variables": env},
                Timeout=spec.timeout,
            )
            self.functions[spec.handler] = spec
        for name, sm in self.machines.items():
            if (
                "Campaign" in sm.logical_id
            ):  # needs enishi_local's ItemBatcher patch: tests/e2e/test_campaign_local.py
                continue
            self.sfn.create_state_machine(name=name, definition=json.dumps(sm.definition), roleArn=ROLE)

    # ---- seeds (what the profile consumer would have written)
    def put(self, model: Any, key: dict[str, str], extra: dict[str, Any] | None = None) -> None:
        self.table.put_item(Item=to_item(model, key, extra))

    def profile(self, **kw: Any) -> Profile:
        p = Profile(
            **{
                "shop": SHOP,
                "customer_id": "7001",
                "created_at": T0 - timedelta(days=30),
                "updated_at": T0,
                "email": "hanako@example.jp",
                "first_name": "花子",
                "last_name": "山田",
                "email_consent": Consent(
                    state="subscribed", source="shopify", collected_at=T0 - timedelta(days=30)
                ),
                **kw,
            }
        )
        self.put(p, keys.profile_key(SHOP, p.customer_id))
        return p

    def update_profile(self, **changes: Any) -> None:
        item = self.table.get_item(Key=keys.profile_key(SHOP, "7001"))["Item"]
        p = Profile.model_validate(item).model_copy(update=changes)
        self.put(p, keys.profile_key(SHOP, "7001"))

    def checkout(self, status: str = "open", at: datetime = T0) -> CheckoutItem:
        ck = CheckoutItem(
            shop=SHOP,
            checkout_token="ck1",
            customer_id="7001",
            status=status,
            created_at=at,
            updated_at=at,
            recovery_url="https://enishi-sabo.example/checkouts/ck1/recover",
            items=[OrderLine(product_id="8001", title="八女茶 煎茶 100g", quantity=2, price=1620)],
            total=3240,
        )
        self.put(ck, keys.checkout_key(SHOP, "ck1"))
        return ck

    def order(
        self, order_id: str = "o1", at: datetime = T0, status: str = "placed", customer_id: str = "7001"
    ) -> OrderItem:
        o = OrderItem(
            shop=SHOP,
            order_id=order_id,
            customer_id=customer_id,
            order_name="#1001",
            placed_at=at,
            total=3240,
            currency="JPY",
            status=status,
            updated_at=at,
            items=[OrderLine(product_id="8001", title="八女茶 煎茶 100g", quantity=2, price=1620)],
        )
        self.table.put_item(
            Item=order_to_item(o)
        )  # as the profile consumer stores it (win-back index included)
        return o

    # ---- triggers
    def deliver(self, event: Any, attributes: dict[str, str] | None = None) -> dict[str, Any]:
        """The starter's SQS batch with this event, as the bus rule delivers it; the handler's answer."""
        body = {
            "version": "0",
            "id": "e",
            "detail-type": event.type,
            "source": "enishi.intake",
            "time": clock.iso_z(event.occurred_at),
            "detail": to_detail_dict(event),
        }
        sqs_event = {
            "Records": [
                {
                    "messageId": "m1",
                    "receiptHandle": "r",
                    "body": json.dumps(body),
                    "attributes": attributes or {},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:ap-northeast-1:123456789012:starter",
                    "awsRegion": "ap-northeast-1",
                }
            ]
        }
        return self.invoke("enishi.sequences.starter.handler.handler", sqs_event)

    def invoke(self, handler: str, event: dict[str, Any]) -> dict[str, Any]:
        resp = boto3.client("lambda").invoke(
            FunctionName=self.functions[handler].name, Payload=json.dumps(event)
        )
        payload = json.loads(resp["Payload"].read())
        assert "FunctionError" not in resp, payload
        return payload

    # ---- reading
    def executions(self, sequence: str) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=self.arns[sequence])["executions"]

    def running(self) -> list[dict[str, Any]]:
        return [e for seq in self.arns for e in self.executions(seq) if e["status"] == "RUNNING"]

    def path(self, execution_arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    def records(self) -> list[dict[str, Any]]:
        items = self.table.scan()["Items"]
        return sorted((i for i in items if i["sk"].startswith("MSG#")), key=lambda i: i["created_at"])


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("placeholder.py", "")
    return buf.getvalue()


def _resolve(world_ref: list[World]) -> Callable[[str], Any]:
    def resolve(function_name: str) -> Any:
        for handler, spec in world_ref[0].functions.items():
            if spec.name == function_name:
                module, attr = handler.rsplit(".", 1)
                return getattr(importlib.import_module(module), attr)
        raise KeyError(function_name)

    return resolve


@pytest.fixture(scope="module")
def cfn_template(template_path: Path) -> Any:
    from enishi_local.cfn import Template

    return Template.load(template_path)


@pytest.fixture
def fake_line() -> Iterator[Any]:
    from enishi_local.fake_line import FakeLine

    with FakeLine(access_token="tok-test") as fake:
        yield fake


@pytest.fixture
def vclock() -> Iterator[Any]:
    from enishi_local.moto_patches import install_virtual_waits
    from enishi_local.vclock import VirtualClock

    vc = VirtualClock(start=T0)
    undo = install_virtual_waits(vc)
    vc.install()
    yield vc
    vc.uninstall()
    undo()


@pytest.fixture
def world(aws, vclock, fake_line, cfn_template, monkeypatch) -> Iterator[World]:
    from enishi_local.moto_patches import install_lambda_dispatch, install_ses_capture

    bootstrap.reset_all()
    ref: list[World] = []
    undo_dispatch = install_lambda_dispatch(_resolve(ref))
    w = World(cfn_template, fake_line.url)
    ref.append(w)
    undo_ses = install_ses_capture(lambda sent: w.emails.append({**sent, "at": clock.now()}))
    yield w
    settle(w, vclock)  # moto cannot stop an execution whose worker has not started yet
    for arn in [e["executionArn"] for e in w.running()]:
        w.sfn.stop_execution(executionArn=arn)
    undo_ses()
    undo_dispatch()
    bootstrap.reset_all()


# ----------------------------------------------------------------------------------------------- driving time
def settle(world: World, vclock: Any) -> None:
    """Return once every running execution is parked on the virtual clock (or finished) and no handler runs."""
    from enishi_local import runtime

    deadline = time.monotonic() + REAL_TIMEOUT
    stable = 0
    while True:
        running = world.running()
        # only sleepers whose time lies ahead are parked: one the clock just woke stays in sleepers() until its
        # thread runs, which on a loaded machine can take longer than the three polls below
        now = vclock.now()
        parked = len([t for t in vclock.sleepers() if t > now]) >= len(running) and not runtime.busy()
        stable = stable + 1 if parked else 0
        if stable >= 3:
            return
        assert time.monotonic() < deadline, f"executions did not settle: {running}"
        time.sleep(0.01)


def run_until(world: World, vclock: Any, until: datetime | None = None) -> None:
    """Advance the clock from wake-up to wake-up until nothing runs (or the next wake-up is after ``until``)."""
    for _ in range(200):
        settle(world, vclock)
        nxt = vclock.next_wakeup()
        if nxt is None or not world.running():
            return
        if until is not None and nxt > until:
            vclock.advance_to(until)
            settle(world, vclock)
            return
        vclock.advance_to(nxt)
    raise AssertionError("too many wake-ups")


# ----------------------------------------------------------------------------------------------- events
def checkout_event(status: str = "open", at: datetime = T0, event_id: str = "ck1:open") -> Any:
    from enishi.events import CheckoutUpdated, CustomerRef, LineItem

    return CheckoutUpdated(
        event_id=event_id,
        shop=SHOP,
        source="shopify",
        occurred_at=at,
        received_at=at,
        checkout_token="ck1",
        customer=CustomerRef(
            customer_id="7001", email="hanako@example.jp", first_name="花子", last_name="山田"
        ),
        status=status,
        recovery_url="https://enishi-sabo.example/checkouts/ck1/recover",
        line_items=(LineItem(product_id="8001", title="八女茶 煎茶 100g", quantity=2, price=1620),),
        total=3240,
    )


def order_recorded(order_id: str = "o1", count: int = 1, at: datetime = T0) -> Any:
    from enishi.events import OrderRecorded

    return OrderRecorded(
        event_id=f"rec:{order_id}",
        shop=SHOP,
        source="enishi",
        occurred_at=at,
        received_at=at,
        order_id=order_id,
        customer_id="7001",
        order_count=count,
        placed_at=at,
        total=3240,
    )


def cart_started(world: World) -> str:
    world.profile()
    world.checkout()
    world.deliver(checkout_event())
    [execution] = world.executions(c.SEQUENCE_CART_RECOVERY)
    return execution["executionArn"]


# ----------------------------------------------------------------------------------------------- cart recovery
def test_cart_never_completed_gets_two_reminders(world, vclock):
    arn = cart_started(world)
    run_until(world, vclock)
    assert [e["at"] for e in world.emails] == [T0 + timedelta(hours=1), T0 + timedelta(hours=24)]
    assert world.path(arn) == [
        "Wait reminder_1",
        "Send reminder_1",
        "After reminder_1",
        "Wait reminder_2",
        "Send reminder_2",
        "After reminder_2",
        "CartRecoveryDone",
    ]
    assert [r["status"] for r in world.records()] == ["sent", "sent"]
    assert {e["request"]["Destination"]["ToAddresses"][0] for e in world.emails} == {"hanako@example.jp"}
    # marketing mail: one-click unsubscribe (RFC 8058) to the preferences link, tags for the feedback function
    raw = base64.b64decode(world.emails[0]["request"]["Content"]["Raw"]["Data"])
    headers = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(headers["List-Unsubscribe"]).strip().startswith("<https://api.enishi.example/u/")
    assert str(headers["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert {t["Name"] for t in world.emails[0]["request"]["EmailTags"]} >= {"shop", "customer", "message_key"}


def test_cart_completed_before_the_first_reminder_sends_nothing(world, vclock):
    arn = cart_started(world)
    run_until(world, vclock, until=T0 + timedelta(minutes=30))
    # the customer buys: the profile consumer records it and the starter stops the execution
    world.checkout(status="completed")
    world.deliver(checkout_event("completed", T0 + timedelta(minutes=30), "ck1:done"))
    run_until(world, vclock)
    assert world.emails == []
    assert world.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"


def test_a_stop_that_never_arrived_is_caught_by_the_step_recheck(world, vclock):
    arn = cart_started(world)
    world.checkout(status="completed")  # completed, but no StopExecution (e.g. the stop raced the send)
    run_until(world, vclock)
    assert world.emails == []
    assert world.path(arn)[-1] == "CartRecoveryDone"
    assert world.records()[0]["reason"] == "checkout_completed"


def test_cart_completed_after_the_first_reminder_gets_exactly_one(world, vclock):
    arn = cart_started(world)
    run_until(world, vclock, until=T0 + timedelta(hours=2))
    assert len(world.emails) == 1
    world.checkout(status="completed")
    world.deliver(checkout_event("completed", T0 + timedelta(hours=2), "ck1:done"))
    run_until(world, vclock)
    assert len(world.emails) == 1
    assert world.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"


def test_unsubscribed_mid_sequence_gets_no_further_marketing(world, vclock):
    cart_started(world)
    run_until(world, vclock, until=T0 + timedelta(hours=2))
    world.update_profile(
        email_consent=Consent(state="unsubscribed", source="one_click", collected_at=T0 + timedelta(hours=2))
    )
    run_until(world, vclock)
    assert len(world.emails) == 1
    assert [(r["status"], r.get("reason")) for r in world.records()] == [
        ("sent", None),
        ("skipped", "no_consent"),
    ]


def test_a_send_due_at_23_jst_goes_out_at_09_jst(world, vclock):
    # Given a checkout at 22:00 JST: the first reminder is due at 23:00 JST, inside quiet hours
    at = datetime(2025, 5, 6, 13, 0, tzinfo=UTC)
    vclock.advance_to(at)
    world.profile()
    world.checkout(at=at)
    world.deliver(checkout_event(at=at))
    [execution] = world.executions(c.SEQUENCE_CART_RECOVERY)
    run_until(world, vclock, until=at + timedelta(hours=20))
    # Then it went out at 09:00 JST the next morning, after one deferral
    assert world.emails[0]["at"] == datetime(2025, 5, 7, 0, 0, tzinfo=UTC)
    assert world.records()[0]["sent_at"] == "2025-05-07T00:00:00Z"
    assert world.path(execution["executionArn"])[:5] == [
        "Wait reminder_1",
        "Send reminder_1",
        "After reminder_1",
        "Wait reminder_1",
        "Send reminder_1",
    ]


def test_the_same_trigger_delivered_twice_starts_one_execution(world, vclock):
    cart_started(world)
    world.deliver(checkout_event())  # redelivered
    world.deliver(checkout_event(event_id="ck1:open:again"))  # a later update of the same open checkout
    assert len(world.executions(c.SEQUENCE_CART_RECOVERY)) == 1
    run_until(world, vclock)
    assert len(world.emails) == 2


# ----------------------------------------------------------------------------------------------- channels
def test_line_linked_and_following_gets_line(world, vclock, fake_line):
    world.profile(line=LineIdentity(user_id="U" + "1" * 32, following=True, updated_at=T0))
    world.checkout()
    world.deliver(checkout_event())
    run_until(world, vclock, until=T0 + timedelta(hours=2))
    assert world.emails == []
    [push] = fake_line.pushes()
    assert push["to"] == "U" + "1" * 32
    assert world.records()[0]["channel"] == "line"


def test_line_5xx_then_200_is_one_push_with_one_retry_key(world, vclock, fake_line):
    keys_seen: list[str] = []
    original = fake_line.handle

    def spy(method, path, headers, body):
        if path.endswith("/push"):
            keys_seen.append(headers.get("x-line-retry-key"))
        return original(method, path, headers, body)

    fake_line.handle = spy
    # 4 × 500: the client's own 3 tries fail, the state machine retries the task, the 5th try is accepted
    fake_line.fail_next(4, 500)
    world.profile(line=LineIdentity(user_id="U" + "2" * 32, following=True, updated_at=T0))
    world.checkout()
    world.deliver(checkout_event())
    run_until(world, vclock, until=T0 + timedelta(hours=2))
    assert len(fake_line.pushes()) == 1
    assert len(keys_seen) == 5 and len(set(keys_seen)) == 1
    assert world.records()[0]["status"] == "sent"


def test_line_monthly_limit_falls_back_to_email_and_later_steps_skip_line(world, vclock, fake_line):
    # Given a LINE friend whose shop has used up this month's LINE messages (LINE answers 429 "monthly limit")
    fake_line.monthly_quota = 0
    attempts: list[str] = []
    original = fake_line.handle

    def spy(method, path, headers, body):
        if path.endswith("/push"):
            attempts.append(path)
        return original(method, path, headers, body)

    fake_line.handle = spy
    world.profile(line=LineIdentity(user_id="U" + "3" * 32, following=True, updated_at=T0))
    world.checkout()
    # When the cart reminders fall due (prefer_line, fallback email by default)
    world.deliver(checkout_event())
    run_until(world, vclock)
    # Then nothing was pushed, both reminders went by email, each recorded once as sent by email
    assert fake_line.pushes() == []
    assert len(world.emails) == 2
    assert [(r["channel"], r["status"]) for r in world.records()] == [("email", "sent")] * 2
    # and only the first reminder asked LINE: the month's "quota used up" flag sent the second straight to email
    assert len(attempts) == 1


def test_ses_throttled_is_retried_into_exactly_one_email(world, vclock, monkeypatch):
    from moto.core.exceptions import JsonRESTError
    from moto.sesv2.responses import SESV2Response

    class Throttling(JsonRESTError):
        code = 429

        def __init__(self) -> None:
            super().__init__("TooManyRequestsException", "Maximum sending rate exceeded.")

    calls = {"n": 0}
    original = SESV2Response.send_email

    def throttled(self):
        calls["n"] += 1
        if calls["n"] <= 4:  # the sender's 3 tries, then the state machine's retry meets one more
            raise Throttling()
        return original(self)

    monkeypatch.setattr(SESV2Response, "send_email", throttled)
    arn = cart_started(world)
    run_until(world, vclock, until=T0 + timedelta(hours=2))
    assert calls["n"] == 5 and len(world.emails) == 1
    assert world.records()[0]["status"] == "sent"
    assert world.path(arn).count("Send reminder_1") == 1  # retried inside the task state, not re-entered


# ----------------------------------------------------------------------------------------------- welcome
def test_welcome_with_a_repeat_order_before_day_7_sends_no_f2_nudge(world, vclock):
    world.profile(order_count=1, last_order_id="o1", last_order_at=T0, first_order_at=T0)
    world.order("o1")
    world.deliver(order_recorded())
    [execution] = world.executions(c.SEQUENCE_WELCOME)
    run_until(world, vclock, until=T0 + timedelta(days=5))
    assert [e["at"] for e in world.emails] == [T0, T0 + timedelta(days=3)]
    world.update_profile(order_count=2, last_order_id="o2", last_order_at=T0 + timedelta(days=5))
    run_until(world, vclock)
    assert len(world.emails) == 2
    path = world.path(execution["executionArn"])
    assert path[0] == "Send thanks" and "Send f2_nudge" in path and path[-1] == "WelcomeDone"
    assert world.records()[-1]["reason"] == "ordered_again"


def test_a_welcome_for_a_shop_this_deployment_does_not_serve_is_never_sent_with_a_dead_opt_out_link(
    world, vclock
):
    # Given a profile and first order of a shop that shop.yaml does not name (intake would refuse it; this is the
    # defence behind it): its unsubscribe link would get 404 from /u/{token}
    other = "unknown-shop.myshopify.com"
    world.put(
        Profile(
            shop=other,
            customer_id="7001",
            created_at=T0,
            updated_at=T0,
            email="hanako@example.jp",
            email_consent=Consent(state="subscribed", source="shopify", collected_at=T0 - timedelta(days=1)),
            order_count=1,
            last_order_id="o1",
            last_order_at=T0,
        ),
        keys.profile_key(other, "7001"),
    )
    world.deliver(order_recorded().model_copy(update={"shop": other}))
    run_until(world, vclock, until=T0 + timedelta(hours=1))
    # Then nothing is sent and the skip says why
    assert world.emails == []
    [record] = world.records()
    assert (record["step"], record["status"], record["reason"]) == (
        "thanks",
        "failed",
        "opt_out_link_unresolvable",
    )


def test_welcome_starts_once_per_customer(world, vclock):
    world.profile(order_count=1, last_order_id="o1", last_order_at=T0)
    world.order("o1")
    world.deliver(order_recorded())
    world.deliver(order_recorded("o2", count=2, at=T0 + timedelta(days=1)))  # the second order starts nothing
    assert len(world.executions(c.SEQUENCE_WELCOME)) == 1


# ----------------------------------------------------------------------------------------------- shipping
def _fulfillment(delivered: bool = False, at: datetime = T0) -> Any:
    from enishi.events import FulfillmentUpdated

    return FulfillmentUpdated(
        event_id=f"f1:{delivered}",
        shop=SHOP,
        source="shopify",
        occurred_at=at,
        received_at=at,
        fulfillment_id="f1",
        order_id="o1",
        status="success",
        shipment_status="delivered" if delivered else "in_transit",
        tracking_company="ヤマト運輸",
        tracking_numbers=("1234-5678-9012",),
        tracking_urls=("https://toi.kuronekoyamato.co.jp/cgi-bin/tneko",),
        delivered_at=at if delivered else None,
    )


def test_shipping_notice_at_night_goes_at_once_and_follow_up_after_delivery_once(world, vclock):
    # Given a shipment at 23:00 JST (the notice is transactional: not held by quiet hours)
    at = datetime(2025, 5, 6, 14, 0, tzinfo=UTC)
    vclock.advance_to(at)
    world.profile(order_count=1, last_order_id="o1", last_order_at=at - timedelta(days=1))
    world.order("o1", at=at - timedelta(days=1))
    world.deliver(_fulfillment(at=at))
    run_until(world, vclock, until=at + timedelta(days=1))
    assert [e["at"] for e in world.emails] == [at]
    # When it is delivered the next day, the follow-up comes a day after delivery (not 3 days after shipping),
    # once, and — due at 23:00 JST — at 09:00 JST the morning after
    world.deliver(_fulfillment(delivered=True, at=at + timedelta(days=1)))
    run_until(world, vclock)
    assert [e["at"] for e in world.emails] == [at, datetime(2025, 5, 9, 0, 0, tzinfo=UTC)]
    # the first execution (notice sent, waiting for +3 d) was stopped; the follow-up machine sent the follow-up
    [first] = world.executions(c.SEQUENCE_SHIPPING)
    assert first["status"] == "ABORTED"
    assert world.path(first["executionArn"]) == ["Send notice", "After notice", "Wait follow_up"]
    [delivered] = world.executions("shipping_notice.follow_up")
    assert delivered["status"] == "SUCCEEDED"
    assert world.path(delivered["executionArn"]) == [  # due 23:00 JST: deferred once by quiet hours
        "Wait follow_up",
        "Send follow_up",
        "After follow_up",
        "Wait follow_up",
        "Send follow_up",
        "After follow_up",
        "ShippingNoticeFollowUpEntryDone",
    ]


def test_without_consent_the_notice_goes_but_not_the_follow_up(world, vclock):
    world.profile(email_consent=None, order_count=1, last_order_id="o1", last_order_at=T0 - timedelta(days=1))
    world.order("o1", at=T0 - timedelta(days=1))
    world.deliver(_fulfillment())
    run_until(world, vclock)
    assert [e["at"] for e in world.emails] == [T0]
    assert [(r["step"], r["status"], r.get("reason")) for r in world.records()] == [
        ("notice", "sent", None),
        ("follow_up", "skipped", "no_consent"),
    ]
    raw = base64.b64decode(world.emails[0]["request"]["Content"]["Raw"]["Data"])
    assert b"List-Unsubscribe" not in raw  # transactional: no unsubscribe header, no advertising


def test_fulfillment_before_its_order_is_parked_and_resumed_by_order_recorded(world, vclock):
    # Given a fulfillment delivered before the profile consumer recorded its order
    with pytest.raises(AssertionError, match="All records failed"):  # kept in SQS (backoff) as a safety net
        world.deliver(_fulfillment())
    assert world.executions(c.SEQUENCE_SHIPPING) == []
    parked = world.table.get_item(Key=keys.parked_for_order_key(SHOP, "o1", "f1:False")).get("Item")
    assert parked is not None and parked[c.ATTR_TTL] > T0.timestamp()  # parked, with a TTL
    # on the queue's last receive (maxReceiveCount 5) the message is acknowledged — never the DLQ — and stays parked
    assert world.deliver(_fulfillment(), attributes={"ApproximateReceiveCount": "5"}) == {
        "batchItemFailures": []
    }
    assert world.table.get_item(Key=keys.parked_for_order_key(SHOP, "o1", "f1:False")).get("Item") is not None
    # When the order is recorded, order.recorded resumes the parked fulfillment
    world.profile(order_count=1, last_order_id="o1", last_order_at=T0)
    world.order("o1")
    assert world.deliver(order_recorded("o1")) == {"batchItemFailures": []}
    assert len(world.executions(c.SEQUENCE_SHIPPING)) == 1
    assert world.table.get_item(Key=keys.parked_for_order_key(SHOP, "o1", "f1:False")).get("Item") is None
    # and the SQS safety net's redelivery of the fulfillment starts nothing twice
    assert world.deliver(_fulfillment()) == {"batchItemFailures": []}
    run_until(world, vclock, until=T0 + timedelta(hours=1))
    assert len(world.executions(c.SEQUENCE_SHIPPING)) == 1
    sent = [
        r["step"] for r in world.records() if r["status"] == "sent" and r["sequence"] == c.SEQUENCE_SHIPPING
    ]
    assert sent == ["notice"]  # exactly one shipping notice (order.recorded also started welcome: its thanks)


# ----------------------------------------------------------------------------------------------- win-back
def test_winback_job_starts_only_customers_whose_last_order_is_due(world, vclock):
    job = datetime(2025, 5, 7, 1, 0, tzinfo=UTC)  # the daily schedule: 10:00 JST
    due = job - timedelta(days=90)
    # Given two customers who ordered 90 days ago; one of them ordered again since
    world.profile(order_count=1, last_order_id="o1", last_order_at=due)
    world.order("o1", at=due)
    other = Profile(
        shop=SHOP,
        customer_id="7002",
        created_at=due,
        updated_at=T0,
        email="taro@example.jp",
        order_count=2,
        last_order_id="o9",
        last_order_at=T0 - timedelta(days=10),
    )
    world.put(other, keys.profile_key(SHOP, "7002"))
    world.order("o2", at=due, customer_id="7002")
    # When the daily job runs — twice: the second run has nothing left to catch up; a manual re-run of the day
    # (backfill) finds the same customer and starts nothing twice
    vclock.advance_to(job)
    assert world.invoke("enishi.sequences.winback.handler.handler", {})["due"] == 1
    assert world.invoke("enishi.sequences.winback.handler.handler", {})["due"] == 0
    assert (
        world.invoke("enishi.sequences.winback.handler.handler", {"day": due.date().isoformat()})["due"] == 1
    )
    assert len(world.executions(c.SEQUENCE_WINBACK)) == 1
    run_until(world, vclock)
    # Then one customer got the reminder at once and the recommendations 14 days later
    assert [e["at"] for e in world.emails] == [job, job + timedelta(days=14)]
    assert {e["request"]["Destination"]["ToAddresses"][0] for e in world.emails} == {"hanako@example.jp"}


def test_winback_job_that_failed_and_missed_days_catches_up_every_day_once(world, vclock, monkeypatch):
    day0 = datetime(2025, 5, 6, 1, 0, tzinfo=UTC)  # 10:00 JST: the job's run that completed
    for n, cid in enumerate(("7101", "7102", "7103"), start=1):  # due on the three following days
        placed = day0 + timedelta(days=n) - timedelta(days=90)
        world.put(
            Profile(
                shop=SHOP,
                customer_id=cid,
                created_at=placed,
                updated_at=placed,
                email=f"c{cid}@example.jp",
                email_consent=Consent(state="subscribed", source="shopify", collected_at=placed),
                order_count=1,
                last_order_id=f"o{cid}",
                last_order_at=placed,
            ),
            keys.profile_key(SHOP, cid),
        )
        world.order(f"o{cid}", at=placed, customer_id=cid)
    vclock.advance_to(day0)
    assert world.invoke("enishi.sequences.winback.handler.handler", {})["due"] == 0
    # Given day 1's run fails (Step Functions refuses) and day 2's never happens
    from enishi.sequences.adapters.executions import Executions

    def refused(self, start):
        raise RuntimeError("StartExecution throttled")

    monkeypatch.setattr(Executions, "start", refused)
    vclock.advance_to(day0 + timedelta(days=1))
    resp = boto3.client("lambda").invoke(
        FunctionName=world.functions["enishi.sequences.winback.handler.handler"].name, Payload=b"{}"
    )
    assert "FunctionError" in resp  # raised: EventBridge retries it, then its DLQ (alarmed)
    monkeypatch.undo()
    # When day 3's run comes
    vclock.advance_to(day0 + timedelta(days=3))
    result = world.invoke("enishi.sequences.winback.handler.handler", {})
    # Then it processes days 1, 2 and 3 and starts the three customers, each once
    assert result["days"] == ["2025-05-07", "2025-05-08", "2025-05-09"] and result["started"] == 3
    assert world.invoke("enishi.sequences.winback.handler.handler", {})["started"] == 0
    run_until(world, vclock, until=day0 + timedelta(days=3, hours=1))
    to = sorted(e["request"]["Destination"]["ToAddresses"][0] for e in world.emails)
    assert to == ["c7101@example.jp", "c7102@example.jp", "c7103@example.jp"]
