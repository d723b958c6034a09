"""Budgets: a turn's price from ``[budget.prices]`` (design §7)."""

from __future__ import annotations

from agentrun.runtime.budgets import turn_cost


def test_a_turn_costs_its_tokens_at_the_prices_per_million() -> None:
    prices = {"prices": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}
    assert turn_cost({"input_tokens": 1234, "output_tokens": 80}, prices) == 0.0002331


def test_a_turn_cost_is_recorded_without_float_noise() -> None:
    # 7 * 0.1 / 1e6 is 7.000000000000001e-07 as floats; the log records the price as written.
    cost = turn_cost({"input_tokens": 7}, {"prices": {"input_per_mtok": 0.1}})
    assert repr(cost) == "7e-07"


def test_without_prices_a_turn_has_no_cost() -> None:
    assert turn_cost({"input_tokens": 7, "output_tokens": 1}, {}) is None
