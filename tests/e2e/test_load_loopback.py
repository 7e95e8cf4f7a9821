"""A small load run on loopback (issue 9, suite item 5; the full run is ``make load``): a few hundred signed Shopify
and generic webhooks at a fixed rate from four client threads, with duplicates and reorderings, against the local
stack over HTTP. Every distinct delivery must be reflected exactly once and every copy answered ``duplicate``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_a_few_hundred_webhooks_at_a_fixed_rate_are_each_reflected_exactly_once():
    from bench.load import run_load

    # Given 300 distinct deliveries (+10 % copies, shuffled in windows of 20) sent at 25/s from 4 threads
    result = run_load(n=300, rate=25.0, threads=4, dup_ratio=0.1, seed=7, settle_timeout=300.0)
    print({k: result[k] for k in ("held_rate", "p50_ms", "p99_ms", "sent", "copies")})
    # Then nothing was lost or doubled, no request failed, and every copy was recognised as one
    assert result["errors"] == {} and result["five_xx"] == 0, result
    assert (result["lost"], result["duplicated"]) == (0, 0), result
    assert result["never_accepted"] == [] and result["accepted_twice"] == []
    assert result["orders_missing"] == [] and result["profiles_wrong"] == []
    assert result["copies"] == 30 and result["copies_answered_duplicate"] == result["copies"]
