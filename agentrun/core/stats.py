"""Outcome SLOs over task summaries (``agentrun stats``): are tasks finishing, and succeeding?

A pure computation over the summaries ``ls`` reads (``store.summary``), with the status a
reader shows (``interrupted`` for a run nobody holds) already filled in by the caller. The
window is "created at or after ``now - since``"; ``now`` is a parameter: no clock here.
Percentiles are nearest-rank; the median is the middle value (the mean of the two middle ones
for an even count). Rates are ``None`` when their denominator is zero.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentrun.core.state import FINAL_STATUSES, SECONDS_DECIMALS, SUCCEEDED, USD_DECIMALS

STATUSES = (
    "queued",
    "running",
    "interrupted",
    "paused",
    "needs_attention",
    "succeeded",
    "failed",
    "cancelled",
)


@dataclass(frozen=True, slots=True)
class Distribution:
    """Median and 90th percentile of a measure over finished tasks (``None``: no tasks)."""

    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class Stats:
    """The SLO report. Times are seconds; ``since`` is ISO-8601 UTC or ``None`` (all time)."""

    now: str
    since: str | None
    agent: str | None
    tasks: int
    by_status: dict[str, int]
    finished: int
    completion_rate: float | None
    success_rate: float | None
    wall_seconds: Distribution
    active_seconds: Distribution
    steps: Distribution
    input_tokens: int
    output_tokens: int
    cost_usd: float
    resumes: int
    resumes_per_task: float | None
    needed_person: int
    needed_person_rate: float | None
    resolutions: dict[str, dict[str, int]]
    settled_by_reconcile: int


def compute_stats(
    summaries: Iterable[dict[str, Any]],
    *,
    now: datetime,
    since_s: float | None = None,
    agent: str | None = None,
) -> Stats:
    """The SLO report of the tasks in the window (and of ``agent``, when given).

    A summary needs ``status``, ``created_at`` and ``updated_at``; the counters (``steps``,
    tokens, ``cost_usd``, ``attempts``, ``active_seconds``, ``needed_person``, ``resolutions``)
    default to zero when missing.
    """
    cutoff = now - timedelta(seconds=since_s) if since_s is not None else None
    chosen = [
        s
        for s in summaries
        if (agent is None or s.get("agent_name") == agent)
        and (cutoff is None or _time(s["created_at"]) >= cutoff)
    ]
    by_status = dict.fromkeys(STATUSES, 0)
    for s in chosen:
        by_status[s["status"]] = by_status.get(s["status"], 0) + 1
    finished = [s for s in chosen if s["status"] in FINAL_STATUSES]
    ran = [s for s in chosen if s.get("attempts", 0) > 0]
    resumes = sum(max(0, s.get("attempts", 0) - 1) for s in chosen)
    resolutions: dict[str, dict[str, int]] = {}
    for s in chosen:
        for decision, by_whom in (s.get("resolutions") or {}).items():
            into = resolutions.setdefault(decision, {})
            for who, n in by_whom.items():
                into[who] = into.get(who, 0) + n
    needed = sum(1 for s in chosen if s.get("needed_person"))
    return Stats(
        now=now.isoformat(),
        since=cutoff.isoformat() if cutoff is not None else None,
        agent=agent,
        tasks=len(chosen),
        by_status=by_status,
        finished=len(finished),
        completion_rate=_rate(len(finished), len(chosen)),
        success_rate=_rate(by_status[SUCCEEDED], len(finished)),
        wall_seconds=distribution(
            (_time(s["updated_at"]) - _time(s["created_at"])).total_seconds() for s in finished
        ),
        active_seconds=distribution(s.get("active_seconds", 0.0) for s in finished),
        steps=distribution(s.get("steps", 0) for s in finished),
        input_tokens=sum(s.get("input_tokens", 0) for s in chosen),
        output_tokens=sum(s.get("output_tokens", 0) for s in chosen),
        cost_usd=round(sum(s.get("cost_usd", 0.0) for s in chosen), USD_DECIMALS),
        resumes=resumes,
        resumes_per_task=_rate(resumes, len(ran)),
        needed_person=needed,
        needed_person_rate=_rate(needed, len(chosen)),
        resolutions=resolutions,
        settled_by_reconcile=sum(
            n
            for by_whom in resolutions.values()
            for who, n in by_whom.items()
            if who == "reconcile"
        ),
    )


def distribution(values: Iterable[float]) -> Distribution:
    """Median and nearest-rank 90th percentile of ``values`` (seconds or counts), rounded to
    ``SECONDS_DECIMALS`` so a median of two sums shows no float noise."""
    ordered = sorted(values)
    if not ordered:
        return Distribution(None, None)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    median = float(statistics.median(ordered))
    return Distribution(round(median, SECONDS_DECIMALS), round(float(p90), SECONDS_DECIMALS))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
