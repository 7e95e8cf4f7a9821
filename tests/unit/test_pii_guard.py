"""The session-wide log guard (tests/pii_guard.py) sees what it must and lets ids and times through."""

from __future__ import annotations

import io
import logging

import pytest
from pii_guard import GUARD


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"message":"x","email":"hanako@example.jp"}', "email"),
        ("to ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ", "email"),
        ("phone 090-1234-5678", "phone"),
        ("phone 03-1234-5678", "phone"),
        ("phone +819012345678", "phone"),
        ("phone 555-625-1199", "phone"),
        ("user U4af4980629a0b1c2d3e4f5a6b7c8d9e0 followed", "line_user_id"),
        ("customer 山田 花子", "name"),
        ("first_name John last_name Smith", "name"),
    ],
)
def test_guard_finds_personal_data(text, kind):
    assert kind in {k for k, _ in GUARD.scan(text)}


@pytest.mark.parametrize(
    "text",
    [
        '{"timestamp":"2025-01-20T13:31:00.123+00:00","customer_id":"7010000000001","order_id":"820982911946154508"}',
        '{"event_id":"shopify:evt-2025-01-20-1:order.placed","xray_trace_id":"1-5759e988-bd862e3fe1be46a994272793"}',
        '{"from":"news@mail.enishi-sabo.example","message":"sent","execution":"welcome-0a1b2c3d-4e5f"}',
        '{"function_request_id":"c6af9ac6-7b61-11e6-9a41-93e812345678","cold_start":true}',
        '{"message":"Shippers and Johnsons are words, not the fixtures\' names"}',
    ],
)
def test_guard_lets_ids_times_and_the_shops_own_address_through(text):
    assert GUARD.scan(text) == []


def test_a_log_line_with_an_email_is_recorded_by_the_installed_guard():
    # Given a logger writing JSON-ish lines to a stream (like Powertools' handler)
    logger = logging.getLogger("pii-guard-self-test")
    logger.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    before = len(GUARD.findings)
    try:
        # When it logs an email address
        logger.warning("sending to %s", "taro@example.com")
        # Then the guard recorded it (and this test removes the finding it provoked on purpose)
        assert [(f.kind, f.value) for f in GUARD.findings[before:]] == [("email", "taro@example.com")]
    finally:
        del GUARD.findings[before:]
        logger.removeHandler(handler)


def test_lines_formatted_inside_expect_pii_are_not_recorded():
    logger = logging.getLogger("pii-guard-self-test-2")
    logger.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    before = len(GUARD.findings)
    try:
        with GUARD.expect_pii():
            logger.warning("sending to taro@example.com")
        assert GUARD.findings[before:] == []
    finally:
        logger.removeHandler(handler)


def test_the_guard_is_installed_for_the_whole_session():
    # tests/conftest.py installs it in pytest_configure, in the controller and in every xdist worker
    assert GUARD._original_format is not None
    assert logging.Handler.format is not GUARD._original_format
