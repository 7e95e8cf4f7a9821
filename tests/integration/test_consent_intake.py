"""Issue 9 defect 10 at the intake: Shopify's own customers_email_marketing_consent/update sample (``"state": null``)
is processed — 200 accepted, no consent change — not kept as unprocessable (which trips the alarm)."""

from __future__ import annotations

from test_intake import intake, shopify_event  # noqa: F401  (the intake fixture and the signed-event builder)


def test_shopify_consent_sample_with_a_null_state_is_accepted_and_changes_nothing(intake):  # noqa: F811
    status, body = intake.call(shopify_event("customers_email_marketing_consent__update--null-state"))
    assert (status, body) == (200, {"status": "accepted", "events": 0})
    # nothing kept for replay, nothing published (no consent change)
    assert intake.raw_objects() == [] and intake.bus.drain() == []


def test_a_customer_whose_consent_state_is_null_is_still_adapted(intake):  # noqa: F811
    import json
    from pathlib import Path

    raw = json.loads(
        (Path(__file__).resolve().parents[1] / "events" / "shopify" / "customers__create.json").read_text()
    )
    raw["email_marketing_consent"] = {"state": None, "opt_in_level": None, "consent_updated_at": None}
    status, body = intake.call(shopify_event("customers__create", raw=json.dumps(raw).encode()))
    assert (status, body) == (200, {"status": "accepted", "events": 1})
    [published] = intake.bus.drain()
    assert "email_consent" not in published["detail"] or published["detail"]["email_consent"] is None
