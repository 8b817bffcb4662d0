"""infra/bench/simulate.py: the real pacer in virtual time, small runs."""

from __future__ import annotations

import time

import pytest

from infra.bench import simulate


def test_a_run_is_fast_and_the_same_for_the_same_seed():
    # GIVEN a small run: WhatsApp at 100/s, 5 senders, 400 messages
    started = time.perf_counter()
    # WHEN it runs twice with one seed, and once with another
    first = simulate.run(limit_per_s=100, senders=5, messages=400, seed=3)
    again = simulate.run(limit_per_s=100, senders=5, messages=400, seed=3)
    other = simulate.run(limit_per_s=100, senders=5, messages=400, seed=4)
    # THEN it takes no real time to speak of, gives the same figures for the seed, others for another
    assert time.perf_counter() - started < 20
    assert first == again
    assert first["virtual_seconds"] != other["virtual_seconds"]
    assert first["messages"] == 400


def test_a_sharded_number_is_simulated_the_same_for_the_same_seed():
    # GIVEN WhatsApp's upgraded 1,000/s, where the pacer picks one of five bucket shards at random
    # WHEN a short run is made twice with one seed
    first = simulate.run(limit_per_s=1000, senders=20, messages=1_500, seed=5)
    again = simulate.run(limit_per_s=1000, senders=20, messages=1_500, seed=5)
    # THEN the figures are the same
    assert first == again


def test_the_real_pacer_keeps_under_whatsapps_limit_and_close_to_it():
    # GIVEN WhatsApp and the tenant's pacer both at 100/s
    # WHEN 20 senders drain 1,000 messages
    result = simulate.run(limit_per_s=100, senders=20, messages=1_000, seed=7)
    # THEN no send is refused for throughput, and the pace is near the limit
    assert result["provider_rate_limit_errors"] == 0
    assert result["ratio"] >= 0.9


def test_a_pacer_faster_than_whatsapp_is_caught():
    # GIVEN a pacer set to 150/s against a WhatsApp that allows 100/s
    # WHEN 20 senders drain 1,000 messages
    result = simulate.run(limit_per_s=100, senders=20, messages=1_000, seed=7, pacer_limit_per_s=150)
    # THEN WhatsApp answers 130429 to some of them
    assert result["provider_rate_limit_errors"] > 0


def test_the_strict_window_reading_counts_what_the_sandbox_rule_lets_through():
    # GIVEN the pacer's start-up burst (the lane's share of the bucket, taken at once)
    # WHEN WhatsApp allows no more than the limit in any 1 s window
    result = simulate.run(limit_per_s=100, senders=20, messages=600, seed=7, whatsapp_rule="window")
    # THEN the sends beyond it are refused, and no window ever holds more than the limit
    assert result["provider_rate_limit_errors"] > 0
    assert result["max_in_any_1s"] <= 100


@pytest.mark.parametrize(("condition", "item", "holds"), [
    ("attribute_not_exists(tat) OR tat <= :now", None, True),
    ("attribute_not_exists(tat) OR tat <= :now", {"tat": 5}, True),
    ("attribute_not_exists(tat) OR tat <= :now", {"tat": 11}, False),
    ("tat > :now AND tat <= :limit", {"tat": 15}, True),
    ("tat > :now AND tat <= :limit", {"tat": 25}, False),
    ("tat > :now AND tat <= :limit", None, False),
])
def test_the_simulated_table_checks_conditions_as_dynamodb_does(condition, item, holds):
    # GIVEN a stored item (or none) / WHEN a condition of the bucket repository is checked
    # THEN it holds exactly when DynamoDB's would
    assert simulate.condition_holds(condition, item, {":now": 10, ":limit": 20}) is holds


def test_the_simulated_table_refuses_an_expression_it_does_not_know():
    # GIVEN an expression outside the bucket repository's forms / WHEN it is applied / THEN it is refused loudly
    with pytest.raises(ValueError, match="does not know"):
        simulate.condition_holds("begins_with(tat, :x)", {"tat": 1}, {":x": 1})
    with pytest.raises(ValueError, match="does not know"):
        simulate.apply_update("REMOVE tat", {"tat": 1}, {})
