"""Budgets (design §7): pure checks of a folded state against the agent's limits.

A reached budget stops the run resumably (exit 4) with a message saying how to raise it. Every
counter comes from the fold, so budgets survive ``kill -9``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentrun.core.durations import format_duration
from agentrun.core.errors import SpecError
from agentrun.core.state import USD_DECIMALS, State


@dataclass(frozen=True, slots=True)
class BudgetStop:
    """Why a run must stop: ``reason`` for the log (budget, time_limit) and a message for people."""

    reason: str
    message: str


def check_budgets(state: State, budget: dict[str, Any]) -> BudgetStop | None:
    """The first budget reached, or ``None``."""
    steps = budget.get("max_steps")
    if steps is not None and state.steps >= steps:
        return BudgetStop(
            "budget", f"max_steps {steps} reached; raise it with `agentrun resume --max-steps N`"
        )
    tokens = budget.get("max_tokens")
    used = state.input_tokens + state.output_tokens
    if tokens is not None and used >= tokens:
        return BudgetStop(
            "budget",
            f"max_tokens {tokens} reached ({used} used); raise it with "
            "`agentrun resume --max-tokens N`",
        )
    cost = budget.get("max_cost_usd")
    if cost is not None and state.cost_usd >= cost:
        return BudgetStop(
            "budget",
            f"max_cost_usd {cost:g} reached (${state.cost_usd:.4f} spent); raise it with "
            "`agentrun resume --max-cost-usd X`",
        )
    limit = budget.get("max_time")
    if limit is not None and state.active_seconds >= limit:
        return BudgetStop(
            "time_limit",
            f"max_time {format_duration(limit)} reached; raise it with "
            "`agentrun resume --max-time 2h`",
        )
    return None


def turn_cost(usage: dict[str, Any], budget: dict[str, Any]) -> float | None:
    """The price of one model turn from ``[budget.prices]``, or ``None`` without prices."""
    prices = budget.get("prices")
    if not prices:
        return None
    cost = (
        usage.get("input_tokens", 0) * prices.get("input_per_mtok", 0.0)
        + usage.get("output_tokens", 0) * prices.get("output_per_mtok", 0.0)
    ) / 1_000_000
    return round(cost, USD_DECIMALS)


def check_cost_cap(budget: dict[str, Any], where: str) -> None:
    """Refuse ``max_cost_usd`` without ``[budget.prices]``: the cap could never be reached.

    A turn's cost is computed from the prices (design §7); without them every turn costs
    nothing, and a user would believe in a spending limit that does not exist.
    """
    if "max_cost_usd" in budget and not budget.get("prices"):
        raise SpecError(
            f"{where}: max_cost_usd needs the model's prices to count cost; add [budget.prices] "
            "with input_per_mtok and output_per_mtok (US dollars per million tokens)"
        )
