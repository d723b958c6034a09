"""``core.stats``: outcome SLOs over summaries; ``now`` is a parameter (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentrun.core.stats import compute_stats, distribution

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def summary(status: str, *, age_h: float = 1, wall_s: float = 60, **extra) -> dict:
    created = NOW - timedelta(hours=age_h)
    return {
        "task_id": f"t{id(extra)}",
        "status": status,
        "agent_name": extra.pop("agent", "a"),
        "created_at": created.isoformat(),
        "updated_at": (created + timedelta(seconds=wall_s)).isoformat(),
        **extra,
    }


def test_rates_count_finished_and_succeeded_tasks():
    s = compute_stats(
        [
            summary("succeeded"),
            summary("succeeded"),
            summary("failed"),
            summary("cancelled"),
            summary("paused"),
            summary("interrupted"),
            summary("needs_attention", needed_person=True),
            summary("queued"),
        ],
        now=NOW,
    )
    assert (s.tasks, s.finished) == (8, 4)
    assert s.completion_rate == 0.5 and s.success_rate == 0.5
    assert s.by_status["interrupted"] == 1 and s.by_status["running"] == 0
    assert (s.needed_person, s.needed_person_rate) == (1, 1 / 8)


def test_time_and_steps_are_median_and_nearest_rank_p90_of_finished_tasks():
    finished = [summary("succeeded", wall_s=w, steps=w // 10) for w in range(10, 110, 10)]
    s = compute_stats([*finished, summary("running", wall_s=10_000, steps=999)], now=NOW)
    assert (s.wall_seconds.median, s.wall_seconds.p90) == (55.0, 90.0)
    assert (s.steps.median, s.steps.p90) == (5.5, 9.0)


def test_tokens_cost_resumes_and_decisions_add_up():
    s = compute_stats(
        [
            summary(
                "succeeded",
                input_tokens=100,
                output_tokens=10,
                cost_usd=0.25,
                attempts=3,
                resolutions={"retried": {"runtime": 2, "reconcile": 1}},
            ),
            summary(
                "failed",
                input_tokens=50,
                output_tokens=5,
                cost_usd=0.5,
                attempts=1,
                resolutions={"reconciled": {"reconcile": 2}, "approved": {"user": 1}},
            ),
            summary("queued"),
        ],
        now=NOW,
    )
    assert (s.input_tokens, s.output_tokens, s.cost_usd) == (150, 15, 0.75)
    assert (s.resumes, s.resumes_per_task) == (2, 1.0)  # two tasks ran; one resumed twice
    assert s.resolutions == {
        "retried": {"runtime": 2, "reconcile": 1},
        "reconciled": {"reconcile": 2},
        "approved": {"user": 1},
    }
    assert s.settled_by_reconcile == 3


def test_the_window_and_the_agent_select_tasks():
    tasks = [
        summary("succeeded", age_h=1),
        summary("failed", age_h=24 * 8),
        summary("succeeded", age_h=2, agent="other"),
    ]
    week = compute_stats(tasks, now=NOW, since_s=7 * 86400)
    assert week.tasks == 2 and week.since == (NOW - timedelta(days=7)).isoformat()
    assert compute_stats(tasks, now=NOW, agent="other").tasks == 1
    assert compute_stats(tasks, now=NOW).since is None


def test_no_tasks_gives_no_rates_rather_than_a_division_by_zero():
    s = compute_stats([], now=NOW)
    assert s.tasks == 0 and s.completion_rate is None and s.success_rate is None
    assert s.wall_seconds.median is None and s.resumes_per_task is None


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [([7], 7, 7), ([1, 2], 1.5, 2), (list(range(1, 21)), 10.5, 18)],
)
def test_distribution(values, median, p90):
    d = distribution(values)
    assert (d.median, d.p90) == (median, p90)


def test_a_median_of_two_sums_and_a_total_cost_show_no_float_noise():
    finished = [
        summary("succeeded", active_seconds=1.1, cost_usd=0.1),
        summary("succeeded", active_seconds=2.2, cost_usd=0.2),
    ]
    s = compute_stats(finished, now=NOW)
    assert (repr(s.active_seconds.median), repr(s.cost_usd)) == ("1.65", "0.3")
