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
            "budget",
            f"max_steps {steps} reached; raise it with "
            f"`agentrun resume {state.task_id} --max-steps {steps * 2}`",
        )
    tokens = budget.get("max_tokens")
    used = state.input_tokens + state.output_tokens
    if tokens is not None and used >= tokens:
        return BudgetStop(
            "budget",
            f"max_tokens {tokens} reached ({used} used); raise it with "
            f"`agentrun resume {state.task_id} --max-tokens {tokens * 2}`",
        )
    cost = budget.get("max_cost_usd")
    if cost is not None and state.cost_usd >= cost:
        return BudgetStop(
            "budget",
            f"max_cost_usd {cost:g} reached (${state.cost_usd:.4f} spent); raise it with "
            f"`agentrun resume {state.task_id} --max-cost-usd {cost * 2:g}`",
        )
    limit = budget.get("max_time")
    if limit is not None and state.active_seconds >= limit:
        return BudgetStop(
            "time_limit",
            f"max_time {format_duration(limit)} reached; raise it with "
            f"`agentrun resume {state.task_id} --max-time {format_duration(limit * 2)}`",
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


def check_cost_cap(budget: dict[str, Any], where: str, *, agent_is_recorded: bool = False) -> None:
    """Refuse ``max_cost_usd`` without ``[budget.prices]``: the cap could never be reached.

    A turn's cost is computed from the prices (design §7); without them every turn costs
    nothing, and a user would believe in a spending limit that does not exist.
    ``agent_is_recorded``: the budget is an existing task's, whose agent can no longer change.
    """
    if "max_cost_usd" in budget and not budget.get("prices") and agent_is_recorded:
        raise SpecError(
            f"{where}: max_cost_usd needs the model's prices to count cost, and this task's "
            "agent has no [budget.prices] (a task keeps the agent it was started with); cap it "
            "with --max-tokens instead"
        )
    if "max_cost_usd" in budget and not budget.get("prices"):
        raise SpecError(
            f"{where}: max_cost_usd needs the model's prices to count cost; add [budget.prices] "
            "with input_per_mtok and output_per_mtok (US dollars per million tokens)"
        )
